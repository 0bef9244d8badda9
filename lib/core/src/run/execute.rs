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

/// The probe, on the box or (`rp-probe --local`) on this machine: warnings, and a doomed
/// run (a precondition below half its minimum; here, fewer GPUs than the job needs) stops
/// before anything else happens, with exit 3.
fn probe_step(t: &mut Tracker, steps: &Steps, p: &Prepared, ssh: Option<&Ssh>) -> Result<()> {
    let report = t.setup(S::Probe, || {
        let facts = probe::probe(ssh)?;
        Ok(probe::Report::new(
            ssh.map(Ssh::destination),
            facts,
            &probe::Wanted::from_job(&p.job),
        ))
    })?;
    let docker = steps.mode == crate::job::Mode::Docker;
    for f in &report.findings {
        // A native run does not care what docker could not tell the probe.
        if !docker && f.check == "unreadable" && f.message.contains("docker") {
            continue;
        }
        // Said once, in the error below.
        if ssh.is_none() && f.level == probe::Level::Failure {
            continue;
        }
        out::warn(TOOL, &f.message);
    }
    let Some(ssh) = ssh else {
        if report.ok {
            return Ok(());
        }
        t.end(RunEnding::Failed { step: S::Probe });
        let why: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.level == probe::Level::Failure)
            .map(|f| f.message.as_str())
            .collect();
        return Err(CliError::new(
            Exit::Precondition,
            format!("refusing to start a doomed run: {}", why.join("; ")),
        ));
    };
    if docker && report.facts.docker == Some(false) {
        t.end(RunEnding::Failed { step: S::Probe });
        return Err(CliError::new(
            Exit::Precondition,
            format!(
                "{} has no usable `docker` (no docker command, or its engine does not answer `docker info`: see the warnings above), and this job runs in docker there: install or start docker on the box, or set \"ssh\": {{\"use_docker\": false}} to run natively in a venv",
                ssh.destination()
            ),
        ));
    }
    if !report.ok {
        t.end(RunEnding::Failed { step: S::Probe });
        return Err(CliError::new(
            Exit::Precondition,
            "refusing to start a doomed run: a precondition on the box is below half its minimum (see the warnings above)",
        ));
    }
    Ok(())
}

fn sync_step(
    t: &mut Tracker,
    p: &Prepared,
    ssh: Option<&Ssh>,
    dest: &str,
    snapshot: &str,
) -> Result<()> {
    let Some(ssh) = ssh else { return Ok(()) };
    let moved = t.setup(S::Sync, || {
        let excludes = sync::job_excludes_to(&p.job, &p.job.ship_root, &p.outputs);
        // The box is asked what it has (and locked) while the tree is staged here.
        let (staged, tr) = sync::stage_and_up(ssh, dest, Some(snapshot), || {
            let s = sync::stage(&p.job.ship_root, &excludes)?;
            // The tree may have changed since the run's scan (a box takes minutes to come):
            // what changed is scanned again (the rest is in the cache) before it is sent.
            crate::scan::again_before_sending(TOOL, &s, &p.job, &p.allow_secrets)?;
            Ok(s)
        })?;
        for w in staged.all_warnings().iter().chain(&tr.warnings) {
            out::warn(TOOL, w);
        }
        out::note(
            TOOL,
            format!(
                "shipped {} of {} files ({} sent); {} secret-shaped paths kept home",
                tr.files_transferred,
                staged.files.len(),
                sync::human_bytes(tr.bytes_transferred),
                staged.secrets.len()
            ),
        );
        Ok(Moved {
            dir: None,
            files: staged.files.len() as u64,
            bytes: staged.bytes,
            ..Moved::default()
        })
    })?;
    t.record.sync = Some(moved);
    Ok(())
}

fn setup_step(
    t: &mut Tracker,
    name: S,
    cmd: &Command,
    p: &Prepared,
    ssh: Option<&Ssh>,
    run_id: &str,
) -> Result<()> {
    let mut opts = setup_options(cmd, None, run_id);
    // On a box, the run's cost cap and runtime limit end a set-up step too: its supervisor
    // there holds the deadline, as for the job (a step may build an image for an hour).
    if ssh.is_some() {
        let (cap, runtime) = limits_left(t, run_id, Some(name))?;
        opts.cost_cap = cap;
        opts.timeout = runtime;
    }
    let mut ended = None;
    let res = t.setup(name, || {
        let (stdin, _guard) = stdin_for(cmd, p)?;
        opts.stdin = stdin;
        let r = exec::run(&opts, ssh)?;
        if let Some(sig) = r.interrupted {
            return Err(CliError::new(
                Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                format!("interrupted by signal {sig}"),
            ));
        }
        if r.timed_out {
            let (ending, what) = if r.cost_cap {
                (
                    RunEnding::CostCap { signal: r.signal },
                    "the run reached its cost cap (--cost-cap-usd)",
                )
            } else {
                (
                    RunEnding::TimedOut { signal: r.signal },
                    "the run reached its --max-runtime-minutes",
                )
            };
            ended = Some(ending);
            return Err(CliError::new(
                Exit::TimedOut,
                format!("{what} during set-up and the step was stopped on the box; the job was not run (run id {run_id})"),
            ));
        }
        if r.exit_code != 0 {
            anyhow::bail!(
                "`{}` exited with {}; its last lines:\n{}",
                cmd.argv.first().map(String::as_str).unwrap_or(""),
                r.exit_code,
                r.output_tail.trim_end()
            );
        }
        Ok(())
    });
    // `setup` ended the run failed at this step; a deadline is the truer ending.
    if let (Err(_), Some(e)) = (&res, ended) {
        t.record.ending = e;
    }
    res
}

/// Where the job's run state says its parts are (before it starts: a run killed from here
/// on still says them).
fn save_handle(t: &mut Tracker, p: &Prepared, run_id: &str, steps: &Steps, ssh: Option<&Ssh>) {
    t.save(|s| {
        s.update(|r| {
            r.handle.exec_host = ssh.map(|s| s.target().label());
            r.handle.stop_grace_seconds = Some(p.settings.grace.as_secs_f64());
            r.handle.exec_run_id = Some(run_id.to_string());
            r.handle.container =
                (steps.mode == crate::job::Mode::Docker).then(|| format!("runplz-{run_id}"));
            for step in &steps.list {
                match step {
                    Step::Sync { runs, .. } => {
                        r.handle.remote_workspace = Some(format!("{runs}/{run_id}"))
                    }
                    Step::Collect(Collect::Rsync { parent }) => {
                        r.handle.remote_outputs = Some(format!("{parent}/{run_id}"))
                    }
                    _ => {}
                }
            }
        })
    });
}

/// The outputs folder of this run on the box, as `workdir`s are written.
fn box_outputs(steps: &Steps, run_id: &str) -> Option<String> {
    steps.list.iter().find_map(|s| match s {
        Step::Collect(Collect::Rsync { parent }) => Some(format!("{parent}/{run_id}")),
        _ => None,
    })
}

/// `--detach` (issue #10): start the job under the box's supervisor and return. Its deadline
/// and inactivity watch are the box's; its output, end and outputs wait there, in
/// `~/.runplz/runs/<run id>/` and the run's outputs folder, for the operations verbs.
fn detached_job_step(
    t: &mut Tracker,
    cmd: &Command,
    p: &Prepared,
    run_id: &str,
    steps: &Steps,
    ssh: Option<&Ssh>,
) -> Result<()> {
    let Some(ssh) = ssh else {
        return Err(anyhow::anyhow!("a detached job step needs a box"));
    };
    let mut opts = job_options(cmd, p, run_id, steps.mode != crate::job::Mode::Docker);
    opts.watch_dir = box_outputs(steps, run_id);
    t.check_signal(S::Run)?;
    run_limits(t, run_id, &mut opts)?;
    save_handle(t, p, run_id, steps, Some(ssh));
    t.step(S::Run, || exec::start(&opts, ssh))
        .inspect_err(|_| t.end(RunEnding::Failed { step: S::Run }))?;
    t.end(RunEnding::Detached);
    out::note(
        TOOL,
        format!(
            "detached: the job runs on {} under its supervisor (run id {run_id}; its output and end in ~/.runplz/runs/{run_id} there); follow it with `runplz status {run_id}`, `runplz tail -f {run_id}`, `runplz collect {run_id}` (outputs back, then the box released) or `runplz kill {run_id}`",
            ssh.destination()
        ),
    );
    Ok(())
}

fn job_step(
    t: &mut Tracker,
    cmd: &Command,
    p: &Prepared,
    run_id: &str,
    steps: &Steps,
    ssh: Option<&Ssh>,
    json: bool,
) -> Result<exec::ExecReport> {
    let mut opts = job_options(cmd, p, run_id, steps.mode != crate::job::Mode::Docker);
    // The job's stdout is runplz's, unless that carries the record.
    opts.pass_stdout = !json;
    // New files in the outputs folder on the box count as activity too.
    opts.watch_dir = box_outputs(steps, run_id);
    // A private copy of what the job prints, for `runplz tail RUN` (best effort).
    let log = crate::state::log_path(run_id);
    if std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&log)
        .is_ok()
    {
        opts.log = Some(log);
        // And the same with a time and stream on each line, as it arrives.
        opts.stamped_log = Some(crate::state::driver_log_path(run_id));
    }
    t.check_signal(S::Run)?;
    run_limits(t, run_id, &mut opts)?;
    save_handle(t, p, run_id, steps, ssh);
    let r = t.step(S::Run, || exec::run(&opts, ssh));
    let r = r.inspect_err(|_| t.end(RunEnding::Failed { step: S::Run }))?;
    t.record.exit_code = Some(i32::from(r.exit_code));
    t.end(match r.ending() {
        Ending::Exited { code } => RunEnding::Exited { code },
        Ending::Signaled { signal } => RunEnding::Signaled { signal },
        Ending::TimedOut { signal } => RunEnding::TimedOut { signal },
        Ending::Inactive { seconds, .. } => RunEnding::Inactive { seconds },
        Ending::CostCap { signal } => RunEnding::CostCap { signal },
        Ending::Interrupted { signal, .. } => RunEnding::Interrupted {
            signal,
            step: S::Run,
        },
        Ending::Unknown => RunEnding::Unknown,
    });
    if r.cost_cap {
        out::warn(
            TOOL,
            format!("the run reached its cost cap (--cost-cap-usd) and the job was stopped on the box (run id {run_id})"),
        );
    } else if r.timed_out {
        out::warn(
            TOOL,
            format!("the job ran past its deadline and was killed (run id {run_id})"),
        );
    }
    Ok(r)
}

/// The run's own limits, counted from provisioning (`--cost-cap-usd`,
/// `--max-runtime-minutes`), as what is left of them for the box's supervisor: the cap as a
/// deadline of its own, the runtime limit folded into the job's timeout. A limit already
/// reached (provisioning and set-up used it) ends the run here, before the job starts.
fn run_limits(t: &mut Tracker, run_id: &str, opts: &mut ExecOptions) -> Result<()> {
    let (cap, runtime) = limits_left(t, run_id, None)?;
    opts.cost_cap = cap;
    if let Some(r) = runtime {
        opts.timeout = Some(opts.timeout.map_or(r, |t| t.min(r)));
    }
    Ok(())
}

/// What is left of the run's cost cap and runtime limit now, before the job (`step`
/// `None`) or a set-up step; a limit already reached ends the run (exit 124, ending
/// `cost_cap` or `timed_out`) before that step starts.
fn limits_left(
    t: &mut Tracker,
    run_id: &str,
    step: Option<S>,
) -> Result<(Option<Duration>, Option<Duration>)> {
    let now = Instant::now();
    let left = |d: Instant| d.saturating_duration_since(now);
    let cap = t.cost_deadline.map(left);
    let runtime = t.runtime_deadline.map(left);
    let at = match step {
        Some(s) => format!(" (at set-up step `{}`)", s.name()),
        None => String::new(),
    };
    // Less than a second left is none: the job could not start in it.
    let gone = |d: Option<Duration>| d.is_some_and(|d| d < Duration::from_secs(1));
    if gone(cap) && (runtime.is_none() || cap <= runtime) {
        t.end(RunEnding::CostCap { signal: None });
        return Err(CliError::new(
            Exit::TimedOut,
            format!("the run reached its cost cap (--cost-cap-usd) before the job started{at}: provisioning and set-up used the budget; the job was not run (run id {run_id})"),
        ));
    }
    if gone(runtime) {
        t.end(RunEnding::TimedOut { signal: None });
        return Err(CliError::new(
            Exit::TimedOut,
            format!("the run reached its --max-runtime-minutes before the job started{at}: provisioning and set-up used it; the job was not run (run id {run_id})"),
        ));
    }
    Ok((cap, runtime))
}

/// Remove the job's container: shielded, so a second Ctrl-C cannot leave it running.
fn remove_container(ssh: Option<&Ssh>, run_id: &str) {
    let name = format!("runplz-{run_id}");
    let script = format!(
        "docker rm -f {} >/dev/null 2>&1 || true",
        crate::quote::sh(&name)
    );
    let proc = match ssh {
        Some(ssh) => ssh.command(&script),
        None => crate::process::Proc::new("sh").args(["-c", &script]),
    };
    if let Err(e) = proc.shielded().timeout(Some(CLEANUP_LIMIT)).run() {
        out::warn(
            TOOL,
            format!("removing container {name}: {e:#}; remove it with `docker rm -f {name}`"),
        );
    }
}

/// Bring the outputs back and put them in the record; whether they came. Outputs that did
/// not come back after a job that exited 0 end the run failed at `collect` (exit 5); after
/// a job that failed, the job's own ending stays and this is a warning.
fn collect_outputs(
    t: &mut Tracker,
    c: &Collect,
    p: &Prepared,
    to: &Path,
    ssh: Option<&Ssh>,
    run_id: &str,
    leftovers: &mut Vec<String>,
) -> bool {
    let started_at = t.started_at;
    let res = t.step(S::Collect, || {
        collect_step(c, p, to, ssh, run_id, started_at, leftovers)
            .inspect(|m| crate::progress::totals(crate::progress::moved(m.files, m.bytes)))
    });
    match res {
        Ok(m) => {
            t.record.outputs = Some(m);
            true
        }
        Err(e) if t.record.ending == (RunEnding::Exited { code: 0 }) => {
            t.record.ending = RunEnding::Failed { step: S::Collect };
            out::warn(
                TOOL,
                format!("the job succeeded but its outputs did not come back: {e:#}"),
            );
            false
        }
        Err(e) => {
            out::warn(TOOL, format!("outputs not collected: {e:#}"));
            false
        }
    }
}

/// The collect step itself: the outputs brought back (or counted) and what came.
fn collect_step(
    c: &Collect,
    p: &Prepared,
    to: &Path,
    ssh: Option<&Ssh>,
    run_id: &str,
    started_at: SystemTime,
    leftovers: &mut Vec<String>,
) -> Result<Moved> {
    match (c, ssh) {
        (Collect::Rsync { parent }, Some(ssh)) => {
            // Checked before the run; checked again just before writing, as the folder
            // may have changed meanwhile (a symlink put in its place).
            let to = crate::job::outputs::check_flag(&p.job.root, to)
                .map_err(|m| CliError::new(Exit::Failed, format!("the outputs folder: {m}")))?;
            let from = format!("{parent}/{run_id}");
            let got = collect::rsync_down(ssh, &from, &to)?;
            for w in got.warnings.iter().chain(&got.notes()) {
                out::warn(TOOL, w);
            }
            // Back here whole: the box's copy goes (see `remove_on_box`; with the run's
            // code, in the same call, where that goes too).
            leftovers.push(from);
            Ok(Moved {
                dir: Some(to.display().to_string()),
                files: got.files as u64,
                bytes: got.bytes,
                earlier: Some(got.earlier_record()),
                dropped_links: Some(got.dropped_links.clone()),
            })
        }
        (Collect::Tarball, _) => {
            let to = crate::job::outputs::check_flag(&p.job.root, to)
                .map_err(|m| CliError::new(Exit::Failed, format!("the outputs folder: {m}")))?;
            crate::modal::steps::collect(run_id, &to)
        }
        _ => {
            let m = count_local(to, started_at)?;
            if let Some(e) = m.earlier.as_ref().filter(|e| e.files > 0) {
                out::warn(
                    TOOL,
                    format!(
                        "{} file(s) in {} were not written by this run and are from earlier runs (kept): {}",
                        e.files,
                        to.display(),
                        e.paths.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
            Ok(m)
        }
    }
}

/// What this run wrote into a local outputs folder: files modified since it started (a
/// second of slack for coarse file-system clocks), not what earlier runs left there.
fn count_local(dir: &Path, since: SystemTime) -> Result<Moved> {
    let since = since - Duration::from_secs(1);
    let mut m = Moved {
        dir: Some(dir.display().to_string()),
        files: 0,
        bytes: 0,
        earlier: None,
        dropped_links: Some(Vec::new()),
    };
    let mut earlier = Vec::new();
    if dir.is_dir() {
        for e in ignore::WalkBuilder::new(dir)
            .standard_filters(false)
            .build()
            .flatten()
        {
            let Ok(md) = e.metadata() else { continue };
            if !md.is_file() {
                continue;
            }
            if md.modified().is_ok_and(|t| t >= since) {
                m.files += 1;
                m.bytes += md.len();
            } else if let Ok(rel) = e.path().strip_prefix(dir) {
                earlier.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    earlier.sort();
    m.earlier = Some(runplz_protocol::Earlier {
        files: earlier.len() as u64,
        paths: earlier
            .into_iter()
            .take(runplz_protocol::Earlier::MAX_PATHS)
            .collect(),
    });
    Ok(m)
}

/// A set-up command: no deadline, a fresh run id, its input on stdin (in the run's folder).
fn setup_options(cmd: &Command, stdin: Option<exec::Input>, run_id: &str) -> ExecOptions {
    ExecOptions {
        workdir: cmd.workdir.as_ref().map(|w| w.for_run(run_id)),
        stdin,
        ..ExecOptions::new(cmd.argv.clone())
    }
}

/// The job's own run: its deadline, this run's id and its environment.
fn job_options(cmd: &Command, p: &Prepared, run_id: &str, native: bool) -> ExecOptions {
    ExecOptions {
        workdir: cmd.workdir.as_ref().map(|w| w.for_run(run_id)),
        run_id: run_id.to_string(),
        timeout: p.settings.deadline,
        grace: p.settings.grace,
        inactivity: p.settings.max_inactivity.map(|after| exec::Inactivity {
            after,
            terminate: p.settings.inactivity_action
                == Some(crate::job::spec::InactivityAction::Terminate),
        }),
        env: crate::steps::run_env(p, native),
        ..ExecOptions::new(cmd.argv.clone())
    }
}

/// A step's stdin. The build context goes through a temp file (kept alive by the returned
/// guard) so a large repo is streamed to docker, not held in memory.
fn stdin_for(
    cmd: &Command,
    p: &Prepared,
) -> Result<(Option<exec::Input>, Option<tempfile::NamedTempFile>)> {
    let bytes = |b: String| Ok((Some(exec::Input::Bytes(b.into_bytes())), None));
    match &cmd.stdin {
        None => Ok((None, None)),
        Some(Stdin::Dockerfile) => bytes(image::dockerfile(&p.job)?),
        Some(Stdin::Shell { skip_apt }) => bytes(image::shell(
            &p.job,
            &image::ShellOptions {
                skip_apt: *skip_apt,
            },
        )?),
        Some(Stdin::ContextTar) => {
            let dockerfile = image::dockerfile(&p.job)?;
            let file = tempfile::NamedTempFile::new().context("creating a temp file")?;
            let excludes = sync::job_excludes_to(&p.job, &p.job.ship_root, &p.outputs);
            // Staged again, so scanned again (what changed since the run's scan is read;
            // the rest is in the cache), and each file copied as it was read.
            let staged = sync::stage(&p.job.ship_root, &excludes)?;
            let copier = crate::scan::Copier::for_run(TOOL, &staged, &p.job, &p.allow_secrets)?;
            image::write_context_tar(&staged, &copier, &dockerfile, file.as_file(), None)
                .context("building the docker build context")?;
            Ok((
                Some(exec::Input::File(file.path().to_path_buf())),
                Some(file),
            ))
        }
    }
}
