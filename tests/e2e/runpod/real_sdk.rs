//! The fake proven against the real `runpod` SDK from PyPI (scripts/test installs it into
//! target/runpod-venv; `RUNPLZ_TEST_RUNPOD_PYTHON` names another Python that has it): the
//! SDK's own queries and mutations (values written inline, the fields it selects) run
//! against the fake and get what the SDK reads, a pod it creates answers ssh, and a wrong
//! key gets the SDK's own 401 error.

use crate::support::fakerunpod::KEY;
use crate::support::FakeRunpod;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Python with the real SDK, made here if scripts/test has not; None (the test is
/// skipped, saying why) only where it cannot be installed.
fn real_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RUNPLZ_TEST_RUNPOD_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/runpod-venv");
    let py = venv.join("bin/python");
    if py.exists() {
        return Some(py);
    }
    let made = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "runpod>=1.12,<2"])
            .status()
            .is_ok_and(|s| s.success());
    if made {
        Some(py)
    } else {
        eprintln!(
            "SKIPPED: the runpod SDK could not be installed into {} (no PyPI here?)",
            venv.display()
        );
        None
    }
}

#[test]
fn the_real_sdk_runs_its_calls_against_the_fake() {
    let Some(py) = real_python() else { return };
    let rp = FakeRunpod::new();
    let keys = crate::support::shm_tempdir();
    let key = keys.path().join("id");
    assert!(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap()
        .success());
    let o = Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/runpod/sdk_check.py"))
        .env("RUNPOD_API_BASE_URL", &rp.base)
        .env("SDK_KEY", KEY)
        .env("SDK_PUBKEY", key.with_extension("pub"))
        .env("HOME", rp.env.home())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert!(v["version"].as_str().unwrap().starts_with("1."), "{v}");
    let ids = v["gpu_ids"].as_array().unwrap();
    assert!(
        ids.iter().any(|i| i == "NVIDIA RTX A6000") && ids.iter().any(|i| i == "unknown"),
        "{v}"
    );
    assert_eq!(v["a6000_price"].as_f64(), Some(0.49));
    assert_eq!(v["a6000_display"], "RTX A6000");
    assert_eq!(v["created"]["id_len"], 14);
    assert_eq!(
        v["created"]["env"][0]
            .as_str()
            .unwrap()
            .split_once('=')
            .unwrap()
            .0,
        "PUBLIC_KEY"
    );
    assert_eq!(v["pod"]["desiredStatus"], "RUNNING");
    assert_eq!(v["pod"]["costPerHr"].as_f64(), Some(0.49));
    assert_eq!(v["pod"]["gpu"], "RTX A6000");
    let pods = rp.pods();
    assert_eq!(pods.len(), 1);
    assert_eq!(v["ssh"], pods[0]["id"], "ssh into the SDK's pod: {v}");
    assert_eq!(v["listed"], serde_json::json!(["runplz-sdk-check"]));
    assert_eq!(
        (v["stopped"].as_str(), v["resumed"].as_str()),
        (Some("EXITED"), Some("RUNNING"))
    );
    assert!(v["after_terminate"].is_null(), "{v}");
    assert!(
        v["nocap"]
            .as_str()
            .unwrap()
            .contains("no longer any instances available"),
        "{v}"
    );
    assert_eq!(
        v["unauthorized"],
        "Unauthorized request, please check your API key."
    );
    rp.assert_all_released("TERMINATED");
    // The SDK's calls came with the key in the header, as runplz's do.
    assert!(rp
        .calls()
        .iter()
        .filter(|c| c.get("op").is_some())
        .all(|c| c["auth"] == "bearer"));
}
