//! The fake's boxes as real machines: each a fresh user and an sshd on loopback, started
//! when the box reaches RUNNING and stopped (and, on delete, removed) with everything the
//! user runs.

use super::{fail, parse, Fail, World, R};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

impl World {
    /// The box's sshd: a fresh user on first start, a free port each start, brev.pem's
    /// public key authorized. Runs in its own session, outliving this call.
    pub(super) fn start_sshd(&self, b: &mut Value) -> R<()> {
        let name = b["name"].as_str().unwrap_or("").to_string();
        let bdir = self.dir.join("boxes").join(&name);
        std::fs::create_dir_all(&bdir).map_err(|e| Fail(e.to_string()))?;
        let user = b["user"].as_str().unwrap_or("").to_string();
        if b["user_made"] != true {
            create_user(&user)?;
            b["user_made"] = json!(true);
        }
        let key = self.key()?;
        if !bdir.join("host").exists() {
            keygen(&bdir.join("host"))?;
        }
        let q = |p: &Path| p.display().to_string();
        for _ in 0..20 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| Fail(e.to_string()))?
                .port();
            std::fs::write(
                bdir.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\n\
                     AuthorizedKeysFile {ak}\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
                     StrictModes no\nLogLevel VERBOSE\nMaxStartups 100:30:200\nMaxSessions 50\n\
                     AllowUsers {user}\nSubsystem sftp internal-sftp\n",
                    hk = q(&bdir.join("host")),
                    pid = q(&bdir.join("sshd.pid")),
                    ak = q(&key.with_extension("pem.pub")),
                ),
            )
            .map_err(|e| Fail(e.to_string()))?;
            let _ = std::fs::create_dir_all("/run/sshd");
            let mut cmd = Command::new("/usr/sbin/sshd");
            cmd.args(["-D", "-e", "-f"])
                .arg(bdir.join("sshd_config"))
                .arg("-E")
                .arg(bdir.join("sshd.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: setsid is async-signal-safe; it detaches sshd from our caller's group.
            unsafe {
                cmd.pre_exec(|| {
                    nix::unistd::setsid().ok();
                    Ok(())
                })
            };
            let mut child = cmd.spawn().map_err(|e| Fail(format!("sshd: {e}")))?;
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    b["port"] = json!(port);
                    b["sshd_pid"] = json!(child.id());
                    return Ok(());
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    return fail(format!("sshd did not listen on {port}"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        fail("could not start sshd")
    }

    /// The account's key pair (brev.pem), made once.
    pub(super) fn key(&self) -> R<PathBuf> {
        let k = self.dir.join("brev.pem");
        if !k.exists() {
            keygen(&k)?;
        }
        Ok(k)
    }
}

pub(super) fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("sh")
}

pub(super) fn keygen(path: &Path) -> R<()> {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fake-brev", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Fail(format!("ssh-keygen: {e}")))?;
    if !st.success() {
        return fail("ssh-keygen failed");
    }
    Ok(())
}

pub(super) fn create_user(user: &str) -> R<()> {
    if !user.starts_with("rpt") {
        return fail(format!("fake brev: refusing to create user {user:?} (FAKE_BREV_USER_PREFIX must start with rpt)"));
    }
    for _ in 0..50 {
        if sh(&format!(
            "useradd -m -s /bin/bash {user} && usermod -p '*' {user}"
        ))
        .status
        .success()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    fail(format!("could not create user {user}"))
}

/// Stop the box's sshd and everything its user runs (a stopped box runs nothing).
pub(super) fn stop_box(b: &Value) {
    if let Some(pid) = b["sshd_pid"].as_u64() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    if let Some(u) = b["user"].as_str().filter(|u| u.starts_with("rpt")) {
        if b["user_made"] == true {
            let _ = sh(&format!(
                "pkill -KILL -u {u}; sleep 0.05; pkill -KILL -u {u}"
            ));
        }
    }
}

/// Stop the box and remove its user with its home (a deleted box keeps nothing).
pub(super) fn remove_user(b: &Value) {
    stop_box(b);
    if let Some(u) = b["user"].as_str().filter(|u| u.starts_with("rpt")) {
        if b["user_made"] == true {
            for _ in 0..50 {
                if sh(&format!("userdel -r -f {u} 2>/dev/null"))
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

/// `brev refresh`: brev.pem and a `Host NAME` / `Host NAME-host` pair per RUNNING box in
/// `~/.brev/ssh_config`, exactly as brev writes them, and the Include line in `~/.ssh/config`.
pub(super) fn refresh(w: &World, args: &[String]) -> R<()> {
    parse(args, &[])?;
    w.require_login()?;
    println!("refreshing brev...");
    let key = w.key()?;
    let brev = w.home.join(".brev");
    std::fs::create_dir_all(&brev).map_err(|e| Fail(e.to_string()))?;
    let pem = brev.join("brev.pem");
    std::fs::copy(&key, &pem).map_err(|e| Fail(e.to_string()))?;
    let _ = std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o600));
    let home = w.home.display();
    let boxes = w.with_state(|_, st| Ok(st.boxes.clone()))?;
    let mut cfg = format!("# included in {home}/.ssh/config\n");
    for b in boxes.iter().filter(|b| b["status"] == "RUNNING") {
        let name = b["name"].as_str().unwrap_or("");
        let user = b["user"].as_str().unwrap_or("ubuntu");
        let port = b["port"].as_u64().unwrap_or(22);
        for alias in [name.to_string(), format!("{name}-host")] {
            cfg.push_str(&format!(
                "Host {alias}\n  Hostname 127.0.0.1\n  IdentityFile \"{home}/.brev/brev.pem\"\n  User {user}\n  \
                 ServerAliveInterval 30\n  UserKnownHostsFile /dev/null\n  IdentitiesOnly yes\n  \
                 StrictHostKeyChecking no\n  PasswordAuthentication no\n  AddKeysToAgent yes\n  \
                 ForwardAgent yes\n  RequestTTY yes\n  ControlMaster auto\n  \
                 ControlPath ~/.ssh/brev-control-%C\n  ControlPersist 10m\n  Port {port}\n\n"
            ));
        }
    }
    std::fs::write(brev.join("ssh_config"), cfg).map_err(|e| Fail(e.to_string()))?;
    let ssh_dir = w.home.join(".ssh");
    let _ = std::fs::create_dir_all(&ssh_dir);
    let user_cfg = ssh_dir.join("config");
    let old = std::fs::read_to_string(&user_cfg).unwrap_or_default();
    let include = format!("Include \"{home}/.brev/ssh_config\"");
    if !old.contains(&include) {
        std::fs::write(&user_cfg, format!("{include}\n{old}")).map_err(|e| Fail(e.to_string()))?;
    }
    println!("brev has been refreshed");
    Ok(())
}
