//! A Modal run after runplz: `--detach`, then `runplz status / tail / kill / collect`, the
//! sandbox found by the run state or by its tag; an attached run whose runplz was killed;
//! a detached sandbox's collect window. Against the fake `modal` (see `modal.rs`).

use super::modal::{alive, job, spawn_until, status, ModalWorld};
use crate::support::{json, run_expect, stderr};
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn modal_detach_then_status_tail_collect_and_kill() {
    let w = ModalWorld::new(&job(
        "echo tick-1; while [ ! -e go ]; do sleep 0.1; done; echo tick-2; echo done > $RUNPLZ_OUT/d.txt; exit 4",
        r#", "outputs_dir": "res""#,
    ));
    let out = run_expect(&mut w.runplz(&["modal", "job.json", "--detach"]), 0);
    let r = json(&out);
    assert_eq!(r["ending"], serde_json::json!({"kind": "detached"}));
    let run_id = r["run_id"].as_str().unwrap().to_string();
    let sb = w.sandboxes()[0].clone();
    let id = sb["id"].as_str().unwrap().to_string();
    assert_eq!(
        sb["state"], "running",
        "a detached run's sandbox keeps running"
    );
    assert_eq!(sb["tags"]["runplz_run_id"], run_id.as_str());
    assert!(stderr(&out).contains(&id), "{}", stderr(&out));
    assert_eq!(w.state(&run_id)["handle"]["sandbox_id"], id.as_str());

    let s = status(&w, &run_id);
    assert_eq!(
        (s["state"].as_str(), s["sandbox_id"].as_str()),
        (Some("running"), Some(id.as_str()))
    );
    // Collecting a running job is refused, and changes nothing.
    let c = run_expect(&mut w.runplz(&["collect", &run_id]), 1);
    assert!(stderr(&c).contains("still running"), "{}", stderr(&c));
    assert_eq!(w.sandbox(&id)["state"], "running");
    // Found by its tag alone, without the local run state.
    let st = w.runs().join(format!("{run_id}.json"));
    let saved = std::fs::read(&st).unwrap();
    std::fs::remove_file(&st).unwrap();
    let by_tag = json(&run_expect(
        &mut w.runplz(&["status", &run_id, "--backend", "modal"]),
        0,
    ));
    assert_eq!(
        (by_tag["state"].as_str(), by_tag["sandbox_id"].as_str()),
        (Some("running"), Some(id.as_str()))
    );
    let none = run_expect(&mut w.runplz(&["status", &run_id]), 2);
    assert!(
        stderr(&none).contains("--backend modal"),
        "{}",
        stderr(&none)
    );
    std::fs::write(&st, saved).unwrap();

    // Let the job finish; tail -f follows it to the end.
    std::fs::write(w.sandbox_root(&id).join("workspace/go"), "").unwrap();
    let t = run_expect(&mut w.runplz(&["tail", "-f", &run_id]), 0);
    let log = stderr(&t);
    assert!(
        log.contains("tick-1\n") && log.contains("tick-2\n"),
        "{log}"
    );
    let s = status(&w, &run_id);
    assert_eq!(
        (s["state"].as_str(), s["exit_code"].as_i64()),
        (Some("exited"), Some(4))
    );
    let c = json(&run_expect(&mut w.runplz(&["collect", &run_id]), 0));
    assert_eq!(c["type"], "collect");
    assert_eq!(c["files"], 1);
    assert_eq!(
        std::fs::read_to_string(w.repo.path().join("res/d.txt")).unwrap(),
        "done\n"
    );
    assert_eq!(
        w.sandbox(&id)["state"],
        "terminated",
        "collect terminates the sandbox"
    );

    // kill: a second detached run, stopped with its job.
    let r = json(&run_expect(
        &mut w.runplz(&["modal", "job.json", "--detach"]),
        0,
    ));
    let run2 = r["run_id"].as_str().unwrap().to_string();
    let id2 = w.sandboxes()[1]["id"].as_str().unwrap().to_string();
    let k = json(&run_expect(&mut w.runplz(&["kill", &run2]), 0));
    assert_eq!(
        (k["state"].as_str(), k["sandbox_id"].as_str()),
        (Some("terminated"), Some(id2.as_str()))
    );
    assert_eq!(w.sandbox(&id2)["state"], "terminated");
    let pid: u32 = std::fs::read_to_string(w.sandbox_root(&id2).join("runplz/pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "the killed job's process {pid} survived");
    assert_eq!(status(&w, &run2)["state"], "terminated");
}

#[test]
fn modal_attached_run_whose_runplz_was_killed_can_be_asked_and_collected() {
    let w = ModalWorld::new(&job(
        "echo job-started; while [ ! -e go ]; do sleep 0.1; done; echo late > $RUNPLZ_OUT/late.txt; exit 7",
        "",
    ));
    let (mut child, _buf, _reader) =
        spawn_until(w.runplz(&["modal", "job.json", "--json"]), "job-started");
    child.kill().unwrap(); // SIGKILL: no release, no record
    child.wait().unwrap();
    let runs: Vec<String> = std::fs::read_dir(w.runs())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run_id = runs[0].trim_end_matches(".json").to_string();
    let id = w.state(&run_id)["handle"]["sandbox_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status(&w, &run_id)["state"], "running");
    std::fs::write(w.sandbox_root(&id).join("workspace/go"), "").unwrap();
    let t = Instant::now();
    let s = loop {
        let s = status(&w, &run_id);
        if s["state"] != "running" || t.elapsed() > Duration::from_secs(20) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        (s["state"].as_str(), s["exit_code"].as_i64()),
        (Some("exited"), Some(7))
    );
    let c = json(&run_expect(&mut w.runplz(&["collect", &run_id]), 0));
    assert_eq!(c["files"], 1);
    assert_eq!(
        std::fs::read_to_string(w.repo.path().join("out/late.txt")).unwrap(),
        "late\n"
    );
    assert_eq!(w.sandbox(&id)["state"], "terminated");
}

#[test]
fn modal_detached_sandbox_ends_after_its_collect_window() {
    let w = ModalWorld::new(&job("echo quick > $RUNPLZ_OUT/q; exit 0", ""));
    let plan = json(&run_expect(
        &mut w.runplz(&["modal", "job.json", "--dry-run", "--detach"]),
        0,
    ));
    assert_eq!(
        (plan["detach"].as_bool(), plan["keep_after_job"].as_u64()),
        (Some(true), Some(3600))
    );
    let plan = json(&run_expect(
        &mut w.runplz(&["modal", "job.json", "--dry-run"]),
        0,
    ));
    assert_eq!(plan["keep_after_job"], Value::Null);

    let r = json(&run_expect(
        w.runplz(&["modal", "job.json", "--detach"])
            .env("RUNPLZ_MODAL_KEEP_SECONDS", "1"),
        0,
    ));
    let run_id = r["run_id"].as_str().unwrap().to_string();
    let id = w.sandboxes()[0]["id"].as_str().unwrap().to_string();
    let t = Instant::now();
    let s = loop {
        let s = status(&w, &run_id);
        if s["state"] == "expired" || t.elapsed() > Duration::from_secs(20) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(s["state"], "expired", "{s}");
    assert_eq!(w.sandbox(&id)["state"], "finished");
    let c = run_expect(&mut w.runplz(&["collect", &run_id]), 1);
    assert!(stderr(&c).contains("has ended (expired)"), "{}", stderr(&c));
    assert!(!w.repo.path().join("out/q").exists());
}
