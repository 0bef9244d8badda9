//! The operations verbs on Brev runs against the fake brev (issue #10): a runplz killed
//! with SIGKILL mid-run leaves its box billing; `runplz collect RUN --force` brings the
//! outputs back and deletes the box; `runplz reconcile` finds that box and only that one (not a
//! box made by hand, not a box of a live run; a `runplz-*` box no run state names is
//! listed but never touched), and `--apply` deletes it; `runplz kill RUN` of a live run
//! leaves nothing running on the box and the box deleted.

use super::assert_deleted;
use crate::support::{json, run_expect, stderr, FakeBrev};
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A job that writes an output at once, then runs until stopped.
const LONG: &str = r#"{"name": "train", "image": {"from_registry": "debian:12"},
  "run": "echo early > \"$RUNPLZ_OUT/early.txt\"; sleep 300",
  "resources": {"gpu": "A10G"}}"#;

fn start(fb: &FakeBrev, job: &std::path::Path) -> Child {
    fb.cmd("runplz")
        .arg("brev")
        .arg(job)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn states(fb: &FakeBrev) -> Vec<Value> {
    let Ok(d) = std::fs::read_dir(fb.env.state_dir().join("runs")) else {
        return Vec::new();
    };
    d.flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok())
        .collect()
}

/// Wait until a run not in `known` runs its job and its first output is on the box; its
/// run id and box name.
fn wait_job(fb: &FakeBrev, known: &[String]) -> (String, String) {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        for s in states(fb) {
            let id = s["run_id"].as_str().unwrap().to_string();
            if known.contains(&id) || s["current_step"] != "run" {
                continue;
            }
            let name = s["handle"]["instance"].as_str().unwrap().to_string();
            let user = fb
                .state()
                .iter()
                .find(|b| b["name"] == name.as_str())
                .and_then(|b| b["user"].as_str().map(str::to_string));
            if let Some(u) = user {
                if std::path::Path::new(&format!("/home/{u}/runplz-out/{id}/early.txt")).is_file() {
                    return (id, name);
                }
            }
        }
        assert!(Instant::now() < end, "no run reached its job");
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

fn user_of(fb: &FakeBrev, name: &str) -> String {
    fb.state().iter().find(|b| b["name"] == name).unwrap()["user"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn collect_after_sigkill_brings_the_outputs_back_and_deletes_the_box() {
    let fb = FakeBrev::new();
    let (dir, job) = fb.job(LONG);
    let mut child = start(&fb, &job);
    let (run_id, name) = wait_job(&fb, &[]);
    sigkill(&mut child);
    // The box is still there, billing: the run state names it with its type and price.
    assert_eq!(fb.get(&name).unwrap()["status"], "RUNNING");
    let st = states(&fb).pop().unwrap();
    assert_eq!(
        (st["instance_type"].as_str(), st["price_per_hour"].as_f64()),
        (Some("g5.xlarge"), Some(1.006))
    );
    let ps = run_expect(fb.cmd("runplz").args(["ps"]).stdin(Stdio::null()), 0);
    let e = json(&ps);
    assert_eq!(
        (e["state"].as_str(), e["host"].as_str(), e["step"].as_str()),
        (Some("interrupted"), Some(name.as_str()), Some("run"))
    );
    assert!(e["cost"].as_f64().is_some(), "{e}");
    // Right away: the box's guard may not have stopped the job yet, so --force stops it
    // first (TERM, grace, KILL) whichever it finds.
    let c = run_expect(
        fb.cmd("runplz")
            .args(["collect", "last", "--force"])
            .stdin(Stdio::null()),
        0,
    );
    assert_eq!(json(&c)["files"], 1, "{}", stderr(&c));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/early.txt")).unwrap(),
        "early\n"
    );
    assert_deleted(&fb, &name);
    let st = states(&fb).pop().unwrap();
    assert_eq!(
        (
            st["status"].as_str(),
            st["teardown"]["status"].as_str(),
            st["failure"].as_str()
        ),
        (Some("finished"), Some("done"), Some("lost_contact"))
    );
    assert!(st["cost"].as_f64().is_some(), "{st}");
    // Again: already done, nothing asked of brev beyond a look.
    let again = run_expect(
        fb.cmd("runplz")
            .args(["collect", &run_id])
            .stdin(Stdio::null()),
        0,
    );
    assert!(stderr(&again).contains("already"), "{}", stderr(&again));
    assert_eq!(fb.calls_of("delete").len(), 1);
}

#[test]
fn reconcile_finds_only_the_box_a_killed_runplz_left_and_apply_deletes_it() {
    let fb = FakeBrev::new();
    let (_d1, job1) = fb.job(LONG);
    let mut dead = start(&fb, &job1);
    let (dead_id, orphan) = wait_job(&fb, &[]);
    sigkill(&mut dead);
    let (_d2, job2) = fb.job(LONG);
    let live = start(&fb, &job2);
    let (live_id, live_box) = wait_job(&fb, std::slice::from_ref(&dead_id));
    // A box made by hand, and one with our prefix that no run state here names.
    fb.brev(&["create", "mybox", "--type", "g5.xlarge"]);
    fb.brev(&["create", "runplz-elsewhere-0123abcd", "--type", "g5.xlarge"]);

    // ps: the runs here, then what brev says is alive that no run state names.
    let o = run_expect(fb.cmd("runplz").args(["ps"]).stdin(Stdio::null()), 0);
    let rows: Vec<(String, String)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            (
                v["host"].as_str().unwrap_or("").to_string(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want = vec![
        (orphan.clone(), "interrupted".to_string()),
        (live_box.clone(), "running".to_string()),
    ];
    want.sort();
    let mut runs: Vec<_> = rows[..2].to_vec();
    runs.sort();
    assert_eq!(runs, want, "{rows:?}");
    assert_eq!(
        rows[2..],
        [(
            "runplz-elsewhere-0123abcd".to_string(),
            "untracked".to_string()
        )]
    );

    let o = run_expect(fb.cmd("runplz").args(["reconcile"]).stdin(Stdio::null()), 0);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let found: Vec<crate::records::Orphan> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|x| (x.name.as_str(), x.reason.as_str(), x.action.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            (orphan.as_str(), "runplz_gone", "none"),
            ("runplz-elsewhere-0123abcd", "no_run_state", "none")
        ],
        "{text}"
    );
    let x = &found[0];
    assert_eq!(x.run_id.as_deref(), Some(dead_id.as_str()));
    assert_eq!(x.price_per_hour, Some(1.006));
    assert!(x.age_seconds.is_some() && x.cost_so_far.is_some(), "{text}");
    // The other's price comes from the catalog by its type; its age is unknown.
    assert_eq!(
        (found[1].price_per_hour, found[1].age_seconds),
        (Some(1.006), None)
    );
    for l in text.lines() {
        let _: runplz_protocol::Orphan = serde_json::from_str(l).unwrap();
    }

    let o = run_expect(
        fb.cmd("runplz")
            .args(["reconcile", "--apply", "--table"])
            .stdin(Stdio::null()),
        0,
    );
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(table.starts_with("BOX "), "{table}");
    assert!(
        table.contains("deleted") && table.contains("skipped"),
        "{table}"
    );
    assert_deleted(&fb, &orphan);
    for keep in ["mybox", "runplz-elsewhere-0123abcd", live_box.as_str()] {
        assert!(fb.get(keep).is_some(), "{keep} was touched");
    }
    assert_eq!(
        fb.calls_of("delete").len(),
        1,
        "{:?}",
        fb.calls_of("delete")
    );

    // The live run: kill leaves nothing running, and its runplz deletes its box.
    let user = user_of(&fb, &live_box);
    let k = run_expect(
        fb.cmd("runplz")
            .args(["kill", &live_id])
            .stdin(Stdio::null()),
        0,
    );
    assert_eq!(json(&k)["state"], "terminated", "{}", stderr(&k));
    let out = live.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert_deleted(&fb, &live_box);
    assert_eq!(FakeBrev::processes_of(&user), "");
    // Nothing left to reconcile but the box no run state names.
    let o = run_expect(fb.cmd("runplz").args(["reconcile"]).stdin(Stdio::null()), 0);
    let left: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["name"], "runplz-elsewhere-0123abcd");
}

#[test]
fn every_verb_answers_from_the_run_state_when_the_box_is_gone() {
    let fb = FakeBrev::new();
    let (_dir, job) = fb.job(
        r#"{"name": "train", "image": {"from_registry": "debian:12"},
  "run": "echo early > \"$RUNPLZ_OUT/early.txt\"; echo said-this; sleep 300",
  "resources": {"gpu": "A10G"}}"#,
    );
    let mut child = start(&fb, &job);
    let (run_id, name) = wait_job(&fb, &[]);
    // What runplz received before it died is kept here (the box's copy goes with the box).
    let log = fb
        .env
        .state_dir()
        .join("runs")
        .join(format!("{run_id}.log"));
    let end = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("said-this")
    {
        assert!(Instant::now() < end, "runplz never got the job's output");
        std::thread::sleep(Duration::from_millis(100));
    }
    sigkill(&mut child);
    // Someone deletes the box by hand.
    fb.brev(&["delete", &name]);
    fb.wait_gone(&name);
    let runplz = |args: &[&str], code: i32| {
        run_expect(fb.cmd("runplz").args(args).stdin(Stdio::null()), code)
    };
    let s = json(&runplz(&["status", &run_id], 0));
    assert_eq!(s["state"], "box_gone", "{s}");
    let t = runplz(&["tail", &run_id], 0);
    assert!(
        String::from_utf8_lossy(&t.stdout).contains("said-this"),
        "{}",
        stderr(&t)
    );
    let c = runplz(&["collect", &run_id], 1);
    assert!(
        stderr(&c).contains("is gone") && stderr(&c).contains("cannot come back"),
        "{}",
        stderr(&c)
    );
    let st = states(&fb).pop().unwrap();
    assert_eq!(
        (
            st["status"].as_str(),
            st["collected"].as_bool(),
            st["failure"].as_str()
        ),
        (Some("finished"), Some(false), Some("lost_contact"))
    );
    // Over now: kill and ps say so, nothing more is asked of brev but a look.
    let k = json(&runplz(&["kill", &run_id], 0));
    assert_eq!(k["state"], "finished");
    let p = json(&runplz(&["ps"], 0));
    assert_eq!(p["state"], "finished");
    assert_eq!(fb.calls_of("delete").len(), 1, "only the hand-made delete");
}
