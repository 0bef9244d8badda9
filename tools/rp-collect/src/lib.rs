//! The `rp-collect` command line: flags (clap) turned into a runplz-core collection (rsync
//! down from a box, or an archive unpacked safely), and the `collect` record printed.
use clap::{ArgGroup, CommandFactory, Parser};
use runplz_core::collect;
use runplz_core::ssh::{Ssh, SshOptions, Target};
use runplz_core::{job, out, process, CliError};
use runplz_protocol::Exit;
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = r#"OUTPUT:
  One JSON record on stdout:
    {"type": "collect", "version": 1, "source": "gpu-box:runs/out", "dest": "out",
     "entries": [{"path": "metrics.json", "bytes": 1234, "sha256": "9f86d0..."}],
     "files": 1, "bytes": 1234, "duration_seconds": 0.42, "warnings": [],
     "earlier": {"files": 1, "paths": ["old.txt"]}, "dropped_links": ["key"]}
  "entries" lists every regular file that came (sorted by path), hashed here after the
  transfer; "files" counts them, as in every other record. "earlier" counts the files
  already in DIR that did not come this time (kept: nothing local is ever deleted; the
  first 100 paths). "dropped_links" names the symlinks on the box that pointed out of
  REMOTE_DIR and were left behind. Warnings and both lists are also printed on stderr;
  on a terminal, so is a live line while rsync brings the files (elapsed time, files and
  bytes so far), ending in what came.

LOCAL FILES:
  Outputs never change what is already here: no owner or group comes from the box (files
  belong to whoever runs rp-collect, root included), a new file's mode is the box's masked
  by the local umask, an existing file keeps its mode, and DIR's own mode, owner and times
  are left alone. A symlink already inside DIR is replaced by what comes, never written
  through (DIR itself is the folder you named, followed like any path you give). With
  runplz, the outputs folder must be inside the job's folder and reached through no
  symlink; rp-collect takes --to as given, --job or not (the job only supplies ssh
  settings).

FROM A BOX:
  rsync -a over the same ssh options as every runplz tool (one shared connection).
  REMOTE_DIR is absolute, or relative to the home; `~` is the home and `~/x` is x in it,
  as for every runplz tool (`~user` is refused). With --job, the job's ssh.user, ssh.port
  and ssh.ssh_key_path are used for the connection. A missing
  REMOTE_DIR is an empty collection with a warning, not an error. Symlinks pointing out of
  REMOTE_DIR are skipped (rsync --safe-links).

FROM AN ARCHIVE:
  A .tar.gz (or plain .tar) is read whole and checked before anything is written:
  entries with `..`, absolute paths, symlinks or hardlinks that leave DIR, entries written
  through a symlink, and device files or pipes are refused (exit 4). Over 200 MiB
  (compressed, or unpacked in total) is a warning; over 256 MiB is refused (exit 4). A
  truncated or corrupt archive is an error (exit 1). In every refusal or error, nothing
  is extracted.

EXIT STATUS:
  0    collected (possibly with warnings)
  1    the transfer failed (ssh or rsync failed; the archive is truncated or corrupt)
  2    bad usage (a missing archive, a bad --host or job file); nothing was done
  4    refused: the archive is too large or has an unsafe entry; nothing was extracted
  125  rsync or ssh is not installed here

EXAMPLES:
  rp-collect --host gpu-box --from runs/job1/out --to ./out
  rp-collect job.json --host gpu-box --run-id hello-1732360000-4242-9f3c01ab
  rp-collect --from-tar outputs.tar.gz --to ./out | jq -r '.entries[] | "\(.sha256)  \(.path)"'"#;

/// Bring a run's outputs back: rsync a folder down from a box, or unpack an outputs
/// archive safely. Prints what came, with a sha256 per file.
#[derive(Debug, Parser)]
#[command(name = "rp-collect", version, after_long_help = AFTER_HELP)]
#[command(group(ArgGroup::new("source").required(true).args(["from", "from_tar", "run_id"])))]
pub struct Cli {
    /// The job file, as for every runplz tool (`-` reads stdin; default `./job.json`, read
    /// only when --to is not given): its outputs folder is the default --to, and with --host
    /// its `ssh.user`, `ssh.port` and `ssh.ssh_key_path` are used for the connection.
    #[arg(value_name = "JOB", conflicts_with = "job")]
    pub job_file: Option<PathBuf>,

    /// The box: `[user@]host[:port]` or an alias from your ssh config (with --from).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// The folder on the box to bring back (with --host). `~` is the home and `~/x` is x in
    /// it; another relative path is relative to the home (`~user` is refused).
    #[arg(long, value_name = "REMOTE_DIR", requires = "host")]
    pub from: Option<String>,

    /// The run whose outputs to bring back (with --host): --from is then where runplz left
    /// them, `runplz-out/<ID>` (the `run_id` of its record).
    #[arg(long, value_name = "ID", requires = "host", conflicts_with = "from")]
    pub run_id: Option<String>,

    /// The job file, as the JOB argument (kept for scripts that pass it this way).
    #[arg(long, value_name = "JOB")]
    pub job: Option<PathBuf>,

    /// An outputs archive (.tar.gz or .tar) to unpack instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["host", "from", "run_id", "ssh_config"])]
    pub from_tar: Option<PathBuf>,

    /// The local folder the files go to (created if needed); default: the job's outputs
    /// folder (its `outputs_dir`, else `out/` beside the job file), as runplz.
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,

    /// An ssh config file passed to ssh and rsync as `-F` (env: RUNPLZ_SSH_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The exit codes rp-collect can return (its man page's EXIT STATUS): 1 when the transfer
/// failed or the archive is corrupt, 4 when a limit refused it, 125 without ssh or rsync
/// here, 128+n when interrupted.
pub const EXIT_CODES: &[Exit] = &[
    Exit::Ok,
    Exit::Failed,
    Exit::Usage,
    Exit::Refused,
    Exit::ToolFailed,
    Exit::Signal(0),
];

/// Run the tool.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    // The job file: given, or ./job.json when a default needs it (the outputs folder).
    let given = cli.job_file.as_ref().or(cli.job.as_ref());
    let needed = cli.to.is_none();
    let job = match given {
        Some(f) => Some(job::load(f)?),
        None if needed => {
            Some(job::load(Path::new("job.json")).map_err(|e| {
                if needed && !Path::new("job.json").exists() {
                    CliError::usage(
                        "--to: not given, and no job file to take the outputs folder from (JOB, default ./job.json)",
                    )
                } else {
                    e
                }
            })?)
        }
        None => None,
    };
    let to = match (&cli.to, &job) {
        (Some(t), _) => t.clone(),
        (None, Some(j)) => j.outputs_dir(),
        (None, None) => unreachable!("a job is loaded when --to is missing"),
    };
    if to.as_os_str().is_empty() {
        return Err(CliError::usage(
            "--to: found an empty path, expected a folder",
        ));
    }
    process::install_signal_handlers();
    let from = cli
        .from
        .clone()
        .or(cli.run_id.as_deref().map(collect::box_outputs));
    let collected = match (&cli.from_tar, &cli.host, &from) {
        (Some(archive), _, _) => collect::from_tar(archive, &to)?,
        (None, Some(host), Some(from)) => {
            let opts = SshOptions::for_job(job.as_ref(), cli.ssh_config.as_deref());
            let ssh = Ssh::new(Target::parse(host)?, opts)?;
            process::require("ssh", "install OpenSSH (apt-get install openssh-client)")?;
            let live = runplz_core::progress::on_tty("rp-collect", "collect");
            let began = std::time::Instant::now();
            let got = collect::rsync_down(&ssh, from, &to)?;
            if let Some(l) = live {
                runplz_core::progress::totals(runplz_core::progress::moved(
                    got.files as u64,
                    got.bytes,
                ));
                l.end(true, began.elapsed().as_secs_f64());
            }
            got
        }
        _ => {
            return Err(CliError::usage(
                "give --host and --from (or --run-id), or --from-tar",
            ))
        }
    };
    for w in collected.warnings.iter().chain(&collected.notes()) {
        out::warn("rp-collect", w);
    }
    out::print_record("collect", &collected.record())?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        super::command().debug_assert();
    }
}
