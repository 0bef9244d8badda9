use super::*;
use crate::sync::stage::stage;
use std::io::Write;
use std::process::{Command, Stdio};

/// Every file and symlink below `dir`, relative, sorted; and every folder.
fn listing(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    fn walk(root: &Path, d: &Path, files: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(root.join(d)).unwrap() {
            let e = e.unwrap();
            let rel = d.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                dirs.push(rel.clone());
                walk(root, &rel, files, dirs);
            } else {
                files.push(rel);
            }
        }
    }
    walk(dir, Path::new(""), &mut files, &mut dirs);
    files.sort();
    dirs.sort();
    (files, dirs)
}

/// rsync `src` into `dest` here, walking with `rules` as rp-sync does over ssh.
fn rsync_with(rules: &[u8], src: &Path, dest: &Path) {
    let mut c = Command::new("rsync")
        .args([
            "--recursive",
            "--links",
            "--times",
            "--from0",
            "--exclude-from=-",
        ])
        .arg(format!("{}/", src.display()))
        .arg(format!("{}/", dest.display()))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(rules).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn put(root: &Path, rel: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, rel).unwrap();
}

#[test]
fn rsync_walking_with_the_rules_ships_exactly_the_staged_files() {
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    let hostile = [
        "a[1].txt",
        "b*c?.txt",
        "back\\slash",
        "back\\slash[x]",
        "- minus",
        "+ plus",
        "!bang",
        "#hash",
        ";semi",
        "new\nline",
        " lead",
        "trail ",
        "d[x]/in.txt",
        "d[x]/sub*/deep?.py",
    ];
    for f in hostile {
        put(s, f);
    }
    // Ignored (`*2`) hostile names with no dot and no twin, so none folds: each is its own
    // anchored rule and must stay behind, alone.
    let ignored = [
        "x[1]2",
        "y*z?2",
        "back\\slash2",
        "- m2",
        "+ p2",
        "!b2",
        "new\nline2",
        " lead2",
        "trail 2",
        "d[x]/in2",
        "d[x]/sub*/q?2",
    ];
    for f in ignored {
        put(s, f);
    }
    // Folded by name (node_modules, never a shipped name), by suffix (.pyc), a folder of
    // only ignored files (never created on the box), a secret, a template, the VCS folder.
    for f in [
        "node_modules/x/i.js",
        "pkg/node_modules/y.js",
        "pkg/m.py",
        "pkg/m.cpython.pyc",
        "n.pyc",
        "logs/a.log",
        "logs/b.log",
        ".env",
        "conf/.env.example",
        ".git/HEAD",
        "keep.pyc.txt",
    ] {
        put(s, f);
    }
    std::fs::write(s.join(".gitignore"), "*.log\n*2\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", s.join("link")).unwrap();
    let staged = stage(s, &[]).unwrap();
    let want: Vec<PathBuf> = staged.files.iter().map(|f| f.path.clone()).collect();
    for must in [
        "a[1].txt",
        "new\nline",
        " lead",
        "trail ",
        "conf/.env.example",
        "link",
        "keep.pyc.txt",
    ] {
        assert!(
            want.contains(&PathBuf::from(must)),
            "{must:?} not staged: {want:?}"
        );
    }
    let rules = rules(&staged).expect("a handful of rules");
    let text = String::from_utf8_lossy(&rules).replace('\0', "\n");
    assert!(text.contains("- node_modules\n"), "{text}");
    // logs/ holds nothing shipped: one rule for the folder, never walked.
    assert!(text.contains("- /logs/\n"), "{text}");
    assert!(text.contains("- *.pyc\n"), "{text}");
    for anchored in [
        "- /x\\[1]2\n",
        "- /y\\*z\\?2\n",
        "- /back\\slash2\n",
        "- /- m2\n",
        "- /new\nline2\n",
        "- /d\\[x]/sub\\*/q\\?2\n",
    ] {
        assert!(text.contains(anchored), "no {anchored:?} in {text}");
    }
    let dest = tempfile::tempdir().unwrap();
    rsync_with(&rules, s, dest.path());
    let (got, dirs) = listing(dest.path());
    assert_eq!(got, want);
    // No folder without a shipped file in it.
    for d in dirs {
        assert!(
            want.iter().any(|f| f.starts_with(&d)),
            "empty folder {d:?} shipped"
        );
    }
}

#[test]
fn a_secret_made_after_staging_is_still_held_back() {
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    put(s, "train.py");
    put(s, "sub/data.csv");
    let staged = stage(s, &[]).unwrap();
    let rules = rules(&staged).unwrap();
    for late in [
        "sub/.ENV",
        "id_rsa",
        "sub/server.pem",
        ".config/gcloud/creds",
        "new.txt",
    ] {
        put(s, late);
    }
    let dest = tempfile::tempdir().unwrap();
    rsync_with(&rules, s, dest.path());
    let (got, _) = listing(dest.path());
    // A new plain file is judged by rsync's walk (shipped); the secrets are not.
    assert_eq!(
        got,
        ["new.txt", "sub/data.csv", "train.py"].map(PathBuf::from)
    );
}

#[test]
fn too_many_rules_fall_back_to_the_list() {
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    // Each ignored file has its own name and suffix: nothing folds.
    let mut ignore = String::new();
    for i in 0..=MAX_RULES {
        put(s, &format!("f{i}.x{i}"));
        ignore.push_str(&format!("f{i}.x{i}\n"));
    }
    put(s, "ship.txt");
    std::fs::write(s.join(".gitignore"), ignore).unwrap();
    let staged = stage(s, &[]).unwrap();
    assert_eq!(staged.files.len(), 2);
    assert_eq!(rules(&staged), None);
}

#[test]
fn escapes() {
    assert_eq!(escape(b"plain\\name"), b"plain\\name");
    assert_eq!(escape(b"a[1]*"), b"a\\[1]\\*");
    assert_eq!(escape(b"q?\\"), b"q\\?\\\\");
    assert_eq!(secret_rule("*.pem"), "*.[pP][eE][mM]");
    assert_eq!(
        secret_rule("**/.config/gcloud"),
        ".[cC][oO][nN][fF][iI][gG]/[gG][cC][lL][oO][uU][dD]"
    );
}
