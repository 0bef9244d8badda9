//! The scan cache: per shipped folder, one file in the state folder mapping each path to
//! (size, mtime ns, inode) and what its scan found (masked hits only, never a value). A file
//! whose key changed is read again; a change to the rules or the size limit drops the lot.
//! Writes are atomic (a temp file renamed over); two runs at once: the last one wins, and
//! either result is right for its own keys.

use super::{rules, FileResult, Hit};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What makes a cached result still good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// Bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Inode number (a file replaced by rename gets a new one).
    pub inode: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    key: Key,
    /// `"b"` binary, `"l"` too large, `"s"` scanned.
    kind: String,
    /// The content's sha256 (hex), for the fingerprint.
    sha: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hits: Vec<(u64, u64, String, String)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    rules: String,
    files: HashMap<String, Entry>,
}

/// One folder's cache, loaded.
pub struct Cache {
    file: PathBuf,
    stored: Stored,
    dirty: bool,
}

/// A fingerprint of the rules and limits: when it changes, every cached result is stale.
fn rules_version() -> String {
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
    hex(&h.finalize())
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Cache {
    /// The cache of `root` under `dir`; a missing, unreadable or stale one starts empty.
    pub fn load(dir: &Path, root: &Path) -> Cache {
        let id = hex(&Sha256::digest(root.as_os_str().as_encoded_bytes()))[..24].to_string();
        let file = dir.join(format!("{id}.json"));
        let version = rules_version();
        let stored = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<Stored>(&b).ok())
            .filter(|s| s.rules == version)
            .unwrap_or(Stored {
                rules: version,
                files: HashMap::new(),
            });
        Cache {
            file,
            stored,
            dirty: false,
        }
    }

    /// The result cached for `path` under `key`, if still good.
    pub fn get(&self, path: &Path, key: &Key) -> Option<(FileResult, String)> {
        let e = self.stored.files.get(path.to_str()?)?;
        if &e.key != key {
            return None;
        }
        let r = match e.kind.as_str() {
            "b" => FileResult::Binary,
            "l" => FileResult::TooLarge,
            "s" => {
                let mut hits = Vec::with_capacity(e.hits.len());
                for (line, column, rule, preview) in &e.hits {
                    // A rule no longer known: the version check should have caught it.
                    let r = rules::RULES.iter().find(|r| r.name == rule)?;
                    hits.push(Hit {
                        line: *line,
                        column: *column,
                        rule: r.name,
                        preview: preview.clone(),
                    });
                }
                FileResult::Scanned(hits)
            }
            _ => return None,
        };
        (e.sha.len() == 64).then(|| (r, e.sha.clone()))
    }

    /// Remember `r` for `path` under `key` (paths that are not UTF-8 are not cached).
    pub fn put(&mut self, path: &Path, key: Key, r: &FileResult, sha: &str) {
        let Some(p) = path.to_str() else { return };
        let (kind, hits) = match r {
            FileResult::Binary => ("b", Vec::new()),
            FileResult::TooLarge => ("l", Vec::new()),
            FileResult::Scanned(h) => (
                "s",
                h.iter()
                    .map(|h| (h.line, h.column, h.rule.to_string(), h.preview.clone()))
                    .collect(),
            ),
        };
        self.stored.files.insert(
            p.to_string(),
            Entry {
                key,
                kind: kind.into(),
                sha: sha.into(),
                hits,
            },
        );
        self.dirty = true;
    }

    /// Write the cache back, keeping only `live` paths. Best effort: a cache that cannot be
    /// written only costs a rescan next time.
    pub fn save(mut self, live: &[&Path]) {
        let before = self.stored.files.len();
        if before != live.len() {
            let keep: std::collections::HashSet<&str> =
                live.iter().filter_map(|p| p.to_str()).collect();
            self.stored.files.retain(|k, _| keep.contains(k.as_str()));
        }
        if !self.dirty && before == self.stored.files.len() {
            return;
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
        let Ok(bytes) = serde_json::to_vec(&self.stored) else {
            return;
        };
        if tmp.write_all(&bytes).is_ok() {
            let _ = tmp.persist(&self.file);
        }
    }
}
