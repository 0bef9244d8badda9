//! `runplz modal` end to end, through the real runplz binary and its real Python helper,
//! against the fake `modal` package in tests/fixtures/modal (which records what it is given
//! and runs the sandbox's commands on this machine, its /workspace, /out and /runplz under
//! the sandbox's folder). The helper is bound to the real SDK by `modal_real_sdk.rs`.

use crate::support::{json, run_expect, shm_tempdir, stderr, TestEnv};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A secret value that must reach the job and nothing else.
pub(crate) const SECRET: &str = "s3cr3t-value-9f2a";

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/modal")
}

/// One test's world: its own HOME/XDG (run state), a git repo holding the job, and the
/// fake's folder.
pub(crate) struct ModalWorld {
    pub env: TestEnv,
    pub repo: tempfile::TempDir,
    pub fake: tempfile::TempDir,
}

impl ModalWorld {
    pub fn new(job: &str) -> ModalWorld {
        let repo = shm_tempdir();
        crate::support::git(repo.path(), &["init", "-q", "."]);
        std::fs::write(repo.path().join("job.json"), job).unwrap();
        ModalWorld {
            env: TestEnv::new(),
            repo,
            fake: shm_tempdir(),
        }
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.repo.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// `runplz ARGS` in the repo, with the fake on PYTHONPATH and a (fake) token.
    pub fn runplz(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd("runplz");
        c.current_dir(self.repo.path())
            .args(args)
            .env("PYTHONPATH", fixtures())
            .env("FAKE_MODAL_DIR", self.fake.path())
            .env("MODAL_TOKEN_ID", "ak-fake")
            .env("MODAL_TOKEN_SECRET", "as-fake")
            .env("MYSECRET", SECRET)
            .env_remove("FAKE_MODAL_FAIL");
        c
    }

    pub fn sandboxes(&self) -> Vec<Value> {
        let dir = self.fake.path().join("sandboxes");
        let mut v: Vec<Value> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let t = std::fs::read_to_string(e.path().join("meta.json")).unwrap();
                        serde_json::from_str(&t).unwrap()
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by_key(|m| m["created_at"].as_f64().unwrap_or(0.0) as u64);
        v
    }

    pub fn sandbox(&self, id: &str) -> Value {
        let t = std::fs::read_to_string(
            self.fake
                .path()
                .join("sandboxes")
                .join(id)
                .join("meta.json"),
        )
        .unwrap_or_else(|e| panic!("sandbox {id}: {e}"));
        serde_json::from_str(&t).unwrap()
    }

    pub fn sandbox_root(&self, id: &str) -> PathBuf {
        self.fake.path().join("sandboxes").join(id).join("root")
    }

    /// Where runplz keeps run states.
    pub fn runs(&self) -> PathBuf {
        self.env.state_dir().join("runs")
    }

    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.fake.path().join("calls.jsonl")).unwrap_or_default()
    }

    pub fn state(&self, run_id: &str) -> Value {
        let p = self.runs().join(format!("{run_id}.json"));
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
    }
}

pub(crate) fn job(run: &str, extra: &str) -> String {
    format!(
        r#"{{"name": "mj", "image": {{"from_registry": "python:3.11-slim"}}, "run": {}, "timeout": 60{extra}}}"#,
        serde_json::to_string(run).unwrap()
    )
}

/// Every file under `dir`, relative, sorted.
pub(crate) fn tree(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                v.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    v.sort();
    v
}

pub(crate) fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[test]
fn modal_dry_run_prints_what_would_be_sent_and_touches_nothing() {
    let w = ModalWorld::new(
        r#"{"name": "dry", "image": {"from_registry": "nvidia/cuda:12.4.1-devel-ubuntu22.04",
            "steps": [{"apt_install": ["git"]}, {"pip_install": ["torch==2.4.0"]}, {"env": {"A": "1"}}]},
            "run": "python train.py", "env": {"PLAIN": "p"}, "pass_env": ["MYSECRET"],
            "resources": {"gpu": "A100", "num_gpus": 4, "min_gpu_memory": 80, "min_cpu": 8, "min_memory": 16.5},
            "timeout": 3600}"#,
    );
    let out = run_expect(&mut w.runplz(&["modal", "job.json", "--dry-run"]), 0);
    let r = json(&out);
    assert_eq!(r["type"], "modal-plan");
    assert_eq!(r["app"], "runplz");
    assert_eq!(r["gpu"], "A100-80GB:4");
    assert_eq!(r["cpu"], 8.0);
    assert_eq!(r["memory_mb"], 16896);
    assert_eq!(r["timeout"], 3600);
    assert_eq!(r["sandbox_timeout"], 4200);
    assert_eq!(r["workdir"], "/workspace");
    assert_eq!(
        r["command"],
        serde_json::json!(["bash", "-lc", "python train.py"])
    );
    assert_eq!(r["env_names"], serde_json::json!(["MYSECRET", "PLAIN"]));
    assert_eq!(
        r["tags"],
        serde_json::json!({"created_by": "runplz", "runplz_created_at": null, "runplz_job": "dry", "runplz_run_id": null})
    );
    let ops: Vec<&str> = r["image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "from_registry",
            "apt_install",
            "pip_install",
            "env",
            "workdir",
            "add_local_dir"
        ]
    );
    let last = r["image"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["remote_path"], "/workspace");
    assert_eq!(last["copy"], false);
    // Names only, never a value; nothing asked of Modal, no run state.
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains(SECRET) && !all.contains("\"p\""), "{all}");
    assert_eq!(w.calls(), "");
    assert!(!w.env.state_dir().exists() || tree(&w.env.state_dir()).is_empty());
}

#[test]
fn modal_attached_run_streams_logs_and_brings_out_back() {
    let run = r#"echo "out-line $PLAIN"; echo err-line >&2; echo "secret=$MYSECRET" > "$RUNPLZ_OUT/seen.txt"
mkdir -p "$RUNPLZ_OUT/deep/er"; printf x > "$RUNPLZ_OUT/deep/er/f.bin"; echo "$RUNPLZ_RUN_ID" > "$RUNPLZ_OUT/id"
ls -a > "$RUNPLZ_OUT/ls.txt"; cat sub/data.txt > "$RUNPLZ_OUT/data"; exit 3"#;
    let w = ModalWorld::new(&format!(
        r#"{{"name": "mj", "run": {}, "timeout": 60, "env": {{"PLAIN": "p1"}}, "pass_env": ["MYSECRET"],
           "image": {{"from_registry": "python:3.11-slim", "steps": [{{"apt_install": ["curl"]}},
             {{"run_commands": ["echo $(id -u) > /tmp/x"]}}, {{"pip_install_local_dir": "sub"}}]}},
           "resources": {{"min_gpu_memory": 24, "min_cpu": 2, "min_memory": 4}}}}"#,
        serde_json::to_string(run).unwrap()
    ));
    w.write(".env", "TOKEN=never-leaves\n");
    w.write("sub/data.txt", "data\n");
    w.write("sub/.env.local", "TOKEN=never\n");
    w.write("id_rsa", "KEY\n");
    let out = run_expect(&mut w.runplz(&["modal", "job.json", "--json"]), 3);
    let r = json(&out);
    let err = stderr(&out);
    let run_id = r["run_id"].as_str().unwrap().to_string();
    assert_eq!(r["backend"], "modal");
    assert_eq!(
        r["ending"],
        serde_json::json!({"kind": "exited", "code": 3})
    );
    assert_eq!(r["exit_code"], 3);
    assert_eq!(r["env_passed"], serde_json::json!(["MYSECRET"]));
    assert!(
        err.contains("out-line p1") && err.contains("err-line"),
        "{err}"
    );
    // /out came back through the tarball, whole.
    let o = w.repo.path().join("out");
    assert_eq!(
        tree(&o),
        ["data", "deep/er/f.bin", "id", "ls.txt", "seen.txt"]
    );
    assert_eq!(r["outputs"]["files"], 5);
    assert_eq!(
        std::fs::read_to_string(o.join("seen.txt")).unwrap(),
        format!("secret={SECRET}\n")
    );
    assert_eq!(
        std::fs::read_to_string(o.join("id")).unwrap().trim(),
        run_id
    );
    assert_eq!(std::fs::read_to_string(o.join("data")).unwrap(), "data\n");
    // The tarball does not stay behind.
    assert!(!w
        .env
        .state_dir()
        .join(format!("{run_id}.out.tar.gz"))
        .exists());
    // What Modal was given.
    let sbs = w.sandboxes();
    assert_eq!(sbs.len(), 1);
    let sb = &sbs[0];
    let id = sb["id"].as_str().unwrap();
    assert_eq!(sb["app"], "runplz");
    assert_eq!(sb["gpu"], "L4");
    assert_eq!(sb["cpu"], 2.0);
    assert_eq!(sb["memory"], 4096);
    assert_eq!(sb["timeout"], 660);
    // runplz's mark, the run, the job, and when it was made (the SDK does not say).
    let made = sb["tags"]["runplz_created_at"]
        .as_str()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{}", sb["tags"]));
    assert!(
        (made - sb["created_at"].as_f64().unwrap()).abs() < 5.0,
        "{sb}"
    );
    assert_eq!(
        sb["tags"],
        serde_json::json!({"created_by": "runplz", "runplz_run_id": run_id, "runplz_job": "mj",
            "runplz_created_at": sb["tags"]["runplz_created_at"]})
    );
    assert_eq!(sb["secret_names"], serde_json::json!(["MYSECRET", "PLAIN"]));
    assert_eq!(sb["state"], "terminated", "release terminates the sandbox");
    let ops: Vec<&str> = sb["image"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["op"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "from_registry",
            "apt_install",
            "run_commands",
            "add_local_dir",
            "run_commands",
            "workdir",
            "add_local_dir"
        ]
    );
    assert_eq!(
        sb["image"][2]["commands"],
        serde_json::json!(["echo $(id -u) > /tmp/x"])
    );
    // Every local folder Modal gets is inside the staged copy, never the repo itself.
    for op in sb["image"].as_array().unwrap() {
        if op["op"] == "add_local_dir" {
            let lp = op["local_path"].as_str().unwrap();
            assert!(!lp.starts_with(&*w.repo.path().to_string_lossy()), "{lp}");
        }
    }
    // No secret-shaped file reached the sandbox; the job saw only the shipped files.
    let ws = tree(&w.sandbox_root(id).join("workspace"));
    assert!(ws.contains(&"sub/data.txt".to_string()), "{ws:?}");
    for bad in [".env", "sub/.env.local", "id_rsa"] {
        assert!(!ws.contains(&bad.to_string()), "{bad} shipped: {ws:?}");
    }
    // The secret's value is nowhere but in the job's own output file.
    let state = std::fs::read_to_string(w.runs().join(format!("{run_id}.json"))).unwrap();
    for (what, text) in [
        ("stdout", String::from_utf8_lossy(&out.stdout).into_owned()),
        ("stderr", err.clone()),
        ("state", state),
        ("calls", w.calls()),
    ] {
        assert!(!text.contains(SECRET), "secret in {what}: {text}");
    }
    let st = w.state(&run_id);
    assert_eq!(st["handle"]["sandbox_id"], id);
    assert_eq!(st["handle"]["modal_app"], "runplz");
    assert_eq!(st["teardown"]["status"], "done");
    assert!(err.contains(&format!("sandbox {id} terminated")), "{err}");
}

#[test]
fn modal_timeout_is_124_and_told_apart_from_a_job_exiting_124() {
    let w = ModalWorld::new(&job(
        "echo before > $RUNPLZ_OUT/b; echo t; exec sleep 30",
        "",
    ));
    let text = std::fs::read_to_string(w.repo.path().join("job.json")).unwrap();
    std::fs::write(
        w.repo.path().join("job.json"),
        text.replace("\"timeout\": 60", "\"timeout\": 2"),
    )
    .unwrap();
    let t = Instant::now();
    let out = run_expect(&mut w.runplz(&["modal", "job.json", "--json"]), 124);
    assert!(t.elapsed() < Duration::from_secs(25), "{:?}", t.elapsed());
    let r = json(&out);
    assert_eq!(r["ending"]["kind"], "timed_out");
    assert_eq!(r["exit_code"], Value::Null);
    assert!(
        stderr(&out).contains("ran past its deadline"),
        "{}",
        stderr(&out)
    );
    // What the job wrote before its deadline still comes back.
    assert_eq!(
        std::fs::read_to_string(w.repo.path().join("out/b")).unwrap(),
        "before\n"
    );
    assert_eq!(w.sandboxes()[0]["state"], "terminated");

    let w = ModalWorld::new(&job("exit 124", ""));
    let r = json(&run_expect(
        &mut w.runplz(&["modal", "job.json", "--json"]),
        124,
    ));
    assert_eq!(
        r["ending"],
        serde_json::json!({"kind": "exited", "code": 124})
    );
    assert_eq!(r["exit_code"], 124);
}

/// Spawn runplz with stderr collected by a thread; wait until stderr holds `marker`.
pub(crate) fn spawn_until(
    mut c: Command,
    marker: &str,
) -> (
    std::process::Child,
    Arc<Mutex<String>>,
    std::thread::JoinHandle<()>,
) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    let err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let mut s = b.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let t = Instant::now();
    while !buf.lock().unwrap().contains(marker) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no {marker:?}: {}",
            buf.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, buf, reader)
}

pub(crate) fn status(w: &ModalWorld, run_id: &str) -> Value {
    json(&run_expect(&mut w.runplz(&["status", run_id]), 0))
}

#[test]
fn modal_failures_are_one_clear_line_with_their_own_exit_code() {
    let w = ModalWorld::new(&job("echo never", ""));
    for (fail, code, text) in [
        ("token_missing", 7, "no Modal token here"),
        ("auth", 8, "Modal refused the token"),
        (
            "connection",
            9,
            "could not reach Modal: Could not connect to the Modal server.",
        ),
        ("image", 5, "Modal could not build the job's image"),
        ("capacity", 5, "no capacity"),
    ] {
        let out = run_expect(
            w.runplz(&["modal", "job.json", "--json"])
                .env("FAKE_MODAL_FAIL", fail),
            code,
        );
        let err = stderr(&out);
        assert!(err.contains(text), "{fail}: {err}");
        assert!(!err.contains("Traceback"), "{fail}: {err}");
        assert!(w.sandboxes().is_empty(), "{fail}: a sandbox was made");
    }
    // No token at all, as the real SDK says it.
    let out = run_expect(
        w.runplz(&["modal", "job.json", "--json"])
            .env_remove("MODAL_TOKEN_ID"),
        7,
    );
    assert!(stderr(&out).contains("modal token new"), "{}", stderr(&out));
    // A Modal that never answers: runplz's own deadline, not the SDK's minute.
    let t = Instant::now();
    let out = run_expect(
        w.runplz(&["modal", "job.json", "--json"])
            .env("FAKE_MODAL_FAIL", "hang")
            .env("RUNPLZ_MODAL_CONNECT_DEADLINE", "2"),
        9,
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(stderr(&out).contains("within 2s"), "{}", stderr(&out));
}

#[test]
fn modal_without_a_python_that_has_modal_is_exit_2_and_starts_nothing() {
    let w = ModalWorld::new(&job("echo never", ""));
    let out = run_expect(
        w.runplz(&["modal", "job.json", "--json"])
            .env_remove("PYTHONPATH"),
        2,
    );
    let err = stderr(&out);
    assert!(err.contains("pip install 'modal>=1.4.3,<2'"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // No run state (the secret scan's cache may be there: it ran first).
    let runs = w.env.state_dir().join("runs");
    assert!(!runs.exists() || tree(&runs).is_empty());
    assert_eq!(w.calls(), "");
}

#[test]
fn modal_rules_refuse_what_modal_cannot_give_before_anything() {
    for (extra, path) in [
        (
            r#", "resources": {"min_gpu_memory": 200}"#,
            "resources.min_gpu_memory",
        ),
        (
            r#", "resources": {"gpu": "T4", "min_gpu_memory": 40}"#,
            "resources.min_gpu_memory",
        ),
        (r#", "resources": {"gpu": "V100"}"#, "resources.gpu"),
        (r#", "resources": {"min_disk": 10}"#, "resources.min_disk"),
    ] {
        let w = ModalWorld::new(&job("echo never", extra));
        for args in [
            &["modal", "job.json"][..],
            &["modal", "job.json", "--dry-run"],
        ] {
            let out = run_expect(&mut w.runplz(args), 2);
            assert!(
                stderr(&out).contains(&format!("{path}: found")),
                "{extra}: {}",
                stderr(&out)
            );
            assert_eq!(w.calls(), "");
        }
    }
}

#[test]
fn modal_two_runs_at_once_each_get_their_own_sandbox() {
    let w = ModalWorld::new(&job(
        "sleep 1; echo mine > \"$RUNPLZ_OUT/$RUNPLZ_RUN_ID\"",
        "",
    ));
    let a = w
        .runplz(&["modal", "job.json", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b = w
        .runplz(&["modal", "job.json", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ids = Vec::new();
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        ids.push(json(&out)["run_id"].as_str().unwrap().to_string());
    }
    assert_ne!(ids[0], ids[1]);
    let sbs = w.sandboxes();
    assert_eq!(sbs.len(), 2);
    let mut tagged: Vec<String> = sbs
        .iter()
        .map(|s| {
            assert_eq!(s["state"], "terminated");
            s["tags"]["runplz_run_id"].as_str().unwrap().to_string()
        })
        .collect();
    tagged.sort();
    ids.sort();
    assert_eq!(tagged, ids);
    assert_eq!(tree(&w.repo.path().join("out")), ids);
}

#[test]
fn modal_passes_the_jobs_stdout_to_stdout_and_its_stderr_to_stderr() {
    // A job line that looks like a helper event must pass through as the job's own bytes.
    let run = r#"printf 'first\n{{"event":"ended","ending":"exited","code":0}}\n'; echo to-err >&2; printf 'no newline'; exit 4"#;
    let w = ModalWorld::new(&format!(
        r#"{{"name": "pt", "image": {{"from_registry": "python:3.11-slim"}}, "run": {}, "timeout": 60}}"#,
        serde_json::to_string(run).unwrap()
    ));
    let out = run_expect(&mut w.runplz(&["modal", "job.json"]), 4);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "first\n{\"event\":\"ended\",\"ending\":\"exited\",\"code\":0}\nno newline"
    );
    let err = stderr(&out);
    assert!(err.contains("to-err"), "{err}");
    assert!(!err.contains("first"), "{err}");
    // The record is kept in the run state all the same.
    let states = tree(&w.env.state_dir());
    assert!(states.iter().any(|s| s.ends_with(".json")), "{states:?}");
}

/// An attached modal run keeps what the job printed here as it streams: `<run id>.log`, the
/// job's bytes, and `<run id>.driver.log`, each line stamped with its time and stream.
#[test]
fn modal_attached_run_keeps_its_log_and_driver_log() {
    let run = "echo out-1; echo err-1 >&2; echo out-2; echo \"$MYSECRET\" > \"$RUNPLZ_OUT/s\"";
    let w = ModalWorld::new(&format!(
        r#"{{"name": "dl", "image": {{"from_registry": "python:3.11-slim"}}, "run": {}, "timeout": 60, "pass_env": ["MYSECRET"]}}"#,
        serde_json::to_string(run).unwrap()
    ));
    let before = crate::ops::now();
    let out = run_expect(&mut w.runplz(&["modal", "job.json", "--json"]), 0);
    let id = json(&out)["run_id"].as_str().unwrap().to_string();
    let log = crate::ops::check_out_err_out_logs(&w.env.state_dir(), &id, before);
    // The job had the secret; nothing runplz keeps here has it.
    assert_eq!(
        std::fs::read_to_string(w.repo.path().join("out/s")).unwrap(),
        format!("{SECRET}\n")
    );
    for f in tree(&w.env.state_dir()) {
        let text = std::fs::read(w.env.state_dir().join(&f)).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(SECRET),
            "{f} has the secret"
        );
    }
    // `runplz tail` prints that copy, the sandbox gone.
    let t = run_expect(&mut w.runplz(&["tail", &id]), 0);
    assert_eq!(String::from_utf8_lossy(&t.stdout), log);
    let t = run_expect(&mut w.runplz(&["tail", "-n", "1", &id]), 0);
    // (The two streams' order in it is as they came.)
    let last = format!("{}\n", log.lines().last().unwrap());
    assert_eq!(String::from_utf8_lossy(&t.stdout), last);
}
