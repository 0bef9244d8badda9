//! The `box` record (rp-box) and the `run` record of `runplz brev`, with its `instance`,
//! from the real tools against the fake brev.
use super::{pin, wire};
use crate::support::FakeBrev;
use serde::{Deserialize, Serialize};

/// rp-box's record.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BoxRec {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    verb: String,
    name: Option<String>,
    #[serde(rename = "box")]
    instance: Option<BoxInfo>,
    boxes: Vec<BoxInfo>,
    verified: Option<String>,
    ssh_config: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BoxInfo {
    name: String,
    id: String,
    status: String,
    shell_status: String,
    instance_type: String,
}

/// The `instance` of a brev run record.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Instance {
    name: String,
    instance_type: Option<String>,
    provider: Option<String>,
    price_per_hour: Option<f64>,
    created: bool,
    release: String,
    billed_seconds: Option<f64>,
    cost: Option<f64>,
}

#[test]
fn box_and_brev_run_records_are_pinned() {
    let fb = FakeBrev::new();
    let mut c = fb.cmd("rp-box");
    c.args(["create", "rec-box", "--type", "g5.xlarge", "--mode", "vm"]);
    let out = FakeBrev::output(&mut c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: BoxRec = pin(&out, "box");
    assert_eq!((rec.kind.as_str(), rec.verb.as_str()), ("box", "create"));
    assert_eq!(rec.instance.as_ref().unwrap().instance_type, "g5.xlarge");
    wire::<runplz_protocol::BoxRecord>(&out, "box");
    let mut c = fb.cmd("rp-box");
    c.args(["delete", "rec-box"]);
    let out = FakeBrev::output(&mut c);
    let rec: BoxRec = pin(&out, "box");
    assert!(rec.verified.unwrap().contains("rec-box"));
    fb.wait_gone("rec-box");

    let (_d, job) = fb.job(
        r#"{"name": "rec", "image": {"from_registry": "debian:12"}, "run": "true", "resources": {"gpu": "A10G"}}"#,
    );
    let mut c = fb.cmd("runplz");
    c.arg("brev").arg(&job).arg("--json");
    let out = FakeBrev::output(&mut c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    let inst: Instance = serde_json::from_value(v["instance"].clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&inst).unwrap(),
        v["instance"],
        "instance: a field is missing"
    );
    assert_eq!((inst.release.as_str(), inst.created), ("deleted", true));
    let r: runplz_protocol::RunRecord =
        runplz_protocol::read(&v.to_string()).expect("runplz-protocol reads a brev run record");
    assert_eq!(r.instance.unwrap().name, inst.name);
    fb.wait_gone(&inst.name);
}
