//! Secrets passed without writing them down (issue #15), tested as an adversary would look
//! for them: the job's `pass_env`, `runplz --env` and `--env-file` reach the job on a real
//! box, and their sentinel values never show in the record, stderr, the run state, a `--plan`
//! script, `ps` on the box, or any file left in the box user's home; and what runplz leaves
//! on a box cannot be read by another user of it.
use crate::support::{bin_dir, json, run_expect, shm_tempdir, stderr, SshBox, TestEnv};
use std::path::Path;
use std::process::Command;

/// The sentinels: lower case, so the job's upper-cased echo of them never matches.
const PASS_ENV: &str = "sntl-aaa1-passenv";
const FLAG: &str = "sntl-bbb2-flag";
const LOSES: &str = "sntl-ccc3-loses";
const FILE_P3: &str = "sntl-ddd3-file";
const FILE_P4: &str = "sntl-eee4-file";
const ALL: &[&str] = &[PASS_ENV, FLAG, LOSES, FILE_P3, FILE_P4];

/// The job: `./go.sh` (executable: its owner's x bit must survive the sync) writes what it
/// got, upper-cased, the modes of its outputs folders and `ps` of the whole machine.
fn job_dir(extra: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    let job = format!(
        r#"{{"name": "sec", "image": {{"from_registry": "debian:bookworm"}}, "run": "./go.sh",
            "env": {{"P1": "job-literal", "MODE": "offline"}}, "pass_env": ["P1", "P3"],
            "ssh": {{"use_docker": false}}, "local": {{"use_docker": false}} {extra}}}"#
    );
    std::fs::write(d.path().join("job.json"), job).unwrap();
    let go = d.path().join("go.sh");
    std::fs::write(
        &go,
        "#!/bin/sh\nprintf '%s|%s|%s|%s|%s\\n' \"$P1\" \"$P2\" \"$P3\" \"$P4\" \"$MODE\" | tr a-z A-Z > \"$RUNPLZ_OUT/seen.txt\"\n\
         stat -c %a \"$RUNPLZ_OUT\" \"$(dirname \"$RUNPLZ_OUT\")\" > \"$RUNPLZ_OUT/modes.txt\"\n\
         ps -eo args > \"$RUNPLZ_OUT/ps.txt\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&go, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    d
}

/// An env file outside the job's folder (so it never ships).
fn env_file() -> tempfile::TempDir {
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("env.json"),
        serde_json::json!({"P3": FILE_P3, "P4": FILE_P4}).to_string(),
    )
    .unwrap();
    d
}

/// `runplz` in `world`, with the sentinels in its environment: P1 for `pass_env`, P2 for
/// `--env P2`, P3 (which the env file beats).
fn runplz(world: &TestEnv, dir: &Path, args: &[&str]) -> Command {
    let mut c = world.cmd("runplz");
    c.current_dir(dir)
        .args(crate::runplz::with_json(args))
        .env("P1", PASS_ENV)
        .env("P2", FLAG)
        .env("P3", LOSES);
    c
}

fn assert_clean(what: &str, text: &str) {
    for s in ALL {
        assert!(!text.contains(s), "{what} holds the secret {s}:\n{text}");
    }
}

/// Every file under `dir` (recursively), read as bytes: none holds a sentinel.
fn assert_tree_clean(what: &str, dir: &Path) {
    for e in walk(dir) {
        let bytes = std::fs::read(&e).unwrap_or_default();
        assert_clean(
            &format!("{what} {}", e.display()),
            &String::from_utf8_lossy(&bytes),
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            out.extend(walk(&e.path()));
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
    out
}

/// Run `cmd` as `nobody` (the tests run as root on the box's machine): its exit status.
fn as_nobody(cmd: &str) -> std::process::Output {
    Command::new("su")
        .args(["-s", "/bin/sh", "nobody", "-c", cmd])
        .output()
        .unwrap()
}

#[test]
fn secrets_reach_the_job_on_a_box_and_are_written_nowhere() {
    let b = SshBox::start();
    let world = TestEnv::new();
    let d = job_dir("");
    let f = env_file();
    let file = f.path().join("env.json");
    let mut c = runplz(
        &world,
        d.path(),
        &["ssh", "job.json", "--env", "P2", "--env-file"],
    );
    c.arg(&file).args(b.tool_args());
    let out = run_expect(&mut c, 0);
    // Precedence: job env < pass_env < --env-file < --env; job env still there.
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/seen.txt")).unwrap(),
        "SNTL-AAA1-PASSENV|SNTL-BBB2-FLAG|SNTL-DDD3-FILE|SNTL-EEE4-FILE|OFFLINE\n"
    );
    let rec = json(&out);
    assert_eq!(
        rec["env_passed"],
        serde_json::json!(["P1", "P2", "P3", "P4"])
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_clean("the run record", &stdout);
    assert_clean("stderr", &stderr(&out));
    // ps on the box during the job (this machine is the box: it shows the client too).
    let ps = std::fs::read_to_string(d.path().join("out/ps.txt")).unwrap();
    assert!(ps.contains("ps -eo args"), "{ps}");
    assert_clean("ps on the box", &ps);
    // The run state, and everything else in runplz's own world here.
    let runs = world.state_dir().join("runs");
    // The state, its events and the job's logs (plain and timestamped): read whole below,
    // like everything here.
    let mut names: Vec<String> = walk(&runs)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .map(|n| {
            n.split_once('.')
                .map(|(_, ext)| ext.to_string())
                .unwrap_or(n)
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["driver.log", "events.jsonl", "json", "log"],
        "{}",
        runs.display()
    );
    // The job as it ran is in the run state with its env values masked, names kept.
    let state = walk(&runs)
        .into_iter()
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        st["job_spec"]["env"],
        serde_json::json!({"P1": "***", "MODE": "***"})
    );
    assert!(!st.to_string().contains("job-literal"), "{st}");
    assert_tree_clean("runplz's world", world.root());
    // Whatever the run left in the box user's home (read as root, bypassing permissions).
    assert!(b.home.join("runplz/sec/job.json").is_file());
    assert_tree_clean("the box user's home", &b.home);
}

#[test]
fn what_runplz_leaves_on_a_box_is_private_to_the_box_user() {
    let b = SshBox::start();
    let world = TestEnv::new();
    let d = job_dir("");
    let mut c = runplz(&world, d.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    run_expect(&mut c, 0);
    // The run's outputs folder and ~/runplz-out, while the job ran.
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/modes.txt")).unwrap(),
        "700\n700\n"
    );
    let h = b.home.display().to_string();
    // An open home, as on many boxes, and a control file: another user can read what
    // runplz does not protect, so a failed read below is runplz's doing.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "chmod 755 {h} && echo open > {h}/control.txt && chmod 644 {h}/control.txt"
        ))
        .output()
        .unwrap();
    assert!(o.status.success());
    let ctl = as_nobody(&format!("cat {h}/control.txt"));
    assert_eq!(String::from_utf8_lossy(&ctl.stdout), "open\n", "{ctl:?}");
    for (what, cmd) in [
        (
            "the synced job file",
            format!("cat {h}/runplz/sec/job.json"),
        ),
        ("the synced tree", format!("ls {h}/runplz/sec")),
        ("the workspaces", format!("ls {h}/runplz")),
        ("the outputs", format!("ls {h}/runplz-out")),
        ("the venvs", format!("ls {h}/.runplz/venvs")),
        ("run state", format!("ls {h}/.runplz")),
    ] {
        let o = as_nobody(&cmd);
        assert!(
            !o.status.success(),
            "another user can read {what} ({cmd}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    // The modes themselves, in case a folder above is what blocks: each is private on its
    // own, and synced files keep their owner's bits (go.sh still runs: the job ran).
    let mode = |p: &str| {
        let o = Command::new("stat")
            .args(["-c", "%a"])
            .arg(b.home.join(p))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    for dir in [
        "runplz",
        "runplz/sec",
        "runplz-out",
        ".runplz",
        ".runplz/venvs",
    ] {
        assert_eq!(mode(dir), "700", "~/{dir}");
    }
    assert_eq!(mode("runplz/sec/job.json"), "600");
    assert_eq!(mode("runplz/sec/go.sh"), "700");
    assert_eq!(mode("runplz/sec/.rp-sync-manifest"), "600");
}

#[test]
fn the_plan_reads_secrets_from_its_own_environment_and_prints_none() {
    let b = SshBox::start();
    let world = TestEnv::new();
    let d = job_dir("");
    // The job's ssh settings reach the box (the plan carries no --ssh-config of its own).
    let mut job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("job.json")).unwrap()).unwrap();
    let with_ssh: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(b.job_with_ssh(shm_tempdir().path())).unwrap(),
    )
    .unwrap();
    job["ssh"] = with_ssh["ssh"].clone();
    job["ssh"]["use_docker"] = serde_json::json!(false);
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    let f = env_file();
    let file = f.path().join("env.json");
    let bare = b.bare_config();
    let mut c = runplz(
        &world,
        d.path(),
        &["ssh", "job.json", "--host", "box", "--plan", "--env", "P2"],
    );
    c.arg("--env-file")
        .arg(&file)
        .arg("--ssh-config")
        .arg(&bare);
    let plan = run_expect(&mut c, 0);
    let script = String::from_utf8(plan.stdout.clone()).unwrap();
    assert_clean("the plan", &script);
    assert_clean("the plan's stderr", &stderr(&plan));
    std::fs::write(d.path().join("run.sh"), &script).unwrap();
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap());
    // Without P1 in its environment the script stops before anything happens.
    let mut sh = world.program("sh");
    sh.arg("run.sh")
        .current_dir(d.path())
        .env("PATH", &path)
        .env("P2", FLAG)
        .env("P3", LOSES);
    let out = run_expect(&mut sh, 2);
    assert!(stderr(&out).contains("P1 is not set"), "{}", stderr(&out));
    assert!(!b.home.join("runplz").exists(), "the plan shipped anyway");
    // With it, the job gets what runplz would have given it.
    let mut sh = world.program("sh");
    sh.arg("run.sh")
        .current_dir(d.path())
        .env("PATH", &path)
        .env("P1", PASS_ENV)
        .env("P2", FLAG)
        .env("P3", LOSES);
    let out = run_expect(&mut sh, 0);
    assert_eq!(json(&out)["exit_code"], 0);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/seen.txt")).unwrap(),
        "SNTL-AAA1-PASSENV|SNTL-BBB2-FLAG|SNTL-DDD3-FILE|SNTL-EEE4-FILE|OFFLINE\n"
    );
    let ps = std::fs::read_to_string(d.path().join("out/ps.txt")).unwrap();
    assert_clean("ps on the box under the plan", &ps);
    assert_clean("the plan's output", &String::from_utf8_lossy(&out.stdout));
    assert_tree_clean("the box user's home after the plan", &b.home);
    // A value on the command line has no place in a plan.
    let mut c = runplz(
        &world,
        d.path(),
        &[
            "ssh", "job.json", "--host", "box", "--plan", "--env", "P5=x",
        ],
    );
    let out = run_expect(&mut c, 2);
    assert!(stderr(&out).contains("--env P5=..."), "{}", stderr(&out));
}

#[test]
fn an_unset_or_bad_name_stops_the_run_before_anything_happens() {
    let world = TestEnv::new();
    let d = job_dir("");
    let runs = world.state_dir().join("runs");
    // pass_env's P3 unset: exit 2 naming it, no run state, nothing ran.
    let mut c = runplz(&world, d.path(), &["local", "job.json"]);
    c.env_remove("P3");
    let out = run_expect(&mut c, 2);
    let err = stderr(&out);
    assert!(err.contains("pass_env: P3 is not set"), "{err}");
    assert_clean("stderr", &err);
    assert!(out.stdout.is_empty());
    // A bare --env NAME unset.
    let mut c = runplz(
        &world,
        d.path(),
        &["local", "job.json", "--env", "NOPE_UNSET"],
    );
    let out = run_expect(&mut c, 2);
    assert!(stderr(&out).contains("--env NOPE_UNSET: NOPE_UNSET is not set"));
    // Bad names: not an identifier, or runplz's own; the value is never shown.
    for (args, says) in [
        (&["--env", "BAD-NAME=sntl-aaa1-passenv"][..], "\"BAD-NAME\""),
        (&["--env", "RUNPLZ_OUT"][..], "outside RUNPLZ_*"),
    ] {
        let mut c = runplz(&world, d.path(), &["local", "job.json"]);
        c.args(args);
        let out = run_expect(&mut c, 2);
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert_clean("stderr", &stderr(&out));
    }
    for (pass, says) in [
        (r#"["RUNPLZ_RUN_ID"]"#, "outside RUNPLZ_*"),
        (r#"["MY-VAR"]"#, "shell identifier"),
        (r#"["A", "A"]"#, "a second time"),
    ] {
        let j = shm_tempdir();
        std::fs::write(
            j.path().join("job.json"),
            format!(r#"{{"name": "x", "image": {{"from_registry": "debian:bookworm"}}, "run": "true", "pass_env": {pass}}}"#),
        )
        .unwrap();
        let mut c = runplz(&world, j.path(), &["local", "job.json"]);
        let out = run_expect(&mut c, 2);
        assert!(
            stderr(&out).contains("pass_env[") && stderr(&out).contains(says),
            "{}",
            stderr(&out)
        );
    }
    // An env file with a bad key, or one that is not there.
    let f = shm_tempdir();
    std::fs::write(
        f.path().join("e.json"),
        r#"{"RUNPLZ_X": "sntl-aaa1-passenv"}"#,
    )
    .unwrap();
    let mut c = runplz(&world, d.path(), &["local", "job.json", "--env-file"]);
    c.arg(f.path().join("e.json"));
    let out = run_expect(&mut c, 2);
    assert!(
        stderr(&out).contains("outside RUNPLZ_*"),
        "{}",
        stderr(&out)
    );
    assert_clean("stderr", &stderr(&out));
    let mut c = runplz(&world, d.path(), &["local", "job.json", "--env-file"]);
    c.arg(f.path().join("missing.json"));
    run_expect(&mut c, 2);
    assert!(walk(&runs).is_empty(), "a run state was written");
    assert!(!d.path().join("out").exists());
}

#[test]
fn a_value_given_to_env_beats_the_file_locally() {
    let world = TestEnv::new();
    let d = job_dir("");
    let f = env_file();
    let mut c = runplz(
        &world,
        d.path(),
        &[
            "local",
            "job.json",
            "--env",
            "P4=from-flag",
            "--env",
            "P2",
            "--env-file",
        ],
    );
    c.arg(f.path().join("env.json"));
    let out = run_expect(&mut c, 0);
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/seen.txt")).unwrap(),
        "SNTL-AAA1-PASSENV|SNTL-BBB2-FLAG|SNTL-DDD3-FILE|FROM-FLAG|OFFLINE\n"
    );
    assert_eq!(
        json(&out)["env_passed"],
        serde_json::json!(["P1", "P2", "P3", "P4"])
    );
    assert_clean("stderr", &stderr(&out));
}

#[test]
fn a_credential_written_into_env_gets_a_warning_that_never_shows_it() {
    let world = TestEnv::new();
    let d = shm_tempdir();
    let token = "hf_Sntl0123456789abcdefXYZ";
    let job = serde_json::json!({
        "name": "w", "image": {"from_registry": "debian:bookworm", "steps": [{"env": {"GH": "ghp_Sntl0123456789abcdef"}}]}, "run": "true",
        "env": {"HUB": token, "WANDB_API_KEY": "sntl-wandb-value", "MODE": "offline", "EMPTY_TOKEN": ""},
    });
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    let mut c = world.cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--plan"]);
    let out = run_expect(&mut c, 0);
    let err = stderr(&out);
    for k in ["env.HUB", "env.WANDB_API_KEY", "image.steps[0].env.GH"] {
        assert!(
            err.lines()
                .any(|l| l.contains("warning") && l.contains(k) && l.contains("pass_env")),
            "no warning about {k}:\n{err}"
        );
    }
    for k in ["env.MODE", "env.EMPTY_TOKEN"] {
        assert!(!err.contains(k), "{err}");
    }
    assert!(
        !err.contains(token) && !err.contains("sntl-wandb-value"),
        "{err}"
    );
    assert!(!err.contains("ghp_Sntl"), "{err}");
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(!script.contains(token), "{script}");
    // A token given to --env where a name belongs is refused without being echoed.
    let mut c = world.cmd("runplz");
    c.current_dir(d.path()).args([
        "local",
        "job.json",
        "--json",
        "--env",
        "hf_Sntl0123456789abcdefXYZ",
    ]);
    let out = run_expect(&mut c, 2);
    assert!(
        stderr(&out).contains("shaped like a token"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("Sntl"), "{}", stderr(&out));
}

#[test]
fn passed_variables_reach_a_docker_job_by_name_only() {
    let base = std::env::var("RUNPLZ_TEST_DOCKER_BASE").expect(
        "the docker tests need an engine: run `eval \"$(scripts/podman-env)\"` first (scripts/test does)",
    );
    let world = TestEnv::new();
    let d = shm_tempdir();
    let job = serde_json::json!({
        "name": "sec-docker", "image": {"from_registry": base, "steps": [{"env": {"P1": "baked"}}]},
        "run": "printf '%s|%s|%s\\n' \"$P1\" \"$P2\" \"$P4\" | tr a-z A-Z > \"$RUNPLZ_OUT/seen.txt\"",
        "pass_env": ["P1"], "local": {"network": "none"},
    });
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    let f = env_file();
    let mut c = runplz(
        &world,
        d.path(),
        &["local", "job.json", "--env", "P2", "--env-file"],
    );
    c.arg(f.path().join("env.json"));
    let out = run_expect(&mut c, 0);
    // pass_env beats the image's ENV; --env and the file arrive too.
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/seen.txt")).unwrap(),
        "SNTL-AAA1-PASSENV|SNTL-BBB2-FLAG|SNTL-EEE4-FILE\n"
    );
    assert_eq!(
        json(&out)["env_passed"],
        serde_json::json!(["P1", "P2", "P3", "P4"])
    );
    assert_clean("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_clean("stderr", &stderr(&out));
}
