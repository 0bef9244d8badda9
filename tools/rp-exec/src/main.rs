//! `rp-exec`: see `rp-exec --help` and man/rp-exec.1. The logic lives in lib.rs and runplz-core.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rp_exec::Cli::parse();
    runplz_core::out::finish(
        "rp-exec",
        rp_exec::run(cli),
        runplz_protocol::Exit::ToolFailed,
    )
}
