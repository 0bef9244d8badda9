//! Golden files: every job under tests/golden/image/<case>/ rendered in every format, compared
//! byte for byte with `<variant>.golden` (stdout, exit 0) or `<variant>.err` (exit code and
//! stderr). `RUNPLZ_BLESS=1` rewrites them. Each output is also checked for what a golden
//! cannot show: the script parses (`bash -n`), every Dockerfile line is one instruction, the
//! Modal record is tagged JSON.

use super::rp_image;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/image")
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(golden_root())
        .expect("tests/golden/image")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("job.json").is_file())
        .collect();
    v.sort();
    assert!(
        v.len() >= 5,
        "expected at least 5 golden cases, found {v:?}"
    );
    v
}

/// The variants rendered for a case: (file stem, arguments).
fn variants(case: &Path) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut v = vec![
        ("dockerfile", vec!["--format", "dockerfile"]),
        ("shell", vec!["--format", "shell"]),
        ("modal", vec!["--format", "modal"]),
    ];
    let job = fs::read_to_string(case.join("job.json")).unwrap();
    if job.contains("\"apt_install\"") {
        v.push(("shell-skip-apt", vec!["--format", "shell", "--skip-apt"]));
    }
    v
}

/// Checks beyond the bytes: the output must be well-formed for its format.
fn check_well_formed(case: &Path, stem: &str, text: &str) {
    match stem {
        "shell" | "shell-skip-apt" => {
            let out = Command::new("bash")
                .args(["-n", "-c", text])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: bash -n rejects the {stem} script: {}",
                case.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        "dockerfile" if !case.ends_with("from-dockerfile") => {
            for line in text.lines() {
                let word = line.split(' ').next().unwrap_or("");
                assert!(
                    ["FROM", "ENV", "RUN", "COPY", "WORKDIR"].contains(&word),
                    "{}: a Dockerfile line that is not an instruction: {line:?}",
                    case.display()
                );
                if let Some(json) = line.strip_prefix("RUN [") {
                    let argv: Vec<String> = serde_json::from_str(&format!("[{json}"))
                        .unwrap_or_else(|e| panic!("exec form is not JSON ({e}): {line}"));
                    assert!(
                        argv[0] == "python3" || argv[..2] == ["/bin/sh", "-c"],
                        "{line}"
                    );
                }
            }
            assert!(text.starts_with("FROM ") && text.ends_with("WORKDIR /workspace\n"));
        }
        "modal" => {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["type"], "image");
            assert_eq!(v["version"], 1);
            assert_eq!(v["format"], "modal");
            assert!(text.ends_with("}\n") && text.lines().count() == 1);
        }
        _ => {}
    }
}

#[test]
fn goldens_pin_every_format() {
    let bless = std::env::var_os("RUNPLZ_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for case in cases() {
        for (stem, args) in variants(&case) {
            let mut all = args.clone();
            all.insert(0, "job.json");
            let out = rp_image(&case, &all).output().unwrap();
            let ok_path = case.join(format!("{stem}.golden"));
            let err_path = case.join(format!("{stem}.err"));
            let (path, got, other) = if out.status.success() {
                let text = String::from_utf8(out.stdout.clone()).unwrap();
                check_well_formed(&case, stem, &text);
                (ok_path, out.stdout, err_path)
            } else {
                assert!(out.stdout.is_empty(), "{stem}: stdout on failure");
                let mut e = format!("exit {}\n", out.status.code().unwrap_or(-1)).into_bytes();
                e.extend_from_slice(&out.stderr);
                (err_path, e, ok_path)
            };
            if bless {
                fs::write(&path, &got).unwrap();
                let _ = fs::remove_file(&other);
            } else if fs::read(&path).ok().as_deref() != Some(&got[..]) {
                stale.push(format!(
                    "{}\n--- got\n{}",
                    path.display(),
                    String::from_utf8_lossy(&got)
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "golden files differ (rerun with RUNPLZ_BLESS=1 to accept):\n{}",
        stale.join("\n")
    );
}
