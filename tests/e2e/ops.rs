//! The operations verbs on runs on a real box (the loopback sshd) and on this machine:
//! `runplz status / tail / kill / collect RUN` with RUN as a run id, a prefix or `last`,
//! after the runplz that started the run was killed with SIGKILL and while it still runs;
//! `runplz ps`, pinned as JSON and as a golden table (issue #10).
use crate::support::{json, run_expect, shm_tempdir, stderr, SshBox, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A native ssh job folder.
fn job_dir(run: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    let job = serde_json::json!({
        "name": "opsjob",
        "image": {"from_registry": "debian:bookworm"},
        "run": run,
        "ssh": {"use_docker": false},
        "local": {"use_docker": false},
    });
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    d
}

fn runplz(w: &TestEnv, dir: &Path, args: &[&str]) -> Command {
    let mut c = w.cmd("runplz");
    c.current_dir(dir).args(args).stdin(Stdio::null());
    c
}

/// Start `runplz ssh job.json` in the background (its record on stdout with --json).
fn start(w: &TestEnv, b: &SshBox, dir: &Path) -> Child {
    runplz(w, dir, &["ssh", "job.json", "--json"])
        .args(b.tool_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The one run state in the world, once its job is running (its handle says where).
fn wait_running(w: &TestEnv) -> Value {
    let runs = w.state_dir().join("runs");
    let end = Instant::now() + Duration::from_secs(90);
    loop {
        let found = std::fs::read_dir(&runs).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "json"))
        });
        if let Some(p) = found {
            if let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&p).unwrap()) {
                if v["current_step"] == "run" {
                    return v;
                }
            }
        }
        assert!(Instant::now() < end, "the run never reached its job");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_box_file(b: &SshBox, pattern: &str) {
    let end = Instant::now() + Duration::from_secs(60);
    while b.ssh_raw(&format!("test -f {pattern}")).status.code() != Some(0) {
        assert!(Instant::now() < end, "{pattern} never appeared on the box");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigkill(c: &mut Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c.id() as i32),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    c.wait().unwrap();
}

/// How many processes on the box carry the run id.
fn carriers(b: &SshBox, run_id: &str) -> String {
    b.ssh(&format!(
        "grep -l -z -x 'RUNPLZ_RUN_ID={run_id}' /proc/[0-9]*/environ 2>/dev/null | wc -l"
    ))
    .trim()
    .to_string()
}

fn state_of(w: &TestEnv, run_id: &str) -> Value {
    let p = w.state_dir().join("runs").join(format!("{run_id}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn status(w: &TestEnv, dir: &Path, run: &str) -> Value {
    json(&run_expect(&mut runplz(w, dir, &["status", run]), 0))
}

#[test]
fn ssh_runplz_killed_with_sigkill_then_collect_finishes_the_run() {
    let b = SshBox::start();
    let w = TestEnv::new();
    let d = job_dir(
        "echo early > \"$RUNPLZ_OUT/early.txt\"; echo line-1; echo line-2; echo line-3; sleep 300",
    );
    let mut child = start(&w, &b, d.path());
    let st = wait_running(&w);
    let run_id = st["run_id"].as_str().unwrap().to_string();
    wait_box_file(&b, &format!("runplz-out/{run_id}/early.txt"));
    // The run state says how to reach the box again: no credential, a config by path.
    assert_eq!(st["handle"]["ssh"]["target"], "box");
    assert_eq!(
        st["handle"]["ssh"]["config"],
        b.config.display().to_string().as_str()
    );
    // While runplz runs: `last` finds it, and it is running; collect is refused.
    let s = status(&w, d.path(), "last");
    assert_eq!(
        (
            s["run_id"].as_str(),
            s["state"].as_str(),
            s["step"].as_str()
        ),
        (Some(run_id.as_str()), Some("running"), Some("run"))
    );
    let c = run_expect(&mut runplz(&w, d.path(), &["collect", &run_id]), 1);
    assert!(
        stderr(&c).contains("still running under its runplz"),
        "{}",
        stderr(&c)
    );
    sigkill(&mut child);

    // runplz is gone; the job runs on under its supervisor on the box (a dropped client
    // never ends it). status asks the box and says so, by a prefix of the run id.
    let prefix = &run_id[..run_id.len() - 3];
    let s = status(&w, d.path(), prefix);
    assert_eq!(s["state"], "orphaned", "{s}");
    assert_eq!(s["host"], "box");
    // The state says where it stopped, and nothing ended it.
    let st = state_of(&w, &run_id);
    assert_eq!(
        (st["status"].as_str(), st["current_step"].as_str()),
        (Some("running"), Some("run"))
    );
    let steps: Vec<&str> = st["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps.last(), Some(&"run"));
    assert!(st["steps"][steps.len() - 1]["ended_at"].is_null());

    // tail: the job's output as it printed it, kept here.
    let t = run_expect(&mut runplz(&w, d.path(), &["tail", &run_id, "-n", "2"]), 0);
    assert_eq!(String::from_utf8_lossy(&t.stdout), "line-2\nline-3\n");

    // collect refuses a job that still runs; --force stops it, brings the outputs back,
    // removes the run's folders on the box and ends the run.
    let c = run_expect(&mut runplz(&w, d.path(), &["collect", &run_id]), 1);
    assert!(stderr(&c).contains("is still running"), "{}", stderr(&c));
    let c = run_expect(
        &mut runplz(&w, d.path(), &["collect", &run_id, "--force"]),
        0,
    );
    let rec = json(&c);
    assert_eq!(rec["type"], "collect");
    assert_eq!(rec["files"], 1);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/early.txt")).unwrap(),
        "early\n"
    );
    assert_eq!(
        b.ssh(&format!(
            "ls -d runplz-out/{run_id} runplz-runs/{run_id} 2>/dev/null | wc -l"
        ))
        .trim(),
        "0"
    );
    assert_eq!(carriers(&b, &run_id), "0");
    let st = state_of(&w, &run_id);
    assert_eq!(
        (
            st["status"].as_str(),
            st["failure"].as_str(),
            st["collected"].as_bool(),
            st["teardown"]["status"].as_str()
        ),
        (
            Some("finished"),
            Some("lost_contact"),
            Some(true),
            Some("done")
        )
    );
    // Safe to repeat: nothing moves, it says so, exit 0.
    let again = run_expect(&mut runplz(&w, d.path(), &["collect", &run_id]), 0);
    assert_eq!(json(&again)["files"], 0);
    assert!(stderr(&again).contains("already"), "{}", stderr(&again));
    assert_eq!(status(&w, d.path(), &run_id)["state"], "finished");

    // events.jsonl: every line tagged, in order, ending with the collect's end.
    let ev = std::fs::read_to_string(
        w.state_dir()
            .join("runs")
            .join(format!("{run_id}.events.jsonl")),
    )
    .unwrap();
    let kinds: Vec<String> = ev
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(
                (v["type"].as_str(), v["run_id"].as_str()),
                (Some("event"), Some(run_id.as_str()))
            );
            v["event"].as_str().unwrap().to_string()
        })
        .filter(|k| k != "warning")
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("created"));
    assert!(
        kinds.ends_with(&[
            "step_start".into(),
            "step_end".into(),
            "collected".into(),
            "step_start".into(),
            "step_end".into(),
            "finished".into()
        ]),
        "{kinds:?}"
    );
}

#[test]
fn kill_stops_a_live_run_and_leaves_no_process_on_the_box() {
    let b = SshBox::start();
    let w = TestEnv::new();
    let d = job_dir(
        "echo started > \"$RUNPLZ_OUT/s.txt\"; (setsid sleep 300 &); trap '' TERM; sleep 300",
    );
    let child = start(&w, &b, d.path());
    let st = wait_running(&w);
    let run_id = st["run_id"].as_str().unwrap().to_string();
    wait_box_file(&b, &format!("runplz-out/{run_id}/s.txt"));
    let k = run_expect(&mut runplz(&w, d.path(), &["kill", "last"]), 0);
    let s = json(&k);
    assert_eq!(
        (s["type"].as_str(), s["state"].as_str()),
        (Some("run-status"), Some("terminated"))
    );
    // The job ignored TERM and left a daemon carrying the run id: KILL got them all.
    assert_eq!(carriers(&b, &run_id), "0");
    assert_eq!(
        b.ssh("pgrep -u \"$(id -u)\" -f 'slee[p] 300' | wc -l")
            .trim(),
        "0"
    );
    // Its runplz saw the job end, brought the outputs back and ended.
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/s.txt")).unwrap(),
        "started\n"
    );
    let st = state_of(&w, &run_id);
    assert_eq!(st["status"], "finished");
    // A second kill finds it over.
    let again = json(&run_expect(
        &mut runplz(&w, d.path(), &["kill", &run_id]),
        0,
    ));
    assert_eq!(again["state"], "finished");
}

#[test]
fn kill_of_a_run_whose_runplz_was_killed_stops_the_job_on_the_box() {
    let b = SshBox::start();
    let w = TestEnv::new();
    // The job outlives its connection: a daemon of its own, carrying the run id.
    let d = job_dir("(setsid sh -c 'trap \"\" TERM HUP; sleep 300' &); echo go > \"$RUNPLZ_OUT/g.txt\"; sleep 300");
    let mut child = start(&w, &b, d.path());
    let run_id = wait_running(&w)["run_id"].as_str().unwrap().to_string();
    wait_box_file(&b, &format!("runplz-out/{run_id}/g.txt"));
    sigkill(&mut child);
    let k = json(&run_expect(
        &mut runplz(&w, d.path(), &["kill", &run_id]),
        0,
    ));
    assert_eq!(k["state"], "terminated");
    assert_eq!(k["failure"], "cancelled");
    assert_eq!(carriers(&b, &run_id), "0");
    let st = state_of(&w, &run_id);
    assert_eq!(
        (st["status"].as_str(), st["teardown"]["status"].as_str()),
        (Some("finished"), Some("done"))
    );
    // The outputs stay on a box the user owns: collect still brings them.
    let c = json(&run_expect(
        &mut runplz(&w, d.path(), &["collect", &run_id]),
        0,
    ));
    assert_eq!(c["files"], 1);
    assert!(d.path().join("out/g.txt").is_file());
}

#[test]
fn run_words_resolve_or_fail_clearly() {
    let w = TestEnv::new();
    let d = shm_tempdir();
    // No runs: `last` is a usage error naming the folder.
    let o = run_expect(&mut runplz(&w, d.path(), &["status", "last"]), 2);
    assert!(stderr(&o).contains("no runs recorded"), "{}", stderr(&o));
    write_states(&w);
    let o = run_expect(&mut runplz(&w, d.path(), &["status", "train-2026"]), 2);
    assert!(
        stderr(&o).contains("ambiguous") && stderr(&o).contains("train-20260101-100000-aaaa"),
        "{}",
        stderr(&o)
    );
    let s = status(&w, d.path(), "eval");
    assert_eq!(
        (
            s["run_id"].as_str(),
            s["state"].as_str(),
            s["failure"].as_str()
        ),
        (
            Some("eval-20260101-110000-cccc"),
            Some("finished"),
            Some("timeout")
        )
    );
    let o = run_expect(&mut runplz(&w, d.path(), &["tail", "eval"]), 1);
    assert!(
        stderr(&o).contains("no output of run eval-20260101-110000-cccc"),
        "{}",
        stderr(&o)
    );
    // A word that is no run here and not a run id at all.
    let o = run_expect(&mut runplz(&w, d.path(), &["status", "../x"]), 2);
    assert!(stderr(&o).contains("expected a run id"), "{}", stderr(&o));
}

/// Three run states with fixed times, pids of no runplz, and one finished brev run.
fn write_states(w: &TestEnv) {
    let runs = w.state_dir().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/ps/states");
    for e in std::fs::read_dir(golden).unwrap().flatten() {
        std::fs::copy(e.path(), runs.join(e.file_name())).unwrap();
    }
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden/ps")
        .join(name)
}

/// Compare with a golden file; `RUNPLZ_BLESS=1` rewrites it.
fn check_golden(name: &str, got: &str) {
    let p = golden(name);
    if std::env::var_os("RUNPLZ_BLESS").is_some() {
        std::fs::write(&p, got).unwrap();
    }
    let want = std::fs::read_to_string(&p).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "{} differs (RUNPLZ_BLESS=1 rewrites it)",
        p.display()
    );
}

#[test]
fn ps_table_and_json_lines_are_pinned() {
    let w = TestEnv::new();
    let d = shm_tempdir();
    write_states(&w);
    let t = run_expect(&mut runplz(&w, d.path(), &["ps", "--table"]), 0);
    check_golden("ps.table", &String::from_utf8_lossy(&t.stdout));
    let j = run_expect(&mut runplz(&w, d.path(), &["ps"]), 0);
    let text = String::from_utf8_lossy(&j.stdout).into_owned();
    check_golden("ps.jsonl", &text);
    // status of a finished run answers from its state alone: pinned too.
    let s = run_expect(
        &mut runplz(&w, d.path(), &["status", "train-20260101-100000-aaab"]),
        0,
    );
    check_golden("status.json", &String::from_utf8_lossy(&s.stdout));
    for l in text.lines() {
        let e: crate::records::PsEntry = serde_json::from_str(l).unwrap();
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::from_str::<Value>(l).unwrap()
        );
        let _: runplz_protocol::PsEntry = serde_json::from_str(l).unwrap();
    }
}

#[test]
fn a_local_run_tails_and_collects_from_its_state() {
    let w = TestEnv::new();
    let d = job_dir("for i in 1 2 3 4 5; do echo out-$i; done; echo made > \"$RUNPLZ_OUT/m.txt\"");
    run_expect(
        &mut runplz(&w, d.path(), &["local", "job.json", "--native", "--json"]),
        0,
    );
    let t = run_expect(&mut runplz(&w, d.path(), &["tail", "last", "-n", "3"]), 0);
    assert_eq!(String::from_utf8_lossy(&t.stdout), "out-3\nout-4\nout-5\n");
    let t = run_expect(&mut runplz(&w, d.path(), &["tail", "last", "-f"]), 0);
    assert_eq!(
        String::from_utf8_lossy(&t.stdout),
        "out-1\nout-2\nout-3\nout-4\nout-5\n"
    );
    let s = status(&w, d.path(), "last");
    assert_eq!(
        (
            s["backend"].as_str(),
            s["state"].as_str(),
            s["exit_code"].as_i64()
        ),
        (Some("local"), Some("finished"), Some(0))
    );
    let st = state_of(&w, s["run_id"].as_str().unwrap());
    // Each step with its start and end, in order; the release last.
    let steps = st["steps"].as_array().unwrap();
    assert_eq!(steps.last().unwrap()["step"], "release");
    for s in steps {
        assert!(
            s["started_at"].as_f64().unwrap() <= s["ended_at"].as_f64().unwrap(),
            "{s}"
        );
    }
    assert!(st["failure"].is_null());
    assert_eq!(st["tree"]["git_commit"], Value::Null);
    // What runplz keeps beside the state is the user's alone.
    use std::os::unix::fs::PermissionsExt;
    let id = s["run_id"].as_str().unwrap();
    for f in [
        format!("{id}.json"),
        format!("{id}.events.jsonl"),
        format!("{id}.log"),
        format!("{id}.driver.log"),
    ] {
        let mode = std::fs::metadata(w.state_dir().join("runs").join(&f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f}: {mode:o}");
    }
}

#[test]
fn a_timed_out_run_says_so_in_its_state_and_its_warning_in_its_events() {
    let w = TestEnv::new();
    let d = shm_tempdir();
    let job = serde_json::json!({
        "name": "slow", "image": {"from_registry": "debian:bookworm"},
        "run": "echo before; sleep 30", "timeout": 1,
        "local": {"use_docker": false},
    });
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    run_expect(
        &mut runplz(&w, d.path(), &["local", "job.json", "--json"]),
        124,
    );
    let s = status(&w, d.path(), "last");
    let st = state_of(&w, s["run_id"].as_str().unwrap());
    assert_eq!(
        (
            st["failure"].as_str(),
            st["timed_out"].as_bool(),
            st["exit_code"].as_i64()
        ),
        (Some("timeout"), Some(true), Some(124))
    );
    let ev = std::fs::read_to_string(
        w.state_dir()
            .join("runs")
            .join(format!("{}.events.jsonl", s["run_id"].as_str().unwrap())),
    )
    .unwrap();
    let warned: Vec<Value> = ev
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "warning")
        .collect();
    assert!(
        warned
            .iter()
            .any(|v| v["message"].as_str().unwrap().contains("past its deadline")),
        "{ev}"
    );
    let last: Value = serde_json::from_str(ev.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["event"].as_str(), last["failure"].as_str()),
        (Some("finished"), Some("timeout"))
    );
}

/// Two `runplz collect` of one detached run at once: the run's lock makes the second wait
/// for the first; the outputs come back once, the box's folders go once, and both exit 0
/// (the second says the outputs came back already).
#[test]
fn two_concurrent_collects_of_a_detached_run_bring_the_outputs_back_once() {
    let b = SshBox::start();
    let w = TestEnv::new();
    let d = job_dir("for i in 1 2 3; do echo $i > \"$RUNPLZ_OUT/f$i\"; done; echo done");
    let out = run_expect(
        runplz(&w, d.path(), &["ssh", "job.json", "--json", "--detach"]).args(b.tool_args()),
        0,
    );
    let run_id = json(&out)["run_id"].as_str().unwrap().to_string();
    let end = Instant::now() + Duration::from_secs(60);
    while b.ssh(&format!(
        "cat ~/.runplz/runs/{run_id}/exit 2>/dev/null; true"
    )) != "0 exited\n"
    {
        assert!(Instant::now() < end, "the detached job never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Hold the run's lock here while both start, so that both are in line before either
    // may go: then they race for it.
    let lock_file = w.state_dir().join("runs").join(format!("{run_id}.lock"));
    let held = nix::fcntl::Flock::lock(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_file)
            .unwrap(),
        nix::fcntl::FlockArg::LockExclusive,
    )
    .unwrap();
    let logs = shm_tempdir();
    let spawn = |n: usize| {
        let err = std::fs::File::create(logs.path().join(format!("err{n}"))).unwrap();
        runplz(&w, d.path(), &["collect", &run_id])
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap()
    };
    let (c1, c2) = (spawn(1), spawn(2));
    let said = |n: usize| std::fs::read_to_string(logs.path().join(format!("err{n}"))).unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while ![1, 2].iter().all(|&n| {
        said(n).contains(&format!(
            "waiting for another `runplz collect` or `kill` of run {run_id}"
        ))
    }) {
        assert!(Instant::now() < end, "{}\n{}", said(1), said(2));
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(held);
    let (o1, o2) = (
        c1.wait_with_output().unwrap(),
        c2.wait_with_output().unwrap(),
    );
    assert_eq!(
        (o1.status.code(), o2.status.code()),
        (Some(0), Some(0)),
        "{}\n{}",
        said(1),
        said(2)
    );
    let mut files: Vec<u64> = [&o1, &o2]
        .iter()
        .map(|o| {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["type"], "collect", "{v}");
            v["files"].as_u64().unwrap()
        })
        .collect();
    files.sort();
    assert_eq!(files, [0, 3], "{}\n{}", said(1), said(2));
    assert_eq!(
        [1, 2]
            .iter()
            .filter(|&&n| said(n).contains("was collected already: nothing moved"))
            .count(),
        1,
        "{}\n{}",
        said(1),
        said(2)
    );
    for i in 1..=3 {
        assert_eq!(
            std::fs::read_to_string(d.path().join(format!("out/f{i}"))).unwrap(),
            format!("{i}\n")
        );
    }
    assert_eq!(
        b.ssh(&format!(
            "ls -d ~/.runplz/runs/{run_id} runplz-out/{run_id} runplz-runs/{run_id} 2>/dev/null | wc -l"
        ))
        .trim(),
        "0"
    );
    // One collect, one release, in the run's events.
    let ev = std::fs::read_to_string(
        w.state_dir()
            .join("runs")
            .join(format!("{run_id}.events.jsonl")),
    )
    .unwrap();
    let count = |kind: &str| {
        ev.lines()
            .filter(|l| serde_json::from_str::<Value>(l).unwrap()["event"] == kind)
            .count()
    };
    assert_eq!(count("collected"), 1, "{ev}");
    let st = state_of(&w, &run_id);
    assert_eq!(
        (
            st["status"].as_str(),
            st["collected"].as_bool(),
            st["teardown"]["status"].as_str()
        ),
        (Some("finished"), Some(true), Some("done")),
        "{st}"
    );
}

/// `<run id>.driver.log`'s lines as (seconds since the epoch, stream, text), each checked
/// to be `YYYY-MM-DDTHH:MM:SS.mmmZ STREAM TEXT`.
fn driver_log(w: &TestEnv, run_id: &str) -> Vec<(f64, String, String)> {
    driver_log_in(&w.state_dir(), run_id)
}

/// Seconds since the epoch, as the driver log's stamps are read back.
pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The logs of a run whose job printed `out-1`, `err-1` (on stderr), `out-2`: the driver log
/// holds each line once with its stream, stamped between `before` and now; the plain log
/// holds the three lines (returned).
pub(crate) fn check_out_err_out_logs(
    state_dir: &std::path::Path,
    run_id: &str,
    before: f64,
) -> String {
    let lines = driver_log_in(state_dir, run_id);
    let of = |s: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|l| l.1 == s)
            .map(|l| l.2.as_str())
            .collect()
    };
    assert_eq!(of("stdout"), ["out-1", "out-2"], "{lines:?}");
    assert_eq!(of("stderr"), ["err-1"], "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    let after = now() + 1.0;
    assert!(
        lines.iter().all(|l| l.0 >= before - 1.0 && l.0 <= after),
        "{lines:?} not within {before}..{after}"
    );
    let log = std::fs::read_to_string(state_dir.join(format!("runs/{run_id}.log"))).unwrap();
    assert_eq!(log.len(), "out-1\nerr-1\nout-2\n".len(), "{log:?}");
    for piece in ["out-1\n", "err-1\n", "out-2\n"] {
        assert!(log.contains(piece), "{log:?}");
    }
    log
}

/// [`driver_log`] of a run whose state folder is `state_dir`.
pub(crate) fn driver_log_in(
    state_dir: &std::path::Path,
    run_id: &str,
) -> Vec<(f64, String, String)> {
    let p = state_dir.join("runs").join(format!("{run_id}.driver.log"));
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|l| {
            let (at, rest) = l.split_once(' ').unwrap();
            let (stream, line) = rest.split_once(' ').unwrap();
            let b = at.as_bytes();
            assert!(
                at.len() == 24
                    && b[23] == b'Z'
                    && b[10] == b'T'
                    && b[19] == b'.'
                    && at[20..23].bytes().all(|c| c.is_ascii_digit()),
                "{l:?}"
            );
            // Back to seconds with date(1), to compare with the run state's times.
            let secs = Command::new("date")
                .args(["-u", "-d", at, "+%s.%3N"])
                .output()
                .unwrap();
            let secs: f64 = String::from_utf8_lossy(&secs.stdout)
                .trim()
                .parse()
                .unwrap();
            (secs, stream.to_string(), line.to_string())
        })
        .collect()
}

/// The driver log keeps what the job printed with a time and its stream on each line, as
/// it came (here and on a box), while `runplz tail` prints the job's own bytes.
#[test]
fn the_driver_log_stamps_each_line_with_its_time_and_stream() {
    let b = SshBox::start();
    let w = TestEnv::new();
    let d = job_dir("echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2; printf 'no-newline'");
    for backend in ["local", "ssh"] {
        let mut c = runplz(&w, d.path(), &[backend, "job.json"]);
        if backend == "local" {
            c.arg("--native");
        } else {
            c.args(b.tool_args());
        }
        let o = run_expect(&mut c, 0);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "out-1\nout-2\nno-newline",
            "{backend}"
        );
        let s = status(&w, d.path(), "last");
        let st = state_of(&w, s["run_id"].as_str().unwrap());
        let id = st["run_id"].as_str().unwrap();
        let lines = driver_log(&w, id);
        let of = |stream: &str| -> Vec<&str> {
            lines
                .iter()
                .filter(|l| l.1 == stream)
                .map(|l| l.2.as_str())
                .collect()
        };
        assert_eq!(
            of("stdout"),
            ["out-1", "out-2", "no-newline"],
            "{backend}: {lines:?}"
        );
        assert_eq!(of("stderr"), ["err-1", "err-2"], "{backend}: {lines:?}");
        assert_eq!(lines.len(), 5, "{backend}: {lines:?}");
        let (from, to) = (
            st["started_at"].as_f64().unwrap(),
            st["ended_at"].as_f64().unwrap() + 1.0,
        );
        assert!(
            lines.iter().all(|l| l.0 >= from && l.0 <= to),
            "{backend}: {lines:?} not within {from}..{to}"
        );
        // tail: the job's own bytes, no stamp (the two streams in the order they came).
        let t = run_expect(&mut runplz(&w, d.path(), &["tail", id]), 0);
        let t = String::from_utf8_lossy(&t.stdout);
        assert_eq!(
            t.len(),
            "out-1\nerr-1\nout-2\nerr-2\nno-newline".len(),
            "{t:?}"
        );
        for piece in ["out-1\n", "err-1\n", "out-2\n", "err-2\n", "no-newline"] {
            assert!(t.contains(piece), "{backend}: {t:?}");
        }
        assert!(!t.contains("Z stdout"), "{backend}: {t:?}");
    }
}

/// A detached run's output lives on its box until `runplz collect` removes the run's folder
/// there: collect keeps it here, in `<run id>.log` (no driver.log: when each line came is
/// not known here).
#[test]
fn collect_of_a_detached_run_keeps_its_output_here() {
    let b = SshBox::start();
    let w = TestEnv::new();
    let d = job_dir("echo out-1; echo err-1 >&2; echo out-2; echo r > \"$RUNPLZ_OUT/r\"");
    let out = run_expect(
        runplz(&w, d.path(), &["ssh", "job.json", "--json", "--detach"]).args(b.tool_args()),
        0,
    );
    let run_id = json(&out)["run_id"].as_str().unwrap().to_string();
    let end = Instant::now() + Duration::from_secs(60);
    while b.ssh(&format!(
        "cat ~/.runplz/runs/{run_id}/exit 2>/dev/null; true"
    )) != "0 exited\n"
    {
        assert!(Instant::now() < end, "the detached job never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    run_expect(&mut runplz(&w, d.path(), &["collect", &run_id]), 0);
    let runs = w.state_dir().join("runs");
    assert_eq!(
        std::fs::read_to_string(runs.join(format!("{run_id}.log"))).unwrap(),
        "out-1\nerr-1\nout-2\n"
    );
    assert!(!runs.join(format!("{run_id}.driver.log")).exists());
    assert_eq!(
        b.ssh(&format!(
            "ls -d ~/.runplz/runs/{run_id} 2>/dev/null | wc -l"
        ))
        .trim(),
        "0"
    );
    // And `runplz tail` prints it, the box's copy gone.
    let t = run_expect(&mut runplz(&w, d.path(), &["tail", &run_id]), 0);
    assert_eq!(String::from_utf8_lossy(&t.stdout), "out-1\nerr-1\nout-2\n");
}

/// `runplz kill` takes the run's lock as `runplz collect` does: while a collect holds it,
/// the kill waits (the job untouched), and goes on once the lock is free.
#[test]
fn kill_waits_for_a_collect_of_the_same_run() {
    let b = SshBox::start();
    let w = TestEnv::new();
    let d = job_dir("echo started; sleep 300");
    let out = run_expect(
        runplz(&w, d.path(), &["ssh", "job.json", "--json", "--detach"]).args(b.tool_args()),
        0,
    );
    let run_id = json(&out)["run_id"].as_str().unwrap().to_string();
    let lock_file = w.state_dir().join("runs").join(format!("{run_id}.lock"));
    let held = nix::fcntl::Flock::lock(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_file)
            .unwrap(),
        nix::fcntl::FlockArg::LockExclusive,
    )
    .unwrap();
    let logs = shm_tempdir();
    let err = std::fs::File::create(logs.path().join("err")).unwrap();
    let mut kill = runplz(&w, d.path(), &["kill", &run_id])
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .unwrap();
    let said = || std::fs::read_to_string(logs.path().join("err")).unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while !said().contains(&format!(
        "waiting for another `runplz collect` or `kill` of run {run_id}"
    )) {
        assert!(Instant::now() < end, "{}", said());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Waiting: not ended, and the job still runs on the box.
    assert!(kill.try_wait().unwrap().is_none(), "{}", said());
    assert_eq!(
        b.ssh(&format!(
            "test -e ~/.runplz/runs/{run_id}/exit && echo ended || echo running"
        ))
        .trim(),
        "running"
    );
    drop(held);
    let o = kill.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", said());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "terminated", "{v}");
    assert_eq!(v["failure"], "cancelled", "{v}");
    assert_eq!(carriers(&b, &run_id), "0");
    // Over now: a second kill says so; collect still brings what it printed.
    let again = json(&run_expect(
        &mut runplz(&w, d.path(), &["kill", &run_id]),
        0,
    ));
    assert_eq!(again["state"], "finished", "{again}");
    run_expect(&mut runplz(&w, d.path(), &["collect", &run_id]), 0);
    assert_eq!(
        std::fs::read_to_string(w.state_dir().join(format!("runs/{run_id}.log"))).unwrap(),
        "started\n"
    );
}
