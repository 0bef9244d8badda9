//! What this machine last recorded in a folder on a box: the manifest it left there and the
//! box's `rsync --version` line, kept in `$XDG_STATE_HOME/runplz/sync-last/` (private).
//!
//! It lets a sync skip asking the box first (one round trip fewer): when the manifest kept
//! here says nothing is to be deleted, the transfer itself checks on the box that the
//! manifest there is this one (by sha256) or absent and that rsync is the same (see
//! [`super::remote::rsync_path`]), and stops before sending anything when not. So a copy
//! here that is stale, lost or edited only costs that round trip back; what is deleted on
//! the box is still decided by the box's own manifest.

use crate::ssh::Ssh;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

const HEADER: &[u8] = b"rp-sync last 1\n";

/// The box's state as this machine last left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Last {
    /// `rsync --version`'s first line on the box.
    pub rsync_line: String,
    /// The manifest's bytes (see [`super::remote::manifest_bytes`]).
    pub manifest: Vec<u8>,
}

/// The file for syncs into `dest` over `ssh` (the login, port, config and key it was made
/// with name the box).
fn file(ssh: &Ssh, dest: &str) -> PathBuf {
    let key = format!("{:?}\0{dest}", ssh.handle());
    crate::state::state_dir()
        .join("sync-last")
        .join(hex(&Sha256::digest(key.as_bytes())[..16]))
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The manifest's sha256 as `sha256sum` prints it.
pub fn sha256(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

/// What was last recorded for `dest`, if anything readable.
pub fn load(ssh: &Ssh, dest: &str) -> Option<Last> {
    decode(&std::fs::read(file(ssh, dest)).ok()?)
}

fn decode(b: &[u8]) -> Option<Last> {
    let rest = b.strip_prefix(HEADER)?;
    let nl = rest.iter().position(|&c| c == b'\n')?;
    Some(Last {
        rsync_line: String::from_utf8(rest[..nl].to_vec()).ok()?,
        manifest: rest[nl + 1..].to_vec(),
    })
}

fn encode(last: &Last) -> Vec<u8> {
    let mut v = HEADER.to_vec();
    v.extend_from_slice(last.rsync_line.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(&last.manifest);
    v
}

/// Record what the box now holds; best effort (a copy that cannot be written only costs
/// the next sync its shortcut). A version line with a newline is not kept.
pub fn save(ssh: &Ssh, dest: &str, last: &Last) {
    let path = file(ssh, dest);
    let _ = (|| -> std::io::Result<()> {
        if last.rsync_line.contains('\n') {
            return Ok(());
        }
        let dir = path.parent().expect("a file in a folder");
        std::fs::create_dir_all(dir)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let mut t = tempfile::NamedTempFile::new_in(dir)?;
        t.write_all(&encode(last))?;
        t.persist(&path).map_err(|e| e.error)?;
        Ok(())
    })();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_bytes() {
        let l = Last {
            rsync_line: "rsync  version 3.2.7  protocol version 31".into(),
            manifest: b"rp-sync manifest 1\na\0b\nc\0".to_vec(),
        };
        assert_eq!(decode(&encode(&l)), Some(l));
        assert_eq!(decode(b"something else\n"), None);
        assert_eq!(decode(b"rp-sync last 1\nno newline after the line"), None);
        // As `printf abc | sha256sum` prints it.
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
