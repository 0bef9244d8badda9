//! Brev boxes over the real `brev` CLI (what the real CLI accepts and prints, as documented and observed), the logic of
//! `rp-box` and of `runplz brev`'s acquire and release.
//!
//! brev's quirks, handled here once: stdin is always /dev/null (a pipe makes brev read names
//! or types from it, and a login prompt then ends at EOF instead of waiting); exit codes say
//! little (`create` exits 0 when the box failed, `start` exits 0 for an unknown name), so
//! every verb is checked against `brev ls --json` afterwards, whose shape depends on the
//! version; `create` can fail *after* the box was made (`unexpected EOF`), so a failed create
//! looks before it tries again and never creates twice; `start` is always `-d` (without it
//! brev may wait for ever). Transient failures are retried with backoff; final ones (quota,
//! permissions, a provider not enabled) stop at once.

mod files;
pub mod parse;

pub use files::{skip_onboarding, ssh_config_text, write_ssh_config};

use crate::error::CliError;
use crate::process::Proc;
use anyhow::Result;
use parse::Failure;
use runplz_protocol::{BoxInfo, Exit};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How `brev` is installed, for the missing-program message.
pub const BREV_HINT: &str =
    "install the Brev CLI (https://docs.nvidia.com/brev: `brew install brevdev/homebrew-brev/brev` or the install script) and run `brev login`";

/// How long one brev call may take (create with `-d` returns in seconds).
const CALL_LIMIT: Duration = Duration::from_secs(180);
/// Tries of a verb whose failure looks transient.
const TRIES: u32 = 4;

/// The `brev` CLI.
#[derive(Debug, Clone)]
pub struct Brev {
    program: PathBuf,
    /// Releasing: every call shielded from Ctrl-C, and a pending signal ends no retry.
    cleanup: bool,
}

/// How a box is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateMode {
    /// `--mode container --container-image IMAGE`: the box is the image.
    Container(String),
    /// `--mode vm --jupyter=false`: a VM.
    Vm,
}

/// The name of an ephemeral box: `runplz-<job slug>-<8 hex>` (at most 63 characters, brev's
/// rule), so that runplz's boxes can be told apart and found later.
pub fn ephemeral_name(job: &str) -> String {
    let mut slug: String = job
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    let slug: String = slug.trim_matches('-').chars().take(45).collect();
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "job" } else { slug };
    format!("runplz-{slug}-{:08x}", random_u32())
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// Whether `name` is one runplz made for a run.
pub fn is_ours(name: &str) -> bool {
    name.starts_with("runplz-")
}

/// Brev's instance-name rule, checked before anything is called.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(CliError::usage(format!(
            "instance name {name:?}: expected 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit (brev's rule)"
        )));
    }
    Ok(())
}

/// A pending Ctrl-C (or TERM/HUP) ends a wait or a retry: the caller releases the box.
fn check_signal(doing: &str) -> Result<()> {
    if let Some(sig) = crate::process::pending_signal() {
        return Err(CliError::new(
            Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig} while {doing}"),
        ));
    }
    Ok(())
}

/// Sleep in small slices, so that a signal ends it at once.
fn pause(d: Duration, doing: &str) -> Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        check_signal(doing)?;
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
    }
    check_signal(doing)
}

/// One brev call's outcome.
struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Out {
    /// The reason in one line: a worker's `Failed: <why>` (create's real cause, before its
    /// summary `could only create 0/1 instances`), else the last line.
    fn why(&self) -> String {
        let s = self.stderr.trim();
        let s = if s.is_empty() { self.stdout.trim() } else { s };
        let last = s.lines().last().unwrap_or("").to_string();
        match s
            .lines()
            .rev()
            .find_map(|l| l.split_once(" Failed: ").map(|(_, w)| w))
        {
            Some(w) if !last.starts_with("Error: ") => format!("{w}; {last}"),
            _ => last,
        }
    }
}

impl Brev {
    /// The `brev` on PATH; a one-line error with the fix when there is none.
    pub fn find() -> Result<Brev> {
        let program = crate::process::require("brev", BREV_HINT)?;
        if let Some(home) = std::env::var_os("HOME") {
            skip_onboarding(Path::new(&home));
        }
        Ok(Brev {
            program,
            cleanup: false,
        })
    }

    /// The same CLI for a release: nothing it runs is stopped by a Ctrl-C (a second Ctrl-C
    /// must not leave a billed box behind); each call still has its time limit.
    pub fn for_cleanup(self) -> Brev {
        Brev {
            cleanup: true,
            ..self
        }
    }

    /// `brev ARGS`, stdin /dev/null. `shielded`: a Ctrl-C neither stops nor interrupts it
    /// (creating, stopping, deleting: a call cut in half leaves brev's state unknown).
    fn call(&self, args: &[&str], shielded: bool) -> Result<Out> {
        let mut p = Proc::new(&self.program)
            .args(args)
            .timeout(Some(CALL_LIMIT));
        let shielded = shielded || self.cleanup;
        if shielded {
            p = p.shielded();
        }
        let f = p.run()?;
        if !shielded {
            f.check_interrupted()?;
        }
        if f.timed_out {
            anyhow::bail!(
                "`brev {}` did not finish in {} s",
                args.join(" "),
                CALL_LIMIT.as_secs()
            );
        }
        Ok(Out {
            ok: f.status.success(),
            stdout: f.stdout_str(),
            stderr: String::from_utf8_lossy(&f.stderr).into_owned(),
        })
    }

    /// A call retried while its failure looks transient; final failures and a login
    /// prompt end it at once. `Ok(Err(out))` is a failure that was not retried away.
    fn call_retrying(
        &self,
        args: &[&str],
        shielded: bool,
    ) -> Result<std::result::Result<Out, Out>> {
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=TRIES {
            let out = self.call(args, shielded)?;
            if out.ok {
                return Ok(Ok(out));
            }
            match parse::classify(&out.stdout, &out.stderr) {
                Failure::LoggedOut => return Err(logged_out()),
                Failure::Transient if attempt < TRIES => {
                    crate::out::note(
                        &tool(),
                        format!(
                            "`brev {}` failed ({}); trying again in {:.1}s",
                            args.first().unwrap_or(&""),
                            out.why(),
                            wait.as_secs_f64()
                        ),
                    );
                    if self.cleanup {
                        std::thread::sleep(wait);
                    } else {
                        pause(wait, "waiting to retry brev")?;
                    }
                    wait *= 2;
                }
                _ => return Ok(Err(out)),
            }
        }
        unreachable!("the last try returns")
    }

    /// Every workspace `brev ls --json` lists.
    pub fn ls(&self) -> Result<Vec<BoxInfo>> {
        match self.call_retrying(&["ls", "--json"], false)? {
            Ok(out) => parse::ls_json(&out.stdout),
            Err(out) => Err(CliError::new(
                Exit::Failed,
                format!("`brev ls --json` failed: {}", out.why()),
            )),
        }
    }

    /// The workspace named `name`, if `brev ls` lists it.
    pub fn get(&self, name: &str) -> Result<Option<BoxInfo>> {
        Ok(self.ls()?.into_iter().find(|b| b.name == name))
    }

    /// Create `name` with the first of `types` that works (brev's own fallback chain),
    /// detached. Never twice: after a failed call, `brev ls` is read first and a box of that
    /// name is taken as made. A final failure says nothing was created.
    pub fn create(&self, name: &str, types: &[String], mode: &CreateMode) -> Result<BoxInfo> {
        check_name(name)?;
        if types.is_empty() {
            return Err(CliError::usage("no instance type to create a box with"));
        }
        let list = types.join(",");
        let mut args = vec!["create", name, "--type", &list, "--detached"];
        match mode {
            CreateMode::Container(image) => {
                args.extend(["--mode", "container", "--container-image", image.as_str()])
            }
            CreateMode::Vm => args.extend(["--mode", "vm", "--jupyter=false"]),
        }
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=TRIES {
            let out = self.call(&args, true)?;
            // Exit codes are not to be trusted either way: look.
            let seen = self.get(name)?;
            if let Some(b) = seen {
                if !out.ok {
                    crate::out::warn(
                        &tool(),
                        format!(
                            "`brev create` failed ({}) but box {name} exists: using it, not creating another",
                            out.why()
                        ),
                    );
                }
                return Ok(b);
            }
            if out.ok {
                anyhow::bail!(
                    "`brev create {name}` exited 0 but `brev ls` does not list {name}; nothing is billed for it"
                );
            }
            match parse::classify(&out.stdout, &out.stderr) {
                Failure::LoggedOut => return Err(logged_out()),
                Failure::Transient if attempt < TRIES => {
                    crate::out::note(
                        &tool(),
                        format!(
                            "`brev create` failed ({}) and created nothing (checked with `brev ls`); trying again in {:.1}s",
                            out.why(),
                            wait.as_secs_f64()
                        ),
                    );
                    pause(wait, "waiting to retry brev create")?;
                    wait *= 2;
                }
                _ => {
                    return Err(CliError::new(
                        Exit::Failed,
                        format!(
                            "`brev create {name}` failed: {}; nothing was created and nothing is billed (checked with `brev ls`). brev said:\n{}",
                            out.why(),
                            out.stderr.trim_end()
                        ),
                    ))
                }
            }
        }
        unreachable!("the last try returns")
    }

    /// Start a stopped box (detached) and check that brev took it; a running or starting
    /// one is left as it is; a stopping one is waited for first.
    pub fn start(&self, name: &str, limit: Duration) -> Result<BoxInfo> {
        let end = Instant::now() + limit;
        let mut looks = 0;
        loop {
            looks += 1;
            let Some(b) = self.get(name)? else {
                return Err(CliError::new(
                    Exit::Failed,
                    format!("box {name} does not exist (`brev ls` does not list it)"),
                ));
            };
            match b.status.as_str() {
                "STOPPED" => break,
                "RUNNING" | "STARTING" | "DEPLOYING" => return Ok(b),
                "STOPPING" if Instant::now() < end => {
                    pause(poll(looks, end), "waiting for the box to stop")?
                }
                other => {
                    return Err(CliError::new(
                        Exit::Failed,
                        format!("box {name} is {other}; it cannot be started now"),
                    ))
                }
            }
        }
        if let Err(out) = self.call_retrying(&["start", name, "-d"], true)? {
            return Err(CliError::new(
                Exit::Failed,
                format!("`brev start {name}` failed: {}", out.why()),
            ));
        }
        match self.get(name)? {
            Some(b) if b.status != "STOPPED" => Ok(b),
            Some(_) => {
                anyhow::bail!("`brev start {name}` returned but `brev ls` still shows it STOPPED")
            }
            None => anyhow::bail!("`brev start {name}` returned but `brev ls` no longer lists it"),
        }
    }

    /// Wait until the box is RUNNING with its shell READY, then refresh brev's ssh config,
    /// then until `ssh_ok` answers true, all by `limit`. FAILURE ends it at once. Every third
    /// failed ssh try refreshes again (a box that rebooted may have a new address).
    pub fn wait(
        &self,
        name: &str,
        limit: Duration,
        mut ssh_ok: impl FnMut() -> bool,
    ) -> Result<BoxInfo> {
        let end = Instant::now() + limit;
        let late = |what: &str| {
            CliError::new(
                Exit::Failed,
                format!(
                    "box {name} {what} within {} s (ssh_ready_wait_seconds)",
                    limit.as_secs()
                ),
            )
        };
        let mut looks = 0;
        let b = loop {
            looks += 1;
            let b = self.get(name)?.ok_or_else(|| {
                CliError::new(
                    Exit::Failed,
                    format!("box {name} disappeared while waiting for it (`brev ls` no longer lists it)"),
                )
            })?;
            match (b.status.as_str(), b.shell_status.as_str()) {
                ("RUNNING", "READY") => break b,
                ("FAILURE", _) => {
                    return Err(CliError::new(
                        Exit::Failed,
                        format!("box {name} failed to come up (brev status FAILURE; `brev ls` has the details)"),
                    ))
                }
                ("STOPPED" | "STOPPING" | "DELETING", _) => {
                    return Err(CliError::new(
                        Exit::Failed,
                        format!("box {name} is {} while waiting for it to run", b.status),
                    ))
                }
                _ if Instant::now() >= end => return Err(late(&format!("was still {}", b.status))),
                _ => pause(poll(looks, end), "waiting for the box")?,
            }
        };
        self.refresh()?;
        let mut fails = 0;
        loop {
            check_signal("waiting for the box's ssh")?;
            if ssh_ok() {
                return Ok(b);
            }
            fails += 1;
            if Instant::now() >= end {
                return Err(late("did not answer ssh"));
            }
            if fails % 3 == 0 {
                self.refresh()?;
            }
            pause(poll(fails, end), "waiting for the box's ssh")?;
        }
    }

    /// `brev refresh`: brev rewrites `~/.brev/ssh_config` with a `Host NAME` per running box.
    pub fn refresh(&self) -> Result<()> {
        match self.call_retrying(&["refresh"], false)? {
            Ok(_) => Ok(()),
            Err(out) => Err(CliError::new(
                Exit::Failed,
                format!("`brev refresh` failed: {}", out.why()),
            )),
        }
    }

    /// Stop the box and check with `brev ls` that it is stopping or stopped. Idempotent.
    pub fn stop(&self, name: &str) -> Result<String> {
        self.end(name, "stop", &["STOPPING", "STOPPED"])
    }

    /// Delete the box and check with `brev ls` that it is going or gone. Idempotent: a box
    /// that is not there is deleted.
    pub fn delete(&self, name: &str) -> Result<String> {
        self.end(name, "delete", &["DELETING"])
    }

    fn end(&self, name: &str, verb: &str, fine: &[&str]) -> Result<String> {
        let before = self.get(name)?;
        let Some(before) = before else {
            return Ok(format!("`brev ls` does not list {name}: nothing to {verb}"));
        };
        if verb == "stop" && before.status == "STOPPED" {
            return Ok(format!("`brev ls` shows {name} STOPPED already"));
        }
        if let Err(out) = self.call_retrying(&[verb, name], true)? {
            // It may have gone meanwhile (another delete, brev's own clean-up).
            if out.why().contains("not found") && verb == "delete" && self.get(name)?.is_none() {
                return Ok(format!("`brev ls` no longer lists {name}"));
            }
            return Err(CliError::new(
                Exit::Failed,
                format!("`brev {verb} {name}` failed: {}", out.why()),
            ));
        }
        // Brev acts asynchronously: a few looks, then say what was seen.
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            match self.get(name)? {
                None if verb == "delete" => return Ok(format!("`brev ls` no longer lists {name}")),
                Some(b) if fine.contains(&b.status.as_str()) => {
                    return Ok(format!("`brev ls` shows {name} {}", b.status))
                }
                found if Instant::now() >= end => {
                    anyhow::bail!(
                        "`brev {verb} {name}` returned but `brev ls` shows {} after 30 s",
                        found.map(|b| b.status).unwrap_or_else(|| "it gone".into())
                    )
                }
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }
}

/// How long to wait before look number `n` (from 0): quick at first (a box that is nearly
/// up), then every 2 s, never past the end.
fn poll(n: u32, end: Instant) -> Duration {
    let d = Duration::from_millis(100u64 << n.min(4)).min(Duration::from_secs(2));
    d.min(end.saturating_duration_since(Instant::now()))
        .max(Duration::from_millis(10))
}

fn logged_out() -> anyhow::Error {
    CliError::new(
        Exit::Failed,
        "brev is logged out (it asked to log in): run `brev login` (or `brev login --token ...` in CI); nothing was created and nothing is billed",
    )
}

fn tool() -> String {
    std::env::args()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "runplz".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_names_follow_brevs_rule_and_say_ours() {
        for job in ["train", "My Job!!", "", "-x-", &"long".repeat(40)] {
            let n = ephemeral_name(job);
            check_name(&n).unwrap();
            assert!(is_ours(&n), "{n}");
            let hex = n.rsplit('-').next().unwrap();
            assert_eq!(hex.len(), 8, "{n}");
            assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{n}");
        }
        assert!(ephemeral_name("My Job!!").starts_with("runplz-my-job-"));
        assert_ne!(ephemeral_name("a"), ephemeral_name("a"));
        assert!(check_name("-x").is_err() && check_name("a b").is_err());
    }
}
