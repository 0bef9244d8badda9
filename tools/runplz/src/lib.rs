//! The `runplz` command line: a backend subcommand, a job file, flags, and `--NAME=VALUE`
//! words after the job file that fill the job's `args`. Everything else is
//! `runplz_core::run`, which calls the same library functions as the rp-* tools.

pub mod commands;

use clap::{Args, CommandFactory, Parser, Subcommand};
use runplz_core::backend;
use runplz_core::run::{self, RunOptions};
use runplz_protocol::Exit;
use std::ffi::OsString;
use std::path::PathBuf;

/// Run one job.json, unchanged, on this machine, on an SSH box you own, on a Brev box, on
/// Modal, on Slurm, or on a RunPod pod: the repo goes up minus secrets (the git work tree holding the job file, or its
/// `sync.root`), the job runs in the job file's folder inside it (or its `workdir`) under a
/// hard deadline, and `$RUNPLZ_OUT` comes back to `./out/`.
///
/// The job's stdout is runplz's stdout and its stderr runplz's stderr, on every backend (as
/// `ssh box cmd` or `docker run`); runplz's own lines (which step, how long, bytes shipped)
/// go to stderr. `--json` puts the run record on stdout instead.
#[derive(Debug, Parser)]
#[command(name = "runplz", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Where to run.
    #[command(subcommand)]
    pub backend: BackendCmd,
}

/// The backends.
#[derive(Debug, Subcommand)]
pub enum BackendCmd {
    /// Run on this machine: in docker (default) or natively in a venv (`--native`).
    Local(LocalArgs),
    /// Run on an SSH box you own (`--host`); runplz never stops or deletes it.
    Ssh(SshArgs),
    /// Run on a Brev box: picked and created for the run and deleted after it, or a named
    /// one (`--instance`) started and then stopped (`brev.on_finish`).
    Brev(BrevArgs),
    /// Run on Modal: a Sandbox built from the job's image, outputs back as a tarball;
    /// `--detach` leaves the job running there.
    Modal(ModalArgs),
    /// Run on a Slurm cluster through its login node (`--host`, or `--host local`): sbatch, wait, collect.
    #[command(after_long_help = SLURM_HELP)]
    Slurm(SlurmArgs),
    /// Run on a RunPod pod created for the run (picked from live prices) and terminated after it.
    #[command(after_long_help = RUNPOD_HELP)]
    Runpod(RunpodArgs),
    /// Where a run started earlier stands (`run-status` record); RUN is a run id, a unique
    /// prefix of one, or `last`.
    #[command(after_long_help = commands::status::HELP)]
    Status(commands::status::Args),
    /// The job's output so far, on stdout; `-n N` the last N lines, `-f` follows it to the end.
    #[command(after_long_help = commands::tail::HELP)]
    Tail(commands::tail::Args),
    /// Stop a run (TERM to its processes, KILL after a grace) and release its box.
    #[command(after_long_help = commands::kill::HELP)]
    Kill(commands::kill::Args),
    /// Bring an interrupted or detached run's outputs back (`collect` record), then release
    /// what it holds; safe to repeat.
    #[command(after_long_help = commands::collect::HELP)]
    Collect(commands::collect::Args),
    /// The runs recorded on this machine (`ps` records, or `--table`).
    #[command(after_long_help = commands::ps::HELP)]
    Ps(commands::ps::Args),
    /// Billed boxes of runplz's that no live run holds (`orphan` records); `--apply`
    /// deletes them.
    #[command(after_long_help = commands::reconcile::HELP)]
    Reconcile(commands::reconcile::Args),
}

/// The job file and the flags every backend takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The job file (`-` reads it from stdin).
    #[arg(value_name = "JOB", default_value = "job.json")]
    pub job: PathBuf,
    /// Where `$RUNPLZ_OUT` comes back to (default: the job's `outputs_dir`, else `out/`
    /// beside the job file). Relative to the current folder; it must be a new or existing
    /// folder strictly inside the job's folder, reached through no symlink.
    #[arg(long, value_name = "DIR")]
    pub outputs_dir: Option<PathBuf>,
    /// Fill a `{NAME}` placeholder of `run` (repeatable; beats `--vars-file`).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// A JSON object of strings filling `{NAME}` placeholders (beats the job's `args`).
    #[arg(long, value_name = "FILE")]
    pub vars_file: Option<PathBuf>,
    /// Pass NAME to the job with its value from runplz's environment, or as given
    /// (`NAME=VALUE`, which `ps` shows on runplz's own command line: prefer `NAME`).
    /// Repeatable; beats `--env-file` and the job's `pass_env` and `env`. The value travels
    /// as the job's `env` does (over stdin, never on a command line or in a file left on
    /// the box); the run record lists the name, never the value. An unset NAME is exit 2.
    #[arg(long = "env", value_name = "NAME[=VALUE]")]
    pub env: Vec<String>,
    /// Pass the variables of FILE, a JSON object of strings (`{"HF_TOKEN": "..."}`), to the
    /// job, as `--env` does; beats the job's `pass_env` and `env`, loses to `--env`.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Allow a finding of the secret scan that is not a secret: a gitignore-style path
    /// relative to the shipped folder, optionally `:LINE` (repeatable; adds to the job's
    /// `sync.allow_secrets`). Every file the run would ship is scanned first; a finding not
    /// allowed stops the run before anything is created (exit 2).
    #[arg(long = "allow-secret", value_name = "PATH[:LINE]")]
    pub allow_secrets: Vec<String>,
    /// Print the equivalent POSIX shell script of rp-* calls instead of running anything.
    /// It never holds a value of the environment passed to the job: it reads `pass_env`
    /// and `--env NAME` from its own environment when it runs (so `--env NAME=VALUE` is
    /// refused with `--plan`) and the `--env-file` by its path.
    #[arg(long)]
    pub plan: bool,
    /// Print the run record (see OUTPUT) on stdout, and send the job's stdout to stderr, as
    /// `cargo --message-format=json` does. The record is kept in the run state either way.
    #[arg(long, conflicts_with = "plan")]
    pub json: bool,
    /// Say only warnings and errors on stderr (the job's own output still comes): no step
    /// lines, no set-up output (a failed step's error still ends with its last lines).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Seconds between the signal that stops the job (TERM at its deadline, INT for Ctrl-C)
    /// and KILL (fractions allowed, at most 2592000), as rp-exec's --grace; overrides the
    /// job's `stop_grace_seconds` (default 5). Modal and Slurm stop a job their own way.
    #[arg(long, value_name = "SECS", value_parser = runplz_core::flags::parse_secs)]
    pub grace: Option<std::time::Duration>,
    /// Run once per arg set of FILE: a JSON object of name -> list of values (the cross
    /// product) or JSON Lines of objects name -> value. Each set fills the job's `args` as
    /// `--NAME=VALUE` does; each run gets its own run id and outputs folder
    /// (`<outputs>/<sweep id>-<index>`). stdout: one `sweep_run` record per run as it ends,
    /// then a `sweep` summary. Exit 0 when every run passed, 1 when any failed.
    #[arg(long, value_name = "FILE", conflicts_with = "plan")]
    pub sweep: Option<PathBuf>,
    /// With --sweep: at most N runs at once (default 4; 1 on brev; on slurm every run, as one job array).
    #[arg(long, value_name = "N", requires = "sweep", value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: Option<u32>,
    /// With --sweep: one table for people at the end instead of JSON records.
    #[arg(long, requires = "sweep")]
    pub table: bool,
    /// `--NAME=VALUE` or `--NAME VALUE` words after the job file fill the job's `args` and
    /// win over `--var`; a placeholder whose default is "true" or "false" also takes
    /// `--NAME` alone (true) and `--no-NAME` (false).
    #[arg(last = true, value_name = "--NAME=VALUE")]
    pub params: Vec<String>,
}

/// `runplz local`.
#[derive(Debug, Args)]
pub struct LocalArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Reuse the image tagged by the last build instead of building (docker mode).
    #[arg(long, conflicts_with = "native")]
    pub no_build: bool,
    /// Run natively in a venv instead of docker (same as `"local": {"use_docker": false}`).
    #[arg(long)]
    pub native: bool,
}

/// `runplz ssh`.
#[derive(Debug, Args)]
pub struct SshArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The box, as `[user@]host[:port]` or an ssh-config alias.
    #[arg(long, value_name = "HOST", required = true)]
    pub host: String,
    /// An ssh config file passed to ssh and rsync as `-F`.
    #[arg(long, value_name = "FILE", env = "RUNPLZ_SSH_CONFIG")]
    pub ssh_config: Option<PathBuf>,
    /// Close the ssh connection with the run. By default it stays open for 60 s after the
    /// run (the job's `ssh.keep_connection_seconds`), its socket in a private folder
    /// (`$XDG_RUNTIME_DIR/runplz`, else `$TMPDIR/runplz-UID`), so the next run to the same
    /// box skips ssh's handshake.
    #[arg(long)]
    pub no_keep: bool,
    /// Return once the job runs on the box, printing the run record (ending
    /// {"kind":"detached"}). The job runs on under its supervisor there (deadline and
    /// inactivity watch included); its output and end wait in ~/.runplz/runs/RUN on the
    /// box, its outputs in the run's outputs folder: `runplz status / tail / kill / collect
    /// RUN` take it from here.
    #[arg(long, conflicts_with = "plan")]
    pub detach: bool,
}

/// `runplz brev`.
#[derive(Debug, Args)]
pub struct BrevArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// A Brev box you made (`brev ls` lists it): started if stopped, used, then stopped
    /// (`brev.on_finish`). A name brev does not know is refused before anything is billed,
    /// unless `brev.auto_create_instances`. Without it, runplz picks the cheapest type that
    /// fits, creates `runplz-<job>-<8 hex>` and deletes it on every exit path.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Your ssh config, included after brev's `~/.brev/ssh_config` in the run's own.
    #[arg(long, value_name = "FILE", env = "RUNPLZ_SSH_CONFIG")]
    pub ssh_config: Option<PathBuf>,
    /// Return once the job runs on the box, printing the run record (ending
    /// {"kind":"detached"}). The box stays up, billed, until `runplz collect RUN` (outputs
    /// back) or `runplz kill RUN` releases it as `brev.on_finish` says; the job runs on under
    /// its supervisor there (deadline and inactivity watch included).
    #[arg(long, conflicts_with = "plan")]
    pub detach: bool,
    /// The run's budget in US dollars: with the picked type's price per hour it becomes a
    /// deadline of cap / price hours from the start of provisioning (creating the box and
    /// setting it up count). A set-up step or the job running then is stopped on the box
    /// (by its supervisor, even with runplz gone; exit 124, ending and failure `cost_cap`);
    /// a budget spent before a step starts ends the run there. Needs a known price: refused
    /// with --instance.
    #[arg(long, value_name = "USD", conflicts_with = "plan")]
    pub cost_cap_usd: Option<f64>,
}

/// `runplz slurm`.
#[derive(Debug, Args)]
pub struct SlurmArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The cluster's login node, as `[user@]host[:port]` or an ssh-config alias, or `local`
    /// when runplz runs on the login node itself.
    #[arg(long, value_name = "LOGIN_NODE", required = true)]
    pub host: String,
    /// An ssh config file passed to ssh and rsync as `-F`.
    #[arg(long, value_name = "FILE", env = "RUNPLZ_SSH_CONFIG")]
    pub ssh_config: Option<PathBuf>,
    /// Nodes to run on (beats the job's `slurm.nodes`); above 1 the command runs once per
    /// node through srun, with RUNPLZ_NODE_RANK, RUNPLZ_NODE_COUNT and RUNPLZ_MASTER_ADDR set.
    #[arg(long, value_name = "N")]
    pub nodes: Option<u32>,
    /// Return once the job is submitted, printing the run record (ending
    /// {"kind":"detached"}); then `runplz status / tail / kill / collect RUN`.
    #[arg(long)]
    pub detach: bool,
    /// Internal: the sweep's arg sets, run as one job array (written by --sweep).
    #[arg(long, value_name = "FILE", hide = true)]
    pub slurm_array: Option<PathBuf>,
}

/// `runplz runpod`.
#[derive(Debug, Args)]
pub struct RunpodArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The GPU type id to create (`"NVIDIA RTX A6000"`), skipping the pick; needs
    /// --datacenter-id.
    #[arg(long, value_name = "ID", requires = "datacenter_id")]
    pub gpu_id: Option<String>,
    /// The datacenter id (`US-TX-3`); needs --gpu-id.
    #[arg(long, value_name = "ID", requires = "gpu_id")]
    pub datacenter_id: Option<String>,
    /// Pick no GPU type priced above this, in USD per GPU-hour.
    #[arg(long, value_name = "USD")]
    pub max_gpu_price: Option<f64>,
    /// The run's budget in US dollars: with the pod's price per hour (known before the
    /// create) it becomes a deadline of cap / price hours from the start of provisioning
    /// (creating the pod and setting it up count). A set-up step or the job running then is
    /// stopped on the pod (by its supervisor, even with runplz gone; exit 124, ending and
    /// failure `cost_cap`); a budget spent before a step starts ends the run there.
    #[arg(long, value_name = "USD")]
    pub cost_cap_usd: Option<f64>,
    /// The run's own deadline in minutes from the start of provisioning (the job's
    /// `timeout` still applies; the earlier one stops it, exit 124, ending `timed_out`).
    #[arg(long, value_name = "MINUTES")]
    pub max_runtime_minutes: Option<u64>,
}

/// `runplz modal`.
#[derive(Debug, Args)]
pub struct ModalArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Return once the sandbox runs the job, printing the run record (ending
    /// {"kind":"detached"}); then `runplz status / tail / kill / collect RUN`.
    #[arg(long)]
    pub detach: bool,
    /// Validate, then print what would be sent to Modal as one `modal-plan` record (app,
    /// gpu string, cpu, memory in MiB, timeouts, image chain, env names, never values);
    /// nothing is touched.
    #[arg(long, conflicts_with = "plan")]
    pub dry_run: bool,
}

const SLURM_HELP: &str = "\
HOW A SLURM RUN GOES:
  Over ssh to the login node, the repo is synced to ~/runplz/<job> and copied to
  ~/runplz-runs/<run id> as for runplz ssh (with --host local it stays where it is: the
  login node's file system is the cluster's). The image's steps run natively, in shell
  format, in a venv in the shared home (~/.runplz/venvs/<job>), set up on the login node;
  there is no container (no apptainer or enroot), and a Dockerfile image is refused.
  runplz then writes a batch script into ~/.runplz/slurm/<run id> (0700) with the job's
  environment in a 0600 file beside it that the script reads and deletes (no value on any
  command line), runs `sbatch --test-only` (an impossible request is exit 3 with Slurm's
  reason, and nothing is queued), then `sbatch --parsable`. The request: --job-name
  runplz-<job>, --chdir, --output/--error into that folder, --cpus-per-task from
  resources.min_cpu, --mem from min_memory, --gres=gpu[:TYPE]:N from gpu/num_gpus (TYPE
  from slurm.gres_types), --time from timeout rounded up to whole minutes, and the job's
  slurm section (partition, account, qos, constraint, nodes, sbatch_args).
  runplz polls squeue, streams the job's stdout and stderr to its stderr as they grow, and
  reads the exit code from scontrol (sacct -P once the job is purged). COMPLETED and
  FAILED give the job's own code; TIMEOUT, or the job's timeout counted by runplz from the
  job's start (it scancels then), is 124; CANCELLED from outside is 143; OUT_OF_MEMORY is
  137; NODE_FAIL and other cluster endings are 125. Ctrl-C scancels the job and waits until
  Slurm says it ended. The Slurm job id is in the run state (handle.slurm_job_id).
  With --nodes N (or slurm.nodes) above 1, the command runs once per node through srun,
  with RUNPLZ_NODE_RANK (0..N-1), RUNPLZ_NODE_COUNT and RUNPLZ_MASTER_ADDR (the first
  node) set, e.g. for torchrun --nnodes \"$RUNPLZ_NODE_COUNT\" --node-rank \"$RUNPLZ_NODE_RANK\".
  $RUNPLZ_OUT comes back to the outputs folder as for runplz ssh. --plan is not supported.

EXAMPLES:
  runplz slurm job.json --host login.cluster.edu
  runplz slurm job.json --host local --nodes 2
  runplz slurm job.json --host login --sweep grid.json --table";

const RUNPOD_HELP: &str = "\
HOW A RUNPOD RUN GOES:
  The key is RUNPOD_API_KEY (never printed, put on a command line or in a record; none is
  exit 7, a refused one exit 8, and nothing is created); RUNPOD_API_BASE_URL replaces
  https://api.runpod.io. runplz reads the live GPU types and prices (gpuTypes) and keeps
  those that fit the job's resources (gpu by name, num_gpus, min_gpu_memory) and
  --max-gpu-price: in runpod.gpu_order's order when the job has one, else the 5 cheapest.
  No type fits: exit 6. Each type is tried in each of runpod.datacenters (default: any) in
  turn; RunPod's \"no capacity\" moves on to the next. --gpu-id with --datacenter-id skips
  the pick. The pod is named runplz-<job>-<8 hex> (that name is in the run state before
  the create) and made with podFindAndDeployOnDemand: the job's from_registry image, gpu
  count from num_gpus, container disk from min_disk (default 40 GB), min_cpu and
  min_memory as its minimums, startSsh, a public IP, port 22/tcp, and a start command that
  installs and starts an sshd where the image has none. A fresh ssh key is made for the
  run and given to the pod as PUBLIC_KEY. A create with no answer (a timeout, a 5xx) is
  never sent again before runplz has listed its pods by that name: a pod is never made
  twice. Once the pod's runtime lists a public port 22, the run goes as runplz ssh does
  (full ssh as root, the image's steps inline, no docker), then the pod is terminated
  (runpod.on_finish: \"stop\" stops it) on every exit path: success, failure, timeout,
  Ctrl-C, TERM, HUP. The record's instance names the pod (pod_id), the GPU type, the
  datacenter, price_per_hour (RunPod's costPerHr) and the cost. The pod id is in the run
  state (handle.pod_id). RUNPLZ_RUNPOD_CALL_TIMEOUT sets the seconds one API call may take
  (default 60). --plan is not supported yet.
  --cost-cap-usd USD: the price per hour is known before the create (the picked type's
  price per GPU-hour x the GPU count; RunPod's costPerHr once the pod exists), so the cap
  becomes a deadline of USD / price hours from the start of provisioning (creating the pod
  and setting it up count). Reached before a set-up step or the job starts, the run ends
  there; reached while one runs (the image's steps, the job), its supervisor on the pod
  stops it (TERM, the grace, KILL), even with runplz gone. Either way the pod is released, the exit is 124 and the ending and failure
  are cost_cap. --max-runtime-minutes M is such a deadline given in minutes (ending
  timed_out). The job's own timeout still applies; the earliest deadline wins.

EXAMPLES:
  RUNPOD_API_KEY=... runplz runpod job.json
  runplz runpod job.json --max-gpu-price 0.80
  runplz runpod job.json --cost-cap-usd 5
  runplz runpod job.json --gpu-id \"NVIDIA RTX A6000\" --datacenter-id US-TX-3";

const AFTER_HELP: &str = "\
OUTPUT:
  The job's stdout goes to runplz's stdout and its stderr to runplz's stderr, live, so
  `runplz local job.json > log.txt` keeps what the job printed. The set-up steps' output
  (docker build, pip) and runplz's own lines, prefixed `runplz:`, go to stderr: on a
  terminal, one live line per step with its elapsed time (and files and bytes so far for
  sync and collect, the current package for a venv build); plain lines otherwise. The
  collect step's `done` line says the files and bytes that came back. --quiet keeps only
  warnings and errors; NO_COLOR turns colour off.
  With --json the job's stdout goes to stderr (in order with its stderr) and stdout
  carries one JSON run record at the end. The record is always also kept in the run state
  (see RUN STATE), under \"run\":
  {\"type\":\"run\",\"version\":1,\"backend\":\"ssh\",\"job\":\"hello\",\"run_id\":\"...\",
   \"host\":\"box\"|null,\"mode\":\"docker\"|\"native\",\"exit_code\":0,
   \"ending\":{\"kind\":\"exited\",\"code\":0},\"steps\":[{\"step\":\"sync\",\"seconds\":0.4,\"ok\":true}],
   \"sync\":{\"files\":12,\"bytes\":3456},\"outputs\":{\"dir\":\"/abs/job/out\",\"files\":1,\"bytes\":42,
   \"earlier\":{\"files\":1,\"paths\":[\"old.txt\"]},\"dropped_links\":[]},\"env_passed\":[\"HF_TOKEN\"],
   \"duration_seconds\":3.2}
  \"ending\" is one of {\"kind\":\"exited\",\"code\":N}, {\"kind\":\"signaled\",\"signal\":N},
  {\"kind\":\"timed_out\",\"signal\":N|null}, {\"kind\":\"cost_cap\",\"signal\":N|null} (brev and
  runpod's --cost-cap-usd reached; exit 124), {\"kind\":\"interrupted\",\"signal\":N,\"step\":S} or
  {\"kind\":\"failed\",\"step\":S}; steps are acquire, probe, sync, image, venv, run, collect.
  \"outputs\" is null when they did not come back. Its \"earlier\" counts the files already in
  the outputs folder that this run did not bring (from earlier runs: never deleted; the
  first 100 paths), and \"dropped_links\" names the symlinks on the box that pointed out of
  $RUNPLZ_OUT and were left behind; both are also said on stderr.
  \"env_passed\" names the variables passed from runplz's environment (the job's
  \"pass_env\", --env) or an --env-file, sorted; never their values.

SWEEPS:
  --sweep FILE runs the job once per arg set (a JSON object of name -> list of values, whose
  cross product is taken, or JSON Lines of objects name -> value), each as its own runplz
  with its own run id and outputs folder <outputs>/<sweep id>-<index>, at most --parallel
  at once (default 4; 1 on brev; on slurm every run). On slurm the sweep is one job array
  (sbatch --array=0-N%P, P = --parallel): the code ships and the venv is made once, member
  i's run id is <sweep id>-<i>, Ctrl-C scancels the array. stdout: one sweep_run
  record per run as it ends (its index, args, outputs_dir, exit_code and its own run
  record as \"run\"), then one sweep record (sweep_id, total, passed, failed, not_started,
  duration_seconds); --table prints a table instead. A failed run stops none of the
  others; the exit code is 0 when every run passed, 1 otherwise, 128+n when a signal
  stopped the sweep: Ctrl-C reaches every running member (each cleans up as a single run
  does) and no further member starts.

SECRETS:
  Keep tokens out of job.json (it ships with the repo and sits in git): list their names in
  \"pass_env\", e.g. \"pass_env\": [\"WANDB_API_KEY\", \"HF_TOKEN\"], and set them in
  runplz's environment, or pass --env NAME / --env-file FILE. Precedence, lowest first: the
  image steps' env, the job's env, pass_env, --env-file, --env. The values travel over ssh's
  stdin into a private file the job's shell reads and deletes before the job starts; they
  never appear on a command line, in the run record, the run state, a --plan script or an
  error message. A literal env value that looks like a credential gets a warning.
  On a box, everything runplz creates (~/runplz/<job>, ~/runplz-runs, ~/runplz-out,
  ~/.runplz with its runs, locks, venvs and trash) is private to the box user: 0700 folders,
  synced files without group or other permissions.

WHERE THE JOB RUNS ON A BOX:
  runplz ssh syncs the repo into ~/runplz/<job> (incrementally), then copies that,
  hard-linked (no data copied), to ~/runplz-runs/<run id>: the image is built from that
  copy, the venv's steps and the job run in it (the job in <copy>/<its workdir>). So two
  runs of one job at once, from two checkouts say, each run the code they shipped. A lock
  on the box (flock; without it a warning, and the run goes on unlocked) keeps one run's
  sync and copy apart from another's. The copy is removed after the run (moved into
  ~/.runplz/trash and deleted there in the background; it stays, with a
  warning, when the connection to a job that may still run was lost, or when runplz was
  killed): what the job writes into its folder goes with it, so write what you want back
  to $RUNPLZ_OUT. Its files are hard links to ~/runplz/<job>: a job that rewrites a shipped
  file in place changes that copy too (write a new file and rename it instead; the next
  sync sees it and puts the file back); where hard
  links fail, a full copy is made, with a warning.

OUTPUTS:
  The outputs folder (the job's \"outputs_dir\", default out/, or --outputs-dir) must be a
  new or existing folder strictly inside the job's folder, not the folder itself, reached
  through no symlink (\"~/x\" is in the home folder, so it is refused); anything else is
  refused before anything happens (exit 2), and checked again just before outputs are
  written. Outputs never change what is already here: no owner or group comes from the box
  (files belong to whoever runs runplz, root included), a new file's mode is the box's masked
  by the local umask, an existing file keeps its mode, and the folder's own mode, owner and
  times are left alone. A symlink already inside the folder is replaced by what comes,
  never written through. Nothing local is ever deleted.

A DROPPED CONNECTION (ssh, brev):
  On a box the job runs under a supervisor in its own session (setsid), its output and end
  kept in ~/.runplz/runs/<run id>/ there (see rp-exec(1), ON A BOX), so it keeps running
  when the connection drops or runplz dies. While attached, runplz follows that output; when
  the connection drops (Wi-Fi gone, the box's sshd restarted) it says so, reconnects with
  backoff for up to 15 minutes and goes on from where it stopped (no line lost or shown
  twice); when the job ends the outputs come back and the box is released as usual. The
  deadline (timeout) and the inactivity watch (no new output and no new file in
  $RUNPLZ_OUT for max_inactivity_seconds) run on the box itself. If runplz cannot reconnect
  in that time (ending failed at run) and the outputs then come back over a fresh
  connection, it says the job may still be running on the box, with the ssh command that
  stops it. With --detach runplz returns once the job runs (ending detached): its output,
  end and outputs wait on the box for `runplz status / tail / collect / kill RUN`.

RUN STATE:
  Before anything happens, runplz writes $XDG_STATE_HOME/runplz/runs/<run_id>.json
  (default ~/.local/state/...), and rewrites it atomically as each step starts and ends:
  the backend, target, mode, runplz's pid, the step in progress, each step with its start
  and end (acquire is provisioning, image/venv the build, release the teardown), a handle
  to the job (rp-exec host and run id, how the box was reached, the box's workspace and
  outputs folder, the container, the Brev box, the job's stop grace), what was shipped
  (tree fingerprint, git commit, dirty flag), the box's type and price per hour, and
  whether the place was released, the cost cap (\"cost_cap\": {\"usd\": 5,
  \"price_per_hour\": 1.006, \"deadline\": SECONDS|null},
  --cost-cap-usd: the deadline counted from the start of provisioning); at the end the
  exit code, why it failed (\"failure\": invalid_job, no_capacity,
  auth, provision, ssh_unreachable, image_build, user_code, timeout, inactivity, cost_cap,
  cancelled, lost_contact), whether the outputs came back and the cost (price x billed time). A
  killed runplz leaves it saying where it stopped. Beside it: <run_id>.events.jsonl (one
  {\"type\":\"event\",\"version\":1,\"run_id\":..,\"at\":SECONDS,\"event\":\"created\"|\"step_start\"|
  \"step_end\"|\"warning\"|\"finished\"|\"killed\"|\"collected\",...} line per step start and end,
  warning and ending), <run_id>.log (0600: what the job printed, for runplz tail) and
  <run_id>.driver.log (0600: the same, written as it arrives, each line as
  `2026-01-01T10:00:00.123Z STREAM TEXT`: the UTC time its first byte came, STREAM stdout,
  stderr, or output for both merged (--json); a line cut by the other stream goes on in a
  line of its own). Every attached run keeps both (local, ssh, brev, runpod, modal, slurm;
  each sweep member its own): a Slurm job's output as runplz polls its files (a second
  apart at most), a Modal job's as it streams (with any `runplz: modal:` line the helper
  says meanwhile, as on an interrupt). A --detach'ed run's output never passes through
  runplz while it runs: runplz collect keeps it in <run_id>.log (ssh, brev, runpod: both
  streams in the order they came; slurm: stdout, then stderr) and writes no driver.log,
  since when each line came is not known here. A Slurm sweep's members likewise get only
  <run_id>.log (stdout, then stderr), written when each task ends. <run_id>.lock is the
  lock runplz collect and runplz kill hold. No value of the job's
  environment is ever written into any of them (names only).
  runplz ps, status, tail, kill, collect and reconcile read them (see their own pages).

MODAL RECORDS (stdout):
  --dry-run: {\"type\":\"modal-plan\",\"version\":1,\"app\":\"runplz\",\"gpu\":\"A100-80GB:4\"|null,
   \"cpu\":8.0|null,\"memory_mb\":16384|null,\"timeout\":3600,\"sandbox_timeout\":4200,
   \"image\":[{\"op\":\"from_registry\",...},...,{\"op\":\"add_local_dir\",\"remote_path\":\"/workspace\",...}],
   \"workdir\":\"/workspace\",\"command\":[\"bash\",\"-lc\",\"...\"],\"env_names\":[\"HF_TOKEN\"],
   \"tags\":{\"created_by\":\"runplz\",\"runplz_created_at\":null,\"runplz_job\":\"hello\",
   \"runplz_run_id\":null},\"detach\":false,\"keep_after_job\":null}
  --detach: the run record with \"ending\":{\"kind\":\"detached\"} (exit 0).
  status and kill: {\"type\":\"run-status\",\"version\":1,\"run_id\":\"...\",\"backend\":\"modal\",
   \"job\":\"hello\"|null,\"state\":\"running\"|\"exited\"|\"timed_out\"|\"terminated\"|\"expired\"|\"finished\",
   \"exit_code\":N|null,\"sandbox_id\":\"sb-...\"|null,\"host\":null,\"step\":null,
   \"failure\":null}. collect: rp-collect's collect record.

MODAL:
  runplz modal needs a Python with the `modal` package (modal>=1.4.3,<2): $RUNPLZ_MODAL_PYTHON,
  else ~/.cache/runplz/modal-venv/bin/python3, else python3 on PATH (none: exit 2, with the
  command that makes the venv), and a Modal token (MODAL_TOKEN_ID / MODAL_TOKEN_SECRET or
  ~/.modal.toml). runplz writes a small helper (inside its binary) to a private temp file and
  drives a modal.Sandbox in the app \"runplz\", tagged created_by=runplz, runplz_run_id,
  runplz_job and runplz_created_at (runplz ps and reconcile look only at running
  sandboxes tagged created_by=runplz in that app). The
  image is rp-image's modal chain with the repo (minus secrets and caches, as rp-sync ships
  it) added last at /workspace. gpu + num_gpus + min_gpu_memory become one gpu string
  (A100-80GB:4; the smallest model that fits when only min_gpu_memory is given), min_cpu
  the cpu, min_memory the memory in MiB, timeout the job's deadline (the sandbox lives 10
  minutes longer, to bring /out back). The env goes as one Modal Secret, over the helper's
  stdin. The job runs in /workspace with RUNPLZ_OUT=/out; /out comes back as a tar.gz
  (warned over 200 MiB, refused over 256 MiB). The sandbox is terminated on every exit
  path (Ctrl-C included), except after --detach: then it stays up while the job runs and
  RUNPLZ_MODAL_KEEP_SECONDS (default 3600) after, for `runplz collect`, and then ends with
  its /out (so a forgotten one stops billing). Every call to Modal has runplz's own
  deadline (RUNPLZ_MODAL_CONNECT_DEADLINE seconds for the first, default 20).

EXAMPLES:
  runplz local examples/hello/job.json --native
  runplz local examples/hello/job.json --steps=5
  runplz local examples/hello/job.json --steps 5
  runplz ssh job.json --host me@gpu-box:2222 --var steps=100
  runplz ssh job.json --host box --plan > run.sh && sh run.sh
  runplz local job.json --native > log.txt
  runplz ssh job.json --host box --json | jq .exit_code
  HF_TOKEN=... runplz ssh job.json --host box --env HF_TOKEN
  runplz modal job.json --dry-run
  runplz modal job.json --detach && runplz tail -f RUN && runplz collect RUN
  runplz ps --table
  runplz status last && runplz collect last
  runplz reconcile --table && runplz reconcile --apply

EXIT STATUS:
  The job's own exit code is runplz's exit code. 124: the job ran past its deadline
  (`timeout`, or `ssh.max_runtime_seconds` if shorter) and was killed, or the run reached
  its --cost-cap-usd (brev, runpod; ending and failure cost_cap) or --max-runtime-minutes
  (runpod), the job stopped on the box or never started. 2: bad usage or an
  invalid job (nothing ran). 3: a precondition on the box failed (nothing ran). 5: a setup
  step failed before the job ran (the message names it), or the job exited 0 but its
  outputs did not come back (ending {\"kind\":\"failed\",\"step\":\"collect\"}, exit_code
  still 0; after a job that failed, its own code stays and a warning says so).
  6, 7, 8 (modal): no Modal token here, Modal refused the token, Modal could not be
  reached within runplz's own deadline; nothing was left running.
  125: runplz itself failed.
  A job may exit with any of these codes itself: the record tells them apart
  (\"exit_code\" is the job's own code, null when it never ran; \"ending\" says how and
  where the run ended).";

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parse the process's arguments: `--NAME=VALUE` words after the job file that are not
/// runplz's own flags are moved behind `--` so clap files them as `params`.
pub fn parse_args() -> Cli {
    Cli::parse_from(split_params(std::env::args_os().collect()))
}

/// Move job parameters (`--NAME=VALUE` after the job file, NAME not a runplz flag) behind a
/// `--`, keeping everything else in place.
pub fn split_params(argv: Vec<OsString>) -> Vec<OsString> {
    let cli = Cli::command();
    let mut known: Vec<(String, bool)> = Vec::new();
    let mut out = Vec::new();
    let mut params = Vec::new();
    let mut iter = argv.into_iter();
    out.extend(iter.next()); // program name
    let mut seen_backend = false;
    let mut seen_job = false;
    // A word read ahead (after a flag alone) to be judged next.
    let mut pending: Option<OsString> = None;
    while let Some(a) = pending.take().or_else(|| iter.next()) {
        let s = a.to_string_lossy().into_owned();
        if s == "--" {
            // What follows `--` is the job's, whatever it looks like (the old way).
            params.extend(iter.by_ref());
            break;
        }
        if !seen_backend {
            seen_backend = !s.starts_with('-');
            // This backend's own flags (and the shared ones) stay runplz's.
            if let Some(sub) = cli.find_subcommand(&s) {
                known = sub
                    .get_arguments()
                    .filter_map(|a| {
                        Some((a.get_long()?.to_string(), a.get_action().takes_values()))
                    })
                    .collect();
            }
            out.push(a);
            continue;
        }
        if let Some(flag) = s.strip_prefix("--") {
            let name = flag.split('=').next().unwrap_or("");
            match known.iter().find(|(k, _)| k == name) {
                Some((_, takes_value)) => {
                    out.push(a);
                    if *takes_value && !flag.contains('=') {
                        out.extend(iter.next());
                    }
                }
                None if flag.contains('=') && !flag.starts_with('=') => params.push(a),
                // Another backend's flag (`--no-build` on ssh): clap says it is not this one's.
                None if !flag.contains('=') && any_backend_flag(&cli, name) => out.push(a),
                // `--steps 7`: the next word is the value (after the job file runplz takes
                // no other positional; before it, a word that names a job file is the job);
                // `--flag` alone is a boolean placeholder.
                None if !flag.is_empty() => {
                    match iter.next() {
                        Some(v)
                            if !v.to_string_lossy().starts_with("--")
                                && (seen_job || !looks_like_job(&v)) =>
                        {
                            let mut joined = a.clone();
                            joined.push("=");
                            joined.push(&v);
                            params.push(joined);
                        }
                        next => {
                            params.push(a);
                            // The next word is judged on its own (another flag).
                            if let Some(n) = next {
                                pending = Some(n);
                            }
                        }
                    }
                }
                None => out.push(a),
            }
            continue;
        }
        if !s.starts_with('-') || s == "-" {
            seen_job = true;
        }
        out.push(a);
    }
    if !params.is_empty() {
        out.push("--".into());
        out.extend(params);
    }
    out
}

/// Whether a word where the job file may come is one: `-`, a `.json` name, or a file.
fn looks_like_job(word: &std::ffi::OsStr) -> bool {
    word == "-" || word.to_string_lossy().ends_with(".json") || std::path::Path::new(word).is_file()
}

/// Whether `name` is a long flag of any backend.
fn any_backend_flag(cli: &clap::Command, name: &str) -> bool {
    cli.get_subcommands()
        .flat_map(|s| s.get_arguments())
        .any(|a| a.get_long() == Some(name))
}

/// Run the chosen backend.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let (c, backend) = match cli.backend {
        BackendCmd::Local(a) => (
            a.common,
            backend::Args::Local(backend::LocalArgs {
                no_build: a.no_build,
                native: a.native,
            }),
        ),
        BackendCmd::Ssh(a) => (
            a.common,
            backend::Args::Ssh(backend::SshArgs {
                host: a.host,
                ssh_config: a.ssh_config,
                no_keep: a.no_keep,
                detach: a.detach,
            }),
        ),
        BackendCmd::Brev(a) => (
            a.common,
            backend::Args::Brev(backend::BrevArgs {
                instance: a.instance,
                ssh_config: a.ssh_config,
                detach: a.detach,
                cost_cap_usd: a.cost_cap_usd,
            }),
        ),
        BackendCmd::Modal(a) => (
            a.common,
            backend::Args::Modal(backend::ModalArgs {
                detach: a.detach,
                dry_run: a.dry_run,
            }),
        ),
        BackendCmd::Runpod(a) => (
            a.common,
            backend::Args::Runpod(backend::RunpodArgs {
                gpu_id: a.gpu_id,
                datacenter_id: a.datacenter_id,
                max_gpu_price: a.max_gpu_price,
                cost_cap_usd: a.cost_cap_usd,
                max_runtime_minutes: a.max_runtime_minutes,
            }),
        ),
        BackendCmd::Status(a) => return commands::status::run(a),
        BackendCmd::Tail(a) => return commands::tail::run(a),
        BackendCmd::Kill(a) => return commands::kill::run(a),
        BackendCmd::Collect(a) => return commands::collect::run(a),
        BackendCmd::Ps(a) => return commands::ps::run(a),
        BackendCmd::Reconcile(a) => return commands::reconcile::run(a),
        BackendCmd::Slurm(a) => (
            a.common,
            backend::Args::Slurm(backend::SlurmArgs {
                host: a.host,
                ssh_config: a.ssh_config,
                nodes: a.nodes,
                array: a.slurm_array,
                detach: a.detach,
            }),
        ),
    };
    if let Some(file) = &c.sweep {
        return sweep(&c, &backend, file);
    }
    run::main(&RunOptions {
        job: c.job,
        outputs_dir: c.outputs_dir,
        vars: c.vars,
        vars_file: c.vars_file,
        params: c.params,
        env: c.env,
        env_file: c.env_file,
        allow_secrets: c.allow_secrets,
        plan: c.plan,
        json: c.json,
        quiet: c.quiet,
        grace: c.grace,
        backend,
    })
}

/// `--sweep`: this same runplz once per arg set, without the sweep's own flags.
fn sweep(c: &CommonArgs, backend: &backend::Args, file: &std::path::Path) -> anyhow::Result<Exit> {
    use runplz_core::{job, sweep, CliError};
    if c.job.as_os_str() == "-" {
        return Err(CliError::usage(
            "--sweep: the job file must be a file, not stdin (each run reads it)",
        ));
    }
    let sets = sweep::load(file)?;
    let j = job::load(&c.job)?;
    let outputs = match &c.outputs_dir {
        Some(d) => job::outputs::check_flag(&j.root, d)
            .map_err(|m| CliError::usage(format!("--outputs-dir: {m}")))?,
        None => j.outputs_dir(),
    };
    let parallel = match (c.parallel, backend.kind()) {
        (Some(n), _) => n as usize,
        (None, job::Backend::Brev | job::Backend::Runpod) => 1,
        // One job array: Slurm queues them all.
        (None, job::Backend::Slurm) => sets.len(),
        (None, _) => 4,
    };
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(Exit::ToolFailed, format!("finding runplz itself: {e}")))?;
    let args = without_sweep_flags(split_params(std::env::args_os().collect()));
    sweep::run(&sweep::SweepOptions {
        exe,
        args,
        outputs,
        sets,
        parallel,
        table: c.table,
        slurm_array: backend.kind() == job::Backend::Slurm,
    })
}

/// The arguments (program name dropped) minus `--sweep`, `--parallel`, `--table` and
/// `--outputs-dir`, which each member gets its own of; everything after `--` is kept.
pub fn without_sweep_flags(argv: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut iter = argv.into_iter().skip(1);
    while let Some(a) = iter.next() {
        let s = a.to_string_lossy();
        if s == "--" {
            out.push(a);
            out.extend(iter.by_ref());
            break;
        }
        if s == "--table" {
            continue;
        }
        if ["--sweep", "--parallel", "--outputs-dir"].contains(&s.as_ref()) {
            iter.next();
            continue;
        }
        if ["--sweep=", "--parallel=", "--outputs-dir="]
            .iter()
            .any(|p| s.starts_with(p))
        {
            continue;
        }
        out.push(a);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Exit codes, kept apart at the end of the file (and out of the CLI definition above) so
// that changes to the subcommands merge cleanly.

/// The exit codes runplz can return (its man pages' EXIT STATUS): the job's own code, or
/// 2 (nothing ran), 3 (a precondition on the box failed), 5 (a setup step failed), 124
/// (the job timed out, or the run reached its cost cap), 125 (runplz itself failed), 128+n (interrupted). Never 1 or 4 of
/// its own: a failing step before the job is 5, a failing collect is a warning.
pub const EXIT_CODES: &[Exit] = &[
    Exit::Ok,
    Exit::Code(0),
    Exit::Usage,
    Exit::Precondition,
    Exit::SetupFailed,
    Exit::NoMatch,
    Exit::NoToken,
    Exit::AuthRejected,
    Exit::Unreachable,
    Exit::TimedOut,
    Exit::ToolFailed,
    Exit::Signal(0),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn split(words: &[&str]) -> Vec<String> {
        split_params(words.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn params_after_the_job_move_behind_dashdash() {
        assert_eq!(
            split(&[
                "runplz",
                "ssh",
                "job.json",
                "--host",
                "box",
                "--steps=5",
                "--var",
                "a=1"
            ]),
            [
                "runplz",
                "ssh",
                "job.json",
                "--host",
                "box",
                "--var",
                "a=1",
                "--",
                "--steps=5"
            ]
        );
        assert_eq!(
            split(&["runplz", "ssh", "job.json", "--host=x", "--lr=0.1"]),
            ["runplz", "ssh", "job.json", "--host=x", "--", "--lr=0.1"]
        );
        // Each backend keeps only its own flags: `local` has no --host, so after the job
        // file `--host=x` fills a job parameter (and an unknown one is a usage error).
        assert_eq!(
            split(&["runplz", "local", "--native", "job.json", "--host=x", "--lr=0.1"]),
            ["runplz", "local", "--native", "job.json", "--", "--host=x", "--lr=0.1"]
        );
    }

    #[test]
    fn params_take_their_value_in_the_next_word_or_stand_alone() {
        assert_eq!(
            split(&["runplz", "local", "job.json", "--steps", "7", "--native"]),
            ["runplz", "local", "job.json", "--native", "--", "--steps=7"]
        );
        // A flag alone (a boolean placeholder), then a runplz flag, then another param.
        assert_eq!(
            split(&["runplz", "local", "job.json", "--fast", "--native", "--lr", "-0.1", "--no-x"]),
            [
                "runplz",
                "local",
                "job.json",
                "--native",
                "--",
                "--fast",
                "--lr=-0.1",
                "--no-x"
            ]
        );
        let cli =
            Cli::try_parse_from(split(&["runplz", "local", "job.json", "--steps", "7"])).unwrap();
        let BackendCmd::Local(a) = cli.backend else {
            panic!("not local")
        };
        assert_eq!(a.common.params, ["--steps=7"]);
    }

    #[test]
    fn params_may_come_before_the_job_or_without_one() {
        // JOB defaults to ./job.json, so a job arg may come first, or alone.
        assert_eq!(
            split(&["runplz", "ssh", "--steps=5", "job.json"]),
            ["runplz", "ssh", "job.json", "--", "--steps=5"]
        );
        assert_eq!(
            split(&["runplz", "local", "--steps", "5"]),
            ["runplz", "local", "--", "--steps=5"]
        );
        // Before the job, a flag alone does not swallow the job file.
        assert_eq!(
            split(&["runplz", "local", "--fast", "my.json"]),
            ["runplz", "local", "my.json", "--", "--fast"]
        );
        let cli = Cli::try_parse_from(split(&["runplz", "local", "--steps", "5"])).unwrap();
        let BackendCmd::Local(a) = cli.backend else {
            panic!("not local")
        };
        assert_eq!(a.common.job, PathBuf::from("job.json"));
        assert_eq!(a.common.params, ["--steps=5"]);
        // Another backend's flag is still clap's to refuse.
        let e = Cli::try_parse_from(split(&["runplz", "ssh", "--no-build", "job.json"]));
        assert!(e.unwrap_err().to_string().contains("--no-build"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }
}
