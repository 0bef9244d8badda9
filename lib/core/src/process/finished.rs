//! How a child ended: its status, what it printed (captured, or the tail of the stream), and
//! whether a deadline, the quiet watch or runplz's own signal stopped it.

use crate::error::CliError;
use anyhow::Result;
use runplz_protocol::Exit;
use std::time::Duration;

/// How a finished child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl Status {
    /// Whether it exited 0.
    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }

    /// The shell-style code: the exit code, or 128 + signal.
    pub fn code(self) -> i32 {
        match self {
            Status::Exited(c) => c,
            Status::Signaled(s) => 128 + s,
        }
    }
}

/// The result of running a child to the end.
#[derive(Debug, Clone)]
pub struct Finished {
    /// How it ended.
    pub status: Status,
    /// Captured stdout (empty when streamed).
    pub stdout: Vec<u8>,
    /// Captured stderr, or the last bytes of the stream.
    pub stderr: Vec<u8>,
    /// Wall-clock time from start to exit.
    pub duration: Duration,
    /// Killed because the deadline passed, or (with [`Finished::inactive`]) because it was
    /// quiet too long.
    pub timed_out: bool,
    /// Stopped by [`super::Proc::quiet_stop`]: it printed nothing for too long.
    pub inactive: bool,
    /// Killed because runplz received this signal.
    pub interrupted: Option<i32>,
}

impl Finished {
    /// stdout as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// An error (exit 128+n) when runplz's own signal n stopped this child, so the caller
    /// stops too instead of carrying on with a half-done step.
    pub fn check_interrupted(&self) -> Result<()> {
        match self.interrupted {
            Some(sig) => Err(CliError::new(
                Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                format!("interrupted by signal {sig}"),
            )),
            None => Ok(()),
        }
    }

    /// The last `n` lines of stderr (or of the stream), for error messages.
    pub fn tail(&self, n: usize) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}
