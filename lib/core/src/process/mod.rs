//! The one way runplz runs a child program. Every child gets its own process group; on a
//! deadline the whole group gets TERM, a grace period, then KILL; when runplz itself gets
//! SIGINT/SIGTERM/SIGHUP the group gets that same signal (so a job sees Ctrl-C as INT and can
//! save its work), the grace, then KILL. Success is judged by exit status, never by stderr.
//! Errors name the command, its status and the tail of its output.

use crate::error::CliError;
use anyhow::{Context, Result};
use nix::sys::signal::killpg;
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;
use runplz_protocol::Exit;
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod finished;
mod pipes;
mod signals;
pub mod stamped;

pub use finished::{Finished, Status};

use pipes::{spawn_feeder, spawn_pump, spawn_pump_to, spawn_watch, Dest, Gate, Watcher};

pub use signals::{
    install_signal_handlers, pending_signal, received_signal, signal_count, take_pending_signal,
};

/// How much of a streamed output is kept for error messages.
const TAIL_BYTES: usize = 16 * 1024;

/// Find a program on PATH, or fail with a one-line error saying how to install it.
pub fn require(program: &str, install_hint: &str) -> Result<PathBuf> {
    which::which(program).map_err(|_| {
        CliError::new(
            Exit::ToolFailed,
            format!("`{program}` not found on PATH; {install_hint}"),
        )
    })
}

/// Where a child's stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Both captured in memory (for small outputs such as probe facts).
    Capture,
    /// Both streamed live to our stderr (stdout is data-only), optionally also appended
    /// to a log file; the tail is kept for error messages.
    Stream {
        /// A log file to tee into.
        log: Option<PathBuf>,
    },
    /// stdout captured, stderr streamed live to our stderr.
    CaptureStdout,
    /// stdout captured, stderr streamed live to our stderr and appended to a log file (a
    /// control channel on stdout beside a live log: rp-exec over ssh).
    StreamStderr {
        /// A log file to tee stderr into.
        log: Option<PathBuf>,
    },
    /// The child's stdout to our stdout (with `stdout_to_stderr`, to our stderr) and its
    /// stderr to our stderr, both live and appended to the log; the tail of both is kept.
    /// With `control`, each `MARKER text` line is taken out of its stdout and kept, as
    /// `text`, in [`Finished::stdout`] (a control channel beside the job's own output).
    Passthrough {
        /// A log file to tee both into.
        log: Option<PathBuf>,
        /// Send the child's stdout to our stderr (our stdout carries a record).
        stdout_to_stderr: bool,
        /// The marker of control lines in the child's stdout.
        control: Option<String>,
        /// Hold the child's stderr back until this control line comes (a wrapper's "it
        /// started"); held output that never goes out is still in [`Finished::stderr`].
        hold_stderr_until: Option<String>,
    },
}

/// A callback [`Proc::run`] makes at a fixed point of the child's life; see
/// [`Proc::after_exit`] (and, given the stopping signal, [`Proc::on_stop_with`]).
#[derive(Clone)]
pub struct Hook(Arc<dyn Fn() + Send + Sync>);

impl Hook {
    /// Wrap a closure.
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Hook {
        Hook(Arc::new(f))
    }

    fn call(&self) {
        (self.0)()
    }
}

/// A [`Proc::on_stdout`] callback, given the child's stdout piece by piece as it comes.
#[derive(Clone)]
struct OutHook(Watcher);

impl std::fmt::Debug for OutHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutHook(..)")
    }
}

/// A [`Proc::on_stop`] / [`Proc::on_stop_with`] callback, given the stopping signal.
#[derive(Clone)]
struct StopHook(Arc<dyn Fn(Signal) + Send + Sync>);

impl std::fmt::Debug for StopHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopHook(..)")
    }
}

/// The signal that stops a child: TERM on a deadline, else the one runplz received (INT,
/// TERM or HUP; anything unexpected reads as TERM).
pub fn stop_signal(interrupted: Option<i32>) -> Signal {
    interrupted
        .and_then(|n| Signal::try_from(n).ok())
        .filter(|s| matches!(s, Signal::SIGINT | Signal::SIGTERM | Signal::SIGHUP))
        .unwrap_or(Signal::SIGTERM)
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook(..)")
    }
}

/// A child program to run. Build with [`Proc::new`], then [`Proc::run`] or [`Proc::check`].
#[derive(Debug, Clone)]
pub struct Proc {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    stdin_head: Option<Vec<u8>>,
    stdin_path: Option<PathBuf>,
    output: Output,
    timeout: Option<Duration>,
    grace: Duration,
    on_stop: Option<StopHook>,
    stop_wait: Duration,
    after_exit: Option<Hook>,
    shielded: bool,
    die_with_parent: bool,
    quiet: Option<(Duration, Option<Hook>)>,
    on_stdout: Option<OutHook>,
    stamped: Option<Arc<stamped::StampedLog>>,
    answer: Option<(Vec<u8>, Vec<u8>)>,
}

impl Proc {
    /// A child running `program` (a name looked up on PATH, or a path).
    pub fn new(program: impl Into<OsString>) -> Self {
        Proc {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            dir: None,
            stdin: None,
            stdin_head: None,
            stdin_path: None,
            output: Output::Capture,
            timeout: None,
            grace: Duration::from_secs(5),
            on_stop: None,
            stop_wait: Duration::ZERO,
            after_exit: None,
            shielded: false,
            die_with_parent: false,
            quiet: None,
            on_stdout: None,
            stamped: None,
            answer: None,
        }
    }

    fn stamp(&self, stream: &'static str) -> pipes::Stamp {
        self.stamped.as_ref().map(|l| (Arc::clone(l), stream))
    }

    /// Also copy the output that is streamed (not captured) to a timestamped log, each
    /// line tagged with its stream (see [`stamped`]).
    pub fn stamped_log(mut self, log: Option<Arc<stamped::StampedLog>>) -> Self {
        self.stamped = log;
        self
    }

    /// Add one argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable for the child.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Remove an environment variable for the child.
    pub fn env_remove(mut self, k: impl Into<OsString>) -> Self {
        self.env_remove.push(k.into());
        self
    }

    /// Run in this directory.
    pub fn dir(mut self, d: impl Into<PathBuf>) -> Self {
        self.dir = Some(d.into());
        self
    }

    /// Feed this file on stdin, streamed (for inputs too big to hold in memory).
    pub fn stdin_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.stdin = None;
        self.stdin_head = None;
        self.stdin_path = Some(path.into());
        self
    }

    /// Feed these bytes on stdin (otherwise stdin is /dev/null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self.stdin_head = None;
        self.stdin_path = None;
        self
    }

    /// Feed `head`, then the file at `path`, on stdin: the file is streamed through a pipe
    /// by a writer thread, never held in memory (a header before a big input, such as the
    /// env block before a remote command's stdin). An unreadable file fails [`Proc::run`].
    pub fn stdin_then_path(mut self, head: impl Into<Vec<u8>>, path: impl Into<PathBuf>) -> Self {
        self.stdin = None;
        self.stdin_head = Some(head.into());
        self.stdin_path = Some(path.into());
        self
    }

    /// With captured output ([`Output::Capture`]), keep the child's stdin open after the
    /// [`Proc::stdin`] bytes, and once its stdout holds `needle`, write `reply` and close it
    /// (stdin also closes when the child ends). The only way an ssh call's remote script can
    /// hear that its output arrived here. Not with a stdin file.
    pub fn answer_on(mut self, needle: impl Into<Vec<u8>>, reply: impl Into<Vec<u8>>) -> Self {
        self.answer = Some((needle.into(), reply.into()));
        self
    }

    /// Where output goes (default: captured).
    pub fn output(mut self, o: Output) -> Self {
        self.output = o;
        self
    }

    /// A hard wall-clock limit; past it the group gets TERM, the grace, then KILL.
    pub fn timeout(mut self, t: Option<Duration>) -> Self {
        self.timeout = t;
        self
    }

    /// The grace between the stopping signal (TERM, or the one runplz received) and KILL
    /// (default 5 s).
    pub fn grace(mut self, g: Duration) -> Self {
        self.grace = g;
        self
    }

    /// Call `f` once when the deadline passes or runplz gets a signal, before the group gets
    /// its stopping signal; the child keeps running (and streaming) until `f` returns. For
    /// stopping what the child started elsewhere first: killing an ssh client does not kill
    /// its remote command.
    pub fn on_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_stop = Some(StopHook(Arc::new(move |_| f())));
        self
    }

    /// [`Proc::on_stop`], told the signal the group is about to get: TERM on the deadline,
    /// else the signal runplz received (INT for Ctrl-C), so a remote job can get the same.
    pub fn on_stop_with(mut self, f: impl Fn(Signal) + Send + Sync + 'static) -> Self {
        self.on_stop = Some(StopHook(Arc::new(f)));
        self
    }

    /// After the [`Proc::on_stop`] hook returns, give the child up to `d` to end by itself
    /// before it gets the stopping signal (default: no wait). For an ssh client whose remote
    /// command the hook has stopped: it only has to pass on how that command ended.
    pub fn stop_wait(mut self, d: Duration) -> Self {
        self.stop_wait = d;
        self
    }

    /// Call `f` once after the child exited and its group got the final KILL, before the
    /// output is drained: for killing what escaped the group (a `setsid` grandchild that
    /// still holds the output pipe).
    pub fn after_exit(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.after_exit = Some(Hook::new(f));
        self
    }

    /// Stop the child like at a deadline (TERM, the grace, KILL) once it has printed nothing
    /// for `after` (its output must be streamed). [`Finished::inactive`] says it happened.
    pub fn quiet_stop(mut self, after: Duration) -> Self {
        self.quiet = Some((after, None));
        self
    }

    /// Call `f` each time the child has printed nothing for `after` (its output must be
    /// streamed); the child runs on. For saying what a quiet job is doing.
    pub fn quiet_diagnose(mut self, after: Duration, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.quiet = Some((after, Some(Hook::new(f))));
        self
    }

    /// Call `f` with the child's stdout as it comes, while it is still captured whole into
    /// [`Finished::stdout`] (captured outputs only: [`Output::Capture`],
    /// [`Output::CaptureStdout`], [`Output::StreamStderr`]). For progress a tool prints
    /// there (rsync's `--info=progress2`).
    pub fn on_stdout(mut self, f: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        self.on_stdout = Some(OutHook(Arc::new(f)));
        self
    }

    /// KILL the child when runplz dies, even by SIGKILL (`PR_SET_PDEATHSIG`): for transfers
    /// (rsync), which must not run on as orphans after a `kill -9` of the tool.
    pub fn die_with_parent(mut self) -> Self {
        self.die_with_parent = true;
        self
    }

    /// Shield the child from runplz's own signals: a pending or new Ctrl-C neither stops it
    /// nor is taken by it, and its own group is not in our foreground group's way. The hard
    /// timeout still holds. For clean-up (removing a container, deleting a billed box), which
    /// must finish even when the user presses Ctrl-C again while it runs.
    pub fn shielded(mut self) -> Self {
        self.shielded = true;
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| crate::quote::sh(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The program found on the child's PATH, when it is a bare name. duct hands std the
    /// whole environment, PATH included, and std then searches PATH in a forked child (a
    /// copy of this process's memory map) instead of spawning with `posix_spawn` (a vfork):
    /// given the path, it spawns. The child still sees the name as its argv\[0\]. `None`:
    /// left to the exec (not found, or the child has no PATH).
    fn on_path(&self) -> Option<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        if self.program.as_bytes().contains(&b'/') || self.program.is_empty() {
            return None;
        }
        if self.env_remove.iter().any(|k| k == "PATH") {
            return None;
        }
        let path = match self.env.iter().rev().find(|(k, _)| k == "PATH") {
            Some((_, v)) => v.clone(),
            None => std::env::var_os("PATH")?,
        };
        let cwd = match &self.dir {
            Some(d) => d.clone(),
            None => std::env::current_dir().ok()?,
        };
        // A relative PATH entry is the child's (it runs in `dir`): only an absolute find.
        which::which_in(&self.program, Some(path), cwd)
            .ok()
            .filter(|p| p.is_absolute())
    }

    /// Run to the end (or the deadline, or a signal to runplz). An error means the child
    /// could not be started; a non-zero exit is a normal [`Finished`].
    pub fn run(&self) -> Result<Finished> {
        let found = self.on_path();
        let mut expr = duct::cmd(
            found.as_deref().unwrap_or(self.program.as_ref()),
            &self.args,
        )
        .unchecked();
        for (k, v) in &self.env {
            expr = expr.env(k, v);
        }
        for k in &self.env_remove {
            expr = expr.env_remove(k);
        }
        if let Some(d) = &self.dir {
            expr = expr.dir(d);
        }
        let mut feeder = None;
        // The answer's stdin (written by a thread told by the stdout reader) and stdout.
        let mut answer_out = None;
        let answered = Arc::new(Mutex::new(Vec::<u8>::new()));
        if let (Some((needle, reply)), Output::Capture, None) =
            (&self.answer, &self.output, &self.stdin_path)
        {
            let (r, w) = std::io::pipe().context("creating a pipe")?;
            let (r2, w2) = std::io::pipe().context("creating a pipe")?;
            expr = expr.stdin_file(r).stdout_file(w2);
            answer_out = Some(pipes::spawn_answer(
                self.stdin.clone().unwrap_or_default(),
                w,
                r2,
                needle.clone(),
                reply.clone(),
                Arc::clone(&answered),
            ));
        }
        expr = match (&self.stdin, &self.stdin_head, &self.stdin_path) {
            _ if answer_out.is_some() => expr,
            (Some(b), _, _) => expr.stdin_bytes(b.clone()),
            (None, Some(head), Some(p)) => {
                let (r, w) = std::io::pipe().context("creating a pipe")?;
                feeder = Some(spawn_feeder(head.clone(), p, w)?);
                expr.stdin_file(r)
            }
            (None, _, Some(p)) => expr.stdin_path(p),
            (None, _, None) => expr.stdin_null(),
        };
        // Own process group, so a timeout or Ctrl-C can signal the whole tree.
        let die_with_parent = self.die_with_parent;
        let parent = std::process::id();
        let arg0 = found.is_some().then(|| self.program.clone());
        expr = expr.before_spawn(move |c| {
            c.process_group(0);
            if let Some(name) = &arg0 {
                c.arg0(name);
            }
            if die_with_parent {
                // SAFETY: between fork and exec only async-signal-safe calls are made
                // (prctl, getppid, _exit).
                unsafe {
                    c.pre_exec(move || {
                        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
                        // The parent may have died before the prctl: then go now.
                        if nix::unistd::getppid().as_raw() as u32 != parent {
                            nix::libc::_exit(137);
                        }
                        Ok(())
                    });
                }
            }
            Ok(())
        });

        let tail = Arc::new(Mutex::new(Vec::<u8>::new()));
        let mut pump = None;
        // The second pump of a passthrough (the child's stdout), and its control lines.
        let mut pump2 = None;
        let control_lines = Arc::new(Mutex::new(Vec::<u8>::new()));
        // When output was last heard, in ms since `base` (the quiet watch reads it).
        let base = Instant::now();
        let heard = Arc::new(AtomicU64::new(0));
        // A watched stdout is read from a pipe as it comes, and kept whole.
        let mut watched = None;
        let watch = self.on_stdout.as_ref().filter(|_| {
            !matches!(
                self.output,
                Output::Passthrough { .. } | Output::Stream { .. }
            )
        });
        let mut capture_stdout = |expr: duct::Expression| -> Result<duct::Expression> {
            Ok(match watch {
                None => expr.stdout_capture(),
                Some(h) => {
                    let (r, w) = std::io::pipe().context("creating a pipe")?;
                    watched = Some(spawn_watch(r, Arc::clone(&h.0)));
                    expr.stdout_file(w)
                }
            })
        };
        match &self.output {
            Output::Capture if answer_out.is_some() => expr = expr.stderr_capture(),
            Output::Capture => expr = capture_stdout(expr)?.stderr_capture(),
            Output::CaptureStdout | Output::StreamStderr { .. } => {
                let log = match &self.output {
                    Output::StreamStderr { log } => log.as_deref(),
                    _ => None,
                };
                expr = capture_stdout(expr)?;
                let (r, w) = std::io::pipe().context("creating a pipe")?;
                expr = expr.stderr_file(w);
                pump = Some(spawn_pump(
                    r,
                    log,
                    self.stamp("stderr"),
                    Arc::clone(&tail),
                    Arc::clone(&heard),
                    base,
                )?);
            }
            Output::Passthrough {
                log,
                stdout_to_stderr,
                control,
                hold_stderr_until,
            } => {
                let gate = hold_stderr_until.as_deref().map(|w| Arc::new(Gate::new(w)));
                let (r, w) = std::io::pipe().context("creating a pipe")?;
                let (r2, w2) = std::io::pipe().context("creating a pipe")?;
                expr = expr.stdout_file(w2).stderr_file(w);
                let control = control
                    .as_ref()
                    .map(|m| (m.clone().into_bytes(), Arc::clone(&control_lines)));
                pump = Some(spawn_pump_to(
                    r,
                    Dest::Stderr,
                    None,
                    gate.clone(),
                    log.as_deref(),
                    self.stamp("stderr"),
                    Arc::clone(&tail),
                    Arc::clone(&heard),
                    base,
                )?);
                let dest = if *stdout_to_stderr {
                    Dest::Stderr
                } else {
                    Dest::Stdout
                };
                pump2 = Some(spawn_pump_to(
                    r2,
                    dest,
                    control,
                    gate,
                    log.as_deref(),
                    self.stamp("stdout"),
                    Arc::clone(&tail),
                    Arc::clone(&heard),
                    base,
                )?);
            }
            Output::Stream { log } => {
                let (r, w) = std::io::pipe().context("creating a pipe")?;
                let w2 = w.try_clone().context("cloning a pipe")?;
                expr = expr.stdout_file(w).stderr_file(w2);
                pump = Some(spawn_pump(
                    r,
                    log.as_deref(),
                    self.stamp("output"),
                    Arc::clone(&tail),
                    Arc::clone(&heard),
                    base,
                )?);
            }
        }

        // Woken by the child's exit (a waiting thread) and by runplz's own signals; the
        // timers below bound each wait, so nothing polls.
        let (wake, woken) = signals::subscribe();
        let start = Instant::now();
        let handle = Arc::new(expr.start().map_err(|e| spawn_error(&self.program, e))?);
        // Drop the expression so our copies of the pipe's write ends close.
        drop(expr);
        {
            let handle = Arc::clone(&handle);
            std::thread::spawn(move || {
                let _ = handle.wait();
                let _ = wake.send(());
            });
        }
        let pgid = handle.pids().first().map(|&p| Pid::from_raw(p as i32));
        // Checked: a deadline past what an Instant can hold is no deadline (never a panic).
        let deadline = self.timeout.and_then(|t| start.checked_add(t));
        let mut timed_out = false;
        let mut inactive = false;
        let mut interrupted = None;
        let last_heard = || base + Duration::from_millis(heard.load(Ordering::Relaxed));
        let quiet_for = |now: Instant| now.saturating_duration_since(last_heard());
        // When (and what) to send once stopping began; then when it was sent.
        let mut stop_at: Option<(Instant, Signal)> = None;
        let mut term_sent: Option<Instant> = None;
        let mut killed = false;
        let output = loop {
            if let Some(out) = handle.try_wait().context("waiting for a child")? {
                break out.clone();
            }
            let now = Instant::now();
            if stop_at.is_none() {
                if deadline.is_some_and(|d| now >= d) {
                    timed_out = true;
                } else if matches!(&self.quiet, Some((after, None)) if quiet_for(now) >= *after) {
                    inactive = true;
                } else if !self.shielded && pending_signal().is_some() {
                    // Stopping this child handles the signal, so what runs next (a stop
                    // hook, collecting outputs) is not cut short by the same Ctrl-C.
                    interrupted = take_pending_signal();
                }
                if let Some((after, Some(diagnose))) = &self.quiet {
                    if quiet_for(now) >= *after {
                        diagnose.call();
                        // The next report comes after another quiet spell of `after`.
                        let ms = Instant::now().saturating_duration_since(base).as_millis();
                        heard.store(ms as u64, Ordering::Relaxed);
                    }
                }
                if timed_out || inactive || interrupted.is_some() {
                    // A deadline is TERM; runplz's own signal is passed on as it came.
                    let sig = if timed_out || inactive {
                        Signal::SIGTERM
                    } else {
                        stop_signal(interrupted)
                    };
                    if let Some(hook) = &self.on_stop {
                        (hook.0)(sig);
                    }
                    let now = Instant::now();
                    stop_at = Some((now.checked_add(self.stop_wait).unwrap_or(now), sig));
                }
            }
            let now = Instant::now();
            if let (Some((at, sig)), None) = (stop_at, term_sent) {
                if now >= at {
                    if let Some(pg) = pgid {
                        let _ = killpg(pg, sig);
                    }
                    term_sent = Some(now);
                }
            } else if !killed
                && term_sent.is_some_and(|t| t.checked_add(self.grace).is_some_and(|k| now >= k))
            {
                if let Some(pg) = pgid {
                    let _ = killpg(pg, Signal::SIGKILL);
                }
                killed = true;
            }
            // Sleep until the next timer, the child's exit or a signal, whichever is first.
            let next = [
                deadline.filter(|_| stop_at.is_none()),
                self.quiet
                    .as_ref()
                    .filter(|_| stop_at.is_none())
                    .and_then(|(after, _)| last_heard().checked_add(*after)),
                stop_at.filter(|_| term_sent.is_none()).map(|(at, _)| at),
                term_sent
                    .filter(|_| !killed)
                    .and_then(|t| t.checked_add(self.grace)),
            ]
            .into_iter()
            .flatten()
            .min();
            let now = Instant::now();
            match next {
                Some(at) if at <= now => {}
                Some(at) => {
                    let _ = woken.recv_timeout(at - now);
                }
                None => {
                    let _ = woken.recv();
                }
            }
        };
        let duration = start.elapsed();
        // The group leader is gone; take down whatever it left in its group.
        if let Some(pg) = pgid {
            let _ = killpg(pg, Signal::SIGKILL);
        }
        if let Some(hook) = &self.after_exit {
            hook.call();
        }
        drop(handle);
        // A writer still blocked on a pipe nobody reads gets EPIPE once the readers are gone;
        // it is not waited for.
        drop(feeder);
        // A process outside the group may still hold a pipe; do not hang on it.
        let deadline = Instant::now() + Duration::from_secs(2);
        for p in pump.iter().chain(&pump2).chain(&answer_out) {
            let _ = p.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        let status = match output.status.code() {
            Some(c) => Status::Exited(c),
            None => Status::Signaled(output.status.signal().unwrap_or(9)),
        };
        let stderr = match self.output {
            Output::Capture => output.stderr,
            _ => tail.lock().map(|t| t.clone()).unwrap_or_default(),
        };
        let stdout = match (&self.output, watched) {
            (Output::Passthrough { .. }, _) => {
                control_lines.lock().map(|c| c.clone()).unwrap_or_default()
            }
            _ if answer_out.is_some() => answered.lock().map(|c| c.clone()).unwrap_or_default(),
            (_, Some((done, kept))) => {
                let _ = done.recv_timeout(deadline.saturating_duration_since(Instant::now()));
                std::mem::take(&mut *kept.lock().unwrap_or_else(|e| e.into_inner()))
            }
            _ => output.stdout,
        };
        Ok(Finished {
            status,
            stdout,
            stderr,
            inactive,
            duration,
            // A quiet stop is a deadline of its own: same signals, same exit code.
            timed_out: timed_out || inactive,
            interrupted,
        })
    }

    /// Run and require exit 0; otherwise an error naming the command, its status and the
    /// last lines of its output.
    pub fn check(&self) -> Result<Finished> {
        let f = self.run()?;
        if f.timed_out {
            return Err(CliError::new(
                Exit::TimedOut,
                format!(
                    "`{}` timed out after {:.1}s",
                    self.display(),
                    f.duration.as_secs_f64()
                ),
            ));
        }
        if !f.status.success() {
            let tail = f.tail(20);
            let what = match f.status {
                Status::Exited(c) => format!("exited with {c}"),
                Status::Signaled(s) => format!("was killed by signal {s}"),
            };
            anyhow::bail!(
                "`{}` {what}{}{}",
                self.display(),
                if tail.is_empty() { "" } else { ":\n" },
                tail
            );
        }
        Ok(f)
    }
}

fn spawn_error(program: &OsString, e: std::io::Error) -> anyhow::Error {
    let name = program.to_string_lossy();
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            CliError::new(Exit::NotFound, format!("`{name}`: command not found"))
        }
        std::io::ErrorKind::PermissionDenied => {
            CliError::new(Exit::CannotInvoke, format!("`{name}`: permission denied"))
        }
        _ => CliError::new(Exit::CannotInvoke, format!("`{name}`: cannot run: {e}")),
    }
}

#[cfg(test)]
mod tests;
