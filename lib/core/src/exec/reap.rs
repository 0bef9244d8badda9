//! Killing everything of one run: every process of the current user whose environment holds
//! `RUNPLZ_RUN_ID=<id>` (and, remotely, every member of the job's process group and session).
//! A grandchild that called `setsid` has left the group but not its environment, and one that
//! cleared its environment (`env -i`) without `setsid` stays in the session, so this catches
//! both. One that did both cannot be attributed for sure: [`escapers`] (and the box's
//! `rp_escapers`) only name it.
//! Locally it is [`kill_run_local`]; on a box it is the shell functions in [`SHELL_FUNCTIONS`],
//! which the remote wrapper and the remote kill both include. Both are tested the same way.

use nix::sys::signal::{kill, Signal};
use nix::unistd::{geteuid, Pid};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// A signal's name as the shell's `kill -NAME` takes it (`SIGINT` is `INT`).
pub fn shell_name(signal: Signal) -> &'static str {
    signal.as_str().trim_start_matches("SIG")
}

/// The environment variable every job process carries.
pub const RUN_ID_VAR: &str = "RUNPLZ_RUN_ID";

/// POSIX shell functions for the box (a Linux /proc, awk and GNU or busybox grep are assumed;
/// the user's `/proc/*/stat` are read by one `cat` and parsed by one awk: the shell's `read`
/// of each costs tens of ms where the user has many processes, as root has):
/// - `rp_pids ID [PGID [OUT]]` prints the live (not zombie) processes of this user, other than
///   the calling shell, that carry `RUNPLZ_RUN_ID=ID` or belong to process group PGID or to
///   the session PGID leads (the job is started under `setsid`, so its pid is both; a process
///   that dropped the variable but did not call `setsid` again stays in the session), and
///   the process PGID itself (on a box the job writes its pid down just before its `setsid`)
///   (with OUT non-empty: only those outside that group);
/// - `rp_stop ID TENTHS [PGID [SIG]]` sends them SIG (a name: INT, HUP or TERM, the default)
///   once each (the group as a whole, then the carriers outside it: a second Ctrl-C would cut
///   a job's clean-up short), waits up to TENTHS tenths of a second for them to go, then sends
///   KILL until none is left (a few rounds, as survivors may fork); it returns 1 when
///   something survived.
///
/// Every name starts with `rp_` so the functions can be pasted into another script.
pub const SHELL_FUNCTIONS: &str = r#"rp_nap() { sleep 0.1 2>/dev/null || sleep 1; }
# The user's processes' stat files (in rp_f), and an awk function that parses one from the
# lines it spans (a command name may hold a newline or a `) `): `rp_stat()` sets p, comm and
# f (the fields after the name), or returns 0 until the stat is whole.
rp_stats() {
  rp_f=
  for rp_d in /proc/[0-9]*; do [ -O "$rp_d" ] && rp_f="$rp_f $rp_d/stat"; done
}
rp_awk_stat='
    function rp_stat(  t) {
      rp_b = (rp_b == "") ? $0 : rp_b "\n" $0
      t = rp_b
      if (!sub(/.*\) /, "", t) || split(t, f, " ") < 20) { if (++rp_n > 3) { rp_b = ""; rp_n = 0 } return 0 }
      p = rp_b; sub(/ .*/, "", p)
      comm = rp_b; sub(/^[0-9]+ \(/, "", comm); sub(/\) [^)]*$/, "", comm)
      rp_b = ""; rp_n = 0
      return p ~ /^[0-9]+$/
    }
  '
rp_pids() {
  rp_i=$1 rp_g=${2:-} rp_o=${3:-}
  rp_stats
  { grep -l -z -x -F -e "RUNPLZ_RUN_ID=$rp_i" /proc/[0-9]*/environ 2>/dev/null; echo /; cat /dev/null $rp_f 2>/dev/null; } | awk -v g="$rp_g" -v o="$rp_o" -v me="$$" "$rp_awk_stat"'
    !s { if ($0 == "/") s = 1; else { sub(/^\/proc\//, ""); sub(/\/environ$/, ""); c[$0] = 1 }; next }
    !rp_stat() { next }
    p == me || f[1] == "Z" { next }
    g != "" && f[3] == g { if (o == "") print p; next }
    ((g != "" && (f[4] == g || p == g)) || (p in c)) { print p }'
}
rp_stop() {
  rp_si=$1 rp_sn=$2 rp_sg=${3:-} rp_sk=${4:-TERM}
  case $rp_sg in *[!0-9]*) rp_sg= ;; esac
  case $rp_sk in INT|HUP|TERM) ;; *) rp_sk=TERM ;; esac
  rp_l=$(rp_pids "$rp_si" "$rp_sg")
  [ -n "$rp_l" ] || return 0
  if [ -n "$rp_sg" ]; then
    kill -"$rp_sk" "-$rp_sg" 2>/dev/null
    rp_l=$(rp_pids "$rp_si" "$rp_sg" out)
  fi
  [ -z "$rp_l" ] || kill -"$rp_sk" $rp_l 2>/dev/null
  while [ "$rp_sn" -gt 0 ]; do
    [ -n "$(rp_pids "$rp_si" "$rp_sg")" ] || return 0
    rp_nap
    rp_sn=$((rp_sn - 1))
  done
  for rp_k in 1 2 3 4 5 6 7 8 9 10; do
    [ -n "$rp_sg" ] && kill -KILL "-$rp_sg" 2>/dev/null
    rp_l=$(rp_pids "$rp_si" "$rp_sg")
    [ -n "$rp_l" ] || return 0
    kill -KILL $rp_l 2>/dev/null
    rp_nap
  done
  return 1
}
"#;

/// `rp_escapers SINCE SKIP` (POSIX sh and awk, for the box) prints, one a line, what
/// [`escapers`] finds: the live processes of this user started at or after SINCE (clock ticks
/// after boot) that are in none of the sessions listed in SKIP (space-separated), are orphans
/// (the first parent above them that started before SINCE is pid 1 or a user `systemd`), are
/// in the shell's cgroup and carry no `RUNPLZ_RUN_ID`. `rp_tell SINCE SKIP ID` writes the warning naming them on stderr.
/// They use `rp_stats` and `rp_awk_stat` from [`SHELL_FUNCTIONS`], which come first.
pub const ESCAPER_FUNCTIONS: &str = r#"rp_escapers() {
  rp_stats
  cat /dev/null $rp_f 2>/dev/null | awk -v since="$1" -v skip=" $2 " -v me="$$" "$rp_awk_stat"'
    rp_stat() && f[1] != "Z" { pp[p] = f[2]; sid[p] = f[4]; st[p] = f[20]; cm[p] = comm; n[++k] = p }
    END {
      for (i = 1; i <= k; i++) {
        p = n[i]
        if (p == me || st[p] + 0 < since + 0 || index(skip, " " sid[p] " ")) continue
        q = pp[p]; j = 0
        while ((q in st) && st[q] + 0 >= since + 0 && q != me && j < 64) { q = pp[q]; j++ }
        if (q == 1 || ((q in cm) && cm[q] == "systemd" && !(st[q] + 0 >= since + 0))) print p
      }
    }' | { rp_xg=; while read -r rp_p; do
    [ -n "$rp_xg" ] || rp_xg=$(cat /proc/$$/cgroup 2>/dev/null)
    [ "$(cat "/proc/$rp_p/cgroup" 2>/dev/null)" = "$rp_xg" ] || continue
    # Another run's supervisor, before it has written down its session (a name only: the
    # scan only warns, and a job can keep RUNPLZ_RUN_ID anyway).
    case "$(tr '\0' ' ' < "/proc/$rp_p/cmdline" 2>/dev/null)" in *" rp-supervisor ") continue ;; esac
    grep -q -z '^RUNPLZ_RUN_ID=' "/proc/$rp_p/environ" 2>/dev/null || { [ -r "/proc/$rp_p/environ" ] && echo "$rp_p"; }
  done; }
}
rp_tell() {
  rp_xl=$(rp_escapers "$1" "$2")
  [ -n "$rp_xl" ] || return 0
  printf 'rp-exec: warning: on the box: %s process(es) started during run %s are still running; they left its session and dropped RUNPLZ_RUN_ID, so they cannot be told apart for sure from other processes of this user and were not killed:\n' "$(echo $rp_xl | wc -w | tr -d ' ')" "$3" >&2
  for rp_p in $rp_xl; do
    rp_xc=$(tr '\0\n\t\r' '    ' < "/proc/$rp_p/cmdline" 2>/dev/null)
    printf '  %s %s\n' "$rp_p" "${rp_xc% }" >&2
  done
  printf 'stop them on the box with: kill -KILL %s\n' "$(echo $rp_xl)" >&2
}
"#;

/// Tenths of a second, for the shell side (which sleeps in 0.1 s steps).
pub fn tenths(d: Duration) -> u64 {
    d.as_millis().div_ceil(100) as u64
}

/// The live processes of the current user (not this one) that carry `RUNPLZ_RUN_ID=<run_id>`.
/// A zombie's environment reads as empty, so the dead are not listed.
pub fn carriers(run_id: &str) -> Vec<Pid> {
    carriers_since(run_id, None)
}

/// [`carriers`] among the processes started at or after `since` (clock ticks after boot,
/// from [`now_ticks`] at the start of the run: a carrier of a fresh run id cannot be older).
/// Reading a process's start is much cheaper than reading its environment.
pub fn carriers_since(run_id: &str, since: Option<u64>) -> Vec<Pid> {
    let needle = format!("{RUN_ID_VAR}={run_id}");
    let me = std::process::id() as i32;
    let uid = geteuid().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Some(since) = since {
            if read_stat(pid).is_some_and(|s| s.start < since) {
                continue;
            }
        }
        if entry.metadata().ok().map(|m| m.uid()) != Some(uid) {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()) {
            found.push(Pid::from_raw(pid));
        }
    }
    found
}

/// Kill every local process carrying the run id: TERM, up to `grace` for them to go, then
/// KILL until none is left. Returns the pids that were signalled; an error names survivors.
pub fn kill_run_local(run_id: &str, grace: Duration) -> anyhow::Result<Vec<i32>> {
    kill_run_local_with(run_id, grace, Signal::SIGTERM)
}

/// [`kill_run_local`] with `signal` (INT for a Ctrl-C passed on) instead of TERM first.
pub fn kill_run_local_with(
    run_id: &str,
    grace: Duration,
    signal: Signal,
) -> anyhow::Result<Vec<i32>> {
    kill_run_local_since(run_id, grace, signal, None)
}

/// [`kill_run_local_with`], looking only at processes started at or after `since` (see
/// [`carriers_since`]).
pub fn kill_run_local_since(
    run_id: &str,
    grace: Duration,
    signal: Signal,
    since: Option<u64>,
) -> anyhow::Result<Vec<i32>> {
    let carriers = |id: &str| carriers_since(id, since);
    let first = carriers(run_id);
    let mut hit: Vec<i32> = first.iter().map(|p| p.as_raw()).collect();
    if first.is_empty() {
        return Ok(hit);
    }
    for &p in &first {
        let _ = kill(p, signal);
    }
    let end = Instant::now() + grace;
    while Instant::now() < end {
        if carriers(run_id).is_empty() {
            return Ok(hit);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Survivors may fork while we kill them: go round a few times.
    for _ in 0..10 {
        let left = carriers(run_id);
        if left.is_empty() {
            return Ok(hit);
        }
        for &p in &left {
            let _ = kill(p, Signal::SIGKILL);
            if !hit.contains(&p.as_raw()) {
                hit.push(p.as_raw());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = carriers(run_id);
    if left.is_empty() {
        Ok(hit)
    } else {
        anyhow::bail!(
            "processes of run {run_id} survived KILL: {}",
            left.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// Clock ticks after boot at which it started (field 22).
    pub start: u64,
    /// A zombie (already dead, not yet waited for).
    pub zombie: bool,
}

/// Parse `/proc/<pid>/stat` (the command name, in parentheses, may hold anything).
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (head, rest) = text.rsplit_once(") ")?;
    let pid = head.split_once(" (")?.0.trim().parse().ok()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field n is f[n - 3].
    Some(Stat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        sid: f.get(3)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
        zombie: *f.first()? == "Z",
    })
}

/// `/proc/<pid>/stat`, read in one call (it is well under a page).
fn read_stat(pid: i32) -> Option<Stat> {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    let n = std::fs::File::open(format!("/proc/{pid}/stat"))
        .ok()?
        .read(&mut buf)
        .ok()?;
    parse_stat(std::str::from_utf8(&buf[..n]).ok()?)
}

/// This process's entry.
pub fn own_stat() -> Option<Stat> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Now, in the clock ticks after boot that [`Stat::start`] counts (a process started from
/// now on has a start at least this), for the start of a run: the start of a thread made for
/// the purpose (no clock-tick rate to look up).
pub fn now_ticks() -> Option<u64> {
    std::thread::spawn(|| {
        parse_stat(&std::fs::read_to_string("/proc/thread-self/stat").ok()?).map(|s| s.start)
    })
    .join()
    .ok()?
}

/// A process's command line with spaces between the arguments (`[name]` when it has none),
/// control characters escaped: a `bash -c` script's newlines must not break the warning's
/// one-process-a-line shape.
pub fn cmdline(pid: i32) -> String {
    one_line(&raw_cmdline(pid))
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn raw_cmdline(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if args.is_empty() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        format!("[{}]", comm.trim())
    } else {
        args.join(" ")
    }
}

/// Make this process the child subreaper (`PR_SET_CHILD_SUBREAPER`): every descendant
/// orphaned from now on is re-parented to it rather than to pid 1, so once a job has ended
/// [`no_descendants`] can tell that nothing of it survived without scanning /proc. Only for a
/// process that runs one job and starts nothing else beside it (rp-exec here): [`escapers`]
/// then takes a live child of ours for an orphan of the run. Whether it worked.
pub fn become_subreaper() -> bool {
    nix::sys::prctl::set_child_subreaper(true).is_ok()
}

/// This process has no child at all, live or zombie (`waitid` says ECHILD; nothing is
/// reaped). Called as a child subreaper after the job was reaped, it means no descendant of
/// the job survived: each one, orphaned, would have become our child. Any child at all
/// (ours or a survivor) answers false, and the caller scans.
pub fn no_descendants() -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    matches!(
        waitid(
            Id::All,
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT
        ),
        Err(nix::errno::Errno::ECHILD)
    )
}

/// Whether this process is a child subreaper (then orphans of a run are re-parented to us).
pub fn is_subreaper() -> bool {
    nix::sys::prctl::get_child_subreaper().unwrap_or(false)
}

/// Processes that escaped a run and cannot be attributed to it for sure, so they are named,
/// never killed. One scan of /proc: the live processes of the current user (not this one)
/// started at or after `since` (clock ticks after boot, from [`now_ticks`] at the start of
/// the run), that carry no `RUNPLZ_RUN_ID` at all (a carrier of ours was killed; any other
/// belongs to another run), are not in a session listed in `skip_sids` (our own helpers,
/// other runs), and are orphans: going up through parents that also started during the run,
/// the first parent that did not is pid 1 or a user `systemd` (where orphans are re-parented;
/// this process itself when it is a child subreaper, see [`become_subreaper`]),
/// and are in our cgroup (`setsid` does not leave it; a service or another login's session
/// is in another one). A process of someone else's still has its shell, sshd or terminal
/// above it, or lives in another cgroup.
pub fn escapers(since: u64, skip_sids: &[i32]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let uid = geteuid().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own_cgroup = std::fs::read_to_string("/proc/self/cgroup").ok();
    let mut all = std::collections::HashMap::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Some(st) = read_stat(pid) else {
            continue;
        };
        all.insert(pid, st);
    }
    // Asked only of the few processes that matter (a stat of each costs more than the scan).
    let mine = |p: i32| std::fs::metadata(format!("/proc/{p}")).is_ok_and(|m| m.uid() == uid);
    let new = |p: i32| all.get(&p).is_some_and(|s| s.start >= since) && mine(p);
    let is_reaper = |p: i32| {
        p == 1
            || (mine(p)
                && std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "systemd"))
    };
    // As a subreaper, the run's orphans are our children (the job itself was reaped).
    let me_reaps = is_subreaper();
    let mut found: Vec<i32> = all
        .values()
        .filter(|s| s.pid != me && !s.zombie && new(s.pid) && !skip_sids.contains(&s.sid))
        .filter(|s| {
            let mut p = s.ppid;
            for _ in 0..64 {
                if !new(p) || p == me {
                    break;
                }
                p = all.get(&p).map_or(0, |a| a.ppid);
            }
            if p == me {
                me_reaps
            } else {
                is_reaper(p)
            }
        })
        // `setsid` does not leave a cgroup: a process in another one (a service started by
        // pid 1, another login's session scope) is not ours.
        .filter(|s| {
            own_cgroup.is_none()
                || std::fs::read_to_string(format!("/proc/{}/cgroup", s.pid)).ok() == own_cgroup
        })
        // Connection masters runplz keeps for later runs are no run's escapers.
        .filter(|s| !crate::ssh::is_runplz_master(&raw_cmdline(s.pid)))
        .filter(|s| {
            std::fs::read(format!("/proc/{}/environ", s.pid)).is_ok_and(|env| {
                !env.split(|&b| b == 0)
                    .any(|kv| kv.starts_with(format!("{RUN_ID_VAR}=").as_bytes()))
            })
        })
        .map(|s| s.pid)
        .collect();
    found.sort_unstable();
    found
}

/// The warning that names escapers (see [`escapers`]): each pid and command line, and the
/// command that stops them; `None` when there are none.
pub fn escaper_warning(run_id: &str, pids: &[i32]) -> Option<String> {
    if pids.is_empty() {
        return None;
    }
    let mut msg = format!(
        "{} process(es) started during run {run_id} are still running; they left its session and dropped {RUN_ID_VAR}, so they cannot be told apart for sure from other processes of this user and were not killed:\n",
        pids.len()
    );
    for &p in pids {
        msg.push_str(&format!("  {p} {}\n", cmdline(p)));
    }
    let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    msg.push_str(&format!("stop them with: kill -KILL {}", list.join(" ")));
    Some(msg)
}

#[cfg(test)]
#[path = "reap_tests.rs"]
mod tests;
