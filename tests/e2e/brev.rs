//! `runplz brev` and `rp-box` against the fake brev (tests/helpers/fakebrev.rs, faithful to
//! facts/brev-cli.md), whose boxes are real sshds on loopback run as fresh users: every
//! lifecycle row, each injected brev failure, Ctrl-C and TERM at each phase, the job's
//! timeout, and a teardown that fails. After each run the fake's own state says what is
//! left: an ephemeral box deleted (its user and home gone with it), a named box stopped
//! with nothing of the job on it.

use crate::support::{stderr, FakeBrev};
use serde_json::Value;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A container-mode job (the box is debian:12) that writes an output and says where it ran.
const JOB: &str = r#"{"name": "train", "image": {"from_registry": "debian:12"},
  "run": "echo \"ran as $(id -un)\" > \"$RUNPLZ_OUT/hi.txt\"; echo job-ran",
  "resources": {"gpu": "A10G"}}"#;

fn run(fb: &FakeBrev, job: &std::path::Path, extra: &[&str]) -> Output {
    let mut c = fb.cmd("runplz");
    c.arg("brev").arg(job).args(extra);
    FakeBrev::output(&mut c)
}

fn record(o: &Output) -> Value {
    // The run record is the last line on stdout (the job's own output may come first).
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

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

/// The one box the fake made (by name), and that `brev ls` shows it going or gone, with its
/// user and home gone once it is: a deleted box keeps nothing.
fn assert_deleted(fb: &FakeBrev, name: &str) {
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

fn only_box_name(fb: &FakeBrev) -> String {
    let creates = fb.calls_of("create");
    assert_eq!(creates.len(), 1, "exactly one `brev create`: {creates:?}");
    creates[0][1].clone()
}

#[test]
fn ephemeral_box_is_picked_created_used_and_deleted() {
    let fb = FakeBrev::new();
    let (dir, job) = fb.job(JOB);
    let o = run(&fb, &job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let r = record(&o);
    let name = only_box_name(&fb);
    assert!(name.starts_with("runplz-train-"), "{name}");
    // Picked: the cheapest A10G in the catalog, created in container mode, detached, with
    // stdin at /dev/null (a pipe would make brev read it).
    let create = &fb.calls_of("create")[0];
    for w in [
        "--type",
        "g5.xlarge",
        "--detached",
        "--mode",
        "container",
        "--container-image",
        "debian:12",
    ] {
        assert!(create.contains(&w.to_string()), "{create:?} lacks {w}");
    }
    assert!(
        fb.calls().iter().all(|c| c["stdin_is_chr"] == true),
        "{:?}",
        fb.calls()
    );
    // Ran on the box as the box's user, and the output came back.
    let user = fb
        .state()
        .iter()
        .find(|b| b["name"] == name.as_str())
        .unwrap()["user"]
        .as_str()
        .unwrap()
        .to_string();
    let hi = std::fs::read_to_string(dir.path().join("out/hi.txt")).unwrap();
    assert_eq!(hi.trim(), format!("ran as {user}"));
    let inst = &r["instance"];
    assert_eq!(inst["name"], name.as_str());
    assert_eq!(
        (
            inst["instance_type"].as_str(),
            inst["provider"].as_str(),
            inst["release"].as_str()
        ),
        (Some("g5.xlarge"), Some("aws"), Some("deleted"))
    );
    assert_eq!(inst["price_per_hour"].as_f64(), Some(1.006));
    assert!(inst["billed_seconds"].as_f64().unwrap() > 0.0);
    assert!(inst["cost"].as_f64().is_some());
    let e = stderr(&o);
    assert!(
        e.contains(&format!("box {name} (g5.xlarge, $1.01/h) deleted after"))
            && e.contains(": about $"),
        "{e}"
    );
    // The run state named the box.
    let runs = fb.env.state_dir().join("runs");
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(runs.join(format!("{}.json", r["run_id"].as_str().unwrap())))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(st["handle"]["instance"], name.as_str());
    assert_eq!(st["teardown"]["status"], "done");
    assert_eq!(st["teardown"]["policy"], "delete");
    assert_deleted(&fb, &name);
}

#[test]
fn pinned_type_skips_the_picker() {
    // brev v0.6.317-322 printed `ls --json` as a bare array: read the same.
    let fb = FakeBrev::new().var("FAKE_BREV_LS_SHAPE", "array");
    let (_d, job) = fb.job(
        r#"{"name": "pin", "image": {"from_registry": "debian:12"}, "run": "true",
            "brev": {"instance_type": "n2-standard-4", "mode": "vm", "use_docker": false}}"#,
    );
    let o = run(&fb, &job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    // Nothing is picked before the create; brev search is asked after it only for the
    // pinned type's price, unfiltered.
    let verbs: Vec<Vec<String>> = fb
        .calls()
        .iter()
        .map(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    let created_at = verbs.iter().position(|v| v[0] == "create").unwrap();
    for (i, v) in verbs.iter().enumerate().filter(|(_, v)| v[0] == "search") {
        assert!(
            i > created_at
                && !v
                    .iter()
                    .any(|a| a.starts_with("--min") || a == "--gpu-name"),
            "{verbs:?}"
        );
    }
    assert_eq!(
        record(&o)["instance"]["price_per_hour"].as_f64(),
        Some(0.19)
    );
    let create = &fb.calls_of("create")[0];
    assert!(
        create.windows(2).any(|w| w == ["--type", "n2-standard-4"]),
        "{create:?}"
    );
    assert!(
        create.windows(2).any(|w| w == ["--mode", "vm"]),
        "{create:?}"
    );
    assert_deleted(&fb, &create[1]);
}

/// A named box of the user's, made and stopped before the run.
fn named_box(fb: &FakeBrev, name: &str) -> String {
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
fn assert_stopped_clean(fb: &FakeBrev, name: &str, user: &str, run_id: &str) {
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

#[test]
fn named_box_is_started_used_and_stopped() {
    let fb = FakeBrev::new();
    let user = named_box(&fb, "my-box");
    let (dir, job) = fb.job(JOB);
    let o = run(&fb, &job, &["--instance", "my-box"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let r = record(&o);
    assert!(fb
        .calls_of("start")
        .iter()
        .any(|c| c == &["start", "my-box", "-d"]));
    assert_eq!(fb.calls_of("create").len(), 1, "only the test's own create");
    assert!(std::fs::read_to_string(dir.path().join("out/hi.txt"))
        .unwrap()
        .contains(&user));
    assert_eq!(r["instance"]["release"], "stopped");
    assert_eq!(r["instance"]["created"], false);
    // Its price comes from `brev search`, so the cost line and the record have it too.
    assert_eq!(r["instance"]["price_per_hour"].as_f64(), Some(1.006));
    assert!(
        stderr(&o).contains("box my-box (g5.xlarge, $1.01/h) stopped after")
            && stderr(&o).contains(": about $"),
        "{}",
        stderr(&o)
    );
    assert_stopped_clean(&fb, "my-box", &user, r["run_id"].as_str().unwrap());
}

#[test]
fn named_box_on_finish_delete_and_leave() {
    let fb = FakeBrev::new();
    named_box(&fb, "del-box");
    let (_d, job) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "true", "brev": {"on_finish": "delete"}}"#,
    );
    let o = run(&fb, &job, &["--instance", "del-box"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_deleted(&fb, "del-box");

    named_box(&fb, "keep-box");
    let (_d2, job2) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "true", "brev": {"on_finish": "leave"}}"#,
    );
    let o = run(&fb, &job2, &["--instance", "keep-box"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_eq!(fb.get("keep-box").unwrap()["status"], "RUNNING");
    assert!(stderr(&o).contains("left running"), "{}", stderr(&o));
    assert_eq!(record(&o)["instance"]["release"], "left");
    fb.brev(&["delete", "keep-box"]);
}

#[test]
fn a_mistyped_box_name_creates_nothing() {
    let fb = FakeBrev::new();
    named_box(&fb, "my-box");
    let (_d, job) = fb.job(JOB);
    let o = run(&fb, &job, &["--instance", "my-bx"]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("no Brev box named \"my-bx\"")
            && e.contains("nothing was created and nothing is billed")
            && e.contains("auto_create_instances"),
        "{e}"
    );
    assert_eq!(fb.calls_of("create").len(), 1, "only the test's own create");
    assert!(fb.calls_of("start").is_empty());
    assert_eq!(fb.ls().len(), 1);

    // With auto_create_instances the name is created (and, being named, stopped after).
    let (_d2, job2) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "true", "resources": {"gpu": "A10G"}, "brev": {"auto_create_instances": true}}"#,
    );
    let o = run(&fb, &job2, &["--instance", "new-box"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert!(fb.calls_of("create").iter().any(|c| c[1] == "new-box"));
    assert_eq!(record(&o)["instance"]["created"], true);
    assert!(
        ["STOPPING", "STOPPED"].contains(&fb.get("new-box").unwrap()["status"].as_str().unwrap())
    );
}

#[test]
fn create_that_fails_after_making_the_box_makes_exactly_one_and_deletes_it() {
    let fb = FakeBrev::new();
    fb.fail("create-eof");
    let (_d, job) = fb.job(JOB);
    let o = run(&fb, &job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let name = only_box_name(&fb);
    assert!(
        stderr(&o).contains("but box") && stderr(&o).contains("not creating another"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        fb.state()
            .iter()
            .filter(|b| b["name"] == name.as_str())
            .count(),
        1
    );
    assert_deleted(&fb, &name);
}

#[test]
fn a_transient_create_failure_is_retried_once_it_is_known_nothing_was_made() {
    let fb = FakeBrev::new();
    fb.fail("flaky");
    let (_d, job) = fb.job(JOB);
    let o = run(&fb, &job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let creates = fb.calls_of("create");
    assert_eq!(creates.len(), 2, "{creates:?}");
    assert_eq!(creates[0][1], creates[1][1], "the same name both times");
    assert!(
        stderr(&o).contains("connection reset by peer"),
        "{}",
        stderr(&o)
    );
    assert_deleted(&fb, &creates[0][1]);
}

#[test]
fn final_failures_stop_at_once_and_say_nothing_is_billed() {
    for (fail, says) in [
        ("quota", "quota exceeded"),
        ("create", "500 Internal Server Error"),
    ] {
        let fb = FakeBrev::new();
        fb.fail(fail);
        let (_d, job) = fb.job(JOB);
        let o = run(&fb, &job, &[]);
        assert_eq!(code(&o), Some(5), "{fail}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(says) && e.contains("nothing was created and nothing is billed"),
            "{fail}: {e}"
        );
        // A 500 that made nothing is retried; quota never is.
        let creates = fb.calls_of("create").len();
        assert_eq!(creates, if fail == "quota" { 1 } else { 4 }, "{fail}");
        assert!(fb.ls().is_empty());
    }
}

#[test]
fn logged_out_brev_fails_without_waiting_on_its_prompt() {
    let fb = FakeBrev::new();
    std::fs::remove_file(fb.env.home().join(".brev/credentials.json")).unwrap();
    let (_d, job) = fb.job(JOB);
    let t = Instant::now();
    let o = run(&fb, &job, &[]);
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_ne!(code(&o), Some(0));
    assert!(
        stderr(&o).contains("brev is logged out") && stderr(&o).contains("brev login"),
        "{}",
        stderr(&o)
    );
    assert!(fb.state().is_empty());
}

#[test]
fn a_box_that_fails_or_never_comes_up_is_deleted() {
    for (fail, says) in [("failure", "FAILURE"), ("stuck", "was still DEPLOYING")] {
        let fb = FakeBrev::new();
        fb.fail(fail);
        let (_d, job) = fb.job(
            r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "true", "resources": {"gpu": "A10G"}, "brev": {"ssh_ready_wait_seconds": 2}}"#,
        );
        let o = run(&fb, &job, &[]);
        assert_ne!(code(&o), Some(0), "{fail}");
        assert!(stderr(&o).contains(says), "{fail}: {}", stderr(&o));
        let name = only_box_name(&fb);
        assert_eq!(record(&o)["instance"]["release"], "deleted");
        assert_deleted(&fb, &name);
    }
}

#[test]
fn a_job_past_its_timeout_ends_124_and_the_box_is_still_deleted() {
    let fb = FakeBrev::new();
    let (_d, job) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "sleep 60", "timeout": 2, "resources": {"gpu": "A10G"}}"#,
    );
    let o = run(&fb, &job, &[]);
    assert_eq!(code(&o), Some(124), "{}", stderr(&o));
    assert_eq!(record(&o)["ending"]["kind"], "timed_out");
    assert_deleted(&fb, &only_box_name(&fb));
}

#[test]
fn a_failed_teardown_is_loud_and_keeps_the_jobs_own_exit() {
    let fb = FakeBrev::new();
    fb.fail("delete");
    let (_d, job) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "exit 3", "resources": {"gpu": "A10G"}}"#,
    );
    let o = run(&fb, &job, &[]);
    assert_eq!(code(&o), Some(3), "{}", stderr(&o));
    let name = only_box_name(&fb);
    let e = stderr(&o);
    assert!(
        e.contains(&format!("BOX {name} WAS NOT DELETED"))
            && e.contains("may still be running and billing")
            && e.contains(&format!("brev delete {name}")),
        "{e}"
    );
    assert_eq!(record(&o)["instance"]["release"], "failed");
    assert_eq!(fb.get(&name).unwrap()["status"], "RUNNING");
    fb.fail("");
    fb.brev(&["delete", &name]);
}

/// Start runplz, wait until `ready` says the phase is reached, send `sig`, and return how it
/// ended.
fn interrupt(
    fb: &FakeBrev,
    job: &std::path::Path,
    sig: i32,
    ready: impl Fn(&FakeBrev, &std::path::Path) -> bool,
) -> Output {
    let mut c = fb.cmd("runplz");
    c.arg("brev")
        .arg(job)
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

fn current_step(state_dir: &std::path::Path) -> Option<String> {
    let e = std::fs::read_dir(state_dir).ok()?.flatten().next()?;
    let v: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
    v["current_step"].as_str().map(str::to_string)
}

#[test]
fn ctrl_c_or_term_at_each_phase_leaves_no_box_behind() {
    type Ready = fn(&FakeBrev, &std::path::Path) -> bool;
    let phases: [(&str, &str, &str, Ready); 6] = [
        ("pick", "search:3000", "sleep 30", |fb, _| {
            !fb.calls_of("search").is_empty()
        }),
        ("create", "create:1500", "sleep 30", |fb, _| {
            !fb.calls_of("create").is_empty()
        }),
        ("wait", "", "sleep 30", |fb, _| {
            fb.calls_of("create").len() == 1 && fb.calls_of("ls").len() >= 3
        }),
        // Past staging (the box has the sync's folder or its lock): a Ctrl-C that lands
        // while `git ls-files` stages the tree is swallowed (the stage falls back to walking
        // the folder and the run goes on), which is sync's to fix.
        ("sync", "", "sleep 30", |fb, s| {
            current_step(s).as_deref() == Some("sync")
                && fb.state().iter().any(|b| {
                    b["user"].as_str().is_some_and(|u| {
                        let home = std::path::PathBuf::from(format!("/home/{u}"));
                        home.join("runplz").exists() || home.join(".runplz").exists()
                    })
                })
        }),
        ("run", "", "sleep 30", |_, s| {
            current_step(s).as_deref() == Some("run")
        }),
        (
            "collect",
            "",
            "head -c 300000000 /dev/zero > \"$RUNPLZ_OUT/big\"",
            |_, s| current_step(s).as_deref() == Some("collect"),
        ),
    ];
    let mut failures = Vec::new();
    let runs = phases.into_iter().flat_map(|p| [(p, 2), (p, 15)]);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for ((phase, slow, cmd, ready), sig) in runs {
            handles.push(scope.spawn(move || {
                let mut fb = FakeBrev::new();
                if !slow.is_empty() {
                    fb = fb.var("FAKE_BREV_SLOW", slow);
                }
                if phase == "wait" {
                    fb.fail("stuck");
                }
                let (_d, job) = fb.job(&format!(
                    r#"{{"name": "sig", "image": {{"from_registry": "debian:12"}}, "run": {}, "resources": {{"gpu": "A10G"}}}}"#,
                    serde_json::to_string(cmd).unwrap()
                ));
                let o = interrupt(&fb, &job, sig, ready);
                let e = stderr(&o);
                let mut bad = Vec::new();
                // Outputs cut off in collect end the run 5 (the job succeeded, they did not
                // come back), whatever cut them.
                let ok = o.status.code() == Some(128 + sig)
                    || (phase == "collect" && o.status.code() == Some(5));
                if !ok {
                    bad.push(format!("exit {:?}, expected {}", o.status.code(), 128 + sig));
                }
                let ending = String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .rev()
                    .find_map(|l| serde_json::from_str::<Value>(l).ok())
                    .map(|r| r["ending"].clone())
                    .unwrap_or(Value::Null);
                let step = match phase {
                    "pick" | "create" | "wait" => "acquire",
                    p => p,
                };
                if phase != "collect" && ending != serde_json::json!({"kind": "interrupted", "signal": sig, "step": step}) {
                    bad.push(format!("ending {ending}"));
                }
                match phase {
                    "pick" => {
                        if !fb.calls_of("create").is_empty() || !fb.state().is_empty() {
                            bad.push("a box was created after Ctrl-C during the pick".into());
                        }
                    }
                    _ => {
                        let creates = fb.calls_of("create");
                        if creates.len() != 1 {
                            bad.push(format!("creates: {creates:?}"));
                        } else {
                            let name = creates[0][1].clone();
                            let user = fb.state().iter().find(|b| b["name"] == name.as_str()).and_then(|b| b["user"].as_str().map(str::to_string));
                            if !fb.calls_of("delete").iter().any(|c| c[1] == name) {
                                bad.push("no delete".into());
                            }
                            let end = Instant::now() + Duration::from_secs(10);
                            while fb.get(&name).is_some() && Instant::now() < end {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            if fb.get(&name).is_some() {
                                bad.push(format!("{name} still listed"));
                            }
                            if let Some(u) = user {
                                if FakeBrev::user_exists(&u) {
                                    bad.push(format!("user {u} (and the job's files) still there"));
                                }
                            }
                        }
                    }
                }
                if bad.is_empty() {
                    None
                } else {
                    Some(format!("{phase} (signal {sig}): {}\n--- stderr\n{e}", bad.join("; ")))
                }
            }));
        }
        for h in handles {
            if let Some(f) = h.join().unwrap() {
                failures.push(f);
            }
        }
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn ctrl_c_during_the_run_on_a_named_box_stops_it_with_nothing_left() {
    let fb = FakeBrev::new();
    let user = named_box(&fb, "sig-box");
    let (_d, job) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "sleep 60 & sleep 60"}"#,
    );
    let mut c = fb.cmd("runplz");
    c.args(["brev", "--instance", "sig-box"]).arg(&job);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let runs = fb.env.state_dir().join("runs");
    let end = Instant::now() + Duration::from_secs(60);
    while current_step(&runs).as_deref() != Some("run") {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_stopped_clean(
        &fb,
        "sig-box",
        &user,
        record(&o)["run_id"].as_str().unwrap(),
    );
}

#[test]
fn the_plan_runs_against_brev_and_its_trap_deletes_the_box() {
    let fb = FakeBrev::new();
    let (dir, job) = fb.job(JOB);
    let mut c = fb.cmd("runplz");
    c.arg("brev").arg(&job).arg("--plan");
    let o = FakeBrev::output(&mut c);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let plan = String::from_utf8_lossy(&o.stdout).into_owned();
    for w in [
        "rp-pick --job \"$JOB\"",
        "rp-box create \"$BOX\"",
        "rp-box wait \"$BOX\"",
        "release_place",
        "trap",
        "rp-box delete \"$BOX\"",
    ] {
        assert!(plan.contains(w), "the plan lacks {w}:\n{plan}");
    }
    assert!(
        fb.calls().is_empty(),
        "--plan called brev: {:?}",
        fb.calls()
    );
    let script = dir.path().join("plan.sh");
    std::fs::write(&script, &plan).unwrap();
    let mut sh = fb.program("sh");
    // The fake brev stays first; the rp-* tools come next.
    sh.env(
        "PATH",
        format!(
            "{}:{}:{}",
            fb.bin_dir().display(),
            crate::support::bin_dir().display(),
            std::env::var("PATH").unwrap()
        ),
    );
    sh.arg(&script).current_dir(dir.path());
    let o = FakeBrev::output(&mut sh);
    assert_eq!(code(&o), Some(0), "{}\n{plan}", stderr(&o));
    let name = only_box_name(&fb);
    assert!(std::fs::read_to_string(dir.path().join("out/hi.txt"))
        .unwrap()
        .starts_with("ran as "));
    assert_deleted(&fb, &name);
}

#[test]
fn rp_box_verbs_are_checked_with_brev_ls() {
    let fb = FakeBrev::new();
    let rp = |args: &[&str]| -> (Option<i32>, Value, String) {
        let mut c = fb.cmd("rp-box");
        c.args(args);
        let o = FakeBrev::output(&mut c);
        let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code(), v, stderr(&o))
    };
    // rp-pick's record on stdin gives the types, as in the man page's example.
    let catalog =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/brev/catalog.json");
    let mut c = fb.program("sh");
    c.arg("-c")
        .arg(format!(
            "rp-pick --catalog '{}' --gpu A100 --min-ram 64 | rp-box create b-0 --mode vm",
            catalog.display()
        ))
        .env(
            "PATH",
            format!(
                "{}:{}:{}",
                fb.bin_dir().display(),
                crate::support::bin_dir().display(),
                std::env::var("PATH").unwrap()
            ),
        );
    let o = FakeBrev::output(&mut c);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let create = &fb.calls_of("create")[0];
    let types = &create[create.iter().position(|a| a == "--type").unwrap() + 1];
    assert!(types.starts_with("hyperstack_A100,"), "{create:?}");
    assert_eq!(v["box"]["instance_type"], "hyperstack_A100");
    // rp-box read the pipe itself; brev got /dev/null (with the pipe it would read types).
    assert!(
        fb.calls().iter().all(|c| c["stdin_is_chr"] == true),
        "{:?}",
        fb.calls()
    );
    let (c, _, e) = rp(&["delete", "b-0"]);
    assert_eq!(c, Some(0), "{e}");
    let (c, v, e) = rp(&["create", "b-1", "--type", "g5.xlarge", "--mode", "vm"]);
    assert_eq!(c, Some(0), "{e}");
    assert_eq!(
        (
            v["type"].as_str(),
            v["verb"].as_str(),
            v["box"]["name"].as_str()
        ),
        (Some("box"), Some("create"), Some("b-1"))
    );
    let cfg = fb.dir.path().join("b1.ssh");
    let (c, v, e) = rp(&[
        "wait",
        "b-1",
        "--timeout",
        "20",
        "--ssh-config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(c, Some(0), "{e}");
    assert_eq!(v["box"]["status"], "RUNNING");
    // The config reaches the box with plain ssh, no tty asked, no brev control master.
    let o = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-o", "BatchMode=yes", "b-1", "echo", "hi"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "hi",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("Pseudo-terminal"));
    let (c, v, _) = rp(&["stop", "b-1"]);
    assert_eq!(c, Some(0));
    assert!(v["verified"].as_str().unwrap().contains("STOPP"), "{v}");
    let (c, v, e) = rp(&["start", "b-1"]);
    assert_eq!(c, Some(0), "{e}");
    assert!(
        ["STARTING", "RUNNING"].contains(&v["box"]["status"].as_str().unwrap()),
        "{v}"
    );
    // ls: ours only by default; every shape brev has printed reads the same.
    fb.brev(&["create", "runplz-x-0000abcd", "--type", "g5.xlarge", "-d"]);
    let (_, v, _) = rp(&["ls"]);
    let names: Vec<&str> = v["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["runplz-x-0000abcd"]);
    let mut c = fb.cmd("rp-box");
    c.args(["ls", "--all"]).env("FAKE_BREV_LS_SHAPE", "array");
    let v: Value = serde_json::from_slice(&FakeBrev::output(&mut c).stdout).unwrap();
    assert_eq!(v["boxes"].as_array().unwrap().len(), 2);
    // start of an unknown name: brev exits 0; rp-box does not believe it.
    let (c, _, e) = rp(&["start", "nope"]);
    assert_eq!(c, Some(1));
    assert!(e.contains("does not exist"), "{e}");
    for n in ["b-1", "runplz-x-0000abcd"] {
        let (c, v, e) = rp(&["delete", n]);
        assert_eq!(c, Some(0), "{e}");
        assert!(
            v["verified"].as_str().unwrap().contains("DELETING")
                || v["verified"].as_str().unwrap().contains("no longer"),
            "{v}"
        );
        fb.wait_gone(n);
    }
    let (c, v, _) = rp(&["status", "b-1"]);
    assert_eq!((c, v["box"].clone()), (Some(0), Value::Null));
    // Bad names are refused before brev is called.
    let before = fb.calls().len();
    let (c, _, _) = rp(&["delete", "-rf"]);
    assert_eq!(c, Some(2));
    let (c, _, _) = rp(&["create", "a b", "--type", "g5.xlarge"]);
    assert_eq!(c, Some(2));
    assert_eq!(fb.calls().len(), before);
}

#[test]
fn fake_brev_keeps_the_real_clis_contract() {
    let fb = FakeBrev::new();
    let brev = |args: &[&str]| {
        let mut c = Command::new(crate::support::bin("rpt-brev"));
        fb.env.apply(&mut c);
        c.env("FAKE_BREV_DIR", fb.dir.path())
            .args(args)
            .stdin(Stdio::null());
        c.output().unwrap()
    };
    let o = brev(&["search", "--min-gpus", "4"]);
    assert_eq!(
        (o.status.code(), stderr(&o).trim()),
        (Some(1), "unknown flag: --min-gpus")
    );
    let o = brev(&["search", "--sort", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("invalid sort option \"x\". Valid options: arch, boot-time"));
    let o = brev(&["search", "--gpu-name", "nothing-like-it", "--json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    let o = brev(&["search", "--gpu-name", "nothing-like-it"]);
    assert_eq!((o.status.code(), o.stdout.len()), (Some(0), 0));
    // (An account past brev's onboarding: see brevs_first_time_onboarding_is_skipped.)
    std::fs::write(
        fb.env.home().join(".brev/onboarding_step.json"),
        r#"{"step":1,"hasRunBrevShell":true,"hasRunBrevOpen":false}"#,
    )
    .unwrap();
    let o = brev(&["ls", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<String>(),
        "{\"workspaces\":null}"
    );
    let o = brev(&["create", "-bad", "--type", "g5.xlarge"]);
    assert_eq!(o.status.code(), Some(1));
    let o = brev(&["create", "x", "--type", "g5.xlarge", "--mode", "container"]);
    assert_eq!(o.status.code(), Some(1));
    let o = brev(&["--version", "--no-check-latest"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Current Version: v0.6."));
}

#[test]
fn the_box_is_in_the_run_state_before_brev_create_runs() {
    // runplz killed with -9 while `brev create` is in flight: nothing can tear down, but the
    // run state already names the box, so a person (or a later verb) can find it.
    let fb = FakeBrev::new().var("FAKE_BREV_SLOW", "create:2000");
    let (_d, job) = fb.job(JOB);
    let mut c = fb.cmd("runplz");
    c.arg("brev")
        .arg(&job)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while fb.calls_of("create").is_empty() {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(10));
    }
    let name = fb.calls_of("create")[0][1].clone();
    let runs = fb.env.state_dir().join("runs");
    let state = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(st["handle"]["instance"], name.as_str(), "{st}");
    assert_eq!(st["current_step"], "acquire");
    child.kill().unwrap();
    child.wait().unwrap();
    let st: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        (
            st["handle"]["instance"].as_str(),
            st["teardown"]["status"].as_str()
        ),
        (Some(name.as_str()), Some("pending"))
    );
    // brev's create may or may not have outlived runplz: clean up whatever it made.
    std::thread::sleep(Duration::from_millis(2500));
    if fb.get(&name).is_some() {
        fb.brev(&["delete", &name]);
    }
}

#[test]
fn two_runs_at_once_get_a_box_each_and_delete_both() {
    let fb = FakeBrev::new();
    let (_d1, job1) = fb.job(JOB);
    let (_d2, job2) = fb.job(JOB);
    let (o1, o2) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&fb, &job1, &[]));
        let b = s.spawn(|| run(&fb, &job2, &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(
        (code(&o1), code(&o2)),
        (Some(0), Some(0)),
        "{}\n{}",
        stderr(&o1),
        stderr(&o2)
    );
    let n1 = record(&o1)["instance"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let n2 = record(&o2)["instance"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(n1, n2);
    assert_eq!(fb.calls_of("create").len(), 2);
    assert_deleted(&fb, &n1);
    assert_deleted(&fb, &n2);
}

#[test]
fn a_hostile_instance_name_is_refused_before_brev_is_called() {
    let fb = FakeBrev::new();
    let (d, job) = fb.job(JOB);
    let marker = d.path().join("pwned");
    let name = format!("a$(touch {})", marker.display());
    let o = run(&fb, &job, &["--instance", &name]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--instance"), "{}", stderr(&o));
    assert!(fb.calls().is_empty(), "{:?}", fb.calls());
    assert!(!marker.exists());
}

#[test]
fn brevs_first_time_onboarding_is_skipped() {
    // The fake, as brev, greets a new account after its first `ls`, on stdout.
    let fb = FakeBrev::new();
    let mut c = Command::new(crate::support::bin("rpt-brev"));
    fb.env.apply(&mut c);
    c.env("FAKE_BREV_DIR", fb.dir.path()).args(["ls", "--json"]);
    let o = FakeBrev::output(&mut c);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("first time using Brev"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // rp-box on a new account: brev's `ls --json` stays JSON.
    let fb = FakeBrev::new();
    let mut c = fb.cmd("rp-box");
    c.arg("ls");
    let o = FakeBrev::output(&mut c);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["boxes"], serde_json::json!([]));
    let f = fb.env.home().join(".brev/onboarding_step.json");
    assert!(std::fs::read_to_string(f).unwrap().contains("\"step\":1"));
}
