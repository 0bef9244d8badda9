//! The threads around a child's pipes: one feeds its stdin (bytes, then a file), one copies
//! its output to our stderr and a log while keeping a tail and the time it was last heard.

use super::TAIL_BYTES;
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Write `head` then the file at `path` into `w` from a thread (opened here, so a missing
/// file is an error before anything starts).
pub(super) fn spawn_feeder(
    head: Vec<u8>,
    path: &Path,
    mut w: std::io::PipeWriter,
) -> Result<std::thread::JoinHandle<()>> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("opening {} for the command's stdin", path.display()))?;
    Ok(std::thread::spawn(move || {
        // An error means the reader went away (the child exited early): nothing to do.
        let _ = w
            .write_all(&head)
            .and_then(|_| std::io::copy(&mut file, &mut w));
    }))
}

/// Copy a pipe to our stderr (and a log), keeping the last [`TAIL_BYTES`].
pub(super) fn spawn_pump(
    mut r: std::io::PipeReader,
    log: Option<&Path>,
    tail: Arc<Mutex<Vec<u8>>>,
    heard: Arc<AtomicU64>,
    base: Instant,
) -> Result<std::sync::mpsc::Receiver<()>> {
    // Disconnected (the sender dropped) once the pump has copied everything.
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let mut log = match log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening log file {}", p.display()))?,
        ),
        None => None,
    };
    std::thread::spawn(move || {
        let _done = done;
        let mut buf = [0u8; 8192];
        let stderr = std::io::stderr();
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let ms = base.elapsed().as_millis() as u64;
            heard.store(ms, Ordering::Relaxed);
            let _ = stderr.lock().write_all(&buf[..n]);
            if let Some(l) = log.as_mut() {
                let _ = l.write_all(&buf[..n]);
            }
            if let Ok(mut t) = tail.lock() {
                t.extend_from_slice(&buf[..n]);
                if t.len() > TAIL_BYTES {
                    let cut = t.len() - TAIL_BYTES;
                    t.drain(..cut);
                }
            }
        }
    });
    Ok(finished)
}
