//! `rp-image`: see `rp-image --help` and man/rp-image.1. The logic lives in lib.rs and runplz-core.
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = rp_image::Cli::parse();
    runplz_core::out::finish(
        "rp-image",
        rp_image::run(cli),
        runplz_protocol::Exit::Failed,
    )
}
