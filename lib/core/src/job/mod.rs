//! job.json: loading, strict validation with located errors, and the validated [`Job`] every
//! tool works from. Loading never has side effects; everything that can be checked without
//! touching a box is checked here, so an invalid job fails before anything happens.

mod backend_rules;
pub mod humanize;
mod image_rules;
pub mod outputs;
mod settings;
mod shell_context;
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

pub use settings::{Mode, Settings, DEFAULT_GRACE};
pub use spec::{JobFile, OnFinish, Run};

/// Where a job runs; some rules hold only on one of them (see `crate::backend::check_job`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// This machine, in docker or natively.
    Local,
    /// A box the user owns, over ssh.
    Ssh,
    /// A Brev box, created or started for the run.
    Brev,
    /// A Modal function.
    Modal,
    /// A Slurm cluster, through its login node.
    Slurm,
    /// A RunPod pod, created for the run.
    Runpod,
}

impl Backend {
    /// Every backend, in the order the docs list them.
    pub const ALL: [Backend; 6] = [
        Backend::Local,
        Backend::Ssh,
        Backend::Brev,
        Backend::Modal,
        Backend::Slurm,
        Backend::Runpod,
    ];

    /// The name used on the command line and in job.json (`local`, `ssh`, `brev`, `modal`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Ssh => "ssh",
            Backend::Brev => "brev",
            Backend::Modal => "modal",
            Backend::Slurm => "slurm",
            Backend::Runpod => "runpod",
        }
    }

    /// The backend as records carry it.
    pub fn wire(self) -> runplz_protocol::Backend {
        match self {
            Backend::Local => runplz_protocol::Backend::Local,
            Backend::Ssh => runplz_protocol::Backend::Ssh,
            Backend::Brev => runplz_protocol::Backend::Brev,
            Backend::Modal => runplz_protocol::Backend::Modal,
            Backend::Slurm => runplz_protocol::Backend::Slurm,
            Backend::Runpod => runplz_protocol::Backend::Runpod,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Backend::ALL.iter().map(|b| b.name()).collect();
                format!(
                    "found backend {}, expected one of {}{}",
                    serde_json::Value::from(s),
                    humanize::quoted_list(&names),
                    humanize::did_you_mean(s, &names)
                )
            })
    }
}

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
    /// The job file's folder: the job's relative paths (`outputs_dir`, the Dockerfile,
    /// `pip_install_local_dir`, `ssh.ssh_key_path`, `sync.root`) resolve against it.
    pub root: PathBuf,
    /// The folder that is shipped (and is the docker build context): `sync.root`, else the
    /// git work tree's top that holds the job file, else [`Job::root`]. It contains `root`.
    pub ship_root: PathBuf,
    /// Where the command runs, relative to `ship_root` (empty: `ship_root` itself).
    pub workdir: PathBuf,
    /// The job file's folder relative to `ship_root` (empty when they are one).
    pub job_rel: PathBuf,
    /// The file's text, kept so that later checks (backend rules, variables) can point at
    /// a line and column.
    pub text: String,
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
    /// Validation checked it ([`outputs::check_spec`]); `results/x/..` is `results`.
    pub fn outputs_dir(&self) -> PathBuf {
        outputs::check_spec(&self.root, self.spec.outputs_dir.as_deref()).unwrap_or_else(|_| {
            self.root
                .join(self.spec.outputs_dir.as_deref().unwrap_or("out"))
        })
    }

    /// `ssh.ssh_key_path` resolved as validation checked it: `~/` is the home folder, a
    /// relative path is relative to the job's folder.
    pub fn ssh_key_path(&self) -> Option<PathBuf> {
        let k = self.spec.ssh.ssh_key_path.as_deref()?;
        Some(validate::resolve_user_path(&self.root, k))
    }

    /// An error about the value at JSON `path` in this job's file, located.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> JobError {
        JobError {
            file: self.origin.clone(),
            pos: Some(spans::locate(&self.text, path)),
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// `run` with its placeholders filled: `args` defaults, then `overrides` in order (later
    /// wins; build them with [`vars::overrides`]). An unknown variable or a placeholder left
    /// without a value is a usage error (exit 2) pointing at `run`.
    pub fn command(&self, overrides: &[(String, String)]) -> Result<Run> {
        vars::render(&self.spec.run, &self.spec.args, overrides)
            .map_err(|m| CliError::usage(self.error_at("run", m).to_string()))
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

/// Parse and validate job text. `root` is the folder relative paths resolve against. The
/// error reads `FILE:LINE:COL: JSON.PATH: found X, expected Y`.
pub fn parse(text: &str, origin: &str, root: &Path) -> Result<Job, JobError> {
    // A UTF-8 byte-order mark (some Windows editors write one) is not JSON; skip it, as
    // editors do, so lines and columns still match what the user sees.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let err = |path: String, message: String, pos: (usize, usize)| JobError {
        file: origin.to_string(),
        pos: Some(pos),
        path,
        message,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        let (message, pos) = humanize::syntax_error_at(&e, text);
        err(String::new(), message, pos)
    })?;
    if !value.is_object() {
        return Err(err(
            String::new(),
            format!(
                "found {}, expected a JSON object",
                humanize::describe(&value)
            ),
            spans::locate(text, ""),
        ));
    }
    // serde_json keeps the last of two equal keys without a word; a repeated key is almost
    // always a merge mistake.
    if let Some((path, pos)) = spans::duplicate_key(text) {
        let key = match spans::segments(&path).pop() {
            Some(spans::Seg::Key(k)) => k,
            _ => String::new(),
        };
        return Err(err(
            path,
            format!(
                "found key {} twice in one object, expected each key once",
                serde_json::Value::from(key)
            ),
            pos,
        ));
    }
    let spec: JobFile = serde_path_to_error::deserialize(&value).map_err(|e| {
        let (path, message, at_key) = humanize::serde_error(&e, &value);
        let pos = if at_key {
            spans::locate_key(text, &path)
        } else {
            spans::locate(text, &path)
        };
        err(path, message, pos)
    })?;
    validate::validate(spec, origin, root, text).map_err(|pb| {
        let pos = if pb.at_key {
            spans::locate_key(text, &pb.path)
        } else {
            spans::locate(text, &pb.path)
        };
        err(pb.path, pb.message, pos)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, "j.json", Path::new("/nonexistent"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn positions_survive_crlf_tabs_and_wide_characters() {
        let crlf = "{\r\n\t\"name\": \"x\",\r\n\t\"image\": {\"from_registry\": \"é:1\"},\r\n\t\"run\": \"a\",\r\n\t\"timeout\": -5\r\n}\r\n";
        assert_eq!(
            err(crlf),
            "j.json:5:13: timeout: found -5, expected a positive number of seconds"
        );
        let wide = "{\"name\": \"ünï cødé\", \"image\": {}, \"run\": \"a\"}";
        assert_eq!(
            err(wide),
            "j.json:1:10: name: found \"ünï cødé\", expected 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
        );
    }

    #[test]
    fn a_bad_stop_grace_is_located() {
        let job = |v: &str| {
            err(&format!(
                "{{\"name\": \"j\", \"image\": {{\"from_registry\": \"x\"}}, \"run\": \"true\",\n \"stop_grace_seconds\": {v}}}"
            ))
        };
        assert_eq!(
            job("-1"),
            "j.json:2:24: stop_grace_seconds: found -1, expected a number of seconds, 0 or more"
        );
        assert_eq!(
            job("2592001"),
            "j.json:2:24: stop_grace_seconds: found 2592001, expected at most 2592000 seconds (30 days)"
        );
        assert!(job("\"5\"").starts_with("j.json:2:24: stop_grace_seconds: "));
        assert!(job("1.5").starts_with("j.json:2:24: stop_grace_seconds: "));
    }

    #[test]
    fn syntax_errors_point_at_the_character() {
        assert_eq!(
            err("{\n  \"name\": tru\n}"),
            "j.json:2:14: found invalid JSON, expected true, false or null"
        );
        assert_eq!(
            err("{\"a\": [1, 2,]}"),
            "j.json:1:12: found a trailing comma, expected another value (JSON allows no trailing commas)"
        );
    }

    #[test]
    fn python_runplz_names_get_runplz_name_not_a_typo_guess() {
        let job = |extra: &str| {
            err(&format!(
                "{{\"name\": \"j\", \"image\": {{\"from_registry\": \"x\"}}, \"run\": \"true\", {extra}}}"
            ))
        };
        let e = job("\"resources\": {\"min_gpus\": 2}");
        assert!(e.contains("found unknown key \"min_gpus\""), "{e}");
        assert!(e.ends_with("; runplz calls this `num_gpus`"), "{e}");
        assert!(!e.contains("did you mean"), "{e}");
        let e = job("\"min_gpus\": 2");
        assert!(
            e.ends_with("; runplz calls this `resources.num_gpus`"),
            "{e}"
        );
        let e = job("\"gpu\": \"A100\"");
        assert!(e.ends_with("; runplz calls this `resources.gpu`"), "{e}");
        // A plain typo still gets its guess.
        let e = job("\"resources\": {\"min_cpus\": 2}");
        assert!(e.ends_with("; did you mean \"min_cpu\"?"), "{e}");
    }

    #[test]
    fn backend_names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>(), Ok(b));
        }
        assert_eq!(
            "moda".parse::<Backend>(),
            Err("found backend \"moda\", expected one of \"local\", \"ssh\", \"brev\", \"modal\", \"slurm\", \"runpod\"; did you mean \"modal\"?".to_string())
        );
    }
}
