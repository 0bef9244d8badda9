//! Daemons a job leaves behind (issue #15), here and on a box, after a success and after a
//! timeout: one that calls `setsid` but keeps RUNPLZ_RUN_ID (`keep`: killed by the run id),
//! one that drops the variable with `env -i` but stays in the job's group (`drop`: killed by
//! the group), one that drops it and moves to a group of its own with `set -m` (`group`: on a
//! box, still in the job's session, so killed by the session; here the session is the
//! caller's, so it is only named), and one that does `setsid` and `env -i` (`escape`: cannot
//! be attributed for sure, so it is not killed but named in a warning with a `kill` command
//! that works). A process of the same user that someone else (a loop started before the run,
//! in a session of its own) starts during the run is neither killed nor named: it has a live
//! parent that is older than the run, where an escaper's parent is pid 1. Nor is a process
//! another run (started before ours, still running) starts during ours: it carries that run's
//! id.
use super::*;
use crate::support::{run_expect, shm_tempdir};

/// The job: starts the four daemons (TERM ignored, `sleep 60N`), prints their pids, pokes the
/// other user's loop (file `$GO`) and waits until it has started its process; with STAY set
/// it then ignores TERM and stays, so only the timeout ends it.
const JOB: &str = r#"
setsid bash -c 'trap "" TERM; exec sleep 601' </dev/null >/dev/null 2>&1 & echo "keep $!"
env -i bash -c 'trap "" TERM; exec sleep 602' </dev/null >/dev/null 2>&1 & echo "drop $!"
set -m
env -i bash -c 'trap "" TERM; exec sleep 603' </dev/null >/dev/null 2>&1 & echo "group $!"
set +m
setsid env -i bash -c 'trap "" TERM; exec sleep 604' </dev/null >/dev/null 2>&1 & echo "escape $!"
: > "$GO"
while [ ! -s "$GO.pid" ] || [ ! -s "$GO.b" ]; do sleep 0.05; done
sleep 0.2
if [ -n "${STAY:-}" ]; then trap '' TERM; sleep 60; fi
"#;

/// "Someone else": a loop in a session of its own, started before the run, that starts
/// `sleep 605` once `$0` exists and writes its pid to `$0.pid`.
const OTHER: &str = r#"while [ ! -e "$0" ]; do sleep 0.05; done; sleep 605 & echo $! > "$0.tmp"; mv "$0.tmp" "$0.pid"; wait"#;

/// Another run, started before ours: once `$GO` exists it starts `sleep 606` (which carries
/// its run id) and says so in `$GO.b`.
const OTHER_RUN: &str = r#"while [ ! -e "$GO" ]; do sleep 0.05; done; sleep 606 & echo "bsleep $!"; echo $! > "$GO.b.tmp"; mv "$GO.b.tmp" "$GO.b"; wait"#;

/// The pids on the warning's lines (`  PID CMD`) and in its `kill` command.
fn named(err: &str) -> (Vec<u32>, Vec<String>) {
    let listed = err
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let kill = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("stop them with: kill -KILL ")
                .or_else(|| l.strip_prefix("stop them on the box with: kill -KILL "))
                .map(String::from)
        })
        .map(|k| k.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    (listed, kill)
}

fn wait_pid_file(read: impl Fn() -> String) -> u32 {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(p) = read().trim().parse() {
            return p;
        }
        assert!(Instant::now() < end, "the other process never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(b: Option<&SshBox>, stay: bool) {
    let id = run_id(if stay { "dto" } else { "dok" });
    let mut cmd = rp_exec(b);
    let t = shm_tempdir();
    let go = match b {
        Some(b) => b.home.join(format!("go-{id}")),
        None => t.path().join("go"),
    };
    // Someone else's loop, started before the run, in a session of its own.
    let other_sh: u32 = match b {
        Some(b) => b
            .ssh(&format!(
                "setsid sh -c {} {} </dev/null >/dev/null 2>&1 & echo $!",
                quoted(OTHER),
                go.display()
            ))
            .trim()
            .parse()
            .unwrap(),
        None => Command::new("setsid")
            .args(["sh", "-c", OTHER])
            .arg(&go)
            .stdin(Stdio::null())
            .spawn()
            .unwrap()
            .id(),
    };
    let mut other_run = Started::spawn(
        rp_exec(b)
            .args(["--grace", "0.5", "--run-id", &format!("{id}-b"), "--env"])
            .arg(format!("GO={}", go.display()))
            .args(["--", "bash", "-c", OTHER_RUN]),
    );
    cmd.args(["--grace", "0.5", "--run-id", &id, "--env"])
        .arg(format!("GO={}", go.display()));
    if stay {
        cmd.args(["--env", "STAY=1", "--timeout", "3"]);
    }
    cmd.args(["--", "bash", "-c", JOB]);
    let out = run_expect(&mut cmd, if stay { 124 } else { 0 });
    let err = stderr(&out);
    let pid = |tag: &str| pid_after(&err, &format!("{tag} "));
    let alive = |p: u32| match b {
        Some(b) => alive_on(b, p),
        None => alive_here(p),
    };
    let pid_file = format!("{}.pid", go.display());
    let other = wait_pid_file(|| match b {
        Some(b) => b.ssh(&format!("cat {pid_file} 2>/dev/null; true")),
        None => std::fs::read_to_string(&pid_file).unwrap_or_default(),
    });
    let (listed, kill) = named(&err);
    assert!(
        !alive(pid("keep")),
        "setsid, kept the run id: survived\n{err}"
    );
    assert!(!alive(pid("drop")), "env -i in the group: survived\n{err}");
    if b.is_some() {
        assert!(
            !alive(pid("group")),
            "env -i in the session: survived\n{err}"
        );
    } else {
        assert!(alive(pid("group")), "{err}");
        assert!(listed.contains(&pid("group")), "{err}");
    }
    let escape = pid("escape");
    assert!(
        alive(escape),
        "an escaper that cannot be attributed was killed\n{err}"
    );
    assert!(listed.contains(&escape), "the escaper is not named\n{err}");
    assert!(err.contains(&format!("  {escape} sleep 604\n")), "{err}");
    assert!(kill.contains(&escape.to_string()), "{err}");
    assert!(alive(other), "someone else's process was killed\n{err}");
    assert!(
        !listed.contains(&other),
        "someone else's process was named\n{err}"
    );
    // The other run's process is neither killed nor named.
    let bsleep = other_run.wait_for("bsleep ");
    assert!(alive(bsleep), "another run's process was killed\n{err}");
    assert!(
        !listed.contains(&bsleep),
        "another run's process was named\n{err}"
    );
    other_run.signal(nix::sys::signal::Signal::SIGTERM);
    let b_out = other_run.finish();
    assert!(!alive(bsleep), "{}", stderr(&b_out));
    match b {
        // The box user is this test's own: the command is run as given.
        Some(b) => {
            assert!(
                err.contains("stop them on the box with: kill -KILL "),
                "{err}"
            );
            b.ssh(&format!("kill -KILL {}", kill.join(" ")));
        }
        // Here other tests' orphans of this user may be named too: only ours are killed.
        None => {
            let ours: Vec<String> = [escape, pid("group")].iter().map(u32::to_string).collect();
            assert!(ours.iter().all(|p| kill.contains(p)), "{err}");
            let ok = Command::new("kill")
                .arg("-KILL")
                .args(&ours)
                .status()
                .unwrap();
            assert!(ok.success());
        }
    }
    let end = Instant::now() + Duration::from_secs(10);
    while alive(escape) || (b.is_none() && alive(pid("group"))) {
        assert!(
            Instant::now() < end,
            "the kill command did not stop the escaper"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Clean up someone else's loop and its sleep.
    let stop = format!("kill {other} {other_sh} 2>/dev/null; true");
    match b {
        Some(b) => drop(b.ssh(&stop)),
        None => drop(Command::new("sh").args(["-c", &stop]).status()),
    }
}

/// `s` as one single-quoted shell word.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn local_daemons_after_success() {
    run(None, false);
}

#[test]
fn local_daemons_after_timeout() {
    run(None, true);
}

#[test]
fn remote_daemons_after_success() {
    run(Some(&SshBox::start()), false);
}

#[test]
fn remote_daemons_after_timeout() {
    run(Some(&SshBox::start()), true);
}

/// A job of a few milliseconds (whose end on a box looks for leftovers among the pids handed
/// out since it began, and scans /proc only where one is alive) still has its daemons found:
/// one that called `setsid` but kept RUNPLZ_RUN_ID is killed, one that also dropped it is
/// named with a `kill` command that works.
#[test]
fn remote_daemons_of_a_short_job() {
    let b = SshBox::start();
    let id = run_id("dshort");
    let job = r#"setsid sh -c 'trap "" TERM; exec sleep 611' </dev/null >/dev/null 2>&1 & echo "keep $!"
setsid env -i sh -c 'trap "" TERM; exec sleep 612' </dev/null >/dev/null 2>&1 & echo "escape $!""#;
    let out = run_expect(
        rp_exec(Some(&b)).args(["--grace", "0.5", "--run-id", &id, "--", "sh", "-c", job]),
        0,
    );
    let err = stderr(&out);
    let (keep, escape) = (pid_after(&err, "keep "), pid_after(&err, "escape "));
    assert!(
        !alive_on(&b, keep),
        "setsid, kept the run id: survived\n{err}"
    );
    assert!(alive_on(&b, escape), "the escaper was killed\n{err}");
    let (listed, kill) = named(&err);
    assert_eq!(listed, vec![escape], "{err}");
    assert!(err.contains(&format!("  {escape} sleep 612\n")), "{err}");
    b.ssh(&format!("kill -KILL {}", kill.join(" ")));
    let end = Instant::now() + Duration::from_secs(10);
    while alive_on(&b, escape) {
        assert!(
            Instant::now() < end,
            "the kill command did not stop the escaper"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
