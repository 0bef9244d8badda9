//! Finding runs by what a person types: a run id, a unique prefix of one, or `last` (the
//! run started most recently on this machine); listing them all; and telling whether the
//! runplz that started a run is still alive.

use super::{read, runs_dir, Record};
use crate::error::CliError;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// A run found in the run-state folder.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its state file.
    pub path: PathBuf,
    /// What it says.
    pub record: Record,
}

/// The job's output log of a run (what it printed, as it printed it).
pub fn log_path(run_id: &str) -> PathBuf {
    runs_dir().join(format!("{run_id}.log"))
}

/// The job's output of a run with a time and stream on each line, as it arrived (see
/// [`crate::process::stamped`]).
pub fn driver_log_path(run_id: &str) -> PathBuf {
    runs_dir().join(format!("{run_id}.driver.log"))
}

/// Open a run's plain log for appending (created 0600: the job's output is the user's alone).
pub fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Keep a detached run's output, as `runplz collect` brought it from where the job ran, in
/// `<run id>.log` (replacing it: it is the whole output). No driver.log: when each line
/// came is not known here, and a stamp of the collection time would say otherwise.
pub fn keep_log(run_id: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = log_path(run_id);
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| anyhow::anyhow!("keeping the job's output in {}: {e}", path.display()))
}

/// Every run state in `dir`, oldest first. A file that does not parse is skipped with a
/// warning (another version's, or half written by hand).
pub fn list(dir: &Path) -> Vec<Found> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        match read(&path) {
            Ok(record) => out.push(Found { path, record }),
            Err(err) => crate::out::warn("runplz", format!("skipping {}: {err:#}", path.display())),
        }
    }
    out.sort_by(|a, b| {
        (a.record.started_at, &a.record.run_id).cmp(&(b.record.started_at, &b.record.run_id))
    });
    out
}

/// The run `word` names in `dir`: `last`, an exact run id, or a prefix only one run id has.
/// `Ok(None)`: nothing here by that name (the caller may ask a backend by tag).
pub fn resolve(dir: &Path, word: &str) -> Result<Option<Found>> {
    let all = list(dir);
    if word == "last" {
        return match all.into_iter().next_back() {
            Some(f) => Ok(Some(f)),
            None => Err(CliError::usage(format!(
                "`last`: no runs recorded in {}",
                dir.display()
            ))),
        };
    }
    if let Some(f) = all.iter().find(|f| f.record.run_id == word) {
        return Ok(Some(f.clone()));
    }
    let matches: Vec<&Found> = all
        .iter()
        .filter(|f| f.record.run_id.starts_with(word))
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => Err(CliError::usage(format!(
            "run {word:?} is ambiguous: {} runs start with it ({}); give more of the run id",
            many.len(),
            many.iter()
                .take(5)
                .map(|f| f.record.run_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Whether the runplz that wrote `r` still runs: its pid is alive, is a runplz, and
/// started no later than the run (a pid reused since by another program is not it).
pub fn alive(r: &Record) -> bool {
    if r.pid == 0 || r.pid == std::process::id() {
        return false;
    }
    let proc = PathBuf::from(format!("/proc/{}", r.pid));
    let Ok(stat) = std::fs::read_to_string(proc.join("stat")) else {
        return false;
    };
    // State (after the command's closing parenthesis): a zombie is gone.
    let after = stat.rsplit_once(')').map(|(_, a)| a.trim()).unwrap_or("");
    if after.starts_with('Z') || after.starts_with('X') {
        return false;
    }
    let comm = std::fs::read_to_string(proc.join("comm")).unwrap_or_default();
    if !comm.trim().starts_with("runplz") {
        return false;
    }
    // A process started after the run began cannot be the run's runplz.
    match proc_start(after) {
        Some(t) => t <= r.started_at + 2,
        None => true,
    }
}

/// A process's start time in seconds since the epoch, from /proc/<pid>/stat (field 22, in
/// clock ticks since boot) and the boot time.
fn proc_start(after_comm: &str) -> Option<u64> {
    // Fields after the command start at field 3; starttime is field 22.
    let ticks: u64 = after_comm.split_whitespace().nth(19)?.parse().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&h| h > 0)? as u64;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
    Some(boot + ticks / hz)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{NewRun, RunState};

    fn make(dir: &Path, id: &str, started: u64) {
        let mut s = RunState::create(
            dir,
            NewRun {
                run_id: id,
                job: "j",
                job_file: Path::new("-"),
                backend: "ssh",
                target: None,
                mode: "native",
                outputs: Path::new("/o"),
                teardown: "close",
            },
        )
        .unwrap();
        s.update(|r| r.started_at = started).unwrap();
    }

    #[test]
    fn a_run_is_found_by_id_unique_prefix_or_last() {
        let d = tempfile::tempdir().unwrap();
        make(d.path(), "train-20260101-aaaa1", 100);
        make(d.path(), "train-20260101-aaab2", 300);
        make(d.path(), "eval-20260101-cccc3", 200);
        let id = |w: &str| resolve(d.path(), w).unwrap().map(|f| f.record.run_id);
        assert_eq!(id("last").as_deref(), Some("train-20260101-aaab2"));
        assert_eq!(id("eval").as_deref(), Some("eval-20260101-cccc3"));
        assert_eq!(
            id("train-20260101-aaaa1").as_deref(),
            Some("train-20260101-aaaa1")
        );
        assert_eq!(id("nope"), None);
        let e = resolve(d.path(), "train-2026").unwrap_err().to_string();
        assert!(
            e.contains("ambiguous") && e.contains("train-20260101-aaaa1"),
            "{e}"
        );
        // A file that is not a run state is skipped, not fatal.
        std::fs::write(d.path().join("junk.json"), "{").unwrap();
        assert_eq!(list(d.path()).len(), 3);
    }

    #[test]
    fn last_with_no_runs_is_a_usage_error() {
        let d = tempfile::tempdir().unwrap();
        let e = resolve(d.path(), "last").unwrap_err().to_string();
        assert!(e.contains("no runs recorded"), "{e}");
    }

    #[test]
    fn a_dead_or_foreign_pid_is_not_alive() {
        let d = tempfile::tempdir().unwrap();
        make(d.path(), "r-1", 100);
        let mut r = read(&d.path().join("r-1.json")).unwrap();
        // Our own pid (the test binary) is not a runplz.
        r.pid = std::process::id();
        assert!(!alive(&r));
        r.pid = 1;
        assert!(!alive(&r), "pid 1 is not a runplz");
        r.pid = u32::MAX - 1;
        assert!(!alive(&r));
    }
}
