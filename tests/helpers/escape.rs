//! Test helper: start a grandchild that calls `setsid` (leaving our process group and
//! session), detaches from our stdio like a daemon, ignores SIGTERM and sleeps 300 s; print
//! `grandchild <pid>`. Then exit 0, or with a first argument SECS ignore SIGTERM too and
//! sleep that long. (Detached, so a test sees it survive rather than hang on its pipe.)
use nix::sys::signal::{signal, SigHandler, Signal};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

fn ignore_term() {
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { signal(Signal::SIGTERM, SigHandler::SigIgn) }.expect("ignore SIGTERM");
}

fn main() {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("--grandchild") {
        ignore_term();
        std::thread::sleep(Duration::from_secs(300));
        return;
    }
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("current_exe"));
    cmd.arg("--grandchild")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    // Never waited for on purpose: it is meant to outlive us.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("spawn grandchild");
    println!("grandchild {}", child.id());
    if let Some(secs) = arg.and_then(|s| s.parse::<f64>().ok()) {
        ignore_term();
        std::thread::sleep(Duration::from_secs_f64(secs));
    }
}
