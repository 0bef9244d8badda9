//! The scan around shipping: before the first byte leaves, again for a list staged later,
//! after a transfer; and what a refusal and a warning say.

use super::{allow_for, scan, Allow, Mode, ScanRecord, SecretFinding};
use crate::error::CliError;
use crate::sync::Staged;
use anyhow::Result;
use runplz_protocol::Exit;

/// The scan every shipping path runs before the first byte leaves: by the job's
/// `sync.secret_scan` (default refuse). `off` says so once on stderr and returns a record
/// with mode `off`; `warn` warns per finding; `refuse` fails with `refuse_exit` naming each
/// finding and the ways out. Allowed findings are named on stderr either way.
pub fn before_shipping(
    tool: &str,
    staged: &Staged,
    job: Option<&crate::job::Job>,
    allow: &Allow,
    refuse_exit: Exit,
) -> Result<ScanRecord> {
    let mode = job
        .and_then(|j| j.spec.sync.secret_scan)
        .unwrap_or_default();
    if mode == Mode::Off {
        crate::out::note(
            tool,
            "the content scan for secrets is off (sync.secret_scan: \"off\"): files ship unread",
        );
        return Ok(ScanRecord {
            mode: mode.name().into(),
            source: staged.root.display().to_string(),
            ..ScanRecord::default()
        });
    }
    let mut rec = scan(staged, allow, Some(&crate::state::scan_cache_dir()))?;
    rec.mode = mode.name().into();
    if mode == Mode::Refuse && refused(&rec).next().is_some() {
        return Err(CliError::new(
            refuse_exit,
            refusal(&rec, job.map(|j| j.origin.as_str())),
        ));
    }
    for w in warnings(&rec) {
        crate::out::warn(tool, w);
    }
    Ok(rec)
}

/// The scan again, for a list staged some time after the run's first scan (runplz's sync
/// step, once the box is there): files unchanged since are answered by the cache, changed
/// and new ones are read. A finding that is not allowed, in `refuse` mode, fails with exit
/// 2 before anything is sent; in `warn` mode the findings of re-read files are warned of.
pub fn again_before_sending(
    tool: &str,
    staged: &Staged,
    job: &crate::job::Job,
    flags: &[String],
) -> Result<()> {
    let mode = job.spec.sync.secret_scan.unwrap_or_default();
    if mode == Mode::Off {
        return Ok(());
    }
    let allow = allow_for(Some(job), flags)?;
    let rec = scan(staged, &allow, Some(&crate::state::scan_cache_dir()))?;
    // A finding answered by the cache counts too: another scan (a pre-commit hook) may
    // have read a file changed since the run's own.
    let bad = mode == Mode::Refuse && refused(&rec).next().is_some();
    if rec.scanned == 0 && !bad {
        return Ok(());
    }
    if rec.scanned > 0 {
        crate::out::note(
            tool,
            format_args!(
                "{} file(s) changed or appeared since the run's secret scan: scanned again",
                rec.scanned
            ),
        );
    }
    if bad {
        return Err(CliError::new(
            Exit::Usage,
            refusal(&rec, Some(job.origin.as_str())).replacen(
                "refusing to ship:",
                "refusing to ship what changed since the run's scan:",
                1,
            ),
        ));
    }
    for w in warnings(&rec) {
        crate::out::warn(tool, w);
    }
    Ok(())
}

/// After a transfer: rsync sent each file as it was then, not as the scan read it. Files
/// whose size, mtime or inode changed since staging are scanned again (from the cache's
/// point of view they are new), so an edit made between the scan and the transfer is not
/// shipped unread without a word. A changed file is named in a warning; one that now holds
/// a finding that is not allowed fails with `refuse_exit` (in `refuse` mode; `warn` warns)
/// saying that it reached the box. Nothing is done with the scan off.
pub fn after_shipping(
    tool: &str,
    staged: &Staged,
    rec: &ScanRecord,
    allow: &Allow,
    refuse_exit: Exit,
) -> Result<()> {
    if rec.mode == Mode::Off.name() {
        return Ok(());
    }
    // One stat per file, relative to the open root (the kernel walks only the relative
    // path), and only the changed files copied.
    let root_dir = std::fs::File::open(&staged.root).ok();
    let mut files = Vec::new();
    let mut changed = Vec::new();
    for f in staged.files.iter().filter(|f| !f.symlink) {
        let Some((size, mtime_ns, inode, regular)) = stat_in(root_dir.as_ref(), staged, &f.path)
        else {
            // Gone: rsync said so (a vanished file) and nothing of it was sent.
            continue;
        };
        if (size, mtime_ns, inode) == (f.bytes, f.mtime_ns, f.inode) {
            continue;
        }
        changed.push(f.path.clone());
        if regular {
            files.push(crate::sync::StagedFile {
                bytes: size,
                mtime_ns,
                inode,
                ..f.clone()
            });
        }
    }
    let now = Staged {
        root: staged.root.clone(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        files,
        secrets: Vec::new(),
        tracked_secrets: Vec::new(),
        git: staged.git,
        warnings: Vec::new(),
    };
    if changed.is_empty() {
        return Ok(());
    }
    crate::out::warn(
        tool,
        format!(
            "{} file(s) changed after the secret scan read them and shipped as they are now; scanned again: {}",
            changed.len(),
            crate::sync::some_paths(&changed, 5)
        ),
    );
    // Not through the cache: written from this short list, it would forget every other file.
    let mut again = scan(&now, allow, None)?;
    again.mode = rec.mode.clone();
    if rec.mode == Mode::Refuse.name() && refused(&again).next().is_some() {
        let mut msg = refusal(&again, None);
        msg = msg.replacen(
            "(nothing was sent)",
            "in a file changed after the scan: it REACHED THE BOX; remove the value, sync again (which replaces the file there) and rotate it",
            1,
        );
        return Err(CliError::new(refuse_exit, msg));
    }
    for w in warnings(&again) {
        crate::out::warn(tool, w);
    }
    Ok(())
}

/// `root/rel`'s (size, mtime ns, inode, is a regular file), not following a symlink; `None`
/// when it is gone.
fn stat_in(
    root_dir: Option<&std::fs::File>,
    staged: &Staged,
    rel: &std::path::Path,
) -> Option<(u64, i128, u64, bool)> {
    use nix::sys::stat::{fstatat, SFlag};
    use std::os::unix::fs::MetadataExt;
    match root_dir {
        Some(d) => {
            let st = fstatat(d, rel, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
            let regular = st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFREG.bits();
            Some((
                st.st_size as u64,
                i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
                st.st_ino,
                regular,
            ))
        }
        None => {
            let md = staged.root.join(rel).symlink_metadata().ok()?;
            Some((
                md.len(),
                i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
                md.ino(),
                md.is_file(),
            ))
        }
    }
}

/// The findings that are not allowed.
pub fn refused(rec: &ScanRecord) -> impl Iterator<Item = &SecretFinding> {
    rec.findings.iter().filter(|f| !f.allowed)
}

/// The message for a tree that holds secrets: each finding, then the ways out.
pub fn refusal(rec: &ScanRecord, job_file: Option<&str>) -> String {
    let found: Vec<&SecretFinding> = refused(rec).collect();
    let mut s = format!(
        "refusing to ship: {} secret{} found in {} (nothing was sent):",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        rec.source
    );
    for f in found.iter().take(20) {
        s.push_str(&format!(
            "\n  {}:{}:{}: {} ({})",
            crate::out::escape(&f.path),
            f.line,
            f.column,
            f.rule,
            crate::out::escape(&f.preview)
        ));
    }
    if found.len() > 20 {
        s.push_str(&format!("\n  ... and {} more", found.len() - 20));
    }
    let first = found
        .first()
        .map(|f| format!("{}:{}", crate::out::escape(&f.path), f.line))
        .unwrap_or_default();
    s.push_str(&format!(
        "\nways out: move the value to an environment variable the job reads and list its name in the job's \"pass_env\"; or delete it; or, if it is not a secret, allow it with --allow-secret {first} or \"sync\": {{\"allow_secrets\": [\"{first}\"]}} in {} (paths and globs, optionally :LINE); \"sync\": {{\"secret_scan\": \"warn\"}} ships with a warning instead",
        job_file.unwrap_or("job.json")
    ));
    s
}

/// One warning line per finding, for `warn` mode and allowed findings.
pub fn warnings(rec: &ScanRecord) -> Vec<String> {
    rec.findings
        .iter()
        .map(|f| {
            format!(
                "{} secret {}:{}:{}: {} ({})",
                if f.allowed { "allowed" } else { "shipping a" },
                crate::out::escape(&f.path),
                f.line,
                f.column,
                f.rule,
                crate::out::escape(&f.preview)
            )
        })
        .collect()
}
