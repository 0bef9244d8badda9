//! `runplz <backend> JOB --sweep FILE`: one run per arg set, each a `runplz` child with its
//! own run id and outputs folder, at most `--parallel` at once. A failed member does not
//! stop the others; Ctrl-C (or TERM) reaches every running member, which cleans up as a
//! single run does, and no new member starts. One `sweep_run` record per member as it ends,
//! then one `sweep` summary.

#[cfg(test)]
mod tests;

use crate::error::CliError;
use crate::out;
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use serde::Serialize;
use serde_json::Value;
use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const TOOL: &str = "runplz";
/// More members than this is surely a mistake in the grid.
pub const MAX_MEMBERS: usize = 10_000;

/// One member's args, in the file's order.
pub type ArgSet = Vec<(String, String)>;

/// Read a sweep file: a JSON object of name → non-empty list of values (the cross product,
/// the first name varying slowest), or JSON Lines of objects name → value (one set a line).
/// Values are strings, numbers or booleans.
pub fn load(path: &Path) -> Result<Vec<ArgSet>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("--sweep {}: {e}", path.display())))?;
    parse(&text).map_err(|m| CliError::usage(format!("--sweep {}: {m}", path.display())))
}

/// [`load`] on the text.
pub fn parse(text: &str) -> std::result::Result<Vec<ArgSet>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("the file is empty, expected a JSON object of name -> list of values, or JSON Lines of arg sets".into());
    }
    // A grid: the whole file is one object whose values are all lists.
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(trimmed) {
        if map.values().all(Value::is_array) {
            return grid(&map);
        }
        if trimmed.lines().filter(|l| !l.trim().is_empty()).count() > 1 {
            return Err("found one JSON object spread over several lines whose values are not all lists: a grid maps each name to a list of values; JSON Lines puts one arg set on each line".into());
        }
    }
    let mut sets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            format!(
                "line {}: {e}, expected one JSON object of name -> value",
                i + 1
            )
        })?;
        let Value::Object(map) = v else {
            return Err(format!(
                "line {}: found {}, expected a JSON object of name -> value",
                i + 1,
                kind(&v)
            ));
        };
        let mut set = Vec::new();
        for (k, v) in &map {
            check_name(k).map_err(|m| format!("line {}: {m}", i + 1))?;
            set.push((
                k.clone(),
                scalar(v).map_err(|m| format!("line {}: .{k}: {m}", i + 1))?,
            ));
        }
        sets.push(set);
    }
    if sets.len() > MAX_MEMBERS {
        return Err(format!(
            "found {} arg sets, expected at most {MAX_MEMBERS}",
            sets.len()
        ));
    }
    Ok(sets)
}

fn grid(map: &serde_json::Map<String, Value>) -> std::result::Result<Vec<ArgSet>, String> {
    if map.is_empty() {
        return Err("found an empty object, expected at least one name -> list of values".into());
    }
    let mut sets: Vec<ArgSet> = vec![Vec::new()];
    for (k, v) in map {
        check_name(k)?;
        let vals = v.as_array().map(Vec::as_slice).unwrap_or_default();
        if vals.is_empty() {
            return Err(format!(
                ".{k}: found an empty list, expected at least one value"
            ));
        }
        let vals: Vec<String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| scalar(v).map_err(|m| format!(".{k}[{i}]: {m}")))
            .collect::<std::result::Result<_, _>>()?;
        if sets.len().saturating_mul(vals.len()) > MAX_MEMBERS {
            return Err(format!("the grid has over {MAX_MEMBERS} arg sets"));
        }
        sets = sets
            .into_iter()
            .flat_map(|s| {
                vals.iter().map(move |v| {
                    let mut s = s.clone();
                    s.push((k.clone(), v.clone()));
                    s
                })
            })
            .collect();
    }
    Ok(sets)
}

fn check_name(k: &str) -> std::result::Result<(), String> {
    let ok = !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "found the name {k:?}, expected a placeholder name (letters, digits, `_`)"
        ))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn scalar(v: &Value) -> std::result::Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "found {}, expected a string, number or boolean",
            kind(other)
        )),
    }
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The runplz binary.
    pub exe: PathBuf,
    /// runplz's own arguments with the sweep flags and `--outputs-dir` taken out.
    pub args: Vec<OsString>,
    /// Where each member's outputs folder goes (one sub-folder per member).
    pub outputs: PathBuf,
    /// The arg sets.
    pub sets: Vec<ArgSet>,
    /// At most this many at once.
    pub parallel: usize,
    /// A table for people instead of JSON records.
    pub table: bool,
    /// Run the members as one Slurm job array (one `runplz slurm` for all of them).
    pub slurm_array: bool,
}

/// One member's record.
#[derive(Debug, Serialize)]
pub struct Member {
    /// Its place in the sweep, from 0.
    pub index: usize,
    /// Its args.
    pub args: serde_json::Map<String, Value>,
    /// Its outputs folder.
    pub outputs_dir: String,
    /// runplz's exit code for it (null: it never started, the sweep was stopped first).
    pub exit_code: Option<i32>,
    /// Its run record, when it printed one.
    pub run: Option<Value>,
}

/// The sweep's summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The sweep's id (the members' outputs folders are `<outputs>/<id>-<index>`).
    pub sweep_id: String,
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    /// Members that never started (Ctrl-C stopped the sweep first).
    pub not_started: usize,
    pub duration_seconds: f64,
}

/// The member's argv: `args` with `--json`, `--outputs-dir` and the set as `--NAME=VALUE` after `--`
/// (which beats `--var` and the job's `args`).
pub fn member_args(base: &[OsString], outputs: &Path, set: &ArgSet) -> Vec<OsString> {
    let (mut a, tail): (Vec<OsString>, Vec<OsString>) = match base.iter().position(|w| w == "--") {
        Some(i) => (base[..i].to_vec(), base[i + 1..].to_vec()),
        None => (base.to_vec(), Vec::new()),
    };
    // A member's stdout is its run record; its job's stdout goes to its stderr.
    if !a.iter().any(|w| w == "--json") {
        a.push("--json".into());
    }
    a.push("--outputs-dir".into());
    a.push(outputs.into());
    a.push("--".into());
    a.extend(tail);
    for (k, v) in set {
        a.push(format!("--{k}={v}").into());
    }
    a
}

/// Run the sweep; Ok(0-exit) when every member passed.
pub fn run(o: &SweepOptions) -> Result<Exit> {
    crate::process::install_signal_handlers();
    let t0 = Instant::now();
    let sweep_id = crate::exec::new_run_id("sweep");
    let n = o.sets.len();
    out::note(
        TOOL,
        format!(
            "sweep {sweep_id}: {n} runs, at most {} at once",
            o.parallel.max(1)
        ),
    );
    let mut next = 0usize;
    let mut running: Vec<(usize, Child, std::thread::JoinHandle<Vec<u8>>)> = Vec::new();
    let mut members: Vec<Option<Member>> = (0..n).map(|_| None).collect();
    let mut stop: Option<i32> = None;
    let mut table = Vec::new();
    // The array file lives as long as the one run that reads it.
    let mut array_file = None;
    if o.slurm_array {
        let (child, reader, file) = spawn_array(o, &sweep_id)?;
        array_file = Some(file);
        running.push((usize::MAX, child, reader));
        next = n;
    }
    loop {
        if stop.is_none() {
            if let Some(sig) = crate::process::take_pending_signal() {
                stop = Some(sig);
                out::note(
                    TOOL,
                    format!(
                        "sweep: signal {sig}: stopping {} running member(s), starting no more",
                        running.len()
                    ),
                );
                for (_, c, _) in &running {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(c.id() as i32),
                        nix::sys::signal::Signal::try_from(sig)
                            .unwrap_or(nix::sys::signal::Signal::SIGTERM),
                    );
                }
            }
        }
        while stop.is_none() && running.len() < o.parallel.max(1) && next < n {
            let dir = o.outputs.join(format!("{sweep_id}-{next}"));
            let child = spawn(o, next, &dir)?;
            running.push((next, child.0, child.1));
            next += 1;
        }
        if running.is_empty() {
            break;
        }
        let mut i = 0;
        while i < running.len() {
            if let Some(status) = running[i]
                .1
                .try_wait()
                .context("waiting for a sweep member")?
            {
                let (idx, _, reader) = running.swap_remove(i);
                let stdout = reader.join().unwrap_or_default();
                let ms = if idx == usize::MAX {
                    array_members(o, &sweep_id, status_code(status), &stdout)
                } else {
                    vec![member(o, &sweep_id, idx, status_code(status), &stdout)]
                };
                for m in ms {
                    if o.table {
                        table.push(row(&m));
                    } else {
                        out::print_record("sweep_run", &m)?;
                    }
                    let idx = m.index;
                    members[idx] = Some(m);
                }
            } else {
                i += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(array_file);
    let done: Vec<&Member> = members.iter().flatten().collect();
    let passed = done.iter().filter(|m| m.exit_code == Some(0)).count();
    let summary = Summary {
        sweep_id: sweep_id.clone(),
        total: n,
        passed,
        failed: done.len() - passed,
        not_started: n - done.len(),
        duration_seconds: crate::run::round(t0.elapsed().as_secs_f64()),
    };
    if o.table {
        table.sort();
        let mut rows = vec![["INDEX", "EXIT", "RUN ID", "ARGS", "OUTPUTS"]
            .map(String::from)
            .to_vec()];
        rows.extend(table.into_iter().map(|(_, r)| r));
        let text = format!(
            "{}\n{} of {} passed, {} failed, {} not started ({:.1}s)",
            out::table(&rows),
            summary.passed,
            summary.total,
            summary.failed,
            summary.not_started,
            summary.duration_seconds
        );
        out::print_raw(&text)?;
    } else {
        out::print_record("sweep", &summary)?;
    }
    Ok(match stop {
        Some(sig) => Exit::Signal(u8::try_from(sig).unwrap_or(0)),
        None if passed == n => Exit::Ok,
        None => Exit::Failed,
    })
}

fn status_code(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// Start member `idx`: stdout (its record) read on a thread, stderr passed on line by line
/// with a `[idx]` prefix.
fn spawn(
    o: &SweepOptions,
    idx: usize,
    dir: &Path,
) -> Result<(Child, std::thread::JoinHandle<Vec<u8>>)> {
    let mut c = std::process::Command::new(&o.exe)
        .args(member_args(&o.args, dir, &o.sets[idx]))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", o.exe.display()))?;
    let mut so = c.stdout.take().expect("piped");
    let se = c.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut b);
        b
    });
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(se)
            .split(b'\n')
            .map_while(|l| l.ok())
        {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "[{idx}] ");
            let _ = e.write_all(&line);
            let _ = e.write_all(b"\n");
        }
    });
    Ok((c, reader))
}

/// Start the one `runplz slurm` that runs every member as a job array: the sets in a
/// private file it reads, its stderr passed on as is (it tags each member's lines).
fn spawn_array(
    o: &SweepOptions,
    sweep_id: &str,
) -> Result<(
    Child,
    std::thread::JoinHandle<Vec<u8>>,
    tempfile::NamedTempFile,
)> {
    let file = tempfile::Builder::new()
        .prefix("runplz-sweep-")
        .suffix(".json")
        .tempfile()
        .context("writing the sweep's arg sets")?;
    serde_json::to_writer(
        file.as_file(),
        &crate::slurm::array::ArrayFile {
            sweep_id: sweep_id.to_string(),
            parallel: o.parallel.max(1),
            sets: o.sets.clone(),
        },
    )?;
    let mut args = member_args(&o.args, &o.outputs, &Vec::new());
    let dash = args.iter().position(|w| w == "--").unwrap_or(args.len());
    args.insert(dash, file.path().into());
    args.insert(dash, "--slurm-array".into());
    let mut c = std::process::Command::new(&o.exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", o.exe.display()))?;
    let mut so = c.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut b);
        b
    });
    Ok((c, reader, file))
}

/// The members of a job array from its run's records (member i's run id is
/// `<sweep id>-<i>`); a member with no record of its own (the array never ran) gets the
/// run's exit code and record.
fn array_members(o: &SweepOptions, sweep_id: &str, code: i32, stdout: &[u8]) -> Vec<Member> {
    let records: Vec<Value> = String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("type").and_then(Value::as_str) == Some("run"))
        .collect();
    let whole = records.last().cloned();
    (0..o.sets.len())
        .map(|i| {
            let id = format!("{sweep_id}-{i}");
            let own = records
                .iter()
                .find(|r| r.get("run_id").and_then(Value::as_str) == Some(id.as_str()));
            let mut m = member(o, sweep_id, i, code, b"");
            match own.and_then(|r| {
                let rec: runplz_protocol::RunRecord = serde_json::from_value(r.clone()).ok()?;
                Some((r.clone(), crate::run::exit_for(rec.ending, rec.exit_code)))
            }) {
                Some((r, exit)) => {
                    m.exit_code = Some(i32::from(exit.code()));
                    m.run = Some(r);
                }
                None => m.run = whole.clone(),
            }
            m
        })
        .collect()
}

fn member(o: &SweepOptions, sweep_id: &str, idx: usize, code: i32, stdout: &[u8]) -> Member {
    // The member's record is its last JSON line of type "run" (job output may come first).
    let run = String::from_utf8_lossy(stdout)
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("type").and_then(Value::as_str) == Some("run"));
    Member {
        index: idx,
        args: o.sets[idx]
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
        outputs_dir: o
            .outputs
            .join(format!("{sweep_id}-{idx}"))
            .display()
            .to_string(),
        exit_code: Some(code),
        run,
    }
}

/// Text safe for a terminal: control characters escaped.
fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn row(m: &Member) -> (usize, Vec<String>) {
    let run_id = m
        .run
        .as_ref()
        .and_then(|r| r.get("run_id"))
        .and_then(Value::as_str)
        .unwrap_or("-");
    let args: Vec<String> = m
        .args
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    let line = vec![
        m.index.to_string(),
        m.exit_code.map(|c| c.to_string()).unwrap_or("-".into()),
        clean(run_id),
        clean(&args.join(" ")),
        clean(&m.outputs_dir),
    ];
    (m.index, line)
}
