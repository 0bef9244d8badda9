//! `runplz status / tail / kill / collect` for a Modal run: the sandbox is found by the id
//! in the run state, else by its `runplz_run_id` tag (a running one), and asked through
//! the helper. `ps` and `reconcile` list runplz's running sandboxes (by its `created_by`
//! tag) and terminate one only after the helper checked its tags. A detached job keeps its output in `/runplz/log` and its exit code in
//! `/runplz/rc` inside the sandbox (see `helper.py`'s launcher).

use super::helper::{self, JobStdout, Reply};
use super::{archive_path, find_python, Deadlines, Request};
use crate::collect::Collected;
use crate::ops::{Operations, RunRef};
use anyhow::Result;
use runplz_protocol::RunStatus;
use std::path::Path;
use std::time::Duration;

/// Modal's answers to the verbs.
pub struct ModalOps;

fn sandbox_id(run: &RunRef) -> Option<String> {
    run.record
        .as_ref()
        .and_then(|r| r.handle.sandbox_id.clone())
}

/// Whether the local record says the run is over and its sandbox gone (an attached run
/// that finished): nothing to ask Modal.
fn finished_here(run: &RunRef) -> bool {
    run.record.as_ref().is_some_and(|r| {
        r.status == crate::state::Status::Finished && r.teardown.policy != "detach"
    })
}

fn ask(run: &RunRef, action: &'static str, limit: Option<Duration>) -> Result<Reply> {
    let python = find_python()?;
    let mut req = Request::about(action, &run.run_id, sandbox_id(run));
    if action == "collect" {
        req.archive = Some(archive_path(&run.run_id).to_string_lossy().into_owned());
        // A detached job's output is in its sandbox only, which goes with the collect: a
        // copy stays here. (An attached run's copy here is what streamed.)
        let detached = run
            .record
            .as_ref()
            .is_some_and(|r| r.teardown.policy == "detach");
        if detached {
            req.log = Some(
                crate::state::log_path(&run.run_id)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    ask_with(&python, req, limit)
}

fn ask_with(python: &Path, req: Request, limit: Option<Duration>) -> Result<Reply> {
    // Only `tail` has job output: the log, which is its data.
    let to = if req.action == "tail" {
        JobStdout::Stdout
    } else {
        JobStdout::Stderr
    };
    checked(helper::call(python, &req, limit, false, to)?)
}

/// The reply, or runplz's error for the helper's (or for runplz's interruption).
fn checked(reply: Reply) -> Result<Reply> {
    reply.interrupted.map_or(Ok(()), |sig| {
        Err(crate::error::CliError::new(
            runplz_protocol::Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig}"),
        ))
    })?;
    match reply.error() {
        Some(e) => Err(e),
        None => Ok(reply),
    }
}

fn short() -> Option<Duration> {
    let d = Deadlines::get();
    Some(Duration::from_secs(d.connect + d.call * 3 + 30))
}

fn status_of(run: &RunRef, reply: &Reply, event: &str) -> RunStatus {
    let e = reply.find(event).cloned().unwrap_or_default();
    RunStatus {
        run_id: run.run_id.clone(),
        backend: "modal".into(),
        job: run.record.as_ref().map(|r| r.job.clone()),
        state: e.state.unwrap_or_else(|| "terminated".into()),
        exit_code: e.code,
        sandbox_id: e.sandbox_id.or_else(|| sandbox_id(run)),
        host: None,
        step: None,
        failure: None,
    }
}

impl Operations for ModalOps {
    fn status(&self, run: &RunRef) -> Result<RunStatus> {
        if finished_here(run) {
            let r = run.record.as_ref().expect("finished_here");
            return Ok(RunStatus {
                run_id: run.run_id.clone(),
                backend: "modal".into(),
                job: Some(r.job.clone()),
                state: "finished".into(),
                exit_code: r.exit_code,
                sandbox_id: r.handle.sandbox_id.clone(),
                host: None,
                step: None,
                failure: r.failure.map(|f| f.name().to_string()),
            });
        }
        let reply = ask(run, "status", short())?;
        Ok(status_of(run, &reply, "status"))
    }

    fn tail_n(&self, run: &RunRef, follow: bool, lines: Option<usize>) -> Result<()> {
        // An attached run's output streamed through runplz, a collected one's came back
        // with its outputs: both are kept here, and outlive the sandbox.
        if let Some(r) = run.record.as_ref().filter(|r| {
            let attached = r.teardown.policy != "detach"
                && (r.status == crate::state::Status::Finished || crate::state::alive(r));
            attached || r.collected == Some(true)
        }) {
            return crate::ops::boxes::tail_local(r, follow, lines);
        }
        if lines.is_some() {
            crate::out::warn(
                "runplz",
                "-n is not supported for output read from a Modal sandbox: printing the whole output",
            );
        }
        self.tail(run, follow)
    }

    fn tail(&self, run: &RunRef, follow: bool) -> Result<()> {
        let python = find_python()?;
        let mut req = Request::about("tail", &run.run_id, sandbox_id(run));
        req.follow = follow;
        ask_with(&python, req, if follow { None } else { short() })?;
        Ok(())
    }

    fn kill(&self, run: &RunRef) -> Result<RunStatus> {
        let reply = ask(run, "kill", short())?;
        let mut s = status_of(run, &reply, "terminated");
        s.state = "terminated".into();
        crate::out::note(
            "runplz",
            format!(
                "sandbox {} terminated",
                s.sandbox_id.as_deref().unwrap_or("?")
            ),
        );
        Ok(s)
    }

    fn collect(&self, run: &RunRef, to: &Path) -> Result<Collected> {
        // Refused before anything is asked when the folder is unusable.
        if let Some(r) = run.record.as_ref().filter(|r| r.job_file != "-") {
            let root = Path::new(&r.job_file).parent().unwrap_or(Path::new("/"));
            crate::job::outputs::check_flag(root, to)
                .map_err(|m| crate::error::CliError::usage(format!("the outputs folder: {m}")))?;
        }
        let d = Deadlines::get();
        ask(
            run,
            "collect",
            Some(Duration::from_secs(d.connect + d.call * 12 + 30)),
        )?;
        let archive = archive_path(&run.run_id);
        let got = crate::collect::from_tar(&archive, to);
        let _ = std::fs::remove_file(&archive);
        got
    }
}

/// One of runplz's running sandboxes (tagged `created_by: runplz` in runplz's app), as
/// `runplz ps` and `reconcile` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurSandbox {
    /// `sb-...`.
    pub id: String,
    /// Its `runplz_run_id` tag.
    pub run_id: Option<String>,
    /// Its `runplz_job` tag.
    pub job: Option<String>,
    /// Its `runplz_created_at` tag, seconds since the epoch.
    pub created_at: Option<u64>,
}

/// Whether a Modal token is configured here, where the SDK looks: `MODAL_TOKEN_ID` and
/// `MODAL_TOKEN_SECRET`, or its config file (`MODAL_CONFIG_PATH`, else `~/.modal.toml`).
pub fn token_configured() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    if set("MODAL_TOKEN_ID") && set("MODAL_TOKEN_SECRET") {
        return true;
    }
    std::env::var_os("MODAL_CONFIG_PATH")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".modal.toml")))
        .is_some_and(|p| p.is_file())
}

/// The Python `ps` and `reconcile` ask Modal with; `Err`: why Modal is not looked at (one
/// line for stderr), when no token is configured or no Python has `modal`.
pub fn lister() -> std::result::Result<std::path::PathBuf, String> {
    if !token_configured() {
        return Err(
            "no Modal token here (MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, or ~/.modal.toml): no Modal sandboxes to look at"
                .into(),
        );
    }
    find_python().map_err(|e| format!("{e:#}: no Modal sandboxes looked at"))
}

/// runplz's running sandboxes (the helper never lists one without runplz's tag); `None`:
/// Modal says no token is configured after all.
pub fn our_sandboxes(python: &Path) -> Result<Option<Vec<OurSandbox>>> {
    let req = Request::about("list", "", None);
    // One tags call per sandbox after the list.
    let d = Deadlines::get();
    let limit = Some(Duration::from_secs(d.connect + d.call * 10 + 30));
    let reply = helper::call(python, &req, limit, false, JobStdout::Stderr)?;
    if reply.find("error").and_then(|e| e.kind.as_deref()) == Some("token_missing") {
        return Ok(None);
    }
    let reply = checked(reply)?;
    if reply.find("listed").is_none() {
        return Err(crate::error::CliError::new(
            runplz_protocol::Exit::ToolFailed,
            format!(
                "the Modal helper exited with {} before listing the sandboxes",
                reply.code
            ),
        ));
    }
    Ok(Some(
        reply
            .events
            .into_iter()
            .filter(|e| e.event == "sandbox")
            .filter_map(|e| {
                Some(OurSandbox {
                    id: e.sandbox_id?,
                    run_id: e.run_id,
                    job: e.job,
                    created_at: e.created_at,
                })
            })
            .collect(),
    ))
}

/// Terminate sandbox `id`, which the helper first checks carries runplz's tag and
/// `run_id` (else it is left alone and this fails).
pub fn reap(python: &Path, id: &str, run_id: &str) -> Result<()> {
    let req = Request::about("reap", run_id, Some(id.to_string()));
    let reply = checked(helper::call(
        python,
        &req,
        short(),
        true,
        JobStdout::Stderr,
    )?)?;
    match reply.find("terminated") {
        Some(_) => Ok(()),
        None => Err(crate::error::CliError::new(
            runplz_protocol::Exit::ToolFailed,
            format!(
                "the Modal helper exited with {} and did not say sandbox {id} was terminated",
                reply.code
            ),
        )),
    }
}
