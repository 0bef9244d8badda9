//! Sending a staged tree (see the module's head): ask the box, then nothing, a tar in the
//! same session, or a whole rsync; and what this machine remembers of the box afterwards.

use super::*;

/// What [`up`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Files whose data rsync sent (0 when nothing changed).
    pub files_transferred: u64,
    /// Bytes rsync sent over the connection.
    pub bytes_transferred: u64,
    /// Files deleted on the box because they were deleted here.
    pub deleted: u64,
    /// Soft problems, for stderr.
    pub warnings: Vec<String>,
    /// The files whose data rsync sent, as it named them (`None` when it did not say).
    pub sent: Option<Vec<PathBuf>>,
    /// Of the files sent, those whose size, mtime or inode were no longer as staged once
    /// read (checked while shipping a tar); `None` when not checked (look again).
    pub changed: Option<Vec<PathBuf>>,
}

/// Ship `staged` to `dest` (already checked by [`remote_dir`]) on the box: create the folder,
/// delete what was deleted here since the last sync, rsync the list, record the manifest.
/// Errors: rsync or ssh failing (exit 1, naming rsync's exit code and its last lines).
pub fn up(ssh: &Ssh, staged: &Staged, dest: &str) -> Result<Transfer> {
    stage_and_up(ssh, dest, None, || Ok(staged.clone())).map(|(_, t)| t)
}

/// [`up`], then copy `dest` to `snapshot` on the box (hard links where they work; see
/// [`snapshot`](mod@snapshot)), holding the box's lock on syncs into `dest` from before the
/// first call to after the copy, so the copy is exactly what this sync shipped.
pub fn up_snapshot(ssh: &Ssh, staged: &Staged, dest: &str, snapshot: &str) -> Result<Transfer> {
    stage_and_up(ssh, dest, Some(snapshot), || Ok(staged.clone())).map(|(_, t)| t)
}

/// [`up`] (or [`up_snapshot`] with `snapshot`) of what `stage` decides. Without a snapshot,
/// when this machine knows what the box holds ([`last`]) and nothing is to be deleted, the
/// transfer is the only round trip (it checks the box first); else the box is asked for
/// its last manifest (and the lock taken) over ssh while `stage` walks the tree here. Nothing
/// on the box changes before `stage` has returned the list.
pub fn stage_and_up(
    ssh: &Ssh,
    dest: &str,
    snapshot: Option<&str>,
    stage: impl FnOnce() -> Result<Staged>,
) -> Result<(Staged, Transfer)> {
    let was = last::load(ssh, dest);
    if snapshot.is_none() && was.as_ref().is_none_or(|w| w.token.is_empty()) {
        // One round trip where the box is as this machine last left it (see [`last`]);
        // else the box is asked first. Nothing runs before `stage` has passed (it may
        // refuse the tree).
        let staged = stage()?;
        if let Some(tr) = up_as_last_left(ssh, &staged, dest, was.as_ref())? {
            return Ok((staged, tr));
        }
        return ask_then_up(ssh, dest, None, move || Ok(staged), None);
    }
    // With a token, the box's answer (asked while staging) can spare rsync's whole walk.
    ask_then_up(ssh, dest, snapshot, stage, was)
}

/// [`stage_and_up`] asking the box first (with the lock for a snapshot taken meanwhile).
fn ask_then_up(
    ssh: &Ssh,
    dest: &str,
    snapshot: Option<&str>,
    stage: impl FnOnce() -> Result<Staged>,
    was: Option<last::Last>,
) -> Result<(Staged, Transfer)> {
    let where_ = format!("{}:{dest}", ssh.destination());
    let t0 = Instant::now();
    let (staged, early, pre) = std::thread::scope(|s| {
        // Asked meanwhile (a process start), not before the box is reached.
        s.spawn(local_rsync_version);
        let early = s.spawn(|| -> Result<_> {
            let mut warnings = Vec::new();
            let token = was.as_ref().is_some_and(|w| !w.token.is_empty());
            let prepare = remote::prepare_script(dest, token);
            // The box is asked in the lock's own call, once the lock is held (without a
            // snapshot, in a session without the lock), which can also ship files; on its
            // own only where that call did not bring the answer back.
            let (lock, asked) = snapshot::SyncLock::take(
                ssh,
                dest,
                Some(&prepare),
                (snapshot.is_some(), snapshot),
                &mut warnings,
            )?;
            let lock = Some(lock);
            let out = match asked {
                Some(a) => a,
                None => step(ssh, &prepare, None, &format!("preparing {where_}"))?.stdout,
            };
            Ok((lock, warnings, out))
        });
        let staged = stage();
        // Until the box answers, the tree's tar is made ready: a folder with no manifest
        // gets it whole (see [`transfer`]); else it is dropped.
        let pre = match &staged {
            Ok(st) if !early.is_finished() => {
                ship::prebuild(&st.root, &st.files, || early.is_finished())
            }
            _ => None,
        };
        let early = early
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("preparing {where_}: the thread panicked")));
        (staged, early, pre)
    });
    let staged = staged?;
    let (mut lock, mut warnings, f) = early?;
    crate::out::timing("sync", "stage and prepare", t0);
    let prepared = remote::parse_prepared(&f).with_context(|| format!("preparing {where_}"))?;
    let mut tr = transfer(
        ssh,
        &staged,
        dest,
        &prepared,
        was.as_ref(),
        (lock.as_mut(), pre),
    )?;
    warnings.append(&mut tr.warnings);
    if let Some(snap) = snapshot {
        let t = Instant::now();
        let in_session = match lock.as_mut() {
            Some(l) => l.snapshot(ssh)?,
            None => None,
        };
        warnings.extend(match in_session {
            Some(w) => w,
            None => snapshot::take_snapshot(ssh, dest, snap)?,
        });
        crate::out::timing("sync", "snapshot", t);
    }
    drop(lock);
    tr.warnings = warnings;
    Ok((staged, tr))
}

/// [`up`] with no round trip but rsync's, when this machine knows what the box holds from
/// its last sync there ([`last`]) and nothing is to be deleted. `None`: not known, something
/// to delete, or the box was not as expected (nothing was sent); ask the box instead.
fn up_as_last_left(
    ssh: &Ssh,
    staged: &Staged,
    dest: &str,
    was: Option<&last::Last>,
) -> Result<Option<Transfer>> {
    let Some(was) = was else {
        return Ok(None);
    };
    let manifest = remote::manifest_bytes(staged.files.iter().map(|f| f.path.as_path()));
    if manifest != was.manifest {
        let Some(old) = remote::parse_manifest(&was.manifest) else {
            return Ok(None);
        };
        let shipped: HashSet<&Path> = staged.files.iter().map(|f| f.path.as_path()).collect();
        if !remote::to_delete(&old, &shipped, &staged.root).is_empty() {
            return Ok(None);
        }
    }
    let mut warnings = Vec::new();
    let ns = ns_mtimes(ssh, remote::rsync_version(&was.rsync_line), &mut warnings);
    let expect = remote::Expect {
        rsync_line: was.rsync_line.clone(),
        manifest_sha256: last::sha256(&was.manifest),
    };
    let t = Instant::now();
    let Some((stats, rode)) = rsync(
        ssh,
        staged,
        dest,
        (ns, false),
        Some(&manifest),
        Some(&expect),
        &mut warnings,
    )?
    else {
        // The slow way records what it finds in `last` anew.
        return Ok(None);
    };
    crate::out::timing("sync", "rsync", t);
    debug_assert!(rode, "with an expectation the manifest always rides");
    remember(ssh, dest, &was.rsync_line, &stats, staged, manifest);
    Ok(Some(Transfer {
        files_transferred: stats.files_transferred,
        bytes_transferred: stats.bytes_sent,
        deleted: 0,
        warnings,
        sent: stats.sent,
        changed: None,
    }))
}

/// The part of [`up`] after the box said what it has. What it leaves there is kept here
/// for the next sync ([`last`]); with `was` (kept by the last one), a box that printed the
/// same token and manifest as then gets only the files changed or added here since.
fn transfer(
    ssh: &Ssh,
    staged: &Staged,
    dest: &str,
    prepared: &remote::Prepared,
    was: Option<&last::Last>,
    (session, pre): (Option<&mut snapshot::SyncLock>, Option<ship::Prebuilt>),
) -> Result<Transfer> {
    let mut warnings = Vec::new();
    let where_ = format!("{}:{dest}", ssh.destination());
    if !prepared.rsync {
        return Err(no_rsync(ssh));
    }
    let manifest = remote::manifest_bytes(staged.files.iter().map(|f| f.path.as_path()));
    let as_left = was.filter(|w| {
        !w.token.is_empty()
            && w.token == prepared.token
            && w.rsync_line == prepared.rsync_line
            && w.manifest == prepared.manifest
    });
    let todo = as_left.and_then(|w| changed_since_last(staged, w, &manifest));
    if todo.as_ref().is_some_and(Vec::is_empty) {
        crate::out::timing("sync", "nothing changed here or there", Instant::now());
        return Ok(Transfer {
            files_transferred: 0,
            bytes_transferred: 0,
            deleted: 0,
            warnings,
            sent: Some(Vec::new()),
            changed: Some(Vec::new()),
        });
    }
    // Only what changed goes, where it is a part; a folder with no manifest (new, or
    // emptied) gets all. In the session that asked the box where it can unpack a tar (GNU
    // tar there): no rsync. A few large changed files go by rsync (its delta transfer).
    let todo = todo.filter(|t| t.len() * 4 <= staged.files.len());
    let ship_all = todo.is_none() && prepared.manifest.is_empty();
    let can_ship = prepared.ship && session.as_ref().is_some_and(|s| s.can_ship());
    let part_fits = todo
        .as_ref()
        .is_some_and(|t| t.iter().map(|f| f.bytes).sum::<u64>() <= SHIP_MAX_BYTES);
    if can_ship && (ship_all || part_fits) {
        let session = session.expect("checked");
        let files = todo.as_deref().unwrap_or(&staged.files);
        let t = Instant::now();
        let name = (manifest != prepared.manifest).then(remote::next_manifest_name);
        let with = name.as_deref().map(|n| (n, &manifest[..]));
        // The tar's start made while the box was asked, where all files go.
        let pre = pre.filter(|_| todo.is_none()).unwrap_or_default();
        let mut changed = pre.changed;
        let done = (pre.files as u64, pre.bytes);
        let (sent, token) = session.ship(name.as_deref(), prepared.zstd, &pre.zstd, |out| {
            ship_tar(
                &staged.root,
                &files[pre.files..],
                with,
                out,
                &mut changed,
                done,
            )
        })?;
        if let Some(token) = token {
            crate::out::timing("sync", "shipped as a tar", t);
            let stats = remote::RsyncStats {
                token,
                ..Default::default()
            };
            let sent_paths = files.iter().map(|f| f.path.clone()).collect();
            let files_transferred = files.iter().filter(|f| !f.symlink).count() as u64;
            remember(ssh, dest, &prepared.rsync_line, &stats, staged, manifest);
            return Ok(Transfer {
                files_transferred,
                bytes_transferred: sent,
                deleted: 0,
                warnings,
                sent: Some(sent_paths),
                changed: Some(changed),
            });
        }
        warnings.push(format!(
            "{where_}: the files could not be unpacked there as a tar; syncing with rsync"
        ));
    } else if let Some(todo) = todo {
        let part = Staged {
            root: staged.root.clone(),
            files: todo,
            bytes: 0,
            secrets: Vec::new(),
            tracked_secrets: Vec::new(),
            git: staged.git,
            warnings: Vec::new(),
        };
        let ns = ns_mtimes(ssh, prepared.rsync_version, &mut warnings);
        let t = Instant::now();
        let (stats, _) = rsync(ssh, &part, dest, (ns, true), None, None, &mut warnings)?
            .context("rsync stopped without an expectation")?;
        crate::out::timing("sync", "rsync of the changed files", t);
        let unwritten = manifest != prepared.manifest;
        return after_rsync(ssh, dest, prepared, staged, manifest, unwritten, stats)
            .map(|tr| Transfer { warnings, ..tr });
    }

    let old = if prepared.manifest.is_empty() {
        Vec::new()
    } else {
        remote::parse_manifest(&prepared.manifest).unwrap_or_else(|| {
            warnings.push(format!(
                "{where_}/{} is not an rp-sync manifest; nothing deleted there this time",
                remote::MANIFEST
            ));
            Vec::new()
        })
    };
    let shipped: HashSet<&Path> = staged.files.iter().map(|f| f.path.as_path()).collect();
    let gone = remote::to_delete(&old, &shipped, &staged.root);
    let mut deleted = 0;
    if !gone.is_empty() {
        let list = stage::nul_list(gone.iter().map(|p| p.as_path()));
        let f = step(
            ssh,
            &remote::cleanup_script(dest),
            Some(list),
            &format!("deleting in {where_}"),
        )?;
        deleted = remote::parse_deleted(&f.stdout);
    }

    let ns = ns_mtimes(ssh, prepared.rsync_version, &mut warnings);
    let t = Instant::now();
    let changed = manifest != prepared.manifest;
    let (stats, rode) = rsync(
        ssh,
        staged,
        dest,
        (ns, false),
        changed.then_some(&manifest[..]),
        None,
        &mut warnings,
    )?
    .context("rsync stopped without an expectation")?;
    crate::out::timing("sync", "rsync", t);
    after_rsync(
        ssh,
        dest,
        prepared,
        staged,
        manifest,
        changed && !rode,
        stats,
    )
    .map(|tr| Transfer {
        deleted,
        warnings,
        ..tr
    })
}

/// After an rsync of [`transfer`]: the new manifest written where it did not ride along
/// (`unwritten`), and what the box now holds kept for the next sync.
fn after_rsync(
    ssh: &Ssh,
    dest: &str,
    prepared: &remote::Prepared,
    staged: &Staged,
    manifest: Vec<u8>,
    unwritten: bool,
    stats: remote::RsyncStats,
) -> Result<Transfer> {
    if unwritten {
        step(
            ssh,
            &remote::write_manifest_script(dest),
            Some(manifest.clone()),
            &format!("writing {}:{dest}/{}", ssh.destination(), remote::MANIFEST),
        )?;
    }
    remember(ssh, dest, &prepared.rsync_line, &stats, staged, manifest);
    Ok(Transfer {
        files_transferred: stats.files_transferred,
        bytes_transferred: stats.bytes_sent,
        deleted: 0,
        warnings: Vec::new(),
        sent: stats.sent,
        changed: None,
    })
}

/// The staged files that are new or whose size, mtime, mode or inode differ from what the
/// last sync recorded (`was`); `None` when one it shipped is no longer staged (a deletion:
/// the whole sync handles those) or the record does not fit its manifest.
fn changed_since_last(
    staged: &Staged,
    was: &last::Last,
    manifest: &[u8],
) -> Option<Vec<StagedFile>> {
    let differs = |f: &StagedFile, s: &last::FileStat| last::FileStat::of(f) != *s;
    if manifest == was.manifest {
        // The same paths as then, in the same order: compare each with its record.
        return (staged.files.len() == was.files.len()).then(|| {
            staged
                .files
                .iter()
                .zip(&was.files)
                .filter(|(f, s)| differs(f, s))
                .map(|(f, _)| f.clone())
                .collect()
        });
    }
    let old = remote::parse_manifest(&was.manifest)?;
    if old.len() != was.files.len() {
        return None;
    }
    // Both in path order: walk them side by side.
    let mut out = Vec::new();
    let mut o = old.iter().zip(&was.files).peekable();
    for f in &staged.files {
        if o.peek()
            .is_some_and(|(p, _)| p.as_path() < f.path.as_path())
        {
            return None;
        }
        match o.peek() {
            Some((p, s)) if p.as_path() == f.path.as_path() => {
                if differs(f, s) {
                    out.push(f.clone());
                }
                o.next();
            }
            _ => out.push(f.clone()),
        }
    }
    o.next().is_none().then_some(out)
}

/// Keep what the box now holds for the next sync ([`last`]).
fn remember(
    ssh: &Ssh,
    dest: &str,
    rsync_line: &str,
    stats: &remote::RsyncStats,
    staged: &Staged,
    manifest: Vec<u8>,
) {
    last::save(
        ssh,
        dest,
        &last::Last {
            rsync_line: rsync_line.to_string(),
            token: stats.token.clone(),
            files: staged.files.iter().map(last::FileStat::of).collect(),
            manifest,
        },
    );
}

pub(super) fn no_rsync(ssh: &Ssh) -> anyhow::Error {
    CliError::new(
        Exit::Failed,
        format!(
            "rsync is not installed on {}: install it there (e.g. `sudo apt-get install rsync`)",
            ssh.destination()
        ),
    )
}

/// Run one small script on the box; a failure is exit 1 naming what was being done.
fn step(
    ssh: &Ssh,
    script: &str,
    stdin: Option<Vec<u8>>,
    what: &str,
) -> Result<crate::process::Finished> {
    let mut p = ssh.command(script).timeout(Some(SSH_STEP_TIMEOUT));
    if let Some(b) = stdin {
        p = p.stdin(b);
    }
    let f = p.run()?;
    interrupted(&f)?;
    if f.timed_out || !f.status.success() {
        let why = if f.timed_out {
            format!("timed out after {}s", SSH_STEP_TIMEOUT.as_secs())
        } else {
            format!("ssh exited with {}", f.status.code())
        };
        return Err(CliError::new(
            Exit::Failed,
            format!("{what}: {why}: {}", f.tail(10).trim()),
        ));
    }
    Ok(f)
}

/// A child stopped because rp-sync itself got a signal: exit 128+n, as the shell would.
pub(super) fn interrupted(f: &crate::process::Finished) -> Result<()> {
    match f.interrupted {
        Some(sig) => Err(CliError::new(
            Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig}; the box may hold a partial copy"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_since_last_names_new_and_changed_files_and_gives_up_on_a_deletion() {
        let file = |p: &str, bytes: u64| StagedFile {
            path: PathBuf::from(p),
            bytes,
            symlink: false,
            mtime_ns: 7,
            inode: 1,
            mode: 0o100644,
        };
        let staged = |files: Vec<StagedFile>| Staged {
            root: PathBuf::from("/x"),
            bytes: files.iter().map(|f| f.bytes).sum(),
            files,
            secrets: Vec::new(),
            tracked_secrets: Vec::new(),
            git: false,
            warnings: Vec::new(),
        };
        let manifest =
            |s: &Staged| remote::manifest_bytes(s.files.iter().map(|f| f.path.as_path()));
        let then = staged(vec![file("a", 1), file("b/c", 2), file("d", 3)]);
        let was = last::Last {
            rsync_line: String::new(),
            token: "t".into(),
            files: then.files.iter().map(last::FileStat::of).collect(),
            manifest: manifest(&then),
        };
        let names = |v: Option<Vec<StagedFile>>| {
            v.map(|v| v.into_iter().map(|f| f.path).collect::<Vec<_>>())
        };
        // The same paths: only the one whose stat moved.
        let now = staged(vec![file("a", 1), file("b/c", 5), file("d", 3)]);
        assert_eq!(
            names(changed_since_last(&now, &was, &manifest(&now))),
            Some(vec![PathBuf::from("b/c")])
        );
        let same = staged(then.files.clone());
        assert_eq!(
            names(changed_since_last(&same, &was, &manifest(&same))),
            Some(vec![])
        );
        // New paths, among the old ones, go too.
        let now = staged(vec![
            file("0", 1),
            file("a", 1),
            file("b/a", 1),
            file("b/c", 2),
            file("d", 3),
            file("e", 1),
        ]);
        assert_eq!(
            names(changed_since_last(&now, &was, &manifest(&now))),
            Some(["0", "b/a", "e"].map(PathBuf::from).to_vec())
        );
        // A shipped path gone here (first, inside, last): the whole sync's to handle.
        for gone in [
            vec![file("b/c", 2), file("d", 3)],
            vec![file("a", 1), file("d", 3), file("e", 1)],
            vec![file("a", 1), file("b/c", 2)],
        ] {
            let now = staged(gone);
            assert_eq!(names(changed_since_last(&now, &was, &manifest(&now))), None);
        }
        // A record that does not fit its manifest is not trusted.
        let short = last::Last {
            files: was.files[..2].to_vec(),
            ..was.clone()
        };
        assert_eq!(
            names(changed_since_last(&then, &short, &manifest(&then))),
            None
        );
        let now = staged(vec![
            file("a", 1),
            file("b/c", 2),
            file("d", 3),
            file("e", 1),
        ]);
        assert_eq!(
            names(changed_since_last(&now, &short, &manifest(&now))),
            None
        );
    }
}
