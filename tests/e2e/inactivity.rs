//! The inactivity watch (issue #15): `max_inactivity_seconds` / `inactivity_action` in
//! job.json and rp-exec's `--max-inactivity` / `--inactivity-action`, here and on the box.
use crate::support::{bin_cmd, json, run_expect, shm_tempdir, stderr, SshBox};
use std::time::{Duration, Instant};

#[test]
fn rp_exec_stops_a_quiet_command_or_says_what_it_is_doing() {
    let t = Instant::now();
    let out = run_expect(
        bin_cmd("rp-exec").arg("--json").args([
            "--max-inactivity",
            "1",
            "--inactivity-action",
            "terminate",
            "--grace",
            "1",
            "--",
            "sh",
            "-c",
            "echo hi; sleep 30",
        ]),
        124,
    );
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let rec = json(&out);
    assert_eq!(rec["ending"]["kind"], "inactive", "{rec}");
    assert_eq!(rec["ending"]["seconds"], 1);
    assert!(stderr(&out).contains("no output for 1s; stopped the command"));

    // Diagnose: the command runs on, and what it was doing is said while it is quiet.
    let out = run_expect(
        bin_cmd("rp-exec").arg("--json").args([
            "--max-inactivity",
            "1",
            "--",
            "sh",
            "-c",
            "echo hi; sleep 2.5; echo bye",
        ]),
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains("no output for 1s; what the job is doing"),
        "{err}"
    );
    assert!(
        err.contains("sleep 2.5"),
        "the job's processes are listed: {err}"
    );
    assert!(
        err.trim_end().ends_with("bye") || err.contains("\nbye\n"),
        "{err}"
    );
    assert_eq!(json(&out)["ending"]["kind"], "exited");

    // An action without a quiet time is a usage error.
    run_expect(
        bin_cmd("rp-exec")
            .arg("--json")
            .args(["--inactivity-action", "terminate", "--", "true"]),
        2,
    );
}

fn job(dir: &std::path::Path, run: &str, action: &str) {
    std::fs::write(
        dir.join("job.json"),
        format!(
            r#"{{"name": "quiet", "image": {{"from_registry": "debian:bookworm"}}, "run": {},
               "ssh": {{"use_docker": false, "max_inactivity_seconds": 1, "inactivity_action": "{action}"}}}}"#,
            serde_json::to_string(run).unwrap()
        ),
    )
    .unwrap();
}

#[test]
fn runplz_ssh_stops_a_quiet_job_on_the_box() {
    let b = SshBox::start();
    let d = shm_tempdir();
    job(
        d.path(),
        "echo hi; echo partial > \"$RUNPLZ_OUT/p.txt\"; sleep 300",
        "terminate",
    );
    let out = run_expect(
        bin_cmd("runplz")
            .current_dir(d.path())
            .args(["ssh", "job.json", "--json"])
            .args(b.tool_args()),
        124,
    );
    let rec = json(&out);
    assert_eq!(
        rec["ending"],
        serde_json::json!({"kind": "inactive", "seconds": 1})
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/p.txt")).unwrap(),
        "partial\n"
    );
    assert_eq!(
        b.ssh("pgrep -u \"$(id -u)\" -f 'slee[p] 300' | wc -l")
            .trim(),
        "0"
    );
}

#[test]
fn runplz_ssh_diagnoses_a_quiet_job_and_lets_it_finish() {
    let b = SshBox::start();
    let d = shm_tempdir();
    job(
        d.path(),
        "echo hi; sleep 2.5; echo bye > \"$RUNPLZ_OUT/done.txt\"",
        "diagnose",
    );
    let out = run_expect(
        bin_cmd("runplz")
            .current_dir(d.path())
            .args(["ssh", "job.json", "--json"])
            .args(b.tool_args()),
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains("no output for 1s; what the job is doing"),
        "{err}"
    );
    assert!(
        err.contains("sleep 2.5"),
        "the box's processes are listed: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/done.txt")).unwrap(),
        "bye\n"
    );
}
