//! The fake RunPod account of one test: `rpt-runpod` (tests/helpers/fakerunpod) serving
//! RunPod's GraphQL API on a loopback port of its own, its state folder, the key it takes,
//! and a test world for runplz. Its pods are real sshds on loopback that let root in;
//! dropping it kills every pod's processes and the server.

use super::TestEnv;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The key the fake accepts (a test-only value).
pub const KEY: &str = "rpa_TESTKEYnotarealkey0123456789";

/// One test's RunPod.
pub struct FakeRunpod {
    /// The test world runplz runs in.
    pub env: TestEnv,
    /// `$FAKE_RUNPOD_DIR`.
    pub dir: tempfile::TempDir,
    server: Child,
    /// The API's base URL (`http://127.0.0.1:PORT`).
    pub base: String,
}

impl FakeRunpod {
    /// An account with the built-in catalog and no pods.
    pub fn new() -> FakeRunpod {
        super::sweep::once();
        let env = TestEnv::new();
        let dir = super::shm_tempdir();
        let server = Command::new(super::bin("rpt-runpod"))
            .env("FAKE_RUNPOD_DIR", dir.path())
            .env("FAKE_RUNPOD_KEY", KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start rpt-runpod");
        let port_file = dir.path().join("port");
        let end = Instant::now() + Duration::from_secs(30);
        while !port_file.exists() {
            assert!(Instant::now() < end, "rpt-runpod never listened");
            std::thread::sleep(Duration::from_millis(10));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        FakeRunpod {
            env,
            base: format!("http://127.0.0.1:{}", port.trim()),
            dir,
            server,
        }
    }

    /// runplz (or another built tool) in this world, with the key and the fake's URL.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = self.env.cmd(name);
        c.env("RUNPOD_API_KEY", KEY)
            .env("RUNPOD_API_BASE_URL", &self.base);
        c
    }

    /// `runplz runpod JOB --json EXTRA...`, run to the end with stdin /dev/null.
    pub fn run(&self, job: &Path, extra: &[&str]) -> Output {
        let mut c = self.cmd("runplz");
        c.arg("runpod").arg(job).arg("--json").args(extra);
        c.stdin(Stdio::null()).output().unwrap()
    }

    /// Make failures happen from now on (lines as in rpt-runpod's docs); "" clears them.
    pub fn fail(&self, lines: &str) {
        std::fs::write(self.dir.path().join("fail"), lines).unwrap();
    }

    /// Every pod the fake ever made, terminated ones too.
    pub fn pods(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Every request, in order (`op`, `input`, `auth`; `http` for a refused one).
    pub fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The inputs of the calls to `op`, in order.
    pub fn calls_of(&self, op: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["op"] == op)
            .map(|c| c["input"].clone())
            .collect()
    }

    /// A job folder (a git repo) holding `job.json` with this text.
    pub fn job(&self, text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = super::shm_tempdir();
        super::git(d.path(), &["init", "-q"]);
        let p = d.path().join("job.json");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    /// The live processes of pod `id`: those that carry its `RUNPOD_POD_ID` (its sessions
    /// and everything they started) and its sshd; zombies aside.
    pub fn processes_of(&self, id: &str) -> Vec<String> {
        let marker = format!("RUNPOD_POD_ID={id}");
        let sshd = self
            .pods()
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["_sshd_pid"].as_u64());
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u64>() else {
                continue;
            };
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            if stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            {
                continue;
            }
            let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
            if Some(pid) == sshd || env.split(|b| *b == 0).any(|v| v == marker.as_bytes()) {
                let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                out.push(format!(
                    "{pid} {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ));
            }
        }
        out
    }

    /// Every pod the fake made is terminated (`stopped`: or stopped) and runs nothing; the
    /// pods, for more checks.
    pub fn assert_all_released(&self, status: &str) -> Vec<Value> {
        let pods = self.pods();
        for p in &pods {
            let id = p["id"].as_str().unwrap();
            assert_eq!(p["desiredStatus"], status, "pod {id}: {p}");
            let end = Instant::now() + Duration::from_secs(10);
            loop {
                let left = self.processes_of(id);
                if left.is_empty() {
                    break;
                }
                assert!(Instant::now() < end, "pod {id} still runs: {left:?}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        pods
    }
}

impl Drop for FakeRunpod {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        for p in self.pods() {
            if let Some(id) = p["id"].as_str() {
                for line in self.processes_of(id) {
                    if let Some(pid) = line.split(' ').next().and_then(|x| x.parse::<i32>().ok()) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
    }
}
