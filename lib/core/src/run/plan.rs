//! `--plan`: the run as a POSIX shell script of rp-* calls, built from the same step list the
//! composer executes. Values from the job that may be secret (the job's `env`) are read from
//! the job file with `jq` when the script runs, never printed into it.

use super::steps::{ExecStep, Stdin, Steps};
use super::{Prepared, RunOptions};
use crate::error::CliError;
use crate::job::Backend;
use crate::quote::sh;
use anyhow::Result;
use std::fmt::Write;

/// The script for this run.
pub(crate) fn script(o: &RunOptions, p: &Prepared) -> Result<String> {
    if o.job.as_os_str() == "-" {
        return Err(CliError::usage(
            "--plan needs a job file, not `-`: the script reads the job again when it runs",
        ));
    }
    let steps = super::steps::build(o, p)?;
    let job = std::fs::canonicalize(&o.job).unwrap_or_else(|_| o.job.clone());
    let remote = o.backend == Backend::Ssh;
    let mut s = String::new();
    let b = o.backend.name();
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(
        s,
        "# runplz {b} plan for job {:?}: the same steps `runplz {b}` runs, as rp-* calls.",
        p.job.name()
    );
    let _ = writeln!(s, "# Needs the rp-* tools and jq on PATH. Exit codes as runplz: the job's own, 124 timed out,");
    let _ = writeln!(s, "# 3 a doomed precondition, 5 a setup step failed.");
    let _ = writeln!(s, "set -eu");
    let _ = writeln!(s, "JOB={}", sh(&job.display().to_string()));
    if let Some(h) = &o.host {
        let _ = writeln!(s, "HOST={}", sh(h));
    }
    if let Some(cfg) = crate::ssh::config_from(o.ssh_config.as_deref()) {
        let cfg = std::fs::canonicalize(&cfg).unwrap_or(cfg);
        let _ = writeln!(
            s,
            "export RUNPLZ_SSH_CONFIG={}",
            sh(&cfg.display().to_string())
        );
    }
    let _ = writeln!(s, "RUN_ID={}\"-$(date +%s)-$$\"", sh(p.job.name()));
    let _ = writeln!(s, "T=$(mktemp -d)");
    let _ = writeln!(s, "trap 'rm -rf \"$T\"' EXIT");
    let host = if remote { " --host \"$HOST\"" } else { "" };
    if steps.probe {
        let _ = writeln!(
            s,
            "\n# probe: warnings on stderr; exit 3 stops a doomed run before anything ships"
        );
        // As runplz: 3 for a doomed precondition, 5 when the probe itself failed.
        let _ = writeln!(
            s,
            "rp-probe{host} \"$JOB\" > \"$T/probe.json\" || {{ c=$?; [ \"$c\" = 3 ] && exit 3; exit 5; }}"
        );
    }
    if let Some(dest) = &steps.sync_dest {
        let _ = writeln!(s, "\n# sync the repo up, minus secrets and caches");
        // The job file alone cannot know an --outputs-dir given to runplz: exclude it here.
        let extra: String = crate::sync::job_excludes(&p.job, &p.job.root)
            .iter()
            .filter(|x| !p.job.spec.sync.exclude.contains(x))
            .map(|x| format!(" --exclude {}", sh(x)))
            .collect();
        let _ = writeln!(
            s,
            "rp-sync up{host} --job \"$JOB\"{extra} --dest {} > \"$T/sync.json\" || exit 5",
            sh(dest)
        );
    }
    for step in &steps.execs {
        if step.job {
            let _ = writeln!(
                s,
                "\n# the job, under its deadline; its exit code is the plan's"
            );
            if !super::steps::run_env(p, steps.mode == "native").is_empty() {
                // Values stay in a private file ($T is 0700), off every command line.
                let _ = writeln!(
                    s,
                    "jq {} \"$JOB\" > \"$T/env.json\"",
                    sh(super::steps::run_env_jq(steps.mode == "native"))
                );
            }
            let _ = writeln!(s, "set +e");
            let _ = writeln!(s, "{} > \"$T/run.json\"", exec_line(step, p, host, &steps));
            let _ = writeln!(s, "code=$?");
            let _ = writeln!(s, "set -e");
            if steps.container_cleanup {
                let job = if host.is_empty() {
                    ""
                } else {
                    " --job \"$JOB\""
                };
                let _ = writeln!(
                    s,
                    "if [ \"$(jq -r '(.ending.kind != \"exited\") or (.exit_code > 128)' \"$T/run.json\" 2>/dev/null)\" != false ]; then\n  rp-exec{host}{job} -- docker rm -f \"runplz-$RUN_ID\" >/dev/null 2>&1 || true\nfi"
                );
            }
        } else {
            let _ = writeln!(s, "\n# {}", step_comment(step));
            if let Some(render) = render_stdin(step) {
                let _ = writeln!(s, "{render}");
            }
            let _ = writeln!(
                s,
                "{} > \"$T/{}.json\" || exit 5",
                exec_line(step, p, host, &steps),
                step.name
            );
        }
    }
    let _ = writeln!(s, "\n# outputs back, on every exit path");
    match &steps.collect_from {
        Some(from) => {
            let _ = writeln!(
                s,
                "rp-collect{host} --job \"$JOB\" --from {} --to {} > \"$T/collect.json\" || echo '{{}}' > \"$T/collect.json\"",
                sh(from),
                sh(&steps.outputs.display().to_string())
            );
        }
        None => {
            let _ = writeln!(s, "echo '{{}}' > \"$T/collect.json\"");
        }
    }
    let _ = writeln!(
        s,
        "jq -c -n --slurpfile run \"$T/run.json\" --slurpfile col \"$T/collect.json\" \\\n  '{{type: \"plan-run\", version: 1, job: {}, run_id: $run[0].run_id, exit_code: $run[0].exit_code, timed_out: ($run[0] | if . then .ending.kind == \"timed_out\" else null end), outputs: {{files: ($col[0].files // null), bytes: ($col[0].bytes // null)}}}}'",
        serde_json::to_string(p.job.name())?
    );
    let _ = writeln!(s, "exit \"$code\"");
    Ok(s)
}

fn step_comment(step: &ExecStep) -> &'static str {
    match step.name {
        "image" => "image: build the rendered Dockerfile",
        "venv" => "image: a venv, then the rendered shell steps in it",
        _ => "set-up",
    }
}

/// The rp-image call that renders a step's stdin into a file, if it has one.
fn render_stdin(step: &ExecStep) -> Option<String> {
    Some(match step.stdin.as_ref()? {
        Stdin::Dockerfile => "rp-image \"$JOB\" --format dockerfile > \"$T/stdin\"".to_string(),
        Stdin::Shell { skip_apt } => format!(
            "rp-image \"$JOB\" --format shell{} > \"$T/stdin\"",
            if *skip_apt { " --skip-apt" } else { "" }
        ),
        Stdin::ContextTar => format!(
            "rp-image \"$JOB\" --format dockerfile --context \"$T/stdin\" > /dev/null   # the repo minus secrets + {}",
            super::execute::CONTEXT_DOCKERFILE
        ),
    })
}

fn exec_line(step: &ExecStep, p: &Prepared, host: &str, steps: &Steps) -> String {
    let mut l = format!("rp-exec{host}");
    if let Some(w) = &step.workdir {
        let _ = write!(l, " --workdir {}", sh(w));
    }
    if step.stdin.is_some() {
        l.push_str(" --stdin \"$T/stdin\"");
    }
    if step.job {
        if let Some(d) = p.deadline {
            let _ = write!(l, " --timeout {}", d.as_secs());
        }
        l.push_str(" --run-id \"$RUN_ID\"");
        if !super::steps::run_env(p, steps.mode == "native").is_empty() {
            l.push_str(" --env-file \"$T/env.json\"");
        }
    }
    if !host.is_empty() {
        // The job's ssh.user, ssh.port and ssh.ssh_key_path.
        l.push_str(" --job \"$JOB\"");
    }
    l.push_str(" --");
    for a in &step.argv {
        l.push(' ');
        l.push_str(&sh(a));
    }
    l
}
