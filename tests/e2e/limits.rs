//! Limits on what a job or a flag may ask for, fed at their extremes to every tool: a
//! duration past 30 days (the documented maximum), a negative, NaN or infinite one, NUL
//! bytes and a byte-order mark. Each is refused before anything runs, with exit 2 and a
//! message that names the flag or points at the job's line and column, never a panic (101)
//! after the job has started.
use crate::support::{bin_cmd, json, run_expect, shm_tempdir, stderr, SshBox};
use std::path::Path;

const MAX: i64 = 30 * 24 * 60 * 60;

#[test]
fn rp_exec_refuses_every_extreme_duration_before_running_anything() {
    let t = shm_tempdir();
    let marker = t.path().join("ran");
    let huge = i64::MAX.to_string();
    let over = (MAX + 1).to_string();
    let cases: Vec<(String, &str)> = vec![
        (format!("--timeout={huge}"), "--timeout"),
        ("--timeout=18446744073709551616".into(), "--timeout"),
        ("--timeout=1e300".into(), "--timeout"),
        (format!("--timeout={over}"), "expected at most 2592000"),
        ("--timeout=2592000.5".into(), "expected at most 2592000"),
        ("--timeout=-1".into(), "--timeout"),
        ("--timeout=-0.5".into(), "--timeout"),
        ("--timeout=NaN".into(), "--timeout"),
        ("--timeout=nan".into(), "--timeout"),
        ("--timeout=inf".into(), "--timeout"),
        ("--timeout=-inf".into(), "--timeout"),
        ("--timeout=infinity".into(), "--timeout"),
        ("--timeout=".into(), "--timeout"),
        ("--timeout=0x10".into(), "--timeout"),
        ("--timeout=1s".into(), "--timeout"),
        ("--timeout=0".into(), "--timeout: found 0"),
        (format!("--grace={huge}"), "--grace"),
        ("--grace=1e19".into(), "--grace"),
        ("--grace=-5".into(), "--grace"),
        ("--grace=NaN".into(), "--grace"),
    ];
    for host in [None, Some("nobody@nowhere.invalid")] {
        for (flag, msg) in &cases {
            let mut c = bin_cmd("rp-exec");
            c.arg("--json");
            if let Some(h) = host {
                c.args(["--host", h]);
            }
            c.arg(flag).arg("--").arg("touch").arg(&marker);
            let out = c.output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{flag} (host {host:?}): {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains(msg) && stderr(&out).contains("found"),
                "{flag}: {}",
                stderr(&out)
            );
            assert!(
                !stderr(&out).contains("panicked"),
                "{flag}: {}",
                stderr(&out)
            );
            assert!(out.stdout.is_empty(), "{flag}");
            assert!(!marker.exists(), "{flag}: the command ran");
        }
    }
    // The maximum itself is a deadline like any other: the command runs and ends by itself.
    let out = run_expect(
        bin_cmd("rp-exec")
            .arg("--json")
            .arg(format!("--timeout={MAX}"))
            .arg(format!("--grace={MAX}"))
            .arg("--")
            .arg("touch")
            .arg(&marker),
        0,
    );
    assert_eq!(json(&out)["exit_code"], 0);
    assert!(marker.exists());
}

fn job(dir: &Path, extra: &str) {
    let text = format!(
        "{{\n  \"name\": \"lim\",\n  \"image\": {{\"from_registry\": \"debian:bookworm\"}},\n  \"run\": \"touch marker\",\n  \"local\": {{\"use_docker\": false}},\n  \"ssh\": {{\"use_docker\": false}}{extra}\n}}\n"
    );
    std::fs::write(dir.join("job.json"), text).unwrap();
}

#[test]
fn every_tool_refuses_a_job_duration_past_the_maximum_located_and_before_running() {
    let huge = i64::MAX;
    for (extra, col, path) in [
        (format!(",\n  \"timeout\": {huge}"), 14, "timeout"),
        (format!(",\n  \"timeout\": {}", MAX + 1), 14, "timeout"),
        (
            format!(",\n  \"brev\": {{\"max_runtime_seconds\": {}}}", MAX + 1),
            35,
            "brev.max_runtime_seconds",
        ),
        (
            format!(",\n  \"stop_grace_seconds\": {}", MAX + 1),
            25,
            "stop_grace_seconds",
        ),
    ] {
        let d = shm_tempdir();
        job(d.path(), &extra);
        for args in [
            vec!["local", "job.json"],
            vec!["ssh", "--host", "nobody@nowhere.invalid", "job.json"],
            vec!["brev", "job.json"],
            vec!["modal", "job.json"],
        ] {
            let mut c = bin_cmd("runplz");
            c.current_dir(d.path()).args(&args);
            let out = c.output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?} {extra}: {err}");
            assert!(
                err.contains(&format!("job.json:7:{col}: {path}: found "))
                    && err.contains("expected at most 2592000 seconds (30 days)"),
                "{args:?} {extra}: {err}"
            );
            assert!(!d.path().join("marker").exists());
        }
        // Every rp-* tool that reads a job applies the same rules.
        let nowhere = "nobody@nowhere.invalid";
        for (tool, args) in [
            (
                "rp-exec",
                vec!["--host", nowhere, "--job", "job.json", "--", "true"],
            ),
            ("rp-image", vec!["--format", "dockerfile", "job.json"]),
            ("rp-probe", vec!["--local", "job.json"]),
            (
                "rp-sync",
                vec!["--job", "job.json", "--host", nowhere, "up"],
            ),
            (
                "rp-collect",
                vec![
                    "--job", "job.json", "--host", nowhere, "--to", "o", "--from", "x",
                ],
            ),
        ] {
            let mut c = bin_cmd(tool);
            c.current_dir(d.path()).args(&args);
            let out = c.output().unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{tool} {extra}: {err}");
            assert!(
                err.contains(&format!("{tool}: job.json:7:{col}: {path}: found ")),
                "{tool} {extra}: {err}"
            );
        }
    }
}

#[test]
fn a_job_timeout_at_the_maximum_runs_locally_and_over_ssh() {
    let d = shm_tempdir();
    job(d.path(), &format!(",\n  \"timeout\": {MAX}"));
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--json"]);
    let out = run_expect(&mut c, 0);
    assert_eq!(json(&out)["exit_code"], 0);
    assert!(d.path().join("marker").exists());

    let b = SshBox::start();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json", "--json"])
        .args(b.tool_args());
    let out = run_expect(&mut c, 0);
    assert_eq!(json(&out)["exit_code"], 0);
    // The marker was written in the run's own copy of the code, which went with the run.
    assert_eq!(b.ssh("ls -A runplz-runs"), "");
}

#[test]
fn a_byte_order_mark_is_skipped_and_lines_still_match() {
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        "\u{feff}{\n  \"name\": \"bom\",\n  \"image\": {\"from_registry\": \"debian:bookworm\"},\n  \"run\": \"true\",\n  \"timeout\": 0\n}\n",
    )
    .unwrap();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path()).args(["brev", "job.json", "--json"]);
    let out = c.output().unwrap();
    // Past the mark the file parses: the error is the real one, at its real place.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("job.json:5:14: timeout: found 0, expected a positive number"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_job_env_past_128_kib_is_refused_located_before_running() {
    let d = shm_tempdir();
    let big = "x".repeat(64 * 1024);
    job(
        d.path(),
        &format!(",\n  \"env\": {{\"A\": \"{big}\",\n    \"B\": \"{big}\"}}"),
    );
    for args in [vec!["local", "job.json"], vec!["brev", "job.json"]] {
        let mut c = bin_cmd("runplz");
        c.current_dir(d.path()).args(&args);
        let out = c.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("job.json:8:10: env.B: found \"env\" reaching 131078 bytes here")
                && err.contains("expected at most 131072 (128 KiB)"),
            "{args:?}: {err}"
        );
        assert!(!d.path().join("marker").exists());
    }
    // Just under the cap passes and the job runs.
    let small = "y".repeat(60 * 1024);
    job(
        d.path(),
        &format!(",\n  \"env\": {{\"A\": \"{small}\", \"B\": \"{small}\"}}"),
    );
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--json"]);
    run_expect(&mut c, 0);
    assert!(d.path().join("marker").exists());
}

/// A native job whose deadline (1 s) sends TERM: its handler writes `term` into
/// `$RUNPLZ_OUT/ev`, takes `save` seconds "saving a checkpoint", writes `saved` and exits.
/// What the file holds (back in `out/ev`) says whether KILL came before the save was done.
fn stop_job(dir: &Path, save: u32, extra: &str) {
    stop_job_with(dir, save, &format!(",\n  \"timeout\": 1{extra}"));
}

/// [`stop_job`] without the deadline.
fn stop_job_with(dir: &Path, save: u32, extra: &str) {
    let run = format!(
        "ev=\"$RUNPLZ_OUT/ev\"; trap 'echo term >> \"$ev\"; sleep {save}; echo saved >> \"$ev\"; exit 0' TERM; echo started >> \"$ev\"; while :; do sleep 0.1; done"
    );
    let text = format!(
        "{{\n  \"name\": \"grace\",\n  \"image\": {{\"from_registry\": \"debian:bookworm\"}},\n  \"run\": {},\n  \"local\": {{\"use_docker\": false}},\n  \"ssh\": {{\"use_docker\": false}}{extra}\n}}\n",
        serde_json::to_string(&run).unwrap()
    );
    std::fs::write(dir.join("job.json"), text).unwrap();
}

#[test]
fn the_stop_grace_is_the_jobs_and_the_flag_beats_it() {
    // A grace longer than the default 5 s: the 6 s save is done before KILL.
    let d = shm_tempdir();
    stop_job(d.path(), 6, ",\n  \"stop_grace_seconds\": 60");
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--json"]);
    let out = run_expect(&mut c, 124);
    assert_eq!(
        json(&out)["ending"]["kind"],
        "timed_out",
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/ev")).unwrap(),
        "started\nterm\nsaved\n"
    );
    // The same on a box, where its supervisor enforces the deadline.
    let b = SshBox::start();
    let d = shm_tempdir();
    stop_job(d.path(), 6, ",\n  \"stop_grace_seconds\": 60");
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json", "--json"])
        .args(b.tool_args());
    let out = run_expect(&mut c, 124);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/ev")).unwrap(),
        "started\nterm\nsaved\n",
        "{}",
        stderr(&out)
    );
    // --grace 0.5 over the job's 60: KILL comes while the 3 s save runs.
    let d = shm_tempdir();
    stop_job(d.path(), 3, ",\n  \"stop_grace_seconds\": 60");
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--json", "--grace", "0.5"]);
    let out = run_expect(&mut c, 124);
    assert_eq!(json(&out)["ending"]["signal"], 9, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/ev")).unwrap(),
        "started\nterm\n"
    );
    // The plan hands the same grace to rp-exec.
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--plan", "--grace", "0.5"]);
    let out = run_expect(&mut c, 0);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" --timeout 1 --grace 0.5 "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_stop_grace_where_it_is_not_used_is_said() {
    let d = shm_tempdir();
    stop_job(d.path(), 0, ",\n  \"stop_grace_seconds\": 1");
    for (args, want) in [
        (
            vec![
                "slurm",
                "--host",
                "nobody@nowhere.invalid",
                "job.json",
                "--plan",
            ],
            "runplz: warning: stop_grace_seconds is not used on slurm",
        ),
        (vec!["local", "job.json", "--plan", "--grace", "2"], ""),
    ] {
        let mut c = bin_cmd("runplz");
        c.current_dir(d.path()).args(&args);
        let out = c.output().unwrap();
        let err = stderr(&out);
        if want.is_empty() {
            assert!(!err.contains("grace"), "{args:?}: {err}");
        } else {
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}

/// `runplz kill` of a running local job: TERM, then the grace the run recorded (the job's
/// `stop_grace_seconds`), or `--grace` when given, then KILL.
#[test]
fn kill_gives_the_run_its_own_grace_unless_told() {
    use std::time::{Duration, Instant};
    let w = crate::support::TestEnv::new();
    for (kill_args, want) in [
        (vec!["kill", "last"], "started\nterm\nsaved\n"),
        (vec!["kill", "last", "--grace", "0.5"], "started\nterm\n"),
    ] {
        let d = shm_tempdir();
        // The 6 s save outlasts the default grace (5 s), not the job's 60.
        let save = if want.ends_with("saved\n") { 6 } else { 3 };
        stop_job_with(d.path(), save, ",\n  \"stop_grace_seconds\": 60");
        let mut run = w.cmd("runplz");
        run.current_dir(d.path())
            .args(["local", "job.json"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut child = run.spawn().unwrap();
        let ev = d.path().join("out/ev");
        let end = Instant::now() + Duration::from_secs(120);
        while std::fs::read_to_string(&ev).unwrap_or_default() != "started\n" {
            assert!(Instant::now() < end, "the job never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut k = w.cmd("runplz");
        k.current_dir(d.path()).args(&kill_args);
        let out = run_expect(&mut k, 0);
        assert_eq!(json(&out)["state"], "terminated", "{}", stderr(&out));
        child.wait().unwrap();
        assert_eq!(std::fs::read_to_string(&ev).unwrap(), want, "{kill_args:?}");
    }
}
