//! `runplz ps`.

use runplz_core::ops::ps::{self, PsOptions};

/// `runplz ps`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One table for people instead of JSON Lines.
    #[arg(long)]
    pub table: bool,
}

/// List the runs recorded here.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    ps::main(&PsOptions { table: a.table })
}
