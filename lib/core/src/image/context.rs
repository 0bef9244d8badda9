//! The local docker build context: exactly the files rp-sync would ship (secrets, caches and
//! the job's `sync.exclude` never enter it), plus the rendered Dockerfile under a name of its
//! own, as a tar for `docker build -f .runplz.Dockerfile -`.

use crate::job::Job;
use anyhow::{Context, Result};

/// The Dockerfile's name inside the context.
pub const CONTEXT_DOCKERFILE: &str = ".runplz.Dockerfile";

/// Build the context tar in memory.
pub fn context_tar(job: &Job, dockerfile: &str) -> Result<Vec<u8>> {
    let excludes = crate::sync::job_excludes(job, &job.root);
    let staged = crate::sync::stage(&job.root, &excludes)?;
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    for f in &staged.files {
        let full = job.root.join(&f.path);
        b.append_path_with_name(&full, &f.path)
            .with_context(|| format!("adding {} to the build context", f.path.display()))?;
    }
    let mut h = tar::Header::new_gnu();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, CONTEXT_DOCKERFILE, dockerfile.as_bytes())?;
    Ok(b.into_inner()?)
}
