//! The `probe` record, from rp-probe --local (a doomed precondition, a GPU ask) and from a box.
use super::{pin, wire, write_job};
use crate::support::{bin_cmd, run_expect, shm_tempdir, SshBox};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// rp-probe's record.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Probe {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    host: Option<String>,
    facts: Facts,
    findings: Vec<Finding>,
    ok: bool,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Facts {
    cpus: Option<u32>,
    memory_gb: Option<f64>,
    disk_free_gb: Option<f64>,
    disk_total_gb: Option<f64>,
    shm_free_gb: Option<f64>,
    gpus: Vec<Gpu>,
    gpu_count: Option<u32>,
    gpu_reason: Option<String>,
    docker: Option<bool>,
    docker_nvidia: Option<bool>,
    rsync: Option<bool>,
    os: Option<String>,
    arch: Option<String>,
    unreadable: Vec<Unreadable>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Gpu {
    name: String,
    memory_gb: Option<f64>,
    mig: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Unreadable {
    fact: String,
    message: String,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Finding {
    level: Level,
    check: String,
    wanted: Value,
    found: Value,
    message: String,
}

#[derive(Debug, Deserialize, Serialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Level {
    Warning,
    Failure,
}

#[test]
fn probe_local_record() {
    let d = shm_tempdir();
    write_job(
        d.path(),
        r#", "resources": {"gpu": "A100"}, "preconditions": {"shm_gb": 100000}"#,
    );
    let out = run_expect(
        bin_cmd("rp-probe")
            .current_dir(d.path())
            .args(["--local", "job.json"]),
        3,
    );
    let rec: Probe = pin(&out, "probe");
    wire::<runplz_protocol::ProbeRecord>(&out, "probe");
    assert_eq!((rec.kind.as_str(), rec.version), ("probe", 1));
    assert_eq!(rec.host, None);
    assert!(!rec.ok);
    let shm = rec
        .findings
        .iter()
        .find(|f| f.check == "shm_gb")
        .expect("a shm_gb finding");
    assert_eq!(shm.level, Level::Failure);
    assert_eq!(shm.wanted, 100000);
    assert_eq!(shm.found.as_f64(), rec.facts.shm_free_gb);
    // No GPU here (the machine has none; tests never rely on one): with --local the ask
    // is a failure, as a local run gets only this machine's GPUs.
    if rec.facts.gpus.is_empty() {
        let gpu = rec.findings.iter().find(|f| f.check == "gpu").unwrap();
        assert_eq!(
            (gpu.level, &gpu.wanted),
            (Level::Failure, &Value::from("A100"))
        );
        assert!(
            gpu.message.contains("a local run gets only its own"),
            "{}",
            gpu.message
        );
    }
    assert_eq!(rec.facts.gpu_count, Some(rec.facts.gpus.len() as u32));
}

#[test]
fn probe_box_record() {
    let b = SshBox::start();
    let out = run_expect(bin_cmd("rp-probe").args(b.tool_args()), 0);
    let rec: Probe = pin(&out, "probe");
    wire::<runplz_protocol::ProbeRecord>(&out, "probe");
    assert_eq!((rec.kind.as_str(), rec.version), ("probe", 1));
    assert_eq!(rec.host.as_deref(), Some("box"));
    assert!(rec.ok);
    assert_eq!(
        rec.facts.cpus.map(|c| c.to_string()),
        Some(b.ssh("nproc").trim().to_string())
    );
    assert_eq!(rec.facts.rsync, Some(true));
    assert_eq!(rec.facts.arch.as_deref(), Some(b.ssh("uname -m").trim()));
    // Only warnings without a job (an unreadable fact at most).
    assert!(
        rec.findings.iter().all(|f| f.level == Level::Warning),
        "{:?}",
        rec.findings
    );
}
