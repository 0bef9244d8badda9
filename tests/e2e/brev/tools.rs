//! rp-box's verbs, and the fake brev's own contract with the real CLI.

use super::*;
use crate::support::{stderr, FakeBrev};
use serde_json::Value;
use std::process::{Command, Stdio};

#[test]
fn rp_box_verbs_are_checked_with_brev_ls() {
    let fb = FakeBrev::new();
    let rp = |args: &[&str]| -> (Option<i32>, Value, String) {
        let mut c = fb.cmd("rp-box");
        c.args(args);
        let o = FakeBrev::output(&mut c);
        let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        (o.status.code(), v, stderr(&o))
    };
    // rp-pick's record on stdin gives the types, as in the man page's example.
    let catalog =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/brev/catalog.json");
    let mut c = fb.program("sh");
    c.arg("-c")
        .arg(format!(
            "rp-pick --catalog '{}' --gpu A100 --min-ram 64 | rp-box create b-0 --mode vm",
            catalog.display()
        ))
        .env(
            "PATH",
            format!(
                "{}:{}:{}",
                fb.bin_dir().display(),
                crate::support::bin_dir().display(),
                std::env::var("PATH").unwrap()
            ),
        );
    let o = FakeBrev::output(&mut c);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let create = &fb.calls_of("create")[0];
    let types = &create[create.iter().position(|a| a == "--type").unwrap() + 1];
    assert!(types.starts_with("hyperstack_A100,"), "{create:?}");
    assert_eq!(v["box"]["instance_type"], "hyperstack_A100");
    // rp-box read the pipe itself; brev got /dev/null (with the pipe it would read types).
    assert!(
        fb.calls().iter().all(|c| c["stdin_is_chr"] == true),
        "{:?}",
        fb.calls()
    );
    let (c, _, e) = rp(&["delete", "b-0"]);
    assert_eq!(c, Some(0), "{e}");
    let (c, v, e) = rp(&["create", "b-1", "--type", "g5.xlarge", "--mode", "vm"]);
    assert_eq!(c, Some(0), "{e}");
    assert_eq!(
        (
            v["type"].as_str(),
            v["verb"].as_str(),
            v["box"]["name"].as_str()
        ),
        (Some("box"), Some("create"), Some("b-1"))
    );
    let cfg = fb.dir.path().join("b1.ssh");
    let (c, v, e) = rp(&[
        "wait",
        "b-1",
        "--timeout",
        "20",
        "--ssh-config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(c, Some(0), "{e}");
    assert_eq!(v["box"]["status"], "RUNNING");
    // The config reaches the box with plain ssh, no tty asked, no brev control master.
    let o = Command::new("ssh")
        .arg("-F")
        .arg(&cfg)
        .args(["-o", "BatchMode=yes", "b-1", "echo", "hi"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "hi",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("Pseudo-terminal"));
    let (c, v, _) = rp(&["stop", "b-1"]);
    assert_eq!(c, Some(0));
    assert!(v["verified"].as_str().unwrap().contains("STOPP"), "{v}");
    let (c, v, e) = rp(&["start", "b-1"]);
    assert_eq!(c, Some(0), "{e}");
    assert!(
        ["STARTING", "RUNNING"].contains(&v["box"]["status"].as_str().unwrap()),
        "{v}"
    );
    // ls: ours only by default; every shape brev has printed reads the same.
    fb.brev(&["create", "runplz-x-0000abcd", "--type", "g5.xlarge", "-d"]);
    let (_, v, _) = rp(&["ls"]);
    let names: Vec<&str> = v["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["runplz-x-0000abcd"]);
    let mut c = fb.cmd("rp-box");
    c.args(["ls", "--all"]).env("FAKE_BREV_LS_SHAPE", "array");
    let v: Value = serde_json::from_slice(&FakeBrev::output(&mut c).stdout).unwrap();
    assert_eq!(v["boxes"].as_array().unwrap().len(), 2);
    // start of an unknown name: brev exits 0; rp-box does not believe it.
    let (c, _, e) = rp(&["start", "nope"]);
    assert_eq!(c, Some(1));
    assert!(e.contains("does not exist"), "{e}");
    for n in ["b-1", "runplz-x-0000abcd"] {
        let (c, v, e) = rp(&["delete", n]);
        assert_eq!(c, Some(0), "{e}");
        assert!(
            v["verified"].as_str().unwrap().contains("DELETING")
                || v["verified"].as_str().unwrap().contains("no longer"),
            "{v}"
        );
        fb.wait_gone(n);
    }
    let (c, v, _) = rp(&["status", "b-1"]);
    assert_eq!((c, v["box"].clone()), (Some(0), Value::Null));
    // Bad names are refused before brev is called.
    let before = fb.calls().len();
    let (c, _, _) = rp(&["delete", "-rf"]);
    assert_eq!(c, Some(2));
    let (c, _, _) = rp(&["create", "a b", "--type", "g5.xlarge"]);
    assert_eq!(c, Some(2));
    assert_eq!(fb.calls().len(), before);
}

#[test]
fn fake_brev_keeps_the_real_clis_contract() {
    let fb = FakeBrev::new();
    let brev = |args: &[&str]| {
        let mut c = Command::new(crate::support::bin("rpt-brev"));
        fb.env.apply(&mut c);
        c.env("FAKE_BREV_DIR", fb.dir.path())
            .args(args)
            .stdin(Stdio::null());
        c.output().unwrap()
    };
    let o = brev(&["search", "--min-gpus", "4"]);
    assert_eq!(
        (o.status.code(), stderr(&o).trim()),
        (Some(1), "unknown flag: --min-gpus")
    );
    let o = brev(&["search", "--sort", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("invalid sort option \"x\". Valid options: arch, boot-time"));
    let o = brev(&["search", "--gpu-name", "nothing-like-it", "--json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    let o = brev(&["search", "--gpu-name", "nothing-like-it"]);
    assert_eq!((o.status.code(), o.stdout.len()), (Some(0), 0));
    // (An account past brev's onboarding: see brevs_first_time_onboarding_is_skipped.)
    std::fs::write(
        fb.env.home().join(".brev/onboarding_step.json"),
        r#"{"step":1,"hasRunBrevShell":true,"hasRunBrevOpen":false}"#,
    )
    .unwrap();
    let o = brev(&["ls", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .collect::<String>(),
        "{\"workspaces\":null}"
    );
    let o = brev(&["create", "-bad", "--type", "g5.xlarge"]);
    assert_eq!(o.status.code(), Some(1));
    let o = brev(&["create", "x", "--type", "g5.xlarge", "--mode", "container"]);
    assert_eq!(o.status.code(), Some(1));
    let o = brev(&["--version", "--no-check-latest"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("Current Version: v0.6."));
}

#[test]
fn brevs_first_time_onboarding_is_skipped() {
    // The fake, as brev, greets a new account after its first `ls`, on stdout.
    let fb = FakeBrev::new();
    let mut c = Command::new(crate::support::bin("rpt-brev"));
    fb.env.apply(&mut c);
    c.env("FAKE_BREV_DIR", fb.dir.path()).args(["ls", "--json"]);
    let o = FakeBrev::output(&mut c);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("first time using Brev"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // rp-box on a new account: brev's `ls --json` stays JSON.
    let fb = FakeBrev::new();
    let mut c = fb.cmd("rp-box");
    c.arg("ls");
    let o = FakeBrev::output(&mut c);
    assert_eq!(code(&o), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["boxes"], serde_json::json!([]));
    let f = fb.env.home().join(".brev/onboarding_step.json");
    assert!(std::fs::read_to_string(f).unwrap().contains("\"step\":1"));
}
