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
use std::path::{Component, Path};

/// Secret-shaped names, gitignore syntax (a pattern without `/` matches at any depth, a file
/// or a folder of that name). Matched case-insensitively (`.ENV`, `KEY.PEM`).
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
        if self.secrets.matched(rel, is_dir).is_ignore() {
            return Verdict::Secret;
        }
        match self.others.matched(rel, is_dir) {
            Match::Ignore(_) => Verdict::Excluded,
            Match::None | Match::Whitelist(_) => Verdict::Ship,
        }
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
