//! The repo that users mean (issue #15): a job file in a subfolder of a git repo ships the
//! whole work tree and runs in its own folder inside it; `sync.root` and `workdir` override
//! that. Real git, the loopback sshd box, real rsync, native runs.
use crate::support::{bin_cmd, git, json, run_expect, shm_tempdir, stderr, SshBox, TestEnv};
use std::path::Path;
use std::process::Command;

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// What the job writes: lib's value (imported from the repo's top), a file next to the job
/// file, and the folder it ran in.
const RUN: &str = "PYTHONPATH=.. python3 -c 'import lib; print(lib.X)' > \"$RUNPLZ_OUT/r.txt\" \
                   && cat cfg.txt >> \"$RUNPLZ_OUT/r.txt\" && pwd -P >> \"$RUNPLZ_OUT/r.txt\"";

fn job(run: &str, extra: &str) -> String {
    format!(
        r#"{{"name": "t", "image": {{"from_registry": "debian:bookworm"}}, "run": {},
            "ssh": {{"use_docker": false}} {extra}}}"#,
        serde_json::to_string(run).unwrap()
    )
}

/// A git repo: lib.py at the top, jobs/train.json and jobs/cfg.txt below, a secret at the
/// top, lib.py committed and the rest untracked.
fn repo(job_text: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    git(d.path(), &["init", "-q"]);
    write(d.path(), "lib.py", "X = 'from lib'\n");
    write(d.path(), "jobs/train.json", job_text);
    write(d.path(), "jobs/cfg.txt", "cfg\n");
    write(d.path(), ".env", "API_KEY=do-not-ship\n");
    git(d.path(), &["add", "lib.py"]);
    git(d.path(), &["commit", "-qm", "lib"]);
    d
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn ssh_ships_the_git_top_and_runs_in_the_job_files_folder() {
    let b = SshBox::start();
    let d = repo(&job(RUN, ""));
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "jobs/train.json", "--json"])
        .args(b.tool_args());
    let out = run_expect(&mut c, 0);
    assert_eq!(json(&out)["exit_code"], 0);
    // Outputs come back next to the job file, as before.
    let r = lines(&d.path().join("jobs/out/r.txt"));
    assert_eq!(r[..2], ["from lib", "cfg"], "{r:?}");
    assert!(
        r[2].contains("/runplz-runs/t-") && r[2].ends_with("/jobs"),
        "{r:?}"
    );
    assert_eq!(
        b.ssh("cd runplz/t && find . -type f ! -name .rp-sync-manifest ! -name '*.pyc' | sort | tr '\\n' ' '"),
        "./jobs/cfg.txt ./jobs/train.json ./lib.py "
    );
}

#[test]
fn local_native_runs_in_the_job_files_folder_and_workdir_moves_it() {
    let d = repo(&job(RUN, ""));
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "jobs/train.json", "--json", "--native"]);
    run_expect(&mut c, 0);
    let top = std::fs::canonicalize(d.path()).unwrap();
    let r = lines(&d.path().join("jobs/out/r.txt"));
    assert_eq!(
        r,
        ["from lib", "cfg", &top.join("jobs").display().to_string()]
    );

    // "workdir": "." runs at the repo's top: lib imports without PYTHONPATH.
    let run = "python3 -c 'import lib; print(lib.X)' > \"$RUNPLZ_OUT/r.txt\" && pwd -P >> \"$RUNPLZ_OUT/r.txt\"";
    write(
        d.path(),
        "jobs/train.json",
        &job(run, r#", "workdir": ".""#),
    );
    run_expect(&mut c, 0);
    let r = lines(&d.path().join("jobs/out/r.txt"));
    assert_eq!(r, ["from lib", &top.display().to_string()]);
}

#[test]
fn ssh_workdir_at_the_top_runs_there() {
    let b = SshBox::start();
    let run = "python3 -c 'import lib; print(lib.X)' > \"$RUNPLZ_OUT/r.txt\" && pwd -P >> \"$RUNPLZ_OUT/r.txt\"";
    let d = repo(&job(run, r#", "workdir": "jobs/..""#));
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path().join("jobs"))
        .args(["ssh", "train.json", "--json"])
        .args(b.tool_args());
    run_expect(&mut c, 0);
    let r = lines(&d.path().join("jobs/out/r.txt"));
    assert_eq!(r[0], "from lib");
    assert!(
        r[1].contains("/runplz-runs/t-") && !r[1].ends_with("/jobs"),
        "{r:?}"
    );
}

#[test]
fn rp_sync_job_follows_the_same_rule_and_sync_root_overrides_it() {
    let b = SshBox::start();
    let d = repo(&job("true", ""));
    let mut c = bin_cmd("rp-sync");
    c.args(["up", "--job"])
        .arg(d.path().join("jobs/train.json"))
        .args(b.tool_args());
    let rec = json(&run_expect(&mut c, 0));
    let top = std::fs::canonicalize(d.path()).unwrap();
    assert_eq!(rec["source"], top.display().to_string());
    assert_eq!(rec["files"], 3, "{rec}");
    assert_eq!(b.ssh("cat runplz/t/lib.py"), "X = 'from lib'\n");

    // Not a git repo: the job's folder, unless sync.root says more.
    let p = shm_tempdir();
    write(p.path(), "lib.py", "x");
    write(p.path(), "jobs/train.json", &job("true", ""));
    let dry = |root: &Path| {
        let mut c = bin_cmd("rp-sync");
        c.args(["up", "--dry-run", "--job"])
            .arg(root.join("jobs/train.json"));
        json(&run_expect(&mut c, 0))
    };
    let ptop = std::fs::canonicalize(p.path()).unwrap();
    assert_eq!(
        dry(p.path())["source"],
        ptop.join("jobs").display().to_string()
    );
    write(
        p.path(),
        "jobs/train.json",
        &job("true", r#", "sync": {"root": ".."}"#),
    );
    let rec = dry(p.path());
    assert_eq!(rec["source"], ptop.display().to_string());
    assert_eq!(rec["files"], 2, "{rec}");
}

#[test]
fn a_git_repo_at_the_home_folder_is_not_shipped_whole() {
    let env = TestEnv::new();
    let home = env.home();
    git(&home, &["init", "-q"]);
    write(&home, "proj/job.json", &job("true", ""));
    write(&home, "secret-ish.txt", "x");
    let mut c = env.cmd("rp-sync");
    c.args(["up", "--dry-run", "--job"])
        .arg(home.join("proj/job.json"));
    let rec = json(&run_expect(&mut c, 0));
    let proj = std::fs::canonicalize(home.join("proj")).unwrap();
    assert_eq!(rec["source"], proj.display().to_string());
}

#[test]
fn bad_sync_root_and_workdir_are_located_usage_errors() {
    let d = repo(&job("true", ""));
    write(d.path(), "other/x", "x");
    for (extra, want) in [
        (
            r#", "sync": {"root": "../other"}"#,
            "sync.root: found \"../other\"",
        ),
        (r#", "sync": {"root": "nope"}"#, "sync.root: found \"nope\""),
        (r#", "workdir": "../..""#, "workdir: found \"../..\""),
        (r#", "workdir": "/tmp""#, "workdir: found \"/tmp\""),
        (r#", "workdir": "missing""#, "workdir: found \"missing\""),
    ] {
        write(d.path(), "jobs/train.json", &job("true", extra));
        let mut c = bin_cmd("runplz");
        c.current_dir(d.path())
            .args(["local", "jobs/train.json", "--json", "--native"]);
        let out = run_expect(&mut c, 2);
        let err = stderr(&out);
        assert!(
            err.contains("jobs/train.json:2:") && err.contains(want),
            "{extra}: {err}"
        );
    }
}

fn docker_base() -> String {
    std::env::var("RUNPLZ_TEST_DOCKER_BASE").expect(
        "the docker tests need an engine: run `eval \"$(scripts/podman-env)\"` first (scripts/test does)",
    )
}

/// A docker job whose run imports lib from the repo's top.
fn docker_job(name: &str, extra: &str) -> String {
    format!(
        r#"{{"name": "{name}", "image": {{"from_registry": "{}"}}, "run": {}, "local": {{"network": "none"}},
            "ssh": {{"network": "none"}} {extra}}}"#,
        docker_base(),
        serde_json::to_string(RUN).unwrap()
    )
}

#[test]
fn local_docker_builds_from_the_repo_and_runs_in_the_job_files_folder() {
    let d = repo(&docker_job("t-repo-docker", ""));
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "jobs/train.json", "--json"]);
    let out = run_expect(&mut c, 0);
    assert_eq!(json(&out)["mode"], "docker");
    let r = lines(&d.path().join("jobs/out/r.txt"));
    assert_eq!(r, ["from lib", "cfg", "/workspace/jobs"]);
}

#[test]
fn ssh_docker_runs_in_the_job_files_folder_of_the_shipped_repo() {
    let b = SshBox::start_docker();
    let d = repo(&docker_job("t-repo-sshdocker", ""));
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "jobs/train.json", "--json"])
        .args(b.tool_args());
    let out = run_expect(&mut c, 0);
    assert_eq!(json(&out)["mode"], "docker");
    let r = lines(&d.path().join("jobs/out/r.txt"));
    assert_eq!(r, ["from lib", "cfg", "/workspace/jobs"]);
}

#[test]
fn pip_install_local_dir_stays_relative_to_the_job_file_in_the_build_context() {
    let d = repo(&job("true", ""));
    write(
        d.path(),
        "jobs/train.json",
        r#"{"name": "t", "image": {"from_registry": "python:3.12", "steps": [{"pip_install_local_dir": "pkg"}]}, "run": "true"}"#,
    );
    write(d.path(), "jobs/pkg/setup.py", "");
    let mut c = bin_cmd("rp-image");
    c.current_dir(d.path())
        .args(["--format", "dockerfile", "jobs/train.json"]);
    let text = String::from_utf8(run_expect(&mut c, 0).stdout).unwrap();
    // The context is the repo; the folder is the job's jobs/pkg.
    assert!(
        text.contains("\nCOPY jobs/pkg /workspace/jobs/pkg\n"),
        "{text}"
    );
}

#[test]
fn the_plan_for_a_job_in_a_subfolder_ships_the_repo_and_runs_there_too() {
    let b = SshBox::start();
    let d = repo(&job(RUN, ""));
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "jobs/train.json", "--plan"])
        .args(b.tool_args());
    let script = String::from_utf8(run_expect(&mut c, 0).stdout).unwrap();
    std::fs::write(d.path().join("run.sh"), &script).unwrap();
    let path = format!(
        "{}:{}",
        crate::support::bin_dir().display(),
        std::env::var("PATH").unwrap()
    );
    let mut sh = Command::new("sh");
    sh.arg("run.sh").current_dir(d.path()).env("PATH", &path);
    run_expect(&mut sh, 0);
    let r = lines(&d.path().join("jobs/out/r.txt"));
    assert_eq!(r[..2], ["from lib", "cfg"], "{r:?}");
    assert!(
        r[2].contains("/runplz-runs/t-") && r[2].ends_with("/jobs"),
        "{r:?}"
    );
}
