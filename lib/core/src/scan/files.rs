//! Reading the files that ship: one file (binary and size limits, its sha256), every file
//! of a staged list in parallel with the cache, and the tree's fingerprint.

use super::{
    cache, scan_bytes, Allow, Hit, Mode, ScanRecord, SecretFinding, BINARY_PROBE, MAX_BYTES,
};
use crate::error::CliError;
use crate::sync::Staged;
use anyhow::Result;
use runplz_protocol::Exit;
use std::path::Path;

/// What the content check of one file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileResult {
    /// Read; these hits (maybe none).
    Scanned(Vec<Hit>),
    /// A NUL byte near the start.
    Binary,
    /// Over [`MAX_BYTES`].
    TooLarge,
}

/// Read and check one file; also its content's sha256 (hex), for the tree's fingerprint.
pub fn scan_file(path: &Path, size: u64) -> std::io::Result<(FileResult, String)> {
    let (r, sha) = scan_file_with(std::fs::File::open(path)?, size, &mut Vec::new())?;
    Ok((r, crate::hex::hex(&sha)))
}

/// [`scan_file`] of an open file into a buffer the caller keeps (one per thread: no
/// allocation per file).
fn scan_file_with(
    mut f: std::fs::File,
    size: u64,
    buf: &mut Vec<u8>,
) -> std::io::Result<(FileResult, [u8; 32])> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    buf.clear();
    if size > MAX_BYTES {
        // Not content-scanned, but hashed (streamed) all the same.
        let mut h = Sha256::new();
        buf.resize(1 << 20, 0);
        loop {
            let n = f.read(buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        return Ok((FileResult::TooLarge, h.finalize().into()));
    }
    // The size staging saw is the hint (File::read_to_end would stat again); one byte over
    // the limit tells a file that grew past it.
    buf.reserve(size as usize + 1);
    (&mut f).take(MAX_BYTES + 1).read_to_end(buf)?;
    if buf.len() as u64 > MAX_BYTES {
        // Grew past the limit since staging: hash the rest too.
        let mut h = Sha256::new();
        h.update(&buf[..]);
        std::io::copy(&mut f, &mut HashWriter(&mut h))?;
        return Ok((FileResult::TooLarge, h.finalize().into()));
    }
    let sha = Sha256::digest(&buf[..]).into();
    if buf[..buf.len().min(BINARY_PROBE)].contains(&0) {
        return Ok((FileResult::Binary, sha));
    }
    Ok((FileResult::Scanned(scan_bytes(buf)), sha))
}

/// Open `root/rel` for reading, relative to the open `root_dir` where there is one: the
/// kernel then walks only `rel`'s components (no allocation, the path on the stack).
fn open_in(
    root_dir: Option<&std::fs::File>,
    root: &Path,
    rel: &Path,
) -> std::io::Result<std::fs::File> {
    use nix::fcntl::{openat, OFlag};
    match root_dir {
        Some(d) => openat(
            d,
            rel,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map(std::fs::File::from)
        .map_err(std::io::Error::from),
        None => std::fs::File::open(root.join(rel)),
    }
}

struct HashWriter<'a>(&'a mut sha2::Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(self.0, b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The fingerprint of a tree: sha256 over each shipped file, sorted by path, as
/// `path NUL mode(octal) NUL sha256(content) LF` (a symlink's content is its target).
/// Two runs with the same fingerprint shipped the same files, modes and bytes.
pub fn fingerprint(entries: &[(&Path, u32, &str)]) -> String {
    fingerprint_of(entries.iter().map(|(p, m, s)| (*p, *m, s.as_bytes())))
}

fn fingerprint_of<'a>(entries: impl Iterator<Item = (&'a Path, u32, &'a [u8])>) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut v: Vec<(&[u8], u32, &[u8])> = entries
        .map(|(p, m, s)| (p.as_os_str().as_bytes(), m, s))
        .collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    let mut line = Vec::with_capacity(128);
    for (p, mode, sha) in v {
        line.clear();
        line.extend_from_slice(p);
        let _ = write!(line, "\0{mode:o}\0");
        line.extend_from_slice(sha);
        line.push(b'\n');
        h.update(&line);
    }
    format!("sha256:{}", crate::hex::hex(&h.finalize()))
}

/// Scan every regular file in `staged` (symlinks are not followed), reusing the cache in
/// `cache_dir` when given. Unreadable files are errors: what cannot be read cannot be
/// vouched for, and rsync could not send it either.
pub fn scan(staged: &Staged, allow: &Allow, cache_dir: Option<&Path>) -> Result<ScanRecord> {
    let cache = cache_dir.map(|d| cache::Cache::load(d, &staged.root));
    let files: Vec<&crate::sync::StagedFile> = staged.files.iter().filter(|f| !f.symlink).collect();
    let mut rec = ScanRecord {
        mode: Mode::Refuse.name().into(),
        source: staged.root.display().to_string(),
        files: files.len() as u64,
        ..ScanRecord::default()
    };
    // What the cache knows is reused (the stat staging made is the key: a file changed
    // since is caught by rsync's own check too, and rescanned next time); the rest is read
    // in parallel.
    let keys: Vec<cache::Key> = files
        .iter()
        .map(|f| cache::Key {
            size: f.bytes,
            mtime_ns: f.mtime_ns,
            inode: f.inode,
        })
        .collect();
    let mut results: Vec<Option<(FileResult, [u8; 32])>> = Vec::with_capacity(files.len());
    let mut todo = Vec::new();
    let mut in_order = true;
    match &cache {
        Some(c) => {
            let mut look = c.lookup();
            for (k, f) in files.iter().enumerate() {
                let r = look.get(&f.path, &keys[k]);
                if r.is_none() {
                    todo.push(k);
                }
                results.push(r);
            }
            in_order = look.in_order();
        }
        None => {
            results.resize_with(files.len(), || None);
            todo.extend(0..files.len());
        }
    }
    rec.cached = (files.len() - todo.len()) as u64;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(todo.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let root_dir = std::fs::File::open(&staged.root).ok();
    #[allow(clippy::type_complexity)]
    let scanned: Vec<Vec<(usize, std::io::Result<(FileResult, [u8; 32])>)>> =
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        let mut buf = Vec::new();
                        loop {
                            let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&k) = todo.get(j) else { break };
                            let r = open_in(root_dir.as_ref(), &staged.root, &files[k].path)
                                .and_then(|f| scan_file_with(f, keys[k].size, &mut buf));
                            out.push((k, r));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
    for (k, r) in scanned.into_iter().flatten() {
        let r = r.map_err(|e| {
            CliError::new(
                Exit::Failed,
                format!("scanning {} for secrets: {e}", files[k].path.display()),
            )
        })?;
        rec.scanned += 1;
        results[k] = Some(r);
    }
    let done: Vec<&(FileResult, [u8; 32])> = results
        .iter()
        .map(|r| r.as_ref().expect("every file was looked up or read"))
        .collect();
    for (f, (r, _)) in files.iter().zip(&done) {
        match r {
            FileResult::Binary => rec.binary += 1,
            FileResult::TooLarge => rec.too_large += 1,
            FileResult::Scanned(hits) => {
                for h in hits {
                    rec.findings.push(SecretFinding {
                        path: crate::out::path_text(&f.path),
                        line: h.line,
                        column: h.column,
                        rule: h.rule.into(),
                        preview: h.preview.clone(),
                        allowed: allow.allows(&f.path, h.line),
                    });
                }
            }
        }
    }
    // Symlinks ship as links: their target is their content.
    let links: Vec<(&Path, u32, [u8; 64])> = staged
        .files
        .iter()
        .filter(|f| f.symlink)
        .map(|f| {
            use sha2::{Digest, Sha256};
            use std::os::unix::ffi::OsStrExt;
            let target = std::fs::read_link(staged.root.join(&f.path)).unwrap_or_default();
            let sha: [u8; 32] = Sha256::digest(target.as_os_str().as_bytes()).into();
            (f.path.as_path(), f.mode, crate::hex::hex32(&sha))
        })
        .collect();
    let hexes: Vec<[u8; 64]> = done.iter().map(|(_, sha)| crate::hex::hex32(sha)).collect();
    rec.fingerprint = Some(fingerprint_of(
        files
            .iter()
            .zip(&hexes)
            .map(|(f, h)| (f.path.as_path(), f.mode, &h[..]))
            .chain(links.iter().map(|(p, m, h)| (*p, *m, &h[..]))),
    ));
    // Rewritten only when it would differ: something read, or files gone or moved.
    if let Some(c) = cache {
        if rec.scanned > 0 || !in_order || c.len() != files.len() {
            c.save(
                files
                    .iter()
                    .zip(&keys)
                    .zip(&done)
                    .map(|((f, k), (r, sha))| (f.path.as_path(), k, r, sha)),
            );
        }
    }
    Ok(rec)
}

/// The files of `staged` the scan does not read, and why (`binary`, `too large`), from
/// their size and first bytes.
pub fn not_read(staged: &Staged) -> Vec<(std::path::PathBuf, &'static str)> {
    use std::io::Read;
    let mut v = Vec::new();
    for f in staged.files.iter().filter(|f| !f.symlink) {
        if f.bytes > MAX_BYTES {
            v.push((f.path.clone(), "too large"));
            continue;
        }
        let mut head = vec![0; BINARY_PROBE];
        let n = std::fs::File::open(staged.root.join(&f.path))
            .and_then(|mut h| h.read(&mut head))
            .unwrap_or(0);
        if head[..n].contains(&0) {
            v.push((f.path.clone(), "binary"));
        }
    }
    v
}
