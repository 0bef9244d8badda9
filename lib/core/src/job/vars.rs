//! `{name}` placeholders in `run`. Values come from `args` (defaults), then `--vars-file`,
//! then `--var k=v`, then `--k=v` after the job file (later wins). In a shell-string `run`
//! each value is quoted for the place it stands in (a plain word, inside `"…"`, `'…'` or
//! `$'…'`: see `shell_context.rs`), and a place where no quoting holds (a heredoc body,
//! backticks, arithmetic, an arithmetic `[[ … ]]`, `${…}`, a variable name, a comment,
//! `eval`) is refused when the job is checked, so a value can never inject a command; in
//! an argv `run` it is substituted as is. `{{` and `}}` are literal braces.

use super::humanize::{describe, did_you_mean, quoted_list, syntax_error_at};
use super::shell_context::{dbracket_evaluates, scan, Ctx, DBRACKET};
use super::{spans, Run};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A piece of a template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(String),
    /// A placeholder and where it stands (always [`Ctx::Plain`] in an argv word, which no
    /// shell reads).
    Var(&'a str, Ctx),
}

/// Split a template into text and placeholders. In a shell string each placeholder's place
/// is found ([`shell_context::context`]), and a place where no quoting holds is refused
/// with what to do instead. `${NAME}` is refused: it is almost surely a shell variable the
/// user meant to keep, which needs `${{NAME}}`.
fn pieces(t: &str, shell: bool) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    // The script as bash will read it up to here, a placeholder standing as one plain word.
    let mut shadow = String::new();
    let mut rest = t;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        shadow.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            text.push_str(&tail[..1]);
            shadow.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if tail.starts_with('}') {
            return Err(format!(
                "found a lone '}}' in {}, expected '}}}}' for a literal brace",
                q(t)
            ));
        } else {
            let end = tail.find('}').ok_or_else(|| {
                format!("found an unclosed '{{' in {}, expected '{{name}}' or '{{{{' for a literal brace", q(t))
            })?;
            let name = &tail[1..end];
            if !crate::quote::is_identifier(name) {
                return Err(format!("found placeholder '{{{name}}}' in {}, expected '{{name}}' with a name like steps_2 ('{{{{' for a literal brace)", q(t)));
            }
            let ctx = match shell.then(|| scan(&shadow)) {
                // Inside `[[ … ]]`, an operator after the value decides as well as one before.
                Some((ctx, true)) => {
                    let after = &tail[end + 1..];
                    let rest_of_test = after.split("]]").next().unwrap_or(after);
                    if dbracket_evaluates(rest_of_test) {
                        Ctx::Refused(DBRACKET)
                    } else {
                        ctx
                    }
                }
                Some((ctx, false)) => ctx,
                None => Ctx::Plain,
            };
            if let Ctx::Refused(why) = ctx {
                // Where in the command: a short one is shown whole, a script by line and
                // column.
                let before = &t[..t.len() - tail.len()];
                let at = if t.contains('\n') || t.chars().count() > 80 {
                    let line = before.matches('\n').count() + 1;
                    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                    format!("at line {line}, column {col} of the command")
                } else {
                    format!("in {}", q(t))
                };
                return Err(format!(
                    "found placeholder '{{{name}}}' {} ({at})",
                    why.replace("{name}", &format!("{{{name}}}"))
                ));
            }
            if shell && matches!(ctx, Ctx::Plain | Ctx::Double) && shadow.ends_with('$') {
                return Err(format!("found '${{{name}}}' in {}, expected '${{{{{name}}}}}' for a shell variable ('{{{{' and '}}}}' are literal braces) or '{{{name}}}' without '$' for a placeholder", q(t)));
            }
            if !text.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut text)));
            }
            out.push(Piece::Var(name, ctx));
            shadow.push('_');
            rest = &tail[end + 1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// The templates of `run`, each with whether it is a shell string.
fn templates(run: &Run) -> Vec<(&str, bool)> {
    match run {
        Run::Shell(s) => vec![(s.as_str(), true)],
        Run::Argv(v) => v.iter().map(|s| (s.as_str(), false)).collect(),
    }
}

/// Check placeholder syntax. On error: the argv index (for an array `run`) and the message.
pub fn check_template(run: &Run) -> Result<(), (Option<usize>, String)> {
    for (i, (t, shell)) in templates(run).into_iter().enumerate() {
        pieces(t, shell).map_err(|m| (matches!(run, Run::Argv(_)).then_some(i), m))?;
    }
    Ok(())
}

/// The placeholder names used in `run`.
pub fn placeholders(run: &Run) -> BTreeSet<String> {
    templates(run)
        .into_iter()
        .flat_map(|(t, shell)| pieces(t, shell).unwrap_or_default())
        .filter_map(|p| match p {
            Piece::Var(n, _) => Some(n.to_string()),
            Piece::Text(_) => None,
        })
        .collect()
}

fn q(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Fill `run`'s placeholders. `defaults` are the job's `args`; `overrides` come in order of
/// precedence (later wins). A name that is not a placeholder of `run`, or a placeholder left
/// without a value, is an error naming it.
pub fn render(
    run: &Run,
    defaults: &BTreeMap<String, String>,
    overrides: &[(String, String)],
) -> Result<Run, String> {
    let used = placeholders(run);
    let known: Vec<&str> = used.iter().map(String::as_str).collect();
    let mut values = defaults.clone();
    for (k, v) in overrides {
        if !used.contains(k) {
            return Err(if known.is_empty() {
                format!(
                    "found a value for variable {}, expected none: \"run\" has no placeholders",
                    q(k)
                )
            } else {
                format!(
                    "found a value for variable {}, expected a placeholder of \"run\" ({}){}",
                    q(k),
                    quoted_list(&known),
                    did_you_mean(k, &known)
                )
            });
        }
        values.insert(k.clone(), v.clone());
    }
    if let Some(n) = used.iter().find(|n| !values.contains_key(*n)) {
        return Err(format!(
            "found no value for {{{n}}}, expected one in \"args\", from --var {n}=VALUE, or as --{n}=VALUE after the job file"
        ));
    }
    if let Some((n, _)) = values
        .iter()
        .find(|(n, v)| used.contains(*n) && v.contains('\0'))
    {
        return Err(format!(
            "found a NUL byte in the value of {{{n}}}, expected none: a command line cannot hold one"
        ));
    }
    let fill = |t: &str, quote: bool| -> String {
        pieces(t, quote)
            .unwrap_or_default()
            .into_iter()
            .map(|p| match p {
                Piece::Text(s) => s,
                Piece::Var(n, ctx) if quote => ctx.quote(&values[n]).unwrap_or_default(),
                Piece::Var(n, _) => values[n].clone(),
            })
            .collect()
    };
    Ok(match run {
        Run::Shell(s) => Run::Shell(fill(s, true)),
        Run::Argv(v) => Run::Argv(v.iter().map(|t| fill(t, false)).collect()),
    })
}

/// Parse `NAME=VALUE` (a `--var` value). The value may itself contain `=`.
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if crate::quote::is_identifier(k) => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "found {}, expected NAME=VALUE with NAME like steps_2",
            q(s)
        )),
    }
}

/// Read a `--vars-file`: a JSON object whose values are strings, in file order.
pub fn read_vars_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let shown = path.display();
    let whole = std::fs::read_to_string(path)
        .map_err(|e| format!("{shown}: cannot read the vars file: {e}"))?;
    let text = whole.strip_prefix('\u{feff}').unwrap_or(&whole);
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let (message, (l, c)) = syntax_error_at(&e, text);
        format!("{shown}:{l}:{c}: {message}")
    })?;
    let at = |key: &str| {
        let (l, c) = spans::locate(text, &spans::join_key("", key));
        format!("{shown}:{l}:{c}")
    };
    let obj = v.as_object().ok_or_else(|| {
        format!(
            "{}: found {}, expected a JSON object of strings",
            at(""),
            describe(&v)
        )
    })?;
    obj.iter()
        .map(|(k, val)| {
            let path = spans::join_key("", k);
            if !crate::quote::is_identifier(k) {
                let (l, c) = spans::locate_key(text, &path);
                return Err(format!(
                    "{shown}:{l}:{c}: {path}: found key {}, expected a placeholder name like steps_2",
                    q(k)
                ));
            }
            match val.as_str() {
                Some(s) => Ok((k.clone(), s.to_string())),
                None => Err(format!(
                    "{}: {path}: found {}, expected a string",
                    at(k),
                    describe(val)
                )),
            }
        })
        .collect()
}

/// Job args in their other forms, as `--NAME=VALUE`: `--NAME VALUE` (the next word, when it
/// is not itself a `--` flag), and, for a placeholder whose default (the job's `args`) is
/// "true" or "false", `--NAME` alone (true) and `--no-NAME` (false). Any other word is kept
/// as is.
pub fn bool_flags(
    trailing: &[String],
    defaults: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    let is_bool = |k: &str| defaults.get(k).is_some_and(|d| d == "true" || d == "false");
    let mut words = trailing.iter().peekable();
    let mut out = Vec::new();
    while let Some(word) = words.next() {
        let name = word
            .strip_prefix("--")
            .filter(|n| !n.contains('=') && !n.is_empty() && !n.starts_with('-'));
        if let (Some(name), Some(v)) = (name, words.peek()) {
            if !v.starts_with("--") {
                out.push(format!("--{name}={v}"));
                words.next();
                continue;
            }
        }
        out.push(alone(word, name, defaults, &is_bool)?);
    }
    Ok(out)
}

/// A `--NAME` with no value (see [`bool_flags`]).
fn alone(
    word: &str,
    name: Option<&str>,
    defaults: &BTreeMap<String, String>,
    is_bool: &dyn Fn(&str) -> bool,
) -> Result<String, String> {
    let Some(name) = name else {
        return Ok(word.to_string());
    };
    if is_bool(name) {
        return Ok(format!("--{name}=true"));
    }
    if let Some(k) = name.strip_prefix("no-").filter(|k| is_bool(k)) {
        return Ok(format!("--{k}=false"));
    }
    match defaults.get(name) {
        Some(d) => Err(format!(
            "found {} after the job file with no value, expected --{name}=VALUE or --{name} VALUE (a placeholder is given alone only when its default is \"true\" or \"false\"; {name}'s is {})",
            q(word),
            q(d)
        )),
        None => Ok(word.to_string()),
    }
}

/// Build the override list from the command line, lowest precedence first: the
/// `--vars-file` entries, then each `--var NAME=VALUE`, then the raw `--NAME=VALUE` words
/// given after the job file. Pass the result to [`render`] (or `Job::command`), which adds
/// `args` beneath them all. Anything else after the job file is an error naming it.
pub fn overrides(
    vars: &[String],
    vars_file: Option<&Path>,
    trailing: &[String],
) -> Result<Vec<(String, String)>, String> {
    let mut out = match vars_file {
        Some(f) => read_vars_file(f)?,
        None => Vec::new(),
    };
    for v in vars {
        out.push(parse_kv(v).map_err(|m| format!("--var: {m}"))?);
    }
    for word in trailing {
        let kv = word
            .strip_prefix("--")
            .filter(|rest| !rest.starts_with('-'))
            .ok_or_else(|| {
                format!(
                    "found {} after the job file, expected --NAME=VALUE (e.g. --steps=5)",
                    q(word)
                )
            })?;
        match kv.split_once('=') {
            Some((k, v)) if crate::quote::is_identifier(k) => {
                out.push((k.to_string(), v.to_string()))
            }
            Some(_) => {
                return Err(format!(
                    "found {} after the job file, expected --NAME=VALUE with NAME like steps_2",
                    q(word)
                ))
            }
            None => {
                return Err(format!(
                    "found {} after the job file, expected --NAME=VALUE (e.g. --{}=5)",
                    q(word),
                    if kv.is_empty() { "steps" } else { kv }
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(p: &[(&str, &str)]) -> BTreeMap<String, String> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn later_overrides_win_and_values_are_quoted_in_shell() {
        let run = Run::Shell("train --steps {steps} --tag {tag} {{literal}} $HOME ${{X}}".into());
        let got = render(
            &run,
            &args(&[("steps", "100"), ("tag", "a")]),
            &pairs(&[("steps", "5"), ("tag", "x; rm -rf ~")]),
        )
        .unwrap();
        assert_eq!(
            got,
            Run::Shell("train --steps 5 --tag 'x; rm -rf ~' {literal} $HOME ${X}".into())
        );
    }

    #[test]
    fn argv_values_are_raw() {
        let run = Run::Argv(vec!["echo".into(), "{msg}".into(), "${{msg}}".into()]);
        let got = render(&run, &args(&[]), &pairs(&[("msg", "a b")])).unwrap();
        assert_eq!(
            got,
            Run::Argv(vec!["echo".into(), "a b".into(), "${msg}".into()])
        );
    }

    #[test]
    fn unknown_and_missing_are_errors() {
        let run = Run::Shell("x {steps}".into());
        let e = render(&run, &args(&[]), &pairs(&[("stesp", "1")])).unwrap_err();
        assert_eq!(
            e,
            "found a value for variable \"stesp\", expected a placeholder of \"run\" (\"steps\"); did you mean \"steps\"?"
        );
        let e = render(&run, &args(&[]), &[]).unwrap_err();
        assert_eq!(
            e,
            "found no value for {steps}, expected one in \"args\", from --var steps=VALUE, or as --steps=VALUE after the job file"
        );
        let e = render(&Run::Shell("x".into()), &args(&[]), &pairs(&[("a", "1")])).unwrap_err();
        assert_eq!(
            e,
            "found a value for variable \"a\", expected none: \"run\" has no placeholders"
        );
    }

    #[test]
    fn bad_braces() {
        let err = |t: &str| check_template(&Run::Shell(t.into())).unwrap_err().1;
        assert_eq!(
            err("a { b"),
            "found an unclosed '{' in \"a { b\", expected '{name}' or '{{' for a literal brace"
        );
        assert_eq!(
            err("a } b"),
            "found a lone '}' in \"a } b\", expected '}}' for a literal brace"
        );
        assert_eq!(
            err("{a-b}"),
            "found placeholder '{a-b}' in \"{a-b}\", expected '{name}' with a name like steps_2 ('{{' for a literal brace)"
        );
        assert_eq!(
            err("echo ${HOME}"),
            "found '${HOME}' in \"echo ${HOME}\", expected '${{HOME}}' for a shell variable ('{{' and '}}' are literal braces) or '{HOME}' without '$' for a placeholder"
        );
        assert!(check_template(&Run::Shell("{{ok}} {x} $${{y}}".into())).is_ok());
        assert_eq!(
            check_template(&Run::Argv(vec!["a".into(), "}".into()]))
                .unwrap_err()
                .0,
            Some(1)
        );
    }

    #[test]
    fn overrides_keep_precedence_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vars.json");
        std::fs::write(&f, r#"{"steps": "10", "lr": "0.1", "tag": "file"}"#).unwrap();
        let got = overrides(
            &words(&["steps=20", "tag=a=b"]),
            Some(&f),
            &words(&["--steps=30", "--empty="]),
        )
        .unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("steps", "10"),
                ("lr", "0.1"),
                ("tag", "file"),
                ("steps", "20"),
                ("tag", "a=b"),
                ("steps", "30"),
                ("empty", ""),
            ])
        );
        // Fed to render, the trailing word wins over --var, which wins over the file and args.
        let run = Run::Argv(words(&["t", "{steps}", "{lr}", "{tag}", "{empty}"]));
        let out = render(&run, &args(&[("steps", "1"), ("lr", "1")]), &got).unwrap();
        assert_eq!(out, Run::Argv(words(&["t", "30", "0.1", "a=b", ""])));
    }

    #[test]
    fn bool_placeholders_take_a_flag_alone() {
        let d = args(&[("fast", "false"), ("verbose", "true"), ("steps", "3")]);
        assert_eq!(
            bool_flags(&words(&["--fast", "--no-verbose", "--steps=4", "--x"]), &d).unwrap(),
            words(&["--fast=true", "--verbose=false", "--steps=4", "--x"])
        );
        // Not a boolean placeholder: no value is an error naming it.
        let e = bool_flags(&words(&["--steps"]), &d).unwrap_err();
        assert!(e.contains("expected --steps=VALUE or --steps VALUE"), "{e}");
        assert!(e.contains("steps's is \"3\""), "{e}");
        // --no-X is only for a boolean X.
        assert_eq!(
            bool_flags(&words(&["--no-steps"]), &d).unwrap(),
            words(&["--no-steps"])
        );
    }

    #[test]
    fn override_errors_name_the_word() {
        let e = |v: &[&str], t: &[&str]| overrides(&words(v), None, &words(t)).unwrap_err();
        assert_eq!(
            e(&[], &["--steps"]),
            "found \"--steps\" after the job file, expected --NAME=VALUE (e.g. --steps=5)"
        );
        assert_eq!(
            e(&[], &["--steps=1", "extra"]),
            "found \"extra\" after the job file, expected --NAME=VALUE (e.g. --steps=5)"
        );
        assert_eq!(
            e(&[], &["---x=1"]),
            "found \"---x=1\" after the job file, expected --NAME=VALUE (e.g. --steps=5)"
        );
        assert_eq!(
            e(&[], &["--max-steps=5"]),
            "found \"--max-steps=5\" after the job file, expected --NAME=VALUE with NAME like steps_2"
        );
        assert_eq!(
            e(&["steps"], &[]),
            "--var: found \"steps\", expected NAME=VALUE with NAME like steps_2"
        );
        assert_eq!(
            e(&["=5"], &[]),
            "--var: found \"=5\", expected NAME=VALUE with NAME like steps_2"
        );
    }

    #[test]
    fn vars_file_errors_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.json");
        let shown = f.display().to_string();
        let e = |text: &str| {
            std::fs::write(&f, text).unwrap();
            overrides(&[], Some(&f), &[])
                .unwrap_err()
                .replace(&shown, "F")
        };
        assert_eq!(
            e("{\"a\": \"1\",\n \"steps\": 5}"),
            "F:2:11: steps: found number 5, expected a string"
        );
        assert_eq!(
            e("[\"a\"]"),
            "F:1:1: found an array, expected a JSON object of strings"
        );
        assert_eq!(
            e("{\"max-steps\": \"1\"}"),
            "F:1:2: [\"max-steps\"]: found key \"max-steps\", expected a placeholder name like steps_2"
        );
        assert_eq!(
            e("{\"a\": \"1\",}"),
            "F:1:10: found a trailing comma, expected another value (JSON allows no trailing commas)"
        );
        assert!(overrides(&[], Some(&dir.path().join("nope.json")), &[])
            .unwrap_err()
            .contains("nope.json: cannot read the vars file: "));
    }
}

#[cfg(test)]
mod quote_tests {
    use super::*;

    fn shell(t: &str, v: &str) -> String {
        match render(
            &Run::Shell(t.into()),
            &BTreeMap::new(),
            &[("x".into(), v.into())],
        ) {
            Ok(Run::Shell(s)) => s,
            other => panic!("{t}: {other:?}"),
        }
    }

    #[test]
    fn placeholders_inside_quotes_close_the_quote_and_reopen_it() {
        assert_eq!(
            shell(r#"echo "--name={x}""#, "a b"),
            r#"echo "--name="'a b'"""#
        );
        assert_eq!(shell("echo 'a {x} b'", "it's"), r"echo 'a ''it'\''s'' b'");
        assert_eq!(shell(r"echo $'\t{x}'", "q"), r"echo $'\t'q$''");
        assert_eq!(shell(r#"echo \"{x}"#, "v"), r#"echo \"v"#);
        assert_eq!(shell("echo 'it''s' {x}", "esac"), "echo 'it''s' 'esac'");
        assert_eq!(shell("X={x}", "a=b"), "X='a=b'");
        assert!(check_template(&Run::Argv(vec!["echo".into(), "\"{x}\"".into()])).is_ok());
    }

    #[test]
    fn a_vars_file_may_start_with_a_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("v.json");
        std::fs::write(&f, "\u{feff}{\"x\": \"1\"}").unwrap();
        assert_eq!(
            read_vars_file(&f).unwrap(),
            vec![("x".to_string(), "1".to_string())]
        );
    }

    #[test]
    fn a_nul_in_a_value_is_refused() {
        let e = render(
            &Run::Shell("echo {x}".into()),
            &BTreeMap::new(),
            &[("x".into(), "a\0b".into())],
        );
        assert!(e.unwrap_err().contains("NUL"));
    }
}
