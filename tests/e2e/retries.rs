//! Transient connection failures (issue #14): an ssh that could not connect is tried again
//! (three tries, each retry one stderr line); a command that started is never run twice.
use crate::support::{bin_cmd, shm_tempdir, stderr, SshBox};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn runplz_ssh_waits_for_an_sshd_that_starts_late() {
    let mut b = SshBox::start();
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        r#"{"name": "t-late", "image": {"from_registry": "debian:bookworm"}, "run": "echo ran", "ssh": {"use_docker": false}}"#,
    )
    .unwrap();
    b.stop_sshd();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json"])
        .args(b.tool_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    // The first try is refused; the box is up before the second.
    std::thread::sleep(Duration::from_millis(1500));
    b.restart_sshd();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n", "{err}");
    let retries: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("could not connect"))
        .collect();
    assert_eq!(
        retries,
        ["runplz: could not connect to box (connection refused); trying again in 3s (2 of 3)"],
        "{err}"
    );
}

#[test]
fn a_box_that_never_answers_is_three_tries_then_one_error() {
    let mut b = SshBox::start();
    b.stop_sshd();
    let t = Instant::now();
    let mut c = bin_cmd("rp-exec");
    c.args(b.tool_args()).args(["--", "true"]);
    let out = c.output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.matches("trying again").count(), 2, "{err}");
    assert!(err.contains("(3 of 3)"), "{err}");
    assert_eq!(
        err.matches(
            "rp-exec: could not run on box: ssh exited with 255 before the command started"
        )
        .count(),
        1,
        "{err}"
    );
    // About 10 s of pauses, bounded.
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(30),
        "{took:?}"
    );
}

#[test]
fn a_connection_dropped_after_the_command_started_never_runs_it_again() {
    let b = SshBox::start();
    let count = b.home.join("count");
    let mut c = bin_cmd("rp-exec");
    c.args(b.tool_args())
        .args([
            "--grace",
            "0.5",
            "--",
            "sh",
            "-c",
            "echo once >> \"$HOME/count\"; sleep 5",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !count.exists() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    b.drop_sessions();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    // Issue #10: the drop is ridden out (the command runs on, rp-exec reconnects), and
    // the poll the drop cut off does not linger on the box to be named as an escaper.
    assert_eq!(out.status.code(), Some(0), "{err}");
    // A drop between two polls cuts nothing (the next poll just connects): the lines are
    // said only when a poll was cut, and then both are (exec::drop pins them).
    assert_eq!(
        err.contains("lost the connection to box"),
        err.contains("reconnected to box"),
        "{err}"
    );
    assert!(
        !err.contains("trying again") && !err.contains("still running"),
        "{err}"
    );
    // The command ran exactly once.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(std::fs::read_to_string(&count).unwrap(), "once\n");
}
