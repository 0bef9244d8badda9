//! `runplz modal`: a Modal Sandbox built from the same image (rp-image's modal chain, the
//! staged repo added last), the job run in it with its output streamed, `/out` back as a
//! tarball; or, with `--detach`, the job left running there. The work is in
//! [`crate::modal`]; this file is the backend's rules, steps, acquire and release.

use super::{Backend, Kind, Place, PlanPlace, Program};
use crate::job::{Job, JobError, Mode, Settings};
use crate::state::RunState;
use crate::steps::{Collect, Command, Launch, Prepared, Step, Steps, Workdir};
use anyhow::Result;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Modal runs a function for at most 24 hours (modal.com/docs/guide/timeouts).
const MODAL_MAX_TIMEOUT: i64 = 24 * 60 * 60;

/// `runplz modal`'s own flags.
#[derive(Debug, Clone, Default)]
pub struct ModalArgs {
    /// Return once the sandbox runs the job (`runplz status / tail / kill / collect`).
    pub detach: bool,
    /// Print what would be sent to Modal as one JSON record; touch nothing.
    pub dry_run: bool,
}

pub(super) struct Modal {
    pub(super) args: ModalArgs,
    /// The Python with `modal`, found by the preflight.
    python: OnceLock<PathBuf>,
}

impl Modal {
    pub(super) fn new(args: ModalArgs) -> Modal {
        Modal {
            args,
            python: OnceLock::new(),
        }
    }
}

pub(super) fn rules(job: &Job, _s: &Settings) -> Result<(), JobError> {
    let fail = |path: &str, message: String| Err(job.error_at(path, message));
    let spec = &job.spec;
    let r = &spec.resources;
    if let Some(d) = r.min_disk {
        return fail(
            "resources.min_disk",
            format!("found {d} GB, expected no \"min_disk\" on modal: Modal has no per-function disk size (remove it for modal runs, or run on brev, ssh or local)"),
        );
    }
    if let Err(e) = crate::modal::gpu::gpu_string(r) {
        return fail(e.path, e.message);
    }
    if let Some(t) = spec.timeout.filter(|t| *t > MODAL_MAX_TIMEOUT) {
        return fail(
            "timeout",
            format!("found {t}, expected at most {MODAL_MAX_TIMEOUT} seconds on modal (Modal's 24-hour limit)"),
        );
    }
    Ok(())
}

impl Backend for Modal {
    fn kind(&self) -> Kind {
        Kind::Modal
    }

    fn check_job(&self, job: &Job, settings: &Settings) -> Result<(), JobError> {
        rules(job, settings)
    }

    fn check_args(&self) -> Result<()> {
        Ok(())
    }

    fn programs(&self, _s: &Settings) -> Vec<Program> {
        // Python with `modal` is looked for in the preflight (a version check, not a name).
        Vec::new()
    }

    fn steps(&self, p: &Prepared) -> Result<Steps> {
        let mut list = vec![Step::Job {
            command: Command {
                workdir: Some(Workdir::At(crate::modal::workdir(p))),
                argv: crate::modal::command(&p.run),
                stdin: None,
            },
            launch: Launch::Sandbox {
                detach: self.args.detach,
            },
            cleanup: None,
        }];
        if !self.args.detach {
            list.push(Step::Collect(Collect::Tarball));
        }
        Ok(Steps {
            mode: Mode::Docker,
            list,
            outputs: p.outputs.clone(),
            tag: String::new(),
        })
    }

    fn dry_run(&self, p: &Prepared) -> Result<bool> {
        if !self.args.dry_run {
            return Ok(false);
        }
        let plan = crate::modal::plan(p, self.args.detach)?;
        crate::out::print_record("modal-plan", &plan)?;
        Ok(true)
    }

    fn preflight(&self, _p: &Prepared, _steps: &Steps) -> Result<()> {
        let py = crate::modal::find_python()?;
        let _ = self.python.set(py);
        Ok(())
    }

    fn announces_acquire(&self) -> bool {
        true
    }

    fn acquire(&self, p: &Prepared, state: &mut RunState) -> Result<Place> {
        let py = match self.python.get() {
            Some(py) => py.clone(),
            None => crate::modal::find_python()?,
        };
        Ok(Place::Sandbox(crate::modal::steps::acquire(
            p,
            state,
            &py,
            self.args.detach,
        )?))
    }

    fn release_policy(&self) -> &'static str {
        if self.args.detach {
            "detach"
        } else {
            "terminate"
        }
    }

    fn release(&self, place: &Place) -> Result<()> {
        match place {
            Place::Sandbox(sb) => crate::modal::steps::release(sb),
            _ => Ok(()),
        }
    }

    fn release_after_detach(&self, place: &Place) -> Result<()> {
        // The sandbox knows itself whether a detached job runs in it.
        self.release(place)
    }

    fn plan_place(&self, _p: &Prepared) -> Result<PlanPlace> {
        Err(crate::error::CliError::usage(
            "--plan: a modal run has no rp-* pipeline (the Python helper drives Modal); use --dry-run to see what would be sent",
        ))
    }
}
