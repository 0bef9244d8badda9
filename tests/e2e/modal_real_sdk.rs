//! The helper against the real `modal` package from PyPI (scripts/test installs it into
//! target/modal-venv; `RUNPLZ_TEST_REAL_MODAL_PYTHON` names another Python that has it):
//! every SDK attribute and keyword the helper uses exists there, the fake has the same
//! ones, and a run with no token fails in seconds with runplz's own line.

use super::modal::{fixtures, ModalWorld};
use crate::support::{json, run_expect, stderr};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn real_python() -> PathBuf {
    let p = std::env::var_os("RUNPLZ_TEST_REAL_MODAL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/modal-venv/bin/python")
        });
    assert!(
        p.exists(),
        "{} is missing: scripts/test makes it (python3 -m venv target/modal-venv && target/modal-venv/bin/pip install 'modal>=1.4.3,<2')",
        p.display()
    );
    p
}

fn helper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../lib/core/src/modal/helper.py")
}

/// The helper's `selfcheck` with `python` (and PYTHONPATH, for the fake).
fn selfcheck(python: &Path, pythonpath: Option<&Path>) -> serde_json::Value {
    let mut c = Command::new(python);
    c.arg("-B").arg(helper()).env_remove("PYTHONPATH");
    if let Some(p) = pythonpath {
        c.env("PYTHONPATH", p);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            br#"{"action": "selfcheck", "deadlines": {"connect": 5, "call": 5, "create": 5}}"#,
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.trim()).unwrap()
}

#[test]
fn modal_helper_uses_only_what_the_real_sdk_and_the_fake_both_have() {
    let real = selfcheck(&real_python(), None);
    assert_eq!(real["event"], "ok");
    let v = real["version"].as_str().unwrap();
    assert!(v.starts_with("1."), "{v}");
    assert!(real["checked"].as_u64().unwrap() >= 20, "{real}");
    let fake = selfcheck(Path::new("python3"), Some(&fixtures()));
    assert_eq!(fake["event"], "ok");
    assert_eq!(fake["checked"], real["checked"]);
}

#[test]
fn modal_with_the_real_sdk_and_no_token_fails_in_seconds() {
    let w = ModalWorld::new(
        r#"{"name": "nt", "image": {"from_registry": "python:3.11-slim"}, "run": "echo never", "timeout": 60}"#,
    );
    let t = Instant::now();
    let out = run_expect(
        w.runplz(&["modal", "job.json", "--json"])
            .env_remove("PYTHONPATH")
            .env_remove("MODAL_TOKEN_ID")
            .env_remove("MODAL_TOKEN_SECRET")
            .env_remove("MODAL_PROFILE")
            .env("RUNPLZ_MODAL_PYTHON", real_python()),
        7,
    );
    // The SDK's own wait for an unreachable server is a minute.
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let err = stderr(&out);
    assert!(err.contains("no Modal token here"), "{err}");
    let r = json(&out);
    assert_eq!(
        r["ending"],
        serde_json::json!({"kind": "failed", "step": "acquire"})
    );
}
