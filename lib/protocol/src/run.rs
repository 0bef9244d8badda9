//! `runplz`'s run record (`"type": "run"`): how one run of a job went, step by step, and how
//! it ended, as one tagged [`RunEnding`] instead of flags that overlap.
use crate::common::{Backend, Mode};
use serde::{Deserialize, Serialize};

/// A step of a run, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Get a place to run (this machine, a connection, later a created box).
    Acquire,
    /// Check the box's specs against the job.
    Probe,
    /// Ship the repo.
    Sync,
    /// Build the job's image.
    Image,
    /// Set up the venv and run the image's shell steps in it.
    Venv,
    /// The job itself.
    Run,
    /// Bring the outputs back.
    Collect,
    /// A step this reader does not know (read only; never written).
    #[serde(other)]
    Unknown,
}

impl Step {
    /// The name records and messages use.
    pub fn name(self) -> &'static str {
        match self {
            Step::Acquire => "acquire",
            Step::Probe => "probe",
            Step::Sync => "sync",
            Step::Image => "image",
            Step::Venv => "venv",
            Step::Run => "run",
            Step::Collect => "collect",
            Step::Unknown => "unknown",
        }
    }
}

/// How a run ended, tagged by `"kind"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunEnding {
    /// The job ran and exited with this code.
    Exited {
        /// The job's exit code.
        code: i32,
    },
    /// A signal that was not runplz's killed the job.
    Signaled {
        /// The signal's number.
        signal: i32,
    },
    /// The job ran past its deadline and was stopped.
    TimedOut {
        /// The signal that ended it, when known.
        signal: Option<i32>,
    },
    /// The job printed nothing for `seconds` and was stopped (exit 124).
    Inactive {
        /// The quiet time allowed.
        seconds: u64,
    },
    /// The run's cost cap (`--cost-cap-usd`) was reached: the job was stopped on the box, or
    /// never started because provisioning and set-up had already used the budget (exit 124).
    CostCap {
        /// The signal that ended the job, when known (`null` too when it never started).
        signal: Option<i32>,
    },
    /// runplz received this signal during `step` and stopped there.
    Interrupted {
        /// The signal runplz received.
        signal: i32,
        /// The step it stopped.
        step: Step,
    },
    /// `step` failed (a set-up step, a doomed probe, or contact with the job lost), so the
    /// job did not run or did not end normally; or `step` is `collect`: the job ended by
    /// itself with 0 but its outputs did not come back (`exit_code` stays the job's).
    Failed {
        /// The step that failed.
        step: Step,
    },
    /// The job was started and left running (`--detach`): `runplz status`, `tail`, `kill`
    /// and `collect` take it from here.
    Detached,
    /// An ending this reader does not know (read only; never written).
    #[serde(other)]
    Unknown,
}

/// How long one step took and whether it worked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    /// The step.
    pub step: Step,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// Files and bytes moved by a step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Moved {
    /// Where (outputs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
    /// Outputs only: the files in the outputs folder that this run did not bring (left by
    /// earlier runs; runplz never deletes local files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier: Option<Earlier>,
    /// Outputs only: symlinks in the box's outputs folder that pointed out of it and were
    /// left behind, by path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_links: Option<Vec<String>>,
}

/// Files already in an outputs folder that a collection did not bring.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earlier {
    /// How many.
    pub files: u64,
    /// Their paths under the folder, sorted, the first [`Earlier::MAX_PATHS`] of them.
    pub paths: Vec<String>,
}

impl Earlier {
    /// The most paths [`Earlier::paths`] lists.
    pub const MAX_PATHS: usize = 100;
}

/// The `run` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Where it ran.
    pub backend: Backend,
    /// The job's name.
    pub job: String,
    /// `RUNPLZ_RUN_ID` of this run.
    pub run_id: String,
    /// The box, when there is one.
    pub host: Option<String>,
    /// How the job ran there.
    pub mode: Mode,
    /// The job's own exit code; null when it never ran or never ended by itself.
    pub exit_code: Option<i32>,
    /// How the run ended.
    pub ending: RunEnding,
    /// Per-step timings, in order.
    pub steps: Vec<StepTime>,
    /// What went up.
    pub sync: Option<Moved>,
    /// What came back.
    pub outputs: Option<Moved>,
    /// The names of the variables passed to the job from runplz's environment (`pass_env`,
    /// `--env`) or an `--env-file`, sorted; never their values. Empty when none.
    #[serde(default)]
    pub env_passed: Vec<String>,
    /// `runplz brev`: the box the run used, how it was released and what it cost (absent
    /// for the other backends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<crate::Instance>,
    /// The content scan of the tree the run ships (masked findings, counts); null when the
    /// run was refused before it or `sync.secret_scan` is `off`.
    #[serde(default)]
    pub secret_scan: Option<crate::ScanRecord>,
    /// The tree the run shipped: fingerprint, git commit, dirty flag; null when the run
    /// was refused before it.
    #[serde(default)]
    pub tree: Option<crate::Tree>,
    /// Whole run, seconds.
    pub duration_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_are_tagged_and_unknowns_read() {
        let e = RunEnding::Interrupted {
            signal: 2,
            step: Step::Venv,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"kind":"interrupted","signal":2,"step":"venv"}"#
        );
        let r: RunRecord = serde_json::from_str(
            r#"{"backend":"slurm2","job":"j","run_id":"r","host":null,"mode":"docker","exit_code":null,
               "ending":{"kind":"preempted","by":"x"},"steps":[{"step":"provision","seconds":1.0,"ok":true,"x":1}],
               "sync":null,"outputs":null,"duration_seconds":1.5,"cost":3}"#,
        )
        .unwrap();
        assert_eq!(r.backend, Backend::Unknown);
        assert_eq!(r.ending, RunEnding::Unknown);
        assert_eq!(r.steps[0].step, Step::Unknown);
    }

    #[test]
    fn a_detached_ending_has_only_its_kind() {
        assert_eq!(
            serde_json::to_string(&RunEnding::Detached).unwrap(),
            r#"{"kind":"detached"}"#
        );
        let e: RunEnding = serde_json::from_str(r#"{"kind":"detached"}"#).unwrap();
        assert_eq!(e, RunEnding::Detached);
    }
}
