//! The `exec` record rp-exec prints: the command, rp-exec's exit code, and how the command
//! ended, as one tagged [`Ending`] (which replaced the overlapping `timed_out`, `signal` and
//! `interrupted` fields; see the crate's Compatibility section).
use serde::{Deserialize, Serialize};

/// How a command ended, tagged by `"kind"`:
/// `{"kind":"exited","code":3}`, `{"kind":"signaled","signal":9}`,
/// `{"kind":"timed_out","signal":9}`, `{"kind":"interrupted","signal":2,"ended_by":null}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ending {
    /// It exited by itself with this code (126 when it could not be run, 127 when it was not
    /// found).
    Exited {
        /// The command's exit code.
        code: i32,
    },
    /// A signal that was not ours killed it. On a box this is read from the shell's 128+n
    /// status, so a command that exits 130 by itself reads as signal 2.
    Signaled {
        /// The signal's number.
        signal: i32,
    },
    /// It ran past its deadline and was stopped (TERM, the grace period, then KILL).
    TimedOut {
        /// The signal that ended it, or `null` when it exited by itself once asked to stop
        /// (or the box could not say).
        signal: Option<i32>,
    },
    /// It printed nothing for `seconds` (the inactivity watch's `terminate`) and was stopped
    /// as at a deadline (exit 124).
    Inactive {
        /// The quiet time allowed.
        seconds: u64,
        /// The signal that ended it, when known.
        signal: Option<i32>,
    },
    /// It was still running when the run's cost cap (`runplz --cost-cap-usd`: the cap over
    /// the box's price per hour, counted from provisioning) was reached, and was stopped as at
    /// a deadline (exit 124).
    CostCap {
        /// The signal that ended it, when known.
        signal: Option<i32>,
    },
    /// The tool received this signal (SIGINT, SIGTERM, SIGHUP) and stopped the command.
    Interrupted {
        /// The signal the tool received (and passed on to the command).
        signal: i32,
        /// The signal that ended the command, or `null` when it exited by itself once asked
        /// to stop (a job that saved its checkpoint on Ctrl-C); 9 when it outlived the grace.
        ended_by: Option<i32>,
    },
    /// An ending this reader does not know (read only; never written).
    #[serde(other)]
    Unknown,
}

/// The `exec` record (`"type": "exec"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRecord {
    /// The box (`[user@]host[:port]` as given), or `null` for a local run.
    pub host: Option<String>,
    /// The run id the job carried (`RUNPLZ_RUN_ID`).
    pub run_id: String,
    /// The command as run.
    pub argv: Vec<String>,
    /// rp-exec's own exit code (as timeout(1)): the command's code, 124 timed out, 126
    /// cannot run, 127 not found, 128+n killed by (or interrupted with) signal n.
    pub exit_code: u8,
    /// How the command ended.
    pub ending: Ending,
    /// Seconds from start to end, milliseconds precision.
    pub duration_seconds: f64,
    /// The log file the output was appended to, or `null`.
    pub log: Option<String>,
}
