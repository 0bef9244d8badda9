//! `runplz brev` and `rp-box` against the fake brev (tests/helpers/fakebrev/, faithful to
//! facts/brev-cli.md), whose boxes are real sshds on loopback run as fresh users: every
//! lifecycle row, each injected brev failure, Ctrl-C and TERM at each phase, the job's
//! timeout, and a teardown that fails. After each run the fake's own state says what is
//! left: an ephemeral box deleted (its user and home gone with it), a named box stopped
//! with nothing of the job on it.

mod cost_cap;
mod detach;
mod drops;
mod failures;
mod lifecycle;
mod ops;
mod signals;
mod tools;

use crate::support::{stderr, FakeBrev};
use serde_json::Value;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// A container-mode job (the box is debian:12) that writes an output and says where it ran.
pub(super) const JOB: &str = r#"{"name": "train", "image": {"from_registry": "debian:12"},
  "run": "echo \"ran as $(id -un)\" > \"$RUNPLZ_OUT/hi.txt\"; echo job-ran",
  "resources": {"gpu": "A10G"}}"#;

pub(super) fn run(fb: &FakeBrev, job: &std::path::Path, extra: &[&str]) -> Output {
    let mut c = fb.cmd("runplz");
    // --json: the record on stdout (the job's own stdout goes to stderr).
    c.arg("brev").arg(job).arg("--json").args(extra);
    FakeBrev::output(&mut c)
}

pub(super) fn record(o: &Output) -> Value {
    // The run record is the last line on stdout.
    let text = String::from_utf8_lossy(&o.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with("{\"type\":\"run\""));
    serde_json::from_str(last.unwrap_or_else(|| {
        panic!(
            "no run record on stdout:\n{text}\n--- stderr\n{}",
            stderr(o)
        )
    }))
    .unwrap()
}

pub(super) fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// The one box the fake made (by name), and that `brev ls` shows it going or gone, with its
/// user and home gone once it is: a deleted box keeps nothing.
pub(super) fn assert_deleted(fb: &FakeBrev, name: &str) {
    let users: Vec<String> = fb
        .state()
        .iter()
        .filter(|b| b["name"] == name)
        .filter_map(|b| b["user"].as_str().map(str::to_string))
        .collect();
    let calls = fb.calls_of("delete");
    assert!(
        calls
            .iter()
            .any(|c| c.get(1).map(String::as_str) == Some(name)),
        "no `brev delete {name}`: {calls:?}"
    );
    fb.wait_gone(name);
    for u in users {
        assert!(
            !FakeBrev::user_exists(&u),
            "the deleted box's user {u} is still there"
        );
    }
}

pub(super) fn only_box_name(fb: &FakeBrev) -> String {
    let creates = fb.calls_of("create");
    assert_eq!(creates.len(), 1, "exactly one `brev create`: {creates:?}");
    creates[0][1].clone()
}

/// A named box of the user's, made and stopped before the run.
pub(super) fn named_box(fb: &FakeBrev, name: &str) -> String {
    fb.brev(&["create", name, "--type", "g5.xlarge"]);
    fb.brev(&["stop", name]);
    let end = Instant::now() + Duration::from_secs(10);
    while fb.get(name).unwrap()["status"] != "STOPPED" {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(50));
    }
    fb.state().iter().find(|b| b["name"] == name).unwrap()["user"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Nothing of the run is left on a stopped named box: no process, no run copy, no outputs.
pub(super) fn assert_stopped_clean(fb: &FakeBrev, name: &str, user: &str, run_id: &str) {
    let b = fb.get(name).expect("the named box is kept");
    assert!(
        ["STOPPING", "STOPPED"].contains(&b["status"].as_str().unwrap()),
        "{b}"
    );
    assert_eq!(
        FakeBrev::processes_of(user),
        "",
        "the stopped box still runs something"
    );
    let home = std::path::PathBuf::from(format!("/home/{user}"));
    assert!(!home.join("runplz-runs").join(run_id).exists());
    assert!(!home.join("runplz-out").join(run_id).exists());
}

/// Start runplz, wait until `ready` says the phase is reached, send `sig`, and return how it
/// ended.
pub(super) fn interrupt(
    fb: &FakeBrev,
    job: &std::path::Path,
    sig: i32,
    ready: impl Fn(&FakeBrev, &std::path::Path) -> bool,
) -> Output {
    let mut c = fb.cmd("runplz");
    c.arg("brev")
        .arg(job)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child: Child = c.spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    let state_dir = fb.env.state_dir().join("runs");
    while !ready(fb, &state_dir) {
        assert!(Instant::now() < end, "the phase was never reached");
        std::thread::sleep(Duration::from_millis(10));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::try_from(sig).unwrap(),
    )
    .unwrap();
    child.wait_with_output().unwrap()
}

/// The one run state of this fake account's world.
pub(super) fn only_state(fb: &FakeBrev) -> Value {
    let runs = fb.env.state_dir().join("runs");
    let all: Vec<Value> = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all.into_iter().next().unwrap()
}

pub(super) fn current_step(state_dir: &std::path::Path) -> Option<String> {
    let e = std::fs::read_dir(state_dir)
        .ok()?
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))?;
    let v: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
    v["current_step"].as_str().map(str::to_string)
}
