//! The venv of a native run: the one `python3 -m venv` makes (pip, and setuptools before
//! Python 3.12, with their scripts), made without ensurepip's compile step; `python3 -m
//! venv` itself where that way fails; made again when its making was cut short.
use crate::support::{run_expect, shm_tempdir, SshBox, TestEnv};
use std::path::Path;

/// What the job says of its venv, in `$RUNPLZ_OUT/venv.txt`: `pip --version`, and where
/// `setuptools` (none from Python 3.12 on) and `pip` import from; setuptools first, as
/// Debian's distutils breaks the other order in any venv. No `python -c`: one test breaks
/// exactly that.
const REPORT: &str = "pip --version > \"$RUNPLZ_OUT/venv.txt\"\nprintf 'try:\\n    import setuptools\\n    print(setuptools.__file__)\\nexcept ImportError:\\n    print(\"no setuptools\")\\nimport pip\\nprint(pip.__file__)\\n' > \"$RUNPLZ_OUT/q.py\"\npython \"$RUNPLZ_OUT/q.py\" >> \"$RUNPLZ_OUT/venv.txt\"\nrm \"$RUNPLZ_OUT/q.py\"\n";

/// A venv's files, for comparing two: relative paths (no bytecode), each script in `bin`
/// with its own folder's name replaced, and `pyvenv.cfg` without its `command` line (the
/// command that made it, returned apart).
const LISTING: &str = r#"cd "$1" && find . -name __pycache__ -prune -o ! -name '*.pyc' -print | LC_ALL=C sort
for f in bin/pip bin/pip3; do sed "s|$1|VENV|g" "$f"; done
grep -v '^command' pyvenv.cfg
echo ---
grep '^command' pyvenv.cfg"#;

fn listing(script_out: &str) -> (String, String) {
    let (files, command) = script_out.split_once("---\n").expect("listing");
    (files.to_string(), command.trim().to_string())
}

/// Runs `LISTING` here on `dir`.
fn local_listing(dir: &Path) -> (String, String) {
    let out = std::process::Command::new("sh")
        .args(["-c", LISTING, "sh"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    listing(&String::from_utf8(out.stdout).unwrap())
}

fn job(dir: &Path, name: &str, backend: serde_json::Value) {
    let mut j = serde_json::json!({
        "name": name,
        "image": {"from_registry": "debian:bookworm"},
        "run": REPORT,
    });
    j.as_object_mut()
        .unwrap()
        .extend(backend.as_object().unwrap().clone());
    std::fs::write(dir.join("job.json"), j.to_string()).unwrap();
}

/// A world and a folder with a native `runplz local` job of this name.
fn local_job(name: &str) -> (TestEnv, tempfile::TempDir) {
    let d = shm_tempdir();
    job(
        d.path(),
        name,
        serde_json::json!({"local": {"use_docker": false}}),
    );
    (TestEnv::new(), d)
}

/// The one venv `runplz local` made in this world.
fn the_venv(env: &TestEnv) -> std::path::PathBuf {
    std::fs::read_dir(env.venvs_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("a venv")
}

/// The job's report: pip runs from the venv, and pip and setuptools (where there is one)
/// import from it.
fn assert_report(out_dir: &Path, venv: &str) {
    let r = std::fs::read_to_string(out_dir.join("venv.txt")).unwrap();
    let lines: Vec<&str> = r.lines().collect();
    assert_eq!(lines.len(), 3, "{r}");
    assert!(
        lines[0].starts_with("pip ") && lines[0].contains(&format!("from {venv}/lib/")),
        "{r}"
    );
    assert!(
        lines[1].starts_with(&format!("{venv}/lib/")) || lines[1] == "no setuptools",
        "{r}"
    );
    assert!(lines[2].starts_with(&format!("{venv}/lib/")), "{r}");
}

/// `runplz local` (this machine's `python3`, here pyenv's CPython with its wheels in
/// ensurepip's `_bundled`): the same files as `python3 -m venv` makes, made the fast way
/// (its `pyvenv.cfg` says `--without-pip`); then, cut short (the marker left, pip gone; or
/// no marker and no `bin/pip*`), made again rather than used without pip.
#[test]
fn a_local_native_venv_is_the_one_python3_m_venv_makes_and_a_cut_short_one_is_remade() {
    let (env, d) = local_job("venv-local");
    let run = || {
        let mut c = env.cmd("runplz");
        c.current_dir(d.path()).args(["local", "job.json"]);
        run_expect(&mut c, 0);
    };
    run();
    let venv = the_venv(&env);
    assert_report(&d.path().join("out"), &venv.display().to_string());
    let (ours, command) = local_listing(&venv);
    assert!(command.contains(" -m venv --without-pip "), "{command}");
    assert!(!Path::new(&format!("{}.making", venv.display())).exists());

    let refd = shm_tempdir();
    let reference = refd.path().join("ref");
    let made = env
        .program("python3")
        .current_dir(d.path())
        .args(["-m", "venv"])
        .arg(&reference)
        .status()
        .unwrap();
    assert!(made.success());
    let (theirs, _) = local_listing(&reference);
    assert_eq!(ours.replace(&venv.display().to_string(), "VENV"), theirs);
    assert!(ours.contains("./bin/pip3\n"), "{ours}");

    // Cut short: the marker is still there and pip is not yet in.
    let site = std::fs::read_dir(venv.join("lib"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::remove_dir_all(site.join("pip")).unwrap();
    std::fs::write(format!("{}.making", venv.display()), "").unwrap();
    std::fs::remove_dir_all(d.path().join("out")).unwrap();
    run();
    assert_report(&d.path().join("out"), &venv.display().to_string());
    assert!(site.join("pip").is_dir());
    assert!(!Path::new(&format!("{}.making", venv.display())).exists());

    // Cut short by an older runplz, which left no marker: no `bin/pip*` says so (pip
    // writes them last).
    std::fs::remove_dir_all(site.join("pip")).unwrap();
    for e in std::fs::read_dir(venv.join("bin")).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("pip") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    std::fs::remove_dir_all(d.path().join("out")).unwrap();
    run();
    assert_report(&d.path().join("out"), &venv.display().to_string());
    assert!(site.join("pip").is_dir() && venv.join("bin/pip").is_file());
}

/// Where the fast way fails (here every `python -c` exits 7, through a `sitecustomize` on
/// PYTHONPATH), `python3 -m venv` makes the venv, and the run goes on with nothing shown.
#[test]
fn where_the_fast_way_fails_python3_m_venv_makes_the_venv() {
    let (env, d) = local_job("venv-fallback");
    let site = shm_tempdir();
    std::fs::write(
        site.path().join("sitecustomize.py"),
        "import sys\nif sys.argv == ['-c']:\n    sys.exit(7)\n",
    )
    .unwrap();
    let mut c = env.cmd("runplz");
    c.current_dir(d.path())
        .args(["local", "job.json"])
        .env("PYTHONPATH", site.path());
    run_expect(&mut c, 0);
    let venv = the_venv(&env);
    assert_report(&d.path().join("out"), &venv.display().to_string());
    let (_, command) = local_listing(&venv);
    assert!(
        command.ends_with(&format!(" -m venv {}", venv.display())),
        "{command}"
    );
}

/// On a box (Debian's python3, its wheels in /usr/share/python-wheels): the venv is the one
/// `python3 -m venv` makes there, made the fast way.
#[test]
fn a_venv_on_a_box_is_the_one_python3_m_venv_makes_there() {
    let b = SshBox::start();
    let env = TestEnv::new();
    let d = shm_tempdir();
    job(
        d.path(),
        "venv-box",
        serde_json::json!({"ssh": {"use_docker": false}}),
    );
    let mut c = env.cmd("runplz");
    c.current_dir(d.path())
        .args(["ssh", "job.json"])
        .args(b.tool_args());
    run_expect(&mut c, 0);
    let home = b.ssh("printf %s \"$HOME\"");
    let venv = format!("{home}/.runplz/venvs/venv-box");
    assert_report(&d.path().join("out"), &venv);
    let remote =
        |dir: &str| listing(&b.ssh(&format!("set -e\nrp_l() {{\n{LISTING}\n}}\nrp_l {dir}")));
    let (ours, command) = remote("\"$HOME/.runplz/venvs/venv-box\"");
    assert!(command.contains(" -m venv --without-pip "), "{command}");
    b.ssh("python3 -m venv \"$HOME/ref\"");
    let (theirs, _) = remote("\"$HOME/ref\"");
    assert_eq!(ours, theirs);
    assert!(ours.contains("./bin/pip3\n"), "{ours}");
}
