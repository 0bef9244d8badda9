//! `rp-sync`: see `rp-sync --help` and man/rp-sync.1. The logic lives in lib.rs and runplz-core.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rp_sync::Cli::parse();
    runplz_core::out::finish("rp-sync", rp_sync::run(cli), runplz_protocol::Exit::Failed)
}
