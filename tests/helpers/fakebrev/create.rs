//! `brev create` (≥ v0.6.317): types from `--type`, stdin or a default search; brev's
//! fallback chain, its messages on stderr and names on stdout; and the injected failures.

use super::flags::{parse, CREATE_FLAGS};
use super::search::gb;
use super::{fail, now_ms, poll, slow, stdin_lines, World, API, R};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub(super) fn validate_name(n: &str) -> R<()> {
    if n.is_empty() {
        return fail("name is required");
    }
    if n.len() > 63 {
        return fail(format!(
            "name must be 63 characters or fewer (got {})",
            n.len()
        ));
    }
    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return fail("name must start with a letter or digit and contain only letters, digits, hyphens, underscores, and dots");
    }
    Ok(())
}

pub(super) fn create(w: &World, args: &[String]) -> R<()> {
    let p = parse(args, CREATE_FLAGS)?;
    let name = p
        .get("name")
        .map(str::to_string)
        .or_else(|| p.pos.first().cloned())
        .unwrap_or_default();
    validate_name(&name)?;
    let mode = p.get("mode").unwrap_or("vm");
    if !["vm", "k8s", "container", "compose"].contains(&mode) {
        return fail(format!(
            "invalid mode \"{mode}\": must be one of vm, k8s, container, compose"
        ));
    }
    if mode == "container" && p.get("container-image").is_none() {
        return fail("--container-image is required when --mode is container");
    }
    let count: usize = p.get("count").unwrap_or("1").parse().unwrap_or(1);
    let timeout: u64 = p.get("timeout").unwrap_or("300").parse().unwrap_or(300);
    let catalog = w.catalog();
    // The types: --type, else stdin (search's JSON or table), else a default search.
    let mut types: Vec<(String, f64)> = Vec::new();
    if let Some(t) = p.get("type") {
        types = t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| (s.to_string(), 0.0))
            .collect();
    } else {
        let lines = stdin_lines();
        let text = lines.join("\n");
        if let Ok(Value::Array(a)) = serde_json::from_str::<Value>(&text) {
            types = a
                .iter()
                .map(|o| {
                    (
                        o["type"].as_str().unwrap_or("").to_string(),
                        gb(o, "target_disk_gb"),
                    )
                })
                .collect();
        } else {
            for l in &lines {
                if (l.contains("TYPE") || l.contains("GPU")) && types.is_empty() {
                    continue;
                }
                if l.starts_with("Found ") {
                    continue;
                }
                let mut it = l.split_whitespace();
                if let Some(t) = it.next() {
                    let d = it.next().and_then(|d| d.parse().ok()).unwrap_or(0.0);
                    types.push((t.to_string(), d));
                }
            }
        }
        if types.is_empty() {
            types = catalog
                .iter()
                .filter(|o| {
                    gb(o, "total_vram_gb") >= 20.0
                        && gb(o, "disk_max_gb") >= 500.0
                        && gb(o, "capability") >= 8.0
                        && gb(o, "boot_time_seconds") > 0.0
                        && gb(o, "boot_time_seconds") <= 420.0
                })
                .map(|o| (o["type"].as_str().unwrap_or("").to_string(), 500.0))
                .collect();
        }
    }
    if types.is_empty() {
        return fail("no instance types to try: none match the search filters");
    }
    w.require_login()?;
    let disk_of = |t: &str, d: f64| {
        if d > 0.0 {
            d
        } else {
            catalog
                .iter()
                .find(|o| o["type"] == t)
                .map(|o| gb(o, "disk_min_gb"))
                .unwrap_or(500.0)
        }
    };
    eprintln!("Attempting to create {count} instance(s) with 1 parallel attempts");
    eprintln!(
        "Instance types to try: {}",
        types
            .iter()
            .map(|(t, d)| format!("{t} ({}GB disk)", disk_of(t, *d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let names: Vec<String> = if count <= 1 {
        vec![name.clone()]
    } else {
        (1..=count).map(|i| format!("{name}-{i}")).collect()
    };
    if p.on("dry-run") {
        for (t, _) in &types {
            println!("{t}");
        }
        return Ok(());
    }
    let mut made: Vec<String> = Vec::new();
    'names: for n in &names {
        for (t, _) in &types {
            eprintln!("Trying {t} for 1 instance(s)...");
            if !catalog.iter().any(|o| o["type"] == t.as_str()) {
                eprintln!("Skipping: instance type \"{t}\" is not a recognized type; run 'brev search' to see available types");
                continue;
            }
            eprintln!("[Worker 1] Trying {t} for instance '{n}'...");
            let outcome = w.with_state(|w, st| {
                if st.find(n).is_some() {
                    return Ok(Err("duplicate workspace".to_string()));
                }
                if w.fails("flaky") && !st.flaky_used {
                    st.flaky_used = true;
                    return Ok(Err(format!("Post \"{API}/api/organizations/org-fake/workspaces\": read tcp 10.0.0.2:51234->52.1.2.3:443: read: connection reset by peer")));
                }
                if w.fails("quota") {
                    return Ok(Err("403 Forbidden: quota exceeded: your organization has reached its GPU quota".to_string()));
                }
                if w.fails("create") {
                    return Ok(Err(format!("500 Internal Server Error: failed to create workspace on {t}")));
                }
                st.next += 1;
                let prefix = std::env::var("FAKE_BREV_USER_PREFIX").unwrap_or_else(|_| "rptfake".into());
                let id: String = format!("{:09x}", (now_ms() ^ (st.next << 40)) & 0xf_ffff_ffff)
                    .chars()
                    .map(|c| if c.is_ascii_digit() { (b'a' + (c as u8 - b'0')) as char } else { c })
                    .collect();
                let stoppable = catalog
                    .iter()
                    .find(|o| o["type"] == t.as_str())
                    .is_some_and(|o| o["stoppable"] == true);
                let gpu = catalog
                    .iter()
                    .find(|o| o["type"] == t.as_str())
                    .and_then(|o| o["gpu_name"].as_str())
                    .unwrap_or("-")
                    .to_string();
                st.boxes.push(json!({
                    "name": n, "id": id, "status": "DEPLOYING", "since_ms": now_ms(),
                    "build_status": "PENDING", "instance_type": t, "gpu": gpu,
                    "stoppable": stoppable, "mode": mode,
                    "container_image": p.get("container-image"),
                    "user": format!("{prefix}0{}", st.next), "user_made": false,
                    "stuck": w.fails("stuck"), "failure": w.fails("failure"),
                }));
                if w.fails("create-eof") {
                    return Ok(Err(format!("Post \"{API}/api/organizations/org-fake/workspaces\": unexpected EOF")));
                }
                Ok(Ok(()))
            })?;
            slow("create");
            match outcome {
                Ok(()) => {
                    eprintln!("[Worker 1] {t} Success! Created instance '{n}'");
                    made.push(n.clone());
                    continue 'names;
                }
                Err(e) if e.contains("duplicate workspace") => {
                    eprintln!("[Worker 1] {t} Failed: {e}");
                    return fail(format!("Error: workspace '{n}' already exists. Use a different name or delete the existing workspace"));
                }
                Err(e) => eprintln!("[Worker 1] {t} Failed: {e}"),
            }
        }
    }
    if made.len() < names.len() {
        eprintln!(
            "Warning: Only created {}/{} instances",
            made.len(),
            names.len()
        );
        return fail(format!(
            "could only create {}/{} instances",
            made.len(),
            names.len()
        ));
    }
    if !p.on("detached") {
        eprintln!("Waiting for instance(s) to be ready...");
        let deadline = Instant::now() + Duration::from_secs(timeout);
        for n in &made {
            loop {
                let s = w.with_state(|_, st| {
                    Ok(st
                        .find(n)
                        .map(|i| st.boxes[i]["status"].as_str().unwrap_or("").to_string()))
                })?;
                match s.as_deref() {
                    Some("RUNNING") => {
                        eprintln!("{n}: Ready");
                        break;
                    }
                    Some("FAILURE") => {
                        eprintln!("instance {n} failed: fake brev: the instance failed to deploy");
                        break;
                    }
                    _ if Instant::now() > deadline => {
                        eprintln!("{n}: Timeout waiting for ready state");
                        break;
                    }
                    _ => std::thread::sleep(poll(w)),
                }
            }
        }
    }
    for n in &made {
        println!("{n}");
    }
    Ok(())
}
