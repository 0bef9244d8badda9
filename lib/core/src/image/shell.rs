//! The shell renderer: the image steps as a bash script for a box that already runs the base
//! image (Brev container mode, native ssh, local native). Safe to run again: apt installs
//! only what is missing, pip and `export` are idempotent, and commands are the user's.
//!
//! Cloud boxes run unattended upgrades at boot, so before apt the script waits (bounded) for
//! any other apt/dpkg, then repairs an interrupted dpkg. Every word from the job goes through
//! [`quote::sh`]; the body is one function, so bash has read the whole script before a step
//! runs (a step reading stdin, or `bash -s` over ssh, cannot eat the rest of it).

use super::{bad, check_no_nul, clean_dir, describe};
use crate::job::{Base, ImageStep, Job};
use crate::quote;
use anyhow::Result;

/// Options for [`shell`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellOptions {
    /// Turn `apt_install` steps into a comment and a warning (local native mode: no root).
    pub skip_apt: bool,
}

const PRELUDE: &str = r#"set -euo pipefail

runplz_step=
runplz_what=
# Name the failing step: `set -e` alone would stop silently.
trap 'runplz_rc=$?; if [ "$runplz_rc" -ne 0 ] && [ -n "$runplz_step" ]; then printf "runplz: step %s (%s) failed with exit %s\n" "$runplz_step" "$runplz_what" "$runplz_rc" >&2; fi' EXIT

runplz_begin() {
  runplz_step=$1 runplz_what=$2
  printf '# runplz: step %s: %s\n' "$1" "$2" >&2
}
"#;

const APT: &str = r#"
# Run as root: directly, through passwordless sudo, or not at all.
runplz_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "runplz: apt_install needs root: run as root or give $(id -un) passwordless sudo (sudo -n failed)" >&2
    return 1
  fi
}

# Whether another apt/dpkg (unattended-upgrades at boot, most often) holds the package lock.
runplz_apt_busy() {
  if command -v fuser >/dev/null 2>&1 &&
    runplz_root fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1; then
    return 0
  fi
  command -v pgrep >/dev/null 2>&1 && pgrep -x 'apt|apt-get|dpkg|unattended-upgr' >/dev/null 2>&1
}

runplz_apt_wait() {
  local waited=0 limit="${RUNPLZ_APT_LOCK_WAIT:-600}"
  case "$limit" in '' | *[!0-9]*) limit=600 ;; esac
  while runplz_apt_busy; do
    if [ "$waited" -ge "$limit" ]; then
      echo "runplz: another apt/dpkg still holds the package lock after ${waited}s; giving up (set RUNPLZ_APT_LOCK_WAIT to wait longer)" >&2
      return 1
    fi
    if [ "$waited" = 0 ]; then
      echo "runplz: waiting up to ${limit}s for another apt/dpkg to finish (unattended upgrades?)" >&2
    fi
    sleep 3
    waited=$((waited + 3))
  done
}

runplz_apt_install() {
  local p missing=()
  for p in "$@"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "runplz: already installed: $*" >&2
    return 0
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "runplz: apt_install needs apt-get, and this box has none" >&2
    return 1
  fi
  runplz_root true
  runplz_apt_wait
  runplz_root env DEBIAN_FRONTEND=noninteractive dpkg --configure -a
  runplz_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update
  runplz_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
    install -y --no-install-recommends "${missing[@]}"
}
"#;

const PIP: &str = r#"
# Whichever python3 is first on PATH, so an activated venv wins.
runplz_pip() {
  if ! command -v python3 >/dev/null 2>&1; then
    echo "runplz: pip steps need python3 on PATH" >&2
    return 1
  fi
  python3 -m pip install "$@"
}
"#;

const DIR: &str = r#"
runplz_need_dir() {
  if [ ! -d "$1" ]; then
    echo "runplz: $1 is not a folder here ($PWD); run this script from the workspace root" >&2
    return 1
  fi
}
"#;

/// Render the job's image steps as an idempotent bash script, run from the workspace root.
/// A `from_dockerfile` job has no steps a script could apply: that is a usage error.
pub fn shell(job: &Job, opts: &ShellOptions) -> Result<String> {
    check_no_nul(job)?;
    let image = match &job.base {
        Base::Registry(image) => image,
        Base::Dockerfile(_) => {
            return Err(bad(
                job,
                "image.from_dockerfile",
                "found a Dockerfile image, expected \"from_registry\" plus steps: the shell \
                 format applies steps on a box that already runs the base image, and only \
                 docker can build a Dockerfile (use --format dockerfile)",
            ))
        }
    };
    let has = |f: fn(&ImageStep) -> bool| job.steps.iter().any(f);
    let mut out = format!(
        "#!/usr/bin/env bash\n\
         # Image steps of job {name}, for a box that already runs {image}.\n\
         # Rendered by rp-image. Safe to run again; run it from the workspace root.\n",
        name = job.name(),
    );
    out.push_str(PRELUDE);
    if !opts.skip_apt && has(|s| matches!(s, ImageStep::Apt(_))) {
        out.push_str(APT);
    }
    if has(|s| matches!(s, ImageStep::Pip { .. } | ImageStep::PipLocalDir { .. })) {
        out.push_str(PIP);
    }
    if has(|s| matches!(s, ImageStep::PipLocalDir { .. })) {
        out.push_str(DIR);
    }
    out.push_str("\nrunplz_main() {\n");
    let total = job.steps.len();
    for (i, step) in job.steps.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let what = describe(step);
        out.push_str(&format!(
            "  runplz_begin {}/{total} {}\n",
            i + 1,
            quote::sh(&what)
        ));
        step_body(&mut out, step, opts);
    }
    if total == 0 {
        out.push_str("  :\n");
    }
    out.push_str("}\n\nrunplz_main </dev/null\n");
    Ok(out)
}

fn step_body(out: &mut String, step: &ImageStep, opts: &ShellOptions) {
    let mut line = |s: String| {
        out.push_str("  ");
        out.push_str(&s);
        out.push('\n');
    };
    match step {
        ImageStep::Apt(pkgs) if opts.skip_apt => {
            let names = quote::join(pkgs);
            line(format!("# apt_install skipped (--skip-apt): {names}"));
            let msg = format!(
                "runplz: warning: skipped apt_install {} (--skip-apt); install them here yourself if the job needs them",
                pkgs.join(" ")
            );
            line(format!("printf '%s\\n' {} >&2", quote::sh(&msg)));
        }
        ImageStep::Apt(pkgs) => line(format!("runplz_apt_install {}", quote::join(pkgs))),
        ImageStep::Pip {
            packages,
            index_url,
            extra_index_url,
        } => {
            let mut words: Vec<&str> = Vec::new();
            if let Some(u) = index_url {
                words.extend(["--index-url", u]);
            }
            if let Some(u) = extra_index_url {
                words.extend(["--extra-index-url", u]);
            }
            words.extend(packages.iter().map(String::as_str));
            line(format!("runplz_pip {}", quote::join(words)));
        }
        ImageStep::PipLocalDir { path, editable } => {
            let clean = clean_dir(path);
            // `./` so pip reads a path, not a package name to fetch from the index.
            let local = if clean.is_empty() {
                ".".to_string()
            } else {
                format!("./{clean}")
            };
            let q = quote::sh(&local);
            line(format!("runplz_need_dir {q}"));
            let e = if *editable { "-e " } else { "" };
            line(format!("runplz_pip {e}{q}"));
        }
        ImageStep::Run(cmds) => {
            for cmd in cmds {
                line(format!("/bin/sh -c {}", quote::sh(cmd)));
            }
        }
        ImageStep::Env(vars) => {
            for (k, v) in vars {
                line(format!("export {k}={}", quote::sh(v)));
            }
        }
    }
}
