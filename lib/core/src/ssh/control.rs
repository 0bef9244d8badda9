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
