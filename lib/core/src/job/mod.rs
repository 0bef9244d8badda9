//! job.json: loading, strict validation with located errors, and the validated [`Job`] every
//! tool works from. Loading never has side effects; everything that can be checked without
//! touching a box is checked here, so an invalid job fails before anything happens.

pub mod spans;
pub mod spec;
pub mod validate;
pub mod vars;

use crate::error::CliError;
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use spec::{JobFile, OnFinish, Run};

/// Where the image starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// A registry image, plus `steps`.
    Registry(String),
    /// The user's Dockerfile, resolved against the job file's folder.
    Dockerfile(PathBuf),
}

/// One validated image step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStep {
    /// `apt-get install` these packages.
    Apt(Vec<String>),
    /// `pip install` these requirement specifiers.
    Pip {
        /// Requirement specifiers.
        packages: Vec<String>,
        /// `--index-url`.
        index_url: Option<String>,
        /// `--extra-index-url`.
        extra_index_url: Option<String>,
    },
    /// `pip install [-e] DIR`, DIR relative to the repo root (the job file's folder).
    PipLocalDir {
        /// The folder, as written (relative).
        path: String,
        /// `-e`.
        editable: bool,
    },
    /// Shell commands, one layer each.
    Run(Vec<String>),
    /// Environment variables from here on.
    Env(BTreeMap<String, String>),
}

/// A job that passed validation.
#[derive(Debug, Clone)]
pub struct Job {
    /// The file it came from (`-` for stdin).
    pub origin: String,
    /// The folder the job's relative paths resolve against: the repo root that is shipped.
    pub root: PathBuf,
    /// The file as written.
    pub spec: JobFile,
    /// Where the image starts.
    pub base: Base,
    /// The image steps, validated.
    pub steps: Vec<ImageStep>,
}

impl Job {
    /// The job's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Where outputs come back to on this machine (default `<root>/out`).
    pub fn outputs_dir(&self) -> PathBuf {
        self.root
            .join(self.spec.outputs_dir.as_deref().unwrap_or("out"))
    }
}

/// A problem in a job file, located: `FILE:LINE:COL: PATH: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// The file (`-` for stdin).
    pub file: String,
    /// 1-based line and column of the offending value or key, when known.
    pub pos: Option<(usize, usize)>,
    /// The JSON path, e.g. `brev.on_finish` or `image.steps[2]` (empty for the whole file).
    pub path: String,
    /// What was found and what was expected.
    pub message: String,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((l, c)) = self.pos {
            write!(f, ":{l}:{c}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for JobError {}

/// Read and validate a job file (`-` reads stdin; relative paths then resolve against the
/// current directory). Errors are usage errors (exit 2).
pub fn load(path: &Path) -> Result<Job> {
    let (text, origin, root) = if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the job from stdin")?;
        (
            s,
            "-".to_string(),
            std::env::current_dir().context("current directory")?,
        )
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!("{}: cannot read job file: {e}", path.display()))
        })?;
        let root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        (text, path.display().to_string(), root)
    };
    parse(&text, &origin, &root).map_err(|e| CliError::new(Exit::Usage, e.to_string()))
}

/// Parse and validate job text. `root` is the folder relative paths resolve against.
pub fn parse(text: &str, origin: &str, root: &Path) -> Result<Job, JobError> {
    let err = |path: &str, message: String, pos: Option<(usize, usize)>| JobError {
        file: origin.to_string(),
        pos,
        path: path.to_string(),
        message,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        err(
            "",
            format!("invalid JSON: {}", strip_position(&e.to_string())),
            Some((e.line(), e.column())),
        )
    })?;
    if !value.is_object() {
        return Err(err(
            "",
            format!(
                "found {}, expected a JSON object",
                validate::describe(&value)
            ),
            Some((1, 1)),
        ));
    }
    let spec: JobFile = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let message = validate::humanize_serde(e.inner(), &path, &value);
        let pos = spans::locate(text, &path);
        err(&path, message, pos)
    })?;
    validate::validate(spec, origin, root).map_err(|(path, message)| {
        let pos = spans::locate(text, &path);
        err(&path, message, pos)
    })
}

/// serde_json appends " at line L column C"; we print the position ourselves.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
