//! The local docker build context: exactly the files rp-sync would ship (secrets, caches and
//! the job's `sync.exclude` never enter it), plus the rendered Dockerfile under a name of its
//! own, as a tar for `docker build -f .runplz.Dockerfile -`.

use crate::job::Job;
use anyhow::{Context, Result};

/// The Dockerfile's name inside the context.
pub const CONTEXT_DOCKERFILE: &str = ".runplz.Dockerfile";

/// Write the context tar to `out` (a file: the repo may be large). `out_path`, when the
/// output file is inside the repo, is left out of the context (so is an older copy of it).
pub fn write_context_tar(
    job: &Job,
    excludes: &[String],
    dockerfile: &str,
    out: impl std::io::Write,
    out_path: Option<&std::path::Path>,
) -> Result<()> {
    let mut staged = crate::sync::stage(&job.ship_root, excludes)?;
    if let Some(p) = out_path {
        // Canonical, like the job's root (the file exists by now).
        let abs = std::fs::canonicalize(p).or_else(|_| std::path::absolute(p))?;
        let root = std::fs::canonicalize(&job.ship_root).unwrap_or_else(|_| job.ship_root.clone());
        if let Ok(rel) = abs.strip_prefix(&root) {
            staged.files.retain(|f| f.path != rel);
        }
    }
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    for f in &staged.files {
        let full = job.ship_root.join(&f.path);
        b.append_path_with_name(&full, &f.path)
            .with_context(|| format!("adding {} to the build context", f.path.display()))?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, CONTEXT_DOCKERFILE, dockerfile.as_bytes())?;
    b.into_inner()?.flush()?;
    Ok(())
}
