//! `rp-probe`: see `rp-probe --help` and man/rp-probe.1. The logic lives in lib.rs and runplz-core.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rp_probe::Cli::parse();
    runplz_core::out::finish(
        "rp-probe",
        rp_probe::run(cli),
        runplz_protocol::Exit::Failed,
    )
}
