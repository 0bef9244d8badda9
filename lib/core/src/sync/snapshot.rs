//! A run's own copy of the shipped tree. Two runs of one job on one box share the synced
//! folder (`runplz/<job>`, so that each sync is incremental), and each runs in its own copy
//! of it, taken right after its sync: `cp -al`, hard links, so the copy costs no data. rsync
//! never writes a shipped file in place (it writes a temp file and renames it; rp-sync
//! passes no `--inplace`) and the manifest deletion unlinks, so a later sync into the shared
//! folder leaves the copy's content as it was.
//!
//! The sync and the copy must not interleave with another run's sync of the same folder (the
//! copy would hold some of the other run's files): [`SyncLock`] holds a `flock` on the box
//! from before the sync's first call to after the copy, in a remote process on the run's
//! shared connection that waits for its stdin to close. A box without `flock` gets a
//! warning, and the run goes on unlocked.

use super::remote::MARK;
use crate::error::CliError;
use crate::ssh::{remote_dir_word, Ssh};
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The lock file for syncs into `dest` (in [`crate::ssh::remote_path`]'s form), private to
/// the box user: `~/.runplz/locks/sync-<key of dest>`; without `lock`, none is taken (the
/// call is only a session). With `then`, that script runs once the lock is answered (in a
/// subshell), its output ended by `end` (see [`SyncLock::take`]); then one [`SyncLock::ship`]
/// may follow.
fn lock_script(dest: &str, then: Option<(&str, &str)>, lock: bool, snap: Option<&str>) -> String {
    let key = crate::hex::sha256_prefix(dest.as_bytes(), 6);
    // After the script, what the session is asked, one line each, each answer ended by
    // `end`: `ship` (see [`ship_script`]) and, for a run's copy, `snap` (see
    // [`snapshot_script`]).
    let then = then
        .map(|(script, end)| {
            let snap = snap
                .map(|s| {
                    format!(
                        "snap) (\n{}) </dev/null\nprintf '\\000\\000%s\\n' {end} ;;\n",
                        snapshot_script(dest, s)
                    )
                })
                .unwrap_or_default();
            format!(
                "(\n{script}\n)\nprintf '\\000\\000%s\\n' {end}\n\
                 while IFS= read -r rp_cmd; do\ncase $rp_cmd in\n{}{snap}*) break ;;\nesac\ndone\n",
                ship_script(dest, end)
            )
        })
        .unwrap_or_default();
    let take = if lock {
        "umask 077\nl=\"$HOME/.runplz/locks\"\nmkdir -p -- \"$l\" || exit 1\nchmod go= -- \"$HOME/.runplz\" \"$l\" 2>/dev/null || :\n\
         printf '%s\\n' {MARK}\n\
         if command -v flock >/dev/null 2>&1; then\n  exec 9>>\"$l/sync-{key}\"\n  if flock 9; then echo locked; else echo failed; fi\nelse\n  echo nolock\nfi\n"
            .replace("{MARK}", MARK)
            .replace("{key}", &key)
    } else {
        format!("umask 077\nprintf '%s\\n' {MARK}\necho open\n")
    };
    format!("{take}{then}exec cat >/dev/null\n")
}

/// The box side of [`SyncLock::ship`]: a line `ship NAME` (`ship NAME z`: the tar is
/// compressed with zstd), then the tar in pieces, each a line with its length and that many
/// bytes (GNU `head -c` reads no further), ended by `0`, then `ok` (or `abort`: the tar is
/// not whole). A `zstd` that fails ends the tar with a block that is no header, so that tar
/// fails too (GNU tar takes an archive cut between two members as whole). GNU tar unpacks
/// it into the folder (made private to the box user, as [`super::remote::rsync_path`] does: made under the
/// session's umask 077 where missing, its group and other bits cleared where there),
/// each file unlinked first where the folder was there (a run's hard-linked copy keeps its
/// content; in a new folder that is a failed call a file), owners and the
/// box user's umask (077) as rsync's `--chmod=go=` leaves them; NAME (or `-`) is a new
/// manifest among the files, put in place. Then the folder's token, or `shipfail`, and
/// `end`. A `case` arm of [`lock_script`]'s loop.
fn ship_script(dest: &str, end: &str) -> String {
    format!(
        "'ship -'|'ship - z'|'ship {m}.new.'*)\n\
         rp_m=${{rp_cmd#ship }} rp_z=\n\
         case $rp_m in *' z') rp_z=1 rp_m=${{rp_m% z}} ;; esac\n\
         (if [ -d {d} ]; then chmod go= -- {d} 2>/dev/null || :; rp_u=-U; else mkdir -p -- {d} || exit 1; rp_u=; fi\n\
         cd -- {d} || exit 1\n\
         rp_pieces() {{ while IFS= read -r rp_n && [ \"$rp_n\" != 0 ]; do\n\
         case $rp_n in ''|*[!0-9]*) exit 1 ;; esac\n\
         head -c \"$rp_n\"\n\
         done; }}\n\
         rp_tar() {{ tar -x $rp_u --no-same-owner --no-same-permissions -f -; }}\n\
         if [ -n \"$rp_z\" ]; then rp_pieces | {{ zstd -d -q -c || printf '%0512d' 0; }} | rp_tar\n\
         else rp_pieces | rp_tar; fi || exit 1\n\
         IFS= read -r rp_v && [ \"$rp_v\" = ok ] || exit 1\n\
         if [ \"$rp_m\" != - ]; then mv -f -- \"$rp_m\" {m} || exit 1; fi\n\
         {tok}printf 'token=%s\\n' \"$(rp_token)\") || printf 'shipfail\\n'\n\
         printf '\\000\\000%s\\n' {end} ;;\n",
        d = remote_dir_word(dest),
        m = super::remote::MANIFEST,
        tok = super::remote::TOKEN_FN,
    )
}

/// What [`SyncLock::ship`] writes into: the bytes go in pieces of at most `cap`, each
/// after a line with its length, handed to a thread that writes them to ssh (so files are
/// read here while earlier pieces travel); a signal here stops the writing (an error).
struct Pieces {
    to: mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    sent: u64,
    /// This piece's most bytes: [`FIRST_PIECE`] (or a start made ahead), four times more
    /// with each piece sent, up to [`PIECE`].
    cap: usize,
}

/// The largest piece of a shipped tar (each piece costs the box a `head`).
const PIECE: usize = 8 << 20;
/// The first piece's most bytes: small, so the box starts unpacking while this machine
/// reads on (a first piece of 8 MiB left the box idle for a tenth of a 10k-file sync).
const FIRST_PIECE: usize = 64 << 10;

impl Pieces {
    fn piece(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if crate::process::pending_signal().is_some() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "a signal came",
            ));
        }
        self.sent += self.buf.len() as u64;
        self.cap = (self.cap * 4).min(PIECE);
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(self.cap));
        self.to.send(piece).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the connection closed")
        })
    }
}

/// A session's tar as it goes to the box: `first` (a [`super::ship::Prebuilt`] frame, or
/// nothing) and then what `write` writes, as zstd (level 1: the padding and headers go at
/// little cost to this machine; the box's `zstd -d` reads the two frames as one stream) or,
/// for a box without zstd, as it is (`first` unpacked here). Whether the tar is whole.
fn tar_body(
    out: &mut dyn Write,
    zstd: bool,
    first: &[u8],
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<bool>,
) -> std::io::Result<bool> {
    if zstd {
        out.write_all(first)?;
        let mut z = zstd::stream::write::Encoder::new(out, 1)?;
        let whole = write(&mut z)?;
        z.finish()?;
        Ok(whole)
    } else {
        if !first.is_empty() {
            zstd::stream::copy_decode(first, &mut *out)?;
        }
        write(out)
    }
}

impl Write for Pieces {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = b.len().min(self.cap - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() == self.cap {
            self.piece()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.piece()
    }
}

/// The lock on syncs into one folder on the box, held until dropped (its remote process
/// ends when its stdin closes, and with it the lock; so it does when runplz dies). Taken
/// with a script to run, it is also a session that can [`ship`](SyncLock::ship) once.
pub struct SyncLock {
    child: Option<(Child, ChildStdin)>,
    /// What the box answers after the script's output, one message per answer; `None`
    /// once the session cannot be asked any more.
    more: Option<mpsc::Receiver<Vec<u8>>>,
    /// The run's copy it can take (see [`SyncLock::snapshot`]).
    snap: Option<String>,
}

/// A signal while waiting on the box: exit 128+n, the child killed.
fn stop_on_signal(child: &mut Child, what: &str) -> Result<()> {
    if let Some(sig) = crate::process::pending_signal() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(CliError::new(
            Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig} {what}"),
        ));
    }
    Ok(())
}

impl SyncLock {
    /// Wait for the lock on syncs into `dest` (with `lock`; else the call is only a session
    /// for `then` and [`SyncLock::ship`]). Without `flock` on the box (or when it fails) a
    /// warning goes to `warnings` and the lock holds nothing. A signal meanwhile stops the
    /// wait: exit 128+n.
    ///
    /// With `then`, a script that reads the box (the sync's [`super::remote::prepare_script`])
    /// runs in the same call once the lock is answered, which saves its round trip; its
    /// stdout comes back (`None` when the call broke before its end).
    pub fn take(
        ssh: &Ssh,
        dest: &str,
        then: Option<&str>,
        (lock, snap): (bool, Option<&str>),
        warnings: &mut Vec<String>,
    ) -> Result<(SyncLock, Option<Vec<u8>>)> {
        use std::os::unix::process::CommandExt;
        // What ends the script's output: NULs (no manifest holds two in a row) and a nonce.
        let end = format!("rp-sync-end-{:016x}", fastrand::u64(..));
        let sentinel = format!("\0\0{end}\n").into_bytes();
        let mut c = std::process::Command::new("ssh");
        c.args(ssh.options())
            .args(["-T", "--"])
            .arg(ssh.destination())
            .arg(crate::ssh::posix_command(&lock_script(
                dest,
                then.map(|t| (t, end.as_str())),
                lock,
                snap,
            )))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own group, as every child: a Ctrl-C is runplz's to act on.
            .process_group(0);
        let mut child = c
            .spawn()
            .map_err(|e| CliError::new(Exit::NotFound, format!("running ssh: {e}")))?;
        let stdin = child.stdin.take().context("ssh's stdin")?;
        let stdout = child.stdout.take().context("ssh's stdout")?;
        let (tx, rx) = mpsc::channel();
        let (more_tx, more_rx) = mpsc::channel();
        let wants = then.is_some();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = Vec::new();
            let mut marked = false;
            let mut answer = None;
            while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                let l =
                    String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line)).into_owned();
                line.clear();
                if marked {
                    answer = Some(l);
                    break;
                }
                marked = l == MARK;
            }
            // Each answer up to the sentinel: the script's output, then a ship's.
            let mut next = || {
                let mut buf = Vec::new();
                while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                    if buf.ends_with(&sentinel) {
                        buf.truncate(buf.len() - sentinel.len());
                        return Some(buf);
                    }
                }
                None
            };
            let then_out = if answer.is_some() && wants {
                next()
            } else {
                None
            };
            let go_on = then_out.is_some();
            let _ = tx.send((answer, then_out));
            if go_on {
                while let Some(b) = next() {
                    if more_tx.send(b).is_err() {
                        break;
                    }
                }
            }
        });
        let (answer, then_out) = loop {
            stop_on_signal(
                &mut child,
                &format!("while waiting for another sync of {dest} on the box"),
            )?;
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(a) => break a,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break (None, None),
            }
        };
        let who = ssh.destination();
        let unlocked = |why: String, warnings: &mut Vec<String>| {
            warnings.push(format!(
                "{why}: this sync and its copy for the run are not locked against another run of the same job syncing at once"
            ));
        };
        let more = then_out.is_some().then_some(more_rx);
        match answer.as_deref() {
            Some("locked") | Some("open") => Ok((
                SyncLock {
                    child: Some((child, stdin)),
                    more,
                    snap: snap.map(str::to_string),
                },
                then_out,
            )),
            other => {
                // Only a lock asked for is missed (a session's break is asked again).
                if lock {
                    unlocked(
                        match other {
                            Some("nolock") => format!("{who} has no `flock` (util-linux)"),
                            Some("failed") => format!("`flock` failed on {who}"),
                            _ => format!("could not take the sync lock on {who}"),
                        },
                        warnings,
                    );
                }
                drop(stdin);
                finish(child);
                Ok((
                    SyncLock {
                        child: None,
                        more: None,
                        snap: None,
                    },
                    then_out,
                ))
            }
        }
    }

    /// Whether [`SyncLock::ship`] can be asked.
    pub fn can_ship(&self) -> bool {
        self.child.is_some() && self.more.is_some()
    }

    /// Send a tar that `write` writes (files to unpack into the folder; `manifest`, the
    /// name of a new manifest among them) in this session, after `first` (a zstd frame
    /// holding the tar's start, see [`super::ship::Prebuilt`]; may be empty), and return the bytes sent and
    /// the folder's token after (see [`super::remote::TOKEN_FN`]). `write` says whether the
    /// tar is whole. The token is `None` when it was not, when the box could not unpack it
    /// all (some files may have landed: the folder then needs a whole sync) or the call
    /// broke. A signal meanwhile: exit 128+n.
    pub fn ship(
        &mut self,
        manifest: Option<&str>,
        zstd: bool,
        first: &[u8],
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<bool>,
    ) -> Result<(u64, Option<String>)> {
        if !self.can_ship() {
            return Ok((0, None));
        }
        let (_, stdin) = self.child.as_mut().expect("checked");
        // The answer is read by its own thread meanwhile, so the box never waits on us.
        let (wrote, sent) = std::thread::scope(|s| {
            let (to, pieces) = mpsc::sync_channel::<Vec<u8>>(4);
            let writer = s.spawn(move || -> std::io::Result<()> {
                let z = if zstd { " z" } else { "" };
                stdin.write_all(format!("ship {}{z}\n", manifest.unwrap_or("-")).as_bytes())?;
                for piece in pieces {
                    stdin.write_all(format!("{}\n", piece.len()).as_bytes())?;
                    stdin.write_all(&piece)?;
                }
                Ok(())
            });
            let mut p = Pieces {
                to,
                buf: Vec::with_capacity(FIRST_PIECE),
                sent: 0,
                // A start made ahead goes as one piece (each piece costs the box a `head`).
                cap: first.len().clamp(FIRST_PIECE, PIECE),
            };
            let wrote = tar_body(&mut p, zstd, first, write).and_then(|whole| {
                p.flush()?;
                Ok(whole)
            });
            let sent = p.sent;
            drop(p);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the writing thread panicked")));
            (written.and(wrote), sent)
        });
        let (_, stdin) = self.child.as_mut().expect("checked");
        let verdict: &[u8] = match &wrote {
            Ok(true) => b"0\nok\n",
            _ => b"0\nabort\n",
        };
        let _ = stdin.write_all(verdict).and_then(|_| stdin.flush());
        if wrote.is_err() {
            // Where the box stands in the stream is not known: ask it nothing more.
            self.more = None;
            let (child, _) = self.child.as_mut().expect("checked");
            stop_on_signal(child, "while shipping files")?;
            return Ok((sent, None));
        }
        let token = self.answer("while shipping files")?.and_then(|b| {
            let s = String::from_utf8_lossy(&b).into_owned();
            s.lines()
                .find_map(|l| l.strip_prefix("token=").map(str::to_string))
                .filter(|t| !t.is_empty())
        });
        Ok((sent, token.filter(|_| matches!(wrote, Ok(true)))))
    }

    /// Take the run's copy named at [`SyncLock::take`] in this session (see
    /// [`take_snapshot`]); `None` when the session cannot (take it by its own call).
    pub fn snapshot(&mut self, ssh: &Ssh) -> Result<Option<Vec<String>>> {
        let Some(snap) = self.snap.clone().filter(|_| self.can_ship()) else {
            return Ok(None);
        };
        let (_, stdin) = self.child.as_mut().expect("checked");
        if stdin
            .write_all(b"snap\n")
            .and_then(|_| stdin.flush())
            .is_err()
        {
            self.more = None;
            return Ok(None);
        }
        let Some(out) = self.answer("while copying the shipped files for the run")? else {
            return Ok(None);
        };
        let out = String::from_utf8_lossy(&out);
        let answer = out
            .split_once(&format!("{MARK}\n"))
            .map(|(_, a)| a.trim().to_string());
        let ok = matches!(answer.as_deref(), Some("linked" | "copied"));
        snapshot_answer(ssh, &snap, ok, answer.as_deref(), &out).map(Some)
    }

    /// The next answer from the box; `None` when the call broke.
    fn answer(&mut self, what: &str) -> Result<Option<Vec<u8>>> {
        let (Some((child, _)), Some(more)) = (self.child.as_mut(), self.more.as_ref()) else {
            return Ok(None);
        };
        loop {
            stop_on_signal(child, what)?;
            match more.recv_timeout(Duration::from_millis(100)) {
                Ok(b) => return Ok(Some(b)),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.more = None;
                    return Ok(None);
                }
            }
        }
    }
}

impl Drop for SyncLock {
    fn drop(&mut self) {
        if let Some((child, mut stdin)) = self.child.take() {
            let _ = stdin.flush();
            drop(stdin);
            finish(child);
        }
    }
}

/// Wait a little (5 s) for a lock holder to end after its stdin closed, then kill it. It
/// usually ends within a round trip, so the first looks come quickly.
fn finish(mut child: Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut pause = Duration::from_micros(500);
    while std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Copy `src` to `snap` on the box (both in [`crate::ssh::remote_path`]'s form): hard links
/// where the file system allows, else a full copy (with a warning). `snap` must not exist;
/// its parent is created private to the box user. Returns the warnings.
pub fn take_snapshot(ssh: &Ssh, src: &str, snap: &str) -> Result<Vec<String>> {
    let f = ssh
        .command(&snapshot_script(src, snap))
        .timeout(Some(Duration::from_secs(600)))
        .run()?;
    f.check_interrupted()?;
    let out = f.stdout_str();
    let answer = out
        .split_once(&format!("{MARK}\n"))
        .map(|(_, a)| a.trim().to_string());
    snapshot_answer(
        ssh,
        snap,
        f.status.success(),
        answer.as_deref(),
        &f.tail(10),
    )
}

/// What [`snapshot_script`] said, as the warnings or the error it means.
fn snapshot_answer(
    ssh: &Ssh,
    snap: &str,
    ok: bool,
    answer: Option<&str>,
    tail: &str,
) -> Result<Vec<String>> {
    let where_ = format!("{}:{snap}", ssh.destination());
    match (ok, answer) {
        (true, Some("linked")) => Ok(Vec::new()),
        (true, Some("copied")) => Ok(vec![format!(
            "could not hard-link the shipped files into {where_} (another file system?): copied them instead"
        )]),
        (_, Some("exists")) => Err(CliError::new(
            Exit::Failed,
            format!("{where_} already exists: give a folder that does not"),
        )),
        _ => Err(CliError::new(
            Exit::Failed,
            format!("copying the shipped files to {where_}: {}", tail.trim()),
        )),
    }
}

/// The box side of [`take_snapshot`]. The copy is private (umask 077; the folders rsync
/// made are 0700 already, and `cp -a` keeps that); the manifest stays with the shared folder.
fn snapshot_script(src: &str, snap: &str) -> String {
    let parent = Path::new(snap)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ".".into());
    format!(
        "umask 077; unset CDPATH\n(umask 077 && mkdir -p -- {p}) || exit 1\nchmod go= -- {p} 2>/dev/null || :\n\
         printf '%s\\n' {MARK}\n\
         if [ -e {s} ] || [ -L {s} ]; then echo exists; exit 1; fi\n\
         if cp -al -- {src} {s} 2>/dev/null; then echo linked\n\
         else rm -rf -- {s}; cp -a -- {src} {s} || exit 1; echo copied; fi\n\
         rm -f -- {s}/{m}\n",
        p = remote_dir_word(&parent),
        s = remote_dir_word(snap),
        src = remote_dir_word(src),
        m = super::remote::MANIFEST,
    )
}

#[cfg(test)]
mod tests;
