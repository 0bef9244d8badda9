//! `runplz brev --detach` (issue #10): the job is started under the box's supervisor and
//! runplz returns; the box is kept (not deleted: the job runs on it), the run state keeps
//! its teardown pending for `runplz collect` / `kill`, and the job ends on the box by itself.
use super::*;
use crate::support::run_expect;

#[test]
fn detach_keeps_the_box_and_the_job_ends_there() {
    let fb = FakeBrev::new();
    let (_dir, job) = fb.job(JOB);
    let o = run(&fb, &job, &["--detach"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let r = record(&o);
    assert_eq!(r["ending"], serde_json::json!({"kind": "detached"}), "{r}");
    let id = r["run_id"].as_str().unwrap().to_string();
    let name = only_box_name(&fb);
    assert!(fb.calls_of("delete").is_empty(), "the box was deleted");
    assert!(
        stderr(&o).contains(&format!(
            "detached: the job runs on {name} under its supervisor"
        )),
        "{}",
        stderr(&o)
    );
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(fb.env.state_dir().join("runs").join(format!("{id}.json")))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(st["teardown"]["policy"], "delete", "{st}");
    assert_ne!(st["teardown"]["status"], "done", "{st}");
    // The job ends on the box by itself; its end and output wait in its run folder.
    let user = fb
        .state()
        .iter()
        .find(|b| b["name"] == name.as_str())
        .unwrap()["user"]
        .as_str()
        .unwrap()
        .to_string();
    let home = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", &format!("getent passwd {user} | cut -d: -f6")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let run_dir = std::path::Path::new(home.trim()).join(format!(".runplz/runs/{id}"));
    let end = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(run_dir.join("exit")).unwrap_or_default() != "0 exited\n" {
        assert!(Instant::now() < end, "the detached job never ended");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = std::fs::read_to_string(run_dir.join("out")).unwrap();
    assert!(out.contains("job-ran"), "{out}");
    // `runplz collect` finishes it: the outputs back, the box deleted, the run over.
    let c = run_expect(
        fb.cmd("runplz").args(["collect", &id]).stdin(Stdio::null()),
        0,
    );
    assert_eq!(fb.calls_of("delete").len(), 1, "{}", stderr(&c));
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(fb.env.state_dir().join("runs").join(format!("{id}.json")))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            &st["teardown"]["status"],
            &st["collected"],
            &st["exit_code"]
        ),
        (
            &serde_json::json!("done"),
            &serde_json::json!(true),
            &serde_json::json!(0)
        ),
        "{st}"
    );
    // The box went with its copy of the job's output: collect kept it here.
    assert_eq!(
        std::fs::read_to_string(fb.env.state_dir().join("runs").join(format!("{id}.log"))).unwrap(),
        out
    );
}
