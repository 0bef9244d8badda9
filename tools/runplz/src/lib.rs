//! The `runplz` command line: a backend subcommand, a job file, flags, and `--NAME=VALUE`
//! words after the job file that fill the job's `args`. Everything else is
//! `runplz_core::run`, which calls the same library functions as the rp-* tools.

use clap::{Args, CommandFactory, Parser, Subcommand};
use runplz_core::backend;
use runplz_core::run::{self, RunOptions};
use runplz_protocol::Exit;
use std::ffi::OsString;
use std::path::PathBuf;

/// Run one job.json, unchanged, on this machine, on an SSH box you own, on a Brev box, or on
/// Modal: the repo goes up minus secrets (the git work tree holding the job file, or its
/// `sync.root`), the job runs in the job file's folder inside it (or its `workdir`) under a
/// hard deadline, and `$RUNPLZ_OUT` comes back to `./out/`.
///
/// stdout carries one JSON run record at the end; progress (which step, how long, bytes
/// shipped) goes to stderr.
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
    /// Run on a Brev box (not built yet: validates the job and stops).
    Brev(BrevArgs),
    /// Run on Modal (not built yet: validates the job and stops).
    Modal(ModalArgs),
}

/// The job file and the flags every backend takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The job file (`-` reads it from stdin).
    #[arg(value_name = "JOB")]
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
    /// `--NAME=VALUE` words after the job file fill the job's `args` and win over `--var`.
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
}

/// `runplz brev`.
#[derive(Debug, Args)]
pub struct BrevArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The instance name.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// An ssh config file passed to ssh and rsync as `-F`.
    #[arg(long, value_name = "FILE", env = "RUNPLZ_SSH_CONFIG")]
    pub ssh_config: Option<PathBuf>,
}

/// `runplz modal`.
#[derive(Debug, Args)]
pub struct ModalArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

const AFTER_HELP: &str = "\
RUN RECORD (stdout):
  {\"type\":\"run\",\"version\":1,\"backend\":\"ssh\",\"job\":\"hello\",\"run_id\":\"...\",
   \"host\":\"box\"|null,\"mode\":\"docker\"|\"native\",\"exit_code\":0,
   \"ending\":{\"kind\":\"exited\",\"code\":0},\"steps\":[{\"step\":\"sync\",\"seconds\":0.4,\"ok\":true}],
   \"sync\":{\"files\":12,\"bytes\":3456},\"outputs\":{\"dir\":\"/abs/job/out\",\"files\":1,\"bytes\":42,
   \"earlier\":{\"files\":1,\"paths\":[\"old.txt\"]},\"dropped_links\":[]},\"env_passed\":[\"HF_TOKEN\"],
   \"duration_seconds\":3.2}
  \"ending\" is one of {\"kind\":\"exited\",\"code\":N}, {\"kind\":\"signaled\",\"signal\":N},
  {\"kind\":\"timed_out\",\"signal\":N|null}, {\"kind\":\"interrupted\",\"signal\":N,\"step\":S} or
  {\"kind\":\"failed\",\"step\":S}; steps are acquire, probe, sync, image, venv, run, collect.
  \"outputs\" is null when they did not come back. Its \"earlier\" counts the files already in
  the outputs folder that this run did not bring (from earlier runs: never deleted; the
  first 100 paths), and \"dropped_links\" names the symlinks on the box that pointed out of
  $RUNPLZ_OUT and were left behind; both are also said on stderr.
  \"env_passed\" names the variables passed from runplz's environment (the job's
  \"pass_env\", --env) or an --env-file, sorted; never their values.

SECRETS:
  Keep tokens out of job.json (it ships with the repo and sits in git): list their names in
  \"pass_env\", e.g. \"pass_env\": [\"WANDB_API_KEY\", \"HF_TOKEN\"], and set them in
  runplz's environment, or pass --env NAME / --env-file FILE. Precedence, lowest first: the
  image steps' env, the job's env, pass_env, --env-file, --env. The values travel over ssh's
  stdin into a private file the job's shell reads and deletes before the job starts; they
  never appear on a command line, in the run record, the run state, a --plan script or an
  error message. A literal env value that looks like a credential gets a warning.
  On a box, everything runplz creates (~/runplz/<job>, ~/runplz-runs, ~/runplz-out,
  ~/.runplz with its runs, locks and venvs) is private to the box user: 0700 folders,
  synced files without group or other permissions.

WHERE THE JOB RUNS ON A BOX:
  runplz ssh syncs the repo into ~/runplz/<job> (incrementally), then copies that,
  hard-linked (no data copied), to ~/runplz-runs/<run id>: the image is built from that
  copy, the venv's steps and the job run in it (the job in <copy>/<its workdir>). So two
  runs of one job at once, from two checkouts say, each run the code they shipped. A lock
  on the box (flock; without it a warning, and the run goes on unlocked) keeps one run's
  sync and copy apart from another's. The copy is removed after the run (it stays, with a
  warning, when the connection to a job that may still run was lost, or when runplz was
  killed): what the job writes into its folder goes with it, so write what you want back
  to $RUNPLZ_OUT. Its files are hard links to ~/runplz/<job>: a job that rewrites a shipped
  file in place changes that copy too (write a new file and rename it instead); where hard
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
  If the connection is lost while the job runs (ending failed at run) and the outputs then
  come back over a fresh connection, runplz says the job may still be running on the box,
  with the ssh command that stops it.

RUN STATE:
  Before anything happens, runplz writes $XDG_STATE_HOME/runplz/runs/<run_id>.json
  (default ~/.local/state/...), and rewrites it atomically as each step starts and ends:
  the backend, target, mode, runplz's pid, the step in progress, the steps done, a handle
  to the job (rp-exec host and run id, the box's workspace and outputs folder, the
  container) and whether the place was released. A killed runplz leaves it saying where it
  stopped.

EXAMPLES:
  runplz local examples/hello/job.json --native
  runplz local examples/hello/job.json --steps=5
  runplz ssh job.json --host me@gpu-box:2222 --var steps=100
  runplz ssh job.json --host box --plan > run.sh && sh run.sh
  HF_TOKEN=... runplz ssh job.json --host box --env HF_TOKEN

EXIT STATUS:
  The job's own exit code is runplz's exit code. 124: the job ran past its deadline
  (`timeout`, or `ssh.max_runtime_seconds` if shorter) and was killed. 2: bad usage or an
  invalid job (nothing ran). 3: a precondition on the box failed (nothing ran). 5: a setup
  step failed before the job ran (the message names it), or the job exited 0 but its
  outputs did not come back (ending {\"kind\":\"failed\",\"step\":\"collect\"}, exit_code
  still 0; after a job that failed, its own code stays and a warning says so).
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
    while let Some(a) = iter.next() {
        let s = a.to_string_lossy().into_owned();
        if s == "--" {
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
                None if seen_job && flag.contains('=') => params.push(a),
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
            }),
        ),
        BackendCmd::Brev(a) => (
            a.common,
            backend::Args::Brev(backend::BrevArgs {
                instance: a.instance,
                ssh_config: a.ssh_config,
            }),
        ),
        BackendCmd::Modal(a) => (a.common, backend::Args::Modal(backend::ModalArgs {})),
    };
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
        backend,
    })
}

// ---------------------------------------------------------------------------------------
// Exit codes, kept apart at the end of the file (and out of the CLI definition above) so
// that changes to the subcommands merge cleanly.

/// The exit codes runplz can return (its man pages' EXIT STATUS): the job's own code, or
/// 2 (nothing ran), 3 (a precondition on the box failed), 5 (a setup step failed), 124
/// (the job timed out), 125 (runplz itself failed), 128+n (interrupted). Never 1 or 4 of
/// its own: a failing step before the job is 5, a failing collect is a warning.
pub const EXIT_CODES: &[Exit] = &[
    Exit::Ok,
    Exit::Code(0),
    Exit::Usage,
    Exit::Precondition,
    Exit::SetupFailed,
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
    fn words_before_the_job_are_left_for_clap_to_judge() {
        assert_eq!(
            split(&["runplz", "ssh", "--steps=5", "job.json"]),
            ["runplz", "ssh", "--steps=5", "job.json"]
        );
        let e = Cli::try_parse_from(split(&["runplz", "ssh", "--steps=5", "job.json"]));
        assert!(e.unwrap_err().to_string().contains("--steps"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }
}
