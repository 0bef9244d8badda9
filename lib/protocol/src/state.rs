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
    /// Seconds since the epoch when the run ended (runplz, `kill` or `collect` ended it).
    #[serde(default)]
    pub ended_at: Option<u64>,
    /// Why the run failed, once it did (null while it runs and when it succeeded).
    #[serde(default)]
    pub failure: Option<Failure>,
    /// Whether the job ran past its deadline (or its inactivity limit, or the run's cost cap)
    /// and was stopped.
    #[serde(default)]
    pub timed_out: bool,
    /// What was shipped: tree fingerprint, git commit and dirty flag (written at the start).
    #[serde(default)]
    pub tree: Option<crate::Tree>,
    /// The box's instance type, once known (Brev).
    #[serde(default)]
    pub instance_type: Option<String>,
    /// US dollars per hour of the box, when known.
    #[serde(default)]
    pub price_per_hour: Option<f64>,
    /// `price_per_hour` × the billed time so far (the whole time once released), in US
    /// dollars; null when the price is unknown.
    #[serde(default)]
    pub cost: Option<f64>,
    /// Whether the outputs came back (null: not tried yet).
    #[serde(default)]
    pub collected: Option<bool>,
    /// The run's cost cap (`--cost-cap-usd`), once the box's price is known.
    #[serde(default)]
    pub cost_cap: Option<CostCap>,
    /// The job as it ran (its job.json, placeholders as written), every value of an `env`
    /// object masked as `"***"`.
    #[serde(default)]
    pub job_spec: Option<serde_json::Value>,
}

/// A run's cost cap: the budget, the price it was turned into a deadline with, and that
/// deadline (counted from the start of provisioning; setup steps and the job end at it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostCap {
    /// The budget, in US dollars (`--cost-cap-usd`).
    pub usd: f64,
    /// The box's US dollars per hour the deadline was computed with.
    pub price_per_hour: f64,
    /// Seconds since the epoch (to the millisecond) when the cap is reached; null when it
    /// never is (a free box).
    pub deadline: Option<f64>,
}

/// Why a run failed: one word a script can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The job file or the flags were refused (nothing ran).
    InvalidJob,
    /// No offer or no capacity for the resources asked.
    NoCapacity,
    /// A credential was missing or refused.
    Auth,
    /// The box or sandbox could not be had or prepared (create, start, probe, sync).
    Provision,
    /// The box did not answer ssh.
    SshUnreachable,
    /// The image (or the venv) could not be built.
    ImageBuild,
    /// The job ran and exited non-zero (or was killed by a signal of its own).
    UserCode,
    /// The job ran past its deadline.
    Timeout,
    /// The job printed nothing for too long and was stopped.
    Inactivity,
    /// The run's cost cap (`--cost-cap-usd`) was reached and the job was stopped (or never
    /// started).
    CostCap,
    /// Stopped by a signal to runplz or by `runplz kill`.
    Cancelled,
    /// runplz lost the job: the connection broke, or runplz itself was killed.
    LostContact,
    /// A value this reader does not know.
    #[serde(other)]
    Unknown,
}

impl Failure {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Failure::InvalidJob => "invalid_job",
            Failure::NoCapacity => "no_capacity",
            Failure::Auth => "auth",
            Failure::Provision => "provision",
            Failure::SshUnreachable => "ssh_unreachable",
            Failure::ImageBuild => "image_build",
            Failure::UserCode => "user_code",
            Failure::Timeout => "timeout",
            Failure::Inactivity => "inactivity",
            Failure::CostCap => "cost_cap",
            Failure::Cancelled => "cancelled",
            Failure::LostContact => "lost_contact",
            Failure::Unknown => "unknown",
        }
    }
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
    /// The step (`acquire`, `probe`, `sync`, `image`, `venv`, `run`, `collect`, `release`):
    /// the issue's phases provision (`acquire`), build (`image`, `venv`) and teardown
    /// (`release`) under the names the run record uses.
    pub step: String,
    /// Whether it worked.
    pub ok: bool,
    /// Seconds since the epoch (to the millisecond) when it started.
    #[serde(default)]
    pub started_at: Option<f64>,
    /// Seconds since the epoch when it ended.
    #[serde(default)]
    pub ended_at: Option<f64>,
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
    /// How the box was reached (names and paths, never a credential), so that `runplz
    /// status / tail / kill / collect` reach it again after runplz is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshHandle>,
    /// The job's stop grace in seconds (`stop_grace_seconds`, `--grace`): `runplz kill`
    /// gives it the same time between TERM and KILL (5 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_seconds: Option<f64>,
}

/// The ssh connection of a run, as it was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SshHandle {
    /// The target as given (`[user@]host[:port]` or an ssh-config alias).
    pub target: String,
    /// The job's `ssh.user`, used when the target names none.
    #[serde(default)]
    pub user: Option<String>,
    /// The job's `ssh.port`, used when the target names none.
    #[serde(default)]
    pub port: Option<u16>,
    /// The ssh config file passed as `-F` (absolute).
    #[serde(default)]
    pub config: Option<String>,
    /// The job's `ssh.ssh_key_path` (a path, never the key).
    #[serde(default)]
    pub key: Option<String>,
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

/// The `"type"` of each line of a run's `events.jsonl`.
pub const EVENT_TYPE: &str = "event";

/// One line of `$XDG_STATE_HOME/runplz/runs/<run id>.events.jsonl`: what happened to a run,
/// in order, appended as it happens (`{"type":"event","version":1,"run_id":..,"at":..,
/// "event":"step_start","step":"sync"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// Always [`EVENT_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The protocol version.
    pub version: u32,
    /// The run.
    pub run_id: String,
    /// Seconds since the epoch, to the millisecond.
    pub at: f64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// What happened, tagged by `"event"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run state was written (the run's first side effect).
    Created,
    /// A step (phase) started.
    StepStart {
        /// Its name.
        step: String,
    },
    /// A step ended.
    StepEnd {
        /// Its name.
        step: String,
        /// Whether it worked.
        ok: bool,
    },
    /// runplz warned (the line it printed on stderr, without the tool's name).
    Warning {
        /// The warning.
        message: String,
    },
    /// The run ended.
    Finished {
        /// runplz's exit code.
        exit_code: Option<i32>,
        /// Why it failed, if it did.
        failure: Option<Failure>,
    },
    /// `runplz kill` stopped the run's processes.
    Killed,
    /// `runplz collect` brought the outputs back (or tried).
    Collected {
        /// Whether they came.
        ok: bool,
    },
    /// An event this reader does not know.
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
