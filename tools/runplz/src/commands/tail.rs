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
