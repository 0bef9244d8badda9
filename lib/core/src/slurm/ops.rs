//! `runplz status / tail / kill / collect` for a Slurm run, by its run state: the Slurm job
//! id (`handle.slurm_job_id`) and the login node (`target`: `local`, or reached over ssh
//! with the user's ssh config or `RUNPLZ_SSH_CONFIG`). The job's stdout/stderr files are in
//! `~/.runplz/slurm/<run id>` on the login node while the run (or a detached job) needs
//! them; its outputs in the local outputs folder (`--host local`) or `~/runplz-out/<run id>`.

use super::{ending, exit_code, is_final, parse_poll, poll_script, Login};
use crate::collect::Collected;
use crate::error::CliError;
use crate::ops::{Operations, RunRef};
use crate::quote::sh;
use crate::ssh::{Ssh, SshOptions, Target};
use crate::state::{Record, Status};
use anyhow::Result;
use runplz_protocol::{Exit, RunEnding, RunStatus};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const TOOL: &str = "runplz";

/// Slurm's answers to the verbs.
pub struct SlurmOps;

fn record(run: &RunRef) -> Result<&Record> {
    run.record.as_ref().ok_or_else(|| {
        CliError::usage(format!(
            "no run state for {} here: a slurm run is found by the run state of the machine that started it",
            run.run_id
        ))
    })
}

fn job_id(r: &Record) -> Result<&str> {
    r.handle.slurm_job_id.as_deref().ok_or_else(|| {
        CliError::new(
            Exit::Failed,
            format!(
                "run {} never submitted a Slurm job (it stopped before sbatch)",
                r.run_id
            ),
        )
    })
}

fn detached(r: &Record) -> bool {
    r.run
        .as_ref()
        .is_some_and(|x| x.ending == RunEnding::Detached)
}

/// The connection to the login node the run used (`None`: this machine).
fn connect(r: &Record) -> Result<Option<Ssh>> {
    match r.target.as_deref() {
        None | Some("local") => Ok(None),
        Some(t) => Ok(Some(Ssh::new(
            Target::parse(t)?,
            SshOptions::for_job(None, None),
        )?)),
    }
}

/// `runplz ps`'s state of a detached Slurm run not collected yet: `detached` while the
/// cluster says its job is queued or running (or cannot be asked), `ended` once it is over;
/// `None` for any other run.
pub fn detached_state(r: &Record) -> Option<&'static str> {
    if r.backend != "slurm" || !detached(r) || r.collected == Some(true) {
        return None;
    }
    Some(match alive(r) {
        Some(false) => "ended",
        _ => "detached",
    })
}

/// Whether the run's Slurm job is still queued or running: `None` when the record names no
/// job or the cluster could not be asked.
pub fn alive(r: &Record) -> Option<bool> {
    let id = r.handle.slurm_job_id.as_deref()?;
    if r.status == Status::Finished && !detached(r) {
        return Some(false);
    }
    let ssh = connect(r).ok()?;
    let login = Login(ssh.as_ref());
    let alive = exit_code(&login, id).map(|(_, state)| !is_final(&state));
    if let Some(s) = ssh {
        s.close();
    }
    // Unknown to scontrol and sacct: purged long ago, so over.
    Some(alive.unwrap_or(false))
}

/// The `run-status` of a Slurm job in `state` with exit code `x`.
fn status_for(run: &RunRef, r: &Record, state: &str, x: Option<(i32, i32)>) -> RunStatus {
    let (s, code) = match state {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" => ("pending", None),
        s if !is_final(s) => ("running", None),
        "CANCELLED" => ("terminated", None),
        "TIMEOUT" | "DEADLINE" => ("timed_out", None),
        _ => match ending(state, x, None) {
            Ok((_, code)) => ("exited", code),
            Err(_) => ("failed", None),
        },
    };
    RunStatus {
        run_id: run.run_id.clone(),
        exit_code: code,
        ..crate::ops::boxes::status_of(r, s)
    }
}

fn ask(run: &RunRef, r: &Record, login: &Login) -> Result<RunStatus> {
    let id = job_id(r)?;
    match exit_code(login, id) {
        Some((x, state)) => {
            crate::out::note(TOOL, format!("Slurm job {id}: {state}"));
            Ok(status_for(run, r, &state, Some(x)))
        }
        None => Err(CliError::new(
            Exit::Failed,
            format!(
                "Slurm job {id} is no longer known to scontrol or sacct on {}",
                login.where_()
            ),
        )),
    }
}

/// Wait until Slurm says the job is over (Ctrl-C stops the wait, not the job).
fn wait_final(
    run: &RunRef,
    r: &Record,
    login: &Login,
    limit: Option<Duration>,
) -> Result<RunStatus> {
    let t0 = Instant::now();
    loop {
        let s = ask(run, r, login)?;
        if !matches!(s.state.as_str(), "pending" | "running") {
            return Ok(s);
        }
        if let Some(sig) = crate::process::take_pending_signal() {
            return Err(CliError::new(
                Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                format!(
                    "interrupted by signal {sig} (the Slurm job goes on: runplz kill {})",
                    run.run_id
                ),
            ));
        }
        if limit.is_some_and(|l| t0.elapsed() > l) {
            return Err(CliError::new(
                Exit::ToolFailed,
                format!(
                    "Slurm job {} did not end within {}s",
                    job_id(r)?,
                    limit.unwrap_or_default().as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A detached job's output, kept in `<run id>.log` before its folder goes: its stdout, then
/// its stderr (two files on the cluster; how they interleaved is not known).
fn keep_output(login: &Login, run_id: &str) {
    let cat = format!(
        "d=\"$HOME/.runplz/slurm/\"{}; cat -- \"$d/stdout\" \"$d/stderr\" 2>/dev/null; :",
        sh(run_id)
    );
    let kept = login
        .run(&cat, None)
        .and_then(|f| crate::state::keep_log(run_id, &f.stdout));
    if let Err(e) = kept {
        crate::out::warn(TOOL, format!("the job's output was not kept here: {e:#}"));
    }
}

/// The job's folder on the login node, absolute.
fn job_dir(login: &Login, run_id: &str) -> Result<String> {
    let f = login.run(
        &format!("printf '%s' \"$HOME/.runplz/slurm/\"{}", sh(run_id)),
        None,
    )?;
    Ok(String::from_utf8_lossy(&f.stdout).into_owned())
}

impl Operations for SlurmOps {
    fn status(&self, run: &RunRef) -> Result<RunStatus> {
        let r = record(run)?;
        if r.status == Status::Finished && !detached(r) {
            return Ok(RunStatus {
                run_id: run.run_id.clone(),
                ..crate::ops::boxes::status_of(r, "finished")
            });
        }
        let ssh = connect(r)?;
        ask(run, r, &Login(ssh.as_ref()))
    }

    fn tail_n(&self, run: &RunRef, follow: bool, lines: Option<usize>) -> Result<()> {
        let r = record(run)?;
        // An attached run's output came through its runplz (whose job's files are gone once
        // it ended), a collected one's came back with it: both are kept here.
        let here = if detached(r) {
            r.collected == Some(true)
        } else {
            r.status == Status::Finished || crate::state::alive(r)
        };
        if here {
            return crate::ops::boxes::tail_local(r, follow, lines);
        }
        if lines.is_some() {
            crate::out::warn(
                TOOL,
                "-n is not supported for output read from the cluster: printing the whole output",
            );
        }
        self.tail(run, follow)
    }

    fn tail(&self, run: &RunRef, follow: bool) -> Result<()> {
        let r = record(run)?;
        let id = job_id(r)?;
        crate::process::install_signal_handlers();
        let ssh = connect(r)?;
        let login = Login(ssh.as_ref());
        let dir = job_dir(&login, &run.run_id)?;
        let mut off = (0u64, 0u64);
        let mut delay = Duration::from_millis(200);
        loop {
            let f = login.run(
                &format!(
                    "[ -d {d} ] || {{ echo gone >&2; exit 3; }}; {}",
                    poll_script(&dir, id, off),
                    d = sh(&dir)
                ),
                None,
            )?;
            if f.status.code() == 3 {
                return Err(CliError::new(
                    Exit::Failed,
                    format!(
                        "the output files of run {} are gone from {} (an attached run streamed its output as it ran and removed them)",
                        run.run_id,
                        login.where_()
                    ),
                ));
            }
            let Some((poll, next)) = parse_poll(&f.stdout, off) else {
                anyhow::bail!("reading Slurm job {id}'s output printed nothing usable");
            };
            off = next;
            // The job's output is tail's data: stdout, stderr as the job had them.
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&poll.out);
            let _ = o.flush();
            drop(o);
            crate::progress::stderr(&poll.err);
            if !follow || is_final(&poll.state) {
                return Ok(());
            }
            if let Some(sig) = crate::process::take_pending_signal() {
                return Err(CliError::new(
                    Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                    format!("interrupted by signal {sig}"),
                ));
            }
            std::thread::sleep(delay);
            delay = (delay * 3 / 2).min(Duration::from_secs(1));
        }
    }

    fn kill(&self, run: &RunRef) -> Result<RunStatus> {
        let r = record(run)?;
        let id = job_id(r)?;
        let ssh = connect(r)?;
        let login = Login(ssh.as_ref());
        let f = login.run(&format!("scancel {}", sh(id)), None)?;
        if !f.status.success() {
            return Err(CliError::new(
                Exit::ToolFailed,
                format!(
                    "scancel {id} on {} failed: {}",
                    login.where_(),
                    String::from_utf8_lossy(&f.stderr).trim()
                ),
            ));
        }
        crate::process::install_signal_handlers();
        // scancel's rc says nothing about the job: Slurm's state does.
        let s = wait_final(run, r, &login, Some(super::CANCEL_WAIT))?;
        crate::out::note(TOOL, format!("Slurm job {id} cancelled"));
        Ok(s)
    }

    fn collect(&self, run: &RunRef, to: &Path) -> Result<Collected> {
        let r = record(run)?;
        if r.job_file != "-" {
            let root = Path::new(&r.job_file).parent().unwrap_or(Path::new("/"));
            crate::job::outputs::check_flag(root, to)
                .map_err(|m| CliError::usage(format!("the outputs folder: {m}")))?;
        }
        let ssh = connect(r)?;
        let login = Login(ssh.as_ref());
        crate::process::install_signal_handlers();
        if r.handle.slurm_job_id.is_some() && detached(r) {
            // A detached job's outputs are whole once it ended.
            let s = wait_final(run, r, &login, None)?;
            crate::out::note(
                TOOL,
                format!(
                    "run {} {} (exit code {:?})",
                    run.run_id, s.state, s.exit_code
                ),
            );
        }
        let t0 = Instant::now();
        let got = match &ssh {
            None => {
                let mut c = crate::collect::local_dir(to)?;
                c.duration_seconds = crate::run::round(t0.elapsed().as_secs_f64());
                c
            }
            Some(ssh) => {
                let from = format!("{}/{}", crate::steps::BOX_OUTPUTS, run.run_id);
                let got = crate::collect::rsync_down(ssh, &from, to)?;
                let rm = format!(
                    "rm -rf -- {} {}",
                    crate::ssh::remote_dir_word(&from),
                    crate::ssh::remote_dir_word(&format!(
                        "{}/{}",
                        crate::steps::BOX_RUNS,
                        run.run_id
                    )),
                );
                let _ = ssh.command(&rm).shielded().run();
                got
            }
        };
        if detached(r) {
            keep_output(&login, &run.run_id);
        }
        let _ = login.run(
            &format!("rm -rf -- \"$HOME/.runplz/slurm/\"{}", sh(&run.run_id)),
            None,
        );
        if let Some(s) = ssh {
            s.close();
        }
        // `runplz ps` stops asking the cluster about it.
        let marked = crate::state::RunState::open(&crate::ops::boxes::state_path(&run.run_id))
            .and_then(|mut st| st.update(|r| r.collected = Some(true)));
        if let Err(e) = marked {
            crate::out::warn(TOOL, format!("run state not written: {e:#}"));
        }
        Ok(got)
    }
}
