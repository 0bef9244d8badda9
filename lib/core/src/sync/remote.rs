//! The box side of a sync: the small shell scripts run over ssh (prepare the folder, delete
//! what was removed here, record the manifest), the manifest format, and the parser for
//! rsync's `--stats`. Every path travels NUL-separated on stdin, never inside a script, so
//! quotes, `$(..)`, newlines and leading dashes arrive as bytes and are never interpreted.

use super::excludes::is_plain_relative;
use crate::quote;
use anyhow::{bail, Result};
use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The manifest's name inside the remote folder: the files rp-sync shipped last time.
pub const MANIFEST: &str = ".rp-sync-manifest";

/// The manifest's first line; the rest is NUL-terminated relative paths.
const MANIFEST_HEADER: &[u8] = b"rp-sync manifest 1\n";

/// Printed before the data we parse, so whatever a login shell's rc files print is skipped.
pub(crate) const MARK: &str = "--rp-sync-data--";

/// `dest` as a shell word for `cd`/`mkdir`, from the home (see
/// [`crate::ssh::remote_dir_word`]): neither CDPATH nor a name such as `-` can move it.
fn dir_word(dest: &str) -> String {
    crate::ssh::remote_dir_word(dest)
}

/// The start of every script that works inside the folder. What it writes (the manifest)
/// is private to the box user, as the folder is.
fn preamble(dest: &str) -> String {
    format!(
        "umask 077; unset CDPATH; cd -- {} || exit 1\n",
        dir_word(dest)
    )
}

/// A shell function `rp_token` that prints the token of the folder it is run in: the md5 of
/// one line per entry (type, mode, owner, size, mtime in ns, inode, path, link target) in the
/// order `find` meets them, the manifest aside; nothing (status 1) where GNU `find -printf`
/// or `md5sum` is missing. Compared only with a token the same box printed for the same
/// folder, so the order needs to be stable, not sorted: a folder's entries come in the same
/// order until one is added or removed, which changes the folder's own line. Hard links (a
/// run's copy, see [`super::snapshot`]) change none of these fields; any write, chmod,
/// rename, new or deleted file does.
pub(crate) const TOKEN_FN: &str = "rp_token() {
  find . -maxdepth 0 -printf '' 2>/dev/null && command -v md5sum >/dev/null 2>&1 || return 1
  set -- $(find . ! -name . \\( -path './.rp-sync-manifest*' -prune -o -printf '%y %m %U %s %T@ %i %P\\0%l\\0' \\) 2>/dev/null | md5sum) && printf '%s\\n' \"$1\"
}
";

/// On the rsync-path script's stderr, before the token of the folder after a transfer.
pub const TOKEN: &str = "--rp-sync-data--token=";

/// Say whether rsync is there, the folder's token when `token` (see [`TOKEN_FN`]; empty
/// when none), and print the last manifest; reads only (the folder is made by
/// [`rsync_path`], on the transfer's own connection), so it can run while this machine is
/// still staging.
pub fn prepare_script(dest: &str, token: bool) -> String {
    let tok = if token {
        format!("{TOKEN_FN}rp_t=$(rp_token)\n")
    } else {
        String::new()
    };
    // GNU tar and head (coreutils) let files go in the same session (see
    // [`super::snapshot::SyncLock::ship`]). Each `$(...)` is one process fewer than a pipe
    // to head or grep: a process start is about a millisecond on a small box. rsync's line
    // comes from a job of its own, the only one to print before the `wait`, while this
    // shell asks tar, head and the folder: `rsync --version` alone took 5-9 ms on a
    // loopback box, the folder's token 25 ms for 10k files.
    format!(
        "unset CDPATH\nprintf '%s\\n' {MARK}\n\
         rp_nl='\n'\n\
         (if command -v rsync >/dev/null 2>&1; then rp_v=$(rsync --version 2>/dev/null); echo \"rsync=yes ${{rp_v%%$rp_nl*}}\"; else echo rsync=no; fi) &\n\
         rp_ship=\n\
         case $(tar --version 2>/dev/null) in *'GNU tar'*) case $(head --version 2>/dev/null) in *coreutils*) rp_ship=1 ;; esac ;; esac\n\
         rp_in= rp_t=\n\
         if cd -- {d} 2>/dev/null; then rp_in=1\n{tok}fi\n\
         wait\n\
         if [ -n \"$rp_ship\" ]; then echo ship=yes; command -v zstd >/dev/null 2>&1 && echo zstd=yes; fi\n\
         printf 'token=%s\\n' \"$rp_t\"\n\
         if [ -n \"$rp_in\" ] && [ -f {MANIFEST} ] && [ ! -L {MANIFEST} ]; then cat {MANIFEST}; fi\n",
        d = dir_word(dest),
    )
}

/// rsync's `--rsync-path` for a transfer into `dest`: create the folder, private to the box
/// user (0700, and the folders above it that this creates), then become the rsync server,
/// whose arguments rsync appends to this command line (`$0` is the first). A folder left
/// open by an older runplz is closed here; one the user cannot chmod (not theirs) is left
/// as it is. Written for any login shell (see [`crate::ssh::posix_command`]).
///
/// With `next`, the name of a new manifest that this same transfer brings into the folder
/// (see [`next_manifest_name`]): once the rsync server is done (all sent, or only files
/// that vanished here meanwhile, exit 24), it replaces the manifest, so recording the
/// manifest costs no round trip of its own. Then the folder's token follows [`TOKEN`] on
/// stderr.
///
/// With `expect`, the transfer stands in for [`prepare_script`]'s round trip too: before
/// the server starts, the box must still be as this machine last left it (see
/// [`Expect`]); else it prints [`STALE`] (or [`NO_RSYNC`]) on stderr and stops, having
/// changed nothing but making the folder.
pub fn rsync_path(dest: &str, next: Option<&str>, expect: Option<&Expect>) -> String {
    let d = dir_word(dest);
    let mut head =
        format!("if [ -d {d} ]; then chmod go= -- {d} 2>/dev/null || :; else (umask 077 && mkdir -p -- {d}) || exit 1; fi\n");
    if let Some(e) = expect {
        // The manifest's sha256 by whichever tool the box has; none gives a mismatch.
        head.push_str(&format!(
            "stop() {{ printf '%s\\n' \"$1\" >&2; exit 1; }}\n\
             command -v rsync >/dev/null 2>&1 || stop {NO_RSYNC}\n\
             [ \"$(rsync --version 2>/dev/null | head -n 1)\" = {line} ] || stop {STALE}\n\
             h=$(cd -- {d} || exit 1\n\
             if [ -f {MANIFEST} ] && [ ! -L {MANIFEST} ]; then {{ sha256sum || shasum -a 256; }} < {MANIFEST} 2>/dev/null; else echo none; fi) || stop {STALE}\n\
             h=${{h%% *}}\n\
             [ \"$h\" = none ] || [ \"$h\" = {sha} ] || stop {STALE}\n",
            line = quote::sh(&e.rsync_line),
            sha = e.manifest_sha256,
        ));
    }
    // Once the server is done, the folder's token goes back on stderr (see [`TOKEN_FN`]):
    // the next sync compares it with what the box says then.
    let moved = match next {
        None => String::new(),
        Some(n) => format!("mv -f -- {} {MANIFEST} || exit 1\n", quote::sh(n)),
    };
    crate::ssh::posix_command(&format!(
        "{head}rsync \"$0\" \"$@\"; rc=$?\n\
         case $rc in 0|24) cd -- {d} || exit 1\n{moved}{TOKEN_FN}printf '%s%s\\n' {TOKEN} \"$(rp_token)\" >&2 ;; esac\nexit $rc\n"
    ))
}

/// What a transfer that skips [`prepare_script`] requires of the box (see [`rsync_path`]):
/// the manifest this machine last recorded there (by its sha256; no manifest at all also
/// passes, as nothing is then to be deleted), and the same rsync as then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// `rsync --version`'s first line on the box, as [`prepare_script`] printed it.
    pub rsync_line: String,
    /// The manifest's sha256, lowercase hex.
    pub manifest_sha256: String,
}

/// On rsync's stderr: the box is not as [`Expect`] says (ask it, then transfer).
pub const STALE: &str = "--rp-sync-data--stale";
/// On rsync's stderr: the box has no rsync.
pub const NO_RSYNC: &str = "--rp-sync-data--no-rsync";

/// A fresh name for a new manifest shipped beside the tree (`.rp-sync-manifest.new.` and
/// 16 hex digits): no file of the tree can have it (every `/.rp-sync-manifest*` stays
/// home), and two syncs into one folder at once never share one.
pub fn next_manifest_name() -> String {
    format!("{MANIFEST}.new.{:016x}", fastrand::u64(..))
}

/// What [`prepare_script`] found on the box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Whether rsync is on the box's PATH.
    pub rsync: bool,
    /// Its version (`3.2.7`), when it said.
    pub rsync_version: Option<(u32, u32, u32)>,
    /// `rsync --version`'s first line, as it printed it.
    pub rsync_line: String,
    /// The folder's token (see [`TOKEN_FN`]); empty when not asked or not to be had.
    pub token: String,
    /// Whether the box has GNU tar and head, for [`super::snapshot::SyncLock::ship`].
    pub ship: bool,
    /// Whether it also has `zstd` (looked for only with `ship`): the tar goes compressed.
    pub zstd: bool,
    /// The last manifest's bytes (empty when none).
    pub manifest: Vec<u8>,
}

/// Parse [`prepare_script`]'s stdout.
pub fn parse_prepared(stdout: &[u8]) -> Result<Prepared> {
    let mark = format!("{MARK}\n");
    let Some(at) = find(stdout, mark.as_bytes()) else {
        bail!(
            "the box's answer did not contain the expected marker; got {:?}",
            String::from_utf8_lossy(&stdout[..stdout.len().min(200)])
        );
    };
    let rest = &stdout[at + mark.len()..];
    let (line, rest) = split_line(rest);
    let (ship, rest) = match rest.strip_prefix(b"ship=yes\n") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (zstd, rest) = match rest.strip_prefix(b"zstd=yes\n") {
        Some(r) => (ship, r),
        None => (false, rest),
    };
    let (token, manifest) = match rest.strip_prefix(b"token=") {
        Some(r) => split_line(r),
        None => (&rest[..0], rest),
    };
    let line = String::from_utf8_lossy(line);
    Ok(Prepared {
        rsync: line == "rsync=yes" || line.starts_with("rsync=yes "),
        rsync_version: line.strip_prefix("rsync=yes ").and_then(rsync_version),
        rsync_line: line.strip_prefix("rsync=yes ").unwrap_or("").to_string(),
        token: String::from_utf8_lossy(token).into_owned(),
        ship,
        zstd,
        manifest: manifest.to_vec(),
    })
}

/// The bytes before the first newline and those after it.
fn split_line(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == b'\n') {
        Some(n) => (&b[..n], &b[n + 1..]),
        None => (b, &b[b.len()..]),
    }
}

/// The version in `rsync --version`'s first line (`rsync  version 3.2.7  protocol version
/// 31`, or openrsync's `openrsync: protocol version 29` which has none).
pub fn rsync_version(line: &str) -> Option<(u32, u32, u32)> {
    let mut words = line.split_whitespace();
    if (words.next(), words.next()) != (Some("rsync"), Some("version")) {
        return None;
    }
    let v = words.next()?;
    let mut n = v.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    Some((
        n.next()??,
        n.next().flatten().unwrap_or(0),
        n.next().flatten().unwrap_or(0),
    ))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The manifest for these paths.
pub fn manifest_bytes<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<u8> {
    let mut out = MANIFEST_HEADER.to_vec();
    out.extend(super::stage::nul_list(paths));
    out
}

/// The paths a manifest lists. Anything not a plain relative path (absolute, `..`, `.`) is
/// dropped: a manifest on the box is not trusted to name files outside the folder. `None`
/// when the bytes are not a manifest at all.
pub fn parse_manifest(bytes: &[u8]) -> Option<Vec<PathBuf>> {
    let body = bytes.strip_prefix(MANIFEST_HEADER)?;
    Some(
        body.split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| Path::new(OsStr::from_bytes(p)))
            .filter(|p| is_plain_relative(p))
            .map(|p| p.components().collect())
            .collect(),
    )
}

/// What to delete on the box: paths shipped last time that are gone here now (missing, or
/// a folder where a file was). Files still here but no longer shipped (newly ignored or
/// excluded) are left alone on the box, as rsync leaves excluded files alone.
pub fn to_delete(old: &[PathBuf], staged: &HashSet<&Path>, root: &Path) -> Vec<PathBuf> {
    old.iter()
        .filter(|p| !staged.contains(p.as_path()))
        .filter(|p| match root.join(p).symlink_metadata() {
            Err(_) => true,
            Ok(md) => md.is_dir(),
        })
        .cloned()
        .collect()
}

/// Delete the NUL-separated relative paths on stdin inside the folder, printing `D` per file
/// removed, then remove folders left empty (never the folder itself). A path is skipped when
/// its parent is not physically inside the folder (a symlinked parent would lead out of it),
/// and folders are never deleted by name.
pub fn cleanup_script(dest: &str) -> String {
    let per_file = r#"root=$1; shift
for f do
  d=.
  case $f in */*) d=${f%/*} ;; esac
  if [ "$d" != . ]; then
    p=$(cd -P -- "./$d" 2>/dev/null && pwd -P) || continue
    [ "$p" = "$root/$d" ] || continue
  fi
  if [ -L "$f" ] || { [ -e "$f" ] && [ ! -d "$f" ]; }; then
    rm -f -- "$f" && echo D
  fi
  if [ "$d" != . ]; then rmdir -p -- "$d" 2>/dev/null || :; fi
done"#;
    format!(
        "{pre}root=$(pwd -P) || exit 1\nprintf '%s\\n' {MARK}\nxargs -0 sh -c {s} rp-sync \"$root\"\n",
        pre = preamble(dest),
        s = quote::sh(per_file),
    )
}

/// How many files [`cleanup_script`] deleted, from its stdout.
pub fn parse_deleted(stdout: &[u8]) -> u64 {
    let mark = format!("{MARK}\n");
    let body = find(stdout, mark.as_bytes()).map_or(&stdout[..0], |at| &stdout[at + mark.len()..]);
    body.split(|&b| b == b'\n').filter(|l| *l == b"D").count() as u64
}

/// Replace the manifest with stdin, atomically. The temp file is this shell's own, so two
/// syncs into one folder at once (two runs of one job) cannot move each other's.
pub fn write_manifest_script(dest: &str) -> String {
    format!(
        "{pre}cat > {MANIFEST}.tmp.$$ && mv -f {MANIFEST}.tmp.$$ {MANIFEST}\n",
        pre = preamble(dest)
    )
}

/// rsync's `--stats`, the parts we report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RsyncStats {
    /// Regular files whose data was sent (0 when nothing changed).
    pub files_transferred: u64,
    /// Bytes sent over the connection (after rsync's delta encoding).
    pub bytes_sent: u64,
    /// Bytes received back.
    pub bytes_received: u64,
    /// The files whose data was sent, by name (filled in by the caller).
    pub sent: Option<Vec<PathBuf>>,
    /// The folder's token after the transfer (see [`TOKEN_FN`]; filled in by the caller,
    /// empty when the box gave none).
    pub token: String,
}

/// Parse `rsync --stats` output (any of rsync 3.x's spellings; digits may carry commas).
pub fn parse_stats(text: &str) -> Result<RsyncStats> {
    let num = |label: &str| -> Option<u64> {
        text.lines().find_map(|l| {
            let rest = l.trim().strip_prefix(label)?.trim_start();
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
                .filter(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
    };
    let files =
        num("Number of regular files transferred:").or_else(|| num("Number of files transferred:"));
    match (files, num("Total bytes sent:")) {
        (Some(files_transferred), Some(bytes_sent)) => Ok(RsyncStats {
            files_transferred,
            bytes_sent,
            bytes_received: num("Total bytes received:").unwrap_or(0),
            sent: None,
            token: String::new(),
        }),
        _ => bail!("rsync printed no --stats summary; its output was:\n{text}"),
    }
}

/// What an rsync exit code means (rsync(1), EXIT VALUES).
pub fn rsync_exit_meaning(code: i32) -> &'static str {
    match code {
        1 => "syntax or usage error",
        2 => "protocol incompatibility",
        3 => "errors selecting input/output files or folders",
        5 => "error starting the client-server protocol",
        10 => "error in socket I/O",
        11 => "error in file I/O",
        12 => "error in the rsync protocol data stream",
        13 => "errors with program diagnostics",
        14 => "error in IPC code",
        20 => "received a signal",
        22 => "error allocating memory",
        23 => "partial transfer due to an error",
        24 => "some source files vanished during the transfer",
        25 => "the --max-delete limit stopped deletions",
        30 => "timeout in data send/receive",
        35 => "timeout waiting for a daemon connection",
        255 => "ssh failed (connection or authentication)",
        _ => "unknown rsync error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const STATS_35: &str = "
Number of files: 6 (reg: 3, dir: 2, link: 1)
Number of created files: 6 (reg: 3, dir: 2, link: 1)
Number of deleted files: 0
Number of regular files transferred: 3
Total file size: 15 bytes
Total transferred file size: 4 bytes
Literal data: 4 bytes
Matched data: 0 bytes
File list size: 0
File list generation time: 0.001 seconds
File list transfer time: 0.000 seconds
Total bytes sent: 284
Total bytes received: 82

sent 284 bytes  received 82 bytes  732.00 bytes/sec
total size is 15  speedup is 0.04
";

    #[test]
    fn parses_stats() {
        assert_eq!(
            parse_stats(STATS_35).unwrap(),
            RsyncStats {
                files_transferred: 3,
                bytes_sent: 284,
                bytes_received: 82,
                sent: None,
                token: String::new(),
            }
        );
        // rsync 3.0 spelling, human-readable commas.
        let old = "Number of files transferred: 1,204\nTotal bytes sent: 12,345,678\n";
        assert_eq!(
            parse_stats(old).unwrap(),
            RsyncStats {
                files_transferred: 1204,
                bytes_sent: 12_345_678,
                bytes_received: 0,
                sent: None,
                token: String::new(),
            }
        );
        let e = parse_stats("rsync: nothing\n").unwrap_err();
        assert!(format!("{e}").contains("no --stats summary"), "{e}");
    }

    #[test]
    fn prepared_skips_rc_noise() {
        let out = b"Welcome to the box!\n--rp-sync-data--\nrsync=yes\nship=yes\ntoken=0af1\nrp-sync manifest 1\na\0b c\0";
        let p = parse_prepared(out).unwrap();
        assert!(p.rsync && p.ship);
        assert_eq!(p.token, "0af1");
        assert_eq!(
            parse_manifest(&p.manifest).unwrap(),
            [PathBuf::from("a"), "b c".into()]
        );
        assert_eq!(p.rsync_version, None);
        let p = parse_prepared(
            b"--rp-sync-data--\nrsync=yes rsync  version 3.2.7  protocol version 31\n",
        )
        .unwrap();
        assert!(p.rsync);
        assert_eq!(p.rsync_version, Some((3, 2, 7)));
        assert_eq!(
            rsync_version("rsync  version v3.1.3pre1  protocol version 31"),
            None
        );
        assert_eq!(
            rsync_version("rsync version 3.1.3pre1 protocol version 31"),
            Some((3, 1, 3))
        );
        assert_eq!(rsync_version("openrsync: protocol version 29"), None);
        let p = parse_prepared(b"--rp-sync-data--\nrsync=no\ntoken=\n").unwrap();
        assert!(!p.rsync && !p.ship);
        assert_eq!(p.token, "");
        assert!(p.manifest.is_empty());
        assert!(parse_prepared(b"nothing").is_err());
    }

    #[test]
    fn manifest_round_trips_and_drops_escapes() {
        let paths = [Path::new("a/b"), Path::new("new\nline"), Path::new("-rf")];
        let bytes = manifest_bytes(paths);
        assert_eq!(parse_manifest(&bytes).unwrap(), paths.map(PathBuf::from));
        let mut evil = MANIFEST_HEADER.to_vec();
        evil.extend_from_slice(b"../../etc/passwd\0/etc/passwd\0./x\0ok\0a/../b\0");
        assert_eq!(parse_manifest(&evil).unwrap(), [PathBuf::from("ok")]);
        assert_eq!(parse_manifest(b"something else"), None);
    }

    /// Run the cleanup script here, as the box would, on a real folder.
    #[test]
    fn cleanup_deletes_inside_only_and_never_through_symlinks() {
        let base = tempfile::tempdir().unwrap();
        let dest = base.path().join("dest");
        let outside = base.path().join("outside");
        std::fs::create_dir_all(dest.join("a/b")).unwrap();
        std::fs::create_dir_all(dest.join("keep")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(dest.join("-")).unwrap();
        for f in [
            "a/b/gone.txt",
            "top.txt",
            "keep/job-made.txt",
            "-rf",
            "x y",
            "-/f",
        ] {
            std::fs::write(dest.join(f), "x").unwrap();
        }
        std::fs::write(outside.join("victim"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, dest.join("link")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", dest.join("dangling")).unwrap();
        let list = super::super::stage::nul_list(
            [
                "a/b/gone.txt",
                "top.txt",
                "link/victim",
                "-rf",
                "x y",
                "dangling",
                "keep",
                "missing/file",
                "-/f",
            ]
            .map(Path::new),
        );
        let out = Command::new("sh")
            .arg("-c")
            .arg(cleanup_script(&dest.display().to_string()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&list)?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(parse_deleted(&out.stdout), 6);
        assert!(outside.join("victim").exists(), "deleted through a symlink");
        assert!(dest.join("keep/job-made.txt").exists());
        assert!(!dest.join("a").exists(), "empty folders left behind");
        assert!(dest.join("link").exists());
        for gone in ["top.txt", "-rf", "x y", "dangling", "-"] {
            assert!(dest.join(gone).symlink_metadata().is_err(), "{gone}");
        }
        assert!(dest.exists());
    }

    /// The check before the transfer, run here as the box would run it, with the rsync
    /// server's arguments replaced by `--version` (so "the server" runs and exits 0).
    #[test]
    fn transfer_checks_the_box_is_as_last_left() {
        let line = |s: &[u8]| {
            String::from_utf8_lossy(s)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        };
        let here = Command::new("rsync").arg("--version").output().unwrap();
        let rsync_line = line(&here.stdout);
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("ws");
        let run = |expect: &Expect| {
            std::fs::create_dir_all(&dest).unwrap();
            std::fs::write(dest.join(".rp-sync-manifest.new.1"), b"next").unwrap();
            let path = rsync_path(
                &dest.display().to_string(),
                Some(".rp-sync-manifest.new.1"),
                Some(expect),
            );
            Command::new("sh")
                .arg("-c")
                .arg(format!("{path} --version"))
                .output()
                .unwrap()
        };
        let manifest = dest.join(MANIFEST);
        let last = b"rp-sync manifest 1\na\0";
        let good = Expect {
            rsync_line: rsync_line.clone(),
            manifest_sha256: crate::sync::last::sha256(last),
        };
        // No manifest there: nothing to delete, so it goes on (and puts the new one in place).
        let out = run(&good);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(line(&out.stdout), rsync_line);
        assert_eq!(std::fs::read(&manifest).unwrap(), b"next");
        // The manifest last left there: goes on.
        std::fs::write(&manifest, last).unwrap();
        let out = run(&good);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&manifest).unwrap(), b"next");
        // Another manifest, or another rsync: stops before the server, changing nothing.
        for bad in [
            Expect {
                manifest_sha256: crate::sync::last::sha256(b"other"),
                ..good.clone()
            },
            Expect {
                rsync_line: "rsync  version 2.6.9  protocol version 29".into(),
                ..good.clone()
            },
        ] {
            std::fs::write(&manifest, last).unwrap();
            let out = run(&bad);
            assert!(!out.status.success());
            assert!(out.stdout.is_empty(), "the server ran");
            assert_eq!(String::from_utf8_lossy(&out.stderr), format!("{STALE}\n"));
            assert_eq!(std::fs::read(&manifest).unwrap(), last);
        }
    }

    #[test]
    fn deletes_only_what_is_gone_here() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("still-here"), "x").unwrap();
        std::fs::create_dir(d.path().join("now-a-dir")).unwrap();
        let old: Vec<PathBuf> = ["shipped", "still-here", "gone", "now-a-dir"]
            .map(PathBuf::from)
            .to_vec();
        let staged: HashSet<&Path> = [Path::new("shipped")].into_iter().collect();
        assert_eq!(
            to_delete(&old, &staged, d.path()),
            [PathBuf::from("gone"), "now-a-dir".into()]
        );
    }
}

#[cfg(test)]
mod token_tests {
    use super::*;
    use std::process::Command;

    fn token(dir: &Path) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{TOKEN_FN}rp_token"))
            .current_dir(dir)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    #[test]
    fn token_changes_with_any_change_but_not_with_hard_links_or_the_manifest() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("tree");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a.py"), "print(1)\n").unwrap();
        std::fs::write(d.join("sub/b.txt"), "b").unwrap();
        std::fs::write(d.join(MANIFEST), "m").unwrap();
        let t0 = token(&d);
        assert_eq!(t0.len(), 32, "an md5 in hex: {t0:?}");
        assert_eq!(token(&d), t0, "the same folder, the same token");

        // A run's copy by hard links, then removed: no field of the tree changes.
        let snap = t.path().join("snap");
        assert!(Command::new("cp")
            .args(["-al", "--"])
            .arg(&d)
            .arg(&snap)
            .status()
            .unwrap()
            .success());
        assert_eq!(token(&d), t0);
        std::fs::remove_dir_all(&snap).unwrap();
        assert_eq!(token(&d), t0);
        // The manifest is checked apart (by its sha256).
        std::fs::write(d.join(MANIFEST), "other manifest").unwrap();
        assert_eq!(token(&d), t0);

        let mut seen = vec![t0];
        let mut changed = |what: &str, f: &dyn Fn()| {
            f();
            let t = token(&d);
            assert!(!seen.contains(&t), "{what} left the token as it was");
            seen.push(t);
        };
        // Same size, same second: the mtime's nanoseconds or the inode tell.
        changed("a same-size rewrite", &|| {
            std::fs::write(d.join("a.py"), "print(2)\n").unwrap()
        });
        changed("a chmod", &|| {
            std::fs::set_permissions(d.join("a.py"), std::fs::Permissions::from_mode(0o700))
                .unwrap()
        });
        changed("a new file", &|| {
            std::fs::write(d.join("sub/c"), "").unwrap()
        });
        changed("a deletion", &|| {
            std::fs::remove_file(d.join("sub/b.txt")).unwrap()
        });
        changed("a symlink", &|| {
            std::os::unix::fs::symlink("a.py", d.join("l")).unwrap()
        });
        changed("a retargeted symlink", &|| {
            std::fs::remove_file(d.join("l")).unwrap();
            std::os::unix::fs::symlink("sub", d.join("l")).unwrap()
        });
    }
}
