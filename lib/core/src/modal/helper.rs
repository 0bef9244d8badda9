//! Running the Python helper: a Python that has `modal` (found once per run), the helper
//! written to a private temp file, the request on its stdin, its events read from stdout,
//! its stderr (the job's output and its own lines) passed on live, and its errors turned
//! into runplz's exit codes.

use super::{Request, REQUIREMENT};
use crate::error::CliError;
use crate::process::{Output, Proc};
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const HELPER_PY: &str = include_str!("helper.py");

/// One JSON line the helper printed. Unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    pub event: String,
    pub sandbox_id: Option<String>,
    pub ending: Option<String>,
    pub code: Option<i32>,
    pub bytes: Option<u64>,
    pub state: Option<String>,
    pub kind: Option<String>,
    pub message: Option<String>,
    pub signal: Option<i32>,
    pub version: Option<String>,
    /// A listed sandbox's `runplz_run_id` tag.
    pub run_id: Option<String>,
    /// A listed sandbox's `runplz_job` tag.
    pub job: Option<String>,
    /// A listed sandbox's `runplz_created_at` tag (seconds since the epoch).
    pub created_at: Option<u64>,
}

/// What one helper call printed, and how it exited.
#[derive(Debug, Default)]
pub struct Reply {
    pub events: Vec<Event>,
    /// 128+n when a signal stopped it.
    pub code: i32,
    /// runplz's own signal that stopped it.
    pub interrupted: Option<i32>,
}

impl Reply {
    /// The first event of this name.
    pub fn find(&self, name: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.event == name)
    }

    /// The helper's error as runplz's, if it reported one.
    pub fn error(&self) -> Option<anyhow::Error> {
        let e = self.find("error")?;
        Some(error(
            e.kind.as_deref().unwrap_or("other"),
            e.message.as_deref().unwrap_or(""),
        ))
    }
}

/// Where the job's own stdout goes: to runplz's stdout (it is the data), or to its stderr
/// (runplz's stdout carries a record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStdout {
    Stdout,
    Stderr,
}

/// One clear line per kind of failure, each with its own exit code.
pub fn error(kind: &str, message: &str) -> anyhow::Error {
    let (exit, text) = match kind {
        "token_missing" => (
            Exit::NoToken,
            "no Modal token here: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, or run `modal token new` (nothing was started)".to_string(),
        ),
        "auth" => (
            Exit::AuthRejected,
            format!("Modal refused the token (check MODAL_TOKEN_ID / MODAL_TOKEN_SECRET or ~/.modal.toml): {message}"),
        ),
        "unreachable" => (
            Exit::Unreachable,
            format!("could not reach Modal: {message}"),
        ),
        "image" => (
            Exit::SetupFailed,
            format!("Modal could not build the job's image: {message}"),
        ),
        "capacity" => (
            Exit::SetupFailed,
            format!("Modal has no capacity for this sandbox now: {message}"),
        ),
        "invalid" => (Exit::SetupFailed, format!("Modal refused the request: {message}")),
        "not_found" | "still_running" | "not_ours" => (Exit::Failed, message.to_string()),
        _ => (Exit::ToolFailed, format!("the Modal helper failed: {message}")),
    };
    CliError::new(exit, text)
}

fn version_ok(v: &str) -> bool {
    let n: Vec<u64> = v
        .trim()
        .split('.')
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
        .collect();
    let t = (
        n.first().copied().unwrap_or(0),
        n.get(1).copied().unwrap_or(0),
        n.get(2).copied().unwrap_or(0),
    );
    t >= (1, 4, 3) && t.0 < 2
}

/// The venv runplz looks in (and tells the user to make) under its cache folder.
pub fn cache_venv() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("runplz/modal-venv")
}

/// A Python that imports `modal` in [`REQUIREMENT`]'s range: `$RUNPLZ_MODAL_PYTHON`, else
/// the venv under runplz's cache, else `python3` on PATH. None: exit 2 with the command
/// that makes the venv; nothing was started.
pub fn find_python() -> Result<PathBuf> {
    let mut tried = Vec::new();
    let candidates: Vec<PathBuf> = match std::env::var_os("RUNPLZ_MODAL_PYTHON") {
        Some(p) => vec![PathBuf::from(p)],
        None => [
            Some(cache_venv().join("bin/python3")),
            which::which("python3").ok(),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    for py in candidates {
        if !py.exists() {
            continue;
        }
        let probe = Proc::new(&py)
            .args([
                "-c",
                "import modal, sys; sys.stdout.write(str(modal.__version__))",
            ])
            .output(Output::Capture)
            .timeout(Some(Duration::from_secs(60)))
            .run();
        match probe {
            Ok(f) if f.status.success() => {
                let v = String::from_utf8_lossy(&f.stdout).to_string();
                if version_ok(&v) {
                    return Ok(py);
                }
                tried.push(format!("{} has modal {v}", py.display()));
            }
            _ => tried.push(format!("{} has no modal", py.display())),
        }
    }
    let venv = cache_venv();
    let v = venv.display();
    Err(CliError::usage(format!(
        "runplz modal needs Python with the `modal` package ({REQUIREMENT}){}; install it with: python3 -m venv {v} && {v}/bin/pip install '{REQUIREMENT}' (or set RUNPLZ_MODAL_PYTHON)",
        if tried.is_empty() {
            " and found no python3".to_string()
        } else {
            format!(" ({})", tried.join("; "))
        }
    )))
}

/// Run the helper with `req` on its stdin. `limit`: runplz's deadline on the whole call;
/// `shielded`: a Ctrl-C does not stop it (release). An error: it could not be started or
/// printed something unreadable; a reported failure is in the [`Reply`].
pub fn call(
    py: &Path,
    req: &Request,
    limit: Option<Duration>,
    shielded: bool,
    job_stdout: JobStdout,
) -> Result<Reply> {
    call_logged(py, req, limit, shielded, job_stdout, None)
}

/// [`call`], with what the helper streams also kept in run `log`'s `<run id>.log` and,
/// stamped as it arrives, `<run id>.driver.log` (an attached job's output; best effort).
/// The helper's own `runplz: modal:` lines meanwhile (an interrupt) land there too.
pub fn call_logged(
    py: &Path,
    req: &Request,
    limit: Option<Duration>,
    shielded: bool,
    job_stdout: JobStdout,
    log: Option<&str>,
) -> Result<Reply> {
    let mut file = tempfile::Builder::new()
        .prefix("runplz-modal-")
        .suffix(".py")
        .tempfile()
        .context("writing the Modal helper")?;
    file.write_all(HELPER_PY.as_bytes())
        .context("writing the Modal helper")?;
    file.flush()?;
    // The helper's stdout carries the job's own stdout; its events come behind a marker
    // the job cannot guess.
    let marker = format!("\u{1}runplz-modal-{:016x} ", fastrand::u64(..));
    let mut body = serde_json::to_value(req)?;
    body["marker"] = serde_json::Value::String(marker.clone());
    let body = serde_json::to_vec(&body)?;
    let plain = log
        .map(crate::state::log_path)
        .filter(|p| crate::state::open_log(p).is_ok());
    let stamped = plain.as_ref().and_then(|_| {
        let p = crate::state::driver_log_path(log?);
        crate::process::stamped::StampedLog::open(&p).ok()
    });
    let mut proc = Proc::new(py)
        .arg("-B")
        .arg(file.path())
        .stdin(body)
        .output(Output::Passthrough {
            log: plain.clone(),
            stdout_to_stderr: job_stdout == JobStdout::Stderr,
            control: Some(marker),
            hold_stderr_until: None,
        })
        .stamped_log(stamped)
        .timeout(limit)
        // Time for the helper to terminate the sandbox after a Ctrl-C.
        .grace(Duration::from_secs(45))
        // A runplz killed outright takes the helper with it; the sandbox stays, found later
        // by `runplz status` / `kill` / `collect`.
        .die_with_parent();
    if shielded {
        proc = proc.shielded();
    }
    let f = proc
        .run()
        .with_context(|| format!("running the Modal helper with {}", py.display()))?;
    let mut reply = Reply {
        code: f.status.code(),
        interrupted: f.interrupted,
        ..Reply::default()
    };
    for line in String::from_utf8_lossy(&f.stdout).lines() {
        if line.trim().is_empty() {
            continue;
        }
        let ev: Event = serde_json::from_str(line)
            .with_context(|| format!("the Modal helper printed an unreadable line: {line}"))?;
        reply.events.push(ev);
    }
    if f.timed_out {
        return Err(CliError::new(
            Exit::Unreachable,
            format!(
                "the Modal helper did not finish within runplz's deadline ({}s)",
                limit.map(|d| d.as_secs()).unwrap_or(0)
            ),
        ));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::version_ok;

    #[test]
    fn versions_in_range() {
        for (v, ok) in [
            ("1.4.3", true),
            ("1.6.4", true),
            ("1.10.0", true),
            ("1.4.2", false),
            ("1.3.9", false),
            ("2.0.0", false),
            ("0.64.1", false),
            ("1.5.0rc1", true),
        ] {
            assert_eq!(version_ok(v), ok, "{v}");
        }
    }
}
