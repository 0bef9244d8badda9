//! Finding secrets in one file's bytes: the compiled rules, one `RegexSet` pass, then the
//! checks (entropy, placeholders) and the masked previews.

use super::rules;
use std::sync::OnceLock;

/// The compiled rules: the needles every match holds one of, the set for the one pass,
/// each rule alone for locating.
pub(super) struct Compiled {
    needles: Needles,
    longest: usize,
    pub(super) set: regex::bytes::RegexSet,
    pub(super) each: Vec<regex::bytes::Regex>,
}

/// The needles' search: SIMD (Teddy) where the CPU has it, else an Aho-Corasick automaton.
enum Needles {
    Packed(aho_corasick::packed::Searcher),
    Automaton(aho_corasick::AhoCorasick),
}

impl Compiled {
    /// Whether `data`, lower-cased, holds a needle: a fast necessary condition for any
    /// match (most source files hold none), lower-casing a chunk at a time on the stack.
    fn may_match(&self, data: &[u8]) -> bool {
        const CHUNK: usize = 16 << 10;
        let mut buf = [0u8; CHUNK];
        let mut start = 0;
        loop {
            let end = data.len().min(start + CHUNK);
            let lower = &mut buf[..end - start];
            for (l, b) in lower.iter_mut().zip(&data[start..end]) {
                *l = b.to_ascii_lowercase();
            }
            let found = match &self.needles {
                Needles::Packed(s) => s.find(&*lower).is_some(),
                Needles::Automaton(a) => a.is_match(&*lower),
            };
            if found {
                return true;
            }
            if end == data.len() {
                return false;
            }
            // Overlap by a needle's length less one: a needle across the seam is found.
            start = end - (self.longest - 1);
        }
    }
}

pub(super) fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let pats: Vec<&str> = rules::RULES.iter().map(|r| r.pattern).collect();
        let needles: Vec<&str> = rules::RULES.iter().flat_map(|r| r.needs).copied().collect();
        let packed = aho_corasick::packed::Config::new()
            .builder()
            .extend(&needles)
            .build();
        Compiled {
            needles: match packed {
                Some(p) => Needles::Packed(p),
                None => Needles::Automaton(
                    aho_corasick::AhoCorasick::new(&needles).expect("the needles build"),
                ),
            },
            longest: needles.iter().map(|n| n.len()).max().unwrap_or(1),
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
    if !c.may_match(data) {
        return Vec::new();
    }
    scan_matched(c, data)
}

/// [`scan_bytes`] past the needles.
pub(super) fn scan_matched(c: &Compiled, data: &[u8]) -> Vec<Hit> {
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
