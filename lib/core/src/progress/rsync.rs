//! rsync's own progress on a step's live line: `340 files  12.3 MiB` so far. rsync is asked
//! for `--info=progress2` only while a live line is drawn (a terminal, no `--quiet`), so
//! what it ships, and what it prints on a pipe, are as before; progress2 itself is one
//! short line per file on rsync's stdout, which the step reads as it comes.

use crate::process::Proc;
use std::sync::Mutex;

/// The first rsync with `--info=progress2`.
const PROGRESS2: (u32, u32, u32) = (3, 1, 0);

/// `proc`, an rsync whose options are still being given, with its progress read into the
/// live line when one is drawn and this machine's rsync can say it.
pub fn watch(proc: Proc) -> Proc {
    let able = crate::sync::local_rsync_version().is_some_and(|v| v >= PROGRESS2);
    if !able || !super::drawn() {
        return proc;
    }
    let meter = Mutex::new(Meter::default());
    proc.args(["--info=progress2", "--no-human-readable"])
        .on_stdout(move |bytes| {
            let said = meter.lock().unwrap_or_else(|e| e.into_inner()).feed(bytes);
            if let Some(text) = said {
                super::detail(text);
            }
        })
}

/// Reads progress2 lines (`  20045864  99%  14.56MB/s  0:00:01 (xfr#2990, to-chk=11/3002)`,
/// ended by `\r`) out of rsync's stdout, across reads.
#[derive(Debug, Default)]
pub struct Meter {
    partial: Vec<u8>,
    files: u64,
    bytes: u64,
}

/// The longest line kept while waiting for its end (a progress line is under 100 bytes).
const MAX_LINE: usize = 4096;

impl Meter {
    /// Feed what rsync printed; the new totals to show when a progress line changed them.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<String> {
        let mut changed = false;
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                changed |= self.line();
                self.partial.clear();
            } else if self.partial.len() < MAX_LINE {
                self.partial.push(b);
            }
        }
        changed.then(|| self.text())
    }

    /// `340 files  12.3 MiB`.
    pub fn text(&self) -> String {
        super::moved(self.files, self.bytes)
    }

    fn line(&mut self) -> bool {
        match parse(&String::from_utf8_lossy(&self.partial)) {
            Some((bytes, files)) => {
                self.bytes = bytes;
                self.files = files.unwrap_or(self.files);
                true
            }
            None => false,
        }
    }
}

/// The bytes and (once one is done) the files of one progress2 line; `None` for any other
/// line (the `--stats` summary, a file name).
fn parse(line: &str) -> Option<(u64, Option<u64>)> {
    let mut words = line.split_whitespace();
    let size = words.next()?;
    if !words.next()?.ends_with('%') {
        return None;
    }
    // Digit separators (`20,045,864`) appear without --no-human-readable.
    let digits: String = size.chars().filter(|c| !matches!(c, ',' | '.')).collect();
    let bytes = digits.parse().ok()?;
    let files = line.split_once("xfr#").and_then(|(_, rest)| {
        let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
        n.parse().ok()
    });
    Some((bytes, files))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn reads_files_and_bytes_across_reads() {
        let mut m = Meter::default();
        assert_eq!(
            m.feed(b"\r         32768   0%    0.00kB/s    0:00:00"),
            None
        );
        assert_eq!(
            m.feed(b"  \r      20000000  99%  634.74MB/s    0:00:00 (xfr#1, to-chk=3000/3002)\r   2000"),
            Some("1 file  19.1 MiB".to_string())
        );
        assert_eq!(
            m.feed(b"0013  99%  614.27MB/s    0:00:00 (xfr#2, to-chk=2999/3002)\r"),
            Some("2 files  19.1 MiB".to_string())
        );
        // The --stats summary after it changes nothing.
        assert_eq!(
            m.feed(b"\n\nNumber of files: 3002 (reg: 3001, dir: 1)\nTotal bytes sent: 20225804\n"),
            None
        );
        assert_eq!(m.text(), "2 files  19.1 MiB");
        assert_eq!(
            parse("     1,234,567  45%   12.34MB/s    0:00:01 (xfr#12, to-chk=34/100)"),
            Some((1234567, Some(12)))
        );
        assert_eq!(parse("sent 20225804 bytes  received 57038 bytes"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn a_watched_stdout_is_seen_as_it_comes_and_kept_whole() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&seen);
        let f = Proc::new("sh")
            .args(["-c", "printf 'a\\r'; printf 'b\\n'"])
            .output(crate::process::Output::CaptureStdout)
            .on_stdout(move |b| into.lock().unwrap().extend_from_slice(b))
            .run()
            .unwrap();
        assert_eq!(f.stdout, b"a\rb\n");
        assert_eq!(*seen.lock().unwrap(), b"a\rb\n");
    }
}
