//! The run state: one JSON file per run, written atomically before the run's first side
//! effect and again after every step, so that a later call (and a person) can tell where a
//! killed run stopped and what it left behind. It lives at
//! `$XDG_STATE_HOME/runplz/runs/<run-id>.json` (default `~/.local/state/...`). Readers
//! tolerate unknown fields and unknown enum values.

use serde::{Deserialize, Serialize};

/// The file's `"type"`.
pub const STATE_TYPE: &str = "run-state";

/// One run's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Always [`STATE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The protocol version it was written with.
    pub version: u32,
    /// The run id (also `RUNPLZ_RUN_ID` of every job process).
    pub run_id: String,
    /// The job's name.
    pub job: String,
    /// The job file, absolute (`-` for stdin).
    pub job_file: String,
    /// `local`, `ssh`, ...
    pub backend: String,
    /// The box or instance, as given, when there is one.
    pub target: Option<String>,
    /// `docker`, `native` or `in_place`.
    pub mode: String,
    /// runplz's own pid, to tell a live run from a killed one.
    pub pid: u32,
    /// Seconds since the epoch when the run started.
    pub started_at: u64,
    /// Seconds since the epoch of the last write.
    pub updated_at: u64,
    /// Where the run stands.
    pub status: Status,
    /// The step running now, if one is.
    pub current_step: Option<String>,
    /// The steps that ended, in order, and whether each worked.
    pub steps: Vec<StepState>,
    /// How to reach what the run started: enough to find, stop or collect it later.
    pub handle: Handle,
    /// Where outputs come back to on this machine.
    pub outputs: String,
    /// What happens to the place at the end, and whether it has happened.
    pub teardown: Teardown,
    /// The run's exit code, once it ended.
    pub exit_code: Option<i32>,
    /// The run record (`runplz --json` prints it on stdout), once the run ended.
    #[serde(default)]
    pub run: Option<crate::RunRecord>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Validated; nothing acquired yet.
    Starting,
    /// Running its steps.
    Running,
    /// The steps are over; releasing the place.
    TearingDown,
    /// Over, place released.
    Finished,
    /// A value this reader does not know.
    #[serde(other)]
    Unknown,
}

/// One step that ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepState {
    /// The step (`acquire`, `probe`, `sync`, `image`, `venv`, `run`, `collect`, `release`).
    pub step: String,
    /// Whether it worked.
    pub ok: bool,
}

/// What a later call needs to find the run's processes and files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Handle {
    /// The host rp-exec ran the job on (null: this machine).
    pub exec_host: Option<String>,
    /// The run id rp-exec ran the job under (`rp-exec --kill` takes it).
    pub exec_run_id: Option<String>,
    /// The repo's folder on the box, relative to its home.
    pub remote_workspace: Option<String>,
    /// `$RUNPLZ_OUT` on the box, relative to its home, collected back.
    pub remote_outputs: Option<String>,
    /// The docker container the job runs in, when it does.
    pub container: Option<String>,
    /// The Modal sandbox (`sb-...`) the job runs in, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_id: Option<String>,
    /// The Modal app the sandbox belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modal_app: Option<String>,
    /// The Brev box the run uses, written before `brev create` is called, so that a killed
    /// run names what may still be billing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The Slurm job id (`scancel` takes it), for a run on a Slurm cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job_id: Option<String>,
    /// The RunPod pod's id, once RunPod made it (its name, written before the create, is
    /// `instance`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_id: Option<String>,
}

/// The release of the run's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teardown {
    /// What release does: `none` (this machine), `close` (a connection to a box the user
    /// owns), later `stop` / `delete` for a box runplz created.
    pub policy: String,
    /// Whether it happened.
    pub status: TeardownStatus,
}

/// Whether the release happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeardownStatus {
    /// Not yet.
    Pending,
    /// Done.
    Done,
    /// Tried and failed: what it was to release may still be there (and billing).
    Failed,
    /// A value this reader does not know.
    #[serde(other)]
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_with_unknown_fields_and_values() {
        let text = r#"{"type":"run-state","version":1,"run_id":"r","job":"j","job_file":"/j.json",
            "backend":"ssh","target":"box","mode":"native","pid":1,"started_at":1,"updated_at":2,
            "status":"paused_by_a_future_version","current_step":null,"steps":[{"step":"sync","ok":true,"new":1}],
            "handle":{"exec_host":"box","exec_run_id":"r","remote_workspace":"runplz/j",
            "remote_outputs":"runplz-out/r","container":null,"slurm_job":7},
            "outputs":"/o","teardown":{"policy":"close","status":"done"},"exit_code":null,"extra":true}"#;
        let s: RunState = serde_json::from_str(text).unwrap();
        assert_eq!(s.status, Status::Unknown);
        assert_eq!(s.teardown.status, TeardownStatus::Done);
        assert_eq!(s.steps[0].step, "sync");
    }
}
