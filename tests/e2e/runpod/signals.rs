//! Ctrl-C, TERM and HUP at each phase: pick, create (the call in flight), the wait for the
//! pod's runtime, sync, run and collect. Each run ends 128+n and leaves no pod running.

use super::*;
use crate::support::{stderr, FakeRunpod};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn current_step(state_dir: &std::path::Path) -> Option<String> {
    // The run state, not its events or logs beside it.
    let e = std::fs::read_dir(state_dir)
        .ok()?
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "json"))?;
    let v: Value = serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok()?;
    v["current_step"].as_str().map(str::to_string)
}

type Ready = fn(&FakeRunpod, &std::path::Path) -> bool;

#[test]
fn a_signal_at_each_phase_leaves_no_pod_running() {
    let phases: [(&str, &str, &str, Ready); 6] = [
        // The first call hangs for a while: the pick has asked and waits for prices.
        ("pick", "slow=gpuTypes:2500", "sleep 30", |rp, _| {
            !rp.calls().is_empty()
        }),
        ("create", "create-hang=2500", "sleep 30", |rp, _| {
            !rp.calls_of("podFindAndDeployOnDemand").is_empty()
        }),
        ("wait", "runtime-ms=60000", "sleep 30", |rp, _| {
            rp.calls_of("pod").len() >= 2
        }),
        ("sync", "", "sleep 30", |_, s| {
            current_step(s).as_deref() == Some("sync")
        }),
        ("run", "", "sleep 30", |_, s| {
            current_step(s).as_deref() == Some("run")
        }),
        (
            "collect",
            "",
            "head -c 200000000 /dev/zero > \"$RUNPLZ_OUT/big\"",
            |_, s| current_step(s).as_deref() == Some("collect"),
        ),
    ];
    let sigs = [2, 15, 1, 2, 15, 2];
    let mut failures = Vec::new();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for ((phase, fail, cmd, ready), sig) in phases.into_iter().zip(sigs) {
            handles.push(scope.spawn(move || {
                let rp = FakeRunpod::new();
                rp.fail(fail);
                let (_d, job) = rp.job(&format!(
                    r#"{{"name": "rpsig", "image": {{"from_registry": "debian:12"}}, "run": {}, "resources": {{"gpu": "A6000"}}}}"#,
                    serde_json::to_string(cmd).unwrap()
                ));
                let mut c = rp.cmd("runplz");
                c.arg("runpod").arg(&job).arg("--json");
                c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
                let child = c.spawn().unwrap();
                let runs = rp.env.state_dir().join("runs");
                let end = Instant::now() + Duration::from_secs(120);
                while !ready(&rp, &runs) {
                    assert!(Instant::now() < end, "{phase}: the phase was never reached");
                    std::thread::sleep(Duration::from_millis(10));
                }
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    nix::sys::signal::Signal::try_from(sig).unwrap(),
                )
                .unwrap();
                let o = child.wait_with_output().unwrap();
                let mut bad = Vec::new();
                // Outputs cut off in collect end the run 5 (the job succeeded, they did
                // not come back), whatever cut them.
                let ok = code(&o) == Some(128 + sig) || (phase == "collect" && code(&o) == Some(5));
                if !ok {
                    bad.push(format!("exit {:?}, expected {}", code(&o), 128 + sig));
                }
                let pods = rp.pods();
                if phase == "pick" {
                    if !pods.is_empty() {
                        bad.push(format!("a pod was made: {pods:?}"));
                    }
                } else {
                    if pods.len() != 1 {
                        bad.push(format!("expected one pod, found {pods:?}"));
                    }
                    for p in &pods {
                        let id = p["id"].as_str().unwrap();
                        if p["desiredStatus"] != "TERMINATED" {
                            bad.push(format!("pod {id} is {}", p["desiredStatus"]));
                        }
                        let end = Instant::now() + Duration::from_secs(10);
                        while !rp.processes_of(id).is_empty() && Instant::now() < end {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        let left = rp.processes_of(id);
                        if !left.is_empty() {
                            bad.push(format!("pod {id} still runs {left:?}"));
                        }
                    }
                }
                if bad.is_empty() {
                    None
                } else {
                    Some(format!("{phase} (signal {sig}): {}\n{}", bad.join("; "), stderr(&o)))
                }
            }));
        }
        for h in handles {
            if let Some(f) = h.join().unwrap() {
                failures.push(f);
            }
        }
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn ctrl_c_again_and_again_cannot_stop_the_terminate() {
    let rp = FakeRunpod::new();
    // Each terminate answers slowly, so the later Ctrl-Cs land while it is in flight.
    rp.fail("slow=podTerminate:1500\n");
    let (_d, job) = rp.job(
        r#"{"name": "rpsig2", "image": {"from_registry": "debian:12"}, "run": "sleep 30", "resources": {"gpu": "A6000"}}"#,
    );
    let mut c = rp.cmd("runplz");
    c.arg("runpod").arg(&job).arg("--json");
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let runs = rp.env.state_dir().join("runs");
    let end = Instant::now() + Duration::from_secs(120);
    while current_step(&runs).as_deref() != Some("run") {
        assert!(Instant::now() < end, "the run never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Ctrl-C every 200 ms until runplz has exited: some land while the terminate is asked.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let presser = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end
            && nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).is_ok()
        {
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let o = child.wait_with_output().unwrap();
    presser.join().unwrap();
    assert_eq!(code(&o), Some(130), "{}", stderr(&o));
    assert_eq!(rp.calls_of("podTerminate").len(), 1, "{:?}", rp.calls());
    assert_eq!(rp.assert_all_released("TERMINATED").len(), 1);
    assert_eq!(record(&o)["instance"]["release"], "terminated");
}
