//! Parsers for what the probe script prints: its section markers, and the raw outputs of
//! `nproc`, `/proc/meminfo`, `df -Pk`, `nvidia-smi` (csv query and `-L`), `docker info` and
//! `/etc/os-release`. Each parser takes the text as captured and returns the value or the
//! reason it could not be read; none of them guesses. Unit-tested on captured outputs in
//! `tests/fixtures/probe/`.

use std::collections::BTreeMap;

/// Bytes in a GiB: sizes are reported in GiB, as `/proc/meminfo`, `df -k` and nvidia-smi
/// count them (2^10 multiples).
const KIB_PER_GIB: f64 = 1024.0 * 1024.0;

/// The start of a section line in the script's output: `@@rp-probe begin NAME@@`.
pub const BEGIN: &str = "@@rp-probe begin ";
/// The end of a section line: `@@rp-probe end NAME RC@@`.
pub const END: &str = "@@rp-probe end ";

/// One section of the script's output: the command's merged stdout and stderr, and its
/// exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// What the command printed (stdout and stderr), without the marker lines.
    pub body: String,
    /// The command's exit status; `None` when the end marker is missing (output cut short).
    pub rc: Option<i32>,
}

/// Split the script's output into named sections. Text outside sections (a login banner,
/// a noisy shell rc file) is ignored.
pub fn sections(out: &str) -> BTreeMap<String, Section> {
    let mut map = BTreeMap::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix(BEGIN).and_then(|r| r.strip_suffix("@@")) {
            if let Some((n, body)) = current.take() {
                map.insert(n, unfinished(&body));
            }
            current = Some((name.to_string(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix(END).and_then(|r| r.strip_suffix("@@")) {
            let (name, rc) = rest.rsplit_once(' ').unwrap_or((rest, ""));
            match current.take() {
                Some((n, mut body)) if n == name => {
                    // The script prints a newline before the end marker so that it always
                    // starts a line; drop the empty line that makes.
                    if body.last() == Some(&"") {
                        body.pop();
                    }
                    map.insert(
                        n,
                        Section {
                            body: body.join("\n"),
                            rc: rc.parse().ok(),
                        },
                    );
                }
                other => current = other,
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push(line);
        }
    }
    if let Some((n, body)) = current {
        map.insert(n, unfinished(&body));
    }
    map
}

fn unfinished(body: &[&str]) -> Section {
    Section {
        body: body.join("\n"),
        rc: None,
    }
}

/// Round to two decimals, so records and messages stay readable.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The first non-empty line of a command's output, trimmed, for reasons.
pub fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// The last non-empty line of a command's output, trimmed: where errors usually are.
pub fn last_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// Why a section failed: its exit status and last line of output.
pub fn failure(what: &str, s: &Section) -> String {
    let line = last_line(&s.body);
    match (s.rc, line.is_empty()) {
        (None, _) => format!("{what}: output cut short"),
        (Some(124), _) => format!("{what}: did not answer in time"),
        (Some(rc), true) => format!("{what} exited with {rc} and printed nothing"),
        (Some(rc), false) => format!("{what} exited with {rc}: {line}"),
    }
}

/// `nproc`: one positive integer.
pub fn nproc(s: &Section) -> Result<u32, String> {
    if s.rc != Some(0) {
        return Err(failure("nproc", s));
    }
    let t = s.body.trim();
    match t.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("nproc printed {t:?}, expected a positive number")),
    }
}

/// `/proc/meminfo`: the `MemTotal:  N kB` line, in GiB.
pub fn meminfo_total_gb(s: &Section) -> Result<f64, String> {
    if s.rc != Some(0) {
        return Err(failure("reading /proc/meminfo", s));
    }
    let line = s
        .body
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .ok_or("no MemTotal line in /proc/meminfo")?;
    let mut it = line["MemTotal:".len()..].split_whitespace();
    let (n, unit) = (it.next(), it.next());
    match (n.and_then(|n| n.parse::<u64>().ok()), unit) {
        (Some(kb), Some("kB")) => Ok(round2(kb as f64 / KIB_PER_GIB)),
        _ => Err(format!(
            "unexpected MemTotal line {:?}, expected \"MemTotal: N kB\"",
            line.trim()
        )),
    }
}

/// One file system as `df -Pk` reports it, in GiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Df {
    /// The file system's size.
    pub total_gb: f64,
    /// Space available to an unprivileged user.
    pub free_gb: f64,
}

/// `df -Pk PATH`: the header and one line. The file system name and the mount point may
/// contain spaces, so the numbers are found from the capacity column (`N%`).
pub fn df(what: &str, s: &Section) -> Result<Df, String> {
    if s.rc != Some(0) {
        return Err(failure(what, s));
    }
    let line = s
        .body
        .lines()
        .rfind(|l| !l.trim().is_empty() && !l.starts_with("Filesystem"))
        .ok_or_else(|| format!("{what} printed no file system line"))?;
    let toks: Vec<&str> = line.split_whitespace().collect();
    let cap = toks
        .iter()
        .position(|t| *t == "-" || t.strip_suffix('%').is_some_and(is_digits))
        .filter(|&i| i >= 3)
        .ok_or_else(|| format!("unexpected df line {line:?}, expected POSIX columns"))?;
    let num = |t: &str| t.parse::<u64>().ok();
    match (num(toks[cap - 3]), num(toks[cap - 1])) {
        (Some(total), Some(avail)) => Ok(Df {
            total_gb: round2(total as f64 / KIB_PER_GIB),
            free_gb: round2(avail as f64 / KIB_PER_GIB),
        }),
        _ => Err(format!(
            "unexpected df line {line:?}, expected 1024-blocks and Available numbers"
        )),
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// One GPU as `nvidia-smi --query-gpu=name,memory.total` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SmiGpu {
    /// The model name, e.g. `NVIDIA A100-SXM4-80GB`.
    pub name: String,
    /// Memory in GiB, or why it is missing (`[N/A]`, `[Insufficient Permissions]`).
    pub memory_gb: Result<f64, String>,
}

/// What the GPU query said.
#[derive(Debug, Clone, PartialEq)]
pub enum SmiGpus {
    /// The GPUs it listed (at least one).
    Listed(Vec<SmiGpu>),
    /// No usable GPU, and why (no nvidia-smi, no devices, a broken driver).
    None(String),
    /// Output that could not be understood: the GPU count is unknown.
    Unreadable(String),
}

/// `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`, with the
/// exit status (127: not installed). A missing or failing nvidia-smi means no usable GPU,
/// with its own words as the reason; fields in brackets (`[N/A]`, `[Insufficient
/// Permissions]`, as MIG slices in containers print) are unreadable values, not zeros.
pub fn nvidia_smi(s: &Section) -> SmiGpus {
    let line = first_line(&s.body);
    match s.rc {
        None => return SmiGpus::Unreadable(failure("nvidia-smi", s)),
        Some(127) => return SmiGpus::None("nvidia-smi not found: no NVIDIA driver".into()),
        Some(124) => return SmiGpus::None("nvidia-smi did not answer within 20 s".into()),
        Some(0) => {}
        Some(rc) if line.is_empty() => {
            return SmiGpus::None(format!("nvidia-smi exited with {rc}"));
        }
        Some(rc) => return SmiGpus::None(format!("nvidia-smi exited with {rc}: {line}")),
    }
    if line.starts_with("No devices were found") {
        return SmiGpus::None(format!("nvidia-smi: {line}"));
    }
    let mut gpus = Vec::new();
    for l in s.body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((name, mem)) = l.rsplit_once(',') else {
            return SmiGpus::Unreadable(format!(
                "unexpected nvidia-smi line {l:?}, expected \"name, memory.total\""
            ));
        };
        let (name, mem) = (name.trim(), mem.trim());
        if name.is_empty() || name.contains(',') {
            return SmiGpus::Unreadable(format!(
                "unexpected nvidia-smi line {l:?}, expected \"name, memory.total\""
            ));
        }
        let mib = mem.strip_suffix("MiB").unwrap_or(mem).trim();
        let memory_gb = match mib.parse::<f64>() {
            Ok(m) if m.is_finite() && m >= 0.0 => Ok(round2(m / 1024.0)),
            _ => Err(format!("nvidia-smi reports memory.total as {mem}")),
        };
        gpus.push(SmiGpu {
            name: name.to_string(),
            memory_gb,
        });
    }
    if gpus.is_empty() {
        SmiGpus::None("nvidia-smi listed no GPU".into())
    } else {
        SmiGpus::Listed(gpus)
    }
}

/// `nvidia-smi -L`: the MIG slices under each GPU, by GPU index, as profile names
/// (`1g.10gb`, `3g.40gb`...). GPUs without MIG are absent from the map.
pub fn mig_slices(text: &str) -> BTreeMap<usize, Vec<String>> {
    let mut map: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut gpu: Option<usize> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("GPU ") {
            gpu = rest.split(':').next().and_then(|n| n.trim().parse().ok());
        } else if let (Some(rest), Some(g)) = (t.strip_prefix("MIG "), gpu) {
            if let Some(profile) = rest.split_whitespace().next() {
                map.entry(g).or_default().push(profile.to_string());
            }
        }
    }
    map
}

/// The memory of a MIG profile name in GB: `3g.40gb` → 40, `1g.10gb+me` → 10.
pub fn mig_profile_gb(profile: &str) -> Option<f64> {
    let mem = profile.split('.').nth(1)?;
    let mem = mem.split('+').next()?;
    mem.strip_suffix("gb")?.parse().ok()
}

/// `docker info --format '{{json .Runtimes}}'`: whether any runtime is NVIDIA's.
pub fn docker_nvidia(s: &Section) -> Result<bool, String> {
    if s.rc != Some(0) {
        return Err(failure("docker info", s));
    }
    let json = s
        .body
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let v: serde_json::Value =
        json.and_then(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| {
                format!(
                    "docker info printed {:?}, expected a JSON object of runtimes",
                    first_line(&s.body)
                )
            })?;
    let map = v
        .as_object()
        .ok_or("docker info's runtimes are not a JSON object")?;
    Ok(map
        .keys()
        .any(|k| k.to_ascii_lowercase().contains("nvidia")))
}

/// `command -v PROGRAM`: found (exit 0 with a path) or not (exit 1, nothing printed).
pub fn command_exists(what: &str, s: &Section) -> Result<bool, String> {
    match s.rc {
        Some(0) if !s.body.trim().is_empty() => Ok(true),
        Some(1) | Some(127) if s.body.trim().is_empty() => Ok(false),
        _ => Err(failure(&format!("looking for {what}"), s)),
    }
}

/// `PRETTY_NAME=...` from /etc/os-release, unquoted.
pub fn os_name(s: &Section) -> Result<String, String> {
    if s.rc != Some(0) {
        return Err(failure("reading /etc/os-release", s));
    }
    let v = first_line(&s.body);
    let v = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(&v);
    if v.is_empty() {
        Err("no PRETTY_NAME in /etc/os-release".into())
    } else {
        Ok(v.to_string())
    }
}

/// `uname -m`.
pub fn arch(s: &Section) -> Result<String, String> {
    if s.rc != Some(0) {
        return Err(failure("uname -m", s));
    }
    let v = first_line(&s.body);
    if v.is_empty() || v.contains(char::is_whitespace) {
        Err(format!("uname -m printed {v:?}, expected one word"))
    } else {
        Ok(v)
    }
}
