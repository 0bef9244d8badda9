//! A timestamped copy of a job's output (a run's `<run id>.driver.log`), written as it
//! arrives: each line the job printed becomes
//!
//! ```text
//! 2026-01-01T10:00:00.123Z stdout the line as printed
//! ```
//!
//! the UTC time (RFC 3339, milliseconds) its first byte came, then `stdout`, `stderr`, or
//! `output` (both, when they came merged through one pipe: a run with `--json`), a space,
//! and the line. A line printed in pieces with the other stream's output between them is
//! split there (each piece its own stamped line); a last line with no newline gets one.
//! `runplz tail` reads the plain copy (`<run id>.log`), so its output is the job's own.

use anyhow::{Context, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The log, shared by the threads that copy the job's streams.
pub struct StampedLog {
    inner: Mutex<Inner>,
}

struct Inner {
    file: std::fs::File,
    /// The stream whose line is open (its last bytes had no newline yet).
    open: Option<&'static str>,
}

impl std::fmt::Debug for StampedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StampedLog(..)")
    }
}

impl StampedLog {
    /// Open `path` for appending (created 0600).
    pub fn open(path: &Path) -> Result<Arc<StampedLog>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("opening the log {}", path.display()))?;
        Ok(Arc::new(StampedLog {
            inner: Mutex::new(Inner { file, open: None }),
        }))
    }

    /// Append what `stream` printed (best effort: a full disk must not stop the job).
    pub fn write(&self, stream: &'static str, bytes: &[u8]) {
        self.write_at(stream, bytes, &stamp(crate::state::now_f()));
    }

    fn write_at(&self, stream: &'static str, bytes: &[u8], at: &str) {
        if bytes.is_empty() {
            return;
        }
        let mut i = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut buf = Vec::with_capacity(bytes.len() + 64);
        if i.open.is_some_and(|s| s != stream) {
            buf.push(b'\n');
            i.open = None;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            if i.open.is_none() {
                buf.extend_from_slice(format!("{at} {stream} ").as_bytes());
                i.open = Some(stream);
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(n) => {
                    buf.extend_from_slice(&rest[..=n]);
                    rest = &rest[n + 1..];
                    i.open = None;
                }
                None => {
                    buf.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        // One write per piece: the file's lines stay whole for a reader meanwhile.
        let _ = i.file.write_all(&buf);
    }
}

impl Drop for StampedLog {
    fn drop(&mut self) {
        let i = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if i.open.take().is_some() {
            let _ = i.file.write_all(b"\n");
        }
    }
}

/// Seconds since the epoch as RFC 3339 in UTC, to the millisecond.
pub fn stamp(t: f64) -> String {
    let ms = (t * 1000.0).round().max(0.0) as u64;
    let (secs, ms) = (ms / 1000, ms % 1000);
    let days = (secs / 86_400) as i64;
    let s = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(stamp(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(stamp(1_709_210_096.789), "2024-02-29T12:34:56.789Z");
        assert_eq!(stamp(1_767_225_599.999_6), "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn each_line_is_stamped_with_its_stream_and_pieces_split_where_streams_cut() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.driver.log");
        let log = StampedLog::open(&p).unwrap();
        log.write_at("stdout", b"a\nb", "T1");
        log.write_at("stdout", b"c\n", "T2");
        log.write_at("stdout", b"par", "T3");
        log.write_at("stderr", b"oops\n\n", "T4");
        log.write_at("stdout", b"tial", "T5");
        drop(log);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "T1 stdout a\nT1 stdout bc\nT3 stdout par\nT4 stderr oops\nT4 stderr \nT5 stdout tial\n"
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
