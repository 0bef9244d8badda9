//! The `image` record rp-image prints: a rendered text (`--json` with `--format dockerfile`
//! or `shell`), or the Modal image chain (`--format modal`) as typed [`ModalOp`]s.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `image` record (`"type": "image"`), tagged by `"format"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum ImageRecord {
    /// `--format dockerfile --json`: the Dockerfile.
    Dockerfile {
        /// Exactly what `--format dockerfile` prints.
        text: String,
    },
    /// `--format shell --json`: the set-up script.
    Shell {
        /// Exactly what `--format shell` prints.
        text: String,
    },
    /// `--format modal`: the image as `modal.Image` method calls, in order.
    Modal {
        /// The calls.
        ops: Vec<ModalOp>,
    },
    /// A format this reader does not know (read only; never written).
    #[serde(other)]
    Unknown,
}

/// One `modal.Image` method call, tagged by `"op"` (the method's name); fields are its
/// arguments. Local paths are relative to the job file's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ModalOp {
    /// `Image.from_registry(image, add_python=...)`: the base image.
    FromRegistry {
        /// The image reference.
        image: String,
        /// A Python version Modal should add, or `null`.
        add_python: Option<String>,
    },
    /// `Image.from_dockerfile(path)`: the user's Dockerfile is the base (and the whole image).
    FromDockerfile {
        /// The Dockerfile, relative to the job's folder.
        path: String,
    },
    /// `.apt_install(*packages)`.
    AptInstall {
        /// Debian packages.
        packages: Vec<String>,
    },
    /// `.pip_install(*packages, index_url=..., extra_index_url=...)`.
    PipInstall {
        /// Requirement specifiers.
        packages: Vec<String>,
        /// `--index-url`, or `null`.
        index_url: Option<String>,
        /// `--extra-index-url`, or `null`.
        extra_index_url: Option<String>,
    },
    /// `.add_local_dir(local_path, remote_path, copy=...)`.
    AddLocalDir {
        /// The folder here, relative to the job's folder (`.` for the job's folder).
        local_path: String,
        /// Where it goes in the image.
        remote_path: String,
        /// Copy into the image (needed when later steps use it).
        copy: bool,
    },
    /// `.run_commands(*commands)`: each one a Dockerfile `RUN` line.
    RunCommands {
        /// Shell commands.
        commands: Vec<String>,
    },
    /// `.env(vars)`.
    Env {
        /// Variables, by name.
        vars: BTreeMap<String, String>,
    },
    /// `.workdir(path)`.
    Workdir {
        /// The working directory in the image.
        path: String,
    },
    /// An operation this reader does not know (read only; never written). A driver that
    /// meets one should refuse the image rather than build a different one.
    #[serde(other)]
    Unknown,
}
