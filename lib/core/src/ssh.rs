//! How runplz talks to a box: one set of ssh options shared by ssh and rsync, one
//! multiplexed connection per run (ControlMaster with a short socket path, closed when the
//! [`Ssh`] is dropped), `BatchMode=yes` so nothing ever prompts, the user's `--ssh-config`
//! passed as `-F`, and the job's key as `-i KEY -o IdentitiesOnly=yes`.

use crate::error::CliError;
use crate::process::Proc;
use crate::quote;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where to connect: `[user@]host[:port]` or an ssh-config alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Login user, if given.
    pub user: Option<String>,
    /// Host name, address or ssh-config alias.
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
}

impl Target {
    /// Parse `[user@]host[:port]` (IPv6 as `[addr]:port`). Errors are usage errors.
    pub fn parse(s: &str) -> Result<Target> {
        let bad = |why: &str| {
            CliError::usage(format!(
                "--host: found {s:?}, expected [user@]host[:port] ({why})"
            ))
        };
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, s),
        };
        if user.as_deref() == Some("") {
            return Err(bad("empty user"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        if host.is_empty() || host.starts_with('-') || host.chars().any(|c| c.is_whitespace()) {
            return Err(bad("bad host name"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("port must be 1-65535"))?,
            ),
            None => None,
        };
        Ok(Target { user, host, port })
    }
}

/// Options for every ssh and rsync call of one run.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// `--ssh-config FILE` (or `RUNPLZ_SSH_CONFIG`), passed as `-F`.
    pub config: Option<PathBuf>,
    /// The job's `ssh.ssh_key_path`.
    pub key: Option<PathBuf>,
    /// The job's `ssh.user`, used when the target names none.
    pub user: Option<String>,
    /// The job's `ssh.port`, used when the target names none.
    pub port: Option<u16>,
    /// Seconds to wait for a connection (default 10).
    pub connect_timeout: Option<u32>,
}

impl SshOptions {
    /// The options for a run of `job` (its `ssh.user`, `ssh.port` and resolved
    /// `ssh.ssh_key_path`), with the ssh config from `--ssh-config` or `RUNPLZ_SSH_CONFIG`.
    pub fn for_job(job: Option<&crate::job::Job>, config_flag: Option<&Path>) -> SshOptions {
        let s = job.map(|j| &j.spec.ssh);
        SshOptions {
            config: config_from(config_flag),
            key: job.and_then(|j| j.ssh_key_path()),
            user: s.and_then(|s| s.user.clone()),
            // Validation already holds the port to 1-65535.
            port: s.and_then(|s| s.port).and_then(|p| u16::try_from(p).ok()),
            connect_timeout: None,
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A connection to one box: its target, options and the multiplexing socket.
#[derive(Debug)]
pub struct Ssh {
    target: Target,
    opts: SshOptions,
    control_dir: Option<PathBuf>,
}

impl Ssh {
    /// Prepare a connection (nothing is contacted yet). Checks the ssh config file exists.
    pub fn new(target: Target, opts: SshOptions) -> Result<Ssh> {
        if let Some(cfg) = &opts.config {
            if !cfg.is_file() {
                return Err(CliError::usage(format!(
                    "--ssh-config: {} does not exist",
                    cfg.display()
                )));
            }
        }
        // A short, private socket dir: unix socket paths are limited to ~104 bytes.
        let dir = std::env::temp_dir().join(format!(
            "rp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let control_dir = std::fs::DirBuilder::new()
            .mode_private()
            .create(&dir)
            .ok()
            .map(|_| dir);
        Ok(Ssh {
            target,
            opts,
            control_dir,
        })
    }

    /// The target as given.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `user@host` or `host`, as ssh and rsync take it.
    pub fn destination(&self) -> String {
        match self.target.user.as_ref().or(self.opts.user.as_ref()) {
            Some(u) => format!("{u}@{}", self.target.host),
            None => self.target.host.clone(),
        }
    }

    /// The ssh options (everything but the destination and command).
    pub fn options(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(cfg) = &self.opts.config {
            a.extend(["-F".into(), cfg.display().to_string()]);
        }
        if let Some(key) = &self.opts.key {
            a.extend([
                "-i".into(),
                key.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        if let Some(port) = self.target.port.or(self.opts.port) {
            a.extend(["-p".into(), port.to_string()]);
        }
        a.extend(["-o".into(), "BatchMode=yes".into()]);
        a.extend([
            "-o".into(),
            format!("ConnectTimeout={}", self.opts.connect_timeout.unwrap_or(10)),
        ]);
        if let Some(dir) = &self.control_dir {
            a.extend([
                "-o".into(),
                "ControlMaster=auto".into(),
                "-o".into(),
                format!("ControlPath={}/%C", dir.display()),
                "-o".into(),
                "ControlPersist=120".into(),
            ]);
        }
        a
    }

    /// The `-e` value for rsync: `ssh` plus [`Ssh::options`], shell-quoted.
    pub fn rsync_rsh(&self) -> String {
        std::iter::once("ssh".to_string())
            .chain(self.options().iter().map(|o| quote::sh(o)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A [`Proc`] running `script` on the box with `sh -c` semantics of the login shell.
    /// The script is sent as one argument; quote everything inside it with [`quote::sh`].
    pub fn command(&self, script: &str) -> Proc {
        Proc::new("ssh")
            .args(self.options())
            .arg("--")
            .arg(self.destination())
            .arg(script)
    }

    /// Close the shared connection now (also done on drop).
    pub fn close(&self) {
        if let Some(dir) = &self.control_dir {
            let _ = Proc::new("ssh")
                .args(self.options())
                .args(["-O", "exit", "--"])
                .arg(self.destination())
                .timeout(Some(std::time::Duration::from_secs(5)))
                .run();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        self.close();
    }
}

trait PrivateDir {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateDir for std::fs::DirBuilder {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
}

/// Resolve the ssh config file: the flag, else `RUNPLZ_SSH_CONFIG`, else none.
pub fn config_from(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("RUNPLZ_SSH_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Target::parse("me@box:2222").unwrap(),
            Target {
                user: Some("me".into()),
                host: "box".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            Target::parse("alias").unwrap(),
            Target {
                user: None,
                host: "alias".into(),
                port: None
            }
        );
        assert_eq!(
            Target::parse("root@[::1]:22").unwrap(),
            Target {
                user: Some("root".into()),
                host: "::1".into(),
                port: Some(22)
            }
        );
        for bad in ["", "@h", "h:0", "h:99999", "-oProxyCommand=x", "a b"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options_carry_config_key_and_port() {
        let ssh = Ssh::new(
            Target::parse("box").unwrap(),
            SshOptions {
                key: Some("/k".into()),
                user: Some("u".into()),
                port: Some(2200),
                ..Default::default()
            },
        )
        .unwrap();
        let o = ssh.options().join(" ");
        assert!(
            o.contains("-i /k -o IdentitiesOnly=yes -p 2200 -o BatchMode=yes"),
            "{o}"
        );
        assert!(o.contains("ControlMaster=auto"), "{o}");
        assert_eq!(ssh.destination(), "u@box");
    }
}
