//! Parser and finding tests on captured outputs (`tests/fixtures/probe/`, see its README).

use super::parse::{self, Section, SmiGpus};
use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/fixtures/probe/", $name))
    };
}

fn sec(body: &str, rc: i32) -> Section {
    Section {
        body: body.to_string(),
        rc: Some(rc),
    }
}

/// The script's output for these sections, as the script prints it.
fn output(parts: &[(&str, &str, i32)]) -> String {
    let mut s = String::from("a login banner\n");
    for (name, body, rc) in parts {
        s.push_str(&format!(
            "\n@@rp-probe begin {name}@@\n{body}\n@@rp-probe end {name} {rc}@@\n"
        ));
    }
    s
}

#[test]
fn sections_split_on_markers_and_ignore_noise() {
    let out = format!(
        "motd\n{}\n@@rp-probe begin cut@@\npartial",
        output(&[("a", "1\n2\n", 0), ("b", "", 127), ("c", "x", 3)])
    );
    let s = parse::sections(&out);
    assert_eq!(s["a"], sec("1\n2", 0));
    assert_eq!(s["b"], sec("", 127));
    assert_eq!(s["c"], sec("x", 3));
    assert_eq!(s["cut"].rc, None);
    assert_eq!(s["cut"].body, "partial");
    assert_eq!(s.len(), 4);
}

#[test]
fn meminfo_and_df_from_captures() {
    assert_eq!(
        parse::meminfo_total_gb(&sec(fixture!("meminfo.txt"), 0)),
        Ok(23.54)
    );
    let home = parse::df("df", &sec(fixture!("df-home.txt"), 0)).unwrap();
    assert_eq!((home.total_gb, home.free_gb), (251.97, 74.0));
    let shm = parse::df("df", &sec(fixture!("df-shm.txt"), 0)).unwrap();
    assert_eq!((shm.total_gb, shm.free_gb), (23.54, 23.54));
    // A file system name and a mount point with spaces.
    let spaced = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                  //nas/my share  2097152  1048576  1048576  50% /mnt/my data\n";
    let d = parse::df("df", &sec(spaced, 0)).unwrap();
    assert_eq!((d.total_gb, d.free_gb), (2.0, 1.0));
    let missing = parse::df(
        "df -Pk /dev/shm",
        &sec("df: /dev/shm: No such file or directory", 1),
    );
    assert_eq!(
        missing,
        Err("df -Pk /dev/shm exited with 1: df: /dev/shm: No such file or directory".into())
    );
    assert!(parse::meminfo_total_gb(&sec("MemFree: 1 kB\n", 0))
        .unwrap_err()
        .contains("no MemTotal"));
    assert_eq!(parse::nproc(&sec("16\n", 0)), Ok(16));
    assert!(parse::nproc(&sec("sixteen", 0)).is_err());
}

fn listed(s: SmiGpus) -> Vec<(String, Result<f64, String>)> {
    match s {
        SmiGpus::Listed(v) => v.into_iter().map(|g| (g.name, g.memory_gb)).collect(),
        other => panic!("expected GPUs, got {other:?}"),
    }
}

#[test]
fn nvidia_smi_t4_a100_and_8_h100() {
    assert_eq!(
        listed(parse::nvidia_smi(&sec(fixture!("nvidia-smi-t4.csv"), 0))),
        vec![("Tesla T4".to_string(), Ok(15.0))]
    );
    assert_eq!(
        listed(parse::nvidia_smi(&sec(
            fixture!("nvidia-smi-a100-80gb.csv"),
            0
        ))),
        vec![("NVIDIA A100-SXM4-80GB".to_string(), Ok(80.0))]
    );
    let h = listed(parse::nvidia_smi(&sec(
        fixture!("nvidia-smi-8xh100.csv"),
        0,
    )));
    assert_eq!(h.len(), 8);
    assert!(h
        .iter()
        .all(|g| g == &("NVIDIA H100 80GB HBM3".to_string(), Ok(79.65))));
}

#[test]
fn nvidia_smi_absent_or_failing_is_no_gpu_with_the_reason() {
    assert_eq!(
        parse::nvidia_smi(&sec(fixture!("nvidia-smi-no-devices.txt"), 6)),
        SmiGpus::None("nvidia-smi exited with 6: No devices were found".into())
    );
    assert_eq!(
        parse::nvidia_smi(&sec(fixture!("nvidia-smi-no-driver.txt"), 9)),
        SmiGpus::None("nvidia-smi exited with 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.".into())
    );
    assert_eq!(
        parse::nvidia_smi(&sec("", 127)),
        SmiGpus::None("nvidia-smi not found: no NVIDIA driver".into())
    );
    assert!(matches!(
        parse::nvidia_smi(&sec("Tesla T4 15360", 0)),
        SmiGpus::Unreadable(m) if m.contains("unexpected nvidia-smi line")
    ));
}

#[test]
fn nvidia_smi_mig_on_the_host_and_in_a_container() {
    let host = listed(parse::nvidia_smi(&sec(
        fixture!("nvidia-smi-mig-host.csv"),
        0,
    )));
    assert_eq!(host.len(), 2);
    let slices = parse::mig_slices(fixture!("nvidia-smi-mig-host-L.txt"));
    assert_eq!(slices.len(), 1);
    assert_eq!(slices[&0], vec!["3g.40gb", "3g.40gb"]);

    let ctr = listed(parse::nvidia_smi(&sec(
        fixture!("nvidia-smi-mig-container.csv"),
        0,
    )));
    assert_eq!(
        ctr,
        vec![(
            "NVIDIA A100-SXM4-80GB".to_string(),
            Err("nvidia-smi reports memory.total as [Insufficient Permissions]".to_string())
        )]
    );
    assert_eq!(
        parse::mig_slices(fixture!("nvidia-smi-mig-container-L.txt"))[&0],
        vec!["1g.10gb"]
    );
    assert_eq!(parse::mig_profile_gb("1g.10gb+me"), Some(10.0));
    assert_eq!(parse::mig_profile_gb("7g.80gb"), Some(80.0));
    assert_eq!(parse::mig_profile_gb("weird"), None);
    let na = listed(parse::nvidia_smi(&sec("NVIDIA GH200 480GB, [N/A]\n", 0)));
    assert_eq!(
        na[0].1,
        Err("nvidia-smi reports memory.total as [N/A]".into())
    );
}

#[test]
fn docker_runtimes_os_and_commands() {
    let with = r#"{"io.containerd.runc.v2":{"path":"runc"},"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}"#;
    assert_eq!(parse::docker_nvidia(&sec(with, 0)), Ok(true));
    assert_eq!(
        parse::docker_nvidia(&sec(r#"{"runc":{"path":"runc"}}"#, 0)),
        Ok(false)
    );
    // Captured here: the CLI prints `null`, then the daemon error, and exits 1.
    let down = "null\nCannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
    assert_eq!(
        parse::docker_nvidia(&sec(down, 1)),
        Err("docker info exited with 1: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?".into())
    );
    assert_eq!(
        parse::os_name(&sec("\"Debian GNU/Linux 12 (bookworm)\"", 0)),
        Ok("Debian GNU/Linux 12 (bookworm)".into())
    );
    assert_eq!(
        parse::command_exists("rsync", &sec("/usr/bin/rsync", 0)),
        Ok(true)
    );
    assert_eq!(parse::command_exists("rsync", &sec("", 1)), Ok(false));
    assert_eq!(parse::arch(&sec("aarch64\n", 0)), Ok("aarch64".into()));
}

fn t4_box() -> Facts {
    facts_from_output(&output(&[
        ("cpus", "2", 0),
        ("meminfo", fixture!("meminfo.txt"), 0),
        ("disk", fixture!("df-home.txt"), 0),
        ("shm", fixture!("df-shm.txt"), 0),
        ("gpu", fixture!("nvidia-smi-t4.csv"), 0),
        ("gpu_list", "GPU 0: Tesla T4 (UUID: GPU-1)", 0),
        ("docker", "/usr/bin/docker", 0),
        ("docker_runtimes", r#"{"nvidia":{},"runc":{}}"#, 0),
        ("rsync", "", 1),
        ("os", "\"Ubuntu 22.04.4 LTS\"", 0),
        ("arch", "x86_64", 0),
    ]))
}

#[test]
fn facts_from_a_whole_output() {
    let f = t4_box();
    assert_eq!(f.cpus, Some(2));
    assert_eq!(f.memory_gb, Some(23.54));
    assert_eq!(
        (f.disk_free_gb, f.disk_total_gb, f.shm_free_gb),
        (Some(74.0), Some(251.97), Some(23.54))
    );
    assert_eq!(
        f.gpus,
        vec![Gpu {
            name: "Tesla T4".into(),
            memory_gb: Some(15.0),
            mig: vec![]
        }]
    );
    assert_eq!((f.gpu_count, f.gpu_reason.as_deref()), (Some(1), None));
    assert_eq!(
        (f.docker, f.docker_nvidia, f.rsync),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(f.os.as_deref(), Some("Ubuntu 22.04.4 LTS"));
    assert!(f.unreadable.is_empty(), "{:?}", f.unreadable);
}

#[test]
fn what_cannot_be_read_is_null_with_a_reason() {
    let f = facts_from_output(&output(&[
        ("cpus", "2", 0),
        ("shm", "df: /dev/shm: No such file or directory", 1),
        ("gpu", "", 127),
        ("docker", "", 1),
    ]));
    assert_eq!(f.shm_free_gb, None);
    assert_eq!(
        f.unreadable("shm_free_gb"),
        Some("could not read free /dev/shm: df -Pk /dev/shm exited with 1: df: /dev/shm: No such file or directory")
    );
    assert_eq!(f.memory_gb, None);
    assert!(f
        .unreadable("memory_gb")
        .unwrap()
        .contains("printed nothing for it"));
    assert!(f
        .unreadable("disk_total_gb")
        .unwrap()
        .starts_with("could not read the size of the disk holding $HOME"));
    // No nvidia-smi: zero GPUs, with the reason, and not "unreadable".
    assert_eq!(f.gpu_count, Some(0));
    assert_eq!(
        f.gpu_reason.as_deref(),
        Some("nvidia-smi not found: no NVIDIA driver")
    );
    assert_eq!(f.unreadable("gpus"), None);
    assert_eq!((f.docker, f.docker_nvidia), (Some(false), None));
    assert_eq!(f.unreadable("docker_nvidia"), None);
}

#[test]
fn gpu_models_match_by_name_words() {
    for (w, n) in [
        ("A100", "NVIDIA A100-SXM4-80GB"),
        ("a100", "NVIDIA A100 80GB PCIe"),
        ("A100-80GB", "NVIDIA A100-SXM4-80GB"),
        ("T4", "Tesla T4"),
        ("H100", "NVIDIA H100 80GB HBM3"),
        ("RTX4090", "NVIDIA GeForce RTX 4090"),
        ("rtx 4090", "NVIDIA GeForce RTX 4090"),
    ] {
        assert!(gpu_matches(w, n), "{w} should match {n}");
    }
    for (w, n) in [
        ("A100", "Tesla T4"),
        ("A10", "NVIDIA A100-SXM4-80GB"),
        ("L4", "NVIDIA L40S"),
        ("A100-80GB", "NVIDIA A100-SXM4-40GB"),
        ("", "Tesla T4"),
    ] {
        assert!(!gpu_matches(w, n), "{w} should not match {n}");
    }
}

fn checks(fs: &[Finding]) -> Vec<(Level, &str)> {
    fs.iter().map(|f| (f.level, f.check.as_str())).collect()
}

#[test]
fn spec_mismatches_are_warnings() {
    let f = t4_box();
    let want = Wanted {
        gpu: Some("A100".into()),
        min_cpu: Some(8.0),
        min_memory: Some(32.0),
        ..Default::default()
    };
    let fs = findings(&f, &want);
    assert_eq!(
        checks(&fs),
        vec![
            (Level::Warning, "gpu"),
            (Level::Warning, "min_cpu"),
            (Level::Warning, "min_memory")
        ]
    );
    assert_eq!(
        fs[0].message,
        "GPU: found 1× Tesla T4, wanted 1× A100 (gpu)"
    );
    assert_eq!(fs[0].found, serde_json::json!(["Tesla T4"]));
    assert_eq!(fs[1].message, "vCPUs: found 2, wanted at least 8 (min_cpu)");

    // The design's own example: a "16 GB" T4 reports 15 GiB and still matches.
    let t4 = Wanted {
        gpu: Some("T4".into()),
        min_gpu_memory: Some(16.0),
        min_memory: Some(24.0),
        ..Default::default()
    };
    assert_eq!(findings(&f, &t4), vec![]);
    let two = Wanted {
        gpu: Some("T4".into()),
        num_gpus: Some(2),
        ..Default::default()
    };
    assert_eq!(
        findings(&f, &two)[0].message,
        "GPUs: found 1× Tesla T4, wanted 2× T4 (num_gpus)"
    );
}

#[test]
fn preconditions_warn_below_minimum_and_fail_below_half() {
    let f = t4_box(); // 23.54 GB free shm, 74 GB free disk, 1 GPU of 15 GB
    let fs = findings(
        &f,
        &Wanted {
            shm_gb: Some(24.0),
            disk_free_gb: Some(200.0),
            gpu_count: Some(2.0),
            gpu_memory_gb: Some(40.0),
            ..Default::default()
        },
    );
    assert_eq!(
        checks(&fs),
        vec![
            (Level::Warning, "shm_gb"),
            (Level::Failure, "disk_free_gb"),
            (Level::Warning, "gpu_count"),
            (Level::Failure, "gpu_memory_gb"),
        ]
    );
    assert_eq!(
        fs[1].message,
        "free disk in $HOME: found 74 GB, wanted at least 200 GB (disk_free_gb), less than half"
    );
    let none = findings(
        &f,
        &Wanted {
            shm_gb: Some(20.0),
            ..Default::default()
        },
    );
    assert_eq!(none, vec![]);
}

#[test]
fn no_gpu_and_unreadable_facts_are_said() {
    let f = facts_from_output(&output(&[
        ("cpus", "2", 0),
        ("shm", "df: /dev/shm: No such file or directory", 1),
        ("gpu", fixture!("nvidia-smi-no-driver.txt"), 9),
    ]));
    let fs = findings(
        &f,
        &Wanted {
            gpu: Some("H100".into()),
            gpu_count: Some(1.0),
            shm_gb: Some(1.0),
            ..Default::default()
        },
    );
    let shm = fs.iter().find(|x| x.check == "shm_gb").unwrap();
    assert_eq!(shm.level, Level::Warning);
    assert!(
        shm.message
            .starts_with("could not read free /dev/shm: df -Pk /dev/shm exited with 1"),
        "{}",
        shm.message
    );
    let gpu = fs.iter().find(|x| x.check == "gpu").unwrap();
    assert!(
        gpu.message
            .starts_with("GPU: found no GPU (nvidia-smi exited with 9: NVIDIA-SMI has failed"),
        "{}",
        gpu.message
    );
    let count = fs.iter().find(|x| x.check == "gpu_count").unwrap();
    assert_eq!(count.level, Level::Failure);
    // Facts no check needed are still reported, once each.
    let unread: Vec<&str> = fs
        .iter()
        .filter(|x| x.check == "unreadable")
        .map(|x| x.message.as_str())
        .collect();
    assert!(
        unread
            .iter()
            .any(|m| m.starts_with("could not read total memory")),
        "{unread:?}"
    );
    assert!(!unread.iter().any(|m| m.contains("/dev/shm")), "{unread:?}");
}

#[test]
fn mig_slices_count_as_the_memory_a_job_gets() {
    let f = facts_from_output(&output(&[
        ("gpu", fixture!("nvidia-smi-mig-container.csv"), 0),
        ("gpu_list", fixture!("nvidia-smi-mig-container-L.txt"), 0),
    ]));
    assert_eq!(f.gpus[0].memory_gb, None);
    assert_eq!(f.gpus[0].mig, vec!["1g.10gb"]);
    assert_eq!(f.gpus[0].usable_memory_gb(), Some(10.0));
    let fs = findings(
        &f,
        &Wanted {
            gpu: Some("A100".into()),
            min_gpu_memory: Some(40.0),
            ..Default::default()
        },
    );
    let c = checks(&fs);
    assert_eq!(
        &c[..2],
        &[(Level::Warning, "min_gpu_memory"), (Level::Warning, "mig")]
    );
    assert_eq!(
        fs[0].message,
        "memory per GPU: found 10 GB, wanted at least 40 GB (min_gpu_memory)"
    );
    assert!(
        fs[1].message.contains("split into MIG slices (1g.10gb)"),
        "{}",
        fs[1].message
    );
    // The card's own memory could not be read: said once, as its own finding.
    assert!(fs
        .iter()
        .any(|x| x.check == "unreadable" && x.message.contains("[Insufficient Permissions]")));
}

#[test]
fn a_docker_cli_whose_engine_does_not_answer_is_no_docker() {
    let down = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
    let f = facts_from_output(&output(&[
        ("docker", "/usr/bin/docker", 0),
        ("docker_runtimes", down, 1),
    ]));
    assert_eq!((f.docker, f.docker_nvidia), (Some(false), None));
    assert!(
        f.unreadable("docker_nvidia")
            .unwrap()
            .contains("Cannot connect to the Docker daemon"),
        "{:?}",
        f.unreadable
    );
}

#[test]
fn here_fewer_gpus_than_needed_dooms_the_run_on_a_box_it_warns() {
    let f = t4_box();
    let two = Wanted {
        gpu: Some("T4".into()),
        num_gpus: Some(2),
        ..Default::default()
    };
    let boxed = Report::new(Some("box".into()), f.clone(), &two);
    assert!(boxed.ok);
    assert_eq!(checks(&boxed.findings), vec![(Level::Warning, "num_gpus")]);
    let here = Report::new(None, f.clone(), &two);
    assert!(!here.ok);
    assert_eq!(checks(&here.findings), vec![(Level::Failure, "num_gpus")]);
    assert!(
        here.findings[0]
            .message
            .contains("this machine has 1 GPU(s) and a local run gets only its own"),
        "{}",
        here.findings[0].message
    );
    // Enough GPUs of another model: a warning here too (the job may still run on them).
    let a100 = Wanted {
        gpu: Some("A100".into()),
        ..Default::default()
    };
    let here = Report::new(None, f, &a100);
    assert!(here.ok);
    assert_eq!(checks(&here.findings), vec![(Level::Warning, "gpu")]);
}
