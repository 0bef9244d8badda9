//! Every rule on a job that serde's types cannot express, checked before anything runs, plus
//! the rewording of serde's messages into "found X, expected Y". Each rule returns the JSON
//! path it is about, so the caller can point at the line and column.

use super::spec::{BrevMode, JobFile, OnFinish, Step};
use super::{Base, ImageStep, Job};
use crate::quote::is_identifier;
use serde_json::Value;
use std::path::{Component, Path};

/// A validation failure: the JSON path and the message.
pub type Problem = (String, String);

/// A short description of a JSON value for "found ..." messages.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", serde_json::to_string(s).unwrap_or_default()),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The value at a serde_path_to_error path, if it exists.
fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            cur = cur.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

/// Words between backticks in a serde message.
fn ticked(msg: &str) -> Vec<&str> {
    msg.split('`').skip(1).step_by(2).collect()
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known word nearest to `word`, if it is plausibly a typo of it.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(&word.to_lowercase(), k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Reword a serde error into "found X, expected Y" with a suggestion where one fits.
pub fn humanize_serde(err: &serde_json::Error, path: &str, root: &Value) -> String {
    let msg = err.to_string();
    let ticks = ticked(&msg);
    if msg.starts_with("unknown field") {
        let word = ticks.first().copied().unwrap_or("");
        let known: Vec<&str> = ticks.iter().skip(1).copied().collect();
        let list = quoted_list(&known);
        return match suggest(word, &known) {
            Some(s) => {
                format!("unknown key \"{word}\"; did you mean \"{s}\"? (known keys: {list})")
            }
            None => format!("unknown key \"{word}\"; known keys: {list}"),
        };
    }
    if msg.starts_with("unknown variant") {
        let word = ticks.first().copied().unwrap_or("");
        let known: Vec<&str> = ticks.iter().skip(1).copied().collect();
        let hint = suggest(word, &known)
            .map(|s| format!("; did you mean \"{s}\"?"))
            .unwrap_or_default();
        return format!(
            "found \"{word}\", expected one of {}{hint}",
            quoted_list(&known)
        );
    }
    if msg.starts_with("missing field") {
        let word = ticks.first().copied().unwrap_or("");
        return format!("missing required key \"{word}\"");
    }
    let found = value_at(root, path)
        .map(describe)
        .unwrap_or_else(|| "a value".into());
    if msg.contains("untagged enum Run") {
        return format!("found {found}, expected a shell string or an argv array of strings");
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        let expected = match expected {
            "i64" | "u64" | "u32" | "i32" => "an integer",
            "f64" => "a number",
            "a boolean" => "true or false",
            e => e,
        };
        return format!("found {found}, expected {expected}");
    }
    if let Some(rest) = msg.strip_prefix("invalid value: ") {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        return format!("found {found}, expected {expected}");
    }
    msg
}

fn p(path: impl Into<String>, msg: impl Into<String>) -> Problem {
    (path.into(), msg.into())
}

fn positive_int(path: &str, v: Option<i64>) -> Result<(), Problem> {
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
        Some(n) if !(n > 0.0) || !n.is_finite() => Err(p(
            path,
            format!("found {n}, expected a positive number{unit}"),
        )),
        _ => Ok(()),
    }
}

fn non_empty(path: &str, v: Option<&str>, what: &str) -> Result<(), Problem> {
    match v {
        Some(s) if s.trim().is_empty() => {
            Err(p(path, format!("found an empty string, expected {what}")))
        }
        _ => Ok(()),
    }
}

fn env_keys<'a>(path: &str, keys: impl Iterator<Item = &'a String>) -> Result<(), Problem> {
    for k in keys {
        if !is_identifier(k) {
            return Err(p(
                format!("{path}.{k}"),
                format!("found key \"{k}\", expected a shell identifier ([A-Za-z_][A-Za-z0-9_]*), since it is exported as a shell variable"),
            ));
        }
        if k.starts_with("RUNPLZ_") {
            return Err(p(
                format!("{path}.{k}"),
                format!(
                    "found key \"{k}\", expected a name outside RUNPLZ_*, which runplz sets itself"
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
            format!("found an empty list, expected at least one {what}"),
        ));
    }
    for (i, s) in items.iter().enumerate() {
        if s.trim().is_empty() {
            return Err(p(
                format!("{path}[{i}]"),
                format!("found an empty string, expected a {what}"),
            ));
        }
    }
    Ok(())
}

/// A relative path inside the repo root (no absolute paths, no `..` out of it).
fn inside_root(path: &str, rel: &str) -> Result<(), Problem> {
    let rp = Path::new(rel);
    let escapes = rp.is_absolute()
        || rp.components().fold(0i32, |depth, c| match c {
            Component::ParentDir if depth <= 0 => i32::MIN / 2,
            Component::ParentDir => depth - 1,
            Component::Normal(_) => depth + 1,
            _ => depth,
        }) < 0;
    if escapes {
        return Err(p(path, format!("found \"{rel}\", expected a path inside the job's folder (it is shipped with the repo)")));
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
    let kinds: Vec<&str> = [
        s.apt_install.is_some(),
        s.pip_install.is_some(),
        s.pip_install_local_dir.is_some(),
        s.run_commands.is_some(),
        s.env.is_some(),
    ]
    .iter()
    .zip(STEP_KINDS)
    .filter(|(set, _)| **set)
    .map(|(_, k)| k)
    .collect();
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => {
            return Err(p(path, format!("found a step with no kind, expected exactly one of {}", quoted_list(&STEP_KINDS))))
        }
        many => {
            return Err(p(path, format!("found a step with several kinds ({}), expected exactly one; split it into one step each", quoted_list(many))))
        }
    };
    let stray = |key: &str, set: bool, belongs: &str| -> Result<(), Problem> {
        if set && kind != belongs {
            Err(p(
                format!("{path}.{key}"),
                format!(
                    "found \"{key}\" on a \"{kind}\" step, expected it only with \"{belongs}\""
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
    Ok(match kind {
        "apt_install" => {
            let pk = s.apt_install.clone().unwrap_or_default();
            strings(&format!("{path}.apt_install"), &pk, "package name")?;
            for (i, name) in pk.iter().enumerate() {
                if name.starts_with('-') || name.chars().any(char::is_whitespace) {
                    return Err(p(
                        format!("{path}.apt_install[{i}]"),
                        format!(
                            "found \"{name}\", expected a package name (no spaces, not an option)"
                        ),
                    ));
                }
            }
            ImageStep::Apt(pk)
        }
        "pip_install" => {
            let pk = s.pip_install.clone().unwrap_or_default();
            strings(&format!("{path}.pip_install"), &pk, "requirement")?;
            non_empty(
                &format!("{path}.index_url"),
                s.index_url.as_deref(),
                "a URL",
            )?;
            non_empty(
                &format!("{path}.extra_index_url"),
                s.extra_index_url.as_deref(),
                "a URL",
            )?;
            ImageStep::Pip {
                packages: pk,
                index_url: s.index_url.clone(),
                extra_index_url: s.extra_index_url.clone(),
            }
        }
        "pip_install_local_dir" => {
            let dir = s.pip_install_local_dir.clone().unwrap_or_default();
            let kp = format!("{path}.pip_install_local_dir");
            non_empty(&kp, Some(&dir), "a folder of the repo")?;
            inside_root(&kp, &dir)?;
            if !root.join(&dir).is_dir() {
                return Err(p(
                    kp,
                    format!(
                        "found \"{dir}\", expected an existing folder under {}",
                        root.display()
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
            strings(&format!("{path}.run_commands"), &cmds, "command")?;
            ImageStep::Run(cmds)
        }
        _ => {
            let env = s.env.clone().unwrap_or_default();
            if env.is_empty() {
                return Err(p(
                    format!("{path}.env"),
                    "found an empty object, expected at least one variable",
                ));
            }
            env_keys(&format!("{path}.env"), env.keys())?;
            ImageStep::Env(env)
        }
    })
}

fn expand_home(path: &str) -> std::path::PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => path.into(),
    }
}

/// Check every rule and build the validated job, or return the first problem.
pub fn validate(spec: JobFile, origin: &str, root: &Path) -> Result<Job, Problem> {
    // name
    let name_ok = !spec.name.is_empty()
        && spec.name.len() <= 63
        && spec
            .name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !name_ok {
        return Err(p("name", format!("found \"{}\", expected 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", spec.name)));
    }

    // image
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
                        "found \"{r}\", expected an image reference such as \"python:3.11-slim\""
                    ),
                ));
            }
            Base::Registry(r.clone())
        }
        (None, Some(d)) => {
            non_empty("image.from_dockerfile", Some(d), "a Dockerfile path")?;
            if !im.steps.is_empty() {
                return Err(p("image.steps", "found steps beside \"from_dockerfile\", expected none: put them in your Dockerfile"));
            }
            let full = root.join(d);
            if !full.is_file() {
                return Err(p(
                    "image.from_dockerfile",
                    format!(
                        "found \"{d}\", expected an existing file ({} does not exist)",
                        full.display()
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
        .map(|(i, s)| step(&format!("image.steps[{i}]"), s, root))
        .collect::<Result<Vec<_>, _>>()?;

    // run and its placeholders
    match &spec.run {
        super::Run::Shell(s) if s.trim().is_empty() => {
            return Err(p("run", "found an empty string, expected a command"))
        }
        super::Run::Argv(v) if v.is_empty() => {
            return Err(p(
                "run",
                "found an empty array, expected at least the program",
            ))
        }
        super::Run::Argv(v) if v[0].trim().is_empty() => {
            return Err(p(
                "run[0]",
                "found an empty string, expected the program to run",
            ))
        }
        _ => {}
    }
    super::vars::check_template(&spec.run).map_err(|(i, m)| match i {
        Some(i) => p(format!("run[{i}]"), m),
        None => p("run", m),
    })?;
    for (k, _) in &spec.args {
        if !is_identifier(k) {
            return Err(p(
                format!("args.{k}"),
                format!("found key \"{k}\", expected a placeholder name ([A-Za-z_][A-Za-z0-9_]*)"),
            ));
        }
    }
    env_keys("env", spec.env.keys())?;

    // resources
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
        if n > 1 && r.gpu.is_none() && r.min_gpu_memory.is_none() {
            return Err(p("resources.num_gpus", format!("found {n} GPUs with no \"gpu\" model or \"min_gpu_memory\", expected one of them so the right GPUs can be picked")));
        }
    }
    positive("resources.min_cpu", r.min_cpu, " of vCPUs")?;
    positive("resources.min_memory", r.min_memory, " of GB")?;
    positive("resources.min_gpu_memory", r.min_gpu_memory, " of GB")?;
    positive("resources.min_disk", r.min_disk, " of GB")?;

    positive_int("timeout", spec.timeout)?;
    if let Some(o) = &spec.outputs_dir {
        non_empty("outputs_dir", Some(o), "a folder")?;
    }
    for (i, e) in spec.sync.exclude.iter().enumerate() {
        non_empty(
            &format!("sync.exclude[{i}]"),
            Some(e),
            "a gitignore-style pattern",
        )?;
    }
    non_empty(
        "local.network",
        spec.local.network.as_deref(),
        "a docker network name",
    )?;

    // ssh
    let s = &spec.ssh;
    non_empty("ssh.user", s.user.as_deref(), "a login name")?;
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
        if !expand_home(k).is_file() {
            return Err(p("ssh.ssh_key_path", format!("found \"{k}\", expected an existing private key file (ssh is given it with IdentitiesOnly=yes, so a wrong path cannot fall back to your agent)")));
        }
    }
    if let Some(of) = s.on_finish {
        if of != OnFinish::Leave {
            return Err(p(
                "ssh.on_finish",
                format!(
                    "found \"{}\", expected \"leave\": runplz never stops or deletes a box you own",
                    on_finish_str(of)
                ),
            ));
        }
    }
    positive_int("ssh.max_runtime_seconds", s.max_runtime_seconds)?;
    positive_int("ssh.max_inactivity_seconds", s.max_inactivity_seconds)?;
    positive_int("ssh.ssh_ready_wait_seconds", s.ssh_ready_wait_seconds)?;

    // brev
    let b = &spec.brev;
    if b.mode.unwrap_or(BrevMode::Container) == BrevMode::Container && b.use_docker == Some(false) {
        return Err(p("brev.use_docker", "found false in container mode, expected it unset: in container mode the box is the image and there is no docker to skip (use \"mode\": \"vm\" to run natively)"));
    }
    if let Some(t) = &b.instance_type {
        if t.trim().is_empty() {
            return Err(p("brev.instance_type", "found an empty string, expected an instance type such as \"g5.xlarge\" (or leave it out to pick one)"));
        }
    }
    positive_int("brev.max_runtime_seconds", b.max_runtime_seconds)?;
    positive_int("brev.max_inactivity_seconds", b.max_inactivity_seconds)?;
    positive_int("brev.ssh_ready_wait_seconds", b.ssh_ready_wait_seconds)?;
    if let Some(n) = b.instance_type_fallback_count {
        if n < 1 {
            return Err(p(
                "brev.instance_type_fallback_count",
                format!("found {n}, expected 1 or more (1 means no fallback)"),
            ));
        }
    }
    for (i, e) in b.exclude_providers.iter().flatten().enumerate() {
        non_empty(
            &format!("brev.exclude_providers[{i}]"),
            Some(e),
            "a provider prefix such as \"oci\"",
        )?;
    }

    // preconditions
    let pc = &spec.preconditions;
    positive("preconditions.shm_gb", pc.shm_gb, " of GB")?;
    positive("preconditions.disk_free_gb", pc.disk_free_gb, " of GB")?;
    positive("preconditions.gpu_count", pc.gpu_count, " of GPUs")?;
    positive("preconditions.gpu_memory_gb", pc.gpu_memory_gb, " of GB")?;

    Ok(Job {
        origin: origin.to_string(),
        root: root.to_path_buf(),
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
