//! Carry out the steps of a run through the same library functions the rp-* tools wrap:
//! probe (failures stop the run before anything ships), sync, image, the job under its
//! deadline, and the outputs back on every exit path: success, failure, timeout, Ctrl-C.

use super::steps::{ExecStep, Stdin, Steps};
use super::{Moved, Prepared, RunOptions, Tracker, TOOL};
use crate::error::CliError;
use crate::exec::{self, ExecOptions};
use crate::job::Backend;
use crate::ssh::{Ssh, SshOptions, Target};
use crate::{collect, image, out, probe, sync};
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use std::path::Path;
use std::time::{Duration, SystemTime};

pub(crate) use crate::image::CONTEXT_DOCKERFILE;

/// Run the job (local or ssh) and print the run record.
pub(crate) fn run(o: &RunOptions, p: &Prepared) -> Result<Exit> {
    let steps = super::steps::build(o, p)?;
    let run_id = exec::new_run_id(p.job.name());
    let ssh = match o.backend {
        Backend::Ssh => Some(connect(o, p)?),
        _ => None,
    };
    if ssh.is_none() && steps.mode == "docker" {
        check_local_docker(p)?;
        if o.no_build {
            let f = crate::process::Proc::new("docker")
                .args(["image", "inspect", "--format", "{{.Id}}", &steps.tag])
                .run()?;
            if !f.status.success() {
                return Err(CliError::usage(format!(
                    "--no-build: there is no image {} yet; run once without --no-build",
                    steps.tag
                )));
            }
        }
    }
    let backend = o.backend.name();
    let mut t = Tracker::new(backend, &p.job, &run_id, o.host.clone(), steps.mode);
    let err = go(&mut t, &steps, p, ssh.as_ref(), &run_id).err();
    t.finish(err)
}

fn connect(o: &RunOptions, p: &Prepared) -> Result<Ssh> {
    let target = Target::parse(o.host.as_deref().unwrap_or_default())?;
    Ssh::new(
        target,
        SshOptions::for_job(Some(&p.job), o.ssh_config.as_deref()),
    )
}

/// Docker mode here needs the docker CLI and an engine; never fall back silently.
fn check_local_docker(p: &Prepared) -> Result<()> {
    let fixes = format!(
        "start a Docker engine, or run natively with `runplz local {} --native` (or \"local\": {{\"use_docker\": false}})",
        p.job.origin
    );
    if which::which("docker").is_err() {
        return Err(CliError::new(
            Exit::ToolFailed,
            format!("docker is not installed; {fixes}"),
        ));
    }
    let f = crate::process::Proc::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .timeout(Some(Duration::from_secs(20)))
        .run()?;
    if !f.status.success() {
        return Err(CliError::new(
            Exit::ToolFailed,
            format!("docker cannot reach an engine ({}); {fixes}", f.tail(1)),
        ));
    }
    Ok(())
}

fn go(t: &mut Tracker, steps: &Steps, p: &Prepared, ssh: Option<&Ssh>, run_id: &str) -> Result<()> {
    if let (true, Some(ssh)) = (steps.probe, ssh) {
        let report = t.setup("probe", || {
            let facts = probe::probe(Some(ssh))?;
            Ok(probe::Report::new(
                Some(ssh.destination()),
                facts,
                &probe::Wanted::from_job(&p.job),
            ))
        })?;
        let docker = steps.mode == "docker";
        for f in &report.findings {
            // A native run does not care what docker could not tell the probe.
            if !docker && f.check == "unreadable" && f.message.contains("docker") {
                continue;
            }
            out::warn(TOOL, &f.message);
        }
        if docker && report.facts.docker == Some(false) {
            t.record.failed_step = Some("probe".into());
            return Err(CliError::new(
                Exit::Precondition,
                format!(
                    "{} has no `docker`, and this job runs in docker there: install docker on the box, or set \"ssh\": {{\"use_docker\": false}} to run natively in a venv",
                    ssh.destination()
                ),
            ));
        }
        if !report.ok {
            t.record.failed_step = Some("probe".into());
            return Err(CliError::new(
                Exit::Precondition,
                "refusing to start a doomed run: a precondition on the box is below half its minimum (see the warnings above)",
            ));
        }
    }
    if let (Some(dest), Some(ssh)) = (&steps.sync_dest, ssh) {
        let moved = t.setup("sync", || {
            let excludes = sync::job_excludes(&p.job, &p.job.root);
            let staged = sync::stage(&p.job.root, &excludes)?;
            let tr = sync::up(ssh, &staged, dest)?;
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
            })
        })?;
        t.record.sync = Some(moved);
    }
    let mut run_result = None;
    for step in &steps.execs {
        if !step.job {
            t.setup(step.name, || {
                let (stdin, _guard) = stdin_for(step, p)?;
                let r = exec::run(&setup_options(step, stdin), ssh)?;
                if let Some(sig) = r.interrupted {
                    return Err(CliError::new(
                        Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                        format!("interrupted by signal {sig}"),
                    ));
                }
                if r.exit_code != 0 {
                    anyhow::bail!(
                        "`{}` exited with {}; its last lines:\n{}",
                        step.argv.first().map(String::as_str).unwrap_or(""),
                        r.exit_code,
                        r.output_tail.trim_end()
                    );
                }
                Ok(())
            })?;
            continue;
        }
        let opts = job_options(step, p, run_id, steps.mode == "native");
        t.check_signal("run")?;
        run_result = Some(t.step("run", || exec::run(&opts, ssh)));
    }
    // From here on, whatever happened, clean up and bring the outputs back.
    let report = match run_result {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            // The run failed without a report (a lost connection): the container may live on.
            if steps.container_cleanup {
                remove_container(ssh, run_id);
            }
            collect_outputs(t, steps, ssh);
            return Err(e);
        }
        None => None,
    };
    if let Some(r) = &report {
        t.record.exit_code = Some(r.exit_code as i32);
        t.record.timed_out = r.timed_out;
        t.record.interrupted = r.interrupted;
        if r.timed_out {
            out::warn(
                TOOL,
                format!("the job ran past its deadline and was killed (run id {run_id})"),
            );
        }
        if steps.container_cleanup && (r.timed_out || r.interrupted.is_some() || r.exit_code > 128)
        {
            remove_container(ssh, run_id);
        }
    }
    collect_outputs(t, steps, ssh);
    Ok(())
}

fn remove_container(ssh: Option<&Ssh>, run_id: &str) {
    let opts = ExecOptions {
        timeout: Some(Duration::from_secs(60)),
        ..ExecOptions::new(vec![
            "docker".into(),
            "rm".into(),
            "-f".into(),
            format!("runplz-{run_id}"),
        ])
    };
    let _ = exec::run(&opts, ssh);
}

fn collect_outputs(t: &mut Tracker, steps: &Steps, ssh: Option<&Ssh>) {
    let started_at = t.started_at;
    let res = t.step("collect", || match (&steps.collect_from, ssh) {
        (Some(from), Some(ssh)) => {
            let c = collect::rsync_down(ssh, from, &steps.outputs)?;
            Ok(Moved {
                dir: Some(steps.outputs.display().to_string()),
                files: c.files as u64,
                bytes: c.bytes,
            })
        }
        _ => count_local(&steps.outputs, started_at),
    });
    match res {
        Ok(m) => t.record.outputs = Some(m),
        Err(e) => out::warn(TOOL, format!("outputs not collected: {e:#}")),
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
    };
    if dir.is_dir() {
        for e in ignore::WalkBuilder::new(dir)
            .standard_filters(false)
            .build()
            .flatten()
        {
            let Ok(md) = e.metadata() else { continue };
            if md.is_file() && md.modified().is_ok_and(|t| t >= since) {
                m.files += 1;
                m.bytes += md.len();
            }
        }
    }
    Ok(m)
}

/// A set-up command: no deadline, a fresh run id, its input on stdin.
fn setup_options(step: &ExecStep, stdin: Option<exec::Input>) -> ExecOptions {
    ExecOptions {
        workdir: step.workdir.clone(),
        stdin,
        ..ExecOptions::new(step.argv.clone())
    }
}

/// The job's own run: its deadline, this run's id and its environment.
fn job_options(step: &ExecStep, p: &Prepared, run_id: &str, native: bool) -> ExecOptions {
    ExecOptions {
        workdir: step.workdir.clone(),
        run_id: run_id.to_string(),
        timeout: p.deadline,
        env: super::steps::run_env(p, native),
        ..ExecOptions::new(step.argv.clone())
    }
}

/// A step's stdin. The build context goes through a temp file (kept alive by the returned
/// guard) so a large repo is streamed to docker, not held in memory.
fn stdin_for(
    step: &ExecStep,
    p: &Prepared,
) -> Result<(Option<exec::Input>, Option<tempfile::NamedTempFile>)> {
    let bytes = |b: String| Ok((Some(exec::Input::Bytes(b.into_bytes())), None));
    match &step.stdin {
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
            image::write_context_tar(&p.job, &dockerfile, file.as_file(), None)
                .context("building the docker build context")?;
            Ok((
                Some(exec::Input::File(file.path().to_path_buf())),
                Some(file),
            ))
        }
    }
}
