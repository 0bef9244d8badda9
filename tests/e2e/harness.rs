//! The test harness itself, proven on the tools: a test world keeps a tool's files out of the
//! real home ([`TestEnv`]), and fake programs on PATH are what a tool runs ([`FakeBin`]).
use crate::support::{json, run_expect, shm_tempdir, stderr, FakeBin, SshBox, TestEnv};
use std::path::{Path, PathBuf};

/// The entries of `dir` whose name starts with `prefix` (none when `dir` does not exist).
fn entries_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_native_local_run_writes_its_venv_into_the_test_world_not_the_real_home() {
    let env = TestEnv::new();
    let name = format!("rpt-world-check-{}", std::process::id());
    let d = shm_tempdir();
    let job = serde_json::json!({
        "name": name,
        "image": {"from_registry": "debian:bookworm"},
        "run": "sh env.sh",
        "local": {"use_docker": false},
    });
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    std::fs::write(
        d.path().join("env.sh"),
        "printf '%s\\n' \"$HOME\" \"${XDG_CACHE_HOME:-}\" \"${TMPDIR:-}\" \"${RUNPLZ_TEST_LEAK:-}\" > \"$RUNPLZ_OUT/env.txt\"\n",
    )
    .unwrap();
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let real_cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".cache"));
    let real_venvs = real_cache.join("runplz/venvs");
    let real_state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".local/state"))
        .join("runplz");

    let mut c = std::process::Command::new(crate::support::bin("runplz"));
    // A RUNPLZ_* variable the command had before it entered the world never reaches the tool.
    c.current_dir(d.path())
        .args(["local", "job.json", "--json"])
        .env("RUNPLZ_TEST_LEAK", "leaked");
    env.apply(&mut c);
    let out = run_expect(&mut c, 0);
    assert_eq!(json(&out)["mode"], "native");

    // The venv and the lock two runs of one job take turns on.
    let venvs: Vec<PathBuf> = entries_starting(&env.venvs_dir(), &name)
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(venvs.len(), 1, "{:?}", env.venvs_dir());
    assert!(venvs[0].join("bin/python3").exists(), "{venvs:?}");
    assert!(
        entries_starting(&real_venvs, &name).is_empty(),
        "a venv of this test landed in the real {}",
        real_venvs.display()
    );
    // Nothing in the real state dir names this job (other runs may write there meanwhile).
    if real_state.is_dir() {
        let grep = std::process::Command::new("grep")
            .args(["-rlF", &name])
            .arg(&real_state)
            .output()
            .unwrap();
        assert!(
            grep.stdout.is_empty(),
            "run state of this test in the real home: {}",
            String::from_utf8_lossy(&grep.stdout)
        );
    }
    // The job itself saw the world.
    let seen = std::fs::read_to_string(d.path().join("out/env.txt")).unwrap();
    assert_eq!(
        seen,
        format!(
            "{}\n{}\n{}\n\n",
            env.home().display(),
            env.cache_home().display(),
            env.tmp().display()
        )
    );
    // Dropping the world removes it.
    let root = env.root().to_path_buf();
    drop(env);
    assert!(!root.exists());
}

#[test]
fn the_shared_world_is_private_and_distinct_from_the_real_home() {
    let w = crate::support::world();
    let real = std::env::var_os("HOME").map(PathBuf::from);
    assert_ne!(Some(w.home()), real);
    assert!(w.root().starts_with("/dev/shm") || w.root().starts_with("/tmp"));
    for (var, path) in w.vars() {
        assert!(path.is_dir(), "{var}");
        assert!(path.starts_with(w.root()), "{var}");
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(w.runtime_dir()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o700, "XDG_RUNTIME_DIR must be private");
}

#[test]
fn a_fake_program_on_path_is_what_the_tool_runs() {
    let b = SshBox::start();
    let src = shm_tempdir();
    std::fs::write(src.path().join("f.txt"), "x").unwrap();
    let fakes = FakeBin::new();
    fakes.recorder("rsync", "echo 'fake rsync failing' >&2; exit 23");
    // A folder rp-sync shipped into before (a manifest there): rsync's to sync, not a tar's.
    b.ssh("mkdir dst && printf 'rp-sync manifest 1\\n' > dst/.rp-sync-manifest");
    let mut c = crate::support::bin_cmd("rp-sync");
    c.args(["up", "--dest", "dst"])
        .args(b.tool_args())
        .arg(src.path())
        .env("PATH", fakes.path());
    let out = run_expect(&mut c, 1);
    assert!(
        stderr(&out).contains("rsync exited with 23"),
        "{}",
        stderr(&out)
    );
    let mut calls = fakes.calls("rsync");
    // rp-sync first asks this rsync's version (for nanosecond mtimes).
    calls.retain(|c| c != &["--version"]);
    assert_eq!(calls.len(), 1, "{calls:?}");
    let argv = &calls[0];
    // rsync goes over the tool's ssh (with the test's config) to the box's folder.
    let e = argv.iter().position(|a| a == "-e").expect("-e");
    assert!(argv[e + 1].starts_with("ssh "), "{argv:?}");
    assert!(
        argv[e + 1].contains(&b.config.display().to_string()),
        "{argv:?}"
    );
    assert!(argv.last().unwrap().ends_with(":./dst/"), "{argv:?}");
}

#[test]
fn without_rsync_on_path_rp_sync_says_how_to_install_it_and_exits_125() {
    let src = shm_tempdir();
    let fakes = FakeBin::new();
    // Everything a run needs here but rsync.
    fakes.link_reals(&["sh", "ssh", "git"]);
    let out = run_expect(
        crate::support::bin_cmd("rp-sync")
            .args(["up", "--host", "box", "--dest", "x"])
            .arg(src.path())
            .env("PATH", fakes.path_only()),
        125,
    );
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("`rsync` not found on PATH; install rsync"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
