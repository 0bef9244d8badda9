//! Everything generated from the code and checked in: one man page per tool (from its clap
//! definition, plus an EXIT STATUS section listing the codes that tool declares it can
//! return, its `EXIT_CODES`), shell completions, the job.json JSON
//! Schema and `job.json(5)`. A test renders these again and fails when a checked-in copy is
//! stale.

pub mod jobman;

use anyhow::Result;
use runplz_protocol::Exit;

/// Every generated file: (path relative to the repo root, contents).
pub fn render_all() -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for (cmd, codes) in tools() {
        let name = cmd.get_name().to_string();
        files.push((format!("man/{name}.1"), man_page(cmd.clone(), codes)?));
        // The SUBCOMMANDS section points at NAME-SUB(1): write those pages too.
        for sub in cmd.get_subcommands() {
            let full = format!("{name}-{}", sub.get_name());
            // clap names are &'static str without its `string` feature; this runs once.
            let leaked: &'static str = Box::leak(full.clone().into_boxed_str());
            let page = sub
                .clone()
                .name(leaked)
                .bin_name(leaked)
                .version(env!("CARGO_PKG_VERSION"));
            files.push((format!("man/{full}.1"), man_page(page, codes)?));
        }
        for (shell, ext) in [
            (clap_complete::Shell::Bash, "bash"),
            (clap_complete::Shell::Zsh, "zsh"),
            (clap_complete::Shell::Fish, "fish"),
        ] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut buf);
            files.push((format!("completions/{name}.{ext}"), buf));
        }
    }
    files.extend(render_job_docs()?);
    Ok(files)
}

/// The job.json JSON Schema and `job.json(5)`, both from the `JobFile` types.
pub fn render_job_docs() -> Result<Vec<(String, Vec<u8>)>> {
    let schema = serde_json::to_value(schemars::schema_for!(runplz_core::job::JobFile))?;
    let mut text = serde_json::to_string_pretty(&schema)?;
    text.push('\n');
    Ok(vec![
        ("man/job.schema.json".to_string(), text.into_bytes()),
        (
            "man/job.json.5".to_string(),
            jobman::render(&schema).into_bytes(),
        ),
    ])
}

/// Every tool's clap definition.
pub fn commands() -> Vec<clap::Command> {
    tools().into_iter().map(|(cmd, _)| cmd).collect()
}

/// Every tool's clap definition with the exit codes it declares it can return.
pub fn tools() -> Vec<(clap::Command, &'static [Exit])> {
    vec![
        (rp_image::command(), rp_image::EXIT_CODES),
        (rp_probe::command(), rp_probe::EXIT_CODES),
        (rp_pick::command(), rp_pick::EXIT_CODES),
        (rp_box::command(), rp_box::EXIT_CODES),
        (rp_sync::command(), rp_sync::EXIT_CODES),
        (rp_exec::command(), rp_exec::EXIT_CODES),
        (rp_collect::command(), rp_collect::EXIT_CODES),
        (runplz::command(), runplz::EXIT_CODES),
    ]
}

/// The EXIT STATUS section for these codes, in the order given.
pub fn exit_status_section(codes: &[Exit]) -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    for code in codes {
        let (n, what) = code.doc();
        s.push_str(&format!(".TP\n{n}\n{what}\n"));
    }
    s
}

fn man_page(cmd: clap::Command, codes: &[Exit]) -> Result<Vec<u8>> {
    let subs: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    let cmd_name = cmd.get_name().to_string();
    let man = clap_mangen::Man::new(cmd);
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    if !subs.is_empty() {
        man.render_subcommands_section(&mut buf)?;
        // runplz's backends: each one's own flags under its own heading (the shared ones
        // repeat, so each heading is the whole story for that backend).
        for sub in &subs {
            let page = clap_mangen::Man::new(sub.clone());
            let mut opts = Vec::new();
            page.render_options_section(&mut opts)?;
            let opts = String::from_utf8(opts)?.replacen(
                ".SH OPTIONS",
                &format!(
                    ".SH \"{} OPTIONS\"\nSee {}-{}(1).",
                    sub.get_name().to_uppercase(),
                    cmd_name,
                    sub.get_name()
                ),
                1,
            );
            buf.extend_from_slice(opts.as_bytes());
        }
    }
    buf.extend_from_slice(exit_status_section(codes).as_bytes());
    buf.extend_from_slice(b".SH COMPATIBILITY\n");
    buf.extend_from_slice(roff_text(runplz_protocol::COMPATIBILITY).as_bytes());
    buf.push(b'\n');
    man.render_extra_section(&mut buf)?;
    man.render_version_section(&mut buf)?;
    Ok(buf)
}

/// Plain text as one roff paragraph: backslashes escaped, and a line that would start with
/// `.` or `'` (a request) guarded.
fn roff_text(text: &str) -> String {
    let t = text.replace('\\', "\\e");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    /// The checked-in schema and job.json(5) match the code; `cargo run -p xtask` fixes it.
    #[test]
    fn job_docs_are_current() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (path, want) in super::render_job_docs().unwrap() {
            let have = std::fs::read(root.join(&path)).unwrap_or_default();
            assert!(
                have == want,
                "{path} is stale: run `cargo run -p xtask` and commit it"
            );
        }
    }
}
