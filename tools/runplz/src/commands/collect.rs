//! `runplz collect RUN`.

use super::RunArgs;
use runplz_core::ops::Verb;
use std::path::PathBuf;

/// `runplz collect`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where the outputs go (default: the run's own outputs folder, from its run state).
    #[arg(long, value_name = "DIR")]
    pub outputs_dir: Option<PathBuf>,
    /// Stop the job first when it still runs on the box (its runplz gone); without it,
    /// collecting a running job is refused (exit 1).
    #[arg(long)]
    pub force: bool,
}

/// Bring RUN's outputs back and finish its teardown.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    super::verb(
        Verb::Collect {
            outputs_dir: a.outputs_dir,
            force: a.force,
        },
        a.run,
    )
}
