//! A sweep on Slurm as one job array (`sbatch --array=0-N%P`): the sweep (`crate::sweep`)
//! starts one `runplz slurm` with its arg sets in a file; that run ships the code and sets
//! up the venv once, submits one array whose task `i` runs member `i`'s command with its
//! own run id (`<sweep id>-<i>`) and outputs folder, waits for every task, brings each
//! member's outputs back and prints one run record per member (then its own). Ctrl-C
//! `scancel`s the whole array.

use super::{ending, is_final, parse_exit_code, Cancelled, Ending, Login, TOOL};
use crate::error::CliError;
use crate::job::{Job, Run};
use crate::out;
use crate::quote::sh;
use crate::run::Tracker;
use crate::ssh::Ssh;
use crate::steps::{Command, Prepared};
use anyhow::{Context, Result};
use runplz_protocol::{RunEnding, Step as S};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for Slurm to confirm a cancelled array is gone.
const CANCEL_WAIT: Duration = Duration::from_secs(60);

/// The file the sweep hands its one `runplz slurm` run.
#[derive(Debug, Serialize, Deserialize)]
pub struct ArrayFile {
    /// The sweep's id: member `i`'s run id is `<sweep_id>-<i>`.
    pub sweep_id: String,
    /// At most this many tasks at once (`%P`).
    pub parallel: usize,
    /// Each member's args, in order.
    pub sets: Vec<Vec<(String, String)>>,
}

/// The members, their commands rendered.
#[derive(Debug)]
pub(crate) struct Array {
    pub parallel: usize,
    pub members: Vec<Member>,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub run_id: String,
    pub outputs: PathBuf,
    pub run: Run,
}

/// One array task: a member's run id, outputs folder and command.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub run_id: String,
    pub outputs: PathBuf,
    pub command: Command,
}

impl Array {
    /// Read the sweep's file and render each member's command (its set beats the flags).
    pub(crate) fn load(
        file: &Path,
        job: &Job,
        overrides: &[(String, String)],
        outputs: &Path,
    ) -> Result<Array> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| CliError::usage(format!("{}: {e}", file.display())))?;
        let a: ArrayFile = serde_json::from_str(&text)
            .map_err(|e| CliError::usage(format!("{}: {e}", file.display())))?;
        let mut members = Vec::new();
        for (i, set) in a.sets.iter().enumerate() {
            let mut o = overrides.to_vec();
            o.extend(set.iter().cloned());
            let run = crate::job::vars::render(&job.spec.run, &job.spec.args, &o)
                .map_err(|m| CliError::usage(format!("{}: run: {m}", job.origin)))?;
            let run_id = format!("{}-{i}", a.sweep_id);
            members.push(Member {
                outputs: outputs.join(&run_id),
                run_id,
                run,
            });
        }
        if members.is_empty() {
            return Err(CliError::usage(format!("{}: no arg sets", file.display())));
        }
        Ok(Array {
            parallel: a.parallel.max(1),
            members,
        })
    }
}

/// One task's end.
#[derive(Debug, Clone)]
pub(crate) struct TaskEnd {
    pub ending: Ending,
}

/// What `scontrol show job -o ARRAY` (or sacct) says of each task: index -> (state, X:Y).
pub(crate) fn parse_tasks(text: &str, n: usize) -> BTreeMap<usize, (String, Option<(i32, i32)>)> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let field = |k: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .map(str::to_string)
        };
        let (Some(tasks), Some(state)) = (field("ArrayTaskId="), field("JobState=")) else {
            continue;
        };
        let exit = field("ExitCode=").and_then(|e| parse_exit_code(&e));
        for i in task_ids(&tasks, n) {
            m.insert(i, (state.clone(), exit));
        }
    }
    m
}

/// `3`, `1-5%2`, `0,2-4`: the indexes, below `n`.
pub(crate) fn task_ids(spec: &str, n: usize) -> Vec<usize> {
    let spec = spec.split('%').next().unwrap_or("");
    let mut v = Vec::new();
    for part in spec.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) else {
            continue;
        };
        v.extend((a..=b.min(n.saturating_sub(1))).filter(|i| *i < n));
    }
    v
}

/// sacct's `JOBID_INDEX|STATE|X:Y` lines.
pub(crate) fn parse_sacct(text: &str, n: usize) -> BTreeMap<usize, (String, Option<(i32, i32)>)> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let mut f = line.split('|');
        let (Some(id), Some(state), Some(code)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some((_, idx)) = id.split_once('_') else {
            continue;
        };
        let state = state.split_whitespace().next().unwrap_or("").to_string();
        for i in task_ids(idx.trim_matches(['[', ']']), n) {
            m.insert(i, (state.clone(), parse_exit_code(code)));
        }
    }
    m
}

/// Submit the array and wait for every task; each task's output goes to stderr, its lines
/// tagged `[i]`, as it ends. Returns each member's ending (in order) and the array's id.
#[allow(clippy::too_many_arguments)]
pub(crate) fn array_step(
    t: &mut Tracker,
    cmd: &Command,
    tasks: &[Task],
    parallel: usize,
    p: &Prepared,
    run_id: &str,
    nodes: u32,
    ssh: Option<&Ssh>,
) -> Result<Vec<TaskEnd>> {
    t.check_signal(S::Run)?;
    let login = Login(ssh);
    t.step_with_state(S::Run, true, |st| {
        let (dir, chdir) = super::prepare_dir(&login, cmd, p, run_id)?;
        let mut select = String::from("case \"$SLURM_ARRAY_TASK_ID\" in\n");
        for (i, task) in tasks.iter().enumerate() {
            let command = task.command.argv.get(2).cloned().unwrap_or_default();
            select.push_str(&format!(
                "{i}) export RUNPLZ_RUN_ID={}; c={} ;;\n",
                sh(&task.run_id),
                sh(&command)
            ));
        }
        select.push_str("*) echo \"runplz: no member $SLURM_ARRAY_TASK_ID in this array\" >&2; exit 125 ;;\nesac\n");
        let script = super::script(&format!("{dir}/env"), false, &select, nodes);
        let mut opts = super::sbatch_options(&p.job, p.settings.deadline, nodes, run_id, &dir, &chdir);
        for o in opts.iter_mut() {
            if o.starts_with("--output=") {
                *o = format!("--output={dir}/%a.stdout");
            } else if o.starts_with("--error=") {
                *o = format!("--error={dir}/%a.stderr");
            }
        }
        opts.push(format!("--array=0-{}%{}", tasks.len() - 1, parallel.max(1)));
        if let Some(d) = p.settings.deadline.filter(|d| d.as_secs() % 60 != 0) {
            out::note(
                TOOL,
                format!(
                    "each member's timeout ({}s) is Slurm's own --time={} (whole minutes) in a job array",
                    d.as_secs(),
                    super::minutes(d)
                ),
            );
        }
        let id = super::submit(st, &login, &dir, &script, &opts, " array")?;
        let ids: Vec<&str> = tasks.iter().map(|t| t.run_id.as_str()).collect();
        let r = wait(&login, &dir, &id, &ids);
        let _ = login.run(&format!("rm -rf -- {}", sh(&dir)), None);
        r
    })
}

fn wait(login: &Login, dir: &str, id: &str, members: &[&str]) -> Result<Vec<TaskEnd>> {
    let n = members.len();
    let mut shown = vec![false; n];
    let mut cancelled = None;
    let mut cancel_sent: Option<Instant> = None;
    let mut delay = Duration::from_millis(200);
    let mut seen = BTreeMap::new();
    loop {
        let f = login
            .run(&format!("scontrol show job -o {}", sh(id)), None)
            .with_context(|| {
                format!(
                    "polling Slurm job array {id} on {} (it may still be running: scancel {id})",
                    login.where_()
                )
            })?;
        let now = if f.status.success() {
            parse_tasks(&String::from_utf8_lossy(&f.stdout), n)
        } else {
            // Purged from the controller: accounting, where there is any.
            let f = login.run(
                &format!("sacct -n -P -j {} -o JobID,State,ExitCode", sh(id)),
                None,
            )?;
            parse_sacct(&String::from_utf8_lossy(&f.stdout), n)
        };
        for (i, v) in now {
            seen.insert(i, v);
        }
        for (i, shown) in shown.iter_mut().enumerate() {
            if !*shown && seen.get(&i).is_some_and(|(s, _)| is_final(s)) {
                *shown = true;
                show_output(login, dir, i, members[i]);
            }
        }
        let done = (0..n).all(|i| seen.get(&i).is_some_and(|(s, _)| is_final(s)));
        if done || (!f.status.success() && seen.is_empty()) {
            break;
        }
        if cancelled.is_none() {
            if let Some(sig) = crate::process::take_pending_signal() {
                cancelled = Some(Cancelled::Signal(sig));
                out::note(TOOL, format!("cancelling Slurm job array {id}..."));
                let _ = login.run(&format!("scancel {}", sh(id)), None);
                cancel_sent = Some(Instant::now());
            }
        } else if cancel_sent.is_some_and(|s| s.elapsed() > CANCEL_WAIT) {
            anyhow::bail!(
                "Slurm job array {id} did not end within {}s of scancel",
                CANCEL_WAIT.as_secs()
            );
        }
        std::thread::sleep(delay);
        delay = (delay * 3 / 2).min(Duration::from_secs(1));
    }
    let ends = (0..n)
        .map(|i| TaskEnd {
            ending: match seen.get(&i) {
                Some((state, exit)) => ending(state, *exit, cancelled),
                None => Err(format!(
                    "task {i} of Slurm job array {id} is no longer known to scontrol or sacct: its end was not seen"
                )),
            },
        })
        .collect();
    Ok(ends)
}

/// Task `i`'s stdout and stderr, each line tagged `[i]`, on stderr; and kept in the
/// member's `<run id>.log` (stdout, then stderr: they come once the task ended, so there is
/// no driver.log with each line's time).
fn show_output(login: &Login, dir: &str, i: usize, member: &str) {
    let f = login.run(
        &format!("cat {d}/{i}.stdout {d}/{i}.stderr 2>/dev/null", d = sh(dir)),
        None,
    );
    if let Ok(f) = f {
        if let Err(e) = crate::state::keep_log(member, &f.stdout) {
            out::warn(
                TOOL,
                format!("member {i}'s output was not kept here: {e:#}"),
            );
        }
        let mut b = Vec::new();
        for line in f.stdout.split(|&c| c == b'\n') {
            if line.is_empty() {
                continue;
            }
            b.extend_from_slice(format!("[{i}] ").as_bytes());
            b.extend_from_slice(line);
            b.push(b'\n');
        }
        crate::progress::stderr(&b);
    }
}

/// A member's record: the array run's, with the member's id, ending and outputs.
pub(crate) fn member_record(
    base: &runplz_protocol::RunRecord,
    task: &Task,
    end: &TaskEnd,
) -> runplz_protocol::RunRecord {
    let mut r = base.clone();
    r.run_id = task.run_id.clone();
    match &end.ending {
        Ok((e, code)) => {
            r.ending = *e;
            r.exit_code = *code;
        }
        Err(m) => {
            out::warn(TOOL, format!("{}: {m}", task.run_id));
            r.ending = RunEnding::Failed { step: S::Run };
            r.exit_code = None;
        }
    }
    r
}
