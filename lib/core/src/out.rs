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
    let msg = msg.to_string();
    crate::progress::line(&format!("{tool}: {word}: {msg}"));
    crate::state::event(crate::state::Event::Warning { message: msg });
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

/// Text safe to print for people: control characters (a newline, a carriage return, an
/// escape sequence) and the bidirectional overrides that reorder what a terminal shows
/// are written as Rust escapes (`\n`, `\u{1b}`, `\u{202e}`), so a file name cannot forge
/// a line or hide itself.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A path's bytes as text that loses nothing: valid UTF-8 as it is, any other byte as
/// `\xNN` (for records; print it through [`escape`]).
pub fn path_text(p: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in p.as_os_str().as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod escape_tests {
    #[test]
    fn a_name_cannot_forge_a_line() {
        let name = "a.py:1:1: x\n  evil.py:2:3: aws-access-key (AKIA…)\r\u{1b}[2K\u{202e}";
        let e = super::escape(name);
        assert_eq!(e.lines().count(), 1, "{e}");
        assert_eq!(
            e,
            "a.py:1:1: x\\n  evil.py:2:3: aws-access-key (AKIA…)\\r\\u{1b}[2K\\u{202e}"
        );
        use std::os::unix::ffi::OsStrExt;
        let p = std::path::Path::new(std::ffi::OsStr::from_bytes(b"bad\xff\xfe.py"));
        assert_eq!(super::path_text(p), "bad\\xff\\xfe.py");
        assert_eq!(super::escape("plain/ü.py"), "plain/ü.py");
    }
}
