//! One consistent CLI (issue #14): `runplz local` probes this machine as `runplz ssh` probes a
//! box, a failed step is said once, job args in both forms, Python runplz's names.
use crate::support::{bin_cmd, run_expect, shm_tempdir, stderr};
use std::path::Path;

fn write_job(dir: &Path, job: serde_json::Value) {
    std::fs::write(dir.join("job.json"), job.to_string()).unwrap();
}

fn native(run: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut job = serde_json::json!({
        "name": "t-cli",
        "image": {"from_registry": "debian:bookworm"},
        "run": run,
        "local": {"use_docker": false},
    });
    if let (Some(j), Some(e)) = (job.as_object_mut(), extra.as_object()) {
        j.extend(e.clone());
    }
    job
}

#[test]
fn runplz_local_refuses_a_job_wanting_more_gpus_than_this_machine_has_before_it_runs() {
    let d = shm_tempdir();
    // More GPUs than any test machine has, so this holds on one with GPUs too.
    write_job(
        d.path(),
        native(
            "touch ran",
            serde_json::json!({"resources": {"gpu": "A1000", "num_gpus": 64}}),
        ),
    );
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path()).args(["local", "job.json"]);
    let out = run_expect(&mut c, 3);
    let err = stderr(&out);
    assert!(
        err.contains("runplz: refusing to start a doomed run: GPU")
            && err.contains("wanted 64× A1000 (")
            && err.contains("a local run gets only its own"),
        "{err}"
    );
    // Said once: no warning repeating the error.
    assert_eq!(err.matches("wanted 64× A1000").count(), 1, "{err}");
    assert!(!d.path().join("ran").exists(), "the job ran");
    assert!(out.stdout.is_empty());
    // rp-probe --local, the same probe, says the same and exits 3 too.
    let mut c = bin_cmd("rp-probe");
    c.current_dir(d.path()).args(["--local", "job.json"]);
    let out = run_expect(&mut c, 3);
    assert!(
        stderr(&out).contains("rp-probe: refusing to start a doomed run")
            && stderr(&out).contains("this machine has"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn runplz_local_probes_a_job_asking_for_nothing_and_runs_it() {
    let d = shm_tempdir();
    write_job(d.path(), native("echo ran", serde_json::json!({})));
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path()).args(["local", "job.json"]);
    let out = run_expect(&mut c, 0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran\n");
    let err = stderr(&out);
    assert!(err.contains("runplz: probe"), "{err}");
    // Nothing the probe found is worth a word (what docker could not tell a native run
    // included).
    assert!(
        !err.contains("GPU") && !err.contains("docker") && !err.contains("below"),
        "{err}"
    );
}

#[test]
fn a_failed_step_is_reported_once() {
    let d = shm_tempdir();
    write_job(d.path(), native("touch ran", serde_json::json!({})));
    // Nothing listens on port 1: the probe's ssh is refused.
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json", "--host", "nobody@127.0.0.1:1"]);
    let out = run_expect(&mut c, 5);
    let err = stderr(&out);
    assert_eq!(
        err.matches("connect to host 127.0.0.1 port 1").count(),
        1,
        "{err}"
    );
    assert_eq!(err.matches("probe failed").count(), 0, "{err}");
    assert_eq!(
        err.matches("runplz: setup step `probe` failed after ")
            .count(),
        1,
        "{err}"
    );
}

#[test]
fn job_args_in_both_forms_and_boolean_flags_alone() {
    let d = shm_tempdir();
    write_job(
        d.path(),
        native(
            "echo {steps} {fast} {tag}",
            serde_json::json!({"args": {"steps": "3", "fast": "false", "tag": "x"}}),
        ),
    );
    for (args, want) in [
        (&["--steps", "7", "--fast", "--tag=y"][..], "7 true y\n"),
        (&["--steps=8", "--no-fast"][..], "8 false x\n"),
        // clap's old tip, `-- --steps 9`, works too.
        (&["--", "--steps", "9"][..], "9 false x\n"),
        (&["--native", "--tag", "a b"][..], "3 false a b\n"),
    ] {
        let mut c = bin_cmd("runplz");
        c.current_dir(d.path())
            .args(["local", "job.json"])
            .args(args);
        let out = run_expect(&mut c, 0);
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{args:?}");
    }
    // A placeholder that is not a boolean needs its value; nothing runs.
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--steps"]);
    let out = run_expect(&mut c, 2);
    let err = stderr(&out);
    assert!(
        err.contains("expected --steps=VALUE or --steps VALUE") && err.contains("steps's is \"3\""),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn runplz_takes_job_json_from_here_by_default() {
    let d = shm_tempdir();
    write_job(
        d.path(),
        native("echo {steps}", serde_json::json!({"args": {"steps": "3"}})),
    );
    for (args, want) in [(&[][..], "3\n"), (&["--steps", "9"][..], "9\n")] {
        let mut c = bin_cmd("runplz");
        c.current_dir(d.path()).arg("local").args(args);
        let out = run_expect(&mut c, 0);
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{args:?}");
    }
}

#[test]
fn rp_collect_takes_the_outputs_folder_and_run_from_the_job_as_runplz_does() {
    let b = crate::support::SshBox::start();
    let d = shm_tempdir();
    write_job(
        d.path(),
        serde_json::json!({
            "name": "t-collect", "image": {"from_registry": "debian:bookworm"}, "run": "true",
            "outputs_dir": "results",
        }),
    );
    b.ssh("mkdir -p runplz-out/r-1 && echo hi > runplz-out/r-1/a.txt");
    let mut c = bin_cmd("rp-collect");
    c.current_dir(d.path())
        .args(b.tool_args())
        .args(["--run-id", "r-1"]);
    let out = run_expect(&mut c, 0);
    let rec = crate::support::json(&out);
    assert_eq!(rec["files"], 1, "{rec}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("results/a.txt")).unwrap(),
        "hi\n"
    );
    // Without --to and without a job file: a usage error that says so.
    let e = shm_tempdir();
    let mut c = bin_cmd("rp-collect");
    c.current_dir(e.path())
        .args(b.tool_args())
        .args(["--run-id", "r-1"]);
    let out = run_expect(&mut c, 2);
    assert!(
        stderr(&out).contains("--to: not given, and no job file"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_tools_help_names_its_sections_the_same() {
    for tool in [
        "runplz",
        "rp-exec",
        "rp-image",
        "rp-probe",
        "rp-sync",
        "rp-collect",
    ] {
        let out = run_expect(bin_cmd(tool).arg("--help"), 0);
        let help = String::from_utf8_lossy(&out.stdout);
        for heading in ["OUTPUT:", "EXAMPLES:", "EXIT STATUS:"] {
            assert!(
                help.lines().any(|l| l.starts_with(heading)),
                "{tool} --help has no {heading}\n{help}"
            );
        }
        for other in [
            "Output:",
            "Examples:",
            "Exit status",
            "EXIT CODES",
            "RUN RECORD",
        ] {
            assert!(!help.contains(other), "{tool} --help says {other:?}");
        }
    }
}
