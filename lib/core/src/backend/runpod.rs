//! `runplz runpod`: a RunPod pod created for the run, then the same steps as `runplz ssh`
//! (full SSH over the pod's public IP), then terminated (or stopped: `runpod.on_finish`).
//!
//! Preflight (read-only, before anything is billed): the key, and the GPU types to try from
//! RunPod's live prices ([`crate::runpod::pick`]), or `--gpu-id` with `--datacenter-id`.
//! Acquire: a fresh ssh key pair for this run, the pod's name `runplz-<job>-<8 hex>` written
//! into the run state, then `podFindAndDeployOnDemand` per (type, datacenter) in order until
//! one has capacity; the pod's id goes into the run state at once; then wait until its
//! runtime lists a public port 22 and ssh answers there.
//!
//! Release (once, on every exit path, also when acquire fails after the name was written):
//! terminate or stop the pod by id, or, when the create's answer never came, whatever pod of
//! ours carries the name. HTTP calls run in runplz itself, so a Ctrl-C never cuts one in
//! half. A release that fails is a loud warning that names the pod: it may still be billing.

use super::brev::human;
use super::{Backend, Kind, Place, PlanPlace, Program, RSYNC, SSH};
use crate::error::CliError;
use crate::job::spec::RunpodFinish;
use crate::job::{Base, Job, JobError, Settings};
use crate::runpod::pick::Candidate;
use crate::runpod::{self as rp, Api, CreatePod, Failure};
use crate::ssh::{Ssh, SshOptions, Target};
use crate::state::RunState;
use crate::steps::{Prepared, Steps};
use anyhow::Result;
use runplz_protocol::{Exit, Instance};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const TOOL: &str = "runplz";

const SSH_KEYGEN: Program = Program {
    name: "ssh-keygen",
    hint: "install openssh-client (apt-get install openssh-client)",
};

/// The pod's start command: an sshd that takes `$PUBLIC_KEY`, installed where the image
/// has none (a plain `debian` or `python` image), then kept running. RunPod's own images
/// do the same in their start script, which this replaces.
const DOCKER_ARGS: &str = "bash -c 'set -e; if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server rsync) || apk add --no-cache openssh rsync bash; fi; mkdir -p /run/sshd /root/.ssh; chmod 700 /root/.ssh; printf \"%s\\n\" \"$PUBLIC_KEY\" >> /root/.ssh/authorized_keys; chmod 600 /root/.ssh/authorized_keys; ssh-keygen -A; /usr/sbin/sshd; exec sleep infinity'";

/// `runplz runpod`'s own flags.
#[derive(Debug, Clone, Default)]
pub struct RunpodArgs {
    /// `--gpu-id`: the GPU type, skipping the pick (with `--datacenter-id`).
    pub gpu_id: Option<String>,
    /// `--datacenter-id`.
    pub datacenter_id: Option<String>,
    /// `--max-gpu-price`: USD per GPU-hour.
    pub max_gpu_price: Option<f64>,
    /// `--cost-cap-usd`: the run's budget in US dollars, from the start of provisioning.
    pub cost_cap_usd: Option<f64>,
    /// `--max-runtime-minutes`: the run's own deadline, from the start of provisioning.
    pub max_runtime_minutes: Option<u64>,
}

/// The pod this run holds, from the moment its name is written.
struct Live {
    name: String,
    id: Option<String>,
    /// Whether a create was sent (its pod may exist even without an answer).
    sent: bool,
    since: Instant,
    gpu: Option<String>,
    datacenter: Option<String>,
    price: Option<f64>,
    /// The run's key pair and ssh config.
    _dir: Option<tempfile::TempDir>,
    done: Option<Instance>,
}

pub(super) struct Runpod {
    args: RunpodArgs,
    finish: OnceLock<RunpodFinish>,
    /// (type, datacenter) pairs to try, from the preflight.
    plan: OnceLock<Vec<(Candidate, Option<String>)>>,
    api: OnceLock<Api>,
    live: Mutex<Option<Live>>,
}

impl Runpod {
    pub(super) fn new(args: RunpodArgs) -> Runpod {
        Runpod {
            args,
            finish: OnceLock::new(),
            plan: OnceLock::new(),
            api: OnceLock::new(),
            live: Mutex::new(None),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn api(&self) -> Result<&Api> {
        if let Some(a) = self.api.get() {
            return Ok(a);
        }
        let a = Api::from_env()?;
        Ok(self.api.get_or_init(|| a))
    }

    fn finish(&self) -> RunpodFinish {
        self.finish
            .get()
            .copied()
            .unwrap_or(RunpodFinish::Terminate)
    }

    /// Terminate or stop the pod (once), say what it cost, remember it for the record.
    fn teardown(&self) -> Result<()> {
        let mut g = self.live();
        let Some(live) = g.as_mut() else {
            return Ok(());
        };
        if live.done.is_some() {
            return Ok(());
        }
        let verb = match self.finish() {
            RunpodFinish::Terminate => "terminate",
            RunpodFinish::Stop => "stop",
        };
        let res: Result<Vec<String>, Failure> = (|| {
            let api = match self.api.get() {
                Some(a) => a,
                None => return Ok(Vec::new()),
            };
            let ids = match (&live.id, live.sent) {
                (Some(id), _) => vec![id.clone()],
                // The create had no answer: whatever of ours carries the name.
                (None, true) => api
                    .our_pods()?
                    .into_iter()
                    .filter(|p| p.name == live.name)
                    .map(|p| p.id)
                    .collect(),
                (None, false) => Vec::new(),
            };
            for id in &ids {
                api.release(id, verb)?;
            }
            Ok(ids)
        })();
        if live.id.is_none() && !matches!(&res, Ok(ids) if !ids.is_empty()) {
            // Nothing was made: nothing to say or bill.
            if let Err(e) = &res {
                crate::out::warn(
                    TOOL,
                    format!("could not check whether pod {} was made ({e}): look for it with `runpodctl get pod` and remove it if it is there", live.name),
                );
            }
            live.done = None;
            return res
                .map(|_| ())
                .map_err(|e| rp::error(e, "checking for the pod"));
        }
        let id = live
            .id
            .clone()
            .or_else(|| res.as_ref().ok().and_then(|v| v.first().cloned()))
            .unwrap_or_default();
        let secs = live.since.elapsed().as_secs_f64();
        let cost = live.price.map(|p| p * secs / 3600.0);
        let release = match (&res, verb) {
            (Err(_), _) => "failed",
            (Ok(_), "terminate") => "terminated",
            (Ok(_), _) => "stopped",
        };
        live.done = Some(Instance {
            name: live.name.clone(),
            instance_type: live.gpu.clone(),
            provider: Some("runpod".into()),
            price_per_hour: live.price,
            created: true,
            release: release.into(),
            billed_seconds: Some((secs * 10.0).round() / 10.0),
            cost: cost.map(|c| (c * 100.0).round() / 100.0),
            pod_id: Some(id.clone()),
            datacenter: live.datacenter.clone(),
        });
        let what = match (&live.gpu, live.price) {
            (Some(g), Some(p)) => format!("{g}, ${p:.2}/h"),
            (Some(g), None) => g.clone(),
            _ => "type unknown".into(),
        };
        let name = live.name.clone();
        match res {
            Ok(_) => {
                let cost = cost.map(|c| format!(": about ${c:.2}")).unwrap_or_default();
                crate::out::note(
                    TOOL,
                    format!(
                        "pod {name} ({id}, {what}) {release} after {}{cost}",
                        human(secs)
                    ),
                );
                Ok(())
            }
            Err(e) => {
                crate::out::warn(
                    TOOL,
                    format!(
                        "POD {name} ({id}) WAS NOT {}: {}. It may still be running and billing ({what}): {verb} it in RunPod's console or with `runpodctl {} pod {id}`",
                        if verb == "terminate" { "TERMINATED" } else { "STOPPED" },
                        e.to_string().trim_end_matches('.'),
                        if verb == "terminate" { "remove" } else { "stop" },
                    ),
                );
                Err(rp::error(e, &format!("releasing pod {id}"))
                    .context(format!("pod {name} may still be billing")))
            }
        }
    }

    /// Acquire's work; on an error after the name was written the caller releases.
    fn bring_up(&self, p: &Prepared, state: &mut RunState) -> Result<Ssh> {
        let api = self.api()?;
        let plan = self.plan.get().cloned().unwrap_or_default();
        let limit = p
            .settings
            .ssh_ready_wait
            .unwrap_or(Duration::from_secs(1800));
        let dir = tempfile::Builder::new()
            .prefix("rp-runpod-")
            .tempdir()
            .map_err(|e| anyhow::anyhow!("creating a folder for the pod's ssh key: {e}"))?;
        let key = dir.path().join("id_ed25519");
        let kg = crate::process::Proc::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "runplz-runpod", "-f"])
            .arg(&key)
            .timeout(Some(Duration::from_secs(60)))
            .run()?;
        kg.check_interrupted()?;
        if !kg.status.success() {
            anyhow::bail!("ssh-keygen failed: {}", kg.tail(3));
        }
        let public_key = std::fs::read_to_string(key.with_extension("pub"))?
            .trim()
            .to_string();
        let name = crate::brevbox::ephemeral_name(p.job.name());
        state.update(|r| {
            r.handle.instance = Some(name.clone());
            r.target = Some(name.clone());
        })?;
        *self.live() = Some(Live {
            name: name.clone(),
            id: None,
            sent: false,
            since: Instant::now(),
            gpu: None,
            datacenter: None,
            price: None,
            _dir: Some(dir),
            done: None,
        });
        let count = gpu_count(&p.job);
        let r = &p.job.spec.resources;
        let mut refusals = Vec::new();
        let mut made = None;
        for (c, dc) in &plan {
            check_signal("creating the pod")?;
            let where_ = dc.as_deref().unwrap_or("any datacenter");
            crate::out::note(
                TOOL,
                format!(
                    "creating RunPod pod {name} ({count} x {}, {where_}, ${:.2}/GPU-h)...",
                    c.id, c.price_per_gpu
                ),
            );
            if let Some(l) = self.live().as_mut() {
                l.sent = true;
                l.since = Instant::now();
            }
            let req = CreatePod {
                name: name.clone(),
                image: match &p.job.base {
                    Base::Registry(i) => i.clone(),
                    Base::Dockerfile(_) => unreachable!("refused by the rules"),
                },
                gpu_type_id: c.id.clone(),
                gpu_count: count,
                datacenter: dc.clone(),
                container_disk_gb: r.min_disk.map(|d| d.ceil() as u32).unwrap_or(40).max(10),
                min_vcpu: r.min_cpu.map(|c| c.ceil() as u32),
                min_memory_gb: r.min_memory.map(|m| m.ceil() as u32),
                public_key: public_key.clone(),
                docker_args: DOCKER_ARGS.into(),
            };
            match api.create(&req) {
                Ok(pod) => {
                    made = Some((pod, c.clone(), dc.clone()));
                    break;
                }
                Err(Failure::NoCapacity(m)) => {
                    crate::out::note(
                        TOOL,
                        format!(
                            "no capacity for {} in {where_} ({m}); trying the next",
                            c.id
                        ),
                    );
                    refusals.push(format!("{} in {where_}", c.id));
                }
                Err(e) => return Err(rp::error(e, &format!("creating pod {name}"))),
            }
        }
        let Some((pod, c, dc)) = made else {
            if let Some(l) = self.live().as_mut() {
                l.sent = false;
            }
            return Err(CliError::new(
                Exit::Failed,
                format!(
                    "RunPod had no capacity for any type tried ({}); nothing was created",
                    refusals.join(", ")
                ),
            ));
        };
        let id = pod.id.clone();
        state.update(|r| r.handle.pod_id = Some(id.clone()))?;
        if let Some(l) = self.live().as_mut() {
            l.id = Some(id.clone());
            l.gpu = Some(c.id.clone());
            l.price = pod.cost_per_hr.or(Some(c.price_per_gpu * count as f64));
            l.datacenter = pod.datacenter.clone().or(dc);
        }
        check_signal("creating the pod")?;
        crate::out::note(
            TOOL,
            format!("waiting for pod {name} ({id}) to answer ssh..."),
        );
        let end = Instant::now() + limit;
        let mut looks = 0u32;
        let (ip, port) = loop {
            looks += 1;
            let now = api
                .pod(&id)
                .map_err(|e| rp::error(e, &format!("reading pod {id}")))?;
            let Some(now) = now else {
                anyhow::bail!(
                    "pod {id} disappeared while waiting for it (RunPod no longer lists it)"
                );
            };
            if let Some(l) = self.live().as_mut() {
                if now.cost_per_hr.is_some() {
                    l.price = now.cost_per_hr;
                }
                if now.datacenter.is_some() {
                    l.datacenter = now.datacenter.clone();
                }
            }
            if let Some(s) = now.ssh {
                break s;
            }
            if matches!(now.desired_status.as_str(), "EXITED" | "TERMINATED") {
                anyhow::bail!(
                    "pod {id} is {} while waiting for it to run",
                    now.desired_status
                );
            }
            if Instant::now() >= end {
                return Err(CliError::new(
                    Exit::Failed,
                    format!("pod {id} listed no public port 22 within {} s (runpod.ssh_ready_wait_seconds)", limit.as_secs()),
                ));
            }
            pause(poll(looks, end), "waiting for the pod")?;
        };
        let cfg = {
            let g = self.live();
            let d = g
                .as_ref()
                .and_then(|l| l._dir.as_ref())
                .map(|d| d.path().to_path_buf());
            d.ok_or_else(|| anyhow::anyhow!("the pod's key folder is gone"))?
        };
        let cfg_file = cfg.join("ssh_config");
        write_ssh_config(&cfg_file, &name, &ip, port, &key, &cfg.join("known_hosts"))?;
        let ssh = Ssh::new(
            Target {
                user: None,
                host: name.clone(),
                port: None,
            },
            SshOptions {
                config: Some(cfg_file),
                connect_timeout: Some(10),
                ..SshOptions::default()
            },
        )?;
        loop {
            let ok = ssh
                .command("true")
                .timeout(Some(Duration::from_secs(30)))
                .run()?;
            ok.check_interrupted()?;
            if ok.status.success() {
                break;
            }
            if Instant::now() >= end {
                return Err(CliError::new(
                    Exit::Failed,
                    format!("pod {id} did not answer ssh at {ip}:{port} within {} s (runpod.ssh_ready_wait_seconds)", limit.as_secs()),
                ));
            }
            looks += 1;
            pause(poll(looks, end), "waiting for the pod's ssh")?;
        }
        Ok(ssh)
    }
}

fn write_ssh_config(
    path: &Path,
    name: &str,
    ip: &str,
    port: u16,
    key: &Path,
    known: &Path,
) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let q = |p: &Path| format!("\"{}\"", p.display());
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    // A pod's address is reused by the next pod: its host key is trusted on first use into
    // this run's own known_hosts, never the user's.
    write!(
        f,
        "# written by runplz for RunPod pod {name}\nHost {name}\n  HostName {ip}\n  Port {port}\n  User root\n  \
         IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  \
         StrictHostKeyChecking accept-new\n  RequestTTY no\n  ForwardAgent no\n  LogLevel ERROR\n",
        q(key),
        q(known)
    )?;
    Ok(())
}

fn check_signal(doing: &str) -> Result<()> {
    if let Some(sig) = crate::process::pending_signal() {
        return Err(CliError::new(
            Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig} while {doing}"),
        ));
    }
    Ok(())
}

/// Sleep in small slices, so that a signal ends it at once.
fn pause(d: Duration, doing: &str) -> Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        check_signal(doing)?;
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    check_signal(doing)
}

fn poll(n: u32, end: Instant) -> Duration {
    let d = Duration::from_millis(100u64 << n.min(4)).min(Duration::from_secs(2));
    d.min(end.saturating_duration_since(Instant::now()))
        .max(Duration::from_millis(10))
}

fn gpu_count(job: &Job) -> u32 {
    job.spec
        .resources
        .num_gpus
        .map(|n| n.clamp(1, 64) as u32)
        .unwrap_or(1)
}

pub(super) fn rules(job: &Job, _s: &Settings) -> Result<(), JobError> {
    if matches!(job.base, Base::Dockerfile(_)) {
        return Err(job.error_at(
            "image.from_dockerfile",
            "found a Dockerfile image for runpod, expected \"from_registry\": the pod is the image, started by RunPod from a registry (push your image and name it there)",
        ));
    }
    Ok(())
}

impl Backend for Runpod {
    fn kind(&self) -> Kind {
        Kind::Runpod
    }

    fn check_job(&self, job: &Job, settings: &Settings) -> Result<(), JobError> {
        let _ = self
            .finish
            .set(job.spec.runpod.on_finish.unwrap_or(RunpodFinish::Terminate));
        rules(job, settings)?;
        let r = &job.spec.resources;
        if r.num_gpus == Some(0) {
            return Err(job.error_at(
                "resources.num_gpus",
                "found 0, expected 1 or more: runplz runpod creates GPU pods (CPU pods are not supported yet)",
            ));
        }
        Ok(())
    }

    fn unused_settings(&self, job: &Job) -> Vec<String> {
        let mut w = Vec::new();
        if self.args.gpu_id.is_some() {
            if job.spec.runpod.gpu_order.is_some() {
                w.push("runpod.gpu_order is not used: --gpu-id pins the GPU type".into());
            }
            if job.spec.runpod.datacenters.is_some() {
                w.push(
                    "runpod.datacenters is not used: --datacenter-id pins the datacenter".into(),
                );
            }
        }
        w
    }

    fn check_args(&self) -> Result<()> {
        let a = &self.args;
        if a.gpu_id.is_some() != a.datacenter_id.is_some() {
            return Err(CliError::usage(
                "--gpu-id and --datacenter-id go together: give both to skip the pick, or neither",
            ));
        }
        if let Some(usd) = a.cost_cap_usd {
            super::check_cost_cap(usd)?;
        }
        if let Some(m) = a.max_runtime_minutes {
            // At most 30 days, as every deadline.
            if m == 0 || m > 30 * 24 * 60 {
                return Err(CliError::usage(format!(
                    "--max-runtime-minutes: found {m}, expected 1 to 43200 (30 days); nothing was created"
                )));
            }
        }
        if let Some(p) = a.max_gpu_price {
            if !(p.is_finite() && p > 0.0) {
                return Err(CliError::usage(format!(
                    "--max-gpu-price: found {p}, expected a price in USD per GPU-hour above 0"
                )));
            }
        }
        Ok(())
    }

    fn programs(&self, _s: &Settings) -> Vec<Program> {
        vec![SSH, RSYNC, SSH_KEYGEN]
    }

    fn steps(&self, p: &Prepared) -> Result<Steps> {
        crate::steps::on_box(p)
    }

    fn preflight(&self, p: &Prepared, _steps: &Steps) -> Result<()> {
        let api = self.api()?;
        let count = gpu_count(&p.job);
        let types = api
            .gpu_types(count)
            .map_err(|e| rp::error(e, "reading RunPod's GPU types"))?;
        let plan: Vec<(Candidate, Option<String>)> = match (
            &self.args.gpu_id,
            &self.args.datacenter_id,
        ) {
            (Some(g), Some(dc)) => {
                let row = types.iter().find(|t| t["id"] == g.as_str());
                let Some(row) = row else {
                    return Err(CliError::usage(format!(
                        "--gpu-id: RunPod has no GPU type {g:?} (ids look like \"NVIDIA RTX A6000\"); nothing was created"
                    )));
                };
                let price = row["lowestPrice"]["uninterruptablePrice"]
                    .as_f64()
                    .unwrap_or(0.0);
                vec![(
                    Candidate {
                        id: g.clone(),
                        display: row["displayName"].as_str().unwrap_or(g).to_string(),
                        price_per_gpu: price,
                        memory_gb: row["memoryInGb"].as_f64().unwrap_or(0.0),
                    },
                    Some(dc.clone()),
                )]
            }
            _ => {
                let c = rp::pick::candidates(&p.job, &types, self.args.max_gpu_price, count)
                    .map_err(|m| CliError::new(Exit::NoMatch, m))?;
                let dcs: Vec<Option<String>> = match &p.job.spec.runpod.datacenters {
                    Some(d) => d.iter().cloned().map(Some).collect(),
                    None => vec![None],
                };
                crate::out::note(
                    TOOL,
                    format!(
                        "GPU types to try, in order: {}",
                        c.iter()
                            .map(|c| format!("{} (${:.2}/GPU-h)", c.id, c.price_per_gpu))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                c.into_iter()
                    .flat_map(|c| dcs.iter().map(move |d| (c.clone(), d.clone())))
                    .collect()
            }
        };
        if self.args.cost_cap_usd.is_some() {
            // The cap is a deadline only with a price known before the create.
            if let Some((c, _)) = plan.iter().find(|(c, _)| c.price_per_gpu <= 0.0) {
                return Err(CliError::usage(format!(
                    "--cost-cap-usd: RunPod lists no price for GPU type {:?}, so the cap cannot be turned into a deadline; nothing was created",
                    c.id
                )));
            }
        }
        let _ = self.plan.set(plan);
        Ok(())
    }

    fn announces_acquire(&self) -> bool {
        true
    }

    fn acquire(&self, p: &Prepared, state: &mut RunState) -> Result<Place> {
        super::acquired(self.bring_up(p, state), || self.teardown(), "pod")
    }

    fn release_policy(&self) -> &'static str {
        match self.finish() {
            RunpodFinish::Terminate => "delete",
            RunpodFinish::Stop => "stop",
        }
    }

    fn release(&self, place: &Place) -> Result<()> {
        if let Some(ssh) = place.ssh() {
            ssh.close();
        }
        self.teardown()
    }

    fn instance(&self) -> Option<Instance> {
        self.live().as_ref().and_then(|l| l.done.clone())
    }

    fn cost_cap(&self) -> Option<(f64, f64)> {
        let usd = self.args.cost_cap_usd?;
        Some((usd, self.live().as_ref()?.price?))
    }

    fn max_runtime(&self) -> Option<Duration> {
        self.args
            .max_runtime_minutes
            .map(|m| Duration::from_secs(m * 60))
    }

    fn plan_place(&self, _p: &Prepared) -> Result<PlanPlace> {
        Err(CliError::usage(
            "--plan: runplz runpod has no plan script yet (no rp-* tool creates a pod)",
        ))
    }
}
