//! A per-run lock: `<run id>.lock` beside the run state, held (flock) by a verb that ends a
//! run (`runplz collect`, `runplz kill`), so that two at once never bring the outputs back
//! twice, release the box twice, or kill a run while its outputs come back. The second
//! waits for the first, then sees what it did.

use crate::error::CliError;
use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use runplz_protocol::Exit;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file of the run whose state is `state`.
pub fn lock_path(state: &Path) -> PathBuf {
    state.with_extension("lock")
}

/// A held run lock; released when dropped (or when this process ends, however it ends).
pub struct RunLock {
    _lock: Flock<std::fs::File>,
}

/// Take the run's lock, waiting (and saying once on stderr who holds it) while another
/// process has it. A signal while waiting is exit 128+n.
pub fn lock_run(state: &Path, run_id: &str, tool: &str) -> Result<RunLock> {
    let path = lock_path(state);
    let mut said = false;
    loop {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("opening the run lock {}", path.display()))?;
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                // Who holds it, for a second one's message (best effort).
                let _ = lock.set_len(0);
                let _ = lock.rewind();
                let _ = writeln!(&mut *lock, "{}", std::process::id());
                return Ok(RunLock { _lock: lock });
            }
            Err((mut f, nix::errno::Errno::EWOULDBLOCK)) => {
                if !said {
                    let mut pid = String::new();
                    let _ = f.read_to_string(&mut pid);
                    let by = match pid.trim() {
                        "" => String::new(),
                        p => format!(" (pid {p})"),
                    };
                    crate::out::note(
                        tool,
                        format!(
                            "waiting for another `runplz collect` or `kill` of run {run_id}{by} to finish"
                        ),
                    );
                    said = true;
                }
            }
            Err((_, e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
        if let Some(sig) = crate::process::take_pending_signal() {
            return Err(CliError::new(
                Exit::Signal(u8::try_from(sig).unwrap_or(0)),
                format!("interrupted by signal {sig} while waiting for the lock of run {run_id}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_until_the_first_is_gone() {
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("r-1.json");
        let first = lock_run(&state, "r-1", "t").unwrap();
        let got = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let g = std::sync::Arc::clone(&got);
        let s = state.clone();
        let h = std::thread::spawn(move || {
            let l = lock_run(&s, "r-1", "t").unwrap();
            g.store(true, std::sync::atomic::Ordering::SeqCst);
            l
        });
        std::thread::sleep(Duration::from_millis(600));
        assert!(!got.load(std::sync::atomic::Ordering::SeqCst));
        drop(first);
        let _second = h.join().unwrap();
        assert!(got.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            std::fs::read_to_string(lock_path(&state)).unwrap().trim(),
            std::process::id().to_string()
        );
    }
}
