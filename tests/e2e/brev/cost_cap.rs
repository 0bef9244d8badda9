//! `runplz brev --cost-cap-usd` (issue #10): the cap over the box's price per hour is a
//! deadline counted from the start of provisioning, enforced on the box by the job's
//! supervisor (so it holds with runplz gone); the run ends `cost_cap`, exit 124, the box
//! deleted. A cap without a known price, or not a positive number, is refused before
//! anything is created.
use super::*;

/// A job that would run five minutes, on a pinned type the catalog prices at $1.006/h.
const SLOW: &str = r#"{"name": "capped", "image": {"from_registry": "debian:12"},
  "run": "echo job-started; sleep 300; echo job-finished",
  "resources": {"gpu": "A10G"}, "brev": {"instance_type": "g5.xlarge"}}"#;

/// A cap of about 45 s at $1.006/h: room for provisioning and set-up on a loaded machine
/// (about 10 s with the whole suite running on 2 cores),
/// far less than the job's 300 s.
const CAP: &str = "0.0125";

fn state_of(fb: &FakeBrev, id: &str) -> Value {
    let p = fb.env.state_dir().join("runs").join(format!("{id}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The home of the box's user.
fn home_of(fb: &FakeBrev, name: &str) -> (String, std::path::PathBuf) {
    let user = fb
        .state()
        .iter()
        .find(|b| b["name"] == name)
        .and_then(|b| b["user"].as_str().map(str::to_string))
        .expect("the box has a user");
    let home = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", &format!("getent passwd {user} | cut -d: -f6")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    (user, std::path::PathBuf::from(home.trim()))
}

#[test]
fn the_cap_ends_the_job_on_the_box_and_the_box_is_deleted() {
    let fb = FakeBrev::new();
    let (_dir, job) = fb.job(SLOW);
    let o = run(&fb, &job, &["--cost-cap-usd", CAP]);
    let err = stderr(&o);
    assert_eq!(code(&o), Some(124), "{err}");
    let r = record(&o);
    assert_eq!(r["ending"]["kind"], "cost_cap", "{r}");
    // The job ran (its first line came) and was stopped long before its 300 s.
    assert!(err.contains("job-started"), "{err}");
    assert!(!err.contains("job-finished"), "{err}");
    assert!(r["exit_code"].is_i64(), "the job ran: {r}");
    assert!(r["duration_seconds"].as_f64().unwrap() < 250.0, "{r}");
    assert!(
        err.contains("cost cap $0.0125: at $1.006/h the run may last"),
        "{err}"
    );
    assert!(err.contains("reached its cost cap"), "{err}");
    let st = state_of(&fb, r["run_id"].as_str().unwrap());
    assert_eq!(
        (&st["failure"], &st["exit_code"], &st["timed_out"]),
        (
            &serde_json::json!("cost_cap"),
            &serde_json::json!(124),
            &serde_json::json!(true)
        ),
        "{st}"
    );
    assert_eq!(r["instance"]["price_per_hour"], 1.006, "{r}");
    let name = only_box_name(&fb);
    assert_deleted(&fb, &name);
}

#[test]
fn the_cap_ends_a_slow_set_up_step_on_the_box() {
    let fb = FakeBrev::new();
    // The image's own step would take five minutes: the cap (about 45 s) falls during it.
    let (_dir, job) = fb.job(
        r#"{"name": "capped", "image": {"from_registry": "debian:12",
          "steps": [{"run_commands": ["echo setup-started; sleep 300; echo setup-finished"]}]},
          "run": "echo job-started", "resources": {"gpu": "A10G"},
          "brev": {"instance_type": "g5.xlarge"}}"#,
    );
    let o = run(&fb, &job, &["--cost-cap-usd", CAP]);
    let err = stderr(&o);
    assert_eq!(code(&o), Some(124), "{err}");
    let r = record(&o);
    assert_eq!(r["ending"]["kind"], "cost_cap", "{r}");
    assert_eq!(r["exit_code"], Value::Null, "the job never ran: {r}");
    // As lines: the step's own command line (shown before it runs) names both words.
    assert!(err.lines().any(|l| l == "setup-started"), "{err}");
    assert!(!err.lines().any(|l| l == "setup-finished"), "{err}");
    assert!(!err.lines().any(|l| l == "job-started"), "{err}");
    assert!(
        err.contains("reached its cost cap (--cost-cap-usd) during set-up"),
        "{err}"
    );
    assert!(r["duration_seconds"].as_f64().unwrap() < 250.0, "{r}");
    // The set-up step (the venv's) is the one that failed.
    let failed: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["ok"] == false)
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["venv"], "{r}");
    let st = state_of(&fb, r["run_id"].as_str().unwrap());
    assert_eq!(
        (&st["failure"], &st["exit_code"], &st["timed_out"]),
        (
            &serde_json::json!("cost_cap"),
            &serde_json::json!(124),
            &serde_json::json!(true)
        ),
        "{st}"
    );
    // The cap, its price and its deadline are in the run state: the deadline is the cap's
    // hours after provisioning began (which is after the run started, within the run).
    let cap = &st["cost_cap"];
    assert_eq!(
        (cap["usd"].as_f64(), cap["price_per_hour"].as_f64()),
        (Some(0.0125), Some(1.006)),
        "{st}"
    );
    let deadline = cap["deadline"].as_f64().expect("a deadline");
    let started = st["started_at"].as_f64().unwrap();
    let ended = st["ended_at"].as_f64().unwrap();
    let secs = 0.0125 / 1.006 * 3600.0;
    assert!(
        deadline >= started + secs - 1.0 && deadline <= ended + 1.0,
        "{st}"
    );
    let name = only_box_name(&fb);
    // Deleted with its user (which no process of the step could outlive).
    assert_deleted(&fb, &name);
}

#[test]
fn a_cap_spent_before_the_job_starts_ends_the_run_there() {
    let fb = FakeBrev::new();
    let (_dir, job) = fb.job(SLOW);
    // A millionth of a dollar is gone (at $1.006/h) within 4 ms of provisioning.
    let o = run(&fb, &job, &["--cost-cap-usd", "0.000001"]);
    let err = stderr(&o);
    assert_eq!(code(&o), Some(124), "{err}");
    let r = record(&o);
    assert_eq!(
        r["ending"],
        serde_json::json!({"kind": "cost_cap", "signal": null}),
        "{r}"
    );
    assert_eq!(r["exit_code"], Value::Null, "the job never ran: {r}");
    assert!(!err.contains("job-started"), "{err}");
    assert!(err.contains("before the job started"), "{err}");
    let st = state_of(&fb, r["run_id"].as_str().unwrap());
    assert_eq!(st["failure"], "cost_cap", "{st}");
    let name = only_box_name(&fb);
    assert_deleted(&fb, &name);
}

#[test]
fn the_supervisor_ends_the_job_at_the_cap_with_runplz_killed() {
    let fb = FakeBrev::new();
    let (_dir, job) = fb.job(SLOW);
    let mut c = fb.cmd("runplz");
    c.arg("brev")
        .arg(&job)
        .args(["--json", "--cost-cap-usd", CAP])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    // Wait until the job runs on the box (its group id is written), then kill runplz hard.
    let end = Instant::now() + Duration::from_secs(240);
    let (id, user, run_dir) = loop {
        assert!(Instant::now() < end, "the job never started on the box");
        std::thread::sleep(Duration::from_millis(200));
        if fb.calls_of("create").is_empty() {
            continue;
        }
        let name = only_box_name(&fb);
        let st = only_state(&fb);
        let id = st["run_id"].as_str().unwrap().to_string();
        let (user, home) = home_of(&fb, &name);
        let dir = home.join(format!(".runplz/runs/{id}"));
        if dir.join("pgid").exists() {
            break (id, user, dir);
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        FakeBrev::processes_of(&user).contains("sleep 300"),
        "the job should still run after runplz died"
    );
    // The supervisor on the box ends it at the cap.
    let end = Instant::now() + Duration::from_secs(240);
    let exit = loop {
        let e = std::fs::read_to_string(run_dir.join("exit")).unwrap_or_default();
        if !e.is_empty() {
            break e;
        }
        assert!(Instant::now() < end, "the cap never ended the job of {id}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(exit.ends_with(" cost_cap\n"), "{exit:?}");
    assert!(
        !FakeBrev::processes_of(&user).contains("sleep 300"),
        "the job survived the cap"
    );
    let out = std::fs::read_to_string(run_dir.join("out")).unwrap();
    assert!(
        out.contains("job-started") && !out.contains("job-finished"),
        "{out}"
    );
}

#[test]
fn a_cap_without_a_known_price_or_not_positive_is_refused_before_anything() {
    let fb = FakeBrev::new();
    let (_dir, job) = fb.job(JOB);
    let cases: [(&[&str], &str); 4] = [
        (
            &["--instance", "mine", "--cost-cap-usd", "5"],
            "a named box (--instance mine) has none",
        ),
        (
            &["--cost-cap-usd=0"],
            "--cost-cap-usd: found 0, expected a positive number of US dollars",
        ),
        (
            &["--cost-cap-usd=-1"],
            "--cost-cap-usd: found -1, expected a positive number of US dollars",
        ),
        (
            &["--cost-cap-usd", "inf"],
            "--cost-cap-usd: found inf, expected a positive number of US dollars",
        ),
    ];
    for (args, says) in cases {
        let o = run(&fb, &job, args);
        let err = stderr(&o);
        assert_eq!(code(&o), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A pinned type the catalog does not price: refused once the price is asked for.
    let (_d2, unpriced) = fb.job(
        r#"{"name": "capped", "image": {"from_registry": "debian:12"}, "run": "true",
        "brev": {"instance_type": "no-such-type"}}"#,
    );
    let o = run(&fb, &unpriced, &["--cost-cap-usd", "1"]);
    let err = stderr(&o);
    assert_eq!(code(&o), Some(2), "{err}");
    assert!(
        err.contains("brev's catalog has no price for the pinned type \"no-such-type\""),
        "{err}"
    );
    // Nothing was created or started, and no run was recorded for the flag errors.
    for verb in ["create", "start"] {
        assert!(
            fb.calls_of(verb).is_empty(),
            "{verb}: {:?}",
            fb.calls_of(verb)
        );
    }
}
