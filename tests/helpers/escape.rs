//! Test helper: start a grandchild that calls `setsid` (leaving our process group and
//! session), ignores SIGTERM and sleeps 60 s holding our stdout; print `grandchild <pid>`.
//! Then exit 0, or with a first argument SECS ignore SIGTERM too and sleep that long.
use nix::sys::signal::{signal, SigHandler, Signal};
use std::os::unix::process::CommandExt;
use std::time::Duration;

fn ignore_term() {
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { signal(Signal::SIGTERM, SigHandler::SigIgn) }.expect("ignore SIGTERM");
}

fn main() {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--grandchild") {
        ignore_term();
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("current_exe"));
    cmd.arg("--grandchild");
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd.spawn().expect("spawn grandchild");
    println!("grandchild {}", child.id());
    if let Some(secs) = arg.and_then(|s| s.parse::<f64>().ok()) {
        ignore_term();
        std::thread::sleep(Duration::from_secs_f64(secs));
    }
}
