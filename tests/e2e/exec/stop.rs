//! How a run is stopped: the signal rp-exec gets reaches the job as that signal (Ctrl-C is
//! INT, so the job can save its work), here and on a box, with KILL after the grace for a job
//! that does not end; a run without a deadline whose client vanished runs on until stopped;
//! a stop of a finished run leaves only a cancel mark that is swept once it is an hour old;
//! the ssh control folder (and master) a killed rp-exec left is swept by the next one.
use super::*;
use crate::support::{shm_tempdir, SshBox};
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::{Duration, Instant};

/// The lines a `rpt-sigrecord` wrote, once the file is there (it is written before it exits).
fn recorded(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_default()
}

/// Start rp-exec on `rpt-sigrecord FILE [stay]` (grace 1 s), wait until the job has its
/// handlers, send rp-exec `sig`, and return rp-exec's output, the job's pid and how long
/// rp-exec took to end after the signal.
fn interrupt(
    b: Option<&SshBox>,
    helper: &Path,
    file: &Path,
    stay: bool,
    sig: Signal,
) -> (Output, u32, Duration) {
    let id = run_id("sig");
    let mut cmd = rp_exec(b);
    cmd.args(["--grace", "1", "--run-id", &id, "--"])
        .arg(helper)
        .arg(file);
    if stay {
        cmd.arg("stay");
    }
    let mut run = Started::spawn(&mut cmd);
    let pid = run.wait_for("sigrecord ");
    run.signal(sig);
    let sent = Instant::now();
    while run.child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = sent.elapsed();
    let out = run.finish();
    match b {
        None => assert_eq!(carriers_here(&id), Vec::<String>::new()),
        Some(b) => assert_eq!(carriers_on(b, &id), ""),
    }
    (out, pid, took)
}

#[test]
fn local_ctrl_c_reaches_the_job_as_int_and_hup_as_hup() {
    let t = shm_tempdir();
    let helper = bin("rpt-sigrecord");
    let file = t.path().join("got");
    let (out, pid, _) = interrupt(None, &helper, &file, false, Signal::SIGINT);
    expect_exit(&out, 130);
    let r = record(&out);
    assert_eq!(stopped(&r), (Some(2), None), "it exited by itself");
    assert_eq!(recorded(&file), "INT\n", "the job got INT, not TERM");
    assert!(!alive_here(pid));
    let file = t.path().join("got-hup");
    let (out, _, _) = interrupt(None, &helper, &file, false, Signal::SIGHUP);
    expect_exit(&out, 129);
    assert_eq!(recorded(&file), "HUP\n");
}

#[test]
fn local_job_ignoring_int_is_killed_after_the_grace() {
    let t = shm_tempdir();
    let file = t.path().join("got");
    let (out, pid, took) = interrupt(None, &bin("rpt-sigrecord"), &file, true, Signal::SIGINT);
    expect_exit(&out, 130);
    let r = record(&out);
    assert_eq!(stopped(&r), (Some(2), Some(9)));
    assert_eq!(recorded(&file), "INT\n", "INT, then KILL: no TERM between");
    assert!(!alive_here(pid));
    assert!(
        took >= Duration::from_secs(1),
        "KILL came {took:?} after INT"
    );
}

/// A Python job (`bash -lc 'python3 ...'`, as runplz runs a job) interrupted through
/// rp-exec saves its checkpoint on KeyboardInterrupt and ends by itself.
fn python_saves_its_checkpoint(b: Option<&SshBox>, ckpt: &Path) {
    // The line is printed inside the `try`: a Ctrl-C passed on the moment it is seen must
    // land where the job handles it.
    let script = "import sys, time\n\
        try:\n    print('sigrecord 0', flush=True)\n    time.sleep(100)\n\
        except KeyboardInterrupt:\n    open(sys.argv[1], 'w').write('saved on KeyboardInterrupt')\n    sys.exit(3)\n";
    let mut run = Started::spawn(
        rp_exec(b)
            .args([
                "--grace",
                "5",
                "--",
                "bash",
                "-lc",
                "python3 -c \"$0\" \"$1\"",
            ])
            .arg(script)
            .arg(ckpt),
    );
    run.wait_for("sigrecord ");
    run.signal(Signal::SIGINT);
    let out = run.finish();
    expect_exit(&out, 130);
    assert_eq!(
        stopped(&record(&out)),
        (Some(2), None),
        "python ended by itself"
    );
    assert_eq!(
        std::fs::read_to_string(ckpt).unwrap_or_default(),
        "saved on KeyboardInterrupt",
        "{}",
        stderr(&out)
    );
}

#[test]
fn local_python_job_saves_its_checkpoint_on_ctrl_c() {
    let t = shm_tempdir();
    python_saves_its_checkpoint(None, &t.path().join("ckpt"));
}

#[test]
fn remote_python_job_saves_its_checkpoint_on_ctrl_c() {
    let b = SshBox::start();
    python_saves_its_checkpoint(Some(&b), &b.home.join("ckpt"));
}

#[test]
fn remote_ctrl_c_reaches_the_job_as_int() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let file = b.home.join("got");
    let (out, pid, _) = interrupt(
        Some(&b),
        &h.join("rpt-sigrecord"),
        &file,
        false,
        Signal::SIGINT,
    );
    expect_exit(&out, 130);
    let r = record(&out);
    assert_eq!(stopped(&r), (Some(2), None), "it exited by itself");
    assert_eq!(recorded(&file), "INT\n", "the job got INT, not TERM");
    assert!(!alive_on(&b, pid));
    assert!(stderr(&out).contains("(SIGINT)"), "{}", stderr(&out));
}

#[test]
fn remote_job_ignoring_int_is_killed_after_the_grace() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let file = b.home.join("got");
    let (out, pid, took) = interrupt(
        Some(&b),
        &h.join("rpt-sigrecord"),
        &file,
        true,
        Signal::SIGINT,
    );
    expect_exit(&out, 130);
    let r = record(&out);
    assert_eq!(stopped(&r), (Some(2), Some(9)));
    assert_eq!(recorded(&file), "INT\n", "INT, then KILL: no TERM between");
    assert!(
        took >= Duration::from_secs(1),
        "KILL came {took:?} after INT"
    );
    // It catches everything but KILL, and never exits by itself.
    assert!(!alive_on(&b, pid));
    assert_eq!(b.ssh("ls -A ~/.runplz/runs"), "");
}

#[test]
fn remote_timeout_is_still_term() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let file = b.home.join("got");
    let out = crate::support::run_expect(
        rp_exec(Some(&b))
            .args(["--timeout", "2", "--grace", "1", "--"])
            .arg(h.join("rpt-sigrecord"))
            .arg(&file),
        124,
    );
    assert!(matches!(record(&out).ending, Ending::TimedOut { .. }));
    assert_eq!(recorded(&file), "TERM\n");
}

/// Every process of the local process group `pgid`.
fn group_members(pgid: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(") ")?;
            let pg: u32 = rest.split(' ').nth(2)?.parse().ok()?;
            (pg == pgid).then_some(pid)
        })
        .collect()
}

/// Issue #10: a run whose client vanished runs on (a dropped connection must not end it);
/// the library's stop ends it, and its supervisor writes down the end for the verbs.
#[test]
fn a_run_without_deadline_whose_client_vanished_runs_on_until_stopped() {
    use runplz_core::ssh::{Ssh, SshOptions, Target};
    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("guard");
    let tmp = shm_tempdir();
    let mut run = Started::spawn(
        rp_exec(Some(&b))
            .env("TMPDIR", tmp.path())
            .args(["--grace", "0.5", "--run-id", &id, "--"])
            .arg(h.join("rpt-stubborn"))
            .arg("1000"),
    );
    let pid = run.wait_for("stubborn ");
    // rp-exec and its ssh client die without stopping anything.
    kill_rp_exec_and_its_ssh(run);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        alive_on(&b, pid),
        "the job of a vanished client was stopped"
    );
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
    // The supervisor, freed, writes the end (KILL: TERM was ignored).
    let end = Instant::now() + Duration::from_secs(10);
    while b.ssh(&format!("cat ~/.runplz/runs/{id}/exit 2>/dev/null; true")) != "137 exited\n" {
        assert!(Instant::now() < end, "no end written on the box");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn stopping_a_finished_run_leaves_only_a_mark_that_is_swept() {
    use runplz_core::ssh::{Ssh, SshOptions, Target};
    let b = SshBox::start();
    let id = run_id("done");
    crate::support::run_expect(rp_exec(Some(&b)).args(["--run-id", &id, "--", "true"]), 0);
    assert_eq!(b.unread_runs(), "");
    // Its emptied folder goes with a later start (see read_runs_go_four_at_a_time); here
    // by hand, so the stop finds nothing of it.
    b.ssh(&format!("rm -r ~/.runplz/runs/{id}"));
    let ssh = Ssh::new(
        Target::parse("box").unwrap(),
        SshOptions {
            config: Some(b.config.clone()),
            ..SshOptions::default()
        },
    )
    .unwrap();
    runplz_core::exec::kill_run(Some(&ssh), &id, Duration::from_millis(200)).unwrap();
    // It cannot tell a finished run from one still on its way: the mark stays, for now.
    assert_eq!(
        b.ssh(&format!("cd ~/.runplz/runs && ls -A && ls -A {id}")),
        format!("{id}\ncancel\n")
    );
    // A young mark is kept by the next run; an hour-old one is swept by the next run...
    crate::support::run_expect(rp_exec(Some(&b)).args(["--", "true"]), 0);
    assert_eq!(b.unread_runs(), format!("{id}\n"));
    b.ssh(&format!(
        "touch -d '61 minutes ago' ~/.runplz/runs/{id}/cancel"
    ));
    crate::support::run_expect(rp_exec(Some(&b)).args(["--", "true"]), 0);
    assert_eq!(b.unread_runs(), "");
    // ...and by the next stop.
    runplz_core::exec::kill_run(Some(&ssh), &id, Duration::ZERO).unwrap();
    b.ssh(&format!(
        "touch -d '2 hours ago' ~/.runplz/runs/{id}/cancel"
    ));
    let other = run_id("other");
    runplz_core::exec::kill_run(Some(&ssh), &other, Duration::ZERO).unwrap();
    assert_eq!(b.unread_runs(), format!("{other}\n"));
}

/// Run folders that ended and were never read to their end (a detached run, a client that
/// died) stay a week, for the verbs; the next start after that removes them, however many
/// there are, and leaves young ones and running ones alone.
#[test]
fn ended_run_folders_are_swept_a_week_after_they_ended() {
    let b = SshBox::start();
    b.ssh(
        "cd ~ && mkdir -p .runplz/runs && cd .runplz/runs && for i in $(seq 12); do \
         mkdir old$i young$i && echo '0 exited' > old$i/exit && echo '0 exited' > young$i/exit && \
         touch -d '8 days ago' old$i/exit && touch -d '6 days ago' young$i/exit; done && \
         mkdir running && : > running/launched && touch -d '30 days ago' running/launched",
    );
    crate::support::run_expect(rp_exec(Some(&b)).args(["--", "true"]), 0);
    let unread = b.unread_runs();
    let left: std::collections::BTreeSet<&str> = unread.lines().collect();
    let left: String = left.into_iter().map(|l| format!("{l} ")).collect();
    let young: Vec<String> = (1..=12).map(|i| format!("young{i}")).collect();
    let mut want: Vec<&str> = young.iter().map(String::as_str).collect();
    want.push("running");
    want.sort();
    assert_eq!(
        left,
        format!("{} ", want.join(" ")),
        "old ones go, the rest stay"
    );
}

/// Kill rp-exec and its ssh client's process group (the control master, forked into the
/// background, lives on).
fn kill_rp_exec_and_its_ssh(run: Started) {
    let me = run.child.id();
    let children = || -> Vec<u32> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                let (_, rest) = stat.rsplit_once(") ")?;
                let f: Vec<&str> = rest.split(' ').collect();
                let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
                let group: u32 = f[2].parse().ok()?;
                // Only a child that leads its own group: one just forked is still in
                // rp-exec's, which is this test binary's own (killing it killed the suite).
                (f[1].parse::<u32>().ok()? == me && group == pid).then_some(group)
            })
            .collect()
    };
    // rp-exec polls the box one ssh call after another: between two there is none.
    let end = Instant::now() + Duration::from_secs(10);
    let mut ssh_groups = children();
    while ssh_groups.is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        ssh_groups = children();
    }
    assert!(!ssh_groups.is_empty(), "rp-exec has no ssh child");
    let ours = nix::unistd::getpgrp().as_raw() as u32;
    assert!(
        !ssh_groups.contains(&ours),
        "{ssh_groups:?} holds this test's own group"
    );
    run.signal(Signal::SIGKILL);
    for g in &ssh_groups {
        for p in group_members(*g) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
        }
    }
    let _ = run.finish();
}

/// The entries of a local folder, by name.
fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn a_killed_tools_ssh_control_dir_and_master_are_swept_by_the_next_one() {
    let b = SshBox::start();
    let h = helpers_on(&b);
    let tmp = shm_tempdir();
    let mut run = Started::spawn(
        rp_exec(Some(&b))
            .env("TMPDIR", tmp.path())
            .args(["--grace", "0.2", "--"])
            .arg(h.join("rpt-stubborn"))
            .arg("1000"),
    );
    run.wait_for("stubborn ");
    let pid = run.child.id();
    kill_rp_exec_and_its_ssh(run);
    let left = names_in(tmp.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with(&format!("rp-{pid}-")), "{left:?}");
    let dir = tmp.path().join(&left[0]);
    let master_of = |dir: &Path| -> Vec<String> {
        let needle = dir.display().to_string();
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                (cmd.starts_with("ssh") && cmd.contains(&needle)).then_some(cmd)
            })
            .collect()
    };
    assert!(
        !master_of(&dir).is_empty(),
        "no control master left to sweep"
    );
    // The next tool using this TMPDIR sweeps the dead one's folder and ends its master; its
    // own folder goes when it ends.
    crate::support::run_expect(
        rp_exec(Some(&b))
            .env("TMPDIR", tmp.path())
            .args(["--", "true"]),
        0,
    );
    assert_eq!(names_in(tmp.path()), Vec::<String>::new());
    let end = Instant::now() + Duration::from_secs(10);
    while !master_of(&dir).is_empty() {
        assert!(Instant::now() < end, "the dead tool's master is still up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn no_room_for_the_control_socket_is_a_warning_not_silence() {
    let b = SshBox::start();
    let out = crate::support::run_expect(
        rp_exec(Some(&b))
            .env("TMPDIR", "/nonexistent/rpt-tmp")
            .args(["--", "true"]),
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains("rp-exec: warning: cannot create a folder for the ssh control socket in /nonexistent/rpt-tmp"),
        "{err}"
    );
}

/// (the signal rp-exec got, the signal that ended the command) from the record's ending.
fn stopped(r: &Record) -> (Option<i32>, Option<i32>) {
    match r.ending {
        Ending::Interrupted { signal, ended_by } => (Some(signal), ended_by),
        Ending::Signaled { signal }
        | Ending::TimedOut {
            signal: Some(signal),
        } => (None, Some(signal)),
        _ => (None, None),
    }
}
