//! RunPod saying no: no capacity (failover to the next type and datacenter), no type that
//! fits, a refused or missing key, a create whose answer never comes after the pod was
//! made, 5xx answers, and a terminate that fails.

use super::*;
use crate::support::{stderr, FakeRunpod};

fn creates(rp: &FakeRunpod) -> Vec<(String, Option<String>)> {
    rp.calls_of("podFindAndDeployOnDemand")
        .iter()
        .map(|c| {
            (
                c["gpuTypeId"].as_str().unwrap().to_string(),
                c["dataCenterId"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn no_capacity_fails_over_to_the_next_cheapest_type() {
    let rp = FakeRunpod::new();
    rp.fail("nocap=NVIDIA GeForce RTX 4090\n");
    let (d, job) = rp.job(
        r#"{"name": "rpfo", "image": {"from_registry": "debian:12"}, "run": "echo ok > \"$RUNPLZ_OUT/o.txt\"",
            "resources": {"min_gpu_memory": 20}}"#,
    );
    let o = rp.run(&job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_eq!(
        creates(&rp),
        vec![
            ("NVIDIA GeForce RTX 4090".into(), None),
            ("NVIDIA RTX A6000".into(), None)
        ]
    );
    let pods = rp.assert_all_released("TERMINATED");
    assert_eq!(pods.len(), 1, "one pod only: {pods:?}");
    assert!(
        stderr(&o).contains("no capacity for NVIDIA GeForce RTX 4090"),
        "{}",
        stderr(&o)
    );
    assert_eq!(record(&o)["instance"]["instance_type"], "NVIDIA RTX A6000");
    assert!(d.path().join("out/o.txt").is_file());
}

#[test]
fn gpu_order_and_datacenters_are_tried_in_order() {
    let rp = FakeRunpod::new();
    // A6000 is stocked in US-TX-3 and CA-MTL-1, the 4090 in EU-RO-1 and US-TX-3.
    rp.fail("nocap=NVIDIA RTX A6000@CA-MTL-1\n");
    let (_d, job) = rp.job(
        r#"{"name": "rpord", "image": {"from_registry": "debian:12"}, "run": "true",
            "runpod": {"gpu_order": ["NVIDIA RTX A6000", "NVIDIA GeForce RTX 4090"], "datacenters": ["CA-MTL-1", "EU-RO-1"]}}"#,
    );
    let o = rp.run(&job, &["--max-gpu-price", "0.6"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let a = "NVIDIA RTX A6000".to_string();
    let g = "NVIDIA GeForce RTX 4090".to_string();
    let (ca, eu) = (Some("CA-MTL-1".to_string()), Some("EU-RO-1".to_string()));
    assert_eq!(
        creates(&rp),
        vec![
            (a.clone(), ca.clone()),
            (a, eu.clone()),
            (g.clone(), ca),
            (g, eu)
        ]
    );
    assert_eq!(rp.assert_all_released("TERMINATED").len(), 1);
    assert_eq!(record(&o)["instance"]["datacenter"], "EU-RO-1");
}

#[test]
fn no_capacity_anywhere_creates_nothing() {
    let rp = FakeRunpod::new();
    rp.fail("nocap=NVIDIA RTX A6000\n");
    let (_d, job) = rp.job(JOB);
    let o = rp.run(&job, &[]);
    assert_eq!(code(&o), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("no capacity for any type tried (NVIDIA RTX A6000 in any datacenter); nothing was created"), "{}", stderr(&o));
    assert!(rp.pods().is_empty());
    assert!(rp.calls_of("podTerminate").is_empty());
    assert_eq!(
        record(&o)["ending"],
        serde_json::json!({"kind": "failed", "step": "acquire"})
    );
}

#[test]
fn no_type_that_fits_is_exit_6_before_any_create() {
    let rp = FakeRunpod::new();
    let (_d, job) = rp.job(JOB);
    let o = rp.run(&job, &["--max-gpu-price", "0.2"]);
    assert_eq!(code(&o), Some(6), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("no RunPod GPU type fits gpu \"A6000\"") && e.contains("> --max-gpu-price 0.2"),
        "{e}"
    );
    assert!(rp.calls_of("podFindAndDeployOnDemand").is_empty());
}

#[test]
fn a_refused_key_is_one_line_and_nothing_is_created() {
    let rp = FakeRunpod::new();
    let (_d, job) = rp.job(JOB);
    let mut c = rp.cmd("runplz");
    c.env("RUNPOD_API_KEY", "rpa_WRONGKEY")
        .arg("runpod")
        .arg(&job);
    let o = c.stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(code(&o), Some(8), "{}", stderr(&o));
    let e = stderr(&o);
    let lines: Vec<&str> = e
        .lines()
        .filter(|l| l.contains("refused the API key"))
        .collect();
    assert_eq!(lines.len(), 1, "{e}");
    assert!(lines[0].contains("nothing was created"), "{e}");
    assert!(!e.contains("rpa_WRONGKEY"), "the key was printed: {e}");
    assert_eq!(rp.calls().len(), 1, "{:?}", rp.calls());
    assert_eq!(rp.calls()[0]["http"], 401);
    assert!(rp.pods().is_empty());
    // A key without the permission: HTTP 200 with the error "Unauthorized".
    rp.fail("graphql-unauthorized\n");
    let o = rp.run(&job, &[]);
    assert_eq!(code(&o), Some(8), "{}", stderr(&o));
    assert!(rp.pods().is_empty());
    // No key at all: exit 7 before any call.
    let before = rp.calls().len();
    let mut c = rp.cmd("runplz");
    c.env_remove("RUNPOD_API_KEY").arg("runpod").arg(&job);
    let o = c.stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(code(&o), Some(7), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("RUNPOD_API_KEY is not set"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rp.calls().len(), before);
}

#[test]
fn a_create_that_times_out_after_the_pod_was_made_uses_that_pod() {
    let rp = FakeRunpod::new();
    // The pod is made at once; the answer comes after runplz has stopped waiting for it.
    rp.fail("create-hang=6000\n");
    let (d, job) = rp.job(JOB);
    let mut c = rp.cmd("runplz");
    c.env("RUNPLZ_RUNPOD_CALL_TIMEOUT", "2")
        .args(["runpod", "--json"])
        .arg(&job);
    let o = c.stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_eq!(
        rp.calls_of("podFindAndDeployOnDemand").len(),
        1,
        "created twice"
    );
    let pods = rp.assert_all_released("TERMINATED");
    assert_eq!(pods.len(), 1, "{pods:?}");
    let e = stderr(&o);
    assert!(
        e.contains("but RunPod lists it as") && e.contains("not creating another"),
        "{e}"
    );
    let hi = std::fs::read_to_string(d.path().join("out/hi.txt")).unwrap();
    assert!(hi.contains(pods[0]["id"].as_str().unwrap()), "{hi}");
    // It was found by listing our pods, after the create and before any other create.
    let ops: Vec<String> = rp
        .calls()
        .iter()
        .filter_map(|c| c["op"].as_str().map(String::from))
        .collect();
    let at = ops
        .iter()
        .position(|o| o == "podFindAndDeployOnDemand")
        .unwrap();
    assert_eq!(ops[at + 1], "myself", "{ops:?}");
}

#[test]
fn server_errors_are_retried_and_a_failed_terminate_is_loud() {
    let rp = FakeRunpod::new();
    rp.fail("5xx=2\n");
    let (_d, job) = rp.job(JOB);
    let o = rp.run(&job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("answered HTTP 502; trying again"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rp.calls().iter().filter(|c| c["http"] == 502).count(), 2);
    rp.assert_all_released("TERMINATED");
    // Terminate fails every time: the run says so loudly (the job's own exit code stays)
    // and the record says "failed".
    rp.fail("terminate-fails\n");
    let (_d2, job2) = rp.job(r#"{"name": "rpterm", "image": {"from_registry": "debian:12"}, "run": "exit 3", "resources": {"gpu": "A6000"}}"#);
    let o = rp.run(&job2, &[]);
    let e = stderr(&o);
    assert_eq!(code(&o), Some(3), "{e}");
    assert!(
        e.contains("WAS NOT TERMINATED") && e.contains("may still be running and billing"),
        "{e}"
    );
    let r = record(&o);
    assert_eq!(r["instance"]["release"], "failed");
    let live: Vec<Value> = rp
        .pods()
        .into_iter()
        .filter(|p| p["desiredStatus"] == "RUNNING")
        .collect();
    assert_eq!(live.len(), 1);
    let runs = rp.env.state_dir().join("runs");
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(runs.join(format!("{}.json", r["run_id"].as_str().unwrap())))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(st["teardown"]["status"], "failed");
    assert_eq!(st["handle"]["pod_id"], live[0]["id"]);
}

#[test]
fn a_job_past_its_timeout_and_a_pod_that_never_comes_up_are_terminated() {
    let rp = FakeRunpod::new();
    let (_d, job) = rp.job(
        r#"{"name": "rpto", "image": {"from_registry": "debian:12"}, "run": "sleep 300",
            "timeout": 3, "resources": {"gpu": "A6000"}}"#,
    );
    let o = rp.run(&job, &[]);
    assert_eq!(code(&o), Some(124), "{}", stderr(&o));
    assert_eq!(rp.assert_all_released("TERMINATED").len(), 1);
    // The runtime never lists port 22 within ssh_ready_wait_seconds: set-up failed (5).
    let rp = FakeRunpod::new();
    rp.fail("runtime-ms=600000\n");
    let (_d, job) = rp.job(
        r#"{"name": "rpslow", "image": {"from_registry": "debian:12"}, "run": "true",
            "resources": {"gpu": "A6000"}, "runpod": {"ssh_ready_wait_seconds": 2}}"#,
    );
    let o = rp.run(&job, &[]);
    assert_eq!(code(&o), Some(5), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("listed no public port 22 within 2 s"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rp.assert_all_released("TERMINATED").len(), 1);
    assert_eq!(record(&o)["instance"]["release"], "terminated");
}

#[test]
fn the_pod_is_in_the_run_state_as_soon_as_runpod_made_it() {
    // runplz killed with -9 while it waits for the pod: nothing can tear down, but the run
    // state names the pod by name and id, so a person (or a later verb) can find it.
    let rp = FakeRunpod::new();
    rp.fail("runtime-ms=600000\n");
    let (_d, job) = rp.job(JOB);
    let mut c = rp.cmd("runplz");
    c.arg("runpod").arg(&job);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while rp.calls_of("pod").is_empty() {
        assert!(std::time::Instant::now() < end, "never waited for the pod");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let pods = rp.pods();
    assert_eq!(pods.len(), 1);
    let runs = rp.env.state_dir().join("runs");
    // The run state only (its events and job log sit beside it).
    let e = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .find(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.ends_with(".json") && !n.ends_with(".events.jsonl")
        })
        .unwrap();
    let st: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
    assert_eq!(st["handle"]["pod_id"], pods[0]["id"]);
    assert_eq!(st["handle"]["instance"], pods[0]["name"]);
    assert_eq!(st["teardown"]["status"], "pending");
    // `runplz reconcile` finds the pod that run left billing; `--apply` terminates it and
    // the run state says its release is done.
    let lines = |o: &std::process::Output| -> Vec<Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let seen = crate::support::run_expect(
        rp.cmd("runplz")
            .arg("reconcile")
            .stdin(std::process::Stdio::null()),
        0,
    );
    let found = lines(&seen);
    assert_eq!(found.len(), 1, "{}", stderr(&seen));
    assert_eq!(
        (
            &found[0]["backend"],
            &found[0]["name"],
            &found[0]["reason"],
            &found[0]["action"]
        ),
        (
            &Value::from("runpod"),
            &pods[0]["name"],
            &Value::from("runplz_gone"),
            &Value::from("none")
        )
    );
    assert!(
        rp.calls_of("terminate").is_empty(),
        "reconcile without --apply touched a pod"
    );
    let applied = crate::support::run_expect(
        rp.cmd("runplz")
            .args(["reconcile", "--apply"])
            .stdin(std::process::Stdio::null()),
        0,
    );
    assert_eq!(
        lines(&applied)[0]["action"],
        "terminated",
        "{}",
        stderr(&applied)
    );
    rp.assert_all_released("TERMINATED");
    let st: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
    assert_eq!(st["teardown"]["status"], "done", "{st}");
    // Nothing of ours is left to list.
    let again = crate::support::run_expect(
        rp.cmd("runplz")
            .arg("reconcile")
            .stdin(std::process::Stdio::null()),
        0,
    );
    assert!(
        lines(&again).is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn a_run_whose_runplz_was_killed_is_finished_by_collect() {
    // The verbs reach a pod from the run state: runplz killed with -9 mid-job, then
    // `runplz status` finds the job running on, `collect --force` stops it, brings its
    // outputs back and terminates the pod.
    let rp = FakeRunpod::new();
    let (d, job) = rp.job(
        r#"{"name": "rpkill", "image": {"from_registry": "debian:12"},
  "run": "echo early > \"$RUNPLZ_OUT/early.txt\"; echo said-this; sleep 300",
  "resources": {"gpu": "A6000"}}"#,
    );
    let mut c = rp.cmd("runplz");
    c.arg("runpod").arg(&job);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    let runs = rp.env.state_dir().join("runs");
    let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let id = loop {
        let log = std::fs::read_dir(&runs).ok().and_then(|rd| {
            rd.flatten().find(|e| {
                // The plain log (not the timestamped driver.log beside it).
                let n = e.file_name().to_string_lossy().into_owned();
                n.ends_with(".log") && !n.ends_with(".driver.log")
            })
        });
        if let Some(l) = log {
            if std::fs::read_to_string(l.path())
                .unwrap_or_default()
                .contains("said-this")
            {
                break l
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".log")
                    .to_string();
            }
        }
        assert!(std::time::Instant::now() < end, "the job never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let verb = |args: &[&str], code: i32| {
        crate::support::run_expect(
            rp.cmd("runplz")
                .args(args)
                .stdin(std::process::Stdio::null()),
            code,
        )
    };
    let s = crate::support::json(&verb(&["status", &id], 0));
    assert_eq!(
        (&s["state"], &s["backend"]),
        (&Value::from("orphaned"), &Value::from("runpod")),
        "{s}"
    );
    let got = crate::support::json(&verb(&["collect", &id, "--force"], 0));
    assert_eq!(got["files"], 1, "{got}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/early.txt")).unwrap(),
        "early\n"
    );
    rp.assert_all_released("TERMINATED");
}
