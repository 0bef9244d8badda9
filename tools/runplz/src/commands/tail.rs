//! `runplz tail RUN [-n N] [-f]`.

use super::RunArgs;
use runplz_core::ops::Verb;

/// `runplz tail`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArgs,
    /// Keep printing until the job ends.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Start from the last N lines (default: all of it).
    #[arg(short = 'n', long, value_name = "N")]
    pub lines: Option<usize>,
}

/// Print RUN's output on stdout.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    super::verb(
        Verb::Tail {
            follow: a.follow,
            lines: a.lines,
        },
        a.run,
    )
}

/// `runplz tail`'s manual text.
pub const HELP: &str = "\
WHAT IT PRINTS:
  RUN is a run id, a unique prefix or `last` (see runplz-status(1)). The job's output (its
  stdout and stderr, as runplz received them) on stdout, from the copy runplz keeps in
  $XDG_STATE_HOME/runplz/runs/<run id>.log, byte for byte (the same output with a time and
  stream on each line is <run id>.driver.log beside it, see runplz(1) RUN STATE); so it
  works when the box is gone. -n N starts from the last N lines; -f keeps printing until
  the run is over (or its runplz is gone).
  A detached run not collected yet is read where it runs (its box, its Slurm folder, its
  Modal sandbox; -n is not supported from a sandbox or a Slurm cluster and says so); once
  collected, from the copy collect kept here.

EXIT STATUS:
  0 printed; 1 no output of the run is kept here; 2 bad usage or no such run; 130
  interrupted.";
