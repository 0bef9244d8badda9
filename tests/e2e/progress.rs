//! Progress (issue #14): a live line per set-up step on a terminal, plain lines otherwise,
//! `--quiet` and `NO_COLOR` honoured, one `runplz:` prefix.
use crate::support::{bin, bin_cmd, run_expect, shm_tempdir, stderr, world, SshBox};
use std::path::Path;

/// A native job with a set-up step that prints pip-like lines, a credential-looking env
/// value (a warning), and a job that prints on both streams.
fn job(dir: &Path, name: &str) {
    let job = serde_json::json!({
        "name": name,
        "image": {"from_registry": "debian:bookworm", "steps": [{"run_commands": [
            "for p in alpha beta; do echo Collecting $p; sleep 0.3; done; echo setup-noise"
        ]}]},
        "run": "echo job-out; echo job-err >&2",
        "env": {"HF_TOKEN": "hf_abcdefghijklmnop"},
        "local": {"use_docker": false},
    });
    std::fs::write(dir.join("job.json"), job.to_string()).unwrap();
}

#[test]
fn without_a_terminal_plain_lines_and_the_setup_output() {
    let d = shm_tempdir();
    job(d.path(), "t-prog-plain");
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path()).args(["local", "job.json"]);
    let out = run_expect(&mut c, 0);
    let err = stderr(&out);
    for want in [
        "runplz: probe...\n",
        "runplz: venv...\n",
        "Collecting alpha\n",
        "setup-noise\n",
        "runplz: run...\n",
        "job-err\n",
    ] {
        assert!(err.contains(want), "{want:?} in:\n{err}");
    }
    assert!(err.contains("runplz: warning: "), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{err:?}");
    // Every line runplz says itself has the one prefix.
    for l in err.lines().filter(|l| l.contains("done in")) {
        assert!(l.starts_with("runplz: "), "{l}");
    }
}

#[test]
fn quiet_keeps_warnings_errors_and_the_jobs_output() {
    let d = shm_tempdir();
    job(d.path(), "t-prog-quiet");
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--quiet"]);
    let out = run_expect(&mut c, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "job-out\n");
    let err = stderr(&out);
    // Other tests' daemons (same user, started during this run) may be named in a warning
    // block of their own; what --quiet keeps is the rest.
    let mut lines: Vec<&str> = Vec::new();
    let mut in_block = false;
    for l in err.lines() {
        if l.contains("process(es) started during run") {
            in_block = true;
        } else if in_block && l.starts_with("stop them with:") {
            in_block = false;
        } else if !in_block {
            lines.push(l);
        }
    }
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("runplz: warning: "), "{err}");
    assert_eq!(lines[1], "job-err", "{err}");
}

/// runplz under a pseudo-terminal (util-linux `script`), its screen as bytes.
fn on_a_terminal(dir: &Path, no_color: bool) -> String {
    let w = world();
    let mut c = w.program("script");
    c.current_dir(dir)
        .arg("-qec")
        .arg(format!("{} local job.json", bin("runplz").display()));
    c.arg("/dev/null").env("TERM", "xterm");
    if no_color {
        c.env("NO_COLOR", "1");
    } else {
        c.env_remove("NO_COLOR");
    }
    let out = run_expect(&mut c, 0);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn on_a_terminal_a_live_line_per_step_fed_by_its_output() {
    let d = shm_tempdir();
    job(d.path(), "t-prog-tty");
    let screen = on_a_terminal(d.path(), false);
    // The venv step's line, redrawn, naming what pip-like output said; its output itself
    // does not scroll past.
    assert!(screen.contains("\r\x1b[2Krunplz: venv "), "{screen:?}");
    assert!(
        screen.contains("collecting alpha") || screen.contains("collecting beta"),
        "{screen:?}"
    );
    assert!(!screen.contains("setup-noise"), "{screen:?}");
    assert!(screen.contains("runplz: venv done in "), "{screen:?}");
    // The job's own output is shown as it comes.
    assert!(
        screen.contains("job-out") && screen.contains("job-err"),
        "{screen:?}"
    );
    // A warning in colour, unless NO_COLOR.
    assert!(
        screen.contains("runplz: \x1b[33mwarning\x1b[0m: "),
        "{screen:?}"
    );
    let screen = on_a_terminal(d.path(), true);
    assert!(screen.contains("runplz: warning: "), "{screen:?}");
    assert!(!screen.contains("\x1b[33m"), "{screen:?}");
}

/// A native job on a box whose repo has many small files and one large one, and that
/// writes two outputs (4 MiB and one byte): enough for rsync to report progress while it
/// works, both ways.
fn transfer_job(dir: &Path) {
    for i in 0..200 {
        std::fs::write(dir.join(format!("a{i:03}.txt")), format!("file {i}\n")).unwrap();
    }
    // Random, so nothing compresses it away; sorted after the small files.
    let mut big = vec![0u8; 40 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in big.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(dir.join("zz-big.bin"), big).unwrap();
    let job = serde_json::json!({
        "name": "t-prog-sync",
        "image": {"from_registry": "debian:bookworm"},
        "run": "head -c 4194304 /dev/zero > \"$RUNPLZ_OUT/o.bin\"; echo > \"$RUNPLZ_OUT/a.txt\"",
        "ssh": {"use_docker": false},
    });
    std::fs::write(dir.join("job.json"), job.to_string()).unwrap();
}

#[test]
fn sync_and_collect_say_files_and_bytes() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    transfer_job(d.path());
    let args = b.tool_args().join(" ");
    // On a terminal: the sync's live line counts files and bytes as rsync sends them, and
    // collect's `done` line says what came back.
    let mut c = world().program("script");
    c.current_dir(d.path())
        .env("XDG_STATE_HOME", state.path())
        .env("TERM", "xterm")
        .arg("-qec")
        .arg(format!("{} ssh job.json {args}", bin("runplz").display()))
        .arg("/dev/null");
    let out = run_expect(&mut c, 0);
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    let live: Vec<&str> = screen
        .split('\r')
        .filter_map(|s| s.strip_prefix("\x1b[2Krunplz: sync "))
        .filter(|s| s.contains(" files  ") && s.contains("iB"))
        .collect();
    assert!(
        !live.is_empty(),
        "no sync line with files and bytes in {screen:?}"
    );
    assert!(
        screen.contains("runplz: collect done in ") && screen.contains("s  2 files  4.0 MiB"),
        "{screen:?}"
    );
    // Not on a terminal: plain lines, no carriage return, the totals said once.
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .env("XDG_STATE_HOME", state.path())
        .args(["ssh", "job.json"])
        .args(b.tool_args());
    let out = run_expect(&mut c, 0);
    let err = stderr(&out);
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    let done: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("runplz: collect done in "))
        .collect();
    assert_eq!(done.len(), 1, "{err}");
    assert!(done[0].ends_with("s  2 files  4.0 MiB"), "{err}");
    assert!(err.contains("runplz: shipped "), "{err}");
}

/// `tool ARGS...` under a pseudo-terminal, its screen as text.
fn screen_of(dir: &Path, tool: &str, args: &[String]) -> String {
    let mut c = world().program("script");
    c.current_dir(dir)
        .env("TERM", "xterm")
        .arg("-qec")
        .arg(format!("{} {}", bin(tool).display(), args.join(" ")))
        .arg("/dev/null");
    let out = run_expect(&mut c, 0);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rp_sync_and_rp_collect_show_a_live_line_on_a_terminal_only() {
    let b = SshBox::start();
    let src = shm_tempdir();
    transfer_job(src.path());
    let mut up = b.tool_args();
    up.splice(0..0, ["up".to_string()]);
    up.extend(["--dest=pt".into(), src.path().display().to_string()]);
    let screen = screen_of(src.path(), "rp-sync", &up);
    assert!(
        screen
            .split('\r')
            .any(|s| s.starts_with("\x1b[2Krp-sync: sync ") && s.contains(" files  ")),
        "{screen:?}"
    );
    assert!(screen.contains("rp-sync: sync done in "), "{screen:?}");

    let to = shm_tempdir();
    let mut down = b.tool_args();
    down.extend([
        "--from".into(),
        "pt".into(),
        "--to".into(),
        to.path().join("a").display().to_string(),
    ]);
    let screen = screen_of(src.path(), "rp-collect", &down);
    let done = screen
        .split(['\r', '\n'])
        .find(|l| l.contains("rp-collect: collect done in "))
        .unwrap_or_else(|| panic!("no done line in {screen:?}"));
    // The tree and rp-sync's manifest beside it.
    assert!(done.ends_with(" files  40.0 MiB"), "{done:?}");

    // Not on a terminal: neither says more than before.
    let last = down.len() - 1;
    down[last] = to.path().join("b").display().to_string();
    let out = run_expect(bin_cmd("rp-collect").args(&down), 0);
    let err = stderr(&out);
    assert!(
        !err.contains("collect done") && !err.contains('\r'),
        "{err:?}"
    );
}
