//! What a box really has. One shell script, sent in one ssh round trip (or run here with
//! `bash -c`), prints every fact between section markers: CPUs, memory, free disk in
//! `$HOME`, free `/dev/shm`, GPUs from nvidia-smi, docker (and its NVIDIA runtime), rsync,
//! OS and architecture. [`facts_from_output`] turns that into [`Facts`]; a value that could
//! not be read is `null` with the reason in `unreadable`, never a guess. [`findings`]
//! compares the facts with what a job wants.

mod findings;
pub mod parse;
#[cfg(test)]
mod tests;

pub use findings::{findings, gpu_matches, Finding, Level, Wanted};

use crate::error::CliError;
use crate::process::Proc;
use crate::ssh::Ssh;
use anyhow::{Context, Result};
use parse::{Section, SmiGpus};
use runplz_protocol::{self as wire, Exit};
use std::collections::BTreeMap;
use std::time::Duration;

/// The probe script. POSIX sh, so it runs under any login shell that is sh-compatible;
/// every section runs in a subshell with stderr merged, so a failing command is reported in
/// its own section and the rest still run. nvidia-smi and docker are bounded with
/// `timeout` (where it exists) because a wedged driver or daemon hangs them.
pub const SCRIPT: &str = r#"LC_ALL=C; export LC_ALL
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"; export PATH
if command -v timeout >/dev/null 2>&1; then rp_t() { timeout "$@"; }; else rp_t() { shift; "$@"; }; fi
rp_sec() {
  rp_n=$1; shift
  printf '\n@@rp-probe begin %s@@\n' "$rp_n"
  ( "$@" ) 2>&1
  rp_rc=$?
  printf '\n@@rp-probe end %s %s@@\n' "$rp_n" "$rp_rc"
}
rp_cpus() { nproc 2>/dev/null || getconf _NPROCESSORS_ONLN; }
rp_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 || exit 127
  rp_t 20 nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits
}
rp_sec cpus rp_cpus
rp_sec meminfo cat /proc/meminfo
rp_sec disk df -Pk "$HOME"
rp_sec shm df -Pk /dev/shm
rp_sec gpu rp_gpu
if [ "$rp_rc" = 0 ]; then rp_sec gpu_list rp_t 20 nvidia-smi -L; fi
rp_sec docker command -v docker
if [ "$rp_rc" = 0 ]; then rp_sec docker_runtimes rp_t 10 docker info --format '{{json .Runtimes}}'; fi
rp_sec rsync command -v rsync
rp_sec os sed -n 's/^PRETTY_NAME=//p' /etc/os-release
rp_sec arch uname -m
exit 0
"#;

/// How long the whole probe may take (nvidia-smi and docker have their own, shorter bounds).
const PROBE_TIMEOUT: Duration = Duration::from_secs(90);

/// One GPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    /// The model name as nvidia-smi prints it, e.g. `NVIDIA A100-SXM4-80GB`.
    pub name: String,
    /// The card's memory in GB (GiB), `null` when nvidia-smi could not say (`[N/A]`).
    pub memory_gb: Option<f64>,
    /// MIG slices the card is split into (`3g.40gb`...), empty when MIG is off.
    pub mig: Vec<String>,
}

impl Gpu {
    /// The memory one job can use on this GPU: the largest MIG slice when the card is split,
    /// else the whole card. `None` when unknown.
    pub fn usable_memory_gb(&self) -> Option<f64> {
        if self.mig.is_empty() {
            return self.memory_gb;
        }
        self.mig
            .iter()
            .map(|p| parse::mig_profile_gb(p))
            .try_fold(0.0f64, |m, gb| gb.map(|g| m.max(g)))
    }
}

/// A fact that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The fact's field name in [`Facts`] (`shm_free_gb`, `gpus`...).
    pub fact: String,
    /// "could not read ...: reason".
    pub message: String,
}

/// What a box has. Sizes are in GB meaning GiB (2^30 bytes), as the kernel, df and
/// nvidia-smi count them. `null` means "could not be read"; the reason is in `unreadable`.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// CPUs available to processes (`nproc`).
    pub cpus: Option<u32>,
    /// Total memory (`MemTotal`).
    pub memory_gb: Option<f64>,
    /// Space available in `$HOME` to the login user.
    pub disk_free_gb: Option<f64>,
    /// Size of the file system holding `$HOME`.
    pub disk_total_gb: Option<f64>,
    /// Space available in `/dev/shm`.
    pub shm_free_gb: Option<f64>,
    /// The GPUs nvidia-smi lists (empty when none or unknown).
    pub gpus: Vec<Gpu>,
    /// How many GPUs: 0 when there is no nvidia-smi or it lists none, `null` when its
    /// output could not be understood.
    pub gpu_count: Option<u32>,
    /// Why there are no GPUs (`nvidia-smi is not installed`, its own error), else `null`.
    pub gpu_reason: Option<String>,
    /// Whether docker is usable: a `docker` command exists and its engine answers
    /// `docker info` (within 10 s).
    pub docker: Option<bool>,
    /// Whether docker lists an NVIDIA runtime (`null` without docker or when its daemon
    /// did not answer).
    pub docker_nvidia: Option<bool>,
    /// Whether an `rsync` command exists.
    pub rsync: Option<bool>,
    /// `PRETTY_NAME` from /etc/os-release.
    pub os: Option<String>,
    /// `uname -m`.
    pub arch: Option<String>,
    /// The facts that could not be read, with reasons.
    pub unreadable: Vec<Unreadable>,
}

impl Facts {
    /// The reason `fact` could not be read, if it could not.
    pub fn unreadable(&self, fact: &str) -> Option<&str> {
        self.unreadable
            .iter()
            .find(|u| u.fact == fact)
            .map(|u| u.message.as_str())
    }
}

/// Probe a box over ssh (`Some`) or this machine (`None`): one round trip, then parse.
/// Fails only when the script could not run at all (no connection, a timeout); a fact the
/// box would not give is `null` in the result with its reason.
pub fn probe(target: Option<&Ssh>) -> Result<Facts> {
    let proc = match target {
        Some(ssh) => ssh.command(SCRIPT),
        None => Proc::new("bash").args(["-c", SCRIPT]),
    };
    let where_ = match target {
        Some(ssh) => ssh.destination(),
        None => "this machine".to_string(),
    };
    let proc = proc.timeout(Some(PROBE_TIMEOUT));
    // The probe changes nothing on the box: a connection that did not open is tried again.
    let f = match target {
        Some(_) => crate::ssh::retry::retry(
            &crate::ssh::tool(),
            &where_,
            || proc.run(),
            crate::ssh::retry::connect_failure,
        ),
        None => proc.run(),
    }
    .with_context(|| format!("probing {where_}"))?;
    f.check_interrupted()?;
    if f.timed_out {
        return Err(CliError::new(
            Exit::Failed,
            format!(
                "probing {where_}: no answer within {}s",
                PROBE_TIMEOUT.as_secs()
            ),
        ));
    }
    if !f.status.success() {
        let tail = f.tail(5);
        return Err(CliError::new(
            Exit::Failed,
            format!(
                "probing {where_}: `{}` exited with {}{}{}",
                if target.is_some() { "ssh" } else { "bash" },
                f.status.code(),
                if tail.is_empty() { "" } else { ": " },
                tail
            ),
        ));
    }
    Ok(facts_from_output(&f.stdout_str()))
}

/// Turn the probe script's output into facts.
pub fn facts_from_output(out: &str) -> Facts {
    let secs = parse::sections(out);
    let mut r = Reader {
        secs: &secs,
        unreadable: Vec::new(),
    };
    let cpus = r.read("cpus", "the number of CPUs", "cpus", parse::nproc);
    let memory_gb = r.read(
        "memory_gb",
        "total memory",
        "meminfo",
        parse::meminfo_total_gb,
    );
    let disk = r.read("disk_free_gb", "free disk in $HOME", "disk", |s| {
        parse::df("df -Pk $HOME", s)
    });
    if disk.is_none() {
        let why = r.unreadable.last().map(|u| u.message.clone());
        r.unreadable.push(Unreadable {
            fact: "disk_total_gb".into(),
            message: why.unwrap_or_default().replacen(
                "free disk in $HOME",
                "the size of the disk holding $HOME",
                1,
            ),
        });
    }
    let shm = r.read("shm_free_gb", "free /dev/shm", "shm", |s| {
        parse::df("df -Pk /dev/shm", s)
    });
    let (gpus, gpu_count, gpu_reason) = r.gpus();
    let docker = r.read("docker", "whether docker is installed", "docker", |s| {
        parse::command_exists("docker", s)
    });
    let docker_nvidia = match docker {
        Some(true) => r.read(
            "docker_nvidia",
            "docker's runtimes",
            "docker_runtimes",
            parse::docker_nvidia,
        ),
        _ => None,
    };
    // A docker CLI whose engine does not answer `docker info` cannot run a job: usable
    // docker means both (the reason is already in `unreadable` under docker_nvidia).
    let docker = match (docker, docker_nvidia) {
        (Some(true), None) => Some(false),
        (d, _) => d,
    };
    let rsync = r.read("rsync", "whether rsync is installed", "rsync", |s| {
        parse::command_exists("rsync", s)
    });
    let os = r.read("os", "the OS name", "os", parse::os_name);
    let arch = r.read("arch", "the CPU architecture", "arch", parse::arch);
    Facts {
        cpus,
        memory_gb,
        disk_free_gb: disk.map(|d| d.free_gb),
        disk_total_gb: disk.map(|d| d.total_gb),
        shm_free_gb: shm.map(|d| d.free_gb),
        gpus,
        gpu_count,
        gpu_reason,
        docker,
        docker_nvidia,
        rsync,
        os,
        arch,
        unreadable: r.unreadable,
    }
}

/// Reads facts from sections, noting each one that could not be read.
struct Reader<'a> {
    secs: &'a BTreeMap<String, Section>,
    unreadable: Vec<Unreadable>,
}

impl Reader<'_> {
    fn read<T>(
        &mut self,
        fact: &str,
        label: &str,
        section: &str,
        parse: impl Fn(&Section) -> Result<T, String>,
    ) -> Option<T> {
        let res = match self.secs.get(section) {
            Some(s) => parse(s),
            None => Err(NO_SECTION.to_string()),
        };
        res.map_err(|why| self.note(fact, format!("could not read {label}: {why}")))
            .ok()
    }

    fn note(&mut self, fact: &str, message: String) {
        self.unreadable.push(Unreadable {
            fact: fact.to_string(),
            message,
        });
    }

    /// No nvidia-smi, or one that fails, is zero GPUs with its reason; output that cannot
    /// be understood leaves the count unknown.
    fn gpus(&mut self) -> (Vec<Gpu>, Option<u32>, Option<String>) {
        let list = match self.secs.get("gpu").map(parse::nvidia_smi) {
            Some(SmiGpus::Listed(list)) => list,
            Some(SmiGpus::None(why)) => return (Vec::new(), Some(0), Some(why)),
            Some(SmiGpus::Unreadable(why)) => {
                self.note("gpus", format!("could not read the GPUs: {why}"));
                return (Vec::new(), None, None);
            }
            None => {
                self.note("gpus", format!("could not read the GPUs: {NO_SECTION}"));
                return (Vec::new(), None, None);
            }
        };
        let mig = self
            .secs
            .get("gpu_list")
            .filter(|s| s.rc == Some(0))
            .map(|s| parse::mig_slices(&s.body))
            .unwrap_or_default();
        let mut gpus = Vec::new();
        for (i, g) in list.into_iter().enumerate() {
            if let Err(why) = &g.memory_gb {
                let msg = format!("could not read the memory of GPU {i} ({}): {why}", g.name);
                self.note("gpu_memory_gb", msg);
            }
            gpus.push(Gpu {
                name: g.name,
                memory_gb: g.memory_gb.ok(),
                mig: mig.get(&i).cloned().unwrap_or_default(),
            });
        }
        let n = gpus.len() as u32;
        (gpus, Some(n), None)
    }
}

const NO_SECTION: &str = "the probe script printed nothing for it (cut short?)";

/// The facts as `key → value` strings, for `--table`.
pub fn fact_rows(f: &Facts) -> Vec<(&'static str, String)> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    let gb = |v: Option<f64>| opt(v.map(|g| format!("{g} GB")));
    let yes = |v: Option<bool>| opt(v.map(|b| if b { "yes" } else { "no" }.to_string()));
    let gpus = if f.gpus.is_empty() {
        match (&f.gpu_count, &f.gpu_reason) {
            (Some(_), Some(r)) => format!("none ({r})"),
            (Some(_), None) => "none".into(),
            (None, _) => "?".into(),
        }
    } else {
        f.gpus
            .iter()
            .map(|g| {
                let mut s = format!("{} ({})", g.name, gb(g.memory_gb));
                if !g.mig.is_empty() {
                    s.push_str(&format!(" MIG {}", g.mig.join(",")));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    vec![
        ("cpus", opt(f.cpus.map(|c| c.to_string()))),
        ("memory", gb(f.memory_gb)),
        ("disk free", gb(f.disk_free_gb)),
        ("disk total", gb(f.disk_total_gb)),
        ("shm free", gb(f.shm_free_gb)),
        ("gpus", gpus),
        ("docker", yes(f.docker)),
        ("docker nvidia", yes(f.docker_nvidia)),
        ("rsync", yes(f.rsync)),
        ("os", opt(f.os.clone())),
        ("arch", opt(f.arch.clone())),
    ]
}

/// What a probe found: where, the facts, the findings, and whether the run may start
/// (printed as the `probe` record, see [`Report::record`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The `--host` as given; `null` for this machine (`--local`).
    pub host: Option<String>,
    /// What the box has.
    pub facts: Facts,
    /// What differs from what was wanted.
    pub findings: Vec<Finding>,
    /// `false` when any finding is a failure.
    pub ok: bool,
}

impl Report {
    /// The `probe` record to print (the wire type lives in `runplz-protocol`).
    pub fn record(&self) -> wire::ProbeRecord {
        let f = &self.facts;
        wire::ProbeRecord {
            host: self.host.clone(),
            facts: wire::Facts {
                cpus: f.cpus,
                memory_gb: f.memory_gb,
                disk_free_gb: f.disk_free_gb,
                disk_total_gb: f.disk_total_gb,
                shm_free_gb: f.shm_free_gb,
                gpus: f
                    .gpus
                    .iter()
                    .map(|g| wire::Gpu {
                        name: g.name.clone(),
                        memory_gb: g.memory_gb,
                        mig: g.mig.clone(),
                    })
                    .collect(),
                gpu_count: f.gpu_count,
                gpu_reason: f.gpu_reason.clone(),
                docker: f.docker,
                docker_nvidia: f.docker_nvidia,
                rsync: f.rsync,
                os: f.os.clone(),
                arch: f.arch.clone(),
                unreadable: f
                    .unreadable
                    .iter()
                    .map(|u| wire::Unreadable {
                        fact: u.fact.clone(),
                        message: u.message.clone(),
                    })
                    .collect(),
            },
            findings: self
                .findings
                .iter()
                .map(|x| wire::Finding {
                    level: match x.level {
                        Level::Warning => wire::Level::Warning,
                        Level::Failure => wire::Level::Failure,
                    },
                    check: x.check.clone(),
                    wanted: x.wanted.clone(),
                    found: x.found.clone(),
                    message: x.message.clone(),
                })
                .collect(),
            ok: self.ok,
        }
    }

    /// Check `facts` against `wanted`.
    pub fn new(host: Option<String>, facts: Facts, wanted: &Wanted) -> Report {
        let mut findings = findings(&facts, wanted);
        if host.is_none() {
            local_gpus(&mut findings, &facts, wanted);
        }
        let ok = !findings.iter().any(|f| f.level == Level::Failure);
        Report {
            host,
            facts,
            findings,
            ok,
        }
    }

    /// A table for people: the facts, then the findings.
    pub fn table(&self) -> String {
        let mut rows = vec![vec!["FACT".to_string(), "VALUE".to_string()]];
        rows.extend(
            fact_rows(&self.facts)
                .into_iter()
                .map(|(k, v)| vec![k.to_string(), v]),
        );
        let mut text = crate::out::table(&rows);
        text.push('\n');
        if self.findings.is_empty() {
            text.push_str("no findings\n");
        } else {
            let mut rows = vec![vec!["LEVEL".into(), "CHECK".into(), "MESSAGE".into()]];
            rows.extend(self.findings.iter().map(|f| {
                let level = match f.level {
                    Level::Warning => "warning",
                    Level::Failure => "FAILURE",
                };
                vec![level.to_string(), f.check.clone(), f.message.clone()]
            }));
            text.push_str(&crate::out::table(&rows));
        }
        text
    }
}

/// On this machine (`--local`) a job gets exactly this machine's GPUs: fewer than it needs
/// dooms it, so that finding is a failure here (on a box it stays a warning, as elsewhere).
fn local_gpus(findings: &mut [Finding], facts: &Facts, wanted: &Wanted) {
    let (Some(need), Some(have)) = (wanted.gpus_needed(), facts.gpu_count) else {
        return;
    };
    if have >= need {
        return;
    }
    for f in findings
        .iter_mut()
        .filter(|f| f.check == "gpu" || f.check == "num_gpus")
    {
        f.level = Level::Failure;
        f.message = format!(
            "{}: this machine has {have} GPU(s) and a local run gets only its own; run it on a box that has them (runplz ssh --host BOX), or drop the GPU from the job's resources",
            f.message
        );
    }
}
