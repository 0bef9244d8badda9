//! job.json's resources as Modal's arguments: `gpu` + `num_gpus` + `min_gpu_memory` as
//! one gpu string (`"A100-80GB:4"`), `min_cpu` as cores, `min_memory` (GB) as MiB.
//! Modal has a memory suffix only for the A100 (`A100-40GB`, `A100-80GB`); it rejects
//! `T4-16GB` or `H100-40GB`, so no other model ever gets one.

use crate::job::spec::Resources;

/// Modal's GPU types (modal.com/docs/guide/gpu) and each one's memory in GB.
const MODELS: &[(&str, f64)] = &[
    ("T4", 16.0),
    ("L4", 24.0),
    ("A10", 24.0),
    ("A10G", 24.0),
    ("L40S", 48.0),
    ("A100", 40.0),
    ("A100-40GB", 40.0),
    ("A100-80GB", 80.0),
    ("RTX-PRO-6000", 96.0),
    ("H100", 80.0),
    ("H100!", 80.0),
    ("H200", 141.0),
    ("B200", 192.0),
    ("B200+", 192.0),
];

/// With `min_gpu_memory` and no `gpu`: the smallest model that fits, in order.
const SMALLEST_FIT: &[(&str, f64)] = &[
    ("T4", 16.0),
    ("L4", 24.0),
    ("A100-40GB", 40.0),
    ("A100-80GB", 80.0),
    ("H200", 141.0),
];

/// The most GPUs one Modal container gets.
const MAX_GPUS: i64 = 8;

/// A resource Modal cannot give: the JSON path and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuError {
    /// The job.json path at fault.
    pub path: &'static str,
    /// What was found and what was expected.
    pub message: String,
}

fn err(path: &'static str, message: String) -> GpuError {
    GpuError { path, message }
}

/// Modal's gpu string for these resources, or `None` for no GPU.
pub fn gpu_string(r: &Resources) -> Result<Option<String>, GpuError> {
    let Some(written) = r.gpu.as_deref() else {
        return smallest_fit(r);
    };
    let upper = written.trim().to_ascii_uppercase();
    // A count the user wrote (`H100:8`) wins over `num_gpus`.
    let (model, count) = match upper.split_once(':') {
        Some((m, c)) => {
            let n: i64 = c.parse().map_err(|_| {
                err(
                    "resources.gpu",
                    format!("found {written:?}, expected a count after ':' (like \"H100:8\")"),
                )
            })?;
            (m.to_string(), n)
        }
        None => (upper.clone(), r.num_gpus.unwrap_or(1)),
    };
    let Some(&(_, memory)) = MODELS.iter().find(|(m, _)| *m == model) else {
        let names: Vec<&str> = MODELS.iter().map(|(m, _)| *m).collect();
        return Err(err(
            "resources.gpu",
            format!(
                "found {written:?}, expected one of Modal's GPU types: {}",
                names.join(", ")
            ),
        ));
    };
    if !(1..=MAX_GPUS).contains(&count) {
        return Err(err(
            "resources.num_gpus",
            format!(
                "found {count} GPUs, expected 1 to {MAX_GPUS} on modal (one container's limit)"
            ),
        ));
    }
    let model = match (model.as_str(), r.min_gpu_memory) {
        // The one model with a memory choice: the smallest that fits.
        ("A100", Some(m)) if m <= 40.0 => "A100-40GB".to_string(),
        ("A100", Some(m)) if m <= 80.0 => "A100-80GB".to_string(),
        (_, Some(m)) if m > memory && !model.ends_with("GB") => {
            return Err(err(
                "resources.min_gpu_memory",
                format!("found {m} GB, expected at most {memory} GB: Modal's {model} has {memory} GB (pick a larger \"gpu\", or leave it out to get the smallest that fits)"),
            ));
        }
        // A suffix the user wrote wins.
        _ => model,
    };
    Ok(Some(if count == 1 {
        model
    } else {
        format!("{model}:{count}")
    }))
}

fn smallest_fit(r: &Resources) -> Result<Option<String>, GpuError> {
    let Some(m) = r.min_gpu_memory else {
        if let Some(n) = r.num_gpus.filter(|n| *n > 0) {
            return Err(err(
                "resources.num_gpus",
                format!("found {n} with no \"gpu\" or \"min_gpu_memory\", expected a \"gpu\" model too: Modal needs to know which GPU"),
            ));
        }
        return Ok(None);
    };
    let Some((model, _)) = SMALLEST_FIT.iter().find(|(_, mem)| m <= *mem) else {
        return Err(err(
            "resources.min_gpu_memory",
            format!(
                "found {m} GB, expected at most 141 GB per GPU on modal (its largest, the H200)"
            ),
        ));
    };
    let n = r.num_gpus.unwrap_or(1);
    if !(1..=MAX_GPUS).contains(&n) {
        return Err(err(
            "resources.num_gpus",
            format!("found {n} GPUs, expected 1 to {MAX_GPUS} on modal (one container's limit)"),
        ));
    }
    Ok(Some(if n == 1 {
        model.to_string()
    } else {
        format!("{model}:{n}")
    }))
}

/// `min_memory` in GB as Modal's MiB, rounded up (Modal drops a float silently).
pub fn memory_mb(r: &Resources) -> Option<u64> {
    r.min_memory.map(|gb| (gb * 1024.0).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(gpu: Option<&str>, n: Option<i64>, mem: Option<f64>) -> Resources {
        Resources {
            gpu: gpu.map(String::from),
            num_gpus: n,
            min_gpu_memory: mem,
            ..Resources::default()
        }
    }

    fn s(gpu: Option<&str>, n: Option<i64>, mem: Option<f64>) -> Option<String> {
        gpu_string(&res(gpu, n, mem)).unwrap()
    }

    #[test]
    fn counts_and_suffixes() {
        assert_eq!(s(None, None, None), None);
        assert_eq!(s(Some("T4"), None, None).as_deref(), Some("T4"));
        assert_eq!(s(Some("t4"), Some(1), None).as_deref(), Some("T4"));
        assert_eq!(s(Some("H100"), Some(8), None).as_deref(), Some("H100:8"));
        assert_eq!(
            s(Some("A100"), Some(4), Some(80.0)).as_deref(),
            Some("A100-80GB:4")
        );
        assert_eq!(
            s(Some("A100"), None, Some(40.0)).as_deref(),
            Some("A100-40GB")
        );
        assert_eq!(
            s(Some("A100"), None, Some(24.0)).as_deref(),
            Some("A100-40GB")
        );
        assert_eq!(s(Some("A100"), None, None).as_deref(), Some("A100"));
        // Never a suffix Modal rejects.
        assert_eq!(s(Some("T4"), None, Some(16.0)).as_deref(), Some("T4"));
        assert_eq!(s(Some("H100"), None, Some(40.0)).as_deref(), Some("H100"));
        assert_eq!(
            s(Some("H100"), Some(2), Some(80.0)).as_deref(),
            Some("H100:2")
        );
    }

    #[test]
    fn what_the_user_wrote_wins() {
        assert_eq!(s(Some("H100:8"), Some(2), None).as_deref(), Some("H100:8"));
        assert_eq!(
            s(Some("a100-80gb"), None, Some(40.0)).as_deref(),
            Some("A100-80GB")
        );
        assert_eq!(
            s(Some("A100-40GB:2"), Some(4), Some(30.0)).as_deref(),
            Some("A100-40GB:2")
        );
    }

    #[test]
    fn smallest_model_that_fits() {
        for (mem, want) in [
            (8.0, "T4"),
            (16.0, "T4"),
            (16.5, "L4"),
            (24.0, "L4"),
            (32.0, "A100-40GB"),
            (40.0, "A100-40GB"),
            (48.0, "A100-80GB"),
            (80.0, "A100-80GB"),
            (96.0, "H200"),
            (141.0, "H200"),
        ] {
            assert_eq!(s(None, None, Some(mem)).as_deref(), Some(want), "{mem}");
        }
        assert_eq!(s(None, Some(4), Some(80.0)).as_deref(), Some("A100-80GB:4"));
        let e = gpu_string(&res(None, None, Some(142.0))).unwrap_err();
        assert_eq!(e.path, "resources.min_gpu_memory");
        assert!(e.message.contains("found 142 GB"), "{}", e.message);
    }

    #[test]
    fn what_modal_cannot_give_is_an_error() {
        for (gpu, n, mem, path, text) in [
            (
                Some("T4"),
                None,
                Some(32.0),
                "resources.min_gpu_memory",
                "Modal's T4 has 16 GB",
            ),
            (
                Some("A100"),
                None,
                Some(96.0),
                "resources.min_gpu_memory",
                "found 96 GB",
            ),
            (
                Some("H100"),
                Some(9),
                None,
                "resources.num_gpus",
                "found 9 GPUs",
            ),
            (
                Some("H100:0"),
                None,
                None,
                "resources.num_gpus",
                "found 0 GPUs",
            ),
            (
                Some("H100:x"),
                None,
                None,
                "resources.gpu",
                "a count after ':'",
            ),
            (
                Some("V100"),
                None,
                None,
                "resources.gpu",
                "one of Modal's GPU types",
            ),
            (None, Some(2), None, "resources.num_gpus", "no \"gpu\""),
        ] {
            let e = gpu_string(&res(gpu, n, mem)).unwrap_err();
            assert_eq!(e.path, path, "{gpu:?} {n:?} {mem:?}");
            assert!(e.message.contains(text), "{}", e.message);
        }
    }

    #[test]
    fn memory_is_whole_mib_rounded_up() {
        let r = |gb| Resources {
            min_memory: Some(gb),
            ..Resources::default()
        };
        assert_eq!(memory_mb(&r(16.0)), Some(16384));
        assert_eq!(memory_mb(&r(0.5)), Some(512));
        assert_eq!(memory_mb(&r(1.0001)), Some(1025));
        assert_eq!(memory_mb(&Resources::default()), None);
    }
}
