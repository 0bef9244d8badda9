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
            if terminate_master(&sock.path()).is_ok() {
                continue;
            }
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

/// Ask the master serving `sock` to exit, as `ssh -O exit` does, without starting an ssh
/// (about 5 ms a close on a small machine): OpenSSH's mux protocol (PROTOCOL.mux), each
/// message a length and big-endian words: both sides say hello (version 4), then
/// `MUX_C_TERMINATE` with a request id, answered `MUX_S_OK` with that id or by the master
/// closing the socket as it exits. A socket nobody listens on (a master already gone, its
/// file not yet removed: a second close just after the first) is done too; `ssh -O exit`
/// could do nothing more there. Anything else (another answer, no hello, no answer in 5 s)
/// is an error: ask `ssh -O exit`.
pub(super) fn terminate_master(sock: &Path) -> std::io::Result<()> {
    use std::io::Write;
    const HELLO: u32 = 0x0000_0001;
    const VERSION: u32 = 4;
    const TERMINATE: u32 = 0x1000_0005;
    const OK: u32 = 0x8000_0001;
    const ID: u32 = 1;
    use std::io::ErrorKind::{
        BrokenPipe, ConnectionRefused, ConnectionReset, NotFound, UnexpectedEof,
    };
    let mut s = match std::os::unix::net::UnixStream::connect(sock) {
        Err(e) if matches!(e.kind(), ConnectionRefused | NotFound) => return Ok(()),
        r => r?,
    };
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(&mux_packet(&[HELLO, VERSION]))?;
    let hello = mux_read(&mut s)?;
    if mux_word(&hello, 0) != Some(HELLO) || mux_word(&hello, 1) != Some(VERSION) {
        return Err(std::io::Error::other(
            "the master's hello is not mux version 4",
        ));
    }
    match s
        .write_all(&mux_packet(&[TERMINATE, ID]))
        .and_then(|()| mux_read(&mut s))
    {
        Ok(a) if mux_word(&a, 0) == Some(OK) && mux_word(&a, 1) == Some(ID) => Ok(()),
        Ok(_) => Err(std::io::Error::other("the master did not agree to exit")),
        // The master often exits before its answer is out (or, already exiting, before it
        // read the request); `ssh -O exit` takes that as done.
        Err(e) if matches!(e.kind(), UnexpectedEof | ConnectionReset | BrokenPipe) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A mux message of these words, after its length.
fn mux_packet(words: &[u32]) -> Vec<u8> {
    let mut v = (words.len() as u32 * 4).to_be_bytes().to_vec();
    for w in words {
        v.extend(w.to_be_bytes());
    }
    v
}

/// The `i`th word of a mux message.
fn mux_word(b: &[u8], i: usize) -> Option<u32> {
    b.get(i * 4..i * 4 + 4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

/// One mux message (its length read first), at most 64 KiB.
fn mux_read(s: &mut impl std::io::Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0; 4];
    s.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    if n > 64 << 10 {
        return Err(std::io::Error::other("a mux message too long"));
    }
    let mut b = vec![0; n];
    s.read_exact(&mut b)?;
    Ok(b)
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
    dir.join(crate::hex::sha256_prefix(key.as_bytes(), 8))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A master on a socket that says `hello`, reads what the client sends and answers with
    /// `answer` (or closes); what the client sent comes back.
    fn master(hello: Option<Vec<u8>>, answer: Option<Vec<u8>>) -> (std::io::Result<()>, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            if let Some(h) = hello {
                c.write_all(&h).unwrap();
            }
            // The client's hello, then its request (none where it gave up after the hello).
            let mut got = vec![0; 24];
            c.read_exact(&mut got[..12]).unwrap();
            if c.read_exact(&mut got[12..]).is_err() {
                got.truncate(12);
            }
            if let Some(a) = answer {
                let _ = c.write_all(&a);
            }
            got
        });
        let r = terminate_master(&sock);
        (r, t.join().unwrap())
    }

    /// The bytes `ssh -O exit` sends: a hello of version 4, then MUX_C_TERMINATE with a
    /// request id; MUX_S_OK with that id, or the master closing as it exits, is done;
    /// another answer or another version is not (`ssh -O exit` is asked then).
    #[test]
    fn the_master_is_told_to_exit_as_ssh_o_exit_tells_it() {
        let hello = mux_packet(&[1, 4]);
        let (r, sent) = master(Some(hello.clone()), Some(mux_packet(&[0x8000_0001, 1])));
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(
            sent,
            [
                [0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 4],
                [0, 0, 0, 8, 0x10, 0, 0, 5, 0, 0, 0, 1]
            ]
            .concat()
        );
        // Closed before its answer: it is exiting.
        assert!(master(Some(hello.clone()), None).0.is_ok());
        // Refused (MUX_S_PERMISSION_DENIED), or an answer to another request.
        let denied = [mux_packet(&[0x8000_0002, 1]), b"\0\0\0\x02no".to_vec()].concat();
        let denied = {
            let mut d = denied;
            let n = (d.len() - 4) as u32;
            d[..4].copy_from_slice(&n.to_be_bytes());
            d
        };
        assert!(master(Some(hello.clone()), Some(denied)).0.is_err());
        assert!(master(Some(hello), Some(mux_packet(&[0x8000_0001, 2])))
            .0
            .is_err());
        // Another protocol version: nothing asked.
        let (r, sent) = master(Some(mux_packet(&[1, 3])), None);
        assert!(r.is_err());
        assert_eq!(sent.len(), 12, "only the hello: {sent:?}");
    }

    /// A second close just after the first finds the socket file of a master that is gone
    /// (or going): nobody listens, so there is nothing to ask `ssh -O exit` for. The e2e
    /// `connections` test caught that fallback under load (the run's close, then its drop).
    #[test]
    fn a_socket_nobody_listens_on_is_a_master_already_gone() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s");
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        assert!(sock.exists());
        assert!(terminate_master(&sock).is_ok());
        std::fs::remove_file(&sock).unwrap();
        assert!(
            terminate_master(&sock).is_ok(),
            "removed between list and connect"
        );
    }
}
