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
        SshCalls::shim(false)
    }

    /// The same, and each call's [`SshCalls::sizes`] counts what it sent on stdin too (passed
    /// on through `tee` as it comes, so a reply the box waits for still goes at once; `tee`
    /// is stopped once ssh ends, as it would wait for the end of a stdin nobody closes).
    pub fn counting_stdin() -> SshCalls {
        SshCalls::shim(true)
    }

    fn shim(stdin: bool) -> SshCalls {
        let dir = super::shm_tempdir();
        let log = dir.path().join("calls");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let real = super::which("ssh");
        // One line a call: its arguments, the script's newlines made spaces (cut ends it);
        // and their length in bytes, whole, in `sizes`.
        let shim = bin.join("ssh");
        let log_line = format!(
            "printf '%s\\n' \"$*\" | tr '\\n' ' ' | cut -c1-700 >> '{}'\n",
            log.display()
        );
        let run = if stdin {
            format!(
                "n=$(printf '%s' \"$*\" | wc -c)\nf='{log}.in.'$$\nmkfifo \"$f.p\"\nexec 3<&0\ntee \"$f\" <&3 > \"$f.p\" &\nt=$!\nexec 3<&-\n'{real}' \"$@\" < \"$f.p\"\nrc=$?\nkill $t 2>/dev/null\necho $((n + $(wc -c < \"$f\"))) >> '{log}.sizes'\nrm -f \"$f\" \"$f.p\"\nexit $rc\n",
                log = log.display()
            )
        } else {
            format!(
                "printf '%s' \"$*\" | wc -c >> '{}.sizes'\nexec '{real}' \"$@\"\n",
                log.display()
            )
        };
        std::fs::write(&shim, format!("#!/bin/sh\n{log_line}{run}")).unwrap();
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

    /// Each call's arguments' length in bytes (and its stdin's, where counted), in order (of
    /// their ends, where stdin is counted).
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
