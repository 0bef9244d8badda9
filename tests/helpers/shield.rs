//! rpt-shield: proves `Proc::shielded` against a real pending Ctrl-C. It catches signals
//! like runplz, raises SIGINT at itself, then runs a shielded child (which must run to its
//! end and leave the signal pending) and an ordinary one (which the signal must stop).
//! Prints one JSON line per child. `rpt-shield orphan PIDFILE [die]` instead runs
//! `sleep 100` (writing its pid to PIDFILE), with `Proc::die_with_parent` when `die` is given,
//! for a test to kill -9 this process and see whether the child outlives it.
use runplz_core::process::{self, Proc};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("orphan") {
        let mut p = Proc::new("sh")
            .args(["-c", "echo $$ > \"$0\"; exec sleep 100"])
            .arg(&args[1]);
        if args.get(2).map(String::as_str) == Some("die") {
            p = p.die_with_parent();
        }
        let _ = p.run();
        return;
    }
    process::install_signal_handlers();
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT).unwrap();
    while process::pending_signal().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    for shielded in [true, false] {
        let mut p = Proc::new("sh")
            .args(["-c", "sleep 0.5; echo finished"])
            .timeout(Some(Duration::from_secs(20)));
        if shielded {
            p = p.shielded();
        }
        let f = p.run().unwrap();
        println!(
            "{}",
            serde_json::json!({
                "shielded": shielded,
                "stdout": f.stdout_str(),
                "interrupted": f.interrupted,
                "pending_after": process::pending_signal(),
            })
        );
    }
}
