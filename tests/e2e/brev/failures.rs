//! brev failing in each way the facts file lists, and runplz tearing down (or saying loudly
//! that it could not).

use super::*;
use crate::support::{stderr, FakeBrev};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

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
    for (fail, says, why) in [
        ("quota", "quota exceeded", "no_capacity"),
        ("create", "500 Internal Server Error", "provision"),
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
        // The run state says why, in one word.
        assert_eq!(only_state(&fb)["failure"], why, "{fail}");
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
    assert_eq!(only_state(&fb)["failure"], "auth");
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
        assert_eq!(only_state(&fb)["failure"], "provision", "{fail}");
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
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
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
