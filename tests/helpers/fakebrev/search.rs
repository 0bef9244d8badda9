//! `brev search [gpu|cpu]`: the fixture catalog through brev's filters, as `--json` or the
//! piped table.

use super::flags::{parse, SEARCH_FLAGS};
use super::{fail, World, R};
use serde_json::Value;

pub(super) fn gb(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

pub(super) fn search(w: &World, args: &[String]) -> R<()> {
    let (cpu, args) = match args.first().map(String::as_str) {
        Some("cpu") => (true, &args[1..]),
        Some("gpu") => (false, &args[1..]),
        _ => (false, args),
    };
    let p = parse(args, SEARCH_FLAGS)?;
    if let Some(extra) = p.pos.first() {
        return fail(format!("unknown command \"{extra}\" for \"brev search\""));
    }
    let sorts = [
        "arch",
        "boot-time",
        "capability",
        "disk",
        "gpu-count",
        "price",
        "provider",
        "ram",
        "total-vram",
        "type",
        "vcpu",
        "vram",
    ];
    let sort = p.get("sort").unwrap_or("price");
    if !sorts.contains(&sort) {
        return fail(format!(
            "invalid sort option \"{sort}\". Valid options: {}",
            sorts.join(", ")
        ));
    }
    let sub = |hay: &Value, needle: Option<&str>| {
        needle.is_none_or(|n| {
            hay.as_str()
                .unwrap_or("")
                .to_lowercase()
                .contains(&n.to_lowercase())
        })
    };
    let mut rows: Vec<Value> = Vec::new();
    for o in w.catalog() {
        let gpu = o["gpu_count"].as_u64().unwrap_or(0) > 0;
        if cpu == gpu {
            continue;
        }
        let min =
            |k: &str, flag: &str| -> R<bool> { Ok(p.num(flag)?.is_none_or(|m| gb(&o, k) >= m)) };
        let keep = sub(&o["gpu_name"], p.get("gpu-name"))
            && sub(&o["provider"], p.get("provider"))
            && sub(&o["arch"], p.get("arch"))
            && min("vram_per_gpu_gb", "min-vram")?
            && min("total_vram_gb", "min-total-vram")?
            && min("capability", "min-capability")?
            && min("vcpus", "min-vcpu")?
            && min("ram_gb", "min-ram")?
            && min("disk_max_gb", "min-disk")?
            && p.num("max-boot-time")?.is_none_or(|m| {
                let b = gb(&o, "boot_time_seconds");
                b > 0.0 && b <= m * 60.0
            })
            && (!p.on("stoppable") || o["stoppable"] == true)
            && (!p.on("rebootable") || o["rebootable"] == true)
            && (!p.on("flex-ports") || o["flex_ports"] == true);
        if keep {
            rows.push(o);
        }
    }
    let key = |o: &Value| -> f64 {
        match sort {
            "price" => gb(o, "price_per_hour"),
            "gpu-count" => gb(o, "gpu_count"),
            "vram" => gb(o, "vram_per_gpu_gb"),
            "total-vram" => gb(o, "total_vram_gb"),
            "vcpu" => gb(o, "vcpus"),
            "capability" => gb(o, "capability"),
            "disk" => gb(o, "disk_max_gb"),
            "boot-time" => gb(o, "boot_time_seconds"),
            "ram" => gb(o, "ram_gb"),
            _ => 0.0,
        }
    };
    rows.sort_by(|a, b| {
        let text = |o: &Value| match sort {
            "type" => o["type"].as_str().unwrap_or("").to_string(),
            "provider" => o["provider"].as_str().unwrap_or("").to_string(),
            "arch" => o["arch"].as_str().unwrap_or("").to_string(),
            _ => String::new(),
        };
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| text(a).cmp(&text(b)))
    });
    if p.on("desc") {
        rows.reverse();
    }
    if p.on("json") {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap());
        return Ok(());
    }
    if rows.is_empty() {
        return Ok(()); // piped: nothing at all
    }
    let mut out = vec![
        "TYPE TARGET_DISK PROVIDER GPU COUNT VRAM/GPU TOTAL_VRAM CAPABILITY DISK $/GB/MO BOOT FEATURES VCPUs $/HR"
            .split(' ')
            .map(str::to_string)
            .collect::<Vec<_>>(),
    ];
    for o in &rows {
        let s = |k: &str| o[k].as_str().unwrap_or("").to_string();
        let n = |k: &str| format!("{}", gb(o, k));
        let feats: String = [("stoppable", 'S'), ("rebootable", 'R'), ("flex_ports", 'P')]
            .iter()
            .filter(|(k, _)| o[*k] == true)
            .map(|(_, c)| *c)
            .collect();
        let boot = gb(o, "boot_time_seconds") as u64;
        out.push(vec![
            s("type"),
            n("target_disk_gb"),
            if s("cloud") == s("provider") {
                s("provider")
            } else {
                format!("{}:{}", s("cloud"), s("provider"))
            },
            s("gpu_name"),
            n("gpu_count"),
            n("vram_per_gpu_gb"),
            n("total_vram_gb"),
            n("capability"),
            format!("{}GB", n("disk_max_gb")),
            o.get("disk_price_per_gb_mo")
                .map(|v| format!("${:.2}", v.as_f64().unwrap_or(0.0)))
                .unwrap_or("-".into()),
            if boot == 0 {
                "-".into()
            } else {
                format!("{}m", boot / 60)
            },
            if feats.is_empty() { "-".into() } else { feats },
            n("vcpus"),
            format!("${:.2}", gb(o, "price_per_hour")),
        ]);
    }
    let widths: Vec<usize> = (0..out[0].len())
        .map(|i| out.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in out {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("  {}", line.join("  ").trim_end());
    }
    Ok(())
}
