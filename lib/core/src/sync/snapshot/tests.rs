use super::*;
use std::process::Command;

/// The copy script, run here as the box would: hard links, the manifest left behind,
/// an existing copy refused; a later rsync-style replace leaves the copy as it was.
#[test]
fn snapshot_links_and_keeps_old_content() {
    let home = tempfile::tempdir().unwrap();
    let src = home.path().join("runplz/j");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/code.txt"), "A").unwrap();
    std::fs::write(src.join(super::super::remote::MANIFEST), "m").unwrap();
    let run = |script: String| {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("HOME", home.path())
            .output()
            .unwrap()
    };
    let out = run(snapshot_script("runplz/j", "runplz-runs/r1"));
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(&format!("{MARK}\nlinked\n")));
    let snap = home.path().join("runplz-runs/r1");
    assert_eq!(
        std::fs::read_to_string(snap.join("sub/code.txt")).unwrap(),
        "A"
    );
    assert!(!snap.join(super::super::remote::MANIFEST).exists());
    assert!(src.join(super::super::remote::MANIFEST).exists());
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = std::fs::metadata(home.path().join("runplz-runs"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(snap.join("sub/code.txt")).unwrap().ino(),
        std::fs::metadata(src.join("sub/code.txt")).unwrap().ino()
    );
    // As rsync updates a file: a new one renamed over the old.
    std::fs::write(src.join("sub/.code.txt.tmp"), "B").unwrap();
    std::fs::rename(src.join("sub/.code.txt.tmp"), src.join("sub/code.txt")).unwrap();
    assert_eq!(
        std::fs::read_to_string(snap.join("sub/code.txt")).unwrap(),
        "A"
    );
    let again = run(snapshot_script("runplz/j", "runplz-runs/r1"));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).ends_with(&format!("{MARK}\nexists\n")));
}

#[test]
fn lock_script_keys_by_folder() {
    assert_ne!(
        lock_script("runplz/a", None, true, None),
        lock_script("runplz/b", None, true, None)
    );
    assert!(lock_script("runplz/a", None, true, None).contains("flock 9"));
    assert!(!lock_script("runplz/a", Some(("true", "e")), false, None).contains("flock"));
}

/// The session's ship, run here as the box would: a whole tar lands (hostile names as
/// bytes, a run's hard-linked copy keeping its content, the manifest put in place, the
/// token printed); a tar said to be not whole (`abort`) lands as `shipfail`.
#[test]
fn ship_unpacks_a_whole_tar_and_refuses_an_aborted_one() {
    let home = tempfile::tempdir().unwrap();
    let here = tempfile::tempdir().unwrap();
    let hostile = "a/$(touch PWNED) `x`\n-y";
    for (p, c) in [("a/one.txt", "1"), (hostile, "h")] {
        let f = here.path().join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }
    let files: Vec<crate::sync::StagedFile> = ["a/one.txt", hostile]
        .iter()
        .map(|p| crate::sync::StagedFile {
            path: p.into(),
            bytes: 1,
            symlink: false,
            mtime_ns: 0,
            inode: 0,
            mode: 0o100644,
        })
        .collect();
    let dest = home.path().join("runplz/j");
    std::fs::create_dir_all(dest.join("a")).unwrap();
    std::fs::write(dest.join("a/one.txt"), "old").unwrap();
    std::fs::hard_link(dest.join("a/one.txt"), home.path().join("copy.txt")).unwrap();
    let name = format!("{}.new.00", super::super::remote::MANIFEST);
    let session = |verdict: &str| {
        let tar = whole_tar(here.path(), &files, &name);
        ship_here(home.path(), "runplz/j", &name, &tar, verdict)
    };
    let said = session("abort");
    assert!(
        said.contains("\nshipfail\n") && !said.contains("token="),
        "{said:?}"
    );
    assert!(!dest.join(super::super::remote::MANIFEST).exists());
    let said = session("ok");
    assert!(
        said.contains("\ntoken=") && !said.contains("shipfail"),
        "{said:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("a/one.txt")).unwrap(),
        "1"
    );
    assert_eq!(std::fs::read_to_string(dest.join(hostile)).unwrap(), "h");
    assert_eq!(
        std::fs::read_to_string(home.path().join("copy.txt")).unwrap(),
        "old",
        "unlinked first, never written in place"
    );
    assert_eq!(
        std::fs::read(dest.join(super::super::remote::MANIFEST)).unwrap(),
        b"rp-sync manifest 1\nm\0"
    );
    assert!(!dest.join(&name).exists());
    assert!(!home.path().join("PWNED").exists() && !dest.join("PWNED").exists());
}

/// `n` files (each `file(i)`: its path and text) in a new folder, staged with no stats.
fn tree(
    n: usize,
    file: impl Fn(usize) -> (String, String),
) -> (tempfile::TempDir, Vec<crate::sync::StagedFile>) {
    let here = tempfile::tempdir().unwrap();
    let files = (0..n)
        .map(|i| {
            let (p, text) = file(i);
            let f = here.path().join(&p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, text).unwrap();
            crate::sync::StagedFile {
                path: p.into(),
                bytes: 0,
                symlink: false,
                mtime_ns: 0,
                inode: 0,
                mode: 0o100644,
            }
        })
        .collect();
    (here, files)
}

/// `files` under `root` and a manifest `m` named `name`, as a whole tar.
fn whole_tar(root: &Path, files: &[crate::sync::StagedFile], name: &str) -> Vec<u8> {
    let mut tar = Vec::new();
    let manifest = Some((name, b"rp-sync manifest 1\nm\0".as_slice()));
    let whole = crate::sync::ship_tar(root, files, manifest, &mut tar, &mut Vec::new(), (0, 0));
    assert!(whole.unwrap());
    tar
}

/// One session's ship run here as the box would (`sh`, `home` its home, into `dest`): a
/// line `ship LINE`, `bytes` as one piece, the verdict; what it said.
fn ship_here(home: &Path, dest: &str, line: &str, bytes: &[u8], verdict: &str) -> String {
    ship_here_in(home, dest, line, &[bytes], verdict)
}

/// [`ship_here`] with the bytes in these pieces.
fn ship_here_in(home: &Path, dest: &str, line: &str, pieces: &[&[u8]], verdict: &str) -> String {
    use std::io::Write as _;
    let mut c = Command::new("sh")
        .arg("-c")
        .arg(lock_script(dest, Some(("true", "END")), false, None))
        .env("HOME", home)
        .current_dir(home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut i = c.stdin.take().unwrap();
    i.write_all(format!("ship {line}\n").as_bytes()).unwrap();
    for bytes in pieces {
        i.write_all(format!("{}\n", bytes.len()).as_bytes())
            .unwrap();
        i.write_all(bytes).unwrap();
    }
    i.write_all(format!("0\n{verdict}\n").as_bytes()).unwrap();
    drop(i);
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The session's ship of a zstd tar (`ship NAME z`), run here as the box would: it lands
/// whole; one that `zstd` cannot read to its end lands as `shipfail`, the manifest not
/// put in place, even where it was cut between two files and `ok` follows.
#[test]
fn ship_unpacks_a_zstd_tar_and_refuses_one_zstd_cannot_read() {
    assert!(
        Command::new("sh")
            .args(["-c", "command -v zstd"])
            .status()
            .unwrap()
            .success(),
        "these tests need zstd (scripts/test installs it)"
    );
    let (here, files) = tree(300, |i| {
        (format!("d/f{i:03}.txt"), format!("{i}").repeat(i + 1))
    });
    let name = format!("{}.new.01", super::super::remote::MANIFEST);
    let tar = whole_tar(here.path(), &files, &name);
    let z = zstd::stream::encode_all(&tar[..], 1).unwrap();
    assert!(z.len() * 4 < tar.len(), "{} of {}", z.len(), tar.len());
    let ship = |bytes: &[u8]| {
        let home = tempfile::tempdir().unwrap();
        let said = ship_here(home.path(), "j", &format!("{name} z"), bytes, "ok");
        let dest = home.path().join("j");
        let landed = (0..300)
            .filter(|i| {
                std::fs::read_to_string(dest.join(format!("d/f{i:03}.txt")))
                    .is_ok_and(|t| t == format!("{i}").repeat(i + 1))
            })
            .count();
        let manifest = dest.join(super::super::remote::MANIFEST).exists();
        (said, landed, manifest)
    };
    let (said, landed, manifest) = ship(&z);
    assert!(
        said.contains("\ntoken=") && !said.contains("shipfail"),
        "{said:?}"
    );
    assert_eq!((landed, manifest), (300, true));
    // Cut short: zstd fails (some files may have landed), tar is made to fail too.
    let (said, _, manifest) = ship(&z[..z.len() / 2]);
    assert!(
        said.contains("\nshipfail\n") && !said.contains("token="),
        "{said:?}"
    );
    assert!(!manifest);
}

/// A tree's first files made ready while the box is still being reached
/// ([`super::super::ship::prebuild`]) and the rest written in the session land as one
/// whole tar, as zstd and as it is for a box without zstd, wherever the cut falls: each
/// file byte for byte with its mtime to the nanosecond. A file changed since staging is
/// named; one gone since makes no start at all, nor does a small tree.
#[test]
fn a_prebuilt_start_and_the_rest_land_as_one_tar() {
    use std::os::unix::fs::MetadataExt;
    let here = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..40u32 {
        let p = format!("d{}/f{i:02}.txt", i % 3);
        let f = here.path().join(&p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        // One of a mebibyte: a smaller tree is not made ready ahead.
        let n = if i == 7 { 1 << 19 } else { i as usize * 37 };
        std::fs::write(&f, format!("{i}-").repeat(n)).unwrap();
        let t = std::time::UNIX_EPOCH + Duration::new(1_700_000_000 + u64::from(i), i * 7919);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(t)
            .unwrap();
        let md = std::fs::metadata(&f).unwrap();
        files.push(crate::sync::StagedFile {
            path: p.into(),
            bytes: md.len(),
            symlink: false,
            mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
            inode: md.ino(),
            mode: md.mode(),
        });
    }
    let listing = |root: &Path| -> Vec<(Vec<u8>, i64, i64)> {
        files
            .iter()
            .map(|f| {
                let p = root.join(&f.path);
                let md = std::fs::metadata(&p).unwrap();
                (std::fs::read(&p).unwrap(), md.mtime(), md.mtime_nsec())
            })
            .collect()
    };
    let name = format!("{}.new.02", super::super::remote::MANIFEST);
    let manifest = Some((name.as_str(), b"rp-sync manifest 1\nm\0".as_slice()));
    for cut in [0, 1, 17, 40] {
        let asked = std::cell::Cell::new(0);
        let pre = super::super::ship::prebuild(here.path(), &files, || {
            asked.set(asked.get() + 1);
            asked.get() > cut
        });
        let (first, k) = pre
            .as_ref()
            .map_or((&[][..], 0), |p| (&p.zstd[..], p.files));
        assert_eq!(k, cut, "made ready");
        assert!(pre.as_ref().is_none_or(|p| p.changed.is_empty()));
        for zstd in [true, false] {
            let mut body = Vec::new();
            let whole = tar_body(&mut body, zstd, first, |out| {
                crate::sync::ship_tar(
                    here.path(),
                    &files[k..],
                    manifest,
                    out,
                    &mut Vec::new(),
                    (0, 0),
                )
            });
            assert!(whole.unwrap());
            let home = tempfile::tempdir().unwrap();
            let line = format!("{name}{}", if zstd { " z" } else { "" });
            let said = ship_here(home.path(), "j", &line, &body, "ok");
            assert!(
                said.contains("\ntoken=") && !said.contains("shipfail"),
                "{cut} {zstd}: {said:?}"
            );
            assert!(
                listing(&home.path().join("j")) == listing(here.path()),
                "{cut} {zstd}"
            );
            assert!(home
                .path()
                .join("j")
                .join(super::super::remote::MANIFEST)
                .exists());
        }
    }
    // A tree of a few KiB: nothing made ahead (it takes a few milliseconds).
    let small: Vec<_> = files.iter().filter(|f| f.bytes < 4096).cloned().collect();
    assert!(super::super::ship::prebuild(here.path(), &small, || false).is_none());
    // Changed since staging: named. Gone: no start made.
    std::fs::write(here.path().join(&files[3].path), "other").unwrap();
    let pre = super::super::ship::prebuild(here.path(), &files, || false).unwrap();
    assert_eq!(
        (pre.files, pre.changed.clone()),
        (40, vec![files[3].path.clone()])
    );
    // Bounded: what would pass the most stops before it is read; a file grown past it
    // since staging makes no start.
    let room = files[..8]
        .iter()
        .map(|f| f.bytes + super::super::ship::HEADERS)
        .sum::<u64>();
    let pre = super::super::ship::prebuild_up_to(here.path(), &files, || false, room).unwrap();
    assert_eq!(pre.files, 8);
    let grown =
        super::super::ship::prebuild_up_to(here.path(), &files, || false, room - 1).unwrap();
    assert_eq!(grown.files, 7, "the 1 MiB file is not read");
    std::fs::write(here.path().join(&files[1].path), vec![b'x'; 2 << 20]).unwrap();
    assert!(super::super::ship::prebuild_up_to(here.path(), &files, || false, room).is_none());
    std::fs::write(here.path().join(&files[1].path), "1-").unwrap();
    std::fs::remove_file(here.path().join(&files[5].path)).unwrap();
    assert!(super::super::ship::prebuild(here.path(), &files, || false).is_none());
}

/// A session's tar goes in pieces from 64 KiB, four times larger each, up to 8 MiB; a
/// start made ahead goes as one piece. Cut so, a tar lands whole through the box's loop.
#[test]
fn pieces_grow_to_the_largest_and_land_whole() {
    let sizes = |first: usize, total: usize| {
        let (to, rx) = mpsc::sync_channel(64);
        let mut p = Pieces {
            to,
            buf: Vec::new(),
            sent: 0,
            cap: first.clamp(FIRST_PIECE, PIECE),
        };
        p.write_all(&vec![7u8; total]).unwrap();
        p.flush().unwrap();
        assert_eq!(p.sent, total as u64);
        drop(p);
        rx.iter().map(|v| v.len()).collect::<Vec<_>>()
    };
    let k = 1 << 10;
    assert_eq!(
        sizes(0, 20 << 20),
        [
            64 * k,
            256 * k,
            1 << 20,
            4 << 20,
            8 << 20,
            (20 << 20) - (64 * k + 256 * k + (13 << 20))
        ]
    );
    assert_eq!(sizes(5 << 20, 9 << 20), [5 << 20, 4 << 20]);
    assert_eq!(sizes(100, 10), [10]);
    // The box's side of the cut: a tar in uneven pieces (one a single byte) lands whole.
    let (here, files) = tree(30, |i| {
        (format!("f{i:02}.txt"), format!("{i}").repeat(i * 300))
    });
    let name = format!("{}.new.03", super::super::remote::MANIFEST);
    let tar = whole_tar(here.path(), &files, &name);
    let cuts = [0, 1, 2, 5000, 5001, tar.len() / 2, tar.len()];
    let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &tar[w[0]..w[1]]).collect();
    let home = tempfile::tempdir().unwrap();
    let said = ship_here_in(home.path(), "j", &name, &pieces, "ok");
    assert!(
        said.contains("\ntoken=") && !said.contains("shipfail"),
        "{said:?}"
    );
    for (i, f) in files.iter().enumerate() {
        assert_eq!(
            std::fs::read_to_string(home.path().join("j").join(&f.path)).unwrap(),
            format!("{i}").repeat(i * 300)
        );
    }
}
