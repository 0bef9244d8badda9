//! The `probe` record rp-probe prints: what a box has ([`Facts`]), how that differs from
//! what the job wants ([`Finding`]s), and whether the run may start.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `probe` record (`"type": "probe"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// The `--host` as given; `null` for this machine (`--local`).
    pub host: Option<String>,
    /// What the box has.
    pub facts: Facts,
    /// What differs from what was wanted.
    pub findings: Vec<Finding>,
    /// `false` when any finding is a failure.
    pub ok: bool,
}

/// What a box has. Sizes are in GB meaning GiB (2^30 bytes). `null` means "could not be
/// read"; the reason is in `unreadable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// CPUs available to processes (`nproc`).
    pub cpus: Option<u32>,
    /// Total memory.
    pub memory_gb: Option<f64>,
    /// Space available in `$HOME` to the login user.
    pub disk_free_gb: Option<f64>,
    /// Size of the file system holding `$HOME`.
    pub disk_total_gb: Option<f64>,
    /// Space available in `/dev/shm`.
    pub shm_free_gb: Option<f64>,
    /// The GPUs nvidia-smi lists (empty when none or unknown).
    pub gpus: Vec<Gpu>,
    /// How many GPUs: 0 when there is no nvidia-smi or it lists none, `null` when its output
    /// could not be understood.
    pub gpu_count: Option<u32>,
    /// Why there are no GPUs, else `null`.
    pub gpu_reason: Option<String>,
    /// Whether docker is usable: a `docker` command exists and its engine answers.
    pub docker: Option<bool>,
    /// Whether docker lists an NVIDIA runtime.
    pub docker_nvidia: Option<bool>,
    /// Whether an `rsync` command exists.
    pub rsync: Option<bool>,
    /// `PRETTY_NAME` from /etc/os-release.
    pub os: Option<String>,
    /// `uname -m`.
    pub arch: Option<String>,
    /// The facts that could not be read, with reasons.
    pub unreadable: Vec<Unreadable>,
}

/// One GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpu {
    /// The model name as nvidia-smi prints it, e.g. `NVIDIA A100-SXM4-80GB`.
    pub name: String,
    /// The card's memory in GB (GiB), `null` when nvidia-smi could not say.
    pub memory_gb: Option<f64>,
    /// MIG slices the card is split into (`3g.40gb`...), empty when MIG is off.
    pub mig: Vec<String>,
}

/// A fact that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    /// The fact's field name in [`Facts`] (`shm_free_gb`, `gpus`...).
    pub fact: String,
    /// "could not read ...: reason".
    pub message: String,
}

/// One difference between what the job wants and what the box has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// How bad it is.
    pub level: Level,
    /// The check: a `resources` or `preconditions` key (`min_cpu`, `shm_gb`...), `gpu`,
    /// `mig`, or `unreadable` for a fact no check needed. An open set: new checks may come.
    pub check: String,
    /// What was asked (`null` when not applicable).
    pub wanted: Value,
    /// What the box has (`null` when it could not be read).
    pub found: Value,
    /// One line for people.
    pub message: String,
}

/// How bad a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The box differs from the spec, or a fact could not be checked; the run may still work.
    Warning,
    /// A precondition is below half its minimum: starting would doom the run.
    Failure,
    /// A level this reader does not know (read only; never written).
    #[serde(other)]
    Unknown,
}
