//! Running the command on a box. One ssh call (`-T`, no tty) runs a wrapper script that
//! creates and enters the workdir, then starts the command under `setsid` with the env and
//! `RUNPLZ_RUN_ID`, its process group id written to `$HOME/.runplz/runs/<id>/pgid`. The
//! command's stdout goes to ssh's stdout and its stderr to ssh's stderr (live to ours; with
//! `pass_stdout` off, both to ssh's stderr, in order). The wrapper's control lines travel on
//! ssh's stdout (the guard's heartbeat must go there: a client-side ssh closes the channel
//! when it cannot write stdout, not stderr) behind a marker that holds a random nonce of
//! this run, and are taken out of it here: the job cannot forge them, its stdout arrives
//! otherwise byte for byte, and a connection failure (ssh's 255, no start line) is never
//! mistaken for the command's own 255. We enforce the deadline here: on timeout (TERM)
//! or a signal (passed on as it came: Ctrl-C is INT) a second ssh call stops the run on the
//! box (killing the ssh client would not), and only then is the first ssh ended.
//!
//! A guard on the box (one sleep loop) stops the run (TERM, grace, KILL) if we vanish: every
//! second it writes an empty line to the control pipe, and once that write fails the client
//! is gone for good (sshd closes its end of the pipe when the client, its control master's
//! session or the TCP connection ends). A network that vanished silently is noticed once the
//! box's TCP gives up resending those heartbeats and sshd drops the connection (about 15
//! minutes with Linux's default `tcp_retries2`). It also stops the run at timeout + grace.
//!
//! A stop leaves `~/.runplz/runs/<id>/cancel` on the box so that a wrapper still on its way
//! refuses to start. The wrapper removes its run folder when it ends, but a stop of a run
//! that already ended (or never comes) cannot tell, so every wrapper and stop first sweeps
//! the cancel marks older than an hour.

use super::reap::{shell_name, tenths, ESCAPER_FUNCTIONS, SHELL_FUNCTIONS};
use super::{outcome, reap_grace, tool_failed, ExecOptions, ExecReport, OUTPUT_TAIL_LINES};
use crate::out;
use crate::process::{Output, Proc, Signal, Status};
use crate::quote;
use crate::ssh::Ssh;
use anyhow::Result;
use std::time::Duration;

const START: &str = "start";
const EXIT: &str = "exit ";
const FAIL: &str = "fail ";

/// The marker of this run's control lines: a record separator, a name and a random nonce.
fn control_marker() -> String {
    format!("\x1erunplz-exec-{:016x}:", fastrand::u64(..))
}

/// How long the stopping ssh call may take beyond the grace (connecting included).
const KILL_SLACK: Duration = Duration::from_secs(30);

/// The wrapper run on the box by the first ssh call. `@NAME@` are filled in by [`fill`].
const WRAPPER: &str = r#"set -u
unset CDPATH
rp_id=@ID@
rp_dir="$HOME/.runplz/runs/$rp_id"
# Control lines go to ssh's stdout behind this marker (see exec/remote.rs).
rp_ctl="$(printf '\036')"@MARK@
@FUNCTIONS@
@ESCAPERS@
@SWEEP@
rp_fail() { rm -rf "$rp_dir"; echo "${rp_ctl}@FAIL@$1"; exit 125; }
rp_sid=$(command -v setsid) || rp_fail "setsid not found (it comes with util-linux)"
# Absolute paths, found before the job's env (which may set PATH) is applied.
rp_env=$(command -v env) || rp_fail "env not found"
rp_rm=$(command -v rm) || rp_fail "rm not found"
rp_w=
"$rp_sid" -w true </dev/null >/dev/null 2>&1 && rp_w=-w
rp_sweep
# What runplz creates on the box is private to the box user (0700 folders).
{ (umask 077 && mkdir -p -- @WORKDIR@) && cd -- @WORKDIR@; } || rp_fail "cannot create or enter the workdir "@WORKDIR_TEXT@
(umask 077 && mkdir -p "$rp_dir") || rp_fail "cannot create $rp_dir"
# Our own session (the guard, its sleeps) and start time, for naming escapers at the end;
# the session is also written down so that other runs' ends do not name our helpers.
rp_me=
read -r rp_me < /proc/$$/stat 2>/dev/null
rp_me=${rp_me##*) }
set -f; set -- $rp_me; set +f
rp_wsid=${4:-} rp_since=${20:-}
echo "$rp_wsid" > "$rp_dir/wsid"
chmod go= "$HOME/.runplz" 2>/dev/null
# The job's environment arrives first on stdin (exactly @ENVLEN@ bytes of `export K='v'`
# lines), never on a command line, where `ps` would show it to every user of the box. The
# file lives only until the job's subshell has read it. The job's stdin follows the block,
# so nothing may read past it: GNU head -c reads in blocks of at most what is left; busybox
# and toybox head read whole buffers, so anywhere else dd reads it a byte at a time (the
# block is at most 128 KiB).
if [ @ENVLEN@ -gt 0 ]; then
  if head --version </dev/null 2>/dev/null | grep -q 'GNU coreutils'; then
    (umask 077; exec head -c @ENVLEN@ > "$rp_dir/env") || rp_fail "cannot read the environment"
  else
    (umask 077; exec dd bs=1 count=@ENVLEN@ of="$rp_dir/env" 2>/dev/null) || rp_fail "cannot read the environment"
  fi
fi
[ -e "$rp_dir/cancel" ] && rp_fail "run $rp_id was stopped before it started"
rp_limit=@LIMIT@
# The guard: stop the run once the client is gone for good (the heartbeat on the control
# pipe, our stdout, fails: sshd has closed its end), or at timeout + grace. Only the echo
# holds the pipe, so the session can end as soon as the guard is killed.
( exec </dev/null 2>/dev/null
  trap '' PIPE
  rp_n=0
  while sleep 1 </dev/null >/dev/null 2>&1; do
    rp_n=$((rp_n + 1))
    rp_g=
    read -r rp_g < "$rp_dir/pgid" 2>/dev/null
    if { [ -n "$rp_limit" ] && [ "$rp_n" -ge "$rp_limit" ]; } || ! echo "${rp_ctl}"; then
      rp_stop "$rp_id" @GRACE@ "$rp_g"
      break
    fi
    kill -0 $$ 2>/dev/null || [ -n "$(rp_pids "$rp_id" "$rp_g")" ] || break
  done ) &
rp_dog=$!
echo "${rp_ctl}@START@"
# Our stderr moves to fd 4 and fd 2 to /dev/null, so the shell's "Killed" notice about the
# job stays out of its output. The job runs in the foreground (an async list would start
# with SIGINT ignored), in a subshell (so its redirections are not the shell's), in its own
# session.
exec 4>&2 2>/dev/null
(if [ -f "$rp_dir/env" ]; then . "$rp_dir/env"; "$rp_rm" -f "$rp_dir/env"; fi; exec "$rp_env" RUNPLZ_RUN_ID="$rp_id" "$rp_sid" ${rp_w:+-w} /bin/sh -c 'rp_d=$1; shift; echo "$$" > "$rp_d/pgid"; [ -e "$rp_d/cancel" ] && exit 125; exec "$@"' rp-exec "$rp_dir" @ARGV@ @STDIN@@JOBOUT@2>&4 4>&-)
rp_rc=$?
kill "$rp_dog" 2>/dev/null
# Whatever is left of the group, and whatever escaped it but carries the run id.
rp_pg=$(cat "$rp_dir/pgid" 2>/dev/null)
rp_stop "$rp_id" @REAP@ "$rp_pg" || printf 'rp-exec: on the box: processes of run %s survived KILL\n' "$rp_id" >&4
# What left the session and dropped the run id is only named: our own session and every
# run's job and wrapper sessions (~/.runplz/runs/*/) are not its.
if [ -n "$rp_since" ]; then
  rp_skip=$(cat "$HOME"/.runplz/runs/*/pgid "$HOME"/.runplz/runs/*/wsid 2>/dev/null | tr '\n' ' ')
  rp_tell "$rp_since" "$rp_wsid $rp_pg $rp_skip" "$rp_id" 2>&4
fi
rm -rf "$rp_dir"
echo "${rp_ctl}@EXIT@$rp_rc"
exit "$rp_rc"
"#;

/// The stop run on the box by the second ssh call (and by [`super::kill_run`]).
const KILL: &str = r#"set -u
rp_id=@ID@
rp_dir="$HOME/.runplz/runs/$rp_id"
@FUNCTIONS@
@SWEEP@
rp_sweep
# Refuses a start still on its way; swept after an hour when the run had already ended.
(umask 077 && mkdir -p "$rp_dir" && : > "$rp_dir/cancel") 2>/dev/null
rm -f "$rp_dir/env"
rp_stop "$rp_id" @GRACE@ "$(cat "$rp_dir/pgid" 2>/dev/null)" @SIGNAL@ || { printf 'rp-exec: on the box: processes of run %s survived KILL\n' "$rp_id" >&2; exit 1; }
"#;

/// `rp_sweep`: remove the run folders on the box that hold nothing but a cancel mark older
/// than an hour (left by a stop of a run that had already ended; a start that was refused
/// comes within seconds, not an hour).
const SWEEP: &str = r#"rp_sweep() {
  for rp_md in "$HOME"/.runplz/runs/*/; do
    [ -f "${rp_md}cancel" ] && [ "$(ls -A "$rp_md")" = cancel ] || continue
    [ -n "$(find "${rp_md}cancel" -mmin +60 2>/dev/null)" ] || continue
    rm -f "${rp_md}cancel" && rmdir "$rp_md" 2>/dev/null
  done
}"#;

/// What a quiet job on the box is doing: its processes (by run id and group), the load, the
/// GPUs; run by a second ssh call while the job runs on.
fn diagnose_script(run_id: &str) -> String {
    fill(
        "rp_dir=\"$HOME/.runplz/runs/\"@ID@\n@FUNCTIONS@\n@DIAGNOSE@\nrp_p=$(rp_pids @ID@ \"$(cat \"$rp_dir/pgid\" 2>/dev/null)\" | tr '\\n' , )\n[ -n \"$rp_p\" ] && ps -o pid,etime,pcpu,rss,stat,args -p \"${rp_p%,}\"\n:\n",
        &[
            ("ID", &quote::sh(run_id)),
            ("FUNCTIONS", SHELL_FUNCTIONS),
            ("DIAGNOSE", super::DIAGNOSE),
        ],
    )
}

/// Replace each `@NAME@` in `template` with its value, in one pass (values are not rescanned).
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(i) = rest.find('@') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('@').and_then(|j| {
            vars.iter()
                .find(|(k, _)| *k == &after[..j])
                .map(|v| (j, v.1))
        }) {
            Some((j, value)) => {
                out.push_str(value);
                rest = &after[j + 1..];
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The workdir as a shell word (see [`crate::ssh::remote_path`]); none is the home.
fn workdir_word(w: Option<&str>) -> String {
    // Validation already refused what remote_path refuses.
    let dir = w.and_then(|w| crate::ssh::remote_path(w).ok());
    crate::ssh::remote_dir_word(dir.as_deref().unwrap_or("."))
}

/// The job's environment as `export K='v'` lines, sent ahead of any stdin (keys were
/// checked to be identifiers; values are quoted).
fn env_block(opts: &ExecOptions) -> Vec<u8> {
    opts.env
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", quote::sh(v)))
        .collect::<String>()
        .into_bytes()
}

/// The script the first ssh call runs.
pub(super) fn wrapper_script(opts: &ExecOptions, marker: &str) -> String {
    let env_len = env_block(opts).len().to_string();
    let limit = opts
        .timeout
        .map(|t| {
            t.saturating_add(opts.grace)
                .as_secs_f64()
                .ceil()
                .max(1.0)
                .to_string()
        })
        .unwrap_or_default();
    fill(
        WRAPPER,
        &[
            ("ID", &opts.run_id),
            ("FUNCTIONS", SHELL_FUNCTIONS),
            ("ESCAPERS", ESCAPER_FUNCTIONS),
            ("SWEEP", SWEEP),
            ("FAIL", FAIL),
            ("START", START),
            // The marker less its leading record separator (printf makes that one).
            ("MARK", &quote::sh(marker.trim_start_matches('\x1e'))),
            ("JOBOUT", if opts.pass_stdout { "" } else { "1>&4 " }),
            ("EXIT", EXIT),
            ("WORKDIR", &workdir_word(opts.workdir.as_deref())),
            (
                "WORKDIR_TEXT",
                // Quoted twice: the message shows it quoted.
                &quote::sh(&quote::sh(opts.workdir.as_deref().unwrap_or("~"))),
            ),
            ("LIMIT", &limit),
            ("GRACE", &tenths(opts.grace).to_string()),
            ("REAP", &tenths(reap_grace(opts.grace)).to_string()),
            ("ENVLEN", &env_len),
            ("ARGV", &quote::join(&opts.argv)),
            // With --stdin the job reads ssh's stdin (nothing else in the wrapper does).
            (
                "STDIN",
                if opts.stdin.is_some() {
                    ""
                } else {
                    "</dev/null "
                },
            ),
        ],
    )
}

/// The script that stops run `run_id` on the box: `signal` (INT, HUP or TERM), the grace,
/// KILL.
pub(super) fn kill_script(run_id: &str, grace: Duration, signal: Signal) -> String {
    fill(
        KILL,
        &[
            ("ID", run_id),
            ("FUNCTIONS", SHELL_FUNCTIONS),
            ("SWEEP", SWEEP),
            ("GRACE", &tenths(grace).to_string()),
            ("SIGNAL", shell_name(signal)),
        ],
    )
}

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

/// What the wrapper said on ssh's stdout (other lines, such as motd noise and the guard's
/// empty heartbeat lines, are ignored).
#[derive(Debug, Default, PartialEq)]
struct Control {
    started: bool,
    failed: Option<String>,
    exit: Option<u8>,
}

fn control(stdout: &[u8]) -> Control {
    let mut c = Control::default();
    for line in String::from_utf8_lossy(stdout).lines() {
        if line == START {
            c.started = true;
        } else if let Some(why) = line.strip_prefix(FAIL) {
            c.failed = Some(why.to_string());
        } else if let Some(n) = line.strip_prefix(EXIT) {
            c.exit = n.trim().parse().ok();
        }
    }
    c
}

pub(super) fn run(opts: &ExecOptions, ssh: &Ssh) -> Result<ExecReport> {
    crate::process::require("ssh", "install openssh-client")?;
    let host = ssh.target().label();
    // One stop per signal we may pass on, built here: the hook cannot borrow `ssh`.
    let killers: Vec<(Signal, Proc)> = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP]
        .into_iter()
        .map(|sig| (sig, kill_proc(ssh, &opts.run_id, opts.grace, sig)))
        .collect();
    let (run_id, dest) = (opts.run_id.clone(), ssh.destination());
    let marker = control_marker();
    let mut first = ssh.command(&wrapper_script(opts, &marker));
    let mut input = env_block(opts);
    match &opts.stdin {
        Some(super::Input::Bytes(b)) => {
            input.extend_from_slice(b);
            first = first.stdin(input);
        }
        // Streamed after the env block, never read into memory.
        Some(super::Input::File(f)) => {
            std::fs::File::open(f).map_err(|e| {
                tool_failed(format!(
                    "reading {} for the command's stdin: {e}",
                    f.display()
                ))
            })?;
            first = first.stdin_then_path(input, f);
        }
        None if !input.is_empty() => first = first.stdin(input),
        None => {}
    }
    if let Some(i) = opts.inactivity {
        first = if i.terminate {
            first.quiet_stop(i.after)
        } else {
            let look = ssh
                .command(&diagnose_script(&opts.run_id))
                .timeout(Some(Duration::from_secs(30)));
            first.quiet_diagnose(i.after, move || {
                super::local::say_diagnosis(i.after, look.run());
            })
        };
    }
    let first = first
        .output(Output::Passthrough {
            log: opts.log.clone(),
            stdout_to_stderr: !opts.pass_stdout,
            control: Some(marker),
            // ssh's words about a connection that never opened: said once, in the error.
            hold_stderr_until: Some(START.to_string()),
        })
        .timeout(opts.timeout)
        // After the hook has stopped the run on the box, the client only has to say how it
        // ended (the wrapper's exit line), then go.
        .stop_wait(Duration::from_secs(1))
        .grace(Duration::from_secs(2))
        .on_stop_with(move |sig| {
            out::note(
                &crate::ssh::tool(),
                format!("stopping run {run_id} on {dest} ({})", sig.as_str()),
            );
            let killer = killers
                .iter()
                .find(|(s, _)| *s == sig)
                .map_or(&killers[0].1, |(_, p)| p);
            match killer.run() {
                Ok(k) if k.status.success() => {}
                Ok(k) => out::warn(
                    &crate::ssh::tool(),
                    format!(
                        "stopping run {run_id} on {dest} failed (ssh exited with {}); the box's guard stops it once this client is gone",
                        k.status.code()
                    ),
                ),
                Err(e) => out::warn(&crate::ssh::tool(), format!("stopping run {run_id} on {dest}: {e:#}")),
            }
        });
    // A wrapper that never said it started ran nothing: when ssh could not connect, it is
    // tried again (never once the command started).
    let f = crate::ssh::retry::retry(
        &crate::ssh::tool(),
        &ssh.destination(),
        || first.run(),
        |f| {
            let c = control(&f.stdout);
            let stopped = f.timed_out || f.interrupted.is_some();
            if stopped || c.started || c.failed.is_some() {
                return None;
            }
            crate::ssh::retry::connect_failure(f)
        },
    )?;
    let ctl = control(&f.stdout);
    let stopped = f.timed_out || f.interrupted.is_some();
    if !stopped {
        if let Some(why) = ctl.failed {
            return Err(tool_failed(format!(
                "setting up run {} on {host} failed: {why}",
                opts.run_id
            )));
        }
        if !ctl.started {
            return Err(tool_failed(format!(
                "could not run on {host}: ssh exited with {} before the command started{}",
                f.status.code(),
                // What ssh said was held back (not shown live): all of it, once, here.
                f.tail(5)
                    .lines()
                    .map(|l| format!("\n  {}", l.trim_end()))
                    .collect::<String>()
            )));
        }
        if ctl.exit.is_none() {
            // The job may still be running there; try to stop it (the box's guard is the net).
            let _ = kill(ssh, &opts.run_id, opts.grace, Signal::SIGTERM);
            return Err(tool_failed(format!(
                "lost the connection to {host} while the command ran (ssh exited with {}){}",
                f.status.code(),
                last_line(&f.tail(5))
            )));
        }
    }
    // The shell reports a death by signal n as 128+n.
    let status = ctl.exit.map(|c| match c {
        129..=192 => Status::Signaled(i32::from(c) - 128),
        c => Status::Exited(i32::from(c)),
    });
    let (code, signal) = outcome(status, f.timed_out, f.interrupted);
    let code = if stopped {
        code
    } else {
        ctl.exit.unwrap_or(code)
    };
    if f.inactive {
        out::note(
            &crate::ssh::tool(),
            format!(
                "no output for {}s; stopped the command on {host}",
                opts.inactivity
                    .map(|i| i.after.as_secs())
                    .unwrap_or_default()
            ),
        );
    } else if f.timed_out {
        out::note(
            &crate::ssh::tool(),
            format!(
                "timed out after {:.1}s; stopped the command on {host}",
                opts.timeout.unwrap_or_default().as_secs_f64()
            ),
        );
    } else if let Some(sig) = f.interrupted {
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
        timed_out: f.timed_out,
        inactive: opts.inactivity.filter(|_| f.inactive).map(|i| i.after),
        signal,
        interrupted: f.interrupted,
        duration: f.duration,
        log: opts.log.clone(),
        output_tail: f.tail(OUTPUT_TAIL_LINES),
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
        for script in [
            wrapper_script(&o, &control_marker()),
            kill_script("r-1", Duration::from_secs(1), Signal::SIGINT),
        ] {
            let out = Command::new("sh")
                .arg("-n")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}\n{script}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let s = wrapper_script(&o, "\x1erunplz-exec-00:");
        assert!(s.contains("rp_limit=7\n"), "1.5 s + 5 s grace, rounded up");
        assert!(!s.contains("@ENVLEN@") && !s.contains("@ARGV@"));
    }

    #[test]
    fn control_lines() {
        let c = control(b"start\nexit 255\n");
        assert_eq!(
            c,
            Control {
                started: true,
                failed: None,
                exit: Some(255)
            }
        );
        assert_eq!(control(b""), Control::default());
        // The guard's heartbeats, before and after the exit line.
        assert_eq!(control(b"start\n\n\nexit 3\n\n").exit, Some(3));
        assert_eq!(
            control(b"fail no setsid\n").failed.as_deref(),
            Some("no setsid")
        );
    }
}
