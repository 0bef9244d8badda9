//! The `run` record from runplz local --native and runplz ssh (a native job on a box), with
//! its nested `steps`, `sync` and `outputs`.
use super::{pin, wire, Earlier};
use crate::support::{bin_cmd, run_expect, shm_tempdir, SshBox};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// runplz's run record.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Run {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    backend: String,
    job: String,
    run_id: String,
    host: Option<String>,
    mode: String,
    exit_code: Option<i32>,
    ending: serde_json::Value,
    steps: Vec<Step>,
    sync: Option<Shipped>,
    outputs: Option<Outputs>,
    env_passed: Vec<String>,
    secret_scan: Option<super::Scan>,
    tree: Option<super::Tree>,
    duration_seconds: f64,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Step {
    step: String,
    seconds: f64,
    ok: bool,
}

/// `sync` in the run record: what went up (no folder, unlike `outputs`).
#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Shipped {
    files: u64,
    bytes: u64,
}

/// `outputs` in the run record: what came back, and where.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Outputs {
    dir: String,
    files: u64,
    bytes: u64,
    earlier: Earlier,
    dropped_links: Vec<String>,
}

const TINY: &str = r#"{"name": "tiny", "image": {"from_registry": "debian:bookworm"},
    "run": "printf ok > \"$RUNPLZ_OUT/r.txt\"; exit 3", "ssh": {"use_docker": false}}"#;

fn check_run(rec: &Run, backend: &str, dir: &Path) {
    assert_eq!((rec.kind.as_str(), rec.version), ("run", 1));
    assert_eq!(
        (rec.backend.as_str(), rec.mode.as_str()),
        (backend, "native")
    );
    assert_eq!(rec.job, "tiny");
    assert!(rec.run_id.starts_with("tiny-"), "{}", rec.run_id);
    assert_eq!(rec.exit_code, Some(3));
    assert_eq!(rec.ending, serde_json::json!({"kind": "exited", "code": 3}));
    assert!(rec.steps.iter().all(|s| s.ok), "{:?}", rec.steps);
    assert_eq!(
        rec.outputs,
        Some(Outputs {
            dir: dir.join("out").display().to_string(),
            files: 1,
            bytes: 2,
            earlier: Earlier::none(),
            dropped_links: Vec::new(),
        })
    );
}

fn step_names(rec: &Run) -> Vec<&str> {
    rec.steps.iter().map(|s| s.step.as_str()).collect()
}

#[test]
fn run_local_native_record() {
    let d = shm_tempdir();
    std::fs::write(d.path().join("job.json"), TINY).unwrap();
    let out = run_expect(
        bin_cmd("runplz")
            .current_dir(d.path())
            .args(["local", "job.json", "--json", "--native"]),
        3,
    );
    let rec: Run = pin(&out, "run");
    wire::<runplz_protocol::RunRecord>(&out, "run");
    check_run(&rec, "local", d.path());
    assert_eq!(rec.host, None);
    assert_eq!(rec.sync, None);
    assert!(rec.env_passed.is_empty(), "{:?}", rec.env_passed);
    let scan = rec.secret_scan.as_ref().expect("secret_scan");
    assert_eq!((scan.mode.as_str(), scan.findings.len()), ("refuse", 0));
    assert!(scan.files >= 1, "{scan:?}");
    let tree = rec.tree.as_ref().expect("tree");
    assert_eq!(tree.fingerprint, scan.fingerprint);
    assert!(tree.fingerprint.as_ref().unwrap().starts_with("sha256:"));
    assert_eq!(
        step_names(&rec),
        ["acquire", "probe", "venv", "run", "collect"]
    );
}

#[test]
fn run_ssh_native_record() {
    let b = SshBox::start();
    let d = shm_tempdir();
    std::fs::write(d.path().join("job.json"), TINY).unwrap();
    let out = run_expect(
        bin_cmd("runplz")
            .current_dir(d.path())
            .args(["ssh", "job.json", "--json", "--env", "RPT_PASSED"])
            .env("RPT_PASSED", "a value never in the record")
            .args(b.tool_args()),
        3,
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("never in the record"));
    let rec: Run = pin(&out, "run");
    wire::<runplz_protocol::RunRecord>(&out, "run");
    check_run(&rec, "ssh", d.path());
    assert_eq!(rec.host.as_deref(), Some("box"));
    assert_eq!(rec.env_passed, ["RPT_PASSED"]);
    let job_len = TINY.len() as u64;
    assert_eq!(
        rec.sync,
        Some(Shipped {
            files: 1,
            bytes: job_len
        })
    );
    assert_eq!(
        step_names(&rec),
        ["acquire", "probe", "sync", "venv", "run", "collect"]
    );
}
