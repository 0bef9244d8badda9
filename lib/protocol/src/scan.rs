//! The secret scan's summary: what `rp-sync scan` prints as its `scan` record, and what the
//! `sync` and `run` records carry. Findings are masked: a rule, a place and a preview of a
//! few public bytes, never the value.
use serde::{Deserialize, Serialize};

/// The `scan` record (`"type": "scan"`), also the `"secret_scan"` field of `sync` and `run`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScanRecord {
    /// `refuse` (a finding stops the run), `warn` (it ships with a warning) or `off` (no
    /// scan; every count is 0).
    pub mode: String,
    /// The folder scanned (canonical).
    pub source: String,
    /// Regular files in the shipped list.
    pub files: u64,
    /// Of those, files whose content was read this time (the rest came from the cache).
    pub scanned: u64,
    /// Files whose earlier result was reused (same path, size, mtime and inode).
    pub cached: u64,
    /// Files not content-scanned because they hold a NUL byte near the start.
    pub binary: u64,
    /// Files not content-scanned because they are over the size limit.
    pub too_large: u64,
    /// What was found, allowed ones included, sorted by path, line, column.
    pub findings: Vec<SecretFinding>,
    /// The fingerprint of exactly what ships, `sha256:<hex>`: sha256 over each file sorted
    /// by path as `path NUL mode(octal) NUL sha256(content) LF` (a symlink's content is its
    /// target). Null when the scan is off.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// One masked finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretFinding {
    /// Path relative to the source: UTF-8 as it is, any other byte as `\xNN`.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, in bytes.
    pub column: u64,
    /// The rule's name (`huggingface-token`).
    pub rule: String,
    /// The public start of the match and an ellipsis (`hf_Ab…`); never the secret.
    pub preview: String,
    /// Allowed by `--allow-secret` or `sync.allow_secrets`: reported, not refused.
    #[serde(default)]
    pub allowed: bool,
}

/// The tree that ran: the `"tree"` field of the `sync` and `run` records. Two runs with the
/// same fingerprint shipped the same files, modes and bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tree {
    /// [`ScanRecord::fingerprint`]; null when the scan is off.
    pub fingerprint: Option<String>,
    /// `git rev-parse HEAD` of the shipped folder; null outside a git work tree or before
    /// the first commit.
    pub git_commit: Option<String>,
    /// Whether `git status --porcelain` lists anything (changes or untracked files that are
    /// not ignored); null outside a git work tree.
    pub git_dirty: Option<bool>,
}
