//! Every rule on a job that serde's types cannot express, checked before anything runs: the
//! same rules the Python runplz enforces when its configs are built, plus a few it should
//! have (a watchdog action with no watchdog, an `args` default no placeholder uses). Each
//! rule returns the JSON path it is about, so the caller can point at the line and column.
//! The `image` section's rules live in `image_rules.rs`, those of the `ssh`, `brev` and
//! `runpod` sections in `backend_rules.rs`.

use super::humanize::{did_you_mean, quoted_list};
use super::spans::{join_index, join_key};
use super::spec::{JobFile, OnFinish};
use super::{Job, Run};
use crate::quote::is_identifier;
use std::path::{Component, Path, PathBuf};

/// A validation failure: the JSON path, the message, and whether it is about the key
/// itself (then the location points at the key, not its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON path, e.g. `brev.on_finish`.
    pub path: String,
    /// "found X, expected Y".
    pub message: String,
    /// Point at the key rather than its value.
    pub at_key: bool,
}

pub(super) fn p(path: impl Into<String>, msg: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: msg.into(),
        at_key: false,
    }
}

pub(super) fn bad_key(path: impl Into<String>, msg: impl Into<String>) -> Problem {
    Problem {
        at_key: true,
        ..p(path, msg)
    }
}

pub(super) fn q(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

pub(super) fn positive_seconds(path: &str, v: Option<i64>) -> Result<(), Problem> {
    use super::spec::MAX_SECONDS;
    match v {
        Some(n) if n <= 0 => Err(p(
            path,
            format!("found {n}, expected a positive number of seconds"),
        )),
        Some(n) if n > MAX_SECONDS => Err(p(
            path,
            format!("found {n}, expected at most {MAX_SECONDS} seconds (30 days)"),
        )),
        _ => Ok(()),
    }
}

/// A number of seconds that may be 0 (a grace: KILL right after the stopping signal).
fn seconds(path: &str, v: Option<i64>) -> Result<(), Problem> {
    use super::spec::MAX_SECONDS;
    match v {
        Some(n) if n < 0 => Err(p(
            path,
            format!("found {n}, expected a number of seconds, 0 or more"),
        )),
        Some(n) if n > MAX_SECONDS => Err(p(
            path,
            format!("found {n}, expected at most {MAX_SECONDS} seconds (30 days)"),
        )),
        _ => Ok(()),
    }
}

fn positive(path: &str, v: Option<f64>, unit: &str) -> Result<(), Problem> {
    match v {
        Some(n) if n.is_nan() || n <= 0.0 => Err(p(
            path,
            format!("found {n}, expected a positive number{unit}"),
        )),
        _ => Ok(()),
    }
}

pub(super) fn non_empty(path: &str, v: Option<&str>, what: &str) -> Result<(), Problem> {
    match v {
        Some(s) if s.trim().is_empty() => {
            Err(p(path, format!("found {}, expected {what}", blank(s))))
        }
        _ => Ok(()),
    }
}

pub(super) fn blank(s: &str) -> &'static str {
    if s.is_empty() {
        "an empty string"
    } else {
        "a blank string"
    }
}

/// Environment keys become `export KEY=...` lines: a key that is not a shell identifier
/// would parse, then abort the remote script mid-run (Python runplz issue #88).
pub(super) fn env_keys<'a>(
    path: &str,
    keys: impl Iterator<Item = &'a String>,
) -> Result<(), Problem> {
    for k in keys {
        if !is_identifier(k) {
            return Err(bad_key(
                join_key(path, k),
                format!("found key {}, expected a shell identifier ([A-Za-z_][A-Za-z0-9_]*): it is exported as a shell variable", q(k)),
            ));
        }
        if k.starts_with("RUNPLZ_") {
            return Err(bad_key(
                join_key(path, k),
                format!(
                    "found key {}, expected a name outside RUNPLZ_*, which runplz sets itself",
                    q(k)
                ),
            ));
        }
    }
    Ok(())
}

/// `pass_env`: names only (shell identifiers outside RUNPLZ_*), each once.
fn pass_env(names: &[String]) -> Result<(), Problem> {
    for (i, k) in names.iter().enumerate() {
        let path = join_index("pass_env", i);
        if !is_identifier(k) {
            return Err(p(
                path,
                format!("found {}, expected the name of an environment variable, a shell identifier ([A-Za-z_][A-Za-z0-9_]*); its value comes from runplz's environment", q(k)),
            ));
        }
        if k.starts_with("RUNPLZ_") {
            return Err(p(
                path,
                format!(
                    "found {}, expected a name outside RUNPLZ_*, which runplz sets itself",
                    q(k)
                ),
            ));
        }
        if names[..i].contains(k) {
            return Err(p(
                path,
                format!("found {} a second time, expected each name once", q(k)),
            ));
        }
    }
    Ok(())
}

pub(super) fn strings(path: &str, items: &[String], what: &str) -> Result<(), Problem> {
    if items.is_empty() {
        return Err(p(
            path,
            format!("found an empty array, expected at least one {what}"),
        ));
    }
    for (i, s) in items.iter().enumerate() {
        if s.trim().is_empty() {
            return Err(p(
                join_index(path, i),
                format!("found {}, expected a {what}", blank(s)),
            ));
        }
    }
    Ok(())
}

/// A relative path that stays inside the job's folder (it is what gets shipped).
pub(super) fn inside_root(path: &str, rel: &str) -> Result<(), Problem> {
    let rp = Path::new(rel);
    let mut depth = 0i32;
    let mut escapes = rp.is_absolute();
    for c in rp.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        escapes |= depth < 0;
    }
    if escapes {
        return Err(p(
            path,
            format!(
                "found {}, expected a relative path inside the job's folder (image paths resolve there, and it always ships)",
                q(rel)
            ),
        ));
    }
    Ok(())
}

/// `~/x` → `$HOME/x`; a relative path resolves against the job's folder.
pub fn resolve_user_path(root: &Path, path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => root.join(path),
    }
}

/// A NUL byte cannot be in a command line or an environment (C strings end at it): refuse
/// it here, at its place, not as a failed exec after the box is set up.
fn no_nul(path: &str, s: &str, what: &str) -> Result<(), Problem> {
    match s.find('\0') {
        Some(at) => Err(p(
            path,
            format!("found a NUL byte (\\u0000) at character {} of the {what}, expected none: a command line or environment cannot hold one", s[..at].chars().count() + 1),
        )),
        None => Ok(()),
    }
}

/// `env` values hold no NUL, and the whole of `env` fits what an exec'd environment may
/// hold ([`MAX_ENV_BYTES`](super::spec::MAX_ENV_BYTES)): a larger one once failed late,
/// with exit 126, after the box was set up.
fn env_size(spec: &JobFile) -> Result<(), Problem> {
    use super::spec::MAX_ENV_BYTES;
    let mut total = 0usize;
    for (k, v) in &spec.env {
        no_nul(&join_key("env", k), v, "value")?;
        total += k.len() + v.len() + 2;
        if total > MAX_ENV_BYTES {
            return Err(p(
                join_key("env", k),
                format!("found \"env\" reaching {total} bytes here (names and values), expected at most {MAX_ENV_BYTES} (128 KiB) in all: ship bigger data as a file in the job's folder"),
            ));
        }
    }
    Ok(())
}

fn run_and_args(spec: &JobFile) -> Result<(), Problem> {
    match &spec.run {
        Run::Shell(s) => no_nul("run", s, "command")?,
        Run::Argv(v) => {
            for (i, s) in v.iter().enumerate() {
                no_nul(&join_index("run", i), s, "argument")?;
            }
        }
    }
    for (k, v) in &spec.args {
        no_nul(&join_key("args", k), v, "value")?;
    }
    match &spec.run {
        Run::Shell(s) if s.trim().is_empty() => {
            return Err(p("run", format!("found {}, expected a command", blank(s))))
        }
        Run::Argv(v) if v.is_empty() => {
            return Err(p(
                "run",
                "found an empty array, expected at least the program",
            ))
        }
        Run::Argv(v) if v[0].trim().is_empty() => {
            return Err(p(
                "run[0]",
                format!("found {}, expected the program to run", blank(&v[0])),
            ))
        }
        _ => {}
    }
    super::vars::check_template(&spec.run).map_err(|(i, m)| match i {
        Some(i) => p(join_index("run", i), m),
        None => p("run", m),
    })?;
    let used = super::vars::placeholders(&spec.run);
    let used: Vec<&str> = used.iter().map(String::as_str).collect();
    for k in spec.args.keys() {
        if !used.contains(&k.as_str()) {
            let uses = if used.is_empty() {
                "\"run\" has no placeholders".to_string()
            } else {
                format!("\"run\" uses {}", quoted_list(&used))
            };
            return Err(bad_key(
                join_key("args", k),
                format!(
                    "found {}, expected the name of a placeholder in \"run\" ({uses}){}",
                    q(k),
                    did_you_mean(k, &used)
                ),
            ));
        }
    }
    Ok(())
}

/// Check every rule and build the validated job, or return the first problem.
pub fn validate(spec: JobFile, origin: &str, root: &Path, text: &str) -> Result<Job, Problem> {
    let name_ok = (1..=63).contains(&spec.name.len())
        && spec.name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !name_ok {
        return Err(p(
            "name",
            format!(
                "found {}, expected 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
                q(&spec.name)
            ),
        ));
    }
    let (base, steps) = super::image_rules::image(&spec, root)?;
    run_and_args(&spec)?;
    env_keys("env", spec.env.keys())?;
    pass_env(&spec.pass_env)?;
    env_size(&spec)?;

    let r = &spec.resources;
    non_empty(
        "resources.gpu",
        r.gpu.as_deref(),
        "a GPU model such as \"A100\"",
    )?;
    if let Some(n) = r.num_gpus {
        if n <= 0 {
            return Err(p(
                "resources.num_gpus",
                format!("found {n}, expected a positive number of GPUs"),
            ));
        }
        // Without a model or a memory floor, "4 GPUs" would pick 4 of anything.
        if n > 1 && r.gpu.is_none() && r.min_gpu_memory.is_none() {
            return Err(p(
                "resources.num_gpus",
                format!("found {n} GPUs with no \"gpu\" model or \"min_gpu_memory\", expected one of them so the right GPUs can be picked"),
            ));
        }
    }
    positive("resources.min_cpu", r.min_cpu, " of vCPUs")?;
    positive("resources.min_memory", r.min_memory, " of GB")?;
    positive("resources.min_gpu_memory", r.min_gpu_memory, " of GB")?;
    positive("resources.min_disk", r.min_disk, " of GB")?;

    positive_seconds("timeout", spec.timeout)?;
    seconds("stop_grace_seconds", spec.stop_grace_seconds)?;
    non_empty("outputs_dir", spec.outputs_dir.as_deref(), "a folder")?;
    super::outputs::check_spec(root, spec.outputs_dir.as_deref())
        .map_err(|m| p("outputs_dir", m))?;
    for (i, e) in spec.sync.exclude.iter().enumerate() {
        non_empty(
            &join_index("sync.exclude", i),
            Some(e),
            "a gitignore-style pattern",
        )?;
    }
    for (i, a) in spec.sync.allow_secrets.iter().enumerate() {
        crate::scan::allow_entry(a).map_err(|m| p(join_index("sync.allow_secrets", i), m))?;
    }
    non_empty(
        "local.network",
        spec.local.network.as_deref(),
        "a docker network name",
    )?;
    non_empty(
        "ssh.network",
        spec.ssh.network.as_deref(),
        "a docker network name",
    )?;
    super::backend_rules::ssh(&spec.ssh, root)?;
    super::backend_rules::brev(&spec.brev)?;
    super::backend_rules::runpod(&spec.runpod)?;
    let (ship_root, job_rel) = ship_root(&spec, root)?;
    let workdir = workdir(&spec, &ship_root, &job_rel)?;

    let pc = &spec.preconditions;
    positive("preconditions.shm_gb", pc.shm_gb, " of GB")?;
    positive("preconditions.disk_free_gb", pc.disk_free_gb, " of GB")?;
    positive("preconditions.gpu_count", pc.gpu_count, " of GPUs")?;
    positive("preconditions.gpu_memory_gb", pc.gpu_memory_gb, " of GB")?;

    Ok(Job {
        origin: origin.to_string(),
        root: root.to_path_buf(),
        ship_root,
        workdir,
        job_rel,
        text: text.to_string(),
        spec,
        base,
        steps,
    })
}

/// The shipped folder and the job file's folder relative to it: `sync.root` (relative to the
/// job file's folder, which it must contain), else the top of the git work tree holding the
/// job file, else the job file's folder. A work tree whose top is the home folder or `/` (a
/// dotfiles repo) is not taken: that would ship the whole home.
fn ship_root(spec: &JobFile, root: &Path) -> Result<(PathBuf, PathBuf), Problem> {
    let dir = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let top = match spec.sync.root.as_deref() {
        Some(r) => {
            non_empty("sync.root", Some(r), "a folder")?;
            let c = std::fs::canonicalize(resolve_user_path(&dir, r)).map_err(|e| {
                p(
                    "sync.root",
                    format!(
                        "found {}, expected a folder that holds the job file ({e})",
                        q(r)
                    ),
                )
            })?;
            if !c.is_dir() {
                return Err(p(
                    "sync.root",
                    format!(
                        "found {}, a file, expected a folder that holds the job file",
                        q(r)
                    ),
                ));
            }
            if !dir.starts_with(&c) {
                return Err(p(
                    "sync.root",
                    format!(
                        "found {} ({}), expected a folder that holds the job file's folder {}",
                        q(r),
                        c.display(),
                        dir.display()
                    ),
                ));
            }
            c
        }
        None => git_top(&dir).unwrap_or_else(|| dir.clone()),
    };
    let rel = dir
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    Ok((top, rel))
}

/// The top of the git work tree holding `dir` (the nearest folder with a `.git` folder or
/// file), unless that is the home folder or `/`.
fn git_top(dir: &Path) -> Option<PathBuf> {
    let top = dir.ancestors().find(|d| d.join(".git").exists())?;
    let home = std::env::var_os("HOME")
        .map(|h| std::fs::canonicalize(&h).unwrap_or_else(|_| PathBuf::from(&h)));
    if top != dir && (top.parent().is_none() || home.as_deref() == Some(top)) {
        return None;
    }
    Some(top.to_path_buf())
}

/// `workdir` (relative to the shipped folder, staying inside it, an existing folder), else
/// the job file's folder; lexically normalized.
fn workdir(spec: &JobFile, ship_root: &Path, job_rel: &Path) -> Result<PathBuf, Problem> {
    let Some(w) = spec.workdir.as_deref() else {
        return Ok(job_rel.to_path_buf());
    };
    non_empty("workdir", Some(w), "a folder")?;
    let bad = |why: &str| {
        p(
            "workdir",
            format!(
                "found {}, expected a relative folder inside the shipped folder {} ({why})",
                q(w),
                ship_root.display()
            ),
        )
    };
    let mut out = PathBuf::new();
    for c in Path::new(w).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err(bad("it leads out"));
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(bad("it is absolute")),
        }
    }
    if ship_root.exists() && !ship_root.join(&out).is_dir() {
        return Err(bad("no such folder"));
    }
    Ok(out)
}

/// The JSON spelling of an `on_finish` value.
pub fn on_finish_str(o: OnFinish) -> &'static str {
    match o {
        OnFinish::Stop => "stop",
        OnFinish::Delete => "delete",
        OnFinish::Leave => "leave",
    }
}
