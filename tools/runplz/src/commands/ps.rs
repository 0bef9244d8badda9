//! `runplz ps`.

use runplz_core::ops::ps::{self, PsOptions};

/// `runplz ps`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// One table for people instead of JSON Lines.
    #[arg(long)]
    pub table: bool,
    /// JSON Lines on stdout (the default; for scripts that say so).
    #[arg(long, conflicts_with = "table")]
    pub json: bool,
}

/// List the runs recorded here.
pub fn run(a: Args) -> anyhow::Result<runplz_protocol::Exit> {
    ps::main(&PsOptions { table: a.table })
}

/// `runplz ps`'s manual text.
pub const HELP: &str = "\
WHAT IT LISTS:
  Every run recorded in $XDG_STATE_HOME/runplz/runs, oldest first, from the run states
  alone (no box is asked: `runplz status RUN` does that); then, when some run here used
  Brev and `brev` is installed, the Brev boxes named runplz-* that no run state here names
  (state untracked); likewise the RunPod pods (with RUNPOD_API_KEY) and the running Modal
  sandboxes tagged created_by=runplz (with a Modal token; host is the sandbox id, job and
  started_at from its tags). One JSON line per run:
  {\"type\":\"ps\",\"version\":1,\"run_id\":\"...\"|null,\"job\":\"train\"|null,
   \"backend\":\"brev\",\"host\":\"runplz-train-0badc0de\"|null,
   \"state\":\"running\"|\"interrupted\"|\"detached\"|\"ended\"|\"finished\"|\"untracked\",\"step\":\"run\"|null,
   \"started_at\":SECONDS|null,\"ended_at\":SECONDS|null,\"exit_code\":N|null,
   \"failure\":\"user_code\"|null,\"price_per_hour\":1.006|null,\"cost\":1.04|null}
  interrupted: the runplz that started it is gone and the run never ended
  (`runplz status RUN` asks the box; `runplz collect RUN` finishes it). detached: started
  with --detach and not collected yet (`runplz status RUN` asks the box; a Slurm run is
  asked here, and is ended once its job is over). cost is what the
  box cost, so far while it runs. --table prints the same as a table (times in UTC).

EXIT STATUS:
  0 listed (also when there is nothing); 125 runplz itself failed.";
