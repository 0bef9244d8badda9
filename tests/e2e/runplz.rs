//! `runplz local` and `runplz ssh`, end to end, on real parts: the loopback sshd box, real
//! rsync, real process trees, and the real docker CLI on Podman's socket (set up by
//! `scripts/podman-env`, which scripts/test runs).
use crate::support::{
    bin_cmd, bin_dir, containers_named, json, run_expect, shm_tempdir, stderr, SshBox,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A job folder with `job.json` (from `job`), a small script and a secret.
fn job_dir(job: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    std::fs::write(d.path().join("job.json"), job).unwrap();
    std::fs::write(d.path().join("data.txt"), "payload\n").unwrap();
    std::fs::write(d.path().join(".env"), "API_KEY=do-not-ship\n").unwrap();
    d
}

/// `args` with `--json` after the backend (the record on stdout, for the tests that read
/// it), unless it is a `--plan`.
pub(crate) fn with_json<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    if !args.contains(&"--plan") && !v.is_empty() {
        v.insert(1, "--json");
    }
    v
}

fn runplz(dir: &Path, args: &[&str]) -> Command {
    let mut c = bin_cmd("runplz");
    c.current_dir(dir).args(with_json(args));
    c
}

fn native_job(run: &str, extra: &str) -> String {
    format!(
        r#"{{"name": "t", "image": {{"from_registry": "debian:bookworm", "steps": [{{"env": {{"STEP_VAR": "from step"}}}}]}},
           "run": {}, "env": {{"GREETING": "it's $(not) run"}}, "ssh": {{"use_docker": false}} {extra}}}"#,
        serde_json::to_string(run).unwrap()
    )
}

fn docker_base() -> String {
    std::env::var("RUNPLZ_TEST_DOCKER_BASE").expect(
        "the docker tests need an engine: run `eval \"$(scripts/podman-env)\"` first (scripts/test does)",
    )
}

#[test]
fn ssh_native_runs_the_job_and_brings_outputs_back_with_its_exit_code() {
    let b = SshBox::start();
    let d = job_dir(&native_job(
        "cat data.txt > \"$RUNPLZ_OUT/copy.txt\"; echo \"$GREETING|$STEP_VAR|\"{n} > \"$RUNPLZ_OUT/env.txt\"; ls -a > \"$RUNPLZ_OUT/ls.txt\"; exit 3",
        r#", "args": {"n": "1"}"#,
    ));
    let mut c = runplz(d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args()).arg("--n=two words");
    let out = run_expect(&mut c, 3);
    let rec = json(&out);
    assert_eq!(rec["type"], "run");
    assert_eq!(rec["exit_code"], 3);
    assert_eq!(rec["mode"], "native");
    let outd = d.path().join("out");
    assert_eq!(
        std::fs::read_to_string(outd.join("copy.txt")).unwrap(),
        "payload\n"
    );
    assert_eq!(
        std::fs::read_to_string(outd.join("env.txt")).unwrap(),
        "it's $(not) run|from step|two words\n"
    );
    let ls = std::fs::read_to_string(outd.join("ls.txt")).unwrap();
    assert!(ls.contains("data.txt") && !ls.contains(".env"), "{ls}");
    assert_eq!(rec["outputs"]["files"], 3);
    // The secret never reached the box.
    assert_eq!(
        b.ssh("ls -a runplz/t | sort | tr '\\n' ' '"),
        ". .. .rp-sync-manifest data.txt job.json "
    );
}

#[test]
fn ssh_timeout_exits_124_leaves_nothing_running_and_keeps_partial_outputs() {
    let b = SshBox::start();
    let d = job_dir(&native_job(
        "echo partial > \"$RUNPLZ_OUT/partial.txt\"; (setsid sleep 300 &); trap '' TERM; sleep 300",
        r#", "timeout": 2"#,
    ));
    let mut c = runplz(d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 124);
    let rec = json(&out);
    assert_eq!(rec["ending"]["kind"], "timed_out");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/partial.txt")).unwrap(),
        "partial\n"
    );
    let left = b.ssh(&format!(
        "grep -l -z -x 'RUNPLZ_RUN_ID={}' /proc/[0-9]*/environ 2>/dev/null | wc -l",
        rec["run_id"].as_str().unwrap()
    ));
    assert_eq!(left.trim(), "0", "processes of the run survived");
    assert_eq!(
        b.ssh("pgrep -u \"$(id -u)\" -f 'slee[p] 300' | wc -l")
            .trim(),
        "0"
    );
}

/// Start `runplz ssh job.json` in `dir`, send it SIGINT once `marker` exists on the box,
/// and return its output.
fn ctrl_c_when(b: &SshBox, dir: &Path, marker: &str) -> std::process::Output {
    let mut c = runplz(dir, &["ssh", "job.json"]);
    c.args(b.tool_args())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.ssh_raw(&format!("test -f {marker}")).status.code() != Some(0) {
        assert!(
            Instant::now() < deadline,
            "{marker} never appeared on the box"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::SIGINT).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn ssh_ctrl_c_kills_the_remote_job_and_still_collects() {
    let b = SshBox::start();
    let d = job_dir(&native_job(
        "echo started > \"$RUNPLZ_OUT/started.txt\"; sleep 300",
        "",
    ));
    let out = ctrl_c_when(&b, d.path(), "runplz-out/t-*/started.txt");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(
        rec["ending"],
        serde_json::json!({"kind": "interrupted", "signal": 2, "step": "run"})
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/started.txt")).unwrap(),
        "started\n"
    );
    assert_eq!(
        b.ssh("pgrep -u \"$(id -u)\" -f 'slee[p] 300' | wc -l")
            .trim(),
        "0"
    );
}

#[test]
fn a_broken_image_step_exits_5_naming_the_step() {
    let b = SshBox::start();
    let job = r#"{"name": "t", "image": {"from_registry": "debian:bookworm", "steps": [{"run_commands": ["echo about to fail; exit 7"]}]},
                  "run": "echo never > \"$RUNPLZ_OUT/ran.txt\"", "ssh": {"use_docker": false}}"#;
    let d = job_dir(job);
    let mut c = runplz(d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 5);
    let err = stderr(&out);
    // The error itself ends with the step's last lines, not only the live stream above it.
    let (_, error) = err
        .split_once("runplz: setup step `venv` failed")
        .expect(&err);
    let (_, tail) = error.split_once("its last lines:").expect(&err);
    assert!(tail.contains("about to fail"), "{err}");
    let rec = json(&out);
    assert_eq!(
        rec["ending"],
        serde_json::json!({"kind": "failed", "step": "venv"})
    );
    assert!(rec["exit_code"].is_null());
    assert!(!d.path().join("out/ran.txt").exists());
}

#[test]
fn bad_flags_and_bad_jobs_fail_before_anything_happens() {
    let d = job_dir(&native_job("true", ""));
    let cases: &[(&[&str], &str)] = &[
        (
            &["ssh", "job.json"],
            "required arguments were not provided:\n  --host",
        ),
        // Each backend takes only its own flags.
        (
            &["local", "--host", "box", "job.json"],
            "unexpected argument '--host'",
        ),
        (
            &["ssh", "--native", "job.json", "--host", "box"],
            "unexpected argument '--native'",
        ),
        (
            &["ssh", "job.json", "--host", "box", "--no-build"],
            "unexpected argument '--no-build'",
        ),
        (
            &["local", "job.json", "--native", "--no-build"],
            "'--native' cannot be used with '--no-build'",
        ),
        (
            &["ssh", "job.json", "--host", "a b"],
            "--host: found \"a b\"",
        ),
        (
            &["local", "job.json", "--native", "--nope=1"],
            "variable \"nope\"",
        ),
        (&["local", "missing.json", "--native"], "missing.json"),
    ];
    for (args, want) in cases {
        let out = run_expect(&mut runplz(d.path(), args), 2);
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(!d.path().join("out").exists());
    let bad = job_dir(
        r#"{"name": "t", "image": {"from_registry": "x"}, "run": "true", "brev": {"on_finish": "destroy"}}"#,
    );
    let out = run_expect(
        &mut runplz(bad.path(), &["local", "job.json", "--native"]),
        2,
    );
    assert!(
        stderr(&out).contains("brev.on_finish: found \"destroy\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn local_native_runs_the_example_job() {
    let d = shm_tempdir();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
    for f in ["job.json", "train.py"] {
        std::fs::copy(ex.join(f), d.path().join(f)).unwrap();
    }
    let out = run_expect(
        &mut runplz(d.path(), &["local", "job.json", "--native", "--steps=5"]),
        0,
    );
    let rec = json(&out);
    assert_eq!(rec["mode"], "native");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("out/result.json")).unwrap())
            .unwrap();
    assert_eq!(result["steps"], 5);
    assert_eq!(result["greeting"], "hello");
}

#[test]
fn local_docker_builds_and_runs_in_a_container() {
    let base = docker_base();
    let job = format!(
        r#"{{"name": "t-docker", "image": {{"from_registry": "{base}", "steps": [{{"run_commands": ["echo baked > /baked.txt"]}}]}},
            "run": "cat /baked.txt data.txt > \"$RUNPLZ_OUT/r.txt\"; pwd >> \"$RUNPLZ_OUT/r.txt\"; exit 4",
            "local": {{"network": "none"}}}}"#
    );
    let d = job_dir(&job);
    let out = run_expect(&mut runplz(d.path(), &["local", "job.json"]), 4);
    assert_eq!(json(&out)["mode"], "docker");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/r.txt")).unwrap(),
        "baked\npayload\n/workspace\n"
    );
    // --no-build reuses the image.
    let out = run_expect(
        &mut runplz(d.path(), &["local", "job.json", "--no-build"]),
        4,
    );
    let rec = json(&out);
    let steps: Vec<&str> = rec["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["acquire", "probe", "run", "collect"]);
}

#[test]
fn local_docker_without_an_engine_names_both_fixes() {
    let d = job_dir(r#"{"name": "t", "image": {"from_registry": "debian"}, "run": "true"}"#);
    let mut c = runplz(d.path(), &["local", "job.json"]);
    c.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    let out = run_expect(&mut c, 5);
    let err = stderr(&out);
    assert!(
        err.contains("docker cannot reach an engine") && err.contains("--native"),
        "{err}"
    );
    assert!(err.contains("\"use_docker\": false"), "{err}");
}

#[test]
fn ssh_docker_builds_on_the_box_and_runs_in_a_container() {
    let base = docker_base();
    let b = SshBox::start_docker();
    let job = format!(
        r#"{{"name": "t-sshdocker", "image": {{"from_registry": "{base}", "steps": [{{"env": {{"IN_IMAGE": "yes"}}}}]}},
            "run": ["sh", "-c", "echo \"$IN_IMAGE $GREETING $0\" > \"$RUNPLZ_OUT/r.txt\"; ls /workspace >> \"$RUNPLZ_OUT/r.txt\"", "{{word}}"],
            "args": {{"word": "x"}}, "env": {{"GREETING": "hi there"}}, "ssh": {{"network": "none"}}}}"#
    );
    let d = job_dir(&job);
    let mut c = runplz(d.path(), &["ssh", "job.json", "--var", "word=a b"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 0);
    assert_eq!(json(&out)["mode"], "docker");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/r.txt")).unwrap(),
        "yes hi there a b\ndata.txt\njob.json\n"
    );
}

#[test]
fn the_plan_script_does_what_runplz_ssh_does() {
    let b = SshBox::start();
    let d = job_dir(&native_job(
        "cat data.txt > \"$RUNPLZ_OUT/copy.txt\"; echo \"$GREETING\" > \"$RUNPLZ_OUT/env.txt\"; pwd > \"$RUNPLZ_OUT/pwd.txt\"; exit 6",
        "",
    ));
    let mut c = runplz(d.path(), &["ssh", "job.json", "--plan"]);
    c.args(b.tool_args());
    let plan = run_expect(&mut c, 0);
    let script = String::from_utf8(plan.stdout).unwrap();
    // Records chain through files: every rp-exec whose record is kept says --json.
    for l in script
        .lines()
        .filter(|l| l.contains(".json\"") && l.starts_with("rp-exec"))
    {
        assert!(l.starts_with("rp-exec --json"), "{l}");
    }
    assert!(script.contains("rp-exec --json"), "{script}");
    assert!(
        !script.contains("do-not-ship") && !script.contains("it's $(not) run"),
        "{script}"
    );
    std::fs::write(d.path().join("run.sh"), &script).unwrap();
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap());
    let mut sh = Command::new("sh");
    sh.arg("run.sh").current_dir(d.path()).env("PATH", &path);
    let out = run_expect(&mut sh, 6);
    let rec = json(&out);
    assert_eq!(rec["exit_code"], 6);
    let via_plan = std::fs::read_to_string(d.path().join("out/env.txt")).unwrap();
    // As runplz: the job ran in the run's own copy of the code, which went with the run.
    let pwd = std::fs::read_to_string(d.path().join("out/pwd.txt")).unwrap();
    let id = rec["run_id"].as_str().unwrap();
    assert!(
        pwd.trim_end().ends_with(&format!("/runplz-runs/{id}")),
        "{pwd}"
    );
    assert_eq!(b.ssh("ls -A runplz-runs"), "");
    std::fs::remove_dir_all(d.path().join("out")).unwrap();
    let mut c = runplz(d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    run_expect(&mut c, 6);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/env.txt")).unwrap(),
        via_plan
    );
    assert_eq!(via_plan, "it's $(not) run\n");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/copy.txt")).unwrap(),
        "payload\n"
    );
}

#[test]
fn the_local_build_context_never_holds_secrets() {
    let d = job_dir(
        r#"{"name": "t", "image": {"from_registry": "debian"}, "run": "true", "sync": {"exclude": ["big/"]}}"#,
    );
    let p = d.path();
    for f in [
        "sub/.env.local",
        "keys/id_rsa",
        ".aws/credentials",
        "big/blob.bin",
        "src/main.py",
    ] {
        std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
        std::fs::write(p.join(f), "x").unwrap();
    }
    let mut c = bin_cmd("rp-image");
    c.current_dir(p)
        .args(["job.json", "--format", "dockerfile", "--context", "ctx.tar"]);
    let out = run_expect(&mut c, 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("FROM debian"));
    // Twice: the first run's ctx.tar (inside the repo) must not end up in the second.
    run_expect(&mut c, 0);
    let mut names: Vec<String> = tar::Archive::new(std::fs::File::open(p.join("ctx.tar")).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".runplz.Dockerfile", "data.txt", "job.json", "src/main.py"]
    );
}

#[test]
fn local_docker_timeout_kills_the_container() {
    let base = docker_base();
    let job = format!(
        r#"{{"name": "t-dtimeout", "image": {{"from_registry": "{base}"}},
            "run": "echo partial > \"$RUNPLZ_OUT/p.txt\"; trap '' TERM; sleep 300", "timeout": 2,
            "local": {{"network": "none"}}}}"#
    );
    let d = job_dir(&job);
    let out = run_expect(&mut runplz(d.path(), &["local", "job.json"]), 124);
    let rec = json(&out);
    assert_eq!(rec["ending"]["kind"], "timed_out");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/p.txt")).unwrap(),
        "partial\n"
    );
    let name = format!("runplz-{}", rec["run_id"].as_str().unwrap());
    assert_eq!(containers_named(&name), "", "container {name} survived");
}

#[test]
fn a_doomed_precondition_stops_the_run_before_anything_ships() {
    let b = SshBox::start();
    let d = job_dir(&native_job(
        "echo ran > \"$RUNPLZ_OUT/ran.txt\"",
        r#", "preconditions": {"shm_gb": 100000}"#,
    ));
    let mut c = runplz(d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 3);
    assert!(
        stderr(&out).contains("refusing to start a doomed run"),
        "{}",
        stderr(&out)
    );
    let rec = json(&out);
    assert_eq!(
        rec["ending"],
        serde_json::json!({"kind": "failed", "step": "probe"})
    );
    assert!(rec["exit_code"].is_null());
    assert_eq!(b.ssh("ls -a ~ | grep -c '^runplz' || true").trim(), "0");
}

#[test]
fn job_env_values_never_show_on_a_command_line_of_the_box() {
    let b = SshBox::start();
    let job = r#"{"name": "t", "image": {"from_registry": "debian:bookworm"},
                  "run": "echo \"$API_TOKEN\" > \"$RUNPLZ_OUT/seen.txt\"; ps -eo args > \"$RUNPLZ_OUT/ps.txt\"",
                  "env": {"API_TOKEN": "tok-5ecr3t 'quoted' $(x)"}, "ssh": {"use_docker": false}}"#;
    let d = job_dir(job);
    let mut c = runplz(d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 0);
    let seen = std::fs::read_to_string(d.path().join("out/seen.txt")).unwrap();
    assert_eq!(seen, "tok-5ecr3t 'quoted' $(x)\n");
    let ps = std::fs::read_to_string(d.path().join("out/ps.txt")).unwrap();
    assert!(ps.contains("ps -eo args"), "{ps}");
    assert!(
        !ps.contains("5ecr3t"),
        "the token is visible in ps on the box:\n{ps}"
    );
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!printed.contains("5ecr3t"), "{printed}");
}

#[test]
fn ctrl_c_during_a_setup_step_stops_the_run_with_130() {
    let b = SshBox::start();
    let job = r#"{"name": "t", "image": {"from_registry": "debian:bookworm", "steps": [{"run_commands": ["touch setup-started; sleep 300"]}]},
                  "run": "echo ran > \"$RUNPLZ_OUT/ran.txt\"", "ssh": {"use_docker": false}}"#;
    let d = job_dir(job);
    let out = ctrl_c_when(&b, d.path(), "runplz-runs/t-*/setup-started");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(
        rec["ending"],
        serde_json::json!({"kind": "interrupted", "signal": 2, "step": "venv"})
    );
    assert!(rec["exit_code"].is_null());
    assert!(!d.path().join("out/ran.txt").exists());
    assert_eq!(
        b.ssh("pgrep -u \"$(id -u)\" -f 'slee[p] 300' | wc -l")
            .trim(),
        "0"
    );
}

#[test]
fn ssh_docker_timeout_removes_the_container() {
    let base = docker_base();
    let b = SshBox::start_docker();
    let job = format!(
        r#"{{"name": "t-sshdtimeout", "image": {{"from_registry": "{base}"}},
            "run": "echo partial > \"$RUNPLZ_OUT/p.txt\"; sleep 300", "timeout": 10,
            "ssh": {{"network": "none"}}}}"#
    );
    let d = job_dir(&job);
    let mut c = runplz(d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 124);
    let rec = json(&out);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/p.txt")).unwrap(),
        "partial\n"
    );
    let name = format!("runplz-{}", rec["run_id"].as_str().unwrap());
    let ps = b.ssh(&format!(
        "docker ps -a --filter name={name} --format '{{{{.Names}}}}'"
    ));
    assert_eq!(ps.trim(), "", "container {name} survived");
}

#[test]
fn the_plan_uses_the_jobs_ssh_settings_and_keeps_env_values_off_command_lines() {
    let b = SshBox::start();
    let d = job_dir("{}");
    b.job_with_ssh(d.path());
    // Turn the helper's job into one that writes its env and an output.
    let mut job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("job.json")).unwrap()).unwrap();
    job["run"] = serde_json::json!(
        "echo \"$TOKEN\" > \"$RUNPLZ_OUT/t.txt\"; ps -eo args > \"$RUNPLZ_OUT/ps.txt\""
    );
    job["env"] = serde_json::json!({"TOKEN": "s3cr3t value"});
    job["ssh"]["use_docker"] = serde_json::json!(false);
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    let bare = b.bare_config();
    let mut c = runplz(d.path(), &["ssh", "job.json", "--host", "box", "--plan"]);
    c.arg("--ssh-config").arg(&bare);
    let plan = run_expect(&mut c, 0);
    let script = String::from_utf8(plan.stdout).unwrap();
    assert!(!script.contains("s3cr3t"), "{script}");
    std::fs::write(d.path().join("run.sh"), &script).unwrap();
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap());
    let mut sh = Command::new("sh");
    sh.arg("run.sh").current_dir(d.path()).env("PATH", &path);
    let out = run_expect(&mut sh, 0);
    assert_eq!(json(&out)["exit_code"], 0);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/t.txt")).unwrap(),
        "s3cr3t value\n"
    );
    let ps = std::fs::read_to_string(d.path().join("out/ps.txt")).unwrap();
    assert!(!ps.contains("s3cr3t"), "{ps}");
}

#[test]
fn a_docker_job_on_a_box_without_docker_stops_before_anything_ships() {
    let b = SshBox::start_hiding("", false, &[&crate::support::which("docker")]);
    assert_ne!(
        b.ssh_raw("/bin/sh -c 'command -v docker'").status.code(),
        Some(0),
        "docker is still visible"
    );
    let d =
        job_dir(r#"{"name": "t", "image": {"from_registry": "debian:bookworm"}, "run": "true"}"#);
    let mut c = runplz(d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 3);
    let err = stderr(&out);
    assert!(
        err.contains("has no usable `docker`") && err.contains("\"use_docker\": false"),
        "{err}"
    );
    assert_eq!(json(&out)["ending"]["step"], "probe");
    assert_eq!(b.ssh("ls -a ~ | grep -c '^runplz' || true").trim(), "0");
}

/// The ssh calls of a `runplz ssh` run of an unchanged tree (issue #14: each is a round
/// trip; 11, then 9 before): the probe; the sync's lock, which also brings the box's
/// manifest and the folder's token (the same as the last sync left: no rsync at all) and
/// takes the run's copy in the same call; the venv step; the job (one call: it ends while the launch follows it); the
/// outputs' listing and rsync; one call that removes both the outputs and the run's copy on
/// the box. Not counted: `-O exit`, closing the connection.
#[test]
fn an_unchanged_run_on_a_box_costs_a_known_number_of_ssh_calls() {
    let b = SshBox::start();
    let d = job_dir(&native_job("echo hi > \"$RUNPLZ_OUT/r.txt\"", ""));
    let calls = crate::support::SshCalls::new();
    let run = || {
        calls.clear();
        let mut c = runplz(d.path(), &["ssh", "job.json"]);
        c.args(b.tool_args()).env("PATH", calls.path());
        let out = run_expect(&mut c, 0);
        assert_eq!(json(&out)["outputs"]["files"], 1);
        (calls.count(), calls.log())
    };
    // The first run ships the tree; the second finds it unchanged.
    run();
    let (n, log) = run();
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/r.txt")).unwrap(),
        "hi\n"
    );
    assert_eq!(
        b.unread_runs() + &b.ssh("ls -A ~/runplz-out 2>/dev/null; ls -A ~/runplz"),
        "t\n",
        "{log}"
    );
    assert_eq!(n, 7, "{log}");
    // The run's copy went into the trash, which empties itself in the background.
    assert_eq!(
        b.ssh("for i in $(seq 500); do [ -z \"$(ls -A ~/.runplz/trash)\" ] && break; sleep 0.01; done; ls -A ~/.runplz/trash"),
        ""
    );
}
