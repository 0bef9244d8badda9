//! rp-exec's `--env-file`: the job's environment read from a JSON object of strings, so
//! secret values never appear on rp-exec's own command line (which `ps` shows to every
//! user). Checked whole before anything runs; errors name the file, the key, what was found
//! and what was expected, and never show a value.

use crate::error::CliError;
use crate::quote;
use anyhow::Result;
use std::path::Path;

/// Read `path`: a JSON object whose keys are shell identifiers and whose values are strings,
/// e.g. `{"WANDB_API_KEY": "...", "MODE": "offline"}`. Returns the pairs in file order.
/// Every error is a usage error (exit 2).
pub fn read(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(format!(
            "--env-file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    parse(&text, &path.display().to_string())
}

/// Parse the text of an env file named `name` (see [`read`]).
pub fn parse(text: &str, name: &str) -> Result<Vec<(String, String)>> {
    let bad = |msg: String| CliError::usage(format!("--env-file {name}: {msg}"));
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "not JSON ({e}): expected an object of strings, e.g. {{\"TOKEN\": \"...\"}}"
        ))
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad(format!(
            "found {}, expected a JSON object of strings, e.g. {{\"TOKEN\": \"...\"}}",
            kind(&value)
        )));
    };
    let mut env = Vec::with_capacity(map.len());
    for (k, v) in map {
        if !quote::is_identifier(&k) {
            return Err(bad(format!(
                "found the key {k:?}, expected a shell identifier ([A-Za-z_][A-Za-z0-9_]*)"
            )));
        }
        if k == super::RUN_ID_VAR {
            return Err(bad(format!(
                "key {k}: rp-exec sets {k} itself; use --run-id"
            )));
        }
        let serde_json::Value::String(s) = v else {
            return Err(bad(format!(
                "key {k}: found {}, expected a string (write numbers and booleans in quotes)",
                kind(&v)
            )));
        };
        if s.contains('\0') {
            return Err(bad(format!(
                "key {k}: the value contains a NUL byte, which an environment cannot hold"
            )));
        }
        env.push((k, s));
    }
    Ok(env)
}

/// The file's variables, then the `--env` ones; a `--env K=V` replaces the file's `K`.
pub fn merge(file: Vec<(String, String)>, flags: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = file
        .into_iter()
        .filter(|(k, _)| !flags.iter().any(|(f, _)| f == k))
        .collect();
    env.extend(flags);
    env
}

/// What a JSON value is, for messages (never the value itself: it may be a secret).
fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_of;
    use runplz_protocol::Exit;

    fn err(text: &str) -> String {
        let e = parse(text, "e.json").unwrap_err();
        assert_eq!(exit_of(&e, Exit::Failed), Exit::Usage);
        format!("{e:#}")
    }

    #[test]
    fn parses_in_order_and_names_problems() {
        assert_eq!(
            parse(r#"{"B": "x'\n$(y)", "A": "ü"}"#, "e.json").unwrap(),
            [("B".into(), "x'\n$(y)".into()), ("A".into(), "ü".into())]
        );
        assert!(err("{").starts_with("--env-file e.json: not JSON ("));
        assert!(err("[]").contains("found an array, expected a JSON object of strings"));
        assert!(err(r#"{"MY-VAR": "1"}"#)
            .contains(r#"found the key "MY-VAR", expected a shell identifier"#));
        let e = err(r#"{"N": 42}"#);
        assert!(
            e.contains("key N: found a number, expected a string"),
            "{e}"
        );
        assert!(!e.contains("42"), "{e}");
        assert!(err(r#"{"RUNPLZ_RUN_ID": "x"}"#).contains("use --run-id"));
        assert!(err(r#"{"Z": "a\u0000b"}"#).contains("key Z: the value contains a NUL byte"));
    }

    #[test]
    fn flags_win() {
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            merge(
                vec![kv("A", "file"), kv("B", "file")],
                vec![kv("A", "flag")]
            ),
            [kv("B", "file"), kv("A", "flag")]
        );
    }
}
