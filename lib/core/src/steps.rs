//! The steps of a run as data: a list of typed steps (probe, sync, set-up commands, the
//! job, collect) with the mode a real enum. `runplz` executes the list through the library
//! (`execute.rs`) and `--plan` prints it as rp-* calls (`plan.rs`); building both from this
//! one list is what keeps the plan honest. A backend picks [`here`] or [`on_box`]; the
//! composer (`run/`) carries the list out.

use crate::image::CONTEXT_DOCKERFILE;
use crate::job::{Job, Mode, Run, Settings};
use crate::quote::sh;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// A validated job plus its rendered command and settings, ready for a backend.
#[derive(Debug)]
pub struct Prepared {
    /// The job.
    pub(crate) job: Job,
    /// Its command, placeholders filled.
    pub(crate) run: Run,
    /// Where outputs come back to here.
    pub(crate) outputs: PathBuf,
    /// The backend's settings for it, with the flags' overrides.
    pub(crate) settings: Settings,
    /// What the job gets from runplz's environment and flags (`pass_env`, `--env-file`,
    /// `--env`).
    pub(crate) passed: Passed,
    /// A sweep run as one Slurm job array: its members, each with its own command.
    pub(crate) array: Option<crate::slurm::array::Array>,
    /// The `--allow-secret` flags (the job's own list is in `job`), for the scan again at
    /// the sync.
    pub(crate) allow_secrets: Vec<String>,
}

/// Variables passed to the job from runplz's own environment (the job's `pass_env`, a bare
/// `--env NAME`), an `--env-file` or `--env NAME=VALUE`. Its `Debug` shows names only: the
/// values are secrets and must never reach a message, a log or a record.
#[derive(Clone, Default)]
pub(crate) struct Passed {
    /// Every name passed, sorted, once (what the run record's `env_passed` lists).
    pub names: Vec<String>,
    /// The values, in precedence order (a later pair replaces an earlier one of its name).
    /// Empty for `--plan`, whose script reads them itself when it runs.
    pub values: Vec<(String, String)>,
    /// For the plan: the job's `pass_env` names, read from the script's environment.
    pub from_env: Vec<String>,
    /// For the plan: the `--env-file`, absolute.
    pub file: Option<PathBuf>,
    /// For the plan: the bare `--env NAME` names, read from the script's environment last.
    pub flags: Vec<String>,
}

impl std::fmt::Debug for Passed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passed")
            .field("names", &self.names)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// The box folder every run's `$RUNPLZ_OUT` lives under (relative to the home), one
/// sub-folder per run id, so two runs of one job on one box never share one.
pub(crate) const BOX_OUTPUTS: &str = "runplz-out";

/// The box folder every run's own copy of the shipped tree lives under (relative to the
/// home), one sub-folder per run id: the job runs there, not in the shared `runplz/<job>`
/// (which the next run's sync changes), and the copy is removed after the run.
pub(crate) const BOX_RUNS: &str = "runplz-runs";

/// Where a command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Workdir {
    /// This folder.
    At(String),
    /// This folder (relative, `""` for the top) inside the run's own copy of the shipped
    /// tree on the box, `runplz-runs/<run id>`; the run id is known only when the run starts.
    InRun(String),
}

impl Workdir {
    /// `rel` inside this folder.
    pub(crate) fn join(&self, rel: &Path) -> Workdir {
        match self {
            Workdir::At(b) => Workdir::At(under(b, rel)),
            Workdir::InRun(b) => Workdir::InRun(under(b, rel)),
        }
    }

    /// The folder for the run `run_id`.
    pub(crate) fn for_run(&self, run_id: &str) -> String {
        match self {
            Workdir::At(b) => b.clone(),
            Workdir::InRun(r) => under(&format!("{BOX_RUNS}/{run_id}"), Path::new(r)),
        }
    }

    /// The folder as a shell word for the plan, whose run id is `$RUN_ID`.
    pub(crate) fn shell(&self) -> String {
        match self {
            Workdir::At(b) => sh(b),
            Workdir::InRun(r) if r.is_empty() => {
                format!("{}\"$RUN_ID\"", sh(&format!("{BOX_RUNS}/")))
            }
            Workdir::InRun(r) => format!(
                "{}\"$RUN_ID\"{}",
                sh(&format!("{BOX_RUNS}/")),
                sh(&format!("/{r}"))
            ),
        }
    }
}

/// What a step feeds its command on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stdin {
    /// The rendered Dockerfile.
    Dockerfile,
    /// The rendered shell steps (`skip_apt` for a local native run).
    Shell { skip_apt: bool },
    /// The docker build context: the repo minus the excludes, plus the Dockerfile.
    ContextTar,
}

/// Which set-up command a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setup {
    /// `docker build` of the job's image.
    Image,
    /// A venv, then the image's shell steps in it.
    Venv,
}

impl Setup {
    pub(crate) fn step(self) -> runplz_protocol::Step {
        match self {
            Setup::Image => runplz_protocol::Step::Image,
            Setup::Venv => runplz_protocol::Step::Venv,
        }
    }
}

/// One command run through rp-exec.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    /// The working directory (the workspace).
    pub workdir: Option<Workdir>,
    /// The command.
    pub argv: Vec<String>,
    /// What goes to its stdin.
    pub stdin: Option<Stdin>,
}

/// How the job is started.
#[derive(Debug, Clone)]
pub(crate) enum Launch {
    /// runplz waits for it, streaming its output.
    Attached,
    /// Started on the box under its supervisor and left running (`--detach`, issue #10):
    /// the outputs stay on the box and the place is kept for `runplz collect`.
    Detached,
    /// In the run's Modal sandbox (the place acquired), through the Modal helper: attached,
    /// or launched there and left running (`detach`).
    Sandbox { detach: bool },
    /// Handed to a batch scheduler (Slurm's `sbatch`), then waited for by polling; the
    /// command runs in the job's allocation, once per node.
    Submitted {
        /// How many nodes (`--nodes`); above 1 the command runs on each through `srun`.
        nodes: u32,
        /// A sweep's members as one job array (run id, outputs, command each); empty for
        /// one job.
        array: Vec<crate::slurm::array::Task>,
        /// Return once submitted (`--detach`): no wait, no collect, the code left in place.
        detach: bool,
    },
}

/// What must be cleaned up when the job did not end by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cleanup {
    /// Remove the container `runplz-<run id>` (the docker client's death would leave it).
    RemoveContainer,
}

/// Where the outputs come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Collect {
    /// They were written here: count what this run wrote.
    CountLocal,
    /// rsync them from `<parent>/<run id>` on the box, then remove the box's copy.
    Rsync { parent: String },
    /// Unpack the tar.gz the job step brought back (Modal's `/out`), with rp-collect's
    /// `--from-tar` limits.
    Tarball,
}

/// One step of a run.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Check the box's specs against the job; a doomed precondition stops the run.
    Probe,
    /// Ship the repo to this folder on the box, then (holding the job's sync lock on the
    /// box) copy it, hard-linked, to `<runs>/<run id>`: the run's own code, whatever a later
    /// sync of the same job does to `dest`.
    Sync { dest: String, runs: String },
    /// A set-up command that must succeed.
    Setup(Setup, Command),
    /// The job itself, under its deadline, with its env and run id.
    Job {
        command: Command,
        launch: Launch,
        cleanup: Option<Cleanup>,
    },
    /// Bring the outputs back (on every exit path).
    Collect(Collect),
}

/// Everything a run does, in order.
#[derive(Debug, Clone)]
pub(crate) struct Steps {
    /// How the job runs.
    pub mode: Mode,
    /// The steps; `Collect` is last.
    pub list: Vec<Step>,
    /// Where outputs end up here.
    pub outputs: PathBuf,
    /// The image tag (docker mode).
    pub tag: String,
}

impl Steps {
    /// The collect step.
    pub(crate) fn collect(&self) -> Option<&Collect> {
        self.list.iter().find_map(|s| match s {
            Step::Collect(c) => Some(c),
            _ => None,
        })
    }
}

/// The job's own run environment. Natively there is no image to carry the `env` steps, so
/// they come first; the job's `env` wins over them, as `docker run -e` wins over `ENV`.
pub(crate) fn run_env(p: &Prepared, native: bool) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut put = |key: &str, value: &str| {
        vars.retain(|(k, _)| k != key);
        vars.push((key.into(), value.into()));
    };
    if native {
        for step in &p.job.spec.image.steps {
            for (k, v) in step.env.iter().flatten() {
                put(k, v);
            }
        }
    }
    for (k, v) in &p.job.spec.env {
        put(k, v);
    }
    for (k, v) in &p.passed.values {
        put(k, v);
    }
    vars
}

/// The names of every variable the job gets from runplz (its `env` and the passed ones),
/// sorted, once: what `docker run -e NAME` hands on into the container.
fn env_names(p: &Prepared) -> Vec<&str> {
    let mut names: Vec<&str> = p
        .job
        .spec
        .env
        .keys()
        .chain(&p.passed.names)
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The same environment as a jq program over the job file, for the plan: it writes the
/// values to a private file at run time instead of printing them into the script.
pub(crate) fn run_env_jq(native: bool) -> &'static str {
    if native {
        "(reduce (.image.steps // [])[] as $s ({}; . + ($s.env // {}))) + (.env // {})"
    } else {
        ".env // {}"
    }
}

/// 8 hex digits of a sha256 of `bytes`: a short key stable across Rust releases.
fn short_key(bytes: &[u8]) -> String {
    crate::hex::sha256_prefix(bytes, 4)
}

/// The key of a job in names shared by every project on a machine (image tags, venvs):
/// its repo's path and its name, so two projects with a job named `hello` never share one.
fn job_key(job: &Job) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = job.root.as_os_str().as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(job.name().as_bytes());
    short_key(&bytes)
}

/// The docker image tag of a job: `runplz-<name>-<key>:latest`, lower case as docker
/// requires, keyed by the repo's path and the job's name (see [`job_key`]).
pub(crate) fn tag(job: &Job) -> String {
    // Job names allow `_`, `.` and runs of them anywhere; docker's reference grammar does
    // not (`exp_` is no tag). Keep lower-case alphanumeric runs joined by `-`; the key
    // (which covers the name as written) keeps `a.b` and `a_b` apart.
    let clean = job
        .name()
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    format!("runplz-{clean}-{}:latest", job_key(job))
}

/// The job's command as words for `docker run` / `exec`, with `bash -lc` for a shell string.
fn command_words(run: &Run, prelude: Option<&str>) -> Vec<String> {
    match (run, prelude) {
        (Run::Shell(s), None) => vec!["bash".into(), "-lc".into(), s.clone()],
        (Run::Shell(s), Some(p)) => vec!["bash".into(), "-lc".into(), format!("{p}\n{s}")],
        (Run::Argv(v), None) => v.clone(),
        (Run::Argv(v), Some(p)) => {
            let mut w = vec![
                "bash".into(),
                "-lc".into(),
                format!("{p}\nexec \"$@\""),
                "bash".into(),
            ];
            w.extend(v.iter().cloned());
            w
        }
    }
}

/// The `docker run` script: GPUs when the machine has them and docker's nvidia runtime,
/// the workspace at /workspace, outputs at /out, the job's env passed through by name.
fn docker_run_script(p: &Prepared, out_expr: &str, private: bool) -> String {
    let mut s = String::from("set -eu\n");
    s.push_str(&format!("out={out_expr}\n{}set --\n", make_out(private)));
    s.push_str(
        "if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 \\\n  && docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then\n  set -- --gpus all\nfi\n",
    );
    // A deadline (TERM, from rp-exec or the box's watchdog) removes the container at once:
    // killing the docker client would leave it running, and its processes may belong to
    // root, out of reach of the run-id sweep. INT and HUP are the user's: the docker client
    // proxies them to the job (a Python job gets its KeyboardInterrupt and can save a
    // checkpoint); we wait for it, and whatever is left after rp-exec's grace is removed by
    // runplz (or the plan) by name.
    s.push_str(
        "rm_container() { docker rm -f \"runplz-$RUNPLZ_RUN_ID\" >/dev/null 2>&1 || true; }\n",
    );
    s.push_str("trap 'rm_container; exit 143' TERM\ntrap 'rc=130' INT\ntrap 'rc=129' HUP\n");
    // No --rm: the docker CLI loses the exit code with --rm against some engines (Podman's
    // API); the container is removed explicitly instead.
    // Run from the shipped folder (mounted whole); the job's workdir is inside it.
    let w = under("/workspace", &p.job.workdir);
    s.push_str(&format!("docker run --name \"runplz-$RUNPLZ_RUN_ID\" -v \"$PWD:/workspace\" -w {} -v \"$out:/out\" -e RUNPLZ_OUT=/out -e RUNPLZ_RUN_ID", sh(&w)));
    for k in env_names(p) {
        s.push_str(&format!(" -e {k}"));
    }
    if let Some(n) = &p.settings.network {
        s.push_str(&format!(" --network {}", sh(n)));
    }
    s.push_str(&format!(" \"$@\" {}", sh(&tag(&p.job))));
    for w in command_words(&p.run, None) {
        s.push(' ');
        s.push_str(&sh(&w));
    }
    // In the background, so the traps run while we wait; a trapped signal ends `wait` early,
    // so wait again until the client is gone.
    s.push_str(" &\npid=$!\nwhile :; do\n  wait \"$pid\" && rc=0 || rc=$?\n  kill -0 \"$pid\" 2>/dev/null || break\ndone\nrm_container\nexit \"$rc\"\n");
    s
}

fn docker_build_argv(network: Option<&str>, tag: &str, context: &str, file: &str) -> Vec<String> {
    let mut a = vec!["docker".to_string(), "build".into()];
    if let Some(n) = network {
        a.extend(["--network".into(), n.to_string()]);
    }
    a.extend([
        "-t".into(),
        tag.to_string(),
        "-f".into(),
        file.to_string(),
        context.to_string(),
    ]);
    a
}

/// The venv folder on the box (relative to `$HOME`, as a shell expression).
pub(crate) fn remote_venv(name: &str) -> String {
    format!("\"$HOME/.runplz/venvs/\"{}", sh(name))
}

/// A local venv per job and repo, under the user's cache; the key is a sha256 of the repo's
/// path, stable across Rust releases.
pub(crate) fn local_venv(p: &Prepared) -> PathBuf {
    let key = job_key(&p.job);
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("runplz/venvs")
        .join(format!("{}-{key}", p.job.name()))
}

/// Create the venv if needed, then run the shell steps (stdin) in it. Two runs of one job
/// at once take turns (`flock`, where the box has it) instead of installing into one venv
/// together. The venvs folder is private to the user (0700; one left open is closed). A venv
/// whose making was cut short (`$v.making` still there, or no `bin/pip*`: an older runplz
/// made no marker) is made again, not used without pip.
///
/// It is the venv `python3 -m venv` makes, made faster: that one has ensurepip install pip
/// (and setuptools before Python 3.12) from the interpreter's own wheels and compile every
/// module, about 1.2 of its 2.8 s here (Debian's Python 3.11). [`VENV_PIP`] installs the same wheels with pip's
/// `--no-compile` (modules compile as they are first imported). Where that fails (no such
/// wheels, an older Python's layout), `python3 -m venv` makes it, with its own errors.
fn venv_setup_script(venv_expr: &str) -> String {
    format!(
        "set -eu\nv={venv_expr}\n(umask 077 && mkdir -p \"$(dirname \"$v\")\")\nchmod go= \"$(dirname \"$v\")\" 2>/dev/null || :\nif command -v flock >/dev/null 2>&1; then exec 9>\"$v.lock\"; flock 9; fi\nrp_pip() {{ for f in \"$v\"/bin/pip*; do [ -x \"$f\" ] && return 0; done; return 1; }}\nif [ ! -x \"$v/bin/python3\" ] || ! rp_pip || [ -e \"$v.making\" ]; then\n: > \"$v.making\"\nrm -rf -- \"$v\"\nif ! {{ python3 -m venv --without-pip \"$v\" && \"$v/bin/python3\" -c {pip}; }} >/dev/null 2>&1; then\nrm -rf -- \"$v\"\npython3 -m venv \"$v\"\nfi\nrm -f -- \"$v.making\"\nfi\n. \"$v/bin/activate\"\nexec bash -s\n",
        pip = sh(VENV_PIP)
    )
}

/// Run by a new venv's python: install the wheels ensurepip would (pip, and setuptools
/// before 3.12, from the folder ensurepip takes them from) the way ensurepip does (pip run
/// from its own wheel, no `PIP_*` variable, no config file), without compiling them.
const VENV_PIP: &str = r#"import os, re, runpy, sys, sysconfig, ensurepip
d = sysconfig.get_config_var("WHEEL_PKG_DIR") or os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
want = ["pip"] + (["setuptools"] if sys.version_info < (3, 12) else [])
got = {}
for f in os.listdir(d):
    m = re.fullmatch(r"([a-z]+)-([0-9]+(?:\.[0-9]+)*)-py3-none-any\.whl", f)
    if m and m[1] in want:
        v = tuple(map(int, m[2].split(".")))
        if m[1] not in got or v > got[m[1]][0]:
            got[m[1]] = (v, m[2], f)
if sorted(got) != sorted(want):
    sys.exit("no wheels for " + " ".join(want) + " in " + d)
for k in [k for k in os.environ if k.startswith("PIP_")]:
    del os.environ[k]
os.environ["PIP_CONFIG_FILE"] = os.devnull
sys.path[:0] = [os.path.join(d, got["pip"][2])]
sys.argv[1:] = ["install", "--no-compile", "--no-cache-dir", "--no-index", "-q", "--find-links", d] + [n + "==" + got[n][1] for n in want]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"#;

pub(crate) fn bash_c(script: String) -> Vec<String> {
    vec!["bash".to_string(), "-c".into(), script]
}

/// The native run script: `$RUNPLZ_OUT` made, the venv activated, the command exec'd.
pub(crate) fn native_run_script(p: &Prepared, out_expr: &str, venv: &str, private: bool) -> String {
    native_run_script_of(&p.run, out_expr, venv, private)
}

/// [`native_run_script`] for a given command (a job array's member).
pub(crate) fn native_run_script_of(run: &Run, out_expr: &str, venv: &str, private: bool) -> String {
    let mut script = format!(
        "set -eu\nout={out_expr}\n{}export RUNPLZ_OUT=\"$out\"\nexec",
        make_out(private)
    );
    let prelude = format!(". {venv}/bin/activate || exit 125");
    for w in command_words(run, Some(&prelude)) {
        script.push(' ');
        script.push_str(&sh(&w));
    }
    script.push('\n');
    script
}

/// The lines that make `$out`. On a box (`private`) it is private to the box user: the
/// run's folder and `~/runplz-out` above it are 0700 (one left open by an older runplz is
/// closed here).
fn make_out(private: bool) -> String {
    if private {
        format!("(umask 077 && mkdir -p \"$out\")\nchmod go= \"$HOME/{BOX_OUTPUTS}\" 2>/dev/null || :\n")
    } else {
        "mkdir -p \"$out\"\n".to_string()
    }
}

/// `base` joined with a relative folder (`base` itself when it is empty), as text.
fn under(base: &str, rel: &Path) -> String {
    if rel.as_os_str().is_empty() {
        base.to_string()
    } else {
        Path::new(base).join(rel).to_string_lossy().into_owned()
    }
}

/// The job step, with the container to clean up in docker mode; `private` on a box.
/// `ship` is the shipped folder (here, or the run's own copy on the box): docker mounts it
/// whole; natively the command runs in the job's workdir inside it.
fn job_step(p: &Prepared, ship: &Workdir, out_expr: &str, venv: &str, private: bool) -> Step {
    let docker = p.settings.docker();
    let workdir = Some(if docker {
        ship.clone()
    } else {
        ship.join(&p.job.workdir)
    });
    let argv = if docker {
        bash_c(docker_run_script(p, out_expr, private))
    } else {
        bash_c(native_run_script(p, out_expr, venv, private))
    };
    Step::Job {
        command: Command {
            workdir,
            argv,
            stdin: None,
        },
        launch: Launch::Attached,
        cleanup: docker.then_some(Cleanup::RemoveContainer),
    }
}

/// `steps` with the job left running on the box once started (`--detach`).
pub(crate) fn detached(mut steps: Steps) -> Steps {
    for s in &mut steps.list {
        if let Step::Job { launch, .. } = s {
            if matches!(launch, Launch::Attached) {
                *launch = Launch::Detached;
            }
        }
    }
    steps
}

/// The steps on this machine: set-up and the job in the repo itself (the job in its
/// workdir, the venv's steps in the job file's folder), outputs written straight to the
/// outputs folder. `build` is false for `--no-build`.
pub(crate) fn here(p: &Prepared, build: bool) -> Result<Steps> {
    let tag = tag(&p.job);
    let ship = Workdir::At(p.job.ship_root.display().to_string());
    let workdir = Some(ship.clone());
    // The shell steps (pip_install_local_dir) are relative to the job file's folder.
    let job_dir = Some(ship.join(&p.job.job_rel));
    let out_expr = sh(&p.outputs.display().to_string());
    let venv = sh(&local_venv(p).display().to_string());
    // The same probe as on a box (`rp-probe --local`): resources and preconditions first.
    let mut list = vec![Step::Probe];
    match p.settings.mode {
        Mode::Docker if build => {
            let argv =
                docker_build_argv(p.settings.network.as_deref(), &tag, "-", CONTEXT_DOCKERFILE);
            list.push(Step::Setup(
                Setup::Image,
                Command {
                    workdir: workdir.clone(),
                    argv,
                    stdin: Some(Stdin::ContextTar),
                },
            ));
        }
        Mode::Docker => {}
        Mode::Native | Mode::InPlace => list.push(venv_step(job_dir, &venv, true)),
    }
    list.push(job_step(p, &ship, &out_expr, &venv, false));
    list.push(Step::Collect(Collect::CountLocal));
    Ok(Steps {
        mode: p.settings.mode,
        list,
        outputs: p.outputs.clone(),
        tag,
    })
}

pub(crate) fn venv_step(workdir: Option<Workdir>, venv: &str, skip_apt: bool) -> Step {
    Step::Setup(
        Setup::Venv,
        Command {
            workdir,
            argv: bash_c(venv_setup_script(venv)),
            stdin: Some(Stdin::Shell { skip_apt }),
        },
    )
}

/// The steps on a box: probe, sync the repo to `runplz/<job>` and copy that (hard-linked) to
/// the run's own `runplz-runs/<run id>`, set up (the image built from the run's copy, or the
/// venv's steps in `runplz-runs/<run id>/<the job file's folder>`), run in
/// `runplz-runs/<run id>/<workdir>` with `$RUNPLZ_OUT` at `runplz-out/<run id>`, and collect
/// that back. The run's copy is removed after the run.
pub(crate) fn on_box(p: &Prepared) -> Result<Steps> {
    let name = p.job.name();
    let tag = tag(&p.job);
    let dest = crate::sync::default_dest(name);
    let ws = Workdir::InRun(String::new());
    let workdir = Some(ws.clone());
    let out_expr = format!("\"$HOME/{BOX_OUTPUTS}/$RUNPLZ_RUN_ID\"");
    let venv = remote_venv(name);
    let mut list = vec![
        Step::Probe,
        Step::Sync {
            dest,
            runs: BOX_RUNS.into(),
        },
    ];
    match p.settings.mode {
        Mode::Docker => {
            let argv = docker_build_argv(p.settings.network.as_deref(), &tag, ".", "-");
            list.push(Step::Setup(
                Setup::Image,
                Command {
                    workdir: workdir.clone(),
                    argv,
                    stdin: Some(Stdin::Dockerfile),
                },
            ));
        }
        Mode::Native | Mode::InPlace => {
            list.push(venv_step(Some(ws.join(&p.job.job_rel)), &venv, false))
        }
    }
    list.push(job_step(p, &ws, &out_expr, &venv, true));
    list.push(Step::Collect(Collect::Rsync {
        parent: BOX_OUTPUTS.into(),
    }));
    Ok(Steps {
        mode: p.settings.mode,
        list,
        outputs: p.outputs.clone(),
        tag,
    })
}

#[cfg(test)]
mod tests {
    use super::tag;

    #[test]
    fn tags_follow_dockers_reference_grammar() {
        let job = |name: &str, root: &str| {
            let text = format!(
                r#"{{"name": "{name}", "image": {{"from_registry": "debian"}}, "run": "true"}}"#
            );
            crate::job::parse(&text, "job.json", std::path::Path::new(root)).unwrap()
        };
        let t = tag(&job("train-gpt", "/p"));
        assert!(
            t.starts_with("runplz-train-gpt-") && t.ends_with(":latest"),
            "{t}"
        );
        for name in ["exp_", "a..b", "MyJob", "x__y", "a-"] {
            let t = tag(&job(name, "/p"));
            let repo = t.strip_suffix(":latest").unwrap();
            let ok = repo.split(['-']).all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            assert!(ok, "{name} -> {t}");
        }
        assert_ne!(tag(&job("exp_", "/p")), tag(&job("exp", "/p")));
        assert_ne!(tag(&job("a.b", "/p")), tag(&job("a_b", "/p")));
        // Two projects with a job of one name never share an image.
        assert_ne!(tag(&job("hello", "/p")), tag(&job("hello", "/q")));
        assert_eq!(tag(&job("hello", "/p")), tag(&job("hello", "/p")));
    }
}
