//! `runplz ps`: every run this machine recorded, newest last, from the run states alone (no
//! box is asked: `runplz status RUN` does that), plus the Brev boxes and RunPod pods
//! carrying runplz's name and the running Modal sandboxes carrying runplz's tag that no run
//! state here names, as the backend shows them. JSON Lines (`ps` records) or, with
//! `--table`, a table for people.

use crate::state::{self, Found, Status};
use anyhow::Result;
use runplz_protocol::{Exit, PsEntry};

/// `runplz ps`'s options.
#[derive(Debug, Clone, Default)]
pub struct PsOptions {
    /// A table for people instead of JSON Lines.
    pub table: bool,
}

/// One run state as a `ps` entry, at time `now` (seconds since the epoch).
pub fn entry(f: &Found, now: u64) -> PsEntry {
    let r = &f.record;
    let over = r.status == Status::Finished;
    let detached = r
        .run
        .as_ref()
        .is_some_and(|x| x.ending == runplz_protocol::RunEnding::Detached)
        && r.collected != Some(true);
    let state = if detached {
        "detached"
    } else if over {
        "finished"
    } else if state::alive(r) {
        "running"
    } else {
        "interrupted"
    };
    let cost = r.cost.or_else(|| {
        let p = r.price_per_hour?;
        let end = r.ended_at.unwrap_or(now);
        let secs = end.saturating_sub(r.started_at) as f64;
        Some((p * secs / 3600.0 * 100.0).round() / 100.0)
    });
    PsEntry {
        run_id: Some(r.run_id.clone()),
        job: Some(r.job.clone()),
        backend: r.backend.clone(),
        host: r.handle.instance.clone().or_else(|| r.target.clone()),
        state: state.into(),
        step: r.current_step.clone().or_else(|| {
            r.steps
                .iter()
                .rev()
                .find(|s| s.step != "release")
                .map(|s| s.step.clone())
        }),
        started_at: Some(r.started_at),
        ended_at: r.ended_at,
        exit_code: r.exit_code,
        failure: r.failure.map(|f| f.name().to_string()),
        price_per_hour: r.price_per_hour,
        cost,
    }
}

/// The Brev boxes of ours (`runplz-*`) that no run state here names: asked only when
/// `brev` is installed and some run here used Brev (a plain ssh user never waits on it).
fn untracked_boxes(found: &[Found]) -> Vec<PsEntry> {
    if !found.iter().any(|f| f.record.backend == "brev") || which::which("brev").is_err() {
        return Vec::new();
    }
    let boxes = match crate::brevbox::Brev::find().and_then(|b| b.ls()) {
        Ok(b) => b,
        Err(e) => {
            crate::out::warn(
                "runplz",
                format!("`brev ls` failed, Brev boxes not listed: {e:#}"),
            );
            return Vec::new();
        }
    };
    boxes
        .into_iter()
        .filter(|b| crate::brevbox::is_ours(&b.name))
        .filter(|b| {
            !found
                .iter()
                .any(|f| f.record.handle.instance.as_deref() == Some(b.name.as_str()))
        })
        .map(|b| untracked("brev", b.name, None))
        .collect()
}

/// A box or pod of ours that no run state here names.
fn untracked(backend: &str, name: String, price_per_hour: Option<f64>) -> PsEntry {
    PsEntry {
        run_id: None,
        job: None,
        backend: backend.into(),
        host: Some(name),
        state: "untracked".into(),
        step: None,
        started_at: None,
        ended_at: None,
        exit_code: None,
        failure: None,
        price_per_hour,
        cost: None,
    }
}

/// The RunPod pods of ours (`runplz-*`, not terminated) that no run state here names: asked
/// only when `RUNPOD_API_KEY` is set and some run here used RunPod.
fn untracked_pods(found: &[Found]) -> Vec<PsEntry> {
    if !found.iter().any(|f| f.record.backend == "runpod")
        || std::env::var("RUNPOD_API_KEY").map_or(true, |k| k.trim().is_empty())
    {
        return Vec::new();
    }
    let pods = match crate::runpod::Api::from_env().and_then(|a| {
        a.our_pods()
            .map_err(|e| crate::runpod::error(e, "listing RunPod pods"))
    }) {
        Ok(p) => p,
        Err(e) => {
            crate::out::warn("runplz", format!("RunPod pods not listed: {e:#}"));
            return Vec::new();
        }
    };
    pods.into_iter()
        .filter(|p| p.desired_status != "TERMINATED")
        .filter(|p| {
            !found
                .iter()
                .any(|f| f.record.handle.instance.as_deref() == Some(p.name.as_str()))
        })
        .map(|p| untracked("runpod", p.name, p.cost_per_hr))
        .collect()
}

/// The Modal sandboxes of ours (tagged `created_by: runplz`, running) whose run no run
/// state here names: asked only when some run here used Modal and a token is configured.
fn untracked_sandboxes(found: &[Found]) -> Vec<PsEntry> {
    if !found.iter().any(|f| f.record.backend == "modal") {
        return Vec::new();
    }
    let Ok(python) = crate::modal::ops::lister() else {
        return Vec::new();
    };
    let sandboxes = match crate::modal::ops::our_sandboxes(&python) {
        Ok(Some(s)) => s,
        Ok(None) => return Vec::new(),
        Err(e) => {
            crate::out::warn("runplz", format!("Modal sandboxes not listed: {e:#}"));
            return Vec::new();
        }
    };
    sandboxes
        .into_iter()
        .filter(|sb| {
            !found.iter().any(|f| {
                f.record.backend == "modal"
                    && Some(f.record.run_id.as_str()) == sb.run_id.as_deref()
            })
        })
        .map(|sb| PsEntry {
            job: sb.job,
            started_at: sb.created_at,
            ..untracked("modal", sb.id, None)
        })
        .collect()
}

/// The table `--table` prints.
pub fn table(entries: &[PsEntry]) -> String {
    let dash = || "-".to_string();
    let mut rows = vec![[
        "RUN", "JOB", "BACKEND", "HOST", "STATE", "STEP", "STARTED", "TOOK", "EXIT", "FAILURE",
        "COST",
    ]
    .map(String::from)
    .to_vec()];
    for e in entries {
        rows.push(vec![
            e.run_id.clone().unwrap_or_else(dash),
            e.job.clone().unwrap_or_else(dash),
            e.backend.clone(),
            e.host.clone().unwrap_or_else(dash),
            e.state.clone(),
            e.step.clone().unwrap_or_else(dash),
            e.started_at.map(utc).unwrap_or_else(dash),
            match (e.started_at, e.ended_at) {
                (Some(s), Some(t)) => human(t.saturating_sub(s)),
                _ => dash(),
            },
            e.exit_code.map(|c| c.to_string()).unwrap_or_else(dash),
            e.failure.clone().unwrap_or_else(dash),
            e.cost.map(|c| format!("${c:.2}")).unwrap_or_else(dash),
        ]);
    }
    crate::out::table(&rows)
}

/// `runplz ps`.
pub fn main(o: &PsOptions) -> Result<Exit> {
    let found = state::list(&state::runs_dir());
    let now = state::now_f() as u64;
    let mut entries: Vec<PsEntry> = found
        .iter()
        .map(|f| {
            let mut e = entry(f, now);
            if let Some(s) = crate::slurm::ops::detached_state(&f.record) {
                e.state = s.into();
            }
            e
        })
        .collect();
    entries.extend(untracked_boxes(&found));
    entries.extend(untracked_pods(&found));
    entries.extend(untracked_sandboxes(&found));
    if o.table {
        crate::out::print_raw(&table(&entries))?;
    } else {
        for e in &entries {
            crate::out::print_record("ps", e)?;
        }
    }
    Ok(Exit::Ok)
}

/// A duration for people: `42s`, `3m07s`, `2h05m`.
pub fn human(s: u64) -> String {
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM` in UTC.
pub fn utc(t: u64) -> String {
    // The same calendar as the driver log's stamps, cut to the minute.
    crate::process::stamped::stamp(t as f64)[..16].replace('T', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_for_people() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(1_767_225_600), "2026-01-01 00:00");
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34");
        assert_eq!(human(59), "59s");
        assert_eq!(human(187), "3m07s");
        assert_eq!(human(7500), "2h05m");
    }
}
