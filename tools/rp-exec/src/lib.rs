//! The `rp-exec` command line: flags (clap) turned into runplz-core's `ExecOptions`, the run,
//! and the `exec` record printed on stdout.
use clap::{CommandFactory, Parser};
use runplz_core::exec::{self, ExecOptions};
use runplz_core::flags::parse_secs;
use runplz_core::ssh::{Ssh, SshOptions, Target};
use runplz_core::{job, out, process};
use runplz_protocol::Exit;
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = concat!(
    "OUTPUT: the command's stdout is rp-exec's stdout and its stderr rp-exec's stderr, live, as with `ssh box cmd` or `timeout`; rp-exec's own lines go to stderr, prefixed `rp-exec:`. With --json the command's stdout goes to stderr too (in order with its stderr) and stdout carries one JSON record when the command ran, was not found, or was stopped:\n\n",
    r#"{"type":"exec","version":1,"host":"box"|null,"run_id":"...","argv":["..."],"exit_code":N,"ending":{"kind":"exited","code":N},"duration_seconds":1.234,"log":"FILE"|null}"#,
    "\n\nexit_code is rp-exec's own exit code (see EXIT STATUS). ending says how the command ended, tagged by kind: ",
    r#"{"kind":"exited","code":N} it exited by itself (126 could not be run, 127 not found); {"kind":"signaled","signal":N} a signal that was not rp-exec's killed it (on a box it is read from the shell's 128+n status, so a command that exits 130 by itself reads as signal 2); {"kind":"timed_out","signal":N|null} it ran past --timeout and was stopped (signal: what ended it, null if it exited once asked); {"kind":"inactive","seconds":N,"signal":N|null} it printed nothing for --max-inactivity seconds and --inactivity-action terminate stopped it (exit 124); {"kind":"interrupted","signal":N,"ended_by":N|null} rp-exec got signal N and passed it on (ended_by: the signal that ended the command, null if it exited by itself, 9 if it outlived the grace)."#,
    " Readers should treat a kind they do not know as a failure. Nothing is printed on stdout when rp-exec itself failed (exit 2 or 125).\n\n",
    "EXIT STATUS: as timeout(1), the command's own code; 124 it timed out; 125 rp-exec failed (ssh could not connect, setup on the box failed, the connection was lost), never confused with the command's own 255; 126 it could not be run; 127 it was not found; 128+n it was killed by signal n, or rp-exec was interrupted by signal n (130 for Ctrl-C).\n\n",
    "STOPPING: on timeout the command's process group gets TERM; on SIGINT, SIGTERM or SIGHUP to rp-exec it gets that same signal (Ctrl-C reaches the job as INT, so a Python job gets its KeyboardInterrupt). After --grace seconds, KILL. Every process that still carries RUNPLZ_RUN_ID=<run id> outside the group (a grandchild that called setsid) gets the same, once, and so, on a box, does every process left in the command's session (it runs under setsid: one that cleared its environment with env -i but did not call setsid again); leftovers are also killed when the command ends by itself. A process that did both (setsid and a cleared environment) cannot be told apart for sure from the user's other processes and is not killed: when the run ends, rp-exec names on stderr, with a `kill -KILL PID...` command, every process of the user that started during the run, is an orphan (its parent is pid 1, a user systemd, or here rp-exec itself, the child subreaper of the run), carries no RUNPLZ_RUN_ID and is in no session of another run recorded under $HOME/.runplz/runs/ (a process someone else started during the run still has its shell or sshd above it and is not named). On a box a second ssh call does this (killing ssh does not kill a remote command); the deadline and the inactivity watch are enforced on the box itself, by the run's supervisor.\n\n",
    "ON A BOX (--host): the command outlives the connection. A first ssh call stores its environment and stdin in the run folder $HOME/.runplz/runs/<run id>/ on the box (the call's script and the environment go on ssh's stdin, read by `sh -s`, never on a command line, where `ps` would show them; with --stdin, the script goes on the command line and the environment and the command's stdin follow on ssh's stdin) and starts a supervisor there under `setsid -f` (util-linux 2.31 or later), in a session of its own, which runs the command in another session of its own. The supervisor's script is the same for every run of one runplz: it is kept on the box as $HOME/.runplz/lib/supervise-<hash of it> (private to the box user), with the reaper's functions and the inactivity watch beside it in supervise-<hash>-more, read only by a run that has a deadline or a watch or left something to stop, sent the first time (this machine notes which boxes have it in $XDG_STATE_HOME/runplz/exec-lib/) and again only where it is gone (a launch that finds it missing starts nothing, and the next brings it). The same call then follows the command for up to 1 s (what it prints meanwhile shows when that call returns); a command that ended by then costs that one call, which also empties its run folder (out, err, diag, the command) once rp-exec has answered that everything arrived, and marks it read: removing it would cost that call a process's start, so a later start or stop on the box removes such folders, four at a time, in the background. Past that, rp-exec follows it by polling, one short ssh call after another, each bringing the output past what it already has: when the connection drops (Wi-Fi gone, sshd restarted, the ssh client killed) it says so, reconnects with backoff (1, 2, 4, 8, then every 15 s, for up to 15 minutes) and goes on from the same byte, so no line is lost or shown twice; the job never notices. If rp-exec itself is killed (kill -9), the job runs on to its end or deadline. A run id that already has a job on the box is refused (exit 2), so a start is never repeated; when the connection broke during the start, rp-exec asks the box and follows what is there. The run folder holds: launched (the supervisor was started); out and err (the command's stdout and stderr, append-only; with --json both in out, in order); diag (the inactivity watch's snapshots); pgid and wsid (the command's and the supervisor's sessions, while it runs); exit (`CODE REASON` once it ended, REASON exited, timed_out, inactive or cost_cap (the deadline a runplz run's cost cap set); written last); cancel (a stop came; a start still on its way refuses); read (rp-exec read it to its end in that first call; emptied, as above). Where rp-exec read the end by polling, it removes the folder then; one never read to its end is removed a week after the run ended.\n\n",
    "ENVIRONMENT: --env-file FILE is read first, then each --env K=V (which replaces the file's K). Everything is checked before anything runs (a bad file is exit 2 naming the file, the key, what was found and what was expected). On a box the values travel on ssh's stdin into a private file that the command's shell reads and deletes before the command starts.\n\n",
    "EXAMPLES:\n\n",
    "rp-exec --timeout 3600 -- python train.py --steps 100\n\n",
    "rp-exec --host me@gpu-box --workdir '~/runplz/my-job' --env WANDB_MODE=offline --log run.log -- bash -lc 'nvidia-smi && python train.py'\n\n",
    "rp-exec --host box --timeout 60 -- ./make-report > report.txt\n\n",
    "rp-exec --json --host box --timeout 60 -- ./job | jq .exit_code\n\n",
    "rp-exec --json --timeout 60 -- ./job | jq -r .ending.kind\n\n",
    "rp-exec --host gpu-box --job job.json --env-file secrets.json -- python train.py",
);

/// Run a command here or on an SSH box under a hard wall-clock limit.
///
/// The command is an argv run as is (no shell; write `bash -lc '...'` for one). Its stdout and
/// stderr stream live to rp-exec's stdout and stderr (and --log); with --json its stdout goes
/// to stderr and a JSON record to stdout. Every
/// process of the run carries RUNPLZ_RUN_ID in its environment, so what it starts is stopped
/// with it on a timeout or Ctrl-C (a daemon that left the session and cleared its environment
/// is named, not killed; see STOPPING). With --host the command runs on the box under
/// `setsid` in its own session, beside a supervisor, and outlives the connection: rp-exec
/// follows its output, reconnecting when the connection drops (see ON A BOX).
#[derive(Debug, Parser)]
#[command(name = "rp-exec", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Run on this box: `[user@]host[:port]` or an ssh-config alias. Without it, run here.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// A job.json (`-` reads stdin) whose `ssh.user`, `ssh.port` and `ssh.ssh_key_path` are
    /// used for the connection (with --host; a user or port in --host wins).
    #[arg(long, value_name = "JOB", requires = "host")]
    pub job: Option<PathBuf>,

    /// ssh config file, passed to ssh as `-F` (default: $RUNPLZ_SSH_CONFIG, else ssh's own).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// Hard wall-clock limit in seconds (fractions allowed, at most 2592000, 30 days); past it
    /// the command is stopped and rp-exec exits 124. Without it the command runs until it
    /// ends.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,

    /// The inactivity watch: act when the command prints nothing for this many seconds (at
    /// most 2592000); see --inactivity-action. On a box it runs there, in whole seconds (and
    /// under runplz a new file in the run's outputs folder counts as activity too).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub max_inactivity: Option<Duration>,

    /// What the inactivity watch does: `diagnose` says on stderr what the command's processes
    /// are doing (ps, load, GPUs, its last lines) and lets it run on, each time it is quiet
    /// that long;
    /// `terminate` stops it as at a deadline (exit 124, ending "inactive").
    #[arg(long, value_name = "ACTION", value_parser = ["diagnose", "terminate"], default_value = "diagnose", requires = "max_inactivity")]
    pub inactivity_action: String,

    /// Seconds between TERM and KILL when the command is stopped (at most 2592000).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "5")]
    pub grace: Duration,

    /// Working directory, created when missing. `~` is the home directory and `~/x` is x in
    /// it, here and on a box (`~user` is refused); other relative paths are relative to the
    /// home on a box, and to the current directory here.
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Set K=V in the command's environment (repeatable; K must be a shell identifier).
    /// The value shows in `ps` on this machine while rp-exec runs: pass secrets with
    /// --env-file. A --env K=V replaces the --env-file's K.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,

    /// Read the command's environment from FILE, a JSON object of strings, e.g.
    /// `{"WANDB_API_KEY": "...", "MODE": "offline"}` (keys shell identifiers). Values travel
    /// byte for byte and never appear on a command line. Applied before --env.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// Feed this file to the command's stdin (default: /dev/null), e.g. a Dockerfile for
    /// `docker build -f - .` or a script for `bash -s`.
    #[arg(long, value_name = "FILE")]
    pub stdin: Option<PathBuf>,

    /// Also append the command's output to this file.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Print the JSON record on stdout (see OUTPUT), sending the command's stdout to
    /// stderr; as `cargo --message-format=json`.
    #[arg(long)]
    pub json: bool,

    /// The run id the command carries as RUNPLZ_RUN_ID ([A-Za-z0-9._-]; default: a fresh one
    /// from the time, rp-exec's pid and random bits).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// The command and its arguments (after `--` when an argument starts with `-`).
    #[arg(
        value_name = "CMD",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("found {s:?}, expected K=V"))
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The exit codes rp-exec can return (its man page's EXIT STATUS), as timeout(1): the
/// command's own code, 124, 125 for rp-exec's own failures, 126, 127, 128+n. Never 1 of
/// its own (its failures are 125, so a command's 1 is the command's).
pub const EXIT_CODES: &[Exit] = &[
    Exit::Ok,
    Exit::Code(0),
    Exit::Usage,
    Exit::TimedOut,
    Exit::ToolFailed,
    Exit::CannotInvoke,
    Exit::NotFound,
    Exit::Signal(0),
];

/// Run the tool.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    process::install_signal_handlers();
    // Here rp-exec runs one job and nothing beside it, so the job's orphans become ours and
    // a job that left none costs no /proc scan (see exec::reap::no_descendants).
    if cli.host.is_none() {
        exec::reap::become_subreaper();
    }
    let job = cli.job.as_deref().map(job::load).transpose()?;
    let env = match &cli.env_file {
        Some(f) => exec::envfile::merge(exec::envfile::read(f)?, cli.env),
        None => cli.env,
    };
    let opts = ExecOptions {
        argv: cli.command,
        timeout: cli.timeout,
        grace: cli.grace,
        inactivity: cli.max_inactivity.map(|after| exec::Inactivity {
            after,
            terminate: cli.inactivity_action == "terminate",
        }),
        workdir: cli.workdir,
        env,
        log: cli.log,
        stamped_log: None,
        run_id: cli.run_id.unwrap_or_else(|| exec::new_run_id("")),
        pass_stdout: !cli.json,
        watch_dir: None,
        cost_cap: None,
        stdin: match &cli.stdin {
            Some(f) => {
                std::fs::File::open(f).map_err(|e| {
                    runplz_core::CliError::usage(format!(
                        "--stdin: cannot read {}: {e}",
                        f.display()
                    ))
                })?;
                Some(exec::Input::File(f.clone()))
            }
            None => None,
        },
    };
    opts.validate()?;
    let ssh = match &cli.host {
        Some(h) => Some(Ssh::new(
            Target::parse(h)?,
            SshOptions::for_job(job.as_ref(), cli.ssh_config.as_deref()),
        )?),
        None if cli.ssh_config.is_some() => {
            runplz_core::usage_bail!("--ssh-config is only used with --host")
        }
        None => None,
    };
    let report = exec::run(&opts, ssh.as_ref())?;
    if cli.json {
        out::print_record("exec", &report.record())?;
    }
    Ok(report.exit())
}
