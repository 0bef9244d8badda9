//! `runplz ssh`: a box the user owns, reached over ssh. Acquiring it is opening one
//! multiplexed connection; releasing it closes that connection. runplz never stops or deletes
//! it: `on_finish` is `leave`.

use super::{Backend, Kind, Place, PlanPlace, Program, RSYNC, SSH};
use crate::job::{Job, JobError, Settings};
use crate::quote::sh;
use crate::ssh::{Ssh, SshOptions, Target};
use crate::state::RunState;
use crate::steps::{Prepared, Steps};
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

/// `runplz ssh`'s own flags.
#[derive(Debug, Clone)]
pub struct SshArgs {
    /// The box, as `[user@]host[:port]` or an ssh-config alias.
    pub host: String,
    /// `--ssh-config`.
    pub ssh_config: Option<PathBuf>,
    /// `--no-keep`: close the connection with the run (else it is kept for
    /// `ssh.keep_connection_seconds`, default [`crate::ssh::DEFAULT_KEEP_SECONDS`]).
    pub no_keep: bool,
    /// `--detach`: start the job and return; it runs on under its supervisor on the box.
    pub detach: bool,
}

pub(super) struct SshBackend(pub(super) SshArgs);

pub(super) fn rules(job: &Job, s: &Settings) -> Result<(), JobError> {
    super::mode_rules(job, s, "ssh", "\"ssh.use_docker\": false")
}

impl Backend for SshBackend {
    fn kind(&self) -> Kind {
        Kind::Ssh
    }

    fn check_job(&self, job: &Job, settings: &Settings) -> Result<(), JobError> {
        rules(job, settings)
    }

    fn unused_settings(&self, job: &Job) -> Vec<String> {
        // Waiting for a box to come up is the provisioning backends' (Brev's) business; a box
        // you own is expected to answer.
        match job.spec.ssh.ssh_ready_wait_seconds {
            Some(_) => vec!["ssh.ssh_ready_wait_seconds is not used by `runplz ssh`: it connects once, with ssh's ConnectTimeout (10 s)".into()],
            None => Vec::new(),
        }
    }

    fn check_args(&self) -> Result<()> {
        Target::parse(&self.0.host).map(|_| ())
    }

    fn programs(&self, _s: &Settings) -> Vec<Program> {
        vec![SSH, RSYNC]
    }

    fn steps(&self, p: &Prepared) -> Result<Steps> {
        let steps = crate::steps::on_box(p)?;
        Ok(if self.0.detach {
            crate::steps::detached(steps)
        } else {
            steps
        })
    }

    fn target(&self) -> Option<String> {
        Some(self.0.host.clone())
    }

    fn acquire(&self, p: &Prepared, _state: &mut RunState) -> Result<Place> {
        let keep = match (self.0.no_keep, p.job.spec.ssh.keep_connection_seconds) {
            (true, _) => None,
            (false, Some(n)) => u64::try_from(n).ok().map(Duration::from_secs),
            (false, None) => Some(Duration::from_secs(crate::ssh::DEFAULT_KEEP_SECONDS)),
        };
        Ok(Place::Box(connect(
            &self.0.host,
            p,
            self.0.ssh_config.as_deref(),
            keep,
        )?))
    }

    fn release_policy(&self) -> &'static str {
        if self.0.detach {
            "detach"
        } else {
            "close"
        }
    }

    fn release(&self, place: &Place) -> Result<()> {
        if let Some(ssh) = place.ssh() {
            ssh.close();
        }
        Ok(())
    }

    fn plan_place(&self, _p: &Prepared) -> Result<PlanPlace> {
        let mut lines = vec![format!("HOST={}", sh(&self.0.host))];
        lines.extend(config_line(self.0.ssh_config.as_deref()));
        Ok(PlanPlace {
            lines,
            host_flag: " --host \"$HOST\"".into(),
            release: false,
        })
    }
}

/// One connection to `host` with the job's ssh settings (shared by every box backend).
/// `keep`: how long the connection outlives the run (see [`SshOptions::keep`]).
pub(super) fn connect(
    host: &str,
    p: &Prepared,
    config: Option<&std::path::Path>,
    keep: Option<Duration>,
) -> Result<Ssh> {
    Ssh::new(
        Target::parse(host)?,
        SshOptions {
            keep,
            ..SshOptions::for_job(Some(&p.job), config)
        },
    )
}

/// The plan's `export RUNPLZ_SSH_CONFIG=...`, when there is a config.
pub(super) fn config_line(flag: Option<&std::path::Path>) -> Option<String> {
    let cfg = crate::ssh::config_from(flag)?;
    let cfg = std::fs::canonicalize(&cfg).unwrap_or(cfg);
    Some(format!(
        "export RUNPLZ_SSH_CONFIG={}",
        sh(&cfg.display().to_string())
    ))
}
