//! Issue #17 on each backend with its real parts (a loopback sshd, the brev fake, the RunPod
//! fake, the Modal fake, the test Slurm cluster): a tree holding a token is refused (exit 2) before the
//! backend is touched, and the same job runs, the job getting the value, once the token
//! moves to `pass_env`. scan.rs checks the refusal on every backend with recording fakes.
use crate::modal::ModalWorld;
use crate::support::slurm::cluster;
use crate::support::{run_expect, shm_tempdir, stderr, FakeBrev, FakeRunpod, SshBox, TestEnv};
use runplz_core::scan::rules::sample;
use std::path::Path;
use std::process::Command;

/// The job's command: the length of `$HF_TOKEN` (never the value) into the outputs.
const RUN: &str = r#"printf '%s' \"$HF_TOKEN\" | wc -c > \"$RUNPLZ_OUT/n.txt\""#;

fn job(name: &str, extra: &str) -> String {
    format!(
        r#"{{"name": "{name}", "image": {{"from_registry": "debian:12"}}, "run": "{RUN}",
            "pass_env": ["HF_TOKEN"] {extra}}}"#
    )
}

fn leak(dir: &Path, tok: &str) {
    std::fs::write(dir.join("train.py"), format!("HF_TOKEN = \"{tok}\"\n")).unwrap();
}

fn fix(dir: &Path) {
    std::fs::write(
        dir.join("train.py"),
        "import os\nHF_TOKEN = os.environ[\"HF_TOKEN\"]\n",
    )
    .unwrap();
}

/// Exit 2 naming the finding, nothing on stdout, the token nowhere in stderr.
fn assert_refused(c: &mut Command, tok: &str) {
    let out = run_expect(c, 2);
    let err = stderr(&out);
    assert!(
        err.contains("refusing to ship: 1 secret found") && err.contains("train.py:1:"),
        "{err}"
    );
    assert!(!err.contains(&tok[5..]), "the token in stderr");
    assert!(out.stdout.is_empty());
}

/// Ran: the job saw the whole token; the record's scan is clean.
fn assert_ran(out: &std::process::Output, dir: &Path, tok: &str) {
    let n = std::fs::read_to_string(dir.join("out/n.txt")).unwrap();
    assert_eq!(n.trim(), tok.len().to_string());
    let text = String::from_utf8_lossy(&out.stdout);
    let rec: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(
        rec["secret_scan"]["findings"],
        serde_json::json!([]),
        "{rec}"
    );
    assert_eq!(rec["env_passed"], serde_json::json!(["HF_TOKEN"]));
    assert!(!stderr(out).contains(&tok[5..]));
}

#[test]
fn ssh_refuses_a_token_before_the_box_and_runs_it_from_pass_env() {
    let world = TestEnv::new();
    let b = SshBox::start();
    let tok = sample("hf");
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        job("scanssh", r#", "ssh": {"use_docker": false}"#),
    )
    .unwrap();
    leak(d.path(), &tok);
    let run = || {
        let mut c = world.cmd("runplz");
        c.current_dir(d.path())
            .env("HF_TOKEN", &tok)
            .args(["ssh", "job.json", "--json"])
            .args(b.tool_args());
        c
    };
    assert_refused(&mut run(), &tok);
    assert_eq!(b.ssh("ls -A | grep -c runplz || true").trim(), "0");
    fix(d.path());
    let out = run_expect(&mut run(), 0);
    assert_ran(&out, d.path(), &tok);
    // The check above can tell: a run leaves runplz's folders in the home.
    assert_ne!(b.ssh("ls -A | grep -c runplz || true").trim(), "0");
}

#[test]
fn brev_refuses_a_token_before_brev_is_asked_and_runs_it_from_pass_env() {
    let fb = FakeBrev::new();
    let tok = sample("hf");
    let (d, job_file) = fb.job(&job(
        "scanbrev",
        r#", "brev": {"instance_type": "n2-standard-4", "mode": "vm", "use_docker": false}"#,
    ));
    leak(d.path(), &tok);
    let run = || {
        let mut c = fb.cmd("runplz");
        c.arg("brev")
            .arg(&job_file)
            .arg("--json")
            .env("HF_TOKEN", &tok);
        c
    };
    assert_refused(&mut run(), &tok);
    assert_eq!(
        fb.calls(),
        Vec::<serde_json::Value>::new(),
        "brev was called"
    );
    fix(d.path());
    let out = FakeBrev::output(&mut run());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ran(&out, d.path(), &tok);
    assert_eq!(fb.calls_of("create").len(), 1);
}

#[test]
fn runpod_refuses_a_token_before_a_pod_is_made_and_runs_it_from_pass_env() {
    let rp = FakeRunpod::new();
    let tok = sample("hf");
    let (d, job_file) = rp.job(&job("scanrunpod", r#", "resources": {"gpu": "A6000"}"#));
    leak(d.path(), &tok);
    let run = || {
        let mut c = rp.cmd("runplz");
        c.arg("runpod")
            .arg(&job_file)
            .arg("--json")
            .env("HF_TOKEN", &tok);
        c
    };
    assert_refused(&mut run(), &tok);
    assert_eq!(
        rp.calls(),
        Vec::<serde_json::Value>::new(),
        "RunPod was asked"
    );
    fix(d.path());
    let out = run().stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_ran(&out, d.path(), &tok);
    assert_eq!(rp.calls_of("podFindAndDeployOnDemand").len(), 1);
}

#[test]
fn modal_refuses_a_token_before_modal_is_asked_and_runs_it_from_pass_env() {
    let tok = sample("hf");
    let w = ModalWorld::new(&format!(
        r#"{{"name": "scanmodal", "image": {{"from_registry": "python:3.11-slim"}},
            "run": "{RUN}", "pass_env": ["HF_TOKEN"], "timeout": 60}}"#
    ));
    leak(w.repo.path(), &tok);
    let run = || {
        let mut c = w.runplz(&["modal", "job.json", "--json"]);
        c.env("HF_TOKEN", &tok);
        c
    };
    assert_refused(&mut run(), &tok);
    let left: Vec<_> = std::fs::read_dir(w.fake.path()).unwrap().collect();
    assert!(left.is_empty(), "the Modal fake was used: {left:?}");
    fix(w.repo.path());
    let out = run_expect(&mut run(), 0);
    assert_ran(&out, w.repo.path(), &tok);
    assert!(std::fs::read_dir(w.fake.path()).unwrap().next().is_some());
}

#[test]
fn slurm_refuses_a_token_before_anything_queues_and_runs_it_from_pass_env() {
    let c = cluster();
    let world = TestEnv::new();
    let tok = sample("hf");
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        job("scanslurm", r#", "timeout": 120"#),
    )
    .unwrap();
    leak(d.path(), &tok);
    let run = || {
        let mut cmd = world.cmd("runplz");
        cmd.current_dir(d.path())
            .env("SLURM_CONF", c.conf())
            .env("HF_TOKEN", &tok)
            .args(["slurm", "job.json", "--host", "local", "--json"]);
        cmd
    };
    assert_refused(&mut run(), &tok);
    assert!(
        !c.squeue("%j").lines().any(|l| l == "runplz-scanslurm"),
        "a job was queued"
    );
    fix(d.path());
    let out = run_expect(&mut run(), 0);
    assert_ran(&out, d.path(), &tok);
    assert!(c.squeue("%j").lines().any(|l| l == "runplz-scanslurm"));
}

/// A `prog` (rsync or ssh) first on PATH that edits `file` (appending `text`) the first
/// time it runs, then runs the real one: the edit lands after rp-sync's scan and before the
/// transfer (rsync's, or the tar shipped in the ssh session that follows the scan).
fn editing(prog: &str, file: &Path, text: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    let real = crate::support::which(prog);
    let once = d.path().join("edited");
    let script = format!(
        "#!/bin/sh
case \"$1\" in --version|-O) ;; *) [ -e '{once}' ] || {{ : > '{once}'; printf '%s' '{text}' >> '{}'; }} ;; esac\nexec {} \"$@\"\n",
        file.display(),
        real.trim(),
        once = once.display(),
    );
    let p = d.path().join(prog);
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

#[test]
fn rp_sync_scans_again_a_file_edited_between_the_scan_and_the_transfer() {
    let world = TestEnv::new();
    let b = SshBox::start();
    let d = shm_tempdir();
    fix(d.path());
    let up = |wrapper: &Path, dest: &str| {
        let mut c = world.cmd("rp-sync");
        c.env(
            "PATH",
            format!("{}:{}", wrapper.display(), std::env::var("PATH").unwrap()),
        )
        .args(["up", "--dest", dest])
        .args(b.tool_args())
        .arg(d.path());
        c
    };
    // A harmless edit: shipped, named in a warning. A first sync into a new folder ships a
    // tar in the session (GNU tar on this box); a whole sync later is rsync's.
    let w = editing("ssh", &d.path().join("train.py"), "# more\n");
    let out = run_expect(&mut up(w.path(), "clean"), 0);
    let err = stderr(&out);
    assert!(
        err.contains("1 file(s) changed after the secret scan read them and shipped as they are now; scanned again: train.py"),
        "{err}"
    );
    assert!(b.ssh("cat clean/train.py").ends_with("# more\n"));
    b.ssh("echo box > clean/other.txt");
    let w = editing("rsync", &d.path().join("train.py"), "# again\n");
    let out = run_expect(&mut up(w.path(), "clean"), 0);
    let err = stderr(&out);
    assert!(err.contains("scanned again: train.py"), "{err}");
    assert!(b.ssh("cat clean/train.py").ends_with("# again\n"));
    // A token pasted in meanwhile: it reached the box, and rp-sync says so (exit 4).
    let tok = sample("hf");
    let w = editing("ssh", &d.path().join("train.py"), &format!("T = '{tok}'\n"));
    let out = run_expect(&mut up(w.path(), "leak"), 4);
    let err = stderr(&out);
    assert!(err.contains("it REACHED THE BOX"), "{err}");
    assert!(err.contains("train.py:5:5: huggingface-token"), "{err}");
    assert!(!err.contains(&tok[5..]));
    assert!(out.stdout.is_empty());
}

#[test]
fn runplz_scans_again_what_changed_between_its_scan_and_the_sync() {
    let world = TestEnv::new();
    let b = SshBox::start();
    let tok = sample("hf");
    let d = shm_tempdir();
    std::fs::write(
        d.path().join("job.json"),
        job("scanlate", r#", "ssh": {"use_docker": false}"#),
    )
    .unwrap();
    fix(d.path());
    // The first ssh (the box is asked for its facts, after runplz's scan) pastes the token
    // in; the sync comes later.
    let w = shm_tempdir();
    let real = crate::support::which("ssh");
    let mark = w.path().join("done");
    std::fs::write(
        w.path().join("ssh"),
        format!(
            "#!/bin/sh\n[ -e '{m}' ] || {{ : > '{m}'; printf '%s' 'T = \"{tok}\"\n' >> '{f}'; }}\nexec {real} \"$@\"\n",
            m = mark.display(),
            f = d.path().join("train.py").display(),
            real = real.trim()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(w.path().join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run_expect(
        world
            .cmd("runplz")
            .current_dir(d.path())
            .env("HF_TOKEN", &tok)
            .env(
                "PATH",
                format!("{}:{}", w.path().display(), std::env::var("PATH").unwrap()),
            )
            .args(["ssh", "job.json", "--json"])
            .args(b.tool_args()),
        2,
    );
    let err = stderr(&out);
    assert!(mark.exists(), "the ssh wrapper did not run");
    assert!(
        err.contains("refusing to ship what changed since the run's scan: 1 secret found"),
        "{err}"
    );
    assert!(err.contains("train.py:3:6: huggingface-token"), "{err}");
    assert!(!err.contains(&tok[5..]));
    let on_box = b.ssh("cat runplz/scanlate/train.py runplz-runs/*/train.py 2>/dev/null || true");
    assert!(!on_box.contains(&tok[5..]), "the token reached the box");
}

/// A program first on PATH (in the returned folder) that, on its first call, appends the
/// token line `T = "TOK"` to `file` (made if missing; the returned mark shows it ran), logs
/// its first argument to `calls` there, and then runs the real `prog`.
fn pasting_wrapper(prog: &str, file: &Path, tok: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let w = shm_tempdir();
    let real = crate::support::which(prog);
    let mark = w.path().join("pasted");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{log}'\n[ -e '{m}' ] || {{ : > '{m}'; printf '%s' 'T = \"{tok}\"\n' >> '{f}'; }}\nexec {real} \"$@\"\n",
        log = w.path().join("calls").display(),
        m = mark.display(),
        f = file.display(),
        real = real.trim()
    );
    let p = w.path().join(prog);
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    (w, mark)
}

/// Exit 2: what changed since the run's scan holds the token at `place`.
fn assert_refused_late(out: &std::process::Output, mark: &Path, tok: &str, place: &str) {
    let err = stderr(out);
    assert!(mark.exists(), "the wrapper did not run: {err}");
    assert!(
        err.contains("refusing to ship what changed since the run's scan: 1 secret found"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{place}: huggingface-token")),
        "{err}"
    );
    assert!(!err.contains(&tok[5..]), "the token in stderr");
}

#[test]
fn modal_scans_again_what_changed_between_its_scan_and_the_build_context() {
    let tok = sample("hf");
    let w = ModalWorld::new(&format!(
        r#"{{"name": "scanmodallate", "image": {{"from_registry": "python:3.11-slim"}},
            "run": "{RUN}", "pass_env": ["HF_TOKEN"], "timeout": 60}}"#
    ));
    fix(w.repo.path());
    // The Python that runplz asks for its modal version (after the scan, before the build
    // context is staged) first writes a new file holding the token.
    let (py, mark) = pasting_wrapper("python3", &w.repo.path().join("late.py"), &tok);
    let mut c = w.runplz(&["modal", "job.json", "--json"]);
    c.env("HF_TOKEN", &tok)
        .env("RUNPLZ_MODAL_PYTHON", py.path().join("python3"));
    let out = run_expect(&mut c, 2);
    assert_refused_late(&out, &mark, &tok, "late.py:1:6");
    assert_eq!(
        w.sandboxes(),
        Vec::<serde_json::Value>::new(),
        "a sandbox was made"
    );
}

#[test]
fn local_docker_scans_again_what_changed_between_its_scan_and_the_build_context() {
    let base = std::env::var("RUNPLZ_TEST_DOCKER_BASE").expect(
        "the docker tests need an engine: run `eval \"$(scripts/podman-env)\"` first (scripts/test does)",
    );
    let world = TestEnv::new();
    let tok = sample("hf");
    let d = shm_tempdir();
    let job = serde_json::json!({
        "name": "scandockerlate", "image": {"from_registry": base},
        "run": "true", "local": {"network": "none"},
    });
    std::fs::write(d.path().join("job.json"), job.to_string()).unwrap();
    fix(d.path());
    // docker's first call (runplz checks the engine, after the scan) pastes the token in
    // before the build context is staged.
    let (wrap, mark) = pasting_wrapper("docker", &d.path().join("train.py"), &tok);
    let out = run_expect(
        world
            .cmd("runplz")
            .current_dir(d.path())
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    wrap.path().display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .args(["local", "job.json", "--json"]),
        2,
    );
    assert_refused_late(&out, &mark, &tok, "train.py:3:6");
    let calls = std::fs::read_to_string(wrap.path().join("calls")).unwrap();
    assert!(
        !calls.lines().any(|l| l == "build"),
        "docker build ran: {calls}"
    );
}
