//! `runplz modal --dry-run`'s `modal-plan` record and `runplz status`'s `run-status`
//! record (a detached run on the fake modal), pinned.
use super::{pin, wire};
use crate::modal::ModalWorld;
use crate::support::run_expect;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ModalPlan {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    app: String,
    gpu: Option<String>,
    cpu: Option<f64>,
    memory_mb: Option<u64>,
    timeout: u64,
    sandbox_timeout: u64,
    image: Vec<serde_json::Value>,
    workdir: String,
    command: Vec<String>,
    env_names: Vec<String>,
    tags: BTreeMap<String, Option<String>>,
    detach: bool,
    keep_after_job: Option<u64>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RunStatus {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    run_id: String,
    backend: String,
    job: Option<String>,
    state: String,
    exit_code: Option<i32>,
    sandbox_id: Option<String>,
    host: Option<String>,
    step: Option<String>,
    failure: Option<String>,
}

#[test]
fn modal_plan_and_run_status_records() {
    let w = ModalWorld::new(
        r#"{"name": "rec", "image": {"from_registry": "debian:bookworm"}, "run": "sleep 30",
            "resources": {"gpu": "H100", "num_gpus": 8}, "timeout": 100}"#,
    );
    let out = run_expect(&mut w.runplz(&["modal", "job.json", "--dry-run"]), 0);
    let p: ModalPlan = pin(&out, "modal-plan");
    wire::<runplz_protocol::ModalPlan>(&out, "modal-plan");
    assert_eq!((p.kind.as_str(), p.version), ("modal-plan", 1));
    assert_eq!(
        (p.gpu.as_deref(), p.cpu, p.memory_mb),
        (Some("H100:8"), None, None)
    );

    let out = run_expect(&mut w.runplz(&["modal", "job.json", "--detach"]), 0);
    let run_id = crate::support::json(&out)["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run_expect(&mut w.runplz(&["status", &run_id]), 0);
    let s: RunStatus = pin(&out, "run-status");
    wire::<runplz_protocol::RunStatus>(&out, "run-status");
    assert_eq!(
        (s.state.as_str(), s.job.as_deref()),
        ("running", Some("rec"))
    );
    let out = run_expect(&mut w.runplz(&["kill", &run_id]), 0);
    let s: RunStatus = pin(&out, "run-status");
    assert_eq!(s.state, "terminated");
}
