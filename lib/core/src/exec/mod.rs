//! rp-exec's logic: run one command (an argv, no shell) here or on an SSH box under a hard
//! wall-clock limit, and say how it ended. The command runs in its own process group (on a
//! box: its own session, started under `setsid`, its group id in a file); on timeout the
//! group gets TERM, a grace period, then KILL; when we get SIGINT/SIGTERM/SIGHUP it gets that
//! same signal (Ctrl-C reaches the job as INT), the grace, then KILL. Every job
//! process carries `RUNPLZ_RUN_ID`, and after the command ends or is killed whatever still
//! carries it (or, on a box, is still in the job's session) is killed too, so a grandchild
//! that left the group cannot survive unless it both called `setsid` and cleared its
//! environment: such a process cannot be attributed for sure, so it is named in a warning
//! with a `kill` command instead (see [`reap::escapers`]).
//! Exit codes follow timeout(1); see [`ExecReport::exit`].

pub mod envfile;
mod local;
pub mod reap;
mod remote;
mod remote_scripts;

pub use remote::{status as box_status, tail as box_tail, BoxRun};

use crate::error::CliError;
use crate::process::Signal;
use crate::ssh::Ssh;
use anyhow::Result;
use runplz_protocol::Exit;
use std::path::PathBuf;
use std::time::Duration;

pub use reap::RUN_ID_VAR;
pub use runplz_protocol::{Ending, ExecRecord};

/// What to run, where it runs, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOptions {
    /// The command and its arguments, run as is (write `bash -lc '...'` for a shell).
    pub argv: Vec<String>,
    /// The hard wall-clock limit; `None` runs until the command ends.
    pub timeout: Option<Duration>,
    /// Time between the stopping signal (TERM, or the one we received) and KILL.
    pub grace: Duration,
    /// The working directory, created when missing. `~` is the home directory and `~/x` is
    /// `x` in it (here and on a box alike; `~user` is refused); otherwise a relative path is
    /// relative to the home on a box (see [`crate::ssh::remote_path`]) and to our current
    /// directory here.
    pub workdir: Option<String>,
    /// Extra environment for the command, in order (keys are shell identifiers).
    pub env: Vec<(String, String)>,
    /// A file (here) the command's output is appended to, besides our stderr.
    pub log: Option<PathBuf>,
    /// A file (here) the command's output is appended to as it arrives, each line
    /// stamped with the time and its stream (a run's `driver.log`; see
    /// [`crate::process::stamped`]).
    pub stamped_log: Option<PathBuf>,
    /// The run id every job process carries as `RUNPLZ_RUN_ID` (see [`new_run_id`]).
    pub run_id: String,
    /// What the command reads on stdin (a Dockerfile, a set-up script, a build context);
    /// `None` gives it /dev/null.
    pub stdin: Option<Input>,
    /// The inactivity watch: what to do when the command prints nothing for a while.
    pub inactivity: Option<Inactivity>,
    /// The command's stdout goes to our stdout (the job's output where users look: rp-exec
    /// and runplz without `--json`); off, it goes to our stderr with its stderr, in order
    /// (set-up steps, and `--json`, where our stdout carries the record).
    pub pass_stdout: bool,
    /// On a box: a folder (as `workdir` is written) whose new files count as activity for
    /// the inactivity watch, besides output (runplz's `$RUNPLZ_OUT` there).
    pub watch_dir: Option<String>,
    /// On a box: the time left before the run's cost cap (`runplz --cost-cap-usd`), a second
    /// deadline the supervisor enforces there with its own reason (`cost_cap`); the earlier
    /// of it and `timeout` ends the job. Refused for a local run.
    pub cost_cap: Option<Duration>,
}

/// The inactivity watch of a run (job.json's `max_inactivity_seconds` and
/// `inactivity_action`). Here rp-exec sees every byte the command prints and watches; on a
/// box the run's supervisor watches there (the log's size and, with `watch_dir`, new files),
/// so the watch holds with rp-exec gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inactivity {
    /// How long the command may print nothing.
    pub after: Duration,
    /// Stop it then (as at a deadline: exit 124, ending `inactive`), rather than say what
    /// its processes are doing and let it run on.
    pub terminate: bool,
}

/// A command's standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// These bytes.
    Bytes(Vec<u8>),
    /// This file, streamed (here and on a box, where it follows the env block).
    File(PathBuf),
}

impl ExecOptions {
    /// Options for `argv` with no limit, a 5 s grace and a fresh run id.
    pub fn new(argv: Vec<String>) -> ExecOptions {
        ExecOptions {
            argv,
            timeout: None,
            grace: Duration::from_secs(5),
            workdir: None,
            env: Vec::new(),
            log: None,
            stamped_log: None,
            run_id: new_run_id(""),
            stdin: None,
            inactivity: None,
            pass_stdout: false,
            watch_dir: None,
            cost_cap: None,
        }
    }

    /// Check everything that can be checked before anything runs; errors are usage errors
    /// (exit 2) naming what was found and what was expected.
    pub fn validate(&self) -> Result<()> {
        let Some(program) = self.argv.first() else {
            crate::usage_bail!("no command given: expected `rp-exec [OPTIONS] -- CMD [ARGS]...`");
        };
        if program.is_empty() {
            crate::usage_bail!("the command is an empty string: expected a program name or path");
        }
        if program.starts_with('-') {
            crate::usage_bail!("the command {program:?} starts with '-': expected a program name or path (write ./{program} for a file)");
        }
        if let Some(a) = self.argv.iter().find(|a| a.contains('\0')) {
            crate::usage_bail!("argument {a:?} contains a NUL byte, which no program can receive");
        }
        for (k, v) in &self.env {
            if !crate::quote::is_identifier(k) {
                crate::usage_bail!("--env {k}=...: found the name {k:?}, expected a shell identifier ([A-Za-z_][A-Za-z0-9_]*)");
            }
            if k == RUN_ID_VAR {
                crate::usage_bail!(
                    "--env {RUN_ID_VAR}=...: rp-exec sets {RUN_ID_VAR} itself; use --run-id"
                );
            }
            if v.contains('\0') {
                crate::usage_bail!("--env {k}=...: the value contains a NUL byte, which an environment cannot hold");
            }
        }
        let env_bytes: usize = self.env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let max = crate::job::spec::MAX_ENV_BYTES;
        if env_bytes > max {
            crate::usage_bail!("--env: found {env_bytes} bytes of environment (names and values), expected at most {max} (128 KiB)");
        }
        check_run_id(&self.run_id)?;
        if let Some(t) = self.timeout {
            if t.is_zero() {
                crate::usage_bail!("--timeout: found 0, expected a positive number of seconds");
            }
        }
        let max = Duration::from_secs(crate::job::spec::MAX_SECONDS as u64);
        if self.inactivity.is_some_and(|i| i.after.is_zero()) {
            crate::usage_bail!("--max-inactivity: found 0, expected a positive number of seconds");
        }
        for (flag, d) in [
            ("--timeout", self.timeout),
            ("--grace", Some(self.grace)),
            ("--max-inactivity", self.inactivity.map(|i| i.after)),
        ] {
            if d.is_some_and(|d| d > max) {
                crate::usage_bail!(
                    "{flag}: found {} seconds, expected at most {} (30 days)",
                    d.unwrap_or_default().as_secs(),
                    max.as_secs()
                );
            }
        }
        if let Some(w) = &self.workdir {
            if let Err(why) = crate::ssh::remote_path(w) {
                crate::usage_bail!("--workdir: {why}");
            }
        }
        if let Some(log) = &self.log {
            let parent = log.parent().filter(|p| !p.as_os_str().is_empty());
            if parent.is_some_and(|p| !p.is_dir()) || log.is_dir() {
                crate::usage_bail!(
                    "--log: {} cannot be written: expected a file in an existing directory",
                    log.display()
                );
            }
        }
        Ok(())
    }
}

/// A run id must be usable in a file name and a grep pattern as is.
fn check_run_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        crate::usage_bail!(
            "--run-id: found {id:?}, expected 1-100 of [A-Za-z0-9._-], not starting with '.' or '-'"
        );
    }
    Ok(())
}

/// A fresh, unique run id: `name` (reduced to `[A-Za-z0-9._-]`, at most 40 bytes; may be
/// empty), the seconds since the epoch, our pid and 32 random bits, e.g.
/// `my-job-1732360000-4242-9f3c01ab`.
pub fn new_run_id(name: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let name: String = name
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '-',
        })
        .take(40)
        .collect();
    let name = name.trim_start_matches(['.', '-']);
    format!(
        "{name}{}{}-{}-{:08x}",
        if name.is_empty() { "" } else { "-" },
        now.as_secs(),
        std::process::id(),
        // fastrand seeds each thread from the OS's randomness.
        fastrand::u32(..)
    )
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecReport {
    /// The box (`[user@]host[:port]` as given), or `None` for a local run.
    pub host: Option<String>,
    /// The run id the job carried.
    pub run_id: String,
    /// The command as run.
    pub argv: Vec<String>,
    /// rp-exec's exit code: the command's own, 124 timed out, 126 cannot run, 127 not found,
    /// 128+n killed by signal n (or rp-exec interrupted by signal n).
    pub exit_code: u8,
    /// Stopped because the deadline passed (or, with `inactive`, the inactivity watch).
    pub timed_out: bool,
    /// Stopped by the inactivity watch after this long without output.
    pub inactive: Option<Duration>,
    /// With `timed_out`: the deadline that ended it was the run's cost cap.
    pub cost_cap: bool,
    /// The signal that killed the command, if one did (on a box: read from the shell's
    /// 128+n status, so a command that exits 130 by itself reads as signal 2).
    pub signal: Option<i32>,
    /// The signal rp-exec (or runplz) received that made it stop the command.
    pub interrupted: Option<i32>,
    /// Wall-clock time from start to end (including the ssh connection).
    pub duration: Duration,
    /// The log file, if any.
    pub log: Option<PathBuf>,
    /// The last lines (at most [`OUTPUT_TAIL_LINES`]) of the command's combined stdout and
    /// stderr (on a box, with whatever the wrapper said), for error messages such as "set-up
    /// failed: ...". Not part of the record.
    pub output_tail: String,
}

/// The load and the GPUs, for the inactivity watch's diagnosis (POSIX sh; the caller adds
/// the job's processes).
const DIAGNOSE: &str = "uptime 2>/dev/null || cat /proc/loadavg\nif command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total --format=csv,noheader 2>&1; fi";

/// How many lines of output [`ExecReport::output_tail`] keeps.
pub const OUTPUT_TAIL_LINES: usize = 20;

impl ExecReport {
    /// The exit code as an [`Exit`].
    pub fn exit(&self) -> Exit {
        match self.exit_code {
            0 => Exit::Ok,
            124 if self.timed_out => Exit::TimedOut,
            126 => Exit::CannotInvoke,
            127 => Exit::NotFound,
            c if c > 128 && (self.signal.is_some() || self.interrupted.is_some()) => {
                Exit::Signal(c - 128)
            }
            c => Exit::Code(c),
        }
    }

    /// How the command ended, for the record: the deadline first (a run that timed out and
    /// was then interrupted still timed out), then our own signal, then a foreign signal,
    /// else its own exit code.
    pub fn ending(&self) -> Ending {
        if let (true, Some(quiet)) = (self.timed_out, self.inactive) {
            Ending::Inactive {
                seconds: quiet.as_secs(),
                signal: self.signal,
            }
        } else if self.timed_out && self.cost_cap {
            Ending::CostCap {
                signal: self.signal,
            }
        } else if self.timed_out {
            Ending::TimedOut {
                signal: self.signal,
            }
        } else if let Some(signal) = self.interrupted {
            Ending::Interrupted {
                signal,
                ended_by: self.signal,
            }
        } else if let Some(signal) = self.signal {
            Ending::Signaled { signal }
        } else {
            Ending::Exited {
                code: i32::from(self.exit_code),
            }
        }
    }

    /// The record to print (the wire type lives in `runplz-protocol`).
    pub fn record(&self) -> ExecRecord {
        ExecRecord {
            host: self.host.clone(),
            run_id: self.run_id.clone(),
            argv: self.argv.clone(),
            exit_code: self.exit_code,
            ending: self.ending(),
            duration_seconds: (self.duration.as_secs_f64() * 1000.0).round() / 1000.0,
            log: self.log.as_ref().map(|p| p.display().to_string()),
        }
    }
}

/// Run the command: here when `ssh` is `None`, else on that box. Validates first. A
/// command that fails, is not found, times out or is interrupted is a normal report; an
/// error means rp-exec itself failed (exit 125: ssh could not connect, setup on the box
/// failed, the connection was lost) or the options were bad (exit 2).
pub fn run(opts: &ExecOptions, ssh: Option<&Ssh>) -> Result<ExecReport> {
    opts.validate()?;
    match ssh {
        None if opts.cost_cap.is_some() => crate::usage_bail!(
            "a cost cap is enforced by a box's supervisor; this run is local (no box, no price)"
        ),
        None => local::run(opts),
        Some(ssh) => remote::run(opts, ssh),
    }
}

/// Start the command on the box and return once it runs there (`--detach`): the box's
/// supervisor enforces the deadline and the inactivity watch, and the run folder
/// (`~/.runplz/runs/<run id>`) holds its output and end for [`box_status`] and [`box_tail`].
/// Validates first; a run id that already has a job there is refused (exit 2).
pub fn start(opts: &ExecOptions, ssh: &Ssh) -> Result<()> {
    opts.validate()?;
    remote::start(opts, ssh)
}

/// Stop a run from outside (runplz on Ctrl-C, or a cleanup): kill its process group (on a
/// box, read from the per-run file) and everything carrying its run id: TERM, `grace`, KILL.
/// On a box this is one ssh call, which also stops a run that has not started yet.
pub fn kill_run(ssh: Option<&Ssh>, run_id: &str, grace: Duration) -> Result<()> {
    kill_run_with(ssh, run_id, grace, Signal::SIGTERM)
}

/// [`kill_run`] sending `signal` first instead of TERM (INT, HUP or TERM; others read as
/// TERM): for passing on the Ctrl-C runplz got, so the job can save its work before the
/// grace ends in KILL.
pub fn kill_run_with(
    ssh: Option<&Ssh>,
    run_id: &str,
    grace: Duration,
    signal: Signal,
) -> Result<()> {
    check_run_id(run_id)?;
    let signal = crate::process::stop_signal(Some(signal as i32));
    match ssh {
        None => reap::kill_run_local_with(run_id, grace, signal).map(|_| ()),
        Some(ssh) => remote::kill(ssh, run_id, grace, signal),
    }
}

/// How the command ended, turned into rp-exec's exit code and the record's signal field.
fn outcome(
    status: Option<crate::process::Status>,
    timed_out: bool,
    interrupted: Option<i32>,
) -> (u8, Option<i32>) {
    use crate::process::Status;
    let signal = match status {
        Some(Status::Signaled(s)) => Some(s),
        _ => None,
    };
    let code = if timed_out {
        124
    } else if let Some(n) = interrupted {
        (128 + n).clamp(0, 255) as u8
    } else {
        match status {
            Some(s) => s.code().clamp(0, 255) as u8,
            None => Exit::ToolFailed.code(),
        }
    };
    (code, signal)
}

/// A tool failure (exit 125) with this message.
fn tool_failed(msg: impl Into<String>) -> anyhow::Error {
    CliError::new(Exit::ToolFailed, msg)
}

/// The short grace used to reap leftovers after the command ended: the user's grace, at
/// most one second.
fn reap_grace(grace: Duration) -> Duration {
    grace.min(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;

    fn opts(argv: &[&str]) -> ExecOptions {
        ExecOptions::new(argv.iter().map(|s| s.to_string()).collect())
    }

    fn usage_msg(o: &ExecOptions) -> String {
        let e = o.validate().unwrap_err();
        assert_eq!(exit_of(&e, Exit::Failed), Exit::Usage);
        format!("{e:#}")
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(usage_msg(&opts(&[])).contains("no command given"));
        assert!(usage_msg(&opts(&["-x"])).contains("starts with '-'"));
        let mut o = opts(&["true"]);
        o.env = vec![("MY-VAR".into(), "1".into())];
        assert!(usage_msg(&o).contains(r#"found the name "MY-VAR""#));
        o.env = vec![("RUNPLZ_RUN_ID".into(), "1".into())];
        assert!(usage_msg(&o).contains("use --run-id"));
        o.env = vec![("OK".into(), "$(x)\n'\"".into())];
        o.validate().unwrap();
        o.run_id = "a/b".into();
        assert!(usage_msg(&o).contains("--run-id: found \"a/b\""));
        o.run_id = "x".into();
        o.timeout = Some(Duration::ZERO);
        assert!(usage_msg(&o).contains("--timeout"));
        o.timeout = None;
        o.log = Some("/nonexistent/dir/log".into());
        assert!(usage_msg(&o).contains("--log: /nonexistent/dir/log"));
        o.log = None;
        o.workdir = Some("~other/x".into());
        assert!(usage_msg(&o).contains("--workdir: found \"~other/x\": `~user` is not understood"));
    }

    #[test]
    fn run_ids_are_unique_and_valid() {
        let a = new_run_id("");
        let b = new_run_id("");
        assert_ne!(a, b);
        check_run_id(&a).unwrap();
        let c = new_run_id("../My Job ünï");
        assert!(c.starts_with("My-Job--n--"), "{c}");
        check_run_id(&c).unwrap();
    }

    #[test]
    fn outcomes_follow_timeout_1() {
        use crate::process::Status;
        assert_eq!(outcome(Some(Status::Exited(3)), false, None), (3, None));
        assert_eq!(
            outcome(Some(Status::Signaled(9)), true, None),
            (124, Some(9))
        );
        assert_eq!(
            outcome(Some(Status::Signaled(15)), false, None),
            (143, Some(15))
        );
        assert_eq!(
            outcome(Some(Status::Signaled(15)), false, Some(2)),
            (130, Some(15))
        );
        assert_eq!(outcome(None, false, None), (125, None));
    }

    #[test]
    fn report_maps_to_exit() {
        let mut r = ExecReport {
            inactive: None,
            cost_cap: false,
            host: None,
            run_id: "x".into(),
            argv: vec!["a".into()],
            exit_code: 3,
            timed_out: false,
            signal: None,
            interrupted: None,
            duration: Duration::from_millis(1234),
            log: None,
            output_tail: "last words".into(),
        };
        assert_eq!(r.exit(), Exit::Code(3));
        r.exit_code = 137;
        r.signal = Some(9);
        assert_eq!(r.exit(), Exit::Signal(9));
        assert_eq!(r.exit().code(), 137);
        r.exit_code = 124;
        r.timed_out = true;
        assert_eq!(r.exit(), Exit::TimedOut);
        let rec = serde_json::to_string(&r.record()).unwrap();
        assert_eq!(
            rec,
            r#"{"host":null,"run_id":"x","argv":["a"],"exit_code":124,"ending":{"kind":"timed_out","signal":9},"duration_seconds":1.234,"log":null}"#
        );
        r.timed_out = false;
        assert_eq!(r.ending(), Ending::Signaled { signal: 9 });
        r.interrupted = Some(2);
        r.exit_code = 130;
        assert_eq!(
            r.ending(),
            Ending::Interrupted {
                signal: 2,
                ended_by: r.signal
            }
        );
        r.interrupted = None;
        r.signal = None;
        r.exit_code = 127;
        assert_eq!(r.ending(), Ending::Exited { code: 127 });
    }
}
