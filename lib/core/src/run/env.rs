//! Secrets passed without writing them down (issue #15): the job's `pass_env`, `--env-file`
//! and `--env` become [`Passed`], read and checked before any side effect; and a literal
//! `env` value in the job that looks like a credential gets a warning that never shows it.

use super::{RunOptions, TOOL};
use crate::error::CliError;
use crate::exec::envfile;
use crate::job::Job;
use crate::out;
use crate::quote::is_identifier;
use crate::steps::Passed;
use anyhow::Result;

/// Check a name given to `--env` (or a key of the `--env-file`); `what` says where it came
/// from. The message shows the name, never a value.
fn check_name(what: &str, name: &str) -> Result<()> {
    // A token given where a name belongs (`--env hf_...`) is not echoed back.
    if looks_like_credential("", name).is_some() {
        return Err(CliError::usage(format!(
            "{what}: found a value shaped like a token where a variable's NAME belongs (not shown); write --env NAME, with NAME set in runplz's environment"
        )));
    }
    if !is_identifier(name) {
        return Err(CliError::usage(format!(
            "{what}: found the name {name:?}, expected a shell identifier ([A-Za-z_][A-Za-z0-9_]*)"
        )));
    }
    if name.starts_with("RUNPLZ_") {
        return Err(CliError::usage(format!(
            "{what}: found {name}, expected a name outside RUNPLZ_*, which runplz sets itself"
        )));
    }
    Ok(())
}

/// The value of `name` in runplz's environment; `unset` says what to do when it is not set.
fn from_env(name: &str, unset: impl FnOnce() -> String) -> Result<String> {
    match std::env::var_os(name) {
        None => Err(CliError::usage(unset())),
        Some(v) => v.into_string().map_err(|_| {
            CliError::usage(format!(
                "{name}: its value in runplz's environment is not UTF-8, which a job's environment must be"
            ))
        }),
    }
}

/// What the job gets from runplz: the job's `pass_env` (from runplz's environment), then the
/// `--env-file`, then each `--env` in order (a later one wins). For `--plan` no value is
/// read: the script reads the same variables (and the file) when it runs, so the names must
/// come from the environment (`--env NAME`), never `--env NAME=VALUE`. Every error is a
/// usage error (exit 2) that names the variable and never shows a value.
pub(super) fn passed(o: &RunOptions, job: &Job) -> Result<Passed> {
    let mut p = Passed {
        from_env: job.spec.pass_env.clone(),
        ..Passed::default()
    };
    let mut values: Vec<(String, String)> = Vec::new();
    let mut names: Vec<String> = job.spec.pass_env.clone();
    if !o.plan {
        for k in &job.spec.pass_env {
            let v = from_env(k, || {
                format!(
                    "{}: pass_env: {k} is not set in runplz's environment; set it (export {k}=...), or take it out of pass_env",
                    job.origin
                )
            })?;
            values.push((k.clone(), v));
        }
    }
    if let Some(f) = &o.env_file {
        let pairs = envfile::read(f)?;
        for (k, _) in &pairs {
            check_name(&format!("--env-file {}", f.display()), k)?;
        }
        names.extend(pairs.iter().map(|(k, _)| k.clone()));
        if !o.plan {
            values.extend(pairs);
        }
        p.file = Some(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone()));
    }
    for w in &o.env {
        match w.split_once('=') {
            Some((k, v)) => {
                check_name("--env", k)?;
                if o.plan {
                    return Err(CliError::usage(format!(
                        "--env {k}=...: a plan never holds a value; export {k} and pass `--env {k}`, which the script reads from its environment when it runs"
                    )));
                }
                names.push(k.to_string());
                values.push((k.to_string(), v.to_string()));
            }
            None => {
                check_name("--env", w)?;
                if !o.plan {
                    let v = from_env(w, || {
                        format!("--env {w}: {w} is not set in runplz's environment; set it, or give a value as --env {w}=VALUE")
                    })?;
                    values.push((w.clone(), v));
                }
                names.push(w.clone());
                p.flags.push(w.clone());
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    p.names = names;
    p.values = values;
    Ok(p)
}

/// Prefixes of common token shapes (Hugging Face, GitHub, OpenAI-style, AWS access keys,
/// Slack bot and user tokens).
const TOKEN_PREFIXES: &[&str] = &[
    "hf_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "github_pat_",
    "sk-",
    "AKIA",
    "xoxb-",
    "xoxp-",
];

/// Parts of a variable's name that say its value is a credential.
const SECRET_NAME_PARTS: &[&str] = &["TOKEN", "SECRET", "KEY", "PASSWORD"];

/// Why a literal `env` value looks like a credential, or `None`.
pub(crate) fn looks_like_credential(name: &str, value: &str) -> Option<&'static str> {
    let v = value.trim();
    let token = TOKEN_PREFIXES.iter().any(|p| {
        v.strip_prefix(p).is_some_and(|rest| {
            rest.len() >= 8
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    });
    if token {
        return Some("its value has the shape of a token");
    }
    let upper = name.to_ascii_uppercase();
    if !v.is_empty() && SECRET_NAME_PARTS.iter().any(|p| upper.contains(p)) {
        return Some("its name says it holds a secret");
    }
    None
}

/// Warn (on stderr, never showing a value) about each literal `env` value of the job that
/// looks like a credential: job.json ships with the repo and usually sits in git.
pub(super) fn warn_credentials(job: &Job) {
    let steps = job.spec.image.steps.iter().enumerate().flat_map(|(i, s)| {
        s.env
            .iter()
            .flatten()
            .map(move |(k, v)| (format!("image.steps[{i}].env"), k, v))
    });
    let top = job.spec.env.iter().map(|(k, v)| ("env".to_string(), k, v));
    for (path, k, v) in top.chain(steps) {
        if let Some(why) = looks_like_credential(k, v) {
            out::warn(
                TOOL,
                format!(
                    "{}: {path}.{k} looks like a credential ({why}), written into the job file, which ships with the repo and sits in git: take it out, list \"{k}\" in \"pass_env\" and set it in your environment (or pass `--env {k}`)",
                    job.origin
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_credential as creds;

    #[test]
    fn credential_shapes_and_names() {
        assert!(creds("X", "hf_abcdefghijklmnop").is_some());
        assert!(creds("X", "ghp_0123456789abcdef").is_some());
        assert!(creds("X", "sk-proj-abcdefgh1234").is_some());
        assert!(creds("X", "AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(creds("X", "xoxb-1234-5678-abcd").is_some());
        assert!(creds("WANDB_API_KEY", "x").is_some());
        assert!(creds("db_password", "hunter2").is_some());
        assert!(creds("GITHUB_TOKEN", "abc").is_some());
        // Not credentials: empty secrets, short or ordinary values under ordinary names.
        assert!(creds("WANDB_API_KEY", "").is_none());
        assert!(creds("MODE", "offline").is_none());
        assert!(creds("PATHS", "sk-1").is_none());
        assert!(creds("LANG", "hf_ x y").is_none());
    }
}
