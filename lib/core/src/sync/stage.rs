//! Staging: decide, on this machine, the exact list of files to ship. rsync is then fed this
//! list and never walks the tree by its own rules, so what ships is what this module says.
//!
//! The list is git-aware: files git tracks, plus untracked files that `.gitignore`,
//! `.git/info/exclude` and the global excludes file do not ignore (the `ignore` crate's walk;
//! outside a git work tree `.gitignore` files still count). From that, [`Excludes`] removes
//! version-control metadata, caches and the user's patterns, and always removes secrets, even
//! ones git tracks. Symlinks ship as symlinks (never followed); sockets and devices never ship.
//! A committed nested repo (a gitlink, with or without `.gitmodules`) is staged by its own
//! rules, as git sees it, even when the outer `.gitignore` ignores its folder.

use super::excludes::{is_plain_relative, Excludes, Verdict};
use crate::error::CliError;
use crate::process::Proc;
use anyhow::{Context, Result};
use std::collections::{BTreeSet, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One file to ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Relative to the staged folder.
    pub path: PathBuf,
    /// Its size (a symlink's is the length of its target).
    pub bytes: u64,
    /// Shipped as a symlink.
    pub symlink: bool,
    /// Modification time in ns since the epoch, inode and mode, as staged: the secret
    /// scan's cache key (one stat per file serves both).
    pub mtime_ns: i128,
    /// See `mtime_ns`.
    pub inode: u64,
    /// Permission bits and type (`st_mode`).
    pub mode: u32,
}

/// The outcome of [`stage`]: what ships, and what was held back.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The staged folder, canonical.
    pub root: PathBuf,
    /// Files to ship, sorted by path.
    pub files: Vec<StagedFile>,
    /// Sum of their sizes.
    pub bytes: u64,
    /// Secret-shaped paths held back that git and `.gitignore` would otherwise have let
    /// through, outermost first (a secret folder counts once, as the folder).
    pub secrets: Vec<PathBuf>,
    /// Of those, files git tracks (they are still never shipped; worth a warning).
    pub tracked_secrets: Vec<PathBuf>,
    /// Whether git's index was consulted (the folder is in a git work tree).
    pub git: bool,
    /// Soft problems met while walking (an unreadable folder, git unusable), for stderr.
    pub warnings: Vec<String>,
}

impl Staged {
    /// The warnings a person should see before shipping: staging's own, plus secret-shaped
    /// files git tracks (never shipped, but the user likely thinks they are).
    pub fn all_warnings(&self) -> Vec<String> {
        let mut v = self.warnings.clone();
        if !self.tracked_secrets.is_empty() {
            v.push(format!(
                "git tracks secret-shaped files; they are never shipped: {}",
                some_paths(&self.tracked_secrets, 5)
            ));
        }
        v
    }

    /// The `n` largest files, largest first (ties by path).
    pub fn largest(&self, n: usize) -> Vec<&StagedFile> {
        let mut v: Vec<&StagedFile> = self.files.iter().collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
        v.truncate(n);
        v
    }

    /// The file list as rsync's `--files-from=- --from0` reads it: NUL-terminated paths, each
    /// behind `./` because rsync skips list entries that start with `#` or `;` as comments.
    pub fn files_from(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in &self.files {
            out.extend_from_slice(b"./");
            out.extend_from_slice(f.path.as_os_str().as_bytes());
            out.push(0);
        }
        out
    }
}

/// The files of `staged` (symlinks aside) that are gone, or whose size, mtime or inode is
/// no longer as staged: the only ones [`crate::scan::after_shipping`] has to look at again.
/// With `sent` (the files rsync said it sent data of), only those are looked at, unless one
/// of them is not in `staged` (then all are). One `fstatat` per file, relative to its folder
/// (each folder opened once), so a large tree costs no path lookups from the root.
pub fn changed_since_staged(staged: &Staged, sent: Option<&[PathBuf]>) -> Staged {
    // Most of the tree sent: looking at all costs less than matching names.
    let only = sent
        .filter(|sent| sent.len() * 4 < staged.files.len())
        .and_then(|sent| {
            let set: HashSet<&Path> = sent.iter().map(PathBuf::as_path).collect();
            set.iter()
                .all(|p| {
                    staged
                        .files
                        .binary_search_by(|f| f.path.as_path().cmp(p))
                        .is_ok()
                })
                .then_some(set)
        });
    let mut dir = Dir::default();
    let files = staged
        .files
        .iter()
        .filter(|f| !f.symlink)
        .filter(|f| only.as_ref().is_none_or(|o| o.contains(f.path.as_path())))
        .filter(|f| match dir.lstat(&staged.root, &f.path) {
            Some(st) => {
                let mtime_ns =
                    i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec);
                (st.st_size as u64, mtime_ns, st.st_ino) != (f.bytes, f.mtime_ns, f.inode)
            }
            None => true,
        })
        .cloned()
        .collect();
    Staged {
        root: staged.root.clone(),
        files,
        bytes: staged.bytes,
        secrets: staged.secrets.clone(),
        tracked_secrets: staged.tracked_secrets.clone(),
        git: staged.git,
        warnings: Vec::new(),
    }
}

/// `staged` with only the files at `paths` (those not in it are left out).
pub fn only(staged: &Staged, paths: &[PathBuf]) -> Staged {
    let set: HashSet<&Path> = paths.iter().map(PathBuf::as_path).collect();
    Staged {
        root: staged.root.clone(),
        files: staged
            .files
            .iter()
            .filter(|f| set.contains(f.path.as_path()))
            .cloned()
            .collect(),
        bytes: staged.bytes,
        secrets: staged.secrets.clone(),
        tracked_secrets: staged.tracked_secrets.clone(),
        git: staged.git,
        warnings: Vec::new(),
    }
}

/// NUL-terminated path bytes.
pub fn nul_list<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in paths {
        out.extend_from_slice(p.as_os_str().as_bytes());
        out.push(0);
    }
    out
}

/// Decide what ships from `src`: git-tracked plus untracked-not-ignored files, minus the
/// built-in excludes (secrets always) and `extra_excludes` (gitignore-style lines such as the
/// job's `sync.exclude`). Reads only; `src` must be a folder (else a usage error).
pub fn stage(src: &Path, extra_excludes: &[String]) -> Result<Staged> {
    let excludes = Arc::new(Excludes::new(extra_excludes)?);
    let root = std::fs::canonicalize(src).map_err(|e| {
        CliError::usage(format!("{}: {e}, expected a folder to ship", src.display()))
    })?;
    if !root.is_dir() {
        return Err(CliError::usage(format!(
            "{}: found a file, expected a folder to ship",
            src.display()
        )));
    }

    let mut g = Gather {
        root: root.clone(),
        excludes,
        secrets: Arc::new(Mutex::new(BTreeSet::new())),
        found: Vec::new(),
        walked: HashSet::new(),
        warnings: Vec::new(),
        tracked_secrets: Vec::new(),
        interrupted: None,
    };
    let in_git = in_git_work_tree(&root);
    let git = g.gather(Path::new(""), in_git, in_git, 0);
    // A Ctrl-C that stopped `git ls-files` stops the run: it must not ship by .gitignore alone.
    if let Some(sig) = g.interrupted {
        return Err(CliError::new(
            runplz_protocol::Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig} while listing the files to ship"),
        ));
    }
    let Gather {
        mut found,
        warnings,
        tracked_secrets,
        secrets,
        ..
    } = g;

    // Sorted by path, each once; then one stat per file (folders, sockets and devices drop
    // out, as do paths gone meanwhile).
    found.sort_unstable();
    found.dedup();
    let files = stat_all(&root, found);
    let bytes = files.iter().map(|f| f.bytes).sum();
    let secrets = secrets
        .lock()
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    Ok(Staged {
        root,
        files,
        bytes,
        secrets,
        tracked_secrets,
        git,
        warnings,
    })
}

/// How deep committed nested repos (gitlinks) are followed.
const MAX_NESTED: usize = 8;

/// What [`stage`] collects while walking `root` and the nested repos in it.
struct Gather {
    root: PathBuf,
    excludes: Arc<Excludes>,
    secrets: Arc<Mutex<BTreeSet<PathBuf>>>,
    /// What ships, not yet looked at (stat) and in no order; may hold a path twice.
    found: Vec<PathBuf>,
    /// Of those, what the walks found (not folders by the entry's type).
    walked: HashSet<PathBuf>,
    warnings: Vec<String>,
    tracked_secrets: Vec<PathBuf>,
    /// The signal that stopped git while it listed the files.
    interrupted: Option<i32>,
}

impl Gather {
    /// Walk `root/sub` (paths stay relative to `root`), then, in a git work tree, add what
    /// git tracks there. `parents`: whether .gitignore files above `root/sub` count. A
    /// committed nested repo (a gitlink: git lists a folder) is gathered in turn by its own
    /// rules, as git itself would see it, even when the outer .gitignore ignores it; one with
    /// no checkout here is named in a warning. Returns whether git's index was consulted.
    fn gather(&mut self, sub: &Path, parents: bool, in_git: bool, depth: usize) -> bool {
        let start = self.root.join(sub);
        let mut walk = ignore::WalkBuilder::new(&start);
        // .gitignore files above SRC count only inside a git work tree (up to its root), as
        // for git; a plain folder under a home that ignores `*` must still ship.
        walk.standard_filters(false)
            .hidden(false)
            .parents(parents)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(true)
            .require_git(false)
            .follow_links(false)
            // Each folder's entries by name: the walk then comes in path order (a folder's
            // subtree right after it, before its next sibling), and the sort below has
            // nothing left to do.
            .sort_by_file_name(|a, b| a.cmp(b));
        {
            let (x, root, secrets) = (
                Arc::clone(&self.excludes),
                self.root.clone(),
                Arc::clone(&self.secrets),
            );
            let start = start.clone();
            walk.filter_entry(move |e| {
                let Ok(rel) = e.path().strip_prefix(&root) else {
                    return false;
                };
                if e.path() == start {
                    return true;
                }
                let is_dir = e.file_type().is_some_and(|t| t.is_dir());
                match x.check_one(rel, is_dir) {
                    Verdict::Ship => true,
                    Verdict::Secret => {
                        if let Ok(mut s) = secrets.lock() {
                            s.insert(rel.to_path_buf());
                        }
                        false
                    }
                    Verdict::Excluded => false,
                }
            });
        }
        for entry in walk.build() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.warnings.push(format!("skipped: {e}"));
                    continue;
                }
            };
            let Ok(rel) = entry.path().strip_prefix(&self.root) else {
                continue;
            };
            // A folder is never a file to ship (its type comes with the listing, free).
            if rel.as_os_str().is_empty() || entry.file_type().is_some_and(|t| t.is_dir()) {
                continue;
            }
            // Only git's list is checked against what the walk found.
            if in_git {
                self.walked.insert(rel.to_path_buf());
            }
            self.found.push(rel.to_path_buf());
        }
        if !in_git {
            return false;
        }
        let tracked = match git_tracked(&start) {
            Ok(Ok(t)) => t,
            Ok(Err(sig)) => {
                self.interrupted = Some(sig);
                return false;
            }
            Err(e) => {
                self.warnings.push(format!(
                    "git could not list tracked files ({e:#}); shipping what .gitignore allows"
                ));
                return false;
            }
        };
        for t in tracked {
            let rel = sub.join(&t);
            if self.walked.contains(&rel) || !is_plain_relative(&t) {
                continue;
            }
            let full = self.root.join(&rel);
            let is_dir = full.symlink_metadata().is_ok_and(|m| m.is_dir());
            match self.excludes.check_with_prefix(&rel, is_dir) {
                (Verdict::Ship, _) if is_dir => {
                    // A tracked path that is a folder: a gitlink (a nested repo git records
                    // by commit only).
                    if !full.join(".git").exists() {
                        self.warnings.push(format!(
                            "{} is a nested git repo with no checkout here; nothing of it is shipped",
                            rel.display()
                        ));
                    } else if depth >= MAX_NESTED {
                        self.warnings.push(format!(
                            "{}: nested git repos deeper than {MAX_NESTED} are not followed",
                            rel.display()
                        ));
                    } else {
                        self.gather(&rel, false, true, depth + 1);
                    }
                }
                (Verdict::Ship, _) => self.found.push(rel),
                (Verdict::Secret, by) => {
                    if full.symlink_metadata().is_ok() {
                        if let Ok(mut s) = self.secrets.lock() {
                            s.insert(by.to_path_buf());
                        }
                        self.tracked_secrets.push(rel);
                    }
                }
                (Verdict::Excluded, _) => {}
            }
        }
        true
    }
}

/// The regular files and symlinks among `paths` (relative to `root`, sorted), as
/// [`StagedFile`]s in the same order; folders, sockets, devices and vanished paths drop
/// out. One `fstatat` per path relative to its folder, each folder opened once in a row.
fn stat_all(root: &Path, paths: Vec<PathBuf>) -> Vec<StagedFile> {
    let mut dir = Dir::default();
    paths
        .into_iter()
        .filter_map(|rel| {
            let st = dir.lstat(root, &rel)?;
            // mode_t is narrower on some systems.
            #[allow(clippy::useless_conversion)]
            let mode = u32::from(st.st_mode);
            let kind = mode & libc_type::S_IFMT;
            let symlink = kind == libc_type::S_IFLNK;
            (kind == libc_type::S_IFREG || symlink).then(|| StagedFile {
                bytes: st.st_size as u64,
                symlink,
                mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
                inode: st.st_ino,
                mode,
                path: rel,
            })
        })
        .collect()
}

/// `st_mode`'s file type bits.
mod libc_type {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFLNK: u32 = 0o120000;
}

/// The last folder a file was looked up in, kept open: files come sorted, so a folder's
/// files come together.
#[derive(Default)]
struct Dir {
    path: PathBuf,
    fd: Option<std::os::fd::OwnedFd>,
    opened: bool,
}

impl Dir {
    /// `lstat` of `root/rel`, as `fstatat` in its folder.
    fn lstat(&mut self, root: &Path, rel: &Path) -> Option<nix::sys::stat::FileStat> {
        use nix::fcntl::{open, AtFlags, OFlag};
        let parent = rel.parent().unwrap_or(Path::new(""));
        if !self.opened || self.path != parent {
            // No O_NOFOLLOW: the folder is one the walk went into, as a path from `root`
            // (an lstat of the whole path would follow the same links).
            self.fd = open(
                &root.join(parent),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .ok();
            self.path = parent.to_path_buf();
            self.opened = true;
        }
        nix::sys::stat::fstatat(
            self.fd.as_ref()?,
            rel.file_name()?,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok()
    }
}

/// Whether `dir` or a parent holds `.git` (a folder, or a file for worktrees and submodules).
fn in_git_work_tree(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join(".git").exists())
}

/// Paths git tracks under `dir`, relative to it, or the signal that stopped git. Missing
/// git is an error (the caller warns).
fn git_tracked(dir: &Path) -> Result<std::result::Result<Vec<PathBuf>, i32>> {
    which::which("git").context("`git` is not on PATH")?;
    let p = Proc::new("git")
        .args(["ls-files", "-z", "--cached"])
        .dir(dir)
        .env("GIT_OPTIONAL_LOCKS", "0");
    let f = p.run()?;
    if let Some(sig) = f.interrupted {
        return Ok(Err(sig));
    }
    if !f.status.success() {
        anyhow::bail!("`git ls-files` failed: {}", f.tail(5));
    }
    Ok(Ok(f
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(OsStr::from_bytes(p)))
        .collect()))
}

/// Up to `n` paths, then "and N more".
pub fn some_paths(paths: &[PathBuf], n: usize) -> String {
    let mut s = paths
        .iter()
        .take(n)
        .map(|p| crate::out::escape(&crate::out::path_text(p)))
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > n {
        s.push_str(&format!(" and {} more", paths.len() - n));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::Builder::new()
            .prefix("rp-stage-")
            .tempdir_in(if Path::new("/dev/shm").is_dir() {
                "/dev/shm"
            } else {
                "/tmp"
            })
            .unwrap();
        for f in files {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f.as_bytes()).unwrap();
        }
        d
    }

    fn paths(s: &Staged) -> Vec<String> {
        s.files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect()
    }

    fn git(dir: &Path, args: &[&str]) {
        let o = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    #[test]
    fn plain_folder_respects_gitignore_caches_and_secrets() {
        let d = tree(&[
            "train.py",
            "a/b/data.txt",
            ".gitignore",
            "big.bin",
            "logs/x.log",
            "a/.env",
            "a/b/c/.env.local",
            ".aws/credentials",
            "m/__pycache__/m.pyc",
            "out/result.txt",
            "node_modules/x/index.js",
            "sub/.gitignore",
            "sub/keep.txt",
            "sub/drop.tmp",
        ]);
        fs::write(d.path().join(".gitignore"), "big.bin\nlogs/\n").unwrap();
        fs::write(d.path().join("sub/.gitignore"), "*.tmp\n").unwrap();
        let s = stage(d.path(), &["*.txt".into(), "!sub/keep.txt".into()]).unwrap();
        assert_eq!(
            paths(&s),
            [".gitignore", "sub/.gitignore", "sub/keep.txt", "train.py"]
        );
        assert!(!s.git);
        assert_eq!(
            s.secrets,
            [".aws", "a/.env", "a/b/c/.env.local"].map(PathBuf::from)
        );
        assert_eq!(s.bytes, s.files.iter().map(|f| f.bytes).sum::<u64>());
        assert_eq!(s.files[3].bytes, "train.py".len() as u64);
    }

    #[test]
    fn only_files_changed_since_staging_are_looked_at_again() {
        let d = tree(&[
            "a.txt", "b.txt", "c/d.txt", "e.txt", "f.txt", "g.txt", "h.txt", "i.txt",
        ]);
        let s = stage(d.path(), &[]).unwrap();
        assert!(changed_since_staged(&s, None).files.is_empty());
        fs::write(d.path().join("c/d.txt"), "changed size").unwrap();
        fs::remove_file(d.path().join("b.txt")).unwrap();
        let names = |s: &Staged| paths(s);
        assert_eq!(names(&changed_since_staged(&s, None)), ["b.txt", "c/d.txt"]);
        // Told what was sent: only that; a name not staged means all are looked at.
        let sent = [PathBuf::from("c/d.txt")];
        assert_eq!(names(&changed_since_staged(&s, Some(&sent))), ["c/d.txt"]);
        let sent = [PathBuf::from("a.txt")];
        assert!(changed_since_staged(&s, Some(&sent)).files.is_empty());
        let sent = [PathBuf::from("new.txt")];
        assert_eq!(
            names(&changed_since_staged(&s, Some(&sent))),
            ["b.txt", "c/d.txt"]
        );
    }

    #[test]
    fn gitignore_above_a_plain_folder_does_not_count() {
        let d = tree(&["proj/a.py", "proj/sub/b.py"]);
        fs::write(d.path().join(".gitignore"), "*\n").unwrap();
        let s = stage(&d.path().join("proj"), &[]).unwrap();
        assert_eq!(paths(&s), ["a.py", "sub/b.py"]);
    }

    #[test]
    fn git_tracked_and_untracked_not_ignored() {
        let d = tree(&[
            "tracked.py",
            ".env",
            "ignored.log",
            "new.py",
            "forced.log",
            "k/id_rsa",
        ]);
        fs::write(d.path().join(".gitignore"), "*.log\n").unwrap();
        git(d.path(), &["init", "-q"]);
        git(
            d.path(),
            &["add", "tracked.py", ".env", ".gitignore", "k/id_rsa"],
        );
        git(d.path(), &["add", "-f", "forced.log"]);
        git(d.path(), &["commit", "-qm", "x"]);
        let s = stage(d.path(), &[]).unwrap();
        assert!(s.git);
        assert_eq!(
            paths(&s),
            [".gitignore", "forced.log", "new.py", "tracked.py"]
        );
        assert_eq!(s.tracked_secrets, [".env", "k/id_rsa"].map(PathBuf::from));
        assert_eq!(s.secrets, [".env", "k/id_rsa"].map(PathBuf::from));
        // A subfolder of the repo stages relative to itself.
        fs::create_dir(d.path().join("sub")).unwrap();
        fs::write(d.path().join("sub/x.log"), "x").unwrap();
        fs::write(d.path().join("sub/y.py"), "y").unwrap();
        let s = stage(&d.path().join("sub"), &[]).unwrap();
        assert_eq!(
            paths(&s),
            ["y.py"],
            "the repo's .gitignore applies to a subfolder"
        );
    }

    #[test]
    fn a_committed_nested_repo_ships_its_working_tree_by_its_own_rules() {
        let d = tree(&[
            "top.py",
            "sub/s.py",
            "sub/new.py",
            "sub/.env",
            "sub/x.log",
            "gone/g.py",
        ]);
        git(&d.path().join("sub"), &["init", "-q"]);
        fs::write(d.path().join("sub/.gitignore"), "*.log\n*.py\n").unwrap();
        git(&d.path().join("sub"), &["add", "-f", "s.py", ".gitignore"]);
        git(&d.path().join("sub"), &["commit", "-qm", "s"]);
        git(&d.path().join("gone"), &["init", "-q"]);
        git(&d.path().join("gone"), &["add", "g.py"]);
        git(&d.path().join("gone"), &["commit", "-qm", "g"]);
        git(d.path(), &["init", "-q"]);
        // The outer repo records both as gitlinks (no .gitmodules) and ignores one of them.
        git(d.path(), &["add", "top.py", "sub", "gone"]);
        git(d.path(), &["commit", "-qm", "x"]);
        fs::write(d.path().join(".gitignore"), "sub/\n").unwrap();
        fs::remove_dir_all(d.path().join("gone")).unwrap();
        fs::create_dir(d.path().join("gone")).unwrap();
        let s = stage(d.path(), &[]).unwrap();
        // Tracked in sub (even though its own .gitignore says *.py), never the secret, not
        // what sub ignores; the outer .gitignore does not hide a committed repo.
        assert_eq!(
            paths(&s),
            [".gitignore", "sub/.gitignore", "sub/s.py", "top.py"]
        );
        assert_eq!(s.secrets, [PathBuf::from("sub/.env")]);
        assert!(
            s.warnings
                .iter()
                .any(|w| w.contains("gone is a nested git repo with no checkout here")),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn symlinks_ship_as_links_and_missing_src_is_usage() {
        let d = tree(&["real.txt"]);
        std::os::unix::fs::symlink("/etc", d.path().join("etc-link")).unwrap();
        let s = stage(d.path(), &[]).unwrap();
        assert_eq!(paths(&s), ["etc-link", "real.txt"]);
        assert!(s.files[0].symlink);
        assert_eq!(s.largest(1)[0].path, PathBuf::from("real.txt"));
        assert_eq!(s.files_from(), b"./etc-link\0./real.txt\0");
        let e = stage(&d.path().join("nope"), &[]).unwrap_err();
        assert_eq!(crate::error::exit_of(&e, crate::Exit::Failed).code(), 2);
        let e = stage(&d.path().join("real.txt"), &[]).unwrap_err();
        assert!(
            format!("{e:#}").contains("found a file, expected a folder"),
            "{e:#}"
        );
    }
}
