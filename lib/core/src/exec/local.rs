//! Running the command on this machine through the process wrapper: its own process group,
//! TERM/grace/KILL on the deadline or a signal, output streamed to our stderr (and the log),
//! and after it ends every process still carrying the run id is killed; orphans started
//! during the run that carry no run id are named in a warning (see [`reap::escapers`]). Where
//! we are the child subreaper (rp-exec) and no child is left after the job, none of that
//! needs a look.

use super::{
    outcome, reap, reap_grace, tool_failed, ExecOptions, ExecReport, OUTPUT_TAIL_LINES, RUN_ID_VAR,
};
use crate::error::exit_of;
use crate::out;
use crate::process::{Output, Proc};
use anyhow::Result;
use runplz_protocol::Exit;
use std::path::PathBuf;
use std::time::Duration;

/// The workdir as a local path: `~` and `~/..` from $HOME (validation refused `~user`).
fn workdir(w: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    match (w, home()) {
        ("~", Some(h)) => h,
        (w, Some(h)) if w.starts_with("~/") => h.join(&w[2..]),
        _ => PathBuf::from(w),
    }
}

pub(super) fn run(opts: &ExecOptions) -> Result<ExecReport> {
    let dir = opts.workdir.as_deref().map(workdir);
    if let Some(d) = &dir {
        std::fs::create_dir_all(d)
            .map_err(|e| tool_failed(format!("cannot create the workdir {}: {e}", d.display())))?;
    }
    let run_id = opts.run_id.clone();
    let grace = reap_grace(opts.grace);
    // As the child subreaper (rp-exec), orphans of the job become our children, so when none
    // is left once it ended, nothing of it survived and the /proc scans below are skipped.
    let reaper = reap::is_subreaper();
    // The run begins now: whatever starts from now on may be the job's.
    let since = reap::now_ticks();
    // Best effort, as the plain log's copy in runplz: a job never fails for it.
    let stamped = opts
        .stamped_log
        .as_deref()
        .and_then(|p| crate::process::stamped::StampedLog::open(p).ok());
    let mut proc = Proc::new(&opts.argv[0])
        .stamped_log(stamped)
        .args(&opts.argv[1..])
        .env(RUN_ID_VAR, &opts.run_id)
        .output(if opts.pass_stdout {
            Output::Passthrough {
                log: opts.log.clone(),
                stdout_to_stderr: false,
                control: None,
                hold_stderr_until: None,
            }
        } else {
            Output::Stream {
                log: opts.log.clone(),
            }
        })
        .timeout(opts.timeout)
        .grace(opts.grace)
        // The group is dead; now what left it (a setsid grandchild) and may hold the pipe.
        .after_exit(move || {
            if reaper && reap::no_descendants() {
                return;
            }
            if let Err(e) =
                reap::kill_run_local_since(&run_id, grace, nix::sys::signal::Signal::SIGTERM, since)
            {
                out::warn(&crate::ssh::tool(), format!("{e:#}"));
            }
            // What left the group and dropped the run id: named, not killed.
            if let Some(since) = since {
                let pids = reap::escapers(since, &[]);
                if let Some(msg) = reap::escaper_warning(&run_id, &pids) {
                    out::warn(&crate::ssh::tool(), msg);
                }
            }
        });
    if let Some(i) = opts.inactivity {
        proc = if i.terminate {
            proc.quiet_stop(i.after)
        } else {
            let run_id = opts.run_id.clone();
            proc.quiet_diagnose(i.after, move || diagnose_local(&run_id, i.after))
        };
    }
    for (k, v) in &opts.env {
        proc = proc.env(k, v);
    }
    match &opts.stdin {
        Some(super::Input::Bytes(b)) => proc = proc.stdin(b.clone()),
        Some(super::Input::File(f)) => proc = proc.stdin_path(f),
        None => {}
    }
    if let Some(d) = dir {
        proc = proc.dir(d);
    }
    let report = |code: u8, f: Option<&crate::process::Finished>| ExecReport {
        host: None,
        run_id: opts.run_id.clone(),
        argv: opts.argv.clone(),
        exit_code: code,
        timed_out: f.is_some_and(|f| f.timed_out),
        inactive: f
            .filter(|f| f.inactive)
            .and(opts.inactivity.map(|i| i.after)),
        cost_cap: false,
        signal: None,
        interrupted: f.and_then(|f| f.interrupted),
        duration: f.map(|f| f.duration).unwrap_or(Duration::ZERO),
        log: opts.log.clone(),
        output_tail: f.map(|f| f.tail(OUTPUT_TAIL_LINES)).unwrap_or_default(),
    };
    match proc.run() {
        Ok(f) => {
            let (code, signal) = outcome(Some(f.status), f.timed_out, f.interrupted);
            say_how_it_ended(opts, &f);
            Ok(ExecReport {
                signal,
                ..report(code, Some(&f))
            })
        }
        // Not found / not runnable are the command's outcome (127 / 126), not ours.
        Err(e) => match exit_of(&e, Exit::ToolFailed) {
            x @ (Exit::NotFound | Exit::CannotInvoke) => {
                out::note(&crate::ssh::tool(), format!("{e:#}"));
                Ok(report(x.code(), None))
            }
            _ => Err(e),
        },
    }
}

/// What a quiet local job is doing: its processes (by run id), the load, the GPUs.
fn diagnose_local(run_id: &str, after: Duration) {
    let pids: Vec<String> = reap::carriers(run_id)
        .iter()
        .map(|p| p.to_string())
        .collect();
    let script = format!(
        "{}\n{}",
        super::DIAGNOSE,
        if pids.is_empty() {
            String::new()
        } else {
            format!("ps -o pid,etime,pcpu,rss,stat,args -p {}", pids.join(","))
        }
    );
    say_diagnosis(after, Proc::new("sh").args(["-c", &script]).run());
}

/// Print a diagnosis (to stderr, where the job's output goes).
pub(super) fn say_diagnosis(after: Duration, f: Result<crate::process::Finished>) {
    let body = match &f {
        Ok(f) => format!("{}{}", f.stdout_str(), String::from_utf8_lossy(&f.stderr)),
        Err(e) => format!("(could not look: {e:#})"),
    };
    out::warn(
        &crate::ssh::tool(),
        format!(
            "no output for {}s; what the job is doing (the inactivity watch; it runs on):\n{}",
            after.as_secs(),
            body.trim_end()
        ),
    );
}

fn say_how_it_ended(opts: &ExecOptions, f: &crate::process::Finished) {
    if f.inactive {
        out::note(
            &crate::ssh::tool(),
            format!(
                "no output for {}s; stopped the command (TERM, KILL after {:.1}s)",
                opts.inactivity
                    .map(|i| i.after.as_secs())
                    .unwrap_or_default(),
                opts.grace.as_secs_f64()
            ),
        );
    } else if f.timed_out {
        out::note(
            &crate::ssh::tool(),
            format!(
                "timed out after {:.1}s; stopped the command (TERM, KILL after {:.1}s)",
                opts.timeout.unwrap_or_default().as_secs_f64(),
                opts.grace.as_secs_f64()
            ),
        );
    } else if let Some(sig) = f.interrupted {
        out::note(
            &crate::ssh::tool(),
            format!("got signal {sig}; stopped the command"),
        );
    }
}
