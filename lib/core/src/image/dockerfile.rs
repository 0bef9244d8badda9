//! The Dockerfile renderer and its quoting. Docker's parser is not a shell: it splits lines
//! before anything else, joins lines ending in `\`, expands `$VAR` in `ENV` and `COPY`, reads
//! `<<WORD` in a shell-form `RUN` as a heredoc that eats the following lines, and parses a
//! `RUN` starting with `[` as JSON. So a value goes in shell form only when none of that can
//! touch it, and in JSON exec form (never expanded, never split) otherwise.

use super::{bad, check_no_nul, clean_dir, remote_dir, step_path};
use crate::job::{Base, ImageStep, Job};
use crate::quote;
use anyhow::Result;
use std::path::Path;

/// Render the job's image as a Dockerfile. A `from_dockerfile` job gets the user's file back
/// byte for byte; otherwise `FROM`, one layer per step, and `WORKDIR /workspace`.
pub fn dockerfile(job: &Job) -> Result<String> {
    check_no_nul(job)?;
    let image = match &job.base {
        Base::Dockerfile(path) => return passthrough(job, path),
        Base::Registry(image) => image,
    };
    if !image_ref_ok(image) {
        return Err(bad(
            job,
            "image.from_registry",
            format!(
                "found {}, expected an image reference of letters, digits and . _ - / : @",
                json(image)
            ),
        ));
    }
    let mut out = format!("FROM {image}\nENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1\n");
    for (i, step) in job.steps.iter().enumerate() {
        match step {
            ImageStep::Apt(pkgs) => {
                let cmd = format!(
                    "apt-get update && apt-get install -y --no-install-recommends {} && rm -rf /var/lib/apt/lists/*",
                    quote::join(pkgs)
                );
                // Shell form unless a package name holds `<<` (quoted, but some builders
                // might still see a heredoc).
                out.push_str(&run_line(&cmd));
                out.push('\n');
            }
            ImageStep::Pip {
                packages,
                index_url,
                extra_index_url,
            } => {
                let mut argv = pip_argv();
                if let Some(u) = index_url {
                    argv.extend(["--index-url".to_string(), u.clone()]);
                }
                if let Some(u) = extra_index_url {
                    argv.extend(["--extra-index-url".to_string(), u.clone()]);
                }
                argv.extend(packages.iter().cloned());
                out.push_str(&format!("RUN {}\n", exec_form(&argv)));
            }
            ImageStep::PipLocalDir { path, editable } => {
                // The build context is the shipped folder; the path is relative to the job
                // file's folder inside it.
                let clean = clean_dir(&job.job_rel.join(path).to_string_lossy());
                if let Some(c) = clean.chars().find(|c| !copy_char_ok(*c)) {
                    return Err(bad(
                        job,
                        format!("{}.pip_install_local_dir", step_path(i)),
                        format!(
                            "found {} (with {}), expected a folder name a Dockerfile COPY keeps as is: \
                             letters, digits and . _ - / + @ , = : (COPY expands $, reads \\ and quotes, \
                             and matches * ? [ as patterns); rename the folder",
                            json(path),
                            json(&c.to_string())
                        ),
                    ));
                }
                let src = if clean.is_empty() {
                    "."
                } else {
                    clean.as_str()
                };
                let dst = remote_dir(&clean);
                out.push_str(&format!("COPY {src} {dst}\n"));
                let mut argv = pip_argv();
                if *editable {
                    argv.push("-e".into());
                }
                argv.push(dst);
                out.push_str(&format!("RUN {}\n", exec_form(&argv)));
            }
            ImageStep::Run(cmds) => {
                for cmd in cmds {
                    out.push_str(&run_line(cmd));
                    out.push('\n');
                }
            }
            ImageStep::Env(vars) => {
                let mut line = String::from("ENV");
                for (k, v) in vars {
                    let q = env_value(v).map_err(|why| {
                        bad(
                            job,
                            format!("{}.env.{k}", step_path(i)),
                            format!(
                                "found a value with {why}, which a Dockerfile ENV cannot hold \
                                 (Docker reads one instruction per line); set it in the job's \
                                 top-level \"env\" instead, which is passed when the job runs"
                            ),
                        )
                    })?;
                    line.push_str(&format!(" {k}={q}"));
                }
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    out.push_str("WORKDIR /workspace\n");
    Ok(out)
}

/// The user's Dockerfile, unchanged.
fn passthrough(job: &Job, path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| {
        bad(
            job,
            "image.from_dockerfile",
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    String::from_utf8(bytes).map_err(|e| {
        bad(
            job,
            "image.from_dockerfile",
            format!(
                "{} is not UTF-8 text (invalid byte at offset {})",
                path.display(),
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn pip_argv() -> Vec<String> {
    ["python3", "-m", "pip", "install", "--no-cache-dir"]
        .map(String::from)
        .to_vec()
}

/// An image reference as Docker's grammar allows it (no `$`, which `FROM` would expand).
fn image_ref_ok(image: &str) -> bool {
    !image.is_empty()
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
}

/// Characters a `COPY` path keeps as is in plain form: no `$` (expanded), `\` and quotes
/// (read by Docker's word lexer), `* ? [` (patterns), whitespace (splits) or `<` (heredoc).
fn copy_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-/+@,=:".contains(c) || (!c.is_ascii() && !c.is_whitespace())
}

/// A JSON exec-form argument list: `["a", "b"]`. Docker decodes it as JSON, runs it without
/// a shell, and never expands or splits it; serde_json escapes `"`, `\` and control
/// characters, so the line stays one line.
pub(crate) fn exec_form(argv: &[String]) -> String {
    let items: Vec<String> = argv.iter().map(|a| json(a)).collect();
    format!("[{}]", items.join(", "))
}

/// Whether `cmd` may go into a shell-form `RUN cmd` unchanged: Docker then hands exactly
/// these bytes to `/bin/sh -c`. Not when it has a line break or other control character
/// (the line would split), leading or trailing whitespace (trimmed), a trailing `\` (joins
/// the next line), a leading `[` (parsed as JSON), or `<<` (parsed as a heredoc).
pub(crate) fn shell_form_ok(cmd: &str) -> bool {
    !cmd.is_empty()
        && cmd.trim() == cmd
        && !cmd.chars().any(|c| c.is_control() && c != '\t')
        && !cmd.starts_with('[')
        && !cmd.ends_with('\\')
        && !cmd.contains("<<")
}

/// One `RUN` line for a shell command: shell form when safe, else exec form through
/// `/bin/sh -c`, which runs the same shell on the same bytes.
pub(crate) fn run_line(cmd: &str) -> String {
    if shell_form_ok(cmd) {
        format!("RUN {cmd}")
    } else {
        let argv = ["/bin/sh", "-c", cmd].map(String::from);
        format!("RUN {}", exec_form(&argv))
    }
}

/// A value for `ENV KEY=<value>`: double-quoted, with `\`, `"` and `$` escaped (the three
/// characters Docker unescapes inside double quotes; `$` would otherwise be expanded).
/// Errors name what cannot be written: Docker has no way to put a line break in `ENV`.
pub(crate) fn env_value(v: &str) -> Result<String, &'static str> {
    if v.contains('\n') {
        return Err("a line break");
    }
    if v.contains('\r') {
        return Err("a carriage return");
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's reading of a double-quoted ENV value (buildkit `processDoubleQuote`): `\`
    /// escapes only `"`, `$` and `\`; every other backslash is kept.
    fn docker_unquote(q: &str) -> String {
        let inner = q
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap();
        let mut out = String::new();
        let mut it = inner.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\\' && matches!(it.peek(), Some('"' | '$' | '\\')) {
                out.push(it.next().unwrap());
            } else {
                assert!(c != '"' && c != '$', "unescaped {c} in {q}");
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn env_values_round_trip_through_dockers_rules() {
        for v in [
            "",
            "plain",
            "two words",
            "it's",
            r#"say "hi""#,
            "$HOME and ${X} and $(id)",
            "`id`",
            r"C:\path\",
            r"\$ already escaped?",
            "ünïcödé ✓",
            "tab\there",
        ] {
            let q = env_value(v).unwrap();
            assert_eq!(docker_unquote(&q), v, "{q}");
        }
        assert_eq!(env_value(r#"a"b$c\d"#).unwrap(), r#""a\"b\$c\\d""#);
    }

    #[test]
    fn env_values_refuse_line_breaks() {
        assert_eq!(env_value("a\nb"), Err("a line break"));
        assert_eq!(env_value("a\rb"), Err("a carriage return"));
    }

    #[test]
    fn exec_form_is_one_json_line() {
        let argv: Vec<String> = ["python3", "a b", "x\"y", "back\\slash", "l1\nl2", "ü"]
            .map(String::from)
            .to_vec();
        let line = exec_form(&argv);
        assert!(!line.contains('\n'));
        assert_eq!(
            line,
            r#"["python3", "a b", "x\"y", "back\\slash", "l1\nl2", "ü"]"#
        );
        let back: Vec<String> = serde_json::from_str(&line).unwrap();
        assert_eq!(back, argv);
    }

    #[test]
    fn commands_take_shell_form_only_when_docker_leaves_them_alone() {
        assert_eq!(run_line("echo hi > /x"), "RUN echo hi > /x");
        assert_eq!(
            run_line("echo '$(id)' \"`x`\" ü"),
            "RUN echo '$(id)' \"`x`\" ü"
        );
        for cmd in [
            "echo a\necho b",
            "echo a \\",
            "[ -f x ] && echo y",
            "cat <<EOF",
            " leading",
            "trailing ",
            "cr\r",
            "trailing nbsp\u{a0}",
        ] {
            let line = run_line(cmd);
            let json = line.strip_prefix("RUN ").unwrap();
            let argv: Vec<String> = serde_json::from_str(json).unwrap();
            assert_eq!(argv, ["/bin/sh", "-c", cmd], "{line}");
        }
    }

    #[test]
    fn image_refs_and_copy_paths() {
        assert!(image_ref_ok("ghcr.io/org/img:1.0@sha256:abc"));
        assert!(!image_ref_ok("img:${TAG}"));
        assert!(copy_char_ok('ü'));
        for c in ['$', '\\', '"', '\'', '*', '?', '[', ' ', '<', '\u{a0}'] {
            assert!(!copy_char_ok(c), "{c:?}");
        }
    }
}
