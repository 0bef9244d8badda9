//! The `sync` record rp-sync prints: what was shipped, what rsync moved, and which
//! secret-shaped paths stayed home.
use serde::{Deserialize, Serialize};

/// The `sync` record (`"type": "sync"`). Fields a dry run cannot know are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// The folder shipped (canonical).
    pub source: String,
    /// The remote folder (relative to the remote home unless absolute); `null` on a dry run
    /// without one.
    pub dest: Option<String>,
    /// The `--host` given, `null` on a dry run without one.
    pub host: Option<String>,
    /// Nothing was sent.
    pub dry_run: bool,
    /// Files in the shipped list.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Files whose data rsync sent (0 when nothing changed); `null` on a dry run.
    pub files_transferred: Option<u64>,
    /// Bytes rsync sent over the connection; `null` on a dry run.
    pub bytes_transferred: Option<u64>,
    /// Files deleted on the box because they were deleted here; `null` on a dry run.
    pub deleted: Option<u64>,
    /// Wall-clock seconds, staging included.
    pub duration_seconds: f64,
    /// The largest shipped files, largest first.
    pub largest: Vec<LargestFile>,
    /// Secret-shaped paths held back (a secret folder counts once).
    pub excluded_secrets: u64,
    /// The content scan of what shipped (masked findings, counts).
    #[serde(default)]
    pub secret_scan: crate::ScanRecord,
    /// The tree that shipped: fingerprint, git commit, dirty flag.
    #[serde(default)]
    pub tree: crate::Tree,
}

/// One entry of [`SyncRecord::largest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LargestFile {
    /// Path relative to the source (lossy UTF-8).
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
}
