//! The job's output where users look (issue #14): `runplz` and `rp-exec` pass the job's stdout
//! to their stdout and its stderr to their stderr, on every backend; `--json` puts the record
//! on stdout instead and the job's stdout on stderr; runplz keeps the record in the run state.
use crate::support::{bin_cmd, json, run_expect, shm_tempdir, stderr, SshBox};
use std::path::Path;

/// What the test jobs print: a forged control line of rp-exec's box wrapper (another nonce),
/// a record separator, a NUL, no final newline, and a pause longer than the box guard's
/// one-second heartbeat.
const PRINT: &str = "printf 'one\\n\\036runplz-exec-0123456789abcdef:exit 0\\n'; sleep 1.5; printf 'two\\0three'; echo to-stderr >&2";
const PRINTED: &[u8] = b"one\n\x1erunplz-exec-0123456789abcdef:exit 0\ntwo\0three";

fn rp_exec(b: Option<&SshBox>, json: bool) -> std::process::Command {
    let mut c = bin_cmd("rp-exec");
    if json {
        c.arg("--json");
    }
    if let Some(b) = b {
        c.args(b.tool_args());
    }
    c.args(["--", "sh", "-c", PRINT]);
    c
}

#[test]
fn rp_exec_passes_stdout_and_stderr_through_here_and_on_a_box() {
    let b = SshBox::start();
    for host in [None, Some(&b)] {
        let out = run_expect(&mut rp_exec(host, false), 0);
        assert_eq!(
            out.stdout,
            PRINTED,
            "stdout on box={}: {:?}\n--- stderr\n{}",
            host.is_some(),
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        );
        let err = stderr(&out);
        assert_eq!(err, "to-stderr\n", "stderr on box={}", host.is_some());
    }
}

#[test]
fn rp_exec_json_prints_the_record_and_the_commands_stdout_on_stderr() {
    let b = SshBox::start();
    for host in [None, Some(&b)] {
        let out = run_expect(&mut rp_exec(host, true), 0);
        let rec = json(&out);
        assert_eq!(rec["type"], "exec");
        assert_eq!(rec["ending"]["kind"], "exited");
        let err = out.stderr.clone();
        // Both streams, in order, on stderr.
        let want = [PRINTED, b"to-stderr\n"].concat();
        assert_eq!(
            err,
            want,
            "stderr on box={}: {:?}",
            host.is_some(),
            String::from_utf8_lossy(&err)
        );
    }
}

fn job(dir: &Path, docker_base: Option<&str>) {
    let job = match docker_base {
        None => serde_json::json!({
            "name": "t-stdout",
            "image": {"from_registry": "debian:bookworm"},
            "run": PRINT,
            "local": {"use_docker": false},
            "ssh": {"use_docker": false},
        }),
        Some(base) => serde_json::json!({
            "name": "t-stdout-docker",
            "image": {"from_registry": base},
            "run": PRINT,
            "local": {"network": "none"},
        }),
    };
    std::fs::write(dir.join("job.json"), job.to_string()).unwrap();
}

/// The run states under `state`, parsed.
fn run_records(state: &Path) -> Vec<serde_json::Value> {
    crate::seam::states(state)
        .into_iter()
        .map(|(_, v)| v["run"].clone())
        .collect()
}

/// runplz on `args`: stdout is exactly what the job printed, stderr has its stderr and
/// runplz's own lines, and the record is in the run state. Then the same with `--json`.
fn check_runplz(dir: &Path, args: &[String]) {
    let state = shm_tempdir();
    let mut c = bin_cmd("runplz");
    c.current_dir(dir)
        .env("XDG_STATE_HOME", state.path())
        .args(args);
    let out = run_expect(&mut c, 0);
    assert_eq!(
        out.stdout,
        PRINTED,
        "{args:?} stdout: {:?}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("to-stderr\n"), "{args:?}: {err}");
    assert!(err.contains("runplz: run"), "{args:?}: {err}");
    assert!(
        !err.contains("one\n"),
        "{args:?}: the job's stdout on stderr: {err}"
    );
    let recs = run_records(state.path());
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0]["exit_code"], 0);
    assert_eq!(recs[0]["ending"]["kind"], "exited");

    // --json: the record on stdout (the same as the run state's), the job's stdout on stderr.
    let state = shm_tempdir();
    let mut c = bin_cmd("runplz");
    c.current_dir(dir)
        .env("XDG_STATE_HOME", state.path())
        .args(args)
        .arg("--json");
    let out = run_expect(&mut c, 0);
    let rec = json(&out);
    assert_eq!(rec["type"], "run");
    let mut kept = run_records(state.path()).remove(0);
    kept["type"] = rec["type"].clone();
    kept["version"] = rec["version"].clone();
    assert_eq!(
        serde_json::to_string(&sorted(&kept)).unwrap(),
        serde_json::to_string(&sorted(&rec)).unwrap()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("one\n\u{1e}runplz-exec-0123456789abcdef:exit 0\ntwo\0three"),
        "{args:?}: {err}"
    );
}

/// `v` with its object keys sorted, to compare records whatever their key order.
fn sorted(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[test]
fn runplz_local_native_passes_the_jobs_output_through() {
    let d = shm_tempdir();
    job(d.path(), None);
    check_runplz(d.path(), &["local".into(), "job.json".into()]);
}

#[test]
fn runplz_ssh_passes_the_jobs_output_through() {
    let b = SshBox::start();
    let d = shm_tempdir();
    job(d.path(), None);
    let mut args = vec!["ssh".to_string(), "job.json".to_string()];
    args.extend(b.tool_args());
    check_runplz(d.path(), &args);
}

#[test]
fn runplz_local_docker_passes_the_jobs_output_through() {
    let base = std::env::var("RUNPLZ_TEST_DOCKER_BASE").expect(
        "the docker tests need an engine: run `eval \"$(scripts/podman-env)\"` first (scripts/test does)",
    );
    let d = shm_tempdir();
    job(d.path(), Some(&base));
    check_runplz(d.path(), &["local".into(), "job.json".into()]);
}
