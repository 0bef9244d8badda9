//! The runplz wire protocol: the exit codes every tool shares and the envelope every JSON
//! record on stdout carries. This crate does no I/O so that consumers (and the tests, which
//! pin the schema from outside) can depend on it without pulling in the tools.
//!
//! # Compatibility
//!
//! Every record is one JSON object with a `"type"` tag naming the record and a `"version"`
//! (currently [`VERSION`]). Within a version, records may gain new fields and enums may gain
//! new values; consumers must ignore what they do not know. Renaming or removing a field,
//! changing its type or meaning, or changing an exit code's meaning bumps the version.
#![deny(missing_docs)]

use serde::Serialize;

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
    /// A setup step (image build, venv, upload) failed before the job ran (runplz); the
    /// message names the step and ends with the last lines of its output.
    SetupFailed,
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
            Exit::SetupFailed => 5,
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
                "a setup step (upload, image build, venv) failed before the job ran",
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

#[cfg(test)]
mod tests {
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
