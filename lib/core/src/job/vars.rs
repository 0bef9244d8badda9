//! `{name}` placeholders in `run`. Values come from `args` (defaults), then `--vars-file`,
//! then `--var k=v`, then `--k=v` after the job file (later wins). In a shell-string `run`
//! every value is substituted shell-quoted, so a value can never inject a command; in an
//! argv `run` it is substituted as is. `{{` and `}}` are literal braces.

use super::Run;
use std::collections::{BTreeMap, BTreeSet};

/// A piece of a template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(String),
    Var(&'a str),
}

fn pieces(t: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = t;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            text.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if tail.starts_with('}') {
            return Err(format!(
                "found a lone '}}' in {t:?}, expected '}}}}' for a literal brace"
            ));
        } else {
            let end = tail.find('}').ok_or_else(|| {
                format!("found an unclosed '{{' in {t:?}, expected '{{name}}' or '{{{{' for a literal brace")
            })?;
            let name = &tail[1..end];
            if !crate::quote::is_identifier(name) {
                return Err(format!("found placeholder '{{{name}}}' in {t:?}, expected '{{name}}' with a name like steps_2 ('{{{{' for a literal brace)"));
            }
            if !text.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut text)));
            }
            out.push(Piece::Var(name));
            rest = &tail[end + 1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

fn templates(run: &Run) -> Vec<&str> {
    match run {
        Run::Shell(s) => vec![s.as_str()],
        Run::Argv(v) => v.iter().map(String::as_str).collect(),
    }
}

/// Check placeholder syntax. On error: the argv index (for an array `run`) and the message.
pub fn check_template(run: &Run) -> Result<(), (Option<usize>, String)> {
    for (i, t) in templates(run).into_iter().enumerate() {
        pieces(t).map_err(|m| (matches!(run, Run::Argv(_)).then_some(i), m))?;
    }
    Ok(())
}

/// The placeholder names used in `run`.
pub fn placeholders(run: &Run) -> BTreeSet<String> {
    templates(run)
        .into_iter()
        .flat_map(|t| pieces(t).unwrap_or_default())
        .filter_map(|p| match p {
            Piece::Var(n) => Some(n.to_string()),
            Piece::Text(_) => None,
        })
        .collect()
}

/// Fill `run`'s placeholders. `defaults` are the job's `args`; `overrides` come in order of
/// precedence (later wins). A name that is neither a placeholder nor an `args` key, or a
/// placeholder left without a value, is an error naming it.
pub fn render(
    run: &Run,
    defaults: &BTreeMap<String, String>,
    overrides: &[(String, String)],
) -> Result<Run, String> {
    let used = placeholders(run);
    let mut values = defaults.clone();
    for (k, v) in overrides {
        if !used.contains(k) && !defaults.contains_key(k) {
            let known: Vec<&str> = used.iter().map(String::as_str).collect();
            let hint = super::validate::suggest(k, &known)
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            return Err(format!(
                "unknown variable \"{k}\"{hint} (run uses: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        values.insert(k.clone(), v.clone());
    }
    let missing: Vec<&String> = used.iter().filter(|n| !values.contains_key(*n)).collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Err(format!(
            "no value for placeholder {}: give it in \"args\", with --var {}=VALUE, or as --{}=VALUE after the job file",
            names.iter().map(|n| format!("{{{n}}}")).collect::<Vec<_>>().join(", "),
            names[0],
            names[0]
        ));
    }
    let fill = |t: &str, quote: bool| -> String {
        pieces(t)
            .unwrap_or_default()
            .into_iter()
            .map(|p| match p {
                Piece::Text(s) => s,
                Piece::Var(n) if quote => crate::quote::sh(&values[n]),
                Piece::Var(n) => values[n].clone(),
            })
            .collect()
    };
    Ok(match run {
        Run::Shell(s) => Run::Shell(fill(s, true)),
        Run::Argv(v) => Run::Argv(v.iter().map(|t| fill(t, false)).collect()),
    })
}

/// Parse `k=v` (from `--var`).
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if crate::quote::is_identifier(k) => Ok((k.to_string(), v.to_string())),
        _ => Err(format!(
            "found {s:?}, expected NAME=VALUE with NAME like steps_2"
        )),
    }
}

/// Read a `--vars-file`: a JSON object whose values are strings.
pub fn read_vars_file(path: &std::path::Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read vars file: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: invalid JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    let obj = v.as_object().ok_or_else(|| {
        format!(
            "{}: found {}, expected a JSON object of strings",
            path.display(),
            super::validate::describe(&v)
        )
    })?;
    obj.iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(format!(
                "{}: {k}: found {}, expected a string",
                path.display(),
                super::validate::describe(v)
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(p: &[(&str, &str)]) -> BTreeMap<String, String> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn later_overrides_win_and_values_are_quoted_in_shell() {
        let run = Run::Shell("train --steps {steps} --tag {tag} {{literal}}".into());
        let got = render(
            &run,
            &args(&[("steps", "100"), ("tag", "a")]),
            &[
                ("steps".into(), "5".into()),
                ("tag".into(), "x; rm -rf ~".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            Run::Shell("train --steps 5 --tag 'x; rm -rf ~' {literal}".into())
        );
    }

    #[test]
    fn argv_values_are_raw() {
        let run = Run::Argv(vec!["echo".into(), "{msg}".into()]);
        let got = render(&run, &args(&[]), &[("msg".into(), "a b".into())]).unwrap();
        assert_eq!(got, Run::Argv(vec!["echo".into(), "a b".into()]));
    }

    #[test]
    fn unknown_and_missing_are_errors() {
        let run = Run::Shell("x {steps}".into());
        let e = render(&run, &args(&[]), &[("stesp".into(), "1".into())]).unwrap_err();
        assert_eq!(
            e,
            "unknown variable \"stesp\"; did you mean \"steps\"? (run uses: steps)"
        );
        let e = render(&run, &args(&[]), &[]).unwrap_err();
        assert!(e.starts_with("no value for placeholder {steps}"), "{e}");
    }

    #[test]
    fn bad_braces() {
        assert!(check_template(&Run::Shell("a { b".into())).is_err());
        assert!(check_template(&Run::Shell("a } b".into())).is_err());
        assert!(check_template(&Run::Shell("{a-b}".into())).is_err());
        assert!(check_template(&Run::Shell("{{ok}} {x}".into())).is_ok());
    }
}
