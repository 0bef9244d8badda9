//! `runplz`, the composer: validate the job and the flags, then call the same library
//! functions the rp-* tools wrap, in order, and print one run record. `steps.rs` decides
//! the steps, `execute.rs` carries them out, `plan.rs` prints them as rp-* calls.

mod execute;
mod plan;
mod steps;

use crate::error::CliError;
use crate::job::{self, Backend, Job};
use crate::out;
use anyhow::Result;
use runplz_protocol::Exit;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOOL: &str = "runplz";

/// Everything `runplz` was asked, as plain data (the CLI fills it).
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Where to run.
    pub backend: Backend,
    /// The job file (`-` for stdin).
    pub job: PathBuf,
    /// ssh: the box.
    pub host: Option<String>,
    /// brev: the instance name.
    pub instance: Option<String>,
    /// Where outputs come back to.
    pub outputs_dir: Option<PathBuf>,
    /// local docker: reuse the last built image.
    pub no_build: bool,
    /// local: run natively.
    pub native: bool,
    /// `--var NAME=VALUE` values.
    pub vars: Vec<String>,
    /// `--vars-file`.
    pub vars_file: Option<PathBuf>,
    /// `--NAME=VALUE` words after the job file.
    pub params: Vec<String>,
    /// Print the plan instead of running.
    pub plan: bool,
    /// brev/modal: return after submitting.
    pub detach: bool,
    /// `--ssh-config`.
    pub ssh_config: Option<PathBuf>,
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
}

impl Tracker {
    pub(crate) fn new(
        backend: &'static str,
        job: &Job,
        run_id: &str,
        host: Option<String>,
        mode: &'static str,
    ) -> Tracker {
        Tracker {
            start: Instant::now(),
            started_at: std::time::SystemTime::now(),
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
        out::note(TOOL, format!("{name}..."));
        let t = Instant::now();
        let res = f();
        let seconds = t.elapsed().as_secs_f64();
        self.record.steps.push(StepTime {
            step: name.to_string(),
            seconds: round(seconds),
            ok: res.is_ok(),
        });
        match &res {
            Ok(_) => out::note(TOOL, format!("{name} done in {seconds:.1}s")),
            Err(e) => out::note(TOOL, format!("{name} failed after {seconds:.1}s: {e:#}")),
        }
        res
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
        out::print_record("run", &self.record)?;
        if let Some(e) = err {
            return Err(e);
        }
        Ok(
            match (
                self.record.timed_out,
                self.record.interrupted,
                self.record.exit_code,
            ) {
                (true, _, _) => Exit::TimedOut,
                (_, _, Some(c)) => Exit::Code(c.clamp(0, 255) as u8),
                (_, Some(sig), None) => Exit::Signal(sig as u8),
                _ => Exit::ToolFailed,
            },
        )
    }
}

pub(crate) fn round(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// The job's deadline: `timeout`, or the backend's `max_runtime_seconds`, whichever is shorter.
pub fn deadline(job: &Job, backend: Backend) -> Option<Duration> {
    let backend_max = match backend {
        Backend::Ssh => job.spec.ssh.max_runtime_seconds,
        Backend::Brev => job.spec.brev.max_runtime_seconds,
        _ => None,
    };
    [job.spec.timeout, backend_max]
        .into_iter()
        .flatten()
        .min()
        .map(|s| Duration::from_secs(s as u64))
}

/// Flag combinations that make no sense for a backend: usage errors before anything happens.
fn check_flags(o: &RunOptions) -> Result<()> {
    let b = o.backend;
    let name = b.name();
    let only = |set: bool, flag: &str, allowed: &[Backend]| -> Result<()> {
        if set && !allowed.contains(&b) {
            let names: Vec<&str> = allowed.iter().map(|b| b.name()).collect();
            return Err(CliError::usage(format!(
                "{flag} makes no sense for `runplz {name}` (only for {})",
                names.join(", ")
            )));
        }
        Ok(())
    };
    only(o.host.is_some(), "--host", &[Backend::Ssh])?;
    only(o.instance.is_some(), "--instance", &[Backend::Brev])?;
    only(o.no_build, "--no-build", &[Backend::Local])?;
    only(o.native, "--native", &[Backend::Local])?;
    only(o.detach, "--detach", &[Backend::Brev, Backend::Modal])?;
    if b == Backend::Ssh && o.host.is_none() {
        return Err(CliError::usage(
            "`runplz ssh` needs --host [user@]host[:port] (or an ssh-config alias)",
        ));
    }
    if o.native && o.no_build {
        return Err(CliError::usage(
            "--no-build reuses a docker image; it makes no sense with --native",
        ));
    }
    Ok(())
}

/// A validated job plus its rendered command, ready for a backend.
pub(crate) struct Prepared {
    pub(crate) job: Job,
    pub(crate) run: job::Run,
    pub(crate) outputs: PathBuf,
    pub(crate) deadline: Option<Duration>,
}

fn prepare(o: &RunOptions) -> Result<Prepared> {
    check_flags(o)?;
    let mut job = job::load(&o.job)?;
    if o.native {
        job.spec.local.use_docker = Some(false);
    }
    job::check_backend(&job, o.backend).map_err(|e| CliError::usage(e.to_string()))?;
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
    let deadline = deadline(&job, o.backend);
    let inactivity = match o.backend {
        Backend::Ssh => job.spec.ssh.max_inactivity_seconds,
        Backend::Brev => job.spec.brev.max_inactivity_seconds,
        _ => None,
    };
    if inactivity.is_some() {
        out::warn(
            TOOL,
            format!(
                "{}.max_inactivity_seconds is not enforced yet; only the deadline (timeout / max_runtime_seconds) stops a quiet job",
                o.backend.name()
            ),
        );
    }
    Ok(Prepared {
        job,
        run,
        outputs,
        deadline,
    })
}

/// `runplz <backend> JOB ...`: validate everything, then run (or print the plan).
pub fn main(o: &RunOptions) -> Result<Exit> {
    let p = prepare(o)?;
    if o.plan && matches!(o.backend, Backend::Brev | Backend::Modal) {
        return Err(CliError::usage(format!(
            "--plan: the {} backend is not built yet, so there is no plan to print",
            o.backend.name()
        )));
    }
    if o.plan {
        out::print_raw(&plan::script(o, &p)?)?;
        return Ok(Exit::Ok);
    }
    crate::process::install_signal_handlers();
    match o.backend {
        Backend::Local | Backend::Ssh => execute::run(o, &p),
        Backend::Brev | Backend::Modal => Err(CliError::new(
            Exit::ToolFailed,
            format!(
                "the {} backend is not built yet; {} is valid for it. Use `runplz ssh` with a box you own meanwhile",
                o.backend.name(),
                p.job.origin
            ),
        )),
    }
}
