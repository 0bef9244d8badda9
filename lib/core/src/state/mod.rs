//! Run state on disk: `$XDG_STATE_HOME/runplz/runs/<run-id>.json` (default
//! `~/.local/state/runplz/runs/`), created before a run's first side effect and rewritten
//! atomically (a temp file renamed over it) as each step starts and ends, so that a killed
//! runplz leaves a file saying which step it was in and what it had started. The format is
//! [`runplz_protocol::state::RunState`].

use anyhow::{Context, Result};
mod events;
mod find;
mod lock;

pub use events::{event, events_path, Event};
pub use find::{alive, driver_log_path, keep_log, list, log_path, open_log, resolve, Found};
pub use lock::{lock_path, lock_run, RunLock};
use runplz_protocol::state::STATE_TYPE;
pub use runplz_protocol::state::{
    CostCap, Failure, Handle, RunState as Record, SshHandle, Status, StepState, Teardown,
    TeardownStatus,
};
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

/// A file of `folder` in the state folder named by `key` (the first 16 bytes of its sha256,
/// hex): what this machine keeps about a box (the key names the box, see
/// [`crate::ssh::Ssh::handle`]).
pub fn keyed_file(folder: &str, key: &str) -> PathBuf {
    state_dir()
        .join(folder)
        .join(crate::hex::sha256_prefix(key.as_bytes(), 16))
}

/// Write `bytes` to `path` whole (a temp file renamed over it), its folder private (0700).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let mut t = tempfile::NamedTempFile::new_in(dir)?;
    t.write_all(bytes)?;
    t.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The state file of one run, kept in step with the run.
#[derive(Debug)]
pub struct RunState {
    path: PathBuf,
    /// What is (or will next be) on disk.
    pub record: Record,
}

fn now() -> u64 {
    now_f().floor() as u64
}

/// Seconds since the epoch, to the millisecond.
pub fn now_f() -> f64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    (t * 1000.0).round() / 1000.0
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
                ended_at: None,
                failure: None,
                timed_out: false,
                tree: None,
                instance_type: None,
                price_per_hour: None,
                cost: None,
                collected: None,
                cost_cap: None,
                job_spec: None,
            },
        };
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the run-state folder {}", dir.display()))?;
        s.save()?;
        s.event(Event::Created);
        Ok(s)
    }

    /// The state of a run written earlier, to carry on with it (`runplz kill`, `collect`).
    pub fn open(path: &Path) -> Result<RunState> {
        let record = read(path)?;
        let s = RunState {
            path: path.to_path_buf(),
            record,
        };
        Ok(s)
    }

    /// Send this process's warnings to this run's events from now on (a verb acting on
    /// one run; never one going through many, which would file them under the wrong run).
    pub fn bind_warnings(&self) {
        events::bind(&events_path(&self.path), &self.record.run_id);
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

    /// Append one event to the run's `events.jsonl` (best effort: a full disk must not
    /// stop the run).
    pub fn event(&self, e: Event) {
        events::append(&events_path(&self.path), &self.record.run_id, e);
    }

    /// A step starts.
    pub fn step_started(&mut self, step: &str) -> Result<()> {
        self.event(Event::StepStart {
            step: step.to_string(),
        });
        let at = now_f();
        self.update(|r| {
            if r.status == Status::Starting {
                r.status = Status::Running;
            }
            r.current_step = Some(step.to_string());
            // Open until it ends: a killed run shows when its last step began.
            r.steps.push(StepState {
                step: step.to_string(),
                ok: false,
                started_at: Some(at),
                ended_at: None,
            });
        })
    }

    /// A step ended.
    pub fn step_ended(&mut self, step: &str, ok: bool) -> Result<()> {
        self.event(Event::StepEnd {
            step: step.to_string(),
            ok,
        });
        let at = now_f();
        self.update(|r| {
            r.current_step = None;
            match r
                .steps
                .iter_mut()
                .rev()
                .find(|s| s.step == step && s.ended_at.is_none())
            {
                Some(s) => {
                    s.ok = ok;
                    s.ended_at = Some(at);
                }
                None => r.steps.push(StepState {
                    step: step.to_string(),
                    ok,
                    started_at: None,
                    ended_at: Some(at),
                }),
            }
        })
    }

    /// Release is next (or over: `done` says how it went). Recorded as the step `release`.
    pub fn teardown(&mut self, done: Option<bool>) -> Result<()> {
        match done {
            None => {
                self.step_started("release")?;
                self.update(|r| r.status = Status::TearingDown)
            }
            Some(ok) => {
                self.step_ended("release", ok)?;
                self.update(|r| {
                    r.teardown.status = if ok {
                        TeardownStatus::Done
                    } else {
                        TeardownStatus::Failed
                    };
                })
            }
        }
    }

    /// The run is over; its record is kept with its state.
    pub fn finished(
        &mut self,
        exit_code: i32,
        run: &runplz_protocol::RunRecord,
        why: Option<&str>,
    ) -> Result<()> {
        let failure = failure_of(run.ending, exit_code, why);
        self.event(Event::Finished {
            exit_code: Some(exit_code),
            failure,
        });
        self.update(|r| {
            r.run = Some(run.clone());
            r.status = Status::Finished;
            r.current_step = None;
            r.exit_code = Some(exit_code);
            r.ended_at = Some(now());
            r.failure = failure;
            r.timed_out = matches!(
                run.ending,
                runplz_protocol::RunEnding::TimedOut { .. }
                    | runplz_protocol::RunEnding::Inactive { .. }
                    | runplz_protocol::RunEnding::CostCap { .. }
            );
            r.collected = run.outputs.as_ref().map(|_| true).or(r.collected);
            if let Some(i) = &run.instance {
                r.instance_type = i.instance_type.clone().or(r.instance_type.take());
                r.price_per_hour = i.price_per_hour.or(r.price_per_hour);
                r.cost = i.cost.or(r.cost);
            }
        })
    }

    /// Write the record atomically: a private temp file in the same folder, renamed over.
    fn save(&mut self) -> Result<()> {
        self.record.updated_at = now();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("writing run state in {}", dir.display()))?;
        // One write, not one per token (an unbuffered writer makes hundreds of syscalls).
        let mut text = serde_json::to_vec_pretty(&self.record)?;
        text.push(b'\n');
        tmp.write_all(&text)?;
        // The rename alone is atomic, and a killed runplz loses nothing written; a sync
        // (some 10 ms each on a slow disk, a dozen a run) only guards against the machine
        // itself going down, which matters where a lost record means a box billing unseen.
        if matches!(self.record.backend.as_str(), "brev" | "runpod" | "modal") {
            tmp.as_file().sync_data().ok();
        }
        tmp.persist(&self.path)
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}

/// `spec` with the value of every `env` object (the job's and each image step's) masked,
/// for the run state: names stay, values never leave the job file.
pub fn masked_spec(spec: &impl serde::Serialize) -> Option<serde_json::Value> {
    fn mask(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    match x {
                        serde_json::Value::Object(env) if k == "env" => {
                            for val in env.values_mut() {
                                *val = serde_json::Value::String("***".into());
                            }
                        }
                        _ => mask(x),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(mask),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(spec).ok()?;
    mask(&mut v);
    Some(v)
}

/// Why a run that ended this way failed (none when it succeeded or was left running).
/// `why`: the error that ended it, if any, to tell a box that never answered ssh.
pub fn failure_of(
    ending: runplz_protocol::RunEnding,
    exit_code: i32,
    why: Option<&str>,
) -> Option<Failure> {
    use runplz_protocol::{RunEnding as E, Step};
    let says = |words: &[&str]| why.is_some_and(|w| words.iter().any(|x| w.contains(x)));
    let auth = says(&[
        "logged out",
        "brev login",
        "not logged in",
        "token was refused",
    ]);
    let capacity = says(&[
        "quota",
        "no capacity",
        "insufficient capacity",
        "out of capacity",
    ]);
    let unreachable = why.is_some_and(|w| {
        w.contains("answer ssh")
            || w.contains("Connection refused")
            || w.contains("Could not resolve hostname")
            || w.contains("Connection timed out")
            || w.contains("No route to host")
    });
    match ending {
        E::Exited { code: 0 } | E::Detached => None,
        E::Exited { .. } | E::Signaled { .. } => Some(Failure::UserCode),
        E::TimedOut { .. } => Some(Failure::Timeout),
        E::Inactive { .. } => Some(Failure::Inactivity),
        E::CostCap { .. } => Some(Failure::CostCap),
        E::Interrupted { .. } => Some(Failure::Cancelled),
        E::Failed { step } => Some(match (step, exit_code) {
            (_, 2) => Failure::InvalidJob,
            (_, 6) => Failure::NoCapacity,
            (_, 7 | 8) => Failure::Auth,
            _ if auth => Failure::Auth,
            _ if capacity => Failure::NoCapacity,
            _ if unreachable => Failure::SshUnreachable,
            (Step::Image | Step::Venv, _) => Failure::ImageBuild,
            // Contact with the job was lost, or its outputs did not come back.
            (Step::Run | Step::Collect, _) => Failure::LostContact,
            _ => Failure::Provision,
        }),
        E::Unknown => (exit_code != 0).then_some(Failure::Unknown),
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
    fn each_ending_has_its_failure_reason() {
        use runplz_protocol::{RunEnding as E, Step};
        let f = |e, code, why: Option<&str>| failure_of(e, code, why).map(Failure::name);
        let failed = |step| E::Failed { step };
        assert_eq!(f(E::Exited { code: 0 }, 0, None), None);
        assert_eq!(f(E::Detached, 0, None), None);
        assert_eq!(f(E::Exited { code: 3 }, 3, None), Some("user_code"));
        assert_eq!(f(E::Signaled { signal: 9 }, 137, None), Some("user_code"));
        assert_eq!(f(E::TimedOut { signal: None }, 124, None), Some("timeout"));
        assert_eq!(f(E::Inactive { seconds: 5 }, 124, None), Some("inactivity"));
        assert_eq!(f(E::CostCap { signal: None }, 124, None), Some("cost_cap"));
        let int = E::Interrupted {
            signal: 2,
            step: Step::Sync,
        };
        assert_eq!(f(int, 130, None), Some("cancelled"));
        assert_eq!(f(failed(Step::Acquire), 2, None), Some("invalid_job"));
        assert_eq!(f(failed(Step::Acquire), 6, None), Some("no_capacity"));
        assert_eq!(f(failed(Step::Acquire), 7, None), Some("auth"));
        let quota = Some("brev create: quota exceeded for g5.xlarge");
        assert_eq!(f(failed(Step::Acquire), 5, quota), Some("no_capacity"));
        let out = Some("brev is logged out: run `brev login`");
        assert_eq!(f(failed(Step::Acquire), 5, out), Some("auth"));
        let ssh = Some("box b did not answer ssh within 2 s");
        assert_eq!(f(failed(Step::Acquire), 5, ssh), Some("ssh_unreachable"));
        assert_eq!(f(failed(Step::Acquire), 5, None), Some("provision"));
        assert_eq!(f(failed(Step::Sync), 5, None), Some("provision"));
        assert_eq!(f(failed(Step::Image), 5, None), Some("image_build"));
        assert_eq!(f(failed(Step::Venv), 5, None), Some("image_build"));
        assert_eq!(f(failed(Step::Run), 125, None), Some("lost_contact"));
        assert_eq!(f(failed(Step::Collect), 5, None), Some("lost_contact"));
    }

    #[test]
    fn env_values_are_masked_at_every_level() {
        let spec = serde_json::json!({"name": "j", "env": {"TOKEN": "s3cret"},
            "image": {"steps": [{"env": {"A": "v"}}, {"run_commands": ["x"]}]},
            "args": {"env": "kept"}});
        let m = masked_spec(&spec).unwrap();
        assert_eq!(m["env"], serde_json::json!({"TOKEN": "***"}));
        assert_eq!(
            m["image"]["steps"][0]["env"],
            serde_json::json!({"A": "***"})
        );
        assert_eq!(m["args"]["env"], "kept");
        assert!(!m.to_string().contains("s3cret"));
    }

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
        s.finished(5, &run, None).unwrap();
        let r = read(&path).unwrap();
        assert_eq!(r.run.as_ref(), Some(&run));
        assert_eq!(
            r.steps.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(),
            vec!["sync"]
        );
        assert!(!r.steps[0].ok);
        assert!(r.steps[0].started_at.unwrap() <= r.steps[0].ended_at.unwrap());
        assert_eq!(r.failure, Some(Failure::Provision));
        assert_eq!((r.status, r.exit_code), (Status::Finished, Some(5)));
        assert_eq!(r.teardown.status, TeardownStatus::Pending);
        // Only the state file and its events: no temp file left beside it.
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["j-1-2-ab.events.jsonl", "j-1-2-ab.json"]);
        let events: Vec<String> = std::fs::read_to_string(dir.path().join("j-1-2-ab.events.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            // Warnings go to this process's latest run: other tests' may land here.
            .filter(|e| e != "warning")
            .collect();
        assert_eq!(events, ["created", "step_start", "step_end", "finished"]);
    }
}
