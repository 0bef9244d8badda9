use super::find::compiled;
use super::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scan")
}

/// A corpus file with each `@@kind@@` replaced by a made-up token of that kind (the
/// files hold no whole token, so no other scanner trips on them).
fn expand(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("@@") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("@@").expect("closing @@");
        out.push_str(&rules::sample(&after[..j]));
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

fn files_in(dir: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(corpus().join(dir))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn listed(file: &str) -> Vec<String> {
    std::fs::read_to_string(corpus().join(file))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_rule_compiles_and_finds_its_own_sample() {
    let c = compiled();
    assert_eq!(c.each.len(), rules::RULES.len());
    let mut names = BTreeSet::new();
    for r in rules::RULES {
        assert!(names.insert(r.name), "two rules named {}", r.name);
        let text = (r.sample)();
        let hits = scan_bytes(text.as_bytes());
        assert!(
            hits.iter().any(|h| h.rule == r.name),
            "{}: its sample {text:?} gave {hits:?}",
            r.name
        );
    }
}

#[test]
fn true_positives_are_exactly_the_pinned_list() {
    let mut found = BTreeSet::new();
    for (name, text) in files_in("positive") {
        // As committed, with markers, the corpus holds no secret (nor trips this scanner).
        assert_eq!(scan_bytes(text.as_bytes()), [], "{name} as committed");
        let text = expand(&text);
        for h in scan_bytes(text.as_bytes()) {
            // The preview never holds more than a third of anything it came from.
            assert!(h.preview.ends_with('…'), "{h:?}");
            found.insert(format!("{name}:{}:{}: {}", h.line, h.column, h.rule));
        }
    }
    let want: BTreeSet<String> = listed("positives.txt").into_iter().collect();
    let missed: Vec<_> = want.difference(&found).collect();
    let extra: Vec<_> = found.difference(&want).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "missed: {missed:#?}\nnot pinned: {extra:#?}"
    );
    assert!(want.len() >= 40, "only {} true positives", want.len());
    // Every kind of file the issue names is in the corpus.
    for ext in [".py", ".yaml", ".toml", ".json", ".ipynb", ".sh", ".js"] {
        assert!(want.iter().any(|w| w.contains(&format!("{ext}:"))), "{ext}");
    }
}

#[test]
fn the_needles_never_hide_a_finding() {
    // Every rule's needles are lower case, and the corpus (both halves, expanded) and each
    // sample find the same with the needles as with the regexes alone.
    for r in rules::RULES {
        assert!(!r.needs.is_empty(), "{}: no needles", r.name);
        for n in r.needs {
            assert_eq!(*n, n.to_ascii_lowercase(), "{}: {n:?}", r.name);
        }
    }
    let c = compiled();
    let mut texts: Vec<String> = rules::RULES.iter().map(|r| (r.sample)()).collect();
    for half in ["positive", "negative"] {
        texts.extend(files_in(half).into_iter().map(|(_, t)| expand(&t)));
    }
    let mut hits = 0;
    for t in &texts {
        let all = super::find::scan_matched(c, t.as_bytes());
        hits += all.len();
        assert_eq!(scan_bytes(t.as_bytes()), all, "{t}");
        // In upper case too (the needles are matched case aside).
        let up = t.to_ascii_uppercase();
        assert_eq!(
            scan_bytes(up.as_bytes()),
            super::find::scan_matched(c, up.as_bytes())
        );
    }
    assert!(hits >= 40, "{hits}");
    // A secret across the seam of the needles' 16 KiB chunks, at every offset near it.
    let tok = rules::sample("hf");
    for pad in (16 << 10) - 40..(16 << 10) + 2 {
        let text = format!("{}\nT = '{tok}'\n", "x".repeat(pad));
        assert_eq!(
            scan_bytes(text.as_bytes()).len(),
            1,
            "{pad}: the token after {pad} bytes"
        );
    }
    // Text with no needle is not searched, and finds nothing.
    assert_eq!(scan_bytes(b"import os\nRUN_ID = \"deadbeef\"\n"), []);
}

#[test]
fn look_alikes_never_fire() {
    let mut fired = Vec::new();
    for (name, text) in files_in("negative") {
        for h in scan_bytes(text.as_bytes()) {
            fired.push(format!(
                "{name}:{}:{}: {} {}",
                h.line, h.column, h.rule, h.preview
            ));
        }
    }
    assert!(fired.is_empty(), "{fired:#?}");
    // The list names each look-alike by file and line, and each is really there.
    let cases = listed("lookalikes.txt");
    assert!(cases.len() >= 40, "only {} look-alikes", cases.len());
    let files: std::collections::BTreeMap<String, String> =
        files_in("negative").into_iter().collect();
    for c in &cases {
        let (place, _what) = c.split_once(' ').unwrap_or((c, ""));
        let (file, line) = place.trim_end_matches(':').rsplit_once(':').unwrap();
        let text = files
            .get(file)
            .unwrap_or_else(|| panic!("{c}: no such file"));
        let n: usize = line.parse().unwrap();
        assert!(
            text.lines()
                .nth(n - 1)
                .is_some_and(|l| !l.trim().is_empty()),
            "{c}: no such line"
        );
    }
}

#[test]
fn previews_hide_the_value() {
    for kind in ["hf", "ghp", "openai", "anthropic", "aws-id", "stripe"] {
        let tok = rules::sample(kind);
        let hits = scan_bytes(format!("x = \"{tok}\"\n").as_bytes());
        assert_eq!(hits.len(), 1, "{kind}: {hits:?}");
        let shown = hits[0].preview.trim_end_matches('…');
        assert!(tok.starts_with(shown), "{kind}: {shown}");
        assert!(shown.len() * 3 <= tok.len(), "{kind}: {shown}");
    }
    let hits = scan_bytes(format!("HF_TOKEN: {}\n", rules::sample("generic")).as_bytes());
    assert_eq!(
        hits[0].preview.len(),
        "HF_TOKEN=".len() + 2 + '…'.len_utf8()
    );
    assert_eq!((hits[0].line, hits[0].column), (1, 1));
}

#[test]
fn positions_are_line_and_byte_column() {
    let text = format!("a\n\nxx  token = \"{}\"\n", rules::sample("hf"));
    let h = scan_bytes(text.as_bytes());
    assert_eq!(
        (h[0].line, h[0].column, h[0].rule),
        (3, 14, "huggingface-token")
    );
}

#[test]
fn allow_list_paths_globs_and_lines() {
    let a = Allow::new(
        &[
            "train.py:3".into(),
            "notebooks/*.ipynb".into(),
            "/conf".into(),
        ],
        |i| format!("entry {i}"),
    )
    .unwrap();
    assert!(a.allows(Path::new("train.py"), 3));
    assert!(!a.allows(Path::new("train.py"), 4));
    assert!(a.allows(Path::new("notebooks/a.ipynb"), 9));
    assert!(!a.allows(Path::new("a.ipynb"), 9));
    assert!(a.allows(Path::new("conf/x.yaml"), 1));
    assert!(!a.allows(Path::new("src/conf/x.yaml"), 1));
    let e = Allow::new(&["x.py:0".into()], |_| "--allow-secret".into())
        .err()
        .unwrap();
    assert!(
        format!("{e}").contains("--allow-secret: found line 0"),
        "{e}"
    );
    let e = Allow::new(&["".into()], |_| "sync.allow_secrets[0]".into())
        .err()
        .unwrap();
    assert!(
        format!("{e}").starts_with("sync.allow_secrets[0]: found \"\""),
        "{e}"
    );
}

#[test]
fn binary_and_large_files_are_counted_not_read() {
    let d = tempfile::tempdir().unwrap();
    let tok = rules::sample("hf");
    std::fs::write(d.path().join("a.bin"), format!("\0\0{tok}")).unwrap();
    let f = std::fs::File::create(d.path().join("big.txt")).unwrap();
    f.set_len(MAX_BYTES + 1).unwrap();
    std::fs::write(d.path().join("ok.py"), format!("t = '{tok}'\n")).unwrap();
    let staged = crate::sync::stage(d.path(), &[]).unwrap();
    let r = scan(&staged, &Allow::default(), None).unwrap();
    assert_eq!((r.files, r.scanned, r.binary, r.too_large), (3, 3, 1, 1));
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].path, "ok.py");
}

#[test]
fn cache_skips_unchanged_files_and_rereads_changed_ones() {
    let d = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for i in 0..5 {
        std::fs::write(d.path().join(format!("f{i}.py")), "x = 1\n").unwrap();
    }
    let staged = crate::sync::stage(d.path(), &[]).unwrap();
    let allow = Allow::default();
    let r = scan(&staged, &allow, Some(cache.path())).unwrap();
    assert_eq!((r.scanned, r.cached), (5, 0));
    let r = scan(&staged, &allow, Some(cache.path())).unwrap();
    assert_eq!((r.scanned, r.cached), (0, 5));
    // Same size, new content: the mtime (ns) or inode differs, so it is read again.
    let tok = rules::sample("ghp");
    let p = d.path().join("f2.py");
    std::fs::write(&p, format!("x = '{tok}'\n")).unwrap();
    let staged = crate::sync::stage(d.path(), &[]).unwrap();
    let r = scan(&staged, &allow, Some(cache.path())).unwrap();
    assert_eq!((r.scanned, r.cached), (1, 4));
    assert_eq!(r.findings.len(), 1);
    // A cached finding is still a finding; the cache holds no value.
    let r = scan(&staged, &allow, Some(cache.path())).unwrap();
    assert_eq!((r.scanned, r.cached, r.findings.len()), (0, 5, 1));
    let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    for e in files {
        // Binary: the masked preview is there as text, the value is not.
        let text = String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned();
        assert!(!text.contains(&tok[6..]), "{text}");
        assert!(text.contains(&r.findings[0].preview), "{text}");
    }
}

#[test]
fn the_cache_is_written_only_when_it_changes_and_a_damaged_one_is_dropped() {
    let d = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    for i in 0..20 {
        std::fs::write(d.path().join(format!("f{i:02}.py")), format!("x = {i}\n")).unwrap();
    }
    std::fs::write(
        d.path().join("k.py"),
        format!("T = '{}'\n", rules::sample("ghp")),
    )
    .unwrap();
    let allow = Allow::default();
    let staged = crate::sync::stage(d.path(), &[]).unwrap();
    let first = scan(&staged, &allow, Some(cache.path())).unwrap();
    assert_eq!((first.scanned, first.findings.len()), (21, 1));
    let file = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let written = || std::fs::metadata(&file).unwrap().modified().unwrap();
    let (t0, bytes0) = (written(), std::fs::read(&file).unwrap());
    // All cached, in order: the same answer, the file left alone.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let r = scan(&staged, &allow, Some(cache.path())).unwrap();
    assert_eq!((r.scanned, r.cached), (0, 21));
    assert_eq!(
        (r.findings, r.fingerprint),
        (first.findings.clone(), first.fingerprint.clone())
    );
    assert_eq!(written(), t0);
    // A file gone: the rest still cached (out of line), the cache rewritten without it.
    std::fs::remove_file(d.path().join("f03.py")).unwrap();
    let staged = crate::sync::stage(d.path(), &[]).unwrap();
    let r = scan(&staged, &allow, Some(cache.path())).unwrap();
    assert_eq!((r.scanned, r.cached, r.findings.len()), (0, 20, 1));
    assert!(std::fs::read(&file).unwrap().len() < bytes0.len());
    // Damaged (cut short, or one byte changed in a count): dropped, everything read again.
    let good = std::fs::read(&file).unwrap();
    for bad in [good[..good.len() - 3].to_vec(), {
        let mut b = good.clone();
        b[48] ^= 0x40;
        b
    }] {
        std::fs::write(&file, &bad).unwrap();
        let r = scan(&staged, &allow, Some(cache.path())).unwrap();
        assert_eq!((r.scanned, r.cached, r.findings.len()), (20, 0, 1));
        assert_eq!(std::fs::read(&file).unwrap(), good);
    }
}

#[test]
fn fingerprint_is_the_tree_cached_or_not_and_changes_with_content_or_mode() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.py"), "x = 1\n").unwrap();
    std::fs::write(d.path().join("b.bin"), b"\0\x01").unwrap();
    std::os::unix::fs::symlink("a.py", d.path().join("link")).unwrap();
    let allow = Allow::default();
    let fp = || {
        let staged = crate::sync::stage(d.path(), &[]).unwrap();
        scan(&staged, &allow, Some(cache.path()))
            .unwrap()
            .fingerprint
            .unwrap()
    };
    let cold = fp();
    assert!(cold.starts_with("sha256:") && cold.len() == 71, "{cold}");
    assert_eq!(fp(), cold, "from the cache");
    let staged = crate::sync::stage(d.path(), &[]).unwrap();
    assert_eq!(
        scan(&staged, &allow, None).unwrap().fingerprint.unwrap(),
        cold,
        "without a cache"
    );
    let p = d.path().join("a.py");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let moded = fp();
    assert_ne!(moded, cold);
    std::fs::write(&p, "x = 2\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_ne!(fp(), moded);
    std::fs::write(&p, "x = 1\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(fp(), cold, "back to the same bytes and mode");
    std::fs::remove_file(d.path().join("link")).unwrap();
    std::os::unix::fs::symlink("b.bin", d.path().join("link")).unwrap();
    assert_ne!(fp(), cold, "a symlink's target counts");
}

/// Not a test: writes the corpus with its markers expanded to `$RUNPLZ_SCAN_CORPUS_OUT`,
/// for comparing other scanners on it (scripts/bench); a no-op without that variable.
#[test]
fn write_expanded_corpus() {
    let Some(out) = std::env::var_os("RUNPLZ_SCAN_CORPUS_OUT") else {
        return;
    };
    for dir in ["positive", "negative"] {
        let to = Path::new(&out).join(dir);
        std::fs::create_dir_all(&to).unwrap();
        for (name, text) in files_in(dir) {
            std::fs::write(to.join(name), expand(&text)).unwrap();
        }
    }
}

#[test]
fn the_copier_checks_a_changed_file_by_the_jobs_mode_and_allow_list() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("a.py");
    std::fs::write(&p, "x = 1\n").unwrap();
    let staged = crate::sync::stage(d.path(), &[]).unwrap();
    let f = &staged.files[0];
    let tok = rules::sample("hf");
    let job = |sync: &str| {
        crate::job::parse(
            &format!(r#"{{"name": "c", "image": {{"from_registry": "x"}}, "run": "true", "sync": {sync}}}"#),
            "job.json",
            d.path(),
        )
        .unwrap()
    };
    let copier = |sync: &str, allow: &[&str]| {
        let list: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        Copier::new(
            "test",
            Some(&job(sync)),
            Allow::new(&list, |_| "--allow-secret".into()).unwrap(),
            runplz_protocol::Exit::Refused,
        )
    };
    let mut buf = Vec::new();
    // Unchanged: its bytes, not searched (the scan vouched for them).
    assert!(matches!(
        copier("{}", &[]).read(&staged.root, f, &mut buf).unwrap(),
        Copied::Bytes(_)
    ));
    assert_eq!(buf, b"x = 1\n");
    std::fs::write(&p, format!("x = 1\nT = '{tok}'\n")).unwrap();
    let want = format!("x = 1\nT = '{tok}'\n").into_bytes();
    // Changed, refuse: refused; allowed by path and line, or warn, or off: the new bytes.
    let err = copier("{}", &[])
        .read(&staged.root, f, &mut buf)
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("a.py:2:6: huggingface-token"),
        "{err:#}"
    );
    for (sync, allow) in [
        ("{}", &["a.py:2"][..]),
        (r#"{"secret_scan": "warn"}"#, &[][..]),
        (r#"{"secret_scan": "off"}"#, &[][..]),
    ] {
        buf.clear();
        let r = copier(sync, allow).read(&staged.root, f, &mut buf);
        assert!(matches!(r, Ok(Copied::Bytes(_))), "{sync} {allow:?}");
        assert_eq!(buf, want, "{sync}");
    }
    // Allowed on another line only: still refused.
    assert!(copier("{}", &["a.py:1"])
        .read(&staged.root, f, &mut buf)
        .is_err());
}
