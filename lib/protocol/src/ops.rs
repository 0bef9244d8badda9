//! The records of `runplz ps` (one `ps` line per run) and `runplz reconcile` (one
//! `orphan` line per billed box of ours that no live run holds).
use serde::{Deserialize, Serialize};

/// One run as `runplz ps` lists it (`"type": "ps"`), from its local run state; or a box a
/// backend says is alive that no run state here names (`run_id` null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PsEntry {
    /// The run id (null: a box no run state here names).
    pub run_id: Option<String>,
    /// The job's name.
    pub job: Option<String>,
    /// `local`, `ssh`, `brev`, `runpod`, `modal`, `slurm`.
    pub backend: String,
    /// The box, instance or host (null: this machine); an untracked Modal sandbox's id.
    pub host: Option<String>,
    /// `running` (its runplz is alive), `interrupted` (its runplz is gone before the run
    /// ended: `runplz status` asks the box, `runplz collect` finishes it), `finished`, or
    /// for a box with no run state here, `untracked`. A run started with `--detach` and not
    /// collected yet is `detached` (`runplz status` asks its box); a Slurm one, as the
    /// cluster says, `detached` (still queued or running, or the cluster cannot be asked)
    /// or `ended` (`runplz collect` brings it back).
    pub state: String,
    /// The step it is in, or the last one it reached.
    pub step: Option<String>,
    /// Seconds since the epoch when it started.
    pub started_at: Option<u64>,
    /// Seconds since the epoch when it ended.
    pub ended_at: Option<u64>,
    /// The exit code, once over.
    pub exit_code: Option<i32>,
    /// Why it failed (see the run state's `failure`).
    pub failure: Option<String>,
    /// US dollars per hour of its box, when known.
    pub price_per_hour: Option<f64>,
    /// What its box cost (so far, while it runs), when the price is known.
    pub cost: Option<f64>,
}

/// A billed box carrying runplz's name prefix (a Modal sandbox: runplz's tag) that no live
/// run holds (`"type": "orphan"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Orphan {
    /// `brev`, `runpod` or `modal`.
    pub backend: String,
    /// The box's name (a Modal sandbox's id, `sb-...`).
    pub name: String,
    /// Its status as the backend reports it (`RUNNING`, `STOPPED`, ...; a Modal sandbox
    /// listed is `RUNNING`).
    pub status: String,
    /// Its instance type, when known.
    pub instance_type: Option<String>,
    /// The run that made it, when a run state here names it (a Modal sandbox: its
    /// `runplz_run_id` tag, also when no run state here has it).
    pub run_id: Option<String>,
    /// Why it is an orphan: `runplz_gone` (the run's runplz died before releasing it),
    /// `run_over` (the run ended but its release failed), or `no_run_state` (no run state
    /// here names it: maybe another machine's run; never touched by `--apply`).
    pub reason: String,
    /// Seconds since its run started (null when no run state names it); a Modal sandbox:
    /// since it was created (its `runplz_created_at` tag).
    pub age_seconds: Option<u64>,
    /// US dollars per hour, when known.
    pub price_per_hour: Option<f64>,
    /// `price_per_hour` × age, in US dollars, when both are known.
    pub cost_so_far: Option<f64>,
    /// What `--apply` did: `none` (not asked), `deleted` (a Brev box), `terminated` (a
    /// RunPod pod or Modal sandbox), `skipped` (not ours to touch), or `failed`.
    pub action: String,
}
