//! `runplz brev` outlives its connection (issue #10), as `runplz ssh` does (exec/drop.rs):
//! with runplz's ssh processes killed mid-run, or the box's sshd restarted with every
//! session dropped, the job finishes on the box, runplz reconnects and shows each line
//! once, the outputs come back, the box is deleted and the record says the job exited 0.
use super::*;
use crate::support::kill_local_ssh;

/// A job that prints `line 1` .. `line 40`, one every 0.1 s, then writes an output.
const COUNTER: &str = r#"{"name": "drops", "image": {"from_registry": "debian:12"},
  "run": "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo line $i; sleep 0.1; done; echo done > \"$RUNPLZ_OUT/done.txt\"",
  "resources": {"gpu": "A10G"}}"#;

/// The `line N` numbers in `text`, in order.
fn lines_seen(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.strip_prefix("line "))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// Start `runplz brev` on COUNTER (stderr, where the job's output goes under --json, into
/// a file), and return once the job printed `line 3`.
fn start(fb: &FakeBrev, job: &std::path::Path, err: &std::path::Path) -> Child {
    let child = fb
        .cmd("runplz")
        .arg("brev")
        .arg(job)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(err).unwrap())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(240);
    while !lines_seen(&std::fs::read_to_string(err).unwrap_or_default()).contains(&3) {
        assert!(
            Instant::now() < end,
            "the job never printed line 3: {}",
            std::fs::read_to_string(err).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// The run ended as if nothing happened: every line once, exit 0, outputs back, the box
/// deleted, the run state finished and collected.
fn assert_rode_it_out(fb: &FakeBrev, d: &std::path::Path, child: Child, err: &std::path::Path) {
    let o = child.wait_with_output().unwrap();
    let err = std::fs::read_to_string(err).unwrap();
    assert_eq!(code(&o), Some(0), "{err}");
    assert_eq!(lines_seen(&err), (1..=40).collect::<Vec<_>>(), "{err}");
    assert!(err.contains("reconnected to"), "{err}");
    let r = record(&o);
    assert_eq!(
        r["ending"],
        serde_json::json!({"kind": "exited", "code": 0}),
        "{r}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("out/done.txt")).unwrap(),
        "done\n"
    );
    let st = only_state(fb);
    assert_eq!(
        (
            &st["status"],
            &st["failure"],
            &st["collected"],
            &st["teardown"]["status"]
        ),
        (
            &serde_json::json!("finished"),
            &Value::Null,
            &serde_json::json!(true),
            &serde_json::json!("done")
        ),
        "{st}"
    );
    let name = only_box_name(fb);
    assert_deleted(fb, &name);
}

#[test]
fn killing_runplz_ssh_mid_run_on_a_brev_box_loses_nothing() {
    let fb = FakeBrev::new();
    let (d, job) = fb.job(COUNTER);
    let logs = crate::support::shm_tempdir();
    let err = logs.path().join("err");
    let child = start(&fb, &job, &err);
    // runplz follows by one ssh call after another: kill for a second, so that some call
    // is cut off in flight (a master killed between two calls is just made again).
    let mut killed = 0;
    for _ in 0..10 {
        killed += kill_local_ssh(fb.env.root());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(killed > 0, "no ssh of the run found");
    assert_rode_it_out(&fb, d.path(), child, &err);
}

#[test]
fn restarting_the_brev_boxs_sshd_mid_run_loses_nothing() {
    let fb = FakeBrev::new();
    let (d, job) = fb.job(COUNTER);
    let logs = crate::support::shm_tempdir();
    let err = logs.path().join("err");
    let child = start(&fb, &job, &err);
    let name = only_box_name(&fb);
    fb.restart_sshd(&name, Duration::from_secs(2));
    assert_rode_it_out(&fb, d.path(), child, &err);
}
