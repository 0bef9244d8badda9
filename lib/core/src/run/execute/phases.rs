//! The steps of a run, one function each (probe, sync, set-up, the job, collect), and the
//! options and limits they hand the step tools' library functions.

use super::*;

/// The probe, on the box or (`rp-probe --local`) on this machine: warnings, and a doomed
/// run (a precondition below half its minimum; here, fewer GPUs than the job needs) stops
/// before anything else happens, with exit 3.
pub(super) fn probe_step(
    t: &mut Tracker,
    steps: &Steps,
    p: &Prepared,
    ssh: Option<&Ssh>,
) -> Result<()> {
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

pub(super) fn sync_step(
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

pub(super) fn setup_step(
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
pub(super) fn detached_job_step(
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

pub(super) fn job_step(
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
pub(super) fn limits_left(
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
pub(super) fn remove_container(ssh: Option<&Ssh>, run_id: &str) {
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
pub(super) fn collect_outputs(
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
            let moved = got.report_moved(TOOL, &to);
            // Back here whole: the box's copy goes (see `remove_on_box`; with the run's
            // code, in the same call, where that goes too).
            leftovers.push(from);
            Ok(moved)
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
