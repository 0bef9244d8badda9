//! The harness itself works: binaries are found and a loopback box answers.
use crate::support::{bin_cmd, SshBox};

#[test]
fn helper_binary_runs_and_exits_with_its_code() {
    let out = bin_cmd("rpt-exit").args(["3", "hello"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
}

#[test]
fn loopback_box_runs_commands_as_its_own_user() {
    let b = SshBox::start();
    let out = b.ssh("id -un; echo \"$HOME\"");
    assert_eq!(out, format!("{}\n/home/{}\n", b.user, b.user));
    let root = SshBox::start_root();
    assert_eq!(root.ssh("id -u"), "0\n");
}
