//! How runplz talks to a box: one set of ssh options shared by ssh and rsync, one
//! multiplexed connection per run (ControlMaster with a short socket path in a private
//! `$TMPDIR/rp-<pid>-XXXXXX` folder, closed and removed when the [`Ssh`] is dropped; the
//! folders a killed tool left behind are swept by the next [`Ssh::new`]), `BatchMode=yes` so
//! nothing ever prompts, the user's `--ssh-config` passed as `-F`, and the job's key as
//! `-i KEY -o IdentitiesOnly=yes`. Every remote script runs under `/bin/sh` whatever the
//! login shell is ([`posix_command`]), and every tool reads a folder on the box the same way
//! ([`remote_path`]).

mod control;
pub use control::is_runplz_master;
pub mod retry;

use crate::error::CliError;
use crate::process::Proc;
use crate::quote;
use anyhow::Result;
use control::{
    kept_dir, kept_socket, kept_socket_name, make_control_dir, sweep_control_dirs, tool_name,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// This tool's name (`runplz`, `rp-exec`), for the lines the library says on stderr.
pub fn tool() -> String {
    tool_name()
}

/// Where to connect: `[user@]host[:port]` or an ssh-config alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Login user, if given.
    pub user: Option<String>,
    /// Host name, address or ssh-config alias.
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
}

impl Target {
    /// Parse `[user@]host[:port]` (IPv6 as `[addr]:port`). Errors are usage errors.
    pub fn parse(s: &str) -> Result<Target> {
        let bad = |why: &str| {
            CliError::usage(format!(
                "--host: found {s:?}, expected [user@]host[:port] ({why})"
            ))
        };
        let (user, rest) = match s.rsplit_once('@') {
            Some((u, r)) => (Some(u.to_string()), r),
            None => (None, s),
        };
        if user.as_deref() == Some("") {
            return Err(bad("empty user"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        if host.is_empty() || host.starts_with('-') || host.chars().any(|c| c.is_whitespace()) {
            return Err(bad("bad host name"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("port must be 1-65535"))?,
            ),
            None => None,
        };
        Ok(Target { user, host, port })
    }

    /// `[user@]host[:port]` as given, an IPv6 address in brackets (the inverse of
    /// [`Target::parse`]; used for records and messages).
    pub fn label(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&bracketed(&self.host));
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }
}

/// A host as it must be written before a `:` (rsync's `host:path`, `host:port`): an IPv6
/// address in brackets.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Options for every ssh and rsync call of one run.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// `--ssh-config FILE` (or `RUNPLZ_SSH_CONFIG`), passed as `-F`.
    pub config: Option<PathBuf>,
    /// The job's `ssh.ssh_key_path`.
    pub key: Option<PathBuf>,
    /// The job's `ssh.user`, used when the target names none.
    pub user: Option<String>,
    /// The job's `ssh.port`, used when the target names none.
    pub port: Option<u16>,
    /// Seconds to wait for a connection (default 10).
    pub connect_timeout: Option<u32>,
    /// Keep the connection this long after the last use, for the next run (see
    /// [`Ssh::new`]); `None` or zero closes it with this [`Ssh`].
    pub keep: Option<Duration>,
}

/// The longest a connection is kept after a run (`ssh.keep_connection_seconds`).
pub const MAX_KEEP_SECONDS: i64 = 3600;

/// How long `runplz ssh` keeps its connection by default.
pub const DEFAULT_KEEP_SECONDS: u64 = 60;

impl SshOptions {
    /// The options for a run of `job` (its `ssh.user`, `ssh.port` and resolved
    /// `ssh.ssh_key_path`), with the ssh config from `--ssh-config` or `RUNPLZ_SSH_CONFIG`.
    pub fn for_job(job: Option<&crate::job::Job>, config_flag: Option<&Path>) -> SshOptions {
        let s = job.map(|j| &j.spec.ssh);
        SshOptions {
            config: config_from(config_flag),
            key: job.and_then(|j| j.ssh_key_path()),
            user: s.and_then(|s| s.user.clone()),
            // Validation already holds the port to 1-65535.
            port: s.and_then(|s| s.port).and_then(|p| u16::try_from(p).ok()),
            connect_timeout: None,
            keep: None,
        }
    }
}

/// A connection to one box: its target, options and the multiplexing socket.
#[derive(Debug)]
pub struct Ssh {
    target: Target,
    opts: SshOptions,
    /// Removed on drop (after the master is told to exit).
    control_dir: Option<tempfile::TempDir>,
    /// A kept connection's socket (see [`SshOptions::keep`]) and how long it is kept, or
    /// `None` when this only rides on one that another run keeps: left open on drop.
    kept: Option<Box<(PathBuf, Option<Duration>)>>,
}

impl Ssh {
    /// Prepare a connection (nothing is contacted yet). Checks the ssh config file exists.
    /// When no private folder for the control socket can be made in `$TMPDIR`, each ssh call
    /// connects anew, and a warning on stderr says so. With [`SshOptions::keep`], the
    /// connection outlives this [`Ssh`] by that long (ssh's `ControlPersist`), its socket in
    /// a private folder of the user's ([`control::kept_dir`]) named by the login, so the next
    /// run to the same box within that time pays no handshake; when that folder is unsafe
    /// (someone else's, or open to others) a warning says so and the connection is the run's
    /// own.
    pub fn new(target: Target, opts: SshOptions) -> Result<Ssh> {
        Ssh::new_in(target, opts, &std::env::temp_dir())
    }

    /// [`Ssh::new`] with the control socket's folder made in `tmp`.
    fn new_in(target: Target, opts: SshOptions, tmp: &Path) -> Result<Ssh> {
        if let Some(cfg) = &opts.config {
            if !cfg.is_file() {
                return Err(CliError::usage(format!(
                    "--ssh-config: {} does not exist",
                    cfg.display()
                )));
            }
        }
        let key = format!(
            "{}\0{:?}\0{:?}\0{:?}\0{:?}",
            Ssh::destination_of(&target, &opts),
            target.port.or(opts.port),
            opts.config,
            opts.key,
            opts.connect_timeout
        );
        match opts.keep {
            Some(keep) if !keep.is_zero() => match kept_dir(true) {
                Ok(dir) => {
                    let sock = kept_socket(&dir, &key);
                    return Ok(Ssh {
                        target,
                        opts,
                        control_dir: None,
                        kept: Some(Box::new((sock, Some(keep)))),
                    });
                }
                Err(why) => crate::out::warn(
                    &tool_name(),
                    format!("not keeping the ssh connection for the next run: {why}"),
                ),
            },
            Some(_) => {}
            // A tool that keeps nothing still rides on a live kept connection to the same
            // login (the edit-run loop's `rp-exec` after a `runplz ssh`), never making one.
            None => {
                if let Ok(dir) = kept_dir(false) {
                    let sock = kept_socket_name(&dir, &key);
                    if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
                        return Ok(Ssh {
                            target,
                            opts,
                            control_dir: None,
                            kept: Some(Box::new((sock, None))),
                        });
                    }
                }
            }
        }
        // Other tools' leftovers are swept by one that makes a folder of its own (riding on a
        // kept connection, the edit-run loop, reads no /tmp).
        sweep_control_dirs(tmp);
        // A short, private socket dir: unix socket paths are limited to ~104 bytes.
        let control_dir = match make_control_dir(tmp) {
            Ok(d) => Some(d),
            Err(e) => {
                crate::out::warn(
                    &tool_name(),
                    format!(
                        "cannot create a folder for the ssh control socket in {}: {e}; every ssh call will open its own connection",
                        tmp.display()
                    ),
                );
                None
            }
        };
        Ok(Ssh {
            target,
            opts,
            control_dir,
            kept: None,
        })
    }

    /// How this connection was made, for the run state (names and paths only).
    pub fn handle(&self) -> runplz_protocol::state::SshHandle {
        let abs = |p: &PathBuf| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        };
        runplz_protocol::state::SshHandle {
            target: self.target.label(),
            user: self.opts.user.clone(),
            port: self.opts.port,
            config: self.opts.config.as_ref().map(abs),
            key: self.opts.key.as_ref().map(abs),
        }
    }

    /// A connection made again from a run state's handle (by `runplz status / kill /
    /// collect`); `config` replaces the recorded ssh config when given.
    pub fn from_handle(
        h: &runplz_protocol::state::SshHandle,
        config: Option<PathBuf>,
    ) -> Result<Ssh> {
        Ssh::new(
            Target::parse(&h.target)?,
            SshOptions {
                config: config.or_else(|| h.config.as_ref().map(PathBuf::from)),
                key: h.key.as_ref().map(PathBuf::from),
                user: h.user.clone(),
                port: h.port,
                connect_timeout: Some(10),
                keep: None,
            },
        )
    }

    /// The target as given.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `user@host` or `host`, as ssh and rsync take it.
    pub fn destination(&self) -> String {
        Ssh::destination_of(&self.target, &self.opts)
    }

    fn destination_of(target: &Target, opts: &SshOptions) -> String {
        match target.user.as_ref().or(opts.user.as_ref()) {
            Some(u) => format!("{u}@{}", target.host),
            None => target.host.clone(),
        }
    }

    /// The ssh options (everything but the destination and command).
    pub fn options(&self) -> Vec<String> {
        let mut a = Vec::new();
        if let Some(cfg) = &self.opts.config {
            a.extend(["-F".into(), cfg.display().to_string()]);
        }
        if let Some(key) = &self.opts.key {
            a.extend([
                "-i".into(),
                key.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        if let Some(port) = self.target.port.or(self.opts.port) {
            a.extend(["-p".into(), port.to_string()]);
        }
        a.extend(["-o".into(), "BatchMode=yes".into()]);
        a.extend([
            "-o".into(),
            format!("ConnectTimeout={}", self.opts.connect_timeout.unwrap_or(10)),
            // A box that vanishes mid-run (network gone, instance reclaimed) is noticed in
            // about a minute instead of whenever TCP gives up.
            "-o".into(),
            "ServerAliveInterval=15".into(),
            "-o".into(),
            "ServerAliveCountMax=4".into(),
        ]);
        if let Some(dir) = &self.control_dir {
            let dir = dir.path();
            a.extend([
                "-o".into(),
                "ControlMaster=auto".into(),
                "-o".into(),
                format!("ControlPath={}/%C", dir.display()),
                "-o".into(),
                "ControlPersist=120".into(),
            ]);
        }
        if let Some((sock, keep)) = self.kept.as_deref() {
            // `%` would be one of ssh's tokens.
            let path = format!(
                "ControlPath={}",
                sock.display().to_string().replace('%', "%%")
            );
            match keep {
                Some(keep) => a.extend([
                    "-o".into(),
                    "ControlMaster=auto".into(),
                    "-o".into(),
                    path,
                    "-o".into(),
                    format!("ControlPersist={}", keep.as_secs().max(1)),
                ]),
                // Ride on it; should it be gone by then, ssh connects by itself.
                None => a.extend(["-o".into(), "ControlMaster=no".into(), "-o".into(), path]),
            }
        }
        a
    }

    /// The `-e` value for rsync: `ssh` plus [`Ssh::options`], shell-quoted.
    pub fn rsync_rsh(&self) -> String {
        rsh(self.options())
    }

    /// [`Ssh::rsync_rsh`] for a call that is likely the only one: it rides on the shared
    /// connection when that is up, else connects by itself without leaving a master behind
    /// (no `ssh -O exit` to pay for at the end). A later call makes the master as usual.
    pub fn rsync_rsh_alone(&self) -> String {
        if self.control_dir.is_none() {
            return self.rsync_rsh();
        }
        let mut o = self.options();
        let mut i = 0;
        while i + 1 < o.len() {
            if o[i] == "-o" && o[i + 1] == "ControlMaster=auto" {
                o[i + 1] = "ControlMaster=no".into();
            }
            if o[i] == "-o" && o[i + 1].starts_with("ControlPersist=") {
                o.drain(i..i + 2);
                continue;
            }
            i += 1;
        }
        rsh(o)
    }

    /// rsync's `[user@]host:DIR/` for a folder on the box in [`remote_path`]'s form (`.` is
    /// the home), IPv6 addresses in brackets. The trailing `/` means the folder's contents.
    /// A relative folder is written `./DIR`, so that neither a `:` nor a leading `-` in it is
    /// misread.
    pub fn rsync_dir(&self, dir: &str) -> String {
        let user = match self.target.user.as_ref().or(self.opts.user.as_ref()) {
            Some(u) => format!("{u}@"),
            None => String::new(),
        };
        let dir = match dir {
            "/" => String::new(),
            d if d.starts_with('/') || d == "." => d.to_string(),
            d => format!("./{d}"),
        };
        format!("{user}{}:{dir}/", bracketed(&self.target.host))
    }

    /// A [`Proc`] running the POSIX sh `script` on the box with `/bin/sh`, whatever the login
    /// shell is (see [`posix_command`]); no tty even if the user's ssh config asks for one.
    /// Quote everything inside the script with [`quote::sh`].
    pub fn command(&self, script: &str) -> Proc {
        Proc::new("ssh")
            .args(self.options())
            .args(["-T", "--"])
            .arg(self.destination())
            .arg(posix_command(script))
    }

    /// A [`Proc`] running a POSIX sh script that the caller gives it on stdin: the box runs
    /// `exec /bin/sh -s`, which every login shell passes through as it is. A long script
    /// costs the box far less this way than on the command line (a 5 KB launch: about 1.5 ms
    /// less on a loopback box, measured), and needs no encoding for the login shell. `sh`
    /// reads the script as it runs it, so what follows it on stdin is only for the script's
    /// own `read`s (a reply sent once the script asks for it), never data a program reads in
    /// blocks.
    pub fn command_on_stdin(&self) -> Proc {
        Proc::new("ssh")
            .args(self.options())
            .args(["-T", "--"])
            .arg(self.destination())
            .arg("exec /bin/sh -s")
    }

    /// Close the shared connection now (also done on drop; the socket's folder goes then).
    /// A kept connection stays for the next run; it closes itself once unused that long.
    pub fn close(&self) {
        if let Some(dir) = &self.control_dir {
            // Without a socket there is no master to tell (and nothing to wait 5 s for).
            let Some(sock) = std::fs::read_dir(dir.path())
                .ok()
                .and_then(|mut d| d.next())
                .and_then(|e| e.ok())
            else {
                return;
            };
            // Told straight over its socket; `ssh -O exit` where that did not work.
            if control::terminate_master(&sock.path()).is_err() {
                let _ = Proc::new("ssh")
                    .args(self.options())
                    .args(["-O", "exit", "--"])
                    .arg(self.destination())
                    .timeout(Some(Duration::from_secs(5)))
                    // Part of a run's release: a Ctrl-C now must not leave the master behind.
                    .shielded()
                    .run();
            }
        }
    }
}

/// `ssh` and these options as one shell-quoted command line.
fn rsh(options: Vec<String>) -> String {
    std::iter::once("ssh".to_string())
        .chain(options.iter().map(|o| quote::sh(o)))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Drop for Ssh {
    fn drop(&mut self) {
        self.close();
    }
}

/// The remote command line that makes any login shell run `script` with `/bin/sh`:
/// `exec /bin/sh -c 'eval "$(printf %b "..")"'`. sshd hands the command to the user's login
/// shell, and a fish, csh or zsh login would misread a POSIX script (zsh does not split
/// words, csh takes no newline inside quotes, fish reads `\\` inside quotes). So the script
/// travels as one line of printf `%b` text: a newline as `\n`; `$`, `"` and a backquote as
/// `\$`, `\"` and ``\` `` (sh's double quotes take the backslash off); every other byte but
/// letters, digits and plain punctuation as a `\0NNN` octal escape (a backslash, a quote, a
/// `!`). No two backslashes ever meet, so each of those shells passes the word through
/// unchanged. The short escapes keep the line small: the box's login shell and sh both parse
/// it before the script starts.
pub fn posix_command(script: &str) -> String {
    let mut enc = String::with_capacity(script.len() * 2);
    for b in script.bytes() {
        match b {
            b'\n' => enc.push_str("\\n"),
            b'$' | b'"' | b'`' => {
                enc.push('\\');
                enc.push(char::from(b));
            }
            b'\'' | b'\\' | b'!' => octal(&mut enc, b),
            0x20..=0x7e => enc.push(char::from(b)),
            _ => octal(&mut enc, b),
        }
    }
    format!("exec /bin/sh -c 'eval \"$(printf %b \"{enc}\")\"'")
}

/// `\0NNN`, written digit by digit (a format! a byte is slow for a long script).
fn octal(enc: &mut String, b: u8) {
    enc.push_str("\\0");
    for shift in [6, 3, 0] {
        enc.push(char::from(b'0' + ((b >> shift) & 7)));
    }
}

/// A folder on a box as every tool reads it, in one form: `~` is the home and `~/x` is `x`
/// in it; a relative path is relative to the home (where ssh logs in); an absolute path is
/// itself. Returns the home as `.`, `~/x` as `x`, without trailing `/` (`/` stays `/`).
/// `~user` is refused (no tool can expand it without a shell), as are empty paths and NUL
/// bytes; the error says why, for the caller to put after its flag's name.
pub fn remote_path(path: &str) -> std::result::Result<String, String> {
    if path.is_empty() || path.contains('\0') {
        return Err(format!(
            "found {path:?}, expected a folder on the box (`~/x`, `x` or `/x`)"
        ));
    }
    let rest = match path.strip_prefix('~') {
        None => path,
        Some("") => ".",
        Some(r) if r.starts_with('/') => r.trim_start_matches('/'),
        Some(_) => {
            return Err(format!(
                "found {path:?}: `~user` is not understood; expected `~`, `~/x`, a path relative to your home, or an absolute path"
            ))
        }
    };
    let trimmed = rest.trim_end_matches('/');
    Ok(match trimmed {
        "" if rest.starts_with('/') => "/".into(),
        "" => ".".into(),
        t => t.into(),
    })
}

/// A folder in [`remote_path`]'s form as a word for a remote shell: `"$HOME"`,
/// `"$HOME"/'x'` or `'/x'`, so neither CDPATH, a leading `-` nor the current folder matters.
pub fn remote_dir_word(dir: &str) -> String {
    if dir.starts_with('/') {
        quote::sh(dir)
    } else if dir == "." {
        "\"$HOME\"".into()
    } else {
        format!("\"$HOME\"/{}", quote::sh(dir))
    }
}

/// Resolve the ssh config file: the flag, else `RUNPLZ_SSH_CONFIG`, else none.
pub fn config_from(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os("RUNPLZ_SSH_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

#[cfg(test)]
mod tests;
