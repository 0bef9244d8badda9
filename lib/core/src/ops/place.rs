//! Reaching a run's place again from its run state alone, and acting on it: this machine,
//! an ssh box (the recorded target and config), or a Brev box (asked of `brev ls` first,
//! then reached through a fresh ssh config that includes brev's); whether the job still
//! runs there, stopping it, removing the run's folders, and the box's `on_finish`.

use crate::error::CliError;
use crate::exec;
use crate::process::Proc;
use crate::ssh::{Ssh, SshOptions, Target};
use crate::state::{Record, RunState};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

const TOOL: &str = "runplz";
/// TERM, then the run's own stop grace (or `runplz kill --grace`), then KILL.
fn grace(r: &Record) -> Duration {
    r.handle
        .stop_grace_seconds
        .and_then(|g| Duration::try_from_secs_f64(g).ok())
        .unwrap_or(crate::job::DEFAULT_GRACE)
}
/// How long one clean-up command on the box may take.
const CLEANUP_LIMIT: Duration = Duration::from_secs(60);

/// The run id the job's processes carry.
pub(super) fn exec_id(r: &Record) -> &str {
    r.handle.exec_run_id.as_deref().unwrap_or(&r.run_id)
}

/// Where the run's box stands.
pub(super) enum Reach {
    /// This machine.
    Here,
    /// The box answers (the folder holds a fresh ssh config for a Brev box).
    Box(Ssh, Option<tempfile::TempDir>),
    /// `brev ls` no longer lists it, or shows it stopped: nothing of the run runs there.
    Gone(String),
}

/// The Brev box of a brev run, once its name was written.
pub(super) fn brev_name(r: &Record) -> Option<&str> {
    (r.backend == "brev")
        .then_some(r.handle.instance.as_deref())
        .flatten()
}

/// The RunPod pod of a runpod run, once RunPod made it.
pub(super) fn runpod_pod(r: &Record) -> Option<&str> {
    (r.backend == "runpod")
        .then_some(r.handle.pod_id.as_deref())
        .flatten()
}

/// Reach the run's box again from its handle.
pub(super) fn reach(r: &Record) -> Result<Reach> {
    if r.backend == "local" {
        return Ok(Reach::Here);
    }
    if let Some(name) = brev_name(r) {
        let cli = crate::brevbox::Brev::find()?;
        match cli.get(name)? {
            None => {
                return Ok(Reach::Gone(format!(
                    "box {name} is gone (`brev ls` does not list it)"
                )))
            }
            Some(b) if b.status != "RUNNING" => {
                return Ok(Reach::Gone(format!("box {name} is {}", b.status)))
            }
            Some(_) => {}
        }
        cli.refresh()?;
        let dir = tempfile::Builder::new()
            .prefix("rp-brev-")
            .tempdir()
            .map_err(|e| anyhow::anyhow!("creating a folder for the box's ssh config: {e}"))?;
        let cfg = dir.path().join("ssh_config");
        let user = crate::ssh::config_from(None);
        crate::brevbox::write_ssh_config(&cfg, name, user.as_deref())?;
        let ssh = Ssh::new(
            Target {
                user: None,
                host: name.to_string(),
                port: None,
            },
            SshOptions {
                config: Some(cfg),
                connect_timeout: Some(10),
                ..SshOptions::default()
            },
        )?;
        return Ok(Reach::Box(ssh, Some(dir)));
    }
    if let Some(id) = runpod_pod(r) {
        let api = crate::runpod::Api::from_env()?;
        let pod = api
            .pod(id)
            .map_err(|e| crate::runpod::error(e, "asking RunPod about the pod"))?;
        match pod {
            None => {
                return Ok(Reach::Gone(format!(
                    "pod {id} is gone (RunPod does not know it)"
                )))
            }
            Some(p) if p.desired_status != "RUNNING" => {
                return Ok(Reach::Gone(format!("pod {id} is {}", p.desired_status)))
            }
            Some(_) => {}
        }
    }
    let ssh = match &r.handle.ssh {
        Some(h) => {
            // A config recorded by path that has gone since: the caller's, if any.
            let cfg = h
                .config
                .as_ref()
                .filter(|c| !Path::new(c).is_file())
                .and_then(|_| crate::ssh::config_from(None));
            Ssh::from_handle(h, cfg)?
        }
        None => {
            let target = r.target.as_deref().ok_or_else(|| {
                CliError::usage(format!(
                    "run {} never reached a box (its run state names none)",
                    r.run_id
                ))
            })?;
            Ssh::new(
                Target::parse(target)?,
                SshOptions {
                    config: crate::ssh::config_from(None),
                    connect_timeout: Some(10),
                    ..SshOptions::default()
                },
            )?
        }
    };
    Ok(Reach::Box(ssh, None))
}

/// Whether processes of the run still live on the box (or here).
pub(super) fn job_alive(r: &Record, ssh: Option<&Ssh>) -> Result<bool> {
    let id = exec_id(r);
    match ssh {
        None => Ok(!exec::reap::carriers(id).is_empty()),
        Some(ssh) => {
            let script = format!(
                "rp_i={}\n{}\nrp_g=$(cat \"$HOME/.runplz/runs/$rp_i/pgid\" 2>/dev/null)\n[ -n \"$(rp_pids \"$rp_i\" \"$rp_g\")\" ] && echo alive || echo none\n",
                crate::quote::sh(id),
                exec::reap::SHELL_FUNCTIONS
            );
            let out = ssh
                .command(&script)
                .timeout(Some(CLEANUP_LIMIT))
                .output(crate::process::Output::Capture)
                .run()?;
            if !out.status.success() {
                anyhow::bail!(
                    "asking {} about the run failed: {}",
                    ssh.destination(),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(out.stdout_str().trim() == "alive")
        }
    }
}

/// Stop whatever of the run is left on the box (or here): its processes (TERM, grace,
/// KILL) and its container. Errors when something survived KILL.
pub(super) fn stop_job(r: &Record, ssh: Option<&Ssh>) -> Result<()> {
    exec::kill_run(ssh, exec_id(r), grace(r))?;
    if let Some(c) = &r.handle.container {
        let script = format!(
            "docker rm -f {} >/dev/null 2>&1 || true",
            crate::quote::sh(c)
        );
        let p = match ssh {
            Some(ssh) => ssh.command(&script),
            None => Proc::new("sh").args(["-c", &script]),
        };
        let _ = p.shielded().timeout(Some(CLEANUP_LIMIT)).run();
    }
    Ok(())
}

/// Remove a folder of the run on the box (its code copy, or its collected outputs).
pub(super) fn remove_on_box(ssh: &Ssh, dir: &str) {
    let Ok(d) = crate::ssh::remote_path(dir) else {
        return;
    };
    let rm = format!("rm -rf -- {}", crate::ssh::remote_dir_word(&d));
    let gone = ssh
        .command(&rm)
        .shielded()
        .timeout(Some(CLEANUP_LIMIT))
        .run();
    if !gone.is_ok_and(|f| f.status.success()) {
        crate::out::warn(TOOL, format!("could not remove ~/{dir} on the box"));
    }
}

/// The box's `on_finish`: a Brev box runplz made is deleted, a named one stopped (or
/// left); a box the user owns is left alone. Returns whether it happened.
pub(super) fn release(st: &mut RunState) -> bool {
    let r = st.record.clone();
    let _ = st.teardown(None);
    if let Some(id) = runpod_pod(&r) {
        let res = crate::runpod::Api::from_env().and_then(|api| {
            api.release(id, &r.teardown.policy)
                .map_err(|e| crate::runpod::error(e, "releasing the pod"))
        });
        let ok = match res {
            Ok(v) => {
                crate::out::note(TOOL, format!("pod {id}: {v}"));
                true
            }
            Err(e) => {
                crate::out::warn(
                    TOOL,
                    format!("POD {id} WAS NOT RELEASED: {e:#}. It may still be running and billing: check RunPod's console"),
                );
                false
            }
        };
        let _ = st.teardown(Some(ok));
        return ok;
    }
    let ok = match brev_name(&r) {
        None => true,
        Some(name) => {
            let res = match r.teardown.policy.as_str() {
                "leave" => Ok(format!("box {name} left running (brev.on_finish: leave)")),
                policy => crate::brevbox::Brev::find()
                    .map(crate::brevbox::Brev::for_cleanup)
                    .and_then(|cli| {
                        if policy == "stop" {
                            cli.stop(name)
                        } else {
                            cli.delete(name)
                        }
                    }),
            };
            match res {
                Ok(v) => {
                    crate::out::note(TOOL, format!("box {name}: {v}"));
                    true
                }
                Err(e) => {
                    crate::out::warn(
                        TOOL,
                        format!("BOX {name} WAS NOT RELEASED: {e:#}. It may still be running and billing: check with `brev ls`"),
                    );
                    false
                }
            }
        }
    };
    let _ = st.teardown(Some(ok));
    ok
}
