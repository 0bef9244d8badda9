//! The private folder of one tool's multiplexing socket: made with `tempfile` (removed on
//! drop), and the folders of dead tools swept (their orphaned masters told to exit).

use super::*;

/// A control socket folder `rp-<pid>-XXXXXX` in `tmp`, private to us (0700).
pub(super) fn make_control_dir(tmp: &Path) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let prefix = format!("rp-{}-", std::process::id());
    tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(6)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(tmp)
}

/// Remove the control socket folders in `tmp` that a killed tool left: named
/// `rp-<pid>-...` for a pid that is gone, ours (owned by us, 0700), holding nothing but
/// sockets. A master still serving such a socket is told to exit first (a killed tool's
/// master would otherwise hold its connection open for ControlPersist).
pub(super) fn sweep_control_dirs(tmp: &Path) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let me = nix::unistd::geteuid().as_raw();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("rp-"))
            .and_then(|n| n.split_once('-'))
            .and_then(|(p, _)| p.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
            continue;
        }
        let gone = pid > 0
            && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH);
        if !gone {
            continue;
        }
        let Ok(inside) = std::fs::read_dir(e.path()) else {
            continue;
        };
        let inside: Vec<_> = inside.flatten().collect();
        if !inside
            .iter()
            .all(|f| f.file_type().is_ok_and(|t| t.is_socket()))
        {
            continue;
        }
        for sock in &inside {
            let _ = Proc::new("ssh")
                .args(["-F", "/dev/null", "-o"])
                .arg(format!("ControlPath={}", sock.path().display()))
                .args(["-O", "exit", "--", "rp-leftover"])
                .timeout(Some(Duration::from_secs(5)))
                .run();
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// This tool's name, for warnings (`rp-exec`, `runplz`).
pub(super) fn tool_name() -> String {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "runplz".into())
}

/// The private folder for kept connections' sockets: `$XDG_RUNTIME_DIR/runplz`, else
/// `$TMPDIR/runplz-<uid>`, made 0700 when missing (with `create`). One that is not a real folder, not ours,
/// or open to the group or others is refused (someone else could use or replace the socket).
pub(super) fn kept_dir(create: bool) -> std::result::Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let uid = nix::unistd::geteuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x).join("runplz"),
        None => std::env::temp_dir().join(format!("runplz-{uid}")),
    };
    if create {
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    let md = std::fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !md.is_dir() {
        return Err(format!("{} is not a folder (a symlink?)", dir.display()));
    }
    if md.uid() != uid {
        return Err(format!(
            "{} belongs to uid {}, not to you (uid {uid})",
            dir.display(),
            md.uid()
        ));
    }
    if md.mode() & 0o077 != 0 {
        return Err(format!(
            "{} is open to others (mode {:04o}); expected 0700",
            dir.display(),
            md.mode() & 0o7777
        ));
    }
    Ok(dir)
}

/// The socket of the kept connection for one login (user, host, port, and the config and
/// key that decide how ssh reaches it) in `dir`. A socket left by a master that is gone is
/// removed, so the next ssh becomes the master instead of giving up on sharing.
pub(super) fn kept_socket(dir: &Path, key: &str) -> PathBuf {
    let sock = kept_socket_name(dir, key);
    if std::fs::symlink_metadata(&sock).is_ok()
        && std::os::unix::net::UnixStream::connect(&sock)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
    {
        let _ = std::fs::remove_file(&sock);
    }
    sock
}

/// Where [`kept_socket`] is, without touching it.
pub(super) fn kept_socket_name(dir: &Path, key: &str) -> PathBuf {
    use sha2::{Digest, Sha256};
    let name: String = Sha256::digest(key.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(name)
}

/// Whether a process title is that of a connection master runplz made, whichever run (or
/// `$TMPDIR`) it serves: ssh retitles a master `ssh: <ControlPath> [mux]` (and so overwrites
/// the environment /proc shows), the socket being `%C` (40 hex) in an `rp-<pid>-XXXXXX`
/// folder or a kept one (16 hex) in a `runplz` or `runplz-<uid>` folder, and the folder is
/// ours and private. The escaper scan skips these: they outlive a run on purpose.
pub fn is_runplz_master(title: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(sock) = title
        .strip_prefix("ssh: ")
        .and_then(|t| t.strip_suffix(" [mux]"))
        .map(Path::new)
    else {
        return false;
    };
    let (Some(name), Some(dir)) = (sock.file_name().and_then(|n| n.to_str()), sock.parent()) else {
        return false;
    };
    let Some(folder) = dir.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let hex = |n: usize| name.len() == n && name.bytes().all(|b| b.is_ascii_hexdigit());
    let temp = folder
        .strip_prefix("rp-")
        .and_then(|r| r.split_once('-'))
        .is_some_and(|(pid, rest)| pid.parse::<u32>().is_ok() && rest.len() == 6);
    let kept = folder == "runplz"
        || folder
            .strip_prefix("runplz-")
            .is_some_and(|u| u.parse::<u32>().is_ok());
    ((temp && hex(40)) || (kept && hex(16)))
        && std::fs::symlink_metadata(dir).is_ok_and(|m| {
            m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw() && m.mode() & 0o077 == 0
        })
}
