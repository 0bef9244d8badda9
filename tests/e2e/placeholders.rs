//! `{name}` placeholders in a shell-string `run`, against a real `bash`: every place a
//! placeholder can stand, each filled with a corpus of hostile values. Where a value is
//! meant to be literal it must arrive byte-exact; nowhere may it run a command (a marker
//! file never appears); a place where no quoting holds (a heredoc body, backticks,
//! arithmetic, ...) is refused when the job is checked, with a located message.
use crate::support::{bin_cmd, shm_tempdir, stderr};
use runplz_core::job::{self, vars, Run};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Values that would run `touch MARK` (or break out of a quote) if substituted wrongly.
const HOSTILE: &[&str] = &[
    "$(touch MARK)",
    "`touch MARK`",
    "'",
    "\"",
    "\\",
    "\\'",
    "\\\"",
    "a\nb",
    "\n",
    "x\ntouch MARK\n",
    "*",
    ";",
    "; touch MARK",
    "&& touch MARK",
    "| touch MARK",
    "x'; touch MARK; '",
    "x\"; touch MARK; \"",
    "'\"$(touch MARK)\"'",
    "$'\\x41'",
    "$HOME",
    "${HOME}",
    "$((1+1))",
    "a[$(touch MARK)]",
    "!",
    "!!",
    "{",
    "}",
    "{a,b}",
    "ünïcødé ✓ 日本",
    "",
    " ",
    "-n",
    "--help",
    "-e \\n",
    "~",
    "~root",
    "a=b",
    "PATH=/x",
    "%s%n",
    "\t",
    "\r",
    "#",
    ")",
    "esac",
    "]]",
    "E",
    "E\ntouch MARK",
    ">MARK",
    "<MARK",
    "b,c",
    "x,",
];

/// A place, a template for it (the value is `{v}`; the script writes what arrived to the file
/// `out`), and what `out` must then hold for value `v`.
type Expect = fn(&str) -> String;

fn places() -> Vec<(&'static str, &'static str, Expect)> {
    vec![
        ("a plain word", "printf %s {v} > out", |v| v.to_string()),
        ("two in one word", "printf %s a{v}b{v} > out", |v| {
            format!("a{v}b{v}")
        }),
        ("double quotes", r#"printf %s "<{v}>" > out"#, |v| {
            format!("<{v}>")
        }),
        ("--name=\"…\"", r#"printf %s "--name={v}" > out"#, |v| {
            format!("--name={v}")
        }),
        (
            "double quotes with a $var and an escape",
            r#"X=1; printf %s "$X \" {v} \$X" > out"#,
            |v| format!("1 \" {v} $X"),
        ),
        ("single quotes", "printf %s 'a {v} b' > out", |v| {
            format!("a {v} b")
        }),
        ("ANSI-C quotes", r"printf %s $'a\t{v}\n' > out", |v| {
            format!("a\t{v}\n")
        }),
        ("an assignment", r#"X={v}; printf %s "$X" > out"#, |v| {
            v.to_string()
        }),
        (
            "an assignment with text around",
            r#"export X=pre{v}post; printf %s "$X" > out"#,
            |v| format!("pre{v}post"),
        ),
        (
            "a command substitution",
            r#"x=$(printf %s {v}; printf .); printf %s "${{x%.}}" > out"#,
            |v| v.to_string(),
        ),
        (
            "double quotes in a command substitution in double quotes",
            r#"x="$(printf %s "[{v}]"; printf .)"; printf %s "${{x%.}}" > out"#,
            |v| format!("[{v}]"),
        ),
        (
            "a case word and pattern",
            "case {v} in {v}) printf %s match;; *) printf %s no;; esac > out",
            |_| "match".to_string(),
        ),
        (
            "a case pattern that must not glob",
            "case 'zz' in {v}) printf %s glob;; *) printf %s literal;; esac > out",
            |v| if v == "zz" { "glob" } else { "literal" }.to_string(),
        ),
        (
            "a case in a command substitution",
            r#"r=$(case {v} in ({v}) printf m;; esac); printf %s "$r" > out"#,
            |_| "m".to_string(),
        ),
        ("a here-string", "cat <<< {v} > out", |v| format!("{v}\n")),
        (
            "a variable assigned before a heredoc",
            "v={v}\ncat <<E > out\n[$v]\nE\n",
            |v| format!("[{v}]\n"),
        ),
        (
            "after a quoted heredoc",
            "cat <<'E' >/dev/null\n{{x}} $(touch MARK) `x`\nE\nprintf %s {v} > out",
            |v| v.to_string(),
        ),
        (
            "after an unquoted <<- heredoc",
            "cat <<-E >/dev/null\n\tbody\n\tE\nprintf %s {v} > out",
            |v| v.to_string(),
        ),
        ("a subshell", "( printf %s {v} ) > out", |v| v.to_string()),
        (
            "a function body",
            "f() {{ printf %s \"$1\" {v}; }}; f '' > out",
            |v| v.to_string(),
        ),
        (
            "after a comment",
            "# it's a comment with \"quotes\n printf %s {v} > out",
            |v| v.to_string(),
        ),
        (
            "a declare value",
            r#"declare X={v}; readonly Y=_{v}; printf %s "$X$Y" > out"#,
            |v| format!("{v}_{v}"),
        ),
        (
            "a test operand",
            "[ {v} = {v} ] && [ -n {v}x ] && printf %s {v} > out",
            |v| v.to_string(),
        ),
        (
            "a for list and an array",
            r#"a=({v} x); for w in {v}; do printf %s "$w${{a[0]}}"; done > out"#,
            |v| format!("{v}{v}"),
        ),
        (
            "a process substitution",
            "cat <(printf %s {v}) > out",
            |v| v.to_string(),
        ),
        ("a brace expansion", "printf '%s|' {{a,{v}}} > out", |v| {
            format!("a|{v}|")
        }),
        (
            "after a ${…} whose quotes hide braces",
            r#"x=1; printf %s "${{x:-"}}"}}" ${{x:-'}}'}} {v} > out"#,
            |v| format!("11{v}"),
        ),
        (
            "a [[ ]] string test",
            r#"[[ {v} == "{v}" && -n x{v} && ! -f {v}/nope ]] && printf %s {v} > out"#,
            |v| v.to_string(),
        ),
        ("after [[ ]]", "[[ a == a ]] && printf %s {v} > out", |v| {
            v.to_string()
        }),
    ]
}

fn render(template: &str, value: &str) -> Result<String, String> {
    let out = vars::render(
        &Run::Shell(template.into()),
        &BTreeMap::new(),
        &[("v".to_string(), value.to_string())],
    )?;
    match out {
        Run::Shell(s) => Ok(s),
        Run::Argv(_) => unreachable!(),
    }
}

fn bash(dir: &Path, script: &str) -> std::process::Output {
    Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .expect("bash")
}

#[test]
fn every_accepted_place_delivers_every_hostile_value_byte_exact_and_runs_nothing() {
    let mut wrong = Vec::new();
    for (place, template, expect) in places() {
        vars::check_template(&Run::Shell(template.into()))
            .unwrap_or_else(|e| panic!("{place}: refused: {e:?}"));
        for v in HOSTILE {
            let d = shm_tempdir();
            let script = render(template, v).unwrap();
            let out = bash(d.path(), &script);
            let got = std::fs::read(d.path().join("out")).unwrap_or_default();
            if d.path().join("MARK").exists() {
                wrong.push(format!("{place} {v:?}: RAN A COMMAND via {script:?}"));
            }
            if got != expect(v).as_bytes() || !out.status.success() {
                wrong.push(format!(
                    "{place} {v:?}: got {:?} (exit {:?}, {}) from {script:?}",
                    String::from_utf8_lossy(&got),
                    out.status.code(),
                    stderr(&out)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Places refused, and a word of the message each must give.
const REFUSED: &[(&str, &str)] = &[
    ("cat <<E\nresult: {v}\nE", "inside a heredoc body"),
    ("cat <<E\nresult: '{v}'\nE", "inside a heredoc body"),
    ("cat <<E\nresult: \"{v}\"\nE", "inside a heredoc body"),
    ("cat <<'E'\nresult: {v}\nE", "inside a heredoc body"),
    ("cat <<\"E\"\n{v}\nE", "inside a heredoc body"),
    ("cat <<\\E\n{v}\nE", "inside a heredoc body"),
    ("cat <<-E\n\t{v}\n\tE", "inside a heredoc body"),
    ("cat <<A <<B\na\nA\n{v}\nB", "inside a heredoc body"),
    ("x=$(cat <<E\n{v}\nE\n)", "inside a heredoc body"),
    ("cat <<{v}\nx\n", "as a heredoc delimiter"),
    ("echo `echo {v}`", "inside backticks"),
    ("echo \"`echo {v}`\"", "inside backticks"),
    ("echo $(( {v} + 1 ))", "inside arithmetic"),
    ("echo \"$(( {v} ))\"", "inside arithmetic"),
    ("(( {v} > 1 )) && echo big", "inside arithmetic"),
    ("let x={v}", "inside arithmetic"),
    ("[[ {v} -eq 1 ]]", "inside a [[ … ]] that uses -eq"),
    ("[[ 1 -lt \"{v}\" ]]", "inside a [[ … ]] that uses -eq"),
    ("[[ -v {v} ]]", "inside a [[ … ]] that uses -eq"),
    (
        "[[ -n {v} && {v} -ge 2 ]]",
        "inside a [[ … ]] that uses -eq",
    ),
    ("echo ${{x:-{v}}}", "inside ${…}"),
    ("echo \"${{x:-{v}}}\"", "inside ${…}"),
    ("echo hi # {v}", "inside a # comment"),
    ("eval {v}", "as an argument of eval"),
    ("trap {v} EXIT", "as an argument of eval or trap"),
    ("declare -n r={v}", "as a value of declare -i or -n"),
    ("arr[{v}]=1", "where bash reads a variable name"),
    ("A=1 arr[{v}]=1 true", "where bash reads a variable name"),
    ("declare {v}=1", "where bash reads a variable name"),
    ("declare -i n={v}", "as a value of declare -i"),
    ("f() {{ local -ri n={v}; }}", "as a value of declare -i"),
    ("read {v} < /dev/null", "where bash reads a variable name"),
    (
        "if true; then read -r \"{v}\"; fi",
        "where bash reads a variable name",
    ),
    ("printf -v {v} x", "where bash reads a variable name"),
    ("test -v {v}", "where bash reads a variable name"),
    ("[ -v {v} ]", "where bash reads a variable name"),
    ("unset {v}", "where bash reads a variable name"),
    ("f() {{ read {v}; }}", "where bash reads a variable name"),
    ("echo $[{v}+1]", "inside arithmetic"),
    ("echo $(( $(printf %s {v}) + 1 ))", "inside arithmetic"),
    ("echo \"${{x:-'{v}'}}\"", "inside ${…}"),
    ("echo \"$(echo `echo \"{v}\"`)\"", "inside backticks"),
    ("for (( i={v}; i<2; i++ )); do :; done", "inside arithmetic"),
    ("echo \\{v}", "right after a backslash"),
    ("echo \"\\{v}\"", "right after a backslash"),
];

#[test]
fn every_unquotable_place_is_refused_and_a_value_there_never_runs() {
    for (template, why) in REFUSED {
        let e = vars::check_template(&Run::Shell(template.to_string()))
            .expect_err(template)
            .1;
        assert!(
            e.starts_with("found placeholder '{v}' ")
                && e.contains(why)
                && e.contains(", expected "),
            "{template:?}: {e}"
        );
        assert!(render(template, "$(touch MARK)").is_err(), "{template:?}");
        assert!(
            vars::check_template(&Run::Argv(vec![template.to_string()])).is_ok(),
            "an argv word is no shell: {template:?}"
        );
    }
}

/// The issue's own case, end to end: `runplz local` refuses the heredoc job located, with
/// exit 2, and `--v1='$(id>X)'` creates nothing; the same value in `"--name={v1}"` arrives
/// as text.
#[test]
fn runplz_refuses_a_heredoc_placeholder_and_quotes_one_in_double_quotes() {
    let d = shm_tempdir();
    let job = |run: &str| {
        serde_json::json!({
            "name": "ph",
            "image": {"from_registry": "debian:bookworm"},
            "run": run,
            "local": {"use_docker": false},
        })
        .to_string()
    };
    std::fs::write(
        d.path().join("job.json"),
        job("cat <<E > \"$RUNPLZ_OUT/r.txt\"\nresult: {v1}\nE"),
    )
    .unwrap();
    for value in ["$(id>X)", "`id>X`"] {
        let mut c = bin_cmd("runplz");
        c.current_dir(d.path())
            .args(["local", "job.json", "--json"])
            .arg(format!("--v1={value}"));
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("job.json:1:")
                && stderr(&out).contains("run: found placeholder '{v1}' inside a heredoc body")
                && stderr(&out).contains("v={v1} before the heredoc")
                && stderr(&out).contains("(at line 2, column 9 of the command)"),
            "{}",
            stderr(&out)
        );
        assert!(!d.path().join("X").exists());
    }
    std::fs::write(
        d.path().join("job.json"),
        job("printf %s \"--name={v1}\" > \"$RUNPLZ_OUT/r.txt\""),
    )
    .unwrap();
    let mut c = bin_cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json", "--json", "--v1=$(id>X)'`id>X`\"\\"]);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/r.txt")).unwrap(),
        "--name=$(id>X)'`id>X`\"\\"
    );
    assert!(!d.path().join("X").exists());
    let parsed = job::parse(
        &std::fs::read_to_string(d.path().join("job.json")).unwrap(),
        "job.json",
        d.path(),
    );
    assert!(parsed.is_ok());
}
