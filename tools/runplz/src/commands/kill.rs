//! `runplz kill RUN`.

use super::RunArgs;
use runplz_core::ops::Verb;

/// `runplz kill`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArgs,
    /// Seconds between TERM and KILL (fractions allowed, at most 2592000), as runplz's and
    /// rp-exec's --grace (default: the run's own, its job's `stop_grace_seconds` or
    /// --grace, else 5).
    #[arg(long, value_name = "SECS", value_parser = runplz_core::flags::parse_secs)]
    pub grace: Option<std::time::Duration>,
}

/// Stop RUN and release what it holds; print its `run-status`.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    super::verb(Verb::Kill { grace: a.grace }, a.run)
}

/// `runplz kill`'s manual text.
pub const HELP: &str = "\
WHAT IT DOES:
  RUN is a run id, a unique prefix or `last` (see runplz-status(1)). The job's processes on
  its box (or here) get TERM, then KILL after the run's stop grace (its job's
  stop_grace_seconds or the --grace it ran with; 5 s by default; --grace here overrides
  it): its process group and every process that carries its RUNPLZ_RUN_ID, and its
  container is removed; kill then checks that
  none is left (exit 1 otherwise). When the runplz that started the run is alive, that
  runplz sees its job end and brings the outputs back and releases the box as on any
  ending; kill waits for it (up to 5 minutes). When that runplz is gone, kill does the
  release itself: the box's on_finish (a Brev box runplz made is deleted, a named one
  stopped or left; an ssh box is yours and is left alone, with the outputs still on it
  for `runplz collect RUN`), and it writes the ending (failure: cancelled) into the run
  state. A run already over is left alone (a --detach'ed run is over once collected or
  killed). A Modal run's sandbox is terminated. kill holds the run's lock
  ($XDG_STATE_HOME/runplz/runs/<run id>.lock, as runplz collect does): during a collect of
  the same run it says it is waiting, waits for it, then finds the run as the collect left
  it (a Ctrl-C while waiting is 130). A Slurm collect waits for the job's end under that
  lock: kill it with Ctrl-C first.

WHAT IT SAYS (stdout):
  The run-status record (see runplz-status(1)) with state terminated (finished when the
  run was over already).

EXIT STATUS:
  0 stopped (or already over); 1 something survived KILL, or the box was not released
  (a warning names it); 2 bad usage or no such run; 125 runplz itself failed.";
