//! Test helper: `rpt-sigrecord FILE [stay]`. Catches SIGINT, SIGTERM and SIGHUP, appends each
//! one's name (`INT`, `TERM`, `HUP`) as a line to FILE, and exits 0 after the first, like a
//! job saving its checkpoint on Ctrl-C; with `stay` it keeps running (only KILL stops it).
//! Prints `sigrecord <pid>` once the handlers are in place, then waits up to 120 s.
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

static GOT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    GOT.store(sig, Ordering::SeqCst);
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
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(sig, &act) }.expect("sigaction");
    }
    println!("sigrecord {}", std::process::id());
    let end = Instant::now() + Duration::from_secs(120);
    while Instant::now() < end {
        let sig = GOT.swap(0, Ordering::SeqCst);
        if sig != 0 {
            let name = Signal::try_from(sig).map_or("?", |s| s.as_str());
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .expect("open the record file");
            writeln!(f, "{}", name.trim_start_matches("SIG")).expect("write the record file");
            if !stay {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
