//! What a step is doing, for people. On a terminal a step that is not the job's own run gets
//! one live line (`runplz: venv 4.2s  Collecting numpy`), redrawn as it goes and replaced by
//! `runplz: venv done in 9.1s` at its end; the set-up's own output (docker build, pip) feeds
//! that line instead of scrolling past (a failed step's error ends with its last lines).
//! When stderr is not a terminal, plain lines as before, the output streamed. `--quiet`
//! keeps only warnings, errors and the job's own output. `NO_COLOR` (or `TERM=dumb`) turns
//! colour off; colour is only ever used on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub mod rsync;

static QUIET: AtomicBool = AtomicBool::new(false);

/// The step shown now, if one is.
static LIVE: Mutex<Option<Live>> = Mutex::new(None);

/// What the step now running moved in all (`340 files  12.3 MiB`), for its `done` line.
static TOTALS: Mutex<Option<String>> = Mutex::new(None);

struct Live {
    tool: String,
    name: String,
    start: Instant,
    detail: String,
    /// Whether a live line is on the screen (to be cleared before anything else is said).
    drawn: bool,
    /// Whether the step's output is held for the line (a terminal, or `--quiet`).
    absorb: bool,
    /// A partial line of output, kept until its end comes.
    partial: Vec<u8>,
}

/// `--quiet`: only warnings, errors and the job's own output.
pub fn set_quiet(q: bool) {
    QUIET.store(q, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether stderr is a terminal that can redraw a line.
pub fn tty() -> bool {
    static TTY: OnceLock<bool> = OnceLock::new();
    *TTY.get_or_init(|| {
        std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb")
    })
}

/// Whether to colour what we say: on a terminal, unless `NO_COLOR` is set (non-empty).
pub fn color() -> bool {
    tty() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A step shown while it runs; [`Step::end`] says how it ended.
pub struct Step {
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
    tool: String,
    name: String,
}

/// Say that step `name` starts. `live` is false for the job's own run (its output is the
/// user's): then only a plain line.
pub fn begin(tool: &str, name: &str, live: bool) -> Step {
    let stop = Arc::new(AtomicBool::new(false));
    *TOTALS.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let absorb = live && (tty() || quiet());
    let mut ticker = None;
    if absorb {
        set_live(Some(Live {
            tool: tool.to_string(),
            name: name.to_string(),
            start: Instant::now(),
            detail: String::new(),
            drawn: false,
            absorb,
            partial: Vec::new(),
        }));
        if tty() && !quiet() {
            let stop = Arc::clone(&stop);
            ticker = Some(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    draw();
                    std::thread::sleep(Duration::from_millis(100));
                }
            }));
        }
    } else if !quiet() {
        line(&format!("{tool}: {name}..."));
    }
    Step {
        stop,
        ticker,
        tool: tool.to_string(),
        name: name.to_string(),
    }
}

/// A live line for a standalone tool's step (rp-sync's transfer), on a terminal only: off
/// one, or with `--quiet`, the tool's own lines say enough and nothing is added.
pub fn on_tty(tool: &str, name: &str) -> Option<Step> {
    (tty() && !quiet()).then(|| begin(tool, name, true))
}

impl Step {
    /// The step ended after `seconds`: `runplz: NAME done in 1.2s` when it worked, with
    /// its [`totals`] if it said any (a failure is said once, by whoever reports the error).
    pub fn end(mut self, ok: bool, seconds: f64) {
        self.finish();
        let totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner()).take();
        if ok && !quiet() {
            let totals = totals.map(|t| format!("  {t}")).unwrap_or_default();
            line(&format!(
                "{}: {} done in {seconds:.1}s{totals}",
                self.tool, self.name
            ));
        }
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = live.as_ref() {
            if l.drawn {
                let _ = std::io::stderr().lock().write_all(b"\r\x1b[2K");
            }
        }
        *live = None;
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.finish();
    }
}

fn set_live(l: Option<Live>) {
    *LIVE.lock().unwrap_or_else(|e| e.into_inner()) = l;
}

/// Redraw the live line.
fn draw() {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(l) = live.as_mut() else { return };
    let width = terminal_width();
    let mut text = format!(
        "{}: {} {:.1}s",
        l.tool,
        l.name,
        l.start.elapsed().as_secs_f64()
    );
    if !l.detail.is_empty() {
        text.push_str("  ");
        text.push_str(&l.detail);
    }
    let text: String = text.chars().take(width.saturating_sub(1)).collect();
    let _ = write!(std::io::stderr().lock(), "\r\x1b[2K{text}");
    l.drawn = true;
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c: &usize| c > 20)
        .unwrap_or(100)
}

/// Say one line on stderr, clearing a live line first (the ticker draws it again).
pub fn line(text: &str) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let mut err = std::io::stderr().lock();
    if let Some(l) = live.as_mut().filter(|l| l.drawn) {
        let _ = err.write_all(b"\r\x1b[2K");
        l.drawn = false;
    }
    let _ = writeln!(err, "{text}");
}

/// Set the live line's detail (bytes and files so far, the package being installed).
pub fn detail(text: impl Into<String>) {
    if let Some(l) = LIVE.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        l.detail = text.into();
    }
}

/// What the running step has moved so far (`340 files  12.3 MiB`): its live line's detail,
/// and, as last said, the end of its `done` line.
pub fn totals(text: impl Into<String>) {
    let text = text.into();
    detail(text.clone());
    *TOTALS.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
}

/// `340 files  12.3 MiB`: what a transfer moved, as a live line and a `done` line say it.
pub fn moved(files: u64, bytes: u64) -> String {
    let word = if files == 1 { "file" } else { "files" };
    format!("{files} {word}  {}", crate::sync::human_bytes(bytes))
}

/// Whether a live line is drawn now (a step runs, on a terminal, without `--quiet`): only
/// then is a tool asked for progress output of its own.
pub fn drawn() -> bool {
    tty() && !quiet() && LIVE.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// A child's output meant for our stderr: written there, unless a live step holds it (then
/// its telling lines feed the step's detail).
pub fn stderr(bytes: &[u8]) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    match live.as_mut().filter(|l| l.absorb) {
        None => {
            drop(live);
            let _ = std::io::stderr().lock().write_all(bytes);
        }
        Some(l) => {
            l.partial.extend_from_slice(bytes);
            while let Some(i) = l.partial.iter().position(|&b| b == b'\n') {
                let text = String::from_utf8_lossy(&l.partial[..i]).into_owned();
                l.partial.drain(..=i);
                if let Some(d) = telling(&text) {
                    l.detail = d;
                }
            }
        }
    }
}

/// The part of a set-up output line worth showing in the live line: what pip is fetching or
/// installing, which docker build step runs.
pub fn telling(line: &str) -> Option<String> {
    let line = line.trim();
    for prefix in [
        "Collecting ",
        "Downloading ",
        "Building wheel for ",
        "Installing collected packages: ",
        "Successfully installed ",
        "Processing ",
    ] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let what = rest.split_whitespace().next().unwrap_or(rest);
            return Some(format!("{}{what}", prefix.to_lowercase()));
        }
    }
    // Our own set-up script's step headers.
    if let Some(rest) = line.strip_prefix("# runplz: ") {
        return Some(rest.chars().take(70).collect());
    }
    // Classic docker build (`Step 3/7 : RUN ...`) and BuildKit (`#5 [2/4] RUN ...`).
    if line.starts_with("Step ") && line.contains(" : ") {
        return Some(line.chars().take(70).collect());
    }
    if line.starts_with('#') && line.contains(" [") && line.contains(']') {
        let from = line.find(" [").map_or(0, |i| i + 1);
        return Some(line[from..].chars().take(70).collect());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telling_lines_name_the_package_or_build_step() {
        assert_eq!(
            telling("Collecting numpy==1.26 (from -r requirements.txt (line 1))").as_deref(),
            Some("collecting numpy==1.26")
        );
        assert_eq!(
            telling("  Downloading torch-2.3.0-cp311-cp311-manylinux1_x86_64.whl (779.1 MB)")
                .as_deref(),
            Some("downloading torch-2.3.0-cp311-cp311-manylinux1_x86_64.whl")
        );
        assert_eq!(
            telling("Step 3/7 : RUN pip install -r requirements.txt").as_deref(),
            Some("Step 3/7 : RUN pip install -r requirements.txt")
        );
        assert_eq!(
            telling("#7 [3/5] RUN apt-get update").as_deref(),
            Some("[3/5] RUN apt-get update")
        );
        assert_eq!(telling("Requirement already satisfied: pip"), None);
    }

    #[test]
    fn quiet_absorbs_a_steps_output_and_says_nothing() {
        // Not a terminal under test: only --quiet absorbs.
        set_quiet(true);
        let s = begin("t", "venv", true);
        stderr(b"Collecting numpy\nhalf a li");
        assert_eq!(
            LIVE.lock().unwrap().as_ref().map(|l| l.detail.clone()),
            Some("collecting numpy".to_string())
        );
        s.end(true, 1.0);
        assert!(LIVE.lock().unwrap().is_none());
        set_quiet(false);
    }
}
