//! `rp-pick`: see `rp-pick --help` and man/rp-pick.1. The logic lives in lib.rs and runplz-core.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rp_pick::Cli::parse();
    runplz_core::out::finish("rp-pick", rp_pick::run(cli), runplz_protocol::Exit::Failed)
}
