//! The job.json types, exactly as a user writes them. Every struct denies unknown keys; the
//! doc comments here are the field documentation that the JSON Schema and `job.json(5)` are
//! generated from, so they are written for users. Rules that serde cannot express live in
//! `validate.rs`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest duration any field or flag takes, in seconds: 30 days. A longer one is
/// refused before anything runs (an "infinite" timeout once overflowed the clock after the
/// job had started); leave a timeout out for no limit.
pub const MAX_SECONDS: i64 = 30 * 24 * 60 * 60;

/// The most bytes `env` may hold, names and values together: 128 KiB, what Linux lets one
/// string of an exec'd environment be (MAX_ARG_STRLEN), so a job's env always fits.
pub const MAX_ENV_BYTES: usize = 128 * 1024;

/// A runplz job: what to build, what to run, what it needs, and how each backend runs it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    /// Optional editor hint pointing at the JSON Schema; ignored by runplz.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The job's name: letters, digits, `.`, `_` and `-`, starting with a letter or digit.
    /// Names the image tag, the remote workspace and the outputs folder.
    #[schemars(extend("pattern" = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"))]
    pub name: String,
    /// The image the job runs in.
    pub image: Image,
    /// The command: a shell string (run with `bash -lc`) or an argv array. `{name}`
    /// placeholders take values from `args` and the command line; `{{` and `}}` are literal
    /// braces. In a shell string each value is quoted for the place it stands, so it arrives as
    /// exactly its text and can never inject a command: a word, inside `"…"`
    /// (`"--name={name}"`), `'…'` or `$'…'`, in `$(…)`, an assignment, a `case` or a `[[ … ]]`
    /// string test. Where no quoting holds the job is refused, saying what to do instead: a
    /// heredoc body, quoted or not (assign `v={name}` before it and write `$v` in an unquoted
    /// body), backticks (use `$(…)`), arithmetic (`$((…))`, `((…))`, `$[…]`, `let`, a `declare
    /// -i` value), a `[[ … ]]` that uses `-eq`, `-lt`, `-v` and the like, `${…}`, a `#`
    /// comment, `eval`, `trap`, a `declare -n` value, a variable name (`arr[{i}]=`, `read`,
    /// `declare`, `unset`, `printf -v`, `test -v`), or right after a backslash. In an argv
    /// array a value is one argument, as is.
    pub run: Run,
    /// Default values for `{name}` placeholders in `run`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}))]
    pub args: BTreeMap<String, String>,
    /// Environment variables for the job. Keys must be shell identifiers; values hold no NUL
    /// byte, and names and values together are at most 131072 bytes (128 KiB).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": "^(?!RUNPLZ_)[A-Za-z_][A-Za-z0-9_]*$"}))]
    pub env: BTreeMap<String, String>,
    /// Names of variables whose values come from runplz's own environment at run time, e.g.
    /// `["WANDB_API_KEY", "HF_TOKEN"]`: the place for secrets, which then never sit in this
    /// file. Sent to the job as `env` is (over stdin, never on a command line); a name that
    /// is unset when runplz runs is an error before anything happens. Beats `env`; loses to
    /// `--env-file` and `--env`. The run record lists the names passed, never the values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("items" = {"type": "string", "pattern": "^(?!RUNPLZ_)[A-Za-z_][A-Za-z0-9_]*$"}, "uniqueItems" = true))]
    pub pass_env: Vec<String>,
    /// What the job needs from the machine.
    #[serde(default)]
    pub resources: Resources,
    /// Wall-clock limit for the run, in seconds (1 to 2592000, 30 days); the job is killed
    /// past it (exit 124). Leave it out for no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 2592000))]
    pub timeout: Option<i64>,
    /// Seconds between the signal that stops the job (TERM at its deadline or from `runplz
    /// kill`, INT for Ctrl-C) and KILL: its time to save a checkpoint and exit (0 to
    /// 2592000; default 5). `--grace` overrides it. Modal and Slurm stop a job their own
    /// way and do not use it (runplz says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 0, "maximum" = 2592000, "default" = 5))]
    pub stop_grace_seconds: Option<i64>,
    /// Where `$RUNPLZ_OUT` comes back to on this machine, relative to the job file's
    /// folder: a new or existing folder strictly inside it (not the folder itself, not
    /// `..`, not `~/x`), reached through no symlink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "out", "minLength" = 1))]
    pub outputs_dir: Option<String>,
    /// What to ship up besides the built-in secret and cache excludes.
    #[serde(default)]
    pub sync: Sync,
    /// The folder the command runs in, relative to the shipped folder (see `sync.root`);
    /// it must stay inside it. Default: the job file's folder, so a job at `jobs/train.json`
    /// in a git repo runs in `jobs/` with the whole repo next to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1))]
    pub workdir: Option<String>,
    /// Settings for `runplz local`.
    #[serde(default)]
    pub local: Local,
    /// Settings for `runplz ssh`.
    #[serde(default)]
    pub ssh: Ssh,
    /// Settings for `runplz brev`.
    #[serde(default)]
    pub brev: Brev,
    /// Settings for `runplz modal`.
    #[serde(default)]
    pub modal: Modal,
    /// Settings for `runplz slurm`.
    #[serde(default)]
    pub slurm: Slurm,
    /// Settings for `runplz runpod`.
    #[serde(default)]
    pub runpod: Runpod,
    /// Checks on the box before the run starts: a value below its minimum is a warning,
    /// below half of it a failure that stops the run.
    #[serde(default)]
    pub preconditions: Preconditions,
}

/// The image: a registry base plus steps, or a Dockerfile of your own.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// Exactly one base; a Dockerfile carries its own steps.
#[schemars(extend("oneOf" = [
    {"required": ["from_registry"], "properties": {"from_registry": {"type": "string"}}},
    {"required": ["from_dockerfile"], "properties": {"from_dockerfile": {"type": "string"}, "steps": {"maxItems": 0}}}
]))]
pub struct Image {
    /// Base image, e.g. `pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_registry: Option<String>,
    /// A Dockerfile path relative to the job file's folder, used as is (no `steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_dockerfile: Option<String>,
    /// Build steps applied in order on top of `from_registry`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

/// One image step: exactly one of `apt_install`, `pip_install`, `pip_install_local_dir`,
/// `run_commands`, `env`, with the modifiers that belong to it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
// Exactly one kind (non-null), and each modifier only beside its kind.
#[schemars(extend(
    "oneOf" = [
        {"required": ["apt_install"], "properties": {"apt_install": {"type": "array"}}},
        {"required": ["pip_install"], "properties": {"pip_install": {"type": "array"}}},
        {"required": ["pip_install_local_dir"], "properties": {"pip_install_local_dir": {"type": "string"}}},
        {"required": ["run_commands"], "properties": {"run_commands": {"type": "array"}}},
        {"required": ["env"], "properties": {"env": {"type": "object"}}}
    ],
    "dependentRequired" = {
        "index_url": ["pip_install"],
        "extra_index_url": ["pip_install"],
        "editable": ["pip_install_local_dir"]
    }
))]
pub struct Step {
    /// Debian/Ubuntu packages to install with apt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minItems" = 1))]
    pub apt_install: Option<Vec<String>>,
    /// pip requirement specifiers, e.g. `pandas>=2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minItems" = 1))]
    pub pip_install: Option<Vec<String>>,
    /// With `pip_install`: the package index URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_url: Option<String>,
    /// With `pip_install`: an extra package index URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_index_url: Option<String>,
    /// A folder of the repo (relative to the job file's folder) to `pip install`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pip_install_local_dir: Option<String>,
    /// With `pip_install_local_dir`: install in editable mode (`pip install -e`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub editable: Option<bool>,
    /// Shell commands, each run on its own with `/bin/sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minItems" = 1))]
    pub run_commands: Option<Vec<String>>,
    /// Environment variables set in the image from this step on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("propertyNames" = {"pattern": "^(?!RUNPLZ_)[A-Za-z_][A-Za-z0-9_]*$"}, "minProperties" = 1))]
    pub env: Option<BTreeMap<String, String>>,
}

/// The job's command: a shell string or an argv array.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(untagged)]
pub enum Run {
    /// Run with `bash -lc`.
    Shell(String),
    /// Run as is, no shell.
    Argv(Vec<String>),
}

/// What the job needs. Memory and disk are in GB.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// GPU model, matched by name (`T4`, `A100`, `H100`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// Number of GPUs (default 1 when `gpu` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    pub num_gpus: Option<i64>,
    /// Minimum vCPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub min_cpu: Option<f64>,
    /// Minimum RAM, GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub min_memory: Option<f64>,
    /// Minimum memory per GPU, GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub min_gpu_memory: Option<f64>,
    /// Minimum disk, GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub min_disk: Option<f64>,
}

/// What is shipped: the folder, and extra exclude patterns.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sync {
    /// The folder shipped to the box (and used as the docker build context), relative to
    /// the job file's folder; it must contain the job file. Default: the top of the git
    /// work tree that holds the job file (not a home folder or `/`), else the job file's
    /// folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1))]
    pub root: Option<String>,
    /// gitignore-style patterns never shipped, on top of the built-in secret and cache list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// What a secret found inside a shipped file does: `refuse` stops the run before
    /// anything ships, `warn` ships with a warning, `off` skips the content scan (said once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "refuse"))]
    pub secret_scan: Option<SecretScan>,
    /// Findings of the content scan that are not secrets: gitignore-style paths relative to
    /// the shipped folder, each optionally `:LINE` (`tests/fixtures/*.json`, `conf.py:12`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_secrets: Vec<String>,
}

/// `sync.secret_scan`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SecretScan {
    /// A finding stops the run before anything ships (the default).
    #[default]
    Refuse,
    /// Ship, with a warning per finding.
    Warn,
    /// No content scan.
    Off,
}

/// `runplz local` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Local {
    /// Run in docker (true) or natively in a venv (false; `--native` does the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub use_docker: Option<bool>,
    /// The docker network for `docker run` and `docker build` (default: docker's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// What happens to a box when the run ends.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OnFinish {
    /// Stop the box (disk kept, small charge).
    Stop,
    /// Delete the box (nothing left, nothing billed).
    Delete,
    /// Leave it running.
    Leave,
}

/// What the inactivity watchdog does.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InactivityAction {
    /// Say on stderr (and the log) what the job's processes are doing (`ps`, the load, GPU
    /// use where `nvidia-smi` exists) each time it is quiet that long, and keep waiting.
    Diagnose,
    /// Stop the job as at its deadline (TERM, the grace, KILL): exit 124, ending "inactive".
    Terminate,
}

/// Brev box provisioning mode.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BrevMode {
    /// The box is the image (`from_registry`); steps run inline over ssh.
    Container,
    /// A full VM; the job runs in docker (or natively with `use_docker: false`).
    Vm,
}

/// `runplz ssh` settings. runplz never stops or deletes a box you own.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("dependentRequired" = {"inactivity_action": ["max_inactivity_seconds"]}))]
pub struct Ssh {
    /// Login user (default: from `--host` or your ssh config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Port, 1-65535 (default: from `--host` or your ssh config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 65535))]
    pub port: Option<i64>,
    /// Private key, passed as `-i KEY -o IdentitiesOnly=yes`; must exist. `~/` is your home
    /// folder; a relative path is relative to the job file's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key_path: Option<String>,
    /// Run in docker on the box (true) or natively in a venv (false): `~/.runplz/venvs/<job>`
    /// on the box, made once per job as `python3 -m venv` makes it (and made again if its
    /// making was cut short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub use_docker: Option<bool>,
    /// The docker network for `docker build` and `docker run` on the box (default: docker's
    /// own), e.g. `host` or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Only `leave` is allowed: the box is yours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "leave", "enum" = ["leave", null]))]
    pub on_finish: Option<OnFinish>,
    /// Kill the remote job after this many seconds (the shorter of this and `timeout` wins;
    /// at most 2592000, 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 2592000))]
    pub max_runtime_seconds: Option<i64>,
    /// The inactivity watch: act when the job prints nothing (stdout or stderr) for this many
    /// seconds (at most 30 days). rp-exec watches what arrives over the connection; were it
    /// gone, the box's guard ends the job anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 2592000))]
    pub max_inactivity_seconds: Option<i64>,
    /// What the watchdog does; needs `max_inactivity_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "diagnose"))]
    pub inactivity_action: Option<InactivityAction>,
    /// Seconds to wait for the box to answer ssh (at most 2592000, 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1800, "minimum" = 1, "maximum" = 2592000))]
    pub ssh_ready_wait_seconds: Option<i64>,
    /// Keep the connection to the box open this many seconds after a run, so the next run
    /// within that time skips ssh's handshake (0 closes it with the run; at most 3600). The
    /// socket lives in a private (0700) folder of yours; `runplz ssh --no-keep` also turns
    /// it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 60, "minimum" = 0, "maximum" = 3600))]
    pub keep_connection_seconds: Option<i64>,
}

/// `runplz brev` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("dependentRequired" = {"inactivity_action": ["max_inactivity_seconds"]}))]
pub struct Brev {
    /// How the box is provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "container"))]
    pub mode: Option<BrevMode>,
    /// vm mode only: run in docker (true) or natively (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = true))]
    pub use_docker: Option<bool>,
    /// What happens to the box when the run ends, whether it succeeded or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "stop"))]
    pub on_finish: Option<OnFinish>,
    /// Create a missing `--instance` box instead of failing. Off by default, so that a typo
    /// in a box name cannot create a billed box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub auto_create_instances: Option<bool>,
    /// Pin an instance type instead of picking the cheapest that fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minLength" = 1))]
    pub instance_type: Option<String>,
    /// Kill the remote job after this many seconds (at most 2592000, 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 2592000))]
    pub max_runtime_seconds: Option<i64>,
    /// The inactivity watch: act when the job prints nothing (stdout or stderr) for this many
    /// seconds (at most 30 days). rp-exec watches what arrives over the connection; were it
    /// gone, the box's guard ends the job anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "maximum" = 2592000))]
    pub max_inactivity_seconds: Option<i64>,
    /// What the watchdog does; needs `max_inactivity_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "diagnose"))]
    pub inactivity_action: Option<InactivityAction>,
    /// Seconds to wait for a new box to answer ssh (big multi-GPU boxes can take 20 minutes;
    /// at most 2592000, 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1800, "minimum" = 1, "maximum" = 2592000))]
    pub ssh_ready_wait_seconds: Option<i64>,
    /// How many of the cheapest fitting instance types `brev create` may fall back through
    /// (1: no fallback). Not allowed beside a pinned `instance_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 3, "minimum" = 1))]
    pub instance_type_fallback_count: Option<i64>,
    /// Provider prefixes never picked (`[]` allows all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = ["oci"]))]
    pub exclude_providers: Option<Vec<String>>,
}

/// `runplz modal` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Modal {
    /// Return after submitting; outputs go to a volume and are fetched later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub detach: Option<bool>,
}

/// What happens to a RunPod pod when the run ends.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RunpodFinish {
    /// Terminate the pod (nothing left, nothing billed).
    Terminate,
    /// Stop the pod (its volume is kept and billed; the GPU is released).
    Stop,
}

/// `runplz runpod` settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runpod {
    /// GPU type ids to try, in this order (`"NVIDIA RTX A6000"`, as RunPod's `gpuTypes` names
    /// them); each must still fit `resources` and `--max-gpu-price`. Default: every type that
    /// fits, cheapest first (the first 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_order: Option<Vec<String>>,
    /// Datacenter ids to try, in this order, for each GPU type (`"US-TX-3"`). Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacenters: Option<Vec<String>>,
    /// What happens to the pod when the run ends, whether it succeeded or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "terminate"))]
    pub on_finish: Option<RunpodFinish>,
    /// Seconds to wait for a new pod to answer ssh (at most 2592000, 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 1800, "minimum" = 1, "maximum" = 2592000))]
    pub ssh_ready_wait_seconds: Option<i64>,
}

/// `runplz slurm` settings: what the site's Slurm calls things, passed to `sbatch`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Slurm {
    /// `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// `--qos`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// `--constraint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// Nodes to run on (`--nodes`); above 1 the command runs once per node via `srun`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1))]
    pub nodes: Option<i64>,
    /// The site's gres type for a `resources.gpu` name (`{"A100": "a100"}`): the request is
    /// `--gres=gpu:<type>:<n>`. A GPU name not listed here is refused; without `gpu`, `--gres=gpu:<n>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres_types: Option<std::collections::BTreeMap<String, String>>,
    /// More `sbatch` options, each one word (`"--exclusive"`, `"--reservation=r1"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbatch_args: Option<Vec<String>>,
}

/// Minimums checked on the box before the run starts.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preconditions {
    /// Free shared memory (/dev/shm), GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub shm_gb: Option<f64>,
    /// Free disk in the workspace, GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub disk_free_gb: Option<f64>,
    /// Number of GPUs visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub gpu_count: Option<f64>,
    /// Memory per GPU, GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub gpu_memory_gb: Option<f64>,
}
