//! `runplz local`: this machine is the place. The job runs in docker (the image built here
//! from a build context of the repo minus secrets) or natively in a venv (`--native`).
//! Nothing to acquire but a Docker engine that answers; nothing to release.

use super::{Backend, Kind, Place, PlanPlace, Program};
use crate::error::CliError;
use crate::job::{Job, JobError, Settings};
use crate::process::Proc;
use crate::state::RunState;
use crate::steps::{Prepared, Steps};
use anyhow::Result;
use runplz_protocol::Exit;
use std::time::Duration;

/// `runplz local`'s own flags.
#[derive(Debug, Clone, Default)]
pub struct LocalArgs {
    /// Reuse the image tagged by the last build instead of building.
    pub no_build: bool,
    /// Run natively in a venv instead of docker.
    pub native: bool,
}

pub(super) struct Local(pub(super) LocalArgs);

pub(super) fn rules(job: &Job, s: &Settings) -> Result<(), JobError> {
    super::mode_rules(job, s, "local", "\"local.use_docker\": false or --native")
}

impl Backend for Local {
    fn kind(&self) -> Kind {
        Kind::Local
    }

    fn settings(&self, job: &Job) -> Settings {
        let s = job.settings(Kind::Local);
        if self.0.native {
            s.native()
        } else {
            s
        }
    }

    fn check_job(&self, job: &Job, settings: &Settings) -> Result<(), JobError> {
        rules(job, settings)
    }

    fn check_args(&self) -> Result<()> {
        if self.0.native && self.0.no_build {
            return Err(CliError::usage(
                "--no-build reuses a docker image; it makes no sense with --native",
            ));
        }
        Ok(())
    }

    fn programs(&self, s: &Settings) -> Vec<Program> {
        if s.docker() {
            // The engine is checked by `preflight`, where the message can name --native.
            Vec::new()
        } else {
            vec![
                Program {
                    name: "python3",
                    hint: "install python3 and its venv module (apt-get install python3-venv)",
                },
                Program {
                    name: "bash",
                    hint: "install bash",
                },
            ]
        }
    }

    fn steps(&self, p: &Prepared) -> Result<Steps> {
        crate::steps::here(p, !self.0.no_build)
    }

    fn preflight(&self, p: &Prepared, steps: &Steps) -> Result<()> {
        if !p.settings.docker() {
            return Ok(());
        }
        check_local_docker(p)?;
        if self.0.no_build {
            let f = Proc::new("docker")
                .args(["image", "inspect", "--format", "{{.Id}}", &steps.tag])
                .run()?;
            if !f.status.success() {
                return Err(CliError::usage(format!(
                    "--no-build: there is no image {} yet; run once without --no-build",
                    steps.tag
                )));
            }
        }
        Ok(())
    }

    fn acquire(&self, _p: &Prepared, _state: &mut RunState) -> Result<Place> {
        Ok(Place::Here)
    }

    fn release(&self, _place: &Place) -> Result<()> {
        Ok(())
    }

    fn plan_place(&self, _p: &Prepared) -> Result<PlanPlace> {
        Ok(PlanPlace::default())
    }
}

/// Docker mode here needs the docker CLI and an engine; never fall back silently. Without
/// them the run cannot be set up: exit 5, as for any set-up step.
fn check_local_docker(p: &Prepared) -> Result<()> {
    let fixes = format!(
        "start a Docker engine, or run natively with `runplz local {} --native` (or \"local\": {{\"use_docker\": false}})",
        p.job.origin
    );
    if which::which("docker").is_err() {
        return Err(CliError::new(
            Exit::SetupFailed,
            format!("docker is not installed; {fixes}"),
        ));
    }
    let f = Proc::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .timeout(Some(Duration::from_secs(20)))
        .run()?;
    if !f.status.success() {
        return Err(CliError::new(
            Exit::SetupFailed,
            format!("docker cannot reach an engine ({}); {fixes}", f.tail(1)),
        ));
    }
    Ok(())
}
