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
    let mut c = env.cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json", "--json"])
        .args(b.tool_args());
    let out = run_expect(&mut c, 0);
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
