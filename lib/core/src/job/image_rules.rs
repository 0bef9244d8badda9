//! Rules for the `image` section: exactly one base, a Dockerfile inside the job's folder and
//! without steps, and steps that each have exactly one kind, only their own modifiers, and
//! values that stay portable across the Dockerfile, the shell script and the Modal chain.

use super::spans::{join_index, join_key};
use super::spec::{JobFile, Step};
use super::validate::{bad_key, env_keys, inside_root, non_empty, p, q, strings, Problem};
use super::{humanize::quoted_list, Base, ImageStep};
use std::path::Path;

const STEP_KINDS: [&str; 5] = [
    "apt_install",
    "pip_install",
    "pip_install_local_dir",
    "run_commands",
    "env",
];

fn step(path: &str, s: &Step, root: &Path) -> Result<ImageStep, Problem> {
    let set = [
        s.apt_install.is_some(),
        s.pip_install.is_some(),
        s.pip_install_local_dir.is_some(),
        s.run_commands.is_some(),
        s.env.is_some(),
    ];
    let kinds: Vec<&str> = set
        .iter()
        .zip(STEP_KINDS)
        .filter(|(set, _)| **set)
        .map(|(_, k)| k)
        .collect();
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => {
            return Err(p(
                path,
                format!(
                    "found a step with no kind, expected exactly one of {}",
                    quoted_list(&STEP_KINDS)
                ),
            ))
        }
        many => {
            return Err(p(
                path,
                format!(
                    "found a step with {} kinds ({}), expected exactly one: split it into one step each",
                    many.len(),
                    quoted_list(many)
                ),
            ))
        }
    };
    let stray = |key: &str, set: bool, belongs: &str| -> Result<(), Problem> {
        if set && kind != belongs {
            Err(bad_key(
                join_key(path, key),
                format!(
                    "found {} on {} {} step, expected it only on a {} step",
                    q(key),
                    if kind.starts_with(['a', 'e']) {
                        "an"
                    } else {
                        "a"
                    },
                    q(kind),
                    q(belongs)
                ),
            ))
        } else {
            Ok(())
        }
    };
    stray("index_url", s.index_url.is_some(), "pip_install")?;
    stray(
        "extra_index_url",
        s.extra_index_url.is_some(),
        "pip_install",
    )?;
    stray("editable", s.editable.is_some(), "pip_install_local_dir")?;
    let key = join_key(path, kind);
    Ok(match kind {
        "apt_install" => {
            let pk = s.apt_install.clone().unwrap_or_default();
            strings(&key, &pk, "package name")?;
            for (i, name) in pk.iter().enumerate() {
                if name.starts_with('-') || name.chars().any(char::is_whitespace) {
                    return Err(p(
                        join_index(&key, i),
                        format!(
                            "found {}, expected one package name (no spaces, not an option)",
                            q(name)
                        ),
                    ));
                }
            }
            ImageStep::Apt(pk)
        }
        "pip_install" => {
            let pk = s.pip_install.clone().unwrap_or_default();
            strings(&key, &pk, "requirement")?;
            for (i, req) in pk.iter().enumerate() {
                // Modal's pip_install takes requirements only, so options cannot be kept
                // portable; the index URLs have their own keys.
                if req.trim_start().starts_with('-') {
                    return Err(p(
                        join_index(&key, i),
                        format!(
                            "found {}, expected a requirement such as \"pandas>=2.0\", not a pip option (use \"index_url\", \"extra_index_url\", \"pip_install_local_dir\" or \"run_commands\")",
                            q(req)
                        ),
                    ));
                }
            }
            for (k, v) in [
                ("index_url", &s.index_url),
                ("extra_index_url", &s.extra_index_url),
            ] {
                let kp = join_key(path, k);
                non_empty(&kp, v.as_deref(), "a URL")?;
                if let Some(u) = v {
                    if u.chars().any(char::is_whitespace) {
                        return Err(p(
                            kp,
                            format!(
                                "found {}, expected a URL (no spaces) such as \"https://download.pytorch.org/whl/cu121\"",
                                q(u)
                            ),
                        ));
                    }
                }
            }
            ImageStep::Pip {
                packages: pk,
                index_url: s.index_url.clone(),
                extra_index_url: s.extra_index_url.clone(),
            }
        }
        "pip_install_local_dir" => {
            let dir = s.pip_install_local_dir.clone().unwrap_or_default();
            non_empty(&key, Some(&dir), "a folder of the repo such as \".\"")?;
            inside_root(&key, &dir)?;
            if !root.join(&dir).is_dir() {
                return Err(p(
                    key,
                    format!(
                        "found {}, expected an existing folder (relative to the job's folder)",
                        q(&dir)
                    ),
                ));
            }
            ImageStep::PipLocalDir {
                path: dir,
                editable: s.editable.unwrap_or(false),
            }
        }
        "run_commands" => {
            let cmds = s.run_commands.clone().unwrap_or_default();
            strings(&key, &cmds, "command")?;
            ImageStep::Run(cmds)
        }
        _ => {
            let env = s.env.clone().unwrap_or_default();
            if env.is_empty() {
                return Err(p(
                    key,
                    "found an empty object, expected at least one variable",
                ));
            }
            env_keys(&key, env.keys())?;
            ImageStep::Env(env)
        }
    })
}

pub(super) fn image(spec: &JobFile, root: &Path) -> Result<(Base, Vec<ImageStep>), Problem> {
    let im = &spec.image;
    let base = match (&im.from_registry, &im.from_dockerfile) {
        (Some(_), Some(_)) => {
            return Err(p(
                "image",
                "found both \"from_registry\" and \"from_dockerfile\", expected exactly one",
            ))
        }
        (None, None) => {
            return Err(p(
                "image",
                "found neither \"from_registry\" nor \"from_dockerfile\", expected exactly one",
            ))
        }
        (Some(r), None) => {
            if r.trim().is_empty() || r.chars().any(char::is_whitespace) {
                return Err(p(
                    "image.from_registry",
                    format!(
                        "found {}, expected an image reference such as \"python:3.11-slim\"",
                        q(r)
                    ),
                ));
            }
            Base::Registry(r.clone())
        }
        (None, Some(d)) => {
            non_empty("image.from_dockerfile", Some(d), "a Dockerfile path")?;
            if !im.steps.is_empty() {
                return Err(p(
                    "image.steps",
                    "found steps beside \"from_dockerfile\", expected none: put them in your Dockerfile",
                ));
            }
            inside_root("image.from_dockerfile", d)?;
            let full = root.join(d);
            if !full.is_file() {
                return Err(p(
                    "image.from_dockerfile",
                    format!(
                        "found {}, expected an existing file (relative to the job's folder)",
                        q(d)
                    ),
                ));
            }
            Base::Dockerfile(full)
        }
    };
    let steps = im
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| step(&join_index("image.steps", i), s, root))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((base, steps))
}
