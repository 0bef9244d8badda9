//! The `pack` record: what `rp-sync pack` wrote or uploaded, the same files a sync ships as
//! one deterministic `tar.gz`.
use serde::{Deserialize, Serialize};

/// The `pack` record (`"type": "pack"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackRecord {
    /// The folder packed (canonical).
    pub source: String,
    /// Where the archive went: `-` (stdout), `file:///abs/path`, or the `http(s)://` URL it
    /// was PUT to without its user, password and query (a presigned URL's signature is a
    /// credential).
    pub url: String,
    /// Entries in the archive (files and symlinks; folders are implied).
    pub files: u64,
    /// The archive's size in bytes.
    pub bytes: u64,
    /// The archive's sha256, lowercase hex (as `sha256sum` prints it).
    pub sha256: String,
    /// The fingerprint of the tree packed (as [`crate::Tree::fingerprint`]), computed from
    /// the bytes that went into the archive; always set, even with the scan off.
    pub fingerprint: String,
    /// The HTTP status of the PUT; null for a file or stdout.
    pub http_status: Option<u16>,
    /// Secret-shaped paths held back (a secret folder counts once).
    pub excluded_secrets: u64,
    /// Wall-clock seconds, staging and scan included.
    pub duration_seconds: f64,
    /// The content scan of what was packed.
    #[serde(default)]
    pub secret_scan: crate::ScanRecord,
    /// The tree packed: fingerprint, git commit, dirty flag.
    #[serde(default)]
    pub tree: crate::Tree,
}
