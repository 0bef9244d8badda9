//! A real OpenSSH server on 127.0.0.1, one per test: its own free port, host key, config and
//! (unless it is the root box) its own fresh unprivileged user, all under a /dev/shm temp dir.
//! Tools reach it with `--ssh-config <box.config> --host box`. Dropping it stops sshd by
//! PID, kills whatever the user left running, and deletes the user.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static N: AtomicU32 = AtomicU32::new(0);

/// A running loopback box.
pub struct SshBox {
    /// The temp dir holding keys, configs and logs.
    pub dir: tempfile::TempDir,
    /// The port sshd listens on.
    pub port: u16,
    /// The login user (`root` for the root box).
    pub user: String,
    /// The user's home on the box.
    pub home: PathBuf,
    /// The client config to pass as `--ssh-config` (hosts `box`).
    pub config: PathBuf,
    /// The client key.
    pub key: PathBuf,
    sshd: Child,
    created_user: bool,
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(cmd).output().expect("sh")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Root's `.bashrc` on the test hosts runs `pyenv rehash`, which waits up to 60 s for a lock
/// file that a login killed mid-rehash (the kill tests do that) leaves behind: every later
/// root login would stall. Root boxes set this so a login never waits for that lock.
const NO_REHASH_WAIT: &str = "PYENV_REHASH_TIMEOUT=0";

impl SshBox {
    /// A box logged into as a fresh unprivileged user.
    pub fn start() -> SshBox {
        Self::start_with("", false)
    }

    /// A box logged into as root.
    pub fn start_root() -> SshBox {
        Self::start_with(
            &format!("Match User root\n  SetEnv {NO_REHASH_WAIT}\n"),
            true,
        )
    }

    /// A box logged into as root whose sessions reach the test's docker engine (podman's
    /// socket from `scripts/podman-env`).
    pub fn start_docker() -> SshBox {
        let var = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| {
                panic!("{k} is not set: run `eval \"$(scripts/podman-env)\"` first (scripts/test does)")
            })
        };
        let (host, conf) = (var("DOCKER_HOST"), var("CONTAINERS_CONF"));
        Self::start_with(
            &format!("Match User root\n  SetEnv DOCKER_HOST={host} CONTAINERS_CONF={conf} {NO_REHASH_WAIT}\n"),
            true,
        )
    }

    /// A box with extra sshd_config lines (appended last, e.g. a `Match User root` block).
    pub fn start_with(extra_sshd_config: &str, as_root: bool) -> SshBox {
        Self::start_hiding(extra_sshd_config, as_root, &[])
    }

    /// A box on which the programs at `hide` do not exist: sshd runs in its own mount
    /// namespace with /dev/null (not executable) bound over each, so a box without, say,
    /// docker can be had on a machine that has it.
    pub fn start_hiding(extra_sshd_config: &str, as_root: bool, hide: &[&str]) -> SshBox {
        assert!(
            Path::new("/usr/sbin/sshd").is_file(),
            "/usr/sbin/sshd is missing: scripts/test installs openssh-server"
        );
        super::sweep::once();
        let dir = super::shm_tempdir();
        let w = dir.path();
        let n = N.fetch_add(1, Ordering::SeqCst);
        let (user, home, created_user) = if as_root {
            ("root".to_string(), PathBuf::from("/root"), false)
        } else {
            let user = format!("rpt{}x{n}", std::process::id());
            create_user(&user);
            let home = PathBuf::from(format!("/home/{user}"));
            (user, home, true)
        };
        let q = |p: &Path| p.display().to_string();
        for k in ["host", "client"] {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", k, "-f"])
                .arg(w.join(k))
                .status()
                .expect("ssh-keygen");
            assert!(st.success());
        }
        let pubkey = std::fs::read_to_string(w.join("client.pub")).unwrap();
        if as_root {
            std::fs::write(w.join("authorized_keys"), &pubkey).unwrap();
        } else {
            let o = sh(&format!(
                "install -d -m 700 -o {user} -g {user} {h}/.ssh && install -m 600 -o {user} -g {user} {k} {h}/.ssh/authorized_keys",
                h = q(&home),
                k = q(&w.join("client.pub"))
            ));
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let _ = std::fs::create_dir_all("/run/sshd");
        let hostpub = std::fs::read_to_string(w.join("host.pub")).unwrap();
        let config = w.join("ssh_config");
        let key = w.join("client");
        for attempt in 0..20 {
            let port = free_port();
            std::fs::write(
                w.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\n\
                     AuthorizedKeysFile .ssh/authorized_keys {ak}\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                     PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nLogLevel VERBOSE\n\
                     MaxStartups 100:30:200\nMaxSessions 50\nSubsystem sftp internal-sftp\n{extra_sshd_config}\n",
                    hk = q(&w.join("host")),
                    pid = q(&w.join("sshd.pid")),
                    ak = q(&w.join("authorized_keys")),
                ),
            )
            .unwrap();
            std::fs::write(
                w.join("known_hosts"),
                format!("[127.0.0.1]:{port} {hostpub}"),
            )
            .unwrap();
            std::fs::write(
                &config,
                format!(
                    "Host box\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {k}\n  \
                     IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  GlobalKnownHostsFile /dev/null\n  \
                     StrictHostKeyChecking yes\n  LogLevel ERROR\n  ConnectTimeout 5\n  \
                     KexAlgorithms curve25519-sha256\n",
                    k = q(&key),
                    kh = q(&w.join("known_hosts")),
                ),
            )
            .unwrap();
            let mut cmd = if hide.is_empty() {
                Command::new("/usr/sbin/sshd")
            } else {
                let mounts: String = hide
                    .iter()
                    .map(|p| format!("mount --bind /dev/null '{p}' && "))
                    .collect();
                // unshare and sh both exec, so the child's pid is sshd's.
                let mut c = Command::new("unshare");
                c.args(["-m", "--propagation", "private", "sh", "-c"])
                    .arg(format!("{mounts}exec /usr/sbin/sshd \"$@\""))
                    .arg("sshd");
                c
            };
            let mut sshd = cmd
                .args(["-D", "-e", "-f"])
                .arg(w.join("sshd_config"))
                .arg("-E")
                .arg(w.join("sshd.log"))
                .stdin(Stdio::null())
                .spawn()
                .expect("start sshd");
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return SshBox {
                        dir,
                        port,
                        user,
                        home,
                        config,
                        key,
                        sshd,
                        created_user,
                    };
                }
                if let Ok(Some(_)) = sshd.try_wait() {
                    break; // port taken between probe and bind: try another
                }
                if Instant::now() > deadline {
                    let _ = sshd.kill();
                    panic!(
                        "sshd did not listen on {port}: {}",
                        std::fs::read_to_string(w.join("sshd.log")).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            eprintln!("sshd attempt {attempt} on port {port} failed; retrying");
        }
        panic!(
            "could not start sshd: {}",
            std::fs::read_to_string(w.join("sshd.log")).unwrap_or_default()
        );
    }

    /// Stop the listening sshd (new connections are refused; open sessions go on).
    pub fn stop_sshd(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }

    /// Start sshd again on the same port, as it was; returns once it listens.
    pub fn restart_sshd(&mut self) {
        let w = self.dir.path();
        self.sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(w.join("sshd_config"))
            .arg("-E")
            .arg(w.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("restart sshd");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen again");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Drop every open session of the box user (its sshd processes), as a network that
    /// went away would; the listening sshd stays.
    pub fn drop_sessions(&self) {
        let _ = sh(&format!(
            "pkill -KILL -u {} -x 'sshd(-session)?'",
            self.user
        ));
    }

    /// The ssh-config alias of this box.
    pub fn host(&self) -> &'static str {
        "box"
    }

    /// `--ssh-config <config> --host box`, for the tools.
    pub fn tool_args(&self) -> Vec<String> {
        vec![
            "--ssh-config".into(),
            self.config.display().to_string(),
            "--host".into(),
            "box".into(),
        ]
    }

    /// Run a shell command on the box directly with ssh (not through runplz) and return its
    /// stdout; panics with the stderr when it fails.
    pub fn ssh(&self, script: &str) -> String {
        let out = self.ssh_raw(script);
        assert!(
            out.status.success(),
            "ssh {script:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The run folders on the box (`~/.runplz/runs/*`) other than those of runs read to
    /// their end: marked `read`, with their output, command, env and stdin gone (rp-exec
    /// leaves those for a later start to remove, four at a time). One name a line.
    pub fn unread_runs(&self) -> String {
        self.ssh(
            "cd ~/.runplz/runs 2>/dev/null || exit 0; for d in *; do [ -e \"$d\" ] || continue; \
             [ -f \"$d/read\" ] && [ -f \"$d/exit\" ] && [ ! -s \"$d/out\" ] && [ ! -s \"$d/err\" ] && \
             [ ! -s \"$d/diag\" ] && [ ! -s \"$d/supervise\" ] && [ ! -e \"$d/env\" ] && \
             [ ! -e \"$d/stdin\" ] && continue; echo \"$d\"; done",
        )
    }

    /// Run a shell command on the box and return the whole output, whatever its status.
    pub fn ssh_raw(&self, script: &str) -> std::process::Output {
        Command::new("ssh")
            .arg("-F")
            .arg(&self.config)
            .args(["-o", "BatchMode=yes", "box", "--", script])
            .output()
            .expect("ssh")
    }

    /// A client config for this box that names only its address (no Port, User or
    /// IdentityFile), so a tool must get those from a job's `ssh` settings.
    pub fn bare_config(&self) -> PathBuf {
        let bare: String = std::fs::read_to_string(&self.config)
            .unwrap()
            .lines()
            .filter(|l| {
                !["Port ", "User ", "IdentityFile "]
                    .iter()
                    .any(|k| l.trim().starts_with(k))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let p = self.dir.path().join("bare_ssh_config");
        std::fs::write(&p, bare).unwrap();
        p
    }

    /// A job.json in `dir` whose `ssh` settings (user, port, key) reach this box.
    pub fn job_with_ssh(&self, dir: &Path) -> PathBuf {
        let p = dir.join("job.json");
        let job = serde_json::json!({
            "name": "ssh-settings",
            "image": {"from_registry": "debian:12"},
            "run": "true",
            "ssh": {"user": self.user, "port": self.port, "ssh_key_path": self.key},
        });
        std::fs::write(&p, job.to_string()).unwrap();
        p
    }

    /// Make `shell` (a path on this machine, which is also the box) the user's login shell.
    pub fn set_login_shell(&self, shell: &Path) {
        let o = sh(&format!("usermod -s '{}' {}", shell.display(), self.user));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    /// How many logins sshd has accepted so far (its `Accepted publickey for ...` log lines:
    /// one per ssh connection, however many sessions a multiplexed connection carries).
    pub fn accepted_logins(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("Accepted publickey for "))
            .count()
    }

    /// The sshd log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

fn create_user(user: &str) {
    // useradd takes a lock on /etc/passwd; parallel tests may collide, so retry.
    for _ in 0..50 {
        let o = sh(&format!(
            "useradd -m -s /bin/bash {user} && usermod -p '*' {user}"
        ));
        if o.status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("could not create user {user}");
}

impl Drop for SshBox {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        if self.created_user {
            let _ = sh(&format!(
                "pkill -KILL -u {u}; sleep 0.05; pkill -KILL -u {u}",
                u = self.user
            ));
            for _ in 0..50 {
                if sh(&format!("userdel -r -f {} 2>/dev/null", self.user))
                    .status
                    .success()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
