//! The content scan: every file that would ship (the list [`crate::sync::stage()`] decides)
//! is searched for secret shapes ([`rules::RULES`]) before anything leaves the machine.
//! A file whose lower-cased text holds none of the rules' needles is done; otherwise one
//! pass checks every rule (a `RegexSet`) and only the rules that matched are run again to
//! find where. Results are cached per file by (path, size, mtime ns, inode) in the
//! state folder, so an unchanged file is never read twice. Findings are masked: rule, place
//! and a preview of the public prefix, never the value.

mod allow;
pub mod cache;
mod copy;
mod files;
mod find;
pub mod rules;
mod ship;

use crate::sync::Staged;
pub use allow::{allow_entry, allow_for, Allow};
pub use copy::{Copied, Copier};
pub use files::{fingerprint, not_read, scan, scan_file, FileResult};
pub use find::{scan_bytes, Hit};
pub use runplz_protocol::{ScanRecord, SecretFinding, Tree};
pub use ship::{after_shipping, again_before_sending, before_shipping, refusal, refused, warnings};

/// Files larger than this are not content-scanned (counted as `too_large`).
pub const MAX_BYTES: u64 = 16 << 20;

/// How far into a file a NUL byte makes it binary (not content-scanned).
pub const BINARY_PROBE: usize = 8192;

/// `sync.secret_scan`: what a finding does.
pub use crate::job::spec::SecretScan as Mode;

impl Mode {
    /// Its name in job.json and records.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Refuse => "refuse",
            Mode::Warn => "warn",
            Mode::Off => "off",
        }
    }
}

/// The tree that ships: the scan's fingerprint, and the git commit and dirty flag of the
/// folder when it is in a git work tree (git's answers only; none when git is missing).
pub fn tree(staged: &Staged, rec: &ScanRecord) -> Tree {
    let git = |args: &[&str]| -> Option<String> {
        if !staged.git {
            return None;
        }
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&staged.root)
            .env("GIT_OPTIONAL_LOCKS", "0")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    Tree {
        fingerprint: rec.fingerprint.clone(),
        git_commit: git(&["rev-parse", "--verify", "-q", "HEAD"]).map(|s| s.trim().to_string()),
        git_dirty: git(&["status", "--porcelain", "-z"]).map(|s| !s.is_empty()),
    }
}

#[cfg(test)]
mod tests;
