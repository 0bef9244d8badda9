//! The `rp-probe` command line: flags (clap) turned into a [`Wanted`] and ssh options, one
//! probe, and the `probe` record printed (or a table with `--table`).
use clap::{ArgGroup, CommandFactory, Parser};
use runplz_core::probe::{self, Level, Report, Wanted};
use runplz_core::ssh::{Ssh, SshOptions, Target};
use runplz_core::{job, out, process, CliError};
use runplz_protocol::Exit;
use std::path::PathBuf;

const AFTER_HELP: &str = r#"OUTPUT:
  One JSON record on stdout:
    {"type": "probe", "version": 1, "host": "gpu-box" (null with --local),
     "facts": {"cpus": 8, "memory_gb": 31.3, "disk_free_gb": 80.1, "disk_total_gb": 96.7,
               "shm_free_gb": 15.6, "gpus": [{"name": "Tesla T4", "memory_gb": 15.0, "mig": []}],
               "gpu_count": 1, "gpu_reason": null, "docker": true, "docker_nvidia": true,
               "rsync": true, "os": "Ubuntu 22.04.4 LTS", "arch": "x86_64",
               "unreadable": [{"fact": "...", "message": "could not read ...: ..."}]},
     "findings": [{"level": "warning" | "failure", "check": "min_cpu", "wanted": 8,
                   "found": 2, "message": "vCPUs: found 2, wanted at least 8 (min_cpu)"}],
     "ok": true}
  Sizes are GB meaning GiB (2^30 bytes), as the kernel, df and nvidia-smi count them. A fact
  that could not be read is null, with its reason in "unreadable" and in a finding; it is
  never guessed. No nvidia-smi, or one that fails, means gpu_count 0 with "gpu_reason".

  Checks ("check" in findings): gpu, num_gpus, min_cpu, min_memory, min_gpu_memory,
  min_disk (the job's resources: a mismatch is a warning; sizes within 10% below the ask
  still match, as a "16 GB" T4 shows 15 GiB; with --local, fewer GPUs than the job needs
  is a failure, as a local run gets only this machine's), shm_gb, disk_free_gb, gpu_count,
  gpu_memory_gb (preconditions: below the minimum a warning, below half of it a failure),
  mig (a GPU split into MIG slices: a job gets one slice), unreadable (a fact no check
  needed could not be read).

  Warnings are also printed on stderr. With any failure, rp-probe prints
  "refusing to start a doomed run: ..." on stderr and exits 3.

EXIT STATUS:
  0    the box was probed; warnings only
  1    the box could not be probed (ssh failed, no answer in 90 s)
  2    bad usage or an invalid job file; nothing was contacted
  3    a precondition is below half its minimum: the run would be doomed
  125  ssh (or bash, for --local) is not installed

EXAMPLES:
  rp-probe --host gpu-box job.json
  rp-probe --host me@10.0.0.5:2222 --gpu A100 --num-gpus 2 --shm-gb 16 --table
  rp-probe --local --min-memory 32
  rp-probe --host gpu-box job.json | jq '.findings[] | .message'"#;

/// See what a box really has (CPUs, memory, disk, /dev/shm, GPUs, docker, rsync, OS) and
/// check it against a job's `resources` and `preconditions`.
///
/// One ssh round trip runs one small shell script on the box; `--local` runs the same
/// script on this machine. Flags override the job file's values.
#[derive(Debug, Parser)]
#[command(name = "rp-probe", version, after_long_help = AFTER_HELP)]
#[command(group(ArgGroup::new("where").required(true).args(["host", "local"])))]
pub struct Cli {
    /// The job file whose `resources` and `preconditions` are checked (`-` reads stdin).
    /// Its `ssh.user`, `ssh.port` and `ssh.ssh_key_path` are used to connect.
    #[arg(value_name = "JOB")]
    pub job: Option<PathBuf>,

    /// The box: `[user@]host[:port]` or an alias from your ssh config.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// Probe this machine, without ssh.
    #[arg(long)]
    pub local: bool,

    /// An ssh config file passed to ssh as `-F` (env: RUNPLZ_SSH_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// Print a table for people on stdout instead of the JSON record.
    #[arg(long)]
    pub table: bool,

    /// GPU model wanted, matched by name words, ignoring case: `A100` matches
    /// `NVIDIA A100-SXM4-80GB`, `A10` does not.
    #[arg(
        long,
        value_name = "MODEL",
        help_heading = "Resources (override the job)"
    )]
    pub gpu: Option<String>,

    /// GPUs of that model wanted (default 1 when a model or GPU memory is asked).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Resources (override the job)")]
    pub num_gpus: Option<u32>,

    /// Minimum vCPUs.
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Resources (override the job)")]
    pub min_cpu: Option<f64>,

    /// Minimum RAM, GB.
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Resources (override the job)")]
    pub min_memory: Option<f64>,

    /// Minimum memory per GPU, GB.
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Resources (override the job)")]
    pub min_gpu_memory: Option<f64>,

    /// Minimum size of the disk holding `$HOME`, GB.
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Resources (override the job)")]
    pub min_disk: Option<f64>,

    /// Precondition: free /dev/shm, GB.
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Preconditions (override the job)")]
    pub shm_gb: Option<f64>,

    /// Precondition: free disk in `$HOME`, GB.
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Preconditions (override the job)")]
    pub disk_free_gb: Option<f64>,

    /// Precondition: GPUs visible.
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Preconditions (override the job)")]
    pub gpu_count: Option<f64>,

    /// Precondition: memory per GPU, GB.
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Preconditions (override the job)")]
    pub gpu_memory_gb: Option<f64>,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("found {s:?}, expected a positive number")),
    }
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The exit codes rp-probe can return (its man page's EXIT STATUS): 1 when the box could
/// not be probed, 3 for a doomed run, 125 without ssh (or bash), 128+n when interrupted.
pub const EXIT_CODES: &[Exit] = &[
    Exit::Ok,
    Exit::Failed,
    Exit::Usage,
    Exit::Precondition,
    Exit::ToolFailed,
    Exit::Signal(0),
];

/// Run the tool.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    // Everything is validated before the box is contacted.
    if cli.gpu.as_deref().is_some_and(|g| g.trim().is_empty()) {
        return Err(CliError::usage(
            "--gpu: found an empty name, expected a GPU model such as A100",
        ));
    }
    let job = cli.job.as_deref().map(job::load).transpose()?;
    let flags = Wanted {
        gpu: cli.gpu.clone(),
        num_gpus: cli.num_gpus,
        min_cpu: cli.min_cpu,
        min_memory: cli.min_memory,
        min_gpu_memory: cli.min_gpu_memory,
        min_disk: cli.min_disk,
        shm_gb: cli.shm_gb,
        disk_free_gb: cli.disk_free_gb,
        gpu_count: cli.gpu_count,
        gpu_memory_gb: cli.gpu_memory_gb,
    };
    let wanted = flags.or(job.as_ref().map(Wanted::from_job).unwrap_or_default());
    let ssh = match &cli.host {
        Some(h) => {
            let opts = SshOptions::for_job(job.as_ref(), cli.ssh_config.as_deref());
            let ssh = Ssh::new(Target::parse(h)?, opts)?;
            process::require("ssh", "install OpenSSH (apt-get install openssh-client)")?;
            Some(ssh)
        }
        None => {
            process::require("bash", "install bash")?;
            None
        }
    };
    process::install_signal_handlers();

    let facts = probe::probe(ssh.as_ref())?;
    let report = Report::new(cli.host.clone(), facts, &wanted);
    if cli.table {
        out::print_raw(&report.table())?;
    } else {
        out::print_record("probe", &report.record())?;
    }
    let failures: Vec<&str> = report
        .findings
        .iter()
        .filter(|f| f.level == Level::Failure)
        .map(|f| f.message.as_str())
        .collect();
    for f in report.findings.iter().filter(|f| f.level == Level::Warning) {
        out::warn("rp-probe", &f.message);
    }
    if failures.is_empty() {
        Ok(Exit::Ok)
    } else {
        out::note(
            "rp-probe",
            format!("refusing to start a doomed run: {}", failures.join("; ")),
        );
        Ok(Exit::Precondition)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        super::command().debug_assert();
    }
}
