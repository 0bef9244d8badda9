//! The `rp-image` command line: flags (clap) turned into runplz-core options, and the record printed.
use clap::{CommandFactory, Parser, ValueEnum};
use runplz_core::image::{self, ShellOptions};
use runplz_core::job::{self, ImageStep};
use runplz_core::{out, usage_bail};
use runplz_protocol::{Exit, ImageRecord};
use std::io::{self, Write};
use std::path::PathBuf;

const AFTER_LONG_HELP: &str = "\
OUTPUT:
  Without --json, dockerfile and shell print the rendered text itself on stdout, so it can be
  redirected to a file or piped. With --json (and always for modal) stdout is one JSON record:

    {\"type\":\"image\",\"version\":1,\"format\":\"dockerfile\",\"text\":\"FROM ...\"}
    {\"type\":\"image\",\"version\":1,\"format\":\"shell\",\"text\":\"#!/usr/bin/env bash ...\"}
    {\"type\":\"image\",\"version\":1,\"format\":\"modal\",\"ops\":[{\"op\":\"from_registry\",...},...]}

  format: which renderer produced it. text: the Dockerfile or script, exactly as printed
  without --json. ops: the Modal image chain in order; each op is named after the
  modal.Image method that replays it, with that method's arguments:
    {\"op\":\"from_registry\",\"image\":..,\"add_python\":null}
    {\"op\":\"from_dockerfile\",\"path\":..}          (path relative to the job file's folder)
    {\"op\":\"apt_install\",\"packages\":[..]}
    {\"op\":\"pip_install\",\"packages\":[..],\"index_url\":..,\"extra_index_url\":..}
    {\"op\":\"add_local_dir\",\"local_path\":..,\"remote_path\":\"/workspace/DIR\",\"copy\":true}
    {\"op\":\"run_commands\",\"commands\":[..]}
    {\"op\":\"env\",\"vars\":{..}}
    {\"op\":\"workdir\",\"path\":\"/workspace\"}
  A command that a Dockerfile RUN line would mangle (a line break, a trailing backslash,
  \"<<\") is sent as /bin/sh -c \"$(printf %s BASE64 | base64 -d)\", which runs the same bytes.

EXAMPLES:
  rp-image job.json --format dockerfile > Dockerfile
  rp-image job.json --format dockerfile | docker build -t my-job -f - .
  rp-image job.json --format shell | ssh box 'cd ~/work && bash -s'
  rp-image job.json --format shell --skip-apt > setup.sh && bash setup.sh
  rp-image job.json --format modal | jq -c '.ops[]'
  jq '.image.steps += [{\"run_commands\": [\"make\"]}]' job.json | rp-image - --format dockerfile

EXIT STATUS:
  0  the image was rendered
  2  bad usage, an invalid job (the message names the file, line, column and JSON path), or
     a value the chosen format cannot carry (a line break in a Dockerfile ENV value, a
     from_dockerfile job with --format shell); nothing is printed on stdout
";

/// Render a job's image as a Dockerfile, a shell script, or a Modal image chain.
///
/// rp-image reads a job file, validates it, and prints its image (`image.from_registry` plus
/// `image.steps`, or `image.from_dockerfile`) in one of three forms. The output is
/// byte-stable: the same job always renders the same bytes. Every package name, URL, path,
/// command and environment value arrives byte for byte, whatever quotes, `$`, backticks or
/// line breaks it holds; a value the chosen format cannot carry is refused with an error that
/// names its JSON path.
#[derive(Debug, Parser)]
#[command(
    name = "rp-image",
    version,
    about = "Render a job's image as a Dockerfile, a shell script, or a Modal image chain",
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    /// The job file, or `-` for standard input.
    ///
    /// A job read from standard input resolves its relative paths (`pip_install_local_dir`,
    /// `from_dockerfile`) against the current directory.
    #[arg(value_name = "JOB", default_value = "job.json")]
    pub job: PathBuf,

    /// What to render.
    #[arg(long, short = 'f', value_enum, value_name = "FORMAT")]
    pub format: Format,

    /// Print a JSON record instead of the raw text.
    ///
    /// The record is `{"type":"image","version":1,"format":..,"text":..}`. The modal format
    /// is always JSON.
    #[arg(long)]
    pub json: bool,

    /// With `--format shell`: skip `apt_install` steps.
    ///
    /// Each such step becomes a comment and a warning on stderr, when rendering and again
    /// when the script runs. For native runs without root, where the packages must already
    /// be there.
    #[arg(long)]
    pub skip_apt: bool,

    /// With `--format dockerfile`: also write the docker build context to FILE, a tar of
    /// the job's folder minus secrets, caches and `sync.exclude` (exactly what rp-sync
    /// ships) plus the Dockerfile as `.runplz.Dockerfile`, for
    /// `docker build -f .runplz.Dockerfile - < FILE`. Its files are scanned for secrets
    /// first, as rp-sync's are (the job's `sync.secret_scan` and `sync.allow_secrets`
    /// apply): a finding is exit 4 and FILE is not written.
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A Dockerfile: `FROM`, one layer per step, `WORKDIR /workspace`; the repo root is the
    /// build context. A `from_dockerfile` job prints the user's Dockerfile unchanged.
    Dockerfile,
    /// A bash script applying the steps on a box that already runs the base image, from the
    /// workspace root: waits for another apt/dpkg, repairs dpkg, uses sudo when not root,
    /// pip installs with the first `python3` on PATH. Safe to run again.
    Shell,
    /// A JSON record listing the Modal image chain (`modal.Image` method names and
    /// arguments) for a Python driver to replay.
    Modal,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Dockerfile => "dockerfile",
            Format::Shell => "shell",
            Format::Modal => "modal",
        }
    }
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The exit codes rp-image can return (its man page's EXIT STATUS): it only renders, so
/// there is no deadline, remote side or child whose code it could pass on; a failure
/// writing `--context` or stdout is 1; a secret in the `--context` files is 4.
pub const EXIT_CODES: &[Exit] = &[Exit::Ok, Exit::Failed, Exit::Usage, Exit::Refused];

/// Run the tool.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    if cli.skip_apt && cli.format != Format::Shell {
        usage_bail!(
            "--skip-apt only applies to --format shell (found --format {})",
            cli.format.name()
        );
    }
    if cli.context.is_some() && cli.format != Format::Dockerfile {
        usage_bail!(
            "--context only applies to --format dockerfile (found --format {})",
            cli.format.name()
        );
    }
    let job = job::load(&cli.job)?;
    let text = match cli.format {
        Format::Modal => {
            let ops = image::modal(&job)?;
            out::print_record("image", &ImageRecord::Modal { ops })?;
            return Ok(Exit::Ok);
        }
        Format::Dockerfile => image::dockerfile(&job)?,
        Format::Shell => {
            let opts = ShellOptions {
                skip_apt: cli.skip_apt,
            };
            let text = image::shell(&job, &opts)?;
            if opts.skip_apt {
                for (i, step) in job.steps.iter().enumerate() {
                    if let ImageStep::Apt(pkgs) = step {
                        out::warn(
                            "rp-image",
                            format!(
                                "image.steps[{i}]: skipping apt_install {} (--skip-apt); the box must already have them",
                                pkgs.join(" ")
                            ),
                        );
                    }
                }
            }
            text
        }
    };
    if let Some(path) = &cli.context {
        // The context is what docker (or a remote builder) gets: scanned for secrets first,
        // before the file is even created (exit 4, as rp-sync).
        let excludes = runplz_core::sync::job_excludes(&job, &job.ship_root);
        let staged = runplz_core::sync::stage(&job.ship_root, &excludes)?;
        let allow = runplz_core::scan::allow_for(Some(&job), &[])?;
        runplz_core::scan::before_shipping("rp-image", &staged, Some(&job), &allow, Exit::Refused)?;
        // Exactly the list scanned, each file as the scan read it.
        let copier = runplz_core::scan::Copier::new("rp-image", Some(&job), allow, Exit::Refused);
        let file = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("writing the build context to {}: {e}", path.display()))?;
        let written = image::write_context_tar(
            &staged,
            &copier,
            &text,
            std::io::BufWriter::new(file),
            Some(path),
        );
        if written.is_err() {
            // No half context (nor one a refusal stopped) is left for docker to take.
            let _ = std::fs::remove_file(path);
        }
        written?;
    }
    if cli.json {
        let record = match cli.format {
            Format::Shell => ImageRecord::Shell { text },
            _ => ImageRecord::Dockerfile { text },
        };
        out::print_record("image", &record)?;
    } else {
        print_exact(&text)?;
    }
    Ok(Exit::Ok)
}

/// Print text exactly (a passed-through Dockerfile may lack a final newline). A closed pipe
/// is not an error.
fn print_exact(text: &str) -> io::Result<()> {
    let mut lock = io::stdout().lock();
    match lock.write_all(text.as_bytes()).and_then(|_| lock.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        super::command().debug_assert();
    }
}
