//! `runplz reconcile`.

use runplz_core::ops::reconcile::{self, ReconcileOptions};

/// `runplz reconcile`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Delete (a RunPod pod, a Modal sandbox: terminate) the orphaned boxes a run state here
    /// proves ours (a box no run state names is listed, never touched).
    #[arg(long)]
    pub apply: bool,
    /// One table for people instead of JSON Lines.
    #[arg(long)]
    pub table: bool,
    /// JSON Lines on stdout (the default; for scripts that say so).
    #[arg(long, conflicts_with = "table")]
    pub json: bool,
}

/// List (and with --apply delete) billed boxes of ours that no live run holds.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    reconcile::main(&ReconcileOptions {
        apply: a.apply,
        table: a.table,
    })
}

/// `runplz reconcile`'s manual text.
pub const HELP: &str = "\
WHAT IT FINDS:
  The Brev boxes `brev ls` shows with runplz's name prefix (runplz-) that no live run
  holds: a box whose run's runplz is gone before it released it (reason runplz_gone), a
  box of a run that ended but whose release failed (run_over), and a runplz-* box that no
  run state here names (no_run_state: maybe another machine's run). A box without the
  prefix is never looked at; a box of a run whose runplz is alive is never listed. With
  RUNPOD_API_KEY set, the RunPod pods named runplz-* (not terminated) are judged the same
  way (backend \"runpod\"; --apply terminates them, action \"terminated\"). With a Modal
  token configured (MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, or ~/.modal.toml), the running
  Modal sandboxes in the app \"runplz\" tagged created_by=runplz are judged by their
  runplz_run_id tag (backend \"modal\", name the sandbox id, status RUNNING, run_id the
  tag, age from its runplz_created_at tag; --apply terminates them, action
  \"terminated\", after the sandbox's tags are checked again); a sandbox without that tag
  is never looked at; its price is not known (null). Without a token (or a Python with
  `modal`) Modal is skipped, said in one line on stderr when some run here used it. A run
  started with --detach and not collected holds its box, pod or sandbox: never listed.
  One JSON line per box, pod or sandbox:
  {\"type\":\"orphan\",\"version\":1,\"backend\":\"brev\",\"name\":\"runplz-train-0badc0de\",
   \"status\":\"RUNNING\",\"instance_type\":\"g5.xlarge\"|null,\"run_id\":\"...\"|null,
   \"reason\":\"runplz_gone\",\"age_seconds\":N|null,\"price_per_hour\":1.006|null,
   \"cost_so_far\":1.2|null,\"action\":\"none\"|\"deleted\"|\"terminated\"|\"skipped\"|\"failed\"}
  The price is the run state's, else the catalog's (brev search) for the box's type; the
  age and cost count from the run's start. --apply deletes the runplz_gone and run_over
  boxes and marks their runs over; a no_run_state box is skipped with a warning.

EXIT STATUS:
  0 listed (and, with --apply, every delete done); 1 a delete failed (the box is named);
  8/9 Modal refused the token or could not be reached;
  125 runplz itself failed (brev ls failed).";
