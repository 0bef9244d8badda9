//! Modal: a small Python helper (`helper.py`, shipped inside the binary) drives one
//! `modal.Sandbox` per run and speaks JSON Lines on stdout; this module builds its requests
//! (the image chain, the gpu string, the env as a Secret), finds a Python with `modal`, runs
//! the helper under runplz's deadlines and turns its events and errors into runplz's.
//!
//! A run is four helper calls, one per step: `create` (acquire: the sandbox, idle, tagged
//! `created_by: runplz` with the run id, job name and creation time), `run` or `start` (the job, attached or detached), the
//! outputs as a tar.gz unpacked by [`crate::collect::from_tar`], and `kill` (release).
//! `ops.rs` is `runplz status / tail / kill / collect` for a detached run, and the
//! `list` / `reap` of runplz's sandboxes that `ps` and `reconcile` use.

pub mod gpu;
mod helper;
pub mod ops;
pub(crate) mod steps;

pub use helper::{find_python, Event};

use crate::job::Run;
use crate::steps::Prepared;
use anyhow::{Context, Result};
use runplz_protocol::{ModalOp, ModalPlan};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The Modal app every runplz sandbox is created in (found again by tag).
pub const APP: &str = "runplz";
/// The tag every sandbox runplz creates carries (`OURS` in helper.py): `ps` and
/// `reconcile` list only sandboxes that have it, and terminate only those.
pub const OURS: (&str, &str) = ("created_by", "runplz");
/// The `modal` versions the helper works with (`tags=` on create needs 1.4.3).
pub const REQUIREMENT: &str = "modal>=1.4.3,<2";
/// Where the repo is in the sandbox.
pub const WORKSPACE: &str = "/workspace";
/// Modal's longest lifetime for a sandbox (24 hours).
const MAX_LIFETIME: u64 = 24 * 60 * 60;
/// Sandbox lifetime beyond the job's deadline: time to bring `/out` back.
const COLLECT_MARGIN: u64 = 600;

/// How long a detached run's sandbox stays up after its job ended, waiting for `runplz
/// collect`: `RUNPLZ_MODAL_KEEP_SECONDS`, default an hour. Then it ends (and stops billing).
pub fn keep_after_job() -> u64 {
    std::env::var("RUNPLZ_MODAL_KEEP_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3600)
}

/// runplz's own deadlines for the helper's SDK calls, in seconds (the SDK waits about a
/// minute for a server it cannot reach). `RUNPLZ_MODAL_CONNECT_DEADLINE` shortens the
/// first for tests and slow links.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Deadlines {
    /// The first call (finding the app): how long an unreachable Modal takes to say so.
    pub connect: u64,
    /// Any other short call.
    pub call: u64,
    /// Creating the sandbox (a GPU one waits to be scheduled, up to ~21 minutes).
    pub create: u64,
}

impl Deadlines {
    pub fn get() -> Deadlines {
        let connect = std::env::var("RUNPLZ_MODAL_CONNECT_DEADLINE")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .unwrap_or(20);
        Deadlines {
            connect,
            call: 60.max(connect),
            create: 30 * 60,
        }
    }
}

/// One request to the helper. It carries the job's env values, so it goes on the helper's
/// stdin only and has no `Debug`.
#[derive(Serialize, Default)]
pub struct Request {
    pub action: &'static str,
    pub app: String,
    pub run_id: String,
    pub job: String,
    pub sandbox_id: Option<String>,
    pub image: Vec<ModalOp>,
    pub context_dir: Option<String>,
    pub gpu: Option<String>,
    pub cpu: Option<f64>,
    pub memory: Option<u64>,
    pub timeout: u64,
    pub sandbox_timeout: u64,
    pub workdir: String,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub archive: Option<String>,
    /// `collect`: the file here where the job's output is kept (its `<run id>.log`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    pub deadlines: Option<Deadlines>,
    pub follow: bool,
    pub force: bool,
    /// Detached: how long the sandbox stays up after the job ends (for `runplz collect`).
    pub keep_after_job: Option<u64>,
}

impl Request {
    /// A request about an existing run's sandbox (by id, else by tag).
    pub fn about(action: &'static str, run_id: &str, sandbox_id: Option<String>) -> Request {
        Request {
            action,
            app: APP.into(),
            run_id: run_id.into(),
            sandbox_id,
            deadlines: Some(Deadlines::get()),
            ..Request::default()
        }
    }
}

/// The job's deadline (the exec's timeout) and the sandbox's lifetime, whole seconds.
pub fn timeouts(p: &Prepared) -> (u64, u64) {
    let job = p
        .settings
        .deadline
        .map(|d| d.as_secs().max(1))
        .unwrap_or(MAX_LIFETIME - COLLECT_MARGIN);
    (job, (job + COLLECT_MARGIN).min(MAX_LIFETIME))
}

/// The command as the sandbox runs it: a shell string through `bash -lc`, an argv as is.
pub fn command(run: &Run) -> Vec<String> {
    match run {
        Run::Shell(s) => vec!["bash".into(), "-lc".into(), s.clone()],
        Run::Argv(v) => v.clone(),
    }
}

/// Where the command runs in the sandbox.
pub fn workdir(p: &Prepared) -> String {
    if p.job.workdir.as_os_str().is_empty() {
        WORKSPACE.into()
    } else {
        Path::new(WORKSPACE)
            .join(&p.job.workdir)
            .to_string_lossy()
            .into_owned()
    }
}

/// The image chain with local paths inside `context` (the staged repo, minus secrets),
/// and the repo itself added last at /workspace (`copy=False`: Modal's rule is that no
/// build step may follow it).
pub fn image_chain(p: &Prepared, context: &Path) -> Result<Vec<ModalOp>> {
    let job_dir = context.join(&p.job.job_rel);
    let mut ops = crate::image::modal(&p.job)?;
    for op in &mut ops {
        match op {
            ModalOp::AddLocalDir { local_path, .. } => {
                *local_path = job_dir.join(&*local_path).to_string_lossy().into_owned();
            }
            ModalOp::FromDockerfile { path } => {
                *path = job_dir.join(&*path).to_string_lossy().into_owned();
            }
            _ => {}
        }
    }
    ops.push(ModalOp::AddLocalDir {
        local_path: context.to_string_lossy().into_owned(),
        remote_path: WORKSPACE.into(),
        copy: false,
    });
    Ok(ops)
}

/// The names (sorted, once) and values of the job's environment.
pub fn env(p: &Prepared) -> BTreeMap<String, String> {
    crate::steps::run_env(p, false).into_iter().collect()
}

/// The request that creates this run's sandbox, with the image built from `context`.
pub fn create_request(p: &Prepared, run_id: &str, context: &Path, detach: bool) -> Result<Request> {
    let r = &p.job.spec.resources;
    let gpu = gpu::gpu_string(r).map_err(|e| anyhow::anyhow!("{}: {}", e.path, e.message))?;
    let (timeout, sandbox_timeout) = timeouts(p);
    Ok(Request {
        action: "create",
        app: APP.into(),
        run_id: run_id.into(),
        job: p.job.name().into(),
        image: image_chain(p, context)?,
        context_dir: Some(context.join(&p.job.job_rel).to_string_lossy().into_owned()),
        gpu,
        cpu: r.min_cpu,
        memory: gpu::memory_mb(r),
        timeout,
        sandbox_timeout,
        workdir: workdir(p),
        command: command(&p.run),
        env: env(p),
        deadlines: Some(Deadlines::get()),
        keep_after_job: detach.then(keep_after_job),
        ..Request::default()
    })
}

/// What `--dry-run` prints: the create request with the env's names only, and local paths
/// as the repo's own (a run sends a staged copy of it, minus secrets and caches).
pub fn plan(p: &Prepared, detach: bool) -> Result<ModalPlan> {
    let placeholder = p.job.ship_root.clone();
    let req = create_request(p, "", &placeholder, detach)?;
    let mut tags = BTreeMap::new();
    tags.insert("runplz_run_id".to_string(), None);
    tags.insert("runplz_job".to_string(), Some(p.job.name().to_string()));
    tags.insert(OURS.0.to_string(), Some(OURS.1.to_string()));
    tags.insert("runplz_created_at".to_string(), None);
    Ok(ModalPlan {
        app: req.app,
        gpu: req.gpu,
        cpu: req.cpu,
        memory_mb: req.memory,
        timeout: req.timeout,
        sandbox_timeout: req.sandbox_timeout,
        image: req.image,
        workdir: req.workdir,
        command: req.command,
        env_names: req.env.into_keys().collect(),
        tags,
        detach,
        keep_after_job: req.keep_after_job,
    })
}

/// Where a run's `/out` archive lands here: beside its run state, private.
pub fn archive_path(run_id: &str) -> PathBuf {
    crate::state::runs_dir().join(format!("{run_id}.out.tar.gz"))
}

/// Stage the repo minus the secret and cache excludes (rp-sync's own code) into a private
/// temp folder: Modal's build context is that folder, so a `.env` can never reach it. The
/// list is scanned again (what changed since the run's scan is read; the rest is in the
/// cache) and each file is copied as it was read, not linked: an edit to the repo while
/// Modal uploads cannot reach the context unscanned. Files over the scan's size limit
/// (never content-scanned) are hard-linked where they can be.
pub fn stage_context(p: &Prepared) -> Result<(tempfile::TempDir, crate::sync::Staged)> {
    use std::os::unix::fs::PermissionsExt;
    let excludes = crate::sync::job_excludes_to(&p.job, &p.job.ship_root, &p.outputs);
    let staged = crate::sync::stage(&p.job.ship_root, &excludes)?;
    let copier = crate::scan::Copier::for_run("runplz", &staged, &p.job, &p.allow_secrets)?;
    let dir = tempfile::Builder::new()
        .prefix("runplz-modal-")
        .tempdir()
        .context("creating the Modal build context folder")?;
    let mut buf = Vec::new();
    for f in &staged.files {
        let from = staged.root.join(&f.path);
        let to = dir.path().join(&f.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        if f.symlink {
            let target = std::fs::read_link(&from)
                .with_context(|| format!("reading the link {}", from.display()))?;
            std::os::unix::fs::symlink(&target, &to)
                .with_context(|| format!("linking {}", to.display()))?;
            continue;
        }
        match copier.read(&staged.root, f, &mut buf)? {
            crate::scan::Copied::Large(..) => {
                if std::fs::hard_link(&from, &to).is_err() {
                    std::fs::copy(&from, &to)
                        .with_context(|| format!("copying {}", from.display()))?;
                }
            }
            crate::scan::Copied::Bytes(md) => {
                // The copy keeps the file's mode and mtime, as a link would.
                use std::io::Write;
                use std::os::unix::fs::MetadataExt;
                let write = || -> std::io::Result<()> {
                    let mut o = std::fs::File::create_new(&to)?;
                    o.write_all(&buf)?;
                    o.set_modified(md.modified()?)?;
                    o.set_permissions(std::fs::Permissions::from_mode(md.mode() & 0o7777))
                };
                write().with_context(|| format!("writing {}", to.display()))?;
            }
        }
    }
    Ok((dir, staged))
}
