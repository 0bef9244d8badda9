//! Rules that hold only on one backend: a job can be valid for `local` and impossible on
//! Modal. `runplz <backend>` checks these at dispatch, before any side effect, so that no
//! box is created for a job that backend cannot run. A field a backend would silently ignore
//! is an error here, never a surprise later.

use super::spec::BrevMode;
use super::{Backend, Base, Job, JobError};

/// Modal runs a function for at most 24 hours (modal.com/docs/guide/timeouts).
const MODAL_MAX_TIMEOUT: i64 = 24 * 60 * 60;
/// Modal gives one container at most 8 GPUs (modal.com/docs/guide/gpu).
const MODAL_MAX_GPUS: i64 = 8;

/// Check the rules `backend` adds to a validated job. Apply command-line overrides to
/// `job.spec` first (for example `--native` sets `local.use_docker` to false), so that the
/// check sees what will actually run.
pub fn check_backend(job: &Job, backend: Backend) -> Result<(), JobError> {
    let fail = |path: &str, message: String| Err(job.error_at(path, message));
    let spec = &job.spec;
    let dockerfile = matches!(job.base, Base::Dockerfile(_));
    match backend {
        Backend::Local => {
            let native = spec.local.use_docker == Some(false);
            if native && dockerfile {
                return fail(
                    "image.from_dockerfile",
                    "found a Dockerfile image for a native local run (\"local.use_docker\": false or --native), expected \"from_registry\" with steps: a native run cannot build a Dockerfile".into(),
                );
            }
            if native && spec.local.network.is_some() {
                return fail(
                    "local.network",
                    "found a docker network for a native local run (\"local.use_docker\": false or --native), expected none: a native run does not use docker".into(),
                );
            }
        }
        Backend::Ssh => {
            if spec.ssh.use_docker == Some(false) && dockerfile {
                return fail(
                    "image.from_dockerfile",
                    "found a Dockerfile image with \"ssh.use_docker\": false, expected \"from_registry\" with steps: a native run cannot build a Dockerfile".into(),
                );
            }
            if spec.ssh.use_docker == Some(false) && spec.ssh.network.is_some() {
                return fail(
                    "ssh.network",
                    "found a docker network with \"ssh.use_docker\": false, expected none: a native run does not use docker".into(),
                );
            }
        }
        Backend::Brev => {
            let mode = spec.brev.mode.unwrap_or(BrevMode::Container);
            if mode == BrevMode::Container && dockerfile {
                return fail(
                    "image.from_dockerfile",
                    "found a Dockerfile image in brev container mode, expected \"from_registry\": a container-mode box starts from a registry image and runs the steps inline (or set \"brev.mode\": \"vm\")".into(),
                );
            }
            if mode == BrevMode::Vm && spec.brev.use_docker == Some(false) && dockerfile {
                return fail(
                    "image.from_dockerfile",
                    "found a Dockerfile image with \"brev.use_docker\": false, expected \"from_registry\" with steps: a native run cannot build a Dockerfile".into(),
                );
            }
        }
        Backend::Modal => {
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
        }
    }
    Ok(())
}
