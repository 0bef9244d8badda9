//! The `collect` record rp-collect prints: every file that came back, hashed here.
use crate::run::Earlier;
use serde::{Deserialize, Serialize};

/// The `collect` record (`"type": "collect"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectRecord {
    /// `host:REMOTE_DIR`, or the archive's path.
    pub source: String,
    /// The local destination folder.
    pub dest: String,
    /// Every file that came, sorted by path.
    pub entries: Vec<CollectedFile>,
    /// How many files.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Wall-clock seconds for the whole collection, hashing included.
    pub duration_seconds: f64,
    /// Things people should know (a missing remote folder, a large archive).
    pub warnings: Vec<String>,
    /// Files already in the destination that this collection did not bring.
    #[serde(default)]
    pub earlier: Earlier,
    /// Symlinks on the box that pointed out of the folder and were left behind, by path.
    #[serde(default)]
    pub dropped_links: Vec<String>,
}

/// One entry of [`CollectRecord::entries`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectedFile {
    /// Its path under the destination, with `/` separators (lossy UTF-8 for odd names).
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The sha256 of its contents as written here, lowercase hex.
    pub sha256: String,
}
