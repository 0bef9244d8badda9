//! `runplz`, the composer: validate the job and the flags, then call the same library
//! functions the rp-* tools wrap, in order, and print one run record. `steps.rs` decides
//! the steps, `execute.rs` carries them out, `plan.rs` prints them as rp-* calls.

mod execute;
mod plan;
pub(crate) mod steps;

use crate::backend::{self, Backend};
use crate::error::CliError;
use crate::job::{self, Job, Settings};
use crate::out;
use crate::state::RunState;
use anyhow::Result;
use runplz_protocol::Exit;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

pub(crate) use steps::Steps;

const TOOL: &str = "runplz";

/// Everything `runplz` was asked, as plain data (the CLI fills it).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The job file (`-` for stdin).
    pub job: PathBuf,
    /// Where outputs come back to.
    pub outputs_dir: Option<PathBuf>,
    /// `--var NAME=VALUE` values.
    pub vars: Vec<String>,
    /// `--vars-file`.
    pub vars_file: Option<PathBuf>,
    /// `--NAME=VALUE` words after the job file.
    pub params: Vec<String>,
    /// Print the plan instead of running.
    pub plan: bool,
    /// The backend and its own flags.
    pub backend: backend::Args,
}

/// How long one step took and whether it worked.
#[derive(Debug, Clone, Serialize)]
pub struct StepTime {
    /// The step's name (`probe`, `sync`, `image`, `run`, `collect`).
    pub step: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Whether it succeeded.
    pub ok: bool,
}

/// Files and bytes moved by a step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Moved {
    /// Where (outputs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// Files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
}

/// The run record printed on stdout at the end (`"type": "run"`).
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// `local` or `ssh`.
    pub backend: &'static str,
    /// The job's name.
    pub job: String,
    /// `RUNPLZ_RUN_ID` of this run.
    pub run_id: String,
    /// The box, for ssh.
    pub host: Option<String>,
    /// `docker` or `native`.
    pub mode: &'static str,
    /// The job's exit code (null when it never ran).
    pub exit_code: Option<i32>,
    /// Killed at the deadline.
    pub timed_out: bool,
    /// Stopped by this signal to runplz.
    pub interrupted: Option<i32>,
    /// The setup step that failed, if one did.
    pub failed_step: Option<String>,
    /// Per-step timings, in order.
    pub steps: Vec<StepTime>,
    /// What went up.
    pub sync: Option<Moved>,
    /// What came back.
    pub outputs: Option<Moved>,
    /// Whole run, seconds.
    pub duration_seconds: f64,
}

/// Step bookkeeping shared by the backends: timings, progress lines, and the record.
pub(crate) struct Tracker {
    start: Instant,
    /// Wall-clock start, for "written by this run".
    pub(crate) started_at: std::time::SystemTime,
    pub(crate) record: RunRecord,
    /// The run state on disk, rewritten as steps start and end.
    pub(crate) state: RunState,
}

impl Tracker {
    pub(crate) fn new(
        backend: &'static str,
        job: &Job,
        run_id: &str,
        host: Option<String>,
        mode: &'static str,
        state: RunState,
    ) -> Tracker {
        Tracker {
            start: Instant::now(),
            started_at: std::time::SystemTime::now(),
            state,
            record: RunRecord {
                backend,
                job: job.name().to_string(),
                run_id: run_id.to_string(),
                host,
                mode,
                exit_code: None,
                timed_out: false,
                interrupted: None,
                failed_step: None,
                steps: Vec::new(),
                sync: None,
                outputs: None,
                duration_seconds: 0.0,
            },
        }
    }

    /// Run one step, timing it and saying so on stderr.
    pub(crate) fn step<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.step_with_state(name, true, |_| f())
    }

    /// [`Tracker::step`] for a step that writes into the run state itself (acquire writes
    /// what it is about to create before it creates it). Progress lines only when `announce`.
    pub(crate) fn step_with_state<T>(
        &mut self,
        name: &str,
        announce: bool,
        f: impl FnOnce(&mut RunState) -> Result<T>,
    ) -> Result<T> {
        if announce {
            out::note(TOOL, format!("{name}..."));
        }
        self.save(|s| s.step_started(name));
        let t = Instant::now();
        let res = f(&mut self.state);
        let seconds = t.elapsed().as_secs_f64();
        self.save(|s| s.step_ended(name, res.is_ok()));
        self.record.steps.push(StepTime {
            step: name.to_string(),
            seconds: round(seconds),
            ok: res.is_ok(),
        });
        match &res {
            Ok(_) if !announce => {}
            Ok(_) => out::note(TOOL, format!("{name} done in {seconds:.1}s")),
            Err(e) => out::note(TOOL, format!("{name} failed after {seconds:.1}s: {e:#}")),
        }
        res
    }

    /// Update the run state; a failed write is a warning, never the end of the run.
    pub(crate) fn save(&mut self, f: impl FnOnce(&mut RunState) -> Result<()>) {
        if let Err(e) = f(&mut self.state) {
            out::warn(TOOL, format!("run state not written: {e:#}"));
        }
    }

    /// A Ctrl-C (or SIGTERM/SIGHUP) that arrived between steps, while no child ran to
    /// stop, stops the run here: exit 128+n and `interrupted` in the record.
    pub(crate) fn check_signal(&mut self, before: &str) -> Result<()> {
        match crate::process::take_pending_signal() {
            Some(sig) => {
                self.record.interrupted = Some(sig);
                Err(CliError::new(
                    Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                    format!("interrupted by signal {sig} before `{before}`"),
                ))
            }
            None => Ok(()),
        }
    }

    /// A setup step that must succeed: its failure becomes exit 5, naming the step; a
    /// signal that stopped it becomes 128+n.
    pub(crate) fn setup<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check_signal(name)?;
        self.step(name, f).map_err(|e| {
            self.record.failed_step = Some(name.to_string());
            let exit = match crate::error::exit_of(&e, Exit::SetupFailed) {
                Exit::Failed | Exit::ToolFailed => Exit::SetupFailed,
                Exit::Signal(n) => {
                    self.record.interrupted = Some(i32::from(n));
                    Exit::Signal(n)
                }
                other => other,
            };
            CliError::new(exit, format!("setup step `{name}` failed: {e:#}"))
        })
    }

    /// Print the record and pick the exit code.
    pub(crate) fn finish(mut self, err: Option<anyhow::Error>) -> Result<Exit> {
        self.record.duration_seconds = round(self.start.elapsed().as_secs_f64());
        let exit = match &err {
            Some(e) => crate::error::exit_of(e, Exit::ToolFailed),
            None => self.exit(),
        };
        self.save(|s| s.finished(i32::from(exit.code())));
        out::print_record("run", &self.record)?;
        match err {
            Some(e) => Err(e),
            None => Ok(exit),
        }
    }

    fn exit(&self) -> Exit {
        match (
            self.record.timed_out,
            self.record.interrupted,
            self.record.exit_code,
        ) {
            (true, _, _) => Exit::TimedOut,
            (_, _, Some(c)) => Exit::Code(c.clamp(0, 255) as u8),
            (_, Some(sig), None) => Exit::Signal(sig as u8),
            _ => Exit::ToolFailed,
        }
    }
}

pub(crate) fn round(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// A validated job plus its rendered command and settings, ready for a backend.
#[derive(Debug)]
pub struct Prepared {
    /// The job.
    pub(crate) job: Job,
    /// Its command, placeholders filled.
    pub(crate) run: job::Run,
    /// Where outputs come back to here.
    pub(crate) outputs: PathBuf,
    /// The backend's settings for it, with the flags' overrides.
    pub(crate) settings: Settings,
}

fn prepare(o: &RunOptions, b: &dyn Backend) -> Result<Prepared> {
    b.check_args()?;
    let mut job = job::load(&o.job)?;
    let settings = b.settings(&job);
    b.check_job(&job, &settings)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let overrides = job::vars::overrides(&o.vars, o.vars_file.as_deref(), &o.params)
        .map_err(CliError::usage)?;
    let run = job::vars::render(&job.spec.run, &job.spec.args, &overrides)
        .map_err(|m| CliError::usage(format!("{}: run: {m}", job.origin)))?;
    if let Some(d) = &o.outputs_dir {
        // From here on the job's outputs folder is the flag's, so the upload and the local
        // build context exclude it like the job's own (an absolute path replaces the root).
        let abs = std::env::current_dir()?.join(d);
        job.spec.outputs_dir = Some(abs.display().to_string());
    }
    let outputs = job.outputs_dir();
    if settings.max_inactivity.is_some() {
        out::warn(
            TOOL,
            format!(
                "{}.max_inactivity_seconds is not enforced yet; only the deadline (timeout / max_runtime_seconds) stops a quiet job",
                b.kind().name()
            ),
        );
    }
    Ok(Prepared {
        job,
        run,
        outputs,
        settings,
    })
}

/// `runplz <backend> JOB ...`: validate everything, then run (or print the plan).
pub fn main(o: &RunOptions) -> Result<Exit> {
    let b = o.backend.open();
    let p = prepare(o, b.as_ref())?;
    if o.plan {
        out::print_raw(&plan::script(o, b.as_ref(), &p)?)?;
        return Ok(Exit::Ok);
    }
    crate::process::install_signal_handlers();
    execute::run(o, b.as_ref(), &p)
}
