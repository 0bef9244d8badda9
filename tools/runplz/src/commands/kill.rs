//! `runplz kill RUN`.

use super::RunArgs;
use runplz_core::ops::Verb;

/// `runplz kill`'s arguments.
pub type Args = RunArgs;

/// Stop RUN and release what it holds; print its `run-status`.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    super::verb(Verb::Kill, a)
}
