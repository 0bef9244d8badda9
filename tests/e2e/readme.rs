//! The README's and the man pages' command examples, run for real with `sh -c` exactly as
//! written (the built tools first on PATH, jq from the system), so an example that stops
//! working, or a doc edit that breaks one, fails here. Each example is looked up verbatim in
//! its document first. `--host box` resolves through `RUNPLZ_SSH_CONFIG` (a loopback box).
use crate::support::{bin_dir, run_expect, shm_tempdir, stderr, world, SshBox};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

const README: &str = include_str!("../../README.md");

/// `cmd`, after checking that `doc` (named `name`) shows it exactly.
fn shown<'a>(doc: &str, name: &str, cmd: &'a str) -> &'a str {
    assert!(
        doc.contains(cmd),
        "{name} no longer shows `{cmd}`: update the example here too"
    );
    cmd
}

fn readme(cmd: &str) -> &str {
    shown(README, "README.md", cmd)
}

/// A man page as plain text: enough of roff undone (escapes, bold, `\&` guards) to find
/// an example line.
fn man(page: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../man")
        .join(page);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("\\*(Aq", "'")
        .replace("\\-", "-")
        .replace("\\&", "")
        .replace("\\fB", "")
        .replace("\\fR", "")
        .replace("\\e", "\\")
        .replace("\\\\", "\\")
}

/// `sh -c cmd` in `dir`, in the test world (runplz's variables scrubbed), with the built
/// tools first on PATH and `RUNPLZ_SSH_CONFIG` pointing at the box when there is one.
fn sh(dir: &Path, cmd: &str, b: Option<&SshBox>, code: i32) -> Output {
    let mut c = Command::new("sh");
    c.arg("-c").arg(cmd).current_dir(dir);
    world().apply(&mut c);
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("{}:{path}", bin_dir().display()));
    if let Some(b) = b {
        c.env("RUNPLZ_SSH_CONFIG", &b.config);
    }
    run_expect(&mut c, code)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The README's own job.json (its first json block), parsed.
fn readme_job() -> Value {
    let start = README
        .find("```json\n")
        .expect("a json block in the README")
        + 8;
    let len = README[start..].find("```").unwrap();
    serde_json::from_str(&README[start..start + len]).expect("the README's job.json is JSON")
}

/// A folder holding `job` as job.json.
fn job_dir(job: &Value) -> tempfile::TempDir {
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        serde_json::to_string_pretty(job).unwrap(),
    )
    .unwrap();
    d
}

#[test]
fn image_examples_render_the_readme_job() {
    let d = job_dir(&readme_job());
    sh(
        d.path(),
        readme("rp-image job.json --format dockerfile > Dockerfile"),
        None,
        0,
    );
    let dockerfile = std::fs::read_to_string(d.path().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.starts_with("FROM python:3.11-slim\n"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("RUN echo built > /built.txt\n"));

    let page = man("rp-image.1");
    let out = sh(
        d.path(),
        shown(
            &page,
            "rp-image.1",
            "rp-image job.json --format modal | jq -c '.ops[]'",
        ),
        None,
        0,
    );
    let ops: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        ops.first(),
        Some(&json!({"op": "from_registry", "image": "python:3.11-slim", "add_python": null}))
    );
    assert_eq!(
        ops.last(),
        Some(&json!({"op": "workdir", "path": "/workspace"}))
    );

    let out = sh(
        d.path(),
        shown(
            &page,
            "rp-image.1",
            r#"jq '.image.steps += [{"run_commands": ["make"]}]' job.json | rp-image - --format dockerfile"#,
        ),
        None,
        0,
    );
    assert!(
        stdout(&out).ends_with("RUN make\nWORKDIR /workspace\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn sync_dry_run_example_lists_without_connecting() {
    // No RUNPLZ_SSH_CONFIG: `box` resolves nowhere, so any connection would fail.
    let d = job_dir(&readme_job());
    std::fs::write(d.path().join(".env"), "KEY=x\n").unwrap();
    let out = sh(
        d.path(),
        readme("rp-sync up --host box job.json --dry-run"),
        None,
        0,
    );
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["type"], "sync");
    assert_eq!(rec["dry_run"], true);
    assert_eq!(rec["host"], "box");
    assert_eq!(rec["dest"], "runplz/hello");
    assert_eq!(rec["files"], 1);
    assert_eq!(rec["excluded_secrets"], 1);
}

#[test]
fn pipelines_against_a_box() {
    let b = SshBox::start();
    // The README's job with a precondition no machine meets, so there is a failure to show.
    let mut job = readme_job();
    job["preconditions"] = json!({"shm_gb": 100000});
    let d = job_dir(&job);

    let out = sh(
        d.path(),
        readme(r#"rp-probe --host box job.json | jq '.findings[] | select(.level == "failure")'"#),
        Some(&b),
        0,
    );
    let failure: Value = serde_json::from_slice(&out.stdout).expect("exactly one failure");
    assert_eq!(failure["check"], "shm_gb");
    assert_eq!(failure["level"], "failure");
    assert_eq!(failure["wanted"], 100000);

    let out = sh(
        d.path(),
        readme("rp-probe --host box job.json --table"),
        Some(&b),
        3,
    );
    let table = stdout(&out);
    assert!(table.starts_with("FACT "), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("FAILURE") && l.contains("shm_gb")),
        "{table}"
    );

    let out = sh(
        d.path(),
        readme("rp-sync up --host box job.json | jq '.bytes_transferred'"),
        Some(&b),
        0,
    );
    let sent: u64 = stdout(&out).trim().parse().expect("a byte count");
    assert!(sent > 0);
    assert_eq!(b.ssh("ls runplz/hello"), "job.json\n");
    // Nothing changed since: the man page's pipeline counts no file sent.
    let out = sh(
        d.path(),
        shown(
            &man("rp-sync.1"),
            "rp-sync.1",
            "rp-sync up --host box | jq .files_transferred",
        ),
        Some(&b),
        0,
    );
    assert_eq!(stdout(&out), "0\n");

    b.ssh("mkdir -p runplz-out/hello && printf done > runplz-out/hello/r.txt");
    sh(
        d.path(),
        readme("rp-collect --host box --from runplz-out/hello --to out"),
        Some(&b),
        0,
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/r.txt")).unwrap(),
        "done"
    );
}

#[test]
fn exec_example_runs_the_hello_script_on_a_box() {
    let b = SshBox::start();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/train.py");
    std::fs::copy(ex, b.home.join("train.py")).unwrap();
    let d = shm_tempdir();
    let out = sh(
        d.path(),
        readme("rp-exec --host box --timeout 60 -- python3 train.py"),
        Some(&b),
        0,
    );
    // What the script printed, on stdout, as `ssh box python3 train.py` would.
    let printed = stdout(&out);
    assert!(
        printed.starts_with("hi from python ") && printed.contains("step 3/3 loss=0.1250\n"),
        "{printed}"
    );
    let result: Value = serde_json::from_str(&b.ssh("cat out/result.json")).unwrap();
    assert_eq!(result["steps"], 3);

    b.ssh("printf '#!/bin/sh\\nexit 7\\n' > job && chmod +x job");
    let out = sh(
        d.path(),
        shown(
            &man("rp-exec.1"),
            "rp-exec.1",
            "rp-exec --json --host box --timeout 60 -- ./job | jq .exit_code",
        ),
        Some(&b),
        0,
    );
    assert_eq!(stdout(&out), "7\n");

    // The same job here, and how it ended.
    let job = d.path().join("job");
    std::fs::write(&job, "#!/bin/sh\nexit 7\n").unwrap();
    std::fs::set_permissions(&job, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = sh(
        d.path(),
        shown(
            &man("rp-exec.1"),
            "rp-exec.1",
            "rp-exec --json --timeout 60 -- ./job | jq -r .ending.kind",
        ),
        None,
        0,
    );
    assert_eq!(stdout(&out), "exited\n");
}

#[test]
fn collect_tar_example_prints_sha256sum_lines() {
    let d = shm_tempdir();
    crate::records::hello_tar_gz(&d.path().join("outputs.tar.gz"));
    let out = sh(
        d.path(),
        shown(
            &man("rp-collect.1"),
            "rp-collect.1",
            r#"rp-collect --from-tar outputs.tar.gz --to ./out | jq -r '.entries[] | "\(.sha256)  \(.path)"'"#,
        ),
        None,
        0,
    );
    assert_eq!(
        stdout(&out),
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03  a/r.txt\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/a/r.txt")).unwrap(),
        "hello\n"
    );
}

#[test]
fn hello_example_runs_natively() {
    let d = shm_tempdir();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
    let to = d.path().join("examples/hello");
    std::fs::create_dir_all(&to).unwrap();
    for f in ["job.json", "train.py"] {
        std::fs::copy(ex.join(f), to.join(f)).unwrap();
    }
    let out = sh(
        d.path(),
        readme("runplz local examples/hello/job.json --native"),
        None,
        0,
    );
    // The job's own output on stdout; the record with the run's state.
    let printed = stdout(&out);
    assert!(printed.contains("step 3/3 loss=0.1250\n"), "{printed}");
    // The README: "The example writes `examples/hello/out/result.json`."
    let written = readme("examples/hello/out/result.json");
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join(written)).unwrap()).unwrap();
    assert_eq!(result["steps"], 3);
    assert_eq!(result["greeting"], "hello");
}

#[test]
fn plan_example_runs_the_job_on_a_box() {
    let b = SshBox::start();
    let d = job_dir(&json!({
        "name": "planned",
        "image": {"from_registry": "debian:bookworm"},
        "run": "printf 'from the plan' > \"$RUNPLZ_OUT/r.txt\"; exit 4",
        "ssh": {"use_docker": false}
    }));
    let page = man("runplz.1");
    let cmd = shown(
        &page,
        "runplz.1",
        "runplz ssh job.json --host box --plan > run.sh && sh run.sh",
    );
    // The README points at the same script.
    readme("`runplz ssh job.json --host box --plan` prints that script");
    let out = sh(d.path(), cmd, Some(&b), 4);
    let rec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["exit_code"], 4);
    assert!(std::fs::read_to_string(d.path().join("run.sh"))
        .unwrap()
        .starts_with("#!"));
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/r.txt")).unwrap(),
        "from the plan"
    );
}

#[test]
fn brev_example_runs_against_the_fake_brev() {
    let fb = crate::support::FakeBrev::new();
    let d = shm_tempdir();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for (dir, f) in [("hello", "train.py"), ("brev", "job.json")] {
        std::fs::create_dir_all(d.path().join("examples").join(dir)).unwrap();
        std::fs::copy(
            ex.join(dir).join(f),
            d.path().join("examples").join(dir).join(f),
        )
        .unwrap();
    }
    // A clone: the repo ships whole, so the example finds ../hello/train.py.
    crate::support::git(d.path(), &["init", "-q"]);
    let mut c = fb.program("sh");
    c.arg("-c")
        .arg(readme("runplz brev examples/brev/job.json"))
        .current_dir(d.path())
        .env(
            "PATH",
            format!(
                "{}:{}:{}",
                fb.bin_dir().display(),
                bin_dir().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    let out = run_expect(&mut c, 0);
    // The job's own output passes through; the record is kept in the run state.
    assert!(stderr(&out).contains("deleted after"), "{}", stderr(&out));
    let rec = last_run_record(&fb.env.state_dir());
    assert_eq!(
        (&rec["exit_code"], &rec["instance"]["release"]),
        (&json!(0), &json!("deleted"))
    );
    let name = rec["instance"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("runplz-hello-brev-"), "{name}");
    let result: Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("examples/brev/out/result.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&result["steps"], &result["greeting"]),
        (&json!(3), &json!("hello from brev"))
    );
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains(&format!("box {name} (g5.xlarge, $1.01/h) deleted after")),
        "{e}"
    );
    fb.wait_gone(&name);
}

/// The run record of the one run kept in a run-state folder (`runs/<id>.json`, under "run").
fn last_run_record(state: &Path) -> Value {
    let runs: Vec<_> = std::fs::read_dir(state.join("runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(runs[0].path()).unwrap()).unwrap();
    s["run"].clone()
}

#[test]
fn runpod_example_runs_against_the_fake_runpod() {
    let rp = crate::support::FakeRunpod::new();
    let d = shm_tempdir();
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for (dir, f) in [("hello", "train.py"), ("runpod", "job.json")] {
        std::fs::create_dir_all(d.path().join("examples").join(dir)).unwrap();
        std::fs::copy(
            ex.join(dir).join(f),
            d.path().join("examples").join(dir).join(f),
        )
        .unwrap();
    }
    crate::support::git(d.path(), &["init", "-q"]);
    let mut c = rp.env.program("sh");
    c.arg("-c")
        .arg(readme("runplz runpod examples/runpod/job.json"))
        .current_dir(d.path())
        .env("RUNPOD_API_KEY", crate::support::fakerunpod::KEY)
        .env("RUNPOD_API_BASE_URL", &rp.base)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    let out = run_expect(&mut c, 0);
    assert!(
        stderr(&out).contains("terminated after"),
        "{}",
        stderr(&out)
    );
    let rec = last_run_record(&rp.env.state_dir());
    assert_eq!(
        (
            &rec["exit_code"],
            &rec["instance"]["release"],
            &rec["instance"]["instance_type"]
        ),
        (&json!(0), &json!("terminated"), &json!("NVIDIA RTX A6000"))
    );
    // The job's gpu_order and datacenters: the A6000 in US-TX-3 first.
    assert_eq!(rec["instance"]["datacenter"], "US-TX-3");
    let result: Value = serde_json::from_str(
        &std::fs::read_to_string(d.path().join("examples/runpod/out/result.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&result["steps"], &result["greeting"]),
        (&json!(3), &json!("hello from runpod"))
    );
    rp.assert_all_released("TERMINATED");
}

#[test]
fn pack_example_puts_the_repo_and_prints_its_sha256() {
    let d = job_dir(&readme_job());
    std::fs::write(d.path().join(".env"), "KEY=x\n").unwrap();
    let (port, got) = crate::pack::serve_once("200 OK", "");
    let cmd = format!(
        "PRESIGNED_PUT_URL='http://127.0.0.1:{port}/b/repo.tar.gz?X-Amz-Signature=abc'; unset http_proxy HTTP_PROXY all_proxy ALL_PROXY; {}",
        readme(r#"rp-sync pack job.json --to "$PRESIGNED_PUT_URL" | jq -r .sha256"#)
    );
    let out = sh(d.path(), &cmd, None, 0);
    let req = got.recv().unwrap();
    assert!(req.line.starts_with("PUT /b/repo.tar.gz?"), "{}", req.line);
    use sha2::{Digest, Sha256};
    let want: String = Sha256::digest(&req.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(stdout(&out).trim(), want);
}
