//! A job on a Slurm cluster: the `sbatch` request from the job's resources and `slurm`
//! section, the batch script, `sbatch --test-only` then `sbatch --parsable`, and the wait:
//! poll `squeue` (filtered by id; `squeue --json` ignores filters on 22.05), stream the
//! job's stdout/stderr files while it runs, read the exit code from `scontrol show job`
//! (`sacct` when the job was purged; never `sacct --json`, whose exit codes are wrong on
//! 22.05), and map the final state to runplz's ending. Ctrl-C and runplz's own deadline
//! `scancel` the job and wait until Slurm says it is gone.
//!
//! Everything runs through [`Login`]: `sh -c` on this machine or one command over the run's
//! ssh connection to the login node.

pub(crate) mod array;
pub mod ops;
#[cfg(test)]
mod tests;

use crate::error::CliError;
use crate::job::{Job, JobError};
use crate::out;
use crate::process::{Output, Proc};
use crate::quote::sh;
use crate::run::Tracker;
use crate::ssh::Ssh;
use crate::steps::{Command, Prepared};
use anyhow::{Context, Result};
use runplz_protocol::{Exit, RunEnding, Step as S};
use std::io::Write;
use std::time::{Duration, Instant};

const TOOL: &str = "runplz";
/// How long one Slurm client command may take.
const CALL_LIMIT: Duration = Duration::from_secs(60);
/// How long to wait for Slurm to confirm a cancelled job is gone.
const CANCEL_WAIT: Duration = Duration::from_secs(60);

/// The job's own rules for Slurm, before anything happens.
pub(crate) fn rules(job: &Job) -> Result<(), JobError> {
    let s = &job.spec.slurm;
    if let Some(n) = s.nodes {
        if n < 1 {
            return Err(job.error_at(
                "slurm.nodes",
                format!("found {n}, expected a whole number of nodes, 1 or more"),
            ));
        }
    }
    for (i, a) in s.sbatch_args.iter().flatten().enumerate() {
        if !a.starts_with('-') || a.contains(['\n', '\r', '\0']) {
            return Err(job.error_at(
                &format!("slurm.sbatch_args[{i}]"),
                format!("found {a:?}, expected one sbatch option starting with `-` (\"--exclusive\", \"--reservation=r1\"), on one line"),
            ));
        }
    }
    for (field, v) in [
        ("partition", &s.partition),
        ("account", &s.account),
        ("qos", &s.qos),
        ("constraint", &s.constraint),
    ] {
        if let Some(v) = v {
            if v.is_empty() || v.contains(['\n', '\r', '\0']) {
                return Err(job.error_at(
                    &format!("slurm.{field}"),
                    format!("found {v:?}, expected a non-empty value on one line"),
                ));
            }
        }
    }
    for (k, v) in s.gres_types.iter().flatten() {
        if v.is_empty()
            || !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(job.error_at(
                &format!("slurm.gres_types.{k}"),
                format!("found {v:?}, expected a gres type name (letters, digits, `_-.`), as in the site's gres.conf"),
            ));
        }
    }
    if let (Some(gpu), Some(map)) = (&job.spec.resources.gpu, &s.gres_types) {
        if !map.contains_key(gpu) {
            let names: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(job.error_at(
                "resources.gpu",
                format!(
                    "found {gpu:?}, which slurm.gres_types does not map to a gres type; expected one of {}",
                    names.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Settings Slurm does not act on, said on stderr.
pub(crate) fn unused_settings(job: &Job) -> Vec<String> {
    let mut w = Vec::new();
    let r = &job.spec.resources;
    if r.min_gpu_memory.is_some() {
        w.push("resources.min_gpu_memory is not used by `runplz slurm`: pick GPUs with slurm.gres_types or slurm.constraint".into());
    }
    if r.min_disk.is_some() {
        w.push("resources.min_disk is not used by `runplz slurm`: Slurm schedules no disk".into());
    }
    let pc = &job.spec.preconditions;
    if pc.shm_gb.is_some()
        || pc.disk_free_gb.is_some()
        || pc.gpu_count.is_some()
        || pc.gpu_memory_gb.is_some()
    {
        w.push("preconditions are not checked by `runplz slurm`: the nodes are not known before the job starts".into());
    }
    if let (Some(gpu), None) = (&r.gpu, &job.spec.slurm.gres_types) {
        w.push(format!("resources.gpu {gpu:?} has no gres type for this cluster (slurm.gres_types): asking for any GPU (--gres=gpu:N)"));
    }
    w
}

/// The `sbatch` options for the job (no secret in them: the env travels in a 0600 file).
pub(crate) fn sbatch_options(
    job: &Job,
    deadline: Option<Duration>,
    nodes: u32,
    run_id: &str,
    dir: &str,
    chdir: &str,
) -> Vec<String> {
    let r = &job.spec.resources;
    let s = &job.spec.slurm;
    let mut a = vec![
        format!("--job-name=runplz-{}", job.name()),
        format!("--comment=runplz:{run_id}"),
        format!("--chdir={chdir}"),
        format!("--output={dir}/stdout"),
        format!("--error={dir}/stderr"),
        // sbatch runs in a scrubbed environment (see `scrub`): the job gets only the few
        // plain names of EXPORTED, never the caller's credentials; its own env comes from
        // its 0600 env file, and Slurm adds its SLURM_* variables. (An --export=NAME list
        // would make slurmd load the user's login environment with `su -` instead.)
        "--export=ALL".to_string(),
    ];
    if nodes > 1 {
        a.push(format!("--nodes={nodes}"));
        a.push("--ntasks-per-node=1".into());
    }
    if let Some(c) = r.min_cpu {
        a.push(format!("--cpus-per-task={}", c.ceil() as u64));
    }
    if let Some(m) = r.min_memory {
        a.push(format!("--mem={}M", (m * 1024.0).ceil() as u64));
    }
    if r.gpu.is_some() || r.num_gpus.is_some() {
        let n = r.num_gpus.unwrap_or(1);
        let ty = r
            .gpu
            .as_ref()
            .and_then(|g| s.gres_types.as_ref()?.get(g).cloned());
        a.push(match ty {
            Some(t) => format!("--gres=gpu:{t}:{n}"),
            None => format!("--gres=gpu:{n}"),
        });
    }
    if let Some(d) = deadline {
        a.push(format!("--time={}", minutes(d)));
    }
    for (flag, v) in [
        ("partition", &s.partition),
        ("account", &s.account),
        ("qos", &s.qos),
        ("constraint", &s.constraint),
    ] {
        if let Some(v) = v {
            a.push(format!("--{flag}={v}"));
        }
    }
    a.extend(s.sbatch_args.iter().flatten().cloned());
    a
}

/// The submitting shell's variables a job sees (names only: sbatch reads the values).
pub(crate) const EXPORTED: &[&str] = &[
    "HOME", "PATH", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "TMPDIR",
];

/// Shell lines that unset every variable but [`EXPORTED`] and `SLURM_*`, before sbatch.
pub(crate) fn scrub() -> String {
    format!(
        "for v in $(env | sed -n 's/^\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\1/p'); do case $v in {}|SLURM_*) ;; *) unset \"$v\" 2>/dev/null || : ;; esac; done; ",
        EXPORTED.join("|")
    )
}

/// A deadline in whole minutes, rounded up (Slurm's `--time` unit), at least 1.
pub(crate) fn minutes(d: Duration) -> u64 {
    d.as_secs().div_ceil(60).max(1)
}

/// The batch script: the env file read and removed, the run id and the node layout in the
/// environment, then the job's command (`bash -c SCRIPT`), once per node through `srun`.
pub(crate) fn batch_script(run_id: &str, env_file: &str, command: &str, nodes: u32) -> String {
    let select = format!("export RUNPLZ_RUN_ID={}\nc={}\n", sh(run_id), sh(command));
    script(env_file, true, &select, nodes)
}

/// A batch script whose `select` lines set `RUNPLZ_RUN_ID` and the command `c`. The env
/// file is removed once read unless other tasks (a job array's) still need it.
pub(crate) fn script(env_file: &str, remove_env: bool, select: &str, nodes: u32) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("set -a\n. {f}\nset +a\n", f = sh(env_file)));
    if remove_env {
        s.push_str(&format!("rm -f {}\n", sh(env_file)));
    }
    s.push_str(select);
    s.push_str(
        "export RUNPLZ_NODE_COUNT=\"${SLURM_JOB_NUM_NODES:-1}\"\n\
         RUNPLZ_MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" 2>/dev/null | head -n 1)\n\
         export RUNPLZ_MASTER_ADDR=\"${RUNPLZ_MASTER_ADDR:-$(hostname)}\"\n",
    );
    if nodes > 1 {
        // The steps get the script's environment (the sbatch's --export list would drop
        // the job's env file). One task per node, each with its rank from Slurm; srun exits
        // with the highest exit code of them (so a rank's `exit 3` is the job's 3).
        s.push_str(&format!(
            "export SLURM_EXPORT_ENV=ALL\nexec srun --nodes={nodes} --ntasks-per-node=1 bash -c 'export RUNPLZ_NODE_RANK=\"$SLURM_NODEID\"; exec bash -c \"$0\"' \"$c\"\n"
        ));
    } else {
        s.push_str("export RUNPLZ_NODE_RANK=0\nexec bash -c \"$c\"\n");
    }
    s
}

/// Where Slurm commands run: here, or over the connection to the login node.
pub(crate) struct Login<'a>(pub Option<&'a Ssh>);

/// What one run's ending says about runplz's own part of it.
pub(crate) type Ending = std::result::Result<(RunEnding, Option<i32>), String>;

impl Login<'_> {
    fn proc(&self, script: &str) -> Proc {
        match self.0 {
            Some(ssh) => ssh.command(script),
            None => Proc::new("sh").args(["-c", script]),
        }
    }

    /// Run `script` (shielded from Ctrl-C: the caller decides what a signal means), its
    /// output captured.
    pub(crate) fn run(
        &self,
        script: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<crate::process::Finished> {
        let mut p = self
            .proc(script)
            .output(Output::Capture)
            .shielded()
            .timeout(Some(CALL_LIMIT));
        if let Some(b) = stdin {
            p = p.stdin(b);
        }
        let f = p.run()?;
        if f.timed_out {
            anyhow::bail!(
                "a Slurm command on the login node took over {}s",
                CALL_LIMIT.as_secs()
            );
        }
        Ok(f)
    }

    pub(crate) fn where_(&self) -> String {
        match self.0 {
            Some(ssh) => ssh.destination(),
            None => "this machine".into(),
        }
    }
}

/// What one poll saw.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Poll {
    /// squeue's `%T`, or `GONE` when the job is no longer known.
    pub state: String,
    pub out: Vec<u8>,
    pub err: Vec<u8>,
}

/// The poll script: the state line `STATE OUTSIZE ERRSIZE`, then the new bytes of stdout,
/// then those of stderr (sizes read first, so a file that grows meanwhile is cut there).
fn poll_script(dir: &str, id: &str, off: (u64, u64)) -> String {
    format!(
        "d={d}; st=$(squeue -h -t all -j {id} -o %T 2>/dev/null | head -n 1); \
         s1=$(stat -c %s \"$d/stdout\" 2>/dev/null || echo 0); s2=$(stat -c %s \"$d/stderr\" 2>/dev/null || echo 0); \
         [ \"$s1\" -ge {o1} ] || s1={o1}; [ \"$s2\" -ge {o2} ] || s2={o2}; \
         printf '%s %s %s\\n' \"${{st:-GONE}}\" \"$s1\" \"$s2\"; \
         tail -c +{t1} \"$d/stdout\" 2>/dev/null | head -c $((s1 - {o1})); \
         tail -c +{t2} \"$d/stderr\" 2>/dev/null | head -c $((s2 - {o2}))",
        d = sh(dir),
        id = sh(id),
        o1 = off.0,
        o2 = off.1,
        t1 = off.0 + 1,
        t2 = off.1 + 1,
    )
}

/// Parse what [`poll_script`] printed.
pub(crate) fn parse_poll(bytes: &[u8], off: (u64, u64)) -> Option<(Poll, (u64, u64))> {
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let head = std::str::from_utf8(&bytes[..nl]).ok()?;
    let mut w = head.split_whitespace();
    let state = w.next()?.to_string();
    let s1: u64 = w.next()?.parse().ok()?;
    let s2: u64 = w.next()?.parse().ok()?;
    let rest = &bytes[nl + 1..];
    let n1 = usize::try_from(s1.saturating_sub(off.0))
        .ok()?
        .min(rest.len());
    let (out, err) = rest.split_at(n1);
    let n2 = usize::try_from(s2.saturating_sub(off.1))
        .ok()?
        .min(err.len());
    let err = &err[..n2];
    let got = (off.0 + n1 as u64, off.1 + err.len() as u64);
    Some((
        Poll {
            state,
            out: out.to_vec(),
            err: err.to_vec(),
        },
        got,
    ))
}

/// Whether Slurm is done with a job in this state (COMPLETING is not done yet).
pub(crate) fn is_final(state: &str) -> bool {
    !matches!(
        state,
        "PENDING"
            | "CONFIGURING"
            | "RUNNING"
            | "COMPLETING"
            | "SUSPENDED"
            | "REQUEUED"
            | "REQUEUE_FED"
            | "REQUEUE_HOLD"
            | "RESIZING"
            | "SIGNALING"
            | "STAGE_OUT"
            | "RESV_DEL_HOLD"
            | "STOPPED"
    )
}

/// `ExitCode=X:Y` out of `scontrol show job -o` (or `X:Y` from sacct): exit code, signal.
pub(crate) fn parse_exit_code(text: &str) -> Option<(i32, i32)> {
    let v = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ExitCode="))
        .unwrap_or(text.trim());
    let (c, s) = v.split_once(':')?;
    Some((c.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// Why runplz cancelled the job, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// Ctrl-C (or TERM/HUP) to runplz.
    Signal(i32),
    /// The job's deadline, counted by runplz from the job's start.
    Deadline,
}

/// The run's ending and exit code from the job's final state, its `X:Y` exit code, and
/// whether runplz cancelled it; an error for an ending that is the cluster's, not the job's.
pub(crate) fn ending(
    state: &str,
    exit: Option<(i32, i32)>,
    cancelled: Option<Cancelled>,
) -> std::result::Result<(RunEnding, Option<i32>), String> {
    let (code, sig) = exit.unwrap_or((0, 0));
    match (state, cancelled) {
        (_, Some(Cancelled::Deadline)) | ("TIMEOUT" | "DEADLINE", _) => {
            Ok((RunEnding::TimedOut { signal: None }, None))
        }
        (_, Some(Cancelled::Signal(n))) => Ok((
            RunEnding::Interrupted {
                signal: n,
                step: S::Run,
            },
            None,
        )),
        ("COMPLETED", _) => Ok((RunEnding::Exited { code: 0 }, Some(0))),
        ("FAILED", _) if sig > 0 => Ok((RunEnding::Signaled { signal: sig }, Some(128 + sig))),
        ("FAILED", _) if code > 0 => Ok((RunEnding::Exited { code }, Some(code))),
        ("CANCELLED", _) => Ok((RunEnding::Signaled { signal: 15 }, Some(143))),
        ("OUT_OF_MEMORY", _) => Ok((RunEnding::Signaled { signal: 9 }, Some(137))),
        (other, _) => Err(format!(
            "Slurm ended the job as {other} (exit code {code}:{sig}), not the job itself"
        )),
    }
}

/// Submit the job and wait for it (unless `detach`); the run's ending goes into the
/// tracker's record.
#[allow(clippy::too_many_arguments)]
pub(crate) fn job_step(
    t: &mut Tracker,
    cmd: &Command,
    p: &Prepared,
    run_id: &str,
    nodes: u32,
    ssh: Option<&Ssh>,
    json: bool,
    detach: bool,
) -> Result<()> {
    t.check_signal(S::Run)?;
    let login = Login(ssh);
    let r = t.step_with_state(S::Run, true, |st| {
        submit_and_wait(st, &login, cmd, p, run_id, nodes, json, detach)
    });
    let w = r.inspect_err(|_| t.end(RunEnding::Failed { step: S::Run }))?;
    match w.ending {
        Ok((e, code)) => {
            t.record.exit_code = code;
            t.end(e);
            match w.cancelled {
                Some(Cancelled::Deadline) => out::warn(
                    TOOL,
                    format!("the job ran past its deadline and was cancelled (Slurm job {}, run id {run_id})", w.job_id),
                ),
                Some(Cancelled::Signal(n)) => {
                    return Err(CliError::new(
                        Exit::Signal(u8::try_from(n).unwrap_or(0)),
                        format!("interrupted by signal {n}: Slurm job {} cancelled", w.job_id),
                    ))
                }
                None => {}
            }
            if matches!(w.state.as_str(), "TIMEOUT" | "DEADLINE") && w.cancelled.is_none() {
                out::warn(
                    TOOL,
                    format!(
                        "Slurm ended the job at its time limit ({}, run id {run_id})",
                        w.state
                    ),
                );
            }
            if w.state == "OUT_OF_MEMORY" {
                out::warn(TOOL, "the job ran out of memory (Slurm state OUT_OF_MEMORY): raise resources.min_memory");
            }
            if w.state == "CANCELLED" && w.cancelled.is_none() {
                out::warn(
                    TOOL,
                    "the job was cancelled outside runplz (scancel, or an administrator)",
                );
            }
            Ok(())
        }
        Err(m) => {
            t.end(RunEnding::Failed { step: S::Run });
            Err(CliError::new(Exit::ToolFailed, m))
        }
    }
}

/// What [`submit_and_wait`] found out.
struct Waited {
    job_id: String,
    state: String,
    cancelled: Option<Cancelled>,
    ending: std::result::Result<(RunEnding, Option<i32>), String>,
}

#[allow(clippy::too_many_arguments)]
fn submit_and_wait(
    st: &mut crate::state::RunState,
    login: &Login,
    cmd: &Command,
    p: &Prepared,
    run_id: &str,
    nodes: u32,
    json: bool,
    detach: bool,
) -> Result<Waited> {
    let (dir, chdir) = prepare_dir(login, cmd, p, run_id)?;
    let command = cmd.argv.get(2).cloned().unwrap_or_default();
    let script = batch_script(run_id, &format!("{dir}/env"), &command, nodes);
    let opts = sbatch_options(&p.job, p.settings.deadline, nodes, run_id, &dir, &chdir);
    let id = submit(st, login, &dir, &script, &opts, "")?;
    if detach {
        // Slurm's own --time is the deadline now; the folder keeps its output for `tail`.
        if let Some(d) = p.settings.deadline.filter(|d| d.as_secs() % 60 != 0) {
            out::note(
                TOOL,
                format!(
                    "detached: the timeout ({}s) is Slurm's own --time={} (whole minutes)",
                    d.as_secs(),
                    minutes(d)
                ),
            );
        }
        out::note(
            TOOL,
            format!("detached: Slurm job {id} (run id {run_id}); follow it with `runplz status {run_id}`, `runplz tail -f {run_id}`, `runplz collect {run_id}` (waits for the end, then brings the outputs) or `runplz kill {run_id}`"),
        );
        return Ok(Waited {
            job_id: id,
            state: "DETACHED".into(),
            cancelled: None,
            ending: Ok((RunEnding::Detached, None)),
        });
    }
    // 4. Wait, streaming the output files.
    let deadline = p.settings.deadline;
    let mut off = (0u64, 0u64);
    let mut started: Option<Instant> = None;
    let mut cancelled = None;
    let mut cancel_sent: Option<Instant> = None;
    let mut delay = Duration::from_millis(150);
    // The job's output kept here as it comes (`<run id>.log`, and stamped with its arrival,
    // `<run id>.driver.log`): best effort, a job never fails for it.
    let mut log = crate::state::open_log(&crate::state::log_path(run_id)).ok();
    let stamped = log.as_ref().and_then(|_| {
        crate::process::stamped::StampedLog::open(&crate::state::driver_log_path(run_id)).ok()
    });
    let state = loop {
        let f = login
            .run(&poll_script(&dir, &id, off), None)
            .with_context(|| {
                format!(
                    "polling Slurm job {id} on {} (it may still be running: scancel {id})",
                    login.where_()
                )
            })?;
        let Some((poll, next)) = parse_poll(&f.stdout, off) else {
            anyhow::bail!(
                "polling Slurm job {id} printed no state: {}",
                String::from_utf8_lossy(&f.stderr).trim()
            );
        };
        off = next;
        // The job's stdout is runplz's stdout (stderr under --json, beside the record).
        if json {
            crate::progress::stderr(&poll.out);
        } else {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(&poll.out);
            let _ = o.flush();
        }
        crate::progress::stderr(&poll.err);
        if let Some(l) = log.as_mut() {
            let _ = l.write_all(&poll.out).and_then(|_| l.write_all(&poll.err));
        }
        if let Some(l) = &stamped {
            l.write("stdout", &poll.out);
            l.write("stderr", &poll.err);
        }
        if is_final(&poll.state) {
            break poll.state;
        }
        if poll.state == "RUNNING" && started.is_none() {
            started = Some(Instant::now());
        }
        if cancelled.is_none() {
            if let Some(sig) = crate::process::take_pending_signal() {
                cancelled = Some(Cancelled::Signal(sig));
            } else if let (Some(d), Some(s)) = (deadline, started) {
                if s.elapsed() >= d {
                    cancelled = Some(Cancelled::Deadline);
                }
            }
            if cancelled.is_some() {
                out::note(TOOL, format!("cancelling Slurm job {id}..."));
                let _ = login.run(&format!("scancel {}", sh(&id)), None);
                cancel_sent = Some(Instant::now());
            }
        } else if cancel_sent.is_some_and(|s| s.elapsed() > CANCEL_WAIT) {
            anyhow::bail!(
                "Slurm job {id} did not end within {}s of scancel",
                CANCEL_WAIT.as_secs()
            );
        }
        std::thread::sleep(delay);
        delay = (delay * 3 / 2).min(Duration::from_secs(1));
    };
    let exit = exit_code(login, &id);
    let ending = if state == "GONE" && exit.is_none() {
        Err(format!(
            "Slurm job {id} is no longer known to squeue, scontrol or sacct: its end was not seen"
        ))
    } else {
        let st = if state == "GONE" {
            exit.as_ref().map(|e| e.1.clone()).unwrap_or_default()
        } else {
            state.clone()
        };
        ending(&st, exit.as_ref().map(|e| e.0), cancelled)
    };
    // The folder held the script and the job's stdout/stderr (already streamed).
    let _ = login.run(&format!("rm -rf -- {}", sh(&dir)), None);
    Ok(Waited {
        job_id: id,
        state,
        cancelled,
        ending,
    })
}

/// Make the run's Slurm folder (0700) with the env file, read from stdin: the values never
/// reach a command line. Returns that folder and the job's working folder, both absolute
/// (for the #SBATCH-level options).
pub(crate) fn prepare_dir(
    login: &Login,
    cmd: &Command,
    p: &Prepared,
    run_id: &str,
) -> Result<(String, String)> {
    let env: String = crate::steps::run_env(p, true)
        .iter()
        .map(|(k, v)| format!("{k}={}\n", sh(v)))
        .collect();
    let workdir = cmd
        .workdir
        .as_ref()
        .map(|w| w.for_run(run_id))
        .unwrap_or_default();
    let prep = format!(
        "set -e; umask 077; d=\"$HOME/.runplz/slurm/\"{id}; mkdir -p \"$d\"; cat > \"$d/env\"; \
         cd \"$HOME\"; w={w}; [ -z \"$w\" ] || cd \"$w\"; printf '%s\\n%s\\n' \"$d\" \"$(pwd)\"",
        id = sh(run_id),
        w = sh(&workdir),
    );
    let f = login.run(&prep, Some(env.into_bytes()))?;
    if !f.status.success() {
        anyhow::bail!(
            "preparing the Slurm job on {} failed: {}",
            login.where_(),
            String::from_utf8_lossy(&f.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&f.stdout).into_owned();
    let mut lines = text.lines();
    let (Some(dir), Some(chdir)) = (lines.next(), lines.next()) else {
        anyhow::bail!("preparing the Slurm job printed {text:?}, expected two folders");
    };
    Ok((dir.to_string(), chdir.to_string()))
}

/// Write the script into `dir`, ask `sbatch --test-only` (an impossible request is an
/// error before queueing), then submit; the job id goes into the run state. `what`: how
/// to name it ("" for a job, " array" for a job array).
pub(crate) fn submit(
    st: &mut crate::state::RunState,
    login: &Login,
    dir: &str,
    script: &str,
    opts: &[String],
    what: &str,
) -> Result<String> {
    let opts: Vec<String> = opts.iter().map(|o| sh(o)).collect();
    let opts = opts.join(" ");
    let test = format!(
        "cat > {s} && {scrub}sbatch --test-only {opts} {s}",
        scrub = scrub(),
        s = sh(&format!("{dir}/job.sh"))
    );
    let f = login.run(&test, Some(script.as_bytes().to_vec()))?;
    if !f.status.success() {
        let _ = login.run(&format!("rm -rf -- {}", sh(dir)), None);
        let msg = String::from_utf8_lossy(&f.stderr).trim().to_string();
        let e = if f.status.code() == 127 || msg.contains("not found") {
            format!("no `sbatch` on {}: {msg}", login.where_())
        } else {
            format!("Slurm refused the request before queueing anything: {msg} (sbatch options: {opts})")
        };
        return Err(CliError::new(Exit::Precondition, e));
    }
    if let Some(sig) = crate::process::take_pending_signal() {
        let _ = login.run(&format!("rm -rf -- {}", sh(dir)), None);
        return Err(CliError::new(
            Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig} before the job was submitted"),
        ));
    }
    let f = login.run(
        &format!(
            "{}sbatch --parsable {opts} {}",
            scrub(),
            sh(&format!("{dir}/job.sh"))
        ),
        None,
    )?;
    let id = String::from_utf8_lossy(&f.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    if !f.status.success() || id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!(
            "sbatch failed: {}",
            String::from_utf8_lossy(&f.stderr).trim()
        );
    }
    out::note(TOOL, format!("submitted Slurm job{what} {id}"));
    // A killed runplz leaves the id in the run state: `scancel` takes it.
    if let Err(e) = st.update(|r| r.handle.slurm_job_id = Some(id.clone())) {
        out::warn(TOOL, format!("run state not written: {e:#}"));
    }
    Ok(id)
}

/// The job's `X:Y` exit code and state: `scontrol show job`, else `sacct -P` (text; its JSON
/// has wrong exit codes on 22.05).
fn exit_code(login: &Login, id: &str) -> Option<((i32, i32), String)> {
    let f = login
        .run(&format!("scontrol show job -o {}", sh(id)), None)
        .ok()?;
    let text = String::from_utf8_lossy(&f.stdout);
    if f.status.success() {
        let state = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("JobState="))
            .unwrap_or("")
            .to_string();
        return Some((parse_exit_code(&text)?, state));
    }
    let f = login
        .run(
            &format!("sacct -n -P -X -j {} -o State,ExitCode", sh(id)),
            None,
        )
        .ok()?;
    let text = String::from_utf8_lossy(&f.stdout);
    let line = text.lines().next()?;
    let (state, code) = line.split_once('|')?;
    let state = state.split_whitespace().next().unwrap_or("").to_string();
    Some((parse_exit_code(code)?, state))
}
