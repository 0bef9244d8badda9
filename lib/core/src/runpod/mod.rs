//! RunPod's GraphQL API (facts/runpod.md): the GPU types with their prices, creating a pod
//! with `podFindAndDeployOnDemand`, reading it, listing ours, stopping and terminating it.
//! Values always travel as GraphQL variables, never written into the query text. The key
//! comes from `RUNPOD_API_KEY` and goes only into the `Authorization` header.
//!
//! Retries: a 5xx, a connection error or a timeout is retried with backoff (4 tries) for
//! reads, stops and terminates; a create whose outcome is unknown is never sent again
//! before our pods are listed by its name (see [`Api::create`]), so a pod is never made
//! twice. A 401, or a GraphQL error that says "Unauthorized", is a refused key.

pub mod pick;

use crate::error::CliError;
use anyhow::Result;
use runplz_protocol::Exit;
use serde_json::{json, Value};
use std::time::Duration;

/// The prefix of every pod runplz names (as Brev boxes: `runplz-<job>-<8 hex>`).
pub const NAME_PREFIX: &str = "runplz-";

const DEFAULT_BASE: &str = "https://api.runpod.io";
const TRIES: u32 = 4;

/// The words RunPod uses for "no machine of this kind now" (facts: several wordings).
const NO_CAPACITY: &[&str] = &[
    "no longer any instances available",
    "does not have the resources",
    "not enough free gpus",
    "no instances available",
];

/// What went wrong with one call.
#[derive(Debug)]
pub enum Failure {
    /// The key was refused (HTTP 401, or a GraphQL "Unauthorized").
    Unauthorized,
    /// No capacity for this type or datacenter: try the next.
    NoCapacity(String),
    /// Any other GraphQL error (the server's message).
    Query(String),
    /// A 5xx, a connection error or a timeout: the outcome is unknown.
    Transient(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unauthorized => f.write_str("RunPod refused the API key"),
            Failure::NoCapacity(m) | Failure::Query(m) => f.write_str(m),
            Failure::Transient(m) => f.write_str(m),
        }
    }
}

/// A pod as runplz reads it.
#[derive(Debug, Clone, Default)]
pub struct Pod {
    pub id: String,
    pub name: String,
    pub desired_status: String,
    pub cost_per_hr: Option<f64>,
    pub gpu: Option<String>,
    pub datacenter: Option<String>,
    /// The public `ip:port` of the pod's port 22, once its runtime lists it.
    pub ssh: Option<(String, u16)>,
}

impl Pod {
    fn from(v: &Value) -> Pod {
        let ssh = v["runtime"]["ports"].as_array().and_then(|ports| {
            ports.iter().find_map(|p| {
                let ok = p["privatePort"].as_u64() == Some(22) && p["isIpPublic"] == true;
                let ip = p["ip"].as_str().filter(|ip| !ip.is_empty())?;
                let port = p["publicPort"]
                    .as_u64()
                    .and_then(|x| u16::try_from(x).ok())?;
                ok.then(|| (ip.to_string(), port))
            })
        });
        Pod {
            id: v["id"].as_str().unwrap_or("").to_string(),
            name: v["name"].as_str().unwrap_or("").to_string(),
            desired_status: v["desiredStatus"].as_str().unwrap_or("").to_string(),
            cost_per_hr: v["costPerHr"].as_f64(),
            gpu: v["machine"]["gpuDisplayName"].as_str().map(str::to_string),
            datacenter: v["machine"]["dataCenterId"].as_str().map(str::to_string),
            ssh,
        }
    }
}

/// What a new pod is made with.
#[derive(Debug, Clone)]
pub struct CreatePod {
    pub name: String,
    pub image: String,
    pub gpu_type_id: String,
    pub gpu_count: u32,
    pub datacenter: Option<String>,
    pub container_disk_gb: u32,
    pub min_vcpu: Option<u32>,
    pub min_memory_gb: Option<u32>,
    pub public_key: String,
    pub docker_args: String,
}

/// The API, with the key from the environment.
pub struct Api {
    agent: ureq::Agent,
    url: String,
    key: String,
    /// Base of the backoff between tries (shortened by tests through the environment).
    backoff: Duration,
}

const POD_FIELDS: &str = "id name desiredStatus costPerHr gpuCount uptimeSeconds runtime { ports { ip isIpPublic privatePort publicPort type } } machine { gpuDisplayName dataCenterId }";

impl Api {
    /// The API at `RUNPOD_API_BASE_URL` (default https://api.runpod.io) with
    /// `RUNPOD_API_KEY`; no key is exit 7 before anything happens.
    pub fn from_env() -> Result<Api> {
        let key = std::env::var("RUNPOD_API_KEY").unwrap_or_default();
        if key.trim().is_empty() {
            return Err(CliError::new(
                Exit::NoToken,
                "RUNPOD_API_KEY is not set: create a key in RunPod's settings (API Keys) and export RUNPOD_API_KEY; nothing was created",
            ));
        }
        let base = std::env::var("RUNPOD_API_BASE_URL")
            .ok()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_BASE.into());
        let call = std::env::var("RUNPLZ_RUNPOD_CALL_TIMEOUT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(60)
            .max(1);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(call)))
            .timeout_connect(Some(Duration::from_secs(call.min(15))))
            .http_status_as_error(false)
            .user_agent(format!("runplz/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Api {
            agent,
            url: format!("{}/graphql", base.trim_end_matches('/')),
            key: key.trim().to_string(),
            backoff: Duration::from_millis(500),
        })
    }

    /// One POST; the `data` or why not.
    fn once(&self, query: &str, vars: &Value) -> Result<Value, Failure> {
        let body = json!({"query": query, "variables": vars}).to_string();
        let res = self
            .agent
            .post(&self.url)
            .header("Authorization", &format!("Bearer {}", self.key))
            .content_type("application/json")
            .send(body.as_bytes());
        let mut res = match res {
            Ok(r) => r,
            Err(e) => {
                return Err(Failure::Transient(format!(
                    "RunPod's API did not answer: {e}"
                )))
            }
        };
        let status = res.status().as_u16();
        let text = res
            .body_mut()
            .read_to_string()
            .map_err(|e| Failure::Transient(format!("reading RunPod's answer: {e}")))?;
        if status == 401 || (status == 403 && !text.contains("1010")) {
            return Err(Failure::Unauthorized);
        }
        if status >= 500 || status == 429 || status == 403 {
            return Err(Failure::Transient(format!(
                "RunPod's API answered HTTP {status}"
            )));
        }
        let v: Value = serde_json::from_str(&text).map_err(|_| {
            Failure::Query(format!(
                "RunPod's API answered HTTP {status} with no JSON: {}",
                text.chars().take(120).collect::<String>()
            ))
        })?;
        if let Some(m) = v["errors"][0]["message"].as_str() {
            let low = m.to_ascii_lowercase();
            if low.trim() == "unauthorized" || low.contains("unauthorized request") {
                return Err(Failure::Unauthorized);
            }
            if NO_CAPACITY.iter().any(|w| low.contains(w)) {
                return Err(Failure::NoCapacity(m.to_string()));
            }
            return Err(Failure::Query(m.to_string()));
        }
        if status != 200 {
            return Err(Failure::Query(format!(
                "RunPod's API answered HTTP {status}"
            )));
        }
        Ok(v["data"].clone())
    }

    /// A call safe to repeat: tried again on a transient failure.
    fn call(&self, query: &str, vars: &Value) -> Result<Value, Failure> {
        let mut wait = self.backoff;
        for attempt in 1..=TRIES {
            match self.once(query, vars) {
                Err(Failure::Transient(m)) if attempt < TRIES => {
                    crate::out::note(
                        "runplz",
                        format!("{m}; trying again in {:.1}s", wait.as_secs_f64()),
                    );
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                other => return other,
            }
        }
        unreachable!()
    }

    /// Every GPU type with its prices for `count` GPUs.
    pub fn gpu_types(&self, count: u32) -> Result<Vec<Value>, Failure> {
        // The count is ours (a number), so it is safe inline; lowestPrice's input type has
        // no documented name to declare a variable with.
        let q = format!(
            "query GpuTypes {{ gpuTypes {{ id displayName memoryInGb maxGpuCount secureCloud communityCloud securePrice communityPrice lowestPrice(input: {{gpuCount: {count}}}) {{ minimumBidPrice uninterruptablePrice }} }} }}"
        );
        let d = self.call(&q, &json!({}))?;
        Ok(d["gpuTypes"].as_array().cloned().unwrap_or_default())
    }

    /// One pod, or None when RunPod no longer has it.
    pub fn pod(&self, id: &str) -> Result<Option<Pod>, Failure> {
        let q = format!(
            "query Pod($podId: String!) {{ pod(input: {{podId: $podId}}) {{ {POD_FIELDS} }} }}"
        );
        let d = self.call(&q, &json!({"podId": id}))?;
        Ok((!d["pod"].is_null()).then(|| Pod::from(&d["pod"])))
    }

    /// Every pod of the account whose name starts with runplz's prefix (for `reconcile` and
    /// `ps`, and to find a pod whose create had no answer).
    pub fn our_pods(&self) -> Result<Vec<Pod>, Failure> {
        let q = format!("query Pods {{ myself {{ pods {{ {POD_FIELDS} }} }} }}");
        let d = self.call(&q, &json!({}))?;
        Ok(d["myself"]["pods"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Pod::from)
            .filter(|p| p.name.starts_with(NAME_PREFIX))
            .collect())
    }

    /// Create the pod. A create whose outcome is unknown (a 5xx, a timeout, a dropped
    /// connection) is followed by a listing of our pods: one named `c.name` is the pod (it
    /// was made), none means it was not and the create is tried again (up to 4 times).
    pub fn create(&self, c: &CreatePod) -> Result<Pod, Failure> {
        let q = format!(
            "mutation Create($input: PodFindAndDeployOnDemandInput!) {{ podFindAndDeployOnDemand(input: $input) {{ {POD_FIELDS} }} }}"
        );
        let mut input = json!({
            "name": c.name, "imageName": c.image, "cloudType": "ALL",
            "gpuTypeId": c.gpu_type_id, "gpuCount": c.gpu_count,
            "containerDiskInGb": c.container_disk_gb, "volumeInGb": 0,
            "ports": "22/tcp", "startSsh": true, "supportPublicIp": true,
            "dataCenterId": c.datacenter,
            "dockerArgs": c.docker_args,
            "env": [{"key": "PUBLIC_KEY", "value": c.public_key}],
        });
        if let Some(n) = c.min_vcpu {
            input["minVcpuCount"] = json!(n);
        }
        if let Some(n) = c.min_memory_gb {
            input["minMemoryInGb"] = json!(n);
        }
        let vars = json!({"input": input});
        let mut wait = self.backoff;
        for attempt in 1..=TRIES {
            match self.once(&q, &vars) {
                Ok(d) => return Ok(Pod::from(&d["podFindAndDeployOnDemand"])),
                Err(Failure::Transient(m)) => {
                    let found = self.our_pods()?.into_iter().find(|p| p.name == c.name);
                    if let Some(p) = found {
                        crate::out::warn(
                            "runplz",
                            format!("creating pod {} had no answer ({m}), but RunPod lists it as {}: using it, not creating another", c.name, p.id),
                        );
                        return Ok(p);
                    }
                    if attempt == TRIES {
                        return Err(Failure::Transient(m));
                    }
                    crate::out::note(
                        "runplz",
                        format!("creating pod {} had no answer ({m}) and RunPod lists no such pod: trying again in {:.1}s", c.name, wait.as_secs_f64()),
                    );
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!()
    }

    /// Stop the pod (its GPU released, its disk kept).
    pub fn stop(&self, id: &str) -> Result<(), Failure> {
        let q = "mutation Stop($podId: String!) { podStop(input: {podId: $podId}) { id desiredStatus } }";
        self.call(q, &json!({"podId": id})).map(|_| ())
    }

    /// Terminate the pod (`podTerminate` answers null).
    pub fn terminate(&self, id: &str) -> Result<(), Failure> {
        let q = "mutation Terminate($podId: String!) { podTerminate(input: {podId: $podId}) }";
        self.call(q, &json!({"podId": id})).map(|_| ())
    }

    /// The pod's `on_finish`: `"stop"` stops it, anything else terminates it; what was done.
    pub fn release(&self, id: &str, verb: &str) -> Result<&'static str, Failure> {
        if verb == "stop" {
            self.stop(id).map(|_| "stopped")
        } else {
            self.terminate(id).map(|_| "terminated")
        }
    }
}

/// A failure as runplz's error: a refused key is exit 8, an API that did not answer exit 9.
pub fn error(f: Failure, doing: &str) -> anyhow::Error {
    match f {
        Failure::Unauthorized => CliError::new(
            Exit::AuthRejected,
            format!("RunPod refused the API key (RUNPOD_API_KEY) while {doing}: check the key in RunPod's settings; nothing was created"),
        ),
        Failure::Transient(m) => CliError::new(Exit::Unreachable, format!("{doing}: {m}")),
        Failure::NoCapacity(m) | Failure::Query(m) => {
            CliError::new(Exit::Failed, format!("{doing}: RunPod said: {m}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ssh_port_is_the_public_22() {
        let v = json!({"id": "abc", "name": "runplz-x", "desiredStatus": "RUNNING", "costPerHr": 0.49,
            "runtime": {"ports": [
                {"ip": "10.0.0.2", "isIpPublic": false, "privatePort": 22, "publicPort": 22, "type": "tcp"},
                {"ip": "1.2.3.4", "isIpPublic": true, "privatePort": 8888, "publicPort": 40000, "type": "http"},
                {"ip": "1.2.3.4", "isIpPublic": true, "privatePort": 22, "publicPort": 40022, "type": "tcp"}]},
            "machine": {"gpuDisplayName": "RTX A6000", "dataCenterId": "US-TX-3"}});
        let p = Pod::from(&v);
        assert_eq!(p.ssh, Some(("1.2.3.4".to_string(), 40022)));
        assert_eq!(p.datacenter.as_deref(), Some("US-TX-3"));
        assert_eq!(Pod::from(&json!({"runtime": null})).ssh, None);
    }
}
