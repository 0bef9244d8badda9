//! `rp-box`: see `rp-box --help` and man/rp-box.1. The logic lives in lib.rs and runplz-core.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rp_box::Cli::parse();
    runplz_core::out::finish("rp-box", rp_box::run(cli), runplz_protocol::Exit::Failed)
}
