//! `runplz brev`: a Brev box, picked and created (or a named one started), then run on as
//! over ssh, then stopped or deleted. Today only its job rules exist: the lifecycle is the
//! Brev issue's, and until then the backend refuses to run after validating the job.

use super::{Backend, Kind, Place, PlanPlace, Program};
use crate::job::{Base, Job, JobError, Mode, Settings};
use crate::state::RunState;
use crate::steps::{Prepared, Steps};
use anyhow::Result;
use std::path::PathBuf;

/// `runplz brev`'s own flags.
#[derive(Debug, Clone, Default)]
pub struct BrevArgs {
    /// The instance name.
    pub instance: Option<String>,
    /// `--ssh-config`.
    pub ssh_config: Option<PathBuf>,
}

pub(super) struct Brev(pub(super) BrevArgs);

pub(super) fn rules(job: &Job, s: &Settings) -> Result<(), JobError> {
    let dockerfile = matches!(job.base, Base::Dockerfile(_));
    if s.mode == Mode::InPlace && dockerfile {
        return Err(job.error_at(
            "image.from_dockerfile",
            "found a Dockerfile image in brev container mode, expected \"from_registry\": a container-mode box starts from a registry image and runs the steps inline (or set \"brev.mode\": \"vm\")",
        ));
    }
    super::mode_rules(job, s, "brev", "\"brev.use_docker\": false")
}

impl Backend for Brev {
    fn kind(&self) -> Kind {
        Kind::Brev
    }

    fn check_job(&self, job: &Job, settings: &Settings) -> Result<(), JobError> {
        rules(job, settings)
    }

    fn programs(&self, _s: &Settings) -> Vec<Program> {
        Vec::new()
    }

    fn steps(&self, p: &Prepared) -> Result<Steps> {
        Err(super::not_built(Kind::Brev, p))
    }

    fn target(&self) -> Option<String> {
        self.0.instance.clone()
    }

    fn acquire(&self, p: &Prepared, _state: &mut RunState) -> Result<Place> {
        Err(super::not_built(Kind::Brev, p))
    }

    fn release(&self, _place: &Place) -> Result<()> {
        Ok(())
    }

    fn plan_place(&self, _p: &Prepared) -> Result<PlanPlace> {
        Err(super::no_plan(Kind::Brev))
    }
}
