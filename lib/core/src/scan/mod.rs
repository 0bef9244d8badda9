//! The content scan: every file that would ship (the list [`crate::sync::stage()`] decides)
//! is searched for secret shapes ([`rules::RULES`]) before anything leaves the machine.
//! One pass per file checks every rule (a `RegexSet`); only the rules that matched are run
//! again to find where. Results are cached per file by (path, size, mtime ns, inode) in the
//! state folder, so an unchanged file is never read twice. Findings are masked: rule, place
//! and a preview of the public prefix, never the value.

pub mod cache;
pub mod rules;

use crate::error::CliError;
use crate::sync::Staged;
use anyhow::Result;
use runplz_protocol::Exit;
pub use runplz_protocol::{ScanRecord, SecretFinding, Tree};
use std::path::Path;
use std::sync::OnceLock;

/// Files larger than this are not content-scanned (counted as `too_large`).
pub const MAX_BYTES: u64 = 16 << 20;

/// How far into a file a NUL byte makes it binary (not content-scanned).
pub const BINARY_PROBE: usize = 8192;

/// `sync.secret_scan`: what a finding does.
pub use crate::job::spec::SecretScan as Mode;

impl Mode {
    /// Its name in job.json and records.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Refuse => "refuse",
            Mode::Warn => "warn",
            Mode::Off => "off",
        }
    }
}

/// The compiled rules: the set for the one pass, each rule alone for locating.
struct Compiled {
    set: regex::bytes::RegexSet,
    each: Vec<regex::bytes::Regex>,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let pats: Vec<&str> = rules::RULES.iter().map(|r| r.pattern).collect();
        Compiled {
            // ASCII rules: Unicode word boundaries would keep the fast DFA off non-ASCII text.
            set: regex::bytes::RegexSetBuilder::new(&pats)
                .unicode(false)
                .size_limit(64 << 20)
                .build()
                .expect("the rules compile (a unit test checks)"),
            each: pats
                .iter()
                .map(|p| {
                    regex::bytes::RegexBuilder::new(p)
                        .unicode(false)
                        .size_limit(64 << 20)
                        .build()
                        .expect("each rule compiles")
                })
                .collect(),
        }
    })
}

/// A finding before allowing: where, which rule, a masked preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// 1-based line.
    pub line: u64,
    /// 1-based byte column.
    pub column: u64,
    /// The rule's name.
    pub rule: &'static str,
    /// The masked preview.
    pub preview: String,
}

/// Search one file's bytes. Findings of the generic `secret-assignment` rule that overlap a
/// finding of a specific rule are dropped (the specific one says more).
pub fn scan_bytes(data: &[u8]) -> Vec<Hit> {
    let c = compiled();
    let matched = c.set.matches(data);
    if !matched.matched_any() {
        return Vec::new();
    }
    // (start, end, rule index, preview)
    let mut found: Vec<(usize, usize, usize, String)> = Vec::new();
    for i in matched.iter() {
        let rule = &rules::RULES[i];
        for caps in c.each[i].captures_iter(data) {
            let whole = caps.get(0).expect("group 0");
            let s = caps.name("s").unwrap_or(whole);
            let secret = s.as_bytes();
            let name = caps.name("n").map(|m| m.as_bytes()).unwrap_or_default();
            if !passes(rule.check, name, secret) {
                continue;
            }
            let preview = preview(rule, name, secret);
            // Where a person should look: the name it is assigned to, else the secret.
            let start = caps.name("n").or(caps.name("s")).unwrap_or(whole).start();
            found.push((start, s.end(), i, preview));
        }
    }
    let specific: Vec<(usize, usize)> = found
        .iter()
        .filter(|f| rules::RULES[f.2].check != rules::Check::Assigned)
        .map(|f| (f.0, f.1))
        .collect();
    found.retain(|f| {
        rules::RULES[f.2].check != rules::Check::Assigned
            || !specific.iter().any(|s| s.0 < f.1 && f.0 < s.1)
    });
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
    let mut hits = Vec::with_capacity(found.len());
    let (mut line, mut line_start, mut pos) = (1u64, 0usize, 0usize);
    for (start, _, i, preview) in found {
        for (k, b) in data[pos..start].iter().enumerate() {
            if *b == b'\n' {
                line += 1;
                line_start = pos + k + 1;
            }
        }
        pos = start;
        hits.push(Hit {
            line,
            column: (start - line_start + 1) as u64,
            rule: rules::RULES[i].name,
            preview,
        });
    }
    hits
}

fn preview(rule: &rules::Rule, name: &[u8], secret: &[u8]) -> String {
    // Never more than a third of the secret, whatever the rule says.
    let n = rule.shown.min(secret.len() / 3).min(secret.len());
    let shown = String::from_utf8_lossy(&secret[..n]);
    if name.is_empty() {
        format!("{shown}…")
    } else {
        format!("{}={shown}…", String::from_utf8_lossy(name))
    }
}

/// Shannon entropy in bits per byte.
fn entropy(s: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for b in s {
        counts[*b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

fn placeholder(v: &[u8]) -> bool {
    let low = v.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "xxxx",
        "your",
        "example",
        "changeme",
        "placeholder",
        "dummy",
        "redacted",
        "replace",
        "insert",
        "sample",
        "0000000",
        "1234567",
        "abcdef",
        "******",
        "token_here",
        "secret_here",
    ];
    WORDS
        .iter()
        .any(|w| low.windows(w.len()).any(|x| x == w.as_bytes()))
}

fn passes(check: rules::Check, name: &[u8], secret: &[u8]) -> bool {
    match check {
        rules::Check::None => true,
        rules::Check::Random { prefix } => {
            let body = &secret[prefix.min(secret.len())..];
            !placeholder(body) && entropy(body) >= 3.0
        }
        rules::Check::Assigned => assigned_value(name, secret),
    }
}

/// Does `v`, assigned to `name`, look like a real secret?
fn assigned_value(name: &[u8], v: &[u8]) -> bool {
    let has = |f: fn(&u8) -> bool| v.iter().any(f);
    if v.len() < 16 || placeholder(v) || !has(u8::is_ascii_digit) || !has(u8::is_ascii_alphabetic) {
        return false;
    }
    // A path, a URL piece, a file name, an attribute chain, a version.
    if v.starts_with(b"/") || v.starts_with(b"~") || v.starts_with(b".") {
        return false;
    }
    let dotted = v.split(|b| *b == b'.').count();
    if dotted > 1
        && v.split(|b| *b == b'.').all(|p| {
            !p.is_empty()
                && p.iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
        })
        && !v.iter().any(|b| *b == b'/' || *b == b'+' || *b == b'=')
    {
        // `a.b.c`: an expression or a host name, not a token (tokens rarely hold dots).
        if dotted != 3 || v.len() < 100 {
            return false;
        }
    }
    if is_uuid(v) {
        return false;
    }
    let hex = v.iter().all(u8::is_ascii_hexdigit);
    if hex {
        // Hashes are everywhere; plain hex is a secret only under a name that says so.
        let n = name.to_ascii_lowercase();
        let says = [
            "token", "secret", "password", "passwd", "api_key", "apikey", "auth",
        ]
        .iter()
        .any(|w| n.windows(w.len()).any(|x| x == w.as_bytes()));
        return says && v.len() >= 32 && entropy(v) >= 3.0;
    }
    entropy(v) >= 3.5
}

fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// What the content check of one file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileResult {
    /// Read; these hits (maybe none).
    Scanned(Vec<Hit>),
    /// A NUL byte near the start.
    Binary,
    /// Over [`MAX_BYTES`].
    TooLarge,
}

/// Read and check one file; also its content's sha256 (hex), for the tree's fingerprint.
pub fn scan_file(path: &Path, size: u64) -> std::io::Result<(FileResult, String)> {
    use sha2::{Digest, Sha256};
    if size > MAX_BYTES {
        // Not content-scanned, but hashed (streamed) all the same.
        use std::io::Read;
        let mut h = Sha256::new();
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        return Ok((FileResult::TooLarge, cache::hex(&h.finalize())));
    }
    let data = std::fs::read(path)?;
    let sha = cache::hex(&Sha256::digest(&data));
    if data.len() as u64 > MAX_BYTES {
        return Ok((FileResult::TooLarge, sha));
    }
    if data[..data.len().min(BINARY_PROBE)].contains(&0) {
        return Ok((FileResult::Binary, sha));
    }
    Ok((FileResult::Scanned(scan_bytes(&data)), sha))
}

/// The fingerprint of a tree: sha256 over each shipped file, sorted by path, as
/// `path NUL mode(octal) NUL sha256(content) LF` (a symlink's content is its target).
/// Two runs with the same fingerprint shipped the same files, modes and bytes.
pub fn fingerprint(entries: &[(&Path, u32, &str)]) -> String {
    use sha2::{Digest, Sha256};
    use std::os::unix::ffi::OsStrExt;
    let mut v: Vec<&(&Path, u32, &str)> = entries.iter().collect();
    v.sort_by(|a, b| a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes()));
    let mut h = Sha256::new();
    for (p, mode, sha) in v {
        h.update(p.as_os_str().as_bytes());
        h.update(format!("\0{mode:o}\0{sha}\n"));
    }
    format!("sha256:{}", cache::hex(&h.finalize()))
}

/// Allowed findings: `--allow-secret PATH[:LINE]` and `sync.allow_secrets`, gitignore-style
/// patterns relative to the shipped folder, each optionally with one line.
#[derive(Default)]
pub struct Allow {
    entries: Vec<(ignore::gitignore::Gitignore, Option<u64>)>,
}

impl Allow {
    /// Parse the entries; `what(i)` names entry `i` in an error (`--allow-secret`,
    /// `job.json: sync.allow_secrets[2]`).
    pub fn new(list: &[String], what: impl Fn(usize) -> String) -> Result<Allow> {
        let entries = list
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                allow_entry(raw).map_err(|m| CliError::usage(format!("{}: {m}", what(i))))
            })
            .collect::<Result<_>>()?;
        Ok(Allow { entries })
    }

    /// Is the finding at `path:line` allowed?
    pub fn allows(&self, path: &Path, line: u64) -> bool {
        self.entries.iter().any(|(gi, l)| {
            l.is_none_or(|l| l == line) && gi.matched_path_or_any_parents(path, false).is_ignore()
        })
    }
}

/// One allow entry, `PATTERN[:LINE]`, parsed; the error says what was found and expected.
pub fn allow_entry(
    raw: &str,
) -> std::result::Result<(ignore::gitignore::Gitignore, Option<u64>), String> {
    let expected =
        "expected a path or glob relative to the shipped folder, optionally :LINE (lines from 1)";
    let (pat, line) = match raw.rsplit_once(':') {
        Some((p, l)) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            match l.parse::<u64>() {
                Ok(n) if n > 0 => (p, Some(n)),
                _ => return Err(format!("found line {l} in {raw:?}, {expected}")),
            }
        }
        _ => (raw, None),
    };
    if pat.trim().is_empty() {
        return Err(format!("found {raw:?}, {expected}"));
    }
    let mut b = ignore::gitignore::GitignoreBuilder::new("");
    let bad = |e: ignore::Error| format!("found {raw:?}, not a valid glob ({e}); {expected}");
    b.add_line(None, pat).map_err(bad)?;
    Ok((b.build().map_err(bad)?, line))
}

/// Scan every regular file in `staged` (symlinks are not followed), reusing the cache in
/// `cache_dir` when given. Unreadable files are errors: what cannot be read cannot be
/// vouched for, and rsync could not send it either.
pub fn scan(staged: &Staged, allow: &Allow, cache_dir: Option<&Path>) -> Result<ScanRecord> {
    let mut cache = cache_dir.map(|d| cache::Cache::load(d, &staged.root));
    let files: Vec<&crate::sync::StagedFile> = staged.files.iter().filter(|f| !f.symlink).collect();
    let mut rec = ScanRecord {
        mode: Mode::Refuse.name().into(),
        source: staged.root.display().to_string(),
        files: files.len() as u64,
        ..ScanRecord::default()
    };
    // Stat everything; what the cache knows is reused, the rest is read in parallel.
    let mut results: Vec<Option<(FileResult, String)>> = vec![None; files.len()];
    let mut keys = Vec::with_capacity(files.len());
    let mut todo = Vec::new();
    // The stat staging made is the key: a file changed since is caught by rsync's own
    // check too, and rescanned next time.
    for (k, f) in files.iter().enumerate() {
        let key = cache::Key {
            size: f.bytes,
            mtime_ns: f.mtime_ns,
            inode: f.inode,
        };
        match cache.as_ref().and_then(|c| c.get(&f.path, &key)) {
            Some(r) => {
                results[k] = Some(r);
                rec.cached += 1;
            }
            None => todo.push(k),
        }
        keys.push(key);
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(todo.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    #[allow(clippy::type_complexity)]
    let scanned: Vec<Vec<(usize, std::io::Result<(FileResult, String)>)>> =
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&k) = todo.get(j) else { break };
                            let f = files[k];
                            out.push((k, scan_file(&staged.root.join(&f.path), keys[k].size)));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
    for (k, r) in scanned.into_iter().flatten() {
        let r = r.map_err(|e| {
            CliError::new(
                Exit::Failed,
                format!("scanning {} for secrets: {e}", files[k].path.display()),
            )
        })?;
        if let Some(c) = cache.as_mut() {
            c.put(&files[k].path, keys[k].clone(), &r.0, &r.1);
        }
        rec.scanned += 1;
        results[k] = Some(r);
    }
    let mut shas: Vec<String> = Vec::with_capacity(files.len());
    for (k, r) in results.into_iter().enumerate() {
        let Some((r, sha)) = r else {
            shas.push(String::new());
            continue;
        };
        shas.push(sha);
        match r {
            FileResult::Binary => rec.binary += 1,
            FileResult::TooLarge => rec.too_large += 1,
            FileResult::Scanned(hits) => {
                for h in hits {
                    rec.findings.push(SecretFinding {
                        path: crate::out::path_text(&files[k].path),
                        line: h.line,
                        column: h.column,
                        rule: h.rule.into(),
                        preview: h.preview,
                        allowed: allow.allows(&files[k].path, h.line),
                    });
                }
            }
        }
    }
    // Symlinks ship as links: their target is their content.
    let links: Vec<(&Path, u32, String)> = staged
        .files
        .iter()
        .filter(|f| f.symlink)
        .map(|f| {
            use sha2::{Digest, Sha256};
            use std::os::unix::ffi::OsStrExt;
            let target = std::fs::read_link(staged.root.join(&f.path)).unwrap_or_default();
            (
                f.path.as_path(),
                f.mode,
                cache::hex(&Sha256::digest(target.as_os_str().as_bytes())),
            )
        })
        .collect();
    let mut entries: Vec<(&Path, u32, &str)> = files
        .iter()
        .zip(&shas)
        .map(|(f, sha)| (f.path.as_path(), f.mode, sha.as_str()))
        .collect();
    entries.extend(links.iter().map(|(p, m, s)| (*p, *m, s.as_str())));
    rec.fingerprint = Some(fingerprint(&entries));
    if let Some(c) = cache {
        c.save(&files.iter().map(|f| f.path.as_path()).collect::<Vec<_>>());
    }
    Ok(rec)
}

/// The allow list of a run: the job's `sync.allow_secrets`, then `--allow-secret` flags.
pub fn allow_for(job: Option<&crate::job::Job>, flags: &[String]) -> Result<Allow> {
    let mut list: Vec<String> = job
        .map(|j| j.spec.sync.allow_secrets.clone())
        .unwrap_or_default();
    let from_job = list.len();
    list.extend(flags.iter().cloned());
    Allow::new(&list, |i| {
        if i < from_job {
            format!(
                "{}: sync.allow_secrets[{i}]",
                job.map_or("job.json", |j| j.origin.as_str())
            )
        } else {
            "--allow-secret".to_string()
        }
    })
}

/// The scan every shipping path runs before the first byte leaves: by the job's
/// `sync.secret_scan` (default refuse). `off` says so once on stderr and returns a record
/// with mode `off`; `warn` warns per finding; `refuse` fails with `refuse_exit` naming each
/// finding and the ways out. Allowed findings are named on stderr either way.
pub fn before_shipping(
    tool: &str,
    staged: &Staged,
    job: Option<&crate::job::Job>,
    allow: &Allow,
    refuse_exit: Exit,
) -> Result<ScanRecord> {
    let mode = job
        .and_then(|j| j.spec.sync.secret_scan)
        .unwrap_or_default();
    if mode == Mode::Off {
        crate::out::note(
            tool,
            "the content scan for secrets is off (sync.secret_scan: \"off\"): files ship unread",
        );
        return Ok(ScanRecord {
            mode: mode.name().into(),
            source: staged.root.display().to_string(),
            ..ScanRecord::default()
        });
    }
    let mut rec = scan(staged, allow, Some(&crate::state::scan_cache_dir()))?;
    rec.mode = mode.name().into();
    if mode == Mode::Refuse && refused(&rec).next().is_some() {
        return Err(CliError::new(
            refuse_exit,
            refusal(&rec, job.map(|j| j.origin.as_str())),
        ));
    }
    for w in warnings(&rec) {
        crate::out::warn(tool, w);
    }
    Ok(rec)
}

/// The scan again, for a list staged some time after the run's first scan (runplz's sync
/// step, once the box is there): files unchanged since are answered by the cache, changed
/// and new ones are read. A finding that is not allowed, in `refuse` mode, fails with exit
/// 2 before anything is sent; in `warn` mode the findings of re-read files are warned of.
pub fn again_before_sending(
    tool: &str,
    staged: &Staged,
    job: &crate::job::Job,
    flags: &[String],
) -> Result<()> {
    let mode = job.spec.sync.secret_scan.unwrap_or_default();
    if mode == Mode::Off {
        return Ok(());
    }
    let allow = allow_for(Some(job), flags)?;
    let rec = scan(staged, &allow, Some(&crate::state::scan_cache_dir()))?;
    if rec.scanned == 0 {
        return Ok(());
    }
    crate::out::note(
        tool,
        format_args!(
            "{} file(s) changed or appeared since the run's secret scan: scanned again",
            rec.scanned
        ),
    );
    if mode == Mode::Refuse && refused(&rec).next().is_some() {
        return Err(CliError::new(
            Exit::Usage,
            refusal(&rec, Some(job.origin.as_str())).replacen(
                "refusing to ship:",
                "refusing to ship what changed since the run's scan:",
                1,
            ),
        ));
    }
    for w in warnings(&rec) {
        crate::out::warn(tool, w);
    }
    Ok(())
}

/// After a transfer: rsync sent each file as it was then, not as the scan read it. Files
/// whose size, mtime or inode changed since staging are scanned again (from the cache's
/// point of view they are new), so an edit made between the scan and the transfer is not
/// shipped unread without a word. A changed file is named in a warning; one that now holds
/// a finding that is not allowed fails with `refuse_exit` (in `refuse` mode; `warn` warns)
/// saying that it reached the box. Nothing is done with the scan off.
pub fn after_shipping(
    tool: &str,
    staged: &Staged,
    rec: &ScanRecord,
    allow: &Allow,
    refuse_exit: Exit,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if rec.mode == Mode::Off.name() {
        return Ok(());
    }
    let mut now = staged.clone();
    let mut changed = Vec::new();
    now.files.retain_mut(|f| {
        if f.symlink {
            return false;
        }
        let Ok(md) = staged.root.join(&f.path).symlink_metadata() else {
            // Gone: rsync said so (a vanished file) and nothing of it was sent.
            return false;
        };
        let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        if (md.len(), mtime_ns, md.ino()) == (f.bytes, f.mtime_ns, f.inode) {
            return false;
        }
        (f.bytes, f.mtime_ns, f.inode) = (md.len(), mtime_ns, md.ino());
        changed.push(f.path.clone());
        md.is_file()
    });
    if changed.is_empty() {
        return Ok(());
    }
    crate::out::warn(
        tool,
        format!(
            "{} file(s) changed after the secret scan read them and shipped as they are now; scanned again: {}",
            changed.len(),
            crate::sync::some_paths(&changed, 5)
        ),
    );
    let mut again = scan(&now, allow, Some(&crate::state::scan_cache_dir()))?;
    again.mode = rec.mode.clone();
    if rec.mode == Mode::Refuse.name() && refused(&again).next().is_some() {
        let mut msg = refusal(&again, None);
        msg = msg.replacen(
            "(nothing was sent)",
            "in a file changed after the scan: it REACHED THE BOX; remove the value, sync again (which replaces the file there) and rotate it",
            1,
        );
        return Err(CliError::new(refuse_exit, msg));
    }
    for w in warnings(&again) {
        crate::out::warn(tool, w);
    }
    Ok(())
}

/// The files of `staged` the scan does not read, and why (`binary`, `too large`), from
/// their size and first bytes.
pub fn not_read(staged: &Staged) -> Vec<(std::path::PathBuf, &'static str)> {
    use std::io::Read;
    let mut v = Vec::new();
    for f in staged.files.iter().filter(|f| !f.symlink) {
        if f.bytes > MAX_BYTES {
            v.push((f.path.clone(), "too large"));
            continue;
        }
        let mut head = vec![0; BINARY_PROBE];
        let n = std::fs::File::open(staged.root.join(&f.path))
            .and_then(|mut h| h.read(&mut head))
            .unwrap_or(0);
        if head[..n].contains(&0) {
            v.push((f.path.clone(), "binary"));
        }
    }
    v
}

/// The tree that ships: the scan's fingerprint, and the git commit and dirty flag of the
/// folder when it is in a git work tree (git's answers only; none when git is missing).
pub fn tree(staged: &Staged, rec: &ScanRecord) -> Tree {
    let git = |args: &[&str]| -> Option<String> {
        if !staged.git {
            return None;
        }
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(&staged.root)
            .env("GIT_OPTIONAL_LOCKS", "0")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    Tree {
        fingerprint: rec.fingerprint.clone(),
        git_commit: git(&["rev-parse", "--verify", "-q", "HEAD"]).map(|s| s.trim().to_string()),
        git_dirty: git(&["status", "--porcelain", "-z"]).map(|s| !s.is_empty()),
    }
}

/// The findings that are not allowed.
pub fn refused(rec: &ScanRecord) -> impl Iterator<Item = &SecretFinding> {
    rec.findings.iter().filter(|f| !f.allowed)
}

/// The message for a tree that holds secrets: each finding, then the ways out.
pub fn refusal(rec: &ScanRecord, job_file: Option<&str>) -> String {
    let found: Vec<&SecretFinding> = refused(rec).collect();
    let mut s = format!(
        "refusing to ship: {} secret{} found in {} (nothing was sent):",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        rec.source
    );
    for f in found.iter().take(20) {
        s.push_str(&format!(
            "\n  {}:{}:{}: {} ({})",
            crate::out::escape(&f.path),
            f.line,
            f.column,
            f.rule,
            crate::out::escape(&f.preview)
        ));
    }
    if found.len() > 20 {
        s.push_str(&format!("\n  ... and {} more", found.len() - 20));
    }
    let first = found
        .first()
        .map(|f| format!("{}:{}", crate::out::escape(&f.path), f.line))
        .unwrap_or_default();
    s.push_str(&format!(
        "\nways out: move the value to an environment variable the job reads and list its name in the job's \"pass_env\"; or delete it; or, if it is not a secret, allow it with --allow-secret {first} or \"sync\": {{\"allow_secrets\": [\"{first}\"]}} in {} (paths and globs, optionally :LINE); \"sync\": {{\"secret_scan\": \"warn\"}} ships with a warning instead",
        job_file.unwrap_or("job.json")
    ));
    s
}

/// One warning line per finding, for `warn` mode and allowed findings.
pub fn warnings(rec: &ScanRecord) -> Vec<String> {
    rec.findings
        .iter()
        .map(|f| {
            format!(
                "{} secret {}:{}:{}: {} ({})",
                if f.allowed { "allowed" } else { "shipping a" },
                crate::out::escape(&f.path),
                f.line,
                f.column,
                f.rule,
                crate::out::escape(&f.preview)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
