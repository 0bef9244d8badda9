//! What never leaves this machine. Three lists, checked in this order on every path and every
//! one of its parent folders: version-control metadata (never shipped), secrets (never
//! shipped, matched case-insensitively, and no user pattern can bring them back), then the
//! caches plus the user's own gitignore-style patterns (where a later `!pattern` may re-include
//! a cache folder, exactly as in a `.gitignore`). rp-sync and the local docker build context
//! both use [`Excludes`], so the box and the image see the same files.

use crate::error::CliError;
use anyhow::Result;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use std::path::{Component, Path, PathBuf};

/// Secret-shaped names, gitignore syntax (a pattern without `/` matches at any depth, a file
/// or a folder of that name). Matched case-insensitively (`.ENV`, `KEY.PEM`), and also on
/// the name without a backup suffix ([`BACKUP_SUFFIXES`]: `id_rsa~`, `.aws.bak/`) and without
/// surrounding whitespace or invisible characters (`.env `, `.env\u{200d}`); see
/// [`undisguised`].
///
/// Every `.env.*` variant counts (`.env.staging`, `.env.test`, `.env.prod.local`): people put
/// keys in whichever one they use. Only the templates in [`SECRET_TEMPLATES`] are shipped.
pub const SECRET_PATTERNS: &[&str] = &[
    ".env",
    ".env.*",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa",
    "id_rsa.*",
    "id_dsa",
    "id_dsa.*",
    "id_ecdsa",
    "id_ecdsa.*",
    "id_ecdsa_sk",
    "id_ecdsa_sk.*",
    "id_ed25519",
    "id_ed25519.*",
    "id_ed25519_sk",
    "id_ed25519_sk.*",
    "credentials.json",
    "application_default_credentials.json",
    "client_secret*.json",
    "kaggle.json",
    ".aws",
    ".ssh",
    ".gnupg",
    ".kube",
    ".huggingface",
    "**/.config/gcloud",
    "**/.docker/config.json",
    "**/.streamlit/secrets.toml",
    ".modal.toml",
    ".netrc",
    "_netrc",
    ".git-credentials",
    ".pypirc",
    ".npmrc",
    ".pgpass",
];

/// Templates of `.env` that hold no values by convention and are shipped.
pub const SECRET_TEMPLATES: &[&str] =
    &[".env.example", ".env.sample", ".env.template", ".env.dist"];

/// Caches and local build outputs, gitignore syntax. A `sync.exclude` entry such as
/// `!target/` re-includes one (a Python package that happens to be called `target`).
/// `/out/` is the job's default outputs folder on this machine.
pub const CACHE_PATTERNS: &[&str] = &[
    "__pycache__/",
    "*.pyc",
    "*.pyo",
    ".venv/",
    "venv/",
    "node_modules/",
    "target/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".ipynb_checkpoints/",
    ".tox/",
    ".DS_Store",
    "/out/",
];

/// Version-control metadata, and rp-sync's own manifest on the box: never shipped, whatever
/// the patterns say.
pub const VCS_PATTERNS: &[&str] = &[".git", ".hg", ".svn", ".jj", "/.rp-sync-manifest*"];

/// Why a path is not shipped, or that it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Shipped.
    Ship,
    /// Matches a secret pattern; never shipped.
    Secret,
    /// Version-control metadata, a cache, or a user pattern.
    Excluded,
}

/// The compiled exclude lists. Build once with [`Excludes::new`], then ask [`Excludes::check`].
#[derive(Debug, Clone)]
pub struct Excludes {
    vcs: Gitignore,
    secrets: Gitignore,
    others: Gitignore,
}

/// The matchers never see absolute paths; this root only keeps `ignore` from stripping a
/// prefix off the relative paths we pass.
const MATCH_ROOT: &str = "/";

fn build(lines: &[&str], except: &[&str], case_insensitive: bool) -> Result<Gitignore> {
    let mut b = GitignoreBuilder::new(MATCH_ROOT);
    b.case_insensitive(case_insensitive)?;
    for l in lines {
        b.add_line(None, l)?;
    }
    for l in except {
        b.add_line(None, &format!("!{l}"))?;
    }
    Ok(b.build()?)
}

impl Excludes {
    /// The built-in lists plus `extra` (gitignore-style lines, e.g. the job's `sync.exclude`
    /// and `--exclude` flags). A pattern that does not compile is a usage error naming it.
    pub fn new(extra: &[String]) -> Result<Excludes> {
        let mut others = GitignoreBuilder::new(MATCH_ROOT);
        for l in CACHE_PATTERNS {
            others.add_line(None, l)?;
        }
        for l in extra {
            if l.trim().is_empty() {
                return Err(CliError::usage(format!(
                    "exclude pattern: found {l:?}, expected a gitignore-style pattern"
                )));
            }
            others.add_line(None, l).map_err(|e| {
                CliError::usage(format!(
                    "exclude pattern: found {l:?}, expected a gitignore-style pattern ({e})"
                ))
            })?;
        }
        Ok(Excludes {
            vcs: build(VCS_PATTERNS, &[], false)?,
            secrets: build(SECRET_PATTERNS, SECRET_TEMPLATES, true)?,
            others: others.build()?,
        })
    }

    /// The verdict for `rel` (relative to the shipped folder, `/`-separated components),
    /// looking at the path itself only; its parents are assumed to have passed already (as in
    /// a walk that does not descend into excluded folders).
    pub fn check_one(&self, rel: &Path, is_dir: bool) -> Verdict {
        if self.vcs.matched(rel, is_dir).is_ignore() {
            return Verdict::Excluded;
        }
        if self.secrets.matched(rel, is_dir).is_ignore() || self.disguised_secret(rel, is_dir) {
            return Verdict::Secret;
        }
        match self.others.matched(rel, is_dir) {
            Match::Ignore(_) => Verdict::Excluded,
            Match::None | Match::Whitelist(_) => Verdict::Ship,
        }
    }

    /// Whether `rel`'s own name is a secret's under a disguise: an editor or backup copy
    /// (`id_rsa~`, `server.pem.bak`, `.aws.bak/`, `.env.swp`), or the name padded with
    /// whitespace or invisible characters (`.env `, `.env\u{200d}`, `.\u{200b}env`). Each
    /// [`undisguised`] form of the name is matched against the secret patterns in `rel`'s
    /// folder, and in that folder's undisguised form; the common case (plain names) costs
    /// one scan of each name and no allocation.
    fn disguised_secret(&self, rel: &Path, is_dir: bool) -> bool {
        let Some(name) = rel.file_name() else {
            return false;
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        let hit = |p: PathBuf| self.secrets.matched(p, is_dir).is_ignore();
        let names = undisguised(&name.to_string_lossy());
        if names.iter().any(|n| hit(parent.join(n))) {
            return true;
        }
        // Patterns of more than one name (`**/.docker/config.json`): the folders above may
        // be disguised too (`.docker.bak/config.json`).
        let mut plain: Option<PathBuf> = None;
        for (i, c) in parent.components().enumerate() {
            let u = undisguised(&c.as_os_str().to_string_lossy()).pop();
            if plain.is_none() && u.is_some() {
                plain = Some(parent.components().take(i).collect());
            }
            if let Some(p) = plain.as_mut() {
                match u {
                    Some(u) => p.push(u),
                    None => p.push(c),
                }
            }
        }
        plain.is_some_and(|plain| {
            std::iter::once(name.to_string_lossy().into_owned())
                .chain(names)
                .any(|n| hit(plain.join(n)))
        })
    }

    /// The verdict for `rel` and every parent folder of it, outermost first: the first
    /// folder that is not shipped decides (as git does, nothing inside an excluded folder can
    /// be re-included). A path that is absolute or has `..` components is [`Verdict::Excluded`].
    pub fn check(&self, rel: &Path, is_dir: bool) -> Verdict {
        self.check_with_prefix(rel, is_dir).0
    }

    /// Like [`Excludes::check`], also returning the path (or parent) that decided.
    pub fn check_with_prefix<'a>(&self, rel: &'a Path, is_dir: bool) -> (Verdict, &'a Path) {
        if !is_plain_relative(rel) {
            return (Verdict::Excluded, rel);
        }
        let mut ancestors: Vec<&Path> = rel.ancestors().collect();
        // ancestors() ends with "" and starts with rel itself; walk outermost first.
        ancestors.pop();
        ancestors.reverse();
        let last = ancestors.len().saturating_sub(1);
        for (i, p) in ancestors.iter().enumerate() {
            let v = self.check_one(p, i < last || is_dir);
            if v != Verdict::Ship {
                return (v, p);
            }
        }
        (Verdict::Ship, rel)
    }
}

/// Suffixes editors and people add to a copy of a file: `id_rsa~`, `server.pem.bak`,
/// `.env.swp`, `credentials.json.1`. Matched case-insensitively.
pub const BACKUP_SUFFIXES: &[&str] = &[
    "~", ".bak", ".orig", ".old", ".swp", ".swo", ".save", ".tmp", ".1",
];

/// Characters that show as nothing: zero-width spaces and joiners, bidi marks, the BOM, the
/// soft hyphen. A name holding them looks like another name.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}'
        | '\u{17b5}' | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fe00}'..='\u{fe0f}')
}

/// The other names `name` may stand for, besides itself: invisible characters removed and
/// whitespace trimmed, then (repeatedly) a backup suffix or an emacs `#..#` wrapper
/// stripped; after a vim swap suffix also without vim's leading dot (`.id_rsa.swp`).
/// Empty for a plain name, which is nearly every name.
pub fn undisguised(name: &str) -> Vec<String> {
    let plain = |c: char| !(c.is_whitespace() || invisible(c) || c == '~' || c == '#');
    let ends_plain =
        name.chars().next().is_some_and(plain) && name.chars().last().is_some_and(plain);
    let backup = BACKUP_SUFFIXES.iter().any(|suf| {
        let at = name.len().wrapping_sub(suf.len());
        name.len() > suf.len() && name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(suf)
    });
    // The common case, a plain name: no allocation.
    if ends_plain && !backup && !name.chars().any(invisible) {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    let mut cur: String = name.chars().filter(|&c| !invisible(c)).collect();
    cur = cur.trim().to_string();
    for _ in 0..4 {
        if cur != name && !cur.is_empty() && !out.contains(&cur) {
            out.push(cur.clone());
        }
        let has = |suf: &str| {
            let at = cur.len().wrapping_sub(suf.len());
            cur.len() > suf.len() && cur.is_char_boundary(at) && cur[at..].eq_ignore_ascii_case(suf)
        };
        let next = if cur.len() > 2 && cur.starts_with('#') && cur.ends_with('#') {
            cur[1..cur.len() - 1].to_string()
        } else if let Some(suf) = BACKUP_SUFFIXES.iter().find(|s| has(s)) {
            let stripped = cur[..cur.len() - suf.len()].trim().to_string();
            if matches!(*suf, ".swp" | ".swo") {
                if let Some(undotted) = stripped.strip_prefix('.').filter(|u| !u.is_empty()) {
                    if !out.iter().any(|o| o == undotted) {
                        out.push(undotted.to_string());
                    }
                }
            }
            stripped
        } else {
            break;
        };
        cur = next;
    }
    if !cur.is_empty() && cur != name && !out.contains(&cur) {
        out.push(cur);
    }
    out
}

/// Whether `p` is non-empty, relative, and made only of plain names (no `.`, `..`, root).
pub fn is_plain_relative(p: &Path) -> bool {
    p.components().next().is_some() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &Excludes, p: &str) -> Verdict {
        x.check(Path::new(p), false)
    }

    #[test]
    fn secrets_at_any_depth() {
        let x = Excludes::new(&[]).unwrap();
        for p in [
            ".env",
            "a/.env",
            "a/b/c/.env.local",
            "x/.env.prod.local",
            "sub/.env.production",
            ".env.development",
            "deep/er/.env.staging",
            "a/.ENV",
            ".envrc",
            "keys/server.pem",
            "keys/SERVER.PEM",
            "tls/site.key",
            "cert/bundle.p12",
            "deep/id_rsa",
            "deep/id_rsa.pub",
            "x/y/id_ed25519",
            "id_ed25519.bak",
            "id_ecdsa",
            ".aws/credentials",
            "nested/.ssh/config",
            "nested/.ssh",
            ".netrc",
            "a/.git-credentials",
            "credentials.json",
            "cfg/credentials.json",
            "client_secret_123.apps.googleusercontent.com.json",
            "kaggle.json",
            ".pypirc",
            "web/.npmrc",
            "home/.docker/config.json",
            ".docker/config.json",
            ".kube/config",
            "app/.streamlit/secrets.toml",
            ".modal.toml",
            ".config/gcloud/credentials.db",
        ] {
            assert_eq!(v(&x, p), Verdict::Secret, "{p}");
        }
    }

    #[test]
    fn backup_copies_and_padded_names_of_secrets_are_secrets() {
        let x = Excludes::new(&[]).unwrap();
        for p in [
            "id_rsa~",
            "k/id_rsa~",
            "keys/server.pem.bak",
            "credentials.json.bak",
            "cfg/credentials.json.BAK",
            ".netrc.bak",
            "a/.git-credentials.bak",
            ".aws.bak/credentials",
            "x/.ssh.old/id_ed25519",
            ".env.swp",
            ".env.orig",
            "a/.env ",
            " .env",
            ".env\u{200d}",
            ".\u{200b}env",
            "a/b/.\u{feff}env",
            "kaggle.json.save",
            ".pypirc.tmp",
            "id_ed25519.1",
            "credentials.json.bak.1",
            "credentials.json~",
            ".id_rsa.swp",
            "#.netrc#",
            ".netrc\u{00a0}",
            "deploy.key.old",
            "home/.docker.bak/config.json",
            ".config~/gcloud/credentials.db",
            "app/.streamlit.old/secrets.toml",
        ] {
            assert_eq!(v(&x, p), Verdict::Secret, "{p:?}");
        }
        assert_eq!(
            x.check_with_prefix(Path::new("p/.aws.bak/credentials"), false),
            (Verdict::Secret, Path::new("p/.aws.bak"))
        );
    }

    #[test]
    fn undisguised_names() {
        assert!(undisguised("train.py").is_empty());
        assert!(undisguised("README").is_empty());
        assert_eq!(undisguised("id_rsa~"), ["id_rsa"]);
        assert_eq!(undisguised("a.pem.bak.1"), ["a.pem.bak", "a.pem"]);
        assert_eq!(undisguised(".env\u{200d}"), [".env"]);
        // A suffix alone is a name, not a disguise; Kelvin-sign case folding cannot split a char.
        assert!(undisguised(".bak").is_empty());
        assert_eq!(undisguised("x.ba\u{212a}"), Vec::<String>::new());
    }

    #[test]
    fn ordinary_files_and_templates_ship() {
        let x = Excludes::new(&[]).unwrap();
        for p in [
            "train.py",
            "a/b/c.txt",
            ".env.example",
            "cfg/.env.sample",
            ".env.template",
            "environment.yml",
            "src/env.py",
            ".docker/daemon.json",
            "config.json",
            "keys/README.md",
            "key.txt",
            "id_rsa_notes.md",
            ".gitignore",
            "docs/out/index.html",
            "my.keys",
            "notes.bak",
            "env.py",
            "env.py~",
            "src/env.py.orig",
            "data.tmp",
            "backup~",
            "train.py.1",
            "aws.bak/x",
            "a/.envy.swp",
        ] {
            assert_eq!(v(&x, p), Verdict::Ship, "{p}");
        }
    }

    #[test]
    fn vcs_and_caches_are_excluded() {
        let x = Excludes::new(&[]).unwrap();
        for p in [
            ".git/config",
            "sub/.git",
            ".rp-sync-manifest",
            "a/__pycache__/m.cpython-311.pyc",
            "m.pyc",
            ".venv/bin/python",
            "venv/lib/x.py",
            "web/node_modules/left-pad/index.js",
            "target/debug/x",
            ".pytest_cache/v",
            ".mypy_cache/x",
            ".ruff_cache/x",
            "nb/.ipynb_checkpoints/a.ipynb",
            ".tox/py311/x",
            "a/.DS_Store",
            "out/result.txt",
        ] {
            assert_eq!(v(&x, p), Verdict::Excluded, "{p}");
        }
        // Only the top-level out/ is the outputs folder; a folder file named venv ships.
        assert_eq!(v(&x, "docs/out/x"), Verdict::Ship);
        assert_eq!(x.check(Path::new("venv"), false), Verdict::Ship);
        assert_eq!(x.check(Path::new("venv"), true), Verdict::Excluded);
    }

    #[test]
    fn user_patterns_add_and_re_include_but_never_secrets() {
        let extra: Vec<String> = [
            "data/",
            "*.ckpt",
            "/notes.md",
            "!target/",
            "!.env",
            "!*.pem",
            "!.aws/",
            "!.git",
            "!keys/server.pem",
        ]
        .map(String::from)
        .to_vec();
        let x = Excludes::new(&extra).unwrap();
        assert_eq!(v(&x, "data/big.csv"), Verdict::Excluded);
        assert_eq!(v(&x, "a/data/big.csv"), Verdict::Excluded);
        assert_eq!(v(&x, "model.ckpt"), Verdict::Excluded);
        assert_eq!(v(&x, "notes.md"), Verdict::Excluded);
        assert_eq!(v(&x, "sub/notes.md"), Verdict::Ship);
        assert_eq!(v(&x, "target/pkg.py"), Verdict::Ship);
        for p in [".env", "a/.env", "keys/server.pem", ".aws/credentials"] {
            assert_eq!(v(&x, p), Verdict::Secret, "{p}");
        }
        assert_eq!(v(&x, ".git/HEAD"), Verdict::Excluded);
    }

    #[test]
    fn a_secret_folder_decides_for_everything_inside() {
        let x = Excludes::new(&["!.ssh/known_hosts".to_string()]).unwrap();
        let (verdict, by) = x.check_with_prefix(Path::new("a/.ssh/known_hosts"), false);
        assert_eq!(verdict, Verdict::Secret);
        assert_eq!(by, Path::new("a/.ssh"));
        // Inside an excluded cache folder, a secret is just part of the cache.
        assert_eq!(v(&x, "node_modules/.env"), Verdict::Excluded);
    }

    #[test]
    fn odd_paths_are_refused_and_bad_patterns_are_usage_errors() {
        let x = Excludes::new(&[]).unwrap();
        for p in ["", "/etc/passwd", "../x", "a/../b", "./a"] {
            assert_eq!(v(&x, p), Verdict::Excluded, "{p:?}");
        }
        let e = Excludes::new(&["a[z-a]".to_string()]).unwrap_err();
        assert_eq!(
            crate::error::exit_of(&e, runplz_protocol::Exit::Failed).code(),
            2
        );
        assert!(format!("{e:#}").contains("found \"a[z-a]\""), "{e:#}");
        assert!(Excludes::new(&["  ".to_string()]).is_err());
    }
}
