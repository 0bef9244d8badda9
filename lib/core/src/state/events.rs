//! A run's `events.jsonl`, beside its state file: one tagged line per step start and end,
//! warning and ending, appended (never rewritten), so that the order of what happened
//! survives a killed runplz. runplz's warnings reach it through [`crate::out::warn`] once a
//! run state exists in this process.

pub use runplz_protocol::state::Event;
use runplz_protocol::state::{EventLine, EVENT_TYPE};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The events file of the run whose state is `state`.
pub fn events_path(state: &Path) -> PathBuf {
    state.with_extension("events.jsonl")
}

/// The run this process writes events for (set when its state is created).
static SINK: Mutex<Option<(PathBuf, String)>> = Mutex::new(None);

pub(super) fn append(path: &Path, run_id: &str, event: Event) {
    bind(path, run_id);
    write(path, run_id, event);
}

/// Send this process's warnings to the run's events from now on.
pub(super) fn bind(path: &Path, run_id: &str) {
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some((path.to_path_buf(), run_id.into()));
}

fn write(path: &Path, run_id: &str, event: Event) {
    let line = EventLine {
        kind: EVENT_TYPE.into(),
        version: runplz_protocol::VERSION,
        run_id: run_id.into(),
        at: super::now_f(),
        event,
    };
    let Ok(mut text) = serde_json::to_string(&line) else {
        return;
    };
    text.push('\n');
    // One write of one line with O_APPEND: lines of two writers never interleave.
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path);
    if let Ok(mut f) = f {
        let _ = f.write_all(text.as_bytes());
    }
}

/// Record an event of this process's run, if it has one (a warning, from `out::warn`).
pub fn event(event: Event) {
    let sink = SINK.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some((path, run_id)) = sink {
        write(&path, &run_id, event);
    }
}
