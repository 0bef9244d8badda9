//! `runplz status RUN`.

use super::RunArgs;
use runplz_core::ops::Verb;

/// `runplz status`'s arguments.
pub type Args = RunArgs;

/// Print where RUN stands as one `run-status` record.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    super::verb(Verb::Status, a)
}

/// `runplz status`'s manual text.
pub const HELP: &str = "\
HOW IT FINDS THE RUN:
  RUN is a run id, a prefix that only one run id in $XDG_STATE_HOME/runplz/runs has, or
  `last` (the run started most recently here). A prefix two runs share is exit 2, naming
  them. A Modal run with no run state here is found by its tag with --backend modal.

WHAT IT SAYS (stdout):
  {\"type\":\"run-status\",\"version\":1,\"run_id\":\"...\",\"backend\":\"ssh\",\"job\":\"train\",
   \"state\":\"running\",\"exit_code\":null,\"sandbox_id\":null,\"host\":\"gpu-box\",
   \"step\":\"run\",\"failure\":null}
  For a run on this machine, an ssh box or a Brev box, state is: running (the runplz that
  started it is alive), finished (the run state says it is over), or, once that runplz is
  gone (killed, the machine rebooted), what the box says: orphaned (the job still runs
  there), stopped (nothing of the job runs: `runplz collect RUN` brings its outputs back
  and releases the box), box_gone (Brev no longer lists the box, or it is stopped), or
  unreachable. A run started with --detach, from its supervisor on the box: detached (the
  job runs), exited, timed_out, inactive or cost_cap (with its exit_code; `runplz collect RUN` brings the
  outputs back), stopped, or unreachable. A Modal run: see runplz(1), MODAL RECORDS. step is the step the run is in,
  or stopped in; failure why it failed, once it did.

EXIT STATUS:
  0 the record was printed; 2 bad usage, or no such run (nothing asked); 125 runplz itself
  failed.";
