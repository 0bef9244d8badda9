//! Every tool that runs scripts on a box (rp-probe, rp-sync, rp-collect, rp-exec) works for a
//! user whose login shell is not POSIX sh: sshd hands each remote command to that shell, so
//! the tools must make it run `/bin/sh` and nothing else. `rpt-cshell` (tests/helpers) stands
//! in for csh or fish: it runs one simple command and rejects sh syntax, quotes spanning lines
//! included.
use crate::support::{bin, bin_cmd, json, run_expect, shm_tempdir, SshBox};

#[test]
fn probe_sync_collect_and_exec_work_under_a_non_posix_login_shell() {
    let b = SshBox::start();
    let shell = b.home.join("rpt-cshell");
    std::fs::copy(bin("rpt-cshell"), &shell).unwrap();
    b.set_login_shell(&shell);
    // The stand-in really refuses sh: a plain ssh with an sh script fails.
    let raw = b.ssh_raw("echo one; echo two");
    assert_eq!(raw.status.code(), Some(1), "{raw:?}");
    assert!(String::from_utf8_lossy(&raw.stderr).contains("rpt-cshell: syntax not understood"));

    let out = run_expect(bin_cmd("rp-probe").args(b.tool_args()), 0);
    assert_eq!(json(&out)["type"], "probe");

    let src = shm_tempdir();
    std::fs::write(src.path().join("it's a file.txt"), "data\n").unwrap();
    let out = run_expect(
        bin_cmd("rp-sync")
            .arg("up")
            .arg(src.path())
            .args(b.tool_args())
            .args(["--dest", "~/work dir"]),
        0,
    );
    assert_eq!(json(&out)["files_transferred"], 1);
    assert_eq!(
        std::fs::read_to_string(b.home.join("work dir/it's a file.txt")).unwrap(),
        "data\n"
    );

    let back = src.path().join("back");
    let out = run_expect(
        bin_cmd("rp-collect")
            .args(b.tool_args())
            .args(["--from", "work dir", "--to"])
            .arg(&back),
        0,
    );
    assert_eq!(json(&out)["files"], 2, "the file and the sync manifest");
    assert_eq!(
        std::fs::read_to_string(back.join("it's a file.txt")).unwrap(),
        "data\n"
    );

    let out = run_expect(
        bin_cmd("rp-exec").arg("--json").args(b.tool_args()).args([
            "--env",
            "V=a'b\nc",
            "--",
            "sh",
            "-c",
            "printf '[%s]' \"$V\"",
        ]),
        0,
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[a'b\nc]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
