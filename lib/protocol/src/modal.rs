//! Modal's records: what `runplz modal --dry-run` would send ([`ModalPlan`]) and where a
//! started run stands ([`RunStatus`], printed by `runplz status`).
use crate::image::ModalOp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `modal-plan` record: exactly what `runplz modal` would send to Modal, with the
/// environment's names only (never its values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModalPlan {
    /// The Modal app the sandbox is created in.
    pub app: String,
    /// Modal's gpu string (`"A100-80GB:4"`), or null for none.
    pub gpu: Option<String>,
    /// CPU cores requested, or null for Modal's default.
    pub cpu: Option<f64>,
    /// Memory requested in MiB, or null for Modal's default.
    pub memory_mb: Option<u64>,
    /// The job's deadline in seconds (the exec's timeout).
    pub timeout: u64,
    /// The sandbox's whole lifetime in seconds (the job's deadline plus time to collect).
    pub sandbox_timeout: u64,
    /// The image chain, in order; the repo is the last `add_local_dir`.
    pub image: Vec<ModalOp>,
    /// Where the command runs.
    pub workdir: String,
    /// The job's command. The sandbox runs it under the helper's small `sh -c` wrapper,
    /// which makes `/out` and leaves the exit code in `/runplz/rc`.
    pub command: Vec<String>,
    /// The names of the variables the job gets (as one Modal Secret), sorted.
    pub env_names: Vec<String>,
    /// The tags the sandbox gets (the run id and creation time are `null` here: they are made
    /// when the run starts).
    pub tags: BTreeMap<String, Option<String>>,
    /// Whether runplz returns once the sandbox runs (`--detach`).
    pub detach: bool,
    /// Detached: how long the sandbox stays up after the job ends, for `runplz collect`
    /// (then it ends, and `/out` with it); null when attached (runplz terminates it).
    pub keep_after_job: Option<u64>,
}

/// The `run-status` record: where a run started earlier stands now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStatus {
    /// The run id.
    pub run_id: String,
    /// `modal`, ...
    pub backend: String,
    /// The job's name, when known.
    pub job: Option<String>,
    /// `running`, `exited` (the job ended; `exit_code` says how), `timed_out`,
    /// `terminated` (stopped by `runplz kill` or Modal), `expired` (a detached run's
    /// sandbox ended after its collect window) or `finished` (an attached run, from the
    /// local run state). A run on a box (local, ssh, brev): `running` (its runplz is
    /// alive), `orphaned` (its runplz is gone, the job still runs), `stopped` (its runplz
    /// is gone and so is the job: `runplz collect` finishes it), `box_gone` (the box is no
    /// longer there), `unreachable`, or `finished`.
    pub state: String,
    /// The job's exit code, once it exited.
    pub exit_code: Option<i32>,
    /// The sandbox (Modal), when there is one.
    pub sandbox_id: Option<String>,
    /// The box or instance the run used (null: this machine, or a sandbox).
    #[serde(default)]
    pub host: Option<String>,
    /// The step the run is in, or stopped in, by the local run state.
    #[serde(default)]
    pub step: Option<String>,
    /// Why it failed, once it did (the run state's `failure`: `user_code`, `timeout`,
    /// `cancelled`, `lost_contact`, ...).
    #[serde(default)]
    pub failure: Option<String>,
}
