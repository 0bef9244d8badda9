//! `runplz`, the composer: validate the job and the flags, then call the same library
//! functions the rp-* tools wrap, in order, and print one run record. `steps.rs` decides
//! the steps, `execute.rs` carries them out, `plan.rs` prints them as rp-* calls.

mod env;
mod execute;
mod plan;

use crate::backend::{self, Backend};
use crate::error::CliError;
use crate::job::{self, Job};
use crate::out;
use crate::state::RunState;
use crate::steps::Prepared;
use anyhow::Result;
use runplz_protocol::Exit;
use runplz_protocol::{RunEnding, RunRecord, Step, StepTime};
use std::path::PathBuf;
use std::time::Instant;

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
    /// `--env NAME` (the value from runplz's environment) and `--env NAME=VALUE`, in order.
    pub env: Vec<String>,
    /// `--env-file`: a JSON object of strings.
    pub env_file: Option<PathBuf>,
    /// `--allow-secret PATH[:LINE]`: findings of the content scan that are not secrets.
    pub allow_secrets: Vec<String>,
    /// Print the plan instead of running.
    pub plan: bool,
    /// `--json`: the run record on stdout, the job's stdout on stderr.
    pub json: bool,
    /// `--quiet`: only warnings, errors and the job's own output on stderr.
    pub quiet: bool,
    /// `--grace`: the job's stop grace, over its `stop_grace_seconds`.
    pub grace: Option<std::time::Duration>,
    /// The backend and its own flags.
    pub backend: backend::Args,
}

/// Step bookkeeping shared by the backends: timings, progress lines, and the record.
pub(crate) struct Tracker {
    start: Instant,
    /// Wall-clock start, for "written by this run".
    pub(crate) started_at: std::time::SystemTime,
    pub(crate) record: RunRecord,
    /// The step that failed last, for an ending nothing else set.
    failed: Option<Step>,
    /// The run state on disk, rewritten as steps start and end.
    pub(crate) state: RunState,
    /// Print the record on stdout at the end (`--json`).
    json: bool,
    /// When the run's cost cap is reached (`--cost-cap-usd`), once the place's price is known.
    pub(crate) cost_deadline: Option<Instant>,
    /// When the run's own runtime limit ends it (`--max-runtime-minutes`).
    pub(crate) runtime_deadline: Option<Instant>,
}

impl Tracker {
    pub(crate) fn new(
        backend: runplz_protocol::Backend,
        job: &Job,
        run_id: &str,
        host: Option<String>,
        mode: runplz_protocol::Mode,
        state: RunState,
        json: bool,
    ) -> Tracker {
        Tracker {
            json,
            start: Instant::now(),
            started_at: std::time::SystemTime::now(),
            state,
            failed: None,
            cost_deadline: None,
            runtime_deadline: None,
            record: RunRecord {
                backend,
                job: job.name().to_string(),
                run_id: run_id.to_string(),
                host,
                mode,
                exit_code: None,
                // Replaced as soon as the run ends one way or another (see `finish`).
                ending: RunEnding::Unknown,
                steps: Vec::new(),
                sync: None,
                outputs: None,
                env_passed: Vec::new(),
                instance: None,
                secret_scan: None,
                tree: None,
                duration_seconds: 0.0,
            },
        }
    }

    /// Run one step, timing it and saying so on stderr.
    pub(crate) fn step<T>(&mut self, name: Step, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.step_with_state(name, true, |_| f())
    }

    /// [`Tracker::step`] for a step that writes into the run state itself (acquire writes
    /// what it is about to create before it creates it). Progress lines only when `announce`.
    pub(crate) fn step_with_state<T>(
        &mut self,
        step: Step,
        announce: bool,
        f: impl FnOnce(&mut RunState) -> Result<T>,
    ) -> Result<T> {
        let name = step.name();
        // A live line on a terminal, except for the job's own run (its output is the user's).
        let shown = announce.then(|| crate::progress::begin(TOOL, name, step != Step::Run));
        self.save(|s| s.step_started(name));
        let t = Instant::now();
        let res = f(&mut self.state);
        let seconds = t.elapsed().as_secs_f64();
        self.save(|s| s.step_ended(name, res.is_ok()));
        if res.is_err() {
            self.failed = Some(step);
        }
        self.record.steps.push(StepTime {
            step,
            seconds: round(seconds),
            ok: res.is_ok(),
        });
        // A failure is said once, where it ends the run (or as a warning, for collect).
        if let Some(s) = shown {
            s.end(res.is_ok(), seconds);
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
    /// stop, stops the run here: exit 128+n and an `interrupted` ending in the record.
    pub(crate) fn check_signal(&mut self, before: Step) -> Result<()> {
        match crate::process::take_pending_signal() {
            Some(signal) => {
                self.record.ending = RunEnding::Interrupted {
                    signal,
                    step: before,
                };
                Err(CliError::new(
                    Exit::Signal(u8::try_from(signal).unwrap_or(0)),
                    format!("interrupted by signal {signal} before `{}`", before.name()),
                ))
            }
            None => Ok(()),
        }
    }

    /// The run ended this way (the first ending set wins: what follows is clean-up).
    pub(crate) fn end(&mut self, ending: RunEnding) {
        if self.record.ending == RunEnding::Unknown {
            self.record.ending = ending;
        }
    }

    /// A setup step that must succeed: its failure becomes exit 5, naming the step; a
    /// signal that stopped it becomes 128+n.
    pub(crate) fn setup<T>(&mut self, step: Step, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check_signal(step)?;
        self.step(step, f).map_err(|e| {
            let exit = match crate::error::exit_of(&e, Exit::SetupFailed) {
                Exit::Failed | Exit::ToolFailed => Exit::SetupFailed,
                other => other,
            };
            self.end(match exit {
                Exit::Signal(n) => RunEnding::Interrupted {
                    signal: i32::from(n),
                    step,
                },
                _ => RunEnding::Failed { step },
            });
            let after = self.record.steps.last().map_or(0.0, |s| s.seconds);
            CliError::new(
                exit,
                format!(
                    "setup step `{}` failed after {after:.1}s: {e:#}",
                    step.name()
                ),
            )
        })
    }

    /// Print the record and pick the exit code.
    pub(crate) fn finish(mut self, err: Option<anyhow::Error>) -> Result<Exit> {
        self.record.duration_seconds = round(self.start.elapsed().as_secs_f64());
        self.end(RunEnding::Failed {
            step: self.failed.unwrap_or(Step::Acquire),
        });
        let exit = match &err {
            Some(e) => crate::error::exit_of(e, Exit::ToolFailed),
            None => self.exit(),
        };
        let record = self.record.clone();
        let why = err.as_ref().map(|e| format!("{e:#}"));
        self.save(|s| s.finished(i32::from(exit.code()), &record, why.as_deref()));
        // A detached run has no output of its own: its record (the run id) is what it prints.
        if self.json || self.record.ending == RunEnding::Detached {
            out::print_record("run", &self.record)?;
        }
        match err {
            Some(e) => Err(e),
            None => Ok(exit),
        }
    }

    fn exit(&self) -> Exit {
        exit_for(self.record.ending, self.record.exit_code)
    }
}

/// runplz's exit for a run that ended this way.
pub fn exit_for(ending: RunEnding, exit_code: Option<i32>) -> Exit {
    {
        match (ending, exit_code) {
            (
                RunEnding::TimedOut { .. } | RunEnding::Inactive { .. } | RunEnding::CostCap { .. },
                _,
            ) => Exit::TimedOut,
            (RunEnding::Detached, _) => Exit::Ok,
            // The job exited 0 but its outputs did not come back: a script must see it.
            (
                RunEnding::Failed {
                    step: Step::Collect,
                },
                _,
            ) => Exit::SetupFailed,
            (_, Some(c)) => Exit::Code(c.clamp(0, 255) as u8),
            (RunEnding::Interrupted { signal, .. }, None) => {
                Exit::Signal(u8::try_from(signal).unwrap_or(0))
            }
            _ => Exit::ToolFailed,
        }
    }
}

pub(crate) fn round(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

fn prepare(o: &RunOptions, b: &dyn Backend) -> Result<Prepared> {
    b.check_args()?;
    let job = job::load(&o.job)?;
    let mut settings = b.settings(&job);
    if let Some(g) = o.grace {
        settings.grace = g;
    }
    b.check_job(&job, &settings)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let params = job::vars::bool_flags(&o.params, &job.spec.args).map_err(CliError::usage)?;
    let overrides =
        job::vars::overrides(&o.vars, o.vars_file.as_deref(), &params).map_err(CliError::usage)?;
    let run = job::vars::render(&job.spec.run, &job.spec.args, &overrides)
        .map_err(|m| CliError::usage(format!("{}: run: {m}", job.origin)))?;
    // Read and checked here, before any side effect: an unset name is exit 2.
    let passed = env::passed(o, &job)?;
    env::warn_credentials(&job);
    // `--outputs-dir` is relative to where runplz runs; the upload and the local build
    // context exclude it like the job's own.
    let outputs = match &o.outputs_dir {
        Some(d) => job::outputs::check_flag(&job.root, d)
            .map_err(|m| CliError::usage(format!("--outputs-dir: {m}")))?,
        None => job.outputs_dir(),
    };
    for w in b.unused_settings(&job) {
        out::warn(TOOL, w);
    }
    if let Some(w) = unused_grace(&job, o, &settings) {
        out::warn(TOOL, w);
    }
    // Checked here with the rest; the scan itself runs just before the first side effect.
    crate::scan::allow_for(Some(&job), &o.allow_secrets)?;
    // A sweep's members as one Slurm job array: each member's command rendered here.
    let array = match &o.backend {
        backend::Args::Slurm(a) => match &a.array {
            Some(f) => Some(crate::slurm::array::Array::load(
                f, &job, &overrides, &outputs,
            )?),
            None => None,
        },
        _ => None,
    };
    Ok(Prepared {
        job,
        run,
        outputs,
        settings,
        passed,
        array,
        allow_secrets: o.allow_secrets.clone(),
    })
}

/// Modal and Slurm stop a job their own way (a sandbox's terminate, `scancel` and the
/// cluster's KillWait), and in docker a deadline or `runplz kill` removes the container at
/// once: a stop grace given where it is not (fully) used is said so.
fn unused_grace(job: &job::Job, o: &RunOptions, s: &job::Settings) -> Option<String> {
    let what = match (o.grace, job.spec.stop_grace_seconds) {
        (Some(_), _) => "--grace",
        (None, Some(_)) => "stop_grace_seconds",
        (None, None) => return None,
    };
    let how = match s.backend {
        job::Backend::Modal => "is not used on modal: Modal terminates the sandbox",
        job::Backend::Slurm => {
            "is not used on slurm: Slurm's scancel and the cluster's KillWait stop the job"
        }
        _ if s.docker() => {
            "applies to Ctrl-C only in docker mode: a deadline or `runplz kill` removes the container at once"
        }
        _ => return None,
    };
    Some(format!("{what} {how}"))
}

/// `runplz <backend> JOB ...`: validate everything, then run (or print the plan).
pub fn main(o: &RunOptions) -> Result<Exit> {
    crate::progress::set_quiet(o.quiet);
    let b = o.backend.open();
    let p = prepare(o, b.as_ref())?;
    if b.dry_run(&p)? {
        return Ok(Exit::Ok);
    }
    if o.plan {
        out::print_raw(&plan::script(o, b.as_ref(), &p)?)?;
        return Ok(Exit::Ok);
    }
    crate::process::install_signal_handlers();
    execute::run(o, b.as_ref(), &p)
}
