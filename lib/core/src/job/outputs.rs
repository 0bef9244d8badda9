//! Where a run's outputs may come back to: a new or existing folder strictly inside the
//! job's root (never the root itself, never above it), reached without going through a
//! symlink. Checked when the job is validated (`outputs_dir`), for `runplz --outputs-dir`,
//! and again just before outputs are written, because collect writes into that folder with
//! the user's own rights: a symlinked `out` (`ln -s ~/.ssh out`) must never turn an output
//! file into `~/.ssh/authorized_keys`.

use std::path::{Component, Path, PathBuf};

/// The folder `given` (from a job file: relative to `root`; `~` and `~/x` are the home
/// folder, as everywhere else) as a checked absolute path inside `root`. The message on
/// failure reads after the field name ("found ..., expected ...").
pub fn check_spec(root: &Path, given: Option<&str>) -> Result<PathBuf, String> {
    let Some(given) = given else {
        return check(root, &root.join("out"), "\"out\"");
    };
    let shown = format!("{given:?}");
    if given.trim().is_empty() {
        return Err(format!("found {shown}, expected a folder"));
    }
    let path = if given == "~" || given.starts_with("~/") {
        let home = std::env::var_os("HOME").map(PathBuf::from).ok_or_else(|| {
            format!("found {shown}, but HOME is not set, expected a folder inside the job's folder, such as \"out\"")
        })?;
        let p = home.join(given.strip_prefix("~/").unwrap_or(""));
        if !lexically_inside(root, &p) {
            return Err(format!(
                "found {shown} (in the home folder: `~` is the home, as everywhere, so it is outside the job's folder), expected a folder inside the job's folder, such as \"out\""
            ));
        }
        p
    } else if given.starts_with('~') {
        // `~user` is refused everywhere; a folder literally named `~...` here would only
        // surprise.
        return Err(format!(
            "found {shown} (`~user` is not supported, and `~` only means the home folder), expected a new or existing folder inside the job's folder, such as \"out\""
        ));
    } else {
        root.join(given)
    };
    check(root, &path, &shown)
}

/// An absolute `path` (or one relative to the current folder: `runplz --outputs-dir`) as a
/// checked absolute path inside `root`.
pub fn check_flag(root: &Path, path: &Path) -> Result<PathBuf, String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cannot read the current folder: {e}"))?
            .join(path)
    };
    check(root, &abs, &format!("{:?}", path.display().to_string()))
}

fn lexically_inside(root: &Path, p: &Path) -> bool {
    p.strip_prefix(root)
        .is_ok_and(|r| r.components().all(|c| matches!(c, Component::Normal(_))))
        && p != root
}

/// Walk `path` from `root`, one word at a time, on the real file system: a word that is a
/// symlink (or a file where a folder is needed) is refused, `..` may not climb to or above
/// the root, and the end must not be the root. As no word followed is a symlink, the
/// lexical path is the physical one.
fn check(root: &Path, path: &Path, shown: &str) -> Result<PathBuf, String> {
    let expected = "expected a new or existing folder inside the job's folder, such as \"out\"";
    let rel = match path.strip_prefix(root) {
        Ok(r) => r.to_path_buf(),
        Err(_) => {
            // The root is canonical; an absolute path given through a symlinked parent
            // (macOS /tmp) is compared in its canonical form, as far as it exists.
            let canon = canonical_prefix(path);
            match canon.strip_prefix(root) {
                Ok(r) => r.to_path_buf(),
                Err(_) => {
                    return Err(format!(
                        "found {shown} (outside the job's folder), {expected}"
                    ))
                }
            }
        }
    };
    let mut at: Vec<&std::ffi::OsStr> = Vec::new();
    for c in rel.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if at.pop().is_none() {
                    return Err(format!(
                        "found {shown} (it leaves the job's folder), {expected}"
                    ));
                }
            }
            Component::Normal(w) => {
                at.push(w);
                let rel: PathBuf = at.iter().collect();
                let here = root.join(&rel);
                let here_shown = format!("{:?}", rel.display().to_string());
                if let Ok(m) = std::fs::symlink_metadata(&here) {
                    if m.file_type().is_symlink() {
                        return Err(if here_shown == shown {
                            format!("found {shown} (a symlink, and outputs are never written through one), {expected}")
                        } else {
                            format!("found {shown} ({here_shown} is a symlink, and outputs are never written through one), {expected}")
                        });
                    }
                    if !m.is_dir() {
                        return Err(if here_shown == shown {
                            format!("found {shown} (a file), {expected}")
                        } else {
                            format!("found {shown} ({here_shown} is a file), {expected}")
                        });
                    }
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("found {shown}, {expected}"))
            }
        }
    }
    if at.is_empty() {
        return Err(format!(
            "found {shown} (the job's folder itself, whose files the outputs would overwrite), {expected}"
        ));
    }
    Ok(root.join(at.iter().collect::<PathBuf>()))
}

/// `path` with its longest existing ancestor canonicalized and the rest appended.
fn canonical_prefix(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut p = path;
    loop {
        if let Ok(c) = std::fs::canonicalize(p) {
            let mut out = c;
            for w in rest.iter().rev() {
                out.push(w);
            }
            return out;
        }
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                p = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_folders_strictly_inside_the_root_pass() {
        let d = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        std::fs::create_dir_all(root.join("results/x")).unwrap();
        std::fs::write(root.join("file"), "x").unwrap();
        assert_eq!(check_spec(&root, None).unwrap(), root.join("out"));
        assert_eq!(
            check_spec(&root, Some("results/x/..")).unwrap(),
            root.join("results")
        );
        assert_eq!(
            check_spec(&root, Some("./new/a")).unwrap(),
            root.join("new/a")
        );
        for bad in [
            ".", "..", "../sib", "/tmp/x", "a/../..", "file", "file/x", "",
        ] {
            assert!(check_spec(&root, Some(bad)).is_err(), "{bad} passed");
        }
        std::os::unix::fs::symlink(root.join("results"), root.join("link")).unwrap();
        let e = check_spec(&root, Some("link/y")).unwrap_err();
        assert!(e.contains("is a symlink"), "{e}");
        assert!(check_flag(&root, &root.join("results")).is_ok());
        assert!(check_flag(&root, &root).is_err());
    }
}
