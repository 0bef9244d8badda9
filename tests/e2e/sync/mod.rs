//! rp-sync end to end: real rsync over a real loopback sshd, trees staged on /dev/shm, and
//! every claim checked on the box's own filesystem (what arrived, what did not, what was
//! deleted and what was left alone). `cli` holds the dry run, job and exit-code tests.

mod cli;

use crate::support::{bin_cmd, git, json, run_expect, shm_tempdir, stderr, SshBox};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};

fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// Files and symlinks under `~/<dest>` on the box, as raw relative paths (the manifest aside).
fn remote_files(b: &SshBox, dest: &str) -> BTreeSet<Vec<u8>> {
    let out = b.ssh_raw(&format!(
        "cd {dest} && find . -mindepth 1 \\( -type f -o -type l \\) -print0"
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .split(|&c| c == 0)
        .filter(|p| !p.is_empty())
        .map(|p| p.strip_prefix(b"./").unwrap_or(p).to_vec())
        .filter(|p| p != b".rp-sync-manifest")
        .collect()
}

fn set<'a>(paths: impl IntoIterator<Item = &'a str>) -> BTreeSet<Vec<u8>> {
    paths.into_iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn shown(s: &BTreeSet<Vec<u8>>) -> Vec<String> {
    s.iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn rp_sync(b: &SshBox, src: &Path, dest: &str, extra: &[&str]) -> Command {
    let mut c = bin_cmd("rp-sync");
    c.arg("up")
        .args(b.tool_args())
        .arg(format!("--dest={dest}"))
        .args(extra)
        .arg(src);
    c
}

fn sync_ok(b: &SshBox, src: &Path, dest: &str, extra: &[&str]) -> (serde_json::Value, Output) {
    let out = run_expect(&mut rp_sync(b, src, dest, extra), 0);
    (json(&out), out)
}

const SECRETS: &[&str] = &[
    ".env",
    "a/.env",
    "a/b/c/.env.local",
    "x/.env.prod.local",
    "sub/.env.production",
    "sub/deeper/.env.development",
    "cfg/.env.staging",
    "keys/server.pem",
    "keys/tls/site.key",
    "deep/id_rsa",
    "deep/id_rsa.pub",
    "deep/er/id_ed25519",
    "id_ed25519.bak",
    ".aws/credentials",
    ".aws/config",
    "nested/.ssh/config",
    "nested/.ssh/known_hosts",
    ".netrc",
    "a/b/.git-credentials",
    "credentials.json",
    "svc/gcp/credentials.json",
    "cert/bundle.p12",
    "pkg/.pypirc",
    "web/.npmrc",
    "home/.docker/config.json",
    "kaggle.json",
    ".kube/config",
    "LOUD/SERVER.PEM",
];

const ORDINARY: &[&str] = &[
    "train.py",
    "a/model.py",
    "a/b/c/data.csv",
    "sub/.env.example",
    "keys/README.md",
    ".docker/daemon.json",
    "config.json",
    "deep/er/notes.txt",
];

#[test]
fn secrets_never_arrive_and_ordinary_files_do() {
    let b = SshBox::start();
    let src = shm_tempdir();
    for f in SECRETS.iter().chain(ORDINARY) {
        write(src.path(), f, format!("content of {f}").as_bytes());
    }
    for cache in [
        "a/__pycache__/m.pyc",
        ".venv/bin/python",
        "node_modules/x/i.js",
        "out/r.txt",
    ] {
        write(src.path(), cache, b"cache");
    }
    let (rec, out) = sync_ok(&b, src.path(), "ws", &[]);
    assert_eq!(remote_files(&b, "ws"), set(ORDINARY.iter().copied()));
    // Nothing secret-shaped anywhere on the box, not even under another name.
    assert_eq!(
        b.ssh("find ~ \\( -name '.env*' ! -name .env.example -o -name '*.pem' -o -name id_rsa \
               -o -name .aws -o -name .netrc -o -name credentials.json -o -iname '*.pem' \\) -print"),
        ""
    );
    // Folders count once: .aws and nested/.ssh hold two files each.
    assert_eq!(rec["excluded_secrets"], SECRETS.len() - 2, "{rec}");
    assert_eq!(rec["files"], ORDINARY.len());
    assert_eq!(rec["files_transferred"], ORDINARY.len());
    assert_eq!(rec["dry_run"], false);
    assert_eq!(rec["deleted"], 0);
    assert_eq!(rec["host"], "box");
    assert_eq!(rec["dest"], "ws");
    let want_bytes: usize = ORDINARY
        .iter()
        .map(|f| format!("content of {f}").len())
        .sum();
    assert_eq!(rec["bytes"], want_bytes);
    assert!(
        stderr(&out).contains("held back 26 secret-shaped path(s)"),
        "{}",
        stderr(&out)
    );
    let body = std::fs::read(b.home.join("ws/a/b/c/data.csv")).unwrap();
    assert_eq!(body, b"content of a/b/c/data.csv");
}

#[test]
fn git_repo_ships_tracked_and_untracked_not_ignored_but_never_secrets() {
    let b = SshBox::start();
    let src = shm_tempdir();
    let r = src.path();
    for f in [
        "main.py",
        ".env",
        "lib/util.py",
        "keys/deploy.pem",
        "ignored.log",
        "new.py",
        "logs/run.log",
    ] {
        write(r, f, f.as_bytes());
    }
    write(r, ".gitignore", b"*.log\nlogs/\n");
    git(r, &["init", "-q"]);
    git(
        r,
        &[
            "add",
            "main.py",
            ".env",
            "lib/util.py",
            "keys/deploy.pem",
            ".gitignore",
        ],
    );
    git(r, &["commit", "-qm", "init"]);
    let (rec, out) = sync_ok(&b, r, "repo", &[]);
    assert_eq!(
        remote_files(&b, "repo"),
        set([".gitignore", "lib/util.py", "main.py", "new.py"]),
    );
    assert_eq!(b.ssh("test -e repo/.git && echo yes || echo no"), "no\n");
    assert_eq!(rec["excluded_secrets"], 2);
    let err = stderr(&out);
    assert!(
        err.contains(
            "git tracks secret-shaped files; they are never shipped: .env, keys/deploy.pem"
        ),
        "{err}"
    );
    assert!(err.contains("(git-aware)"), "{err}");
}

#[test]
fn hostile_names_arrive_byte_exact_and_nothing_runs() {
    let b = SshBox::start();
    let src = shm_tempdir();
    let names: &[&[u8]] = &[
        b"with space.txt",
        b"it's.txt",
        b"say \"hi\".txt",
        b"$(touch PWNED1)",
        b"`touch PWNED2`",
        b"new\nline",
        b"trailing\n",
        "ünïcödé ✓.txt".as_bytes(),
        b"-rf",
        b"--delete",
        b"dir with space/-x",
        b"*",
        b"back\\slash",
        b"semi;colon&amp|pipe>gt",
        b"tab\tname",
        b"trailing space ",
        b"#hash",
        b";semi",
        b"sub/#nested",
        b"+ plus",
        b"- minus",
        b"not-utf8-\xff\xfe",
    ];
    for (i, n) in names.iter().enumerate() {
        let p = src.path().join(OsStr::from_bytes(n));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("file {i}\n\0binary\x7f")).unwrap();
    }
    let (rec, _) = sync_ok(&b, src.path(), "-hostile dest $(touch PWNED3)", &[]);
    assert_eq!(rec["files"], names.len());
    let dest = b.home.join("-hostile dest $(touch PWNED3)");
    let got = remote_files(&b, "./'-hostile dest $(touch PWNED3)'");
    let want: BTreeSet<Vec<u8>> = names.iter().map(|n| n.to_vec()).collect();
    assert_eq!(got, want, "{:?} vs {:?}", shown(&got), shown(&want));
    for (i, n) in names.iter().enumerate() {
        let body = std::fs::read(dest.join(OsStr::from_bytes(n))).unwrap();
        assert_eq!(
            body,
            format!("file {i}\n\0binary\x7f").as_bytes(),
            "{:?}",
            String::from_utf8_lossy(n)
        );
    }
    // `touch` would have run in the remote home, its workspace, or here.
    assert_eq!(
        b.ssh("find ~ /tmp /dev/shm -maxdepth 3 -name 'PWNED[0-9]' 2>/dev/null || :"),
        ""
    );
    for here in [Path::new("."), src.path()] {
        assert!(!here.join("PWNED1").exists() && !here.join("PWNED2").exists());
    }
    // And a second run finds nothing to do and deletes nothing.
    let (rec, _) = sync_ok(&b, src.path(), "-hostile dest $(touch PWNED3)", &[]);
    assert_eq!(rec["files_transferred"], 0);
    assert_eq!(rec["deleted"], 0);
    // Deleting hostile names here deletes exactly them there.
    let gone: [&[u8]; 4] = [b"new\nline", b"$(touch PWNED1)", b"sub/#nested", b"-rf"];
    for n in gone {
        std::fs::remove_file(src.path().join(OsStr::from_bytes(n))).unwrap();
    }
    let (rec, _) = sync_ok(&b, src.path(), "-hostile dest $(touch PWNED3)", &[]);
    assert_eq!(rec["deleted"], 4);
    let want: BTreeSet<Vec<u8>> = want
        .into_iter()
        .filter(|n| !gone.contains(&n.as_slice()))
        .collect();
    assert_eq!(remote_files(&b, "./'-hostile dest $(touch PWNED3)'"), want);
    assert!(!dest.join("sub").exists());
}

#[test]
fn deleted_here_is_deleted_there_inside_dest_only() {
    let b = SshBox::start();
    let src = shm_tempdir();
    let r = src.path();
    for f in [
        "keep.py",
        "a/b/gone.txt",
        "-rf gone",
        "notes.md",
        "dir/now-file/x",
    ] {
        write(r, f, f.as_bytes());
    }
    sync_ok(&b, r, "ws", &[]);
    b.ssh("echo mine > outside.txt && echo made > ws/made-by-job.txt && mkdir -p ws/a/b/job && echo j > ws/a/b/job/out");
    std::fs::remove_file(r.join("a/b/gone.txt")).unwrap();
    std::fs::remove_file(r.join("-rf gone")).unwrap();
    // A folder turned into a file, and a file still here but now excluded.
    std::fs::remove_dir_all(r.join("dir/now-file")).unwrap();
    write(r, "dir/now-file", b"a file now");
    let (rec, _) = sync_ok(&b, r, "ws", &["--exclude", "notes.md"]);
    assert_eq!(rec["deleted"], 3, "{rec}");
    assert_eq!(
        remote_files(&b, "ws"),
        set([
            "keep.py",
            "notes.md",
            "made-by-job.txt",
            "a/b/job/out",
            "dir/now-file"
        ])
    );
    assert_eq!(b.ssh("cat outside.txt ws/dir/now-file"), "mine\na file now");
    // Emptied folders go too; a folder with the job's files stays.
    std::fs::remove_dir_all(r.join("a")).unwrap();
    let (rec, _) = sync_ok(&b, r, "ws", &[]);
    assert_eq!(rec["deleted"], 0);
    assert_eq!(b.ssh("test -d ws/a/b/job && echo kept"), "kept\n");
}

#[test]
fn manifest_on_the_box_cannot_reach_outside_dest() {
    let b = SshBox::start();
    let src = shm_tempdir();
    write(src.path(), "f.txt", b"x");
    sync_ok(&b, src.path(), "ws", &[]);
    b.ssh(
        "echo precious > precious.txt && mkdir -p victim && echo v > victim/v && ln -s ../victim ws/link \
         && printf 'rp-sync manifest 1\\n../precious.txt\\0link/v\\0/etc/hostname\\0f.txt\\0' > ws/.rp-sync-manifest",
    );
    let (rec, _) = sync_ok(&b, src.path(), "ws", &[]);
    assert_eq!(rec["deleted"], 0);
    assert_eq!(
        b.ssh("cat precious.txt victim/v ws/f.txt"),
        "precious\nv\nx"
    );
}

#[test]
fn second_sync_transfers_nothing_then_only_the_change() {
    let b = SshBox::start();
    let src = shm_tempdir();
    for i in 0..30 {
        write(
            src.path(),
            &format!("d{}/f{i}.txt", i % 3),
            format!("{i}").repeat(100).as_bytes(),
        );
    }
    let (first, _) = sync_ok(&b, src.path(), "inc", &[]);
    // The manifest came in the same rsync call (not counted as one of the files) and was
    // put in place: one manifest, listing the 30 files, no temporary left beside it.
    assert_eq!(first["files_transferred"], 30);
    assert_eq!(
        b.ssh("cd inc && ls -a | grep rp-sync"),
        ".rp-sync-manifest\n"
    );
    assert_eq!(
        b.ssh("tr '\\0' '\\n' < inc/.rp-sync-manifest | grep -c '^d[0-2]/f[0-9]*\\.txt$'"),
        "30\n"
    );
    let (second, _) = sync_ok(&b, src.path(), "inc", &[]);
    assert_eq!(second["files_transferred"], 0);
    assert_eq!(second["files"], 30);
    assert!(
        second["bytes_transferred"].as_u64().unwrap()
            < first["bytes_transferred"].as_u64().unwrap(),
        "{second}"
    );
    write(src.path(), "d1/f1.txt", b"changed");
    let (third, _) = sync_ok(&b, src.path(), "inc", &[]);
    assert_eq!(third["files_transferred"], 1);
    assert_eq!(b.ssh("cat inc/d1/f1.txt"), "changed");
}

#[test]
fn a_folder_another_machine_synced_into_is_asked_before_anything_ships() {
    // A sync records here what it left on the box and the next one, finding nothing to
    // delete, checks that on the box inside its one rsync call. A sync from elsewhere (its
    // own state) into the same folder makes that record stale: the box is then asked, and
    // what only the other machine shipped, gone here, is deleted there as always.
    let b = SshBox::start();
    let here = shm_tempdir();
    write(here.path(), "a.txt", b"a");
    sync_ok(&b, here.path(), "ws", &[]);
    let there = shm_tempdir();
    let there_state = shm_tempdir();
    write(there.path(), "a.txt", b"a");
    write(there.path(), "c.txt", b"c");
    run_expect(
        rp_sync(&b, there.path(), "ws", &[]).env("XDG_STATE_HOME", there_state.path()),
        0,
    );
    assert_eq!(remote_files(&b, "ws"), set(["a.txt", "c.txt"]));
    let (rec, out) = sync_ok(&b, here.path(), "ws", &[]);
    assert_eq!(rec["deleted"], 1, "{rec}");
    assert_eq!(remote_files(&b, "ws"), set(["a.txt"]));
    assert!(!stderr(&out).contains("rp-sync-data"), "{}", stderr(&out));
    // Edited by hand on the box: asked again, and the manifest is this machine's once more.
    b.ssh("printf 'rp-sync manifest 1\\na.txt\\0c.txt\\0' > ws/.rp-sync-manifest && echo c > ws/c.txt");
    let (rec, out) = sync_ok(&b, here.path(), "ws", &[]);
    assert_eq!(rec["deleted"], 1, "{rec}");
    assert_eq!(remote_files(&b, "ws"), set(["a.txt"]));
    assert!(!stderr(&out).contains("rp-sync-data"), "{}", stderr(&out));
    // As left: nothing to send or delete; the folder emptied on the box gets it all back.
    let (rec, _) = sync_ok(&b, here.path(), "ws", &[]);
    assert_eq!(
        (rec["deleted"].as_u64(), rec["files_transferred"].as_u64()),
        (Some(0), Some(0)),
        "{rec}"
    );
    b.ssh("rm -rf ws");
    let (rec, _) = sync_ok(&b, here.path(), "ws", &[]);
    assert_eq!(rec["files_transferred"], 1, "{rec}");
    assert_eq!(b.ssh("cat ws/a.txt && ls -a ws | grep -c rp-sync"), "a1\n");
}

/// Editor and backup copies of secrets, and secret names padded with whitespace or
/// invisible characters (which look like the secret in any listing).
const DISGUISED_SECRETS: &[&str] = &[
    "id_rsa~",
    "server.pem.bak",
    "credentials.json.bak",
    ".netrc.bak",
    ".git-credentials.bak",
    ".aws.bak/credentials",
    ".ssh.old/id_ed25519",
    ".env.swp",
    ".env.orig",
    ".env ",
    " .env",
    ".env\u{200d}",
    ".\u{200b}env",
    "kaggle.json.save",
    "id_ed25519.1",
    "deploy.key.tmp",
    ".id_rsa.swp",
    "home/.docker.bak/config.json",
    "app/.streamlit~/secrets.toml",
];

#[test]
fn backup_copies_and_padded_names_of_secrets_never_arrive() {
    let b = SshBox::start();
    let src = shm_tempdir();
    let ordinary = [
        "notes.bak",
        "env.py",
        "env.py~",
        "data.tmp",
        "train.py.orig",
        "aws.bak/config",
        "lib/env.py",
    ];
    let mut want = Vec::new();
    for dir in ["", "n/deep/"] {
        for f in DISGUISED_SECRETS {
            write(src.path(), &format!("{dir}{f}"), b"SECRET");
        }
        for f in ordinary {
            write(src.path(), &format!("{dir}{f}"), b"ordinary");
            want.push(format!("{dir}{f}"));
        }
    }
    let (rec, out) = sync_ok(&b, src.path(), "bk", &[]);
    let got = remote_files(&b, "bk");
    assert_eq!(
        got,
        set(want.iter().map(String::as_str)),
        "{:?}",
        shown(&got)
    );
    // Not one secret's bytes anywhere under the folder.
    assert_eq!(b.ssh("grep -rl SECRET bk || true"), "");
    assert_eq!(
        rec["excluded_secrets"],
        2 * DISGUISED_SECRETS.len(),
        "{rec}"
    );
    assert!(
        !stderr(&out).contains("older than 3.1.3"),
        "{}",
        stderr(&out)
    );
}

/// Set a file's mtime to `secs` + `nanos` with touch(1).
fn set_mtime(p: &Path, secs: u64, nanos: u32) {
    let st = Command::new("touch")
        .arg("-m")
        .arg("-d")
        .arg(format!("@{secs}.{nanos:09}"))
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn same_size_edit_within_the_same_second_ships() {
    let b = SshBox::start();
    let src = shm_tempdir();
    let f = src.path().join("data.txt");
    let secs = 1_700_000_000;
    write(src.path(), "data.txt", b"DATA_A");
    set_mtime(&f, secs, 100_000_000);
    let (first, _) = sync_ok(&b, src.path(), "ns", &[]);
    assert_eq!(first["files_transferred"], 1);
    assert_eq!(b.ssh("cat ns/data.txt"), "DATA_A");
    // Same size, same second, 6 ms later: only the nanoseconds tell them apart.
    write(src.path(), "data.txt", b"DATA_B");
    set_mtime(&f, secs, 106_000_000);
    let (second, _) = sync_ok(&b, src.path(), "ns", &[]);
    assert_eq!(second["files_transferred"], 1, "{second}");
    assert_eq!(b.ssh("cat ns/data.txt"), "DATA_B");
    // And an unchanged file is still not sent again.
    let (third, _) = sync_ok(&b, src.path(), "ns", &[]);
    assert_eq!(third["files_transferred"], 0, "{third}");
}

#[test]
fn a_committed_nested_repo_without_gitmodules_ships_its_working_tree() {
    let b = SshBox::start();
    let src = shm_tempdir();
    let root = src.path();
    write(root, "top.py", b"top");
    write(root, "vendor/lib/l.py", b"nested");
    write(root, "vendor/lib/.env", b"SECRET");
    write(root, "vendor/lib/untracked.txt", b"untracked");
    let lib = root.join("vendor/lib");
    git(&lib, &["init", "-q"]);
    git(&lib, &["add", "l.py"]);
    git(&lib, &["commit", "-qm", "l"]);
    git(root, &["init", "-q"]);
    git(root, &["add", "top.py", "vendor/lib"]);
    git(root, &["commit", "-qm", "x"]);
    // A gitlink, no .gitmodules; ignoring the folder afterwards must not hide it.
    write(root, ".gitignore", b"vendor/\n");
    let (rec, out) = sync_ok(&b, root, "nested", &[]);
    let got = remote_files(&b, "nested");
    assert_eq!(
        got,
        set([
            ".gitignore",
            "top.py",
            "vendor/lib/l.py",
            "vendor/lib/untracked.txt"
        ]),
        "{:?}",
        shown(&got)
    );
    assert_eq!(b.ssh("cat nested/vendor/lib/l.py"), "nested");
    assert_eq!(rec["excluded_secrets"], 1, "{rec}");
    assert!(
        !stderr(&out).contains("nested git repo"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_box_left_as_it_was_gets_no_rsync_walk_and_one_touched_there_is_mended() {
    // This machine keeps the folder's token as the box printed it after the last transfer;
    // when the box prints it again and nothing changed here, nothing runs but that one
    // call (not even rsync's file list goes over: 0 bytes); when only files here changed or
    // were added, only they go. Anything done to the folder on the box makes it a whole
    // rsync, which mends it.
    let b = SshBox::start();
    let src = shm_tempdir();
    for i in 0..20 {
        write(src.path(), &format!("d{}/f{i}.txt", i % 2), b"0123456789");
    }
    let (first, _) = sync_ok(&b, src.path(), "tok", &[]);
    assert_eq!(first["files_transferred"], 20);
    assert_eq!(b.ssh("stat -c %a tok tok/d0"), "700\n700\n");
    let quiet = |why: &str| {
        let (rec, _) = sync_ok(&b, src.path(), "tok", &[]);
        assert_eq!(
            (
                rec["files_transferred"].as_u64(),
                rec["bytes_transferred"].as_u64()
            ),
            (Some(0), Some(0)),
            "{why}: {rec}"
        );
    };
    quiet("unchanged");
    // A run's hard-linked copy, made and removed, changes nothing the token sees.
    b.ssh("cp -al tok tok-run && rm -rf tok-run");
    quiet("after a run's copy");

    // Only what changed here goes (in the session that asked the box), a new file and a
    // hostile name included, and the manifest learns them. A run's copy taken before keeps
    // what it had: each file is replaced, never written in place.
    b.ssh("cp -al tok tok-run");
    write(src.path(), "d0/f0.txt", b"ABCDEFGHIJ");
    write(src.path(), "new/g.txt", b"g");
    let hostile = "new/$(touch PWNED) `id`\n-x";
    write(src.path(), hostile, b"h");
    set_mtime(&src.path().join("new/g.txt"), 1_700_000_000, 123_456_789);
    let out = run_expect(
        rp_sync(&b, src.path(), "tok", &[]).env("RUNPLZ_TIMING", "1"),
        0,
    );
    let rec = json(&out);
    assert_eq!(rec["files_transferred"], 3, "{rec}");
    assert!(
        stderr(&out).contains("timing: shipped as a tar"),
        "{}",
        stderr(&out)
    );
    assert_eq!(b.ssh("cat tok/d0/f0.txt tok/new/g.txt"), "ABCDEFGHIJg");
    assert_eq!(b.ssh("cat tok-run/d0/f0.txt; rm -rf tok-run"), "0123456789");
    assert_eq!(
        b.ssh("stat -c %.9Y tok/new/g.txt"),
        "1700000000.123456789\n",
        "the mtime to the nanosecond"
    );
    assert!(remote_files(&b, "tok").contains(hostile.as_bytes()));
    assert_eq!(b.ssh("ls ~ tok | grep -c PWNED || true").trim(), "0");
    assert_eq!(
        b.ssh("tr '\\0' '\\n' < tok/.rp-sync-manifest | grep -c txt"),
        "21\n"
    );
    assert!(
        b.ssh("ls -a tok").matches("rp-sync").count() == 1,
        "no temporary left"
    );
    assert_eq!(b.ssh("stat -c %a tok/new tok/new/g.txt"), "700\n600\n");
    quiet("after a partial sync");

    // Touched on the box: a same-size rewrite; a chmod; a file of the box's own. Each is
    // seen, and a whole rsync puts the shipped files back as they are here.
    b.ssh("printf 'XXXXXXXXXX' > tok/d1/f1.txt");
    let (rec, _) = sync_ok(&b, src.path(), "tok", &[]);
    assert_eq!(rec["files_transferred"], 1, "{rec}");
    assert_eq!(b.ssh("cat tok/d1/f1.txt"), "0123456789");
    b.ssh("chmod 777 tok/d1/f3.txt");
    let (rec, _) = sync_ok(&b, src.path(), "tok", &[]);
    assert!(rec["bytes_transferred"].as_u64().unwrap() > 0, "{rec}");
    assert_eq!(b.ssh("stat -c %a tok/d1/f3.txt"), "600\n");
    b.ssh("echo mine > tok/d0/boxs-own.txt");
    let (rec, _) = sync_ok(&b, src.path(), "tok", &[]);
    assert!(rec["bytes_transferred"].as_u64().unwrap() > 0, "{rec}");
    assert_eq!(
        b.ssh("cat tok/d0/boxs-own.txt"),
        "mine\n",
        "never ours to delete"
    );
    quiet("mended");
}

#[test]
fn a_file_turned_folder_and_a_folder_turned_file_arrive_as_they_are_here() {
    // A path that changes kind here (file to folder, folder to file, file to symlink) is a
    // deletion and an addition at once: the box ends up as this tree is, a run's hard-linked
    // copy taken before keeps what it had, and the next sync has nothing to do.
    let b = SshBox::start();
    let src = shm_tempdir();
    let s = src.path();
    write(s, "x", b"was a file");
    write(s, "y/inner.txt", b"in a folder");
    write(s, "z", b"was a file too");
    for i in 0..12 {
        write(s, &format!("keep/f{i}.txt"), b"same");
    }
    // A folder there already, open to others: it is made private.
    b.ssh("mkdir -m 755 kind");
    sync_ok(&b, s, "kind", &[]);
    assert_eq!(b.ssh("stat -c %a kind"), "700\n");
    b.ssh("cp -al kind kind-run");

    std::fs::remove_file(s.join("x")).unwrap();
    write(s, "x/now.txt", b"a folder now");
    std::fs::remove_dir_all(s.join("y")).unwrap();
    write(s, "y", b"a file now");
    std::fs::remove_file(s.join("z")).unwrap();
    std::os::unix::fs::symlink("keep/f0.txt", s.join("z")).unwrap();
    let (rec, _) = sync_ok(&b, s, "kind", &[]);
    // Two files' data (a symlink carries none) and the two paths they replaced.
    assert_eq!(
        (rec["files_transferred"].as_u64(), rec["deleted"].as_u64()),
        (Some(2), Some(2)),
        "{rec}"
    );
    assert_eq!(
        b.ssh("cd kind && stat -c '%F %n' x x/now.txt y z && cat x/now.txt y && readlink z"),
        "directory x\nregular file x/now.txt\nregular file y\nsymbolic link z\na folder nowa file nowkeep/f0.txt\n"
    );
    let expect: Vec<String> = ["x/now.txt", "y", "z"]
        .into_iter()
        .map(String::from)
        .chain((0..12).map(|i| format!("keep/f{i}.txt")))
        .collect();
    assert_eq!(
        remote_files(&b, "kind"),
        set(expect.iter().map(String::as_str))
    );
    // The run's copy is as it was when taken.
    assert_eq!(
        b.ssh("cd kind-run && cat x y/inner.txt z"),
        "was a filein a folderwas a file too"
    );
    // And back the other way, in the same sync.
    std::fs::remove_dir_all(s.join("x")).unwrap();
    write(s, "x", b"a file again");
    std::fs::remove_file(s.join("y")).unwrap();
    write(s, "y/inner.txt", b"a folder again");
    sync_ok(&b, s, "kind", &[]);
    assert_eq!(
        b.ssh("cd kind && stat -c '%F' x y && cat x y/inner.txt"),
        "regular file\ndirectory\na file againa folder again"
    );
    // A file turned symlink and back with nothing else changed goes as a tar (no deletion:
    // the path stays in the manifest), and a run's copy keeps the file.
    b.ssh("rm -rf kind-run && cp -al kind kind-run");
    for (turn, shows) in [(true, "symbolic link\n"), (false, "regular file\n")] {
        std::fs::remove_file(s.join("keep/f5.txt")).unwrap();
        if turn {
            std::os::unix::fs::symlink("f4.txt", s.join("keep/f5.txt")).unwrap();
        } else {
            write(s, "keep/f5.txt", b"a file once more");
        }
        let out = run_expect(rp_sync(&b, s, "kind", &[]).env("RUNPLZ_TIMING", "1"), 0);
        assert!(
            stderr(&out).contains("timing: shipped as a tar"),
            "{}",
            stderr(&out)
        );
        assert_eq!(b.ssh("stat -c %F kind/keep/f5.txt"), shows);
    }
    assert_eq!(
        b.ssh("cat kind/keep/f5.txt kind-run/keep/f5.txt"),
        "a file once moresame"
    );
    let (rec, _) = sync_ok(&b, s, "kind", &[]);
    assert_eq!(
        (
            rec["files_transferred"].as_u64(),
            rec["bytes_transferred"].as_u64()
        ),
        (Some(0), Some(0)),
        "{rec}"
    );
}

#[test]
fn a_box_without_gnu_tar_gets_every_file_by_rsync_and_says_nothing() {
    // The session ships a tar only where the box says GNU tar and GNU head are there; on a
    // box without tar, a whole tree and a changed file both go by rsync, with no warning.
    let b = SshBox::start_hiding("", false, &[&crate::support::which("tar")]);
    assert_eq!(
        b.ssh("tar --version >/dev/null 2>&1 && echo tar || echo none"),
        "none\n"
    );
    let src = shm_tempdir();
    for i in 0..8 {
        write(src.path(), &format!("d/f{i}.txt"), b"0123456789");
    }
    for (edit, want) in [(false, 8), (true, 1)] {
        if edit {
            write(src.path(), "d/f3.txt", b"changed!");
        }
        let out = run_expect(
            rp_sync(&b, src.path(), "notar", &[]).env("RUNPLZ_TIMING", "1"),
            0,
        );
        let err = stderr(&out);
        assert_eq!(json(&out)["files_transferred"], want, "{err}");
        assert!(
            !err.contains("shipped as a tar") && !err.contains("warning"),
            "{err}"
        );
        assert!(err.contains("timing: rsync"), "{err}");
    }
    assert_eq!(
        b.ssh("cat notar/d/f3.txt notar/d/f4.txt"),
        "changed!0123456789"
    );
    assert_eq!(b.ssh("stat -c %a notar notar/d"), "700\n700\n");
    // A folder there already, open to others: rsync's wrapper makes it private.
    b.ssh("mkdir -m 755 open");
    sync_ok(&b, src.path(), "open", &[]);
    assert_eq!(b.ssh("stat -c %a open"), "700\n");
}

#[test]
fn a_first_sync_of_many_mebibytes_arrives_whole_through_every_piece_size() {
    // The session's tar goes in pieces that start at 64 KiB (or at what was made ready
    // during the handshake) and grow to 8 MiB: a tree of ~16 MiB (files of every size, one
    // larger than the largest piece) spans several, and each file arrives byte for byte with
    // its mtime to the nanosecond; as zstd where the box has it, and as it is on a box
    // without. (The sizes, and cuts at every place, are pinned in sync/snapshot.rs.)
    let zstd = crate::support::which("zstd");
    for hide in [vec![], vec![zstd.as_str()]] {
        pieces_arrive_whole(&SshBox::start_hiding("", false, &hide), hide.is_empty());
    }
}

fn pieces_arrive_whole(b: &SshBox, zstd: bool) {
    assert_eq!(
        // As the box's sh sees it (bash names a file it cannot run where nothing better).
        b.ssh("sh -c 'command -v zstd >/dev/null && echo zstd || echo none'"),
        if zstd { "zstd\n" } else { "none\n" }
    );
    let src = shm_tempdir();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    for i in 0..400 {
        write(
            src.path(),
            &format!("d{}/f{i}.bin", i % 7),
            &bytes(i * 97 % 40_000),
        );
    }
    write(src.path(), "big/weights.bin", &bytes((9 << 20) + 12_345));
    let out = run_expect(
        rp_sync(b, src.path(), "pieces", &[]).env("RUNPLZ_TIMING", "1"),
        0,
    );
    assert!(
        stderr(&out).contains("timing: shipped as a tar"),
        "{}",
        stderr(&out)
    );
    let rec = json(&out);
    assert_eq!(rec["files_transferred"], 401);
    // Over the wire: the files are random bytes, which zstd cannot shrink, but the tar's
    // headers and padding (about 1.8 KB a file here, 4% in all) it takes away.
    let sent = rec["bytes_transferred"].as_u64().unwrap();
    let size = 9 * 1024 * 1024 + 12_345 + (0..400u64).map(|i| i * 97 % 40_000).sum::<u64>();
    assert_eq!(sent < size + size / 50, zstd, "{sent} for {size}");
    assert!(sent > size - size / 100, "{sent} for {size}");
    let listing = "find . -type f ! -name '.rp-sync-manifest' -print0 | sort -z | xargs -0 stat -c '%n %s %.9Y' && find . -type f ! -name '.rp-sync-manifest' -print0 | sort -z | xargs -0 md5sum";
    let here = Command::new("sh")
        .args(["-c", listing])
        .current_dir(src.path())
        .output()
        .unwrap();
    assert!(here.status.success());
    let there = b.ssh(&format!("cd pieces && {{ {listing}; }}"));
    assert_eq!(there.lines().count(), 802);
    assert_eq!(there, String::from_utf8(here.stdout).unwrap());
}
