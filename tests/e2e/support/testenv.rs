//! A test world: a private HOME, XDG base dirs and TMPDIR under one /dev/shm folder, so a
//! tool run by a test writes its venvs, run state and temp files there and never into the
//! real home. [`world`] is one shared world per test binary (what [`super::bin_cmd`] uses);
//! [`TestEnv::new`] gives a test its own, to look inside (`env.state_dir()`, `env.venvs_dir()`).
//!
//! Not redirected, on purpose: `ssh` reads `~/.ssh` from the passwd entry, not from `$HOME`
//! (OpenSSH ignores `$HOME`), which is why every test passes `--ssh-config` with its own key
//! and `UserKnownHostsFile`; and PATH, which [`super::FakeBin`] changes when a test wants.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The variables a world sets, and the folder (under its root) each names.
const DIRS: &[(&str, &str)] = &[
    ("HOME", "home"),
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_CACHE_HOME", "cache"),
    ("XDG_STATE_HOME", "state"),
    ("XDG_DATA_HOME", "data"),
    ("XDG_RUNTIME_DIR", "run"),
    // Short on purpose: ssh's ControlPath lives in TMPDIR and unix sockets have ~104 bytes.
    ("TMPDIR", "tmp"),
];

/// A private home, XDG dirs and TMPDIR; dropping it removes them (except [`world`]'s, which
/// is removed when the test binary exits).
pub struct TestEnv {
    root: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl TestEnv {
    /// A fresh world in its own temp dir on /dev/shm.
    pub fn new() -> TestEnv {
        let dir = super::shm_tempdir();
        let env = TestEnv {
            root: dir.path().to_path_buf(),
            _dir: Some(dir),
        };
        env.make_dirs();
        env
    }

    /// A world at a fixed path that nothing removes on drop (for [`world`]).
    fn at(root: PathBuf) -> TestEnv {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("world root");
        let env = TestEnv { root, _dir: None };
        env.make_dirs();
        env
    }

    fn make_dirs(&self) {
        use std::os::unix::fs::DirBuilderExt;
        for (_, sub) in DIRS {
            // XDG_RUNTIME_DIR must be 0700 and owned by the user; the rest may as well be.
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(self.root.join(sub))
                .unwrap_or_else(|e| panic!("{}/{sub}: {e}", self.root.display()));
        }
    }

    /// The folder holding everything.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `$HOME`.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// `$XDG_CONFIG_HOME`.
    pub fn config_home(&self) -> PathBuf {
        self.root.join("config")
    }

    /// `$XDG_CACHE_HOME`.
    pub fn cache_home(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// `$XDG_STATE_HOME`.
    pub fn state_home(&self) -> PathBuf {
        self.root.join("state")
    }

    /// `$XDG_DATA_HOME`.
    pub fn data_home(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `$XDG_RUNTIME_DIR`.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// `$TMPDIR`.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// runplz's own state folder, `$XDG_STATE_HOME/runplz` (run state under `runs/`).
    pub fn state_dir(&self) -> PathBuf {
        self.state_home().join("runplz")
    }

    /// Where `runplz local` keeps native venvs, `$XDG_CACHE_HOME/runplz/venvs`.
    pub fn venvs_dir(&self) -> PathBuf {
        self.cache_home().join("runplz/venvs")
    }

    /// The variables this world sets, with their values.
    pub fn vars(&self) -> Vec<(&'static str, PathBuf)> {
        DIRS.iter()
            .map(|(var, sub)| (*var, self.root.join(sub)))
            .collect()
    }

    /// Put `cmd` in this world: the variables above set, every `RUNPLZ_*` removed (those
    /// inherited from the test's environment and those already set on `cmd`; set one after
    /// this call to hand it to the tool).
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        let set: Vec<OsString> = cmd.get_envs().map(|(k, _)| k.to_owned()).collect();
        for k in std::env::vars_os().map(|(k, _)| k).chain(set) {
            if k.to_string_lossy().starts_with("RUNPLZ_") {
                cmd.env_remove(&k);
            }
        }
        for (var, path) in self.vars() {
            cmd.env(var, path);
        }
        cmd
    }

    /// A command for the built binary `name` (see [`super::bin`]) in this world.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(super::bin(name));
        self.apply(&mut c);
        c
    }

    /// A command for any program (`sh`, a script) in this world.
    pub fn program(&self, program: impl Into<OsString>) -> Command {
        let mut c = Command::new(program.into());
        self.apply(&mut c);
        c
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

/// The prefix of a shared world's folder name, followed by the owning test binary's pid
/// (the sweep removes those whose process is gone).
pub(super) const WORLD_PREFIX: &str = "rpt-world-";

/// The folder shared worlds live in.
pub(super) fn world_parent() -> &'static Path {
    if Path::new("/dev/shm").is_dir() {
        Path::new("/dev/shm")
    } else {
        Path::new("/tmp")
    }
}

static WORLD: OnceLock<TestEnv> = OnceLock::new();

extern "C" fn remove_world() {
    if let Some(w) = WORLD.get() {
        let _ = std::fs::remove_dir_all(&w.root);
    }
}

/// The world every [`super::bin_cmd`] runs in: one per test binary, at
/// `/dev/shm/rpt-world-<pid>`, removed when the binary exits (or, after a crash, by the next
/// run's sweep).
pub fn world() -> &'static TestEnv {
    WORLD.get_or_init(|| {
        super::sweep::once();
        let env = TestEnv::at(world_parent().join(format!("{WORLD_PREFIX}{}", std::process::id())));
        // SAFETY: registers a plain function, run once by exit(); it only removes a folder.
        unsafe { nix::libc::atexit(remove_world) };
        env
    })
}
