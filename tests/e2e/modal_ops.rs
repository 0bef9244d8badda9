//! A Modal run after runplz: `--detach`, then `runplz status / tail / kill / collect`, the
//! sandbox found by the run state or by its tag; an attached run whose runplz was killed;
//! a detached sandbox's collect window. Against the fake `modal` (see `modal.rs`).

use super::modal::{alive, job, spawn_until, status, ModalWorld};
use crate::support::{json, run_expect, stderr};
use serde_json::Value;
use std::process::Command;
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
    // The job's output went with the sandbox: collect kept a copy here (no driver.log).
    assert_eq!(
        std::fs::read_to_string(w.runs().join(format!("{run_id}.log"))).unwrap(),
        "tick-1\ntick-2\n"
    );
    assert!(!w.runs().join(format!("{run_id}.driver.log")).exists());

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

/// A sandbox made in the fake as someone else would make it (through the fake's own SDK):
/// idle, in `app`, with `tags`.
fn foreign_sandbox(w: &ModalWorld, app: &str, tags: Value) -> String {
    let script = format!(
        "import json, modal\na = modal.App.lookup({app:?}, create_if_missing=True)\nprint(modal.Sandbox.create(app=a, tags=json.loads({:?})).object_id)",
        tags.to_string()
    );
    let out = run_expect(
        Command::new("python3")
            .args(["-B", "-c", &script])
            .env("PYTHONPATH", super::modal::fixtures())
            .env("FAKE_MODAL_DIR", w.fake.path())
            .env("MODAL_TOKEN_ID", "ak-fake"),
        0,
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The helper's `reap` of sandbox `sb` for run `run`, run directly: its last event.
fn reap(w: &ModalWorld, sb: &str, run: &str) -> Value {
    let helper =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lib/core/src/modal/helper.py");
    let req = serde_json::json!({"action": "reap", "app": "runplz", "run_id": run, "sandbox_id": sb,
        "deadlines": {"connect": 30, "call": 30, "create": 30}});
    let mut c = Command::new("python3");
    c.arg("-B")
        .arg(helper)
        .env("PYTHONPATH", super::modal::fixtures())
        .env("FAKE_MODAL_DIR", w.fake.path())
        .env("MODAL_TOKEN_ID", "ak-fake")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The run ids with a run state here.
fn run_ids(w: &ModalWorld) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(w.runs())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(String::from))
        .collect();
    v.sort();
    v
}

fn lines(out: &std::process::Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// (sandbox, reason, action, run id) of each orphan, sorted.
fn orphans(out: &std::process::Output) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = lines(out)
        .iter()
        .map(|o| {
            let _: crate::records::Orphan = serde_json::from_value(o.clone()).unwrap();
            assert_eq!(
                (o["type"].as_str(), o["backend"].as_str()),
                (Some("orphan"), Some("modal")),
                "{o}"
            );
            let s = |k: &str| o[k].as_str().unwrap_or("-").to_string();
            (s("name"), s("reason"), s("action"), s("run_id"))
        })
        .collect();
    v.sort();
    v
}

fn terminated(w: &ModalWorld) -> Vec<String> {
    w.calls()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|c| c["call"] == "Sandbox.terminate")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn modal_reconcile_finds_only_the_sandbox_a_killed_runplz_left_and_apply_terminates_it() {
    let w = ModalWorld::new(&job(
        "echo job-started; while [ ! -e go ]; do sleep 0.1; done; exit 0",
        "",
    ));
    // A run whose runplz is killed outright mid-run: its sandbox runs on, billed.
    let (mut dead, _b1, _r1) =
        spawn_until(w.runplz(&["modal", "job.json", "--json"]), "job-started");
    dead.kill().unwrap();
    dead.wait().unwrap();
    let dead_id = run_ids(&w).remove(0);
    let orphan = w.state(&dead_id)["handle"]["sandbox_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A live run, and a detached one (its sandbox is kept for `runplz collect`).
    let (mut live, _b2, _r2) =
        spawn_until(w.runplz(&["modal", "job.json", "--json"]), "job-started");
    let live_id = run_ids(&w).into_iter().find(|r| *r != dead_id).unwrap();
    let live_sb = w.state(&live_id)["handle"]["sandbox_id"]
        .as_str()
        .unwrap()
        .to_string();
    let det = json(&run_expect(
        &mut w.runplz(&["modal", "job.json", "--detach"]),
        0,
    ));
    let det_id = det["run_id"].as_str().unwrap().to_string();
    let det_sb = w.state(&det_id)["handle"]["sandbox_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Not ours: the dead run's id without runplz's mark, and one in another app. Ours but
    // no run state here names it (another machine's run), made an hour ago.
    let fake_ours = foreign_sandbox(&w, "runplz", serde_json::json!({"runplz_run_id": dead_id}));
    let other_app = foreign_sandbox(&w, "mine", serde_json::json!({}));
    let made = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600)
        .to_string();
    let elsewhere = foreign_sandbox(
        &w,
        "runplz",
        serde_json::json!({"created_by": "runplz", "runplz_run_id": "mj-elsewhere-1",
            "runplz_job": "mj", "runplz_created_at": made}),
    );

    // ps: the runs here, then the sandbox of ours no run state names.
    let ps = lines(&run_expect(&mut w.runplz(&["ps"]), 0));
    let got: Vec<(Option<&str>, Option<&str>, &str)> = ps
        .iter()
        .map(|e| {
            (
                e["run_id"].as_str(),
                e["host"].as_str(),
                e["state"].as_str().unwrap(),
            )
        })
        .collect();
    let mut runs = got[..3].to_vec();
    runs.sort();
    let mut want = vec![
        (Some(dead_id.as_str()), None, "interrupted"),
        (Some(live_id.as_str()), None, "running"),
        (Some(det_id.as_str()), None, "detached"),
    ];
    want.sort();
    assert_eq!(runs, want, "{ps:?}");
    assert_eq!(
        got[3..],
        [(None, Some(elsewhere.as_str()), "untracked")],
        "{ps:?}"
    );
    let u = &ps[3];
    assert_eq!(
        (
            u["backend"].as_str(),
            u["job"].as_str(),
            u["started_at"].as_u64()
        ),
        (Some("modal"), Some("mj"), made.parse().ok())
    );

    // reconcile: the killed run's sandbox and the one no run state names; nothing touched.
    let o = run_expect(&mut w.runplz(&["reconcile"]), 0);
    let mut want = vec![
        (
            orphan.clone(),
            "runplz_gone".into(),
            "none".into(),
            dead_id.clone(),
        ),
        (
            elsewhere.clone(),
            "no_run_state".into(),
            "none".into(),
            "mj-elsewhere-1".into(),
        ),
    ];
    want.sort();
    assert_eq!(orphans(&o), want, "{}", stderr(&o));
    for x in lines(&o) {
        let age = x["age_seconds"].as_u64().unwrap();
        if x["name"] == elsewhere.as_str() {
            assert!((3600..3900).contains(&age), "{x}");
        } else {
            assert!(age < 600, "{x}");
        }
        assert_eq!(
            (x["price_per_hour"].as_f64(), x["cost_so_far"].as_f64()),
            (None, None)
        );
    }
    assert_eq!(terminated(&w), Vec::<String>::new());
    // The helper's own check before a terminate: a sandbox without runplz's mark, or with
    // another run's id, is refused and left running.
    for (sb, run) in [(&fake_ours, &dead_id), (&elsewhere, &dead_id)] {
        let e = reap(&w, sb, run);
        assert_eq!(
            (e["event"].as_str(), e["kind"].as_str()),
            (Some("error"), Some("not_ours")),
            "{e}"
        );
        assert_eq!(w.sandbox(sb)["state"], "running");
    }
    assert_eq!(terminated(&w), Vec::<String>::new());

    // --apply: terminates the killed run's sandbox only, and marks its run over.
    let o = run_expect(&mut w.runplz(&["reconcile", "--apply", "--table"]), 0);
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(table.starts_with("BOX "), "{table}");
    let row = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or("")
            .to_string()
    };
    assert!(
        row(&orphan).contains("terminated") && row(&orphan).contains(&dead_id),
        "{table}"
    );
    assert!(row(&elsewhere).contains("skipped"), "{table}");
    assert!(stderr(&o).contains("not touched"), "{}", stderr(&o));
    assert_eq!(terminated(&w), std::slice::from_ref(&orphan));
    assert_eq!(w.sandbox(&orphan)["state"], "terminated");
    for keep in [&live_sb, &det_sb, &fake_ours, &other_app, &elsewhere] {
        assert_eq!(w.sandbox(keep)["state"], "running", "{keep} was touched");
    }
    let st = w.state(&dead_id);
    assert_eq!(
        (
            st["status"].as_str(),
            st["teardown"]["status"].as_str(),
            st["failure"].as_str()
        ),
        (Some("finished"), Some("done"), Some("lost_contact"))
    );

    // Again: only the one no run state names, and --apply touches nothing more.
    let again = vec![(
        elsewhere.clone(),
        "no_run_state".into(),
        "skipped".into(),
        "mj-elsewhere-1".into(),
    )];
    assert_eq!(
        orphans(&run_expect(&mut w.runplz(&["reconcile", "--apply"]), 0)),
        again
    );
    assert_eq!(terminated(&w), std::slice::from_ref(&orphan));

    // The live run ends by itself (its runplz terminates its sandbox); the detached one is
    // killed; nothing of ours is left but the other machine's.
    std::fs::write(w.sandbox_root(&live_sb).join("workspace/go"), "").unwrap();
    assert_eq!(live.wait().unwrap().code(), Some(0));
    run_expect(&mut w.runplz(&["kill", &det_id]), 0);
    let left = orphans(&run_expect(&mut w.runplz(&["reconcile"]), 0));
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0, elsewhere);
    assert_eq!(w.sandbox(&live_sb)["state"], "terminated");
    assert_eq!(w.sandbox(&det_sb)["state"], "terminated");

    // No token here: Modal is skipped with one line, not an error, and not asked.
    let calls = w.calls();
    let o = run_expect(
        w.runplz(&["reconcile"])
            .env_remove("MODAL_TOKEN_ID")
            .env_remove("MODAL_TOKEN_SECRET"),
        0,
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    let err = stderr(&o);
    assert_eq!(
        err.lines().filter(|l| l.contains("Modal")).count(),
        1,
        "{err}"
    );
    assert!(err.contains("no Modal token here"), "{err}");
    let ps = run_expect(
        w.runplz(&["ps"])
            .env_remove("MODAL_TOKEN_ID")
            .env_remove("MODAL_TOKEN_SECRET"),
        0,
    );
    assert_eq!(lines(&ps).len(), 3);
    assert_eq!(w.calls(), calls, "Modal was asked without a token");
}
