//! The local docker build context: exactly the files rp-sync would ship (secrets, caches and
//! the job's `sync.exclude` never enter it), plus the rendered Dockerfile under a name of its
//! own, as a tar for `docker build -f .runplz.Dockerfile -`. Its files are the ones a scan
//! read, as it read them (see [`crate::scan::Copier`]).

use crate::scan::{Copied, Copier};
use crate::sync::Staged;
use anyhow::{Context, Result};
use std::path::Path;

/// The Dockerfile's name inside the context.
pub const CONTEXT_DOCKERFILE: &str = ".runplz.Dockerfile";

/// Write the context tar of `staged` to `out` (a file: the repo may be large): the list a
/// scan just read, each file's bytes read once through `copier` (a file changed since the
/// scan is searched again before it goes in). `out_path`, when the output file is inside
/// the repo, is left out of the context (so is an older copy of it).
pub fn write_context_tar(
    staged: &Staged,
    copier: &Copier,
    dockerfile: &str,
    out: impl std::io::Write,
    out_path: Option<&Path>,
) -> Result<()> {
    // Canonical, like the staged root (the file exists by now).
    let skip = out_path.and_then(|p| {
        let abs = std::fs::canonicalize(p)
            .or_else(|_| std::path::absolute(p))
            .ok()?;
        abs.strip_prefix(&staged.root).ok().map(Path::to_path_buf)
    });
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut buf = Vec::new();
    for f in &staged.files {
        if skip.as_deref() == Some(f.path.as_path()) {
            continue;
        }
        let adding = || format!("adding {} to the build context", f.path.display());
        if f.symlink {
            b.append_path_with_name(staged.root.join(&f.path), &f.path)
                .with_context(adding)?;
            continue;
        }
        let mut h = tar::Header::new_gnu();
        match copier.read(&staged.root, f, &mut buf)? {
            Copied::Bytes(md) => {
                h.set_metadata(&md);
                h.set_size(buf.len() as u64);
                b.append_data(&mut h, &f.path, &buf[..])
                    .with_context(adding)?;
            }
            Copied::Large(file, md) => {
                h.set_metadata(&md);
                b.append_data(&mut h, &f.path, file).with_context(adding)?;
            }
        }
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, CONTEXT_DOCKERFILE, dockerfile.as_bytes())?;
    b.into_inner()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{rules::sample, Allow};
    use runplz_protocol::Exit;

    fn entries(tar: &[u8]) -> Vec<(String, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let p = e.path().unwrap().display().to_string();
                let mut s = String::new();
                std::io::Read::read_to_string(&mut e, &mut s).unwrap();
                (p, s)
            })
            .collect()
    }

    #[test]
    fn the_context_is_the_staged_list_and_a_file_changed_since_is_scanned_again() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("train.py"), "x = 1\n").unwrap();
        std::fs::write(d.path().join("data.py"), "y = 2\n").unwrap();
        let staged = crate::sync::stage(d.path(), &[]).unwrap();
        let copier = Copier::new("test", None, Allow::default(), Exit::Refused);
        // Written after staging (and so after the scan): not in the context.
        let tok = sample("hf");
        std::fs::write(d.path().join("late.py"), format!("T = '{tok}'\n")).unwrap();
        let mut out = Vec::new();
        write_context_tar(&staged, &copier, "FROM x\n", &mut out, None).unwrap();
        assert_eq!(
            entries(&out),
            [
                ("data.py".to_string(), "y = 2\n".to_string()),
                ("train.py".into(), "x = 1\n".into()),
                (CONTEXT_DOCKERFILE.into(), "FROM x\n".into()),
            ]
        );
        // Changed after the scan, harmlessly: in, as it is now (read once, searched).
        std::fs::write(d.path().join("data.py"), "y = 22\n").unwrap();
        let mut out = Vec::new();
        write_context_tar(&staged, &copier, "FROM x\n", &mut out, None).unwrap();
        assert_eq!(entries(&out)[0], ("data.py".into(), "y = 22\n".into()));
        // Changed to hold a token: refused (the copier's exit), the value never shown.
        std::fs::write(d.path().join("train.py"), format!("x = 1\nT = '{tok}'\n")).unwrap();
        let err = write_context_tar(&staged, &copier, "FROM x\n", Vec::new(), None).unwrap_err();
        assert_eq!(crate::error::exit_of(&err, Exit::Failed), Exit::Refused);
        let msg = format!("{err:#}");
        assert!(
            msg.contains("refusing to ship a file changed after the scan: 1 secret found")
                && msg.contains("train.py:2:6: huggingface-token"),
            "{msg}"
        );
        assert!(!msg.contains(&tok[5..]), "{msg}");
    }
}
