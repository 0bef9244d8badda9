//! rp-sync's dry run, a job's settings, and every documented exit code for bad input, a
//! missing rsync, a failing rsync and an unreachable box.

use super::{remote_files, rp_sync, set, write};
use crate::support::{bin_cmd, json, run_expect, shm_tempdir, stderr, SshBox};

#[test]
fn dry_run_needs_no_host_and_lists_counts() {
    let src = shm_tempdir();
    write(src.path(), "big.bin", &[7u8; 5000]);
    write(src.path(), "mid.bin", &[7u8; 300]);
    for i in 0..12 {
        write(src.path(), &format!("small/{i}.txt"), b"s");
    }
    write(src.path(), ".env", b"SECRET=1");
    let out = run_expect(
        bin_cmd("rp-sync").args(["up", "--dry-run"]).arg(src.path()),
        0,
    );
    let rec = json(&out);
    assert_eq!(rec["type"], "sync");
    assert_eq!(rec["version"], 1);
    assert_eq!(rec["dry_run"], true);
    assert_eq!(rec["host"], serde_json::Value::Null);
    assert_eq!(rec["dest"], serde_json::Value::Null);
    assert_eq!(rec["files_transferred"], serde_json::Value::Null);
    assert_eq!(rec["files"], 14);
    assert_eq!(rec["bytes"], 5000 + 300 + 12);
    assert_eq!(rec["excluded_secrets"], 1);
    let largest = rec["largest"].as_array().unwrap();
    assert_eq!(largest.len(), 10);
    assert_eq!(
        largest[0],
        serde_json::json!({"path": "big.bin", "bytes": 5000})
    );
    assert_eq!(
        largest[1],
        serde_json::json!({"path": "mid.bin", "bytes": 300})
    );
    assert!(
        stderr(&out).contains("dry run: nothing sent"),
        "{}",
        stderr(&out)
    );
    // A host that does not exist is never contacted on a dry run.
    let out = run_expect(
        bin_cmd("rp-sync")
            .args([
                "up",
                "--dry-run",
                "--host",
                "nowhere.invalid",
                "--dest",
                "x",
            ])
            .arg(src.path()),
        0,
    );
    assert_eq!(json(&out)["host"], "nowhere.invalid");
    let out = run_expect(
        bin_cmd("rp-sync")
            .args(["up", "--dry-run", "--table"])
            .arg(src.path()),
        0,
    );
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("files ") && l.ends_with(" 14")),
        "{table}"
    );
    assert!(table.contains("largest: 5000"), "{table}");
}

#[test]
fn a_jobs_excludes_ssh_settings_and_default_dest_apply() {
    let b = SshBox::start();
    let src = shm_tempdir();
    let r = src.path();
    for f in [
        "train.py",
        "data/big.csv",
        "ckpt/model.ckpt",
        "results/r.txt",
        "out/o.txt",
        ".env",
        "target/keep.py",
    ] {
        write(r, f, f.as_bytes());
    }
    write(
        r,
        "job.json",
        format!(
            r#"{{"name": "my-job", "image": {{"from_registry": "python:3.12"}}, "run": "python train.py",
                "outputs_dir": "results",
                "sync": {{"exclude": ["data/", "*.ckpt", "!.env", "!target/"]}},
                "ssh": {{"user": "{}", "port": {}, "ssh_key_path": "{}"}}}}"#,
            b.user,
            b.port,
            b.key.display()
        )
        .as_bytes(),
    );
    // An ssh config that knows only the address: user, port and key must come from the job.
    let cfg = b.bare_config();
    let out = run_expect(
        bin_cmd("rp-sync")
            .args(["up", "--ssh-config"])
            .arg(&cfg)
            .args(["--host", "box", "--job"])
            .arg(r.join("job.json")),
        0,
    );
    let rec = json(&out);
    assert_eq!(rec["dest"], "runplz/my-job");
    assert_eq!(
        remote_files(&b, "runplz/my-job"),
        set(["job.json", "target/keep.py", "train.py"])
    );
    assert_eq!(rec["excluded_secrets"], 1);
    // RUNPLZ_SSH_CONFIG stands in for --ssh-config; the job as the positional (`--job` above
    // is its older spelling).
    write(r, "train.py", b"v2");
    let out = run_expect(
        bin_cmd("rp-sync")
            .args(["up", "--host", "box"])
            .arg(r.join("job.json"))
            .env("RUNPLZ_SSH_CONFIG", &b.config),
        0,
    );
    let rec = json(&out);
    assert_eq!(
        (&rec["dest"], &rec["files_transferred"]),
        (&"runplz/my-job".into(), &1.into())
    );
    assert_eq!(b.ssh("cat runplz/my-job/train.py"), "v2");
    // No positional: ./job.json, as runplz.
    write(r, "train.py", b"v3");
    let out = run_expect(
        bin_cmd("rp-sync")
            .args(["up", "--host", "box"])
            .current_dir(r)
            .env("RUNPLZ_SSH_CONFIG", &b.config),
        0,
    );
    let rec = json(&out);
    assert_eq!(
        (&rec["dest"], &rec["files_transferred"]),
        (&"runplz/my-job".into(), &1.into())
    );
    assert_eq!(b.ssh("cat runplz/my-job/train.py"), "v3");
}

#[test]
fn bad_input_is_usage_and_nothing_is_contacted() {
    let src = shm_tempdir();
    write(src.path(), "f", b"x");
    let cases: &[(&[&str], &str)] = &[
        (&["up", "--host", "box"], "--dest is required"),
        (&["up", "--dest", "x"], "--host is required"),
        (&["up", "--host", "box", "--dest", "../x"], "no `..`"),
        (
            &["up", "--host", "box", "--dest", "~"],
            "--dest: found \"~\"",
        ),
        (
            &["up", "--host=-oProxyCommand=x", "--dest", "x"],
            "--host: found",
        ),
        (
            &["up", "--host", "box", "--dest", "x", "--exclude", "a[z-a]"],
            "found \"a[z-a]\"",
        ),
        (
            &[
                "up",
                "--host",
                "box",
                "--dest",
                "x",
                "--job",
                "/nonexistent/job.json",
            ],
            "cannot read job file",
        ),
        (
            &[
                "up",
                "--host",
                "box",
                "--dest",
                "x",
                "--ssh-config",
                "/nonexistent/cfg",
            ],
            "--ssh-config",
        ),
        (&["down"], "invalid value 'down'"),
    ];
    for (args, msg) in cases {
        let out = run_expect(bin_cmd("rp-sync").args(*args).current_dir(src.path()), 2);
        assert!(stderr(&out).contains(msg), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
    let out = run_expect(
        bin_cmd("rp-sync")
            .args(["up", "--dry-run"])
            .arg(src.path().join("missing")),
        2,
    );
    assert!(
        stderr(&out).contains("expected a folder to ship"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_rsync_here_is_125() {
    let src = shm_tempdir();
    let out = run_expect(
        bin_cmd("rp-sync")
            .args(["up", "--host", "box", "--dest", "x"])
            .arg(src.path())
            .env("PATH", src.path()),
        125,
    );
    assert!(
        stderr(&out).contains("`rsync` not found on PATH; install rsync"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failing_rsync_is_1_and_names_its_exit_code() {
    let b = SshBox::start();
    let src = shm_tempdir();
    write(src.path(), "f.txt", b"x");
    // A folder the login user can enter but not write into.
    let parent = shm_tempdir();
    let ro = parent.path().join("readonly");
    std::fs::create_dir(&ro).unwrap();
    for d in [parent.path(), &ro] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let dest = ro.display().to_string();
    let out = run_expect(&mut rp_sync(&b, src.path(), &dest, &[]), 1);
    let err = stderr(&out);
    assert!(
        err.contains("rsync exited with 23 (partial transfer due to an error)"),
        "{err}"
    );
    assert!(err.contains("Permission denied"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unreachable_box_is_1() {
    let b = SshBox::start();
    let src = shm_tempdir();
    let cfg = b.dir.path().join("closed_config");
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&b.config)
            .unwrap()
            .replace(&format!("Port {}", b.port), "Port 1"),
    )
    .unwrap();
    let out = run_expect(
        bin_cmd("rp-sync")
            .args(["up", "--ssh-config"])
            .arg(&cfg)
            .args(["--host", "box", "--dest", "x"])
            .arg(src.path()),
        1,
    );
    let err = stderr(&out);
    assert!(
        err.contains("preparing box:x: ssh exited with 255"),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
}

/// A Ctrl-C while `git ls-files` lists what ships stops the sync (130), and nothing ships:
/// it must not fall back to shipping by .gitignore alone.
#[test]
fn ctrl_c_while_git_lists_the_files_stops_the_sync() {
    let b = SshBox::start();
    let src = shm_tempdir();
    write(src.path(), "tracked.txt", b"t");
    crate::support::git(src.path(), &["init", "-q"]);
    crate::support::git(src.path(), &["add", "."]);
    let fakes = crate::support::FakeBin::new();
    let mark = src.path().join("..").join(format!(
        "git-started-{}",
        src.path().file_name().unwrap().to_string_lossy()
    ));
    // Only `git ls-files` hangs; other git calls (the tree's commit) are the real git.
    fakes.script(
        "git",
        &format!(
            "for a in \"$@\"; do [ \"$a\" = ls-files ] && {{ touch '{}'; exec sleep 30; }}; done; exec {} \"$@\"",
            mark.display(),
            crate::support::which("git")
        ),
    );
    let mut c = rp_sync(&b, src.path(), "dst", &[]);
    c.env(
        "PATH",
        format!(
            "{}:{}",
            fakes.dir().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let t = std::time::Instant::now();
    while !mark.exists() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "git never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&mark);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let gone = b.ssh_raw("test -e dst");
    assert_eq!(
        gone.status.code(),
        Some(1),
        "dst was made: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("listing the files to ship"),
        "{}",
        stderr(&out)
    );
}
