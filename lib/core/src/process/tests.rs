//! Unit tests of the process wrapper: statuses, deadlines, groups, hooks, stdin, quiet watch.

use super::*;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn captures_and_reports_status() {
    let f = Proc::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .run()
        .unwrap();
    assert_eq!(f.status, Status::Exited(3));
    assert_eq!(f.stdout_str(), "out\n");
    assert_eq!(f.tail(5), "err");
    assert!(!f.timed_out);
}

#[test]
fn check_names_command_and_tail() {
    let e = Proc::new("sh")
        .args(["-c", "echo boom >&2; exit 4"])
        .check()
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("`sh -c 'echo boom >&2; exit 4'` exited with 4"),
        "{msg}"
    );
    assert!(msg.ends_with("boom"), "{msg}");
}

#[test]
fn timeout_kills_the_whole_group_even_if_term_is_ignored() {
    let f = Proc::new("sh")
        .args(["-c", "trap '' TERM; sleep 30 & sleep 30; wait"])
        .timeout(Some(Duration::from_millis(200)))
        .grace(Duration::from_millis(200))
        .run()
        .unwrap();
    assert!(f.timed_out);
    assert_eq!(f.status, Status::Signaled(9));
}

#[test]
fn on_stop_runs_while_the_child_lives_and_after_exit_once_it_is_gone() {
    use std::sync::atomic::AtomicBool;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let (alive_at_stop, after) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (a, b, p) = (
        Arc::clone(&alive_at_stop),
        Arc::clone(&after),
        pidfile.clone(),
    );
    let f = Proc::new("sh")
        .args(["-c", "echo $$ > \"$0\"; exec sleep 30"])
        .arg(&pidfile)
        .timeout(Some(Duration::from_millis(300)))
        .grace(Duration::from_millis(200))
        .on_stop(move || {
            let pid = std::fs::read_to_string(&p).unwrap();
            a.store(
                Path::new(&format!("/proc/{}", pid.trim())).exists(),
                Ordering::SeqCst,
            );
        })
        .after_exit(move || {
            b.fetch_add(1, Ordering::SeqCst);
        })
        .run()
        .unwrap();
    assert!(f.timed_out);
    assert!(alive_at_stop.load(Ordering::SeqCst));
    assert_eq!(after.load(Ordering::SeqCst), 1);
}

#[test]
fn stream_stderr_captures_stdout_and_logs_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let f = Proc::new("sh")
        .args(["-c", "echo out; echo err >&2"])
        .output(Output::StreamStderr {
            log: Some(log.clone()),
        })
        .run()
        .unwrap();
    assert_eq!(f.stdout_str(), "out\n");
    assert_eq!(f.tail(5), "err");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "err\n");
}

#[test]
fn stdin_then_path_streams_the_head_then_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big");
    // Bigger than a pipe buffer many times over, so the writer must block and go on.
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let f = Proc::new("cat")
        .stdin_then_path(b"head\n".to_vec(), &file)
        .run()
        .unwrap();
    assert!(f.status.success());
    assert_eq!(&f.stdout[..5], b"head\n");
    assert!(f.stdout[5..] == body[..], "the file arrived changed");
    // A child that stops reading early does not hang the run.
    let f = Proc::new("head")
        .args(["-c", "3"])
        .stdin_then_path(Vec::new(), &file)
        .run()
        .unwrap();
    assert_eq!(f.stdout.len(), 3);
    let e = Proc::new("cat")
        .stdin_then_path(Vec::new(), dir.path().join("missing"))
        .run()
        .unwrap_err();
    assert!(
        format!("{e:#}").contains("for the command's stdin"),
        "{e:#}"
    );
}

#[test]
fn a_timeout_past_the_clock_is_no_deadline_not_a_panic() {
    // Instant + Duration::MAX overflows: it once panicked after the job had started.
    let f = Proc::new("sh")
        .args(["-c", "exit 3"])
        .timeout(Some(Duration::MAX))
        .grace(Duration::MAX)
        .run()
        .unwrap();
    assert!(!f.timed_out);
    assert_eq!(f.status, Status::Exited(3));
    // Stopping with a grace past the clock still sends TERM (the child ends by it).
    let f = Proc::new("sh")
        .args(["-c", "sleep 5"])
        .timeout(Some(Duration::from_millis(100)))
        .grace(Duration::MAX)
        .run()
        .unwrap();
    assert!(f.timed_out);
}

#[test]
fn stop_wait_lets_the_child_end_by_itself_after_the_hook() {
    let child = || {
        Proc::new("sh")
            .args(["-c", "sleep 0.4; exit 7"])
            .timeout(Some(Duration::from_millis(100)))
            .on_stop(|| {})
    };
    let f = child().stop_wait(Duration::from_secs(5)).run().unwrap();
    assert!(f.timed_out);
    assert_eq!(f.status, Status::Exited(7));
    assert!(f.duration < Duration::from_secs(3), "{:?}", f.duration);
    let f = child().run().unwrap();
    assert_eq!(f.status, Status::Signaled(15));
}

#[test]
fn stop_signals() {
    assert_eq!(stop_signal(None), Signal::SIGTERM);
    assert_eq!(stop_signal(Some(2)), Signal::SIGINT);
    assert_eq!(stop_signal(Some(1)), Signal::SIGHUP);
    assert_eq!(stop_signal(Some(9)), Signal::SIGTERM);
}

#[test]
fn missing_program_is_127() {
    let e = Proc::new("/nonexistent/prog").run().unwrap_err();
    assert_eq!(crate::error::exit_of(&e, Exit::Failed), Exit::NotFound);
}

/// A bare name is found on the child's PATH (the one it is given, else ours) and spawned
/// by its path, the name still its argv[0]; with PATH taken away it is not found.
#[test]
fn a_name_is_found_on_the_childs_path_and_keeps_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("rp-only-here");
    std::fs::write(&tool, "#!/bin/sh\necho \"$0 $*\"\n").unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = Proc::new("rp-only-here").arg("a b");
    assert_eq!(p.on_path(), None, "not on our PATH");
    let p = p.env("PATH", dir.path());
    assert_eq!(p.on_path().as_deref(), Some(tool.as_path()));
    // The script sees the path it was run by as $0 (the kernel's), and the name in argv.
    let f = p.run().unwrap();
    assert_eq!(f.stdout_str(), format!("{} a b\n", tool.display()));
    let f = Proc::new("sh").args(["-c", "echo \"$0\""]).run().unwrap();
    assert_eq!(f.stdout_str(), "sh\n", "argv[0] stays the name");
    assert!(Proc::new("sh").on_path().is_some_and(|p| p.is_absolute()));
    let gone = Proc::new("sh").env_remove("PATH");
    assert_eq!(gone.on_path(), None);
    assert_eq!(Proc::new("./sh").on_path(), None, "a path is left as it is");
}

#[test]
fn demux_takes_marked_lines_out_across_any_split() {
    let m = b"\x1eM1:".to_vec();
    let stream: &[u8] = b"a\x1eM1:start\nb\x1eM2:x\nc\x1eM1\x1eM1:exit 3\n\x1eM";
    // Fed whole and one byte at a time, the result is the same.
    for chunk in [stream.len(), 1, 2, 3, 5] {
        let mut d = pipes::Demux::new(m.clone());
        let (mut out, mut lines) = (Vec::new(), Vec::new());
        for c in stream.chunks(chunk) {
            let (o, l) = d.feed(c);
            out.extend(o);
            lines.extend(l);
        }
        out.extend(d.finish());
        assert_eq!(
            String::from_utf8_lossy(&out),
            "ab\x1eM2:x\nc\x1eM1\x1eM",
            "chunk {chunk}"
        );
        assert_eq!(lines, b"start\nexit 3\n", "chunk {chunk}");
    }
}

#[test]
fn answer_on_replies_once_the_needle_is_out_and_stdin_closes_at_the_end() {
    // The bytes first, then the reply once the needle (cut across writes) was printed.
    let f = Proc::new("sh")
        .args([
            "-c",
            "read -r a; printf 'x\\nBY'; sleep 0.1; printf 'E\\n'; read -r b; echo \"a=$a b=$b\"",
        ])
        .stdin("head\n")
        .answer_on("BYE\n", "ok\n")
        .timeout(Some(Duration::from_secs(20)))
        .run()
        .unwrap();
    assert_eq!(f.stdout_str(), "x\nBYE\na=head b=ok\n");
    assert!(!f.timed_out);
    // No needle: stdin stays open while the child runs and closes when its stdout ends.
    let f = Proc::new("sh")
        .args(["-c", "echo one; exec 1>&-; read -r b; echo \"b=[$b]\" >&2"])
        .answer_on("BYE\n", "ok\n")
        .timeout(Some(Duration::from_secs(20)))
        .run()
        .unwrap();
    assert_eq!(f.stdout_str(), "one\n");
    assert_eq!(String::from_utf8_lossy(&f.stderr), "b=[]\n");
}
