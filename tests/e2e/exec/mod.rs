//! rp-exec end to end: the built binary runs the tiny helper programs (tests/helpers) here
//! (`local`) and on a real loopback box (`remote`); we check exit codes, the record, the log,
//! what arrives (argv, env, workdir), and, looking at /proc directly (on the box through a
//! separate ssh), that nothing of a stopped run is left: not the TERM-ignoring command, not a
//! setsid grandchild. This file holds what both halves share.
mod daemons;
mod drop;
mod env_limits;
mod envfile;
mod local;
mod remote;
mod stdin;
mod stop;

use crate::support::{bin, bin_cmd, json, stderr, SshBox};
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
    ending: Ending,
    duration_seconds: f64,
    log: Option<String>,
}

/// How the command ended, pinned from outside too.
#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Ending {
    Exited { code: i32 },
    Signaled { signal: i32 },
    TimedOut { signal: Option<i32> },
    Interrupted { signal: i32, ended_by: Option<i32> },
    Inactive { seconds: u64, signal: Option<i32> },
}

fn record(out: &Output) -> Record {
    let r: Record = serde_json::from_value(json(out)).expect("exec record");
    crate::records::wire::<runplz_protocol::ExecRecord>(out, "exec");
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

const HELPERS: [&str; 5] = [
    "rpt-exit",
    "rpt-stubborn",
    "rpt-escape",
    "rpt-echo",
    "rpt-sigrecord",
];

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
    c.arg("--json");
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
