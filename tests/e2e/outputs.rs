//! Outputs coming back never harm the user's own folders (issue #15): runplz over a real
//! loopback box and real rsync. The box's modes and owners stay there; an outputs folder
//! outside the job's root, or reached through a symlink, is refused before anything
//! happens; a symlink already inside it is replaced, never written through; dropped
//! symlinks, files from earlier runs and outputs that did not come back are all said, and
//! the last one is exit 5. Every "home" here is a fake one in the test's temp dir.
use crate::support::{bin_cmd, json, run_expect, shm_tempdir, sshd_sessions_of, stderr, SshBox};
use serde_json::json;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn native_job(run: &str, extra: &str) -> String {
    format!(
        r#"{{"name": "t", "image": {{"from_registry": "debian:bookworm"}}, "run": {}, "ssh": {{"use_docker": false}}{extra}}}"#,
        serde_json::to_string(run).unwrap()
    )
}

/// `runplz ssh job.json` in `dir` against `b`, run states in `state`.
fn runplz(b: &SshBox, dir: &Path, state: &Path, extra: &[&str]) -> Command {
    let mut c = bin_cmd("runplz");
    c.current_dir(dir)
        .env("XDG_STATE_HOME", state)
        .args(["ssh", "job.json", "--json"])
        .args(extra)
        .args(b.tool_args());
    c
}

fn write_job(dir: &Path, run: &str, extra: &str) {
    std::fs::write(dir.join("job.json"), native_job(run, extra)).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn step_ok(rec: &serde_json::Value, step: &str) -> Option<bool> {
    rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .map(|s| s["ok"].as_bool().unwrap())
}

/// Nothing ran: no run state written, nothing created on the box.
fn nothing_happened(b: &SshBox, state: &Path) {
    assert!(
        !state.join("runplz/runs").exists()
            || std::fs::read_dir(state.join("runplz/runs"))
                .unwrap()
                .count()
                == 0,
        "a run state was written"
    );
    assert_eq!(b.ssh("ls -A ~/.runplz 2>/dev/null; ls ~; true"), "");
}

#[test]
fn the_boxs_modes_and_owners_never_reach_local_files() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    write_job(
        d.path(),
        "chmod 0777 \"$RUNPLZ_OUT\" && echo new > \"$RUNPLZ_OUT/new.txt\" && chmod 0666 \"$RUNPLZ_OUT/new.txt\" \
         && echo kept > \"$RUNPLZ_OUT/kept.txt\" && chmod 0666 \"$RUNPLZ_OUT/kept.txt\" \
         && mkdir \"$RUNPLZ_OUT/sub\" && chmod 0777 \"$RUNPLZ_OUT/sub\" && echo s > \"$RUNPLZ_OUT/sub/s.txt\"",
        "",
    );
    let out_dir = d.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::set_permissions(&out_dir, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::write(out_dir.join("kept.txt"), "old").unwrap();
    std::fs::set_permissions(
        out_dir.join("kept.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let out = run_expect(
        with_umask_027(&mut runplz(&b, d.path(), state.path(), &[])),
        0,
    );
    let rec = json(&out);
    assert_eq!(rec["outputs"]["files"], 3, "{rec}");
    // The box's box-user files came back owned by whoever ran runplz (the box user is a
    // different uid on this same machine), with the box's modes masked by our umask.
    let me = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let box_uid: u32 = b.ssh("id -u").trim().parse().unwrap();
    assert_ne!(
        box_uid, me.0,
        "the box user must be another uid for this test to mean much"
    );
    for f in ["new.txt", "kept.txt", "sub", "sub/s.txt", ""] {
        let m = std::fs::symlink_metadata(out_dir.join(f)).unwrap();
        assert_eq!((m.uid(), m.gid()), me, "{f:?} took the box's owner");
    }
    assert_eq!(
        mode(&out_dir),
        0o750,
        "the outputs folder's own mode changed"
    );
    assert_eq!(
        mode(&out_dir.join("kept.txt")),
        0o600,
        "an existing file's mode changed"
    );
    assert_eq!(
        std::fs::read_to_string(out_dir.join("kept.txt")).unwrap(),
        "kept\n"
    );
    assert_eq!(mode(&out_dir.join("new.txt")), 0o640, "0666 & ~027");
    assert_eq!(mode(&out_dir.join("sub")), 0o750, "0777 & ~027");
}

#[test]
fn outputs_folders_outside_the_root_or_through_a_symlink_are_refused_before_anything_happens() {
    let b = SshBox::start();
    let t = shm_tempdir();
    let home = t.path().join("fake-home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/authorized_keys"), "mine").unwrap();
    let d = t.path().join("repo");
    std::fs::create_dir(&d).unwrap();
    std::fs::create_dir(t.path().join("sibling")).unwrap();
    let state = shm_tempdir();
    let run = "echo pwned > \"$RUNPLZ_OUT/authorized_keys\"";

    // `ln -s ~/.ssh out` in the repo, the default outputs folder.
    std::os::unix::fs::symlink(home.join(".ssh"), d.join("out")).unwrap();
    write_job(&d, run, "");
    let out = run_expect(&mut runplz(&b, &d, state.path(), &[]), 2);
    let err = stderr(&out);
    assert!(
        err.contains("outputs_dir: found \"out\" (a symlink"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    std::fs::remove_file(d.join("out")).unwrap();

    // `results/x/..` with `results` a symlink.
    std::os::unix::fs::symlink(&home, d.join("results")).unwrap();
    std::fs::create_dir(home.join("x")).unwrap();
    write_job(&d, run, r#", "outputs_dir": "results/x/..""#);
    let err = stderr(&run_expect(&mut runplz(&b, &d, state.path(), &[]), 2));
    assert!(
        err.contains("job.json:1:") && err.contains("(\"results\" is a symlink"),
        "{err}"
    );

    // A folder above it inside the root is a symlink.
    write_job(&d, run, r#", "outputs_dir": "results/.ssh""#);
    let err = stderr(&run_expect(&mut runplz(&b, &d, state.path(), &[]), 2));
    assert!(err.contains("(\"results\" is a symlink"), "{err}");

    // The same rules hold for --outputs-dir, relative to where runplz runs.
    write_job(&d, run, "");
    for (flag, why) in [
        ("results", "a symlink"),
        ("../sibling", "it leaves the job's folder"),
        ("/tmp", "outside the job's folder"),
        (".", "the job's folder itself"),
        ("job.json", "a file"),
    ] {
        let err = stderr(&run_expect(
            &mut runplz(&b, &d, state.path(), &["--outputs-dir", flag]),
            2,
        ));
        assert!(
            err.contains("--outputs-dir: found") && err.contains(why),
            "{flag}: {err}"
        );
    }
    // `"~/x"` is the home folder, never a folder named `~` here.
    write_job(&d, run, r#", "outputs_dir": "~/x""#);
    let mut c = runplz(&b, &d, state.path(), &[]);
    c.env("HOME", &home);
    let err = stderr(&run_expect(&mut c, 2));
    assert!(err.contains("in the home folder"), "{err}");
    assert!(!d.join("~").exists());

    assert_eq!(
        std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap(),
        "mine"
    );
    nothing_happened(&b, state.path());
}

#[test]
fn a_symlink_already_inside_the_outputs_folder_is_replaced_never_written_through() {
    let b = SshBox::start();
    let t = shm_tempdir();
    let home = t.path().join("fake-home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/authorized_keys"), "mine").unwrap();
    std::fs::write(home.join(".bashrc"), "my rc").unwrap();
    let d = t.path().join("repo");
    let out_dir = d.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::os::unix::fs::symlink(home.join(".ssh"), out_dir.join("keys")).unwrap();
    std::os::unix::fs::symlink(home.join(".bashrc"), out_dir.join("rc")).unwrap();
    let state = shm_tempdir();
    write_job(
        &d,
        "mkdir \"$RUNPLZ_OUT/keys\" && echo pwned > \"$RUNPLZ_OUT/keys/authorized_keys\" && echo pwned > \"$RUNPLZ_OUT/rc\"",
        "",
    );
    let rec = json(&run_expect(&mut runplz(&b, &d, state.path(), &[]), 0));
    assert_eq!(rec["outputs"]["files"], 2, "{rec}");
    assert_eq!(
        std::fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".bashrc")).unwrap(),
        "my rc"
    );
    assert!(std::fs::symlink_metadata(out_dir.join("keys"))
        .unwrap()
        .is_dir());
    assert!(std::fs::symlink_metadata(out_dir.join("rc"))
        .unwrap()
        .is_file());
    assert_eq!(
        std::fs::read_to_string(out_dir.join("keys/authorized_keys")).unwrap(),
        "pwned\n"
    );
}

#[test]
fn dropped_escaping_symlinks_are_named_in_a_warning_and_the_record() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    write_job(
        d.path(),
        "cd \"$RUNPLZ_OUT\" && echo a > a.txt && ln -s /etc/passwd escape && mkdir sub && ln -s ../../.. sub/up && ln -s a.txt inside",
        "",
    );
    let out = run_expect(&mut runplz(&b, d.path(), state.path(), &[]), 0);
    let rec = json(&out);
    assert_eq!(rec["outputs"]["files"], 1, "{rec}");
    assert_eq!(rec["outputs"]["dropped_links"], json!(["escape", "sub/up"]));
    let err = stderr(&out);
    assert!(
        err.contains("2 symlink(s) on the box pointed out of the folder and were left behind: escape, sub/up"),
        "{err}"
    );
    let out_dir = d.path().join("out");
    assert!(out_dir.join("escape").symlink_metadata().is_err());
    assert_eq!(
        std::fs::read_link(out_dir.join("inside")).unwrap(),
        Path::new("a.txt")
    );
}

#[test]
fn outputs_that_did_not_come_back_after_a_good_job_are_exit_5() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    // The job leaves a file where its outputs folder should be: nothing can come back.
    write_job(
        d.path(),
        "rm -rf \"$RUNPLZ_OUT\" && echo x > \"$RUNPLZ_OUT\"",
        "",
    );
    let out = run_expect(&mut runplz(&b, d.path(), state.path(), &[]), 5);
    let rec = json(&out);
    assert_eq!(rec["exit_code"], 0, "the job's own code stays");
    assert_eq!(rec["ending"], json!({"kind": "failed", "step": "collect"}));
    assert_eq!(step_ok(&rec, "collect"), Some(false));
    assert_eq!(rec["outputs"], serde_json::Value::Null);
    let err = stderr(&out);
    assert!(
        err.contains("the job succeeded but its outputs did not come back"),
        "{err}"
    );

    // A job that failed keeps its own code and ending; the lost outputs are a warning.
    write_job(
        d.path(),
        "rm -rf \"$RUNPLZ_OUT\" && echo x > \"$RUNPLZ_OUT\" && exit 3",
        "",
    );
    let out = run_expect(&mut runplz(&b, d.path(), state.path(), &[]), 3);
    let rec = json(&out);
    assert_eq!(rec["ending"], json!({"kind": "exited", "code": 3}));
    assert_eq!(step_ok(&rec, "collect"), Some(false));
    assert!(stderr(&out).contains("outputs not collected"));
}

#[test]
fn files_from_earlier_runs_are_kept_and_said() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    write_job(d.path(), "echo 1 > \"$RUNPLZ_OUT/first.txt\"", "");
    let rec = json(&run_expect(&mut runplz(&b, d.path(), state.path(), &[]), 0));
    assert_eq!(rec["outputs"]["earlier"], json!({"files": 0, "paths": []}));
    write_job(d.path(), "echo 2 > \"$RUNPLZ_OUT/second.txt\"", "");
    let out = run_expect(&mut runplz(&b, d.path(), state.path(), &[]), 0);
    let rec = json(&out);
    assert_eq!(rec["outputs"]["files"], 1);
    assert_eq!(
        rec["outputs"]["earlier"],
        json!({"files": 1, "paths": ["first.txt"]})
    );
    let err = stderr(&out);
    assert!(
        err.contains("1 file(s) in") && err.contains("are from earlier runs (kept): first.txt"),
        "{err}"
    );
    assert!(d.path().join("out/first.txt").exists() && d.path().join("out/second.txt").exists());
}

/// Issue #10: a connection dropped while the job runs (every ssh session of the box user
/// killed from the box's side, the Wi-Fi drop) is ridden out: runplz reconnects, the job
/// finishes, every line it printed is shown exactly once and the outputs come back.
#[test]
fn a_dropped_connection_is_ridden_out_and_the_outputs_come_back() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    write_job(
        d.path(),
        "echo early > \"$RUNPLZ_OUT/early.txt\" && touch ~/started && i=0 && while [ $i -lt 40 ]; do i=$((i+1)); echo line $i; sleep 0.1; done && echo late > \"$RUNPLZ_OUT/late.txt\"",
        "",
    );
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .env("XDG_STATE_HOME", state.path())
        .args(["ssh", "job.json"])
        .args(b.tool_args())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while b.ssh_raw("test -e ~/started").status.code() != Some(0) {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // Drop every ssh connection of the box user from the box's side.
    let uid = b.ssh("id -u").trim().to_string();
    let sessions = sshd_sessions_of(&uid);
    assert!(!sessions.is_empty());
    for s in sessions {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(s as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    // A drop between two polls cuts nothing (the next poll just connects): the lines come
    // only when a poll was cut, and then in a pair (exec::drop pins them).
    assert_eq!(
        err.contains("runplz: warning: lost the connection to box"),
        err.contains("runplz: reconnected to box after"),
        "{err}"
    );
    let seen: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect();
    assert_eq!(seen, (1..=40).collect::<Vec<_>>(), "{err}");
    for (f, text) in [("early.txt", "early\n"), ("late.txt", "late\n")] {
        assert_eq!(
            std::fs::read_to_string(d.path().join("out").join(f)).unwrap(),
            text
        );
    }
    // Read to its end: nothing of the run is left in the box's run folders but an emptied
    // one marked read.
    assert_eq!(b.unread_runs(), "");
}

/// `cmd` with umask 027 in the child.
fn with_umask_027(cmd: &mut Command) -> &mut Command {
    // SAFETY: umask(2) in the child before exec touches only the child's own state.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o027));
            Ok(())
        })
    }
}

#[test]
fn rp_collect_leaves_the_destination_and_existing_files_alone_from_a_box_and_an_archive() {
    let b = SshBox::start();
    b.ssh(
        "mkdir -p outs/sub && chmod 0777 outs outs/sub && echo n > outs/new.txt && chmod 4777 outs/new.txt \
         && echo k > outs/kept.txt && chmod 0666 outs/kept.txt",
    );
    let t = shm_tempdir();
    // The archive says the same: a setuid 0777 file, and a folder.
    let archive = t.path().join("o.tar");
    {
        let mut ar = tar::Builder::new(std::fs::File::create(&archive).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o4777);
        h.set_size(2);
        h.set_uid(4242);
        h.set_cksum();
        ar.append_data(&mut h, "new.txt", &b"n\n"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o666);
        h.set_size(2);
        h.set_cksum();
        ar.append_data(&mut h, "kept.txt", &b"k\n"[..]).unwrap();
        ar.finish().unwrap();
    }
    let me = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    for how in ["rsync", "tar"] {
        let dest = t.path().join(format!("dest-{how}"));
        std::fs::create_dir(&dest).unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dest.join("kept.txt"), "old").unwrap();
        std::fs::set_permissions(
            dest.join("kept.txt"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::write(dest.join("older.txt"), "from before").unwrap();
        let mut c = bin_cmd("rp-collect");
        if how == "rsync" {
            c.args(b.tool_args()).args(["--from", "outs"]);
        } else {
            c.arg("--from-tar").arg(&archive);
        }
        c.arg("--to").arg(&dest);
        let out = run_expect(with_umask_027(&mut c), 0);
        let rec = json(&out);
        assert_eq!(
            rec["earlier"],
            json!({"files": 1, "paths": ["older.txt"]}),
            "{how}"
        );
        assert!(
            stderr(&out).contains("from earlier runs (kept): older.txt"),
            "{how}"
        );
        assert_eq!(
            mode(&dest),
            0o700,
            "{how}: the destination's own mode changed"
        );
        // A replaced file (the archive's way) is new; rsync keeps the old one's mode.
        let kept = mode(&dest.join("kept.txt"));
        assert!(
            kept == 0o600 || (how == "tar" && kept == 0o640),
            "{how}: {kept:o}"
        );
        assert_eq!(
            std::fs::read_to_string(dest.join("kept.txt")).unwrap(),
            "k\n"
        );
        assert_eq!(
            mode(&dest.join("new.txt")),
            0o750,
            "{how}: no setuid, umask applied"
        );
        for f in ["", "new.txt", "kept.txt"] {
            let m = std::fs::symlink_metadata(dest.join(f)).unwrap();
            assert_eq!((m.uid(), m.gid()), me, "{how}: {f:?} took another owner");
        }
    }
}

#[test]
fn a_local_run_says_which_outputs_are_from_earlier_runs() {
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        native_job("echo 2 > \"$RUNPLZ_OUT/second.txt\"", ""),
    )
    .unwrap();
    std::fs::create_dir(d.path().join("out")).unwrap();
    std::fs::write(d.path().join("out/first.txt"), "1").unwrap();
    // Written "before" this run: an hour ago.
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(d.path().join("out/first.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = run_expect(
        bin_cmd("runplz")
            .current_dir(d.path())
            .args(["local", "job.json", "--json", "--native"]),
        0,
    );
    let rec = json(&out);
    assert_eq!(rec["outputs"]["files"], 1, "{rec}");
    assert_eq!(
        rec["outputs"]["earlier"],
        json!({"files": 1, "paths": ["first.txt"]})
    );
    assert!(
        stderr(&out).contains("from earlier runs (kept): first.txt"),
        "{}",
        stderr(&out)
    );
}
