//! `rp-collect`: see `rp-collect --help` and man/rp-collect.1. The logic lives in lib.rs and runplz-core.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rp_collect::Cli::parse();
    runplz_core::out::finish(
        "rp-collect",
        rp_collect::run(cli),
        runplz_protocol::Exit::Failed,
    )
}
