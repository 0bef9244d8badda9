//! Test support: find the built binaries and run them in a test world of their own (a private
//! HOME, XDG dirs and TMPDIR: [`TestEnv`], [`world`]), fake programs on PATH ([`FakeBin`]),
//! and a real loopback ssh box in one line ([`SshBox::start`]). Trees are staged on /dev/shm.
//! Users and worlds left behind by a crashed run are swept once per test binary ([`sweep`]).

#![allow(dead_code)]

mod fakebin;
mod fakebrev;
pub mod fakerunpod;
pub mod slurm;
mod sshbox;
mod sshcalls;
pub mod sweep;
mod testenv;

pub use fakebin::FakeBin;
pub use fakebrev::FakeBrev;
pub use fakerunpod::FakeRunpod;
pub use sshbox::SshBox;
pub use sshcalls::SshCalls;
pub use testenv::{world, TestEnv};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The folder holding the built binaries (`target/debug`), found from this test binary's
/// own path (`target/debug/deps/e2e-…`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// The path of a built binary; panics with the fix when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --workspace --bins` before the tests (scripts/test does)",
        p.display()
    );
    p
}

/// A command for a built binary in this test binary's shared [`world`]: HOME, the XDG dirs
/// and TMPDIR point into it and runplz's own variables are scrubbed. A test that wants to
/// look inside its world makes its own: `TestEnv::new().cmd(name)`.
pub fn bin_cmd(name: &str) -> Command {
    world().cmd(name)
}

/// A fresh temp dir on /dev/shm (tmpfs: fast, and the test machine's disk is slow).
pub fn shm_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rpt-")
        .tempdir_in(if Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        })
        .expect("tempdir")
}

/// Run and return the output, printing everything when the exit code is not `code`.
pub fn run_expect(cmd: &mut Command, code: i32) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert_eq!(
        out.status.code(),
        Some(code),
        "{cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Parse stdout as one JSON record.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON record ({e}):\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Where `program` is on this machine's PATH (`command -v`), or "" where it is not.
pub fn which(program: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Run git in `dir` with a fixed identity and no user config; panics with its stderr.
pub fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(["-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Local sshd processes running as this uid (the per-connection session processes, `sshd`
/// or OpenSSH 9.8's `sshd-session`).
pub fn sshd_sessions_of(uid: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            let name = status
                .lines()
                .next()?
                .strip_prefix("Name:")?
                .trim()
                .to_string();
            let real_uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))?
                .split_whitespace()
                .next()?
                .to_string();
            (name.starts_with("sshd") && real_uid == uid).then_some(pid)
        })
        .collect()
}

/// The docker containers (any state) whose name contains `name`, one per line; panics when
/// `docker ps` itself fails.
pub fn containers_named(name: &str) -> String {
    let ps = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("name={name}"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .expect("docker");
    assert!(
        ps.status.success(),
        "{}",
        String::from_utf8_lossy(&ps.stderr)
    );
    String::from_utf8_lossy(&ps.stdout).trim().to_string()
}

/// Kill every local ssh process whose command line names `tmp` (a run's TMPDIR, where its
/// control socket lives): the control master (retitled `ssh: <ControlPath> [mux]`) and its
/// clients, as a dying network would end them. How many it killed.
pub fn kill_local_ssh(tmp: &Path) -> usize {
    let needle = tmp.display().to_string();
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.starts_with("ssh") && cmd.contains(&needle) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            n += 1;
        }
    }
    n
}
