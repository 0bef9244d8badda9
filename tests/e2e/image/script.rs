//! The shell script's machinery, run for real by bash against fake programs first on PATH
//! (`id`, `sudo`, `dpkg-query`, `dpkg`, `apt-get`, `pgrep`, `fuser`, `sleep`, `python3`) that
//! log their argv: waiting for another apt/dpkg, the bounded wait, sudo when not root, the
//! error without root or sudo, skipping installed packages, `--skip-apt`, pip argv, and the
//! failing step named on stderr with its exit code.

use super::{job_with, render, rp_image, write_job};
use crate::support::{run_expect, shm_tempdir, stderr};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// Log argv as `name [arg] [arg] DF=<DEBIAN_FRONTEND>`, one line per call.
const LOG_ARGV: &str = r#"{ printf '%s' "${0##*/}"; printf ' [%s]' "$@"; printf ' DF=%s\n' "${DEBIAN_FRONTEND:-}"; } >> "$FAKE_LOG""#;

fn fakes(dir: &Path) {
    let bin = dir.join("fakebin");
    fs::create_dir_all(&bin).unwrap();
    let progs = [
        ("id", r#"case "$1" in -u) echo "$FAKE_UID" ;; -un) echo tester ;; *) echo "uid=$FAKE_UID" ;; esac"#.to_string()),
        ("sudo", format!(
            r#"{LOG_ARGV}
[ "$1" = -n ] && shift
[ "$FAKE_SUDO" = yes ] || {{ echo "sudo: a password is required" >&2; exit 1; }}
exec "$@""#
        )),
        ("dpkg-query", r#"[ "$FAKE_INSTALLED" = yes ] && { printf 'install ok installed'; exit 0; }
echo "dpkg-query: no packages found matching $4" >&2; exit 1"#.to_string()),
        ("dpkg", LOG_ARGV.to_string()),
        ("apt-get", LOG_ARGV.to_string()),
        // Busy for the first $FAKE_BUSY calls.
        ("pgrep", r#"n=$(cat "$FAKE_STATE" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_STATE"
[ "$n" -lt "$FAKE_BUSY" ]"#.to_string()),
        ("fuser", "exit 1".to_string()),
        ("sleep", LOG_ARGV.to_string()),
        ("python3", LOG_ARGV.to_string()),
    ];
    for (name, body) in progs {
        let p = bin.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Render `job` as a script in a fresh dir with the fakes, run it with bash and these
/// variables; returns the output and the fakes' log.
fn run_script(job: &Value, extra: &[&str], vars: &[(&str, &str)]) -> (Output, String) {
    let dir = shm_tempdir();
    fs::create_dir_all(dir.path().join("my pkg")).unwrap();
    write_job(dir.path(), job);
    let script = render(dir.path(), "shell", extra);
    fs::write(dir.path().join("setup.sh"), script).unwrap();
    fakes(dir.path());
    let path = format!(
        "{}:{}",
        dir.path().join("fakebin").display(),
        std::env::var("PATH").unwrap()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("setup.sh")
        .current_dir(dir.path())
        .env("PATH", path)
        .env("FAKE_LOG", dir.path().join("log"))
        .env("FAKE_STATE", dir.path().join("pgrep-calls"))
        .env("FAKE_UID", "1000")
        .env("FAKE_SUDO", "no")
        .env("FAKE_INSTALLED", "no")
        .env("FAKE_BUSY", "0")
        .env_remove("RUNPLZ_APT_LOCK_WAIT")
        .env_remove("DEBIAN_FRONTEND");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let log = fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    (out, log)
}

/// The log lines of these programs only.
fn calls(log: &str, progs: &[&str]) -> Vec<String> {
    log.lines()
        .filter(|l| progs.iter().any(|p| l.starts_with(&format!("{p} "))))
        .map(String::from)
        .collect()
}

fn apt_job() -> Value {
    job_with(json!([{"apt_install": ["curl", "it's$(id)", "ünï"]}]))
}

const INSTALL: &str = "apt-get [-o] [DPkg::Lock::Timeout=600] [install] [-y] [--no-install-recommends] [curl] [it's$(id)] [ünï] DF=noninteractive";

#[test]
fn apt_waits_for_another_dpkg_then_installs_through_sudo() {
    let (out, log) = run_script(&apt_job(), &[], &[("FAKE_SUDO", "yes"), ("FAKE_BUSY", "2")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.starts_with("# runplz: step 1/1: apt_install curl it's$(id) ünï\n"),
        "{err}"
    );
    assert!(
        err.contains("runplz: waiting up to 600s for another apt/dpkg to finish"),
        "{err}"
    );
    assert_eq!(calls(&log, &["sleep"]), ["sleep [3] DF=", "sleep [3] DF="]);
    assert_eq!(
        calls(&log, &["dpkg", "apt-get"]),
        [
            "dpkg [--configure] [-a] DF=noninteractive",
            "apt-get [-o] [DPkg::Lock::Timeout=600] [update] DF=noninteractive",
            INSTALL,
        ]
    );
    let sudo = calls(&log, &["sudo"]);
    assert!(
        sudo.contains(
            &"sudo [-n] [env] [DEBIAN_FRONTEND=noninteractive] [dpkg] [--configure] [-a] DF="
                .to_string()
        ),
        "{sudo:?}"
    );
}

#[test]
fn apt_as_root_needs_no_sudo() {
    let (out, log) = run_script(&apt_job(), &[], &[("FAKE_UID", "0")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(calls(&log, &["sudo", "sleep"]).is_empty(), "{log}");
    assert_eq!(calls(&log, &["apt-get"])[1], INSTALL);
}

#[test]
fn apt_gives_up_after_the_bounded_wait() {
    let (out, log) = run_script(
        &apt_job(),
        &[],
        &[
            ("FAKE_UID", "0"),
            ("FAKE_BUSY", "1000"),
            ("RUNPLZ_APT_LOCK_WAIT", "9"),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("runplz: waiting up to 9s for another apt/dpkg"),
        "{err}"
    );
    assert!(err.contains(
        "runplz: another apt/dpkg still holds the package lock after 9s; giving up (set RUNPLZ_APT_LOCK_WAIT to wait longer)\n"
    ));
    assert!(
        err.ends_with("runplz: step 1/1 (apt_install curl it's$(id) ünï) failed with exit 1\n"),
        "{err}"
    );
    assert_eq!(calls(&log, &["sleep"]).len(), 3);
    assert!(calls(&log, &["dpkg", "apt-get"]).is_empty(), "{log}");
}

#[test]
fn apt_without_root_or_sudo_fails_clearly_before_touching_dpkg() {
    let (out, log) = run_script(&apt_job(), &[], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(
        "runplz: apt_install needs root: run as root or give tester passwordless sudo (sudo -n failed)\n"
    ), "{err}");
    assert!(calls(&log, &["dpkg", "apt-get"]).is_empty(), "{log}");
}

#[test]
fn apt_skips_packages_already_installed_without_needing_root() {
    let (out, log) = run_script(&apt_job(), &[], &[("FAKE_INSTALLED", "yes")]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("runplz: already installed: curl it's$(id) ünï\n"),
        "{err}"
    );
    assert!(
        calls(&log, &["sudo", "dpkg", "apt-get"]).is_empty(),
        "{log}"
    );
}

#[test]
fn skip_apt_leaves_a_comment_and_warns_when_rendered_and_when_run() {
    let dir = shm_tempdir();
    write_job(dir.path(), &apt_job());
    let out = run_expect(
        &mut rp_image(dir.path(), &["job.json", "-f", "shell", "--skip-apt"]),
        0,
    );
    assert_eq!(
        stderr(&out),
        "rp-image: warning: image.steps[0]: skipping apt_install curl it's$(id) ünï (--skip-apt); the box must already have them\n"
    );
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("\n  # apt_install skipped (--skip-apt): curl 'it'\\''s$(id)' 'ünï'\n"));
    assert!(!script.contains("runplz_apt_install"), "{script}");
    let (out, log) = run_script(&apt_job(), &["--skip-apt"], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(
        "runplz: warning: skipped apt_install curl it's$(id) ünï (--skip-apt); install them here yourself if the job needs them\n"
    ), "{err}");
    assert!(log.is_empty(), "{log}");
}

#[test]
fn pip_steps_run_the_first_python3_on_path_with_exact_argv() {
    let job = job_with(json!([
        {"pip_install": ["pandas>=2.0", "x ; python_version > '3.8'"],
         "index_url": "https://u:p@h/simple?a=1&b=$(id)", "extra_index_url": "https://e/`x`"},
        {"pip_install_local_dir": "./my pkg/", "editable": true},
        {"pip_install_local_dir": "."}
    ]));
    let (out, log) = run_script(&job, &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        calls(&log, &["python3"]),
        [
            "python3 [-m] [pip] [install] [--index-url] [https://u:p@h/simple?a=1&b=$(id)] [--extra-index-url] [https://e/`x`] [pandas>=2.0] [x ; python_version > '3.8'] DF=",
            "python3 [-m] [pip] [install] [-e] [./my pkg] DF=",
            "python3 [-m] [pip] [install] [.] DF=",
        ]
    );
}

#[test]
fn a_failing_step_is_named_with_its_exit_code() {
    let job = job_with(json!([
        {"env": {"A": "1"}},
        {"run_commands": ["true", "echo partial; exit 7", "echo never > never"]}
    ]));
    let (out, _) = run_script(&job, &[], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "partial\n");
    assert_eq!(
        err,
        "# runplz: step 1/2: env A\n\
         # runplz: step 2/2: run_commands true (+2 more)\n\
         runplz: step 2/2 (run_commands true (+2 more)) failed with exit 7\n"
    );
}

#[test]
fn a_missing_local_dir_is_named() {
    let dir = shm_tempdir();
    fs::create_dir(dir.path().join("pkg")).unwrap();
    write_job(
        dir.path(),
        &job_with(json!([{"pip_install_local_dir": "pkg"}])),
    );
    let script = render(dir.path(), "shell", &[]);
    // Run from a folder that lacks ./pkg, as a wrong working directory would.
    let elsewhere = shm_tempdir();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "runplz: ./pkg is not a folder here ({}); run this script from the workspace root\n",
            elsewhere.path().display()
        )),
        "{err}"
    );
}
