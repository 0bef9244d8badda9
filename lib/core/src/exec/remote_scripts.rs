//! The shell scripts of a run on a box (see [`super::remote`], whose module doc is their
//! contract): the launch, the supervisor, a poll, forgetting and sweeping run folders, and a
//! kill, each a template filled with shell-quoted words.

use super::reap::{shell_name, tenths, ESCAPER_FUNCTIONS, SHELL_FUNCTIONS};
use super::{reap_grace, ExecOptions};
use crate::process::Signal;
use crate::quote;
use std::time::Duration;

/// The control words of a launch (behind the run's marker, see [`super::remote`]).
pub(super) const START: &str = "start";
pub(super) const EXISTS: &str = "exists";
pub(super) const FAIL: &str = "fail ";
/// The box has no supervisor of this runplz (see [`supervisor_lib_path`]): nothing was done.
pub(super) const NOLIB: &str = "nolib";

/// The most bytes one poll carries.
pub(super) const POLL_MAX_BYTES: u64 = 4 << 20;

/// The launch, run by the first ssh call. `@NAME@` are filled in by [`fill`]. Every
/// process started on the box costs about a millisecond: the common path (the runs folder
/// and the workdir already there, no stdin for the job) starts `mkdir` and `setsid` only.
pub(super) const LAUNCH: &str = r#"set -u
unset CDPATH
rp_id=@ID@
rp_dir="$HOME/.runplz/runs/$rp_id"
# Control lines go to ssh's stdout behind this marker (see exec/remote.rs).
rp_ctl=@MARK@
@SWEEP@
rp_fail() { echo "${rp_ctl}@FAIL@$1"; exit 125; }
command -v setsid >/dev/null 2>&1 || rp_fail "setsid not found (it comes with util-linux)"
@LIB@rp_sweep
# What runplz creates on the box is private to the box user (0700 folders).
if [ ! -d "$HOME/.runplz/runs" ]; then
  (umask 077 && mkdir -p "$HOME/.runplz/runs") || rp_fail "cannot create ~/.runplz/runs"
  chmod go= "$HOME/.runplz" 2>/dev/null
fi
# The lock: one job per run id, ever (a second launch after a drop is refused).
if ! mkdir -m 700 "$rp_dir" 2>/dev/null; then
  [ -e "$rp_dir/cancel" ] && [ ! -e "$rp_dir/launched" ] && rp_fail "run $rp_id was stopped before it started"
  echo "${rp_ctl}@EXISTS@"
  exit 125
fi
rp_gone() { rm -rf "$rp_dir"; rp_fail "$1"; }
{ [ -d @WORKDIR@ ] || (umask 077 && mkdir -p -- @WORKDIR@); } && cd -- @WORKDIR@ || rp_gone "cannot create or enter the workdir "@WORKDIR_TEXT@
# The job's environment (and stdin): see LAUNCH_TAKE and launch_script.
@TAKE@
[ -e "$rp_dir/cancel" ] && rp_gone "run $rp_id was stopped before it started"
# The folder is private (0700): what goes in it needs no umask of its own (a subshell).
# `true`, not `:`: a special builtin's failed redirection would end the script.
{ true > "$rp_dir/out" && true > "$rp_dir/err" && true > "$rp_dir/diag" && true > "$rp_dir/seen" && printf '%s\n' @SUPERVISOR@ > "$rp_dir/supervise" && true > "$rp_dir/launched"; } 2>/dev/null || rp_gone "cannot write in $rp_dir"
# -f forks: the supervisor is not an async list, so it does not start with SIGINT ignored
# (a job must see Ctrl-C as INT), and it is in no session of sshd's. A setsid without -f
# exits non-zero at once, having started nothing. It is told our pid (what we start meanwhile
# is none of the job's); its last word names it (see rp_escapers).
rp_tk=
@TICK@setsid -f /bin/sh "$rp_dir/supervise" "$$" rp-supervisor </dev/null >/dev/null 2>>"$rp_dir/err" || { [ -n "$rp_tk" ] && kill "$rp_tk"; rm -f "$rp_dir/launched"; rp_gone "setsid -f does not work here (util-linux 2.31 or later is needed)"; }
echo "${rp_ctl}@START@"
@FOLLOW@
# Said, not left to the end of the input: a launch read from stdin would wait for more.
exit 0
"#;

/// How a launch whose job has a stdin takes the job's environment and stdin: both follow on
/// ssh's stdin (its script came on the command line). A launch without one comes whole on
/// stdin and carries the environment in itself (see [`launch_script`]).
pub(super) const LAUNCH_TAKE: &str = r#"# The job's environment arrives first on stdin (exactly @ENVLEN@ bytes of `export K='v'`
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
"#;

/// The supervisor, in its own session beside the job (see the module doc): the same for
/// every run, kept on the box (see [`supervisor_lib`]) and read by the run's own short
/// `supervise` (see [`supervisor_script`]), which sets the job's command as the positional
/// parameters and these: `rp_id`, `rp_lpid` (the launch: what it starts while the job runs
/// is not the job's), `rp_limit` and `rp_lreason` (the deadline), `rp_grace`, `rp_reap`,
/// `rp_tool`, `rp_quiet`, `rp_qstop` and `rp_watch` (the inactivity watch), `rp_in` (set:
/// the job's stdin is stored) and `rp_merge` (set: its stderr goes with its stdout).
pub(super) const SUPERVISOR: &str = r#"set -u
rp_dir="$HOME/.runplz/runs/$rp_id"
if [ -n "$rp_in" ]; then rp_in="$rp_dir/stdin"; else rp_in=/dev/null; fi
if [ -n "$rp_merge" ]; then rp_jerr="$rp_dir/out"; else rp_jerr="$rp_dir/err"; fi
# The reaper's functions and the inactivity watch are kept beside this file and read only
# where the run needs them (a deadline, the watch, something left at the end): a plain run
# spares the shell their parse. Gone from the box, they are said to be.
rp_more() {
  [ -z "${rp_mored:-}" ] || return 0
  if [ -f "$HOME"/@MORE@ ]; then . "$HOME"/@MORE@ && rp_mored=1 && return 0; fi
  printf 'rp-exec: on the box: ~/%s is gone; what the run left is not stopped\n' @MORE@ >> "$rp_dir/err"
  return 1
}
# Absolute paths, found before the job's env (which may set PATH) is applied, without
# starting a process (`$(command -v x)` forks).
rp_path() {
  rp_p= rp_ifs=$IFS
  IFS=:
  set -f
  for rp_pd in $PATH; do
    [ -f "${rp_pd:-.}/$1" ] && [ -x "${rp_pd:-.}/$1" ] && { rp_p=${rp_pd:-.}/$1; break; }
  done
  set +f
  IFS=$rp_ifs
}
rp_path setsid; rp_sid=$rp_p
rp_path rm; rp_rm=$rp_p
# Our own session (setsid -f made us its leader), for naming escapers at the end; written
# down so that other runs' ends do not name our helpers.
rp_wsid=$$
echo "$rp_wsid" > "$rp_dir/wsid"
# A process's session and start (in rp_s and rp_st, from its stat), or fail.
rp_sid_of() {
  rp_s=
  read -r rp_s 2>/dev/null < "/proc/$1/stat" || return 1
  rp_s=${rp_s##*) }
  set -f; set -- $rp_s; set +f
  rp_s=${4:-} rp_st=${20:-}
  [ -n "$rp_s" ]
}
rp_pgid() { rp_g=; read -r rp_g 2>/dev/null < "$rp_dir/pgid"; echo "$rp_g"; }
rp_reason() { [ -e "$rp_dir/reason" ] || echo "$1" > "$rp_dir/reason"; }
# The deadline (the job's timeout or the run's cost cap, whichever comes first, with its
# reason): TERM, the grace, KILL. The sleep's pid is kept so it goes when the job ends.
if [ -n "$rp_limit" ] || [ -n "$rp_quiet" ]; then rp_more; fi
rp_timer=
if [ -n "$rp_limit" ]; then
  ( exec </dev/null >/dev/null 2>/dev/null
    sleep "$rp_limit" &
    echo $! > "$rp_dir/timer"
    wait $! || exit 0
    rp_reason "$rp_lreason"
    rp_stop "$rp_id" "$rp_grace" "$(rp_pgid)" ) &
  rp_timer=$!
fi
rp_dog=
[ -n "$rp_quiet" ] && [ -n "${rp_mored:-}" ] && rp_dog_start
# Our own words (survivors, escapers) go with the job's stderr; the shell's notices (a
# "Killed" about the job) nowhere.
exec 4>>"$rp_dir/err" 2>/dev/null
# Where /proc is this shell's own pid namespace's (as it is but under `unshare -p` without
# a /proc of its own): where the kernel's pid counter stands, and the clock, as the job
# starts (see rp_clean).
rp_ns= rp_l0= rp_u0= rp_wd=$PWD
if [ /proc/self -ef "/proc/$$" ]; then
  rp_ns=1
  read -r rp_y rp_y rp_y rp_y rp_l0 rp_y 2>/dev/null < /proc/loadavg
  read -r rp_u0 rp_y 2>/dev/null < /proc/uptime
fi
# The job runs in the foreground, in a subshell (so its redirections are not ours). The
# subshell is no group leader (this shell has no job control), so setsid makes its session
# in place: its pid (/proc/self, read without a process), written down before it checks
# for a stop, is the job's group and session id (rp_pids takes that pid for the group's even
# before setsid). Elsewhere a shell after setsid writes its own. What the job needs once its
# env is applied is in the positional parameters, where no name of the env reaches.
(export RUNPLZ_RUN_ID="$rp_id"
  if [ -n "$rp_ns" ] && cd -P /proc/self 2>/dev/null; then
    rp_j=${PWD##*/}
    cd -- "$rp_wd" || exit 125
    echo "$rp_j" > "$rp_dir/pgid"
    set -- "$rp_dir" "$rp_rm" "$rp_sid" -w "$@"
  else
    set -- "$rp_dir" "$rp_rm" "$rp_sid" -w /bin/sh -c 'echo "$$" > "$1/pgid"; [ -e "$1/cancel" ] && exit 125; shift; exec "$@"' rp-exec "$rp_dir" "$@"
  fi
  if [ -f "$1/env" ]; then . "$1/env"; "$2" -f "$1/env"; fi
  [ -e "$1/cancel" ] && exit 125
  # A command that is not there is said as a shell says it (not as setsid would), by its
  # PATH.
  case $5 in */*) [ -f "$5" ] && [ -x "$5" ] ;; *) rp_path "$5"; [ -n "$rp_p" ] ;; esac || {
    case $5 in */*) [ -e "$5" ] && { echo "rp-exec: $5: Permission denied" >&2; exit 126; } ;; esac
    echo "rp-exec: $5: not found" >&2
    exit 127
  }
  shift 2
  exec "$@") <"$rp_in" >>"$rp_dir/out" 2>>"$rp_jerr" 4>&-
rp_rc=$?
[ -n "$rp_dog" ] && kill "$rp_dog" 2>/dev/null
if [ -n "$rp_timer" ]; then
  rp_t=
  read -r rp_t 2>/dev/null < "$rp_dir/timer"
  kill $rp_t "$rp_timer" 2>/dev/null
fi
rp_pg=
read -r rp_pg 2>/dev/null < "$rp_dir/pgid"
# Whether nothing of the job can be left, so that the scans of /proc below can be skipped:
# the kernel hands out pids in turn, so every process started since the job began has a
# pid past rp_l0 up to where the counter stands now, unless the counter went round (a job
# of at most 0.1 s cannot start the 32768 processes that takes; a longer one is scanned).
# Each of those pids still alive and ours must be in our session or the launch's (its
# wait for our word), where no process of the job can be. Looked again until no process
# started meanwhile.
rp_clean() {
  [ -n "$rp_l0" ] && [ -n "$rp_u0" ] || return 1
  rp_u1=
  read -r rp_u1 rp_y 2>/dev/null < /proc/uptime
  case "$rp_u0 $rp_u1" in *.[0-9][0-9]' '*.[0-9][0-9]) ;; *) return 1 ;; esac
  # Hundredths (`1NN - 1MM`: no leading zero is read as octal).
  [ $(( (${rp_u1%.*} - ${rp_u0%.*}) * 100 + 1${rp_u1#*.} - 1${rp_u0#*.} )) -le 10 ] || return 1
  rp_a=$rp_l0
  for rp_k in 1 2 3 4; do
    rp_b=
    read -r rp_y rp_y rp_y rp_y rp_b rp_y 2>/dev/null < /proc/loadavg
    case $rp_b in ''|*[!0-9]*) return 1 ;; esac
    [ "$rp_b" -ge "$rp_a" ] && [ $((rp_b - rp_l0)) -le 200 ] || return 1
    [ "$rp_b" = "$rp_a" ] && [ "$rp_k" -gt 1 ] && return 0
    while [ "$rp_a" -lt "$rp_b" ]; do
      rp_a=$((rp_a + 1))
      [ -O "/proc/$rp_a" ] || continue
      rp_sid_of "$rp_a" || continue
      [ "$rp_s" = "$rp_wsid" ] && continue
      if [ -z "$rp_lsid" ]; then
        rp_sid_of "$rp_lpid" && [ -n "$rp_lpid" ] && rp_lsid=$rp_s || return 1
        rp_sid_of "$rp_a" || continue
      fi
      [ "$rp_s" = "$rp_lsid" ] || return 1
    done
  done
  return 1
}
rp_lsid=
if ! rp_clean && rp_more; then
  # Whatever is left of the group, and whatever escaped it but carries the run id.
  rp_stop "$rp_id" "$rp_reap" "$rp_pg" || printf 'rp-exec: on the box: processes of run %s survived KILL\n' "$rp_id" >&4
  # What left the session and dropped the run id is only named: our own session and every
  # run's job and wrapper sessions (~/.runplz/runs/*/) are not its.
  rp_since=
  rp_sid_of $$ && rp_since=$rp_st
  if [ -n "$rp_since" ]; then
    rp_skip=$(cat "$HOME"/.runplz/runs/*/pgid "$HOME"/.runplz/runs/*/wsid 2>/dev/null | tr '\n' ' ')
    rp_tell "$rp_since" "$rp_wsid $rp_pg $rp_skip" "$rp_id" 2>&4
  fi
fi
rp_why=exited
[ -e "$rp_dir/reason" ] && read -r rp_why < "$rp_dir/reason"
# The job's group and our session are no more (emptied: no process to start; `true`, as a
# special builtin's failed redirection would end the script); its env and stdin go.
true > "$rp_dir/pgid"; true > "$rp_dir/wsid"
if [ -e "$rp_dir/env" ] || [ -e "$rp_dir/stdin" ]; then "$rp_rm" -f "$rp_dir/env" "$rp_dir/stdin"; fi
# Last: once `exit` is there, out and err are final. Its readers take only a whole line.
printf '%s %s\n' "$rp_rc" "$rp_why" > "$rp_dir/exit"
# Wake a launch that waits for the end (opened both ways: it never blocks).
[ -p "$rp_dir/wake" ] && echo 1<>"$rp_dir/wake"
:
"#;

/// The supervisor's inactivity watch, part of [`supervisor_more`]: `rp_dog_start` starts it
/// where the run sets `rp_quiet`.
pub(super) const SUPERVISOR_DOG: &str = r#"# What the job is doing: its processes (by run id and group), the load, the GPUs, its last
# lines.
rp_diagnose() {
  printf '%s: warning: no output for %ss; what the job is doing (the inactivity watch; it runs on):\n' "$rp_tool" "$rp_quiet"
  @DIAGNOSE@
  rp_p=$(rp_pids "$rp_id" "$(rp_pgid)" | tr '\n' , )
  [ -n "$rp_p" ] && ps -o pid,etime,pcpu,rss,stat,args -p "${rp_p%,}"
  echo "its last lines:"
  tail -n 5 "$rp_dir/out" "$rp_dir/err" 2>/dev/null | sed 's/^/  /'
}
# The inactivity watch: no new byte in out or err and no new file in the outputs folder for
# that long (seconds, checked every second).
rp_dog_start() {
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
        rp_stop "$rp_id" "$rp_grace" "$(rp_pgid)"
        break
      fi
      rp_diagnose >> "$rp_dir/diag" 2>&1
      rp_t=$rp_now
    done ) &
  rp_dog=$!
fi
}
"#;

/// One poll (see the module doc): `data STREAM OFFSET COUNT` frames, each followed by that
/// many bytes; then `exit CODE REASON` once the job ended and every byte was sent; `none`
/// when the box has no job of this run id; `end` last. The head of [`POLL_LOOP`].
pub(super) const POLL: &str = r#"rp_dir="$HOME/.runplz/runs/"@ID@
rp_ctl=@MARK@
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
  [ -e exit ] && { read -r rp_x < exit || rp_x=; }
  rp_any=
  # One process a round for the three sizes; none while all three are empty.
  if [ -s out ] || [ -s err ] || [ -s diag ]; then
    set -- $(wc -c out err diag 2>/dev/null)
    rp_z0=${1:-0} rp_z1=${3:-0} rp_z2=${5:-0}
  else
    rp_z0=0 rp_z1=0 rp_z2=0
  fi
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

/// A launch that follows its job starts, before the supervisor (so that the supervisor's
/// end finds none of its processes new, see rp_clean), the limit of its wait: after SECS
/// it says a word into the FIFO `wake` (made meanwhile; given a few seconds to appear), and
/// its sleep goes with it when it is stopped.
pub(super) const LAUNCH_TICK: &str = r#"(trap 'kill $! 2>/dev/null; wait $!; exit 0' TERM
  sleep @SECS@ & wait $!
  for rp_i in 1 2 3 4 5 6 7 8 9 10; do
    [ -p "$rp_dir/wake" ] && { echo 1<>"$rp_dir/wake"; exit 0; }
    sleep 1 & wait $!
  done) </dev/null >/dev/null 2>&1 &
rp_tk=$!
"#;

/// Then, once the supervisor started (off the job's way), the FIFO the supervisor says a
/// word into once `exit` is there, held open both ways so that the word waits in it and no
/// one blocks on it. The supervisor looks for it only after writing `exit`, so the launch
/// waits only where `exit` is not there once the FIFO is; it waits in the shell itself (no
/// process) for either word, then looks once (`rp_lw`: the follow's wait is spent). Without
/// the FIFO it looks in rounds as a poll does.
pub(super) const LAUNCH_WAIT: &str = r#"rp_wake=
if mkfifo -m 600 wake 2>/dev/null && exec 6<>wake; then rp_wake=1; fi
if [ -n "$rp_wake" ] && [ ! -e exit ]; then
  read -r rp_w <&6
  rp_lw=0
fi
kill "$rp_tk" 2>/dev/null
"#;

/// The end of a launch that followed its job to the end and whose client answers: it says
/// `bye` and waits for the client's `ok` on stdin (everything arrived), then empties the run
/// (its output and its command) and marks it `read`, starting no process: a later start or
/// stop removes its folder (see [`SWEEP`]). Without the answer (the connection broke) the
/// folder stays as it was for the next poll.
pub(super) const LAUNCH_BYE: &str = r#"if [ -n "$rp_done" ]; then
  echo "${rp_ctl}bye"
  rp_ack=
  read -r rp_ack || :
  # The client believes the last word only where ssh exits 0.
  if [ "$rp_ack" = ok ] && [ -e "$rp_dir/exit" ] && { true > "$rp_dir/out" && true > "$rp_dir/err" && true > "$rp_dir/diag" && true > "$rp_dir/supervise" && true > "$rp_dir/read"; } 2>/dev/null; then
    echo "${rp_ctl}forgot"
    exit 0
  fi
fi
"#;

/// The end of a run the client has read to its end: its folder goes.
pub(super) const FORGET: &str = r#"rp_dir="$HOME/.runplz/runs/"@ID@
[ -e "$rp_dir/exit" ] && rm -rf "$rp_dir"
:
"#;

/// `rp_sweep`: remove the run folders on the box of runs read to their end (marked `read`
/// by [`LAUNCH_BYE`]) once there are [`READ_KEPT`] of them, all at once in one `rm` in the
/// background (out of the caller's way; a launch gains a process's start by leaving its
/// own folder to a later one); those that hold nothing but a cancel mark older than an
/// hour (left by a stop of a run that had already ended; a start that was refused comes
/// within seconds, not an hour); and those of runs that ended more than a week ago (never
/// read to their end: detached, or their client gone). It runs before every start and
/// stop, so it starts no process where no folder has an end or a mark, and one `find` for
/// all of them where some do (not one a folder).
pub(super) const SWEEP: &str = r#"rp_sweep() {
  rp_sw= rp_rd=0
  for rp_md in "$HOME"/.runplz/runs/*/; do
    if [ -f "${rp_md}read" ]; then rp_rd=$((rp_rd + 1)); continue; fi
    if [ -f "${rp_md}exit" ] || [ -f "${rp_md}cancel" ]; then rp_sw=1; fi
  done
  if [ "$rp_rd" -ge @READ_KEPT@ ]; then
    ( exec </dev/null >/dev/null 2>&1
      cd "$HOME/.runplz/runs" || exit 0
      set --
      for rp_md in */; do [ -f "${rp_md}read" ] && set -- "$@" "./${rp_md%/}"; done
      [ $# -gt 0 ] && exec rm -rf -- "$@" ) &
  fi
  [ -n "$rp_sw" ] || return 0
  find "$HOME/.runplz/runs" -mindepth 2 -maxdepth 2 \( -name exit -mtime +7 -o -name cancel -mmin +60 \) 2>/dev/null |
  while IFS= read -r rp_f; do
    rp_md=${rp_f%/*}
    case $rp_f in
    */exit) rm -rf "$rp_md" ;;
    *) [ ! -e "$rp_md/exit" ] && [ "$(ls -A "$rp_md" 2>/dev/null)" = cancel ] && rm -f "$rp_f" && rmdir "$rp_md" 2>/dev/null ;;
    esac
  done
}"#;

/// How many runs read to their end the box keeps (emptied) before a start or stop removes
/// them together (see [`SWEEP`]).
pub(super) const READ_KEPT: usize = 4;

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
rp_g=
read -r rp_g 2>/dev/null < "$rp_dir/pgid"
rp_stop "$rp_id" @GRACE@ "$rp_g" @SIGNAL@ || { printf 'rp-exec: on the box: processes of run %s survived KILL\n' "$rp_id" >&2; exit 1; }
"#;

/// [`SWEEP`] as the scripts carry it.
pub(super) fn sweep() -> String {
    fill(SWEEP, &[("READ_KEPT", &READ_KEPT.to_string())])
}

/// A script template without its comment lines, blank lines and indentation: less for
/// ssh to carry and the box's shell to read (its comments are for us). Only for our own
/// templates, before [`fill`] puts anything in: a line of a value (an argument, a path) is
/// never touched.
pub(super) fn compact(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    for line in template.lines().map(str::trim_start) {
        if !line.is_empty() && !line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !template.ends_with('\n') {
        out.pop();
    }
    out
}

/// Replace each `@NAME@` in `template` (compacted, see [`compact`]) with its value, in one
/// pass (values are not rescanned).
pub(super) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let template = compact(template);
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template.as_str();
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
pub(super) fn env_block(opts: &ExecOptions) -> String {
    opts.env
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", quote::sh(v)))
        .collect()
}

/// Seconds as `sleep` takes them (fractions allowed), at least a millisecond.
pub(super) fn sleep_word(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64().max(0.001))
}

/// The supervisor as it is kept on the box: [`SUPERVISOR`], the same for every run of this
/// runplz; it reads [`supervisor_more`] only where a run needs it.
pub(super) fn supervisor_lib() -> &'static str {
    static LIB: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIB.get_or_init(|| fill(SUPERVISOR, &[("MORE", &supervisor_more_path())]))
}

/// The rest of the supervisor, kept beside it: the reaper's functions and the inactivity
/// watch.
pub(super) fn supervisor_more() -> &'static str {
    static MORE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MORE.get_or_init(|| {
        [
            compact(SHELL_FUNCTIONS),
            compact(ESCAPER_FUNCTIONS),
            fill(SUPERVISOR_DOG, &[("DIAGNOSE", super::DIAGNOSE)]),
        ]
        .join("\n")
    })
}

/// Where [`supervisor_lib`] is kept on the box, from the home: named by the sha256 of it and
/// of [`supervisor_more`] (see [`supervisor_more_path`]), so a file there by that name holds
/// this very text (each is written whole under another name, then renamed), and another
/// runplz's supervisor never stands in for ours.
pub(super) fn supervisor_lib_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| format!(".runplz/lib/supervise-{}", supervisor_hash()))
}

/// Where [`supervisor_more`] is kept, beside it.
pub(super) fn supervisor_more_path() -> String {
    format!(".runplz/lib/supervise-{}-more", supervisor_hash())
}

/// 24 hex digits of the sha256 of the supervisor's template and its rest: the kept
/// supervisor is that template with the rest's path filled in, so this fixes both texts.
fn supervisor_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let h = Sha256::new()
            .chain_update(SUPERVISOR.as_bytes())
            .chain_update(supervisor_more().as_bytes())
            .finalize();
        crate::hex::hex(&h[..12])
    })
}

/// The run's own `supervise` (see [`SUPERVISOR`]): the job's command and this run's
/// settings, then the supervisor kept on the box. Started as `sh supervise LAUNCH_PID
/// rp-supervisor`. A supervisor gone from the box since the launch looked is an end of its
/// own (125), never a run that hangs.
pub(super) fn supervisor_script(opts: &ExecOptions) -> String {
    // The earlier deadline wins; a tie is the cost cap's (the budget is the harder limit).
    let (limit, reason) = match (opts.timeout, opts.cost_cap) {
        (Some(t), Some(c)) if t < c => (Some(t), "timed_out"),
        (t, None) => (t, "timed_out"),
        (_, Some(c)) => (Some(c), "cost_cap"),
    };
    let quiet = opts
        .inactivity
        .map(|i| i.after.as_secs().max(1).to_string())
        .unwrap_or_default();
    let watch = opts
        .watch_dir
        .as_deref()
        .and_then(|w| crate::ssh::remote_path(w).ok())
        .map(|w| crate::ssh::remote_dir_word(&w))
        .unwrap_or_else(|| "''".into());
    let flag = |on: bool| if on { "1" } else { "''" };
    format!(
        "rp_lpid=${{1:-}}\nset -- {argv}\n\
         rp_id={id} rp_limit={limit} rp_lreason={reason} rp_grace={grace} rp_reap={reap}\n\
         rp_tool={tool} rp_quiet={quiet} rp_qstop={qstop} rp_watch={watch}\n\
         rp_in={stdin} rp_merge={merge}\n\
         rp_d=\"$HOME/.runplz/runs/$rp_id\"\n\
         if [ -f \"$HOME\"/{lib} ]; then . \"$HOME\"/{lib}; else echo 'rp-exec: on the box: ~/{lib} is gone' >> \"$rp_d/err\"; echo '125 exited' > \"$rp_d/exit\"; [ -p \"$rp_d/wake\" ] && echo 1<>\"$rp_d/wake\"; fi\n",
        argv = quote::join(&opts.argv),
        id = quote::sh(&opts.run_id),
        limit = limit.map(sleep_word).unwrap_or_else(|| "''".into()),
        grace = tenths(opts.grace),
        reap = tenths(reap_grace(opts.grace)),
        tool = quote::sh(&crate::ssh::tool()),
        quiet = if quiet.is_empty() { "''".into() } else { quiet },
        qstop = flag(opts.inactivity.is_some_and(|i| i.terminate)),
        stdin = flag(opts.stdin.is_some()),
        // Without pass_stdout both streams go to our stderr: one file keeps their order.
        merge = flag(!opts.pass_stdout),
        lib = supervisor_lib_path(),
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
/// that long for the job's end ([`LAUNCH_TICK`], [`LAUNCH_WAIT`]; else in rounds of at
/// most 50 ms) and sends what there is, as a poll does; with `bye` too, it ends as
/// [`LAUNCH_BYE`] (the client answers on stdin, which then holds nothing else). Where the job
/// has no stdin, the script is meant to come on ssh's stdin ([`crate::ssh::Ssh::command_on_stdin`])
/// with the job's environment in it; else it is the command line, and the environment and
/// the job's stdin follow on ssh's stdin ([`LAUNCH_TAKE`]).
pub(super) fn launch_script(
    opts: &ExecOptions,
    marker: &str,
    follow: Option<Duration>,
    bye: bool,
    install: bool,
) -> String {
    let path = supervisor_lib_path();
    // The supervisor kept on the box: written here (whole, then renamed) where it is
    // missing, or only looked for (this machine saw it there before), before anything else.
    let more = supervisor_more_path();
    let lib = if install {
        // The rest first: where the supervisor is, so is what it reads.
        format!(
            "if [ ! -f \"$HOME\"/{path} ] || [ ! -f \"$HOME\"/{more} ]; then\n\
             (umask 077 && mkdir -p \"$HOME/.runplz/lib\" && chmod go= \"$HOME/.runplz\" && printf '%s' {more_text} > \"$HOME\"/{more}.$$ && mv -f \"$HOME\"/{more}.$$ \"$HOME\"/{more} && printf '%s' {text} > \"$HOME\"/{path}.$$ && mv -f \"$HOME\"/{path}.$$ \"$HOME\"/{path}) || rp_fail \"cannot write ~/{path}\"\n\
             fi\n",
            text = quote::sh(supervisor_lib()),
            more_text = quote::sh(supervisor_more()),
        )
    } else {
        format!("[ -f \"$HOME\"/{path} ] && [ -f \"$HOME\"/{more} ] || {{ echo \"${{rp_ctl}}{NOLIB}\"; exit 125; }}\n")
    };
    let tick = follow
        .map(|w| {
            fill(
                LAUNCH_TICK,
                &[("SECS", &w.as_secs_f64().ceil().max(1.0).to_string())],
            )
        })
        .unwrap_or_default();
    let follow = follow
        .map(|w| {
            format!(
                "cd \"$rp_dir\" || exit 0\n{}{}{}",
                compact(LAUNCH_WAIT),
                poll_loop([0; 3], &format!("${{rp_lw:-{}}}", w.as_millis()), 50, true),
                if bye {
                    compact(LAUNCH_BYE)
                } else {
                    String::new()
                }
            )
        })
        .unwrap_or_default();
    let env = env_block(opts);
    let take = match (&opts.stdin, stdin_len(opts)) {
        // The whole launch comes on stdin (see `Ssh::command_on_stdin`): the environment is
        // part of it, written by a builtin into the private folder.
        (None, _) if env.is_empty() => String::new(),
        (None, _) => format!(
            "printf '%s' {} > \"$rp_dir/env\" || rp_gone \"cannot write the environment\"\n",
            quote::sh(&env)
        ),
        (Some(_), n) => {
            let store = match n {
                Some(n) => format!(
                    "(umask 077; rp_take {n} > \"$rp_dir/stdin\") && [ \"$(wc -c < \"$rp_dir/stdin\")\" -eq {n} ] || rp_gone \"cannot store the command's stdin\""
                ),
                None => "(umask 077; exec cat > \"$rp_dir/stdin\") || rp_gone \"cannot store the command's stdin\"".into(),
            };
            fill(
                LAUNCH_TAKE,
                &[
                    ("ENVLEN", &env.len().to_string()),
                    ("STORE_STDIN", &store),
                    ("STDINLEN", &n.unwrap_or(0).to_string()),
                ],
            )
        }
    };
    fill(
        LAUNCH,
        &[
            ("ID", &quote::sh(&opts.run_id)),
            ("SWEEP", &sweep()),
            ("FAIL", FAIL),
            ("START", START),
            ("EXISTS", EXISTS),
            ("MARK", &quote::sh(marker)),
            ("WORKDIR", &workdir_word(opts.workdir.as_deref())),
            (
                "WORKDIR_TEXT",
                // Quoted twice: the message shows it quoted.
                &quote::sh(&quote::sh(opts.workdir.as_deref().unwrap_or("~"))),
            ),
            ("TAKE", &take),
            ("SUPERVISOR", &quote::sh(&supervisor_script(opts))),
            ("FOLLOW", &follow),
            ("TICK", &tick),
            ("LIB", &lib),
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
            ("FUNCTIONS", &compact(SHELL_FUNCTIONS)),
            ("SWEEP", &sweep()),
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
            ("MARK", &quote::sh(marker)),
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
