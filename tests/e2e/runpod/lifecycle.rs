//! The whole lifecycle on the fake, and what goes into RunPod and the records.

use super::*;
use crate::support::fakerunpod::KEY;
use crate::support::{stderr, FakeRunpod};

#[test]
fn a_pod_is_picked_created_used_and_terminated() {
    let rp = FakeRunpod::new();
    let (dir, job) = rp.job(JOB);
    let o = rp.run(&job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let pods = rp.assert_all_released("TERMINATED");
    assert_eq!(pods.len(), 1, "exactly one pod: {pods:?}");
    let pod = &pods[0];
    let id = pod["id"].as_str().unwrap();
    // Ran on the pod, as root, over full ssh; the output came back.
    let hi = std::fs::read_to_string(dir.path().join("out/hi.txt")).unwrap();
    assert_eq!(hi.trim(), format!("ran on {id} as root"));
    // The create asked for what the job needs.
    let creates = rp.calls_of("podFindAndDeployOnDemand");
    assert_eq!(creates.len(), 1, "{creates:?}");
    let c = &creates[0];
    let name = c["name"].as_str().unwrap();
    assert!(name.starts_with("runplz-rpjob-"), "{name}");
    assert_eq!(c["imageName"], "debian:12");
    assert_eq!(c["gpuTypeId"], "NVIDIA RTX A6000");
    assert_eq!(c["gpuCount"], 1);
    assert_eq!(c["cloudType"], "ALL");
    assert_eq!(c["ports"], "22/tcp");
    assert_eq!(
        (c["startSsh"].as_bool(), c["supportPublicIp"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(c["containerDiskInGb"], 26);
    assert_eq!(
        (c["minVcpuCount"].as_u64(), c["minMemoryInGb"].as_u64()),
        (Some(3), Some(12))
    );
    assert!(c["dataCenterId"].is_null(), "{c}");
    let env = c["env"].as_array().unwrap();
    assert_eq!(env.len(), 1, "{env:?}");
    assert_eq!(env[0]["key"], "PUBLIC_KEY");
    assert!(
        env[0]["value"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519 "),
        "{env:?}"
    );
    assert!(c["dockerArgs"].as_str().unwrap().contains("sshd"), "{c}");
    // Terminated by id, and every call carried the key in its header.
    let terms = rp.calls_of("podTerminate");
    assert_eq!(terms, vec![serde_json::json!({"podId": id})]);
    assert!(
        rp.calls().iter().all(|c| c["auth"] == "bearer"),
        "{:?}",
        rp.calls()
    );
    // The record names the pod, its type, datacenter, price and cost.
    let r = record(&o);
    assert_eq!(r["backend"], "runpod");
    assert_eq!(r["mode"], "in_place");
    let inst = &r["instance"];
    assert_eq!(inst["name"], name);
    assert_eq!(inst["pod_id"], id);
    assert_eq!(inst["instance_type"], "NVIDIA RTX A6000");
    assert_eq!(inst["datacenter"], "US-TX-3");
    assert_eq!(inst["price_per_hour"].as_f64(), Some(0.49));
    assert_eq!(inst["release"], "terminated");
    assert!(inst["billed_seconds"].as_f64().unwrap() > 0.0, "{inst}");
    assert!(inst["cost"].as_f64().is_some(), "{inst}");
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "pod {name} ({id}, NVIDIA RTX A6000, $0.49/h) terminated after"
        )),
        "{e}"
    );
    // The run state named the pod before and after; its release is done.
    let runs = rp.env.state_dir().join("runs");
    let text =
        std::fs::read_to_string(runs.join(format!("{}.json", r["run_id"].as_str().unwrap())))
            .unwrap();
    let st: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(st["handle"]["instance"], name);
    assert_eq!(st["handle"]["pod_id"], id);
    assert_eq!(
        st["teardown"],
        serde_json::json!({"policy": "delete", "status": "done"})
    );
    // The key is nowhere runplz writes.
    for (what, t) in [
        ("stdout", String::from_utf8_lossy(&o.stdout).into_owned()),
        ("stderr", e),
        ("run state", text),
    ] {
        assert!(!t.contains(KEY), "the API key is in {what}");
    }
}

#[test]
fn on_finish_stop_stops_the_pod() {
    let rp = FakeRunpod::new();
    let (_d, job) = rp.job(
        r#"{"name": "rpstop", "image": {"from_registry": "debian:12"}, "run": "true",
            "resources": {"gpu": "4090"}, "runpod": {"on_finish": "stop"}}"#,
    );
    let o = rp.run(&job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let pods = rp.assert_all_released("EXITED");
    assert_eq!(pods.len(), 1);
    assert_eq!(rp.calls_of("podStop").len(), 1);
    assert!(rp.calls_of("podTerminate").is_empty());
    let r = record(&o);
    assert_eq!(r["instance"]["release"], "stopped");
    assert_eq!(r["instance"]["instance_type"], "NVIDIA GeForce RTX 4090");
}

#[test]
fn gpu_id_with_datacenter_id_skips_the_pick_and_a_failing_job_still_terminates() {
    let rp = FakeRunpod::new();
    let (_d, job) = rp.job(
        r#"{"name": "rppin", "image": {"from_registry": "debian:12"}, "run": "exit 3",
            "resources": {"gpu": "A6000"}, "runpod": {"gpu_order": ["NVIDIA RTX A6000"]}}"#,
    );
    let o = rp.run(
        &job,
        &[
            "--gpu-id",
            "NVIDIA H100 80GB HBM3",
            "--datacenter-id",
            "US-TX-3",
        ],
    );
    assert_eq!(code(&o), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("runpod.gpu_order is not used: --gpu-id pins"),
        "{}",
        stderr(&o)
    );
    let c = rp.calls_of("podFindAndDeployOnDemand");
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0]["gpuTypeId"].as_str(), c[0]["dataCenterId"].as_str()),
        (Some("NVIDIA H100 80GB HBM3"), Some("US-TX-3"))
    );
    rp.assert_all_released("TERMINATED");
    assert_eq!(
        record(&o)["instance"]["price_per_hour"].as_f64(),
        Some(2.69)
    );
}

#[test]
fn flags_that_cannot_work_are_refused_before_anything_is_asked() {
    let rp = FakeRunpod::new();
    let (_d, job) = rp.job(JOB);
    for (args, says) in [
        (&["--gpu-id", "NVIDIA RTX A6000"][..], "--datacenter-id"),
        (&["--datacenter-id", "US-TX-3"][..], "--gpu-id"),
        (
            &["--cost-cap-usd=0"][..],
            "--cost-cap-usd: found 0, expected a positive number of US dollars",
        ),
        (
            &["--cost-cap-usd=-2.5"][..],
            "--cost-cap-usd: found -2.5, expected a positive number of US dollars",
        ),
        (
            &["--max-runtime-minutes", "0"][..],
            "--max-runtime-minutes: found 0, expected 1 to 43200",
        ),
    ] {
        let o = rp.run(&job, args);
        assert_eq!(code(&o), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    let mut c = rp.cmd("runplz");
    let o = c
        .args(["runpod", "--plan"])
        .arg(&job)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no plan script"), "{}", stderr(&o));
    assert!(rp.calls().is_empty(), "{:?}", rp.calls());
    // A Dockerfile image is refused by the job rules, naming the path.
    let (_d2, job2) =
        rp.job(r#"{"name": "df", "image": {"from_dockerfile": "Dockerfile"}, "run": "true"}"#);
    std::fs::write(job2.parent().unwrap().join("Dockerfile"), "FROM debian\n").unwrap();
    let o = rp.run(&job2, &[]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("image.from_dockerfile"),
        "{}",
        stderr(&o)
    );
    assert!(rp.pods().is_empty());
}

/// `--cost-cap-usd` (issue #10): the pod's price, known before the create, turns the cap
/// into a deadline from the start of provisioning; the job's supervisor on the pod stops the
/// job there, and the pod is terminated: ending and failure `cost_cap`, exit 124.
#[test]
fn the_cost_cap_stops_the_job_on_the_pod() {
    let rp = FakeRunpod::new();
    let (_d, job) = rp.job(
        r#"{"name": "capped", "image": {"from_registry": "debian:12"},
        "run": "echo job-started; sleep 300; echo job-finished", "resources": {"gpu": "A6000"}}"#,
    );
    // 0.75 cents: 35 to 55 s at the fake's A6000 prices (provisioning and set-up take about
    // 10 s with the whole suite running on 2 cores), far less than the job's 300 s.
    let o = rp.run(
        &job,
        &[
            "--gpu-id",
            "NVIDIA RTX A6000",
            "--datacenter-id",
            "US-TX-3",
            "--cost-cap-usd",
            "0.0075",
        ],
    );
    let err = stderr(&o);
    assert_eq!(code(&o), Some(124), "{err}");
    let r = record(&o);
    assert_eq!(r["ending"]["kind"], "cost_cap", "{r}");
    assert!(r["exit_code"].is_i64(), "the job ran: {r}");
    assert!(
        err.contains("job-started") && !err.contains("job-finished"),
        "{err}"
    );
    assert!(r["duration_seconds"].as_f64().unwrap() < 250.0, "{r}");
    let id = r["run_id"].as_str().unwrap();
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(rp.env.state_dir().join("runs").join(format!("{id}.json")))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(st["failure"], "cost_cap", "{st}");
    rp.assert_all_released("TERMINATED");
}

/// `--max-runtime-minutes`: a deadline from the start of provisioning, enforced as the job's
/// timeout on the pod (whichever comes first); ending `timed_out`, exit 124, pod terminated.
#[test]
fn max_runtime_minutes_is_a_deadline_from_provisioning() {
    let rp = FakeRunpod::new();
    let (_d, job) = rp.job(
        r#"{"name": "longrun", "image": {"from_registry": "debian:12"},
        "run": "echo job-started; sleep 300; echo job-finished", "resources": {"gpu": "A6000"}}"#,
    );
    let o = rp.run(&job, &["--max-runtime-minutes", "1"]);
    let err = stderr(&o);
    assert_eq!(code(&o), Some(124), "{err}");
    let r = record(&o);
    assert_eq!(r["ending"]["kind"], "timed_out", "{r}");
    assert!(!err.contains("job-finished"), "{err}");
    // One minute from provisioning, whether it ended before or during the job.
    assert!(r["duration_seconds"].as_f64().unwrap() < 200.0, "{r}");
    rp.assert_all_released("TERMINATED");
}
