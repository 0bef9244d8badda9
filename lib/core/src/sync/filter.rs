//! The staged list as rsync filter rules, so rsync can walk the tree itself (`-r`, with
//! incremental recursion) and still ship exactly what [`stage`](super::stage) decided.
//! rsync given a `--files-from` list builds and sends the whole list before it compares a
//! single file, which costs ~60 µs a file; walking with a few rules costs next to nothing.
//!
//! The rules exclude the complement of the staged list: every entry of the tree that is
//! neither shipped nor a folder above something shipped, taken outermost (a folder with
//! nothing shipped in it is one rule, never walked). Groups are folded into one unanchored
//! rule where that is exact: a name (`- node_modules`) or a suffix (`- *.pyc`) that no
//! shipped path has as, or at the end of, any of its components. Last come the secret
//! patterns, so a secret created between our walk and rsync's is still held back.
//!
//! rsync matches every path against every rule, so a tree whose complement folds into too
//! many rules ([`MAX_RULES`]) gets `None` and is sent as a list instead (see `sync::rsync`).
//!
//! Rules travel NUL-terminated (`--from0`), so a name with a newline is one rule; a name with
//! wildcard characters has all of them escaped (rsync reads a backslash as an escape only in
//! a pattern with a wildcard); each rule starts with `- /` or `+ /`, so a name's own leading
//! `-`, `+` or `!` is never a prefix.

use super::excludes::SECRET_PATTERNS;
use super::stage::Staged;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Past this many rules rsync's matching (every path against every rule) costs more than
/// sending the list: measured on 100k files, 1,000 rules add ~0.5 s, 10,000 add ~13 s.
pub const MAX_RULES: usize = 3000;

/// The rules for `--exclude-from=- --from0`, or `None` when the tree needs more than
/// [`MAX_RULES`] or could not be read (then send the list).
pub fn rules(staged: &Staged) -> Option<Vec<u8>> {
    let shipped: HashSet<&Path> = staged.files.iter().map(|f| f.path.as_path()).collect();
    let mut above: HashSet<&Path> = HashSet::new();
    for f in &staged.files {
        let mut p = f.path.parent();
        while let Some(d) = p.filter(|d| !d.as_os_str().is_empty()) {
            if !above.insert(d) {
                break;
            }
            p = d.parent();
        }
    }
    let mut rest = Vec::new();
    complement(&staged.root, Path::new(""), &shipped, &above, &mut rest)?;

    let mut by_name: BTreeMap<&[u8], usize> = BTreeMap::new();
    let mut by_suffix: BTreeMap<&[u8], usize> = BTreeMap::new();
    for (p, _) in &rest {
        let n = name(p);
        *by_name.entry(n).or_default() += 1;
        if let Some(s) = last_suffix(n) {
            *by_suffix.entry(s).or_default() += 1;
        }
    }
    // Names and suffixes that could fold (more than one entry has them).
    // A name starting with whitespace stays anchored: rsync may trim a pattern's start.
    let mut folded_names: HashSet<&[u8]> = by_name
        .iter()
        .filter(|(n, &c)| c > 1 && !n.first().is_some_and(u8::is_ascii_whitespace))
        .map(|(n, _)| *n)
        .collect();
    let mut folded_suffixes: HashSet<&[u8]> = by_suffix
        .iter()
        .filter(|(s, &c)| c > 1 && !s.is_empty())
        .map(|(s, _)| *s)
        .collect();
    // Minus those that a component of a shipped path has as its name or after any dot
    // (looked at only when something could fold: most trees ship all they hold).
    if !folded_names.is_empty() || !folded_suffixes.is_empty() {
        let mut seen: HashSet<&[u8]> = HashSet::new();
        for f in &staged.files {
            for c in f.path.iter() {
                let b = c.as_bytes();
                if seen.insert(b) {
                    folded_names.remove(b);
                    for (i, _) in b.iter().enumerate().filter(|(_, &ch)| ch == b'.') {
                        folded_suffixes.remove(&b[i + 1..]);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut count = 0;
    let mut push = |out: &mut Vec<u8>, rule: &[u8]| {
        out.extend_from_slice(rule);
        out.push(0);
        count += 1;
    };
    for n in &folded_names {
        push(&mut out, &[b"- ", &escape(n)[..]].concat());
    }
    for s in &folded_suffixes {
        push(&mut out, &[b"- *.", &escape_always(s)[..]].concat());
    }
    for (p, is_dir) in &rest {
        let n = name(p);
        if folded_names.contains(n) || last_suffix(n).is_some_and(|s| folded_suffixes.contains(s)) {
            continue;
        }
        let mut rule = b"- /".to_vec();
        rule.extend_from_slice(&escape(p.as_os_str().as_bytes()));
        if *is_dir {
            rule.push(b'/');
        }
        push(&mut out, &rule);
    }
    // Shipped `.env.*` templates stay shipped past the secret rules below.
    for f in &staged.files {
        let n = name(&f.path).to_ascii_lowercase();
        if n.starts_with(b".env.") {
            let mut rule = b"+ /".to_vec();
            rule.extend_from_slice(&escape(f.path.as_os_str().as_bytes()));
            push(&mut out, &rule);
        }
    }
    for pat in SECRET_PATTERNS {
        push(&mut out, format!("- {}", secret_rule(pat)).as_bytes());
    }
    (count <= MAX_RULES).then_some(out)
}

/// The entries below `root/dir` that are neither shipped nor above something shipped,
/// outermost only, with whether each is a folder. `None` when a folder cannot be read.
fn complement(
    root: &Path,
    dir: &Path,
    shipped: &HashSet<&Path>,
    above: &HashSet<&Path>,
    out: &mut Vec<(PathBuf, bool)>,
) -> Option<()> {
    // One buffer for every entry's path: most are shipped and need no copy.
    let mut rel = dir.to_path_buf();
    for e in std::fs::read_dir(root.join(dir)).ok()? {
        let e = e.ok()?;
        rel.push(e.file_name());
        if !shipped.contains(rel.as_path()) {
            let is_dir = e.file_type().ok()?.is_dir();
            if is_dir && above.contains(rel.as_path()) {
                complement(root, &rel, shipped, above, out)?;
            } else {
                out.push((rel.clone(), is_dir));
            }
        }
        rel.pop();
    }
    Some(())
}

fn name(p: &Path) -> &[u8] {
    p.file_name().map_or(&[][..], OsStr::as_bytes)
}

/// What follows the last dot of a name (`pyc` in `a.pyc`), if any.
fn last_suffix(n: &[u8]) -> Option<&[u8]> {
    n.iter().rposition(|&b| b == b'.').map(|i| &n[i + 1..])
}

/// A literal for an rsync pattern: as it is when it has no wildcard character (rsync then
/// matches it literally, backslashes included), else with every `*?[\` escaped.
fn escape(s: &[u8]) -> Vec<u8> {
    if s.iter().any(|b| b"*?[".contains(b)) {
        escape_always(s)
    } else {
        s.to_vec()
    }
}

/// Every `*?[\` escaped: for a literal inside a pattern that has a wildcard of its own.
fn escape_always(s: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(s.len() + 2);
    for &b in s {
        if b"*?[\\".contains(&b) {
            o.push(b'\\');
        }
        o.push(b);
    }
    o
}

/// A secret pattern (gitignore syntax, matched case-insensitively) as an rsync pattern:
/// each letter as `[xX]`; `**/a/b` (any depth) is rsync's unanchored `a/b`.
fn secret_rule(pat: &str) -> String {
    let p = pat.strip_prefix("**/").unwrap_or(pat);
    let mut o = String::new();
    for c in p.chars() {
        if c.is_ascii_alphabetic() {
            o.push('[');
            o.push(c.to_ascii_lowercase());
            o.push(c.to_ascii_uppercase());
            o.push(']');
        } else {
            o.push(c);
        }
    }
    o
}

#[cfg(test)]
mod tests;
