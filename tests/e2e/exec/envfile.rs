//! rp-exec's `--env-file` (secrets kept off rp-exec's own command line), the job's ssh
//! settings (`--job`), the job env file deleted on the box before the command starts, and
//! the report's output tail.
use super::*;
use crate::support::{run_expect, shm_tempdir, stderr, SshBox};
use runplz_core::exec::{self, ExecOptions};
use runplz_core::ssh::{Ssh, SshOptions, Target};

/// [`hostile_env`] as an env file in `dir`.
fn env_file(dir: &Path) -> PathBuf {
    let obj: serde_json::Map<String, serde_json::Value> = hostile_env()
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    let p = dir.join("env.json");
    std::fs::write(&p, serde_json::Value::Object(obj).to_string()).unwrap();
    p
}

fn file_args(cmd: &mut Command, file: &Path, id: &str, workdir: &str, program: &str) {
    cmd.arg("--env-file")
        .arg(file)
        .args(["--run-id", id, "--workdir", workdir, "--"])
        .arg(program)
        .args(HOSTILE);
}

#[test]
fn env_file_values_arrive_byte_exact_here_and_on_a_box() {
    let t = shm_tempdir();
    let file = env_file(t.path());
    let wd = t.path().join("wd");
    let id = run_id("envf");
    let mut cmd = rp_exec(None);
    file_args(
        &mut cmd,
        &file,
        &id,
        wd.to_str().unwrap(),
        bin("rpt-echo").to_str().unwrap(),
    );
    check_echo(&echoed(&stderr(&run_expect(&mut cmd, 0))), &id, &wd);

    let b = SshBox::start();
    let h = helpers_on(&b);
    let id = run_id("renvf");
    let mut cmd = rp_exec(Some(&b));
    file_args(
        &mut cmd,
        &file,
        &id,
        "w",
        h.join("rpt-echo").to_str().unwrap(),
    );
    check_echo(
        &echoed(&stderr(&run_expect(&mut cmd, 0))),
        &id,
        &b.home.join("w"),
    );
    assert!(!Path::new("/tmp/pwned-rpt").exists());

    // --env replaces the file's value; the file's other keys stay.
    let out = run_expect(
        rp_exec(Some(&b))
            .arg("--env-file")
            .arg(&file)
            .args(["--env", "QUOTES=from the flag", "--"])
            .arg(h.join("rpt-echo")),
        0,
    );
    let v = echoed(&stderr(&out));
    assert_eq!(v["env"]["QUOTES"], "from the flag");
    assert_eq!(v["env"]["LINES"], "one\ntwo\n\nthree\n");
}

#[test]
fn a_bad_env_file_is_exit_2_before_anything_runs() {
    let t = shm_tempdir();
    let marker = t.path().join("ran");
    for (text, msg) in [
        ("{", "not JSON ("),
        (
            r#"["A"]"#,
            "found an array, expected a JSON object of strings",
        ),
        (
            r#"{"A-B": "1"}"#,
            r#"found the key "A-B", expected a shell identifier"#,
        ),
        (
            r#"{"OK": "1", "N": 12345}"#,
            "key N: found a number, expected a string",
        ),
    ] {
        let f = t.path().join("bad.json");
        std::fs::write(&f, text).unwrap();
        let out = run_expect(
            rp_exec(None)
                .arg("--env-file")
                .arg(&f)
                .args(["--", "touch"])
                .arg(&marker),
            2,
        );
        let err = stderr(&out);
        assert!(
            err.contains(&format!("--env-file {}: {msg}", f.display())),
            "{text}: {err}"
        );
        assert!(!err.contains("12345"), "a value was shown: {err}");
        assert!(out.stdout.is_empty());
        assert!(!marker.exists(), "{text}: the command ran");
    }
    let out = run_expect(
        rp_exec(None)
            .arg("--env-file")
            .arg(t.path().join("missing.json"))
            .args(["--", "touch"])
            .arg(&marker),
        2,
    );
    assert!(
        stderr(&out).contains("missing.json: cannot read it"),
        "{}",
        stderr(&out)
    );
    assert!(!marker.exists());
}

#[test]
fn the_jobs_ssh_user_port_and_key_are_used() {
    let b = SshBox::start();
    let t = shm_tempdir();
    let job = b.job_with_ssh(t.path());
    let bare = b.bare_config();
    let mut cmd = rp_exec(None);
    cmd.arg("--ssh-config")
        .arg(&bare)
        .args(["--host", "box", "--job"])
        .arg(&job)
        .args(["--", "sh", "-c", "id -un; printf '%s\\n' \"$HOME\""]);
    let out = run_expect(&mut cmd, 0);
    assert!(
        stderr(&out).contains(&format!("{}\n{}\n", b.user, b.home.display())),
        "{}",
        stderr(&out)
    );
    // Without the job the bare config cannot reach the box.
    let out = run_expect(
        rp_exec(None)
            .arg("--ssh-config")
            .arg(&bare)
            .args(["--host", "box", "--", "true"]),
        125,
    );
    assert!(
        stderr(&out).contains("could not run on box"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_env_file_on_the_box_is_gone_before_the_command_starts() {
    let b = SshBox::start();
    let id = run_id("rgone");
    let check = r#"f="$HOME/.runplz/runs/$RUNPLZ_RUN_ID/env"; if test -e "$f"; then echo present; else echo gone; fi > "$HOME/result"; test -d "$HOME/.runplz/runs/$RUNPLZ_RUN_ID" && echo dir-exists >> "$HOME/result""#;
    run_expect(
        rp_exec(Some(&b)).args([
            "--env",
            "TOKEN=s3cret",
            "--run-id",
            &id,
            "--",
            "sh",
            "-c",
            check,
        ]),
        0,
    );
    // The run dir existed (so the check looked in the right place) but held no env file.
    assert_eq!(b.ssh("cat result"), "gone\ndir-exists\n");
    assert_eq!(b.unread_runs(), "");
}

fn tail_script() -> Vec<String> {
    [
        "sh",
        "-c",
        "i=1; while [ $i -le 30 ]; do echo out$i; i=$((i+1)); done; echo err >&2; exit 3",
    ]
    .map(String::from)
    .to_vec()
}

fn expected_tail() -> String {
    let mut want: Vec<String> = (12..=30).map(|i| format!("out{i}")).collect();
    want.push("err".into());
    want.join("\n")
}

#[test]
fn the_report_keeps_the_last_20_lines_of_output_here_and_on_a_box() {
    let r = exec::run(&ExecOptions::new(tail_script()), None).unwrap();
    assert_eq!(
        (r.exit_code, r.output_tail.as_str()),
        (3, expected_tail().as_str())
    );

    let b = SshBox::start();
    let ssh = Ssh::new(
        Target::parse("box").unwrap(),
        SshOptions {
            config: Some(b.config.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let r = exec::run(&ExecOptions::new(tail_script()), Some(&ssh)).unwrap();
    assert_eq!(
        (r.exit_code, r.output_tail.as_str()),
        (3, expected_tail().as_str())
    );
}
