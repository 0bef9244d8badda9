//! The fake Brev account of one test: `rpt-brev` on PATH as `brev`, its state folder, a test
//! world (own HOME, with brev's credentials), and the fixture catalog. Boxes it creates are
//! real sshds run as fresh users `rpt<pid>x9<n>0<k>` (swept like [`super::SshBox`]'s when a
//! test binary dies); dropping it stops every sshd and removes every user it made.

use super::{FakeBin, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static N: AtomicU32 = AtomicU32::new(0);

/// One test's Brev.
pub struct FakeBrev {
    /// The test world runplz and brev run in.
    pub env: TestEnv,
    /// `$FAKE_BREV_DIR`.
    pub dir: tempfile::TempDir,
    bin: FakeBin,
    prefix: String,
    /// Extra variables for every command (`FAKE_BREV_FAIL`, `FAKE_BREV_SLOW`, ...).
    pub vars: Vec<(String, String)>,
}

impl FakeBrev {
    /// A logged-in account with the fixture catalog and no boxes.
    pub fn new() -> FakeBrev {
        super::sweep::once();
        let env = TestEnv::new();
        let dir = super::shm_tempdir();
        let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/brev/catalog.json");
        std::fs::copy(catalog, dir.path().join("catalog.json")).unwrap();
        std::fs::create_dir_all(env.home().join(".brev")).unwrap();
        std::fs::write(
            env.home().join(".brev/credentials.json"),
            r#"{"access_token":"fake","refresh_token":"fake"}"#,
        )
        .unwrap();
        let bin = FakeBin::new();
        std::os::unix::fs::symlink(super::bin("rpt-brev"), bin.dir().join("brev")).unwrap();
        let n = N.fetch_add(1, Ordering::SeqCst);
        FakeBrev {
            env,
            dir,
            bin,
            prefix: format!("rpt{}x9{n}", std::process::id()),
            vars: vec![("FAKE_BREV_STEP_MS".into(), "150".into())],
        }
    }

    /// The folder holding the fake `brev`.
    pub fn bin_dir(&self) -> &Path {
        self.bin.dir()
    }

    /// Set (or replace) a variable for every command.
    pub fn var(mut self, k: &str, v: &str) -> FakeBrev {
        self.vars.retain(|(key, _)| key != k);
        self.vars.push((k.into(), v.into()));
        self
    }

    fn apply(&self, c: &mut Command) {
        c.env("PATH", self.bin.path())
            .env("FAKE_BREV_DIR", self.dir.path())
            .env("FAKE_BREV_USER_PREFIX", &self.prefix);
        for (k, v) in &self.vars {
            c.env(k, v);
        }
    }

    /// A built tool (`runplz`, `rp-box`) in this world, with the fake brev first on PATH.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = self.env.cmd(name);
        self.apply(&mut c);
        c
    }

    /// Any program (`sh`) in this world, with the fake brev first on PATH.
    pub fn program(&self, p: &str) -> Command {
        let mut c = self.env.program(p);
        self.apply(&mut c);
        c
    }

    /// Run the fake brev directly (stdin /dev/null); panics when it fails.
    pub fn brev(&self, args: &[&str]) -> String {
        let mut c = Command::new(super::bin("rpt-brev"));
        self.env.apply(&mut c);
        self.apply(&mut c);
        let o = c.args(args).stdin(Stdio::null()).output().unwrap();
        assert!(
            o.status.success(),
            "brev {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Make failures happen from now on (words as in rpt-brev's docs); "" clears them.
    pub fn fail(&self, words: &str) {
        std::fs::write(self.dir.path().join("fail"), words).unwrap();
    }

    /// The boxes as `brev ls --json` shows them now (which also moves their states on).
    pub fn ls(&self) -> Vec<Value> {
        let out = self.brev(&["ls", "--json"]);
        // The first JSON value: brev's first-time onboarding may follow it on stdout.
        let v: Value = serde_json::Deserializer::from_str(&out)
            .into_iter::<Value>()
            .next()
            .unwrap()
            .unwrap();
        let list = if v.is_array() || v.is_null() {
            v
        } else {
            v["workspaces"].clone()
        };
        list.as_array().cloned().unwrap_or_default()
    }

    /// The box named `name`, if `brev ls` lists it.
    pub fn get(&self, name: &str) -> Option<Value> {
        self.ls().into_iter().find(|b| b["name"] == name)
    }

    /// The fake's own record of every box (its user, port, sshd pid), gone ones excluded.
    pub fn state(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["boxes"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Every call made to brev: its argv and whether stdin was a character device.
    pub fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            // A line being written this instant is not whole yet.
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The calls whose first word is `verb`.
    pub fn calls_of(&self, verb: &str) -> Vec<Vec<String>> {
        self.calls()
            .into_iter()
            .map(|c| {
                c["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|a| a.first().map(String::as_str) == Some(verb))
            .collect()
    }

    /// Wait (up to 10 s) until `brev ls` no longer lists `name`; panics otherwise.
    pub fn wait_gone(&self, name: &str) {
        let end = Instant::now() + Duration::from_secs(10);
        while self.get(name).is_some() {
            assert!(
                Instant::now() < end,
                "box {name} is still listed: {:?}",
                self.ls()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the box's user still exists on this machine (a deleted box keeps nothing).
    pub fn user_exists(user: &str) -> bool {
        Command::new("id")
            .arg(user)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Processes the user runs now, zombies (dead, not yet reaped) aside: a stopped box
    /// runs nothing.
    pub fn processes_of(user: &str) -> String {
        let o = Command::new("ps")
            .args(["-o", "stat=,pid=,args=", "-u", user])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.trim_start().starts_with('Z'))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Restart box `name`'s sshd as a rebooting network would see it: the listener gone and
    /// every session of its user dropped, for `down`, then sshd again on the same port (the
    /// fake's record of its pid updated under the fake's own lock). The user's other
    /// processes (the job under its supervisor) run on.
    pub fn restart_sshd(&self, name: &str, down: Duration) {
        use nix::fcntl::{Flock, FlockArg};
        use std::os::unix::process::CommandExt;
        let b = self
            .state()
            .into_iter()
            .find(|b| b["name"] == name)
            .expect("the box is in the fake's state");
        let user = b["user"].as_str().unwrap().to_string();
        let pid = b["sshd_pid"].as_u64().expect("the box's sshd runs");
        let port = b["port"].as_u64().unwrap() as u16;
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &user, "-x", "sshd(-session)?"])
            .status();
        std::thread::sleep(down);
        let bdir = self.dir.path().join("boxes").join(name);
        let mut cmd = Command::new("/usr/sbin/sshd");
        cmd.args(["-D", "-e", "-f"])
            .arg(bdir.join("sshd_config"))
            .arg("-E")
            .arg(bdir.join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe; sshd outlives this test's process group.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().ok();
                Ok(())
            })
        };
        let mut child = cmd.spawn().expect("restart the box's sshd");
        let new_pid = child.id();
        // Reaped whenever the fake's delete (or this test's drop) kills it.
        std::thread::spawn(move || child.wait());
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "the box's sshd did not listen again");
            std::thread::sleep(Duration::from_millis(5));
        }
        // The fake's record, so that its delete (and this test's drop) stop the new one.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.path().join("lock"))
            .unwrap();
        let _g = Flock::lock(lock, FlockArg::LockExclusive).unwrap();
        let path = self.dir.path().join("state.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for x in v["boxes"].as_array_mut().unwrap() {
            if x["name"] == name && x["sshd_pid"].as_u64() == Some(pid) {
                x["sshd_pid"] = serde_json::json!(new_pid);
            }
        }
        let tmp = self.dir.path().join("state.json.new");
        std::fs::write(&tmp, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    /// A job folder (a git repo) holding `job.json` with this text.
    pub fn job(&self, text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = super::shm_tempdir();
        super::git(d.path(), &["init", "-q"]);
        let p = d.path().join("job.json");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    /// Run a command to the end; the output.
    pub fn output(c: &mut Command) -> Output {
        c.stdin(Stdio::null()).output().unwrap()
    }
}

impl Drop for FakeBrev {
    fn drop(&mut self) {
        for b in self.state() {
            if let Some(pid) = b["sshd_pid"].as_u64() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
            if let Some(u) = b["user"].as_str() {
                if u.starts_with(&self.prefix) && b["user_made"] == true {
                    super::sweep::remove_user(u);
                }
            }
        }
    }
}
