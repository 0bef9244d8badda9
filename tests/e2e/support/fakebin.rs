//! Fake programs on PATH: [`FakeBin`] writes executable scripts into a temp dir and gives a
//! PATH with that dir first ([`FakeBin::path`]), or a PATH holding only that dir
//! ([`FakeBin::path_only`]) into which chosen real programs are linked ([`FakeBin::link_real`]),
//! so a test can make, say, `rsync` missing while `ssh` and `sh` are still there.
//!
//! A fake made by [`FakeBin::recorder`] appends each call's argv to a log that
//! [`FakeBin::calls`] reads back, so a test can check what a tool ran.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A folder of fake (and linked real) programs.
pub struct FakeBin {
    dir: tempfile::TempDir,
}

impl FakeBin {
    /// An empty one.
    pub fn new() -> FakeBin {
        FakeBin {
            dir: super::shm_tempdir(),
        }
    }

    /// The folder the programs are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Write an executable `name` whose text is `script` verbatim (start it with a `#!` line).
    pub fn write(&self, name: &str, script: &str) -> PathBuf {
        let p = self.dir().join(name);
        // Written to a new name and renamed into place, so a running copy is never changed
        // under itself (and "text file busy" cannot happen).
        let tmp = self.dir().join(format!(".{name}.new"));
        std::fs::write(&tmp, script).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        p
    }

    /// Write an executable `/bin/sh` script `name` whose body is `body`.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        self.write(name, &format!("#!/bin/sh\n{body}\n"))
    }

    /// A fake `name` that records its argv (see [`FakeBin::calls`]), then runs `then` (shell;
    /// e.g. `echo '{}'; exit 3`), or exits 0 when `then` is empty.
    pub fn recorder(&self, name: &str, then: &str) -> PathBuf {
        let log = self.calls_log(name);
        self.script(
            name,
            &format!(
                "printf '%s\\0' \"$#\" \"$@\" >> '{}'\n{then}",
                log.display()
            ),
        )
    }

    fn calls_log(&self, name: &str) -> PathBuf {
        self.dir().join(format!(".{name}.calls"))
    }

    /// The argv (without the program name) of every call of the recorder `name`, in order.
    pub fn calls(&self, name: &str) -> Vec<Vec<String>> {
        let bytes = std::fs::read(self.calls_log(name)).unwrap_or_default();
        parse_calls(&bytes)
    }

    /// Link the real `program` (as found on the test's own PATH) into this folder.
    pub fn link_real(&self, program: &str) -> PathBuf {
        let real = find_on_path(program, &std::env::var_os("PATH").unwrap_or_default())
            .unwrap_or_else(|| panic!("{program} is not on PATH"));
        let p = self.dir().join(program);
        let _ = std::fs::remove_file(&p);
        std::os::unix::fs::symlink(&real, &p).unwrap();
        p
    }

    /// Link each of `programs` (see [`FakeBin::link_real`]).
    pub fn link_reals(&self, programs: &[&str]) -> &Self {
        for p in programs {
            self.link_real(p);
        }
        self
    }

    /// This folder, then the test's own PATH.
    pub fn path(&self) -> OsString {
        let mut p = self.dir().as_os_str().to_owned();
        if let Some(rest) = std::env::var_os("PATH").filter(|r| !r.is_empty()) {
            p.push(":");
            p.push(rest);
        }
        p
    }

    /// This folder alone: only the fakes and the linked real programs exist.
    pub fn path_only(&self) -> OsString {
        self.dir().as_os_str().to_owned()
    }
}

impl Default for FakeBin {
    fn default() -> Self {
        FakeBin::new()
    }
}

/// The first executable `program` in the `:`-separated `path`.
pub fn find_on_path(program: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|d| d.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Calls as the recorder writes them: the argc, then that many args, each NUL-terminated.
fn parse_calls(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut fields = bytes
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned());
    let mut calls = Vec::new();
    while let Some(argc) = fields.next() {
        let Ok(argc) = argc.parse::<usize>() else {
            break; // the empty tail after the last NUL
        };
        calls.push(fields.by_ref().take(argc).collect());
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn a_recorder_records_every_argv_exactly() {
        let fb = FakeBin::new();
        fb.recorder("tool", "echo out; exit 3");
        let args: &[&[&str]] = &[&["a b", "", "line\nbreak", "2"], &[], &["x"]];
        for a in args {
            let out = Command::new("tool")
                .args(*a)
                .env("PATH", fb.path())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(3));
            assert_eq!(out.stdout, b"out\n");
        }
        let want: Vec<Vec<String>> = args
            .iter()
            .map(|a| a.iter().map(|s| s.to_string()).collect())
            .collect();
        assert_eq!(fb.calls("tool"), want);
        assert!(fb.calls("never-called").is_empty());
    }

    #[test]
    fn path_only_holds_only_what_was_linked() {
        let fb = FakeBin::new();
        fb.link_reals(&["sh", "ls"]);
        let p = fb.path_only();
        assert!(find_on_path("sh", &p).is_some());
        assert!(find_on_path("ls", &p).is_some());
        assert!(find_on_path("rsync", &p).is_none());
        assert!(
            find_on_path("rsync", &fb.path()).is_some(),
            "rsync is installed here"
        );
    }
}
