//! The operations verbs on a run started earlier: `runplz status`, `tail`, `kill` and
//! `collect RUN`. A run is found by its local run state (`$XDG_STATE_HOME/runplz/runs`),
//! by a run id, a unique prefix of one, or `last`; or, for a backend that tags what it
//! starts (Modal), by its run id alone. Each backend answers them through [`Operations`]
//! (`boxes` for this machine, ssh and brev; `modal::ops`). `ps` and `reconcile` look at
//! every run at once.

pub mod boxes;
mod place;
pub mod ps;
pub mod reconcile;

use crate::error::CliError;
use crate::state::{self, Record};
use anyhow::Result;
use runplz_protocol::{Exit, RunStatus};
use std::path::{Path, PathBuf};

/// A run the verbs act on: its id, and its local run state when there is one.
#[derive(Debug, Clone)]
pub struct RunRef {
    /// The run id.
    pub run_id: String,
    /// The run state this machine kept, if any.
    pub record: Option<Record>,
}

/// What the verbs do for one backend's runs.
pub trait Operations {
    /// Where the run stands now.
    fn status(&self, run: &RunRef) -> Result<RunStatus>;
    /// Print the job's output so far (on stderr, as during a run); `follow`: until it ends.
    fn tail(&self, run: &RunRef, follow: bool) -> Result<()>;
    /// Stop the run and whatever it holds.
    fn kill(&self, run: &RunRef) -> Result<RunStatus>;
    /// Bring the outputs back into `to`, then release what the run holds.
    fn collect(&self, run: &RunRef, to: &Path) -> Result<crate::collect::Collected>;

    /// [`Operations::tail`] from the last `lines` lines (`-n`); a backend that cannot
    /// says so and prints all of it.
    fn tail_n(&self, run: &RunRef, follow: bool, lines: Option<usize>) -> Result<()> {
        if lines.is_some() {
            crate::out::warn(
                "runplz",
                format!(
                    "-n is not supported for {} runs yet: printing the whole output",
                    run.record.as_ref().map_or("these", |r| r.backend.as_str())
                ),
            );
        }
        self.tail(run, follow)
    }

    /// [`Operations::collect`]; `force`: stop a job that still runs first. A backend
    /// without it says so and collects as [`Operations::collect`] does.
    fn collect_with(
        &self,
        run: &RunRef,
        to: &Path,
        force: bool,
    ) -> Result<crate::collect::Collected> {
        if force {
            crate::out::warn(
                "runplz",
                "--force is not supported for this backend: collecting as without it",
            );
        }
        self.collect(run, to)
    }
}

/// Which verb, with its arguments.
#[derive(Debug, Clone)]
pub enum Verb {
    /// `runplz status RUN`.
    Status,
    /// `runplz tail RUN [-f]`.
    Tail {
        /// Until the job ends.
        follow: bool,
        /// From the last N lines (`-n N`).
        lines: Option<usize>,
    },
    /// `runplz kill RUN [--grace SECS]`.
    Kill {
        /// Between TERM and KILL, over the run's own stop grace.
        grace: Option<std::time::Duration>,
    },
    /// `runplz collect RUN [--outputs-dir DIR]`.
    Collect {
        /// Where the outputs go (default: where the run said).
        outputs_dir: Option<PathBuf>,
        /// Stop a job that still runs first.
        force: bool,
    },
}

/// The backend that answers for `name`.
fn operations(name: &str) -> Result<Box<dyn Operations>> {
    match name {
        "modal" => Ok(Box::new(crate::modal::ops::ModalOps)),
        "slurm" => Ok(Box::new(crate::slurm::ops::SlurmOps)),
        "local" | "ssh" | "brev" | "runpod" => Ok(Box::new(boxes::BoxOps)),
        other => Err(CliError::usage(format!(
            "runplz status / tail / kill / collect do not support {other} runs yet"
        ))),
    }
}

/// A run id as given: a plain name, never a path.
fn check_id(run_id: &str) -> Result<()> {
    let ok = !run_id.is_empty()
        && run_id.len() <= 200
        && run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !run_id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "found run id {run_id:?}, expected a run id as runplz printed it (letters, digits, '-', '_', '.')"
        )))
    }
}

/// Run a verb on `run_id`. `backend`: the backend to ask when this machine kept no run
/// state for it (the run was started elsewhere, or its record was lost).
pub fn main(verb: &Verb, run: &str, backend: Option<&str>) -> Result<Exit> {
    let found = state::resolve(&state::runs_dir(), run)?;
    if found.is_none() {
        check_id(run)?;
    }
    let (path, record) = match found {
        Some(f) => (f.path, Some(f.record)),
        None => (state::runs_dir().join(format!("{run}.json")), None),
    };
    let run_id = record
        .as_ref()
        .map_or(run, |r| r.run_id.as_str())
        .to_string();
    let run_id = run_id.as_str();
    let name = match (&record, backend) {
        (Some(r), Some(b)) if r.backend != b => {
            return Err(CliError::usage(format!(
                "--backend {b}: run {run_id} ran on {} (its run state {})",
                r.backend,
                path.display()
            )))
        }
        (Some(r), _) => r.backend.clone(),
        (None, Some(b)) => b.to_string(),
        (None, None) => {
            return Err(CliError::usage(format!(
                "no run state for {run_id} in {}: pass --backend modal to find it by its tag",
                state::runs_dir().display()
            )))
        }
    };
    let ops = operations(&name)?;
    // Two collects of one run at once, or a kill beside a collect: the second waits for the
    // first, then reads what it left (outputs back, box released: it says so and moves
    // nothing; a kill finds the run over).
    let lock = match (verb, &record) {
        (Verb::Collect { .. } | Verb::Kill { .. }, Some(_)) => {
            Some(state::lock_run(&path, run_id, "runplz")?)
        }
        _ => None,
    };
    let record = match (&lock, record) {
        (Some(_), Some(_)) => Some(state::read(&path)?),
        (_, r) => r,
    };
    let run = RunRef {
        run_id: run_id.to_string(),
        record,
    };
    match verb {
        Verb::Status => {
            let s = ops.status(&run)?;
            crate::out::print_record("run-status", &s)?;
        }
        Verb::Tail { follow, lines } => ops.tail_n(&run, *follow, *lines)?,
        Verb::Kill { grace } => {
            let mut run = run;
            if let (Some(g), Some(r)) = (grace, run.record.as_mut()) {
                r.handle.stop_grace_seconds = Some(g.as_secs_f64());
            }
            if grace.is_some() && matches!(name.as_str(), "modal" | "slurm") {
                crate::out::warn(
                    "runplz",
                    format!("--grace is not used on {name}: it stops a job its own way"),
                );
            }
            let s = ops.kill(&run)?;
            crate::out::print_record("run-status", &s)?;
        }
        Verb::Collect { outputs_dir, force } => {
            let to = match (outputs_dir, run.record.as_ref()) {
                (Some(d), _) => std::path::absolute(d)?,
                (None, Some(r)) => PathBuf::from(&r.outputs),
                (None, None) => {
                    return Err(CliError::usage(
                        "no run state here to say where the outputs go: pass --outputs-dir DIR",
                    ))
                }
            };
            let got = ops.collect_with(&run, &to, *force)?;
            for w in got.warnings.iter().chain(&got.notes()) {
                crate::out::warn("runplz", w);
            }
            crate::out::print_record("collect", &got.record())?;
        }
    }
    Ok(Exit::Ok)
}
