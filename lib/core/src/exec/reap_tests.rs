//! Unit tests of the reapers: the Rust one here and the shell functions for the box, run the same way.

use super::*;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

fn id(tag: &str) -> String {
    format!("reap-{tag}-{}-{}", std::process::id(), rand_hex())
}

fn rand_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    format!("{:x}", h.finish())
}

/// A shell ignoring TERM (and so its `sleep`), in its own session, carrying the run id.
fn stubborn(run_id: &str) -> Child {
    let mut c = Command::new("sh");
    c.args(["-c", "trap '' TERM; sleep 30; :"])
        .env(RUN_ID_VAR, run_id)
        .process_group(0);
    c.spawn().unwrap()
}

fn alive(child: &mut Child) -> bool {
    child.try_wait().unwrap().is_none()
}

fn wait_gone(child: &mut Child) {
    let end = Instant::now() + Duration::from_secs(10);
    while alive(child) {
        assert!(
            Instant::now() < end,
            "process {} is still alive",
            child.id()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_listed(run_id: &str, n: usize) {
    let end = Instant::now() + Duration::from_secs(10);
    while carriers(run_id).len() < n {
        assert!(Instant::now() < end, "carriers of {run_id} never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn rust_reaper_kills_carriers_that_ignore_term_and_nothing_else() {
    let run = id("rs");
    let other = id("other");
    let mut a = stubborn(&run);
    let mut b = stubborn(&other);
    wait_listed(&run, 2); // sh and its sleep
    let hit = kill_run_local(&run, Duration::from_millis(200)).unwrap();
    assert!(hit.contains(&(a.id() as i32)), "{hit:?}");
    wait_gone(&mut a);
    assert!(carriers(&run).is_empty());
    assert!(alive(&mut b), "a process of another run was killed");
    kill_run_local(&other, Duration::ZERO).unwrap();
    wait_gone(&mut b);
}

#[test]
fn shell_reaper_kills_carriers_and_group_members() {
    let run = id("sh");
    let mut a = stubborn(&run);
    // A group member that scrubbed its environment: only the group id finds it.
    let mut g = Command::new("env");
    g.args(["-i", "sleep", "30"]).process_group(0);
    let mut g = g.spawn().unwrap();
    wait_listed(&run, 2);
    let script = format!(
        "{SHELL_FUNCTIONS}\nrp_pids {run} {g}; echo --; rp_stop {run} 2 {g}; echo rc=$?",
        g = g.id()
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (listed, after) = text.split_once("--\n").unwrap();
    let listed: Vec<u32> = listed.lines().map(|l| l.parse().unwrap()).collect();
    assert!(listed.contains(&a.id()), "{text}");
    assert!(listed.contains(&g.id()), "{text}");
    assert_eq!(after, "rc=0\n", "{}", String::from_utf8_lossy(&out.stderr));
    wait_gone(&mut a);
    wait_gone(&mut g);
    assert!(carriers(&run).is_empty());
}

#[test]
fn reapers_send_the_signal_asked_for_first() {
    let dir = tempfile::tempdir().unwrap();
    for (how, sig) in [("rs", Signal::SIGINT), ("sh", Signal::SIGHUP)] {
        let run = id(how);
        let got = dir.path().join(how);
        // Records the signal and stays: only the KILL after the grace ends it. The grace is
        // long enough (2 s) for a machine loaded by the whole suite to run the trap first.
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("trap 'echo INT >> \"$0\"' INT; trap 'echo HUP >> \"$0\"' HUP; trap 'echo TERM >> \"$0\"' TERM; : > \"$0.ready\"; while :; do sleep 0.05; done")
            .arg(&got)
            .env(RUN_ID_VAR, &run)
            .process_group(0);
        // A shell cannot trap a signal ignored when it started, as INT and QUIT are for
        // whatever a non-interactive shell starts in the background (scripts/test's phases).
        // SAFETY: between fork and exec only async-signal-safe calls (sigaction).
        unsafe {
            c.pre_exec(|| {
                use nix::sys::signal::{signal, SigHandler};
                for s in [Signal::SIGINT, Signal::SIGHUP, Signal::SIGTERM] {
                    signal(s, SigHandler::SigDfl).map_err(std::io::Error::from)?;
                }
                Ok(())
            });
        }
        let mut child = c.spawn().unwrap();
        wait_listed(&run, 1);
        // Its traps are set (a loaded machine may take a while to get there).
        let ready = got.with_extension("ready");
        let t0 = std::time::Instant::now();
        while !ready.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the shell never got going"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        if how == "rs" {
            kill_run_local_with(&run, Duration::from_secs(2), sig).unwrap();
        } else {
            let script = format!("{SHELL_FUNCTIONS}\nrp_stop {run} 20 '' {}", shell_name(sig));
            let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
            assert!(out.status.success());
        }
        wait_gone(&mut child);
        let want = format!("{}\n", shell_name(sig));
        assert_eq!(std::fs::read_to_string(&got).unwrap_or_default(), want);
    }
}

#[test]
fn stat_lines_parse_whatever_the_name() {
    let line = "42 (a) b (c) d) S 1 40 39 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
    let st = parse_stat(line).unwrap();
    assert_eq!(
        (st.pid, st.ppid, st.pgid, st.sid, st.start, st.zombie),
        (42, 1, 40, 39, 12345, false)
    );
    assert!(
        parse_stat("7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0")
            .unwrap()
            .zombie
    );
    assert_eq!(parse_stat("garbage"), None);
    let me = own_stat().unwrap();
    assert_eq!(me.pid, std::process::id() as i32);
}

#[test]
fn shell_reaper_finds_session_members_outside_the_group() {
    let run = id("sid");
    // A session leader whose child moved to a group of its own and cleared its env.
    let mut c = Command::new("setsid");
    c.args(["bash", "-c", "set -m; env -i sleep 30 & echo $!; wait"])
        .stdout(std::process::Stdio::piped());
    let mut leader = c.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(leader.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let member: u32 = line.trim().parse().unwrap();
    let script = format!(
        "{SHELL_FUNCTIONS}\nrp_pids {run} {g} out; echo --; rp_stop {run} 2 {g}; echo rc=$?",
        g = leader.id()
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (listed, after) = text.split_once("--\n").unwrap();
    assert_eq!(listed.trim(), member.to_string(), "{text}");
    assert_eq!(after, "rc=0\n");
    wait_gone(&mut leader);
    let stat = std::fs::read_to_string(format!("/proc/{member}/stat")).unwrap_or_default();
    assert!(parse_stat(&stat).is_none_or(|s| s.zombie), "{stat}");
}

#[test]
fn escapers_are_orphans_started_since_without_a_run_id() {
    let since = now_ticks().unwrap();
    assert!(since >= own_stat().unwrap().start);
    // An orphan that left the session and cleared its env (its parent sh has exited).
    let out = Command::new("setsid")
        .args(["env", "-i", "sh", "-c"])
        .arg("trap '' TERM; sleep 30 </dev/null >/dev/null 2>&1 & echo $!")
        .output()
        .unwrap();
    let orphan: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // Our own child, started since but not an orphan: its parent (this test) is alive.
    let mut child = Command::new("env")
        .args(["-i", "sleep", "30"])
        .spawn()
        .unwrap();
    // An orphan whose command line has a newline.
    let orphan_of = |env: &[&str], cmd: &str| -> i32 {
        let out = Command::new("setsid")
            .args(["env", "-i"])
            .args(env)
            .args(["sh", "-c"])
            .arg(format!("{cmd} </dev/null >/dev/null 2>&1 & echo $!"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let multiline = orphan_of(&[], "sh -c 'sleep 32\n:'");
    // Another run's supervisor (named as runplz starts it), not yet in any skipped session.
    let supervisor = orphan_of(&[], "sh -c 'sleep 33; :' rp-supervisor");
    // A carrier of some run's id.
    let mut carrier = stubborn(&id("esc"));
    std::thread::sleep(Duration::from_millis(100));
    let rs = escapers(since, &[]);
    let sh = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{SHELL_FUNCTIONS}\n{ESCAPER_FUNCTIONS}\nrp_escapers {since} ''; rp_tell {since} '' r-1"
        ))
        .output()
        .unwrap();
    let listed: Vec<i32> = String::from_utf8_lossy(&sh.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let told = String::from_utf8_lossy(&sh.stderr).into_owned();
    let msg = escaper_warning("r-1", &rs).unwrap_or_default();
    // Other sessions are skipped when listed.
    let sid = nix::unistd::getsid(Some(Pid::from_raw(orphan)))
        .unwrap()
        .as_raw();
    let skipped = !escapers(since, &[sid]).contains(&orphan);
    for p in [orphan, multiline, supervisor] {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = kill(Pid::from_raw(carrier.id() as i32), Signal::SIGKILL);
    let _ = carrier.wait();
    for found in [&rs, &listed] {
        assert!(found.contains(&orphan), "{found:?}");
        assert!(!found.contains(&(child.id() as i32)), "{found:?}");
        assert!(!found.contains(&(carrier.id() as i32)), "{found:?}");
    }
    assert!(
        msg.contains(&format!("\n  {multiline} sh -c sleep 32\\n:\n")),
        "{msg}"
    );
    assert!(
        told.contains(&format!("\n  {multiline} sh -c sleep 32 :\n")),
        "{told}"
    );
    assert!(msg.contains(&format!("\n  {orphan} sleep 30\n")), "{msg}");
    assert!(msg.contains("stop them with: kill -KILL "), "{msg}");
    assert!(told.contains(&format!("\n  {orphan} sleep 30\n")), "{told}");
    assert!(skipped, "a skipped session was named");
    assert!(listed.contains(&multiline), "{listed:?}");
    assert!(
        !listed.contains(&supervisor),
        "a supervisor was named: {listed:?}"
    );
}

#[test]
fn shell_reaper_with_nothing_to_do_returns_at_once() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{SHELL_FUNCTIONS}\nrp_pids none-{0}; rp_stop none-{0} 50; echo rc=$?",
            rand_hex()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rc=0\n");
}

#[test]
fn no_descendants_sees_a_live_child() {
    // Only the false answer is asserted: other tests' children make it false too.
    let mut c = Command::new("sleep").arg("30").spawn().unwrap();
    assert!(!no_descendants());
    let _ = c.kill();
    let _ = c.wait();
}
