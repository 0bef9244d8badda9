//! Test helper: `rpt-sigrecord FILE [stay]`. Catches SIGINT, SIGTERM and SIGHUP, appends a
//! line with the signal's name (`INT`, `TERM`, `HUP`) to FILE for every delivery (two INTs
//! are two lines), and exits 0 shortly after the first, like a job saving its checkpoint on
//! Ctrl-C; with `stay` it keeps running (only KILL stops it). Prints `sigrecord <pid>` once
//! the handlers are in place, then waits up to 120 s.
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];
/// Deliveries of each of [`SIGNALS`] not yet written down.
static GOT: [AtomicUsize; 3] = [
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
];

extern "C" fn on_signal(sig: nix::libc::c_int) {
    if let Some(i) = SIGNALS.iter().position(|s| *s as nix::libc::c_int == sig) {
        GOT[i].fetch_add(1, Ordering::SeqCst);
    }
}

/// Append a line per delivery not yet written down; whether there was any.
fn write_down(file: &str) -> bool {
    let mut any = false;
    for (sig, n) in SIGNALS.iter().zip(&GOT) {
        for _ in 0..n.swap(0, Ordering::SeqCst) {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .expect("open the record file");
            writeln!(f, "{}", sig.as_str().trim_start_matches("SIG"))
                .expect("write the record file");
            any = true;
        }
    }
    any
}

fn main() {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("usage: rpt-sigrecord FILE [stay]");
    let stay = args.next().as_deref() == Some("stay");
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in SIGNALS {
        // SAFETY: the handler only adds to atomics.
        unsafe { sigaction(sig, &act) }.expect("sigaction");
    }
    println!("sigrecord {}", std::process::id());
    let end = Instant::now() + Duration::from_secs(120);
    while Instant::now() < end {
        if write_down(&file) && !stay {
            // A duplicate sent right behind the first is written down too.
            std::thread::sleep(Duration::from_millis(100));
            write_down(&file);
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
