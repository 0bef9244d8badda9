//! rp-image end-to-end: golden files for every format, hostile values run for real through
//! each format (golden.rs, formats.rs), the shell script's apt and pip paths against fake
//! programs on PATH (script.rs), and the command line's contract (here).

mod formats;
mod golden;
mod script;

use crate::support::{bin_cmd, json, run_expect, shm_tempdir, stderr};
use serde_json::{json, Value};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// rp-image with these arguments, run in `dir`.
fn rp_image(dir: &Path, args: &[&str]) -> Command {
    let mut c = bin_cmd("rp-image");
    c.args(args).current_dir(dir);
    c
}

/// A job on `debian:bookworm-slim` with these steps.
fn job_with(steps: Value) -> Value {
    json!({
        "name": "t",
        "image": {"from_registry": "debian:bookworm-slim", "steps": steps},
        "run": "true"
    })
}

fn write_job(dir: &Path, job: &Value) {
    fs::write(
        dir.join("job.json"),
        serde_json::to_vec_pretty(job).unwrap(),
    )
    .unwrap();
}

/// Render `dir/job.json` in `format` (plus `extra` flags); must succeed.
fn render(dir: &Path, format: &str, extra: &[&str]) -> String {
    let mut args = vec!["job.json", "--format", format];
    args.extend_from_slice(extra);
    let out = run_expect(&mut rp_image(dir, &args), 0);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn reads_the_job_from_stdin() {
    let dir = shm_tempdir();
    let job = job_with(json!([{"run_commands": ["echo hi"]}]));
    let mut child = rp_image(dir.path(), &["-", "--format", "dockerfile"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "FROM debian:bookworm-slim\nENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1\n\
         RUN echo hi\nWORKDIR /workspace\n"
    );
}

#[test]
fn json_wraps_the_same_text_in_a_tagged_record() {
    let dir = shm_tempdir();
    write_job(dir.path(), &job_with(json!([{"env": {"A": "it's \"x\""}}])));
    for format in ["dockerfile", "shell"] {
        let raw = render(dir.path(), format, &[]);
        let out = run_expect(
            &mut rp_image(dir.path(), &["job.json", "--format", format, "--json"]),
            0,
        );
        let rec = json(&out);
        let keys: Vec<&String> = rec.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["type", "version", "format", "text"]);
        assert_eq!(rec["type"], "image");
        assert_eq!(rec["version"], 1);
        assert_eq!(rec["format"], format);
        assert_eq!(rec["text"], raw.as_str());
    }
    // modal is always JSON; --json changes nothing.
    assert_eq!(
        render(dir.path(), "modal", &["--json"]),
        render(dir.path(), "modal", &[])
    );
}

#[test]
fn a_bad_job_exits_2_with_the_job_error_and_nothing_on_stdout() {
    let dir = shm_tempdir();
    let mut job = job_with(json!([{"apt_instal": ["curl"]}]));
    job["name"] = json!("bad");
    write_job(dir.path(), &job);
    for format in ["dockerfile", "shell", "modal"] {
        let out = run_expect(&mut rp_image(dir.path(), &["job.json", "-f", format]), 2);
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(
            err.starts_with("rp-image: job.json:")
                && err.contains("image.steps[0]")
                && err.contains("found unknown key \"apt_instal\"")
                && err.contains("did you mean \"apt_install\"?"),
            "{err}"
        );
    }
    let out = run_expect(
        &mut rp_image(dir.path(), &["missing.json", "-f", "shell"]),
        2,
    );
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("missing.json: cannot read job file"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = shm_tempdir();
    write_job(dir.path(), &job_with(json!([{"apt_install": ["curl"]}])));
    let out = run_expect(
        &mut rp_image(dir.path(), &["job.json", "-f", "dockerfile", "--skip-apt"]),
        2,
    );
    assert_eq!(
        stderr(&out),
        "rp-image: --skip-apt only applies to --format shell (found --format dockerfile)\n"
    );
    assert!(out.stdout.is_empty());
    let out = run_expect(&mut rp_image(dir.path(), &["job.json", "-f", "yaml"]), 2);
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("invalid value 'yaml'"),
        "{}",
        stderr(&out)
    );
    let out = run_expect(&mut rp_image(dir.path(), &["job.json"]), 2);
    assert!(
        stderr(&out).contains("--format <FORMAT>"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_users_dockerfile_passes_through_byte_for_byte() {
    let dir = shm_tempdir();
    // No final newline, CRLF, a tab, `$` and a trailing backslash: nothing may change.
    let text = "FROM alpine:3\r\nRUN echo \"$HOME\" \\\n\t&& echo ü\nENV A='x'";
    fs::write(dir.path().join("Dockerfile"), text).unwrap();
    write_job(
        dir.path(),
        &json!({"name": "t", "image": {"from_dockerfile": "Dockerfile"}, "run": "true"}),
    );
    assert_eq!(render(dir.path(), "dockerfile", &[]), text);
    let out = run_expect(
        &mut rp_image(dir.path(), &["job.json", "-f", "dockerfile", "--json"]),
        0,
    );
    assert_eq!(json(&out)["text"], text);
    let modal: Value = serde_json::from_str(&render(dir.path(), "modal", &[])).unwrap();
    assert_eq!(
        modal["ops"],
        json!([{"op": "from_dockerfile", "path": "Dockerfile"}])
    );
}
