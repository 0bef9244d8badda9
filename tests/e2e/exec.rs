//! rp-exec end to end: the built binary runs the tiny helper programs (tests/helpers) here
//! and on a real loopback box; we check exit codes, the record, the log, what arrives (argv,
//! env, workdir), and, looking at /proc directly (on the box through a separate ssh), that
//! nothing of a stopped run is left: not the TERM-ignoring command, not a setsid grandchild.
use crate::support::{bin, bin_cmd, json, run_expect, shm_tempdir, stderr, SshBox};
use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The exec record, pinned from outside: a field change must be made here too.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Record {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    host: Option<String>,
    run_id: String,
    argv: Vec<String>,
    exit_code: i32,
    timed_out: bool,
    signal: Option<i32>,
    interrupted: Option<i32>,
    duration_seconds: f64,
    log: Option<String>,
}

fn record(out: &Output) -> Record {
    let r: Record = serde_json::from_value(json(out)).expect("exec record");
    assert_eq!((r.kind.as_str(), r.version), ("exec", 1));
    assert_eq!(
        Some(r.exit_code),
        out.status.code(),
        "record vs exit status"
    );
    r
}

static N: AtomicU32 = AtomicU32::new(0);

/// A run id unique to this test process and call.
fn run_id(tag: &str) -> String {
    format!(
        "t-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

const HELPERS: [&str; 4] = ["rpt-exit", "rpt-stubborn", "rpt-escape", "rpt-echo"];

/// The helpers, placed in the box user's home (hard links; the repo may not be readable by
/// that user). Returns the folder on the box.
fn helpers_on(b: &SshBox) -> PathBuf {
    let dir = b.home.join("rpt-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for name in HELPERS {
        let to = dir.join(name);
        if std::fs::hard_link(bin(name), &to).is_err() {
            std::fs::copy(bin(name), &to).unwrap();
        }
    }
    dir
}

fn rp_exec(b: Option<&SshBox>) -> Command {
    let mut c = bin_cmd("rp-exec");
    if let Some(b) = b {
        c.args(b.tool_args());
    }
    c
}

/// The number after `prefix` on the first line that starts with it.
fn pid_after(text: &str, prefix: &str) -> u32 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
}

/// The JSON line rpt-echo printed.
fn echoed(text: &str) -> serde_json::Value {
    let line = text
        .lines()
        .find(|l| l.starts_with("{\"argv\""))
        .unwrap_or_else(|| panic!("no rpt-echo line in:\n{text}"));
    serde_json::from_str(line).unwrap()
}

/// Whether local process `pid` is alive (a zombie is dead: only its parent's wait is missing).
fn alive_here(pid: u32) -> bool {
    state(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

fn state(stat: &str) -> bool {
    match stat.rsplit_once(") ") {
        Some((_, rest)) => !rest.starts_with('Z'),
        None => false,
    }
}

/// Local processes carrying this run id (read straight from /proc, not through runplz-core).
fn carriers_here(id: &str) -> Vec<String> {
    let needle = format!("RUNPLZ_RUN_ID={id}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn alive_on(b: &SshBox, pid: u32) -> bool {
    state(&b.ssh(&format!("cat /proc/{pid}/stat 2>/dev/null; true")))
}

/// Processes on the box carrying this run id, found with grep over /proc/*/environ.
fn carriers_on(b: &SshBox, id: &str) -> String {
    b.ssh(&format!(
        "grep -l -z -x -F -e RUNPLZ_RUN_ID={id} /proc/[0-9]*/environ 2>/dev/null; true"
    ))
}

/// A started rp-exec whose stderr is read line by line in the background.
struct Started {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Started {
    fn spawn(cmd: &mut Command) -> Started {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rp-exec");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Started {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Wait for a stderr line starting with `prefix`; return the number after it.
    fn wait_for(&mut self, prefix: &str) -> u32 {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.seen.push_str(&line);
                self.seen.push('\n');
                if line.starts_with(prefix) {
                    return pid_after(&line, prefix);
                }
            }
        }
        panic!(
            "rp-exec never printed {prefix:?}; stderr so far:\n{}",
            self.seen
        );
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig)
            .expect("signal rp-exec");
    }

    /// Wait for the end; returns the output with all of stderr.
    fn finish(mut self) -> Output {
        let mut out = self.child.wait_with_output().expect("wait for rp-exec");
        let mut err = std::mem::take(&mut self.seen);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            err.push_str(&line);
            err.push('\n');
        }
        out.stderr = err.into_bytes();
        out
    }
}

fn expect_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

const HOSTILE: [&str; 12] = [
    "a b",
    "it's",
    "$(echo pwned)",
    "`id`",
    "x\ny",
    "*",
    "\\",
    "\"q\"",
    "",
    "--flag",
    "ünï ✓",
    "@ARGV@ @ENV@",
];

fn hostile_env() -> Vec<(String, String)> {
    vec![
        ("QUOTES".into(), "it's \"quoted\" \\ `x`".into()),
        ("SUBST".into(), "$(touch /tmp/pwned-rpt) ${HOME}".into()),
        ("LINES".into(), "one\ntwo\n\nthree\n".into()),
        ("EMPTY".into(), String::new()),
        ("_U1".into(), "ünï=✓ @ID@".into()),
    ]
}

fn check_echo(v: &serde_json::Value, id: &str, cwd: &Path) {
    let argv: Vec<&str> = v["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(argv, HOSTILE);
    for (k, want) in hostile_env() {
        assert_eq!(v["env"][&k].as_str(), Some(want.as_str()), "env {k}");
    }
    assert_eq!(v["env"]["RUNPLZ_RUN_ID"].as_str(), Some(id));
    assert_eq!(v["cwd"].as_str(), Some(cwd.to_str().unwrap()));
}

fn echo_args(cmd: &mut Command, id: &str, workdir: &str, program: &str) {
    cmd.args(["--run-id", id, "--workdir", workdir]);
    for (k, v) in hostile_env() {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    cmd.arg("--").arg(program).args(HOSTILE);
}

// ---------------------------------------------------------------- local

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
    assert!(!r.timed_out && r.signal.is_none() && r.interrupted.is_none());
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
    assert_eq!(record(&out).exit_code, 127);
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
    assert!(r.timed_out);
    assert_eq!(r.signal, Some(9), "TERM is ignored, so KILL it was");
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
    assert_eq!((r.interrupted, r.timed_out), (Some(2), false));
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

// ---------------------------------------------------------------- on the box

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
    assert!(!r.timed_out && r.signal.is_none());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
    assert!(stderr(&out).contains("one\ntwo\n"));
    // The command's own 255 is not ssh's 255.
    let out = run_expect(rp_exec(Some(&b)).arg("--").arg(&exit).arg("255"), 255);
    assert_eq!(record(&out).exit_code, 255);
    // The per-run folder is cleaned up.
    assert_eq!(b.ssh("ls -A ~/.runplz/runs"), "");
}

#[test]
fn remote_missing_command_is_127() {
    let b = SshBox::start();
    let out = run_expect(rp_exec(Some(&b)).args(["--", "rpt-no-such-program"]), 127);
    let r = record(&out);
    assert_eq!((r.exit_code, r.signal), (127, None));
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
    assert!(r.timed_out);
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
    assert_eq!((r.interrupted, r.timed_out), (Some(2), false));
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
    let mut run = Started::spawn(
        rp_exec(Some(&b))
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
    assert_eq!(record(&out).signal, Some(9));
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
