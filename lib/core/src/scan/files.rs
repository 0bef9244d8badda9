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
    use sha2::{Digest, Sha256};
    if size > MAX_BYTES {
        // Not content-scanned, but hashed (streamed) all the same.
        use std::io::Read;
        let mut h = Sha256::new();
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        return Ok((FileResult::TooLarge, cache::hex(&h.finalize())));
    }
    let data = std::fs::read(path)?;
    let sha = cache::hex(&Sha256::digest(&data));
    if data.len() as u64 > MAX_BYTES {
        return Ok((FileResult::TooLarge, sha));
    }
    if data[..data.len().min(BINARY_PROBE)].contains(&0) {
        return Ok((FileResult::Binary, sha));
    }
    Ok((FileResult::Scanned(scan_bytes(&data)), sha))
}

/// The fingerprint of a tree: sha256 over each shipped file, sorted by path, as
/// `path NUL mode(octal) NUL sha256(content) LF` (a symlink's content is its target).
/// Two runs with the same fingerprint shipped the same files, modes and bytes.
pub fn fingerprint(entries: &[(&Path, u32, &str)]) -> String {
    use sha2::{Digest, Sha256};
    use std::os::unix::ffi::OsStrExt;
    let mut v: Vec<&(&Path, u32, &str)> = entries.iter().collect();
    v.sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    let mut h = Sha256::new();
    for (p, mode, sha) in v {
        h.update(p.as_os_str().as_bytes());
        h.update(format!("\0{mode:o}\0{sha}\n"));
    }
    format!("sha256:{}", cache::hex(&h.finalize()))
}

/// Scan every regular file in `staged` (symlinks are not followed), reusing the cache in
/// `cache_dir` when given. Unreadable files are errors: what cannot be read cannot be
/// vouched for, and rsync could not send it either.
pub fn scan(staged: &Staged, allow: &Allow, cache_dir: Option<&Path>) -> Result<ScanRecord> {
    let mut cache = cache_dir.map(|d| cache::Cache::load(d, &staged.root));
    let files: Vec<&crate::sync::StagedFile> = staged.files.iter().filter(|f| !f.symlink).collect();
    let mut rec = ScanRecord {
        mode: Mode::Refuse.name().into(),
        source: staged.root.display().to_string(),
        files: files.len() as u64,
        ..ScanRecord::default()
    };
    // Stat everything; what the cache knows is reused, the rest is read in parallel.
    let mut results: Vec<Option<(FileResult, String)>> = vec![None; files.len()];
    let mut keys = Vec::with_capacity(files.len());
    let mut todo = Vec::new();
    // The stat staging made is the key: a file changed since is caught by rsync's own
    // check too, and rescanned next time.
    for (k, f) in files.iter().enumerate() {
        let key = cache::Key {
            size: f.bytes,
            mtime_ns: f.mtime_ns,
            inode: f.inode,
        };
        match cache.as_ref().and_then(|c| c.get(&f.path, &key)) {
            Some(r) => {
                results[k] = Some(r);
                rec.cached += 1;
            }
            None => todo.push(k),
        }
        keys.push(key);
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(todo.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    #[allow(clippy::type_complexity)]
    let scanned: Vec<Vec<(usize, std::io::Result<(FileResult, String)>)>> =
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&k) = todo.get(j) else { break };
                            let f = files[k];
                            out.push((k, scan_file(&staged.root.join(&f.path), keys[k].size)));
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
        if let Some(c) = cache.as_mut() {
            c.put(&files[k].path, keys[k].clone(), &r.0, &r.1);
        }
        rec.scanned += 1;
        results[k] = Some(r);
    }
    let mut shas: Vec<String> = Vec::with_capacity(files.len());
    for (k, r) in results.into_iter().enumerate() {
        let Some((r, sha)) = r else {
            shas.push(String::new());
            continue;
        };
        shas.push(sha);
        match r {
            FileResult::Binary => rec.binary += 1,
            FileResult::TooLarge => rec.too_large += 1,
            FileResult::Scanned(hits) => {
                for h in hits {
                    rec.findings.push(SecretFinding {
                        path: crate::out::path_text(&files[k].path),
                        line: h.line,
                        column: h.column,
                        rule: h.rule.into(),
                        preview: h.preview,
                        allowed: allow.allows(&files[k].path, h.line),
                    });
                }
            }
        }
    }
    // Symlinks ship as links: their target is their content.
    let links: Vec<(&Path, u32, String)> = staged
        .files
        .iter()
        .filter(|f| f.symlink)
        .map(|f| {
            use sha2::{Digest, Sha256};
            use std::os::unix::ffi::OsStrExt;
            let target = std::fs::read_link(staged.root.join(&f.path)).unwrap_or_default();
            (
                f.path.as_path(),
                f.mode,
                cache::hex(&Sha256::digest(target.as_os_str().as_bytes())),
            )
        })
        .collect();
    let mut entries: Vec<(&Path, u32, &str)> = files
        .iter()
        .zip(&shas)
        .map(|(f, sha)| (f.path.as_path(), f.mode, sha.as_str()))
        .collect();
    entries.extend(links.iter().map(|(p, m, s)| (*p, *m, s.as_str())));
    rec.fingerprint = Some(fingerprint(&entries));
    if let Some(c) = cache {
        c.save(&files.iter().map(|f| f.path.as_path()).collect::<Vec<_>>());
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
