//! `runplz status / tail / kill / collect` for a run on this machine, an SSH box or a Brev
//! box, from its run state alone: the handle says how the box was reached (the ssh target
//! and config; for Brev the box's name, reached again through a fresh ssh config), where the
//! run's copy of the code and its outputs are on the box, and its container. Each verb works
//! when the runplz that started the run is gone (`kill -9`), and says what it found when the
//! box is gone too. `collect` and `kill` finish the run's teardown (the box's `on_finish`)
//! and write the ending into the run state; both are safe to repeat.

use super::place::{brev_name, job_alive, reach, release, remove_on_box, stop_job, Reach};
use super::{Operations, RunRef};
use crate::collect::Collected;
use crate::error::CliError;
use crate::state::{self, Failure, Record, RunState, Status, TeardownStatus};
use anyhow::Result;
use runplz_protocol::{Exit, RunStatus};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOOL: &str = "runplz";

/// The verbs for runs on this machine and on boxes reached over ssh (ssh, brev).
pub struct BoxOps;

/// The run state a verb on a box needs (found by prefix or `last` already).
fn record(run: &RunRef) -> Result<&Record> {
    run.record.as_ref().ok_or_else(|| {
        CliError::usage(format!(
            "no run state for {} in {}: a run on a box is found by its run state only",
            run.run_id,
            state::runs_dir().display()
        ))
    })
}

/// The run state file of `run_id`.
pub(crate) fn state_path(run_id: &str) -> PathBuf {
    state::runs_dir().join(format!("{run_id}.json"))
}

/// Whether the run was started with `--detach` and not collected yet: its job runs (or
/// ran) under the box's supervisor, which keeps its output and end in `~/.runplz/runs/<id>`.
fn detached(r: &Record) -> bool {
    r.run
        .as_ref()
        .is_some_and(|x| x.ending == runplz_protocol::RunEnding::Detached)
        && r.collected != Some(true)
}

/// The box's supervisor folder of the run (see [`detached`]).
fn box_run_dir(r: &Record) -> String {
    format!(".runplz/runs/{}", super::place::exec_id(r))
}

/// The `run-status` record of `r`, in `state`.
pub(crate) fn status_of(r: &Record, state: &str) -> RunStatus {
    RunStatus {
        run_id: r.run_id.clone(),
        backend: r.backend.clone(),
        job: Some(r.job.clone()),
        state: state.into(),
        exit_code: r.exit_code,
        sandbox_id: None,
        host: r.handle.instance.clone().or_else(|| r.target.clone()),
        step: r.current_step.clone().or_else(|| {
            r.steps
                .iter()
                .rev()
                .find(|s| s.step != "release")
                .map(|s| s.step.clone())
        }),
        failure: r.failure.map(|f| f.name().to_string()),
    }
}

/// Write the ending a verb gave the run: over, with `failure` unless it already had one.
fn finish(st: &mut RunState, failure: Failure, collected: Option<bool>) {
    let now = state::now_f() as u64;
    let res = st.update(|r| {
        if r.status != Status::Finished {
            r.failure = r.failure.or(Some(failure));
            r.ended_at = Some(now);
        }
        r.status = Status::Finished;
        r.current_step = None;
        if collected.is_some() {
            r.collected = collected;
        }
        // What the box cost, from its start until now (the release just happened).
        if let (Some(p), Some(end)) = (r.price_per_hour, r.ended_at) {
            if r.cost.is_none() && brev_name(r).is_some() {
                let secs = end.saturating_sub(r.started_at) as f64;
                r.cost = Some((p * secs / 3600.0 * 100.0).round() / 100.0);
            }
        }
    });
    if let Err(e) = res {
        crate::out::warn(TOOL, format!("run state not written: {e:#}"));
    }
    st.event(state::Event::Finished {
        exit_code: st.record.exit_code,
        failure: st.record.failure,
    });
}

/// The outputs folder of a run, checked as a run checks it before writing.
fn outputs_dir(r: &Record, to: &Path) -> Result<PathBuf> {
    if r.job_file == "-" {
        return Ok(to.to_path_buf());
    }
    let root = Path::new(&r.job_file).parent().unwrap_or(Path::new("/"));
    crate::job::outputs::check_flag(root, to)
        .map_err(|m| CliError::usage(format!("the outputs folder: {m}")))
}

impl Operations for BoxOps {
    fn status(&self, run: &RunRef) -> Result<RunStatus> {
        let r = record(run)?;
        if detached(r) {
            // The box's supervisor says how it stands, and how it ended.
            if let Ok(Reach::Box(ssh, _cfg)) = reach(r) {
                let got = crate::exec::box_status(&ssh, super::place::exec_id(r));
                ssh.close();
                return Ok(match got {
                    Ok(crate::exec::BoxRun::Running) => status_of(r, "detached"),
                    Ok(crate::exec::BoxRun::Ended { code, reason }) => RunStatus {
                        exit_code: Some(i32::from(code)),
                        // The supervisor's reason: exited, timed_out, inactive, cost_cap.
                        ..status_of(
                            r,
                            match reason.as_str() {
                                "timed_out" | "inactive" | "cost_cap" => reason.as_str(),
                                _ => "exited",
                            },
                        )
                    },
                    Ok(crate::exec::BoxRun::None) => status_of(r, "stopped"),
                    Err(e) => {
                        crate::out::warn(TOOL, format!("{e:#}"));
                        status_of(r, "unreachable")
                    }
                });
            }
        }
        if r.status == Status::Finished && !detached(r) {
            return Ok(status_of(r, "finished"));
        }
        if state::alive(r) {
            return Ok(status_of(r, "running"));
        }
        let st = match reach(r) {
            Ok(Reach::Here) => {
                if job_alive(r, None)? {
                    "orphaned"
                } else {
                    "stopped"
                }
            }
            Ok(Reach::Box(ssh, _cfg)) => match job_alive(r, Some(&ssh)) {
                Ok(true) => "orphaned",
                Ok(false) => "stopped",
                Err(e) => {
                    crate::out::warn(TOOL, format!("{e:#}"));
                    "unreachable"
                }
            },
            Ok(Reach::Gone(why)) => {
                crate::out::note(TOOL, why);
                "box_gone"
            }
            Err(e) => {
                crate::out::warn(TOOL, format!("{e:#}"));
                "unreachable"
            }
        };
        Ok(status_of(r, st))
    }

    fn tail(&self, run: &RunRef, follow: bool) -> Result<()> {
        self.tail_n(run, follow, None)
    }

    fn tail_n(&self, run: &RunRef, follow: bool, lines: Option<usize>) -> Result<()> {
        let r = record(run)?;
        // A job whose runplz is gone (detached, or killed) goes on on its box: its whole
        // output is there, in its supervisor's folder; the copy here stops where runplz did.
        let on_box = r.backend != "local"
            && (detached(r) || (r.status != Status::Finished && !state::alive(r)));
        if on_box {
            if let Ok(Reach::Box(ssh, _cfg)) = reach(r) {
                let shown = tail_on_box(&ssh, r, follow, lines);
                ssh.close();
                if shown? {
                    return Ok(());
                }
            }
        }
        tail_local(r, follow, lines)
    }

    fn kill(&self, run: &RunRef) -> Result<RunStatus> {
        let r = record(run)?.clone();
        // A detached run's runplz is over, its job and box not (until a verb releases it).
        let on_box = detached(&r) && r.teardown.status != TeardownStatus::Done;
        if r.status == Status::Finished && !on_box {
            crate::out::note(TOOL, format!("run {} is already over", r.run_id));
            return Ok(status_of(&r, "finished"));
        }
        let path = state_path(&r.run_id);
        let attached = state::alive(&r);
        let mut st = RunState::open(&path)?;
        st.bind_warnings();
        let reach = reach(&r)?;
        let ssh = match &reach {
            Reach::Box(ssh, _) => Some(ssh),
            _ => None,
        };
        if !matches!(reach, Reach::Gone(_)) {
            stop_job(&r, ssh)?;
            // Nothing of the run may be left: checked, not assumed.
            if job_alive(&r, ssh)? {
                return Err(CliError::new(
                    Exit::Failed,
                    format!("processes of run {} survived KILL", r.run_id),
                ));
            }
        }
        st.event(state::Event::Killed);
        if on_box {
            // Its state says finished since it detached: the kill is its ending.
            let _ = st.update(|x| x.failure = x.failure.or(Some(Failure::Cancelled)));
        }
        if attached {
            // Its runplz sees the job end and brings the outputs back and releases the box
            // itself; wait for it to say so.
            crate::out::note(
                TOOL,
                format!(
                    "stopped the job of run {}; its runplz (pid {}) collects and releases",
                    r.run_id, r.pid
                ),
            );
            let end = Instant::now() + Duration::from_secs(300);
            loop {
                let now = state::read(&path)?;
                if now.status == Status::Finished || !state::alive(&now) {
                    return Ok(status_of(&now, "terminated"));
                }
                if Instant::now() > end {
                    return Ok(status_of(&now, "terminated"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        // Its runplz is gone: the box's on_finish is ours to do (outputs stay where they
        // are on a box the user owns; `runplz collect` can still fetch them).
        if let Some(ssh) = ssh {
            if let Some(snap) = &r.handle.remote_workspace {
                remove_on_box(ssh, snap);
            }
            ssh.close();
        }
        let released = release(&mut st);
        finish(&mut st, Failure::Cancelled, None);
        if !released {
            return Err(CliError::new(
                Exit::Failed,
                format!("run {} was stopped but its box was not released", r.run_id),
            ));
        }
        Ok(status_of(&st.record, "terminated"))
    }

    fn collect(&self, run: &RunRef, to: &Path) -> Result<Collected> {
        self.collect_with(run, to, false)
    }

    fn collect_with(&self, run: &RunRef, to: &Path, force: bool) -> Result<Collected> {
        let r = record(run)?.clone();
        let path = state_path(&r.run_id);
        if state::alive(&r) && r.status != Status::Finished {
            return Err(CliError::new(
                Exit::Failed,
                format!(
                    "run {} is still running under its runplz (pid {}), which brings the outputs back itself when the job ends; `runplz kill {}` stops it",
                    r.run_id, r.pid, r.run_id
                ),
            ));
        }
        let over = r.status == Status::Finished && r.teardown.status == TeardownStatus::Done;
        if over && r.collected == Some(true) {
            crate::out::note(
                TOOL,
                format!(
                    "run {} is over and its outputs came back to {} already",
                    r.run_id, r.outputs
                ),
            );
            return Ok(already(&r, to));
        }
        let to = outputs_dir(&r, to)?;
        let mut st = RunState::open(&path)?;
        st.bind_warnings();
        let reach = reach(&r)?;
        let got = match &reach {
            Reach::Gone(why) => {
                // Still listed (coming up, stopping, failed): released all the same, so a
                // box that never ran the job stops billing.
                let released = r.teardown.status == TeardownStatus::Done || release(&mut st);
                finish(&mut st, Failure::LostContact, Some(false));
                let box_note = if released {
                    ""
                } else {
                    " (and its box was not released: see the warning above)"
                };
                return Err(CliError::new(
                    Exit::Failed,
                    format!(
                        "{why}: the outputs of run {} cannot come back{box_note}",
                        r.run_id
                    ),
                ));
            }
            Reach::Here => {
                if job_alive(&r, None)? && !force {
                    return Err(still_running(&r));
                }
                stop_job(&r, None)?;
                local_outputs(&to)
            }
            Reach::Box(ssh, _cfg) => {
                if detached(&r) {
                    // How the detached job ended, from its supervisor.
                    let id = super::place::exec_id(&r);
                    if let Ok(crate::exec::BoxRun::Ended { code, reason }) =
                        crate::exec::box_status(ssh, id)
                    {
                        // A deadline the supervisor enforced is the run's failure reason.
                        let why = match reason.as_str() {
                            "timed_out" => Some(Failure::Timeout),
                            "inactive" => Some(Failure::Inactivity),
                            "cost_cap" => Some(Failure::CostCap),
                            _ => None,
                        };
                        let _ = st.update(|x| {
                            x.exit_code = Some(i32::from(code));
                            x.failure = x.failure.or(why);
                        });
                    }
                }
                if job_alive(&r, Some(ssh))? {
                    if !force {
                        return Err(still_running(&r));
                    }
                    crate::out::note(TOOL, format!("stopping the job of run {}", r.run_id));
                }
                stop_job(&r, Some(ssh))?;
                let _ = st.step_started("collect");
                let res = match &r.handle.remote_outputs {
                    Some(from) => crate::collect::rsync_down(ssh, from, &to),
                    None => Err(CliError::new(
                        Exit::Failed,
                        format!(
                            "run {} stopped before its job started: it has no outputs",
                            r.run_id
                        ),
                    )),
                };
                let _ = st.step_ended("collect", res.is_ok());
                if let (Ok(_), Some(from)) = (&res, &r.handle.remote_outputs) {
                    remove_on_box(ssh, from);
                }
                if let Some(snap) = &r.handle.remote_workspace {
                    remove_on_box(ssh, snap);
                }
                if detached(&r) {
                    keep_output(ssh, &r);
                    remove_on_box(ssh, &box_run_dir(&r));
                }
                ssh.close();
                res
            }
        };
        st.event(state::Event::Collected { ok: got.is_ok() });
        // Release whether or not the outputs came: a box left billing is worse.
        let released = if r.teardown.status == TeardownStatus::Done {
            true
        } else {
            release(&mut st)
        };
        finish(&mut st, Failure::LostContact, Some(got.is_ok()));
        let got = got?;
        if !released {
            return Err(CliError::new(
                Exit::Failed,
                format!(
                    "the outputs of run {} came back to {} but its box was not released",
                    r.run_id,
                    to.display()
                ),
            ));
        }
        Ok(got)
    }
}

/// `runplz tail` from the copy of the job's output kept here (`<run id>.log`): what runplz
/// received as it ran, or what `runplz collect` brought back.
pub(crate) fn tail_local(r: &Record, follow: bool, lines: Option<usize>) -> Result<()> {
    let path = state::log_path(&r.run_id);
    let mut f = std::fs::File::open(&path).map_err(|_| {
        CliError::new(
            Exit::Failed,
            format!(
                "no output of run {} here ({} does not exist): its job never started, or it ran before runplz kept logs",
                r.run_id,
                path.display()
            ),
        )
    })?;
    let mut text = Vec::new();
    f.read_to_end(&mut text)?;
    let start = match lines {
        Some(n) => last_lines_start(&text, n),
        None => 0,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write = |b: &[u8]| -> Result<bool> {
        match out.write_all(b).and_then(|_| out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e.into()),
        }
    };
    if !write(&text[start..])? || !follow {
        return Ok(());
    }
    let state_file = state_path(&r.run_id);
    let mut pos = text.len() as u64;
    loop {
        if let Some(sig) = crate::process::take_pending_signal() {
            return Err(CliError::new(
                Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                format!("interrupted by signal {sig}"),
            ));
        }
        // Read the state first: a run seen over still gets its last bytes printed.
        let over = state::read(&state_file)
            .map(|r| r.status == Status::Finished || !state::alive(&r))
            .unwrap_or(true);
        f.seek(std::io::SeekFrom::Start(pos))?;
        let mut more = Vec::new();
        f.read_to_end(&mut more)?;
        pos += more.len() as u64;
        if !more.is_empty() && !write(&more)? {
            return Ok(());
        }
        if over {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `runplz tail` from the box's supervisor folder of the run: false when the box has no
/// output of it (the run's runplz read it to its end and removed it).
fn tail_on_box(
    ssh: &crate::ssh::Ssh,
    r: &Record,
    follow: bool,
    lines: Option<usize>,
) -> Result<bool> {
    let id = super::place::exec_id(r);
    if let (Some(n), false) = (lines, follow) {
        let cat = format!(
            "cat -- \"$HOME\"/{} 2>/dev/null || exit 3",
            crate::quote::sh(&format!("{}/out", box_run_dir(r)))
        );
        let got = ssh
            .command(&cat)
            .output(crate::process::Output::Capture)
            .run()?;
        if got.status.code() == 3 {
            return Ok(false);
        }
        let text = got.stdout;
        let mut out = std::io::stdout().lock();
        let _ = out
            .write_all(&text[last_lines_start(&text, n)..])
            .and_then(|_| out.flush());
        return Ok(true);
    }
    if lines.is_some() {
        crate::out::warn(
            TOOL,
            "-n with -f is not supported for output read from the box: all of it follows",
        );
    }
    Ok(!matches!(
        crate::exec::box_tail(ssh, id, follow, false)?,
        crate::exec::BoxRun::None
    ))
}

/// A detached job's output, kept in `<run id>.log` before its supervisor's folder goes (its
/// two streams are one file there, in the order they came).
fn keep_output(ssh: &crate::ssh::Ssh, r: &Record) {
    let cat = format!(
        "cat -- \"$HOME\"/{} 2>/dev/null || exit 3",
        crate::quote::sh(&format!("{}/out", box_run_dir(r)))
    );
    let got = ssh
        .command(&cat)
        .output(crate::process::Output::Capture)
        .run();
    let kept = match got {
        Ok(f) if f.status.success() => state::keep_log(&r.run_id, &f.stdout),
        Ok(_) => return,
        Err(e) => Err(e),
    };
    if let Err(e) = kept {
        crate::out::warn(TOOL, format!("the job's output was not kept here: {e:#}"));
    }
}

fn still_running(r: &Record) -> anyhow::Error {
    CliError::new(
        Exit::Failed,
        format!(
            "the job of run {} is still running (its runplz is gone): wait for it to end (`runplz status {}`), or pass --force to stop it and collect now",
            r.run_id, r.run_id
        ),
    )
}

/// A local run's outputs are already in place: count them.
fn local_outputs(to: &Path) -> Result<Collected> {
    let mut c = empty(&to.display().to_string(), to);
    for e in ignore::WalkBuilder::new(to)
        .standard_filters(false)
        .build()
        .flatten()
    {
        if let Ok(md) = e.metadata() {
            if md.is_file() {
                c.files += 1;
                c.bytes += md.len();
            }
        }
    }
    Ok(c)
}

fn empty(source: &str, to: &Path) -> Collected {
    Collected {
        source: source.into(),
        dest: to.display().to_string(),
        entries: Vec::new(),
        files: 0,
        bytes: 0,
        duration_seconds: 0.0,
        warnings: Vec::new(),
        earlier: Vec::new(),
        dropped_links: Vec::new(),
    }
}

/// What a second `collect` of a run already collected reports: nothing moved.
fn already(r: &Record, to: &Path) -> Collected {
    let mut c = empty(r.target.as_deref().unwrap_or("here"), to);
    c.warnings.push(format!(
        "run {} was collected already: nothing moved",
        r.run_id
    ));
    c
}

/// Where the last `n` lines of `text` begin.
fn last_lines_start(text: &[u8], n: usize) -> usize {
    if n == 0 {
        return text.len();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::last_lines_start;

    #[test]
    fn the_last_n_lines() {
        let t = b"a\nb\nc\n";
        assert_eq!(&t[last_lines_start(t, 2)..], b"b\nc\n");
        assert_eq!(&t[last_lines_start(t, 9)..], t);
        assert_eq!(&t[last_lines_start(t, 0)..], b"");
        let u = b"a\nb\nc";
        assert_eq!(&u[last_lines_start(u, 1)..], b"c");
    }
}
