//! rp-exec on a real loopback box: the same outcomes as here, plus what only a box has: a
//! connection failure is 125 (never the command's 255), setup failures name their reason,
//! a second ssh stops the run, the box's deadline stops a run whose rp-exec vanished, and
//! `kill_run` works from the library (dropped connections: drop.rs).
use super::*;
use crate::support::{run_expect, shm_tempdir, stderr, SshBox};
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn remote_passes_exit_codes_including_255_and_tees_the_log() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let t = shm_tempdir();
    let log = t.path().join("run.log");
    let exit = h.join("rpt-exit");
    let out = run_expect(
        rp_exec(Some(&b))
            .arg("--log")
            .arg(&log)
            .arg("--")
            .arg(&exit)
            .args(["3", "one", "two"]),
        3,
    );
    let r = record(&out);
    assert_eq!(r.host.as_deref(), Some("box"));
    assert_eq!(r.ending, Ending::Exited { code: 3 });
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
    assert!(stderr(&out).contains("one\ntwo\n"));
    // The command's own 255 is not ssh's 255.
    let out = run_expect(rp_exec(Some(&b)).arg("--").arg(&exit).arg("255"), 255);
    let r = record(&out);
    assert_eq!((r.exit_code, r.ending), (255, Ending::Exited { code: 255 }));
    // Each run's folder is left emptied and marked read, for a later start to remove.
    assert_eq!(b.ssh("ls -A ~/.runplz/runs | wc -l").trim(), "2");
    assert_eq!(b.unread_runs(), "");
}

#[test]
fn remote_missing_command_is_127() {
    let b = SshBox::start();
    let out = run_expect(rp_exec(Some(&b)).args(["--", "rpt-no-such-program"]), 127);
    let r = record(&out);
    assert_eq!((r.exit_code, r.ending), (127, Ending::Exited { code: 127 }));
    assert!(
        stderr(&out).contains("rpt-no-such-program: not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn remote_timeout_leaves_nothing_on_the_box() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("rto");
    let out = run_expect(
        rp_exec(Some(&b))
            .args(["--timeout", "1", "--grace", "0.5", "--run-id", &id, "--"])
            .arg(h.join("rpt-escape"))
            .arg("60"),
        124,
    );
    let r = record(&out);
    assert!(
        matches!(r.ending, Ending::TimedOut { .. }),
        "{:?}",
        r.ending
    );
    assert_eq!(r.run_id, id);
    let grandchild = pid_after(&stderr(&out), "grandchild ");
    assert!(
        !alive_on(&b, grandchild),
        "the setsid grandchild survived on the box"
    );
    assert_eq!(
        carriers_on(&b, &id),
        "",
        "processes of the run are left on the box"
    );
    let err = stderr(&out);
    assert!(
        err.contains("timed out after 1.0s; stopped the command on box"),
        "{err}"
    );
    // The wrapper's internals (the shell's "Killed" notice, its command line) stay hidden.
    assert!(
        !err.contains("Killed") && !err.contains("RUNPLZ_RUN_ID"),
        "{err}"
    );
}

#[test]
fn remote_setsid_grandchild_is_killed_when_the_command_ends() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("rgc");
    let out = run_expect(
        rp_exec(Some(&b))
            .args(["--run-id", &id, "--"])
            .arg(h.join("rpt-escape")),
        0,
    );
    let grandchild = pid_after(&stderr(&out), "grandchild ");
    assert!(
        !alive_on(&b, grandchild),
        "the setsid grandchild survived on the box"
    );
    assert_eq!(carriers_on(&b, &id), "");
}

#[test]
fn remote_sigint_kills_the_job_on_the_box() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("rint");
    let mut run = Started::spawn(
        rp_exec(Some(&b))
            .args(["--grace", "0.5", "--run-id", &id, "--"])
            .arg(h.join("rpt-stubborn")),
    );
    let pid = run.wait_for("stubborn ");
    assert!(alive_on(&b, pid));
    run.signal(nix::sys::signal::Signal::SIGINT);
    let out = run.finish();
    expect_exit(&out, 130);
    let r = record(&out);
    assert!(
        matches!(r.ending, Ending::Interrupted { signal: 2, .. }),
        "{:?}",
        r.ending
    );
    assert!(
        !alive_on(&b, pid),
        "the TERM-ignoring job survived on the box"
    );
    assert_eq!(carriers_on(&b, &id), "");
}

#[test]
fn remote_env_argv_and_workdir_arrive_exact() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("renv");
    let mut cmd = rp_exec(Some(&b));
    echo_args(
        &mut cmd,
        &id,
        "my dir/it's $(x)",
        h.join("rpt-echo").to_str().unwrap(),
    );
    let out = run_expect(&mut cmd, 0);
    let wd = b.home.join("my dir/it's $(x)");
    check_echo(&echoed(&stderr(&out)), &id, &wd);
    assert!(wd.is_dir());
    assert!(!Path::new("/tmp/pwned-rpt").exists());
    // `~/` is the home directory.
    let out = run_expect(
        rp_exec(Some(&b))
            .args(["--workdir", "~/tilde"])
            .arg("--")
            .arg(h.join("rpt-echo")),
        0,
    );
    assert_eq!(
        echoed(&stderr(&out))["cwd"].as_str(),
        b.home.join("tilde").to_str()
    );
}

#[test]
fn remote_connection_failure_is_125_not_255() {
    let t = shm_tempdir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again when the listener drops
    let cfg = t.path().join("ssh_config");
    std::fs::write(
        &cfg,
        format!(
            "Host dead\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 5\n  \
             UserKnownHostsFile /dev/null\n  GlobalKnownHostsFile /dev/null\n"
        ),
    )
    .unwrap();
    let out = run_expect(
        rp_exec(None)
            .arg("--ssh-config")
            .arg(&cfg)
            .args(["--host", "dead", "--", "true"]),
        125,
    );
    assert!(
        out.stdout.is_empty(),
        "no record when rp-exec itself failed"
    );
    let err = stderr(&out);
    assert!(
        err.contains(
            "rp-exec: could not run on dead: ssh exited with 255 before the command started"
        ),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
}

#[test]
fn remote_setup_failure_is_125_with_the_reason() {
    let b = SshBox::start();
    let id = run_id("rsetup");
    let out = run_expect(
        rp_exec(Some(&b)).args(["--workdir", "/proc/no such", "--run-id", &id, "--", "true"]),
        125,
    );
    assert!(
        out.stdout.is_empty(),
        "no record when rp-exec itself failed"
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "rp-exec: setting up run {id} on box failed: cannot create or enter the workdir '/proc/no such'"
        )),
        "{err}"
    );
    assert_eq!(b.ssh("ls -A ~/.runplz/runs 2>/dev/null; true"), "");
}

#[test]
fn remote_watchdog_stops_a_run_whose_rp_exec_is_gone() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("rdog");
    // A killed rp-exec leaves its ssh control socket dir for the next tool to sweep: keep
    // it in ours.
    let tmp = shm_tempdir();
    let mut run = Started::spawn(
        rp_exec(Some(&b))
            .env("TMPDIR", tmp.path())
            .args(["--timeout", "1", "--grace", "0.5", "--run-id", &id, "--"])
            .arg(h.join("rpt-stubborn")),
    );
    let pid = run.wait_for("stubborn ");
    // rp-exec and its ssh vanish without stopping anything.
    let me = run.child.id();
    for child in children_of(me) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    run.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = run.finish();
    let end = Instant::now() + Duration::from_secs(30);
    while alive_on(&b, pid) {
        assert!(
            Instant::now() < end,
            "the box's watchdog never stopped the job"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(carriers_on(&b, &id), "");
}

/// Direct children of a local process.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(") ")?;
            let ppid: u32 = rest.split(' ').nth(1)?.parse().ok()?;
            (ppid == pid).then(|| e.file_name().to_string_lossy().parse().ok())?
        })
        .collect()
}

#[test]
fn kill_run_from_the_library_stops_a_remote_run() {
    use runplz_core::ssh::{Ssh, SshOptions, Target};
    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("rkill");
    let mut run = Started::spawn(
        rp_exec(Some(&b))
            .args(["--run-id", &id, "--"])
            .arg(h.join("rpt-stubborn")),
    );
    let pid = run.wait_for("stubborn ");
    let ssh = Ssh::new(
        Target::parse("box").unwrap(),
        SshOptions {
            config: Some(b.config.clone()),
            ..SshOptions::default()
        },
    )
    .unwrap();
    runplz_core::exec::kill_run(Some(&ssh), &id, Duration::from_millis(500)).unwrap();
    assert!(!alive_on(&b, pid));
    assert_eq!(carriers_on(&b, &id), "");
    // rp-exec sees its command killed by signal 9 (TERM was ignored).
    let out = run.finish();
    expect_exit(&out, 137);
    assert_eq!(record(&out).ending, Ending::Signaled { signal: 9 });
}

#[test]
fn a_run_stopped_before_it_started_never_starts() {
    use runplz_core::ssh::{Ssh, SshOptions, Target};
    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("rearly");
    let ssh = Ssh::new(
        Target::parse("box").unwrap(),
        SshOptions {
            config: Some(b.config.clone()),
            ..SshOptions::default()
        },
    )
    .unwrap();
    // runplz got Ctrl-C before its run reached the box: the stop leaves a mark there.
    runplz_core::exec::kill_run(Some(&ssh), &id, Duration::from_millis(200)).unwrap();
    let out = run_expect(
        rp_exec(Some(&b))
            .args(["--run-id", &id, "--"])
            .arg(h.join("rpt-stubborn")),
        125,
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("run {id} was stopped before it started")),
        "{err}"
    );
    assert!(!err.contains("stubborn "), "the command ran: {err}");
}

/// A job that ends while the launch follows it costs one ssh call in all: the launch brings
/// its output and end, and, answered, empties the run folder and marks it read. One that
/// outlives the launch's follow is polled after it, with nothing lost or repeated, and its
/// folder goes.
#[test]
fn a_short_job_is_one_ssh_call() {
    let b = SshBox::start();
    let calls = crate::support::SshCalls::new();
    let out = run_expect(
        rp_exec(Some(&b))
            .env("PATH", calls.path())
            .args(["--env", "A=x y", "--", "sh", "-c"])
            .arg("echo \"one $A\"; echo two >&2; exit 4"),
        4,
    );
    let r = record(&out);
    assert_eq!(r.ending, Ending::Exited { code: 4 });
    assert!(stderr(&out).contains("one x y\ntwo\n"), "{}", stderr(&out));
    assert_eq!(calls.count(), 1, "{}", calls.log());
    assert_eq!(b.unread_runs(), "");
    // Past the launch's follow (1 s): then polls, each line once, and the folder goes.
    let out = run_expect(
        rp_exec(Some(&b))
            .env("PATH", calls.path())
            .args(["--", "sh", "-c"])
            .arg("echo early; sleep 3; echo late"),
        0,
    );
    let err = stderr(&out);
    assert_eq!(err.matches("early\n").count(), 1, "{err}");
    assert_eq!(err.matches("late\n").count(), 1, "{err}");
    assert!(
        err.find("early").unwrap() < err.find("late").unwrap(),
        "{err}"
    );
    // The first run's one call, then a launch, at least one poll and the forget.
    assert!(calls.count() >= 4, "{}", calls.log());
    assert_eq!(
        b.ssh("ls -A ~/.runplz/runs | wc -l").trim(),
        "1",
        "only the first's"
    );
    assert_eq!(b.unread_runs(), "");
}

/// A short run's folder is left emptied and marked read (removing it would cost the launch a
/// process's start); the start that finds four of them removes them together, in the
/// background, and never a folder of a run not read to its end.
#[test]
fn read_runs_go_four_at_a_time() {
    let b = SshBox::start();
    b.ssh("mkdir -p ~/.runplz/runs/running && : > ~/.runplz/runs/running/launched");
    let count = || b.ssh("ls -A ~/.runplz/runs | wc -l").trim().to_string();
    for n in 1..=4 {
        let out = run_expect(
            rp_exec(Some(&b)).args(["--", "sh", "-c", "echo out; echo err >&2"]),
            0,
        );
        assert!(stderr(&out).contains("out\nerr\n"), "{}", stderr(&out));
        assert_eq!(count(), (n + 1).to_string());
    }
    assert_eq!(b.unread_runs(), "running\n", "each emptied and marked");
    run_expect(rp_exec(Some(&b)).args(["--", "true"]), 0);
    let end = Instant::now() + Duration::from_secs(10);
    while count() != "2" {
        assert!(
            Instant::now() < end,
            "left: {}",
            b.ssh("ls -A ~/.runplz/runs")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        b.unread_runs(),
        "running\n",
        "the last one's, and the running one"
    );
}

/// The supervisor is the same for every run of one runplz: it goes to a box once, and again
/// only where the box lost it (a launch that finds it gone starts nothing and says so).
#[test]
fn the_supervisor_goes_to_a_box_once_and_again_where_it_was_lost() {
    let b = SshBox::start();
    let calls = crate::support::SshCalls::counting_stdin();
    let run = || {
        calls.clear();
        let out = run_expect(
            rp_exec(Some(&b))
                .env("PATH", calls.path())
                .args(["--", "sh", "-c", "echo hi"]),
            0,
        );
        assert_eq!(stderr(&out).matches("hi\n").count(), 1, "{}", stderr(&out));
        (calls.count(), calls.sizes())
    };
    // Its name (a hash of it), mode, inode and mtime: a rewrite would show.
    let kept = || b.ssh("cd ~/.runplz/lib && stat -c '%n %a %i %.9Y' * && stat -c %a .");
    let (n, first) = run();
    assert_eq!(n, 1, "{}", calls.log());
    let lib = kept();
    let lines: Vec<&str> = lib.lines().collect();
    // The supervisor and the rest of it (read only where a run needs it).
    assert_eq!(lines.len(), 3, "{lib}");
    for l in &lines[..2] {
        assert!(l.starts_with("supervise-") && l.contains(" 600 "), "{lib}");
    }
    assert!(
        lines[1].split(' ').next().unwrap().ends_with("-more"),
        "{lib}"
    );
    assert_eq!(lines[2], "700", "the folder is private");
    let (n, second) = run();
    assert_eq!(n, 1, "{}", calls.log());
    assert!(second[0] + 4000 < first[0], "{first:?} then {second:?}");
    assert_eq!(kept(), lib, "left as it was");
    // Lost on the box: one launch that does nothing, then one that brings it.
    b.ssh("rm -r ~/.runplz/lib");
    let (n, sizes) = run();
    assert_eq!(n, 2, "{}", calls.log());
    assert!(sizes[0] + 4000 < sizes[1], "{sizes:?}");
    assert_eq!(kept().lines().count(), 3);
    assert_eq!(b.unread_runs(), "");
    let (n, _) = run();
    assert_eq!(n, 1, "{}", calls.log());
    // Only its rest lost: the same, as the supervisor could not stop what a run leaves.
    b.ssh("rm ~/.runplz/lib/*-more");
    let (n, _) = run();
    assert_eq!(n, 2, "{}", calls.log());
    assert_eq!(kept().lines().count(), 3);
}
