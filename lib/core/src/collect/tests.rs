//! Archive safety rules on archives built here, byte by byte where a normal tar writer
//! would refuse to write the hostile entry.

use super::*;
use crate::error::exit_of;
use ::tar::{Builder, EntryType, Header};
use std::io::Write;

/// Append one entry with exactly these path and link bytes (no checks by the writer).
fn raw(b: &mut Builder<Vec<u8>>, path: &str, ty: EntryType, link: &str, data: &[u8]) {
    let mut h = Header::new_old();
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(ty);
    h.set_size(data.len() as u64);
    h.set_mode(if ty == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn file(b: &mut Builder<Vec<u8>>, path: &str, data: &[u8]) {
    raw(b, path, EntryType::Regular, "", data);
}

/// Write the archive (gzipped) and unpack it into `<tmp>/out` with small limits.
fn unpack(build: impl FnOnce(&mut Builder<Vec<u8>>)) -> (tempfile::TempDir, Result<Collected>) {
    let t = tempfile::tempdir().unwrap();
    let mut b = Builder::new(Vec::new());
    build(&mut b);
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    std::fs::write(t.path().join("a.tgz"), gz.finish().unwrap()).unwrap();
    let limits = Limits {
        warn: 2048,
        refuse: 4096,
    };
    let res = from_tar_with(&t.path().join("a.tgz"), &t.path().join("out"), limits);
    (t, res)
}

fn refused_with(res: Result<Collected>, t: &tempfile::TempDir, needle: &str) {
    let e = res.expect_err("should be refused");
    assert_eq!(exit_of(&e, Exit::Failed), Exit::Refused, "{e:#}");
    let msg = format!("{e:#}");
    assert!(msg.contains(needle), "{msg}");
    assert!(msg.ends_with("nothing was extracted"), "{msg}");
    assert!(!t.path().join("out").exists(), "something was written");
}

#[test]
fn a_good_archive_unpacks_with_hashes() {
    let (t, res) = unpack(|b| {
        raw(b, "./", EntryType::Directory, "", b"");
        raw(b, "d/", EntryType::Directory, "", b"");
        file(b, "d/a.txt", b"abc");
        raw(b, "d/link", EntryType::Symlink, "a.txt", b"");
        raw(b, "up", EntryType::Symlink, "d/../d/a.txt", b"");
        raw(b, "hard", EntryType::Link, "d/a.txt", b"");
    });
    let c = res.unwrap();
    let out = t.path().join("out");
    assert_eq!(std::fs::read_to_string(out.join("d/link")).unwrap(), "abc");
    assert_eq!(
        std::fs::read_link(out.join("up")).unwrap(),
        Path::new("d/../d/a.txt")
    );
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let paths: Vec<(&str, u64, &str)> = c
        .entries
        .iter()
        .map(|f| (f.path.as_str(), f.bytes, f.sha256.as_str()))
        .collect();
    assert_eq!(paths, vec![("d/a.txt", 3, abc), ("hard", 3, abc)]);
    assert_eq!((c.files, c.bytes), (2, 6));
    assert!(c.warnings.is_empty());
}

/// A function that writes an archive's entries.
type Build = Box<dyn FnOnce(&mut Builder<Vec<u8>>)>;

#[test]
fn escaping_entries_are_refused_and_nothing_is_written() {
    let cases: Vec<(&str, Build)> = vec![
        (
            "has a `..` component",
            Box::new(|b| {
                file(b, "ok", b"1");
                file(b, "a/../../evil", b"x");
            }),
        ),
        (
            "is an absolute path",
            Box::new(|b| file(b, "/tmp/evil", b"x")),
        ),
        (
            "points outside the folder (to /etc/passwd)",
            Box::new(|b| raw(b, "p", EntryType::Symlink, "/etc/passwd", b"")),
        ),
        (
            "points outside the folder (to ../x)",
            Box::new(|b| raw(b, "p", EntryType::Symlink, "../x", b"")),
        ),
        (
            "resolves through the symlink s",
            Box::new(|b| {
                raw(b, "s", EntryType::Symlink, ".", b"");
                raw(b, "t", EntryType::Symlink, "s/..", b"");
            }),
        ),
        (
            "would be written through the symlink d",
            Box::new(|b| {
                raw(b, "d", EntryType::Symlink, "e", b"");
                raw(b, "e/", EntryType::Directory, "", b"");
                file(b, "d/x", b"x");
            }),
        ),
        (
            "not a file earlier in the archive",
            Box::new(|b| raw(b, "h", EntryType::Link, "etc/passwd", b"")),
        ),
        (
            "hardlink target of",
            Box::new(|b| raw(b, "h", EntryType::Link, "/etc/passwd", b"")),
        ),
        (
            "is a device file",
            Box::new(|b| raw(b, "null", EntryType::Char, "", b"")),
        ),
        (
            "is a named pipe",
            Box::new(|b| raw(b, "fifo", EntryType::Fifo, "", b"")),
        ),
        (
            "is both a file and a folder",
            Box::new(|b| {
                file(b, "a", b"1");
                file(b, "a/b", b"2");
            }),
        ),
        (
            "unpacks to more than 4096 bytes (at big)",
            Box::new(|b| file(b, "big", &[0u8; 5000])),
        ),
    ];
    for (needle, build) in cases {
        let (t, res) = unpack(build);
        refused_with(res, &t, needle);
    }
}

#[test]
fn a_symlink_already_in_the_destination_is_not_followed() {
    let (t, _) = unpack(|_| {});
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::os::unix::fs::symlink("/etc", out.join("d")).unwrap();
    let mut b = Builder::new(Vec::new());
    file(&mut b, "d/passwd", b"pwned");
    std::fs::write(t.path().join("b.tar"), b.into_inner().unwrap()).unwrap();
    let e = from_tar(&t.path().join("b.tar"), &out).unwrap_err();
    assert_eq!(exit_of(&e, Exit::Failed), Exit::Refused);
    assert!(
        format!("{e:#}").contains("d is a symlink already in"),
        "{e:#}"
    );
    // A plain file at the final path that is a symlink is replaced, not written through.
    let outside = t.path().join("outside");
    std::fs::write(&outside, "keep").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("f")).unwrap();
    let mut b = Builder::new(Vec::new());
    file(&mut b, "f", b"new");
    std::fs::write(t.path().join("c.tar"), b.into_inner().unwrap()).unwrap();
    from_tar(&t.path().join("c.tar"), &out).unwrap();
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "new");
}

#[test]
fn truncated_archives_write_nothing() {
    let t = tempfile::tempdir().unwrap();
    let mut b = Builder::new(Vec::new());
    for i in 0..20 {
        file(
            &mut b,
            &format!("f{i}"),
            format!("{i}").repeat(300).as_bytes(),
        );
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let cases = [
        ("cut.tgz", gz[..gz.len() / 2].to_vec()),
        ("no-trailer.tgz", gz[..gz.len() - 4].to_vec()),
        ("cut.tar", tar[..512 * 4].to_vec()),
    ];
    for (n, bytes) in cases {
        std::fs::write(t.path().join(n), bytes).unwrap();
        let out = t.path().join(format!("out-{n}"));
        let e = from_tar(&t.path().join(n), &out).unwrap_err();
        assert_eq!(exit_of(&e, Exit::Refused), Exit::Failed, "{n}: {e:#}");
        assert!(
            format!("{e:#}").contains("is truncated or corrupt"),
            "{n}: {e:#}"
        );
        assert!(!out.exists(), "{n}: something was written");
    }
}

#[test]
fn sizes_over_the_warning_are_said() {
    let (_t, res) = unpack(|b| file(b, "mid", &[7u8; 3000]));
    let c = res.unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("unpacks to 3000 bytes, over 2048 bytes (the limit is 4096 bytes)"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn remote_paths() {
    assert_eq!(remote_path("~/out/").unwrap(), "out");
    assert_eq!(remote_path("/abs/dir").unwrap(), "/abs/dir");
    assert_eq!(remote_path("~").unwrap(), ".");
    assert_eq!(remote_path("/").unwrap(), "/");
    assert!(remote_path("").is_err());
    let e = remote_path("~other/out").unwrap_err();
    assert_eq!(
        crate::error::exit_of(&e, runplz_protocol::Exit::Failed),
        runplz_protocol::Exit::Usage
    );
    assert!(
        format!("{e:#}").starts_with("--from: found \"~other/out\""),
        "{e:#}"
    );
}

#[test]
fn hashes_files() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("a"), "abc").unwrap();
    let (n, h) = hash_file(&t.path().join("a")).unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        h,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    std::os::unix::fs::symlink("a", t.path().join("l")).unwrap();
    assert!(hash_file(&t.path().join("l")).is_err());
}
