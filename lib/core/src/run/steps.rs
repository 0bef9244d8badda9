//! The steps of a run as data: which probe, sync, image and run commands, with which
//! arguments. `runplz` executes them through the library (`execute.rs`) and `--plan` prints
//! them as rp-* calls (`plan.rs`); building both from this one list is what keeps the plan
//! honest.

use super::{Prepared, RunOptions};
use crate::job::{Backend, Run};
use crate::quote::sh;
use anyhow::Result;
use std::path::PathBuf;

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

/// One command run through rp-exec.
#[derive(Debug, Clone)]
pub(crate) struct ExecStep {
    /// `image`, `venv` or `run`.
    pub name: &'static str,
    /// The working directory (the workspace).
    pub workdir: Option<String>,
    /// The command.
    pub argv: Vec<String>,
    /// What goes to its stdin.
    pub stdin: Option<Stdin>,
    /// The job's own run: deadline, run id and the job's env apply.
    pub job: bool,
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
    vars
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

/// Everything a run does, in order.
#[derive(Debug, Clone)]
pub(crate) struct Steps {
    /// `docker` or `native`.
    pub mode: &'static str,
    /// ssh: probe the box first.
    pub probe: bool,
    /// ssh: the workspace the repo is synced to (relative to the box's home).
    pub sync_dest: Option<String>,
    /// Image set-up commands, then the job's run.
    pub execs: Vec<ExecStep>,
    /// docker: the container to remove if the run did not end by itself.
    pub container_cleanup: bool,
    /// ssh: the box folder `$RUNPLZ_OUT` lives in (relative to home), collected back.
    pub collect_from: Option<String>,
    /// Where outputs end up here.
    pub outputs: PathBuf,
    /// The image tag (docker mode).
    pub tag: String,
}

/// The docker image tag of a job: lower case, as docker requires.
pub(crate) fn tag(name: &str) -> String {
    // Job names allow `_`, `.` and runs of them anywhere; docker's reference grammar does
    // not (`exp_` is no tag). Keep lower-case alphanumeric runs joined by `-`, and add a
    // stable hash of the name when that changed it, so two names never share an image.
    let lower = name.to_lowercase();
    let clean = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if clean == lower {
        format!("runplz-{clean}:latest")
    } else {
        let fnv = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        format!("runplz-{clean}-{fnv:08x}:latest")
    }
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
fn docker_run_script(
    p: &Prepared,
    out_expr: &str,
    clear_out: bool,
    network: Option<&str>,
) -> String {
    let mut s = String::from("set -eu\n");
    s.push_str(&format!("out={out_expr}\n"));
    if clear_out {
        s.push_str("rm -rf \"$out\"\n");
    }
    s.push_str("mkdir -p \"$out\"\nset --\n");
    s.push_str(
        "if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 \\\n  && docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q nvidia; then\n  set -- --gpus all\nfi\n",
    );
    // Stopping the run (timeout, Ctrl-C, the box's watchdog) signals this script's group;
    // killing the docker client would leave the container running (and its processes may
    // belong to root, out of reach of the run-id sweep), so the trap removes it by name.
    s.push_str(
        "rm_container() { docker rm -f \"runplz-$RUNPLZ_RUN_ID\" >/dev/null 2>&1 || true; }\n",
    );
    s.push_str("trap 'rm_container; exit 143' TERM\ntrap 'rm_container; exit 130' INT\ntrap 'rm_container; exit 129' HUP\n");
    // No --rm: the docker CLI loses the exit code with --rm against some engines (Podman's
    // API); the container is removed explicitly instead.
    s.push_str("docker run --name \"runplz-$RUNPLZ_RUN_ID\" -v \"$PWD:/workspace\" -w /workspace -v \"$out:/out\" -e RUNPLZ_OUT=/out -e RUNPLZ_RUN_ID");
    for k in p.job.spec.env.keys() {
        s.push_str(&format!(" -e {k}"));
    }
    if let Some(n) = network {
        s.push_str(&format!(" --network {}", sh(n)));
    }
    s.push_str(&format!(" \"$@\" {}", sh(&tag(p.job.name()))));
    for w in command_words(&p.run, None) {
        s.push(' ');
        s.push_str(&sh(&w));
    }
    // In the background, so the traps run while we wait for it.
    s.push_str(" &\nwait $! && rc=0 || rc=$?\nrm_container\nexit \"$rc\"\n");
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
fn remote_venv(name: &str) -> String {
    format!("\"$HOME/.runplz/venvs/\"{}", sh(name))
}

/// A local venv per job and repo, under the user's cache.
fn local_venv(p: &Prepared) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    p.job.root.hash(&mut h);
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("runplz/venvs")
        .join(format!("{}-{:08x}", p.job.name(), h.finish() as u32))
}

fn venv_setup_script(venv_expr: &str) -> String {
    format!(
        "set -eu\nv={venv_expr}\n[ -x \"$v/bin/python3\" ] || python3 -m venv \"$v\"\n. \"$v/bin/activate\"\nexec bash -s\n"
    )
}

/// Whether this run uses docker.
pub(crate) fn uses_docker(o: &RunOptions, p: &Prepared) -> bool {
    match o.backend {
        // `--native` was already written into the job's spec by `prepare`.
        Backend::Local => p.job.spec.local.use_docker != Some(false),
        _ => p.job.spec.ssh.use_docker != Some(false),
    }
}

/// Build the steps for `runplz local` and `runplz ssh`.
pub(crate) fn build(o: &RunOptions, p: &Prepared) -> Result<Steps> {
    let name = p.job.name().to_string();
    let docker = uses_docker(o, p);
    let tag = tag(&name);
    let remote = o.backend == Backend::Ssh;
    let mut execs = Vec::new();
    let outputs = p.outputs.clone();
    let bash_c = |script: String| vec!["bash".to_string(), "-c".into(), script];
    let (workdir, collect_from, out_expr) = if remote {
        let ws = crate::sync::default_dest(&name);
        let out_rel = format!("runplz-out/{name}");
        (
            Some(ws),
            Some(out_rel),
            format!("\"$HOME/runplz-out/\"{}", sh(&name)),
        )
    } else {
        (
            Some(p.job.root.display().to_string()),
            None,
            sh(&outputs.display().to_string()),
        )
    };
    if docker {
        let network = if remote {
            p.job.spec.ssh.network.as_deref()
        } else {
            p.job.spec.local.network.as_deref()
        };
        if !o.no_build || remote {
            let (argv, stdin) = if remote {
                (
                    docker_build_argv(network, &tag, ".", "-"),
                    Stdin::Dockerfile,
                )
            } else {
                (
                    docker_build_argv(network, &tag, "-", super::execute::CONTEXT_DOCKERFILE),
                    Stdin::ContextTar,
                )
            };
            execs.push(ExecStep {
                name: "image",
                workdir: workdir.clone(),
                argv,
                stdin: Some(stdin),
                job: false,
            });
        }
        execs.push(ExecStep {
            name: "run",
            workdir: workdir.clone(),
            argv: bash_c(docker_run_script(p, &out_expr, remote, network)),
            stdin: None,
            job: true,
        });
    } else {
        let venv = if remote {
            remote_venv(&name)
        } else {
            sh(&local_venv(p).display().to_string())
        };
        execs.push(ExecStep {
            name: "venv",
            workdir: workdir.clone(),
            argv: bash_c(venv_setup_script(&venv)),
            stdin: Some(Stdin::Shell { skip_apt: !remote }),
            job: false,
        });
        let mut script = format!("set -eu\nout={out_expr}\n");
        if remote {
            script.push_str("rm -rf \"$out\"\n");
        }
        script.push_str("mkdir -p \"$out\"\nexport RUNPLZ_OUT=\"$out\"\nexec");
        let prelude = format!(". {venv}/bin/activate || exit 125");
        for w in command_words(&p.run, Some(&prelude)) {
            script.push(' ');
            script.push_str(&sh(&w));
        }
        script.push('\n');
        execs.push(ExecStep {
            name: "run",
            workdir,
            argv: bash_c(script),
            stdin: None,
            job: true,
        });
    }
    Ok(Steps {
        mode: if docker { "docker" } else { "native" },
        probe: remote,
        sync_dest: remote.then(|| crate::sync::default_dest(&name)),
        execs,
        container_cleanup: docker,
        collect_from,
        outputs,
        tag,
    })
}

#[cfg(test)]
mod tests {
    use super::tag;

    #[test]
    fn tags_follow_dockers_reference_grammar() {
        assert_eq!(tag("train-gpt"), "runplz-train-gpt:latest");
        assert_eq!(tag("exp"), "runplz-exp:latest");
        for name in ["exp_", "a..b", "MyJob", "x__y", "a-"] {
            let t = tag(name);
            let repo = t.strip_suffix(":latest").unwrap();
            let ok = repo.split(['-']).all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
            assert!(ok, "{name} -> {t}");
        }
        assert_ne!(tag("exp_"), tag("exp"));
        assert_ne!(tag("a.b"), tag("a_b"));
    }
}
