//! `runplz runpod` against the fake RunPod API (tests/helpers/fakerunpod, faithful to
//! facts/runpod.md and proven against the real `runpod` SDK in [`real_sdk`]), whose pods
//! are real sshds on loopback: pick → create → wait → sync → run → collect → terminate,
//! failover on "no capacity", a refused key, a create with no answer, and Ctrl-C at each
//! phase. After each run the fake's own state says what is left: every pod terminated and
//! running nothing.

mod failures;
mod lifecycle;
mod real_sdk;
mod signals;

use crate::support::stderr;
use serde_json::Value;
use std::process::Output;

/// A job that writes an output naming the pod and user it ran as.
pub(super) const JOB: &str = r#"{"name": "rpjob", "image": {"from_registry": "debian:12"},
  "run": "echo \"ran on $RUNPOD_POD_ID as $(id -un)\" > \"$RUNPLZ_OUT/hi.txt\"; echo job-ran",
  "resources": {"gpu": "A6000", "min_disk": 25.5, "min_cpu": 3, "min_memory": 12}}"#;

pub(super) fn record(o: &Output) -> Value {
    let text = String::from_utf8_lossy(&o.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"type\":\"run\""));
    serde_json::from_str(last.unwrap_or_else(|| {
        panic!(
            "no run record on stdout:\n{text}\n--- stderr\n{}",
            stderr(o)
        )
    }))
    .unwrap()
}

pub(super) fn code(o: &Output) -> Option<i32> {
    o.status.code()
}
