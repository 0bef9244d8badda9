//! `runplz`: see `runplz --help` and man/runplz.1. The logic lives in lib.rs and runplz-core.
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = runplz::parse_args();
    runplz_core::out::finish(
        "runplz",
        runplz::run(cli),
        runplz_protocol::Exit::ToolFailed,
    )
}
