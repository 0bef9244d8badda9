//! sync: ship a folder to a box, minus secrets and caches, incrementally. [`stage()`] decides
//! the file list here (git-aware; see the [`stage`](mod@stage) module); [`up`] sends exactly
//! that list and removes, inside the remote folder only, what was deleted here since the
//! last sync. [`record()`] builds the [`SyncRecord`] rp-sync prints (a wire type from
//! `runplz-protocol`). The local docker build context uses the same [`stage()`] and
//! [`Excludes`].
//!
//! Deletion uses a manifest, not rsync's `--delete`. rsync's `--delete` works per folder it
//! walks, and with `--files-from` it walks none, so it would either delete nothing or (with
//! filter rules and `--delete-excluded`) everything rp-sync did not ship, including what the
//! job wrote into its workspace, a remote venv, or a `.env` put on the box by hand. Instead
//! the box keeps `.rp-sync-manifest` (what rp-sync shipped last time); files listed there
//! that are gone here are deleted there, by a script that refuses any path leading out of the
//! folder. Remote files rp-sync never shipped are never touched.
//!
//! How the files go (`transfer`, in `up.rs`): the box prints the folder's token
//! (`remote::TOKEN_FN`) after every transfer and this machine keeps it ([`last`]). A sync that
//! finds the token and manifest as it left them, and nothing changed here, sends nothing; a few
//! changed files, or a whole tree into a folder with no manifest, go as one tar in the session
//! that asked the box (`ship.rs`); anything else is a whole rsync (`rsync.rs`), which mends
//! what was touched on the box. While the box is being reached (the ssh handshake, this machine
//! otherwise idle), the tree's tar is made ready here, compressed (`ship::prebuild`): a folder
//! with no manifest gets it, and anything else drops it. A sync whose machine knows the box's
//! manifest and has nothing to delete checks the box inside its one rsync call, before the
//! server starts.

pub mod excludes;
pub mod filter;
pub mod last;
pub mod pack;
pub mod remote;
mod rsync;
mod ship;
pub mod snapshot;
pub mod stage;

pub use excludes::{Excludes, Verdict};
pub use runplz_protocol::{LargestFile, SyncRecord};
pub use stage::{some_paths, stage, Staged, StagedFile};

pub(crate) use rsync::local_rsync_version;
use rsync::{ns_mtimes, rsync};
pub(crate) use ship::ship_tar;
use ship::SHIP_MAX_BYTES;

use crate::error::CliError;
use crate::job::Job;
use crate::ssh::Ssh;
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

mod up;
use up::{interrupted, no_rsync};
pub use up::{stage_and_up, up, up_snapshot, Transfer};

/// How many of the largest files the record lists.
pub const LARGEST: usize = 10;

/// How long one of the small ssh calls may take once connected.
const SSH_STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// The default remote folder for a job, relative to the remote home.
pub fn default_dest(job_name: &str) -> String {
    format!("runplz/{job_name}")
}

/// Check a remote folder and put it in the form every tool uses
/// ([`crate::ssh::remote_path`]: `~/x` is `x`, relative paths are relative to the remote
/// home). The home itself, `/`, and any `..` are refused: the folder is the only place
/// rp-sync ever deletes in, so it must be one of its own.
pub fn remote_dir(dest: &str) -> Result<String> {
    let d =
        crate::ssh::remote_path(dest).map_err(|why| CliError::usage(format!("--dest: {why}")))?;
    let p = Path::new(&d);
    let bad = |why: &str| {
        CliError::usage(format!(
            "--dest: found {dest:?}, expected a folder on the box below your home or an absolute path ({why})"
        ))
    };
    if d == "." {
        return Err(bad("not the home itself"));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(bad("no `..`"));
    }
    if !p.components().any(|c| matches!(c, Component::Normal(_))) {
        return Err(bad("not `/` or `.`"));
    }
    Ok(d)
}

/// The job's own exclude patterns: `sync.exclude`, plus its outputs folder when that lies
/// inside `src` (the default `out/` is in the built-in list already).
pub fn job_excludes(job: &Job, src: &Path) -> Vec<String> {
    job_excludes_to(job, src, &job.outputs_dir())
}

/// [`job_excludes`] for a run whose outputs come back to `out` (`runplz --outputs-dir`).
pub fn job_excludes_to(job: &Job, src: &Path, out: &Path) -> Vec<String> {
    let mut v = job.spec.sync.exclude.clone();
    let out = out.to_path_buf();
    let (out, src) = (
        std::fs::canonicalize(&out).unwrap_or(out),
        std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf()),
    );
    if let Ok(rel) = out.strip_prefix(&src) {
        if excludes::is_plain_relative(rel) && rel != Path::new("out") {
            if let Some(s) = rel.to_str() {
                // Anchored and escaped so the folder's name is matched as written.
                v.push(format!("/{}/", glob_escape(s)));
            }
        }
    }
    v
}

fn glob_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        // Whitespace too: gitignore drops trailing spaces unless they are escaped.
        if "*?[]\\!#".contains(c) || c.is_whitespace() {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

/// Build the `sync` record (the wire type lives in `runplz-protocol`) from what was staged
/// and (unless a dry run) transferred.
pub fn record(
    staged: &Staged,
    dest: Option<&str>,
    host: Option<&str>,
    transfer: Option<&Transfer>,
    started: Instant,
) -> SyncRecord {
    SyncRecord {
        source: staged.root.display().to_string(),
        dest: dest.map(str::to_string),
        host: host.map(str::to_string),
        dry_run: transfer.is_none(),
        files: staged.files.len() as u64,
        bytes: staged.bytes,
        files_transferred: transfer.map(|t| t.files_transferred),
        bytes_transferred: transfer.map(|t| t.bytes_transferred),
        deleted: transfer.map(|t| t.deleted),
        duration_seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        largest: staged
            .largest(LARGEST)
            .into_iter()
            .map(|f| LargestFile {
                path: f.path.to_string_lossy().into_owned(),
                bytes: f.bytes,
            })
            .collect(),
        excluded_secrets: staged.secrets.len() as u64,
        // Filled in by the caller that ran the scan (see `crate::scan`).
        secret_scan: Default::default(),
        tree: Default::default(),
    }
}

/// A size for people: `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_dirs() {
        assert_eq!(remote_dir("runplz/job").unwrap(), "runplz/job");
        assert_eq!(remote_dir("~/w/x/").unwrap(), "w/x");
        assert_eq!(remote_dir("/srv/work").unwrap(), "/srv/work");
        assert_eq!(remote_dir("with space").unwrap(), "with space");
        for bad in ["", "~", "~/", "/", ".", "./", "a/../b", "..", "~other/x"] {
            let e = remote_dir(bad).unwrap_err();
            assert_eq!(
                crate::error::exit_of(&e, Exit::Failed),
                Exit::Usage,
                "{bad:?}"
            );
        }
    }

    /// rsync's own `--out-format` names, hostile ones included, read back byte-exact.
    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }

    #[test]
    fn job_outputs_folder_is_excluded() {
        let d = tempfile::tempdir().unwrap();
        let text = r#"{"name":"j","image":{"from_registry":"python:3.12"},"run":"true",
            "outputs_dir":"results[1]","sync":{"exclude":["*.ckpt"]}}"#;
        let job = crate::job::parse(text, "job.json", d.path()).unwrap();
        assert_eq!(job_excludes(&job, d.path()), ["*.ckpt", "/results\\[1\\]/"]);
        let x = Excludes::new(&job_excludes(&job, d.path())).unwrap();
        assert_eq!(
            x.check(Path::new("results[1]/a.txt"), false),
            Verdict::Excluded
        );
        assert_eq!(x.check(Path::new("results1/a.txt"), false), Verdict::Ship);
        // A folder whose name ends in spaces is matched with them.
        let text = r#"{"name":"j","image":{"from_registry":"python:3.12"},"run":"true",
            "outputs_dir":"res  "}"#;
        let job = crate::job::parse(text, "job.json", d.path()).unwrap();
        assert_eq!(job_excludes(&job, d.path()), ["/res\\ \\ /"]);
        let x = Excludes::new(&job_excludes(&job, d.path())).unwrap();
        assert_eq!(x.check(Path::new("res  /a.txt"), false), Verdict::Excluded);
        assert_eq!(x.check(Path::new("res/a.txt"), false), Verdict::Ship);
        assert_eq!(x.check(Path::new("res /a.txt"), false), Verdict::Ship);
    }
}
