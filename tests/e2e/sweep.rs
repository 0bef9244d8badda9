//! `runplz <backend> JOB --sweep FILE`: one run per arg set, each with its own run id and
//! outputs folder, on the loopback ssh box and on the test Slurm cluster.
use crate::support::slurm::cluster;
use crate::support::{bin_cmd, run_expect, shm_tempdir, stderr, SshBox};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn records(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A job writing its two args to `$RUNPLZ_OUT/v.txt` (and saying them on stderr); `seed` 3
/// fails with 7.
fn sweep_dir(name: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        format!(
            r#"{{"name": "{name}", "image": {{"from_registry": "debian:bookworm"}}, "ssh": {{"use_docker": false}},
               "args": {{"lr": "0", "seed": "0"}}, "run": "echo said-{{lr}}-{{seed}} >&2; echo {{lr}}-{{seed}} > $RUNPLZ_OUT/v.txt; [ {{seed}} != 3 ] || exit 7"}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        d.path().join("grid.json"),
        r#"{"lr": [0.1, 0.2], "seed": [1, 2, 3]}"#,
    )
    .unwrap();
    d
}

/// Every member's record, its outputs folder and what its job wrote there.
fn check_members(dir: &Path, recs: &[Value], failing_seed: Option<&str>) {
    let members: Vec<&Value> = recs.iter().filter(|r| r["type"] == "sweep_run").collect();
    assert_eq!(members.len(), 6, "{recs:?}");
    let mut seen = BTreeSet::new();
    let mut run_ids = BTreeSet::new();
    for m in &members {
        let lr = m["args"]["lr"].as_str().unwrap();
        let seed = m["args"]["seed"].as_str().unwrap();
        seen.insert(format!("{lr}-{seed}"));
        let want = if Some(seed) == failing_seed { 7 } else { 0 };
        assert_eq!(m["exit_code"], want, "{m}");
        assert_eq!(m["run"]["exit_code"], want, "{m}");
        run_ids.insert(m["run"]["run_id"].as_str().unwrap().to_string());
        let out = Path::new(m["outputs_dir"].as_str().unwrap());
        assert!(out.starts_with(dir.join("out")), "{m}");
        assert_eq!(
            std::fs::read_to_string(out.join("v.txt")).unwrap(),
            format!("{lr}-{seed}\n")
        );
    }
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(run_ids.len(), 6, "each run has its own id: {run_ids:?}");
    let summary = recs.last().unwrap();
    assert_eq!(summary["type"], "sweep");
    assert_eq!(summary["total"], 6);
    let failed = usize::from(failing_seed.is_some()) * 2;
    assert_eq!(summary["failed"], failed);
    assert_eq!(summary["passed"], 6 - failed);
}

/// Each member's own `<run id>.log` in the run-state folder under `state_home` holds what
/// its job said.
fn check_member_logs(state_home: &Path, recs: &[Value]) {
    for m in recs.iter().filter(|r| r["type"] == "sweep_run") {
        let id = m["run"]["run_id"].as_str().unwrap();
        let log = state_home.join(format!("runplz/runs/{id}.log"));
        let text =
            std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        // First: what it said. (On a loaded box the supervisor's own warning about another
        // member's processes can follow, as the job's stderr: a known rp-exec issue.)
        let said = format!(
            "said-{}-{}\n",
            m["args"]["lr"].as_str().unwrap(),
            m["args"]["seed"].as_str().unwrap()
        );
        assert!(text.starts_with(&said), "{}: {text:?}", log.display());
    }
}

#[test]
fn sweep_of_six_on_ssh_runs_them_all_and_a_failure_stops_none() {
    let b = SshBox::start();
    let d = sweep_dir("swssh");
    let state = shm_tempdir();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .env("XDG_STATE_HOME", state.path())
        .args(["ssh", "job.json", "--sweep", "grid.json", "--parallel", "3"])
        .args(b.tool_args());
    let out = run_expect(&mut c, 1);
    check_members(d.path(), &records(&out.stdout), Some("3"));
    check_member_logs(state.path(), &records(&out.stdout));
    // Members' progress reaches stderr, each line tagged with its index.
    assert!(stderr(&out).contains("[5] runplz:"), "{}", stderr(&out));
}

#[test]
fn sweep_of_six_on_slurm_is_one_job_array_with_every_output_collected() {
    let cl = cluster();
    let d = sweep_dir("swslurm");
    let state = shm_tempdir();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .env("SLURM_CONF", cl.conf())
        .env("XDG_STATE_HOME", state.path())
        .args([
            "slurm",
            "job.json",
            "--host",
            "local",
            "--sweep",
            "grid.json",
            "--parallel",
            "4",
        ]);
    // seed 3 exits 7: the sweep says so (1), every member still ran and came back.
    let out = run_expect(&mut c, 1);
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 7, "{recs:?}");
    check_members(d.path(), &recs, Some("3"));
    check_member_logs(state.path(), &recs);
    for r in &recs[..6] {
        assert_eq!(r["run"]["backend"], "slurm");
        // Each member's outputs folder is out/<its run id>.
        let dir = Path::new(r["outputs_dir"].as_str().unwrap());
        assert_eq!(
            dir.file_name().unwrap().to_str().unwrap(),
            r["run"]["run_id"].as_str().unwrap()
        );
        assert_eq!(r["run"]["outputs"]["files"], 1, "{r}");
    }
    // One job array of six tasks, at most four at once, not six jobs.
    let tasks: Vec<(String, String)> = cl
        .squeue("%j %F %K")
        .lines()
        .filter_map(|l| l.strip_prefix("runplz-swslurm "))
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect();
    assert_eq!(tasks.len(), 6, "{tasks:?}");
    assert_eq!(
        tasks.iter().map(|t| &t.0).collect::<BTreeSet<_>>().len(),
        1,
        "{tasks:?}"
    );
    let idx: BTreeSet<String> = tasks.iter().map(|t| t.1.clone()).collect();
    assert_eq!(idx, (0..6).map(|i| i.to_string()).collect(), "{tasks:?}");
    assert!(
        stderr(&out).contains("submitted Slurm job array"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn slurm_sweep_over_ssh_ships_once_and_brings_every_member_back() {
    let cl = cluster();
    let b = cl.login_node();
    let d = sweep_dir("swslssh");
    std::fs::write(
        d.path().join("sets.jsonl"),
        "{\"lr\": \"0.1\", \"seed\": 1}\n{\"lr\": \"0.2\", \"seed\": 3}\n{\"lr\": \"0.3\", \"seed\": 5}\n",
    )
    .unwrap();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["slurm", "job.json", "--host", "box", "--ssh-config"])
        .arg(&b.config)
        .args(["--sweep", "sets.jsonl"]);
    let out = run_expect(&mut c, 1);
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 4, "{recs:?}");
    for r in &recs[..3] {
        let (lr, seed) = (
            r["args"]["lr"].as_str().unwrap(),
            r["args"]["seed"].as_str().unwrap(),
        );
        assert_eq!(r["exit_code"], if seed == "3" { 7 } else { 0 }, "{r}");
        let dir = Path::new(r["outputs_dir"].as_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(dir.join("v.txt")).unwrap(),
            format!("{lr}-{seed}\n")
        );
    }
    // One sync for the whole array.
    assert_eq!(
        stderr(&out).matches("runplz: sync...").count(),
        1,
        "{}",
        stderr(&out)
    );
    let left = b.ssh(
        "ls -A runplz-runs runplz-out .runplz/slurm 2>/dev/null | grep -v ':$' | grep . || true",
    );
    assert_eq!(left.trim(), "", "left on the login node: {left}");
}

#[test]
fn ctrl_c_cancels_a_slurm_sweep_array_and_leaves_no_process() {
    let cl = cluster();
    let d = shm_tempdir();
    let marker = format!("sweeparray{}", std::process::id());
    std::fs::write(
        d.path().join("job.json"),
        format!(
            r#"{{"name": "swarrint", "image": {{"from_registry": "debian:bookworm"}},
               "args": {{"i": "0"}}, "run": "echo member {{i}}; touch $RUNPLZ_OUT/started; exec -a {marker} sleep 300"}}"#
        ),
    )
    .unwrap();
    std::fs::write(d.path().join("grid.json"), r#"{"i": [1, 2, 3]}"#).unwrap();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .env("SLURM_CONF", cl.conf())
        .args([
            "slurm",
            "job.json",
            "--host",
            "local",
            "--sweep",
            "grid.json",
            "--parallel",
            "2",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let started = || {
        std::fs::read_dir(d.path().join("out"))
            .map(|r| {
                r.flatten()
                    .filter(|e| e.path().join("started").exists())
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    while started() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "two members never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 4, "{recs:?}");
    for m in recs.iter().filter(|r| r["type"] == "sweep_run") {
        assert_eq!(m["exit_code"], 130, "{m}");
        assert_eq!(m["run"]["ending"]["kind"], "interrupted", "{m}");
    }
    let states: Vec<String> = cl
        .squeue("%j %T")
        .lines()
        .filter_map(|l| l.strip_prefix("runplz-swarrint "))
        .map(str::to_string)
        .collect();
    assert!(
        !states.is_empty() && states.iter().all(|s| s == "CANCELLED"),
        "{states:?}"
    );
    let o = std::process::Command::new("pgrep")
        .args(["-f", &marker])
        .output()
        .unwrap();
    assert!(
        o.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn sweep_table_and_bad_sweep_files() {
    let d = sweep_dir("swbad");
    std::fs::write(d.path().join("bad.json"), r#"{"lr": []}"#).unwrap();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--native", "--sweep", "bad.json"]);
    let out = run_expect(&mut c, 2);
    assert!(
        stderr(&out).contains("bad.json: .lr: found an empty list"),
        "{}",
        stderr(&out)
    );
    assert!(!d.path().join("out").exists());
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--native", "--parallel", "2"]);
    let out = run_expect(&mut c, 2);
    assert!(stderr(&out).contains("--sweep"), "{}", stderr(&out));
}

#[test]
fn ctrl_c_stops_every_running_member_and_starts_no_more() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let marker = format!("sweepint{}", std::process::id());
    std::fs::write(
        d.path().join("job.json"),
        format!(
            r#"{{"name": "swint", "image": {{"from_registry": "debian:bookworm"}}, "ssh": {{"use_docker": false}},
               "args": {{"i": "0"}}, "run": "touch ~/{marker}-{{i}}; exec -a {marker} sleep 300"}}"#
        ),
    )
    .unwrap();
    std::fs::write(d.path().join("grid.json"), r#"{"i": [1, 2, 3, 4, 5]}"#).unwrap();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json", "--sweep", "grid.json", "--parallel", "2"])
        .args(b.tool_args())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while b.ssh(&format!("ls ~ | grep -c {marker}- || true")).trim() != "2" {
        assert!(
            std::time::Instant::now() < deadline,
            "two members never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let running = || b.ssh(&format!("pgrep -u {} -f '^{marker} 300' || true", b.user));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running().lines().count() != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "not 2 jobs running: {}",
            running()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let recs = records(&out.stdout);
    let summary = recs.last().unwrap();
    assert_eq!(summary["not_started"], 3, "{recs:?}");
    for m in recs.iter().filter(|r| r["type"] == "sweep_run") {
        assert_eq!(m["exit_code"], 130, "{m}");
        assert_eq!(m["run"]["ending"]["kind"], "interrupted", "{m}");
    }
    assert_eq!(running().trim(), "", "left running on the box");
}
