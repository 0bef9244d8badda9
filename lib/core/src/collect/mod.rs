//! Bring a run's outputs back: [`rsync_down`] from a box over the shared ssh connection, or
//! [`from_tar`] from an archive (Modal's outputs). Either way the result is a
//! [`Collected`] listing every file that came with its size and a sha256 computed here,
//! after the transfer; [`Collected::record`] turns it into the `collect` record
//! ([`CollectRecord`], a wire type from `runplz-protocol`). Archives are checked whole before anything is written (see
//! `tar.rs`).
//!
//! Outputs never change what is already here: no owner or group comes with them, a new
//! file's mode is the source's masked by the local umask (never setuid), existing files and
//! the destination folder keep their modes, and a symlink already in the destination is
//! replaced (rsync) or refused (an archive that needs a folder there), never written
//! through. Nothing local is deleted; [`Collected::earlier`] names what was already there.

mod tar;
#[cfg(test)]
mod tests;

pub use self::tar::{from_tar, from_tar_with, Limits};

use crate::error::CliError;
use crate::process::{self, Proc};
use crate::ssh::Ssh;
use anyhow::{Context, Result};
use runplz_protocol::{CollectRecord, CollectedFile, Earlier, Exit, Moved};
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Bytes in a MiB: limits are in MiB (2^20 bytes).
pub const MIB: u64 = 1024 * 1024;

/// One file that came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Its path under the destination, with `/` separators (lossy UTF-8 for odd names).
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// The sha256 of its contents as written here, lowercase hex.
    pub sha256: String,
}

/// What came back (printed as the `collect` record, see [`Collected::record`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// `host:REMOTE_DIR`, or the archive's path.
    pub source: String,
    /// The local destination folder.
    pub dest: String,
    /// Every file that came, sorted by path.
    pub entries: Vec<FileEntry>,
    /// How many files (the same meaning as `files` in every other record).
    pub files: usize,
    /// Their total size.
    pub bytes: u64,
    /// Wall-clock time for the whole collection, hashing included.
    pub duration_seconds: f64,
    /// Things people should know (a missing remote folder, a large archive).
    pub warnings: Vec<String>,
    /// Files already in the destination that did not come this time (sorted; never deleted).
    pub earlier: Vec<String>,
    /// Symlinks on the box that pointed out of the folder and were left behind (sorted).
    pub dropped_links: Vec<String>,
}

impl Collected {
    /// The `collect` record to print.
    pub fn record(&self) -> CollectRecord {
        CollectRecord {
            source: self.source.clone(),
            dest: self.dest.clone(),
            entries: self
                .entries
                .iter()
                .map(|f| CollectedFile {
                    path: f.path.clone(),
                    bytes: f.bytes,
                    sha256: f.sha256.clone(),
                })
                .collect(),
            files: self.files as u64,
            bytes: self.bytes,
            duration_seconds: self.duration_seconds,
            warnings: self.warnings.clone(),
            earlier: self.earlier_record(),
            dropped_links: self.dropped_links.clone(),
        }
    }

    /// [`Collected::earlier`] as a record field: the count and the first paths.
    pub fn earlier_record(&self) -> Earlier {
        Earlier {
            files: self.earlier.len() as u64,
            paths: self
                .earlier
                .iter()
                .take(Earlier::MAX_PATHS)
                .cloned()
                .collect(),
        }
    }

    /// For a run: say the warnings and [`Collected::notes`] on stderr (as `tool`), and give
    /// the run record's `outputs` (what came into `to`).
    pub fn report_moved(&self, tool: &str, to: &Path) -> Moved {
        for w in self.warnings.iter().chain(&self.notes()) {
            crate::out::warn(tool, w);
        }
        Moved {
            dir: Some(to.display().to_string()),
            files: self.files as u64,
            bytes: self.bytes,
            earlier: Some(self.earlier_record()),
            dropped_links: Some(self.dropped_links.clone()),
        }
    }

    /// Lines for stderr about what did not come or was already there, besides
    /// [`Collected::warnings`].
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.dropped_links.is_empty() {
            out.push(format!(
                "{} symlink(s) on the box pointed out of the folder and were left behind: {}",
                self.dropped_links.len(),
                list(&self.dropped_links)
            ));
        }
        if !self.earlier.is_empty() {
            out.push(format!(
                "{} file(s) in {} did not come this time and are from earlier runs (kept): {}",
                self.earlier.len(),
                self.dest,
                list(&self.earlier)
            ));
        }
        out
    }

    fn new(
        source: String,
        dest: &Path,
        files: Vec<FileEntry>,
        start: Instant,
        warnings: Vec<String>,
    ) -> Collected {
        let earlier = earlier_files(dest, &files);
        Collected {
            earlier,
            dropped_links: Vec::new(),
            source,
            dest: dest.display().to_string(),
            files: files.len(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            entries: files,
            duration_seconds: (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            warnings,
        }
    }
}

/// The sha256 and size of a regular file (symlinks are not followed).
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(meta.is_file(), "{} is not a regular file", path.display());
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, crate::hex::hex(&h.finalize())))
}

/// Up to 10 names, then how many more.
fn list(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        s.push_str(&format!(" and {} more", names.len() - 10));
    }
    s
}

/// The regular files under `dest` (symlinks not followed) that are not in `came`, sorted.
pub fn earlier_files(dest: &Path, came: &[FileEntry]) -> Vec<String> {
    let came: std::collections::BTreeSet<&str> = came.iter().map(|f| f.path.as_str()).collect();
    let mut out: Vec<String> = local_files(dest)
        .into_iter()
        .filter(|p| !came.contains(p.as_str()))
        .collect();
    out.sort();
    out
}

/// What a job on this machine wrote into `dir` itself (a Slurm job run from the login
/// node): every file there, nothing moved.
pub fn local_dir(dir: &Path) -> Result<Collected> {
    let rels: Vec<PathBuf> = local_files(dir).into_iter().map(PathBuf::from).collect();
    let entries = entries(dir, &rels)?;
    let mut warnings = Vec::new();
    if !dir.is_dir() {
        warnings.push(format!(
            "{} does not exist: the job wrote no outputs",
            dir.display()
        ));
    }
    Ok(Collected {
        source: dir.display().to_string(),
        dest: dir.display().to_string(),
        files: entries.len(),
        bytes: entries.iter().map(|e| e.bytes).sum(),
        entries,
        duration_seconds: 0.0,
        warnings,
        earlier: Vec::new(),
        dropped_links: Vec::new(),
    })
}

/// Every regular file under `dir`, as a `/`-separated path relative to it.
pub fn local_files(dir: &Path) -> Vec<String> {
    if !dir.is_dir() {
        return Vec::new();
    }
    ignore::WalkBuilder::new(dir)
        .standard_filters(false)
        .follow_links(false)
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            e.path()
                .strip_prefix(dir)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        })
        .collect()
}

/// Hash these relative paths under `dest` into sorted entries.
fn entries(dest: &Path, rels: &[PathBuf]) -> Result<Vec<FileEntry>> {
    let mut files = Vec::with_capacity(rels.len());
    for rel in rels {
        let (bytes, sha256) = hash_file(&dest.join(rel))?;
        files.push(FileEntry {
            path: rel.to_string_lossy().into_owned(),
            bytes,
            sha256,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The remote folder in [`crate::ssh::remote_path`]'s form (`~` and `~/x` are the home and
/// `x` in it, like every tool); a bad one is a usage error.
fn remote_path(dir: &str) -> Result<String> {
    crate::ssh::remote_path(dir).map_err(|why| CliError::usage(format!("--from: {why}")))
}

/// Exit codes of the listing script that mean "no such folder" and "not a folder".
const MISSING: i32 = 97;
const NOT_A_DIR: i32 = 98;
/// Between the listing's files and its symlinks.
const LINKS: &str = "//links";

/// Where a runplz run left its outputs on a box: `runplz-out/<run id>` in the home.
pub fn box_outputs(run_id: &str) -> String {
    format!("{}/{run_id}", crate::steps::BOX_OUTPUTS)
}

/// rsync `remote_dir` on the box down into `dest` (created if needed). A missing remote
/// folder is an empty collection with a warning. Symlinks that point outside the folder
/// are skipped (`--safe-links`). Every regular file of the remote folder is then hashed
/// here. Errors: rsync or ssh failing (exit 1), rsync missing here (125).
pub fn rsync_down(ssh: &Ssh, remote_dir: &str, dest: &Path) -> Result<Collected> {
    let start = Instant::now();
    let dir = remote_path(remote_dir)?;
    process::require("rsync", "install rsync (apt-get install rsync)")?;
    let source = format!("{}:{}", ssh.destination(), remote_dir);
    let q = crate::ssh::remote_dir_word(&dir);
    // One call checks the folder and lists its regular files, then (after a marker no
    // `./name` can be) its symlinks, NUL-separated so that any name (newlines included)
    // comes back exact.
    let script = format!(
        "if [ ! -e {q} ]; then exit {MISSING}; fi; cd {q} 2>/dev/null || exit {NOT_A_DIR}; \
         find . -type f -print0 && printf '{LINKS}\\0' && exec find . -type l -print0"
    );
    // The listing changes nothing: a connection that did not open is tried again.
    let list = ssh.command(&script);
    let listing = crate::ssh::retry::retry(
        &crate::ssh::tool(),
        &ssh.destination(),
        || list.run(),
        crate::ssh::retry::connect_failure,
    )
    .context("listing the remote folder")?;
    listing.check_interrupted()?;
    match listing.status.code() {
        0 => {}
        MISSING => {
            return Ok(Collected::new(
                source,
                dest,
                Vec::new(),
                start,
                vec![format!(
                    "{remote_dir} does not exist on the box: nothing to collect"
                )],
            ));
        }
        NOT_A_DIR => {
            return Err(CliError::new(
                Exit::Failed,
                format!("{remote_dir} on the box is not a folder this user can enter"),
            ));
        }
        rc => {
            return Err(CliError::new(
                Exit::Failed,
                format!(
                    "listing {remote_dir} on the box failed (exit {rc}): {}",
                    listing.tail(5)
                ),
            ));
        }
    }
    let mut rels: Vec<PathBuf> = Vec::new();
    let mut links: Vec<PathBuf> = Vec::new();
    let mut in_links = false;
    for n in listing.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if n == LINKS.as_bytes() {
            in_links = true;
            continue;
        }
        let rel = PathBuf::from(OsStr::from_bytes(n.strip_prefix(b"./").unwrap_or(n)));
        if in_links {
            links.push(rel);
        } else {
            rels.push(rel);
        }
    }

    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    // Files and bytes so far on a live line, when one is drawn.
    let rsync = crate::progress::rsync::watch(Proc::new("rsync").die_with_parent())
        // Not -a: the box's modes, owners and groups never reach this machine. New files
        // get the box's mode masked by the local umask, existing ones keep theirs, and
        // nothing here is chowned (collected as root, files belong to whoever runs this).
        // -O leaves the folders' times alone, the destination's own included. Without
        // -K, a symlink already here where a folder comes is replaced, never followed, and
        // a file is written beside its old one and renamed over it, so an old symlink is
        // replaced too, never written through.
        // --timeout: a transfer that moves nothing for 5 minutes is wedged; fail, don't hang.
        .args(["-rlt", "-O", "-s", "--safe-links", "--timeout=300", "-e"])
        .arg(ssh.rsync_rsh())
        .arg(ssh.rsync_dir(&dir))
        .arg(format!("{}/", dest.display()))
        .run()
        .context("running rsync")?;
    rsync.check_interrupted()?;
    if !rsync.status.success() {
        return Err(CliError::new(
            Exit::Failed,
            format!(
                "rsync from {source} exited with {}: {}",
                rsync.status.code(),
                rsync.tail(5)
            ),
        ));
    }
    let mut warnings = Vec::new();
    let mut present = Vec::with_capacity(rels.len());
    for rel in rels {
        match std::fs::symlink_metadata(dest.join(&rel)) {
            Ok(m) if m.is_file() => present.push(rel),
            _ => warnings.push(format!(
                "{} is on the box but did not arrive as a file",
                rel.to_string_lossy()
            )),
        }
    }
    // --safe-links drops a symlink that leaves the folder without a word: name each one.
    let mut dropped: Vec<String> = links
        .iter()
        .filter(|rel| {
            !std::fs::symlink_metadata(dest.join(rel)).is_ok_and(|m| m.file_type().is_symlink())
        })
        .map(|rel| rel.to_string_lossy().into_owned())
        .collect();
    dropped.sort();
    let files = entries(dest, &present)?;
    let mut got = Collected::new(source, dest, files, start, warnings);
    got.dropped_links = dropped;
    Ok(got)
}
