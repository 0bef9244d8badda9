//! `runplz collect RUN`.

use super::RunArgs;
use runplz_core::ops::Verb;
use std::path::PathBuf;

/// `runplz collect`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub run: RunArgs,
    /// Where the outputs go (default: the run's own outputs folder, from its run state).
    #[arg(long, value_name = "DIR")]
    pub outputs_dir: Option<PathBuf>,
    /// Stop the job first when it still runs on the box (its runplz gone); without it,
    /// collecting a running job is refused (exit 1).
    #[arg(long)]
    pub force: bool,
}

/// Bring RUN's outputs back and finish its teardown.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    super::verb(
        Verb::Collect {
            outputs_dir: a.outputs_dir,
            force: a.force,
        },
        a.run,
    )
}

/// `runplz collect`'s manual text.
pub const HELP: &str = "\
WHAT IT DOES:
  Finishes a run whose runplz is gone (killed with kill -9, the laptop shut) or that was
  detached: RUN is a run id, a unique prefix or `last` (see runplz-status(1)). For a run on
  an ssh or Brev box it reaches the box again from the run state (a Brev box through a
  fresh ssh config that includes brev's), brings ~/runplz-out/<run id> back into the run's
  outputs folder (or --outputs-dir) as rp-collect does, removes the run's folders on the
  box, and releases the box (its on_finish: a Brev box runplz made is deleted). The
  release happens whether or not the outputs came. The run state then says the run is
  over (failure lost_contact when its runplz died before the end), whether the outputs
  came, and the box's cost. A job still running on the box is refused (exit 1) unless
  --force, which stops it first. A run still attached to its runplz is refused (that runplz
  collects by itself). Safe to repeat: a run already collected and released moves nothing
  and says so (exit 0); a box that is gone is said (exit 1) and the run marked over. Safe
  to run twice at once: each holds the run's lock ($XDG_STATE_HOME/runplz/runs/<run
  id>.lock, flock) while it works, so a second one says it is waiting for the first, waits,
  then finds the run collected and moves nothing (both exit 0; a Ctrl-C while waiting is
  130); runplz kill waits for it the same way. A --detach'ed run's output (on its box, in
  its Slurm folder or its sandbox, which collect removes) is kept here in
  $XDG_STATE_HOME/runplz/runs/<run id>.log for runplz tail (see runplz(1) RUN STATE).

WHAT IT SAYS (stdout):
  rp-collect's collect record (see rp-collect(1)).

EXIT STATUS:
  0 collected (or collected already); 1 the job still runs, the box is gone, the outputs
  did not come, or the box was not released; 2 bad usage or no such run; 125 runplz
  itself failed; 128+n interrupted by signal n (130: Ctrl-C).";
