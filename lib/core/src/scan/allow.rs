//! Allowed findings: `--allow-secret` flags and the job's `sync.allow_secrets`.

use crate::error::CliError;
use anyhow::Result;
use std::path::Path;

/// Allowed findings: `--allow-secret PATH[:LINE]` and `sync.allow_secrets`, gitignore-style
/// patterns relative to the shipped folder, each optionally with one line.
#[derive(Default)]
pub struct Allow {
    entries: Vec<(ignore::gitignore::Gitignore, Option<u64>)>,
}

impl Allow {
    /// Parse the entries; `what(i)` names entry `i` in an error (`--allow-secret`,
    /// `job.json: sync.allow_secrets[2]`).
    pub fn new(list: &[String], what: impl Fn(usize) -> String) -> Result<Allow> {
        let entries = list
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                allow_entry(raw).map_err(|m| CliError::usage(format!("{}: {m}", what(i))))
            })
            .collect::<Result<_>>()?;
        Ok(Allow { entries })
    }

    /// Is the finding at `path:line` allowed?
    pub fn allows(&self, path: &Path, line: u64) -> bool {
        self.entries.iter().any(|(gi, l)| {
            l.is_none_or(|l| l == line) && gi.matched_path_or_any_parents(path, false).is_ignore()
        })
    }
}

/// One allow entry, `PATTERN[:LINE]`, parsed; the error says what was found and expected.
pub fn allow_entry(
    raw: &str,
) -> std::result::Result<(ignore::gitignore::Gitignore, Option<u64>), String> {
    let expected =
        "expected a path or glob relative to the shipped folder, optionally :LINE (lines from 1)";
    let (pat, line) = match raw.rsplit_once(':') {
        Some((p, l)) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            match l.parse::<u64>() {
                Ok(n) if n > 0 => (p, Some(n)),
                _ => return Err(format!("found line {l} in {raw:?}, {expected}")),
            }
        }
        _ => (raw, None),
    };
    if pat.trim().is_empty() {
        return Err(format!("found {raw:?}, {expected}"));
    }
    let mut b = ignore::gitignore::GitignoreBuilder::new("");
    let bad = |e: ignore::Error| format!("found {raw:?}, not a valid glob ({e}); {expected}");
    b.add_line(None, pat).map_err(bad)?;
    Ok((b.build().map_err(bad)?, line))
}

/// The allow list of a run: the job's `sync.allow_secrets`, then `--allow-secret` flags.
pub fn allow_for(job: Option<&crate::job::Job>, flags: &[String]) -> Result<Allow> {
    let mut list: Vec<String> = job
        .map(|j| j.spec.sync.allow_secrets.clone())
        .unwrap_or_default();
    let from_job = list.len();
    list.extend(flags.iter().cloned());
    Allow::new(&list, |i| {
        if i < from_job {
            format!(
                "{}: sync.allow_secrets[{i}]",
                job.map_or("job.json", |j| j.origin.as_str())
            )
        } else {
            "--allow-secret".to_string()
        }
    })
}
