//! pack: the files a sync would ship (the same [`Staged`] list), as one deterministic
//! `tar.gz`. Entries in the list's order (sorted by path), every mtime 0, uid and gid 0, no
//! owner names, modes 0644 or 0755 (executable by anyone here) and 0777 for symlinks, GNU
//! headers (a long name takes a GNU long-name entry, never a pax header), a gzip header
//! with no name, mtime 0 and OS "unknown": the same tree gives the same bytes. Folders are
//! implied by the paths, as in a sync (empty folders are not shipped).
//!
//! Each file is read once, while it is written: its bytes are hashed into the tree's
//! fingerprint (the scan's formula) and its size, mtime and inode are checked against
//! what staging saw before and after, so a file edited after the scan read it is refused,
//! not packed unscanned.

use super::Staged;
use crate::error::CliError;
use crate::scan;
use anyhow::{Context, Result};
use runplz_protocol::Exit;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What [`write_tar_gz`] packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Entries (files and symlinks).
    pub files: u64,
    /// The fingerprint of the bytes packed ([`scan::fingerprint`]).
    pub fingerprint: String,
}

/// Where `rp-sync pack --to` sends the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// `-`: stdout.
    Stdout,
    /// A path, or `file:///path`.
    File(PathBuf),
    /// An `http://` or `https://` URL, for a PUT.
    Http(String),
}

/// Parse `--to`: `-`, a path, `file:///abs/path` (or `file://localhost/...`), or an
/// `http(s)://` URL. Other schemes are usage errors.
pub fn parse_dest(to: &str) -> Result<Dest> {
    let expected =
        "expected a file path, file:///abs/path, an http:// or https:// URL, or - (stdout)";
    if to == "-" {
        return Ok(Dest::Stdout);
    }
    let lower = to.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let host = to.split_once("://").map_or("", |(_, r)| r);
        let host = host.split(['/', '?', '#']).next().unwrap_or("");
        if host.rsplit('@').next().unwrap_or("").is_empty() {
            return Err(CliError::usage(format!(
                "--to: found {:?}, a URL with no host; {expected}",
                redact_url(to)
            )));
        }
        return Ok(Dest::Http(to.to_string()));
    }
    if let Some(rest) = lower.strip_prefix("file://").map(|_| &to[7..]) {
        let path = rest.strip_prefix("localhost").unwrap_or(rest);
        if !path.starts_with('/') {
            return Err(CliError::usage(format!(
                "--to: found {to:?}, a file URL with a host or a relative path; {expected}"
            )));
        }
        let decoded = percent_decode(path).ok_or_else(|| {
            CliError::usage(format!(
                "--to: found {to:?}, a bad %-escape in the path; {expected}"
            ))
        })?;
        return Ok(Dest::File(PathBuf::from(std::ffi::OsStr::from_bytes(
            &decoded,
        ))));
    }
    if let Some((scheme, _)) = to.split_once("://") {
        if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+')
        {
            return Err(CliError::usage(format!(
                "--to: found the scheme {scheme:?}; {expected}"
            )));
        }
    }
    if to.is_empty() {
        return Err(CliError::usage(format!("--to: found \"\"; {expected}")));
    }
    Ok(Dest::File(PathBuf::from(to)))
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A URL as it may be printed or recorded: no user or password, no query, no fragment (a
/// presigned URL's signature lives in its query).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split(['?', '#']).next().unwrap_or("").to_string();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (auth, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = auth.rsplit('@').next().unwrap_or("");
    format!("{scheme}://{host}/{path}")
}

/// The `file://` URL of an absolute path (bytes outside the unreserved set %-escaped).
pub fn file_url(path: &Path) -> String {
    let mut s = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Reads at most `limit` bytes of a file, hashing and counting them; stops with an error
/// once runplz got a signal (so Ctrl-C ends a long pack or upload).
struct Hashing<R> {
    inner: R,
    sha: Sha256,
    n: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(sig) = crate::process::received_signal() {
            return Err(std::io::Error::other(format!(
                "interrupted by signal {sig}"
            )));
        }
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

fn changed(path: &Path) -> anyhow::Error {
    CliError::new(
        Exit::Failed,
        format!(
            "{} changed while it was being packed (after it was listed and scanned); nothing was written: run again once it is saved",
            path.display()
        ),
    )
}

fn interrupted() -> Result<()> {
    match crate::process::received_signal() {
        Some(sig) => Err(CliError::new(
            Exit::Signal(u8::try_from(sig).unwrap_or(0)),
            format!("interrupted by signal {sig}; nothing was written"),
        )),
        None => Ok(()),
    }
}

/// Write `staged` to `out` as a deterministic `tar.gz` (see the module docs) and return
/// what was packed, and `out`. A file that changed since staging (size, mtime, inode, or
/// fewer bytes than staged) is an error (exit 1) naming it.
pub fn write_tar_gz<W: Write>(staged: &Staged, out: W) -> Result<(Packed, W)> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    let mut entries: Vec<(PathBuf, u32, String)> = Vec::with_capacity(staged.files.len());
    for f in &staged.files {
        interrupted()?;
        let full = staged.root.join(&f.path);
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let adding = || format!("adding {} to the archive", f.path.display());
        if f.symlink {
            let target = std::fs::read_link(&full).map_err(|_| changed(&f.path))?;
            if target.as_os_str().len() as u64 != f.bytes {
                return Err(changed(&f.path));
            }
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_link(&mut h, &f.path, &target)
                .with_context(adding)?;
            let sha = crate::hex::hex(&Sha256::digest(target.as_os_str().as_bytes()));
            entries.push((f.path.clone(), f.mode, sha));
            continue;
        }
        let file = std::fs::File::open(&full).map_err(|_| changed(&f.path))?;
        let same = |md: &std::fs::Metadata| {
            md.len() == f.bytes
                && md.ino() == f.inode
                && i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec())
                    == f.mtime_ns
        };
        if !same(&file.metadata()?) {
            return Err(changed(&f.path));
        }
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(if f.mode & 0o111 != 0 { 0o755 } else { 0o644 });
        h.set_size(f.bytes);
        let mut r = Hashing {
            inner: (&file).take(f.bytes),
            sha: Sha256::new(),
            n: 0,
        };
        b.append_data(&mut h, &f.path, &mut r)
            .with_context(adding)?;
        interrupted()?;
        // Shorter than staged, or touched while read: what was packed is not what was scanned.
        if r.n != f.bytes || !same(&file.metadata()?) {
            return Err(changed(&f.path));
        }
        entries.push((f.path.clone(), f.mode, crate::hex::hex(&r.sha.finalize())));
    }
    let gz = b.into_inner().context("finishing the archive")?;
    let out = gz.finish().context("finishing the archive")?;
    let refs: Vec<(&Path, u32, &str)> = entries
        .iter()
        .map(|(p, m, s)| (p.as_path(), *m, s.as_str()))
        .collect();
    Ok((
        Packed {
            files: entries.len() as u64,
            fingerprint: scan::fingerprint(&refs),
        },
        out,
    ))
}

/// A writer that hashes and counts what passes through.
pub struct HashingWriter<W> {
    inner: W,
    sha: Sha256,
    /// Bytes written.
    pub n: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            sha: Sha256::new(),
            n: 0,
        }
    }

    /// The sha256 (hex) of what was written, and the writer.
    pub fn finish(self) -> (String, W) {
        (crate::hex::hex(&self.sha.finalize()), self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// How long connecting, and then waiting for the answer once the body is sent, may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);

/// PUT the file at `path` to `url` (`Content-Type: application/gzip`, its length given).
/// Returns the status (2xx). A failure is exit 1 naming the URL without its credentials or
/// query, the status and the start of the answer; Ctrl-C ends the upload (exit 128+n).
pub fn put(url: &str, path: &Path) -> Result<u16> {
    let shown = redact_url(url);
    // Whatever ureq says is scrubbed of the URL's credentials and query.
    let scrub = |s: String| {
        let mut s = s.replace(url, &shown);
        for secret in [url.split_once('?').map(|x| x.1), userinfo(url)]
            .into_iter()
            .flatten()
            .filter(|x| !x.is_empty())
        {
            s = s.replace(secret, "…");
        }
        s
    };
    let file = std::fs::File::open(path)
        .with_context(|| format!("reading {} to upload it", path.display()))?;
    let len = file.metadata()?.len();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let body = Hashing {
        inner: file,
        sha: Sha256::new(),
        n: 0,
    };
    let res = agent
        .put(url)
        .header("Content-Type", "application/gzip")
        .header("Content-Length", len.to_string())
        .send(ureq::SendBody::from_owned_reader(body));
    interrupted()?;
    let mut res = res.map_err(|e| {
        CliError::new(
            Exit::Failed,
            scrub(format!("uploading the archive to {shown}: {e}")),
        )
    })?;
    let status = res.status().as_u16();
    if !(200..300).contains(&status) {
        let body = res
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        let body = crate::out::escape(body.trim());
        return Err(CliError::new(
            Exit::Failed,
            scrub(format!(
                "uploading the archive to {shown}: the server answered {status}{}{}",
                if body.is_empty() { "" } else { ": " },
                body.chars().take(500).collect::<String>()
            )),
        ));
    }
    Ok(status)
}

fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let auth = rest.split(['/', '?', '#']).next()?;
    auth.rsplit_once('@').map(|(u, _)| u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn dest_and_redaction() {
        assert_eq!(parse_dest("-").unwrap(), Dest::Stdout);
        assert_eq!(
            parse_dest("out/a.tar.gz").unwrap(),
            Dest::File("out/a.tar.gz".into())
        );
        assert_eq!(
            parse_dest("file:///tmp/a%20b.tgz").unwrap(),
            Dest::File("/tmp/a b.tgz".into())
        );
        assert_eq!(
            parse_dest("file://localhost/x").unwrap(),
            Dest::File("/x".into())
        );
        assert!(matches!(
            parse_dest("https://h/p?sig=1").unwrap(),
            Dest::Http(_)
        ));
        for bad in [
            "s3://bucket/k",
            "file://host/x",
            "file://rel",
            "https:///x",
            "",
        ] {
            let e = format!("{:#}", parse_dest(bad).unwrap_err());
            assert!(e.contains("--to: found"), "{bad}: {e}");
        }
        assert_eq!(
            redact_url("https://u:pw@h.example:8443/a/b.tgz?X-Amz-Signature=s#f"),
            "https://h.example:8443/a/b.tgz"
        );
        assert_eq!(userinfo("https://u:pw@h/x"), Some("u:pw"));
        assert_eq!(file_url(Path::new("/a b/c.tgz")), "file:///a%20b/c.tgz");
    }

    fn staged(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Staged) {
        let d = tempfile::tempdir().unwrap();
        for (p, data) in files {
            let full = d.path().join(p);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, data).unwrap();
        }
        let s = crate::sync::stage(d.path(), &[]).unwrap();
        (d, s)
    }

    fn pack(s: &Staged) -> (Vec<u8>, Packed) {
        let (p, out) = write_tar_gz(s, Vec::new()).unwrap();
        (out, p)
    }

    #[test]
    fn the_same_tree_gives_the_same_bytes_and_one_byte_changes_them() {
        let long = format!("{}/deep.py", "d".repeat(120));
        let files: Vec<(&str, &[u8])> = vec![
            ("b.py", b"print(1)\n"),
            ("a/run.sh", b"#!/bin/sh\n"),
            (long.as_str(), b"x"),
        ];
        let (d1, s1) = staged(&files);
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            d1.path().join("a/run.sh"),
            fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        std::os::unix::fs::symlink("b.py", d1.path().join("link")).unwrap();
        let s1b = crate::sync::stage(d1.path(), &[]).unwrap();
        let (d2, _) = staged(&files);
        fs::set_permissions(
            d2.path().join("a/run.sh"),
            fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        std::os::unix::fs::symlink("b.py", d2.path().join("link")).unwrap();
        // Other mtimes, another folder: the same bytes.
        let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        fs::File::options()
            .write(true)
            .open(d2.path().join("b.py"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let s2 = crate::sync::stage(d2.path(), &[]).unwrap();
        let (a, pa) = pack(&s1b);
        let (b, pb) = pack(&s2);
        assert_eq!(a, b);
        assert_eq!(pa, pb);
        assert_eq!(pa.files, 4);
        drop(s1);
        // The fingerprint is the scan's.
        let rec = scan::scan(&s2, &scan::Allow::default(), None).unwrap();
        assert_eq!(rec.fingerprint.as_deref(), Some(pb.fingerprint.as_str()));

        // What is inside: sorted, owned by 0, mtime 0, normalized modes, the long name kept.
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&a[..]));
        let mut seen = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            assert_eq!(
                (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
                (0, 0, 0)
            );
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            seen.push((
                e.path().unwrap().display().to_string(),
                h.mode().unwrap(),
                body,
            ));
        }
        let want: Vec<(String, u32, Vec<u8>)> = vec![
            ("a/run.sh".into(), 0o755, b"#!/bin/sh\n".to_vec()),
            ("b.py".into(), 0o644, b"print(1)\n".to_vec()),
            (long.clone(), 0o644, b"x".to_vec()),
            ("link".into(), 0o777, Vec::new()),
        ];
        assert_eq!(seen, want);
        // The gzip header holds no flags (no name), no time, OS unknown; the tar no pax
        // header ('x', 'g'), the long name a GNU 'L' entry.
        assert_eq!(&a[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut raw)
            .unwrap();
        let (mut off, mut types) = (0, Vec::new());
        while off + 512 <= raw.len() && raw[off..off + 512].iter().any(|b| *b != 0) {
            let h = &raw[off..off + 512];
            let size = std::str::from_utf8(&h[124..135])
                .unwrap()
                .trim_matches(['\0', ' ']);
            let size = u64::from_str_radix(size, 8).unwrap() as usize;
            types.push(h[156]);
            off += 512 + size.div_ceil(512) * 512;
        }
        assert_eq!(types, b"00L02");

        // One byte changed: other bytes, another fingerprint.
        fs::write(d2.path().join("b.py"), b"print(2)\n").unwrap();
        let s3 = crate::sync::stage(d2.path(), &[]).unwrap();
        let (c, pc) = pack(&s3);
        assert_ne!(a, c);
        assert_ne!(pa.fingerprint, pc.fingerprint);
    }

    #[test]
    fn a_file_changed_after_staging_is_refused() {
        let (d, s) = staged(&[("a.py", b"one\n"), ("b.py", b"two\n")]);
        fs::write(d.path().join("b.py"), b"two, longer\n").unwrap();
        let e = write_tar_gz(&s, Vec::new()).unwrap_err();
        assert!(
            format!("{e:#}").contains("b.py changed while it was being packed"),
            "{e:#}"
        );
        assert_eq!(crate::error::exit_of(&e, Exit::Ok).code(), 1);
    }
}
