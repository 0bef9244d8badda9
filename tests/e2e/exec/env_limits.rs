//! The job's environment on a box, at its limits: a block near the 128 KiB cap is read in
//! blocks with GNU head (a byte at a time with dd elsewhere) and never past its end (the job's stdin that follows arrives whole), a larger one
//! is refused before anything runs, and a job env that sets PATH to nowhere cannot break
//! the wrapper's own tools (env, setsid, rm are found before it is applied).
use super::*;
use crate::support::{run_expect, shm_tempdir, stderr, SshBox};
use sha2::{Digest, Sha256};

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// With GNU head the block is read in blocks: dd (the byte-at-a-time way) is hidden on the
/// box and not needed.
#[test]
fn a_large_env_block_is_read_whole_and_the_stdin_after_it_arrives_exact() {
    let b = SshBox::start_hiding("", false, &[&crate::support::which("dd")]);
    assert_eq!(
        b.ssh("dd --version >/dev/null 2>&1 && echo dd || echo none"),
        "none\n"
    );
    large_env_then_stdin(&b);
}

/// Without GNU head (busybox and toybox head read past what they print) the block is read
/// a byte at a time: the same bytes arrive.
#[test]
fn without_gnu_head_the_env_block_is_read_exactly_too() {
    let b = SshBox::start_hiding("", false, &[&crate::support::which("head")]);
    assert_eq!(
        b.ssh("head --version >/dev/null 2>&1 && echo gnu || echo none"),
        "none\n"
    );
    large_env_then_stdin(&b);
}

fn large_env_then_stdin(b: &SshBox) {
    let t = shm_tempdir();
    // 120 KiB of printable bytes with quotes and $( in them, then 1 MiB of stdin.
    let big: String = (0..120 * 1024)
        .map(|i| b"ab'\"$( )`\\\n"[i % 11] as char)
        .collect();
    let input = t.path().join("in.bin");
    let data: Vec<u8> = (0u32..1 << 20).map(|i| (i * 7 + i / 255) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let out = run_expect(
        rp_exec(Some(b))
            .arg("--stdin")
            .arg(&input)
            .arg(format!("--env=BIG={big}"))
            .args(["--env", "AFTER=last", "--"])
            .args([
                "sh",
                "-c",
                "echo \"big=$(printf %s \"$BIG\" | sha256sum | cut -d' ' -f1) after=$AFTER\"; echo \"in=$(sha256sum | cut -d' ' -f1)\"",
            ]),
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("big={} after=last\n", sha(big.as_bytes()))),
        "{err}"
    );
    assert!(err.contains(&format!("in={}\n", sha(&data))), "{err}");
}

#[test]
fn an_env_past_128_kib_is_refused_before_anything_runs() {
    let t = shm_tempdir();
    let marker = t.path().join("ran");
    // Through --env-file: a --env word that long is refused by the kernel itself.
    let file = t.path().join("env.json");
    let big = "x".repeat(128 * 1024);
    std::fs::write(&file, serde_json::json!({ "BIG": big }).to_string()).unwrap();
    for host in [false, true] {
        let mut c = bin_cmd("rp-exec");
        c.arg("--json");
        if host {
            c.args(["--host", "nobody@nowhere.invalid"]);
        }
        c.arg("--env-file")
            .arg(&file)
            .arg("--")
            .arg("touch")
            .arg(&marker);
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("--env: found 131077 bytes of environment")
                && stderr(&out).contains("expected at most 131072"),
            "{}",
            stderr(&out)
        );
        assert!(!marker.exists());
    }
}

#[test]
fn a_job_env_with_path_to_nowhere_does_not_break_the_wrapper() {
    let b = SshBox::start();
    let out = run_expect(
        rp_exec(Some(&b))
            .args(["--env", "PATH=/nonexistent", "--"])
            .args([
                "/bin/sh",
                "-c",
                "echo \"path=$PATH id=$RUNPLZ_RUN_ID\"; exit 3",
            ]),
        3,
    );
    let err = stderr(&out);
    assert!(err.contains("path=/nonexistent id="), "{err}");
    assert!(!err.contains("not found"), "{err}");
    // The env file was removed (with rm found before PATH changed).
    assert_eq!(b.ssh("ls -A .runplz/runs 2>/dev/null | wc -l").trim(), "1");
    assert_eq!(b.unread_runs(), "");
}
