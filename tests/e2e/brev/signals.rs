//! Ctrl-C and TERM at each phase: the box is deleted (ephemeral) or stopped (named), and
//! nothing of the job is left on it.

use super::*;
use crate::support::{stderr, FakeBrev};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn ctrl_c_or_term_at_each_phase_leaves_no_box_behind() {
    type Ready = fn(&FakeBrev, &std::path::Path) -> bool;
    let phases: [(&str, &str, &str, Ready); 6] = [
        ("pick", "search:3000", "sleep 30", |fb, _| {
            !fb.calls_of("search").is_empty()
        }),
        ("create", "create:1500", "sleep 30", |fb, _| {
            !fb.calls_of("create").is_empty()
        }),
        ("wait", "", "sleep 30", |fb, _| {
            fb.calls_of("create").len() == 1 && fb.calls_of("ls").len() >= 3
        }),
        // Past staging (the box has the sync's folder or its lock): a Ctrl-C that lands
        // while `git ls-files` stages the tree is swallowed (the stage falls back to walking
        // the folder and the run goes on), which is sync's to fix.
        ("sync", "", "sleep 30", |fb, s| {
            current_step(s).as_deref() == Some("sync")
                && fb.state().iter().any(|b| {
                    b["user"].as_str().is_some_and(|u| {
                        let home = std::path::PathBuf::from(format!("/home/{u}"));
                        home.join("runplz").exists() || home.join(".runplz").exists()
                    })
                })
        }),
        ("run", "", "sleep 30", |_, s| {
            current_step(s).as_deref() == Some("run")
        }),
        (
            "collect",
            "",
            "head -c 300000000 /dev/zero > \"$RUNPLZ_OUT/big\"",
            |_, s| current_step(s).as_deref() == Some("collect"),
        ),
    ];
    let mut failures = Vec::new();
    let runs = phases.into_iter().flat_map(|p| [(p, 2), (p, 15)]);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for ((phase, slow, cmd, ready), sig) in runs {
            handles.push(scope.spawn(move || {
                let mut fb = FakeBrev::new();
                if !slow.is_empty() {
                    fb = fb.var("FAKE_BREV_SLOW", slow);
                }
                if phase == "wait" {
                    fb.fail("stuck");
                }
                let (_d, job) = fb.job(&format!(
                    r#"{{"name": "sig", "image": {{"from_registry": "debian:12"}}, "run": {}, "resources": {{"gpu": "A10G"}}}}"#,
                    serde_json::to_string(cmd).unwrap()
                ));
                let o = interrupt(&fb, &job, sig, ready);
                let e = stderr(&o);
                let mut bad = Vec::new();
                // Outputs cut off in collect end the run 5 (the job succeeded, they did not
                // come back), whatever cut them.
                let ok = o.status.code() == Some(128 + sig)
                    || (phase == "collect" && o.status.code() == Some(5));
                if !ok {
                    bad.push(format!("exit {:?}, expected {}", o.status.code(), 128 + sig));
                }
                let ending = String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .rev()
                    .find_map(|l| serde_json::from_str::<Value>(l).ok())
                    .map(|r| r["ending"].clone())
                    .unwrap_or(Value::Null);
                let step = match phase {
                    "pick" | "create" | "wait" => "acquire",
                    p => p,
                };
                if phase != "collect" && ending != serde_json::json!({"kind": "interrupted", "signal": sig, "step": step}) {
                    bad.push(format!("ending {ending}"));
                }
                match phase {
                    "pick" => {
                        if !fb.calls_of("create").is_empty() || !fb.state().is_empty() {
                            bad.push("a box was created after Ctrl-C during the pick".into());
                        }
                    }
                    _ => {
                        let creates = fb.calls_of("create");
                        if creates.len() != 1 {
                            bad.push(format!("creates: {creates:?}"));
                        } else {
                            let name = creates[0][1].clone();
                            let user = fb.state().iter().find(|b| b["name"] == name.as_str()).and_then(|b| b["user"].as_str().map(str::to_string));
                            if !fb.calls_of("delete").iter().any(|c| c[1] == name) {
                                bad.push("no delete".into());
                            }
                            let end = Instant::now() + Duration::from_secs(10);
                            while fb.get(&name).is_some() && Instant::now() < end {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                            if fb.get(&name).is_some() {
                                bad.push(format!("{name} still listed"));
                            }
                            if let Some(u) = user {
                                if FakeBrev::user_exists(&u) {
                                    bad.push(format!("user {u} (and the job's files) still there"));
                                }
                            }
                        }
                    }
                }
                if bad.is_empty() {
                    None
                } else {
                    Some(format!("{phase} (signal {sig}): {}\n--- stderr\n{e}", bad.join("; ")))
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
fn ctrl_c_during_the_run_on_a_named_box_stops_it_with_nothing_left() {
    let fb = FakeBrev::new();
    let user = named_box(&fb, "sig-box");
    let (_d, job) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "sleep 60 & sleep 60"}"#,
    );
    let mut c = fb.cmd("runplz");
    c.args(["brev", "--json", "--instance", "sig-box"])
        .arg(&job);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let runs = fb.env.state_dir().join("runs");
    let end = Instant::now() + Duration::from_secs(60);
    while current_step(&runs).as_deref() != Some("run") {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_stopped_clean(
        &fb,
        "sig-box",
        &user,
        record(&o)["run_id"].as_str().unwrap(),
    );
}
