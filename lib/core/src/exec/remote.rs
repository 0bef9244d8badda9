//! Running the command on a box, so that it outlives the connection (issue #10). A first ssh
//! call (the launch) stores the job's environment and stdin in the run folder on the box,
//! `~/.runplz/runs/<id>/` (the launch's script, the environment in it, comes on ssh's stdin
//! to `sh -s`: a long command line costs the box's shells more; where the job has a stdin,
//! the script is the command line and the environment and stdin follow on ssh's stdin),
//! and starts a supervisor there under `setsid -f`: its own session, no tie to ssh, so a
//! dropped connection, a restarted sshd or a killed rp-exec/runplz leaves it running. The
//! supervisor's body is the same for every run of one runplz: it is kept on the box
//! (`~/.runplz/lib/supervise-<hash>`, and beside it `-more`: the reaper and the inactivity
//! watch, read only where a run needs them), sent with the launch only where this machine
//! has not seen it there, and the run's own `supervise` sets the run's command and settings,
//! then reads it (a launch that finds it gone starts nothing, says so, and is sent again
//! with it). The supervisor runs the command in a session of its own (its group id in
//! `pgid`), its stdout appended to `out` and its stderr to `err` (with `pass_stdout` off,
//! both to `out`, in order), enforces the deadline and the inactivity watch on the box, reaps
//! what the command left (scanning /proc only where something may be left, see `rp_clean`
//! in remote_scripts.rs), and writes `exit` (`CODE REASON`, REASON one of `exited`,
//! `timed_out`, `inactive`, `cost_cap`: the run's cost cap, a deadline of its own) once
//! everything else is final.
//!
//! The launch itself then follows the job for up to [`LAUNCH_FOLLOW`], as one poll that
//! holds its answer until the end; when the job ended by then (and ssh's stdin is free: the
//! job has no stdin, or a small one taken by its length), it says `bye`, the client answers
//! `ok` once it holds everything, and the launch empties the run folder and marks it `read`
//! (starting no process: removing it would cost a process's start on the way back; a later
//! start or stop removes such folders four at a time, see `SWEEP`): a short job is one ssh
//! call.
//!
//! The client then follows the run by polling: each poll is one short ssh call that sends,
//! framed behind a marker holding a random nonce of this run, the bytes of `out`, `err` and
//! `diag` (the inactivity watch's snapshots) past the offsets the client already holds, and
//! `exit` once the job is over. A poll that breaks (ssh died, the box went away) is retried
//! with backoff, from the same offsets, so no byte is lost or shown twice. Frames are length
//! counted, so the job cannot forge one.
//!
//! The run folder is the contract the operations verbs (`runplz status/tail/kill/collect`)
//! read: `launched` (the supervisor was started), `out`, `err`, `diag` (append-only), `pgid`
//! and `wsid` (the job's and the supervisor's sessions while it runs; emptied at the end),
//! `exit` (the end, one line: a reader takes it only whole), `cancel` (a stop came: a start
//! still on its way refuses), `read` (its client read it to the end; `out`, `err`, `diag`
//! and `supervise` are emptied). [`poll`], [`status`] and [`super::kill_run`] read and act
//! on it; a client that read the end by polls removes the folder, one that read it in the
//! launch marks it `read`, and a detached or lost run's folder is swept a week after it
//! ended.
//!
//! A launch refuses a run id that already has a folder (`mkdir` is the lock): after an
//! ambiguous drop during the launch the client asks the box (a poll) and attaches to what it
//! finds, never starting a second job.

use super::remote_scripts::*;
use super::{outcome, tool_failed, ExecOptions, ExecReport, OUTPUT_TAIL_LINES};
use crate::error::CliError;
use crate::out;
use crate::process::{Output, Proc, Signal, Status};
use crate::quote;
use crate::ssh::Ssh;
use anyhow::Result;
use runplz_protocol::Exit;
use std::io::Write;
use std::time::{Duration, Instant};

mod follower;
use follower::{find, follow, frames, Followed, Follower, Frame};

/// Whether this machine saw this runplz's supervisor on a box (see
/// [`supervisor_lib_path`]): an empty file per box and supervisor in
/// `$XDG_STATE_HOME/runplz/exec-lib/`. Only a hint: a box that lost it says so.
mod lib {
    use super::supervisor_lib_path;
    use crate::ssh::Ssh;
    use std::path::PathBuf;

    fn file(ssh: &Ssh) -> PathBuf {
        let key = format!("{:?}\0{}", ssh.handle(), supervisor_lib_path());
        crate::state::keyed_file("exec-lib", &key)
    }

    pub(super) fn seen(ssh: &Ssh) -> bool {
        file(ssh).is_file()
    }

    pub(super) fn saw(ssh: &Ssh) {
        let _ = crate::state::write_private(&file(ssh), b"");
    }
}

/// The marker of this run's control lines: a record separator, a name and a random nonce.
fn control_marker() -> String {
    format!("\x1erunplz-exec-{:016x}:", fastrand::u64(..))
}

/// How long the stopping ssh call may take beyond the grace (connecting included).
pub(super) const KILL_SLACK: Duration = Duration::from_secs(30);

/// How long the launch follows the job it started before it answers: a job that ends by
/// then costs one ssh call in all. What the job prints meanwhile is shown when the launch
/// answers, so this is also how late its first lines may come.
const LAUNCH_FOLLOW: Duration = Duration::from_secs(1);

/// A poll that takes longer than this is stuck (its connection is gone): ended and retried.
const POLL_LIMIT: Duration = Duration::from_secs(90);

/// The job's streams in its run folder, in the order of a poll's offsets.
pub(super) const STREAMS: [&str; 3] = ["out", "err", "diag"];

fn kill_proc(ssh: &Ssh, run_id: &str, grace: Duration, signal: Signal) -> Proc {
    ssh.command(&kill_script(run_id, grace, signal))
        .output(Output::CaptureStdout)
        .timeout(Some(grace + KILL_SLACK))
}

/// Stop run `run_id` on the box (one ssh call), sending `signal` first.
pub(super) fn kill(ssh: &Ssh, run_id: &str, grace: Duration, signal: Signal) -> Result<()> {
    crate::process::require("ssh", "install openssh-client")?;
    let f = kill_proc(ssh, run_id, grace, signal).run()?;
    if f.status.success() {
        Ok(())
    } else {
        Err(tool_failed(format!(
            "stopping run {run_id} on {} failed (ssh exited with {}){}",
            ssh.destination(),
            f.status.code(),
            last_line(&f.tail(5))
        )))
    }
}

fn last_line(tail: &str) -> String {
    tail.lines()
        .last()
        .map(|l| format!(": {l}"))
        .unwrap_or_default()
}

/// What the launch said on ssh's stdout (other lines, such as a login's noise, are
/// ignored).
#[derive(Debug, Default, PartialEq)]
struct Control {
    started: bool,
    exists: bool,
    failed: Option<String>,
    /// The box lacks this runplz's supervisor, and nothing was done.
    nolib: bool,
}

fn control(stdout: &[u8], marker: &str) -> Control {
    let mut c = Control::default();
    // The first word of ours decides: the job's output may follow (in frames).
    for line in String::from_utf8_lossy(stdout).lines() {
        let Some(line) = line.strip_prefix(marker) else {
            continue;
        };
        if line == START {
            c.started = true;
        } else if line == EXISTS {
            c.exists = true;
        } else if let Some(why) = line.strip_prefix(FAIL) {
            c.failed = Some(why.to_string());
        } else if line == NOLIB {
            c.nolib = true;
        } else {
            continue;
        }
        break;
    }
    c
}

/// Where a run stands on the box, as one poll sees it (for the operations verbs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoxRun {
    /// The box has no job of this run id (never started, or read to its end and removed).
    None,
    /// Its job is running.
    Running,
    /// Its job ended with this code, for this reason (`exited`, `timed_out`, `inactive`, `cost_cap`).
    Ended {
        /// The shell's code (128+n for a death by signal n).
        code: u8,
        /// Why it ended.
        reason: String,
    },
}

/// Ask the box where run `run_id` stands (one ssh call; nothing is printed or changed).
pub fn status(ssh: &Ssh, run_id: &str) -> Result<BoxRun> {
    super::check_run_id(run_id)?;
    let marker = control_marker();
    // Offsets past any real size: only the state comes back.
    let poll = ssh
        .command(&poll_script(
            run_id,
            &marker,
            [u64::MAX / 4; 3],
            Duration::ZERO,
        ))
        .output(Output::Capture)
        .timeout(Some(POLL_LIMIT));
    let f = crate::ssh::retry::retry(
        &crate::ssh::tool(),
        &ssh.destination(),
        || poll.run(),
        crate::ssh::retry::connect_failure,
    )?;
    let fr = frames(&f.stdout, &marker);
    if !fr.contains(&Frame::End) {
        return Err(tool_failed(format!(
            "could not ask {} about run {run_id} (ssh exited with {}){}",
            ssh.destination(),
            f.status.code(),
            last_line(&f.tail(5))
        )));
    }
    Ok(fr
        .into_iter()
        .find_map(|f| match f {
            Frame::NoJob => Some(BoxRun::None),
            Frame::Exit { code, reason } => Some(BoxRun::Ended { code, reason }),
            _ => None,
        })
        .unwrap_or(BoxRun::Running))
}

/// Print the output of run `run_id` on the box (stdout to our stdout unless `to_stderr`,
/// the rest to our stderr), from the start; with `follow`, until the job ends, riding out
/// dropped connections. Returns where it stands at the end. For `runplz tail`.
pub fn tail(ssh: &Ssh, run_id: &str, follow_it: bool, to_stderr: bool) -> Result<BoxRun> {
    super::check_run_id(run_id)?;
    let marker = control_marker();
    let mut fo = Follower::new(!to_stderr, None, None)?;
    if follow_it {
        match follow(ssh, run_id, &marker, &mut fo, false, None)? {
            Followed::NoJob => return Ok(BoxRun::None),
            Followed::Interrupted(sig) => {
                return Err(CliError::new(
                    Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                    format!("interrupted by signal {sig}"),
                ))
            }
            Followed::Ended => {}
        }
    } else {
        // One poll at a time until nothing new comes.
        loop {
            let before = fo.offsets;
            let f = ssh
                .command(&poll_script(run_id, &marker, fo.offsets, Duration::ZERO))
                .output(Output::Capture)
                .timeout(Some(POLL_LIMIT))
                .run()?;
            let answered = fo.take(&f.stdout, &marker);
            if fo.no_job {
                return Ok(BoxRun::None);
            }
            if !answered {
                return Err(tool_failed(format!(
                    "could not read run {run_id} on {} (ssh exited with {})",
                    ssh.destination(),
                    f.status.code()
                )));
            }
            if fo.exit.is_some() || fo.offsets == before {
                break;
            }
        }
    }
    Ok(match fo.exit {
        Some((code, reason)) => BoxRun::Ended { code, reason },
        None => BoxRun::Running,
    })
}

/// Remove the run folder of a run read to its end (best effort: the sweep is the net).
fn forget(ssh: &Ssh, run_id: &str) {
    let f = ssh
        .command(&fill(FORGET, &[("ID", &quote::sh(run_id))]))
        .output(Output::Capture)
        .shielded()
        .timeout(Some(KILL_SLACK))
        .run();
    if !f.is_ok_and(|f| f.status.success()) {
        out::warn(
            &crate::ssh::tool(),
            format!(
                "could not remove ~/.runplz/runs/{run_id} on {} (swept a week after the run ended)",
                ssh.destination()
            ),
        );
    }
}

/// Stop the run on the box after we got `sig` (shielded: a second Ctrl-C must not cut the
/// stop short), saying so.
fn stop_on_box(ssh: &Ssh, opts: &ExecOptions, sig: i32) {
    let signal = crate::process::stop_signal(Some(sig));
    let (run_id, dest) = (&opts.run_id, ssh.destination());
    out::note(
        &crate::ssh::tool(),
        format!("stopping run {run_id} on {dest} ({})", signal.as_str()),
    );
    match kill_proc(ssh, run_id, opts.grace, signal).shielded().run() {
        Ok(k) if k.status.success() => {}
        Ok(k) => out::warn(
            &crate::ssh::tool(),
            format!(
                "stopping run {run_id} on {dest} failed (ssh exited with {}){}; it may still be running there",
                k.status.code(),
                last_line(&k.tail(5))
            ),
        ),
        Err(e) => out::warn(
            &crate::ssh::tool(),
            format!("stopping run {run_id} on {dest}: {e:#}"),
        ),
    }
}

/// Start the command on the box (the launch, see the module doc); with `fo`, the same call
/// then follows it for up to [`LAUNCH_FOLLOW`] (what it brought is in `fo`). Returns whether
/// the start is uncertain (the connection broke before the box answered; a poll tells).
fn launch(
    opts: &ExecOptions,
    ssh: &Ssh,
    marker: &str,
    fo: Option<&mut Follower>,
) -> Result<std::result::Result<bool, i32>> {
    let host = ssh.target().label();
    let follow = fo.as_ref().map(|_| LAUNCH_FOLLOW);
    // With no stdin for the job, or a small one taken by its length, ssh's stdin is free
    // after it: once the launch says `bye` (it sent the end), we answer `ok` and it forgets
    // the run itself.
    let bye = follow.is_some() && (opts.stdin.is_none() || stdin_len(opts).is_some());
    if let Some(super::Input::File(f)) = &opts.stdin {
        std::fs::File::open(f).map_err(|e| {
            tool_failed(format!(
                "reading {} for the command's stdin: {e}",
                f.display()
            ))
        })?;
    }
    let first = |install: bool| {
        let script = launch_script(opts, marker, follow, bye, install);
        let mut first = match &opts.stdin {
            // Without a stdin for the job, the whole launch (its environment in it) goes on
            // ssh's stdin: nothing long on the command line.
            None => ssh.command_on_stdin().stdin(script.into_bytes()),
            // Else the environment and then the job's stdin go there, after the command line.
            Some(super::Input::Bytes(b)) => {
                let mut input = env_block(opts).into_bytes();
                input.extend_from_slice(b);
                ssh.command(&script).stdin(input)
            }
            // Streamed after the env block, never read into memory.
            Some(super::Input::File(f)) => ssh
                .command(&script)
                .stdin_then_path(env_block(opts).into_bytes(), f),
        }
        .output(Output::Capture);
        if bye {
            first = first.answer_on(format!("{marker}bye\n"), "ok\n");
        }
        first
    };
    let mut tries = 0;
    // Where this machine saw the supervisor on the box, it is not sent again; a box that
    // lost it says so having done nothing, and is sent it.
    let mut install = !lib::seen(ssh);
    let mut proc = first(install);
    // A launch that never reached the box is tried again; one that did is never run twice
    // (the box refuses a second start of a run id).
    let f = loop {
        let f = crate::ssh::retry::retry(
            &crate::ssh::tool(),
            &ssh.destination(),
            || {
                tries += 1;
                proc.run()
            },
            |f| {
                let c = control(&f.stdout, marker);
                if f.interrupted.is_some() || c.started || c.exists || c.failed.is_some() || c.nolib
                {
                    return None;
                }
                crate::ssh::retry::connect_failure(f)
            },
        )?;
        if f.interrupted.is_none() && !install && control(&f.stdout, marker).nolib {
            install = true;
            tries = 0;
            proc = first(true);
            continue;
        }
        break f;
    };
    let c = control(&f.stdout, marker);
    if c.started && install {
        lib::saw(ssh);
    }
    // What the job printed while the launch followed it (each byte once; a cut frame is
    // asked for again).
    if c.started {
        if let Some(fo) = fo {
            fo.take(&f.stdout, marker);
            // Its last word: the folder is gone (only once the end was sent and answered).
            fo.forgotten = fo.exit.is_some()
                && f.status.success()
                && find(&f.stdout, format!("{marker}forgot\n").as_bytes()).is_some();
        }
    }
    if let Some(sig) = f.interrupted {
        return Ok(Err(sig));
    }
    if let Some(why) = c.failed {
        return Err(tool_failed(format!(
            "setting up run {} on {host} failed: {why}",
            opts.run_id
        )));
    }
    if c.started {
        return Ok(Ok(false));
    }
    if c.exists && tries == 1 {
        return Err(CliError::new(
            Exit::Usage,
            format!(
                "run {} already has a job on {host} (~/.runplz/runs/{}): refusing to start a second one; pick another --run-id",
                opts.run_id, opts.run_id
            ),
        ));
    }
    if !c.exists && crate::ssh::retry::connect_failure(&f).is_some() {
        return Err(tool_failed(format!(
            "could not run on {host}: ssh exited with {} before the command started{}",
            f.status.code(),
            f.tail(5)
                .lines()
                .map(|l| format!("\n  {}", l.trim_end()))
                .collect::<String>()
        )));
    }
    if !c.exists && f.status.code() != 255 {
        // The box answered, said nothing of ours: no POSIX sh there, or a broken login.
        return Err(tool_failed(format!(
            "could not run on {host}: ssh exited with {} before the command started{}",
            f.status.code(),
            last_line(&f.tail(5))
        )));
    }
    out::warn(
        &crate::ssh::tool(),
        format!(
            "the connection to {host} broke while starting run {}; asking the box whether it started",
            opts.run_id
        ),
    );
    match status(ssh, &opts.run_id) {
        Ok(BoxRun::None) => Err(tool_failed(format!(
            "the connection to {host} broke while starting run {}, and the box has no job of it: not starting it again, as the first start may still be on its way; run it again (with a new run id)",
            opts.run_id
        ))),
        Ok(_) => Ok(Ok(true)),
        Err(e) => Err(tool_failed(format!(
            "could not run on {host}: ssh exited with {} before the command started{}; asking again: {e:#}",
            f.status.code(),
            last_line(&f.tail(5))
        ))),
    }
}

/// Launch only (see [`super::start`]).
pub(super) fn start(opts: &ExecOptions, ssh: &Ssh) -> Result<()> {
    crate::process::require("ssh", "install openssh-client")?;
    match launch(opts, ssh, &control_marker(), None)? {
        Ok(_) => Ok(()),
        Err(sig) => {
            stop_on_box(ssh, opts, sig);
            Err(CliError::new(
                Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                format!("interrupted by signal {sig}"),
            ))
        }
    }
}

pub(super) fn run(opts: &ExecOptions, ssh: &Ssh) -> Result<ExecReport> {
    crate::process::require("ssh", "install openssh-client")?;
    let host = ssh.target().label();
    let began = Instant::now();
    let marker = control_marker();
    let run_id = &opts.run_id;
    let mut fo = Follower::new(
        opts.pass_stdout,
        opts.log.as_deref(),
        opts.stamped_log.as_deref(),
    )?;
    let mut interrupted = None;
    match launch(opts, ssh, &marker, Some(&mut fo))? {
        Err(sig) => {
            // It may have started: stop it (a start still on its way refuses, by the mark).
            interrupted = Some(sig);
            stop_on_box(ssh, opts, sig);
            let _ = follow(ssh, run_id, &marker, &mut fo, true, Some(opts.grace + KILL_SLACK));
        }
        // The launch may have followed it to its end already.
        Ok(_) if fo.exit.is_some() => {}
        Ok(uncertain) => match follow(ssh, run_id, &marker, &mut fo, false, None)? {
            Followed::Ended => {}
            Followed::NoJob if uncertain => {
                return Err(tool_failed(format!(
                    "the connection to {host} broke while starting run {run_id}, and the box has no job of it: not starting it again, as the first start may still be on its way; run it again (with a new run id)"
                )))
            }
            Followed::NoJob => {
                return Err(tool_failed(format!(
                    "run {run_id} is gone from {host} (its folder ~/.runplz/runs/{run_id} was removed while it ran)"
                )))
            }
            Followed::Interrupted(sig) => {
                interrupted = Some(sig);
                stop_on_box(ssh, opts, sig);
                // What it printed while stopping, and how it ended.
                if !matches!(
                    follow(ssh, run_id, &marker, &mut fo, true, Some(opts.grace + KILL_SLACK)),
                    Ok(Followed::Ended)
                ) {
                    out::warn(
                        &crate::ssh::tool(),
                        format!("could not read how run {run_id} ended on {host}"),
                    );
                }
            }
        },
    }
    if fo.exit.is_some() && !fo.forgotten {
        forget(ssh, run_id);
    }
    let (rc, reason) = fo.exit.clone().unzip();
    let reason = reason.unwrap_or_default();
    let inactive = reason == "inactive";
    let cost_cap = reason == "cost_cap";
    let timed_out = reason == "timed_out" || inactive || cost_cap;
    // The shell reports a death by signal n as 128+n.
    let status = rc.map(|c| match c {
        129..=192 => Status::Signaled(i32::from(c) - 128),
        c => Status::Exited(i32::from(c)),
    });
    let (code, signal) = outcome(status, timed_out, interrupted);
    if inactive {
        out::note(
            &crate::ssh::tool(),
            format!(
                "no output for {}s; stopped the command on {host}",
                opts.inactivity
                    .map(|i| i.after.as_secs())
                    .unwrap_or_default()
            ),
        );
    } else if cost_cap {
        out::note(
            &crate::ssh::tool(),
            format!("the run's cost cap was reached; stopped the command on {host}"),
        );
    } else if timed_out {
        out::note(
            &crate::ssh::tool(),
            format!(
                "timed out after {:.1}s; stopped the command on {host}",
                opts.timeout.unwrap_or_default().as_secs_f64()
            ),
        );
    } else if let Some(sig) = interrupted {
        out::note(
            &crate::ssh::tool(),
            format!("got signal {sig}; stopped the command on {host}"),
        );
    }
    Ok(ExecReport {
        host: Some(host),
        run_id: opts.run_id.clone(),
        argv: opts.argv.clone(),
        exit_code: code,
        timed_out,
        inactive: opts.inactivity.filter(|_| inactive).map(|i| i.after),
        cost_cap,
        signal,
        interrupted,
        duration: began.elapsed(),
        log: opts.log.clone(),
        output_tail: fo.tail(OUTPUT_TAIL_LINES),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn fill_is_one_pass() {
        assert_eq!(
            fill("a @X@ b @Y@ c@", &[("X", "@Y@"), ("Y", "y")]),
            "a @Y@ b y c@"
        );
        assert_eq!(fill("e@mail @Z@", &[("X", "1")]), "e@mail @Z@");
    }

    #[test]
    fn workdir_words() {
        assert_eq!(workdir_word(None), "\"$HOME\"");
        assert_eq!(workdir_word(Some("~/my dir")), "\"$HOME\"/'my dir'");
        assert_eq!(workdir_word(Some("~")), "\"$HOME\"");
        assert_eq!(workdir_word(Some("w/x/")), "\"$HOME\"/w/x");
        assert_eq!(workdir_word(Some("/tmp/x")), "/tmp/x");
        assert_eq!(workdir_word(Some("-x")), "\"$HOME\"/-x");
    }

    #[test]
    fn scripts_parse() {
        let mut o = ExecOptions::new(vec!["printf".into(), "%s\\n".into(), "it's $(x)".into()]);
        o.env = vec![("A".into(), "x'\n\"$(y)`z`".into())];
        o.timeout = Some(Duration::from_millis(1500));
        o.workdir = Some("~/w d".into());
        o.watch_dir = Some("runplz-out/r-1".into());
        o.inactivity = Some(super::super::Inactivity {
            after: Duration::from_secs(3),
            terminate: true,
        });
        for script in [
            launch_script(&o, &control_marker(), None, false, false),
            launch_script(
                &o,
                &control_marker(),
                Some(Duration::from_secs(2)),
                true,
                true,
            ),
            supervisor_script(&o),
            supervisor_lib().to_string(),
            supervisor_more().to_string(),
            poll_script("r-1", &control_marker(), [1, 2, 3], Duration::from_secs(2)),
            kill_script("r-1", Duration::from_secs(1), Signal::SIGINT),
        ] {
            sh_parses(&script);
        }
        let s = supervisor_script(&o);
        assert!(
            s.contains("rp_limit=1.500 rp_lreason=timed_out "),
            "the deadline itself, on the box: {s}"
        );
        assert!(s.contains("rp_quiet=3 rp_qstop=1 rp_watch=\"$HOME\"/runplz-out/r-1\n"));
        assert!(s.contains("set -- printf '%s\\n' 'it'\\''s $(x)'\n"), "{s}");
        // The cost cap is a deadline of its own reason; the earlier of the two wins.
        o.cost_cap = Some(Duration::from_millis(900));
        let s = supervisor_script(&o);
        assert!(s.contains("rp_limit=0.900 rp_lreason=cost_cap "));
        o.cost_cap = Some(Duration::from_secs(9));
        let s = supervisor_script(&o);
        assert!(s.contains("rp_limit=1.500 rp_lreason=timed_out "));
        o.timeout = None;
        let s = supervisor_script(&o);
        assert!(s.contains("rp_limit=9.000 rp_lreason=cost_cap "));
        let l = launch_script(&o, "\x1erunplz-exec-00:", None, false, true);
        assert!(!l.contains("@TAKE@") && !l.contains("@SUPERVISOR@") && !l.contains("@LIB@"));
        // Without a stdin for the job, its environment is in the script (which goes on ssh's
        // stdin), written by a builtin; with one, it follows on ssh's stdin, taken by length.
        assert!(
            l.contains("printf '%s' 'export A=") && !l.contains("rp_take"),
            "{l}"
        );
        let mut with_stdin = o.clone();
        with_stdin.stdin = Some(super::super::Input::Bytes(b"in".to_vec()));
        let taken = launch_script(&with_stdin, &control_marker(), None, false, true);
        sh_parses(&taken);
        assert!(
            taken.contains("rp_take 2 >") && !taken.contains("export A="),
            "{taken}"
        );
        assert!(!s.contains('@') && !supervisor_lib().contains("@MORE@"));
        assert!(
            supervisor_more().contains("rp_diagnose >>")
                && !supervisor_lib().contains("rp_diagnose")
        );
        assert!(supervisor_lib().contains(&supervisor_more_path()));
        // The supervisor goes only where the box lacks it; a plain run's launch is short
        // and carries no comment of ours at all.
        let plain = ExecOptions::new(vec!["true".into()]);
        let launch = |install| {
            launch_script(
                &plain,
                &control_marker(),
                Some(Duration::from_secs(1)),
                true,
                install,
            )
        };
        let (short, long) = (launch(false), launch(true));
        for l in [&short, &long] {
            sh_parses(l);
            assert!(!l.lines().any(|x| x.trim_start().starts_with('#')), "{l}");
            assert!(l.contains(supervisor_lib_path()));
        }
        assert!(!short.contains("rp_clean") && long.contains("rp_clean"));
        assert!(short.contains(NOLIB) && !long.contains(NOLIB));
        assert!(short.len() + supervisor_lib().len() + supervisor_more().len() <= long.len());
        assert!(supervisor_lib_path().starts_with(".runplz/lib/supervise-"));
    }

    /// `sh -n` reads `script` without a syntax error.
    fn sh_parses(script: &str) {
        let out = Command::new("sh")
            .args(["-n", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn control_lines() {
        let m = "\x1erunplz-exec-00:";
        let c = control(format!("noise\n{m}start\n").as_bytes(), m);
        assert!(c.started && !c.exists && c.failed.is_none());
        assert_eq!(control(b"start\n", m), Control::default(), "not ours");
        assert!(control(format!("{m}exists\n").as_bytes(), m).exists);
        assert_eq!(
            control(format!("{m}fail no setsid\n").as_bytes(), m)
                .failed
                .as_deref(),
            Some("no setsid")
        );
    }
}
