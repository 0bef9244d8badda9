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

/// The threads of [`super::Proc::answer_on`]: one writes `head` into the child's stdin and
/// keeps it open until the other, reading its stdout into `out`, sees `needle`; then `reply`
/// goes and stdin closes (it closes anyway at the end of stdout). The receiver hears when
/// stdout ended.
pub(super) fn spawn_answer(
    head: Vec<u8>,
    mut w: std::io::PipeWriter,
    mut r: std::io::PipeReader,
    needle: Vec<u8>,
    reply: Vec<u8>,
    out: Arc<Mutex<Vec<u8>>>,
) -> std::sync::mpsc::Receiver<()> {
    let (heard, hear) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        // An error means the reader went away (the child exited early): nothing to do.
        if w.write_all(&head).is_ok() && hear.recv().is_ok() {
            let _ = w.write_all(&reply);
        }
    });
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut heard = Some(heard);
        let mut buf = [0u8; 64 * 1024];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
            let from = o.len().saturating_sub(needle.len());
            o.extend_from_slice(&buf[..n]);
            if heard.is_some() && o[from..].windows(needle.len()).any(|x| x == needle) {
                if let Some(h) = heard.take() {
                    let _ = h.send(());
                }
            }
        }
        // Dropping the sender closes the child's stdin unanswered.
        drop(heard);
        let _ = done.send(());
    });
    wait
}

/// A control marker and where the control lines found behind it go.
pub(super) type Control = (Vec<u8>, Arc<Mutex<Vec<u8>>>);

/// Where a pump writes what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dest {
    Stdout,
    Stderr,
}

/// Holds a child's stderr back until a control line opens it (rp-exec on a box: ssh's own
/// words about a connection that never opened are said once, in the error, not live).
pub(super) struct Gate {
    /// The control line that opens it.
    pub(super) word: Vec<u8>,
    /// `None` once open; else what was held.
    held: Mutex<Option<Vec<u8>>>,
}

impl Gate {
    pub(super) fn new(word: &str) -> Gate {
        Gate {
            word: word.as_bytes().to_vec(),
            held: Mutex::new(Some(Vec::new())),
        }
    }

    /// Write `bytes` to stderr, or hold them while closed.
    fn write(&self, bytes: &[u8]) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        match held.as_mut() {
            Some(h) => h.extend_from_slice(bytes),
            None => crate::progress::stderr(bytes),
        }
    }

    /// Open: what was held goes out now, and from now on everything at once.
    fn open(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = held.take() {
            crate::progress::stderr(&h);
        }
    }
}

/// What a watched stdout pipe has brought (all of it), and a receiver that disconnects
/// once the pipe closed.
pub(super) type Watched = (std::sync::mpsc::Receiver<()>, Arc<Mutex<Vec<u8>>>);

/// What is called with each piece of a watched stdout.
pub(super) type Watcher = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// Read a child's stdout from a thread, handing each piece to `f` and keeping it all.
pub(super) fn spawn_watch(mut r: std::io::PipeReader, f: Watcher) -> Watched {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&kept);
    std::thread::spawn(move || {
        let _done = done;
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = r.read(&mut buf) {
            f(&buf[..n]);
            into.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&buf[..n]);
        }
    });
    (finished, kept)
}

/// Copy a pipe to our stderr (and a log), keeping the last [`TAIL_BYTES`].
pub(super) fn spawn_pump(
    r: std::io::PipeReader,
    log: Option<&Path>,
    stamped: Stamp,
    tail: Arc<Mutex<Vec<u8>>>,
    heard: Arc<AtomicU64>,
    base: Instant,
) -> Result<std::sync::mpsc::Receiver<()>> {
    spawn_pump_to(r, Dest::Stderr, None, None, log, stamped, tail, heard, base)
}

/// A timestamped log and the stream name its lines get there.
pub(super) type Stamp = Option<(Arc<super::stamped::StampedLog>, &'static str)>;

/// Copy a pipe to `dest` (and a log), keeping the last [`TAIL_BYTES`]. With `control`
/// (a marker and where its lines go), every `MARKER...\n` in the stream is taken out of it
/// and its text after the marker kept as a line in the buffer; those bytes are neither
/// shown, logged, nor count as output heard. With `gate`: a pump with `control` opens it on
/// the gate's line; one without writes through it (held until then).
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn_pump_to(
    mut r: std::io::PipeReader,
    dest: Dest,
    control: Option<Control>,
    gate: Option<Arc<Gate>>,
    log: Option<&Path>,
    stamped: Stamp,
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
        let opener = control.is_some();
        let mut filter = control.map(|(m, sink)| (Demux::new(m), sink));
        let writer = gate.clone().filter(|_| !opener);
        let opener = gate.filter(|_| opener);
        let mut emit = |bytes: &[u8]| {
            if bytes.is_empty() {
                return;
            }
            let ms = base.elapsed().as_millis() as u64;
            heard.store(ms, Ordering::Relaxed);
            let _ = match dest {
                Dest::Stderr if writer.is_some() => {
                    if let Some(g) = &writer {
                        g.write(bytes);
                    }
                    Ok(())
                }
                Dest::Stderr => {
                    crate::progress::stderr(bytes);
                    Ok(())
                }
                Dest::Stdout => {
                    let out = std::io::stdout();
                    let mut l = out.lock();
                    l.write_all(bytes).and_then(|_| l.flush())
                }
            };
            if let Some(l) = log.as_mut() {
                let _ = l.write_all(bytes);
            }
            if let Some((l, stream)) = &stamped {
                l.write(stream, bytes);
            }
            if let Ok(mut t) = tail.lock() {
                t.extend_from_slice(bytes);
                if t.len() > TAIL_BYTES {
                    let cut = t.len() - TAIL_BYTES;
                    t.drain(..cut);
                }
            }
        };
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            match filter.as_mut() {
                None => emit(&buf[..n]),
                Some((d, sink)) => {
                    let (out, lines) = d.feed(&buf[..n]);
                    if let Some(g) = &opener {
                        if lines.split(|&b| b == b'\n').any(|l| l == g.word.as_slice()) {
                            g.open();
                        }
                    }
                    emit(&out);
                    if let (false, Ok(mut s)) = (lines.is_empty(), sink.lock()) {
                        s.extend_from_slice(&lines);
                    }
                }
            }
        }
        if let Some((d, _)) = filter.as_mut() {
            emit(&d.finish());
        }
    });
    Ok(finished)
}

/// Splits a stream into output and control lines (`MARKER text\n`), across reads.
pub(super) struct Demux {
    marker: Vec<u8>,
    pending: Vec<u8>,
}

impl Demux {
    pub(super) fn new(marker: Vec<u8>) -> Demux {
        Demux {
            marker,
            pending: Vec::new(),
        }
    }

    /// Feed bytes: what is output now, and the control lines found (each ending in `\n`).
    pub(super) fn feed(&mut self, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
        self.pending.extend_from_slice(data);
        let mut out = Vec::new();
        let mut lines = Vec::new();
        let m = self.marker.len();
        loop {
            let buf = &self.pending;
            match buf.windows(m).position(|w| w == self.marker.as_slice()) {
                Some(i) => match buf[i + m..].iter().position(|&b| b == b'\n') {
                    Some(j) => {
                        out.extend_from_slice(&buf[..i]);
                        lines.extend_from_slice(&buf[i + m..=i + m + j]);
                        self.pending.drain(..=i + m + j);
                    }
                    // A control line not yet whole: wait for its end.
                    None => {
                        out.extend_from_slice(&buf[..i]);
                        self.pending.drain(..i);
                        break;
                    }
                },
                None => {
                    // Hold back a tail that may be the start of a marker.
                    let keep = (1..m.min(buf.len() + 1))
                        .rev()
                        .find(|&k| buf.ends_with(&self.marker[..k]))
                        .unwrap_or(0);
                    let cut = buf.len() - keep;
                    out.extend_from_slice(&buf[..cut]);
                    self.pending.drain(..cut);
                    break;
                }
            }
        }
        (out, lines)
    }

    /// The end of the stream: whatever was held back is output.
    pub(super) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}
