//! Facts against wants. A box that does not match the job's `resources` (fewer vCPUs, less
//! RAM or disk, fewer GPUs, the wrong GPU model, less VRAM) gets a warning; a precondition
//! below its minimum is a warning, below half of it a failure (the run would be doomed); a
//! fact the check needs but that could not be read is a warning that says so.

use super::{Facts, Gpu};
use crate::job::spec::{Preconditions, Resources};
use crate::job::Job;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Hardware is sold in round numbers and the kernel, driver and file system keep a share
/// (a "16 GB" T4 shows 15 GiB, a 32 GiB VM ~31.3 GiB), so a size within 10% below what
/// `resources` asks still matches. Preconditions are exact minimums.
pub const SPEC_TOLERANCE: f64 = 0.9;

/// What the job wants from the box: its `resources` and `preconditions`, after flags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wanted {
    /// GPU model, matched by name (`A100` matches `NVIDIA A100-SXM4-80GB`).
    pub gpu: Option<String>,
    /// GPUs of that model (default 1 when `gpu` or `min_gpu_memory` is set).
    pub num_gpus: Option<u32>,
    /// Minimum vCPUs.
    pub min_cpu: Option<f64>,
    /// Minimum RAM, GB.
    pub min_memory: Option<f64>,
    /// Minimum memory per GPU, GB.
    pub min_gpu_memory: Option<f64>,
    /// Minimum disk size, GB.
    pub min_disk: Option<f64>,
    /// Precondition: free /dev/shm, GB.
    pub shm_gb: Option<f64>,
    /// Precondition: free disk in `$HOME`, GB.
    pub disk_free_gb: Option<f64>,
    /// Precondition: GPUs visible.
    pub gpu_count: Option<f64>,
    /// Precondition: memory per GPU, GB.
    pub gpu_memory_gb: Option<f64>,
}

impl Wanted {
    /// The job's `resources` and `preconditions`.
    pub fn from_job(job: &Job) -> Wanted {
        Wanted::from_spec(&job.spec.resources, &job.spec.preconditions)
    }

    /// From the two spec sections.
    pub fn from_spec(r: &Resources, p: &Preconditions) -> Wanted {
        Wanted {
            gpu: r.gpu.clone(),
            num_gpus: r.num_gpus.map(|n| n.clamp(0, u32::MAX as i64) as u32),
            min_cpu: r.min_cpu,
            min_memory: r.min_memory,
            min_gpu_memory: r.min_gpu_memory,
            min_disk: r.min_disk,
            shm_gb: p.shm_gb,
            disk_free_gb: p.disk_free_gb,
            gpu_count: p.gpu_count,
            gpu_memory_gb: p.gpu_memory_gb,
        }
    }

    /// Each value set here wins over `base`'s (flags over the job file).
    pub fn or(self, base: Wanted) -> Wanted {
        Wanted {
            gpu: self.gpu.or(base.gpu),
            num_gpus: self.num_gpus.or(base.num_gpus),
            min_cpu: self.min_cpu.or(base.min_cpu),
            min_memory: self.min_memory.or(base.min_memory),
            min_gpu_memory: self.min_gpu_memory.or(base.min_gpu_memory),
            min_disk: self.min_disk.or(base.min_disk),
            shm_gb: self.shm_gb.or(base.shm_gb),
            disk_free_gb: self.disk_free_gb.or(base.disk_free_gb),
            gpu_count: self.gpu_count.or(base.gpu_count),
            gpu_memory_gb: self.gpu_memory_gb.or(base.gpu_memory_gb),
        }
    }

    /// How many GPUs of the model the job needs, if any.
    pub fn gpus_needed(&self) -> Option<u32> {
        self.num_gpus
            .or((self.gpu.is_some() || self.min_gpu_memory.is_some()).then_some(1))
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The box differs from the spec, or a fact could not be checked; the run may still work.
    Warning,
    /// A precondition is below half its minimum: starting would doom the run.
    Failure,
}

/// One difference between what the job wants and what the box has.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// `warning` or `failure`.
    pub level: Level,
    /// The check: a `resources` or `preconditions` key (`min_cpu`, `shm_gb`...), `gpu`,
    /// `mig`, or `unreadable` for a fact no check needed.
    pub check: String,
    /// What was asked (`null` when not applicable).
    pub wanted: Value,
    /// What the box has (`null` when it could not be read).
    pub found: Value,
    /// One line for people.
    pub message: String,
}

/// Whether a GPU name is the wanted model: every word of `wanted` is a word of `name`,
/// ignoring case and punctuation (`A100` and `a100-80gb` match `NVIDIA A100-SXM4-80GB`;
/// `A10` does not match `A100`, nor `L4` `L40S`), or `wanted` is several adjacent words
/// of `name` written together (`RTX4090`).
pub fn gpu_matches(wanted: &str, name: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    };
    let (w, n) = (words(wanted), words(name));
    if w.is_empty() {
        return false;
    }
    if w.iter().all(|t| n.contains(t)) {
        return true;
    }
    let joined = w.concat();
    (0..n.len()).any(|i| (i + 1..=n.len()).any(|j| n[i..j].concat() == joined))
}

/// "1× Tesla T4", "8× NVIDIA H100 80GB HBM3, 1× ...", or "no GPU".
fn describe(gpus: &[&Gpu]) -> String {
    let mut groups: Vec<(&str, usize)> = Vec::new();
    for g in gpus {
        match groups.iter_mut().find(|(n, _)| *n == g.name) {
            Some((_, c)) => *c += 1,
            None => groups.push((&g.name, 1)),
        }
    }
    if groups.is_empty() {
        return "no GPU".into();
    }
    groups
        .iter()
        .map(|(n, c)| format!("{c}× {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the box has, for GPU messages: the matching GPUs, else all of them, else none
/// with the reason.
fn found_gpus(facts: &Facts, considered: &[&Gpu]) -> String {
    if !considered.is_empty() {
        return describe(considered);
    }
    if !facts.gpus.is_empty() {
        return describe(&facts.gpus.iter().collect::<Vec<_>>());
    }
    match &facts.gpu_reason {
        Some(r) => format!("no GPU ({r})"),
        None => "no GPU".into(),
    }
}

/// Compare the facts with what is wanted. Warnings and failures, in check order; every
/// unreadable fact appears once, in the check that needed it or as `unreadable`.
pub fn findings(facts: &Facts, wanted: &Wanted) -> Vec<Finding> {
    let mut c = Checker {
        facts,
        out: Vec::new(),
        reported: BTreeSet::new(),
    };
    c.gpus(wanted);
    c.spec(
        "min_cpu",
        "vCPUs",
        "",
        "cpus",
        facts.cpus.map(f64::from),
        wanted.min_cpu,
        1.0,
    );
    let tol = SPEC_TOLERANCE;
    c.spec(
        "min_memory",
        "RAM",
        " GB",
        "memory_gb",
        facts.memory_gb,
        wanted.min_memory,
        tol,
    );
    c.spec(
        "min_disk",
        "disk size",
        " GB",
        "disk_total_gb",
        facts.disk_total_gb,
        wanted.min_disk,
        tol,
    );
    c.precondition(
        "shm_gb",
        "free /dev/shm",
        " GB",
        "shm_free_gb",
        facts.shm_free_gb,
        wanted.shm_gb,
    );
    c.precondition(
        "disk_free_gb",
        "free disk in $HOME",
        " GB",
        "disk_free_gb",
        facts.disk_free_gb,
        wanted.disk_free_gb,
    );
    c.precondition(
        "gpu_count",
        "GPUs",
        "",
        "gpus",
        facts.gpu_count.map(f64::from),
        wanted.gpu_count,
    );
    if let Some(w) = wanted.gpu_memory_gb {
        let all: Vec<&Gpu> = facts.gpus.iter().collect();
        match (facts.gpu_count, min_memory(&all)) {
            (Some(0), _) => c.precondition(
                "gpu_memory_gb",
                "memory per GPU (no GPU)",
                " GB",
                "gpu_memory_gb",
                Some(0.0),
                Some(w),
            ),
            (Some(_), Some(m)) => c.precondition(
                "gpu_memory_gb",
                "memory per GPU",
                " GB",
                "gpu_memory_gb",
                Some(m),
                Some(w),
            ),
            (None, _) => c.precondition(
                "gpu_memory_gb",
                "memory per GPU",
                " GB",
                "gpus",
                None,
                Some(w),
            ),
            (Some(_), None) => c.precondition(
                "gpu_memory_gb",
                "memory per GPU",
                " GB",
                "gpu_memory_gb",
                None,
                Some(w),
            ),
        }
    }
    for u in &facts.unreadable {
        if !c.reported.contains(u.fact.as_str()) {
            c.reported.insert(u.fact.clone());
            let (check, message) = ("unreadable".to_string(), u.message.clone());
            c.out.push(Finding {
                level: Level::Warning,
                check,
                wanted: Value::Null,
                found: Value::Null,
                message,
            });
        }
    }
    c.out
}

/// A number as JSON, whole numbers without a fraction (`8`, not `8.0`).
fn num(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// The smallest usable memory among these GPUs, `None` if any is unknown or there are none.
fn min_memory(gpus: &[&Gpu]) -> Option<f64> {
    gpus.iter()
        .map(|g| g.usable_memory_gb())
        .try_fold(f64::INFINITY, |m, g| g.map(|g| m.min(g)))
        .filter(|m| m.is_finite())
}

struct Checker<'a> {
    facts: &'a Facts,
    out: Vec<Finding>,
    reported: BTreeSet<String>,
}

impl Checker<'_> {
    fn push(&mut self, level: Level, check: &str, wanted: Value, found: Value, message: String) {
        self.out.push(Finding {
            level,
            check: check.to_string(),
            wanted,
            found,
            message,
        });
    }

    /// A fact a check needs could not be read: say so, once per fact.
    fn cannot_check(&mut self, check: &str, wanted: Value, fact: &str, what: &str) {
        let why = self
            .facts
            .unreadable(fact)
            .unwrap_or("it could not be read")
            .to_string();
        self.reported.insert(fact.to_string());
        self.push(
            Level::Warning,
            check,
            wanted,
            Value::Null,
            format!("{why}; cannot check {check} ({what})"),
        );
    }

    /// A `resources` minimum: below it (less the tolerance) is a warning.
    #[allow(clippy::too_many_arguments)]
    fn spec(
        &mut self,
        check: &str,
        label: &str,
        unit: &str,
        fact: &str,
        found: Option<f64>,
        wanted: Option<f64>,
        tolerance: f64,
    ) {
        let Some(w) = wanted else { return };
        match found {
            None => self.cannot_check(
                check,
                num(w),
                fact,
                &format!("at least {w}{unit} of {label}"),
            ),
            Some(f) if f < w * tolerance => self.push(
                Level::Warning,
                check,
                num(w),
                num(f),
                format!("{label}: found {f}{unit}, wanted at least {w}{unit} ({check})"),
            ),
            Some(_) => {}
        }
    }

    /// A precondition: below its minimum a warning, below half of it a failure.
    fn precondition(
        &mut self,
        check: &str,
        label: &str,
        unit: &str,
        fact: &str,
        found: Option<f64>,
        wanted: Option<f64>,
    ) {
        let Some(w) = wanted else { return };
        let Some(f) = found else {
            return self.cannot_check(
                check,
                num(w),
                fact,
                &format!("at least {w}{unit} of {label}"),
            );
        };
        let msg = format!("{label}: found {f}{unit}, wanted at least {w}{unit} ({check})");
        if f < w * 0.5 {
            self.push(
                Level::Failure,
                check,
                num(w),
                num(f),
                format!("{msg}, less than half"),
            );
        } else if f < w {
            self.push(Level::Warning, check, num(w), num(f), msg);
        }
    }

    /// `resources.gpu`, `num_gpus`, `min_gpu_memory`, and MIG-split cards.
    fn gpus(&mut self, wanted: &Wanted) {
        let facts = self.facts;
        let Some(n) = wanted.gpus_needed() else {
            if wanted.gpu_count.is_some() || wanted.gpu_memory_gb.is_some() {
                self.mig(&facts.gpus.iter().collect::<Vec<_>>());
            }
            return;
        };
        let model = wanted.gpu.as_deref();
        let want = match model {
            Some(m) => format!("{n}× {m}"),
            None => format!("{n} GPU{}", if n == 1 { "" } else { "s" }),
        };
        if facts.gpu_count.is_none() {
            return self.cannot_check(
                if model.is_some() { "gpu" } else { "num_gpus" },
                json!(want),
                "gpus",
                &want,
            );
        }
        let considered: Vec<&Gpu> = facts
            .gpus
            .iter()
            .filter(|g| model.is_none_or(|m| gpu_matches(m, &g.name)))
            .collect();
        let names: Vec<&str> = facts.gpus.iter().map(|g| g.name.as_str()).collect();
        if let (Some(m), true) = (model, considered.is_empty()) {
            let found = found_gpus(facts, &considered);
            self.push(
                Level::Warning,
                "gpu",
                json!(m),
                json!(names),
                format!("GPU: found {found}, wanted {want} (gpu)"),
            );
        } else if (considered.len() as u32) < n {
            let found = found_gpus(facts, &considered);
            self.push(
                Level::Warning,
                "num_gpus",
                json!(n),
                json!(considered.len()),
                format!("GPUs: found {found}, wanted {want} (num_gpus)"),
            );
        }
        if let (Some(w), false) = (wanted.min_gpu_memory, considered.is_empty()) {
            match min_memory(&considered) {
                None => self.cannot_check(
                    "min_gpu_memory",
                    num(w),
                    "gpu_memory_gb",
                    &format!("at least {w} GB per GPU"),
                ),
                Some(m) if m < w * SPEC_TOLERANCE => self.push(
                    Level::Warning,
                    "min_gpu_memory",
                    num(w),
                    num(m),
                    format!(
                        "memory per GPU: found {m} GB, wanted at least {w} GB (min_gpu_memory)"
                    ),
                ),
                Some(_) => {}
            }
        }
        self.mig(&considered);
    }

    fn mig(&mut self, gpus: &[&Gpu]) {
        for (i, g) in self.facts.gpus.iter().enumerate() {
            if !g.mig.is_empty() && gpus.iter().any(|c| std::ptr::eq(*c, g)) {
                self.push(
                    Level::Warning,
                    "mig",
                    Value::Null,
                    json!(g.mig),
                    format!(
                        "GPU {i} ({}) is split into MIG slices ({}); a job gets one slice, not the whole card",
                        g.name,
                        g.mig.join(", ")
                    ),
                );
            }
        }
    }
}
