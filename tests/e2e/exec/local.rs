//! rp-exec here: exit codes, 126/127, the log, the deadline and Ctrl-C against a process
//! group that ignores TERM and a grandchild that left it with setsid, and exact argv/env.
use super::*;
use crate::support::{bin, run_expect, shm_tempdir, stderr};
use std::path::Path;

#[test]
fn local_passes_the_exit_code_and_tees_the_log() {
    let t = shm_tempdir();
    let log = t.path().join("run.log");
    let out = run_expect(
        rp_exec(None).arg("--log").arg(&log).args([
            "--",
            bin("rpt-exit").to_str().unwrap(),
            "3",
            "one",
            "two",
        ]),
        3,
    );
    let r = record(&out);
    assert_eq!(r.host, None);
    assert_eq!(r.ending, Ending::Exited { code: 3 });
    assert_eq!(r.log.as_deref(), log.to_str());
    assert_eq!(r.argv[1..], ["3", "one", "two"]);
    assert!(stderr(&out).contains("one\ntwo\n"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
    // Every id is fresh when none is given.
    let again = record(&run_expect(
        rp_exec(None).args([bin("rpt-exit").to_str().unwrap(), "0"]),
        0,
    ));
    assert_ne!(again.run_id, r.run_id);
}

#[test]
fn local_missing_command_is_127_and_unrunnable_is_126() {
    let t = shm_tempdir();
    let out = run_expect(rp_exec(None).args(["--", "rpt-no-such-program"]), 127);
    let r = record(&out);
    assert_eq!((r.exit_code, r.ending), (127, Ending::Exited { code: 127 }));
    assert!(
        stderr(&out).contains("`rpt-no-such-program`: command not found"),
        "{}",
        stderr(&out)
    );
    let plain = t.path().join("not-executable");
    std::fs::write(&plain, "echo hi\n").unwrap();
    let out = run_expect(rp_exec(None).arg("--").arg(&plain), 126);
    assert_eq!(record(&out).exit_code, 126);
}

#[test]
fn local_timeout_kills_a_term_ignoring_group_and_its_setsid_grandchild() {
    let id = run_id("lto");
    let out = run_expect(
        rp_exec(None).args([
            "--timeout",
            "1",
            "--grace",
            "0.5",
            "--run-id",
            &id,
            "--",
            bin("rpt-escape").to_str().unwrap(),
            "60",
        ]),
        124,
    );
    let r = record(&out);
    assert_eq!(
        r.ending,
        Ending::TimedOut { signal: Some(9) },
        "TERM is ignored, so KILL it was"
    );
    assert_eq!(r.run_id, id);
    let grandchild = pid_after(&stderr(&out), "grandchild ");
    assert!(!alive_here(grandchild), "the setsid grandchild survived");
    assert_eq!(carriers_here(&id), Vec::<String>::new());
    assert!(stderr(&out).contains("rp-exec: timed out after 1.0s"));
}

#[test]
fn local_setsid_grandchild_is_killed_when_the_command_ends() {
    let id = run_id("lgc");
    let out = run_expect(
        rp_exec(None).args(["--run-id", &id, "--", bin("rpt-escape").to_str().unwrap()]),
        0,
    );
    let grandchild = pid_after(&stderr(&out), "grandchild ");
    assert!(!alive_here(grandchild), "the setsid grandchild survived");
    assert_eq!(carriers_here(&id), Vec::<String>::new());
}

#[test]
fn local_sigint_stops_the_command() {
    let id = run_id("lint");
    let mut run = Started::spawn(rp_exec(None).args([
        "--grace",
        "0.5",
        "--run-id",
        &id,
        "--",
        bin("rpt-stubborn").to_str().unwrap(),
    ]));
    let pid = run.wait_for("stubborn ");
    run.signal(nix::sys::signal::Signal::SIGINT);
    let out = run.finish();
    expect_exit(&out, 130);
    let r = record(&out);
    assert!(
        matches!(r.ending, Ending::Interrupted { signal: 2, .. }),
        "{:?}",
        r.ending
    );
    assert!(!alive_here(pid), "the TERM-ignoring command survived");
    assert_eq!(carriers_here(&id), Vec::<String>::new());
}

#[test]
fn local_env_argv_and_workdir_arrive_exact() {
    let t = shm_tempdir();
    let wd = t.path().join("work dir/it's");
    let id = run_id("lenv");
    let mut cmd = rp_exec(None);
    echo_args(
        &mut cmd,
        &id,
        wd.to_str().unwrap(),
        bin("rpt-echo").to_str().unwrap(),
    );
    let out = run_expect(&mut cmd, 0);
    check_echo(&echoed(&stderr(&out)), &id, &wd);
    assert!(!Path::new("/tmp/pwned-rpt").exists());
}

#[test]
fn bad_input_is_refused_before_anything_runs() {
    let t = shm_tempdir();
    let wd = t.path().join("never");
    for (bad, msg) in [
        ("--env=A-B=1", "found the name \"A-B\""),
        ("--env=RUNPLZ_RUN_ID=x", "use --run-id"),
        ("--run-id=../x", "--run-id: found \"../x\""),
        ("--timeout=0", "--timeout: found 0"),
    ] {
        let out = run_expect(
            rp_exec(None)
                .arg(bad)
                .arg("--workdir")
                .arg(&wd)
                .args(["--", "true"]),
            2,
        );
        assert!(stderr(&out).contains(msg), "{bad}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert!(!wd.exists(), "{bad}: the workdir was created");
    }
}
