//! The `rp-sync` command line: flags (clap) turned into runplz-core options, and the record printed.
use clap::{CommandFactory, Parser};
use runplz_protocol::Exit;

/// rp-sync (in progress).
#[derive(Debug, Parser)]
#[command(name = "rp-sync", version)]
pub struct Cli {}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Run the tool.
pub fn run(_cli: Cli) -> anyhow::Result<Exit> {
    Err(runplz_core::CliError::new(
        Exit::ToolFailed,
        "not built yet",
    ))
}
