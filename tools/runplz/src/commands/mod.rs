//! The verbs on runs started earlier, one file each (as cargo's `src/bin/cargo/commands/`):
//! each holds its clap arguments and hands them to `runplz_core::ops`.

pub mod collect;
pub mod kill;
pub mod ps;
pub mod reconcile;
pub mod status;
pub mod tail;

use clap::Args;

/// A run started earlier.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The run: its run id (`run_id` in the run record), a prefix only one run id here
    /// has, or `last` (the run started most recently on this machine).
    #[arg(value_name = "RUN")]
    pub run: String,
    /// The backend to ask when this machine kept no run state for RUN (a Modal run is then
    /// found by its tag).
    #[arg(long, value_name = "BACKEND", value_parser = ["modal"])]
    pub backend: Option<String>,
}

fn verb(v: runplz_core::ops::Verb, a: RunArgs) -> anyhow::Result<runplz_protocol::Exit> {
    runplz_core::ops::main(&v, &a.run, a.backend.as_deref())
}
