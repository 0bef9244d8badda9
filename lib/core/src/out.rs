//! stdout carries data, stderr carries people's messages. Every tool prints its record with
//! [`print_record`] (a broken pipe is a normal way to finish) and talks with [`note`] and
//! [`warn`]. Tools end through [`finish`], which prints `tool: error` and maps it to a code.

use crate::error::exit_of;
use runplz_protocol::{Exit, Record};
use serde::Serialize;
use std::io::{self, Write};
use std::process::ExitCode;

/// Print one tagged record as a line of JSON on stdout. A closed pipe is not an error.
pub fn print_record<T: Serialize>(kind: &str, data: &T) -> io::Result<()> {
    let line = serde_json::to_string(&Record::new(kind, data)).map_err(io::Error::other)?;
    print_raw(&line)
}

/// Print text on stdout (a rendered Dockerfile, a table, a script) as is, plus a newline
/// when it has none. A closed pipe is not an error.
pub fn print_raw(text: &str) -> io::Result<()> {
    let stdout = io::stdout();
    let mut lock = stdout.lock();
    let res = lock
        .write_all(text.as_bytes())
        .and_then(|_| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                lock.write_all(b"\n")
            }
        })
        .and_then(|_| lock.flush());
    match res {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A progress line for people, on stderr (none with `--quiet`).
pub fn note(tool: &str, msg: impl std::fmt::Display) {
    if !crate::progress::quiet() {
        crate::progress::line(&format!("{tool}: {msg}"));
    }
}

/// A warning for people, on stderr (yellow on a terminal, unless `NO_COLOR`).
pub fn warn(tool: &str, msg: impl std::fmt::Display) {
    let word = if crate::progress::color() {
        "\x1b[33mwarning\x1b[0m"
    } else {
        "warning"
    };
    crate::progress::line(&format!("{tool}: {word}: {msg}"));
}

/// End a tool: map the result of its `run` to an exit code, printing any error on stderr.
/// Errors without a [`crate::CliError`] inside become `fallback`.
pub fn finish(tool: &str, res: anyhow::Result<Exit>, fallback: Exit) -> ExitCode {
    match res {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            if let Some(io) = err.downcast_ref::<io::Error>() {
                if io.kind() == io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            crate::progress::line(&format!("{tool}: {err:#}"));
            ExitCode::from(exit_of(&err, fallback).code())
        }
    }
}

/// Render rows as an aligned table (tabwriter), for `--table`.
pub fn table(rows: &[Vec<String>]) -> String {
    let mut tw = tabwriter::TabWriter::new(Vec::new()).padding(2);
    for row in rows {
        let _ = writeln!(tw, "{}", row.join("\t"));
    }
    let _ = tw.flush();
    String::from_utf8(tw.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// With `RUNPLZ_TIMING=1` in the environment, `tool: timing: WHAT N ms` on stderr: how long
/// a phase took since `since`, for profiling (`scripts/bench` times the whole).
pub fn timing(tool: &str, what: &str, since: std::time::Instant) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("RUNPLZ_TIMING").is_some_and(|v| v == "1")) {
        eprintln!(
            "{tool}: timing: {what} {:.1} ms",
            since.elapsed().as_secs_f64() * 1000.0
        );
    }
}
