//! Every rule on a job that serde's types cannot express, checked before anything runs: the
//! same rules the Python runplz enforces when its configs are built, plus a few it should
//! have (a watchdog action with no watchdog, an `args` default no placeholder uses). Each
//! rule returns the JSON path it is about, so the caller can point at the line and column.
//! Rules that depend on the backend live in `backend.rs`.

use super::humanize::{did_you_mean, quoted_list};
use super::spans::{join_index, join_key};
use super::spec::{Brev, BrevMode, JobFile, OnFinish, Ssh, Step};
use super::{Base, ImageStep, Job, Run};
use crate::quote::is_identifier;
use std::path::{Component, Path};

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

fn p(path: impl Into<String>, msg: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        message: msg.into(),
        at_key: false,
    }
}

fn bad_key(path: impl Into<String>, msg: impl Into<String>) -> Problem {
    Problem {
        at_key: true,
        ..p(path, msg)
    }
}

fn q(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn positive_seconds(path: &str, v: Option<i64>) -> Result<(), Problem> {
    match v {
        Some(n) if n <= 0 => Err(p(
            path,
            format!("found {n}, expected a positive number of seconds"),
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

fn non_empty(path: &str, v: Option<&str>, what: &str) -> Result<(), Problem> {
    match v {
        Some(s) if s.trim().is_empty() => {
            Err(p(path, format!("found {}, expected {what}", blank(s))))
        }
        _ => Ok(()),
    }
}

fn blank(s: &str) -> &'static str {
    if s.is_empty() {
        "an empty string"
    } else {
        "a blank string"
    }
}

/// Environment keys become `export KEY=...` lines: a key that is not a shell identifier
/// would parse, then abort the remote script mid-run (Python runplz issue #88).
fn env_keys<'a>(path: &str, keys: impl Iterator<Item = &'a String>) -> Result<(), Problem> {
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

fn strings(path: &str, items: &[String], what: &str) -> Result<(), Problem> {
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
fn inside_root(path: &str, rel: &str) -> Result<(), Problem> {
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
                "found {}, expected a relative path inside the job's folder (only that folder is shipped)",
                q(rel)
            ),
        ));
    }
    Ok(())
}

const STEP_KINDS: [&str; 5] = [
    "apt_install",
    "pip_install",
    "pip_install_local_dir",
    "run_commands",
    "env",
];

fn step(path: &str, s: &Step, root: &Path) -> Result<ImageStep, Problem> {
    let set = [
        s.apt_install.is_some(),
        s.pip_install.is_some(),
        s.pip_install_local_dir.is_some(),
        s.run_commands.is_some(),
        s.env.is_some(),
    ];
    let kinds: Vec<&str> = set
        .iter()
        .zip(STEP_KINDS)
        .filter(|(set, _)| **set)
        .map(|(_, k)| k)
        .collect();
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => {
            return Err(p(
                path,
                format!(
                    "found a step with no kind, expected exactly one of {}",
                    quoted_list(&STEP_KINDS)
                ),
            ))
        }
        many => {
            return Err(p(
                path,
                format!(
                    "found a step with {} kinds ({}), expected exactly one: split it into one step each",
                    many.len(),
                    quoted_list(many)
                ),
            ))
        }
    };
    let stray = |key: &str, set: bool, belongs: &str| -> Result<(), Problem> {
        if set && kind != belongs {
            Err(bad_key(
                join_key(path, key),
                format!(
                    "found {} on {} {} step, expected it only on a {} step",
                    q(key),
                    if kind.starts_with(['a', 'e']) {
                        "an"
                    } else {
                        "a"
                    },
                    q(kind),
                    q(belongs)
                ),
            ))
        } else {
            Ok(())
        }
    };
    stray("index_url", s.index_url.is_some(), "pip_install")?;
    stray(
        "extra_index_url",
        s.extra_index_url.is_some(),
        "pip_install",
    )?;
    stray("editable", s.editable.is_some(), "pip_install_local_dir")?;
    let key = join_key(path, kind);
    Ok(match kind {
        "apt_install" => {
            let pk = s.apt_install.clone().unwrap_or_default();
            strings(&key, &pk, "package name")?;
            for (i, name) in pk.iter().enumerate() {
                if name.starts_with('-') || name.chars().any(char::is_whitespace) {
                    return Err(p(
                        join_index(&key, i),
                        format!(
                            "found {}, expected one package name (no spaces, not an option)",
                            q(name)
                        ),
                    ));
                }
            }
            ImageStep::Apt(pk)
        }
        "pip_install" => {
            let pk = s.pip_install.clone().unwrap_or_default();
            strings(&key, &pk, "requirement")?;
            for (i, req) in pk.iter().enumerate() {
                // Modal's pip_install takes requirements only, so options cannot be kept
                // portable; the index URLs have their own keys.
                if req.trim_start().starts_with('-') {
                    return Err(p(
                        join_index(&key, i),
                        format!(
                            "found {}, expected a requirement such as \"pandas>=2.0\", not a pip option (use \"index_url\", \"extra_index_url\", \"pip_install_local_dir\" or \"run_commands\")",
                            q(req)
                        ),
                    ));
                }
            }
            for (k, v) in [
                ("index_url", &s.index_url),
                ("extra_index_url", &s.extra_index_url),
            ] {
                let kp = join_key(path, k);
                non_empty(&kp, v.as_deref(), "a URL")?;
                if let Some(u) = v {
                    if u.chars().any(char::is_whitespace) {
                        return Err(p(
                            kp,
                            format!(
                                "found {}, expected a URL (no spaces) such as \"https://download.pytorch.org/whl/cu121\"",
                                q(u)
                            ),
                        ));
                    }
                }
            }
            ImageStep::Pip {
                packages: pk,
                index_url: s.index_url.clone(),
                extra_index_url: s.extra_index_url.clone(),
            }
        }
        "pip_install_local_dir" => {
            let dir = s.pip_install_local_dir.clone().unwrap_or_default();
            non_empty(&key, Some(&dir), "a folder of the repo such as \".\"")?;
            inside_root(&key, &dir)?;
            if !root.join(&dir).is_dir() {
                return Err(p(
                    key,
                    format!(
                        "found {}, expected an existing folder (relative to the job's folder)",
                        q(&dir)
                    ),
                ));
            }
            ImageStep::PipLocalDir {
                path: dir,
                editable: s.editable.unwrap_or(false),
            }
        }
        "run_commands" => {
            let cmds = s.run_commands.clone().unwrap_or_default();
            strings(&key, &cmds, "command")?;
            ImageStep::Run(cmds)
        }
        _ => {
            let env = s.env.clone().unwrap_or_default();
            if env.is_empty() {
                return Err(p(
                    key,
                    "found an empty object, expected at least one variable",
                ));
            }
            env_keys(&key, env.keys())?;
            ImageStep::Env(env)
        }
    })
}

/// `~/x` → `$HOME/x`; a relative path resolves against the job's folder.
pub fn resolve_user_path(root: &Path, path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => root.join(path),
    }
}

fn image(spec: &JobFile, root: &Path) -> Result<(Base, Vec<ImageStep>), Problem> {
    let im = &spec.image;
    let base = match (&im.from_registry, &im.from_dockerfile) {
        (Some(_), Some(_)) => {
            return Err(p(
                "image",
                "found both \"from_registry\" and \"from_dockerfile\", expected exactly one",
            ))
        }
        (None, None) => {
            return Err(p(
                "image",
                "found neither \"from_registry\" nor \"from_dockerfile\", expected exactly one",
            ))
        }
        (Some(r), None) => {
            if r.trim().is_empty() || r.chars().any(char::is_whitespace) {
                return Err(p(
                    "image.from_registry",
                    format!(
                        "found {}, expected an image reference such as \"python:3.11-slim\"",
                        q(r)
                    ),
                ));
            }
            Base::Registry(r.clone())
        }
        (None, Some(d)) => {
            non_empty("image.from_dockerfile", Some(d), "a Dockerfile path")?;
            if !im.steps.is_empty() {
                return Err(p(
                    "image.steps",
                    "found steps beside \"from_dockerfile\", expected none: put them in your Dockerfile",
                ));
            }
            inside_root("image.from_dockerfile", d)?;
            let full = root.join(d);
            if !full.is_file() {
                return Err(p(
                    "image.from_dockerfile",
                    format!(
                        "found {}, expected an existing file (relative to the job's folder)",
                        q(d)
                    ),
                ));
            }
            Base::Dockerfile(full)
        }
    };
    let steps = im
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| step(&join_index("image.steps", i), s, root))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((base, steps))
}

fn run_and_args(spec: &JobFile) -> Result<(), Problem> {
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

/// Rules shared by the `ssh` and `brev` sections (the Python `_validate_remote_common`).
fn remote_common(
    section: &str,
    max_runtime: Option<i64>,
    max_inactivity: Option<i64>,
    action_set: bool,
    ready_wait: Option<i64>,
) -> Result<(), Problem> {
    positive_seconds(&format!("{section}.max_runtime_seconds"), max_runtime)?;
    positive_seconds(&format!("{section}.max_inactivity_seconds"), max_inactivity)?;
    if action_set && max_inactivity.is_none() {
        return Err(p(
            format!("{section}.inactivity_action"),
            "found an inactivity action with no \"max_inactivity_seconds\", expected both (the watchdog is off without it)",
        ));
    }
    positive_seconds(&format!("{section}.ssh_ready_wait_seconds"), ready_wait)
}

fn ssh(s: &Ssh, root: &Path) -> Result<(), Problem> {
    if let Some(u) = &s.user {
        non_empty("ssh.user", Some(u), "a login name")?;
        if u.chars().any(|c| c.is_whitespace() || c == '@' || c == ':') {
            return Err(p(
                "ssh.user",
                format!(
                    "found {}, expected a login name (no spaces, '@' or ':')",
                    q(u)
                ),
            ));
        }
    }
    if let Some(port) = s.port {
        if !(1..=65535).contains(&port) {
            return Err(p(
                "ssh.port",
                format!("found {port}, expected a TCP port 1-65535"),
            ));
        }
    }
    if let Some(k) = &s.ssh_key_path {
        non_empty("ssh.ssh_key_path", Some(k), "a private key path")?;
        if !resolve_user_path(root, k).is_file() {
            return Err(p(
                "ssh.ssh_key_path",
                format!("found {}, expected an existing private key file (ssh gets it with IdentitiesOnly=yes, so a wrong path cannot fall back to your agent)", q(k)),
            ));
        }
    }
    if let Some(of) = s.on_finish {
        if of != OnFinish::Leave {
            return Err(p(
                "ssh.on_finish",
                format!(
                    "found {}, expected \"leave\": runplz never stops or deletes a box you own",
                    q(on_finish_str(of))
                ),
            ));
        }
    }
    remote_common(
        "ssh",
        s.max_runtime_seconds,
        s.max_inactivity_seconds,
        s.inactivity_action.is_some(),
        s.ssh_ready_wait_seconds,
    )
}

fn brev(b: &Brev) -> Result<(), Problem> {
    if b.mode.unwrap_or(BrevMode::Container) == BrevMode::Container && b.use_docker == Some(false) {
        return Err(p(
            "brev.use_docker",
            "found false in container mode, expected it unset: in container mode the box is the image and there is no docker to skip (use \"mode\": \"vm\" to run natively)",
        ));
    }
    if let Some(t) = &b.instance_type {
        if t.trim().is_empty() {
            return Err(p(
                "brev.instance_type",
                format!(
                    "found {}, expected an instance type such as \"g5.xlarge\" (or leave it out to pick one)",
                    blank(t)
                ),
            ));
        }
    }
    remote_common(
        "brev",
        b.max_runtime_seconds,
        b.max_inactivity_seconds,
        b.inactivity_action.is_some(),
        b.ssh_ready_wait_seconds,
    )?;
    if let Some(n) = b.instance_type_fallback_count {
        if n < 1 {
            return Err(p(
                "brev.instance_type_fallback_count",
                format!("found {n}, expected 1 or more (1 means no fallback)"),
            ));
        }
        if b.instance_type.is_some() {
            return Err(p(
                "brev.instance_type_fallback_count",
                "found a fallback count beside a pinned \"instance_type\", expected one of them: only picked types fall back",
            ));
        }
    }
    for (i, e) in b.exclude_providers.iter().flatten().enumerate() {
        non_empty(
            &join_index("brev.exclude_providers", i),
            Some(e),
            "a provider prefix such as \"oci\"",
        )?;
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
    let (base, steps) = image(&spec, root)?;
    run_and_args(&spec)?;
    env_keys("env", spec.env.keys())?;

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
    non_empty("outputs_dir", spec.outputs_dir.as_deref(), "a folder")?;
    for (i, e) in spec.sync.exclude.iter().enumerate() {
        non_empty(
            &join_index("sync.exclude", i),
            Some(e),
            "a gitignore-style pattern",
        )?;
    }
    non_empty(
        "local.network",
        spec.local.network.as_deref(),
        "a docker network name",
    )?;
    ssh(&spec.ssh, root)?;
    brev(&spec.brev)?;

    let pc = &spec.preconditions;
    positive("preconditions.shm_gb", pc.shm_gb, " of GB")?;
    positive("preconditions.disk_free_gb", pc.disk_free_gb, " of GB")?;
    positive("preconditions.gpu_count", pc.gpu_count, " of GPUs")?;
    positive("preconditions.gpu_memory_gb", pc.gpu_memory_gb, " of GB")?;

    Ok(Job {
        origin: origin.to_string(),
        root: root.to_path_buf(),
        text: text.to_string(),
        spec,
        base,
        steps,
    })
}

/// The JSON spelling of an `on_finish` value.
pub fn on_finish_str(o: OnFinish) -> &'static str {
    match o {
        OnFinish::Stop => "stop",
        OnFinish::Delete => "delete",
        OnFinish::Leave => "leave",
    }
}
