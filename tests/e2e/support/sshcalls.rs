//! An `ssh` first on PATH that writes down each call and runs the real one: for the tests
//! that pin how many round trips a step costs (issue #14).
use std::path::PathBuf;

pub struct SshCalls {
    _dir: tempfile::TempDir,
    log: PathBuf,
    path: String,
}

impl SshCalls {
    pub fn new() -> SshCalls {
        let dir = super::shm_tempdir();
        let log = dir.path().join("calls");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let real = super::which("ssh");
        // One line a call: its arguments, the script's newlines made spaces (cut ends it);
        // and their length in bytes, whole, in `sizes`.
        let shim = bin.join("ssh");
        std::fs::write(
            &shim,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" | tr '\\n' ' ' | cut -c1-700 >> '{}'\nprintf '%s' \"$*\" | wc -c >> '{}.sizes'\nexec '{real}' \"$@\"\n",
                log.display(),
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        SshCalls {
            _dir: dir,
            log,
            path,
        }
    }

    /// The PATH that puts the shim first.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Every call so far, one a line.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Forget the calls so far.
    pub fn clear(&self) {
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(self.log.with_extension("sizes"));
    }

    /// Each call's arguments' length in bytes, in order.
    pub fn sizes(&self) -> Vec<usize> {
        std::fs::read_to_string(self.log.with_extension("sizes"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect()
    }

    /// The calls that ran something on the box (not `-O exit`, closing a connection).
    pub fn count(&self) -> usize {
        self.log().lines().filter(|l| !l.contains(" -O ")).count()
    }
}
