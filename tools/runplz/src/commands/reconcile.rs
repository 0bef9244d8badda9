//! `runplz reconcile`.

use runplz_core::ops::reconcile::{self, ReconcileOptions};

/// `runplz reconcile`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete the orphaned boxes a run state here proves ours (a box no run state names is
    /// listed, never touched).
    #[arg(long)]
    pub apply: bool,
    /// One table for people instead of JSON Lines.
    #[arg(long)]
    pub table: bool,
}

/// List (and with --apply delete) billed boxes of ours that no live run holds.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    reconcile::main(&ReconcileOptions {
        apply: a.apply,
        table: a.table,
    })
}
