//! Copying scanned files into a build context (the local docker tar, Modal's folder) so that
//! what ships is what a scan read. The caller scans the staged list first (the run's
//! [`super::again_before_sending`], rp-image's [`super::before_shipping`]); each file is then
//! read once, here, and its bytes are the ones copied. When the file's size, mtime or inode
//! after the read differ from what staging recorded (and the scan keyed its answer on), it
//! changed in between: those very bytes are searched again before they are copied.

use super::{allow_for, refusal, scan_bytes, Allow, Mode, ScanRecord, SecretFinding};
use super::{BINARY_PROBE, MAX_BYTES};
use crate::error::CliError;
use crate::sync::{Staged, StagedFile};
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Reads files for a build context, held to the scan.
pub struct Copier {
    tool: &'static str,
    mode: Mode,
    allow: Allow,
    refuse_exit: Exit,
    job_file: Option<String>,
}

/// One file as read by [`Copier::read`].
#[derive(Debug)]
pub enum Copied {
    /// Its bytes are in the buffer; the metadata is the file's after the read.
    Bytes(std::fs::Metadata),
    /// Over [`MAX_BYTES`] (never content-scanned): the open file, to be streamed.
    Large(std::fs::File, std::fs::Metadata),
}

impl Copier {
    /// A copier by the job's `sync.secret_scan` and allow list (`job: None`: refuse, with
    /// `allow`).
    pub fn new(
        tool: &'static str,
        job: Option<&crate::job::Job>,
        allow: Allow,
        refuse_exit: Exit,
    ) -> Copier {
        Copier {
            tool,
            mode: job
                .and_then(|j| j.spec.sync.secret_scan)
                .unwrap_or_default(),
            allow,
            refuse_exit,
            job_file: job.map(|j| j.origin.clone()),
        }
    }

    /// For a run's build context, staged some time after the run's scan: the list is
    /// scanned again ([`super::again_before_sending`]: the cache answers for what did not
    /// change, exit 2 on a finding), then a copier with the job's settings.
    pub fn for_run(
        tool: &'static str,
        staged: &Staged,
        job: &crate::job::Job,
        flags: &[String],
    ) -> Result<Copier> {
        super::again_before_sending(tool, staged, job, flags)?;
        Ok(Copier::new(
            tool,
            Some(job),
            allow_for(Some(job), flags)?,
            Exit::Usage,
        ))
    }

    /// Read the regular file `f` of `root` into `buf` (cleared first). A file no longer as
    /// staged is searched again in the bytes read: a finding that is not allowed fails
    /// with the copier's exit in `refuse` mode (nothing of the context has been handed on
    /// yet) and is warned of in `warn` mode.
    pub fn read(&self, root: &Path, f: &StagedFile, buf: &mut Vec<u8>) -> Result<Copied> {
        let path = root.join(&f.path);
        let what = || format!("reading {} for the build context", f.path.display());
        let mut file = std::fs::File::open(&path).with_context(what)?;
        buf.clear();
        // By its size now: one staged large that has shrunk since is read (and, changed,
        // searched) like any other.
        let md = file.metadata().with_context(what)?;
        if md.len() > MAX_BYTES {
            return Ok(Copied::Large(file, md));
        }
        (&mut file)
            .take(MAX_BYTES + 1)
            .read_to_end(buf)
            .with_context(what)?;
        let md = file.metadata().with_context(what)?;
        if buf.len() as u64 > MAX_BYTES {
            // Grew past the limit since staging: like any file that large, not read.
            return Ok(Copied::Large(reopen(&path, what)?, md));
        }
        let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        let same = (md.len(), mtime_ns, md.ino()) == (f.bytes, f.mtime_ns, f.inode)
            && buf.len() as u64 == f.bytes;
        if same || self.mode == Mode::Off {
            return Ok(Copied::Bytes(md));
        }
        crate::out::note(
            self.tool,
            format_args!(
                "{} changed after the secret scan read it: scanned again as it is copied",
                crate::out::escape(&crate::out::path_text(&f.path))
            ),
        );
        if buf[..buf.len().min(BINARY_PROBE)].contains(&0) {
            return Ok(Copied::Bytes(md));
        }
        let rec = ScanRecord {
            mode: self.mode.name().into(),
            source: root.display().to_string(),
            files: 1,
            scanned: 1,
            findings: scan_bytes(buf)
                .into_iter()
                .map(|h| SecretFinding {
                    path: crate::out::path_text(&f.path),
                    line: h.line,
                    column: h.column,
                    rule: h.rule.into(),
                    preview: h.preview,
                    allowed: self.allow.allows(&f.path, h.line),
                })
                .collect(),
            ..ScanRecord::default()
        };
        if self.mode == Mode::Refuse && super::refused(&rec).next().is_some() {
            return Err(CliError::new(
                self.refuse_exit,
                refusal(&rec, self.job_file.as_deref()).replacen(
                    "refusing to ship:",
                    "refusing to ship a file changed after the scan:",
                    1,
                ),
            ));
        }
        for w in super::warnings(&rec) {
            crate::out::warn(self.tool, w);
        }
        Ok(Copied::Bytes(md))
    }
}

fn reopen(path: &Path, what: impl Fn() -> String) -> Result<std::fs::File> {
    std::fs::File::open(path).with_context(what)
}
