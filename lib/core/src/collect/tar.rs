//! Unpacking an outputs archive (`.tar.gz`, or a plain `.tar`) without trusting it. The
//! whole archive is read and checked first, and nothing is written unless every entry is
//! safe and the archive is complete: no absolute paths, no `..`, no links that leave the
//! folder, no entry written through a link, no device files, and a size under the limit
//! (warned above 200 MiB, refused above 256 MiB, counting the compressed file and the
//! unpacked sizes). Only then is it read again and written.

use super::{entries, Collected, MIB};
use crate::error::CliError;
use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use runplz_protocol::Exit;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;
use tar::EntryType;

/// Size limits for an archive, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Above this (compressed file or unpacked total), a warning.
    pub warn: u64,
    /// Above this, the archive is refused and nothing is extracted.
    pub refuse: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            warn: 200 * MIB,
            refuse: 256 * MIB,
        }
    }
}

/// What one entry will become.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    File { size: u64, mode: u32 },
    Dir,
    Symlink(PathBuf),
    Hardlink(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    path: PathBuf,
    kind: Kind,
}

/// Unpack `archive` into `dest` (created if needed) with the default [`Limits`].
pub fn from_tar(archive: &Path, dest: &Path) -> Result<Collected> {
    from_tar_with(archive, dest, Limits::default())
}

/// Unpack `archive` into `dest` with these limits. Errors: the archive cannot be opened
/// (exit 2), is too large or unsafe (exit 4, nothing written), or is truncated or corrupt
/// (exit 1, nothing written).
pub fn from_tar_with(archive: &Path, dest: &Path, limits: Limits) -> Result<Collected> {
    let start = Instant::now();
    let name = archive.display().to_string();
    let mut file = File::open(archive)
        .map_err(|e| CliError::usage(format!("--from-tar: cannot open {name}: {e}")))?;
    let meta = file.metadata().with_context(|| format!("reading {name}"))?;
    if !meta.is_file() {
        return Err(CliError::usage(format!(
            "--from-tar: {name} is not a regular file"
        )));
    }
    let mut warnings = Vec::new();
    let size = meta.len();
    if size > limits.refuse {
        return Err(refused(
            &name,
            format!(
                "the archive is {}, over the {} limit",
                mib(size),
                mib(limits.refuse)
            ),
        ));
    }
    if size > limits.warn {
        warnings.push(format!(
            "{name} is {}, over {} (the limit is {})",
            mib(size),
            mib(limits.warn),
            mib(limits.refuse)
        ));
    }

    let (plan, total) = scan(&mut file, &name, limits)?;
    if total > limits.warn && size <= limits.warn {
        warnings.push(format!(
            "{name} unpacks to {}, over {} (the limit is {})",
            mib(total),
            mib(limits.warn),
            mib(limits.refuse)
        ));
    }
    check_dest(dest, &plan, &name)?;

    file.seek(SeekFrom::Start(0))
        .with_context(|| format!("rewinding {name}"))?;
    extract(&mut file, dest, &plan, &name, limits)?;

    // The files that came: the last entry at each path, if it is a file.
    let mut last: BTreeMap<&Path, &Kind> = BTreeMap::new();
    for p in &plan {
        last.insert(&p.path, &p.kind);
    }
    let rels: Vec<PathBuf> = last
        .into_iter()
        .filter(|(_, k)| matches!(k, Kind::File { .. } | Kind::Hardlink(_)))
        .map(|(p, _)| p.to_path_buf())
        .collect();
    let files = entries(dest, &rels)?;
    Ok(super::Collected::new(name, dest, files, start, warnings))
}

fn mib(bytes: u64) -> String {
    if bytes < MIB {
        format!("{bytes} bytes")
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    }
}

fn refused(name: &str, why: String) -> anyhow::Error {
    CliError::new(
        Exit::Refused,
        format!("refusing {name}: {why}; nothing was extracted"),
    )
}

fn broken(name: &str, e: impl std::fmt::Display) -> anyhow::Error {
    CliError::new(
        Exit::Failed,
        format!("{name} is truncated or corrupt ({e}); nothing was extracted"),
    )
}

/// Counts what is read, fails past a hard cap (so that a tiny archive cannot make the
/// scanner read or allocate without end), and remembers whether the end was reached.
struct Counted<R> {
    inner: R,
    read: u64,
    cap: u64,
    eof: Rc<Cell<bool>>,
}

const OVER_CAP: &str = "runplz: over the size cap";

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof.set(true);
        }
        self.read += n as u64;
        if self.read > self.cap {
            return Err(io::Error::other(OVER_CAP));
        }
        Ok(n)
    }
}

/// The archive's bytes, gunzipped when they start with the gzip magic.
fn open(file: &mut File, limits: Limits) -> io::Result<Counted<Box<dyn Read + '_>>> {
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let inner: Box<dyn Read> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    // Headers and padding take room beyond the files' own sizes; twice the limit bounds
    // them generously while keeping a decompression bomb harmless.
    Ok(Counted {
        inner,
        read: 0,
        cap: limits.refuse.saturating_mul(2),
        eof: Rc::new(Cell::new(false)),
    })
}

/// A path inside the archive, checked: relative, no `..`; `.` components dropped.
fn clean(raw: &Path, what: &str, name: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(refused(
                    name,
                    format!("{what} {} has a `..` component", raw.display()),
                ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refused(
                    name,
                    format!("{what} {} is an absolute path", raw.display()),
                ))
            }
        }
    }
    Ok(out)
}

/// Read the whole archive once: every entry's path, type and size, with the safety rules
/// that need only the entry itself. Nothing is written.
fn scan(file: &mut File, name: &str, limits: Limits) -> Result<(Vec<Planned>, u64)> {
    let reader = open(file, limits).map_err(|e| broken(name, e))?;
    let eof = Rc::clone(&reader.eof);
    let io_err = |e: io::Error| {
        if e.to_string().contains(OVER_CAP) {
            refused(
                name,
                format!("it unpacks to more than {}", mib(limits.refuse)),
            )
        } else {
            broken(name, e)
        }
    };
    let mut ar = tar::Archive::new(reader);
    let mut plan = Vec::new();
    let mut total = 0u64;
    for entry in ar.entries().map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let ty = entry.header().entry_type();
        if ty == EntryType::XGlobalHeader {
            continue;
        }
        let raw = entry.path().map_err(io_err)?.into_owned();
        let path = clean(&raw, "entry", name)?;
        let shown = raw.display();
        let link = || -> Result<PathBuf> {
            entry
                .link_name()
                .map_err(io_err)?
                .map(|l| l.into_owned())
                .ok_or_else(|| broken(name, format!("link {shown} has no target")))
        };
        let kind = match ty {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                total = total.saturating_add(entry.size());
                if total > limits.refuse {
                    return Err(refused(
                        name,
                        format!(
                            "it unpacks to more than {} (at {shown})",
                            mib(limits.refuse)
                        ),
                    ));
                }
                Kind::File {
                    size: entry.size(),
                    mode: entry.header().mode().unwrap_or(0o644),
                }
            }
            EntryType::Directory => Kind::Dir,
            EntryType::Symlink => {
                let target = link()?;
                if target.as_os_str().is_empty() {
                    return Err(refused(
                        name,
                        format!("symlink {shown} has an empty target"),
                    ));
                }
                if target.has_root() {
                    return Err(refused(
                        name,
                        format!(
                            "symlink {shown} points outside the folder (to {})",
                            target.display()
                        ),
                    ));
                }
                Kind::Symlink(target)
            }
            EntryType::Link => Kind::Hardlink(clean(&link()?, "hardlink target of", name)?),
            EntryType::Char | EntryType::Block => {
                return Err(refused(name, format!("{shown} is a device file")))
            }
            EntryType::Fifo => return Err(refused(name, format!("{shown} is a named pipe"))),
            other => {
                return Err(refused(
                    name,
                    format!(
                        "{shown} has an unsupported entry type {:?}",
                        other.as_byte() as char
                    ),
                ))
            }
        };
        if path.as_os_str().is_empty() && kind != Kind::Dir {
            return Err(refused(name, format!("entry {shown} has an empty path")));
        }
        if !path.as_os_str().is_empty() {
            plan.push(Planned { path, kind });
        }
    }
    // The tar reader stops at the end-of-archive block; if it hit the end of the data
    // instead, the archive was cut short.
    if eof.get() {
        return Err(broken(name, "no end-of-archive marker"));
    }
    // Read what follows (padding, the gzip trailer and its checksum) to the end.
    io::copy(&mut ar.into_inner(), &mut io::sink()).map_err(io_err)?;
    check_links(&plan, name)?;
    Ok((plan, total))
}

/// The rules that need the whole archive: nothing is written through a symlink, symlinks
/// resolve inside the folder, hardlinks point at a file earlier in the archive, and no path
/// is both a file and a folder.
fn check_links(plan: &[Planned], name: &str) -> Result<()> {
    let symlinks: BTreeSet<&Path> = plan
        .iter()
        .filter(|p| matches!(p.kind, Kind::Symlink(_)))
        .map(|p| p.path.as_path())
        .collect();
    let not_dirs: BTreeSet<&Path> = plan
        .iter()
        .filter(|p| p.kind != Kind::Dir)
        .map(|p| p.path.as_path())
        .collect();
    let mut files_so_far: BTreeSet<&Path> = BTreeSet::new();
    for p in plan {
        for anc in p
            .path
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
        {
            if symlinks.contains(anc) {
                return Err(refused(
                    name,
                    format!(
                        "{} would be written through the symlink {}",
                        p.path.display(),
                        anc.display()
                    ),
                ));
            }
            if not_dirs.contains(anc) {
                return Err(refused(
                    name,
                    format!(
                        "{} is both a file and a folder in the archive",
                        anc.display()
                    ),
                ));
            }
        }
        match &p.kind {
            Kind::Symlink(target) => {
                // Resolve from the link's folder, word by word; leaving the folder, or
                // going through another symlink, is refused.
                let mut at: Vec<&std::ffi::OsStr> = p
                    .path
                    .parent()
                    .map(|d| d.iter().collect())
                    .unwrap_or_default();
                let parts: Vec<Component> = target.components().collect();
                for (i, c) in parts.iter().enumerate() {
                    match c {
                        Component::ParentDir if at.pop().is_none() => {
                            return Err(refused(
                                name,
                                format!(
                                    "symlink {} points outside the folder (to {})",
                                    p.path.display(),
                                    target.display()
                                ),
                            ));
                        }
                        Component::Normal(w) => {
                            at.push(w);
                            let so_far: PathBuf = at.iter().collect();
                            if i + 1 < parts.len() && symlinks.contains(so_far.as_path()) {
                                return Err(refused(
                                    name,
                                    format!(
                                        "symlink {} resolves through the symlink {}",
                                        p.path.display(),
                                        so_far.display()
                                    ),
                                ));
                            }
                        }
                        _ => {}
                    }
                }
                files_so_far.remove(p.path.as_path());
            }
            Kind::Hardlink(target) => {
                if target == &p.path || !files_so_far.contains(target.as_path()) {
                    return Err(refused(
                        name,
                        format!(
                            "hardlink {} points to {}, which is not a file earlier in the archive",
                            p.path.display(),
                            target.display()
                        ),
                    ));
                }
                files_so_far.insert(&p.path);
            }
            Kind::File { .. } => {
                files_so_far.insert(&p.path);
            }
            Kind::Dir => {
                files_so_far.remove(p.path.as_path());
            }
        }
    }
    Ok(())
}

/// What is already in the destination must not redirect a write: no symlink where the
/// archive needs a folder, no file where it needs a folder, no folder where it writes a
/// file.
fn check_dest(dest: &Path, plan: &[Planned], name: &str) -> Result<()> {
    let mut seen = BTreeSet::new();
    for p in plan {
        for anc in p
            .path
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
        {
            if !seen.insert(anc.to_path_buf()) {
                continue;
            }
            if let Ok(m) = std::fs::symlink_metadata(dest.join(anc)) {
                if m.file_type().is_symlink() {
                    return Err(refused(
                        name,
                        format!(
                            "{} is a symlink already in {}",
                            anc.display(),
                            dest.display()
                        ),
                    ));
                }
                if !m.is_dir() {
                    return Err(refused(
                        name,
                        format!(
                            "{} in {} is a file, and the archive needs a folder there",
                            anc.display(),
                            dest.display()
                        ),
                    ));
                }
            }
        }
        if p.kind != Kind::Dir {
            if let Ok(m) = std::fs::symlink_metadata(dest.join(&p.path)) {
                if m.is_dir() {
                    return Err(refused(
                        name,
                        format!(
                            "{} in {} is a folder, and the archive has a file there",
                            p.path.display(),
                            dest.display()
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Read the archive again and write the checked plan. Each entry must be the one scanned
/// (the file could have changed in between).
fn extract(
    file: &mut File,
    dest: &Path,
    plan: &[Planned],
    name: &str,
    limits: Limits,
) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let reader = open(file, limits).map_err(|e| broken(name, e))?;
    let mut ar = tar::Archive::new(reader);
    let mut want = plan.iter();
    let changed = || {
        CliError::new(
            Exit::Failed,
            format!("{name} changed while it was being unpacked"),
        )
    };
    for entry in ar.entries().map_err(|e| broken(name, e))? {
        let mut entry = entry.map_err(|e| broken(name, e))?;
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            continue;
        }
        let path = clean(&entry.path().map_err(|e| broken(name, e))?, "entry", name)?;
        if path.as_os_str().is_empty() {
            continue;
        }
        let p = want.next().filter(|p| p.path == path).ok_or_else(changed)?;
        let to = dest.join(&p.path);
        let what = || format!("writing {}", to.display());
        if let Some(parent) = p.path.parent() {
            std::fs::create_dir_all(dest.join(parent)).with_context(what)?;
        }
        match &p.kind {
            Kind::Dir => {
                if !to.is_dir() {
                    std::fs::create_dir(&to).with_context(what)?;
                }
            }
            Kind::File { size, mode } => {
                replace(&to)?;
                use std::os::unix::fs::OpenOptionsExt;
                // Permission bits only (no setuid, setgid or sticky from an archive), and
                // masked by the local umask as for any new file.
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode & 0o777)
                    .open(&to)
                    .with_context(what)?;
                let n = io::copy(&mut (&mut entry).take(*size), &mut out).with_context(what)?;
                if n != *size {
                    return Err(changed());
                }
            }
            Kind::Symlink(target) => {
                replace(&to)?;
                std::os::unix::fs::symlink(target, &to).with_context(what)?;
            }
            Kind::Hardlink(target) => {
                replace(&to)?;
                std::fs::hard_link(dest.join(target), &to).with_context(what)?;
            }
        }
    }
    if want.next().is_some() {
        return Err(changed());
    }
    Ok(())
}

/// Remove what is at `path` (not a folder) so that a new file never writes through an
/// old symlink or hardlink.
fn replace(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => {
            std::fs::remove_file(path).with_context(|| format!("replacing {}", path.display()))
        }
        _ => Ok(()),
    }
}
