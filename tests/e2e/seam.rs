//! The backend seam (issue #7): run state on disk before the first side effect and after each
//! step, remote paths keyed by run id so two runs of one job on one box both come back whole,
//! every program checked before anything happens, and clean-up shielded from Ctrl-C.
use crate::support::{
    bin, bin_cmd, containers_named, json, run_expect, shm_tempdir, stderr, SshBox,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn native_job(run: &str) -> String {
    let args = if run.contains("{tag}") {
        r#", "args": {"tag": "x"}"#
    } else {
        ""
    };
    format!(
        r#"{{"name": "t", "image": {{"from_registry": "debian:bookworm"}}, "run": {}{args}, "ssh": {{"use_docker": false}}}}"#,
        serde_json::to_string(run).unwrap()
    )
}

/// `runplz` in `dir` with its run states under `state`.
pub(crate) fn runplz(dir: &Path, state: &Path, args: &[&str]) -> Command {
    let mut c = bin_cmd("runplz");
    c.current_dir(dir)
        .env("XDG_STATE_HOME", state)
        .args(crate::runplz::with_json(args));
    c
}

/// The run-state files written so far.
pub(crate) fn states(state: &Path) -> Vec<(PathBuf, serde_json::Value)> {
    let dir = state.join("runplz/runs");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    rd.map(|e| e.unwrap().path())
        // Beside each state: its events (`.events.jsonl`) and the job's log (`.log`).
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p, v)
        })
        .collect()
}

#[test]
fn the_run_state_is_written_first_and_follows_every_step() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        native_job("echo hi > \"$RUNPLZ_OUT/r.txt\"; exit 7"),
    )
    .unwrap();
    let mut c = runplz(d.path(), state.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 7);
    let rec = json(&out);
    let all = states(state.path());
    assert_eq!(all.len(), 1);
    let (path, s) = &all[0];
    let id = rec["run_id"].as_str().unwrap();
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{id}.json")
    );
    assert_eq!(s["type"], "run-state");
    assert_eq!(s["status"], "finished");
    assert_eq!(s["exit_code"], 7);
    assert_eq!(s["backend"], "ssh");
    assert_eq!(s["target"], "box");
    assert_eq!(s["mode"], "native");
    assert!(s["current_step"].is_null());
    let steps: Vec<&str> = s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["step"].as_str().unwrap())
        .collect();
    // The release is a step too (the teardown phase), last; each has its start and end.
    assert_eq!(
        steps,
        ["acquire", "probe", "sync", "venv", "run", "collect", "release"]
    );
    let mut last = 0.0;
    for st in s["steps"].as_array().unwrap() {
        let (a, z) = (
            st["started_at"].as_f64().unwrap(),
            st["ended_at"].as_f64().unwrap(),
        );
        assert!(last <= a && a <= z, "{st}");
        last = z;
    }
    assert_eq!(s["failure"], "user_code");
    assert_eq!(s["handle"]["ssh"]["target"], "box");
    assert_eq!(s["handle"]["exec_run_id"], id);
    assert_eq!(s["handle"]["exec_host"], "box");
    assert_eq!(s["handle"]["remote_workspace"], format!("runplz-runs/{id}"));
    assert_eq!(s["handle"]["remote_outputs"], format!("runplz-out/{id}"));
    assert_eq!(s["teardown"]["policy"], "close");
    assert_eq!(s["teardown"]["status"], "done");
    assert_eq!(
        s["job_file"],
        std::fs::canonicalize(d.path().join("job.json"))
            .unwrap()
            .display()
            .to_string()
    );
}

#[test]
fn a_killed_run_leaves_a_state_that_says_where_it_stopped() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        native_job("echo started > \"$RUNPLZ_OUT/started.txt\"; sleep 300"),
    )
    .unwrap();
    let mut c = runplz(d.path(), state.path(), &["ssh", "job.json"]);
    c.args(b.tool_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while b
        .ssh_raw("test -f runplz-out/t-*/started.txt")
        .status
        .code()
        != Some(0)
    {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL: no clean-up of ours runs
    child.wait().unwrap();
    let all = states(state.path());
    assert_eq!(all.len(), 1);
    let s = &all[0].1;
    assert_eq!(s["status"], "running");
    assert_eq!(s["current_step"], "run");
    assert_eq!(s["pid"], child.id());
    assert_eq!(s["teardown"]["status"], "pending");
    let id = s["run_id"].as_str().unwrap();
    // The handle is enough to find the job on the box, which outlived us.
    assert_eq!(s["handle"]["exec_run_id"], id);
    let found = b.ssh(&format!(
        "grep -l -z -x -F -e RUNPLZ_RUN_ID={id} /proc/[0-9]*/environ 2>/dev/null | wc -l"
    ));
    assert_ne!(
        found.trim(),
        "0",
        "the job should still be running on the box"
    );
}

#[test]
fn a_missing_program_stops_the_run_before_anything_happens() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    std::fs::write(d.path().join("job.json"), native_job("true")).unwrap();
    // A PATH with ssh and nothing else: rsync is missing.
    let path = shm_tempdir();
    let ssh = which("ssh");
    std::os::unix::fs::symlink(&ssh, path.path().join("ssh")).unwrap();
    let mut c = runplz(d.path(), state.path(), &["ssh", "job.json"]);
    c.args(b.tool_args()).env("PATH", path.path());
    let out = run_expect(&mut c, 125);
    let err = stderr(&out);
    assert!(
        err.contains("`rsync` not found on PATH; install rsync (apt-get install rsync)"),
        "{err}"
    );
    assert!(!err.contains("probe"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        states(state.path()).is_empty(),
        "no run state: nothing started"
    );
    assert!(
        !b.log().contains("Accepted"),
        "nothing may reach the box:\n{}",
        b.log()
    );
}

fn which(name: &str) -> PathBuf {
    PathBuf::from(crate::support::which(name))
}

#[test]
fn a_shielded_child_runs_through_a_pending_ctrl_c_and_an_ordinary_one_stops() {
    let out = run_expect(&mut Command::new(bin("rpt-shield")), 0);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        serde_json::json!({"shielded": true, "stdout": "finished\n", "interrupted": null, "pending_after": 2})
    );
    assert_eq!(lines[1]["shielded"], false);
    assert_eq!(lines[1]["stdout"], "");
    assert_eq!(lines[1]["interrupted"], 2);
    assert_eq!(lines[1]["pending_after"], serde_json::Value::Null);
}

#[test]
fn outputs_dir_from_the_flag_comes_back_there_and_is_never_shipped() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        native_job("ls -A > \"$RUNPLZ_OUT/shipped.txt\""),
    )
    .unwrap();
    std::fs::create_dir(d.path().join("results")).unwrap();
    std::fs::write(d.path().join("results/old-big.bin"), "from an earlier run").unwrap();
    let mut c = runplz(
        d.path(),
        state.path(),
        &["ssh", "job.json", "--outputs-dir", "results"],
    );
    c.args(b.tool_args());
    let out = run_expect(&mut c, 0);
    let rec = json(&out);
    let results = d.path().join("results");
    assert_eq!(
        rec["outputs"]["dir"],
        std::fs::canonicalize(&results)
            .unwrap()
            .display()
            .to_string()
    );
    // The job saw the repo without the outputs folder, and the job file says nothing of it.
    assert_eq!(
        std::fs::read_to_string(results.join("shipped.txt")).unwrap(),
        "job.json\n"
    );
    assert!(!std::fs::read_to_string(d.path().join("job.json"))
        .unwrap()
        .contains("results"));
}

/// Start `runplz ssh` in `dir`, send it SIGINT once `marker` exists on the box (then again
/// every 200 ms while it lives, when `keep_pressing`), and return its output and pid.
fn interrupt_when(
    b: Option<&SshBox>,
    dir: &Path,
    state: &Path,
    args: &[&str],
    marker: &str,
    keep_pressing: bool,
) -> (std::process::Output, u32) {
    let mut c = runplz(dir, state, args);
    if let Some(b) = b {
        c.args(b.tool_args());
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(90);
    let exists = |m: &str| match b {
        Some(b) => b.ssh_raw(&format!("test -e {m}")).status.code() == Some(0),
        None => dir.join(m).exists(),
    };
    while !exists(marker) {
        assert!(Instant::now() < deadline, "{marker} never appeared");
        std::thread::sleep(Duration::from_millis(100));
    }
    let p = nix::unistd::Pid::from_raw(pid as i32);
    nix::sys::signal::kill(p, nix::sys::signal::SIGINT).unwrap();
    let presser = keep_pressing.then(|| {
        std::thread::spawn(move || {
            while nix::sys::signal::kill(p, nix::sys::signal::SIGINT).is_ok() {
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    });
    let out = child.wait_with_output().unwrap();
    if let Some(t) = presser {
        t.join().unwrap();
    }
    (out, pid)
}

/// No ssh master of runplz `pid` outlived it.
fn no_master_left(pid: u32) {
    let out = Command::new("pgrep")
        .args(["-f", &format!("ControlPath=.*/rp-{pid}-")])
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "an ssh master of runplz {pid} outlived it: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn ctrl_c_in_set_up_or_in_the_job_still_releases_the_box_and_says_where_it_stopped() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    // A slow image step (set-up), then the job.
    std::fs::write(
        d.path().join("job.json"),
        r#"{"name": "t", "image": {"from_registry": "debian:bookworm", "steps": [{"run_commands": ["touch ~/in-setup; sleep 30"]}]},
            "run": "touch ~/in-job; sleep 300", "ssh": {"use_docker": false}}"#,
    )
    .unwrap();
    let (out, pid) = interrupt_when(
        Some(&b),
        d.path(),
        state.path(),
        &["ssh", "job.json"],
        "in-setup",
        false,
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(
        json(&out)["ending"],
        serde_json::json!({"kind": "interrupted", "signal": 2, "step": "venv"})
    );
    no_master_left(pid);
    let s = &states(state.path())[0].1;
    assert_eq!(
        (s["status"].as_str(), s["teardown"]["status"].as_str()),
        (Some("finished"), Some("done"))
    );
    assert_eq!(s["exit_code"], 130);

    // Now the set-up is quick (the venv exists) and Ctrl-C comes during the job.
    std::fs::write(
        d.path().join("job.json"),
        r#"{"name": "t", "image": {"from_registry": "debian:bookworm"},
            "run": "touch ~/in-job; sleep 300", "ssh": {"use_docker": false}}"#,
    )
    .unwrap();
    let state = shm_tempdir();
    let (out, pid) = interrupt_when(
        Some(&b),
        d.path(),
        state.path(),
        &["ssh", "job.json"],
        "in-job",
        false,
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(json(&out)["ending"]["step"], "run");
    no_master_left(pid);
    let s = &states(state.path())[0].1;
    assert_eq!(
        (s["status"].as_str(), s["teardown"]["status"].as_str()),
        (Some("finished"), Some("done"))
    );
    assert_eq!(
        b.ssh("pgrep -u \"$(id -u)\" -f 'slee[p] 300' | wc -l")
            .trim(),
        "0"
    );
}

#[test]
fn ctrl_c_pressed_again_and_again_cannot_stop_the_container_clean_up() {
    let Ok(base) = std::env::var("RUNPLZ_TEST_DOCKER_BASE") else {
        panic!("the docker tests need an engine: run `eval \"$(scripts/podman-env)\"` first (scripts/test does)");
    };
    let d = shm_tempdir();
    let state = shm_tempdir();
    // The job ignores INT and TERM, so only KILL ends it: the docker client dies after the
    // grace and the container lives on until runplz removes it, while Ctrl-C keeps coming.
    std::fs::write(
        d.path().join("job.json"),
        format!(
            r#"{{"name": "t-dint", "image": {{"from_registry": "{base}"}},
                "run": "trap '' INT TERM; touch /out/started; sleep 300", "local": {{"network": "none"}}}}"#
        ),
    )
    .unwrap();
    let (out, _) = interrupt_when(
        None,
        d.path(),
        state.path(),
        &["local", "job.json"],
        "out/started",
        true,
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let rec = json(&out);
    let name = format!("runplz-{}", rec["run_id"].as_str().unwrap());
    assert_eq!(
        containers_named(&name),
        "",
        "the container outlived the run: {}",
        stderr(&out)
    );
    let s = &states(state.path())[0].1;
    assert_eq!(s["handle"]["container"], name);
    assert_eq!(s["teardown"]["status"], "done");
}

#[test]
fn a_transfer_dies_with_a_killed_tool_and_an_ordinary_child_does_not() {
    let t = shm_tempdir();
    for die in [true, false] {
        let pidfile = t.path().join(format!("pid-{die}"));
        let mut c = Command::new(bin("rpt-shield"));
        c.arg("orphan").arg(&pidfile);
        if die {
            c.arg("die");
        }
        let mut helper = c.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let pid = loop {
            if let Ok(s) = std::fs::read_to_string(&pidfile) {
                if let Ok(p) = s.trim().parse::<i32>() {
                    break nix::unistd::Pid::from_raw(p);
                }
            }
            assert!(Instant::now() < deadline, "the child never started");
            std::thread::sleep(Duration::from_millis(20));
        };
        helper.kill().unwrap(); // SIGKILL: no clean-up of its own runs
        helper.wait().unwrap();
        let gone = || nix::sys::signal::kill(pid, None).is_err();
        // Long enough for the kernel to deliver; an ordinary child is given a second.
        let wait = Duration::from_secs(if die { 5 } else { 1 });
        let deadline = Instant::now() + wait;
        while !gone() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(gone(), die, "die_with_parent={die}");
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
    }
}

#[test]
fn a_setting_the_backend_does_not_act_on_is_said_not_ignored() {
    let d = shm_tempdir();
    let state = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        r#"{"name": "t", "image": {"from_registry": "debian:bookworm"}, "run": "true",
            "ssh": {"use_docker": false, "ssh_ready_wait_seconds": 60, "max_inactivity_seconds": 30}}"#,
    )
    .unwrap();
    let out = run_expect(
        &mut runplz(
            d.path(),
            state.path(),
            &["ssh", "job.json", "--host", "box", "--plan"],
        ),
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains("ssh.ssh_ready_wait_seconds is not used by `runplz ssh`"),
        "{err}"
    );
    // The inactivity watch is enforced now: no warning, and the plan passes it to rp-exec.
    assert!(!err.contains("max_inactivity"), "{err}");
    let plan = String::from_utf8(out.stdout).unwrap();
    assert!(
        plan.contains("--max-inactivity 30 --inactivity-action diagnose"),
        "{plan}"
    );
}
