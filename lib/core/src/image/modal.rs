//! The Modal renderer: the image as a list of typed operations ([`ModalOp`], a wire type
//! from `runplz-protocol`) named after `modal.Image`'s methods, for the Python driver to
//! replay in order (`from_registry`, `apt_install`,
//! `pip_install`, `add_local_dir`, `run_commands`, `env`, `workdir`, or `from_dockerfile`).
//!
//! Modal turns `run_commands` into Dockerfile `RUN <cmd>` lines, so a command that shell form
//! would mangle (see [`super::dockerfile`]) is sent as an equivalent one-liner that decodes
//! the original bytes from base64 and runs them with `/bin/sh -c`.

use super::dockerfile::shell_form_ok;
use super::{check_no_nul, clean_dir, remote_dir, WORKSPACE};
use crate::job::{Base, ImageStep, Job};
use crate::quote;
use anyhow::Result;
use runplz_protocol::ModalOp;

/// Render the job's image as the Modal image chain, printed by rp-image as
/// `{"type":"image","version":1,"format":"modal","ops":[...]}` (an
/// [`ImageRecord::Modal`](runplz_protocol::ImageRecord::Modal)). Local paths (`local_path`,
/// `from_dockerfile`'s `path`) are relative to the job file's folder.
pub fn modal(job: &Job) -> Result<Vec<ModalOp>> {
    check_no_nul(job)?;
    let mut ops = Vec::new();
    match &job.base {
        Base::Registry(image) => ops.push(ModalOp::FromRegistry {
            image: image.clone(),
            add_python: None,
        }),
        Base::Dockerfile(path) => {
            let rel = path.strip_prefix(&job.root).unwrap_or(path);
            ops.push(ModalOp::FromDockerfile {
                path: rel.to_string_lossy().into_owned(),
            });
        }
    }
    for step in &job.steps {
        match step {
            ImageStep::Apt(pkgs) => ops.push(ModalOp::AptInstall {
                packages: pkgs.clone(),
            }),
            ImageStep::Pip {
                packages,
                index_url,
                extra_index_url,
            } => ops.push(ModalOp::PipInstall {
                packages: packages.clone(),
                index_url: index_url.clone(),
                extra_index_url: extra_index_url.clone(),
            }),
            ImageStep::PipLocalDir { path, editable } => {
                let clean = clean_dir(path);
                let remote = remote_dir(&clean);
                let local = if clean.is_empty() { "." } else { &clean };
                ops.push(ModalOp::AddLocalDir {
                    local_path: local.to_string(),
                    remote_path: remote.clone(),
                    copy: true,
                });
                let mut words = vec!["python3", "-m", "pip", "install", "--no-cache-dir"];
                if *editable {
                    words.push("-e");
                }
                words.push(&remote);
                let cmd = quote::join(words);
                ops.push(ModalOp::RunCommands {
                    commands: vec![command(&cmd)],
                });
            }
            ImageStep::Run(cmds) => {
                let cmds: Vec<String> = cmds.iter().map(|c| command(c)).collect();
                ops.push(ModalOp::RunCommands { commands: cmds });
            }
            ImageStep::Env(vars) => ops.push(ModalOp::Env { vars: vars.clone() }),
        }
    }
    if matches!(job.base, Base::Registry(_)) {
        ops.push(ModalOp::Workdir {
            path: WORKSPACE.to_string(),
        });
    }
    Ok(ops)
}

/// A command as Modal should receive it: unchanged when a Dockerfile `RUN` line keeps it
/// intact, else `/bin/sh -c "$(printf %s B64 | base64 -d)"`, which runs the same bytes
/// (less trailing newlines, which `$(..)` drops and a shell ignores).
pub(crate) fn command(cmd: &str) -> String {
    if shell_form_ok(cmd) {
        cmd.to_string()
    } else {
        format!(
            "/bin/sh -c \"$(printf %s {} | base64 -d)\"",
            base64(cmd.as_bytes())
        )
    }
}

/// Standard base64 with padding (RFC 4648), as `base64 -d` reads it.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), enc);
        }
    }

    #[test]
    fn unsafe_commands_run_the_same_bytes() {
        assert_eq!(command("echo hi"), "echo hi");
        let cmd = "printf '%s' \"it's $((1+1)) `echo x`\nü\" > out";
        let wrapped = command(cmd);
        assert!(wrapped.starts_with("/bin/sh -c \"$(printf %s "));
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&wrapped)
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        let got = std::fs::read_to_string(dir.path().join("out")).unwrap();
        assert_eq!(got, "it's 2 x\nü");
    }
}
