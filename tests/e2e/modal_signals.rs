//! Stopping a Modal run: Ctrl-C while the job runs or while the sandbox is being created,
//! and contact with Modal lost mid-run; never a sandbox left running. Against the fake
//! `modal` (see `modal.rs`).

use super::modal::{alive, job, spawn_until, ModalWorld};
use crate::support::{json, run_expect, stderr};
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn modal_ctrl_c_terminates_the_sandbox_and_says_so() {
    let w = ModalWorld::new(&job(
        "echo $$ > $RUNPLZ_OUT/pid; echo partial > $RUNPLZ_OUT/p; echo job-started; exec sleep 60",
        "",
    ));
    let (child, buf, reader) =
        spawn_until(w.runplz(&["modal", "job.json", "--json"]), "job-started");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let err = buf.lock().unwrap().clone();
    assert_eq!(out.status.code(), Some(130), "{err}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        r["ending"],
        serde_json::json!({"kind": "interrupted", "signal": 2, "step": "run"})
    );
    let sb = &w.sandboxes()[0];
    assert_eq!(sb["state"], "terminated");
    assert!(
        err.contains(&format!(
            "sandbox {} terminated",
            sb["id"].as_str().unwrap()
        )),
        "{err}"
    );
    // What the job wrote so far came back; the job itself is gone.
    let o = w.repo.path().join("out");
    assert_eq!(std::fs::read_to_string(o.join("p")).unwrap(), "partial\n");
    let job_pid: u32 = std::fs::read_to_string(o.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let t = Instant::now();
    while alive(job_pid) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(job_pid), "the job's process {job_pid} survived");
}

#[test]
fn modal_ctrl_c_while_the_sandbox_is_being_created_leaves_none_running() {
    let w = ModalWorld::new(&job("echo never", ""));
    let mut c = w.runplz(&["modal", "job.json", "--json"]);
    c.env("FAKE_MODAL_CREATE_SLEEP", "3");
    let (child, buf, reader) = spawn_until(c, "acquire...");
    let t = Instant::now();
    while w.sandboxes().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(20), "no sandbox made");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let err = buf.lock().unwrap().clone();
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(!err.contains("Traceback"), "{err}");
    assert_eq!(w.sandboxes()[0]["state"], "terminated", "{err}");
    let id = w.sandboxes()[0]["id"].as_str().unwrap().to_string();
    assert!(err.contains(&format!("sandbox {id} terminated")), "{err}");
    assert!(!w.calls().contains("\"Sandbox.exec\""), "the job ran");
}

#[test]
fn modal_contact_lost_mid_run_is_exit_9_and_the_sandbox_is_still_terminated() {
    let w = ModalWorld::new(&job(
        "echo $$ > $RUNPLZ_OUT/pid; echo started; exec sleep 60",
        "",
    ));
    let out = run_expect(
        w.runplz(&["modal", "job.json", "--json"])
            .env("FAKE_MODAL_DROP_AFTER", "1"),
        9,
    );
    let r = json(&out);
    assert_eq!(
        r["ending"],
        serde_json::json!({"kind": "failed", "step": "run"})
    );
    let err = stderr(&out);
    assert!(err.contains("could not reach Modal"), "{err}");
    let sb = &w.sandboxes()[0];
    assert_eq!(sb["state"], "terminated", "{err}");
    let pid: u32 =
        std::fs::read_to_string(w.sandbox_root(sb["id"].as_str().unwrap()).join("out/pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    assert!(!alive(pid), "the job {pid} survived");
}
