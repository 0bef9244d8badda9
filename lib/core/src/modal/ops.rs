//! `runplz status / tail / kill / collect` for a Modal run: the sandbox is found by the id
//! in the run state, else by its `runplz_run_id` tag (a running one), and asked through
//! the helper. A detached job keeps its output in `/runplz/log` and its exit code in
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
    let reply = helper::call(python, &req, limit, false, to)?;
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
