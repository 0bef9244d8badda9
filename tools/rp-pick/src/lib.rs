//! The `rp-pick` command line: flags (clap) over the job's `resources` and `brev` settings
//! turned into [`Constraints`], offers from `brev search` or `--catalog`, one pick, and the
//! `pick` record printed (or a table with `--table`).
use clap::{CommandFactory, Parser};
use runplz_core::pick::{self, Constraints, Source};
use runplz_core::{job, out, process, CliError};
use runplz_protocol::Exit;
use std::path::PathBuf;

const AFTER_HELP: &str = r#"OUTPUT
  One JSON record on stdout, the chosen offer's fields at the top level:
    {"type": "pick", "version": 1, "instance_type": "g5.xlarge", "provider": "aws",
     "cloud": "aws", "gpu_name": "A10G", "gpu_count": 1, "vram_per_gpu_gb": 24.0,
     "total_vram_gb": 24.0, "vcpus": 4.0, "ram_gb": 16.0, "disk_gb": 256.0,
     "price_per_hour": 1.006, "boot_time_seconds": 420.0 (null: unknown),
     "hint": {"field": "boot_time_seconds", "value": 420.0} (null: no hint ranked it),
     "reason": "lowest boot-time hint in the 5% band: 420 s at $1.01/h vs $1.00/h",
     "types": ["g5.xlarge", "g6.xlarge", "n1-standard-4:nvidia-tesla-t4:1"],
     "ranked": [{"type": "g5.xlarge", "provider": "aws", "gpu_name": "A10G",
                 "gpu_count": 1, "vram_per_gpu_gb": 24.0, "vcpus": 4.0, "ram_gb": 16.0,
                 "target_disk_gb": 256.0, "price_per_hour": 1.006,
                 "boot_time_seconds": 420.0, "hint": {...}, "in_band": true}, ...],
     "band_max_price": 1.0563, "matched": 12, "offers": 240, "source": "brev search"}
  "types" is the ranked fallback chain, the winner first, that `brev create --type` takes
  comma-joined; "ranked" holds the same offers under brev search's own field names.

RULES
  Offers come from `brev search --json` (`brev search cpu --json` when no GPU is asked),
  given the filters brev has that mean what ours do (--min-vram, --min-vcpu, --min-ram,
  --min-disk, --provider); the GPU model (whole words, where brev's --gpu-name is a
  substring), GPU count, price and excluded providers are filtered here. --catalog FILE (or - for stdin) reads offers in the same JSON shape instead, offline.
  Flags override the job's "resources" (gpu, num_gpus, min_cpu, min_memory, min_gpu_memory,
  min_disk). Providers in "brev.exclude_providers" (default ["oci"]) are dropped: a
  provider, cloud or type equal to the prefix or starting with it followed by ".", "_" or
  "-", ignoring case ("ocifoo" stays).
  The cheapest offer meeting every constraint wins, with one refinement: among the offers
  priced at most 5% above the cheapest (inclusive), the lowest availability hint wins:
  boot_time_seconds (0 means unknown), else estimated_start_seconds, eta_seconds, eta_s,
  queue_wait_seconds, availability_rank. No hint: the cheapest. Ties go to the cheaper, then
  the type name, then the provider. The ranked list is that band, then the rest by price,
  each type once (brev search prints a row per GPU configuration of a type).

  When nothing matches, rp-pick prints nothing on stdout, says on stderr which constraint
  ruled out how many offers and names the nearest misses, and exits 6.

EXAMPLES
  rp-pick --gpu A100 --min-ram 64 | jq -r .instance_type
  rp-pick --job job.json --top 5 | jq -r '.types | join(",")'
  rp-pick --gpu H100 --num-gpus 8 --max-price 30 --table
  brev search --json > offers.json; rp-pick --catalog offers.json --gpu L4 --all"#;

/// Pick the cheapest Brev instance type that fits a job, preferring quick boots among
/// near-equal prices, and print it with a ranked fallback list.
///
/// Offers come from `brev search --json` on PATH, or from --catalog. Flags override the job
/// file's `resources`; `brev.exclude_providers` and `brev.instance_type_fallback_count` come
/// from the job (defaults ["oci"] and 3).
#[derive(Debug, Parser)]
#[command(name = "rp-pick", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// The job file whose `resources` and `brev` settings are used (`-` reads stdin).
    #[arg(long, value_name = "JOB")]
    pub job: Option<PathBuf>,

    /// Read offers from this file, in `brev search --json`'s shape (`-` reads stdin),
    /// instead of running `brev search`.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,

    /// How many ranked types to list (default: the job's
    /// `brev.instance_type_fallback_count`, else 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "all")]
    pub top: Option<u32>,

    /// List every matching offer, ranked.
    #[arg(long)]
    pub all: bool,

    /// Print a table for people on stdout instead of the JSON record.
    #[arg(long)]
    pub table: bool,

    /// GPU model wanted, matched by name words, ignoring case: `A100` matches `A100`,
    /// `A10` does not.
    #[arg(
        long,
        value_name = "MODEL",
        help_heading = "Constraints (override the job)"
    )]
    pub gpu: Option<String>,

    /// At least this many GPUs (default 1 when a model or VRAM is asked).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = "Constraints (override the job)")]
    pub num_gpus: Option<u32>,

    /// Minimum vCPUs (the job's `min_cpu`).
    #[arg(long, value_name = "N", value_parser = positive, help_heading = "Constraints (override the job)")]
    pub min_cpu: Option<f64>,

    /// Minimum RAM, GB (the job's `min_memory`).
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Constraints (override the job)")]
    pub min_ram: Option<f64>,

    /// Minimum VRAM per GPU, GB (the job's `min_gpu_memory`).
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Constraints (override the job)")]
    pub min_vram: Option<f64>,

    /// Minimum disk, GB (the job's `min_disk`; a type whose disk can grow that large fits).
    #[arg(long, value_name = "GB", value_parser = positive, help_heading = "Constraints (override the job)")]
    pub min_disk: Option<f64>,

    /// Highest price, US dollars per hour.
    #[arg(long, value_name = "USD_PER_HOUR", value_parser = positive, help_heading = "Constraints (override the job)")]
    pub max_price: Option<f64>,

    /// Only providers whose name contains this, ignoring case (as `brev search --provider`).
    #[arg(
        long,
        value_name = "P",
        help_heading = "Constraints (override the job)"
    )]
    pub provider: Option<String>,
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

/// The exit codes rp-pick can return (its man page's EXIT STATUS): 1 when `brev search`
/// failed, 6 when no offer matches, 125 without brev, 128+n when interrupted.
pub const EXIT_CODES: &[Exit] = &[
    Exit::Ok,
    Exit::Failed,
    Exit::Usage,
    Exit::NoMatch,
    Exit::ToolFailed,
    Exit::Signal(0),
];

fn non_blank(flag: &str, v: &Option<String>, what: &str) -> anyhow::Result<()> {
    if v.as_deref().is_some_and(|g| g.trim().is_empty()) {
        return Err(CliError::usage(format!(
            "{flag}: found an empty value, expected {what}"
        )));
    }
    Ok(())
}

/// Run the tool.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    // Everything is validated before brev is run.
    non_blank("--gpu", &cli.gpu, "a GPU model such as A100")?;
    non_blank("--provider", &cli.provider, "a provider such as aws")?;
    let stdin = |p: &Option<PathBuf>| p.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if stdin(&cli.job) && stdin(&cli.catalog) {
        return Err(CliError::usage(
            "--job - and --catalog -: found both reading stdin, expected at most one",
        ));
    }
    let job = cli.job.as_deref().map(job::load).transpose()?;
    let flags = Constraints {
        gpu: cli.gpu.clone(),
        num_gpus: cli.num_gpus,
        min_cpu: cli.min_cpu,
        min_ram_gb: cli.min_ram,
        min_vram_gb: cli.min_vram,
        min_disk_gb: cli.min_disk,
        max_price: cli.max_price,
        provider: cli.provider.clone(),
        exclude_providers: Vec::new(),
    };
    let base = job.as_ref().map(Constraints::from_job).unwrap_or_default();
    let c = flags.or(base);
    if let Some(t) = job
        .as_ref()
        .and_then(|j| j.spec.brev.instance_type.as_deref())
    {
        out::warn(
            "rp-pick",
            format!("the job pins \"brev.instance_type\": {t:?}, which `runplz brev` uses without picking; picking anyway"),
        );
    }
    let top = if cli.all {
        usize::MAX
    } else {
        cli.top
            .map(|n| n as usize)
            .or_else(|| {
                job.as_ref()
                    .and_then(|j| j.spec.brev.instance_type_fallback_count)
                    .map(|n| n.max(1) as usize)
            })
            .unwrap_or(pick::DEFAULT_TOP)
    };
    let source = match &cli.catalog {
        Some(p) => Source::Catalog(p.clone()),
        None => {
            process::install_signal_handlers();
            Source::Brev
        }
    };
    let (picked, name) = pick::find(&c, &source, top)?;
    if cli.table {
        out::print_raw(&picked.table(c.min_disk_gb))?;
    } else {
        out::print_record("pick", &picked.record(&name, c.min_disk_gb))?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        super::command().debug_assert();
    }
}
