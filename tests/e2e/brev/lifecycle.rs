//! Each lifecycle row: an ephemeral box picked, created, used and deleted; a pinned type;
//! a named box started and stopped (or deleted, or left); the typo guard; two runs at once;
//! the plan run end to end.

use super::*;
use crate::support::{stderr, FakeBrev};
use serde_json::Value;

#[test]
fn ephemeral_box_is_picked_created_used_and_deleted() {
    let fb = FakeBrev::new();
    let (dir, job) = fb.job(JOB);
    let o = run(&fb, &job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let r = record(&o);
    let name = only_box_name(&fb);
    assert!(name.starts_with("runplz-train-"), "{name}");
    // Picked: the cheapest A10G in the catalog, created in container mode, detached, with
    // stdin at /dev/null (a pipe would make brev read it).
    let create = &fb.calls_of("create")[0];
    for w in [
        "--type",
        "g5.xlarge",
        "--detached",
        "--mode",
        "container",
        "--container-image",
        "debian:12",
    ] {
        assert!(create.contains(&w.to_string()), "{create:?} lacks {w}");
    }
    assert!(
        fb.calls().iter().all(|c| c["stdin_is_chr"] == true),
        "{:?}",
        fb.calls()
    );
    // Ran on the box as the box's user, and the output came back.
    let user = fb
        .state()
        .iter()
        .find(|b| b["name"] == name.as_str())
        .unwrap()["user"]
        .as_str()
        .unwrap()
        .to_string();
    let hi = std::fs::read_to_string(dir.path().join("out/hi.txt")).unwrap();
    assert_eq!(hi.trim(), format!("ran as {user}"));
    let inst = &r["instance"];
    assert_eq!(inst["name"], name.as_str());
    assert_eq!(
        (
            inst["instance_type"].as_str(),
            inst["provider"].as_str(),
            inst["release"].as_str()
        ),
        (Some("g5.xlarge"), Some("aws"), Some("deleted"))
    );
    assert_eq!(inst["price_per_hour"].as_f64(), Some(1.006));
    assert!(inst["billed_seconds"].as_f64().unwrap() > 0.0);
    assert!(inst["cost"].as_f64().is_some());
    let e = stderr(&o);
    assert!(
        e.contains(&format!("box {name} (g5.xlarge, $1.01/h) deleted after"))
            && e.contains(": about $"),
        "{e}"
    );
    // The run state named the box.
    let runs = fb.env.state_dir().join("runs");
    let st: Value = serde_json::from_str(
        &std::fs::read_to_string(runs.join(format!("{}.json", r["run_id"].as_str().unwrap())))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(st["handle"]["instance"], name.as_str());
    assert_eq!(st["teardown"]["status"], "done");
    assert_eq!(st["teardown"]["policy"], "delete");
    assert_deleted(&fb, &name);
}

#[test]
fn pinned_type_skips_the_picker() {
    // brev v0.6.317-322 printed `ls --json` as a bare array: read the same.
    let fb = FakeBrev::new().var("FAKE_BREV_LS_SHAPE", "array");
    let (_d, job) = fb.job(
        r#"{"name": "pin", "image": {"from_registry": "debian:12"}, "run": "true",
            "brev": {"instance_type": "n2-standard-4", "mode": "vm", "use_docker": false}}"#,
    );
    let o = run(&fb, &job, &[]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    // Nothing is picked before the create; brev search is asked after it only for the
    // pinned type's price, unfiltered.
    let verbs: Vec<Vec<String>> = fb
        .calls()
        .iter()
        .map(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    let created_at = verbs.iter().position(|v| v[0] == "create").unwrap();
    for (i, v) in verbs.iter().enumerate().filter(|(_, v)| v[0] == "search") {
        assert!(
            i > created_at
                && !v
                    .iter()
                    .any(|a| a.starts_with("--min") || a == "--gpu-name"),
            "{verbs:?}"
        );
    }
    assert_eq!(
        record(&o)["instance"]["price_per_hour"].as_f64(),
        Some(0.19)
    );
    let create = &fb.calls_of("create")[0];
    assert!(
        create.windows(2).any(|w| w == ["--type", "n2-standard-4"]),
        "{create:?}"
    );
    assert!(
        create.windows(2).any(|w| w == ["--mode", "vm"]),
        "{create:?}"
    );
    assert_deleted(&fb, &create[1]);
}

#[test]
fn named_box_is_started_used_and_stopped() {
    let fb = FakeBrev::new();
    let user = named_box(&fb, "my-box");
    let (dir, job) = fb.job(JOB);
    let o = run(&fb, &job, &["--instance", "my-box"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let r = record(&o);
    assert!(fb
        .calls_of("start")
        .iter()
        .any(|c| c == &["start", "my-box", "-d"]));
    assert_eq!(fb.calls_of("create").len(), 1, "only the test's own create");
    assert!(std::fs::read_to_string(dir.path().join("out/hi.txt"))
        .unwrap()
        .contains(&user));
    assert_eq!(r["instance"]["release"], "stopped");
    assert_eq!(r["instance"]["created"], false);
    // Its price comes from `brev search`, so the cost line and the record have it too.
    assert_eq!(r["instance"]["price_per_hour"].as_f64(), Some(1.006));
    assert!(
        stderr(&o).contains("box my-box (g5.xlarge, $1.01/h) stopped after")
            && stderr(&o).contains(": about $"),
        "{}",
        stderr(&o)
    );
    assert_stopped_clean(&fb, "my-box", &user, r["run_id"].as_str().unwrap());
}

#[test]
fn named_box_on_finish_delete_and_leave() {
    let fb = FakeBrev::new();
    named_box(&fb, "del-box");
    let (_d, job) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "true", "brev": {"on_finish": "delete"}}"#,
    );
    let o = run(&fb, &job, &["--instance", "del-box"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_deleted(&fb, "del-box");

    named_box(&fb, "keep-box");
    let (_d2, job2) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "true", "brev": {"on_finish": "leave"}}"#,
    );
    let o = run(&fb, &job2, &["--instance", "keep-box"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert_eq!(fb.get("keep-box").unwrap()["status"], "RUNNING");
    assert!(stderr(&o).contains("left running"), "{}", stderr(&o));
    assert_eq!(record(&o)["instance"]["release"], "left");
    fb.brev(&["delete", "keep-box"]);
}

#[test]
fn a_mistyped_box_name_creates_nothing() {
    let fb = FakeBrev::new();
    named_box(&fb, "my-box");
    let (_d, job) = fb.job(JOB);
    let o = run(&fb, &job, &["--instance", "my-bx"]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("no Brev box named \"my-bx\"")
            && e.contains("nothing was created and nothing is billed")
            && e.contains("auto_create_instances"),
        "{e}"
    );
    assert_eq!(fb.calls_of("create").len(), 1, "only the test's own create");
    assert!(fb.calls_of("start").is_empty());
    assert_eq!(fb.ls().len(), 1);

    // With auto_create_instances the name is created (and, being named, stopped after).
    let (_d2, job2) = fb.job(
        r#"{"name": "t", "image": {"from_registry": "debian:12"}, "run": "true", "resources": {"gpu": "A10G"}, "brev": {"auto_create_instances": true}}"#,
    );
    let o = run(&fb, &job2, &["--instance", "new-box"]);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    assert!(fb.calls_of("create").iter().any(|c| c[1] == "new-box"));
    assert_eq!(record(&o)["instance"]["created"], true);
    assert!(
        ["STOPPING", "STOPPED"].contains(&fb.get("new-box").unwrap()["status"].as_str().unwrap())
    );
}

#[test]
fn the_plan_runs_against_brev_and_its_trap_deletes_the_box() {
    let fb = FakeBrev::new();
    let (dir, job) = fb.job(JOB);
    let mut c = fb.cmd("runplz");
    c.arg("brev").arg(&job).arg("--plan");
    let o = FakeBrev::output(&mut c);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let plan = String::from_utf8_lossy(&o.stdout).into_owned();
    for w in [
        "rp-pick --job \"$JOB\"",
        "rp-box create \"$BOX\"",
        "rp-box wait \"$BOX\"",
        "release_place",
        "trap",
        "rp-box delete \"$BOX\"",
    ] {
        assert!(plan.contains(w), "the plan lacks {w}:\n{plan}");
    }
    assert!(
        fb.calls().is_empty(),
        "--plan called brev: {:?}",
        fb.calls()
    );
    let script = dir.path().join("plan.sh");
    std::fs::write(&script, &plan).unwrap();
    let mut sh = fb.program("sh");
    // The fake brev stays first; the rp-* tools come next.
    sh.env(
        "PATH",
        format!(
            "{}:{}:{}",
            fb.bin_dir().display(),
            crate::support::bin_dir().display(),
            std::env::var("PATH").unwrap()
        ),
    );
    sh.arg(&script).current_dir(dir.path());
    let o = FakeBrev::output(&mut sh);
    assert_eq!(code(&o), Some(0), "{}\n{plan}", stderr(&o));
    let name = only_box_name(&fb);
    assert!(std::fs::read_to_string(dir.path().join("out/hi.txt"))
        .unwrap()
        .starts_with("ran as "));
    assert_deleted(&fb, &name);
}

#[test]
fn two_runs_at_once_get_a_box_each_and_delete_both() {
    let fb = FakeBrev::new();
    let (_d1, job1) = fb.job(JOB);
    let (_d2, job2) = fb.job(JOB);
    let (o1, o2) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&fb, &job1, &[]));
        let b = s.spawn(|| run(&fb, &job2, &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(
        (code(&o1), code(&o2)),
        (Some(0), Some(0)),
        "{}\n{}",
        stderr(&o1),
        stderr(&o2)
    );
    let n1 = record(&o1)["instance"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let n2 = record(&o2)["instance"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(n1, n2);
    assert_eq!(fb.calls_of("create").len(), 2);
    assert_deleted(&fb, &n1);
    assert_deleted(&fb, &n2);
}

#[test]
fn a_hostile_instance_name_is_refused_before_brev_is_called() {
    let fb = FakeBrev::new();
    let (d, job) = fb.job(JOB);
    let marker = d.path().join("pwned");
    let name = format!("a$(touch {})", marker.display());
    let o = run(&fb, &job, &["--instance", &name]);
    assert_eq!(code(&o), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--instance"), "{}", stderr(&o));
    assert!(fb.calls().is_empty(), "{:?}", fb.calls());
    assert!(!marker.exists());
}
