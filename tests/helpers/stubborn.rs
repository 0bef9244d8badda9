//! Test helper: ignore SIGTERM, print `stubborn <pid>`, then sleep (60 s, or the seconds
//! given as the first argument). Only SIGKILL stops it early.
use nix::sys::signal::{signal, SigHandler, Signal};
use std::time::Duration;

fn main() {
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { signal(Signal::SIGTERM, SigHandler::SigIgn) }.expect("ignore SIGTERM");
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60.0);
    println!("stubborn {}", std::process::id());
    std::thread::sleep(Duration::from_secs_f64(secs));
}
