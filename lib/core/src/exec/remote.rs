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

/// How long a poll waits on the box for something new before it answers anyway (it looks
/// in rounds growing from 5 ms to 0.2 s); the most bytes one carries is [`POLL_MAX_BYTES`].
const POLL_WAIT: Duration = Duration::from_secs(10);

/// How long the launch follows the job it started before it answers: a job that ends by
/// then costs one ssh call in all. What the job prints meanwhile is shown when the launch
/// answers, so this is also how late its first lines may come.
const LAUNCH_FOLLOW: Duration = Duration::from_secs(1);

/// A poll that takes longer than this is stuck (its connection is gone): ended and retried.
const POLL_LIMIT: Duration = Duration::from_secs(90);

/// How long the client keeps trying to reach the box again after the connection dropped,
/// before it gives up (the job runs on; the verbs can reattach).
const RECONNECT_FOR: Duration = Duration::from_secs(15 * 60);

/// The pauses between tries to reconnect (the last one repeats).
const BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
];

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

/// One thing a poll said.
#[derive(Debug, PartialEq)]
enum Frame {
    /// Bytes of stream `stream` (an index into [`STREAMS`]) from `offset` on.
    Data {
        stream: usize,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The job ended: its code and why (`exited`, `timed_out`, `inactive`, `cost_cap`).
    Exit { code: u8, reason: String },
    /// The box has no job of this run id.
    NoJob,
    /// The poll's last word: it answered in full.
    End,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The complete frames in a poll's stdout, in order. Bytes before the first marker (a
/// login's noise) and a frame cut short by a broken connection are left out; data is taken
/// by its count, so nothing the job printed can pass for a frame.
fn frames(buf: &[u8], marker: &str) -> Vec<Frame> {
    let m = marker.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = find(&buf[i..], m) {
        let head = i + at + m.len();
        let Some(nl) = buf[head..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = String::from_utf8_lossy(&buf[head..head + nl]).into_owned();
        let body = head + nl + 1;
        let mut words = line.split(' ');
        match words.next() {
            Some("data") => {
                let nums: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
                let [stream, offset, count] = nums[..] else {
                    break;
                };
                let end = body.saturating_add(usize::try_from(count).unwrap_or(usize::MAX));
                if end > buf.len() || stream as usize >= STREAMS.len() {
                    break;
                }
                out.push(Frame::Data {
                    stream: stream as usize,
                    offset,
                    bytes: buf[body..end].to_vec(),
                });
                i = end;
                continue;
            }
            Some("exit") => {
                let code = words.next().and_then(|c| c.parse::<u16>().ok());
                let reason = words.next().unwrap_or("exited").to_string();
                out.push(Frame::Exit {
                    code: code.map_or(Exit::ToolFailed.code(), |c| (c & 0xff) as u8),
                    reason,
                });
            }
            Some("none") => out.push(Frame::NoJob),
            Some("end") => out.push(Frame::End),
            _ => {}
        }
        i = body;
    }
    out
}

/// A run followed from this side: where its bytes go and how far each stream was read.
struct Follower {
    offsets: [u64; 3],
    pass_stdout: bool,
    log: Option<std::fs::File>,
    /// The timestamped copy (see [`crate::process::stamped`]).
    stamped: Option<std::sync::Arc<crate::process::stamped::StampedLog>>,
    /// The last bytes of out and err, for [`ExecReport::output_tail`].
    kept: Vec<u8>,
    exit: Option<(u8, String)>,
    no_job: bool,
    /// The box already removed the run folder (the launch did, after our answer).
    forgotten: bool,
}

const KEPT_BYTES: usize = 16 * 1024;

impl Follower {
    fn new(
        pass_stdout: bool,
        log: Option<&std::path::Path>,
        stamped: Option<&std::path::Path>,
    ) -> Result<Follower> {
        let log = match log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| tool_failed(format!("opening the log {}: {e}", p.display())))?,
            ),
            None => None,
        };
        Ok(Follower {
            offsets: [0; 3],
            pass_stdout,
            log,
            // Best effort, as the plain log's copy in runplz: a job never fails for it.
            stamped: stamped.and_then(|p| crate::process::stamped::StampedLog::open(p).ok()),
            kept: Vec::new(),
            exit: None,
            no_job: false,
            forgotten: false,
        })
    }

    /// Show what a poll brought (each byte once, in order); whether it answered in full.
    fn take(&mut self, stdout: &[u8], marker: &str) -> bool {
        let mut end = false;
        for f in frames(stdout, marker) {
            match f {
                Frame::Data {
                    stream,
                    offset,
                    bytes,
                } => {
                    let have = self.offsets[stream];
                    // A frame from past what we hold would leave a gap: asked again later.
                    if offset > have || offset + bytes.len() as u64 <= have {
                        continue;
                    }
                    let new = &bytes[(have - offset) as usize..];
                    self.emit(stream, new);
                    self.offsets[stream] += new.len() as u64;
                }
                Frame::Exit { code, reason } => self.exit = Some((code, reason)),
                Frame::NoJob => self.no_job = true,
                Frame::End => end = true,
            }
        }
        end
    }

    fn emit(&mut self, stream: usize, bytes: &[u8]) {
        if stream == 0 && self.pass_stdout {
            let out = std::io::stdout();
            let mut l = out.lock();
            let _ = l.write_all(bytes).and_then(|_| l.flush());
        } else {
            crate::progress::stderr(bytes);
        }
        // The diagnosis is for the person watching, as it was said live.
        if stream == 2 {
            return;
        }
        if let Some(l) = self.log.as_mut() {
            let _ = l.write_all(bytes);
        }
        if let Some(l) = &self.stamped {
            // Without pass_stdout the box keeps both streams in `out`, in order.
            let name = match (stream, self.pass_stdout) {
                (0, true) => "stdout",
                (0, false) => "output",
                _ => "stderr",
            };
            l.write(name, bytes);
        }
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > KEPT_BYTES {
            let cut = self.kept.len() - KEPT_BYTES;
            self.kept.drain(..cut);
        }
    }

    fn tail(&self, n: usize) -> String {
        let text = String::from_utf8_lossy(&self.kept);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// How following a run ended.
#[derive(Debug, PartialEq)]
enum Followed {
    /// The job ended (its exit is in the follower).
    Ended,
    /// The box has no job of this run id.
    NoJob,
    /// We got this signal.
    Interrupted(i32),
}

/// Sleep for `d`, waking early with the signal that came (unless `shielded`).
fn pause(d: Duration, shielded: bool) -> Option<i32> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if !shielded {
            if let Some(sig) = crate::process::take_pending_signal() {
                return Some(sig);
            }
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    None
}

/// Follow run `run_id` to its end (or until `limit` passes, when given), polling; a broken
/// poll is retried with backoff from the same offsets for up to [`RECONNECT_FOR`].
fn follow(
    ssh: &Ssh,
    run_id: &str,
    marker: &str,
    fo: &mut Follower,
    shielded: bool,
    limit: Option<Duration>,
) -> Result<Followed> {
    let host = ssh.target().label();
    let began = Instant::now();
    let mut down: Option<(Instant, usize)> = None;
    loop {
        if !shielded {
            if let Some(sig) = crate::process::take_pending_signal() {
                return Ok(Followed::Interrupted(sig));
            }
        }
        let wait = match limit {
            Some(_) => Duration::from_secs(1),
            None => POLL_WAIT,
        };
        let mut poll = ssh
            .command(&poll_script(run_id, marker, fo.offsets, wait))
            .output(Output::Capture)
            .timeout(Some(POLL_LIMIT));
        if shielded {
            poll = poll.shielded();
        }
        let f = poll.run()?;
        let answered = fo.take(&f.stdout, marker);
        if answered && f.status.success() {
            if let Some((since, _)) = down.take() {
                out::note(
                    &crate::ssh::tool(),
                    format!(
                        "reconnected to {host} after {:.0}s; the output goes on where it stopped",
                        since.elapsed().as_secs_f64()
                    ),
                );
            }
        }
        if fo.exit.is_some() {
            return Ok(Followed::Ended);
        }
        if fo.no_job {
            return Ok(Followed::NoJob);
        }
        if let Some(sig) = f.interrupted {
            return Ok(Followed::Interrupted(sig));
        }
        if limit.is_some_and(|l| began.elapsed() > l) {
            return Err(tool_failed(format!(
                "run {run_id} on {host} did not end in time"
            )));
        }
        if answered && f.status.success() {
            continue;
        }
        // ssh says 255 for a connection that broke (or never came), and dies by a signal
        // when killed; anything else is the poll itself failing there: said at once.
        let broken = f.timed_out || matches!(f.status, Status::Exited(255) | Status::Signaled(_));
        if !broken {
            return Err(tool_failed(format!(
                "reading run {run_id} on {host} failed (exited with {}){}",
                f.status.code(),
                last_line(&String::from_utf8_lossy(&f.stderr))
            )));
        }
        let (since, tries) = down.get_or_insert_with(|| {
            let why = last_line(&String::from_utf8_lossy(&f.stderr));
            out::warn(
                &crate::ssh::tool(),
                format!(
                    "lost the connection to {host} (ssh exited with {}{why}); the job runs on there: reconnecting",
                    f.status.code()
                ),
            );
            (Instant::now(), 0)
        });
        if since.elapsed() > RECONNECT_FOR {
            return Err(tool_failed(format!(
                "lost the connection to {host} while the command ran and could not reconnect for {} minutes (ssh exited with {}{}); run {run_id} may still be running there",
                RECONNECT_FOR.as_secs() / 60,
                f.status.code(),
                last_line(&String::from_utf8_lossy(&f.stderr))
            )));
        }
        let wait = BACKOFF[(*tries).min(BACKOFF.len() - 1)];
        *tries += 1;
        if let Some(sig) = pause(wait, shielded) {
            return Ok(Followed::Interrupted(sig));
        }
    }
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

    #[test]
    fn frames_are_counted_and_a_cut_frame_is_left_out() {
        let m = "\x1erunplz-exec-00:";
        // The data holds a forged frame and a marker; both are just bytes.
        let data = format!("a\n{m}exit 0 exited\n");
        let buf = format!(
            "login noise\n{m}data 0 5 {}\n{data}{m}data 1 0 2\nb\n{m}exit 3 timed_out\n{m}end\n",
            data.len()
        );
        let f = frames(buf.as_bytes(), m);
        assert_eq!(
            f,
            vec![
                Frame::Data {
                    stream: 0,
                    offset: 5,
                    bytes: data.clone().into_bytes()
                },
                Frame::Data {
                    stream: 1,
                    offset: 0,
                    bytes: b"b\n".to_vec()
                },
                Frame::Exit {
                    code: 3,
                    reason: "timed_out".into()
                },
                Frame::End
            ]
        );
        // The poll's keep-alive newlines between frames are nothing.
        assert_eq!(
            frames(format!("\n\n{m}end\n\n").as_bytes(), m),
            vec![Frame::End]
        );
        // Cut in the middle of the first frame's data: nothing of it.
        let cut = &buf.as_bytes()[..buf.find("exit 0").unwrap()];
        assert_eq!(frames(cut, m), vec![]);
    }

    #[test]
    fn the_follower_shows_each_byte_once() {
        let m = "\x1erunplz-exec-00:";
        let mut fo = Follower::new(false, None, None).unwrap();
        assert!(fo.take(format!("{m}data 1 0 4\nabcd{m}end\n").as_bytes(), m));
        // A repeat overlapping what we hold: only the new part counts.
        fo.take(format!("{m}data 1 2 4\ncdef").as_bytes(), m);
        // A gap: left for the next poll.
        fo.take(format!("{m}data 1 9 1\nz").as_bytes(), m);
        assert_eq!(fo.offsets, [0, 6, 0]);
        assert_eq!(fo.tail(5), "abcdef");
    }
}
