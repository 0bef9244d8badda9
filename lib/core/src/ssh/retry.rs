//! Transient connection failures, retried: an ssh (or an rsync over ssh) that could not
//! reach the box (refused, reset, timed out, exit 255 before the remote command started) is
//! tried again after a pause, three tries in all and about 10 s of pauses, each retry said on
//! one stderr line. Only calls that did nothing on the box yet are retried, and the caller
//! says which those are (a probe, a listing, rp-exec's wrapper that never said it started):
//! a job's command is never run twice.

use crate::process::{Finished, Status};
use anyhow::Result;
use std::time::{Duration, Instant};

/// The pauses before the second and third tries.
pub const PAUSES: [Duration; 2] = [Duration::from_secs(3), Duration::from_secs(7)];

/// What ssh says when it never got a session: (the words, the short reason we print).
const SIGNS: &[(&str, &str)] = &[
    ("Connection refused", "connection refused"),
    ("Connection reset", "connection reset"),
    ("Connection timed out", "connection timed out"),
    ("Operation timed out", "connection timed out"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network unreachable"),
    (
        "kex_exchange_identification",
        "connection closed during the handshake",
    ),
    (
        "ssh_exchange_identification",
        "connection closed during the handshake",
    ),
    (
        "Connection closed by",
        "connection closed during the handshake",
    ),
    (
        "Temporary failure in name resolution",
        "name resolution failed",
    ),
];

/// Why `f` (an ssh, or rsync over ssh) never reached the box, if that is how it failed: exit
/// 255 (ssh; rsync passes ssh's on, or says 12 or 255 when its ssh died) with ssh's words
/// for a connection that never opened.
pub fn connect_failure(f: &Finished) -> Option<&'static str> {
    match f.status {
        Status::Exited(255) | Status::Exited(12) => {}
        _ => return None,
    }
    let text = String::from_utf8_lossy(&f.stderr);
    SIGNS
        .iter()
        .find(|(sign, _)| text.contains(sign))
        .map(|(_, why)| *why)
}

/// Run `attempt` until it did not fail to connect (as `failed` tells from its result), at
/// most three times with [`PAUSES`] between, saying each retry on stderr as `tool`. An error
/// from `attempt` (not a connection failure) ends it at once; so does a signal while it
/// waits, with the last result.
pub fn retry<T>(
    tool: &str,
    dest: &str,
    mut attempt: impl FnMut() -> Result<T>,
    failed: impl Fn(&T) -> Option<&'static str>,
) -> Result<T> {
    retry_with(tool, dest, &PAUSES, &mut attempt, &failed)
}

fn retry_with<T>(
    tool: &str,
    dest: &str,
    pauses: &[Duration],
    attempt: &mut dyn FnMut() -> Result<T>,
    failed: &dyn Fn(&T) -> Option<&'static str>,
) -> Result<T> {
    for (i, pause) in pauses.iter().enumerate() {
        let r = attempt()?;
        let Some(why) = failed(&r) else {
            return Ok(r);
        };
        crate::out::note(
            tool,
            format!(
                "could not connect to {dest} ({why}); trying again in {}s ({} of {})",
                pause.as_secs(),
                i + 2,
                pauses.len() + 1
            ),
        );
        if !pause_unless_signaled(*pause) {
            return Ok(r);
        }
    }
    attempt()
}

/// Sleep for `d`, waking early (false) when a signal came.
fn pause_unless_signaled(d: Duration) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if crate::process::pending_signal().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(code: i32, stderr: &str) -> Finished {
        Finished {
            status: Status::Exited(code),
            stdout: Vec::new(),
            stderr: stderr.as_bytes().to_vec(),
            inactive: false,
            duration: Duration::ZERO,
            timed_out: false,
            interrupted: None,
        }
    }

    #[test]
    fn connect_failures_are_told_from_other_255s() {
        let refused = finished(
            255,
            "ssh: connect to host 127.0.0.1 port 1: Connection refused\r\n",
        );
        assert_eq!(connect_failure(&refused), Some("connection refused"));
        let kex = finished(
            255,
            "kex_exchange_identification: read: Connection reset by peer\n",
        );
        assert_eq!(connect_failure(&kex), Some("connection reset"));
        // The remote command's own 255, or a refusal of another kind, is not retried.
        assert_eq!(connect_failure(&finished(255, "")), None);
        assert_eq!(
            connect_failure(&finished(255, "Permission denied (publickey).\n")),
            None
        );
        assert_eq!(connect_failure(&finished(1, "Connection refused")), None);
    }

    #[test]
    fn retries_stop_at_success_or_after_three_tries() {
        let pauses = [Duration::from_millis(1), Duration::from_millis(1)];
        let mut n = 0;
        let r = retry_with(
            "t",
            "box",
            &pauses,
            &mut || {
                n += 1;
                Ok(n)
            },
            &|&n| (n < 2).then_some("refused"),
        )
        .unwrap();
        assert_eq!((r, n), (2, 2));
        let mut n = 0;
        let r = retry_with(
            "t",
            "box",
            &pauses,
            &mut || {
                n += 1;
                Ok(n)
            },
            &|_| Some("refused"),
        )
        .unwrap();
        assert_eq!((r, n), (3, 3));
    }
}
