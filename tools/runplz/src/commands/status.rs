//! `runplz status RUN`.

use super::RunArgs;
use runplz_core::ops::Verb;

/// `runplz status`'s arguments.
pub type Args = RunArgs;

/// Print where RUN stands as one `run-status` record.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    super::verb(Verb::Status, a)
}
