//! Carry out the steps of a run through the same library functions the rp-* tools wrap.
//! The order is fixed: every check (flags, job, programs, the world's read-only facts) before
//! the run state is written; the state before the backend acquires a place; then the steps;
//! then, whatever happened (success, failure, timeout, Ctrl-C at any step), clean-up, the
//! outputs back and one release of the place, each shielded from a further Ctrl-C.

use super::{RunOptions, Tracker, TOOL};
use crate::backend::{Backend, Place};
use crate::error::CliError;
use crate::exec::{self, ExecOptions};
use crate::ssh::Ssh;
use crate::state::{NewRun, RunState};
use crate::steps::Prepared;
use crate::steps::{Cleanup, Collect, Command, Launch, Stdin, Step, Steps};
use crate::{collect, image, out, probe, sync};
use anyhow::{Context, Result};
use runplz_protocol::{Ending, Exit, Moved, RunEnding, Step as S};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

mod phases;
use phases::*;

/// How long one clean-up command may take, whatever the user presses meanwhile.
const CLEANUP_LIMIT: Duration = Duration::from_secs(60);

/// Run the job and print the run record.
pub(crate) fn run(o: &RunOptions, b: &dyn Backend, p: &Prepared) -> Result<Exit> {
    // First of all, before any program or the world is asked anything.
    let secret_scan = scan_tree(o, p)?;
    let steps = b.steps(p)?;
    for prog in b.programs(&p.settings) {
        crate::process::require(prog.name, prog.hint)?;
    }
    b.preflight(p, &steps)?;
    let run_id = exec::new_run_id(p.job.name());
    let backend = b.kind().name();
    // The first side effect: the run state, so that a killed run leaves a record of itself.
    let state = RunState::create(
        &crate::state::runs_dir(),
        NewRun {
            run_id: &run_id,
            job: p.job.name(),
            job_file: &o.job,
            backend,
            target: b.target(),
            mode: steps.mode.name(),
            outputs: &steps.outputs,
            teardown: b.release_policy(),
        },
    )?;
    let mut t = Tracker::new(
        b.kind().wire(),
        &p.job,
        &run_id,
        b.target(),
        steps.mode.wire(),
        state,
        o.json,
    );
    t.record.env_passed = p.passed.names.clone();
    let tree = secret_scan.1.clone();
    let spec = crate::state::masked_spec(&p.job.spec);
    t.save(|s| {
        s.update(|r| {
            r.tree = Some(tree);
            r.job_spec = spec;
        })
    });
    t.record.tree = Some(secret_scan.1);
    t.record.secret_scan = Some(secret_scan.0);
    // The cost cap counts from here: provisioning and set-up are billed too.
    let provisioning = Instant::now();
    let provisioning_wall = SystemTime::now();
    let err = match t.step_with_state(S::Acquire, b.announces_acquire(), |st| b.acquire(p, st)) {
        Err(e) => {
            // A Ctrl-C while a box was being made (or picked, or waited for).
            if let Exit::Signal(n) = crate::error::exit_of(&e, Exit::ToolFailed) {
                t.end(RunEnding::Interrupted {
                    signal: i32::from(n),
                    step: S::Acquire,
                });
            }
            Some(e)
        }
        Ok(place) => {
            if let Some((usd, price)) = b.cost_cap() {
                let d = Duration::try_from_secs_f64(usd / price * 3600.0).ok();
                let deadline = d.and_then(|d| provisioning.checked_add(d));
                match d {
                    Some(d) => out::note(
                        TOOL,
                        format!("cost cap ${usd}: at ${price}/h the run may last {} from the start of provisioning (set-up steps and the job end then)", crate::backend::human(d.as_secs_f64())),
                    ),
                    // A free box (or one so cheap the cap is centuries away) never reaches it.
                    None => out::warn(TOOL, format!("cost cap ${usd}: at ${price}/h it is never reached; the run has no cost deadline")),
                }
                // The same deadline as a wall-clock time, for the run state.
                let at = deadline.and_then(|_| {
                    let wall = provisioning_wall + d?;
                    let s = wall.duration_since(SystemTime::UNIX_EPOCH).ok()?;
                    Some(super::round(s.as_secs_f64()))
                });
                let cap = crate::state::CostCap {
                    usd,
                    price_per_hour: price,
                    deadline: at,
                };
                t.save(|s| s.update(|r| r.cost_cap = Some(cap)));
                t.cost_deadline = deadline;
            }
            t.runtime_deadline = b.max_runtime().and_then(|d| provisioning.checked_add(d));
            let res = Teardown {
                backend: b,
                place: &place,
                released: false,
            }
            .around(&mut t, |t| go(t, &steps, p, &place, &run_id, o.json));
            res.err()
        }
    };
    t.record.instance = b.instance();
    t.finish(err)
}

/// The content scan of what the run ships (every backend: the box's upload, the docker
/// build context and Modal's all come from the same staged list), before the run state or
/// anything else exists. A finding not allowed is exit 2: nothing ran, nothing was created.
fn scan_tree(o: &RunOptions, p: &Prepared) -> Result<(crate::scan::ScanRecord, crate::scan::Tree)> {
    let excludes = sync::job_excludes_to(&p.job, &p.job.ship_root, &p.outputs);
    let staged = sync::stage(&p.job.ship_root, &excludes)?;
    let allow = crate::scan::allow_for(Some(&p.job), &o.allow_secrets)?;
    let rec = crate::scan::before_shipping(TOOL, &staged, Some(&p.job), &allow, Exit::Usage)?;
    let tree = crate::scan::tree(&staged, &rec);
    Ok((rec, tree))
}

/// The one guard around the steps: whatever they return (or if they panic), the place is
/// released exactly once, shielded from Ctrl-C, and a failed release is a loud warning that
/// never hides the run's own error.
struct Teardown<'a> {
    backend: &'a dyn Backend,
    place: &'a Place,
    released: bool,
}

impl Teardown<'_> {
    fn around(mut self, t: &mut Tracker, f: impl FnOnce(&mut Tracker) -> Result<()>) -> Result<()> {
        let res = f(t);
        if res.is_ok() && t.record.ending == RunEnding::Detached {
            // The job runs on in its place: the run state keeps the teardown pending, for
            // `runplz collect` / `kill`.
            self.released = true;
            if let Err(e) = self.backend.release_after_detach(self.place) {
                out::warn(TOOL, format!("closing the run's connection: {e:#}"));
            }
            return res;
        }
        t.save(|s| s.teardown(None));
        let ok = self.release();
        t.save(|s| s.teardown(Some(ok)));
        res
    }

    fn release(&mut self) -> bool {
        if std::mem::replace(&mut self.released, true) {
            return true;
        }
        match self.backend.release(self.place) {
            Ok(()) => true,
            Err(e) => {
                out::warn(TOOL, format!("releasing the run's place failed: {e:#}"));
                false
            }
        }
    }
}

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        // Only a panic in the steps gets here unreleased.
        self.release();
    }
}

fn go(
    t: &mut Tracker,
    steps: &Steps,
    p: &Prepared,
    place: &Place,
    run_id: &str,
    json: bool,
) -> Result<()> {
    let ssh = place.ssh();
    if let Some(ssh) = ssh {
        // Enough to reach the box again once this runplz is gone (`runplz collect RUN`).
        t.save(|s| s.update(|r| r.handle.ssh = Some(ssh.handle())));
    }
    // Folders on the box to remove at the end, in one ssh call (see `remove_on_box`).
    let mut leftovers: Vec<String> = Vec::new();
    let mut ran = None;
    let mut lost = false;
    let mut res = Ok(());
    // The run's own copy of the shipped tree on the box, once the sync began.
    let mut snapshot = None;
    for step in &steps.list {
        // Set-up counts against the run's cost cap and runtime limit: one already reached
        // ends the run before the next set-up step (`setup_step` checks its own).
        let setup = match step {
            Step::Probe => Some(S::Probe),
            Step::Sync { .. } => Some(S::Sync),
            _ => None,
        };
        if let Some(s) = setup {
            if let Err(e) = limits_left(t, run_id, Some(s)) {
                res = Err(e);
                break;
            }
        }
        res = match step {
            Step::Probe => probe_step(t, steps, p, ssh),
            Step::Sync { dest, runs } => {
                let snap = format!("{runs}/{run_id}");
                snapshot = Some(snap.clone());
                // Before it exists: a run killed from here on says where its copy is.
                t.save(|s| s.update(|r| r.handle.remote_workspace = Some(snap.clone())));
                sync_step(t, p, ssh, dest, &snap)
            }
            Step::Setup(kind, cmd) => setup_step(t, kind.step(), cmd, p, ssh, run_id),
            Step::Job {
                command,
                cleanup,
                launch: Launch::Attached,
            } => {
                let r = job_step(t, command, p, run_id, steps, ssh, json);
                // exec's message for a connection that broke while the job ran.
                lost = matches!(&r, Err(e) if format!("{e:#}").contains("lost the connection"));
                ran = Some((r.as_ref().ok().cloned(), cleanup.clone()));
                r.map(|_| ())
            }
            Step::Job {
                command,
                launch: Launch::Detached,
                ..
            } => detached_job_step(t, command, p, run_id, steps, ssh),
            Step::Job {
                launch: Launch::Sandbox { detach },
                ..
            } => match place {
                Place::Sandbox(sb) => {
                    ran = Some((None, None));
                    crate::modal::steps::job(t, p, sb, run_id, *detach, json)
                }
                _ => Err(anyhow::anyhow!("a sandbox job step needs a sandbox")),
            },
            Step::Job {
                command,
                launch: Launch::Submitted { nodes, array, .. },
                ..
            } if !array.is_empty() => {
                // A sweep's job array brings each member's outputs back itself.
                res = array_run(
                    t,
                    steps,
                    command,
                    array,
                    p,
                    run_id,
                    *nodes,
                    ssh,
                    json,
                    &mut leftovers,
                );
                break;
            }
            Step::Job {
                command,
                launch: Launch::Submitted { nodes, detach, .. },
                ..
            } => {
                let r = crate::slurm::job_step(t, command, p, run_id, *nodes, ssh, json, *detach);
                if t.record.ending == RunEnding::Detached {
                    // The job runs on: its code stays, `runplz collect` brings its outputs.
                    break;
                }
                // Outputs come back whatever happened, unless Slurm refused the job before
                // it queued (nothing ran).
                let refused = matches!(&r, Err(e) if crate::error::exit_of(e, Exit::ToolFailed) == Exit::Precondition);
                if !refused {
                    ran = Some((None, None));
                }
                r
            }
            // From here on, whatever happened, clean up and bring the outputs back.
            Step::Collect(_) => break,
        };
        if res.is_err() {
            break;
        }
    }
    let reached = ran.is_some();
    if let Some((report, cleanup)) = ran {
        // The job did not end by itself (or we lost it): clean up what it may have left.
        let stopped = report
            .as_ref()
            .is_none_or(|r| r.timed_out || r.interrupted.is_some() || r.exit_code > 128);
        if stopped {
            if let Some(Cleanup::RemoveContainer) = cleanup {
                remove_container(ssh, run_id);
            }
        }
    }
    // Outputs come back once the job was reached; a failed set-up step has none.
    if let (Some(c), true) = (steps.collect(), reached) {
        let collected = collect_outputs(t, c, p, &steps.outputs, ssh, run_id, &mut leftovers);
        if let (true, true, Some(ssh)) = (lost, collected, ssh) {
            // A fresh connection worked, so the box is up: the job may well be too.
            out::warn(TOOL, still_running(ssh, run_id));
        }
    }
    // A detached job runs from the run's copy: `runplz collect` removes it.
    let detached = t.record.ending == RunEnding::Detached;
    if let (Some(snap), false) = (snapshot, detached) {
        if lost {
            out::warn(
                TOOL,
                format!("left the run's code in ~/{snap} on the box, as the job may still be running there; remove it once it is done"),
            );
        } else {
            leftovers.push(snap);
        }
    }
    if let Some(ssh) = ssh {
        remove_on_box(ssh, &leftovers);
    }
    res
}

/// A sweep as one Slurm job array: submit and wait, then each member's outputs back and its
/// run record (under `--json`); this run's own record says whether all passed.
#[allow(clippy::too_many_arguments)]
fn array_run(
    t: &mut Tracker,
    steps: &Steps,
    command: &Command,
    tasks: &[crate::slurm::array::Task],
    p: &Prepared,
    run_id: &str,
    nodes: u32,
    ssh: Option<&Ssh>,
    json: bool,
    leftovers: &mut Vec<String>,
) -> Result<()> {
    let parallel = p.array.as_ref().map_or(1, |a| a.parallel);
    let ends = crate::slurm::array::array_step(t, command, tasks, parallel, p, run_id, nodes, ssh)
        .inspect_err(|e| {
            if let Exit::Signal(n) = crate::error::exit_of(e, Exit::ToolFailed) {
                t.end(RunEnding::Interrupted {
                    signal: i32::from(n),
                    step: S::Run,
                });
            }
        })?;
    let base_steps = t.record.steps.len();
    let mut failed = 0;
    let mut signal = None;
    for (task, end) in tasks.iter().zip(&ends) {
        let mut rec = crate::slurm::array::member_record(&t.record, task, end);
        // collect_outputs judges the member's ending: a job that passed but whose outputs
        // did not come back failed.
        t.record.ending = rec.ending;
        if let Some(c) = steps.collect() {
            t.record.outputs = None;
            collect_outputs(t, c, p, &task.outputs, ssh, &task.run_id, leftovers);
        }
        rec.ending = std::mem::replace(&mut t.record.ending, RunEnding::Unknown);
        rec.outputs = t.record.outputs.take();
        rec.steps.extend(t.record.steps.drain(base_steps..));
        if let RunEnding::Interrupted { signal: n, .. } = rec.ending {
            signal = Some(n);
        }
        if super::exit_for(rec.ending, rec.exit_code).code() != 0 {
            failed += 1;
        }
        if json {
            out::print_record("run", &rec)?;
        }
    }
    if let Some(n) = signal {
        t.end(RunEnding::Interrupted {
            signal: n,
            step: S::Run,
        });
        return Err(CliError::new(
            Exit::Signal(u8::try_from(n).unwrap_or(0)),
            format!("interrupted by signal {n}: the Slurm job array was cancelled"),
        ));
    }
    let code = i32::from(failed > 0);
    t.record.exit_code = Some(code);
    t.end(RunEnding::Exited { code });
    out::note(
        TOOL,
        format!(
            "job array: {} of {} members passed",
            tasks.len() - failed,
            tasks.len()
        ),
    );
    Ok(())
}

/// Remove these folders (home-relative) on the box, the collected outputs and the run's
/// copy of the shipped tree, in one ssh call (shielded: a Ctrl-C now must not leave half of
/// them behind for nothing); each one that stays is named. Each is renamed into
/// `~/.runplz/trash` (where the file system is the same) and deleted there in the
/// background, so a large tree costs the run no wait; what a stopped deletion leaves there
/// goes with the next.
fn remove_on_box(ssh: &Ssh, dirs: &[String]) {
    if dirs.is_empty() {
        return;
    }
    // Each failure's index on stdout.
    let mut script = String::from(
        "t=\"$HOME/.runplz/trash\"\n\
         (umask 077 && mkdir -p -- \"$t\") 2>/dev/null && chmod go= -- \"$HOME/.runplz\" \"$t\" 2>/dev/null || t=\n\
         gone() {\n\
           [ -e \"$1\" ] || [ -L \"$1\" ] || return 0\n\
           if [ -n \"$t\" ] && [ -d \"$1\" ] && [ ! -L \"$1\" ] && [ \"$(stat -c %d -- \"$1\" 2>/dev/null)\" = \"$(stat -c %d -- \"$t\" 2>/dev/null)\" ]; then\n\
             mv -- \"$1\" \"$t/$$-$2\" 2>/dev/null && return 0\n\
           fi\n\
           rm -rf -- \"$1\"\n\
         }\n",
    );
    for (i, d) in dirs.iter().enumerate() {
        script.push_str(&format!(
            "gone {} {i} || echo {i}\n",
            crate::ssh::remote_dir_word(d)
        ));
    }
    script.push_str(
        "[ -n \"$t\" ] && (cd -- \"$t\" && exec rm -rf -- ./*) </dev/null >/dev/null 2>&1 &\n",
    );
    let res = ssh
        .command(&script)
        .shielded()
        .timeout(Some(CLEANUP_LIMIT))
        .run();
    let (failed, why): (Vec<usize>, String) = match &res {
        Ok(f) if f.status.success() => (
            String::from_utf8_lossy(&f.stdout)
                .split_whitespace()
                .filter_map(|i| i.parse().ok())
                .collect(),
            f.tail(5).trim().to_string(),
        ),
        Ok(f) => ((0..dirs.len()).collect(), f.tail(5).trim().to_string()),
        Err(e) => ((0..dirs.len()).collect(), format!("{e:#}")),
    };
    for d in failed.into_iter().filter_map(|i| dirs.get(i)) {
        out::warn(TOOL, format!("could not remove ~/{d} on the box: {why}"));
    }
}

/// What to say when contact with the job was lost but the box answers again.
fn still_running(ssh: &Ssh, run_id: &str) -> String {
    let port = ssh
        .target()
        .port
        .map(|p| format!("-p {p} "))
        .unwrap_or_default();
    let script = format!("kill -TERM -- -\"$(cat ~/.runplz/runs/{run_id}/pgid)\"");
    format!(
        "the connection to {} was lost while the job ran, and the outputs came back over a fresh one: the job (run id {run_id}) may still be running on the box; stop it with: ssh {port}{} {}",
        ssh.destination(),
        ssh.destination(),
        crate::quote::sh(&script)
    )
}
