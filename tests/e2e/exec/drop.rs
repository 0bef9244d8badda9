//! Issue #10: a job on a box outlives its connection. The command runs under a supervisor in
//! its own session on the box; rp-exec follows its output by polling from byte offsets and,
//! when the connection breaks (the ssh client killed, the box's sshd restarted and every
//! session dropped), reconnects with backoff and goes on where it stopped: every line is
//! seen exactly once. A client killed outright leaves the job running, its output and end
//! in the run folder for the verbs; a second launch of the same run id is refused.
use super::*;
use crate::support::{bin_cmd, json, kill_local_ssh, run_expect, shm_tempdir, stderr, SshBox};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// A job that prints its pid, then `line 1` .. `line N`, one every 0.1 s.
fn counter(n: u32) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("echo start $$; i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo line $i; sleep 0.1; done"),
    ]
}

/// The `line N` numbers in `text`, in order.
fn lines_seen(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.strip_prefix("line "))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// Wait until the job printed `line N` (or a later one).
fn wait_line(run: &mut Started, n: u32) {
    while run.wait_for("line ") < n {}
}

#[test]
fn killing_the_ssh_client_mid_run_loses_no_line_and_repeats_none() {
    let b = SshBox::start();
    let tmp = shm_tempdir();
    let id = run_id("dropc");
    let mut run = Started::spawn(
        rp_exec(Some(&b))
            .env("TMPDIR", tmp.path())
            .args(["--run-id", &id, "--"])
            .args(counter(40)),
    );
    let pid = run.wait_for("start ");
    wait_line(&mut run, 3);
    // rp-exec polls one ssh call after another: kill for a second, so that some poll is
    // cut off in flight (a master killed between two polls is just made again).
    let mut killed = 0;
    for _ in 0..10 {
        killed += kill_local_ssh(tmp.path());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(killed > 0, "no ssh of the run found");
    let out = run.finish();
    expect_exit(&out, 0);
    let err = stderr(&out);
    assert_eq!(lines_seen(&err), (1..=40).collect::<Vec<_>>(), "{err}");
    assert!(
        err.contains("rp-exec: warning: lost the connection to box")
            && err.contains("the job runs on there: reconnecting")
            && err.contains("rp-exec: reconnected to box after"),
        "{err}"
    );
    assert_eq!(record(&out).ending, Ending::Exited { code: 0 });
    assert!(!alive_on(&b, pid));
    // Read to its end: the run folder is gone.
    assert_eq!(b.ssh("ls -A ~/.runplz/runs"), "");
}

#[test]
fn an_sshd_restart_with_every_session_dropped_is_ridden_out() {
    let mut b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("drops");
    let out_file = b.home.join("drops-done");
    let mut argv = counter(60);
    argv[2] = format!(
        "{}; echo done > {}; {}/rpt-exit 3",
        argv[2],
        out_file.display(),
        h.display()
    );
    let mut run = Started::spawn(rp_exec(Some(&b)).args(["--run-id", &id, "--"]).args(argv));
    run.wait_for("start ");
    wait_line(&mut run, 3);
    // The box goes away: no listener, every session (our connection) dropped.
    b.stop_sshd();
    b.drop_sessions();
    std::thread::sleep(Duration::from_secs(2));
    b.restart_sshd();
    let out = run.finish();
    expect_exit(&out, 3);
    let err = stderr(&out);
    assert_eq!(lines_seen(&err), (1..=60).collect::<Vec<_>>(), "{err}");
    assert!(err.contains("rp-exec: reconnected to box after"), "{err}");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "done\n");
    assert_eq!(record(&out).ending, Ending::Exited { code: 3 });
}

#[test]
fn a_killed_client_leaves_the_job_running_and_its_output_on_the_box() {
    use runplz_core::exec::BoxRun;
    use runplz_core::ssh::{Ssh, SshOptions, Target};
    let b = SshBox::start();
    let tmp = shm_tempdir();
    let id = run_id("orphan");
    let mut run = Started::spawn(
        rp_exec(Some(&b))
            .env("TMPDIR", tmp.path())
            .args(["--run-id", &id, "--"])
            .args(counter(30)),
    );
    let pid = run.wait_for("start ");
    wait_line(&mut run, 2);
    // kill -9 rp-exec and its ssh: nothing is stopped on the box.
    run.signal(Signal::SIGKILL);
    kill_local_ssh(tmp.path());
    let _ = run.finish();
    let ssh = Ssh::new(
        Target::parse("box").unwrap(),
        SshOptions {
            config: Some(b.config.clone()),
            ..SshOptions::default()
        },
    )
    .unwrap();
    assert!(alive_on(&b, pid), "the job died with its client");
    assert_eq!(
        runplz_core::exec::box_status(&ssh, &id).unwrap(),
        BoxRun::Running
    );
    // A second start of the same run id is refused while it runs (and after).
    let again = run_expect(rp_exec(Some(&b)).args(["--run-id", &id, "--", "true"]), 2);
    assert!(
        stderr(&again).contains(&format!(
            "run {id} already has a job on box (~/.runplz/runs/{id}): refusing to start a second one"
        )),
        "{}",
        stderr(&again)
    );
    let end = Instant::now() + Duration::from_secs(30);
    let ended = loop {
        match runplz_core::exec::box_status(&ssh, &id).unwrap() {
            BoxRun::Running => {
                assert!(Instant::now() < end, "the job never ended");
                std::thread::sleep(Duration::from_millis(200));
            }
            other => break other,
        }
    };
    assert_eq!(
        ended,
        BoxRun::Ended {
            code: 0,
            reason: "exited".into()
        }
    );
    // Its whole output waits in the run folder (what `runplz tail` reads).
    let log = b.ssh(&format!("cat ~/.runplz/runs/{id}/out"));
    assert_eq!(lines_seen(&log), (1..=30).collect::<Vec<_>>(), "{log}");
    assert_eq!(
        b.ssh(&format!("cat ~/.runplz/runs/{id}/exit")),
        "0 exited\n"
    );
    run_expect(rp_exec(Some(&b)).args(["--run-id", &id, "--", "true"]), 2);
    drop(ssh);
}

/// The inactivity watch runs on the box: with rp-exec killed, a quiet job is still stopped
/// there, and the end says why.
#[test]
fn a_quiet_job_is_terminated_on_the_box_with_its_client_gone() {
    let b = SshBox::start();
    let tmp = shm_tempdir();
    let id = run_id("quiet");
    let mut run = Started::spawn(
        rp_exec(Some(&b))
            .env("TMPDIR", tmp.path())
            .args(["--max-inactivity", "2", "--inactivity-action", "terminate"])
            .args(["--grace", "0.5", "--run-id", &id, "--"])
            .args(["sh", "-c", "echo start $$; exec sleep 300"]),
    );
    let pid = run.wait_for("start ");
    run.signal(Signal::SIGKILL);
    kill_local_ssh(tmp.path());
    let _ = run.finish();
    let end = Instant::now() + Duration::from_secs(30);
    while b.ssh(&format!("cat ~/.runplz/runs/{id}/exit 2>/dev/null; true")) != "143 inactive\n" {
        assert!(
            Instant::now() < end,
            "not stopped on the box: {}",
            b.ssh(&format!(
                "ls ~/.runplz/runs/{id}; cat ~/.runplz/runs/{id}/exit; true"
            ))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!alive_on(&b, pid));
    assert_eq!(carriers_on(&b, &id), "");
}

/// `runplz ssh --detach`: the record says detached, the job runs on under its supervisor,
/// its output, end and outputs wait on the box where the run state says; a new file in
/// `$RUNPLZ_OUT` counts as activity for the inactivity watch.
#[test]
fn runplz_ssh_detach_returns_and_the_job_runs_on() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    // Quiet on stdout for 4 s but writing a file every 0.5 s: never inactive (2 s).
    std::fs::write(
        d.path().join("job.json"),
        serde_json::json!({
            "name": "detached",
            "image": {"from_registry": "debian:bookworm"},
            "run": "echo hi; for i in 1 2 3 4 5 6 7 8; do sleep 0.5; : > \"$RUNPLZ_OUT/f$i\"; done; echo bye",
            "ssh": {"use_docker": false, "max_inactivity_seconds": 2, "inactivity_action": "terminate"},
        })
        .to_string(),
    )
    .unwrap();
    let out = run_expect(
        bin_cmd("runplz")
            .current_dir(d.path())
            .env("XDG_STATE_HOME", state.path())
            .args(["ssh", "job.json", "--json", "--detach"])
            .args(b.tool_args()),
        0,
    );
    let rec = json(&out);
    assert_eq!(
        rec["ending"],
        serde_json::json!({"kind": "detached"}),
        "{rec}"
    );
    let id = rec["run_id"].as_str().unwrap().to_string();
    assert!(
        stderr(&out).contains(&format!(
            "detached: the job runs on box under its supervisor (run id {id}"
        )),
        "{}",
        stderr(&out)
    );
    assert!(!d.path().join("out").join("f8").exists());
    let st: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state.path().join(format!("runplz/runs/{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(st["run"]["ending"]["kind"], "detached", "{st}");
    let outputs = st["handle"]["remote_outputs"].as_str().unwrap().to_string();
    let end = Instant::now() + Duration::from_secs(60);
    while b.ssh(&format!("cat ~/.runplz/runs/{id}/exit 2>/dev/null; true")) != "0 exited\n" {
        assert!(
            Instant::now() < end,
            "the detached job never ended: {}",
            b.ssh(&format!("cd ~/.runplz/runs/{id} && cat exit err; true"))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(b.ssh(&format!("cat ~/.runplz/runs/{id}/out")), "hi\nbye\n");
    assert_eq!(b.ssh(&format!("ls ~/{outputs} | wc -l")).trim(), "8");
    // The verbs finish it: status and tail from the box's supervisor, collect brings the
    // outputs back and leaves nothing of the run on the box.
    let verb = |args: &[&str]| {
        let mut c = bin_cmd("runplz");
        c.current_dir(d.path())
            .env("XDG_STATE_HOME", state.path())
            .args(args);
        c
    };
    let st = json(&run_expect(&mut verb(&["status", &id]), 0));
    assert_eq!(
        (&st["state"], &st["exit_code"]),
        (&serde_json::json!("exited"), &serde_json::json!(0)),
        "{st}"
    );
    let tail = run_expect(&mut verb(&["tail", "-f", &id]), 0);
    assert_eq!(String::from_utf8_lossy(&tail.stdout), "hi\nbye\n");
    let got = json(&run_expect(&mut verb(&["collect", &id]), 0));
    assert_eq!(got["files"], 8, "{got}");
    assert!(d.path().join("out/f8").exists());
    assert_eq!(
        b.ssh(&format!(
            "ls -d ~/.runplz/runs/{id} ~/{outputs} ~/runplz-runs/{id} 2>/dev/null | wc -l"
        ))
        .trim(),
        "0"
    );
    let ps = run_expect(&mut verb(&["ps"]), 0);
    let line = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["run_id"] == id.as_str())
        .unwrap();
    assert_eq!(
        (&line["state"], &line["exit_code"]),
        (&serde_json::json!("finished"), &serde_json::json!(0)),
        "{line}"
    );
    // Again: nothing moves, nothing fails.
    let again = json(&run_expect(&mut verb(&["collect", &id]), 0));
    assert_eq!(again["files"], 0, "{again}");
}
