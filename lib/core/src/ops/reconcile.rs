//! `runplz reconcile`: the billed Brev boxes carrying runplz's name (`runplz-*`) that no
//! live run holds, with their age, price per hour and cost so far; `--apply` deletes the
//! ones a run state here proves orphaned (the run's runplz is gone, or the run ended and
//! its release failed). A box without runplz's prefix is never looked at, a box of a live
//! run is never listed, and a box no run state here names (maybe another machine's run) is
//! listed but never touched. RunPod pods named `runplz-*` are judged the same way when
//! `RUNPOD_API_KEY` is set (`--apply` terminates them). Modal sandboxes are not reconciled
//! yet (said on stderr).

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
    let mine: Vec<&Found> = found
        .iter()
        .filter(|f| f.record.handle.instance.as_deref() == Some(name))
        .collect();
    if mine
        .iter()
        .any(|f| f.record.status != Status::Finished && state::alive(&f.record))
    {
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
    crate::out::note(
        TOOL,
        "Modal sandboxes are not reconciled yet: `runplz kill RUN` stops one by its run id",
    );
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
        let (age, cost) = age_and_cost(r, price, now);
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
        let (age, cost) = age_and_cost(r, price, now);
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

/// How long ago the run that made it started, and what it cost so far at `price` per hour.
fn age_and_cost(
    r: Option<&crate::state::Record>,
    price: Option<f64>,
    now: u64,
) -> (Option<u64>, Option<f64>) {
    let age = r.map(|r| now.saturating_sub(r.started_at));
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
