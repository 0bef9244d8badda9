//! Run state on disk: `$XDG_STATE_HOME/runplz/runs/<run-id>.json` (default
//! `~/.local/state/runplz/runs/`), created before a run's first side effect and rewritten
//! atomically (a temp file renamed over it) as each step starts and ends, so that a killed
//! runplz leaves a file saying which step it was in and what it had started. The format is
//! [`runplz_protocol::state::RunState`].

use anyhow::{Context, Result};
pub use runplz_protocol::state::{Handle, RunState as Record, Status, StepState, Teardown};
use runplz_protocol::state::{TeardownStatus, STATE_TYPE};
use std::io::Write;
use std::path::{Path, PathBuf};

/// runplz's local state folder: `$XDG_STATE_HOME/runplz`, default `~/.local/state/runplz`.
pub fn state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("runplz")
}

/// The folder run states live in.
pub fn runs_dir() -> PathBuf {
    state_dir().join("runs")
}

/// The folder the secret scan's per-tree caches live in.
pub fn scan_cache_dir() -> PathBuf {
    state_dir().join("scan-cache")
}

/// The state file of one run, kept in step with the run.
#[derive(Debug)]
pub struct RunState {
    path: PathBuf,
    /// What is (or will next be) on disk.
    pub record: Record,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a new run's state starts with.
pub struct NewRun<'a> {
    /// The run id.
    pub run_id: &'a str,
    /// The job's name.
    pub job: &'a str,
    /// The job file as given.
    pub job_file: &'a Path,
    /// The backend's name.
    pub backend: &'a str,
    /// The box or instance.
    pub target: Option<String>,
    /// The mode's name.
    pub mode: &'a str,
    /// Where outputs come back to.
    pub outputs: &'a Path,
    /// The release policy (`none`, `close`, ...).
    pub teardown: &'a str,
}

impl RunState {
    /// Create the state file of a new run in `dir` (see [`runs_dir`]).
    pub fn create(dir: &Path, new: NewRun<'_>) -> Result<RunState> {
        let job_file = if new.job_file.as_os_str() == "-" {
            "-".to_string()
        } else {
            std::fs::canonicalize(new.job_file)
                .unwrap_or_else(|_| new.job_file.to_path_buf())
                .display()
                .to_string()
        };
        let t = now();
        let mut s = RunState {
            path: dir.join(format!("{}.json", new.run_id)),
            record: Record {
                kind: STATE_TYPE.into(),
                version: runplz_protocol::VERSION,
                run_id: new.run_id.into(),
                job: new.job.into(),
                job_file,
                backend: new.backend.into(),
                target: new.target,
                mode: new.mode.into(),
                pid: std::process::id(),
                started_at: t,
                updated_at: t,
                status: Status::Starting,
                current_step: None,
                steps: Vec::new(),
                handle: Handle::default(),
                outputs: new.outputs.display().to_string(),
                teardown: Teardown {
                    policy: new.teardown.into(),
                    status: TeardownStatus::Pending,
                },
                exit_code: None,
                run: None,
            },
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the run-state folder {}", dir.display()))?;
        s.save()?;
        Ok(s)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Change the record and write it.
    pub fn update(&mut self, f: impl FnOnce(&mut Record)) -> Result<()> {
        f(&mut self.record);
        self.save()
    }

    /// A step starts.
    pub fn step_started(&mut self, step: &str) -> Result<()> {
        self.update(|r| {
            if r.status == Status::Starting {
                r.status = Status::Running;
            }
            r.current_step = Some(step.to_string());
        })
    }

    /// A step ended.
    pub fn step_ended(&mut self, step: &str, ok: bool) -> Result<()> {
        self.update(|r| {
            r.current_step = None;
            r.steps.push(StepState {
                step: step.to_string(),
                ok,
            });
        })
    }

    /// Release is next (or over: `done` says how it went).
    pub fn teardown(&mut self, done: Option<bool>) -> Result<()> {
        self.update(|r| match done {
            None => r.status = Status::TearingDown,
            Some(ok) => {
                r.teardown.status = if ok {
                    TeardownStatus::Done
                } else {
                    TeardownStatus::Failed
                };
            }
        })
    }

    /// The run is over; its record is kept with its state.
    pub fn finished(&mut self, exit_code: i32, run: &runplz_protocol::RunRecord) -> Result<()> {
        self.update(|r| {
            r.run = Some(run.clone());
            r.status = Status::Finished;
            r.current_step = None;
            r.exit_code = Some(exit_code);
        })
    }

    /// Write the record atomically: a private temp file in the same folder, renamed over.
    fn save(&mut self) -> Result<()> {
        self.record.updated_at = now();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("writing run state in {}", dir.display()))?;
        serde_json::to_writer_pretty(&mut tmp, &self.record)?;
        tmp.write_all(b"\n")?;
        tmp.as_file().sync_data().ok();
        tmp.persist(&self.path)
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}

/// Read a run state back.
pub fn read(path: &Path) -> Result<Record> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_before_anything_and_after_each_step() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = RunState::create(
            dir.path(),
            NewRun {
                run_id: "j-1-2-ab",
                job: "j",
                job_file: Path::new("-"),
                backend: "ssh",
                target: Some("box".into()),
                mode: "native",
                outputs: Path::new("/o"),
                teardown: "close",
            },
        )
        .unwrap();
        let path = dir.path().join("j-1-2-ab.json");
        let r = read(&path).unwrap();
        assert_eq!(
            (r.status, r.current_step.as_deref()),
            (Status::Starting, None)
        );
        s.step_started("sync").unwrap();
        let r = read(&path).unwrap();
        assert_eq!(
            (r.status, r.current_step.as_deref()),
            (Status::Running, Some("sync"))
        );
        s.step_ended("sync", false).unwrap();
        let run = runplz_protocol::RunRecord {
            backend: runplz_protocol::Backend::Local,
            job: "j".into(),
            run_id: "j-1-2-ab".into(),
            host: None,
            mode: runplz_protocol::Mode::Native,
            exit_code: None,
            ending: runplz_protocol::RunEnding::Failed {
                step: runplz_protocol::Step::Sync,
            },
            steps: Vec::new(),
            sync: None,
            outputs: None,
            env_passed: Vec::new(),
            instance: None,
            secret_scan: None,
            tree: None,
            duration_seconds: 1.5,
        };
        s.finished(5, &run).unwrap();
        let r = read(&path).unwrap();
        assert_eq!(r.run.as_ref(), Some(&run));
        assert_eq!(
            r.steps,
            vec![StepState {
                step: "sync".into(),
                ok: false
            }]
        );
        assert_eq!((r.status, r.exit_code), (Status::Finished, Some(5)));
        assert_eq!(r.teardown.status, TeardownStatus::Pending);
        // Only the state file: no temp file left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
