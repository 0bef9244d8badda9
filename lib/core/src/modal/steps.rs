//! A Modal run's steps, as the composer (`run/execute.rs`) carries them out: acquire creates
//! the sandbox, the job step runs (or launches) the job in it, collect unpacks `/out`'s
//! tarball, release terminates the sandbox (unless the run was detached).

use super::helper::{self, JobStdout, Reply};
use super::{archive_path, Deadlines, Request, APP};
use crate::error::CliError;
use crate::out;
use crate::run::Tracker;
use crate::state::RunState;
use crate::steps::Prepared;
use anyhow::Result;
use runplz_protocol::{Exit, Moved, RunEnding, Step as S};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const TOOL: &str = "runplz";

/// The place a Modal run has: its sandbox.
#[derive(Debug)]
pub struct Sandbox {
    /// `sb-...`.
    pub id: String,
    /// The Python that drives it.
    pub python: PathBuf,
    /// Set once a detached job is running in it: release leaves it be.
    pub keep: AtomicBool,
}

/// The job's deadline plus room for the SDK's calls around it.
fn run_limit(p: &Prepared) -> Duration {
    let d = Deadlines::get();
    Duration::from_secs(super::timeouts(p).1 + d.call * 12 + d.connect)
}

/// Create the run's sandbox (idle, tagged with the run id and the job's name) from the
/// job's image with the staged repo added last. The app is in the run state before the
/// create; the sandbox id right after.
pub fn acquire(p: &Prepared, state: &mut RunState, python: &Path, detach: bool) -> Result<Sandbox> {
    let run_id = state.record.run_id.clone();
    state.update(|r| r.handle.modal_app = Some(APP.into()))?;
    let (context, staged) = super::stage_context(p)?;
    for w in staged.all_warnings() {
        out::warn(TOOL, w);
    }
    out::note(
        TOOL,
        format!(
            "image context: {} files ({}); {} secret-shaped paths kept home",
            staged.files.len(),
            crate::sync::human_bytes(staged.bytes),
            staged.secrets.len()
        ),
    );
    let req = super::create_request(p, &run_id, context.path(), detach)?;
    let d = Deadlines::get();
    let reply = helper::call(
        python,
        &req,
        Some(Duration::from_secs(d.create + d.connect + 120)),
        false,
        JobStdout::Stderr,
    )?;
    let id = reply.find("created").and_then(|e| e.sandbox_id.clone());
    if let Some(id) = &id {
        state.update(|r| r.handle.sandbox_id = Some(id.clone()))?;
    }
    interrupted(&reply)?;
    if let Some(e) = reply.error() {
        return Err(e);
    }
    let id = id.ok_or_else(|| {
        CliError::new(
            Exit::ToolFailed,
            format!(
                "the Modal helper exited with {} and made no sandbox",
                reply.code
            ),
        )
    })?;
    Ok(Sandbox {
        id,
        python: python.to_path_buf(),
        keep: AtomicBool::new(false),
    })
}

fn interrupted(reply: &Reply) -> Result<()> {
    let sig = reply
        .find("interrupted")
        .and_then(|e| e.signal)
        .or(reply.interrupted);
    match sig {
        Some(sig) => Err(CliError::new(
            Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig}"),
        )),
        None => Ok(()),
    }
}

/// The job: attached (its output streamed, `/out` brought back as a tarball) or detached
/// (launched in the background in the sandbox; runplz returns).
pub(crate) fn job(
    t: &mut Tracker,
    p: &Prepared,
    sb: &Sandbox,
    run_id: &str,
    detach: bool,
    json: bool,
) -> Result<()> {
    t.check_signal(S::Run)?;
    t.save(|s| s.update(|r| r.handle.exec_run_id = Some(run_id.to_string())));
    let (timeout, sandbox_timeout) = super::timeouts(p);
    let archive = archive_path(run_id);
    let action = if detach { "start" } else { "run" };
    let req = Request {
        job: p.job.name().into(),
        timeout,
        sandbox_timeout,
        workdir: super::workdir(p),
        command: super::command(&p.run),
        archive: Some(archive.to_string_lossy().into_owned()),
        ..Request::about(action, run_id, Some(sb.id.clone()))
    };
    let reply = t.step(S::Run, || {
        let to = if json {
            JobStdout::Stderr
        } else {
            JobStdout::Stdout
        };
        // An attached job's output is kept here as it streams (a detached one's is not:
        // it never passes through runplz).
        let log = (!detach).then_some(run_id);
        helper::call_logged(&sb.python, &req, Some(run_limit(p)), false, to, log)
    });
    let reply = reply.inspect_err(|_| t.end(RunEnding::Failed { step: S::Run }))?;
    if let Err(e) = interrupted(&reply) {
        let signal = i32::from(crate::error::exit_of(&e, Exit::Signal(2)).code()) - 128;
        t.end(RunEnding::Interrupted {
            signal,
            step: S::Run,
        });
        return Err(e);
    }
    if let Some(e) = reply.error() {
        t.end(RunEnding::Failed { step: S::Run });
        return Err(e);
    }
    if detach {
        if reply.find("started").is_none() {
            t.end(RunEnding::Failed { step: S::Run });
            return Err(CliError::new(
                Exit::ToolFailed,
                "the Modal helper did not start the job",
            ));
        }
        sb.keep.store(true, Ordering::SeqCst);
        t.end(RunEnding::Detached);
        out::note(
            TOOL,
            format!("detached: the job runs in sandbox {} (run id {run_id}); follow it with `runplz status {run_id}`, `runplz tail -f {run_id}`, `runplz collect {run_id}` or `runplz kill {run_id}`", sb.id),
        );
        return Ok(());
    }
    let Some(ended) = reply.find("ended") else {
        t.end(RunEnding::Failed { step: S::Run });
        return Err(CliError::new(
            Exit::ToolFailed,
            format!(
                "the Modal helper exited with {} before the job ended",
                reply.code
            ),
        ));
    };
    let code = ended.code.unwrap_or(-1);
    match ended.ending.as_deref() {
        Some("exited") => {
            t.record.exit_code = Some(code);
            t.end(RunEnding::Exited { code });
        }
        Some("timed_out") | Some("sandbox_timeout") => {
            t.end(RunEnding::TimedOut { signal: None });
            let what = if ended.ending.as_deref() == Some("timed_out") {
                "the job ran past its deadline and was stopped"
            } else {
                "the sandbox ran past its lifetime and Modal stopped it"
            };
            out::warn(TOOL, format!("{what} (run id {run_id})"));
        }
        _ => {
            t.record.exit_code = Some(137);
            t.end(RunEnding::Signaled { signal: 9 });
            out::warn(
                TOOL,
                format!("sandbox {} was terminated while the job ran", sb.id),
            );
        }
    }
    Ok(())
}

/// Unpack the run's `/out` tarball into `to` (200 MiB warning, 256 MiB refusal), then
/// remove the tarball.
pub fn collect(run_id: &str, to: &Path) -> Result<Moved> {
    let archive = archive_path(run_id);
    if !archive.is_file() {
        anyhow::bail!("no outputs came back from the sandbox");
    }
    let got = crate::collect::from_tar(&archive, to);
    let _ = std::fs::remove_file(&archive);
    Ok(got?.report_moved(TOOL, to))
}

/// Terminate the sandbox (shielded from Ctrl-C), unless a detached job runs in it.
pub fn release(sb: &Sandbox) -> Result<()> {
    if sb.keep.load(Ordering::SeqCst) {
        return Ok(());
    }
    let req = Request::about("kill", "", Some(sb.id.clone()));
    let d = Deadlines::get();
    let reply = helper::call(
        &sb.python,
        &req,
        Some(Duration::from_secs(d.connect + d.call * 2 + 30)),
        true,
        JobStdout::Stderr,
    )?;
    if let Some(e) = reply.error() {
        return Err(anyhow::anyhow!(
            "{e:#}; sandbox {} stops at its own timeout, or stop it with `modal container stop {}`",
            sb.id,
            sb.id
        ));
    }
    out::note(TOOL, format!("sandbox {} terminated", sb.id));
    Ok(())
}
