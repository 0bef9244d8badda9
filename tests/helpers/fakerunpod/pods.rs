//! The fake's calls, and its pods as real sshds on loopback.

use super::gql::Field;
use super::{now_ms, World};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NO_CAPACITY: &str = "There are no longer any instances available with the requested specifications. Please refresh and try again.";

fn gpu(id: &str, name: &str, mem: u32, secure: f64, community: f64, dcs: &[&str]) -> Value {
    let offered = secure > 0.0 || community > 0.0;
    let lowest = [secure, community]
        .into_iter()
        .filter(|p| *p > 0.0)
        .fold(f64::NAN, f64::min);
    json!({
        "id": id, "displayName": name, "manufacturer": if id == "unknown" { "unknown" } else { "Nvidia" },
        "memoryInGb": mem, "maxGpuCount": if offered { 8 } else { 0 }, "cudaCores": 0,
        "secureCloud": secure > 0.0, "communityCloud": community > 0.0,
        "securePrice": secure, "communityPrice": community,
        "secureSpotPrice": secure / 2.0, "communitySpotPrice": community / 2.0,
        "oneWeekPrice": secure, "oneMonthPrice": secure, "threeMonthPrice": secure,
        "_lowest": if offered { json!(lowest) } else { Value::Null },
        "_datacenters": dcs,
    })
}

/// The built-in catalog: prices in USD per GPU-hour, an `unknown` row and a type offered
/// in neither cloud, as the real list has.
pub fn default_catalog() -> Vec<Value> {
    vec![
        gpu(
            "NVIDIA GeForce RTX 4090",
            "RTX 4090",
            24,
            0.69,
            0.34,
            &["EU-RO-1", "US-TX-3"],
        ),
        gpu(
            "NVIDIA RTX A6000",
            "RTX A6000",
            48,
            0.76,
            0.49,
            &["US-TX-3", "CA-MTL-1"],
        ),
        gpu(
            "NVIDIA A100 80GB PCIe",
            "A100 PCIe",
            80,
            1.64,
            1.19,
            &["US-KS-2"],
        ),
        gpu(
            "NVIDIA H100 80GB HBM3",
            "H100 SXM",
            80,
            2.99,
            2.69,
            &["US-TX-3"],
        ),
        gpu("NVIDIA A40", "A40", 48, 0.0, 0.0, &[]),
        gpu("unknown", "unknown", 0, 0.0, 0.0, &[]),
    ]
}

/// A GPU type as the API answers it, with `lowestPrice` for `count` GPUs.
fn gpu_type(g: &Value, count: u64) -> Value {
    let mut g = g.clone();
    let fits = count <= g["maxGpuCount"].as_u64().unwrap_or(0) && !g["_lowest"].is_null();
    g["lowestPrice"] = json!({
        "minimumBidPrice": if fits { json!(g["communitySpotPrice"]) } else { Value::Null },
        "uninterruptablePrice": if fits { g["_lowest"].clone() } else { Value::Null },
        "stockStatus": if fits { json!("High") } else { Value::Null },
        "minVcpu": if fits { json!(4) } else { Value::Null },
        "minMemory": if fits { json!(16) } else { Value::Null },
        "maxUnreservedGpuCount": g["maxGpuCount"].clone(),
        "availableGpuCounts": if fits { json!([1, 2, 4, 8]) } else { json!([]) },
    });
    g
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

pub fn resolve(w: &Arc<World>, op: &str, f: &Field) -> Result<Value, String> {
    let input = f.args.get("input").cloned().unwrap_or(Value::Null);
    match (op, f.name.as_str()) {
        ("query", "gpuTypes") => {
            let ids: Vec<String> = match (&input["id"], &input["ids"]) {
                (Value::String(id), _) => vec![id.clone()],
                (_, Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            let count = f
                .sels
                .iter()
                .find(|x| x.name == "lowestPrice")
                .map(|x| {
                    x.args.get("input").and_then(|i| i["gpuCount"].as_u64()).ok_or_else(|| {
                        "Field \"lowestPrice\" argument \"input\" of type \"GpuLowestPriceInput!\" is required, but it was not provided.".to_string()
                    })
                })
                .transpose()?
                .unwrap_or(1);
            Ok(Value::Array(
                w.catalog()
                    .iter()
                    .filter(|g| ids.is_empty() || ids.iter().any(|i| i == s(g, "id")))
                    .map(|g| gpu_type(g, count))
                    .collect(),
            ))
        }
        ("query", "myself") => {
            let pods = w.pods.lock().unwrap();
            let live: Vec<Value> = pods
                .iter()
                .filter(|p| p["desiredStatus"] != "TERMINATED")
                .map(view)
                .collect();
            Ok(json!({"id": "user_fake", "email": "fake@example.com", "pods": live}))
        }
        ("query", "pod") => {
            let id = s(&input, "podId");
            let pods = w.pods.lock().unwrap();
            Ok(pods
                .iter()
                .find(|p| p["id"] == id && p["desiredStatus"] != "TERMINATED")
                .map(view)
                .unwrap_or(Value::Null))
        }
        ("mutation", "podFindAndDeployOnDemand") => create(w, &input),
        ("mutation", "podStop") => change(w, s(&input, "podId"), "EXITED"),
        ("mutation", "podResume") => change(w, s(&input, "podId"), "RUNNING"),
        ("mutation", "podTerminate") => {
            if w.fail_value("terminate-fails").is_some() {
                return Err(
                    "Something went wrong. Please try again later or contact support.".into(),
                );
            }
            change(w, s(&input, "podId"), "TERMINATED").map(|_| Value::Null)
        }
        (_, other) => Err(format!(
            "Cannot query field \"{other}\" on type \"{}\".",
            if op == "mutation" {
                "Mutation"
            } else {
                "Query"
            }
        )),
    }
}

/// A pod as the API shows it (uptime now).
fn view(p: &Value) -> Value {
    let mut p = p.clone();
    let up = (now_ms().saturating_sub(p["_created_ms"].as_u64().unwrap_or(0))) / 1000;
    p["uptimeSeconds"] = json!(up);
    if let Some(r) = p["runtime"].as_object_mut() {
        r.insert("uptimeInSeconds".into(), json!(up));
    }
    p
}

fn pod_id() -> String {
    let mut b = [0u8; 14];
    let _ = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    b.iter()
        .map(|x| b"abcdefghijklmnopqrstuvwxyz0123456789"[(*x % 36) as usize] as char)
        .collect()
}

fn create(w: &Arc<World>, input: &Value) -> Result<Value, String> {
    let name = s(input, "name");
    let image = s(input, "imageName");
    let gpu_id = s(input, "gpuTypeId");
    let cloud = s(input, "cloudType");
    if !["ALL", "SECURE", "COMMUNITY"].contains(&cloud) {
        return Err(format!(
            "Value \"{cloud}\" does not exist in \"CloudTypeEnum\" enum."
        ));
    }
    if name.is_empty() || image.is_empty() {
        return Err("Field \"PodFindAndDeployOnDemandInput.imageName\" of required type \"String!\" was not provided.".into());
    }
    let cat = w.catalog();
    let Some(g) = cat.iter().find(|g| s(g, "id") == gpu_id) else {
        return Err(NO_CAPACITY.into());
    };
    let count = input["gpuCount"].as_u64().unwrap_or(1);
    let dcs: Vec<&str> = g["_datacenters"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let dc = match input["dataCenterId"].as_str() {
        Some(d) => d,
        None => dcs.first().copied().unwrap_or(""),
    };
    let nocap = w
        .fails()
        .into_iter()
        .any(|(k, v)| k == "nocap" && (v == gpu_id || v == format!("{gpu_id}@{dc}")));
    if nocap || !dcs.contains(&dc) || count > g["maxGpuCount"].as_u64().unwrap_or(0) {
        return Err(NO_CAPACITY.into());
    }
    let per_gpu = match cloud {
        "SECURE" => g["securePrice"].as_f64(),
        "COMMUNITY" => g["communityPrice"].as_f64(),
        _ => g["_lowest"].as_f64(),
    }
    .filter(|p| *p > 0.0)
    .ok_or(NO_CAPACITY)?;
    let id = pod_id();
    let env: Vec<Value> = input["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| json!(format!("{}={}", s(e, "key"), s(e, "value"))))
                .collect()
        })
        .unwrap_or_default();
    let pod = json!({
        "id": id, "name": name, "imageName": image, "env": env,
        "machineId": format!("m{}", &id[..8]),
        "machine": {"podHostId": format!("{id}-64410b1f"), "dataCenterId": dc, "location": dc.split('-').next().unwrap_or(""),
                    "gpuDisplayName": g["displayName"], "currentPricePerGpu": per_gpu},
        "desiredStatus": "RUNNING", "lastStatusChange": format!("Rented by User: {}", now_ms()),
        "costPerHr": ((per_gpu * count as f64) * 1000.0).round() / 1000.0, "gpuCount": count,
        "vcpuCount": input["minVcpuCount"].as_u64().unwrap_or(4), "memoryInGb": input["minMemoryInGb"].as_u64().unwrap_or(16),
        "containerDiskInGb": input["containerDiskInGb"], "volumeInGb": input["volumeInGb"].as_u64().unwrap_or(0),
        "volumeMountPath": input["volumeMountPath"].as_str().unwrap_or("/workspace"),
        "dockerArgs": input["dockerArgs"].as_str().unwrap_or(""), "dockerId": Value::Null,
        "podType": "RESERVED", "port": Value::Null, "ports": input["ports"].as_str().unwrap_or(""),
        "uptimeSeconds": 0, "runtime": Value::Null,
        "_created_ms": now_ms(), "_start_ssh": input["startSsh"] == true, "_public_ip": input["supportPublicIp"] == true,
        "_cloud": cloud,
    });
    {
        let mut pods = w.pods.lock().unwrap();
        pods.push(pod.clone());
        w.save(&pods);
    }
    schedule_runtime(w, &id);
    if let Some(ms) = w
        .fail_value("create-hang")
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    Ok(view(&pod))
}

fn change(w: &Arc<World>, id: &str, to: &str) -> Result<Value, String> {
    let mut pods = w.pods.lock().unwrap();
    let Some(p) = pods
        .iter_mut()
        .find(|p| p["id"] == id && p["desiredStatus"] != "TERMINATED")
    else {
        return Err(format!("pod {id} not found"));
    };
    if to != "RUNNING" {
        kill_pod(p);
        p["runtime"] = Value::Null;
    }
    p["desiredStatus"] = json!(to);
    let out = view(p);
    w.save(&pods);
    drop(pods);
    if to == "RUNNING" {
        schedule_runtime(w, id);
    }
    Ok(out)
}

/// After `runtime-ms`, the pod's container is "up": its sshd runs and the runtime lists it.
fn schedule_runtime(w: &Arc<World>, id: &str) {
    let ms = w
        .fail_value("runtime-ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let id = id.to_string();
    let w = w.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        let mut pods = w.pods.lock().unwrap();
        let Some(p) = pods.iter_mut().find(|p| p["id"] == id.as_str()) else {
            return;
        };
        if p["desiredStatus"] != "RUNNING" || !p["runtime"].is_null() {
            return;
        }
        let key = p["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str())
            .find_map(|e| e.strip_prefix("PUBLIC_KEY="))
            .unwrap_or("")
            .to_string();
        let public = p["_public_ip"] == true && s(p, "ports").split(',').any(|x| x == "22/tcp");
        match start_sshd(&w.dir.join("pods").join(&id), &id, &key) {
            Ok((pid, port)) => {
                p["_sshd_pid"] = json!(pid);
                let mut ports = vec![
                    json!({"ip": "127.0.0.2", "isIpPublic": false, "privatePort": 22, "publicPort": 22, "type": "tcp"}),
                ];
                if public {
                    ports.push(json!({"ip": "127.0.0.1", "isIpPublic": true, "privatePort": 22, "publicPort": port, "type": "tcp"}));
                }
                p["runtime"] = json!({"uptimeInSeconds": 0, "ports": ports, "gpus": [{"id": "GPU-fake", "gpuUtilPercent": 0, "memoryUtilPercent": 0}]});
            }
            Err(e) => eprintln!("fake runpod: pod {id}: {e}"),
        }
        w.save(&pods);
    });
}

fn start_sshd(dir: &Path, id: &str, key: &str) -> Result<(u32, u16), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let host = dir.join("host");
    if !host.exists() {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "fake-pod", "-f"])
            .arg(&host)
            .stdin(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !st.success() {
            return Err("ssh-keygen failed".into());
        }
    }
    std::fs::write(dir.join("authorized_keys"), format!("{key}\n")).map_err(|e| e.to_string())?;
    let q = |p: &Path| p.display().to_string();
    let _ = std::fs::create_dir_all("/run/sshd");
    for _ in 0..20 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowUsers root\nUsePAM no\nStrictModes no\nLogLevel VERBOSE\n\
                 MaxStartups 100:30:200\nMaxSessions 50\nSubsystem sftp internal-sftp\n\
                 SetEnv RUNPOD_POD_ID={id} PYENV_REHASH_TIMEOUT=0\n",
                hk = q(&host),
                pid = q(&dir.join("sshd.pid")),
                ak = q(&dir.join("authorized_keys")),
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut cmd = Command::new("/usr/sbin/sshd");
        cmd.args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .arg("-E")
            .arg(dir.join("sshd.log"));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe; the pod outlives whoever asked for it.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().ok();
                Ok(())
            })
        };
        let mut child = cmd.spawn().map_err(|e| format!("sshd: {e}"))?;
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                let pid = child.id();
                // Reap it when it dies, so it is gone from the process table.
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
                return Ok((pid, port));
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() > end {
                let _ = child.kill();
                return Err(format!("sshd did not listen on {port}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Err("could not start sshd".into())
}

/// The pod's processes: its sshd with everything under it, and whatever carries its id.
pub fn pod_processes(sshd: Option<u32>, id: &str) -> Vec<i32> {
    let marker = format!("RUNPOD_POD_ID={id}");
    let mut parent = std::collections::HashMap::new();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) {
            if let Some(rest) = stat.rsplit_once(')').map(|x| x.1) {
                if let Some(pp) = rest
                    .split_whitespace()
                    .nth(1)
                    .and_then(|x| x.parse::<i32>().ok())
                {
                    parent.insert(pid, pp);
                }
            }
        }
        if let Ok(env) = std::fs::read(e.path().join("environ")) {
            if env.split(|b| *b == 0).any(|v| v == marker.as_bytes()) {
                out.push(pid);
            }
        }
    }
    if let Some(root) = sshd.map(|p| p as i32) {
        for &pid in parent.keys() {
            let mut p = pid;
            for _ in 0..64 {
                if p == root {
                    out.push(pid);
                    break;
                }
                match parent.get(&p) {
                    Some(&pp) if pp > 1 => p = pp,
                    _ => break,
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

pub fn kill_pod(p: &Value) {
    let id = s(p, "id").to_string();
    let sshd = p["_sshd_pid"].as_u64().map(|x| x as u32);
    for _ in 0..3 {
        for pid in pod_processes(sshd, &id) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(30));
    }
}
