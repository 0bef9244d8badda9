//! What this machine last recorded in a folder on a box: the manifest it left there, the
//! box's `rsync --version` line, the folder's token as the box printed it right after the
//! transfer (see [`super::remote::TOKEN_FN`]) and each shipped file's size, mtime, mode and
//! inode here, kept in `$XDG_STATE_HOME/runplz/sync-last/` (private).
//!
//! With the token, a sync skips rsync's walk of both trees: when the box prints the same
//! token and manifest again (it was not touched since) and no file here changed, nothing
//! is sent; when only some files changed or were added, only they are (see
//! `sync::transfer`). Anything else, or a box that prints no token, is a whole sync.
//!
//! It lets a sync skip asking the box first (one round trip fewer): when the manifest kept
//! here says nothing is to be deleted, the transfer itself checks on the box that the
//! manifest there is this one (by sha256) or absent and that rsync is the same (see
//! [`super::remote::rsync_path`]), and stops before sending anything when not. So a copy
//! here that is stale, lost or edited only costs that round trip back; what is deleted on
//! the box is still decided by the box's own manifest.

use crate::ssh::Ssh;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

const HEADER: &[u8] = b"rp-sync last 2\n";

/// The box's state as this machine last left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Last {
    /// `rsync --version`'s first line on the box.
    pub rsync_line: String,
    /// The folder's token right after the transfer; empty when the box gave none.
    pub token: String,
    /// Each shipped file as it was here when shipped, in the manifest's order.
    pub files: Vec<FileStat>,
    /// The manifest's bytes (see [`super::remote::manifest_bytes`]).
    pub manifest: Vec<u8>,
}

/// A shipped file's stat here (see [`super::stage::StagedFile`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// Size in bytes.
    pub bytes: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i128,
    /// `st_mode`.
    pub mode: u32,
    /// Inode.
    pub inode: u64,
}

impl FileStat {
    /// A staged file's.
    pub fn of(f: &super::stage::StagedFile) -> FileStat {
        FileStat {
            bytes: f.bytes,
            mtime_ns: f.mtime_ns,
            mode: f.mode,
            inode: f.inode,
        }
    }
}

/// Bytes per [`FileStat`] on disk.
const STAT_LEN: usize = 8 + 16 + 4 + 8;

/// The file for syncs into `dest` over `ssh` (the login, port, config and key it was made
/// with name the box).
fn file(ssh: &Ssh, dest: &str) -> PathBuf {
    crate::state::keyed_file("sync-last", &format!("{:?}\0{dest}", ssh.handle()))
}

/// The manifest's sha256 as `sha256sum` prints it.
pub fn sha256(b: &[u8]) -> String {
    crate::hex::hex(&Sha256::digest(b))
}

/// What was last recorded for `dest`, if anything readable.
pub fn load(ssh: &Ssh, dest: &str) -> Option<Last> {
    decode(&std::fs::read(file(ssh, dest)).ok()?)
}

fn decode(b: &[u8]) -> Option<Last> {
    let rest = b.strip_prefix(HEADER)?;
    let (rsync_line, rest) = line(rest)?;
    let (token, rest) = line(rest)?;
    let (n, rest) = line(rest)?;
    let n: usize = n.parse().ok()?;
    let stats = rest.get(..n.checked_mul(STAT_LEN)?)?;
    let files = stats
        .chunks_exact(STAT_LEN)
        .map(|c| FileStat {
            bytes: u64::from_le_bytes(c[..8].try_into().unwrap()),
            mtime_ns: i128::from_le_bytes(c[8..24].try_into().unwrap()),
            mode: u32::from_le_bytes(c[24..28].try_into().unwrap()),
            inode: u64::from_le_bytes(c[28..36].try_into().unwrap()),
        })
        .collect();
    Some(Last {
        rsync_line,
        token,
        files,
        manifest: rest[n * STAT_LEN..].to_vec(),
    })
}

/// A UTF-8 line and what follows it.
fn line(b: &[u8]) -> Option<(String, &[u8])> {
    let nl = b.iter().position(|&c| c == b'\n')?;
    Some((String::from_utf8(b[..nl].to_vec()).ok()?, &b[nl + 1..]))
}

fn encode(last: &Last) -> Vec<u8> {
    let mut v = HEADER.to_vec();
    for l in [&last.rsync_line, &last.token, &last.files.len().to_string()] {
        v.extend_from_slice(l.as_bytes());
        v.push(b'\n');
    }
    for f in &last.files {
        v.extend_from_slice(&f.bytes.to_le_bytes());
        v.extend_from_slice(&f.mtime_ns.to_le_bytes());
        v.extend_from_slice(&f.mode.to_le_bytes());
        v.extend_from_slice(&f.inode.to_le_bytes());
    }
    v.extend_from_slice(&last.manifest);
    v
}

/// Record what the box now holds; best effort (a copy that cannot be written only costs
/// the next sync its shortcut). A version line with a newline is not kept.
pub fn save(ssh: &Ssh, dest: &str, last: &Last) {
    let path = file(ssh, dest);
    if !last.rsync_line.contains('\n') && !last.token.contains('\n') {
        let _ = crate::state::write_private(&path, &encode(last));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_bytes() {
        let l = Last {
            rsync_line: "rsync  version 3.2.7  protocol version 31".into(),
            token: "0123abcd".into(),
            files: vec![
                FileStat {
                    bytes: 7,
                    mtime_ns: 1_700_000_000_123_456_789,
                    mode: 0o100644,
                    inode: 42,
                },
                FileStat {
                    bytes: u64::MAX,
                    mtime_ns: -5,
                    mode: 0o120777,
                    inode: 1,
                },
            ],
            manifest: b"rp-sync manifest 1\na\0b\nc\0".to_vec(),
        };
        let bytes = encode(&l);
        assert_eq!(decode(&bytes), Some(l.clone()));
        // Cut anywhere in the stats, it is no record at all.
        assert_eq!(decode(&bytes[..bytes.len() - l.manifest.len() - 1]), None);
        assert_eq!(decode(b"something else\n"), None);
        assert_eq!(decode(b"rp-sync last 1\nrsync\nrp-sync manifest 1\n"), None);
        assert_eq!(decode(b"rp-sync last 2\nno newline after the line"), None);
        // As `printf abc | sha256sum` prints it.
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
