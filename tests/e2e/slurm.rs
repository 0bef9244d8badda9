//! `runplz slurm`, end to end, on a real Slurm cluster started once for this test binary
//! (support/slurm.rs): two nodes with fake GPUs, `--host local` (runplz on the login node)
//! and over ssh to the loopback sshd as the login node.
use crate::support::slurm::{cluster, Cluster};
use crate::support::{bin_cmd, json, run_expect, shm_tempdir, stderr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn job_dir(job: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    std::fs::write(d.path().join("job.json"), job).unwrap();
    std::fs::write(d.path().join(".env"), "API_KEY=do-not-ship\n").unwrap();
    d
}

/// A job named `name` (unique per test, so its Slurm jobs can be told apart) running `run`.
fn job(name: &str, run: &str, extra: &str) -> String {
    format!(
        r#"{{"name": "{name}", "image": {{"from_registry": "debian:bookworm"}}, "run": {} {extra}}}"#,
        serde_json::to_string(run).unwrap()
    )
}

fn runplz(c: &Cluster, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = bin_cmd("runplz");
    cmd.current_dir(dir)
        .env("SLURM_CONF", c.conf())
        .args(["slurm", "job.json", "--host", "local", "--json"])
        .args(args);
    cmd
}

/// The states of the Slurm jobs named `runplz-<name>`.
fn states_of(c: &Cluster, name: &str) -> Vec<String> {
    c.squeue("%j %T")
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("runplz-{name} ")))
        .map(str::to_string)
        .collect()
}

/// Processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let o = Command::new("pgrep")
        .args(["-af", marker])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(str::to_string)
        .collect()
}

#[test]
fn slurm_local_job_completes_streams_its_output_and_collects() {
    let c = cluster();
    let d = job_dir(&job(
        "slok",
        "echo \"hello $GREETING from job $SLURM_JOB_ID rank $RUNPLZ_NODE_RANK of $RUNPLZ_NODE_COUNT\"; echo to-stderr >&2; echo \"$SECRET_X\" > $RUNPLZ_OUT/secret.txt; echo \"$CUDA_VISIBLE_DEVICES\" > $RUNPLZ_OUT/gpus.txt; echo {n} > $RUNPLZ_OUT/n.txt; echo \"${{RPT_CALLER_SENTINEL-unset}} $HOME\" > $RUNPLZ_OUT/env.txt",
        r#", "args": {"n": "1"}, "env": {"GREETING": "it's $(not) run"}, "timeout": 120,
           "resources": {"min_cpu": 1, "min_memory": 0.25, "gpu": "T4", "num_gpus": 1}, "slurm": {"gres_types": {"T4": "fake"}}"#,
    ));
    let out = run_expect(
        runplz(c, d.path(), &["--env", "SECRET_X", "--n=7"])
            .env("SECRET_X", "s3cr3t-value")
            // The caller's own environment (credentials, say) never reaches the job.
            .env("RPT_CALLER_SENTINEL", "leaked-from-caller"),
        0,
    );
    let rec = json(&out);
    let err = stderr(&out);
    assert_eq!(rec["backend"], "slurm");
    assert_eq!(rec["host"], "local");
    assert_eq!(rec["exit_code"], 0);
    assert_eq!(rec["ending"]["kind"], "exited");
    assert!(
        err.contains("hello it's $(not) run from job") && err.contains("rank 0 of 1"),
        "{err}"
    );
    assert!(err.contains("to-stderr"), "{err}");
    assert!(!err.contains("s3cr3t-value"), "{err}");
    let o = d.path().join("out");
    assert_eq!(
        std::fs::read_to_string(o.join("secret.txt")).unwrap(),
        "s3cr3t-value\n"
    );
    assert_eq!(std::fs::read_to_string(o.join("n.txt")).unwrap(), "7\n");
    // ... while the few plain names it passes on (HOME, PATH...) do.
    let env = std::fs::read_to_string(o.join("env.txt")).unwrap();
    assert!(env.starts_with("unset /") && env.contains("/home"), "{env}");
    // The fake GPU was scheduled: Slurm set CUDA_VISIBLE_DEVICES.
    assert_eq!(std::fs::read_to_string(o.join("gpus.txt")).unwrap(), "0\n");
    assert_eq!(rec["outputs"]["files"], 4);
    assert_eq!(states_of(c, "slok"), ["COMPLETED"]);
}

#[test]
fn slurm_nonzero_exit_is_runplz_exit_code() {
    let c = cluster();
    let d = job_dir(&job("slfail", "echo failing; exit 3", ""));
    let out = run_expect(&mut runplz(c, d.path(), &[]), 3);
    let rec = json(&out);
    assert_eq!(rec["exit_code"], 3);
    assert_eq!(
        rec["ending"],
        serde_json::json!({"kind": "exited", "code": 3})
    );
    assert!(stderr(&out).contains("failing"));
    assert_eq!(states_of(c, "slfail"), ["FAILED"]);
}

#[test]
fn slurm_deadline_cancels_the_job_exits_124_and_leaves_no_process() {
    let c = cluster();
    let marker = format!("slurmdeadline{}", std::process::id());
    let d = job_dir(&job(
        "sldead",
        &format!("echo started; bash -c 'exec -a {marker} sleep 300' & sleep 300"),
        r#", "timeout": 2"#,
    ));
    let out = run_expect(&mut runplz(c, d.path(), &[]), 124);
    let rec = json(&out);
    assert_eq!(rec["ending"]["kind"], "timed_out");
    assert!(
        stderr(&out).contains("ran past its deadline"),
        "{}",
        stderr(&out)
    );
    assert_eq!(states_of(c, "sldead"), ["CANCELLED"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !processes_with(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running: {:?}",
            processes_with(&marker)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn slurm_ctrl_c_cancels_the_job_and_leaves_no_process() {
    let c = cluster();
    let marker = format!("slurmctrlc{}", std::process::id());
    let d = job_dir(&job(
        "slint",
        &format!("bash -c 'exec -a {marker} sleep 300' & touch $RUNPLZ_OUT/started; wait"),
        "",
    ));
    let child = runplz(c, d.path(), &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !d.path().join("out/started").exists() {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !processes_with(&marker).is_empty(),
        "the job's process is not running"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let rec = json(&out);
    assert_eq!(rec["ending"]["kind"], "interrupted");
    assert_eq!(states_of(c, "slint"), ["CANCELLED"]);
    // Slurm said CANCELLED only once the job's processes were gone.
    assert!(
        processes_with(&marker).is_empty(),
        "left running: {:?}",
        processes_with(&marker)
    );
}

#[test]
fn slurm_impossible_request_is_refused_before_anything_queues() {
    let c = cluster();
    let d = job_dir(&job("slnope", "true", r#", "resources": {"min_cpu": 999}"#));
    let out = run_expect(&mut runplz(c, d.path(), &[]), 3);
    let err = stderr(&out);
    assert!(
        err.contains("Slurm refused the request before queueing anything")
            && err.contains("--cpus-per-task=999"),
        "{err}"
    );
    assert!(states_of(c, "slnope").is_empty());
    // An unknown gres type too.
    let d = job_dir(&job(
        "slnogres",
        "true",
        r#", "resources": {"gpu": "H100"}, "slurm": {"gres_types": {"H100": "h100"}}"#,
    ));
    let out = run_expect(&mut runplz(c, d.path(), &[]), 3);
    assert!(
        stderr(&out).contains("--gres=gpu:h100:1"),
        "{}",
        stderr(&out)
    );
    assert!(states_of(c, "slnogres").is_empty());
}

#[test]
fn slurm_two_nodes_run_the_command_once_per_node_with_their_rank() {
    let c = cluster();
    let d = job_dir(&job(
        "sl2n",
        "echo \"$RUNPLZ_NODE_COUNT $RUNPLZ_MASTER_ADDR $SLURMD_NODENAME $FROM_JOB ${{RPT_CALLER_SENTINEL-unset}}\" > $RUNPLZ_OUT/rank-$RUNPLZ_NODE_RANK",
        r#", "env": {"FROM_JOB": "jobenv"}, "slurm": {"nodes": 2}"#,
    ));
    let out = run_expect(
        runplz(c, d.path(), &[]).env("RPT_CALLER_SENTINEL", "leaked-from-caller"),
        0,
    );
    assert_eq!(json(&out)["exit_code"], 0);
    let pid = std::process::id();
    let r0 = std::fs::read_to_string(d.path().join("out/rank-0")).unwrap();
    let r1 = std::fs::read_to_string(d.path().join("out/rank-1")).unwrap();
    assert_eq!(r0, format!("2 p{pid}n1 p{pid}n1 jobenv unset\n"));
    assert_eq!(r1, format!("2 p{pid}n1 p{pid}n2 jobenv unset\n"));
}

#[test]
fn slurm_over_ssh_syncs_submits_as_the_user_and_collects() {
    let c = cluster();
    let b = c.login_node();
    let d = job_dir(&job(
        "slssh",
        "id -un > $RUNPLZ_OUT/user.txt; cat data.txt > $RUNPLZ_OUT/data.txt; test ! -e .env; echo done-on-$SLURMD_NODENAME",
        "",
    ));
    std::fs::write(d.path().join("data.txt"), "shipped\n").unwrap();
    let mut cmd = bin_cmd("runplz");
    cmd.current_dir(d.path())
        .args([
            "slurm",
            "job.json",
            "--json",
            "--host",
            "box",
            "--ssh-config",
        ])
        .arg(&b.config);
    let out = run_expect(&mut cmd, 0);
    let rec = json(&out);
    assert_eq!(rec["host"], "box");
    assert!(rec["sync"]["files"].as_u64().unwrap() >= 2, "{rec}");
    assert!(stderr(&out).contains("done-on-p"), "{}", stderr(&out));
    let o = d.path().join("out");
    assert_eq!(
        std::fs::read_to_string(o.join("user.txt")).unwrap(),
        format!("{}\n", b.user)
    );
    assert_eq!(
        std::fs::read_to_string(o.join("data.txt")).unwrap(),
        "shipped\n"
    );
    // The run's code, outputs and Slurm folder on the login node are gone.
    let left = b.ssh(
        "ls -A runplz-runs runplz-out .runplz/slurm 2>/dev/null | grep -v ':$' | grep . || true",
    );
    assert_eq!(left.trim(), "", "left on the login node: {left}");
}

#[test]
fn slurm_own_time_limit_is_timeout_and_124() {
    // runplz's own deadline (300 s) is far; Slurm's --time=1 (the later option wins) ends
    // the job first, as TIMEOUT (about 60-80 s here: Slurm counts whole minutes).
    let c = cluster();
    let d = job_dir(&job(
        "sltime",
        "echo started; sleep 300",
        r#", "timeout": 300, "slurm": {"sbatch_args": ["--time=1"]}"#,
    ));
    let out = run_expect(&mut runplz(c, d.path(), &[]), 124);
    let rec = json(&out);
    assert_eq!(rec["ending"]["kind"], "timed_out");
    assert!(stderr(&out).contains("started"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("ran past its deadline and was cancelled"));
    assert!(
        stderr(&out).contains("Slurm ended the job at its time limit (TIMEOUT"),
        "{}",
        stderr(&out)
    );
    assert_eq!(states_of(c, "sltime"), ["TIMEOUT"]);
}

/// `runplz VERB RUN` against the test cluster.
fn verb(c: &Cluster, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = bin_cmd("runplz");
    cmd.current_dir(dir).env("SLURM_CONF", c.conf()).args(args);
    cmd
}

#[test]
fn slurm_detach_returns_after_sbatch_then_status_tail_and_collect_finish_it() {
    let c = cluster();
    let d = job_dir(&job(
        "sldet",
        "echo hello-detached; sleep 2; echo result > $RUNPLZ_OUT/r.txt; echo bye; exit 4",
        "",
    ));
    let out = run_expect(&mut runplz(c, d.path(), &["--detach"]), 0);
    let rec = json(&out);
    assert_eq!(rec["ending"]["kind"], "detached", "{rec}");
    let run = rec["run_id"].as_str().unwrap().to_string();
    assert!(stderr(&out).contains("runplz collect"), "{}", stderr(&out));
    // The job runs on without runplz; `ps` asks the cluster about it until it is collected.
    assert!(!states_of(c, "sldet").is_empty());
    let ps_state = || {
        let out = run_expect(&mut verb(c, d.path(), &["ps"]), 0);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|e| e["run_id"] == run.as_str())
            .map(|e| e["state"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(["detached", "ended"].contains(&ps_state().as_str()));
    let st = json(&run_expect(&mut verb(c, d.path(), &["status", &run]), 0));
    assert_eq!(st["backend"], "slurm");
    assert!(
        ["pending", "running", "exited"].contains(&st["state"].as_str().unwrap()),
        "{st}"
    );
    let tail = run_expect(&mut verb(c, d.path(), &["tail", "-f", &run]), 0);
    let text = String::from_utf8_lossy(&tail.stdout);
    assert!(
        text.contains("hello-detached") && text.contains("bye"),
        "{text}"
    );
    let st = json(&run_expect(&mut verb(c, d.path(), &["status", &run]), 0));
    assert_eq!(st["state"], "exited", "{st}");
    assert_eq!(st["exit_code"], 4, "{st}");
    assert_eq!(ps_state(), "ended");
    let got = json(&run_expect(&mut verb(c, d.path(), &["collect", &run]), 0));
    assert_eq!(ps_state(), "finished");
    assert_eq!(got["files"], 1, "{got}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/r.txt")).unwrap(),
        "result\n"
    );
    // The job's output outlives its folder on the cluster: collect kept it here.
    let runs = crate::support::world().state_dir().join("runs");
    assert_eq!(
        std::fs::read_to_string(runs.join(format!("{run}.log"))).unwrap(),
        "hello-detached\nbye\n"
    );
    assert!(!runs.join(format!("{run}.driver.log")).exists());
    assert_eq!(states_of(c, "sldet"), ["FAILED"]);
}

#[test]
fn slurm_kill_cancels_a_detached_job_and_leaves_no_process() {
    let c = cluster();
    let marker = format!("slurmkill{}", std::process::id());
    let d = job_dir(&job(
        "slkill",
        &format!("touch $RUNPLZ_OUT/started; exec -a {marker} sleep 300"),
        "",
    ));
    let out = run_expect(&mut runplz(c, d.path(), &["--detach"]), 0);
    let run = json(&out)["run_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !d.path().join("out/started").exists() {
        assert!(Instant::now() < deadline, "the job never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!processes_with(&marker).is_empty());
    let st = json(&run_expect(&mut verb(c, d.path(), &["kill", &run]), 0));
    assert_eq!(st["state"], "terminated", "{st}");
    assert_eq!(states_of(c, "slkill"), ["CANCELLED"]);
    assert!(
        processes_with(&marker).is_empty(),
        "left running: {:?}",
        processes_with(&marker)
    );
}

#[test]
fn slurm_detach_over_ssh_keeps_the_code_until_collect_brings_the_outputs() {
    let c = cluster();
    let b = c.login_node();
    let d = job_dir(&job(
        "sldetssh",
        "sleep 2; cat data.txt > $RUNPLZ_OUT/data.txt; echo remote-detached",
        "",
    ));
    std::fs::write(d.path().join("data.txt"), "shipped\n").unwrap();
    let mut cmd = bin_cmd("runplz");
    cmd.current_dir(d.path())
        .args([
            "slurm",
            "job.json",
            "--detach",
            "--host",
            "box",
            "--ssh-config",
        ])
        .arg(&b.config);
    let rec = json(&run_expect(&mut cmd, 0));
    assert_eq!(rec["ending"]["kind"], "detached", "{rec}");
    let run = rec["run_id"].as_str().unwrap().to_string();
    // The verbs find the login node by the run state, through the same ssh config.
    let verb = |args: &[&str]| {
        let mut v = bin_cmd("runplz");
        v.current_dir(d.path())
            .env("RUNPLZ_SSH_CONFIG", &b.config)
            .args(args);
        v
    };
    let got = json(&run_expect(&mut verb(&["collect", &run]), 0));
    assert_eq!(got["files"], 1, "{got}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/data.txt")).unwrap(),
        "shipped\n"
    );
    let st = json(&run_expect(&mut verb(&["status", &run]), 0));
    assert_eq!(st["state"], "exited", "{st}");
    assert_eq!(st["exit_code"], 0, "{st}");
    // collect removed the run's outputs, its code and its Slurm folder on the login node.
    let left = b.ssh(&format!(
        "ls -d runplz-out/{run} runplz-runs/{run} .runplz/slurm/{run} 2>/dev/null || true"
    ));
    assert_eq!(left.trim(), "", "left on the login node: {left}");
}

/// An attached slurm run keeps the job's output here as it follows it: `<run id>.log`, the
/// job's bytes, and `<run id>.driver.log`, each line stamped with its time and stream.
#[test]
fn slurm_attached_run_keeps_its_log_and_driver_log() {
    let c = cluster();
    let d = job_dir(&job(
        "sldl",
        "echo out-1; echo err-1 >&2; echo out-2; echo \"$SECRET_X\" > $RUNPLZ_OUT/s",
        r#", "timeout": 120"#,
    ));
    let state = shm_tempdir();
    let before = crate::ops::now();
    let out = run_expect(
        runplz(c, d.path(), &["--env", "SECRET_X"])
            .env("SECRET_X", "s3cr3t-sldl")
            .env("XDG_STATE_HOME", state.path()),
        0,
    );
    // The job had the secret; nothing runplz keeps here has it.
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/s")).unwrap(),
        "s3cr3t-sldl\n"
    );
    let runs = state.path().join("runplz/runs");
    for e in std::fs::read_dir(&runs).unwrap().flatten() {
        let text = std::fs::read(e.path()).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains("s3cr3t-sldl"),
            "{} has the secret",
            e.path().display()
        );
    }
    let id = json(&out)["run_id"].as_str().unwrap().to_string();
    let log = crate::ops::check_out_err_out_logs(&state.path().join("runplz"), &id, before);
    // `runplz tail` prints that copy, the job's files on the cluster gone.
    let tail = |args: &[&str]| {
        let mut v = verb(c, d.path(), args);
        v.env("XDG_STATE_HOME", state.path());
        String::from_utf8_lossy(&run_expect(&mut v, 0).stdout).into_owned()
    };
    assert_eq!(tail(&["tail", &id]), log);
    // (The two streams' order in it is as they came.)
    let last = format!("{}\n", log.lines().last().unwrap());
    assert_eq!(tail(&["tail", "-n", "1", &id]), last);
}
