//! Killing everything of one run: every process of the current user whose environment holds
//! `RUNPLZ_RUN_ID=<id>` (and, remotely, every member of the job's process group). A grandchild
//! that called `setsid` has left the group but not its environment, so this catches it.
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

/// POSIX shell functions for the box (a Linux /proc and GNU or busybox grep are assumed):
/// - `rp_pids ID [PGID [OUT]]` prints the live (not zombie) processes of this user, other than
///   the calling shell, that carry `RUNPLZ_RUN_ID=ID` or belong to process group PGID (with
///   OUT non-empty: only the carriers outside that group);
/// - `rp_stop ID TENTHS [PGID [SIG]]` sends them SIG (a name: INT, HUP or TERM, the default)
///   once each (the group as a whole, then the carriers outside it: a second Ctrl-C would cut
///   a job's clean-up short), waits up to TENTHS tenths of a second for them to go, then sends
///   KILL until none is left (a few rounds, as survivors may fork); it returns 1 when
///   something survived.
///
/// Every name starts with `rp_` so the functions can be pasted into another script.
pub const SHELL_FUNCTIONS: &str = r#"rp_nap() { sleep 0.1 2>/dev/null || sleep 1; }
rp_pids() {
  rp_i=$1 rp_g=${2:-} rp_o=${3:-}
  rp_c=$(grep -l -z -x -F -e "RUNPLZ_RUN_ID=$rp_i" /proc/[0-9]*/environ 2>/dev/null)
  for rp_d in /proc/[0-9]*; do
    rp_p=${rp_d#/proc/}
    [ "$rp_p" != "$$" ] && [ -O "$rp_d" ] || continue
    rp_s=
    read -r rp_s 2>/dev/null < "$rp_d/stat" || continue
    rp_s=${rp_s##*) }
    [ "${rp_s%% *}" = Z ] && continue
    rp_t=${rp_s#* }; rp_t=${rp_t#* }; rp_t=${rp_t%% *}
    if [ -n "$rp_g" ] && [ "$rp_t" = "$rp_g" ]; then [ -n "$rp_o" ] || echo "$rp_p"; continue; fi
    case "
$rp_c
" in *"
$rp_d/environ
"*) echo "$rp_p" ;; esac
  done
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

/// Tenths of a second, for the shell side (which sleeps in 0.1 s steps).
pub fn tenths(d: Duration) -> u64 {
    d.as_millis().div_ceil(100) as u64
}

/// The live processes of the current user (not this one) that carry `RUNPLZ_RUN_ID=<run_id>`.
/// A zombie's environment reads as empty, so the dead are not listed.
pub fn carriers(run_id: &str) -> Vec<Pid> {
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
        if pid == me || entry.metadata().ok().map(|m| m.uid()) != Some(uid) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    fn id(tag: &str) -> String {
        format!("reap-{tag}-{}-{}", std::process::id(), rand_hex())
    }

    fn rand_hex() -> String {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        format!("{:x}", h.finish())
    }

    /// A shell ignoring TERM (and so its `sleep`), in its own session, carrying the run id.
    fn stubborn(run_id: &str) -> Child {
        let mut c = Command::new("sh");
        c.args(["-c", "trap '' TERM; sleep 30; :"])
            .env(RUN_ID_VAR, run_id)
            .process_group(0);
        c.spawn().unwrap()
    }

    fn alive(child: &mut Child) -> bool {
        child.try_wait().unwrap().is_none()
    }

    fn wait_gone(child: &mut Child) {
        let end = Instant::now() + Duration::from_secs(10);
        while alive(child) {
            assert!(
                Instant::now() < end,
                "process {} is still alive",
                child.id()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_listed(run_id: &str, n: usize) {
        let end = Instant::now() + Duration::from_secs(10);
        while carriers(run_id).len() < n {
            assert!(Instant::now() < end, "carriers of {run_id} never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn rust_reaper_kills_carriers_that_ignore_term_and_nothing_else() {
        let run = id("rs");
        let other = id("other");
        let mut a = stubborn(&run);
        let mut b = stubborn(&other);
        wait_listed(&run, 2); // sh and its sleep
        let hit = kill_run_local(&run, Duration::from_millis(200)).unwrap();
        assert!(hit.contains(&(a.id() as i32)), "{hit:?}");
        wait_gone(&mut a);
        assert!(carriers(&run).is_empty());
        assert!(alive(&mut b), "a process of another run was killed");
        kill_run_local(&other, Duration::ZERO).unwrap();
        wait_gone(&mut b);
    }

    #[test]
    fn shell_reaper_kills_carriers_and_group_members() {
        let run = id("sh");
        let mut a = stubborn(&run);
        // A group member that scrubbed its environment: only the group id finds it.
        let mut g = Command::new("env");
        g.args(["-i", "sleep", "30"]).process_group(0);
        let mut g = g.spawn().unwrap();
        wait_listed(&run, 2);
        let script = format!(
            "{SHELL_FUNCTIONS}\nrp_pids {run} {g}; echo --; rp_stop {run} 2 {g}; echo rc=$?",
            g = g.id()
        );
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let (listed, after) = text.split_once("--\n").unwrap();
        let listed: Vec<u32> = listed.lines().map(|l| l.parse().unwrap()).collect();
        assert!(listed.contains(&a.id()), "{text}");
        assert!(listed.contains(&g.id()), "{text}");
        assert_eq!(after, "rc=0\n", "{}", String::from_utf8_lossy(&out.stderr));
        wait_gone(&mut a);
        wait_gone(&mut g);
        assert!(carriers(&run).is_empty());
    }

    #[test]
    fn reapers_send_the_signal_asked_for_first() {
        let dir = tempfile::tempdir().unwrap();
        for (how, sig) in [("rs", Signal::SIGINT), ("sh", Signal::SIGHUP)] {
            let run = id(how);
            let got = dir.path().join(how);
            // Records the signal and stays: only the KILL after the grace ends it.
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("trap 'echo INT >> \"$0\"' INT; trap 'echo HUP >> \"$0\"' HUP; trap 'echo TERM >> \"$0\"' TERM; while :; do sleep 0.05; done")
                .arg(&got)
                .env(RUN_ID_VAR, &run)
                .process_group(0);
            let mut child = c.spawn().unwrap();
            wait_listed(&run, 1);
            std::thread::sleep(Duration::from_millis(100));
            if how == "rs" {
                kill_run_local_with(&run, Duration::from_millis(500), sig).unwrap();
            } else {
                let script = format!("{SHELL_FUNCTIONS}\nrp_stop {run} 5 '' {}", shell_name(sig));
                let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
                assert!(out.status.success());
            }
            wait_gone(&mut child);
            let want = format!("{}\n", shell_name(sig));
            assert_eq!(std::fs::read_to_string(&got).unwrap_or_default(), want);
        }
    }

    #[test]
    fn shell_reaper_with_nothing_to_do_returns_at_once() {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{SHELL_FUNCTIONS}\nrp_pids none-{0}; rp_stop none-{0} 50; echo rc=$?",
                rand_hex()
            ))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "rc=0\n");
    }
}
