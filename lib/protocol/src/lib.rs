//! The runplz wire protocol: the exit codes every tool shares, the envelope every JSON
//! record on stdout carries, and the records themselves ([`ExecRecord`], [`SyncRecord`],
//! [`CollectRecord`], [`ProbeRecord`], [`PickRecord`], [`ImageRecord`] with its [`ModalOp`]s)
//! and the enums they share ([`Backend`], [`Mode`], [`Ending`]). This crate does no I/O so that consumers
//! (and the tests, which pin the schema from outside) can depend on it without pulling in
//! the tools. These are wire types: the tools' own (domain) types live in `runplz-core` and
//! convert to them, so a refactor there cannot change a record by accident.
//!
//! Every record type derives `Serialize` and `Deserialize`. Reading is tolerant: fields this
//! crate does not know are ignored, and every enum has an `Unknown` value that any value it
//! does not know reads as (tools never write `Unknown`). [`read`] checks the tag and the
//! version of a line before decoding its fields.
//!
//! # Compatibility
//!
//! Every record is one JSON object with a `"type"` tag naming the record and a `"version"`
//! (currently [`VERSION`]). Within a version, records may gain new fields and enums may gain
//! new values; consumers must ignore what they do not know. Renaming or removing a field,
//! changing its type or meaning, or changing an exit code's meaning bumps the version.
//!
//! Version 1 is not frozen until the first release (0.1.0). Changes made to it before then,
//! without a bump because no released tool printed the old shape:
//!
//! - issue #7: the `exec` record's overlapping `"timed_out"`, `"signal"` and
//!   `"interrupted"` fields are replaced by one tagged `"ending"` ([`Ending`]):
//!   `{"kind":"exited","code":N}`, `{"kind":"signaled","signal":N}`,
//!   `{"kind":"timed_out","signal":N|null}` or
//!   `{"kind":"interrupted","signal":N,"ended_by":N|null}`.
//!   `"exit_code"` (rp-exec's own exit code) stays. The other records kept their shapes;
//!   their types moved here from the tools, and the Modal image ops became [`ModalOp`].
//! - issue #7: the `run` record's `"timed_out"`, `"interrupted"` and `"failed_step"` are
//!   replaced by one tagged `"ending"` ([`RunEnding`]); `"backend"`, `"mode"` and each step's
//!   `"step"` are enums ([`Backend`], [`Mode`], [`Step`]), and every run has an `acquire`
//!   step. `"exit_code"` stays the job's own code.
//! - issue #15: the `run` record gains `"env_passed"`, the sorted names (never the values)
//!   of the variables passed to the job from runplz's environment (the job's `pass_env`,
//!   `--env`) or an `--env-file`; `[]` when none. A new field, so no bump; readers of older
//!   records default it to `[]`.
//! - issue #15: the `run` record's `"outputs"` gains `"earlier"`
//!   (`{"files":N,"paths":[...]}`, the files already in the outputs folder that this run
//!   did not bring, at most 100 paths) and `"dropped_links"` (symlinks on the box that
//!   pointed out of the outputs folder and were left behind); both are absent from
//!   `"sync"`. A run whose job exited 0 but whose outputs did not come back ends
//!   `{"kind":"failed","step":"collect"}` with exit 5, `"exit_code"` still the job's 0. The
//!   `collect` record gains `"earlier"` and `"dropped_links"` of the same shapes.
//! - issue #9: exit codes 6 (no cloud credentials), 7 (credentials refused) and 8 (cloud
//!   unreachable); the `run` record's ending `{"kind":"detached"}` (a run started and left
//!   running, `runplz modal --detach`); the run state's `handle` gains `"sandbox_id"` and
//!   `"modal_app"`; the `modal-plan` record ([`ModalPlan`]) that `runplz modal --dry-run`
//!   prints, and the `run-status` record ([`RunStatus`]) of `runplz status`.
//! - issue #15: the inactivity watch adds the ending `{"kind":"inactive","seconds":N,
//!   "signal":N|null}` to the `exec` record and `{"kind":"inactive","seconds":N}` to the
//!   `run` record (exit 124, as a deadline).
//! - issue #8: the `run` record of `runplz brev` gains `"instance"` (the box: name, type,
//!   provider, price per hour, whether runplz created it, how it was released, billed
//!   seconds and cost); the run state's `"handle"` gains `"instance"`, written before the
//!   box is created. New fields, so no bump. New record: `box` (rp-box).
//! - issue #17: the new `scan` record ([`ScanRecord`], `rp-sync scan`), carried also as
//!   `"secret_scan"` by the `sync` record and the `run` record (`null` when the run shipped
//!   nothing), and exit code 4 ([`Exit::Refused`]) from rp-sync and runplz when the tree holds
//!   a secret; the `scan` record's `"fingerprint"` and the `sync` and `run` records'
//!   `"tree"` ([`Tree`]: fingerprint, git commit, dirty flag). New fields, so no bump.
//! - issue #17: the new `pack` record ([`PackRecord`], `rp-sync pack`: the shipped tree as
//!   one deterministic `tar.gz`, its URL, size, sha256 and fingerprint). A new record, so
//!   no bump.
//! - issue #8: the new `pick` record ([`PickRecord`], rp-pick) and exit code 6
//!   ([`Exit::NoMatch`]: no offer meets the constraints).
//! - issue #10: the new `ps` ([`PsEntry`]) and `orphan` ([`Orphan`]) records; the
//!   `run-status` record gains `host`, `step` and `failure`; the run state gains
//!   `ended_at`, `failure`, `tree`, `instance_type`, `price_per_hour`, `cost`, `collected`,
//!   step start and end times, and `handle.ssh`; each run keeps `<run id>.events.jsonl`
//!   ([`state::EventLine`]) and `<run id>.log` beside its state. New fields and records, so
//!   no bump.
//! - issue #10: the cost cap (`runplz brev|runpod --cost-cap-usd`) adds the ending
//!   `{"kind":"cost_cap","signal":N|null}` to the `exec` and `run` records (exit 124, as a
//!   deadline) and the failure reason `cost_cap` to the run state. New values, so no bump.
//!   The run state gains `cost_cap` ([`state::CostCap`]: usd, price_per_hour, deadline),
//!   and each run keeps `<run id>.driver.log` (the job's output, one timestamped line per
//!   line). New field and file, so no bump.
#![deny(missing_docs)]

mod brevbox;
mod collect;
mod common;
mod exec;
mod image;
mod modal;
mod ops;
mod pack;
mod pick;
mod probe;
mod run;
mod scan;
mod sync;

pub use brevbox::{BoxInfo, BoxRecord, Instance};
pub use collect::{CollectRecord, CollectedFile};
pub use common::{Backend, Mode};
pub use exec::{Ending, ExecRecord};
pub use image::{ImageRecord, ModalOp};
pub use modal::{ModalPlan, RunStatus};
pub use ops::{Orphan, PsEntry};
pub use pack::PackRecord;
pub use pick::{Hint, PickRecord, RankedOffer};
pub use probe::{Facts, Finding, Gpu, Level, ProbeRecord, Unreadable};
pub use run::{Earlier, Moved, RunEnding, RunRecord, Step, StepTime};
pub use scan::{ScanRecord, SecretFinding, Tree};
pub use sync::{LargestFile, SyncRecord};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The compatibility contract in a few sentences, for every man page's COMPATIBILITY
/// section (the crate docs say the same at more length).
pub const COMPATIBILITY: &str = "Every JSON record a tool prints carries \"type\" (the record's name) and \"version\" (now 1). Within a version, records may gain new fields and enums may gain new values: readers must ignore fields they do not know and treat a value they do not know as unknown (a tagged value such as rp-exec's \"ending\" included). Renaming or removing a field, changing its type or meaning, or changing an exit code's meaning bumps the version. The records' Rust types, which read this way, are in the runplz-protocol crate.";

pub mod state;

/// The protocol version stamped on every record.
pub const VERSION: u32 = 1;

/// Exit codes, shared by every tool. Documented in each man page's EXIT STATUS section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The step succeeded.
    Ok,
    /// The step ran and failed (a transfer broke, a remote command failed).
    Failed,
    /// Bad usage or bad input: nothing was done. The message names the file, JSON path and
    /// what was expected.
    Usage,
    /// A precondition check failed badly enough that starting would doom the run
    /// (rp-probe: a precondition below half its minimum).
    Precondition,
    /// A size or safety limit refused the input (rp-collect: archive too large or unsafe).
    Refused,
    /// No offer meets the constraints (rp-pick); the message says which constraint ruled
    /// out how many offers, and the nearest misses. Nothing was created.
    NoMatch,
    /// A setup step (image build, venv, upload) failed before the job ran (runplz); the
    /// message names the step and ends with the last lines of its output. Also runplz's
    /// exit when the job exited 0 but its outputs did not come back (ending: failed at
    /// `collect`).
    SetupFailed,
    /// A cloud backend found no credentials here (runplz modal: no Modal token); nothing
    /// was started.
    NoToken,
    /// A cloud backend refused the credentials it was given; nothing was started.
    AuthRejected,
    /// A cloud backend could not be reached (no network, or no answer within runplz's own
    /// deadline).
    Unreachable,
    /// The command ran past its deadline and was killed (as timeout(1)).
    TimedOut,
    /// The tool itself failed before or around the command (setup, ssh, a missing program).
    ToolFailed,
    /// The command was found but could not be invoked (as timeout(1)).
    CannotInvoke,
    /// The command was not found (as timeout(1)).
    NotFound,
    /// A command exited with its own non-zero code, passed through unchanged.
    Code(u8),
    /// The command was killed by signal n; the exit code is 128 + n.
    Signal(u8),
}

impl Exit {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Precondition => 3,
            Exit::Refused => 4,
            Exit::NoMatch => 6,
            Exit::SetupFailed => 5,
            Exit::NoToken => 7,
            Exit::AuthRejected => 8,
            Exit::Unreachable => 9,
            Exit::TimedOut => 124,
            Exit::ToolFailed => 125,
            Exit::CannotInvoke => 126,
            Exit::NotFound => 127,
            Exit::Code(c) => c,
            Exit::Signal(n) => 128u8.saturating_add(n),
        }
    }

    /// One line per fixed code, for man pages' EXIT STATUS sections.
    pub const TABLE: &'static [(u8, &'static str)] = &[
        (0, "success"),
        (1, "the step ran and failed"),
        (2, "bad usage or bad input; nothing was done"),
        (
            3,
            "a precondition failed badly enough to doom the run (rp-probe)",
        ),
        (4, "a size or safety limit refused the input (rp-collect)"),
        (
            5,
            "a setup step (upload, image build, venv) failed before the job ran (runplz)",
        ),
        (
            6,
            "no offer meets the constraints; nothing was created (rp-pick, runplz)",
        ),
        (
            7,
            "no credentials for the cloud backend; nothing was started (runplz)",
        ),
        (8, "the cloud backend refused the credentials (runplz)"),
        (9, "the cloud backend could not be reached (runplz)"),
        (124, "the command ran past its deadline and was killed"),
        (
            125,
            "the tool itself failed (setup, ssh, a missing program)",
        ),
        (126, "the command could not be invoked"),
        (127, "the command was not found"),
        (128, "+n: the command was killed by signal n"),
    ];
}

/// Exit-code documentation: each tool declares the codes it can return (an `EXIT_CODES`
/// list beside its command-line definition) and its man page's EXIT STATUS section lists
/// just those, one [`Exit::doc`] line each.
impl Exit {
    /// The EXIT STATUS line for this code: the code as printed and what it means. In a list
    /// of codes, [`Exit::Code`] stands for every code the command itself may exit with
    /// (printed `N`) and [`Exit::Signal`] for the whole 128+n range, whatever their value.
    pub fn doc(self) -> (&'static str, &'static str) {
        match self {
            Exit::Ok => ("0", "success"),
            Exit::Failed => ("1", "the step ran and failed"),
            Exit::Usage => ("2", "bad usage or bad input; nothing was done"),
            Exit::Precondition => (
                "3",
                "a precondition failed badly enough to doom the run; nothing was started",
            ),
            Exit::Refused => ("4", "a size or safety limit refused the input"),
            Exit::SetupFailed => (
                "5",
                "a setup step (upload, image build, venv) failed before the job ran, or (runplz) the job succeeded but its outputs did not come back",
            ),
            Exit::NoMatch => (
                "6",
                "no offer meets the constraints; nothing was created",
            ),
            Exit::NoToken => (
                "7",
                "no credentials for the cloud backend (a Modal token); nothing was started",
            ),
            Exit::AuthRejected => ("8", "the cloud backend refused the credentials"),
            Exit::Unreachable => (
                "9",
                "the cloud backend could not be reached within runplz's deadline",
            ),
            Exit::TimedOut => ("124", "the command ran past its deadline and was killed"),
            Exit::ToolFailed => (
                "125",
                "the tool itself failed (setup, ssh, a missing program)",
            ),
            Exit::CannotInvoke => ("126", "the command could not be invoked"),
            Exit::NotFound => ("127", "the command was not found"),
            Exit::Code(_) => ("N", "the command's own exit code, passed through unchanged"),
            Exit::Signal(_) => (
                "128+n",
                "signal n killed the command or interrupted the tool (130 for Ctrl-C)",
            ),
        }
    }
}

/// A record ready for stdout: `{"type": .., "version": 1, ..fields}`.
#[derive(Debug, Serialize)]
pub struct Record<'a, T: Serialize> {
    /// The record's tag, e.g. `"sync"`, `"exec"`.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// Always [`VERSION`].
    pub version: u32,
    /// The record's own fields, flattened beside the tag.
    #[serde(flatten)]
    pub data: &'a T,
}

impl<'a, T: Serialize> Record<'a, T> {
    /// Wrap `data` under the tag `kind`.
    pub fn new(kind: &'a str, data: &'a T) -> Self {
        Record {
            kind,
            version: VERSION,
            data,
        }
    }
}

/// A record type and the `"type"` tag it is printed under.
pub trait Tagged {
    /// The tag, e.g. `"exec"`.
    const TYPE: &'static str;
}

impl Tagged for RunRecord {
    const TYPE: &'static str = "run";
}
impl Tagged for ExecRecord {
    const TYPE: &'static str = "exec";
}
impl Tagged for SyncRecord {
    const TYPE: &'static str = "sync";
}
impl Tagged for CollectRecord {
    const TYPE: &'static str = "collect";
}
impl Tagged for ProbeRecord {
    const TYPE: &'static str = "probe";
}
impl Tagged for PickRecord {
    const TYPE: &'static str = "pick";
}
impl Tagged for ModalPlan {
    const TYPE: &'static str = "modal-plan";
}
impl Tagged for RunStatus {
    const TYPE: &'static str = "run-status";
}
impl Tagged for ImageRecord {
    const TYPE: &'static str = "image";
}
impl Tagged for BoxRecord {
    const TYPE: &'static str = "box";
}
impl Tagged for ScanRecord {
    const TYPE: &'static str = "scan";
}
impl Tagged for PackRecord {
    const TYPE: &'static str = "pack";
}

/// A record as read back: the tag, the version and the record's own fields (owned; the
/// reading twin of [`Record`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The record's tag.
    #[serde(rename = "type")]
    pub kind: String,
    /// The protocol version it was written with.
    pub version: u32,
    /// The record's own fields.
    #[serde(flatten)]
    pub data: T,
}

/// Why [`read`] refused a line.
#[derive(Debug)]
pub enum ReadError {
    /// Not JSON, or not the fields `T` needs.
    Json(serde_json::Error),
    /// A record of another type.
    WrongType {
        /// The tag wanted.
        expected: &'static str,
        /// The tag found.
        found: String,
    },
    /// A protocol version this reader does not understand.
    Version(u32),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Json(e) => write!(f, "not a valid record: {e}"),
            ReadError::WrongType { expected, found } => {
                write!(f, "expected a {expected:?} record, found {found:?}")
            }
            ReadError::Version(v) => write!(
                f,
                "record version {v} is not supported (this reader knows version {VERSION})"
            ),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Json(e) => Some(e),
            _ => None,
        }
    }
}

/// Read one record line as `T`: checks the tag and the version first, then decodes the
/// fields, ignoring those it does not know.
pub fn read<T: Tagged + DeserializeOwned>(line: &str) -> Result<T, ReadError> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: String,
        version: u32,
    }
    let head: Head = serde_json::from_str(line).map_err(ReadError::Json)?;
    if head.kind != T::TYPE {
        return Err(ReadError::WrongType {
            expected: T::TYPE,
            found: head.kind,
        });
    }
    if head.version != VERSION {
        return Err(ReadError::Version(head.version));
    }
    serde_json::from_str::<Envelope<T>>(line)
        .map(|e| e.data)
        .map_err(ReadError::Json)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod exit_tests {
    use super::*;

    #[test]
    fn codes_follow_timeout_1() {
        assert_eq!(Exit::TimedOut.code(), 124);
        assert_eq!(Exit::ToolFailed.code(), 125);
        assert_eq!(Exit::CannotInvoke.code(), 126);
        assert_eq!(Exit::NotFound.code(), 127);
        assert_eq!(Exit::Signal(9).code(), 137);
        assert_eq!(Exit::Code(3).code(), 3);
    }

    #[test]
    fn each_fixed_code_is_documented_under_its_own_number() {
        for e in [
            Exit::Ok,
            Exit::Failed,
            Exit::Usage,
            Exit::Precondition,
            Exit::Refused,
            Exit::SetupFailed,
            Exit::NoMatch,
            Exit::TimedOut,
            Exit::ToolFailed,
            Exit::CannotInvoke,
            Exit::NotFound,
        ] {
            assert_eq!(e.doc().0, e.code().to_string(), "{e:?}");
        }
        assert_eq!(Exit::Code(7).doc().0, "N");
        assert_eq!(Exit::Signal(2).doc().0, "128+n");
    }

    #[test]
    fn record_is_flat_and_tagged() {
        #[derive(Serialize)]
        struct D {
            files: u32,
        }
        let s = serde_json::to_string(&Record::new("sync", &D { files: 3 })).unwrap();
        assert_eq!(s, r#"{"type":"sync","version":1,"files":3}"#);
    }
}
