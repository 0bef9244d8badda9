//! job.json: the corpus of bad jobs under `tests/jobs/bad/`, each with the exact message it
//! must produce (`NAME.err`), and the good jobs under `tests/jobs/good/` plus the README's
//! example, which must parse to the values written in them. A bad job named
//! `backend-<backend>-….json` parses cleanly and fails that backend's dispatch check.

use runplz_core::job::{self, Backend, Base, ImageStep, Job, Run};
use runplz_protocol::Exit;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn jobs_dir(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("jobs")
        .join(which)
}

fn names_with(dir: &Path, ext: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The message a bad job produces: from `parse`, or for `backend-*` from `check_backend`.
fn message_for(name: &str, root: &Path) -> String {
    let text = std::fs::read_to_string(root.join(format!("{name}.json"))).unwrap();
    let parsed = job::parse(&text, "job.json", root);
    let Some(backend) = name.strip_prefix("backend-") else {
        return match parsed {
            Ok(_) => "(parsed without error)".to_string(),
            Err(e) => e.to_string(),
        };
    };
    let backend: Backend = backend.split('-').next().unwrap().parse().unwrap();
    let job = parsed.unwrap_or_else(|e| panic!("{name}: must parse, got {e}"));
    match runplz_core::backend::check_job(&job, backend) {
        Ok(()) => format!("(passed the {backend} check)"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_bad_job_fails_with_its_exact_message() {
    let root = jobs_dir("bad");
    let jsons = names_with(&root, "json");
    let errs = names_with(&root, "err");
    assert_eq!(
        jsons.symmetric_difference(&errs).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "every bad .json needs a .err and every .err a .json"
    );
    assert!(jsons.len() >= 35, "only {} bad jobs", jsons.len());
    let mut wrong = Vec::new();
    for name in &jsons {
        let want = std::fs::read_to_string(root.join(format!("{name}.err"))).unwrap();
        let want = want.strip_suffix('\n').unwrap_or(&want);
        let got = message_for(name, &root);
        if got != want {
            wrong.push(format!("{name}:\n  want: {want}\n   got: {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_message_has_the_documented_shape() {
    // FILE:LINE:COL: [PATH: ]found X, expected Y
    let root = jobs_dir("bad");
    for name in names_with(&root, "err") {
        let msg = std::fs::read_to_string(root.join(format!("{name}.err"))).unwrap();
        let mut parts = msg.splitn(4, ':');
        assert_eq!(parts.next(), Some("job.json"), "{name}: {msg}");
        for what in ["line", "column"] {
            let n = parts.next().unwrap_or("");
            assert!(
                n.parse::<usize>().is_ok_and(|n| n >= 1),
                "{name}: no {what} in {msg}"
            );
        }
        let rest = parts.next().unwrap_or("");
        let found = rest.find("found ").unwrap_or(usize::MAX);
        let expected = rest.find(", expected ").unwrap_or(0);
        assert!(found < expected, "{name}: not found/expected: {msg}");
    }
}

fn good(name: &str) -> Job {
    let root = jobs_dir("good");
    let text = std::fs::read_to_string(root.join(format!("{name}.json"))).unwrap();
    job::parse(&text, "job.json", &root).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn strings(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

#[test]
fn minimal_job_gets_the_defaults() {
    let j = good("minimal");
    assert_eq!(j.name(), "minimal");
    assert_eq!(j.base, Base::Registry("python:3.11-slim".into()));
    assert!(j.steps.is_empty());
    assert_eq!(j.outputs_dir(), jobs_dir("good").join("out"));
    assert_eq!(j.spec.timeout, None);
    assert_eq!(j.ssh_key_path(), None);
    assert_eq!(
        j.command(&[]).unwrap(),
        Run::Shell("python3 -c 'print(42)'".into())
    );
    for b in Backend::ALL {
        assert_eq!(runplz_core::backend::check_job(&j, b), Ok(()), "{b}");
    }
}

#[test]
fn full_job_parses_every_field() {
    let j = good("full");
    let root = jobs_dir("good");
    assert_eq!(j.name(), "full-job_1.0");
    assert_eq!(
        j.base,
        Base::Registry("pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime".into())
    );
    assert_eq!(j.steps.len(), 5);
    assert_eq!(
        j.steps[1],
        ImageStep::Pip {
            packages: strings(&["pandas>=2.0", "scikit-learn"]),
            index_url: Some("https://pypi.org/simple".into()),
            extra_index_url: Some("https://download.pytorch.org/whl/cu121".into()),
        }
    );
    assert_eq!(
        j.steps[2],
        ImageStep::PipLocalDir {
            path: "pkg".into(),
            editable: true
        }
    );
    assert!(matches!(&j.steps[4], ImageStep::Env(e) if e["HF_HOME"] == "/cache/hf"));
    let r = &j.spec.resources;
    assert_eq!(
        (r.gpu.as_deref(), r.num_gpus, r.min_disk),
        (Some("A100"), Some(2), Some(200.5))
    );
    assert_eq!(j.outputs_dir(), root.join("results"));
    assert_eq!(j.ssh_key_path(), Some(root.join("keys/test_key")));
    assert_eq!(j.spec.ssh.port, Some(2222));
    assert_eq!(j.spec.brev.instance_type.as_deref(), Some("g5.12xlarge"));
    assert_eq!(
        j.spec.brev.exclude_providers,
        Some(strings(&["oci", "lambda"]))
    );
    assert_eq!(j.spec.preconditions.shm_gb, Some(8.0));
    assert_eq!(
        j.spec.sync.secret_scan,
        Some(runplz_core::job::spec::SecretScan::Warn)
    );
    assert_eq!(
        j.spec.sync.allow_secrets,
        strings(&["tests/fixtures/*.json", "conf.py:12"])
    );
    // Placeholders filled and shell-quoted; escaped braces and shell variables kept.
    assert_eq!(
        j.command(&[("lr".into(), "1e-3; rm -rf ~".into())])
            .unwrap(),
        Run::Shell(
            "python train.py --steps 100 --lr '1e-3; rm -rf ~' --note {literal} $HOME ${USER}"
                .into()
        )
    );
    for b in [Backend::Local, Backend::Ssh, Backend::Brev] {
        assert_eq!(runplz_core::backend::check_job(&j, b), Ok(()), "{b}");
    }
    // The same job cannot go to Modal: it asks for a disk size.
    let e = runplz_core::backend::check_job(&j, Backend::Modal).unwrap_err();
    assert_eq!(
        (e.path.as_str(), e.pos),
        ("resources.min_disk", Some((17, 113)))
    );
}

#[test]
fn dockerfile_job_resolves_the_file() {
    let j = good("dockerfile");
    assert_eq!(
        j.base,
        Base::Dockerfile(jobs_dir("good").join("Dockerfile"))
    );
    assert!(j.steps.is_empty());
    for b in Backend::ALL {
        if b == Backend::Slurm || b == Backend::Runpod {
            // Slurm runs natively on the nodes, and a RunPod pod is a registry image: a
            // Dockerfile cannot run there.
            let e = runplz_core::backend::check_job(&j, b).unwrap_err();
            assert_eq!(e.path, "image.from_dockerfile");
            continue;
        }
        assert_eq!(runplz_core::backend::check_job(&j, b), Ok(()), "{b}");
    }
    // --native is applied to the spec before the check, and then the Dockerfile cannot run.
    let mut native = j.clone();
    native.spec.local.use_docker = Some(false);
    let e = runplz_core::backend::check_job(&native, Backend::Local).unwrap_err();
    assert_eq!(
        e.to_string().split(": ").nth(1),
        Some("image.from_dockerfile")
    );
}

#[test]
fn argv_job_substitutes_raw_values() {
    let j = good("argv");
    assert_eq!(
        j.command(&[("tag".into(), "a b".into())]).unwrap(),
        Run::Argv(strings(&[
            "python3",
            "train.py",
            "--steps=3",
            "--tag",
            "a b"
        ]))
    );
    let e = j.command(&[]).unwrap_err();
    assert_eq!(runplz_core::error::exit_of(&e, Exit::Failed), Exit::Usage);
    assert_eq!(
        e.to_string(),
        "job.json:4:10: run: found no value for {tag}, expected one in \"args\", from --var tag=VALUE, or as --tag=VALUE after the job file"
    );
    let e = j
        .command(&[("stesp".into(), "1".into())])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "job.json:4:10: run: found a value for variable \"stesp\", expected a placeholder of \"run\" (\"steps\", \"tag\"); did you mean \"steps\"?"
    );
}

#[test]
fn cli_overrides_reach_the_command_in_precedence_order() {
    let j = good("argv");
    let dir = tempfile::tempdir_in("/dev/shm").unwrap();
    let vars = dir.path().join("vars.json");
    std::fs::write(&vars, r#"{"steps": "10", "tag": "from-file"}"#).unwrap();
    let over = job::vars::overrides(
        &strings(&["steps=20"]),
        Some(&vars),
        &strings(&["--steps=30"]),
    )
    .unwrap();
    assert_eq!(
        j.command(&over).unwrap(),
        Run::Argv(strings(&[
            "python3",
            "train.py",
            "--steps=30",
            "--tag",
            "from-file"
        ]))
    );
}

#[test]
fn readme_example_parses_and_renders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
    let text = std::fs::read_to_string(root.join("job.json")).unwrap();
    let j = job::parse(&text, "examples/hello/job.json", &root).unwrap();
    assert_eq!(j.name(), "hello");
    assert_eq!(j.base, Base::Registry("python:3.11-slim".into()));
    assert_eq!(j.spec.env["GREETING"], "hello");
    assert_eq!(j.spec.timeout, Some(600));
    assert_eq!(
        j.command(&[]).unwrap(),
        Run::Shell("python3 train.py --steps 3".into())
    );
    assert!(root.join("train.py").is_file());
    let mut native = j.clone();
    native.spec.local.use_docker = Some(false);
    assert_eq!(
        runplz_core::backend::check_job(&native, Backend::Local),
        Ok(())
    );
}
