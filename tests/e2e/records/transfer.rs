//! The `sync` record (real and --dry-run) and the `collect` record (rsync from a box, and
//! --from-tar), whose nested `largest` and `files` entries are pinned too.
use super::hello_tar_gz;
use super::{pin, wire, write_job};
use crate::support::{bin_cmd, run_expect, shm_tempdir, SshBox};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// rp-sync's record.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Sync {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    source: String,
    dest: Option<String>,
    host: Option<String>,
    dry_run: bool,
    files: u64,
    bytes: u64,
    files_transferred: Option<u64>,
    bytes_transferred: Option<u64>,
    deleted: Option<u64>,
    duration_seconds: f64,
    largest: Vec<Largest>,
    excluded_secrets: u64,
    secret_scan: super::Scan,
    tree: super::Tree,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Largest {
    path: String,
    bytes: u64,
}

/// A job folder to ship: the job, data.txt, and a secret that must stay home.
fn sync_dir() -> tempfile::TempDir {
    let d = shm_tempdir();
    write_job(d.path(), "");
    std::fs::write(d.path().join(".env"), "KEY=x\n").unwrap();
    d
}

#[test]
fn sync_dry_run_record() {
    let d = sync_dir();
    let out = run_expect(
        bin_cmd("rp-sync")
            .current_dir(d.path())
            .args(["up", "--job", "job.json", "--dry-run"]),
        0,
    );
    let rec: Sync = pin(&out, "sync");
    wire::<runplz_protocol::SyncRecord>(&out, "sync");
    assert_eq!((rec.kind.as_str(), rec.version), ("sync", 1));
    assert!(rec.dry_run);
    assert_eq!(rec.host, None);
    assert_eq!(rec.dest.as_deref(), Some("runplz/rec"));
    assert_eq!(
        rec.source,
        d.path().canonicalize().unwrap().display().to_string()
    );
    assert_eq!(
        (rec.files_transferred, rec.bytes_transferred, rec.deleted),
        (None, None, None)
    );
    assert_eq!(rec.files, 2);
    assert_eq!(rec.excluded_secrets, 1);
    assert_eq!(
        (
            rec.secret_scan.mode.as_str(),
            rec.secret_scan.files,
            rec.secret_scan.findings.len()
        ),
        ("refuse", 2, 0)
    );
    assert_eq!(rec.secret_scan.source, rec.source);
    assert_eq!(rec.tree.fingerprint, rec.secret_scan.fingerprint);
    assert_eq!(
        rec.tree.fingerprint.as_ref().unwrap().len(),
        "sha256:".len() + 64
    );
    assert_eq!(
        (rec.tree.git_commit.as_deref(), rec.tree.git_dirty),
        (None, None)
    );
    let job_len = std::fs::metadata(d.path().join("job.json")).unwrap().len();
    assert_eq!(
        rec.largest,
        [
            Largest {
                path: "job.json".into(),
                bytes: job_len
            },
            Largest {
                path: "data.txt".into(),
                bytes: 8
            }
        ]
    );
    assert_eq!(rec.bytes, job_len + 8);
}

#[test]
fn sync_record() {
    let b = SshBox::start();
    let d = sync_dir();
    let out = run_expect(
        bin_cmd("rp-sync")
            .current_dir(d.path())
            .args(["up", "--job", "job.json"])
            .args(b.tool_args()),
        0,
    );
    let rec: Sync = pin(&out, "sync");
    wire::<runplz_protocol::SyncRecord>(&out, "sync");
    assert_eq!((rec.kind.as_str(), rec.version), ("sync", 1));
    assert!(!rec.dry_run);
    assert_eq!(rec.host.as_deref(), Some("box"));
    assert_eq!(rec.dest.as_deref(), Some("runplz/rec"));
    assert_eq!((rec.files, rec.files_transferred), (2, Some(2)));
    assert_eq!(rec.deleted, Some(0));
    assert!(rec.bytes_transferred.unwrap() > 0);
    assert_eq!(b.ssh("cat runplz/rec/data.txt"), "payload\n");
}

/// rp-collect's record.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Collect {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    source: String,
    dest: String,
    entries: Vec<CollectedFile>,
    files: u64,
    bytes: u64,
    duration_seconds: f64,
    warnings: Vec<String>,
    earlier: super::Earlier,
    dropped_links: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct CollectedFile {
    path: String,
    bytes: u64,
    sha256: String,
}

/// What `hello\n` in `a/r.txt` looks like in the record.
fn hello_file() -> CollectedFile {
    CollectedFile {
        path: "a/r.txt".into(),
        bytes: 6,
        sha256: "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03".into(),
    }
}

fn check_collect(rec: &Collect, source: &str, dest: &Path) {
    assert_eq!((rec.kind.as_str(), rec.version), ("collect", 1));
    assert_eq!(rec.source, source);
    assert_eq!(rec.dest, dest.display().to_string());
    assert_eq!(rec.entries, [hello_file()]);
    assert_eq!((rec.files, rec.bytes), (1, 6));
    assert_eq!(rec.warnings, Vec::<String>::new());
    assert_eq!(rec.earlier, super::Earlier::none());
    assert_eq!(rec.dropped_links, Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(dest.join("a/r.txt")).unwrap(),
        "hello\n"
    );
}

#[test]
fn collect_rsync_record() {
    let b = SshBox::start();
    b.ssh("mkdir -p outs/a && printf 'hello\\n' > outs/a/r.txt");
    let d = shm_tempdir();
    let dest = d.path().join("back");
    let out = run_expect(
        bin_cmd("rp-collect")
            .args(b.tool_args())
            .args(["--from", "outs", "--to"])
            .arg(&dest),
        0,
    );
    wire::<runplz_protocol::CollectRecord>(&out, "collect");
    check_collect(&pin(&out, "collect"), "box:outs", &dest);
}

#[test]
fn collect_tar_record() {
    let d = shm_tempdir();
    let archive = d.path().join("outs.tar.gz");
    hello_tar_gz(&archive);
    let dest = d.path().join("back");
    let out = run_expect(
        bin_cmd("rp-collect")
            .arg("--from-tar")
            .arg(&archive)
            .arg("--to")
            .arg(&dest),
        0,
    );
    wire::<runplz_protocol::CollectRecord>(&out, "collect");
    check_collect(&pin(&out, "collect"), &archive.display().to_string(), &dest);
}

/// rp-sync scan's record: the tag, then exactly the `secret_scan` fields.
#[derive(Debug, Deserialize, Serialize)]
struct ScanRec {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    #[serde(flatten)]
    scan: super::Scan,
}

/// `rp-sync scan`: the `scan` record, with a masked finding and a binary file counted.
#[test]
fn scan_record() {
    let d = sync_dir();
    let tok = runplz_core::scan::rules::sample("hf");
    std::fs::write(
        d.path().join("train.py"),
        format!("import os\nHF_TOKEN = \"{tok}\"\n"),
    )
    .unwrap();
    std::fs::write(d.path().join("w.bin"), b"\0\0\0").unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = run_expect(
        bin_cmd("rp-sync")
            .current_dir(d.path())
            .env("XDG_STATE_HOME", state.path())
            .args(["scan", "job.json"]),
        4,
    );
    let rec: ScanRec = pin(&out, "scan");
    assert_eq!((rec.kind.as_str(), rec.version), ("scan", 1));
    let rec = rec.scan;
    assert!(rec.fingerprint.as_ref().unwrap().starts_with("sha256:"));
    wire::<runplz_protocol::ScanRecord>(&out, "scan");
    assert_eq!(
        (
            rec.mode.as_str(),
            rec.files,
            rec.scanned,
            rec.cached,
            rec.binary,
            rec.too_large
        ),
        ("refuse", 4, 4, 0, 1, 0)
    );
    assert_eq!(
        rec.findings,
        [super::SecretFinding {
            path: "train.py".into(),
            line: 2,
            column: 13,
            rule: "huggingface-token".into(),
            preview: format!("{}…", &tok[..5]),
            allowed: false,
        }]
    );
}
