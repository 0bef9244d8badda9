//! `runplz reconcile`: the billed Brev boxes carrying runplz's name (`runplz-*`) that no
//! live run holds, with their age, price per hour and cost so far; `--apply` deletes the
//! ones a run state here proves orphaned (the run's runplz is gone, or the run ended and
//! its release failed). A box without runplz's prefix is never looked at, a box of a live
//! run is never listed, and a box no run state here names (maybe another machine's run) is
//! listed but never touched. RunPod pods named `runplz-*` are judged the same way when
//! `RUNPOD_API_KEY` is set (`--apply` terminates them), and Modal sandboxes tagged
//! `created_by: runplz` (by their `runplz_run_id` tag) when a Modal token is configured
//! (`--apply` terminates them, after the helper checked the sandbox's tags again). A run
//! started with `--detach` and not collected holds its place: never listed.

use crate::state::{self, Failure, Found, RunState, Status, TeardownStatus};
use anyhow::Result;
use runplz_protocol::{BoxInfo, Exit, Orphan};
use std::collections::HashMap;

const TOOL: &str = "runplz";

/// `runplz reconcile`'s options.
#[derive(Debug, Clone, Default)]
pub struct ReconcileOptions {
    /// Delete the orphans a run state proves ours.
    pub apply: bool,
    /// A table for people instead of JSON Lines.
    pub table: bool,
}

/// Why `b` is an orphan, and the run state naming it; `None`: a live run holds it, or it
/// is on its way out.
fn judge<'a>(b: &BoxInfo, found: &'a [Found]) -> Option<(&'static str, Option<&'a Found>)> {
    if !crate::brevbox::is_ours(&b.name) || b.status == "DELETING" {
        return None;
    }
    judge_name(&b.name, found)
}

/// [`judge`] for a box or pod of ours named `name` (written in its run's state before it
/// was made).
fn judge_name<'a>(name: &str, found: &'a [Found]) -> Option<(&'static str, Option<&'a Found>)> {
    judge_runs(
        found
            .iter()
            .filter(|f| f.record.handle.instance.as_deref() == Some(name))
            .collect(),
    )
}

/// [`judge`] for a Modal sandbox of ours tagged with `run_id` (written in its run's state
/// before it was made).
fn judge_run_id<'a>(
    run_id: Option<&str>,
    found: &'a [Found],
) -> Option<(&'static str, Option<&'a Found>)> {
    judge_runs(
        found
            .iter()
            .filter(|f| f.record.backend == "modal" && Some(f.record.run_id.as_str()) == run_id)
            .collect(),
    )
}

/// Whether run `r` still holds its box: its runplz is alive, or it was started with
/// `--detach` and its place is kept, released by `runplz collect` / `kill`.
fn holds(r: &crate::state::Record) -> bool {
    let detached = r
        .run
        .as_ref()
        .is_some_and(|x| x.ending == runplz_protocol::RunEnding::Detached)
        && r.collected != Some(true)
        && r.teardown.status == TeardownStatus::Pending;
    detached || (r.status != Status::Finished && state::alive(r))
}

/// The verdict on a place from the run states that name it.
fn judge_runs(mine: Vec<&Found>) -> Option<(&'static str, Option<&Found>)> {
    if mine.iter().any(|f| holds(&f.record)) {
        return None;
    }
    match mine.last() {
        None => Some(("no_run_state", None)),
        Some(f) if f.record.status == Status::Finished => Some(("run_over", Some(f))),
        Some(f) => Some(("runplz_gone", Some(f))),
    }
}

/// Prices by instance type from `brev search` (GPU, then CPU types), asked once.
struct Prices(Option<HashMap<String, f64>>);

impl Prices {
    fn of(&mut self, t: &str) -> Option<f64> {
        let map = self.0.get_or_insert_with(|| {
            let mut m = HashMap::new();
            for args in [&["search", "--json"][..], &["search", "cpu", "--json"][..]] {
                let s = crate::pick::Search {
                    args: args.iter().map(|a| a.to_string()).collect(),
                    source: "brev search",
                };
                if let Ok(offers) = crate::pick::run_search(&s) {
                    for o in offers {
                        m.entry(o.instance_type).or_insert(o.price_per_hour);
                    }
                }
            }
            m
        });
        map.get(t).copied()
    }
}

/// `runplz reconcile [--apply]`.
pub fn main(o: &ReconcileOptions) -> Result<Exit> {
    let found = state::list(&state::runs_dir());
    let now = state::now_f() as u64;
    let mut orphans = Vec::new();
    let mut failed = false;
    if which::which("brev").is_err() {
        crate::out::note(TOOL, "`brev` is not installed: no Brev boxes to look at");
    } else {
        failed |= brev_orphans(o, &found, now, &mut orphans)?;
    }
    if std::env::var("RUNPOD_API_KEY").is_ok_and(|k| !k.trim().is_empty()) {
        failed |= runpod_orphans(o, &found, now, &mut orphans)?;
    } else if found.iter().any(|f| f.record.backend == "runpod") {
        crate::out::note(TOOL, "RUNPOD_API_KEY is not set: no RunPod pods to look at");
    }
    failed |= modal_orphans(o, &found, now, &mut orphans)?;
    emit(o, &orphans)?;
    Ok(if failed { Exit::Failed } else { Exit::Ok })
}

/// The RunPod pods named `runplz-*` that no live run holds; with `--apply`, those a run
/// state here names are terminated. True when a terminate failed.
fn runpod_orphans(
    o: &ReconcileOptions,
    found: &[Found],
    now: u64,
    orphans: &mut Vec<Orphan>,
) -> Result<bool> {
    let api = crate::runpod::Api::from_env()?;
    let pods = api
        .our_pods()
        .map_err(|e| crate::runpod::error(e, "listing RunPod pods"))?;
    let mut failed = false;
    for p in pods.iter().filter(|p| p.desired_status != "TERMINATED") {
        let Some((reason, f)) = judge_name(&p.name, found) else {
            continue;
        };
        let r = f.map(|f| &f.record);
        let price = p.cost_per_hr.or_else(|| r.and_then(|r| r.price_per_hour));
        let (age, cost) = age_and_cost(r.map(|r| r.started_at), price, now);
        let mut action = "none".to_string();
        if o.apply {
            action = match f {
                None => {
                    crate::out::warn(
                        TOOL,
                        format!("pod {} ({}) carries runplz's name but no run state here names it (another machine's run?): not touched", p.name, p.id),
                    );
                    "skipped".into()
                }
                Some(f) => match api.terminate(&p.id) {
                    Ok(()) => {
                        crate::out::note(TOOL, format!("pod {} ({}): terminated", p.name, p.id));
                        mark_released(f, price, now);
                        "terminated".into()
                    }
                    Err(e) => {
                        failed = true;
                        crate::out::warn(
                            TOOL,
                            format!("POD {} ({}) WAS NOT TERMINATED: {e}", p.name, p.id),
                        );
                        "failed".into()
                    }
                },
            };
        }
        orphans.push(Orphan {
            backend: "runpod".into(),
            name: p.name.clone(),
            status: p.desired_status.clone(),
            instance_type: p.gpu.clone(),
            run_id: r.map(|r| r.run_id.clone()),
            reason: reason.into(),
            age_seconds: age,
            price_per_hour: price,
            cost_so_far: cost,
            action,
        });
    }
    Ok(failed)
}

/// The Modal sandboxes of ours (tagged `created_by: runplz`) that no live run holds; with
/// `--apply`, those a run state here names are terminated. Skipped with one line on stderr
/// (when some run here used Modal) without a token or a Python with `modal`. True when a
/// terminate failed.
fn modal_orphans(
    o: &ReconcileOptions,
    found: &[Found],
    now: u64,
    orphans: &mut Vec<Orphan>,
) -> Result<bool> {
    let used = found.iter().any(|f| f.record.backend == "modal");
    let skip = |why: &str| {
        if used {
            crate::out::note(TOOL, why);
        }
        Ok(false)
    };
    let python = match crate::modal::ops::lister() {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let Some(sandboxes) = crate::modal::ops::our_sandboxes(&python)? else {
        return skip("Modal says no token is configured here: no Modal sandboxes to look at");
    };
    let mut failed = false;
    for sb in &sandboxes {
        let Some((reason, f)) = judge_run_id(sb.run_id.as_deref(), found) else {
            continue;
        };
        let r = f.map(|f| &f.record);
        let price = r.and_then(|r| r.price_per_hour);
        // From the sandbox's own creation time (its tag), else its run's start.
        let (age, cost) = age_and_cost(sb.created_at.or(r.map(|r| r.started_at)), price, now);
        let mut action = "none".to_string();
        if o.apply {
            action = match (f, sb.run_id.as_deref()) {
                (Some(f), Some(run_id)) => match crate::modal::ops::reap(&python, &sb.id, run_id) {
                    Ok(()) => {
                        crate::out::note(
                            TOOL,
                            format!("sandbox {} (run {run_id}): terminated", sb.id),
                        );
                        mark_released(f, price, now);
                        "terminated".into()
                    }
                    Err(e) => {
                        failed = true;
                        crate::out::warn(
                            TOOL,
                            format!("SANDBOX {} WAS NOT TERMINATED: {e:#}", sb.id),
                        );
                        "failed".into()
                    }
                },
                _ => {
                    crate::out::warn(
                        TOOL,
                        format!("sandbox {} carries runplz's tags but no run state here names its run {} (another machine's run?): not touched; `runplz kill {} --backend modal` if it is not in use", sb.id, sb.run_id.as_deref().unwrap_or("?"), sb.run_id.as_deref().unwrap_or("RUN")),
                    );
                    "skipped".into()
                }
            };
        }
        orphans.push(Orphan {
            backend: "modal".into(),
            name: sb.id.clone(),
            status: "RUNNING".into(),
            instance_type: None,
            run_id: sb.run_id.clone(),
            reason: reason.into(),
            age_seconds: age,
            price_per_hour: price,
            cost_so_far: cost,
            action,
        });
    }
    Ok(failed)
}

/// The Brev boxes named `runplz-*` that no live run holds; with `--apply`, those a run state
/// here names are deleted. True when a delete failed.
fn brev_orphans(
    o: &ReconcileOptions,
    found: &[Found],
    now: u64,
    orphans: &mut Vec<Orphan>,
) -> Result<bool> {
    let cli = crate::brevbox::Brev::find()?;
    let boxes = cli.ls()?;
    let mut prices = Prices(None);
    let mut failed = false;
    for b in &boxes {
        let Some((reason, f)) = judge(b, found) else {
            continue;
        };
        let r = f.map(|f| &f.record);
        let instance_type = Some(b.instance_type.clone())
            .filter(|t| !t.is_empty())
            .or_else(|| r.and_then(|r| r.instance_type.clone()));
        let price = r
            .and_then(|r| r.price_per_hour)
            .or_else(|| prices.of(instance_type.as_deref()?));
        let (age, cost) = age_and_cost(r.map(|r| r.started_at), price, now);
        let mut action = "none".to_string();
        if o.apply {
            action = match f {
                None => {
                    crate::out::warn(
                        TOOL,
                        format!("box {} carries runplz's name but no run state here names it (another machine's run?): not touched; `brev delete {}` if it is not in use", b.name, b.name),
                    );
                    "skipped".into()
                }
                Some(f) => match cli.clone().for_cleanup().delete(&b.name) {
                    Ok(v) => {
                        crate::out::note(TOOL, format!("box {}: {v}", b.name));
                        mark_released(f, price, now);
                        "deleted".into()
                    }
                    Err(e) => {
                        failed = true;
                        crate::out::warn(TOOL, format!("BOX {} WAS NOT DELETED: {e:#}", b.name));
                        "failed".into()
                    }
                },
            };
        }
        orphans.push(Orphan {
            backend: "brev".into(),
            name: b.name.clone(),
            status: b.status.clone(),
            instance_type,
            run_id: r.map(|r| r.run_id.clone()),
            reason: reason.into(),
            age_seconds: age,
            price_per_hour: price,
            cost_so_far: cost,
            action,
        });
    }
    Ok(failed)
}

/// How long ago it started (at `since`, seconds since the epoch), and what it cost so far
/// at `price` per hour.
fn age_and_cost(since: Option<u64>, price: Option<f64>, now: u64) -> (Option<u64>, Option<f64>) {
    let age = since.map(|t| now.saturating_sub(t));
    let cost = match (price, age) {
        (Some(p), Some(a)) => Some((p * a as f64 / 3600.0 * 100.0).round() / 100.0),
        _ => None,
    };
    (age, cost)
}

/// The run whose box `--apply` deleted is over: its state says so.
fn mark_released(f: &Found, price: Option<f64>, now: u64) {
    let Ok(mut st) = RunState::open(&f.path) else {
        return;
    };
    let _ = st.update(|r| {
        if r.status != Status::Finished {
            r.failure = r.failure.or(Some(Failure::LostContact));
            r.ended_at = Some(now);
        }
        r.status = Status::Finished;
        r.current_step = None;
        r.teardown.status = TeardownStatus::Done;
        if let Some(p) = price.filter(|_| r.cost.is_none()) {
            let secs = now.saturating_sub(r.started_at) as f64;
            r.cost = Some((p * secs / 3600.0 * 100.0).round() / 100.0);
        }
    });
}

fn emit(o: &ReconcileOptions, orphans: &[Orphan]) -> Result<Exit> {
    if o.table {
        let dash = || "-".to_string();
        let mut rows = vec![[
            "BOX", "STATUS", "TYPE", "RUN", "REASON", "AGE", "$/H", "COST", "ACTION",
        ]
        .map(String::from)
        .to_vec()];
        for x in orphans {
            rows.push(vec![
                x.name.clone(),
                x.status.clone(),
                x.instance_type.clone().unwrap_or_else(dash),
                x.run_id.clone().unwrap_or_else(dash),
                x.reason.clone(),
                x.age_seconds.map(super::ps::human).unwrap_or_else(dash),
                x.price_per_hour
                    .map(|p| format!("{p:.2}"))
                    .unwrap_or_else(dash),
                x.cost_so_far
                    .map(|c| format!("${c:.2}"))
                    .unwrap_or_else(dash),
                x.action.clone(),
            ]);
        }
        crate::out::print_raw(&crate::out::table(&rows))?;
    } else {
        for x in orphans {
            crate::out::print_record("orphan", x)?;
        }
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished or killed run state named `id`, with `ending` when it ended.
    fn found(id: &str, status: &str, ending: Option<runplz_protocol::RunEnding>) -> Found {
        let text = format!(
            r#"{{"type":"run-state","version":1,"run_id":"{id}","job":"j","job_file":"/j.json",
            "backend":"modal","target":null,"mode":"native","pid":0,"started_at":1,"updated_at":2,
            "status":"{status}","current_step":null,"steps":[],"handle":{{"exec_host":null,
            "exec_run_id":null,"remote_workspace":null,"remote_outputs":null,"container":null,
            "instance":"runplz-j-{id}"}},"outputs":"/o","teardown":{{"policy":"delete","status":"pending"}},
            "exit_code":null}}"#
        );
        let mut record: crate::state::Record = serde_json::from_str(&text).unwrap();
        record.run = ending.map(|ending| runplz_protocol::RunRecord {
            backend: runplz_protocol::Backend::Local,
            job: "j".into(),
            run_id: id.into(),
            host: None,
            mode: runplz_protocol::Mode::Native,
            exit_code: None,
            ending,
            steps: Vec::new(),
            sync: None,
            outputs: None,
            env_passed: Vec::new(),
            instance: None,
            secret_scan: None,
            tree: None,
            duration_seconds: 1.0,
        });
        Found {
            path: format!("/nonexistent/{id}.json").into(),
            record,
        }
    }

    fn verdict(f: &Found) -> Option<&'static str> {
        let all = std::slice::from_ref(f);
        let by_id = judge_run_id(Some(&f.record.run_id), all).map(|(why, _)| why);
        let by_name = judge_name(f.record.handle.instance.as_deref().unwrap(), all).map(|(w, _)| w);
        assert_eq!(by_id, by_name);
        by_id
    }

    #[test]
    fn a_detached_run_holds_its_place_until_collected_or_released() {
        use runplz_protocol::RunEnding;
        let mut f = found("d", "finished", Some(RunEnding::Detached));
        assert_eq!(
            verdict(&f),
            None,
            "a detached run's place is kept for collect"
        );
        f.record.collected = Some(true);
        assert_eq!(
            verdict(&f),
            Some("run_over"),
            "collected, yet its place is up"
        );
        f.record.collected = None;
        f.record.teardown.status = TeardownStatus::Failed;
        assert_eq!(verdict(&f), Some("run_over"), "its release (kill) failed");
        let killed = found("k", "running", None);
        assert_eq!(verdict(&killed), Some("runplz_gone"));
        let ended = found("e", "finished", Some(RunEnding::Exited { code: 0 }));
        assert_eq!(verdict(&ended), Some("run_over"));
        assert_eq!(
            judge_run_id(Some("other"), std::slice::from_ref(&ended)).map(|x| x.0),
            Some("no_run_state")
        );
        assert_eq!(
            judge_run_id(None, std::slice::from_ref(&ended)).map(|x| x.0),
            Some("no_run_state")
        );
    }
}
