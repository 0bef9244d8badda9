//! `runplz modal`: a Modal Sandbox built from the same image, outputs back as a tarball.
//! Today only its job rules exist (Modal's limits); the run is the Modal issue's, and until
//! then the backend refuses to run after validating the job.

use super::{Backend, Kind, Place, PlanPlace, Program};
use crate::job::{Job, JobError, Settings};
use crate::state::RunState;
use crate::steps::{Prepared, Steps};
use anyhow::Result;

/// Modal runs a function for at most 24 hours (modal.com/docs/guide/timeouts).
const MODAL_MAX_TIMEOUT: i64 = 24 * 60 * 60;
/// Modal gives one container at most 8 GPUs (modal.com/docs/guide/gpu).
const MODAL_MAX_GPUS: i64 = 8;

/// `runplz modal`'s own flags (none yet: `--detach` comes with the Modal run).
#[derive(Debug, Clone, Default)]
pub struct ModalArgs {}

pub(super) struct Modal;

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
    if r.gpu.is_none() && r.min_gpu_memory.is_some() {
        return fail(
            "resources.min_gpu_memory",
            "found \"min_gpu_memory\" with no \"gpu\", expected a \"gpu\" model too: Modal picks GPUs by name only".into(),
        );
    }
    if let Some(n) = r.num_gpus.filter(|n| *n > MODAL_MAX_GPUS) {
        return fail(
            "resources.num_gpus",
            format!("found {n}, expected at most {MODAL_MAX_GPUS} GPUs on modal (one container's limit)"),
        );
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

    fn programs(&self, _s: &Settings) -> Vec<Program> {
        Vec::new()
    }

    fn steps(&self, p: &Prepared) -> Result<Steps> {
        Err(super::not_built(Kind::Modal, p))
    }

    fn acquire(&self, p: &Prepared, _state: &mut RunState) -> Result<Place> {
        Err(super::not_built(Kind::Modal, p))
    }

    fn release(&self, _place: &Place) -> Result<()> {
        Ok(())
    }

    fn plan_place(&self, _p: &Prepared) -> Result<PlanPlace> {
        Err(super::no_plan(Kind::Modal))
    }
}
