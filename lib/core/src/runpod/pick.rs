//! Which GPU types to try, in order, from RunPod's live `gpuTypes`: the job's `resources`
//! (gpu by name, num_gpus against maxGpuCount, min_gpu_memory against memoryInGb) and
//! `--max-gpu-price` (USD per GPU-hour) filter them; `runpod.gpu_order` gives the order
//! (each listed type must still fit), else the cheapest first. Types offered in neither
//! cloud and rows with no price (the `unknown` row) are never picked.

use crate::job::Job;
use serde_json::Value;

/// How many types are tried without a `gpu_order`.
pub const DEFAULT_TRIES: usize = 5;

/// One GPU type that fits.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// RunPod's id (`"NVIDIA RTX A6000"`).
    pub id: String,
    /// Its display name (`"RTX A6000"`).
    pub display: String,
    /// USD per GPU-hour (the lowest uninterruptable price).
    pub price_per_gpu: f64,
    pub memory_gb: f64,
}

/// The types to try, best first, or why none fits (one line).
pub fn candidates(
    job: &Job,
    types: &[Value],
    max_price: Option<f64>,
    count: u32,
) -> Result<Vec<Candidate>, String> {
    let r = &job.spec.resources;
    let mut fitting = Vec::new();
    let mut why: Vec<String> = Vec::new();
    for t in types {
        let id = t["id"].as_str().unwrap_or("").to_string();
        let display = t["displayName"].as_str().unwrap_or(&id).to_string();
        if id.is_empty() || id == "unknown" {
            continue;
        }
        let offered = t["secureCloud"] == true || t["communityCloud"] == true;
        let price = t["lowestPrice"]["uninterruptablePrice"]
            .as_f64()
            .or_else(|| {
                [&t["securePrice"], &t["communityPrice"]]
                    .iter()
                    .filter_map(|p| p.as_f64())
                    .filter(|p| *p > 0.0)
                    .reduce(f64::min)
            })
            .filter(|p| *p > 0.0);
        let Some(price) = price.filter(|_| offered) else {
            continue;
        };
        let mem = t["memoryInGb"].as_f64().unwrap_or(0.0);
        if let Some(g) = &r.gpu {
            if !crate::probe::gpu_matches(g, &id) && !crate::probe::gpu_matches(g, &display) {
                continue;
            }
        }
        if let Some(m) = r.min_gpu_memory {
            if mem < m {
                why.push(format!("{id}: {mem} GB per GPU < min_gpu_memory {m}"));
                continue;
            }
        }
        if t["maxGpuCount"]
            .as_u64()
            .is_some_and(|m| (m as u32) < count)
        {
            why.push(format!(
                "{id}: at most {} GPUs < num_gpus {count}",
                t["maxGpuCount"]
            ));
            continue;
        }
        if let Some(mp) = max_price {
            if price > mp {
                why.push(format!("{id}: ${price:.2}/GPU-h > --max-gpu-price {mp}"));
                continue;
            }
        }
        fitting.push(Candidate {
            id,
            display,
            price_per_gpu: price,
            memory_gb: mem,
        });
    }
    let out: Vec<Candidate> = match &job.spec.runpod.gpu_order {
        Some(order) => order
            .iter()
            .filter_map(|o| fitting.iter().find(|c| &c.id == o).cloned())
            .collect(),
        None => {
            fitting.sort_by(|a, b| {
                a.price_per_gpu
                    .total_cmp(&b.price_per_gpu)
                    .then_with(|| a.id.cmp(&b.id))
            });
            fitting.truncate(DEFAULT_TRIES);
            fitting
        }
    };
    if out.is_empty() {
        let wanted = match (&r.gpu, &job.spec.runpod.gpu_order) {
            (_, Some(o)) => format!("runpod.gpu_order {o:?}"),
            (Some(g), None) => format!("gpu {g:?}"),
            (None, None) => "any GPU".into(),
        };
        let near = if why.is_empty() {
            String::new()
        } else {
            format!(
                " (nearest misses: {})",
                why.into_iter().take(3).collect::<Vec<_>>().join("; ")
            )
        };
        return Err(format!(
            "no RunPod GPU type fits {wanted} with these resources{near}; nothing was created"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(extra: &str) -> Job {
        let text = format!(
            r#"{{"name": "t", "image": {{"from_registry": "debian"}}, "run": "true"{extra}}}"#
        );
        crate::job::parse(&text, "job.json", std::path::Path::new("/tmp")).unwrap()
    }

    fn types() -> Vec<Value> {
        let t = |id: &str, name: &str, mem: u32, price: Option<f64>, offered: bool, max: u32| {
            json!({"id": id, "displayName": name, "memoryInGb": mem, "maxGpuCount": max,
                   "secureCloud": offered, "communityCloud": false, "securePrice": price.unwrap_or(0.0),
                   "communityPrice": 0, "lowestPrice": {"uninterruptablePrice": price}})
        };
        vec![
            t("NVIDIA RTX A6000", "RTX A6000", 48, Some(0.49), true, 8),
            t(
                "NVIDIA GeForce RTX 4090",
                "RTX 4090",
                24,
                Some(0.34),
                true,
                8,
            ),
            t("NVIDIA H100 80GB HBM3", "H100 SXM", 80, Some(2.69), true, 2),
            t("NVIDIA A40", "A40", 48, None, false, 0),
            t("unknown", "unknown", 0, None, false, 0),
        ]
    }

    fn ids(c: Result<Vec<Candidate>, String>) -> Vec<String> {
        c.unwrap().into_iter().map(|c| c.id).collect()
    }

    #[test]
    fn cheapest_first_and_never_an_unoffered_or_unknown_row() {
        let j = job("");
        assert_eq!(
            ids(candidates(&j, &types(), None, 1)),
            [
                "NVIDIA GeForce RTX 4090",
                "NVIDIA RTX A6000",
                "NVIDIA H100 80GB HBM3"
            ]
        );
    }

    #[test]
    fn resources_and_price_filter() {
        let j = job(r#", "resources": {"gpu": "H100"}"#);
        assert_eq!(
            ids(candidates(&j, &types(), None, 1)),
            ["NVIDIA H100 80GB HBM3"]
        );
        // By display name too, and by memory.
        let j = job(r#", "resources": {"min_gpu_memory": 40}"#);
        assert_eq!(
            ids(candidates(&j, &types(), Some(1.0), 1)),
            ["NVIDIA RTX A6000"]
        );
        // More GPUs than a type has.
        let j = job(r#", "resources": {"gpu": "H100", "num_gpus": 4}"#);
        let e = candidates(&j, &types(), None, 4).unwrap_err();
        assert!(
            e.contains("at most 2 GPUs < num_gpus 4") && e.contains("nothing was created"),
            "{e}"
        );
    }

    #[test]
    fn gpu_order_orders_and_still_filters() {
        let j = job(
            r#", "runpod": {"gpu_order": ["NVIDIA H100 80GB HBM3", "NVIDIA A40", "NVIDIA RTX A6000"]}"#,
        );
        assert_eq!(
            ids(candidates(&j, &types(), None, 1)),
            ["NVIDIA H100 80GB HBM3", "NVIDIA RTX A6000"]
        );
        assert_eq!(
            ids(candidates(&j, &types(), Some(1.0), 1)),
            ["NVIDIA RTX A6000"]
        );
    }
}
