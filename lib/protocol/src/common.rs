//! Small enums more than one record shares: where a run ran ([`Backend`]) and how its job
//! was started there ([`Mode`]). Each reads an unknown value as `Unknown`, so an older
//! reader keeps working when a newer tool adds a backend or a mode.
use serde::{Deserialize, Serialize};

/// Where a run ran: one value per backend (`"local"`, `"ssh"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// This machine.
    Local,
    /// A box the user owns, over ssh.
    Ssh,
    /// A Brev box.
    Brev,
    /// A Modal sandbox.
    Modal,
    /// A Slurm cluster.
    Slurm,
    /// A RunPod pod.
    Runpod,
    /// A backend this reader does not know (read only; never written).
    #[serde(other)]
    Unknown,
}

/// How the job was started where it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// In a container built from the job's image.
    Docker,
    /// On the host, in a venv built from the job's image steps.
    Native,
    /// On the host as it is, with no image steps (a Slurm job, for one).
    InPlace,
    /// A mode this reader does not know (read only; never written).
    #[serde(other)]
    Unknown,
}
