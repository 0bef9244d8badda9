//! `rp-box`'s record (`"type": "box"`) and the Brev box the `run` record names
//! ([`Instance`]): what a box verb did to one Brev box and what `brev ls --json` said after.
use serde::{Deserialize, Serialize};

/// One Brev workspace as `brev ls --json` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxInfo {
    /// The workspace name (also its ssh alias).
    pub name: String,
    /// Brev's id.
    #[serde(default)]
    pub id: String,
    /// `RUNNING`, `DEPLOYING`, `STARTING`, `STOPPING`, `STOPPED`, `DELETING`, `FAILURE`, ...
    #[serde(default)]
    pub status: String,
    /// `READY` only when RUNNING and built; `NOT READY` otherwise.
    #[serde(default)]
    pub shell_status: String,
    /// The instance type, e.g. `g5.xlarge`.
    #[serde(default)]
    pub instance_type: String,
}

/// What one `rp-box` verb did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxRecord {
    /// `create`, `start`, `wait`, `stop`, `delete`, `status` or `ls`.
    pub verb: String,
    /// The box acted on (null for `ls`).
    pub name: Option<String>,
    /// The box as `brev ls --json` showed it after the verb; null when it is gone (or, for
    /// `status`, was never there).
    #[serde(rename = "box")]
    pub instance: Option<BoxInfo>,
    /// `ls`: the boxes (runplz's own, `runplz-*`, unless `--all`); empty otherwise.
    #[serde(default)]
    pub boxes: Vec<BoxInfo>,
    /// What the check with `brev ls --json` after the verb found, in words.
    #[serde(default)]
    pub verified: Option<String>,
    /// `wait --ssh-config FILE`: the ssh config written for the box (Host NAME).
    #[serde(default)]
    pub ssh_config: Option<String>,
}

/// The Brev box a `run` record's run used, and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The workspace name.
    pub name: String,
    /// The instance type.
    pub instance_type: Option<String>,
    /// The provider (aws, gcp, ...), when the picker knew it.
    pub provider: Option<String>,
    /// US dollars per hour, when known.
    pub price_per_hour: Option<f64>,
    /// Whether runplz created it for this run (ephemeral, or a named box auto-created).
    pub created: bool,
    /// What happened at the end: `deleted`, `stopped`, `left`, or `failed` (it may still
    /// be running and billing).
    pub release: String,
    /// Seconds from `brev create` (or `start`) until the delete or stop was accepted; null
    /// when the box was left running.
    pub billed_seconds: Option<f64>,
    /// `price_per_hour` × the billed time, in US dollars; null when either is unknown.
    pub cost: Option<f64>,
    /// A RunPod pod's id (runplz runpod only; absent for a Brev box).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_id: Option<String>,
    /// The RunPod datacenter the pod ran in (runplz runpod only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacenter: Option<String>,
}
