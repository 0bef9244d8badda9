//! Why nothing matched: each constraint in turn, how many offers were left after it, the one
//! that left none, and the nearest misses (the offers that fail the fewest constraints,
//! cheapest first, each with what it lacks). For example: "of 240 offers, 12 have A100, 3 of
//! those have at least 4 GPUs, none of those costs at most $10.00/h; nearest misses:
//! p4d.24xlarge (aws, 8×A100, $32.77/h): costs $32.77/h, wanted at most $10.00/h".

use super::{clean, contains_ci, excluded, gpu_ok, num, price, Constraints, Offer};
use std::fmt;

/// One constraint, as the explanation walks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `brev.exclude_providers`.
    Excluded,
    /// `--provider`.
    Provider,
    /// `--gpu`.
    Gpu,
    /// `--num-gpus` (a model or VRAM asked already needs one GPU).
    NumGpus,
    /// `--min-vram`.
    MinVram,
    /// `--min-cpu`.
    MinCpu,
    /// `--min-ram`.
    MinRam,
    /// `--min-disk`.
    MinDisk,
    /// `--max-price`.
    MaxPrice,
}

/// The order constraints are applied and explained in: where the offer comes from, what
/// GPU, then sizes, then price last (so "none under $10/h" names the cheapest fit).
pub const STEPS: [Step; 9] = [
    Step::Excluded,
    Step::Provider,
    Step::Gpu,
    Step::NumGpus,
    Step::MinVram,
    Step::MinCpu,
    Step::MinRam,
    Step::MinDisk,
    Step::MaxPrice,
];

impl Step {
    /// Whether the offer meets this constraint (an unset constraint always holds).
    pub fn holds(self, o: &Offer, c: &Constraints) -> bool {
        match self {
            Step::Excluded => !excluded(o, &c.exclude_providers),
            Step::Provider => c
                .provider
                .as_deref()
                .is_none_or(|p| contains_ci(&o.provider, p.trim())),
            Step::Gpu => c.gpu.as_deref().is_none_or(|g| gpu_ok(o, g)),
            Step::NumGpus => c.num_gpus.is_none_or(|n| o.gpus() >= n),
            Step::MinVram => c.min_vram_gb.is_none_or(|v| o.vram_per_gpu_gb >= v),
            Step::MinCpu => c.min_cpu.is_none_or(|v| o.vcpus >= v),
            Step::MinRam => c.min_ram_gb.is_none_or(|v| o.ram_gb >= v),
            Step::MinDisk => c.min_disk_gb.is_none_or(|v| o.disk_max() >= v),
            Step::MaxPrice => c.max_price.is_none_or(|v| o.price_per_hour <= v),
        }
    }

    /// Whether this constraint is set at all.
    pub fn active(self, c: &Constraints) -> bool {
        match self {
            Step::Excluded => c.exclude_providers.iter().any(|p| !p.trim().is_empty()),
            Step::Provider => c.provider.is_some(),
            Step::Gpu => c.gpu.is_some(),
            Step::NumGpus => c.num_gpus.is_some(),
            Step::MinVram => c.min_vram_gb.is_some(),
            Step::MinCpu => c.min_cpu.is_some(),
            Step::MinRam => c.min_ram_gb.is_some(),
            Step::MinDisk => c.min_disk_gb.is_some(),
            Step::MaxPrice => c.max_price.is_some(),
        }
    }

    /// The constraint's name as the flags and the job spell it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Excluded => "brev.exclude_providers",
            Step::Provider => "--provider",
            Step::Gpu => "gpu",
            Step::NumGpus => "num_gpus",
            Step::MinVram => "min_vram",
            Step::MinCpu => "min_cpu",
            Step::MinRam => "min_ram",
            Step::MinDisk => "min_disk",
            Step::MaxPrice => "max_price",
        }
    }

    /// What the survivors have, after a count: "have A100", "cost at most $10.00/h".
    fn passing(self, c: &Constraints) -> String {
        match self {
            Step::Excluded => format!(
                "are not from an excluded provider ({})",
                c.exclude_providers.join(", ")
            ),
            Step::Provider => format!(
                "are from a provider matching {:?}",
                c.provider.as_deref().unwrap_or("")
            ),
            Step::Gpu => format!("have {}", c.gpu.as_deref().unwrap_or("")),
            Step::NumGpus => {
                let n = c.num_gpus.unwrap_or(1);
                format!("have at least {n} GPU{}", if n == 1 { "" } else { "s" })
            }
            Step::MinVram => format!(
                "have at least {} GB of VRAM per GPU",
                num(c.min_vram_gb.unwrap_or(0.0))
            ),
            Step::MinCpu => format!("have at least {} vCPUs", num(c.min_cpu.unwrap_or(0.0))),
            Step::MinRam => format!(
                "have at least {} GB of RAM",
                num(c.min_ram_gb.unwrap_or(0.0))
            ),
            Step::MinDisk => format!(
                "can have a disk of at least {} GB",
                num(c.min_disk_gb.unwrap_or(0.0))
            ),
            Step::MaxPrice => format!("cost at most {}", price(c.max_price.unwrap_or(0.0))),
        }
    }

    /// What one offer lacks: "2 GPUs, wanted at least 4".
    fn shortfall(self, o: &Offer, c: &Constraints) -> String {
        match self {
            Step::Excluded => format!(
                "provider {} is excluded by brev.exclude_providers",
                clean(&o.provider)
            ),
            Step::Provider => format!(
                "provider {}, wanted one matching {:?}",
                clean(&o.provider),
                c.provider.as_deref().unwrap_or("")
            ),
            Step::Gpu => format!(
                "GPU {}, wanted {}",
                clean(o.gpu().unwrap_or("none")),
                c.gpu.as_deref().unwrap_or("")
            ),
            Step::NumGpus => format!(
                "{}, wanted at least {}",
                plural(o.gpus(), "GPU", "GPUs"),
                c.num_gpus.unwrap_or(1)
            ),
            Step::MinVram => format!(
                "{} GB VRAM per GPU, wanted at least {}",
                num(o.vram_per_gpu_gb),
                num(c.min_vram_gb.unwrap_or(0.0))
            ),
            Step::MinCpu => format!(
                "{}, wanted at least {}",
                plural(o.vcpus, "vCPU", "vCPUs"),
                num(c.min_cpu.unwrap_or(0.0))
            ),
            Step::MinRam => format!(
                "{} GB RAM, wanted at least {}",
                num(o.ram_gb),
                num(c.min_ram_gb.unwrap_or(0.0))
            ),
            Step::MinDisk => format!(
                "disk up to {} GB, wanted at least {}",
                num(o.disk_max()),
                num(c.min_disk_gb.unwrap_or(0.0))
            ),
            Step::MaxPrice => format!(
                "costs {}, wanted at most {}",
                price(o.price_per_hour),
                price(c.max_price.unwrap_or(0.0))
            ),
        }
    }
}

/// An offer that fails few constraints, and what it lacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    /// The offer.
    pub offer: Offer,
    /// The constraints it fails, in [`STEPS`] order.
    pub fails: Vec<Step>,
    /// One line per failed constraint.
    pub shortfalls: Vec<String>,
}

/// No offer met every constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct NoMatch {
    /// How many offers there were.
    pub offers: usize,
    /// Each set constraint in order, with how many offers were left after it.
    pub funnel: Vec<(Step, usize)>,
    /// The constraint that left none (`None` when there were no offers at all).
    pub ruled_out_by: Option<Step>,
    /// At most three offers failing the fewest constraints, cheapest first.
    pub nearest: Vec<Miss>,
    /// The whole explanation, one line.
    pub message: String,
}

/// How many nearest misses are named.
const NEAREST: usize = 3;

/// Cheaper first, then by type name and provider (catalog order breaks the rest, as the
/// sorts are stable).
fn order(a: &Offer, b: &Offer) -> std::cmp::Ordering {
    a.price_per_hour
        .total_cmp(&b.price_per_hour)
        .then_with(|| a.instance_type.cmp(&b.instance_type))
        .then_with(|| a.provider.cmp(&b.provider))
}

/// The GPU models the offers have, sorted, each once ("none" for a CPU-only list).
fn gpus_on_offer(offers: &[Offer]) -> String {
    let names: std::collections::BTreeSet<&str> = offers.iter().filter_map(Offer::gpu).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.into_iter().map(clean).collect::<Vec<_>>().join(", ")
    }
}

fn plural(n: impl Into<f64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{} {}", num(n), if n == 1.0 { one } else { many })
}

fn describe(o: &Offer) -> String {
    let gpu = match o.gpu() {
        Some(g) => format!("{}×{}", o.gpus(), clean(g)),
        None => "no GPU".into(),
    };
    format!(
        "{} ({}, {gpu}, {}, {} GB RAM, {})",
        clean(&o.instance_type),
        clean(&o.provider),
        plural(o.vcpus, "vCPU", "vCPUs"),
        num(o.ram_gb),
        price(o.price_per_hour)
    )
}

impl NoMatch {
    /// Explain why no offer meets `c`.
    pub fn explain(offers: &[Offer], c: &Constraints) -> NoMatch {
        if offers.is_empty() {
            return NoMatch {
                offers: 0,
                funnel: Vec::new(),
                ruled_out_by: None,
                nearest: Vec::new(),
                message: "there are no offers to pick from".into(),
            };
        }
        let mut funnel = Vec::new();
        let mut alive: Vec<&Offer> = offers.iter().collect();
        let mut ruled_out_by = None;
        // The offers that met every constraint before the one that left none.
        let mut last_alive: Vec<&Offer> = Vec::new();
        for step in STEPS.iter().copied().filter(|s| s.active(c)) {
            let before = alive.clone();
            alive.retain(|o| step.holds(o, c));
            funnel.push((step, alive.len()));
            if alive.is_empty() {
                ruled_out_by = Some(step);
                last_alive = before;
                break;
            }
        }
        // First the cheapest that got furthest, then the fewest failures, cheapest first.
        let closest = last_alive.iter().copied().min_by(|a, b| order(a, b));
        let mut rest: Vec<(usize, &Offer)> = offers
            .iter()
            .map(|o| (super::fails(o, c).count(), o))
            .filter(|(_, o)| closest.is_none_or(|x| !std::ptr::eq(*o, x)))
            .collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| order(a.1, b.1)));
        let nearest: Vec<Miss> = closest
            .into_iter()
            .chain(rest.into_iter().map(|(_, o)| o))
            .take(NEAREST)
            .map(|o| {
                let fails: Vec<Step> = super::fails(o, c).collect();
                Miss {
                    shortfalls: fails.iter().map(|s| s.shortfall(o, c)).collect(),
                    fails,
                    offer: o.clone(),
                }
            })
            .collect();
        let message = message(offers, &funnel, c, &nearest);
        NoMatch {
            offers: offers.len(),
            funnel,
            ruled_out_by,
            nearest,
            message,
        }
    }
}

fn message(
    offers: &[Offer],
    funnel: &[(Step, usize)],
    c: &Constraints,
    nearest: &[Miss],
) -> String {
    let total = offers.len();
    let mut parts = vec![format!(
        "of {total} offer{}",
        if total == 1 { "" } else { "s" }
    )];
    for (i, (step, left)) in funnel.iter().enumerate() {
        let of_those = if i == 0 { "" } else { " of those" };
        if *left == 0 && *step == Step::Excluded {
            parts.push(format!(
                "all{of_those} are from excluded providers ({}; \"brev.exclude_providers\" in the job sets them)",
                c.exclude_providers.join(", ")
            ));
        } else if *left == 0 && *step == Step::Gpu {
            parts.push(format!(
                "none{of_those} {} (GPUs on offer: {})",
                step.passing(c),
                gpus_on_offer(offers)
            ));
        } else if *left == 0 {
            parts.push(format!("none{of_those} {}", step.passing(c)));
        } else {
            parts.push(format!("{left}{of_those} {}", step.passing(c)));
        }
    }
    let mut m = format!("no offer matches: {}", parts.join(", "));
    let line = |n: &Miss| format!("{}: {}", describe(&n.offer), n.shortfalls.join("; "));
    let mut rest = nearest;
    // The cheapest offer that met every constraint before the one that left none.
    if let (Some(first), Some((_, _))) = (nearest.first(), funnel.last()) {
        let before = funnel.iter().rev().nth(1).map(|(_, n)| *n).unwrap_or(total);
        let got_furthest = funnel
            .last()
            .is_some_and(|(step, _)| first.fails.first() == Some(step));
        if got_furthest {
            m.push_str(&format!(
                "; the cheapest of the {before} before that is {}",
                line(first)
            ));
            rest = &nearest[1..];
        }
    }
    if !rest.is_empty() {
        let list: Vec<String> = rest.iter().map(line).collect();
        m.push_str(&format!(
            "; {} near miss{}: {}",
            if rest.len() == nearest.len() {
                "nearest"
            } else {
                "other"
            },
            if list.len() == 1 { "" } else { "es" },
            list.join(" | ")
        ));
    }
    m
}

impl fmt::Display for NoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NoMatch {}
