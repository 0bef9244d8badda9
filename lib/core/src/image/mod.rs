//! Rendering a job's image: a Dockerfile, an idempotent shell script for a box that already
//! is the base image, or the Modal image chain as JSON. Output is byte-stable: the same job
//! always renders the same bytes, so golden files can pin it.
//!
//! Every renderer works from a validated [`Job`] and refuses (usage error, exit 2) only what
//! its target syntax cannot carry faithfully, naming the job file and the JSON path: a
//! newline in a Dockerfile `ENV` value, a folder name that `COPY` would expand, a Dockerfile
//! image for the shell format, a NUL byte anywhere.

mod context;
mod dockerfile;
mod modal;
mod shell;

pub use context::{write_context_tar, CONTEXT_DOCKERFILE};
pub use dockerfile::dockerfile;
pub use modal::modal;
pub use shell::{shell, ShellOptions};

use crate::error::CliError;
use crate::job::{Base, ImageStep, Job, JobError};
use std::path::{Component, Path};

/// Where the image's working directory (and the repo, at run time) lives.
pub const WORKSPACE: &str = "/workspace";

/// A usage error about one place in the job: `FILE: PATH: MESSAGE`.
fn bad(job: &Job, path: impl Into<String>, message: impl Into<String>) -> anyhow::Error {
    CliError::usage(
        JobError {
            file: job.origin.clone(),
            pos: None,
            path: path.into(),
            message: message.into(),
        }
        .to_string(),
    )
}

/// The JSON path of step `i`.
fn step_path(i: usize) -> String {
    format!("image.steps[{i}]")
}

/// No format can carry a NUL byte (shells and Dockerfiles cut strings at it), so refuse it
/// up front with its exact place.
fn check_no_nul(job: &Job) -> anyhow::Result<()> {
    let mut found: Option<String> = None;
    let mut check = |path: String, s: &str| {
        if found.is_none() && s.contains('\0') {
            found = Some(path);
        }
    };
    if let Base::Registry(image) = &job.base {
        check("image.from_registry".into(), image);
    }
    for (i, step) in job.steps.iter().enumerate() {
        let p = step_path(i);
        match step {
            ImageStep::Apt(pkgs) => {
                for (j, s) in pkgs.iter().enumerate() {
                    check(format!("{p}.apt_install[{j}]"), s);
                }
            }
            ImageStep::Pip {
                packages,
                index_url,
                extra_index_url,
            } => {
                for (j, s) in packages.iter().enumerate() {
                    check(format!("{p}.pip_install[{j}]"), s);
                }
                if let Some(u) = index_url {
                    check(format!("{p}.index_url"), u);
                }
                if let Some(u) = extra_index_url {
                    check(format!("{p}.extra_index_url"), u);
                }
            }
            ImageStep::PipLocalDir { path, .. } => {
                check(format!("{p}.pip_install_local_dir"), path)
            }
            ImageStep::Run(cmds) => {
                for (j, s) in cmds.iter().enumerate() {
                    check(format!("{p}.run_commands[{j}]"), s);
                }
            }
            ImageStep::Env(vars) => {
                for (k, v) in vars {
                    check(format!("{p}.env.{k}"), v);
                }
            }
        }
    }
    match found {
        Some(path) => Err(bad(
            job,
            path,
            "found a NUL character, expected text without one (no shell or Dockerfile can carry it)",
        )),
        None => Ok(()),
    }
}

/// A repo folder as a clean relative path (`""` for the repo root): `./a/../b/` becomes `b`.
/// Validation already keeps it inside the repo.
fn clean_dir(dir: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(dir).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

/// Where a repo folder lands in the image: `/workspace/<dir>`, or `/workspace` for the root.
fn remote_dir(clean: &str) -> String {
    if clean.is_empty() {
        WORKSPACE.to_string()
    } else {
        format!("{WORKSPACE}/{clean}")
    }
}

/// A one-line summary of a step for progress lines: control characters become spaces and
/// long text is cut, so a hostile command cannot break the line.
fn describe(step: &ImageStep) -> String {
    let text = match step {
        ImageStep::Apt(pkgs) => format!("apt_install {}", pkgs.join(" ")),
        ImageStep::Pip { packages, .. } => format!("pip_install {}", packages.join(" ")),
        ImageStep::PipLocalDir { path, editable } => format!(
            "pip_install_local_dir {path}{}",
            if *editable { " (editable)" } else { "" }
        ),
        ImageStep::Run(cmds) => {
            let more = match cmds.len() {
                0 | 1 => String::new(),
                n => format!(" (+{} more)", n - 1),
            };
            format!(
                "run_commands {}{more}",
                cmds.first().map_or("", |c| c.as_str())
            )
        }
        ImageStep::Env(vars) => format!(
            "env {}",
            vars.keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    const MAX: usize = 72;
    if flat.chars().count() > MAX {
        let cut: String = flat.chars().take(MAX - 3).collect();
        format!("{cut}...")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_are_cleaned() {
        assert_eq!(clean_dir("."), "");
        assert_eq!(clean_dir("./"), "");
        assert_eq!(clean_dir("./pkg/"), "pkg");
        assert_eq!(clean_dir("a/../b/./c"), "b/c");
        assert_eq!(remote_dir(""), "/workspace");
        assert_eq!(remote_dir("b/c"), "/workspace/b/c");
    }

    #[test]
    fn descriptions_stay_on_one_line() {
        let d = describe(&ImageStep::Run(vec!["echo a\necho b".into(), "x".into()]));
        assert_eq!(d, "run_commands echo a echo b (+1 more)");
        let long = describe(&ImageStep::Apt(vec!["p".repeat(100)]));
        assert_eq!(long.chars().count(), 72);
        assert!(long.ends_with("..."));
    }
}
