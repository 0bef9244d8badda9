//! `runplz ps`'s `ps` record and `runplz reconcile`'s `orphan` record, pinned (filled from
//! real output in `ops.rs` and `brev/ops.rs`).
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PsEntry {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) version: u32,
    pub(crate) run_id: Option<String>,
    pub(crate) job: Option<String>,
    pub(crate) backend: String,
    pub(crate) host: Option<String>,
    pub(crate) state: String,
    pub(crate) step: Option<String>,
    pub(crate) started_at: Option<u64>,
    pub(crate) ended_at: Option<u64>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) failure: Option<String>,
    pub(crate) price_per_hour: Option<f64>,
    pub(crate) cost: Option<f64>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Orphan {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) version: u32,
    pub(crate) backend: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) instance_type: Option<String>,
    pub(crate) run_id: Option<String>,
    pub(crate) reason: String,
    pub(crate) age_seconds: Option<u64>,
    pub(crate) price_per_hour: Option<f64>,
    pub(crate) cost_so_far: Option<f64>,
    pub(crate) action: String,
}
