//! Files sent as one streamed tar in the sync's session (see [`super::snapshot::SyncLock`]):
//! a few changed files, or a whole tree into a folder with no manifest, where the box has
//! GNU tar.

use super::StagedFile;
use std::path::{Path, PathBuf};

/// The most bytes of changed files that go in a session's tar (see `transfer` in up.rs); more go
/// by rsync, whose delta transfer suits large files.
pub(super) const SHIP_MAX_BYTES: u64 = 64 << 20;

/// `files` (and, with `manifest`, that file under its name) as an uncompressed tar for
/// GNU tar on the box, written to `out` as it is read: each file as it is now (rsync also
/// sends what it finds; the scan after shipping looks at what changed since staging), its
/// mtime to the nanosecond in a pax header, its mode; long names as GNU long-name entries.
/// `false` (the tar is not whole) when a file cannot be read whole (it changed meanwhile).
/// Files no longer as staged once read go to `changed` (for the scan after shipping).
/// `done`: files and bytes already sent before these (a [`Prebuilt`] part), for the live line.
pub(crate) fn ship_tar(
    root: &Path,
    files: &[StagedFile],
    manifest: Option<(&str, &[u8])>,
    out: &mut dyn std::io::Write,
    changed: &mut Vec<PathBuf>,
    done: (u64, u64),
) -> std::io::Result<bool> {
    let mut b = tar::Builder::new(out);
    // Files and bytes so far on a live line, when one is drawn (as rsync's progress does).
    let live = crate::progress::drawn();
    let (mut n, mut sent) = done;
    for f in files {
        if live {
            crate::progress::detail(crate::progress::moved(n, sent));
            n += 1;
            sent += f.bytes;
        }
        if !append(&mut b, root, f, changed, u64::MAX)? {
            return Ok(false);
        }
    }
    if let Some((name, bytes)) = manifest {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o600);
        h.set_size(bytes.len() as u64);
        b.append_data(&mut h, name, bytes)?;
    }
    b.finish()?;
    if live {
        crate::progress::detail(crate::progress::moved(n, sent));
    }
    Ok(true)
}

/// The tar of a tree's first files, made while the box is still being reached (the ssh
/// handshake leaves this machine idle): one whole zstd frame, with no end blocks, so that
/// the rest of the tar follows it in the session (`zstd -d` reads frames one after another).
#[derive(Default)]
pub(crate) struct Prebuilt {
    /// The frame.
    pub zstd: Vec<u8>,
    /// How many of the staged files it holds (the first ones).
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Those of them no longer as staged once read (see [`ship_tar`]).
    pub changed: Vec<PathBuf>,
}

/// The most bytes of tar a [`Prebuilt`] frame holds (less, compressed); the rest goes as it
/// is read.
const PREBUILT_MAX: u64 = 64 << 20;
/// A tree whose tar comes to less is not made ready ahead: it takes a few milliseconds.
const PREBUILT_MIN: u64 = 1 << 20;

/// About how many bytes of tar a file's headers take (a pax record, a header, padding).
pub(crate) const HEADERS: u64 = 2048;

/// About how many bytes the tar of `files` comes to before compression.
fn tar_size(files: &[StagedFile]) -> u64 {
    files.iter().map(|f| f.bytes + HEADERS).sum()
}

/// [`ship_tar`]'s first files, until `enough` says the box answered (or a signal came, or
/// [`PREBUILT_MAX`]); `None` for a tree under [`PREBUILT_MIN`], when no file went in or one
/// could not be read whole (the session's own tar then says so).
pub(crate) fn prebuild(
    root: &Path,
    files: &[StagedFile],
    enough: impl Fn() -> bool,
) -> Option<Prebuilt> {
    if tar_size(files) < PREBUILT_MIN {
        return None;
    }
    prebuild_up_to(root, files, enough, PREBUILT_MAX)
}

/// [`prebuild`] of at most `max` bytes of tar.
pub(crate) fn prebuild_up_to(
    root: &Path,
    files: &[StagedFile],
    enough: impl Fn() -> bool,
    max: u64,
) -> Option<Prebuilt> {
    let t = std::time::Instant::now();
    let mut z = zstd::stream::write::Encoder::new(Vec::new(), 1).ok()?;
    let (mut n, mut bytes, mut changed) = (0, 0, Vec::new());
    let mut b = tar::Builder::new(&mut z as &mut dyn std::io::Write);
    for f in files {
        // Looked at before a file is read: a large one never goes into memory whole.
        let more = bytes + f.bytes + (n as u64 + 1) * HEADERS;
        if more > max || enough() || crate::process::pending_signal().is_some() {
            break;
        }
        // One grown past the room since staging: none made ahead (the session's tar reads it).
        if !append(&mut b, root, f, &mut changed, max - more + f.bytes).ok()? {
            return None;
        }
        n += 1;
        bytes += f.bytes;
    }
    // Dropped, the builder would end the tar; the session's part ends it instead.
    std::mem::forget(b);
    let zstd = z.finish().ok()?;
    crate::out::timing("sync", &format!("{n} files made ready"), t);
    (n > 0).then_some(Prebuilt {
        zstd,
        files: n,
        bytes,
        changed,
    })
}

/// One staged file into `b` as [`ship_tar`] says; `false` when it cannot be read whole or
/// is now larger than `most` bytes.
fn append(
    b: &mut tar::Builder<&mut dyn std::io::Write>,
    root: &Path,
    f: &StagedFile,
    changed: &mut Vec<PathBuf>,
    most: u64,
) -> std::io::Result<bool> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let full = root.join(&f.path);
    let Ok(md) = std::fs::symlink_metadata(&full) else {
        return Ok(false);
    };
    let mtime = format!("{}.{:09}", md.mtime(), md.mtime_nsec());
    b.append_pax_extensions([("mtime", mtime.as_bytes())])?;
    let mut h = tar::Header::new_gnu();
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_mode(md.mode() & 0o777);
    if md.file_type().is_symlink() {
        let Ok(target) = std::fs::read_link(&full) else {
            return Ok(false);
        };
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, &f.path, &target)?;
    } else if md.file_type().is_file() {
        if md.len() > most {
            return Ok(false);
        }
        let Ok(file) = std::fs::File::open(&full) else {
            return Ok(false);
        };
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(md.len());
        let mut r = Counted {
            inner: file.take(md.len()),
            n: 0,
        };
        b.append_data(&mut h, &f.path, &mut r)?;
        if r.n != md.len() {
            return Ok(false);
        }
        // Looked at once read (the open file): what was sent is what was scanned
        // unless this says otherwise.
        let now = r.inner.into_inner().metadata()?;
        let mtime_ns = i128::from(now.mtime()) * 1_000_000_000 + i128::from(now.mtime_nsec());
        if (now.len(), mtime_ns, now.ino()) != (f.bytes, f.mtime_ns, f.inode) {
            changed.push(f.path.clone());
        }
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// A reader that counts what it gives.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}
