//! rsync itself: the transfer of a staged tree (walked by rsync with our list as rules, or
//! sent as a list), what it says it sent, and the nanosecond mtime check.

use super::{filter, interrupted, no_rsync, remote, Staged};
use crate::error::CliError;
use crate::process::{Output, Proc, Status};
use crate::ssh::Ssh;
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use std::path::PathBuf;
use std::time::Instant;

/// Whether rsync here and on the box compare nanosecond mtimes; a warning when not.
pub(super) fn ns_mtimes(
    ssh: &Ssh,
    remote: Option<(u32, u32, u32)>,
    warnings: &mut Vec<String>,
) -> bool {
    // rsync's quick check compares whole seconds unless told otherwise, so a same-size edit
    // within the second of the last sync would be skipped. `--modify-window=-1` compares
    // nanoseconds; the receiver (the box) must be 3.1.3 or later, the sender must know it.
    let ns = NS_MTIMES <= local_rsync_version().unwrap_or_default()
        && NS_MTIMES <= remote.unwrap_or_default();
    if !ns {
        warnings.push(format!(
            "rsync here or on {} is older than 3.1.3: a same-size edit made within a second of the last sync may not ship",
            ssh.destination()
        ));
    }
    ns
}

/// The first rsync that compares nanosecond mtimes (`--modify-window=-1`).
const NS_MTIMES: (u32, u32, u32) = (3, 1, 3);

/// This machine's rsync version, asked once per process.
pub(crate) fn local_rsync_version() -> Option<(u32, u32, u32)> {
    static V: std::sync::OnceLock<Option<(u32, u32, u32)>> = std::sync::OnceLock::new();
    *V.get_or_init(|| {
        let out = std::process::Command::new("rsync")
            .arg("--version")
            .env("LC_ALL", "C")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        remote::rsync_version(String::from_utf8_lossy(&out.stdout).lines().next()?)
    })
}

/// rsync the staged tree; with `manifest`, the new manifest rides along where it can (see
/// [`remote::rsync_path`]). Says whether it did. With `expect`, the box is checked first
/// and `None` means it was not as expected (nothing was sent). The pair: compare mtimes in
/// ns (see [`ns_mtimes`]); send `staged` as a list (a few changed files) rather than walk.
pub(super) fn rsync(
    ssh: &Ssh,
    staged: &Staged,
    dest: &str,
    (ns_mtimes, list): (bool, bool),
    manifest: Option<&[u8]>,
    expect: Option<&remote::Expect>,
    warnings: &mut Vec<String>,
) -> Result<Option<(remote::RsyncStats, bool)>> {
    let mut src = staged.root.clone().into_os_string();
    src.push("/");
    // --links ships symlinks as symlinks; no -o/-g: a uid here means nothing on the box; no
    // -D: sockets and devices never ship. --protect-args keeps the destination path away
    // from the remote shell. --chmod=go= makes every file and folder private to the box user
    // (the owner's bits, executability included, stay).
    let common = [
        // A transfer that moves nothing for this long is wedged: fail instead of hanging.
        "--timeout=300",
        "--links",
        "--perms",
        "--chmod=go=",
        "--times",
        "--stats",
        // Each file whose data is sent, by name (see `sent_names`).
        "--out-format=rp-sent:%n",
        "--no-human-readable",
        "--protect-args",
        "--from0",
    ];
    // rsync walks the tree itself with the complement of our list as rules (see
    // [`filter`]); a tree needing too many rules, or a `list` (a few changed files), is
    // sent as the list itself: --files-from and no -r ships exactly these paths, the
    // folders above them implied by --relative.
    let t = Instant::now();
    let rules = if list { None } else { filter::rules(staged) };
    let (how, mut input): (&[&str], Vec<u8>) = match rules {
        Some(rules) => (&["--recursive", "--exclude-from=-"], rules),
        // A list carries no manifest beside it: ask the box the slow way.
        None if expect.is_some() => return Ok(None),
        None => (&["--relative", "--files-from=-"], staged.files_from()),
    };
    // The new manifest as a second source beside the tree (a walk only: a list has one
    // base folder), let through by a first rule, put in place by the rsync-path script.
    let next = match manifest {
        Some(m) if how[0] == "--recursive" => {
            let name = remote::next_manifest_name();
            let dir = tempfile::Builder::new()
                .prefix("rp-sync-")
                .tempdir()
                .context("creating a temporary folder for the manifest")?;
            let file = dir.path().join(&name);
            std::fs::write(&file, m).with_context(|| format!("writing {}", file.display()))?;
            let mut rules = format!("+ /{name}\0").into_bytes();
            rules.append(&mut input);
            input = rules;
            Some((dir, file, name))
        }
        _ => None,
    };
    crate::out::timing("sync", "rules", t);
    // Files and bytes so far on a live line, when one is drawn.
    let proc = crate::progress::rsync::watch(Proc::new("rsync").die_with_parent().args(common))
        .args(how)
        .args(ns_mtimes.then_some("--modify-window=-1"))
        .arg("--rsync-path")
        .arg(remote::rsync_path(
            dest,
            next.as_ref().map(|(_, _, n)| n.as_str()),
            expect,
        ))
        .arg("-e")
        // Asking nothing first, the transfer is likely the only call (see `Ssh::close`).
        .arg(match expect {
            Some(_) => ssh.rsync_rsh_alone(),
            None => ssh.rsync_rsh(),
        })
        .arg("--")
        .arg(src)
        .args(next.as_ref().map(|(_, f, _)| f))
        .arg(ssh.rsync_dir(dest))
        .env("LC_ALL", "C")
        .stdin(input)
        // The box's answers on stderr are read (the token, a failed check); the rest shown.
        .output(Output::Capture);
    let f = proc.run()?;
    interrupted(&f)?;
    let said = |m: &str| f.stderr.split(|&b| b == b'\n').any(|l| l == m.as_bytes());
    if expect.is_some() {
        if said(remote::NO_RSYNC) {
            return Err(no_rsync(ssh));
        }
        if said(remote::STALE) {
            return Ok(None);
        }
    }
    let mut token = String::new();
    let mut rest = Vec::new();
    for l in f.stderr.split_inclusive(|&b| b == b'\n') {
        match l.strip_prefix(remote::TOKEN.as_bytes()) {
            Some(t) => token = String::from_utf8_lossy(t).trim_end().to_string(),
            None => rest.extend_from_slice(l),
        }
    }
    {
        use std::io::Write;
        let _ = std::io::stderr().write_all(&rest);
    }
    match f.status {
        Status::Exited(0) => {}
        // A file deleted here between staging and sending: the box simply lacks it too.
        Status::Exited(24) => warnings.push(format!(
            "some files vanished while syncing: {}",
            f.tail(5).trim()
        )),
        s => {
            let code = s.code();
            return Err(CliError::new(
                Exit::Failed,
                format!(
                    "rsync exited with {code} ({}){}{}",
                    remote::rsync_exit_meaning(code),
                    if f.tail(1).is_empty() { "" } else { ":\n" },
                    f.tail(10).trim_end()
                ),
            ));
        }
    }
    let mut stats = remote::parse_stats(&f.stdout_str())?;
    stats.sent = sent_names(&f.stdout, next.as_ref().map(|(_, _, n)| n.as_str()));
    stats.token = token;
    if next.is_some() {
        // The manifest is not one of the tree's files.
        stats.files_transferred = stats.files_transferred.saturating_sub(1);
    }
    Ok(Some((stats, next.is_some())))
}

/// The files rsync named as sent (`rp-sent:` lines; folders and the manifest `next`
/// aside), its `\#ooo` escapes undone. `None` when a line is not one it would write.
pub(super) fn sent_names(stdout: &[u8], next: Option<&str>) -> Option<Vec<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let mut v = Vec::new();
    for line in stdout.split(|&b| b == b'\n') {
        let Some(n) = line.strip_prefix(b"rp-sent:") else {
            continue;
        };
        let name = unescape_rsync(n)?;
        let name = name.strip_prefix(b"./").unwrap_or(&name);
        if name.is_empty() || name.ends_with(b"/") || next.is_some_and(|m| name == m.as_bytes()) {
            continue;
        }
        v.push(PathBuf::from(std::ffi::OsStr::from_bytes(name)));
    }
    Some(v)
}

/// rsync's output escapes (`\#` and three octal digits for a byte it would not print; a
/// backslash is escaped only where it would read as one); `None` on a malformed one.
fn unescape_rsync(s: &[u8]) -> Option<Vec<u8>> {
    let mut o = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && s.get(i + 1) == Some(&b'#') {
            let d = s.get(i + 2..i + 5)?;
            if !d.iter().all(|c| (b'0'..=b'7').contains(c)) {
                return None;
            }
            let v = d.iter().fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
            o.push(u8::try_from(v).ok()?);
            i += 5;
        } else {
            o.push(s[i]);
            i += 1;
        }
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_rsync_says_it_sent_read_back_exactly() {
        use std::os::unix::ffi::OsStrExt;
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let names: &[&[u8]] = &[
            b"plain.txt",
            b"new\nline",
            b"back\\#012slash",
            b"back\\slash",
            b"tab\there",
            b"caf\xc3\xa9 \xff",
            b"rp-sent:x",
            b"sub/inner.txt",
        ];
        std::fs::create_dir(src.path().join("sub")).unwrap();
        for n in names {
            std::fs::write(src.path().join(std::ffi::OsStr::from_bytes(n)), b"x").unwrap();
        }
        let out = std::process::Command::new("rsync")
            .args(["-r", "--out-format=rp-sent:%n"])
            .arg(format!("{}/", src.path().display()))
            .arg(dst.path())
            .env("LC_ALL", "C")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got = sent_names(&out.stdout, None).unwrap();
        got.sort();
        let mut want: Vec<PathBuf> = names
            .iter()
            .map(|n| PathBuf::from(std::ffi::OsStr::from_bytes(n)))
            .collect();
        want.sort();
        assert_eq!(got, want);
        // The manifest beside the tree is not one of its files; a broken escape is no list.
        assert_eq!(
            sent_names(b"rp-sent:a\nrp-sent:.m\nrp-sent:d/\nTotal: 1\n", Some(".m")),
            Some(vec![PathBuf::from("a")])
        );
        assert_eq!(sent_names(b"rp-sent:a\\#09x\n", None), None);
    }
}
