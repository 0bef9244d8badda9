//! A job's settings for one backend, resolved once with defaults applied: where the job runs
//! (docker, natively, or in place on a box that is already the image), its network, its
//! limits and what happens to the box at the end. Everything downstream reads these instead
//! of `spec.ssh.*` / `spec.brev.*` with an `unwrap_or` at each call site, and a command-line
//! override (`--native`) changes the settings, never the job as written.

use super::spec::{BrevMode, InactivityAction, OnFinish, RunpodFinish};
use super::{Backend, Job};
use std::time::Duration;

/// How the job's command is run on the place the backend gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// In a container built from the job's image.
    Docker,
    /// Natively, in a venv set up by the image's shell steps.
    Native,
    /// Natively on a box that already is the image (Brev container mode): the steps run
    /// inline, with no venv of ours.
    InPlace,
}

impl Mode {
    /// The name records and messages use.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Docker => "docker",
            Mode::Native => "native",
            Mode::InPlace => "in_place",
        }
    }

    /// The mode as records carry it.
    pub fn wire(self) -> runplz_protocol::Mode {
        match self {
            Mode::Docker => runplz_protocol::Mode::Docker,
            Mode::Native => runplz_protocol::Mode::Native,
            Mode::InPlace => runplz_protocol::Mode::InPlace,
        }
    }
}

/// One backend's settings for one job, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The backend these are for.
    pub backend: Backend,
    /// How the command runs.
    pub mode: Mode,
    /// The docker network (docker mode only).
    pub network: Option<String>,
    /// The hard deadline: the shorter of `timeout` and the backend's `max_runtime_seconds`.
    pub deadline: Option<Duration>,
    /// The quiet time after which the inactivity watchdog acts (not enforced yet).
    pub max_inactivity: Option<Duration>,
    /// What that watchdog does.
    pub inactivity_action: Option<InactivityAction>,
    /// What happens to the box at the end (`None`: the backend owns no box).
    pub on_finish: Option<OnFinish>,
    /// How long to wait for a box to answer ssh.
    pub ssh_ready_wait: Option<Duration>,
    /// Between the signal that stops the job and KILL (`stop_grace_seconds`, `--grace`).
    pub grace: Duration,
}

/// The stop grace when neither the job nor `--grace` sets one.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

impl Settings {
    /// The same settings with the job run natively (`--native`).
    pub fn native(mut self) -> Settings {
        self.mode = Mode::Native;
        self
    }

    /// Whether the job runs in docker.
    pub fn docker(&self) -> bool {
        self.mode == Mode::Docker
    }
}

/// The limits `ssh` and `brev` share, read through one place.
struct Limits {
    max_runtime_seconds: Option<i64>,
    max_inactivity_seconds: Option<i64>,
    inactivity_action: Option<InactivityAction>,
    ssh_ready_wait_seconds: Option<i64>,
}

fn secs(s: Option<i64>) -> Option<Duration> {
    // Validation holds these to >= 1.
    s.map(|s| Duration::from_secs(s.max(0) as u64))
}

fn mode_of(use_docker: Option<bool>) -> Mode {
    if use_docker == Some(false) {
        Mode::Native
    } else {
        Mode::Docker
    }
}

impl Job {
    /// This job's settings on `backend`, defaults applied.
    pub fn settings(&self, backend: Backend) -> Settings {
        let s = &self.spec;
        let none = Limits {
            max_runtime_seconds: None,
            max_inactivity_seconds: None,
            inactivity_action: None,
            ssh_ready_wait_seconds: None,
        };
        let (mode, network, limits, on_finish) = match backend {
            Backend::Local => (
                mode_of(s.local.use_docker),
                s.local.network.clone(),
                none,
                None,
            ),
            Backend::Ssh => (
                mode_of(s.ssh.use_docker),
                s.ssh.network.clone(),
                Limits {
                    max_runtime_seconds: s.ssh.max_runtime_seconds,
                    max_inactivity_seconds: s.ssh.max_inactivity_seconds,
                    inactivity_action: s.ssh.inactivity_action,
                    ssh_ready_wait_seconds: s.ssh.ssh_ready_wait_seconds,
                },
                Some(OnFinish::Leave),
            ),
            Backend::Brev => (
                match s.brev.mode.unwrap_or(BrevMode::Container) {
                    BrevMode::Container => Mode::InPlace,
                    BrevMode::Vm => mode_of(s.brev.use_docker),
                },
                None,
                Limits {
                    max_runtime_seconds: s.brev.max_runtime_seconds,
                    max_inactivity_seconds: s.brev.max_inactivity_seconds,
                    inactivity_action: s.brev.inactivity_action,
                    ssh_ready_wait_seconds: s.brev.ssh_ready_wait_seconds,
                },
                Some(s.brev.on_finish.unwrap_or(OnFinish::Stop)),
            ),
            // Modal builds the image itself; the job runs in its container.
            Backend::Modal => (Mode::Docker, None, none, None),
            // The job runs natively on the compute nodes, in a venv on the shared home.
            Backend::Slurm => (Mode::Native, None, none, None),
            // The pod is the image: the steps run inline over ssh.
            Backend::Runpod => (
                Mode::InPlace,
                None,
                Limits {
                    ssh_ready_wait_seconds: s.runpod.ssh_ready_wait_seconds,
                    ..none
                },
                Some(match s.runpod.on_finish {
                    Some(RunpodFinish::Stop) => OnFinish::Stop,
                    _ => OnFinish::Delete,
                }),
            ),
        };
        let deadline = [s.timeout, limits.max_runtime_seconds]
            .into_iter()
            .flatten()
            .min();
        let max_inactivity = secs(limits.max_inactivity_seconds);
        Settings {
            backend,
            mode,
            network,
            deadline: secs(deadline),
            max_inactivity,
            inactivity_action: max_inactivity.map(|_| {
                limits
                    .inactivity_action
                    .unwrap_or(InactivityAction::Diagnose)
            }),
            on_finish,
            ssh_ready_wait: secs(limits.ssh_ready_wait_seconds).or(match backend {
                Backend::Ssh | Backend::Brev | Backend::Runpod => Some(Duration::from_secs(1800)),
                _ => None,
            }),
            grace: s
                .stop_grace_seconds
                .map_or(DEFAULT_GRACE, |g| Duration::from_secs(g.max(0) as u64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(extra: &str) -> Job {
        let text = format!(
            r#"{{"name": "t", "image": {{"from_registry": "debian"}}, "run": "true"{extra}}}"#
        );
        crate::job::parse(&text, "job.json", std::path::Path::new("/tmp")).unwrap()
    }

    #[test]
    fn defaults_per_backend() {
        let j = job("");
        let local = j.settings(Backend::Local);
        assert_eq!(local.mode, Mode::Docker);
        assert_eq!((local.deadline, local.on_finish), (None, None));
        assert_eq!(local.grace, Duration::from_secs(5));
        let g = job(r#", "stop_grace_seconds": 0"#);
        assert_eq!(g.settings(Backend::Ssh).grace, Duration::ZERO);
        let ssh = j.settings(Backend::Ssh);
        assert_eq!(ssh.on_finish, Some(OnFinish::Leave));
        assert_eq!(ssh.ssh_ready_wait, Some(Duration::from_secs(1800)));
        let brev = j.settings(Backend::Brev);
        assert_eq!(brev.mode, Mode::InPlace);
        assert_eq!(brev.on_finish, Some(OnFinish::Stop));
        assert_eq!(j.settings(Backend::Local).native().mode, Mode::Native);
        let rp = j.settings(Backend::Runpod);
        assert_eq!(
            (rp.mode, rp.on_finish),
            (Mode::InPlace, Some(OnFinish::Delete))
        );
        assert_eq!(rp.ssh_ready_wait, Some(Duration::from_secs(1800)));
        let stop = job(r#", "runpod": {"on_finish": "stop", "ssh_ready_wait_seconds": 60}"#);
        let rp = stop.settings(Backend::Runpod);
        assert_eq!(rp.on_finish, Some(OnFinish::Stop));
        assert_eq!(rp.ssh_ready_wait, Some(Duration::from_secs(60)));
    }

    #[test]
    fn the_shorter_limit_is_the_deadline_and_inactivity_gets_its_default_action() {
        let j = job(
            r#", "timeout": 100, "ssh": {"max_runtime_seconds": 40, "max_inactivity_seconds": 5, "use_docker": false, "network": "host"}, "brev": {"max_runtime_seconds": 500, "mode": "vm"}"#,
        );
        let ssh = j.settings(Backend::Ssh);
        assert_eq!(ssh.deadline, Some(Duration::from_secs(40)));
        assert_eq!(ssh.mode, Mode::Native);
        assert_eq!(ssh.network.as_deref(), Some("host"));
        assert_eq!(ssh.inactivity_action, Some(InactivityAction::Diagnose));
        let brev = j.settings(Backend::Brev);
        assert_eq!(brev.deadline, Some(Duration::from_secs(100)));
        assert_eq!((brev.mode, brev.inactivity_action), (Mode::Docker, None));
        assert_eq!(
            j.settings(Backend::Local).deadline,
            Some(Duration::from_secs(100))
        );
    }
}
