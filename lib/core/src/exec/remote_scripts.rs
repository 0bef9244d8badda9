//! The shell scripts of a run on a box (see [`super::remote`], whose module doc is their
//! contract): the launch, the supervisor, a poll, forgetting and sweeping run folders, and a
//! kill, each a template filled with shell-quoted words.

use super::reap::{shell_name, tenths, ESCAPER_FUNCTIONS, SHELL_FUNCTIONS};
use super::remote::{EXISTS, FAIL, POLL_MAX_BYTES, START};
use super::{reap_grace, ExecOptions};
use crate::process::Signal;
use crate::quote;
use std::time::Duration;

/// The launch, run by the first ssh call. `@NAME@` are filled in by [`fill`].
pub(super) const LAUNCH: &str = r#"set -u
unset CDPATH
rp_id=@ID@
rp_dir="$HOME/.runplz/runs/$rp_id"
# Control lines go to ssh's stdout behind this marker (see exec/remote.rs).
rp_ctl="$(printf '\036')"@MARK@
@SWEEP@
rp_fail() { echo "${rp_ctl}@FAIL@$1"; exit 125; }
rp_sid=$(command -v setsid) || rp_fail "setsid not found (it comes with util-linux)"
rp_sweep
# What runplz creates on the box is private to the box user (0700 folders).
(umask 077 && mkdir -p "$HOME/.runplz/runs") || rp_fail "cannot create ~/.runplz/runs"
chmod go= "$HOME/.runplz" 2>/dev/null
# The lock: one job per run id, ever (a second launch after a drop is refused).
if ! (umask 077 && mkdir "$rp_dir") 2>/dev/null; then
  [ -e "$rp_dir/cancel" ] && [ ! -e "$rp_dir/launched" ] && rp_fail "run $rp_id was stopped before it started"
  echo "${rp_ctl}@EXISTS@"
  exit 125
fi
rp_gone() { rm -rf "$rp_dir"; rp_fail "$1"; }
{ (umask 077 && mkdir -p -- @WORKDIR@) && cd -- @WORKDIR@; } || rp_gone "cannot create or enter the workdir "@WORKDIR_TEXT@
# The job's environment arrives first on stdin (exactly @ENVLEN@ bytes of `export K='v'`
# lines), never on a command line, where `ps` would show it to every user of the box. The
# file lives only until the job's subshell has read it. The job's stdin follows the block,
# so nothing may read past it: GNU head -c reads in blocks of at most what is left; busybox
# and toybox head read whole buffers, so anywhere else dd reads it a byte at a time (the
# block is at most 128 KiB). A small stdin is taken the same way, by its length, so that
# ssh's stdin is free after it (see LAUNCH_BYE).
rp_gnu=
if [ @ENVLEN@ -gt 0 ] || [ @STDINLEN@ -gt 0 ]; then
  head --version </dev/null 2>/dev/null | grep -q 'GNU coreutils' && rp_gnu=1
fi
rp_take() { if [ -n "$rp_gnu" ]; then exec head -c "$1"; else exec dd bs=1 count="$1" 2>/dev/null; fi; }
if [ @ENVLEN@ -gt 0 ]; then
  (umask 077; rp_take @ENVLEN@ > "$rp_dir/env") || rp_gone "cannot read the environment"
fi
# The job's stdin is stored whole: the job must not depend on this connection.
@STORE_STDIN@
[ -e "$rp_dir/cancel" ] && rp_gone "run $rp_id was stopped before it started"
(umask 077; : > "$rp_dir/out" && : > "$rp_dir/err" && : > "$rp_dir/diag" && : > "$rp_dir/seen") || rp_gone "cannot write in $rp_dir"
: > "$rp_dir/launched"
@WAKE@# -f forks: the supervisor is not an async list, so it does not start with SIGINT ignored
# (a job must see Ctrl-C as INT), and it is in no session of sshd's. A setsid without -f
# exits non-zero at once, having started nothing.
"$rp_sid" -f /bin/sh -c @SUPERVISOR@ rp-supervisor </dev/null 6>&- >/dev/null 2>>"$rp_dir/err" || { rm -f "$rp_dir/launched"; rp_gone "setsid -f does not work here (util-linux 2.31 or later is needed)"; }
echo "${rp_ctl}@START@"
@FOLLOW@"#;

/// The supervisor, in its own session beside the job (see the module doc); started in the
/// workdir.
pub(super) const SUPERVISOR: &str = r#"set -u
rp_id=@ID@
rp_dir="$HOME/.runplz/runs/$rp_id"
@FUNCTIONS@
@ESCAPERS@
# Absolute paths, found before the job's env (which may set PATH) is applied.
rp_env=$(command -v env)
rp_sid=$(command -v setsid)
rp_rm=$(command -v rm)
# Our own session (the guard, its sleeps) and start time, for naming escapers at the end;
# the session is also written down so that other runs' ends do not name our helpers.
rp_me=
read -r rp_me < /proc/$$/stat 2>/dev/null
rp_me=${rp_me##*) }
set -f; set -- $rp_me; set +f
rp_wsid=${4:-} rp_since=${20:-}
echo "$rp_wsid" > "$rp_dir/wsid"
rp_pgid() { cat "$rp_dir/pgid" 2>/dev/null; }
# The launch's wake-up FIFO (when it waits for the end), opened both ways now, so that the
# word at the end neither blocks nor goes astray once the folder is gone.
rp_wake=
if [ -p "$rp_dir/wake" ] && exec 7<>"$rp_dir/wake"; then rp_wake=1; fi 2>/dev/null
rp_reason() { [ -e "$rp_dir/reason" ] || echo "$1" > "$rp_dir/reason"; }
# What the job is doing: its processes (by run id and group), the load, the GPUs, its last
# lines.
rp_diagnose() {
  printf '%s: warning: no output for %ss; what the job is doing (the inactivity watch; it runs on):\n' @TOOL@ "$rp_quiet"
  @DIAGNOSE@
  rp_p=$(rp_pids "$rp_id" "$(rp_pgid)" | tr '\n' , )
  [ -n "$rp_p" ] && ps -o pid,etime,pcpu,rss,stat,args -p "${rp_p%,}"
  echo "its last lines:"
  tail -n 5 "$rp_dir/out" "$rp_dir/err" 2>/dev/null | sed 's/^/  /'
}
# The deadline (the job's timeout or the run's cost cap, whichever comes first, with its
# reason): TERM, the grace, KILL. The sleep's pid is kept so it goes when the job ends.
rp_limit=@LIMIT@
rp_timer=
if [ -n "$rp_limit" ]; then
  ( exec </dev/null >/dev/null 2>/dev/null
    sleep "$rp_limit" &
    echo $! > "$rp_dir/timer"
    wait $! || exit 0
    rp_reason @LIMIT_REASON@
    rp_stop "$rp_id" @GRACE@ "$(rp_pgid)" ) &
  rp_timer=$!
fi
# The inactivity watch: no new byte in out or err and no new file in the outputs folder for
# that long (seconds, checked every second).
rp_quiet=@QUIET@ rp_qstop=@QUIET_STOP@ rp_watch=@WATCH@
rp_dog=
if [ -n "$rp_quiet" ]; then
  ( exec </dev/null >/dev/null 2>/dev/null
    rp_a= rp_t=$(date +%s)
    while sleep 1; do
      kill -0 $$ 2>/dev/null || break
      rp_b="$(wc -c < "$rp_dir/out") $(wc -c < "$rp_dir/err")"
      rp_new=
      if [ -n "$rp_watch" ] && [ -n "$(find "$rp_watch" -type f -newer "$rp_dir/seen" 2>/dev/null | head -n 1)" ]; then
        touch "$rp_dir/seen"
        rp_new=1
      fi
      rp_now=$(date +%s)
      if [ "$rp_b" != "$rp_a" ] || [ -n "$rp_new" ]; then rp_a=$rp_b rp_t=$rp_now; continue; fi
      [ $((rp_now - rp_t)) -ge "$rp_quiet" ] || continue
      if [ -n "$rp_qstop" ]; then
        rp_reason inactive
        rp_stop "$rp_id" @GRACE@ "$(rp_pgid)"
        break
      fi
      rp_diagnose >> "$rp_dir/diag" 2>&1
      rp_t=$rp_now
    done ) &
  rp_dog=$!
fi
# Our own words (survivors, escapers) go with the job's stderr; the shell's notices (a
# "Killed" about the job) nowhere.
exec 4>>"$rp_dir/err" 2>/dev/null
# The job runs in the foreground, in a subshell (so its redirections are not ours), in its
# own session.
(if [ -f "$rp_dir/env" ]; then . "$rp_dir/env"; "$rp_rm" -f "$rp_dir/env"; fi; exec "$rp_env" RUNPLZ_RUN_ID="$rp_id" "$rp_sid" -w /bin/sh -c 'rp_d=$1; shift; echo "$$" > "$rp_d/pgid"; [ -e "$rp_d/cancel" ] && exit 125; exec "$@"' rp-exec "$rp_dir" @ARGV@ @STDIN@ >>"$rp_dir/out" @JOBERR@ 4>&- 7>&-)
rp_rc=$?
[ -n "$rp_dog" ] && kill "$rp_dog" 2>/dev/null
[ -n "$rp_timer" ] && kill "$(cat "$rp_dir/timer" 2>/dev/null)" "$rp_timer" 2>/dev/null
# Whatever is left of the group, and whatever escaped it but carries the run id.
rp_pg=$(rp_pgid)
rp_stop "$rp_id" @REAP@ "$rp_pg" || printf 'rp-exec: on the box: processes of run %s survived KILL\n' "$rp_id" >&4
# What left the session and dropped the run id is only named: our own session and every
# run's job and wrapper sessions (~/.runplz/runs/*/) are not its.
if [ -n "$rp_since" ]; then
  rp_skip=$(cat "$HOME"/.runplz/runs/*/pgid "$HOME"/.runplz/runs/*/wsid 2>/dev/null | tr '\n' ' ')
  rp_tell "$rp_since" "$rp_wsid $rp_pg $rp_skip" "$rp_id" 2>&4
fi
rp_why=exited
[ -e "$rp_dir/reason" ] && read -r rp_why < "$rp_dir/reason"
rm -f "$rp_dir/env" "$rp_dir/stdin" "$rp_dir/timer" "$rp_dir/pgid" "$rp_dir/wsid"
# Last: once `exit` is there, out and err are final.
printf '%s %s\n' "$rp_rc" "$rp_why" > "$rp_dir/exit.new" && mv -f "$rp_dir/exit.new" "$rp_dir/exit"
[ -n "$rp_wake" ] && echo >&7
:
"#;

/// One poll (see the module doc): `data STREAM OFFSET COUNT` frames, each followed by that
/// many bytes; then `exit CODE REASON` once the job ended and every byte was sent; `none`
/// when the box has no job of this run id; `end` last. The head of [`POLL_LOOP`].
pub(super) const POLL: &str = r#"rp_dir="$HOME/.runplz/runs/"@ID@
rp_ctl="$(printf '\036')"@MARK@
if [ ! -e "$rp_dir/launched" ] || ! cd "$rp_dir"; then echo "${rp_ctl}none"; echo "${rp_ctl}end"; exit 0; fi
@LOOP@"#;

/// The body of a poll, in the run folder (also the end of a launch, which follows the job
/// it started for a while: a short job costs one ssh call). It waits for news for up to
/// WAIT ms in rounds that grow from 5 ms to TOP ms (at most 200), so a job that ends soon is
/// seen soon. A poll answers as soon as it has sent something; with HOLD set (a launch,
/// whose output is shown when it ends) it goes on to the end or WAIT. `rp_done` is set once
/// the exit was sent.
pub(super) const POLL_LOOP: &str = r#"rp_o0=@O0@ rp_o1=@O1@ rp_o2=@O2@ rp_wait="@WAIT@" rp_max=@MAX@
rp_waited=0 rp_sent=0 rp_nap=5 rp_top=@TOP@ rp_hold=@HOLD@ rp_done=
# Bytes [OFFSET, OFFSET+COUNT) of a file; dd a byte at a time where head or tail is missing.
if command -v head >/dev/null 2>&1 && command -v tail >/dev/null 2>&1; then
  rp_cut() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }
else
  rp_cut() { dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null; }
fi
set -f
while :; do
  # Read first: when it is there, every byte of the streams already is.
  rp_x=
  [ -e exit ] && read -r rp_x < exit
  rp_any=
  # One process a round for the three sizes.
  set -- $(wc -c out err diag 2>/dev/null)
  rp_z0=${1:-0} rp_z1=${3:-0} rp_z2=${5:-0}
  for rp_s in 0 1 2; do
    case $rp_s in 0) rp_f=out;; 1) rp_f=err;; *) rp_f=diag;; esac
    eval "rp_o=\$rp_o$rp_s rp_z=\$rp_z$rp_s"
    [ "$rp_z" -gt "$rp_o" ] 2>/dev/null || continue
    rp_c=$((rp_z - rp_o))
    [ "$rp_c" -gt "$rp_max" ] && rp_c=$rp_max
    echo "${rp_ctl}data $rp_s $rp_o $rp_c"
    rp_cut "$rp_f" "$rp_o" "$rp_c"
    eval "rp_o$rp_s=$((rp_o + rp_c))"
    rp_sent=$((rp_sent + rp_c)) rp_any=1
  done
  [ "$rp_sent" -ge "$rp_max" ] && break
  if [ -n "$rp_any" ]; then
    [ -n "$rp_x" ] && continue
    [ -n "$rp_hold" ] || break
  fi
  if [ -n "$rp_x" ]; then echo "${rp_ctl}exit $rp_x"; rp_done=1; break; fi
  [ "$rp_waited" -ge "$rp_wait" ] && break
  # A newline between frames is ignored by the client; once the connection is gone it
  # fails, and this poll ends instead of lingering on the box as an orphan.
  printf '\n' 2>/dev/null || exit 0
  if [ "$rp_nap" -lt 10 ]; then sleep 0.00$rp_nap; elif [ "$rp_nap" -lt 100 ]; then sleep 0.0$rp_nap; else sleep 0.$rp_nap; fi 2>/dev/null || { sleep 1; rp_nap=1000; }
  rp_waited=$((rp_waited + rp_nap))
  case $rp_nap in 5) rp_nap=10;; 10) rp_nap=20;; 20) rp_nap=50;; 50) rp_nap=100;; 100|1000) rp_nap=200;; esac
  [ "$rp_nap" -gt "$rp_top" ] && rp_nap=$rp_top
done
echo "${rp_ctl}end"
"#;

/// In a launch that follows its job: a FIFO the supervisor says a word into once `exit` is
/// there, held open both ways so that the word waits in it and no one blocks on it.
pub(super) const LAUNCH_WAKE: &str = r#"rp_wake=
if mkfifo -m 600 "$rp_dir/wake" 2>/dev/null; then exec 6<>"$rp_dir/wake" && rp_wake=1; fi
"#;

/// A launch that follows its job waits for the supervisor's word (or SECS), then looks
/// once (`rp_lw`: the follow's wait is spent); without the FIFO or `timeout`, it looks in
/// rounds as a poll does.
pub(super) const LAUNCH_WAIT: &str = r#"if [ -n "$rp_wake" ] && command -v timeout >/dev/null 2>&1; then
  timeout @SECS@ sh -c 'read -r rp_w <&6' 2>/dev/null
  rp_lw=0
fi
"#;

/// The end of a launch that followed its job to the end and whose client answers: it says
/// `bye` and waits for the client's `ok` on stdin (everything arrived), then forgets the run
/// (as [`FORGET`]); without it (the connection broke) the folder stays for the next poll.
pub(super) const LAUNCH_BYE: &str = r#"if [ -n "$rp_done" ]; then
  echo "${rp_ctl}bye"
  rp_ack=
  read -r rp_ack || :
  [ "$rp_ack" = ok ] && [ -e "$rp_dir/exit" ] && cd / && rm -rf "$rp_dir" && echo "${rp_ctl}forgot"
fi
"#;

/// The end of a run the client has read to its end: its folder goes.
pub(super) const FORGET: &str = r#"rp_dir="$HOME/.runplz/runs/"@ID@
[ -e "$rp_dir/exit" ] && rm -rf "$rp_dir"
:
"#;

/// `rp_sweep`: remove the run folders on the box that hold nothing but a cancel mark older
/// than an hour (left by a stop of a run that had already ended; a start that was refused
/// comes within seconds, not an hour), and those of runs that ended more than a week ago
/// and were never read to their end (detached, or their client gone).
pub(super) const SWEEP: &str = r#"rp_sweep() {
  for rp_md in "$HOME"/.runplz/runs/*/; do
    if [ -f "${rp_md}exit" ]; then
      [ -n "$(find "${rp_md}exit" -mtime +7 2>/dev/null)" ] && rm -rf "$rp_md"
      continue
    fi
    [ -f "${rp_md}cancel" ] && [ "$(ls -A "$rp_md")" = cancel ] || continue
    [ -n "$(find "${rp_md}cancel" -mmin +60 2>/dev/null)" ] || continue
    rm -f "${rp_md}cancel" && rmdir "$rp_md" 2>/dev/null
  done
}"#;

/// The stop run on the box by the second ssh call (and by [`super::kill_run`]).
pub(super) const KILL: &str = r#"set -u
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

/// Replace each `@NAME@` in `template` with its value, in one pass (values are not rescanned).
pub(super) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
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
pub(super) fn workdir_word(w: Option<&str>) -> String {
    // Validation already refused what remote_path refuses.
    let dir = w.and_then(|w| crate::ssh::remote_path(w).ok());
    crate::ssh::remote_dir_word(dir.as_deref().unwrap_or("."))
}

/// The job's environment as `export K='v'` lines, sent ahead of any stdin (keys were
/// checked to be identifiers; values are quoted).
pub(super) fn env_block(opts: &ExecOptions) -> Vec<u8> {
    opts.env
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", quote::sh(v)))
        .collect::<String>()
        .into_bytes()
}

/// Seconds as `sleep` takes them (fractions allowed), at least a millisecond.
pub(super) fn sleep_word(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64().max(0.001))
}

/// The supervisor's script for these options.
pub(super) fn supervisor_script(opts: &ExecOptions) -> String {
    // The earlier deadline wins; a tie is the cost cap's (the budget is the harder limit).
    let (limit, reason) = match (opts.timeout, opts.cost_cap) {
        (Some(t), Some(c)) if t < c => (Some(t), "timed_out"),
        (t, None) => (t, "timed_out"),
        (_, Some(c)) => (Some(c), "cost_cap"),
    };
    let quiet = opts
        .inactivity
        .map(|i| i.after.as_secs().max(1).to_string());
    let watch = opts
        .watch_dir
        .as_deref()
        .and_then(|w| crate::ssh::remote_path(w).ok())
        .map(|w| crate::ssh::remote_dir_word(&w))
        .unwrap_or_default();
    fill(
        SUPERVISOR,
        &[
            ("ID", &quote::sh(&opts.run_id)),
            ("FUNCTIONS", SHELL_FUNCTIONS),
            ("ESCAPERS", ESCAPER_FUNCTIONS),
            ("TOOL", &quote::sh(&crate::ssh::tool())),
            ("DIAGNOSE", super::DIAGNOSE),
            ("LIMIT", &limit.map(sleep_word).unwrap_or_default()),
            ("LIMIT_REASON", reason),
            ("GRACE", &tenths(opts.grace).to_string()),
            ("REAP", &tenths(reap_grace(opts.grace)).to_string()),
            ("QUIET", &quiet.unwrap_or_default()),
            (
                "QUIET_STOP",
                if opts.inactivity.is_some_and(|i| i.terminate) {
                    "1"
                } else {
                    ""
                },
            ),
            ("WATCH", if watch.is_empty() { "''" } else { &watch }),
            ("ARGV", &quote::join(&opts.argv)),
            (
                "STDIN",
                if opts.stdin.is_some() {
                    "<\"$rp_dir/stdin\""
                } else {
                    "</dev/null"
                },
            ),
            // Without pass_stdout both streams go to our stderr: one file keeps their order.
            (
                "JOBERR",
                if opts.pass_stdout {
                    "2>>\"$rp_dir/err\""
                } else {
                    "2>&1"
                },
            ),
        ],
    )
}

/// The most stdin bytes taken by their length (as the env block): past it, streamed to EOF.
pub(super) const STDIN_BY_LENGTH: usize = 128 << 10;

/// The length of the job's stdin when the launch takes it by its length (bytes, small), so
/// that ssh's stdin is free after it; `None` when it is read to its end (a file, or big).
pub(super) fn stdin_len(opts: &ExecOptions) -> Option<usize> {
    match &opts.stdin {
        Some(super::Input::Bytes(b)) if b.len() <= STDIN_BY_LENGTH => Some(b.len()),
        _ => None,
    }
}

/// The script the first ssh call runs (see [`LAUNCH`]); with `follow`, it then waits up to
/// that long for the job's end ([`LAUNCH_WAKE`], [`LAUNCH_WAIT`]; else in rounds of at most
/// 50 ms) and sends what there is, as a poll does; with `bye` too, it ends as
/// [`LAUNCH_BYE`] (the client answers on stdin, which then holds nothing else).
pub(super) fn launch_script(
    opts: &ExecOptions,
    marker: &str,
    follow: Option<Duration>,
    bye: bool,
) -> String {
    let follow = follow
        .map(|w| {
            format!(
                "cd \"$rp_dir\" || exit 0\n{}{}{}",
                fill(
                    LAUNCH_WAIT,
                    &[("SECS", &w.as_secs_f64().ceil().max(1.0).to_string())]
                ),
                poll_loop([0; 3], &format!("${{rp_lw:-{}}}", w.as_millis()), 50, true),
                if bye { LAUNCH_BYE } else { "" }
            )
        })
        .unwrap_or_default();
    let wake = if follow.is_empty() { "" } else { LAUNCH_WAKE };
    let env_len = env_block(opts).len().to_string();
    let stdin_len = stdin_len(opts);
    let store = match (&opts.stdin, stdin_len) {
        (None, _) => String::new(),
        (Some(_), Some(n)) => format!(
            "(umask 077; rp_take {n} > \"$rp_dir/stdin\") && [ \"$(wc -c < \"$rp_dir/stdin\")\" -eq {n} ] || rp_gone \"cannot store the command's stdin\""
        ),
        (Some(_), None) => "(umask 077; exec cat > \"$rp_dir/stdin\") || rp_gone \"cannot store the command's stdin\"".into(),
    };
    let launch = LAUNCH.replace(
        "\"$rp_sid\" -f /bin/sh -c @SUPERVISOR@ rp-supervisor",
        "(umask 077; printf '%s\\n' @SUPERVISOR@ > \"$rp_dir/supervise\") || rp_gone \"cannot write in $rp_dir\"\n\"$rp_sid\" -f /bin/sh \"$rp_dir/supervise\"",
    );
    fill(
        &launch,
        &[
            ("ID", &quote::sh(&opts.run_id)),
            ("SWEEP", SWEEP),
            ("FAIL", FAIL),
            ("START", START),
            ("EXISTS", EXISTS),
            // The marker less its leading record separator (printf makes that one).
            ("MARK", &quote::sh(marker.trim_start_matches('\x1e'))),
            ("WORKDIR", &workdir_word(opts.workdir.as_deref())),
            (
                "WORKDIR_TEXT",
                // Quoted twice: the message shows it quoted.
                &quote::sh(&quote::sh(opts.workdir.as_deref().unwrap_or("~"))),
            ),
            ("ENVLEN", &env_len),
            ("STORE_STDIN", &store),
            ("STDINLEN", &stdin_len.unwrap_or(0).to_string()),
            ("SUPERVISOR", &quote::sh(&supervisor_script(opts))),
            ("FOLLOW", &follow),
            ("WAKE", wake),
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

/// The poll script from these offsets; `wait`: how long it may wait for news.
pub(super) fn poll_script(run_id: &str, marker: &str, offsets: [u64; 3], wait: Duration) -> String {
    fill(
        POLL,
        &[
            ("ID", &quote::sh(run_id)),
            ("MARK", &quote::sh(marker.trim_start_matches('\x1e'))),
            (
                "LOOP",
                &poll_loop(offsets, &wait.as_millis().to_string(), 200, false),
            ),
        ],
    )
}

/// [`POLL_LOOP`] from these offsets, waiting up to `wait` for news (with `hold`, for the
/// end) in rounds of at most `top` ms.
fn poll_loop(offsets: [u64; 3], wait: &str, top: u32, hold: bool) -> String {
    fill(
        POLL_LOOP,
        &[
            ("O0", &offsets[0].to_string()),
            ("O1", &offsets[1].to_string()),
            ("O2", &offsets[2].to_string()),
            ("WAIT", wait),
            ("MAX", &POLL_MAX_BYTES.to_string()),
            ("TOP", &top.to_string()),
            ("HOLD", if hold { "1" } else { "''" }),
        ],
    )
}
