//! rp-probe against a real loopback box: the facts match what the box really has (asked
//! directly over ssh), a job's wants become warnings or a refusal (exit 3), and a fake
//! `nvidia-smi` first on the box user's PATH (set by sshd) stands in for a GPU.
use crate::support::{bin_cmd, json, run_expect, shm_tempdir, stderr, SshBox};
use serde_json::Value;
use std::path::Path;

/// A minimal valid job with these `resources` and `preconditions`.
fn job(dir: &Path, resources: &str, preconditions: &str) -> String {
    let p = dir.join("job.json");
    std::fs::write(
        &p,
        format!(
            r#"{{"name": "probe-test", "image": {{"from_registry": "debian:12"}}, "run": "true",
                "resources": {resources}, "preconditions": {preconditions}}}"#
        ),
    )
    .unwrap();
    p.display().to_string()
}

fn probe(b: &SshBox, args: &[&str], code: i32) -> (Value, String) {
    let out = run_expect(bin_cmd("rp-probe").args(b.tool_args()).args(args), code);
    (json(&out), stderr(&out))
}

/// `df -Pk PATH` on the box: free GiB.
fn free_gb(b: &SshBox, path: &str) -> f64 {
    let out = b.ssh(&format!("df -Pk {path} | tail -n 1"));
    let kb: f64 = out.split_whitespace().nth(3).unwrap().parse().unwrap();
    kb / 1024.0 / 1024.0
}

fn checks(rec: &Value) -> Vec<(String, String)> {
    rec["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["level"].as_str().unwrap().to_string(),
                f["check"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn facts_match_what_the_box_has() {
    let b = SshBox::start();
    let (rec, _) = probe(&b, &[], 0);
    assert_eq!(rec["type"], "probe");
    assert_eq!(rec["version"], 1);
    assert_eq!(rec["host"], "box");
    assert_eq!(rec["ok"], true);
    let f = &rec["facts"];
    let nproc: u64 = b.ssh("nproc").trim().parse().unwrap();
    assert_eq!(f["cpus"], nproc);
    let kb: f64 = b
        .ssh("sed -n 's/^MemTotal: *\\([0-9]*\\) kB$/\\1/p' /proc/meminfo")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        f["memory_gb"].as_f64(),
        Some((kb / 1048576.0 * 100.0).round() / 100.0)
    );
    // Other tests write to /dev/shm and the disk meanwhile: compare within 1 GB.
    let shm = f["shm_free_gb"].as_f64().unwrap();
    assert!((shm - free_gb(&b, "/dev/shm")).abs() < 1.0, "{shm}");
    let disk = f["disk_free_gb"].as_f64().unwrap();
    assert!((disk - free_gb(&b, "\"$HOME\"")).abs() < 1.0, "{disk}");
    assert!(f["disk_total_gb"].as_f64().unwrap() >= disk);
    let os = b.ssh(". /etc/os-release && printf %s \"$PRETTY_NAME\"");
    assert_eq!(f["os"], os.as_str());
    assert_eq!(f["arch"], b.ssh("uname -m").trim());
    let has = |p: &str| b.ssh_raw(&format!("command -v {p}")).status.success();
    assert_eq!(f["rsync"], has("rsync"));
    // Usable docker: the CLI and an engine that answers (this box's user has none).
    let engine = b.ssh_raw("docker info >/dev/null 2>&1").status.success();
    assert_eq!(f["docker"], has("docker") && engine);
    if !has("nvidia-smi") {
        assert_eq!(f["gpu_count"], 0);
        assert_eq!(f["gpus"], serde_json::json!([]));
        assert_eq!(f["gpu_reason"], "nvidia-smi not found: no NVIDIA driver");
    }
    // Every null fact says why.
    for (k, v) in f.as_object().unwrap() {
        if v.is_null() && k != "gpu_reason" {
            let u = f["unreadable"].as_array().unwrap();
            assert!(
                u.iter().any(|u| u["fact"] == k.as_str()),
                "{k} is null with no reason: {f}"
            );
        }
    }
}

#[test]
fn a_job_asking_for_an_a100_gets_a_gpu_warning() {
    let b = SshBox::start();
    let t = shm_tempdir();
    let j = job(t.path(), r#"{"gpu": "A100", "min_cpu": 1}"#, "{}");
    let (rec, err) = probe(&b, &[&j], 0);
    let gpu: Vec<&Value> = rec["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "gpu")
        .collect();
    assert_eq!(gpu.len(), 1, "{rec}");
    assert_eq!(gpu[0]["level"], "warning");
    assert_eq!(gpu[0]["wanted"], "A100");
    assert!(!checks(&rec).iter().any(|(_, c)| c == "min_cpu"), "{rec}");
    assert_eq!(rec["ok"], true);
    assert!(
        err.contains("rp-probe: warning: GPU: found no GPU (nvidia-smi not found: no NVIDIA driver), wanted 1× A100 (gpu)"),
        "{err}"
    );
    // A flag overrides the job: asking for more vCPUs than the box has is a warning too.
    let nproc: u32 = b.ssh("nproc").trim().parse().unwrap();
    let more = (nproc + 1).to_string();
    let (rec, _) = probe(&b, &[&j, "--min-cpu", &more], 0);
    let cpu = rec["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "min_cpu")
        .unwrap_or_else(|| panic!("{rec}"))
        .clone();
    assert_eq!(cpu["found"], nproc);
    assert_eq!(cpu["level"], "warning");
}

#[test]
fn shm_far_below_the_precondition_refuses_with_exit_3() {
    let b = SshBox::start();
    let t = shm_tempdir();
    let real = free_gb(&b, "/dev/shm");
    let want = format!("{:.2}", real * 10.0);
    let j = job(t.path(), "{}", &format!(r#"{{"shm_gb": {want}}}"#));
    let (rec, err) = probe(&b, &[&j], 3);
    assert_eq!(rec["ok"], false);
    let f = &rec["findings"][0];
    assert_eq!(
        (f["level"].as_str(), f["check"].as_str()),
        (Some("failure"), Some("shm_gb"))
    );
    assert_eq!(f["wanted"].as_f64(), Some(want.parse().unwrap()));
    assert!(
        err.contains("rp-probe: refusing to start a doomed run: free /dev/shm: found "),
        "{err}"
    );
    // The same want from a flag over a harmless job value: still refused.
    let ok_job = job(t.path(), "{}", r#"{"shm_gb": 0.001}"#);
    probe(&b, &[&ok_job, "--shm-gb", &want], 3);
}

#[test]
fn shm_slightly_below_the_precondition_is_a_warning() {
    let b = SshBox::start();
    let real = free_gb(&b, "/dev/shm");
    let want = format!("{:.2}", real * 1.2 + 0.1);
    let (rec, err) = probe(&b, &["--shm-gb", &want], 0);
    assert_eq!(rec["ok"], true);
    assert!(
        checks(&rec).contains(&("warning".into(), "shm_gb".into())),
        "{rec}"
    );
    assert!(
        err.contains("rp-probe: warning: free /dev/shm: found "),
        "{err}"
    );
    assert!(!err.contains("refusing"), "{err}");
}

/// A box whose user finds a fake `nvidia-smi` first on PATH (set by sshd, as a real box's
/// environment would be); the probe's own script is not changed for tests.
fn box_with_fake_nvidia_smi(script: &str) -> (SshBox, tempfile::TempDir) {
    let bin = shm_tempdir();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let smi = bin.path().join("nvidia-smi");
    std::fs::write(&smi, script).unwrap();
    std::fs::set_permissions(&smi, std::fs::Permissions::from_mode(0o755)).unwrap();
    let b = SshBox::start_with(
        &format!(
            "SetEnv PATH={}:/usr/local/bin:/usr/bin:/bin",
            bin.path().display()
        ),
        false,
    );
    (b, bin)
}

#[test]
fn a_fake_t4_is_read_and_matched_by_model() {
    let (b, _bin) = box_with_fake_nvidia_smi(
        "#!/bin/sh\ncase \"$*\" in\n*-L*) echo 'GPU 0: Tesla T4 (UUID: GPU-0a1b)';;\n\
         *--query-gpu=name,memory.total*) echo 'Tesla T4, 15360';;\n*) exit 2;;\nesac\n",
    );
    let (rec, _) = probe(&b, &["--gpu", "A100"], 0);
    assert_eq!(
        rec["facts"]["gpus"],
        serde_json::json!([{"name": "Tesla T4", "memory_gb": 15.0, "mig": []}])
    );
    assert_eq!(rec["facts"]["gpu_count"], 1);
    assert_eq!(rec["facts"]["gpu_reason"], Value::Null);
    let f = &rec["findings"][0];
    assert_eq!(f["check"], "gpu");
    assert_eq!(f["found"], serde_json::json!(["Tesla T4"]));
    assert_eq!(f["message"], "GPU: found 1× Tesla T4, wanted 1× A100 (gpu)");
    // The right model, and 16 GB (a T4 shows 15 GiB): nothing to say about GPUs.
    let (rec, _) = probe(
        &b,
        &["--gpu", "t4", "--min-gpu-memory", "16", "--gpu-count", "1"],
        0,
    );
    assert!(
        !checks(&rec).iter().any(|(_, c)| c.contains("gpu")),
        "{rec}"
    );
}

#[test]
fn a_failing_nvidia_smi_is_zero_gpus_with_its_reason() {
    let (b, _bin) = box_with_fake_nvidia_smi(
        "#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\"\necho\nexit 9\n",
    );
    let (rec, err) = probe(&b, &["--gpu-count", "1"], 3);
    assert_eq!(rec["facts"]["gpu_count"], 0);
    assert_eq!(
        rec["facts"]["gpu_reason"],
        "nvidia-smi exited with 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
    );
    assert!(
        err.contains("refusing to start a doomed run: GPUs: found 0, wanted at least 1 (gpu_count), less than half"),
        "{err}"
    );
}

#[test]
fn local_mode_and_table() {
    let out = run_expect(bin_cmd("rp-probe").args(["--local", "--table"]), 0);
    let text = String::from_utf8(out.stdout).unwrap();
    let nproc = std::process::Command::new("nproc").output().unwrap();
    let nproc = String::from_utf8(nproc.stdout).unwrap();
    assert!(text.starts_with("FACT "), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["cpus", nproc.trim()]),
        "{text}"
    );
    let out = run_expect(bin_cmd("rp-probe").arg("--local"), 0);
    assert_eq!(json(&out)["host"], Value::Null);
}

#[test]
fn bad_input_is_exit_2_and_no_box_is_exit_1() {
    let t = shm_tempdir();
    let out = run_expect(&mut bin_cmd("rp-probe"), 2);
    assert!(stderr(&out).contains("--host"), "{}", stderr(&out));
    let out = run_expect(bin_cmd("rp-probe").args(["--local", "--shm-gb=-1"]), 2);
    assert!(
        stderr(&out).contains("expected a positive number"),
        "{}",
        stderr(&out)
    );
    let bad = t.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"name": "x", "image": {}, "run": "true", "resources": {"min_cpu": -2}}"#,
    )
    .unwrap();
    let out = run_expect(bin_cmd("rp-probe").arg("--local").arg(&bad), 2);
    assert!(stderr(&out).contains("bad.json"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    let cfg = t.path().join("ssh_config");
    std::fs::write(
        &cfg,
        "Host *\n  StrictHostKeyChecking yes\n  UserKnownHostsFile /dev/null\n",
    )
    .unwrap();
    let out = run_expect(
        bin_cmd("rp-probe")
            .arg("--ssh-config")
            .arg(&cfg)
            .args(["--host", "nobody@127.0.0.1:1"]),
        1,
    );
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("rp-probe: probing nobody@127.0.0.1: `ssh` exited with 255"),
        "{}",
        stderr(&out)
    );
}
