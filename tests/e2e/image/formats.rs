//! Hostile values run for real through each format: one job sets environment values and runs
//! commands full of quotes, `$`, backticks, `$(..)`, line breaks, `<<`, trailing backslashes
//! and unicode; each command writes a file, and every file must hold exactly the expected
//! bytes whether the job went through the shell script, the Modal chain (its commands run by
//! `/bin/sh -c`, as Modal's builder does) or the Dockerfile (read here by Docker's rules).

use super::{job_with, render, write_job};
use crate::support::shm_tempdir;
use serde_json::{json, Map, Value};
use std::fs;
use std::path::Path;
use std::process::Command;

/// Environment values no quoting layer may change (a line break only where the format can
/// carry one: not a Dockerfile ENV).
fn hostile_env(with_newline: bool) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("V_SPACES", "two  words\tand a tab "),
        ("V_QUOTES", r#"it's "double" and 'single'"#),
        ("V_DOLLAR", r"$HOME ${PATH} $(id -u) `id -u` \$ \ end\"),
        ("V_UNICODE", "ünïcödé ✓ — 漢字"),
        ("V_EMPTY", ""),
    ];
    if with_newline {
        v.push(("V_NEWLINE", "line one\nline two\n"));
    }
    v
}

/// (command, file it writes, bytes the file must hold).
fn hostile_commands() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "cat > lit-heredoc <<'EOF'\nit's \"q\" $(no) `no` ü \\ end\nEOF",
            "lit-heredoc",
            "it's \"q\" $(no) `no` ü \\ end\n",
        ),
        (
            r#"printf '%s' 'a'"'"'b $x `y` $(z)' > lit-quotes"#,
            "lit-quotes",
            "a'b $x `y` $(z)",
        ),
        (
            "printf '%s\\n' one \\\n  two > lit-continued",
            "lit-continued",
            "one\ntwo\n",
        ),
        (
            "[ 1 = 1 ] && printf bracket > lit-bracket",
            "lit-bracket",
            "bracket",
        ),
        (
            "printf trailing > lit-trailing # ends in a backslash \\",
            "lit-trailing",
            "trailing",
        ),
        ("  printf lead > lit-lead", "lit-lead", "lead"),
        (
            r#"printf '%s' "ü ✓ $((6*7))" > lit-unicode"#,
            "lit-unicode",
            "ü ✓ 42",
        ),
    ]
}

/// The hostile job in `dir`: one env step, then one run_commands step.
fn hostile_job(dir: &Path, with_newline: bool) {
    let env: Map<String, Value> = hostile_env(with_newline)
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut cmds: Vec<String> = hostile_commands()
        .into_iter()
        .map(|(c, _, _)| c.to_string())
        .collect();
    for (k, _) in hostile_env(with_newline) {
        cmds.push(format!("printf '%s' \"${k}\" > env-{k}"));
    }
    write_job(
        dir,
        &job_with(json!([{"env": env}, {"run_commands": cmds}])),
    );
}

/// Every file the hostile commands wrote holds exactly the expected bytes.
fn assert_files(dir: &Path, with_newline: bool, how: &str) {
    let mut expected: Vec<(String, &str)> = hostile_commands()
        .into_iter()
        .map(|(_, f, want)| (f.to_string(), want))
        .collect();
    for (k, v) in hostile_env(with_newline) {
        expected.push((format!("env-{k}"), v));
    }
    for (file, want) in expected {
        let got = fs::read_to_string(dir.join(&file))
            .unwrap_or_else(|e| panic!("{how}: {file} was not written: {e}"));
        assert_eq!(got, want, "{how}: {file}");
    }
}

fn run_ok(cmd: &mut Command, how: &str) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{how}: {cmd:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_shell_script_delivers_hostile_values_byte_exact() {
    let dir = shm_tempdir();
    hostile_job(dir.path(), true);
    let script = render(dir.path(), "shell", &[]);
    fs::write(dir.path().join("setup.sh"), &script).unwrap();
    let out = Command::new("bash")
        .arg("setup.sh")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(out.stdout.is_empty(), "the script printed on stdout");
    assert!(
        err.starts_with("# runplz: step 1/2: env V_DOLLAR V_EMPTY V_NEWLINE"),
        "{err}"
    );
    assert!(err.contains("\n# runplz: step 2/2: run_commands cat > lit-heredoc <<'EOF' it's"));
    assert_files(dir.path(), true, "shell");
    // Idempotent: a second run succeeds and leaves the same bytes.
    run_ok(
        Command::new("bash").arg("setup.sh").current_dir(dir.path()),
        "shell, second run",
    );
    assert_files(dir.path(), true, "shell, second run");
}

#[test]
fn the_modal_chain_delivers_hostile_values_byte_exact() {
    let dir = shm_tempdir();
    hostile_job(dir.path(), true);
    let rec: Value = serde_json::from_str(&render(dir.path(), "modal", &[])).unwrap();
    let ops = rec["ops"].as_array().unwrap();
    let names: Vec<&str> = ops.iter().map(|o| o["op"].as_str().unwrap()).collect();
    assert_eq!(names, ["from_registry", "env", "run_commands", "workdir"]);
    let mut env: Vec<(String, String)> = Vec::new();
    for op in ops {
        if op["op"] == "env" {
            for (k, v) in op["vars"].as_object().unwrap() {
                env.push((k.clone(), v.as_str().unwrap().to_string()));
            }
        }
        if op["op"] == "run_commands" {
            for cmd in op["commands"].as_array().unwrap() {
                let cmd = cmd.as_str().unwrap();
                assert!(
                    !cmd.contains('\n'),
                    "a Modal RUN line must be one line: {cmd:?}"
                );
                run_ok(
                    Command::new("/bin/sh")
                        .arg("-c")
                        .arg(cmd)
                        .envs(env.iter().map(|(k, v)| (k, v)))
                        .current_dir(dir.path()),
                    "modal",
                );
            }
        }
    }
    assert_files(dir.path(), true, "modal");
}

/// Docker's reading of `ENV k=v k2="v 2"`: a double-quoted value unescapes `\"`, `\$` and
/// `\\` and keeps any other backslash; an unescaped `$` would be expanded, so none may be
/// left. Bare values are taken as is.
fn docker_env(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut it = line.chars().peekable();
    while it.peek().is_some() {
        let key: String = it.by_ref().take_while(|c| *c != '=').collect();
        let mut val = String::new();
        if it.peek() == Some(&'"') {
            it.next();
            loop {
                match it.next().expect("unterminated quote") {
                    '"' => break,
                    '\\' if matches!(it.peek(), Some('"' | '$' | '\\')) => {
                        val.push(it.next().unwrap())
                    }
                    '$' => panic!("unescaped $ in {line}"),
                    c => val.push(c),
                }
            }
            assert!(matches!(it.next(), None | Some(' ')), "{line}");
        } else {
            val = it.by_ref().take_while(|c| *c != ' ').collect();
        }
        out.push((key, val));
    }
    out
}

/// The command a `RUN` line runs: exec form decoded as JSON, shell form as `/bin/sh -c`.
fn docker_run_argv(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        serde_json::from_str(rest).unwrap_or_else(|e| panic!("exec form not JSON ({e}): {rest}"))
    } else {
        vec!["/bin/sh".into(), "-c".into(), rest.into()]
    }
}

#[test]
fn the_dockerfile_delivers_hostile_values_byte_exact() {
    let dir = shm_tempdir();
    hostile_job(dir.path(), false);
    let text = render(dir.path(), "dockerfile", &[]);
    let mut env: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let (word, rest) = line.split_once(' ').unwrap();
        match word {
            "FROM" | "WORKDIR" => {}
            "ENV" => env.extend(docker_env(rest)),
            "RUN" => {
                let argv = docker_run_argv(rest);
                run_ok(
                    Command::new(&argv[0])
                        .args(&argv[1..])
                        .envs(env.iter().map(|(k, v)| (k, v)))
                        .current_dir(dir.path()),
                    "dockerfile",
                );
            }
            _ => panic!("unexpected Dockerfile line: {line:?}"),
        }
    }
    assert_files(dir.path(), false, "dockerfile");
}

#[test]
fn the_dockerfile_refuses_a_line_break_in_env_by_its_path() {
    let dir = shm_tempdir();
    hostile_job(dir.path(), true);
    let out = crate::support::run_expect(
        &mut super::rp_image(dir.path(), &["job.json", "-f", "dockerfile"]),
        2,
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        crate::support::stderr(&out),
        "rp-image: job.json: image.steps[0].env.V_NEWLINE: found a value with a line break, \
         which a Dockerfile ENV cannot hold (Docker reads one instruction per line); set it in \
         the job's top-level \"env\" instead, which is passed when the job runs\n"
    );
}

/// The argv of every package step in the golden hostile job, read back from the Dockerfile.
#[test]
fn dockerfile_package_steps_carry_the_exact_argv() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/image/hostile");
    let job: Value = serde_json::from_slice(&fs::read(case.join("job.json")).unwrap()).unwrap();
    let steps = &job["image"]["steps"];
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let text = render(&case, "dockerfile", &[]);
    let runs: Vec<Vec<String>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("RUN "))
        .map(docker_run_argv)
        .collect();

    // apt: the shell splits the quoted names back into exactly the job's packages.
    let apt = &runs[0][2];
    let words = apt
        .strip_prefix("apt-get update && apt-get install -y --no-install-recommends ")
        .and_then(|s| s.strip_suffix(" && rm -rf /var/lib/apt/lists/*"))
        .unwrap_or_else(|| panic!("apt line: {apt}"));
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {words}"))
        .output()
        .unwrap();
    let got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(String::from)
        .collect();
    assert_eq!(got, strs(&steps[0]["apt_install"]));

    // pip: exec form, index URLs first, then the packages, untouched.
    let mut want: Vec<String> = ["python3", "-m", "pip", "install", "--no-cache-dir"]
        .map(String::from)
        .to_vec();
    want.extend([
        "--index-url".to_string(),
        steps[1]["index_url"].as_str().unwrap().to_string(),
        "--extra-index-url".to_string(),
        steps[1]["extra_index_url"].as_str().unwrap().to_string(),
    ]);
    want.extend(strs(&steps[1]["pip_install"]));
    assert_eq!(runs[1], want);

    // local dir: copied to /workspace/<dir>, then installed editable from there.
    assert!(
        text.contains("\nCOPY my-pkg_ü /workspace/my-pkg_ü\n"),
        "{text}"
    );
    assert_eq!(
        runs[2][4..],
        ["--no-cache-dir", "-e", "/workspace/my-pkg_ü"]
    );

    // commands: each RUN runs exactly the job's command with /bin/sh -c.
    let cmds: Vec<String> = runs[3..].iter().map(|a| a[2].clone()).collect();
    assert!(runs[3..].iter().all(|a| a[..2] == ["/bin/sh", "-c"]));
    assert_eq!(cmds, strs(&steps[3]["run_commands"]));
}
