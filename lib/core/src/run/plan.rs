//! `--plan`: the run as a POSIX shell script of rp-* calls, built from the same step list the
//! composer executes. Values that may be secret are never printed into it: the job's `env`
//! is read from the job file with `jq` when the script runs, and the variables passed from
//! the environment (the job's `pass_env`, `--env NAME`) are read from the script's own
//! environment then, as runplz reads its own (the script stops with exit 2, before anything
//! happens, when one is unset); an `--env-file` is read by path. All of them meet in a
//! private file (`$T` is 0700) that rp-exec reads with `--env-file`.

use super::RunOptions;
use crate::backend::Backend;
use crate::error::CliError;
use crate::image::CONTEXT_DOCKERFILE;
use crate::job::Mode;
use crate::quote::sh;
use crate::steps::Prepared;
use crate::steps::{Cleanup, Collect, Command, Setup, Stdin, Step, BOX_OUTPUTS};
use anyhow::Result;
use std::fmt::Write;

/// The script for this run.
pub(crate) fn script(o: &RunOptions, b: &dyn Backend, p: &Prepared) -> Result<String> {
    let place = b.plan_place(p)?;
    if o.job.as_os_str() == "-" {
        return Err(CliError::usage(
            "--plan needs a job file, not `-`: the script reads the job again when it runs",
        ));
    }
    let steps = b.steps(p)?;
    let job = std::fs::canonicalize(&o.job).unwrap_or_else(|_| o.job.clone());
    let host = place.host_flag.as_str();
    let native = steps.mode != Mode::Docker;
    let mut s = String::new();
    let name = b.kind().name();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(
        s,
        "# runplz {name} plan for job {:?}: the same steps `runplz {name}` runs, as rp-* calls.",
        p.job.name()
    );
    let _ = writeln!(s, "# Needs the rp-* tools and jq on PATH. Exit codes as runplz: the job's own, 124 timed out,");
    let _ = writeln!(s, "# 3 a doomed precondition, 5 a setup step failed.");
    let _ = writeln!(s, "set -eu");
    let _ = writeln!(s, "JOB={}", sh(&job.display().to_string()));
    let allow: String = o
        .allow_secrets
        .iter()
        .map(|a| format!(" --allow-secret {}", sh(a)))
        .collect();
    let _ = writeln!(
        s,
        "# scan what the run ships for secrets before anything is created (2: nothing ran)"
    );
    let _ = writeln!(s, "rp-sync scan \"$JOB\"{allow} >/dev/null || exit 2");
    for l in &place.lines {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s, "RUN_ID={}\"-$(date +%s)-$$\"", sh(p.job.name()));
    let _ = writeln!(s, "T=$(mktemp -d)");
    // A place the plan acquired (a Brev box) is released by every EXIT trap.
    let release = if place.release { " release_place;" } else { "" };
    let _ = writeln!(
        s,
        "trap 'rm -rf \"$T\"{}' EXIT",
        if place.release { "; release_place" } else { "" }
    );
    require_passed(&mut s, &p.passed);
    // The job's ssh.user, ssh.port and ssh.ssh_key_path for every call to the box.
    let job_flag = if host.is_empty() {
        ""
    } else {
        " --job \"$JOB\""
    };
    for step in &steps.list {
        match step {
            Step::Probe => {
                let _ = writeln!(
                    s,
                    "\n# probe: warnings on stderr; exit 3 stops a doomed run before anything ships"
                );
                // As runplz: 3 for a doomed precondition, 5 when the probe itself failed.
                let _ = writeln!(
                    s,
                    "rp-probe{} \"$JOB\" > \"$T/probe.json\" || {{ c=$?; [ \"$c\" = 3 ] && exit 3; exit 5; }}",
                    if host.is_empty() { " --local" } else { host }
                );
            }
            Step::Sync { dest, runs } => {
                let _ = writeln!(s, "\n# sync the repo up, minus secrets and caches, and copy it (hard-linked) to the");
                let _ = writeln!(s, "# run's own folder, where the set-up and the job run; that copy goes when the plan ends");
                let snap = format!("{}\"$RUN_ID\"", sh(&format!("{runs}/")));
                let _ = writeln!(
                    s,
                    "rm_run_copy() {{ rp-exec{host}{job_flag} -- rm -rf -- {snap} >/dev/null 2>&1 || :; rm -rf \"$T\";{release} }}\ntrap rm_run_copy EXIT"
                );
                // The job file alone cannot know an --outputs-dir given to runplz: exclude it.
                let extra: String =
                    crate::sync::job_excludes_to(&p.job, &p.job.ship_root, &p.outputs)
                        .iter()
                        .filter(|x| !p.job.spec.sync.exclude.contains(x))
                        .map(|x| format!(" --exclude {}", sh(x)))
                        .collect();
                let _ = writeln!(
                    s,
                    "rp-sync up{host} \"$JOB\"{extra}{allow} --dest {} --snapshot {snap} > \"$T/sync.json\" || exit 5",
                    sh(dest)
                );
            }
            Step::Setup(kind, cmd) => {
                let _ = writeln!(s, "\n# {}", setup_comment(*kind));
                if let Some(render) = render_stdin(cmd) {
                    let _ = writeln!(s, "{render}");
                }
                let line = exec_line(cmd, p, host, job_flag, None);
                let _ = writeln!(s, "{line} > \"$T/{}.json\" || exit 5", kind.step().name());
            }
            Step::Job {
                command, cleanup, ..
            } => {
                let _ = writeln!(
                    s,
                    "\n# the job, under its deadline; its exit code is the plan's"
                );
                let env =
                    !crate::steps::run_env(p, native).is_empty() || !p.passed.names.is_empty();
                if env {
                    // Values stay in a private file ($T is 0700), off every command line.
                    let _ = writeln!(s, "{}", env_json_line(&p.passed, native));
                }
                let _ = writeln!(s, "set +e");
                let line = exec_line(command, p, host, job_flag, Some(env));
                let _ = writeln!(s, "{line} > \"$T/run.json\"");
                let _ = writeln!(s, "code=$?");
                let _ = writeln!(s, "set -e");
                if let Some(Cleanup::RemoveContainer) = cleanup {
                    let _ = writeln!(
                        s,
                        "if [ \"$(jq -r '(.ending.kind != \"exited\") or (.exit_code > 128)' \"$T/run.json\" 2>/dev/null)\" != false ]; then\n  rp-exec{host}{job_flag} -- docker rm -f \"runplz-$RUN_ID\" >/dev/null 2>&1 || true\nfi"
                    );
                }
            }
            Step::Collect(c) => {
                let _ = writeln!(s, "\n# outputs back, on every exit path");
                let to = sh(&steps.outputs.display().to_string());
                match c {
                    Collect::Rsync { parent } => {
                        let from = format!("{}/\"$RUN_ID\"", sh(parent));
                        let _ = writeln!(
                            s,
                            "if rp-collect{host}{job_flag} --from {from} --to {to} > \"$T/collect.json\"; then\n  rp-exec{host}{job_flag} -- rm -rf -- {from} >/dev/null || true\nelse\n  echo '{{}}' > \"$T/collect.json\"\nfi"
                        );
                    }
                    Collect::CountLocal => {
                        let _ = writeln!(s, "echo '{{}}' > \"$T/collect.json\"");
                    }
                    // No plan reaches here (modal's plan_place refuses); the shape it would be.
                    Collect::Tarball => {
                        let _ = writeln!(
                            s,
                            "rp-collect --from-tar \"$T/out.tar.gz\" --to {to} > \"$T/collect.json\" || echo '{{}}' > \"$T/collect.json\""
                        );
                    }
                }
            }
        }
    }
    debug_assert!(BOX_OUTPUTS == "runplz-out");
    let _ = writeln!(
        s,
        "jq -c -n --slurpfile run \"$T/run.json\" --slurpfile col \"$T/collect.json\" \\\n  '{{type: \"plan-run\", version: 1, job: {}, run_id: $run[0].run_id, exit_code: $run[0].exit_code, timed_out: ($run[0] | if . then .ending.kind == \"timed_out\" else null end), outputs: {{files: ($col[0].files // null), bytes: ($col[0].bytes // null)}}}}'",
        serde_json::to_string(p.job.name())?
    );
    let _ = writeln!(s, "exit \"$code\"");
    Ok(s)
}

fn setup_comment(kind: Setup) -> &'static str {
    match kind {
        Setup::Image => "image: build the rendered Dockerfile",
        Setup::Venv => "image: a venv, then the rendered shell steps in it",
    }
}

/// The rp-image call that renders a step's stdin into a file, if it has one.
fn render_stdin(cmd: &Command) -> Option<String> {
    Some(match cmd.stdin.as_ref()? {
        Stdin::Dockerfile => "rp-image \"$JOB\" --format dockerfile > \"$T/stdin\"".to_string(),
        Stdin::Shell { skip_apt } => format!(
            "rp-image \"$JOB\" --format shell{} > \"$T/stdin\"",
            if *skip_apt { " --skip-apt" } else { "" }
        ),
        Stdin::ContextTar => format!(
            "rp-image \"$JOB\" --format dockerfile --context \"$T/stdin\" > /dev/null   # the repo minus secrets + {CONTEXT_DOCKERFILE}"
        ),
    })
}

/// An rp-exec call; `job_env` is set for the job itself (`Some(true)` when it has an env).
fn exec_line(
    cmd: &Command,
    p: &Prepared,
    host: &str,
    job_flag: &str,
    job_env: Option<bool>,
) -> String {
    // `--json`: the record goes to the file that chains it; the command's stdout to stderr.
    let mut l = format!("rp-exec --json{host}");
    if let Some(w) = &cmd.workdir {
        let _ = write!(l, " --workdir {}", w.shell());
    }
    if cmd.stdin.is_some() {
        l.push_str(" --stdin \"$T/stdin\"");
    }
    if let Some(env) = job_env {
        if let Some(d) = p.settings.deadline {
            let _ = write!(l, " --timeout {}", d.as_secs());
        }
        if p.settings.grace != crate::job::DEFAULT_GRACE {
            let _ = write!(l, " --grace {}", p.settings.grace.as_secs_f64());
        }
        if let Some(q) = p.settings.max_inactivity {
            let action = match p.settings.inactivity_action {
                Some(crate::job::spec::InactivityAction::Terminate) => "terminate",
                _ => "diagnose",
            };
            let _ = write!(
                l,
                " --max-inactivity {} --inactivity-action {action}",
                q.as_secs()
            );
        }
        l.push_str(" --run-id \"$RUN_ID\"");
        if env {
            l.push_str(" --env-file \"$T/env.json\"");
        }
    }
    l.push_str(job_flag);
    l.push_str(" --");
    for a in &cmd.argv {
        l.push(' ');
        l.push_str(&sh(a));
    }
    l
}

/// At the top of the script: every variable it passes from its environment must be set,
/// and the env file readable, before anything happens (exit 2, as runplz).
fn require_passed(s: &mut String, passed: &crate::steps::Passed) {
    let names: Vec<&String> = passed.from_env.iter().chain(&passed.flags).collect();
    if names.is_empty() && passed.file.is_none() {
        return;
    }
    let _ = writeln!(
        s,
        "# Passed to the job from this script's environment (values never printed here)."
    );
    for k in names {
        // Names are shell identifiers (checked by runplz), safe in a parameter expansion.
        let _ = writeln!(
            s,
            "[ -n \"${{{k}+set}}\" ] || {{ echo 'plan: {k} is not set in this environment; the job passes it (pass_env / --env)' >&2; exit 2; }}"
        );
    }
    if let Some(f) = &passed.file {
        let f = sh(&f.display().to_string());
        let _ = writeln!(
            s,
            "[ -r {f} ] || {{ echo 'plan: cannot read the --env-file '{f} >&2; exit 2; }}"
        );
    }
}

/// The jq call that writes the job's environment to `$T/env.json` when the script runs: the
/// job file's `env` (and, natively, its image steps' `env`), then `pass_env` from the
/// environment, then the env file, then `--env NAME` from the environment; a later value of
/// one name wins, as in runplz.
fn env_json_line(passed: &crate::steps::Passed, native: bool) -> String {
    let from_env = |names: &[String]| {
        let fields: Vec<String> = names
            .iter()
            .map(|k| format!("\"{k}\": .[\"{k}\"]"))
            .collect();
        format!("(env | {{{}}})", fields.join(", "))
    };
    let mut program = format!("(input | {})", crate::steps::run_env_jq(native));
    if !passed.from_env.is_empty() {
        program.push_str(&format!(" + {}", from_env(&passed.from_env)));
    }
    let mut file_arg = String::new();
    if let Some(f) = &passed.file {
        file_arg = format!(" --slurpfile envfile {}", sh(&f.display().to_string()));
        program.push_str(" + $envfile[0]");
    }
    if !passed.flags.is_empty() {
        program.push_str(&format!(" + {}", from_env(&passed.flags)));
    }
    format!(
        "jq -n{file_arg} {} \"$JOB\" > \"$T/env.json\"",
        sh(&program)
    )
}
