//! How many ssh connections a run opens: the design promises one multiplexed connection per
//! run (every step's ssh and rsync ride on it), which keeps a run fast and keeps a box that
//! rate-limits logins (MaxStartups, fail2ban) happy. Counted on the box's side, from sshd's
//! own log of accepted logins.
use crate::support::{json, run_expect, shm_tempdir, SshBox, TestEnv};

#[test]
fn one_runplz_ssh_run_logs_in_exactly_once() {
    let b = SshBox::start();
    let env = TestEnv::new();
    let d = shm_tempdir();
    let job = serde_json::json!({
        "name": "one-conn",
        "image": {"from_registry": "debian:bookworm", "steps": [{"env": {"A": "1"}}]},
        "run": "echo hi > \"$RUNPLZ_OUT/hi.txt\"",
        "ssh": {"use_docker": false},
    });
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    std::fs::write(d.path().join("data.txt"), "payload\n").unwrap();
    assert_eq!(b.accepted_logins(), 0, "{}", b.log());
    let calls = crate::support::SshCalls::new();
    let mut c = env.cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json", "--json", "--no-keep"])
        .args(b.tool_args())
        .env("PATH", calls.path());
    let out = run_expect(&mut c, 0);
    // The master was told to exit over its own socket (OpenSSH's mux protocol), not by
    // another ssh (`-O exit`).
    assert!(
        calls.count() >= 3 && !calls.log().contains(" -O "),
        "{}",
        calls.log()
    );
    assert_eq!(json(&out)["exit_code"], 0);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/hi.txt")).unwrap(),
        "hi\n"
    );
    // The log also shows one connection that never logs in: SshBox's own readiness probe.
    assert_eq!(b.accepted_logins(), 1, "sshd log:\n{}", b.log());
    // Every step was a session on that connection (8 when this was written: probe, sync's
    // prepare and manifest, venv setup, job, collect, ...), and the run closed it at the end
    // rather than leaving a master behind for ControlPersist.
    let sessions = |log: &str| log.matches("Starting session:").count();
    assert!(sessions(&b.log()) >= 3, "{}", b.log());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !b.log().contains("Disconnected from user") {
        assert!(
            std::time::Instant::now() < deadline,
            "the run's ssh connection is still open after it exited:\n{}",
            b.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The edit-run loop: a second `runplz ssh` to the same box soon after the first rides on the
/// connection the first kept open (no second login), whose socket is in a private folder;
/// `ssh.keep_connection_seconds: 0` turns that off (it logs in anew and closes at the end).
#[test]
fn a_second_run_within_the_keep_time_does_not_log_in_again() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let b = SshBox::start();
    let env = TestEnv::new();
    let d = shm_tempdir();
    let job = |keep: Option<i64>| {
        let mut j = serde_json::json!({
            "name": "kept-conn",
            "image": {"from_registry": "debian:bookworm"},
            "run": "echo hi > \"$RUNPLZ_OUT/hi.txt\"",
            "ssh": {"use_docker": false},
        });
        if let Some(k) = keep {
            j["ssh"]["keep_connection_seconds"] = k.into();
        }
        std::fs::write(d.path().join("job.json"), j.to_string()).unwrap();
    };
    let run = || {
        let mut c = env.cmd("runplz");
        c.current_dir(d.path())
            .args(["ssh", "job.json", "--json"])
            .args(b.tool_args());
        let out = run_expect(&mut c, 0);
        assert_eq!(json(&out)["exit_code"], 0);
        out
    };
    job(None);
    run();
    assert_eq!(b.accepted_logins(), 1, "sshd log:\n{}", b.log());
    // The kept socket: in a 0700 folder of ours under XDG_RUNTIME_DIR, and nothing else there.
    let dir = env.root().join("run").join("runplz");
    let md = std::fs::symlink_metadata(&dir).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o700);
    assert_eq!(md.uid(), nix::unistd::geteuid().as_raw());
    let socks: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(socks.len(), 1, "{socks:?}");
    assert!(socks[0].file_type().unwrap().is_socket());
    // A step tool to the same login rides on it too (and leaves it open).
    let mut c = env.cmd("rp-exec");
    c.args(b.tool_args()).args(["--", "true"]);
    run_expect(&mut c, 0);
    assert_eq!(
        b.accepted_logins(),
        1,
        "rp-exec logged in again:\n{}",
        b.log()
    );
    let second = run();
    assert_eq!(
        b.accepted_logins(),
        1,
        "the second run logged in again:\n{}\n{}",
        b.log(),
        crate::support::stderr(&second)
    );
    // Turned off by the job: a login of its own, closed at the end.
    job(Some(0));
    // The kept master is asked to leave first, so this run cannot ride on it.
    let _ = std::process::Command::new("ssh")
        .args(["-o"])
        .arg(format!("ControlPath={}", socks[0].path().display()))
        .args(["-O", "exit", "x"])
        .output();
    run();
    assert_eq!(b.accepted_logins(), 2, "sshd log:\n{}", b.log());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

/// A keep folder someone else could use is refused with a warning; the run still works, on
/// a connection of its own.
#[test]
fn an_open_keep_folder_is_refused_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let b = SshBox::start();
    let env = TestEnv::new();
    let d = shm_tempdir();
    let job = serde_json::json!({
        "name": "open-keep",
        "image": {"from_registry": "debian:bookworm"},
        "run": "true",
        "ssh": {"use_docker": false},
    });
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    let dir = env.root().join("run").join("runplz");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut c = env.cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json"])
        .args(b.tool_args());
    let out = run_expect(&mut c, 0);
    let err = crate::support::stderr(&out);
    assert!(
        err.contains("not keeping the ssh connection for the next run: ")
            && err.contains("is open to others (mode 0777); expected 0700"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a socket in the open folder"
    );
}
