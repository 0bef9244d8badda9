use super::*;
use std::time::Duration;

fn job(extra: &str) -> Job {
    let text =
        format!(r#"{{"name": "t", "image": {{"from_registry": "debian"}}, "run": "true"{extra}}}"#);
    crate::job::parse(&text, "job.json", std::path::Path::new("/tmp")).unwrap()
}

#[test]
fn the_request_maps_resources_and_the_slurm_section() {
    let j = job(
        r#", "resources": {"gpu": "A100", "num_gpus": 2, "min_cpu": 3.5, "min_memory": 1.5},
            "slurm": {"partition": "gpu", "account": "lab", "qos": "high", "constraint": "ib",
                      "gres_types": {"A100": "a100"}, "sbatch_args": ["--exclusive"]}"#,
    );
    rules(&j).unwrap();
    let a = sbatch_options(&j, Some(Duration::from_secs(61)), 2, "t-1", "/h/d", "/h/w");
    for want in [
        "--job-name=runplz-t",
        "--chdir=/h/w",
        "--output=/h/d/stdout",
        "--error=/h/d/stderr",
        "--nodes=2",
        "--ntasks-per-node=1",
        "--cpus-per-task=4",
        "--mem=1536M",
        "--gres=gpu:a100:2",
        "--time=2",
        "--partition=gpu",
        "--account=lab",
        "--qos=high",
        "--constraint=ib",
        "--exclusive",
    ] {
        assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
    }
    let plain = sbatch_options(
        &job(r#", "resources": {"num_gpus": 1}"#),
        None,
        1,
        "r",
        "/d",
        "/w",
    );
    assert!(plain.iter().any(|x| x == "--gres=gpu:1"), "{plain:?}");
    assert!(
        !plain
            .iter()
            .any(|x| x.starts_with("--time") || x.starts_with("--nodes")),
        "{plain:?}"
    );
}

#[test]
fn deadlines_round_up_to_whole_minutes() {
    assert_eq!(minutes(Duration::from_secs(1)), 1);
    assert_eq!(minutes(Duration::from_secs(60)), 1);
    assert_eq!(minutes(Duration::from_secs(61)), 2);
    assert_eq!(minutes(Duration::from_secs(0)), 1);
}

#[test]
fn bad_slurm_sections_are_refused_with_their_path() {
    let e = rules(&job(r#", "slurm": {"sbatch_args": ["exclusive"]}"#)).unwrap_err();
    assert!(e.to_string().contains("slurm.sbatch_args[0]"), "{e}");
    let e = rules(&job(r#", "slurm": {"gres_types": {"A100": "a 100"}}"#)).unwrap_err();
    assert!(e.to_string().contains("slurm.gres_types.A100"), "{e}");
    let e = rules(&job(
        r#", "resources": {"gpu": "H100"}, "slurm": {"gres_types": {"A100": "a100"}}"#,
    ))
    .unwrap_err();
    assert!(
        e.to_string().contains("resources.gpu") && e.to_string().contains("A100"),
        "{e}"
    );
    let e = rules(&job(r#", "slurm": {"partition": "a\nb"}"#)).unwrap_err();
    assert!(e.to_string().contains("slurm.partition"), "{e}");
}

#[test]
fn final_states_map_to_endings() {
    let ok = |s, e, c| ending(s, e, c).unwrap();
    assert_eq!(
        ok("COMPLETED", Some((0, 0)), None),
        (RunEnding::Exited { code: 0 }, Some(0))
    );
    assert_eq!(
        ok("FAILED", Some((3, 0)), None),
        (RunEnding::Exited { code: 3 }, Some(3))
    );
    assert_eq!(
        ok("FAILED", Some((0, 9)), None),
        (RunEnding::Signaled { signal: 9 }, Some(137))
    );
    assert_eq!(
        ok("TIMEOUT", Some((0, 15)), None),
        (RunEnding::TimedOut { signal: None }, None)
    );
    assert_eq!(
        ok("CANCELLED", Some((0, 15)), Some(Cancelled::Deadline)),
        (RunEnding::TimedOut { signal: None }, None)
    );
    assert_eq!(
        ok("CANCELLED", Some((0, 15)), Some(Cancelled::Signal(2))),
        (
            RunEnding::Interrupted {
                signal: 2,
                step: S::Run
            },
            None
        )
    );
    assert_eq!(
        ok("CANCELLED", Some((0, 15)), None),
        (RunEnding::Signaled { signal: 15 }, Some(143))
    );
    assert_eq!(
        ok("OUT_OF_MEMORY", Some((0, 125)), None),
        (RunEnding::Signaled { signal: 9 }, Some(137))
    );
    assert!(ending("NODE_FAIL", Some((0, 0)), None)
        .unwrap_err()
        .contains("NODE_FAIL"));
    assert!(ending("FAILED", Some((0, 53)), None).is_ok());
    assert!(ending("FAILED", Some((0, 0)), None).is_err());
}

#[test]
fn exit_codes_and_polls_parse() {
    assert_eq!(
        parse_exit_code("JobId=3 JobState=FAILED DerivedExitCode=0:0 ExitCode=3:0 x"),
        Some((3, 0))
    );
    assert_eq!(parse_exit_code("0:15"), Some((0, 15)));
    let (p, off) = parse_poll(b"RUNNING 14 5\nhello\nworld\nerr\nnot yet", (2, 1)).unwrap();
    assert_eq!(p.state, "RUNNING");
    assert_eq!(p.out, b"hello\nworld\n");
    assert_eq!(p.err, b"err\n");
    assert_eq!(off, (14, 5));
    assert!(parse_poll(b"", (0, 0)).is_none());
    assert!(
        is_final("COMPLETED")
            && is_final("GONE")
            && !is_final("COMPLETING")
            && !is_final("PENDING")
    );
}

#[test]
fn the_batch_script_keeps_values_off_command_lines() {
    let s = batch_script("r-1", "/h/a b/env", "echo 'a b'", 2);
    assert!(s.starts_with("#!/bin/bash\n"));
    assert!(
        s.contains(". '/h/a b/env'") && s.contains("rm -f '/h/a b/env'"),
        "{s}"
    );
    assert!(s.contains("srun --nodes=2 --ntasks-per-node=1"), "{s}");
    assert!(s.contains("RUNPLZ_NODE_RANK=\"$SLURM_NODEID\""), "{s}");
    let one = batch_script("r-1", "/e", "true", 1);
    assert!(
        !one.contains("srun") && one.contains("export RUNPLZ_NODE_RANK=0"),
        "{one}"
    );
}

#[test]
fn array_task_lines_expand_pending_ranges_and_keep_each_exit_code() {
    use super::array::{parse_sacct, parse_tasks, task_ids};
    assert_eq!(task_ids("3", 6), [3]);
    assert_eq!(task_ids("1-5%2", 4), [1, 2, 3]);
    assert_eq!(task_ids("0,2-3", 6), [0, 2, 3]);
    assert!(task_ids("x", 6).is_empty());
    let text = "JobId=12 ArrayJobId=10 ArrayTaskId=0 JobState=COMPLETED Reason=None ExitCode=0:0\n\
                JobId=13 ArrayJobId=10 ArrayTaskId=1 JobState=FAILED Reason=NonZeroExitCode ExitCode=7:0\n\
                JobId=10 ArrayJobId=10 ArrayTaskId=2-5%2 JobState=PENDING Reason=JobArrayTaskLimit ExitCode=0:0\n";
    let m = parse_tasks(text, 6);
    assert_eq!(m.len(), 6);
    assert_eq!(m[&1], ("FAILED".to_string(), Some((7, 0))));
    assert_eq!(m[&5].0, "PENDING");
    let m = parse_sacct(
        "10_0|COMPLETED|0:0\n10_1|CANCELLED by 0|0:15\n10_[2-3]|PENDING|0:0\n",
        4,
    );
    assert_eq!(m[&1], ("CANCELLED".to_string(), Some((0, 15))));
    assert_eq!(m[&3].0, "PENDING");
}

#[test]
fn an_array_script_keeps_the_env_file_for_later_tasks_and_sbatch_runs_scrubbed() {
    let s = super::script("/h/env", false, "c=true\n", 1);
    assert!(s.contains(". /h/env") && !s.contains("rm -f"), "{s}");
    let scrub = super::scrub();
    for name in ["HOME", "PATH", "SLURM_*"] {
        assert!(scrub.contains(name), "{scrub}");
    }
    assert!(scrub.contains("unset"), "{scrub}");
    // The scrub really leaves only those: run it in a shell with a sentinel set.
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("{scrub} env")])
        .env("RPT_SCRUB_SENTINEL", "x")
        .env("SLURM_CONF", "/c")
        .output()
        .unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(!env.contains("RPT_SCRUB_SENTINEL"), "{env}");
    assert!(
        env.contains("SLURM_CONF=/c") && env.contains("PATH="),
        "{env}"
    );
}
