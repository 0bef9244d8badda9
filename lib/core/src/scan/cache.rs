//! The scan cache: per shipped folder, one file in the state folder holding, for each path,
//! (size, mtime ns, inode), the content's sha256 and what its scan found (masked hits only,
//! never a value). A file whose key changed is read again; a change to the rules or the
//! size limit drops the lot.
//!
//! The file is binary and written in the staged list's order, so a run over an unchanged
//! tree matches entry `i` to file `i` (one byte comparison, no allocation); a map of the
//! paths is built only when the lists stop lining up. It is rewritten only when something
//! changed. Writes are atomic (a temp file renamed over); two runs at once: the last one
//! wins, and either result is right for its own keys.
//!
//! Layout (little-endian): `MAGIC`, the rules version (32 bytes), the entry count (u64),
//! then per entry: path length (u32), path bytes, size (u64), mtime ns (i128), inode (u64),
//! kind (u8: 0 scanned, 1 binary, 2 too large), sha256 (32 bytes), hit count (u32), and per
//! hit: line (u64), column (u64), rule index (u16), preview length (u32), preview (UTF-8).

use super::{rules, FileResult, Hit};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 16] = b"rp-scan-cache-2\n";

/// What makes a cached result still good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Inode number (a file replaced by rename gets a new one).
    pub inode: u64,
}

/// One entry of the loaded file: offsets into its bytes.
struct Slot {
    path: (usize, usize),
    key: Key,
    kind: u8,
    sha: [u8; 32],
    hits: u32,
    /// Where the hits start.
    at: usize,
}

/// One folder's cache, loaded.
pub struct Cache {
    file: PathBuf,
    bytes: Vec<u8>,
    slots: Vec<Slot>,
}

/// A fingerprint of the rules and limits: when it changes, every cached result is stale.
fn rules_version() -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(super::MAX_BYTES.to_le_bytes());
    for r in rules::RULES {
        h.update(r.name);
        h.update([0]);
        h.update(r.pattern);
        h.update([0]);
        h.update(format!("{:?}{}", r.check, r.shown));
    }
    // Bump when scan_bytes or the checks change meaning.
    h.update(b"checks-2");
    h.finalize().into()
}

/// A reader over the file's bytes; `None` at the first thing out of bounds.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<(usize, usize)> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len())?;
        let r = (self.at, end);
        self.at = end;
        Some(r)
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (s, e) = self.take(N)?;
        self.b[s..e].try_into().ok()
    }
    fn u16(&mut self) -> Option<u16> {
        self.arr().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.arr().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.arr().map(u64::from_le_bytes)
    }
}

fn parse(b: &[u8], version: &[u8; 32]) -> Option<Vec<Slot>> {
    let mut c = Cursor { b, at: 0 };
    if c.arr::<16>()? != *MAGIC || c.arr::<32>()? != *version {
        return None;
    }
    let n = usize::try_from(c.u64()?).ok()?;
    // Each entry takes at least 73 bytes: a count beyond that is a damaged file.
    if n > b.len() / 73 {
        return None;
    }
    let mut slots = Vec::with_capacity(n);
    for _ in 0..n {
        let len = c.u32()? as usize;
        let path = c.take(len)?;
        let key = Key {
            size: c.u64()?,
            mtime_ns: i128::from_le_bytes(c.arr()?),
            inode: c.u64()?,
        };
        let kind = c.arr::<1>()?[0];
        let sha = c.arr()?;
        let hits = c.u32()?;
        let at = c.at;
        for _ in 0..hits {
            c.take(16)?;
            if usize::from(c.u16()?) >= rules::RULES.len() {
                return None;
            }
            let n = c.u32()? as usize;
            let (s, e) = c.take(n)?;
            std::str::from_utf8(&b[s..e]).ok()?;
        }
        if kind > 2 || (kind != 0 && hits != 0) {
            return None;
        }
        slots.push(Slot {
            path,
            key,
            kind,
            sha,
            hits,
            at,
        });
    }
    (c.at == b.len()).then_some(slots)
}

impl Cache {
    /// The cache of `root` under `dir`; a missing, unreadable, damaged or stale one starts
    /// empty.
    pub fn load(dir: &Path, root: &Path) -> Cache {
        let id = &crate::hex::hex(&Sha256::digest(root.as_os_str().as_encoded_bytes()))[..24];
        let file = dir.join(format!("{id}.bin"));
        let bytes = std::fs::read(&file).unwrap_or_default();
        match parse(&bytes, &rules_version()) {
            Some(slots) => Cache { file, bytes, slots },
            None => Cache {
                file,
                bytes: Vec::new(),
                slots: Vec::new(),
            },
        }
    }

    /// How many files it holds.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Look-ups, best made in the order the cache was written (the staged order).
    pub fn lookup(&self) -> Lookup<'_> {
        Lookup {
            cache: self,
            next: 0,
            map: None,
            in_order: true,
        }
    }

    fn path(&self, s: &Slot) -> &[u8] {
        &self.bytes[s.path.0..s.path.1]
    }

    fn result(&self, s: &Slot) -> FileResult {
        match s.kind {
            1 => FileResult::Binary,
            2 => FileResult::TooLarge,
            _ => {
                let mut c = Cursor {
                    b: &self.bytes,
                    at: s.at,
                };
                let mut hits = Vec::with_capacity(s.hits as usize);
                // Bounds and UTF-8 were checked on loading.
                for _ in 0..s.hits {
                    let (line, column) = (c.u64().unwrap_or(0), c.u64().unwrap_or(0));
                    let rule = rules::RULES[usize::from(c.u16().unwrap_or(0))].name;
                    let n = c.u32().unwrap_or(0) as usize;
                    let (a, e) = c.take(n).unwrap_or((0, 0));
                    hits.push(Hit {
                        line,
                        column,
                        rule,
                        preview: String::from_utf8_lossy(&self.bytes[a..e]).into_owned(),
                    });
                }
                FileResult::Scanned(hits)
            }
        }
    }

    /// Write `entries` (in the staged order) as the new cache. Best effort: a cache that
    /// cannot be written only costs a rescan next time.
    pub fn save<'a>(
        &self,
        entries: impl ExactSizeIterator<Item = (&'a Path, &'a Key, &'a FileResult, &'a [u8; 32])>,
    ) {
        let mut b = Vec::with_capacity(64 + entries.len() * 100);
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&rules_version());
        b.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (path, key, r, sha) in entries {
            let p = path.as_os_str().as_bytes();
            b.extend_from_slice(&(p.len() as u32).to_le_bytes());
            b.extend_from_slice(p);
            b.extend_from_slice(&key.size.to_le_bytes());
            b.extend_from_slice(&key.mtime_ns.to_le_bytes());
            b.extend_from_slice(&key.inode.to_le_bytes());
            let (kind, hits): (u8, &[Hit]) = match r {
                FileResult::Scanned(h) => (0, h),
                FileResult::Binary => (1, &[]),
                FileResult::TooLarge => (2, &[]),
            };
            b.push(kind);
            b.extend_from_slice(sha);
            b.extend_from_slice(&(hits.len() as u32).to_le_bytes());
            for h in hits {
                let rule = rules::RULES
                    .iter()
                    .position(|r| r.name == h.rule)
                    .unwrap_or(0);
                b.extend_from_slice(&h.line.to_le_bytes());
                b.extend_from_slice(&h.column.to_le_bytes());
                b.extend_from_slice(&(rule as u16).to_le_bytes());
                b.extend_from_slice(&(h.preview.len() as u32).to_le_bytes());
                b.extend_from_slice(h.preview.as_bytes());
            }
        }
        let Some(dir) = self.file.parent() else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
            return;
        };
        if tmp.write_all(&b).is_ok() && tmp.persist(&self.file).is_ok() {
            // The JSON cache of earlier versions, now unused.
            let _ = std::fs::remove_file(self.file.with_extension("json"));
        }
    }
}

/// Look-ups in a loaded cache.
pub struct Lookup<'a> {
    cache: &'a Cache,
    /// The slot the next file is expected at.
    next: usize,
    /// Path to slot, built at the first file out of line.
    map: Option<HashMap<&'a [u8], usize>>,
    in_order: bool,
}

impl Lookup<'_> {
    /// The result and sha256 cached for `path` under `key`, if still good.
    pub fn get(&mut self, path: &Path, key: &Key) -> Option<(FileResult, [u8; 32])> {
        let cache = self.cache;
        let p = path.as_os_str().as_bytes();
        let i = match cache.slots.get(self.next) {
            Some(s) if cache.path(s) == p => self.next,
            _ => {
                self.in_order = false;
                let map = self.map.get_or_insert_with(|| {
                    cache
                        .slots
                        .iter()
                        .enumerate()
                        .map(|(i, s)| (cache.path(s), i))
                        .collect()
                });
                *map.get(p)?
            }
        };
        self.next = i + 1;
        let s = &cache.slots[i];
        (s.key == *key).then(|| (cache.result(s), s.sha))
    }

    /// Whether every look-up so far found its file where the staged order put it.
    pub fn in_order(&self) -> bool {
        self.in_order
    }
}
