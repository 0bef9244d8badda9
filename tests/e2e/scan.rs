//! The content scan for secrets (issue #17), end to end: runplz refuses a tree holding a
//! token on every backend before anything is asked or created, and runs it once the token
//! moves to `pass_env`; rp-sync refuses before contacting the box; a token shipped on purpose
//! (`"warn"`) is named masked and its value is in no artifact anywhere.
use crate::support::{json, run_expect, shm_tempdir, stderr, FakeBin, TestEnv};
use runplz_core::scan::rules::sample;
use std::path::Path;

/// A job whose run prints the length of `$HF_TOKEN` (never the value), natively.
fn job_dir(extra: &str, train: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        format!(
            r#"{{"name": "scan", "image": {{"from_registry": "debian:bookworm"}},
                "run": "printf '%s' \"$HF_TOKEN\" | wc -c > \"$RUNPLZ_OUT/n.txt\"",
                "pass_env": ["HF_TOKEN"], "local": {{"use_docker": false}},
                "ssh": {{"use_docker": false}} {extra}}}"#
        ),
    )
    .unwrap();
    std::fs::write(d.path().join("train.py"), train).unwrap();
    d
}

fn with_token(tok: &str) -> String {
    format!("import os\nHF_TOKEN = \"{tok}\"\n")
}

/// Fakes that log any call: none may be called when the scan refuses.
fn recorders() -> FakeBin {
    let f = FakeBin::new();
    for p in RECORDED {
        f.recorder(p, "exit 1");
    }
    f
}

/// Every program a backend could start.
const RECORDED: [&str; 11] = [
    "brev", "modal", "ssh", "rsync", "docker", "podman", "sbatch", "srun", "squeue", "scancel",
    "sinfo",
];

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(files_under(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

/// No file under `dir` holds the token's secret part (all but its first 5 bytes).
fn assert_nowhere(what: &str, dir: &Path, tok: &str) {
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&tok[5..]),
            "{what}: {} holds the token",
            f.display()
        );
    }
}

#[test]
fn runplz_refuses_a_token_on_every_backend_before_anything_then_runs_it_from_pass_env() {
    let world = TestEnv::new();
    let fakes = recorders();
    let tok = sample("hf");
    let d = job_dir("", &with_token(&tok));
    for args in [
        &["local", "job.json"][..],
        &["ssh", "job.json", "--host", "box"],
        &["brev", "job.json"],
        &["modal", "job.json"],
        &["slurm", "job.json", "--host", "local"],
        &["slurm", "job.json", "--host", "box"],
    ] {
        let out = run_expect(
            world
                .cmd("runplz")
                .current_dir(d.path())
                .env("PATH", fakes.path())
                .env("HF_TOKEN", &tok)
                .args(args),
            2,
        );
        let err = stderr(&out);
        for want in [
            "refusing to ship: 1 secret found",
            "train.py:2:13: huggingface-token",
            &format!("({}…)", &tok[..5]),
            "\"pass_env\"",
            "--allow-secret train.py:2",
            "\"secret_scan\": \"warn\"",
        ] {
            assert!(err.contains(want), "{args:?}: no {want:?} in:\n{err}");
        }
        assert!(!err.contains(&tok[5..]), "{args:?}: the token in stderr");
        assert!(out.stdout.is_empty(), "{args:?}");
        for p in RECORDED {
            assert!(fakes.calls(p).is_empty(), "{args:?} ran {p}");
        }
        assert!(files_under(&world.state_dir().join("runs")).is_empty());
        assert!(!d.path().join("out").exists(), "{args:?}");
    }
    // Allowed by flag: the same run goes ahead (the token ships, named on stderr).
    let out = run_expect(
        world
            .cmd("runplz")
            .current_dir(d.path())
            .env("HF_TOKEN", &tok)
            .args([
                "local",
                "job.json",
                "--allow-secret",
                "train.py:2",
                "--plan",
            ]),
        0,
    );
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        plan.contains("rp-sync scan \"$JOB\" --allow-secret train.py:2 >/dev/null || exit 2"),
        "{plan}"
    );
    // The token moved to pass_env: the scan is clean and the job gets it.
    std::fs::write(
        d.path().join("train.py"),
        "import os\nHF_TOKEN = os.environ[\"HF_TOKEN\"]\n",
    )
    .unwrap();
    let out = run_expect(
        world
            .cmd("runplz")
            .current_dir(d.path())
            .env("HF_TOKEN", &tok)
            .args(["local", "job.json", "--json"]),
        0,
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/n.txt"))
            .unwrap()
            .trim(),
        tok.len().to_string()
    );
    let rec = json(&out);
    assert_eq!(rec["secret_scan"]["mode"], "refuse");
    assert_eq!(rec["secret_scan"]["findings"], serde_json::json!([]));
    assert!(rec["secret_scan"]["files"].as_u64().unwrap() >= 2, "{rec}");
}

#[test]
fn a_token_shipped_on_purpose_is_named_masked_and_written_nowhere() {
    let world = TestEnv::new();
    let tok = sample("hf");
    let d = job_dir(r#", "sync": {"secret_scan": "warn"}"#, &with_token(&tok));
    let out = run_expect(
        world
            .cmd("runplz")
            .current_dir(d.path())
            .env("HF_TOKEN", "unused")
            .args(["local", "job.json", "--json"]),
        0,
    );
    let err = stderr(&out);
    assert!(
        err.contains("shipping a secret train.py:2:13: huggingface-token"),
        "{err}"
    );
    let rec = json(&out);
    assert_eq!(
        rec["secret_scan"]["findings"],
        serde_json::json!([{"path": "train.py", "line": 2, "column": 13,
            "rule": "huggingface-token", "preview": format!("{}…", &tok[..5]), "allowed": false}])
    );
    for (what, text) in [
        ("stdout", String::from_utf8_lossy(&out.stdout).into_owned()),
        ("stderr", err),
    ] {
        assert!(!text.contains(&tok[5..]), "{what} holds the token");
    }
    // The run state, the scan cache, everything in runplz's world; the outputs.
    assert!(!files_under(&world.state_dir().join("runs")).is_empty());
    assert!(!files_under(&world.state_dir().join("scan-cache")).is_empty());
    assert_nowhere("runplz's world", world.root(), &tok);
    assert_nowhere("the outputs", &d.path().join("out"), &tok);
    // rp-sync's own record of the same tree, dry run and scan.
    let out = run_expect(
        world
            .cmd("rp-sync")
            .current_dir(d.path())
            .args(["up", "--dry-run", "--job", "job.json"]),
        0,
    );
    let rec = json(&out);
    assert_eq!(
        rec["secret_scan"]["findings"][0]["rule"],
        "huggingface-token"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&tok[5..]));
    assert!(!stderr(&out).contains(&tok[5..]));
    // In warn mode the scan alone passes too (exit 0), still naming it.
    let out = run_expect(
        world
            .cmd("rp-sync")
            .current_dir(d.path())
            .args(["scan", "job.json", "--table"]),
        0,
    );
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        table.contains("train.py:2:13  huggingface-token"),
        "{table}"
    );
    assert!(!table.contains(&tok[5..]));
    assert_nowhere("runplz's world after rp-sync", world.root(), &tok);
}

#[test]
fn rp_sync_refuses_before_contacting_the_box_and_allows_by_path_or_glob() {
    let world = TestEnv::new();
    let fakes = recorders();
    let tok = sample("ghp");
    let d = job_dir("", &format!("x = 1\nGH = '{tok}'\n"));
    // Port 1 would fail the connection (exit 1): 4 says the scan stopped it first.
    let out = run_expect(
        world
            .cmd("rp-sync")
            .current_dir(d.path())
            .env("PATH", fakes.path())
            .args(["up", "--job", "job.json", "--host", "127.0.0.1:1"]),
        4,
    );
    assert!(
        stderr(&out).contains("train.py:2:7: github-token"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    assert!(fakes.calls("ssh").is_empty() && fakes.calls("rsync").is_empty());
    // Allowed: by path and line, by glob; a wrong line does not allow it.
    for (allow, code) in [("train.py:2", 0), ("*.py", 0), ("train.py:1", 4)] {
        let out = run_expect(
            world.cmd("rp-sync").current_dir(d.path()).args([
                "scan",
                "job.json",
                "--allow-secret",
                allow,
            ]),
            code,
        );
        let rec = json(&out);
        assert_eq!(rec["findings"][0]["allowed"], code == 0, "{allow}: {rec}");
    }
    // The same from job.json, with a bad entry named where it is.
    let bad = job_dir(
        r#", "sync": {"allow_secrets": ["train.py:x", ""]}"#,
        "x = 1\n",
    );
    let out = run_expect(
        world
            .cmd("rp-sync")
            .current_dir(bad.path())
            .args(["scan", "job.json"]),
        2,
    );
    assert!(
        stderr(&out).contains("sync.allow_secrets[1]: found \"\", expected a path or glob"),
        "{}",
        stderr(&out)
    );
    // Off: said once, nothing read, the record says so.
    let off = job_dir(r#", "sync": {"secret_scan": "off"}"#, &with_token(&tok));
    let out = run_expect(
        world
            .cmd("rp-sync")
            .current_dir(off.path())
            .args(["up", "--dry-run", "--job", "job.json"]),
        0,
    );
    assert_eq!(
        stderr(&out)
            .matches("content scan for secrets is off")
            .count(),
        1,
        "{}",
        stderr(&out)
    );
    let rec = json(&out);
    assert_eq!(rec["secret_scan"]["mode"], "off");
    assert_eq!(rec["secret_scan"]["scanned"], 0);
}

#[test]
fn rp_image_writes_no_context_holding_a_token() {
    let world = TestEnv::new();
    let tok = sample("openai");
    let d = job_dir("", &format!("import openai\nopenai.api_key = \"{tok}\"\n"));
    let ctx = d.path().join("ctx.tar");
    let out = run_expect(
        world.cmd("rp-image").current_dir(d.path()).args([
            "job.json",
            "--format",
            "dockerfile",
            "--context",
            "ctx.tar",
        ]),
        4,
    );
    let want = format!("train.py:2:19: openai-key ({}…)", &tok[..5]);
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));
    assert!(!ctx.exists(), "the context was written");
}

#[test]
fn the_tree_that_ships_is_fingerprinted_with_its_git_commit_and_dirty_flag() {
    let world = TestEnv::new();
    let d = job_dir("", "x = 1\n");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .current_dir(d.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "c"]);
    let head = git(&["rev-parse", "HEAD"]);
    let dry = || {
        run_expect(
            world.cmd("rp-sync").current_dir(d.path()).args([
                "up",
                "--dry-run",
                "--job",
                "job.json",
            ]),
            0,
        )
    };
    let out = dry();
    let rec = json(&out);
    let fp = rec["tree"]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(rec["tree"]["git_commit"], head.as_str());
    assert_eq!(rec["tree"]["git_dirty"], false);
    assert!(
        stderr(&out).contains(&format!("tree fingerprint {fp}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&dry())["tree"]["fingerprint"], fp.as_str(), "stable");
    // An untracked file that ships: dirty, and a new fingerprint; removed: the old one.
    std::fs::write(d.path().join("new.py"), "y = 2\n").unwrap();
    let rec = json(&dry());
    assert_eq!(rec["tree"]["git_dirty"], true);
    assert_ne!(rec["tree"]["fingerprint"], fp.as_str());
    std::fs::remove_file(d.path().join("new.py")).unwrap();
    assert_eq!(json(&dry())["tree"]["fingerprint"], fp.as_str());
    // runplz's run record carries the same tree.
    let out = run_expect(
        world
            .cmd("runplz")
            .current_dir(d.path())
            .env("HF_TOKEN", "x")
            .args(["local", "job.json", "--json"]),
        0,
    );
    let rec = json(&out);
    assert_eq!(rec["tree"]["fingerprint"], fp.as_str(), "{rec}");
    assert_eq!(rec["tree"]["git_commit"], head.as_str());
}

#[test]
fn a_file_name_cannot_forge_a_finding_line() {
    let world = TestEnv::new();
    let tok = sample("hf");
    let d = job_dir("", "x = 1\n");
    // A newline, a carriage return, an escape sequence and a byte that is not UTF-8.
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(
        b"a\n  forged.py:9:9: aws-access-key (AKIA\xe2\x80\xa6)\r\x1b[2K\xff.py",
    );
    std::fs::write(d.path().join(name), with_token(&tok)).unwrap();
    let shown = r"a\n  forged.py:9:9: aws-access-key (AKIA…)\r\u{1b}[2K\xff.py";
    for table in [false, true] {
        let mut cmd = world.cmd("rp-sync");
        cmd.current_dir(d.path()).args(["scan", "job.json"]);
        if table {
            cmd.arg("--table");
        }
        let out = run_expect(&mut cmd, 4);
        let (err, so) = (
            stderr(&out),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        );
        for (what, text) in [("stderr", &err), ("stdout", &so)] {
            assert!(
                !text
                    .lines()
                    .any(|l| l.trim_start().starts_with("forged.py")),
                "{what} has a forged line:\n{text}"
            );
            assert!(
                !text.contains('\r') && !text.contains('\u{1b}'),
                "{what}: {text:?}"
            );
        }
        assert!(
            err.contains(&format!("\n  {shown}:2:13: huggingface-token")),
            "{err}"
        );
        assert!(err.contains(&format!("--allow-secret {shown}:2")), "{err}");
        if table {
            assert!(so.contains(&format!("{shown}:2:13")), "{so}");
            assert_eq!(so.lines().count(), 2, "{so}");
        } else {
            // The record keeps the name (JSON escapes it); the odd byte as \xff.
            assert_eq!(
                json(&out)["findings"][0]["path"],
                "a\n  forged.py:9:9: aws-access-key (AKIA…)\r\u{1b}[2K\\xff.py"
            );
        }
    }
}
