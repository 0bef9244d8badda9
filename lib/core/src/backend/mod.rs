//! The backends, one file each. A backend says in one place what the composer needs to know
//! about it: the programs it needs here (checked before any side effect), the rules it adds
//! to a valid job, its settings (with this invocation's overrides), its steps, how it
//! *acquires* a place to run (this machine, a box it connects to, later a box it creates) and
//! how it *releases* it (idempotent; the composer runs it once, shielded from Ctrl-C, on every
//! exit path). Adding a backend is a file here plus its command-line args; `run/` does not
//! grow a `match` on the backend.

mod brev;
mod local;
mod modal;
mod runpod;
mod slurm;
mod ssh;
pub(crate) use brev::human;

use crate::job::{Backend as Kind, Job, JobError, Settings};
use crate::state::RunState;
use crate::steps::{Prepared, Steps};
use anyhow::Result;

pub use brev::BrevArgs;
pub use local::LocalArgs;
pub use modal::ModalArgs;
pub use runpod::RunpodArgs;
pub use slurm::SlurmArgs;
pub use ssh::SshArgs;

/// A program a backend needs on this machine, with how to install it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// The name looked up on PATH.
    pub name: &'static str,
    /// The one-line fix when it is missing.
    pub hint: &'static str,
}

/// `ssh`, which every box backend needs.
pub const SSH: Program = Program {
    name: "ssh",
    hint: "install openssh-client (apt-get install openssh-client)",
};
/// `--cost-cap-usd` must be a positive number of US dollars.
pub(crate) fn check_cost_cap(usd: f64) -> Result<()> {
    if !(usd.is_finite() && usd > 0.0) {
        return Err(crate::error::CliError::usage(format!(
            "--cost-cap-usd: found {usd}, expected a positive number of US dollars; nothing was created"
        )));
    }
    Ok(())
}

/// `rsync`, for the repo up and the outputs back.
pub const RSYNC: Program = Program {
    name: "rsync",
    hint: "install rsync (apt-get install rsync)",
};

/// Where the job runs once a place is had.
#[derive(Debug)]
pub enum Place {
    /// This machine.
    Here,
    /// A box reached over ssh (one multiplexed connection for the whole run).
    Box(crate::ssh::Ssh),
    /// A Modal sandbox.
    Sandbox(crate::modal::steps::Sandbox),
}

impl Place {
    /// The ssh connection, for a box.
    pub fn ssh(&self) -> Option<&crate::ssh::Ssh> {
        match self {
            Place::Box(s) => Some(s),
            Place::Here | Place::Sandbox(_) => None,
        }
    }
}

/// How `--plan` gets a place to run: shell lines run first, and the flags every rp-* call
/// then takes to reach it.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanPlace {
    /// Lines that set variables or acquire the place (a `trap` for its release included).
    pub(crate) lines: Vec<String>,
    /// ` --host "$HOST"` for a box, empty here.
    pub(crate) host_flag: String,
    /// Whether the lines define `release_place`, which every EXIT trap of the plan must call.
    pub(crate) release: bool,
}

/// One backend, with this invocation's arguments.
pub(crate) trait Backend {
    /// Which backend.
    fn kind(&self) -> Kind;

    /// The job's settings here, with this invocation's overrides (e.g. `--native`).
    fn settings(&self, job: &Job) -> Settings {
        job.settings(self.kind())
    }

    /// The rules this backend adds to a valid job, on the settings that will run.
    fn check_job(&self, job: &Job, settings: &Settings) -> Result<(), JobError>;

    /// Settings of the job this backend accepts but does not act on (yet): each is said on
    /// stderr, so that nothing is silently ignored.
    fn unused_settings(&self, _job: &Job) -> Vec<String> {
        Vec::new()
    }

    /// Combinations of this invocation's flags that cannot work (usage errors).
    fn check_args(&self) -> Result<()> {
        Ok(())
    }

    /// The programs needed on this machine for a run with these settings.
    fn programs(&self, settings: &Settings) -> Vec<Program>;

    /// What the run does, in order.
    fn steps(&self, p: &Prepared) -> Result<Steps>;

    /// `--dry-run`: print what would be done as one record and return true (the run stops
    /// there, nothing touched); false for a backend without one or without the flag.
    fn dry_run(&self, _p: &Prepared) -> Result<bool> {
        Ok(false)
    }

    /// Read-only checks that need the world (an engine that answers, an image that exists),
    /// after the flags and the job and before the first side effect.
    fn preflight(&self, _p: &Prepared, _steps: &Steps) -> Result<()> {
        Ok(())
    }

    /// The target as the record names it (a host, an instance), if any.
    fn target(&self) -> Option<String> {
        None
    }

    /// Whether acquiring takes long enough to say so on stderr (creating a box does; opening
    /// a connection or using this machine does not).
    fn announces_acquire(&self) -> bool {
        false
    }

    /// Get a place to run. Anything that must be released later is written into `state`
    /// before it is created, so that a killed run leaves a record of it.
    fn acquire(&self, p: &Prepared, state: &mut RunState) -> Result<Place>;

    /// What [`Backend::release`] does, for the run state: `none`, `close` (a connection),
    /// later `stop` or `delete` (a box runplz created).
    fn release_policy(&self) -> &'static str {
        "none"
    }

    /// Give the place back. Idempotent; called once, after the steps, whatever happened,
    /// with every child it runs shielded from Ctrl-C.
    fn release(&self, place: &Place) -> Result<()>;

    /// The release after a detached job started (`--detach`): the job still needs its
    /// place, so by default only the connection goes; `runplz collect` releases it later.
    fn release_after_detach(&self, place: &Place) -> Result<()> {
        if let Some(ssh) = place.ssh() {
            ssh.close();
        }
        Ok(())
    }

    /// `--cost-cap-usd` and the price per hour (USD) of the place acquired, once it is: the
    /// run's deadline is cap / price hours from the start of provisioning. A backend that
    /// takes the flag refuses it (before anything is created) where no price is known.
    fn cost_cap(&self) -> Option<(f64, f64)> {
        None
    }

    /// `--max-runtime-minutes`: the run's own deadline, from the start of provisioning (the
    /// job's timeout still applies; the earlier one ends it, as `timed_out`).
    fn max_runtime(&self) -> Option<std::time::Duration> {
        None
    }

    /// The box the run used and what it cost, for the run record (after release).
    fn instance(&self) -> Option<runplz_protocol::Instance> {
        None
    }

    /// How the `--plan` script reaches its place.
    fn plan_place(&self, p: &Prepared) -> Result<PlanPlace>;
}

/// A backend's command-line arguments, as plain data (the CLI fills it).
#[derive(Debug, Clone)]
pub enum Args {
    /// `runplz local`.
    Local(LocalArgs),
    /// `runplz ssh`.
    Ssh(SshArgs),
    /// `runplz brev`.
    Brev(BrevArgs),
    /// `runplz modal`.
    Modal(ModalArgs),
    /// `runplz slurm`.
    Slurm(SlurmArgs),
    /// `runplz runpod`.
    Runpod(RunpodArgs),
}

impl Args {
    /// The backend these arguments are for.
    pub(crate) fn open(&self) -> Box<dyn Backend> {
        match self {
            Args::Local(a) => Box::new(local::Local(a.clone())),
            Args::Ssh(a) => Box::new(ssh::SshBackend(a.clone())),
            Args::Brev(a) => Box::new(brev::Brev::new(a.clone())),
            Args::Modal(a) => Box::new(modal::Modal::new(a.clone())),
            Args::Slurm(a) => Box::new(slurm::Slurm(a.clone())),
            Args::Runpod(a) => Box::new(runpod::Runpod::new(a.clone())),
        }
    }

    /// The backend's kind.
    pub fn kind(&self) -> Kind {
        self.open().kind()
    }
}

/// The rules `kind` adds to a valid job with its default settings (as written in the file).
/// A provisioning backend's `acquire`: the box `brought` up, or, when it could not be, its
/// `teardown` done here (the steps never ran, so the composer's release will not) and the
/// error as a set-up failure (5), as a failed probe is; bad input (2), no offer that fits
/// (6) and a signal (128+n) keep their codes. `what` names the place (`box`, `pod`).
pub(crate) fn acquired(
    brought: Result<crate::ssh::Ssh>,
    teardown: impl FnOnce() -> Result<()>,
    what: &str,
) -> Result<Place> {
    use crate::error::CliError;
    use runplz_protocol::Exit;
    match brought {
        Ok(ssh) => Ok(Place::Box(ssh)),
        Err(e) => {
            let e = match crate::error::exit_of(&e, Exit::ToolFailed) {
                Exit::Failed | Exit::ToolFailed => {
                    CliError::new(Exit::SetupFailed, format!("{e:#}"))
                }
                _ => e,
            };
            if let Err(te) = teardown() {
                return Err(e.context(format!("and releasing the {what} failed: {te:#}")));
            }
            Err(e)
        }
    }
}

pub fn check_job(job: &Job, kind: Kind) -> Result<(), JobError> {
    let settings = job.settings(kind);
    match kind {
        Kind::Local => local::rules(job, &settings),
        Kind::Ssh => ssh::rules(job, &settings),
        Kind::Brev => brev::rules(job, &settings),
        Kind::Modal => modal::rules(job, &settings),
        Kind::Slurm => slurm::rules(job, &settings),
        Kind::Runpod => runpod::rules(job, &settings),
    }
}

/// Rules any backend that builds an image or sets up a venv shares.
fn mode_rules(job: &Job, s: &Settings, section: &str, how: &str) -> Result<(), JobError> {
    use crate::job::{Base, Mode};
    if s.mode == Mode::Native && matches!(job.base, Base::Dockerfile(_)) {
        return Err(job.error_at(
            "image.from_dockerfile",
            format!("found a Dockerfile image for a native {section} run ({how}), expected \"from_registry\" with steps: a native run cannot build a Dockerfile"),
        ));
    }
    if s.mode == Mode::Native && s.network.is_some() {
        return Err(job.error_at(
            &format!("{section}.network"),
            format!("found a docker network for a native {section} run ({how}), expected none: a native run does not use docker"),
        ));
    }
    Ok(())
}
