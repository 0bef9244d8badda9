//! `rp-sync pack` (issue #17): the shipped tree as one deterministic `tar.gz`, to a file, to
//! stdout, or PUT to a loopback HTTP server this test starts; a secret refuses it before
//! anything is written or sent.
use crate::support::{run_expect, shm_tempdir, stderr, TestEnv};
use runplz_core::scan::rules::sample;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;

fn tree() -> tempfile::TempDir {
    let d = shm_tempdir();
    let w = |p: &str, s: &str| {
        let f = d.path().join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, s).unwrap();
    };
    w("train.py", "print('hi')\n");
    w("data/a.csv", "x,y\n1,2\n");
    w("run.sh", "#!/bin/sh\necho hi\n");
    w(".env", "NOT=shipped\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        d.path().join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("train.py", d.path().join("main.py")).unwrap();
    d
}

fn pack(world: &TestEnv, src: &Path, to: &str) -> Command {
    let mut c = world.cmd("rp-sync");
    c.arg("pack").arg(src).args(["--to", to]);
    for k in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(k);
    }
    c
}

fn record(out: &std::process::Output) -> serde_json::Value {
    crate::support::json(out)
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn the_same_tree_packs_to_the_same_bytes_to_a_file_a_file_url_or_stdout() {
    let world = TestEnv::new();
    let d = tree();
    let out = shm_tempdir();
    let a = out.path().join("a.tar.gz");
    let b = out.path().join("b b.tar.gz");
    let ra = record(&run_expect(
        &mut pack(&world, d.path(), a.to_str().unwrap()),
        0,
    ));
    let url_b = format!("file://{}", b.display()).replace(' ', "%20");
    let rb = record(&run_expect(&mut pack(&world, d.path(), &url_b), 0));
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ba, bb, "two packs of one tree differ");
    assert_eq!(ra["type"], "pack");
    assert_eq!(ra["url"], format!("file://{}", a.display()));
    assert_eq!(rb["url"], url_b);
    assert_eq!(ra["sha256"], sha(&ba));
    assert_eq!(ra["bytes"], ba.len() as u64);
    assert_eq!(ra["files"], 4, "{ra}");
    assert_eq!(ra["excluded_secrets"], 1);
    assert_eq!(ra["http_status"], serde_json::Value::Null);
    let fp = ra["fingerprint"].as_str().unwrap();
    assert!(fp.starts_with("sha256:"), "{ra}");
    assert_eq!(ra["secret_scan"]["fingerprint"], fp);
    assert_eq!(ra["tree"]["fingerprint"], fp);
    assert_eq!(rb["fingerprint"], fp);

    // The archive holds the shipped files, sorted, owned by 0, dated 0.
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&ba[..]));
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        assert_eq!(
            (h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()),
            (0, 0, 0)
        );
        names.push((e.path().unwrap().display().to_string(), h.mode().unwrap()));
    }
    assert_eq!(
        names,
        [
            ("data/a.csv".to_string(), 0o644),
            ("main.py".into(), 0o777),
            ("run.sh".into(), 0o755),
            ("train.py".into(), 0o644)
        ]
    );

    // New mtimes change nothing; stdout gets the same bytes, the record goes to stderr.
    let f = std::fs::File::options()
        .write(true)
        .open(d.path().join("train.py"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    drop(f);
    let o = run_expect(&mut pack(&world, d.path(), "-"), 0);
    assert_eq!(o.stdout, ba, "stdout's archive differs");
    let err = stderr(&o);
    let last: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "pack");
    assert_eq!(last["url"], "-");
    assert_eq!(last["sha256"], sha(&ba));

    // One byte changed: other bytes, another sha256 and fingerprint.
    std::fs::write(d.path().join("data/a.csv"), "x,y\n1,3\n").unwrap();
    let c = out.path().join("c.tar.gz");
    let rc = record(&run_expect(
        &mut pack(&world, d.path(), c.to_str().unwrap()),
        0,
    ));
    assert_ne!(std::fs::read(&c).unwrap(), ba);
    assert_ne!(rc["sha256"], ra["sha256"]);
    assert_ne!(rc["fingerprint"], ra["fingerprint"]);

    // An archive written into the tree is not part of itself.
    let inside = d.path().join("repo.tar.gz");
    let ri = record(&run_expect(
        &mut pack(&world, d.path(), inside.to_str().unwrap()),
        0,
    ));
    assert_eq!(ri["fingerprint"], rc["fingerprint"], "{ri}");
    assert_eq!(std::fs::read(&inside).unwrap(), std::fs::read(&c).unwrap());
}

/// One HTTP request as the loopback server saw it.
pub(crate) struct Request {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A loopback HTTP server for one request, answering `status` with `answer`.
pub(crate) fn serve_once(status: &str, answer: &'static str) -> (u16, mpsc::Receiver<Request>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let status = status.to_string();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let mut s = s;
        write!(
            s,
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        s.flush().unwrap();
        let _ = tx.send(Request {
            line: line.trim_end().to_string(),
            headers,
            body,
        });
    });
    (port, rx)
}

#[test]
fn pack_puts_the_archive_to_an_http_url_and_records_it_without_credentials() {
    let world = TestEnv::new();
    let d = tree();
    let file = shm_tempdir();
    let local = file.path().join("a.tar.gz");
    let want = record(&run_expect(
        &mut pack(&world, d.path(), local.to_str().unwrap()),
        0,
    ));
    let bytes = std::fs::read(&local).unwrap();

    let (port, got) = serve_once("200 OK", "");
    let url = format!("http://127.0.0.1:{port}/up/repo.tar.gz?X-Amz-Signature=s3cr3tsig");
    let o = run_expect(&mut pack(&world, d.path(), &url), 0);
    let rec = record(&o);
    let req = got.recv().unwrap();
    assert_eq!(
        req.line,
        "PUT /up/repo.tar.gz?X-Amz-Signature=s3cr3tsig HTTP/1.1"
    );
    let header = |k: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("content-type").as_deref(), Some("application/gzip"));
    assert_eq!(header("content-length"), Some(bytes.len().to_string()));
    assert_eq!(req.body, bytes, "the PUT body is not the archive");
    assert_eq!(
        rec["url"],
        format!("http://127.0.0.1:{port}/up/repo.tar.gz")
    );
    assert_eq!(rec["http_status"], 200);
    assert_eq!(rec["sha256"], want["sha256"]);
    assert_eq!(rec["fingerprint"], want["fingerprint"]);
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(!all.contains("s3cr3tsig"), "{all}");

    // The server says no: exit 1, its status and answer named, the signature not.
    let (port, got) = serve_once("403 Forbidden", "AccessDenied: expired");
    let url = format!("http://u:pa55word@127.0.0.1:{port}/x.tgz?sig=s3cr3tsig");
    let o = run_expect(&mut pack(&world, d.path(), &url), 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "uploading the archive to http://127.0.0.1:{port}/x.tgz: the server answered 403: AccessDenied: expired"
        )),
        "{err}"
    );
    assert!(
        !err.contains("s3cr3tsig") && !err.contains("pa55word"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    assert_eq!(got.recv().unwrap().body, bytes);
}

#[test]
fn a_secret_refuses_the_pack_before_anything_is_written_or_sent() {
    let world = TestEnv::new();
    let d = tree();
    let tok = sample("hf");
    std::fs::write(d.path().join("train.py"), format!("T = \"{tok}\"\n")).unwrap();
    let out = shm_tempdir();
    let dest = out.path().join("a.tar.gz");
    let o = run_expect(&mut pack(&world, d.path(), dest.to_str().unwrap()), 4);
    let err = stderr(&o);
    assert!(err.contains("refusing to ship: 1 secret found"), "{err}");
    assert!(err.contains("train.py:1:6: huggingface-token"), "{err}");
    assert!(!err.contains(&tok[5..]));
    assert!(o.stdout.is_empty());
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "a file was left"
    );

    // Nothing reaches a server either.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let url = format!("http://127.0.0.1:{}/x", l.local_addr().unwrap().port());
    run_expect(&mut pack(&world, d.path(), &url), 4);
    assert!(l.accept().is_err(), "the server was contacted");
    // To stdout: no archive bytes.
    let o = run_expect(&mut pack(&world, d.path(), "-"), 4);
    assert!(o.stdout.is_empty());

    // Allowed: it packs, the finding named as allowed.
    let o = run_expect(
        pack(&world, d.path(), dest.to_str().unwrap()).args(["--allow-secret", "train.py:1"]),
        0,
    );
    assert!(
        stderr(&o).contains("allowed secret train.py:1:6"),
        "{}",
        stderr(&o)
    );
    assert!(dest.is_file());
}

#[test]
fn pack_checks_its_destination_before_reading_the_tree() {
    let world = TestEnv::new();
    let d = tree();
    for (to, want) in [
        ("s3://bucket/key", "--to: found the scheme \"s3\""),
        (
            "/nonexistent-dir/x.tgz",
            "expected a file in a folder that exists",
        ),
        ("file://host/x.tgz", "a file URL with a host"),
    ] {
        let o = run_expect(&mut pack(&world, d.path(), to), 2);
        assert!(stderr(&o).contains(want), "{to}: {}", stderr(&o));
    }
    let o = run_expect(
        world
            .cmd("rp-sync")
            .args(["up", "--dry-run", "--to", "x.tgz"])
            .arg(d.path()),
        2,
    );
    assert!(stderr(&o).contains("--to is for `pack`"), "{}", stderr(&o));
}
