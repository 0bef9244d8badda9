//! Everything generated from the code and checked in: one man page per tool (from its clap
//! definition, plus an EXIT STATUS section listing the codes that tool declares it can
//! return, its `EXIT_CODES`), shell completions, the job.json JSON
//! Schema and `job.json(5)`. A test renders these again and fails when a checked-in copy is
//! stale.

pub mod jobman;
pub mod roff;

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
            roff::ascii_only(&jobman::render(&schema)).into_bytes(),
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

/// The command as its man page shows it: `-h` described once ("Print help", not clap's
/// "see a summary with '-h'", which means nothing in a man page) and no `help` subcommand
/// (it has no page of its own).
fn for_man(cmd: clap::Command) -> clap::Command {
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd
        .disable_help_subcommand(true)
        .disable_help_flag(true)
        .arg(
            clap::Arg::new("help")
                .short('h')
                .long("help")
                .action(clap::ArgAction::Help)
                .help("Print help"),
        );
    for sub in subs {
        cmd = cmd.mut_subcommand(sub, for_man);
    }
    cmd
}

fn man_page(cmd: clap::Command, codes: &[Exit]) -> Result<Vec<u8>> {
    let cmd = for_man(cmd);
    let subs: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    let cmd_name = cmd.get_name().to_string();
    let after = cmd
        .get_after_long_help()
        .or(cmd.get_after_help())
        .map(|t| t.to_string())
        .unwrap_or_default();
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
    let mut page = roff::bold_code(&String::from_utf8(buf)?);
    // The --help text's own sections, then EXIT STATUS (its prose there too), then
    // COMPATIBILITY, EXAMPLES and SEE ALSO, in the usual man page order.
    let sections = roff::after_help_sections(&after);
    let (exit, rest): (Vec<_>, Vec<_>) = sections
        .into_iter()
        .partition(|s| s.heading.starts_with("EXIT"));
    let (examples, rest): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|s| s.heading.contains("EXAMPLE"));
    let sh = |heading: &str| {
        if heading.contains(' ') {
            format!(".SH \"{heading}\"\n")
        } else {
            format!(".SH {heading}\n")
        }
    };
    for s in &rest {
        page.push_str(&sh(&s.heading));
        page.push_str(&s.body);
    }
    page.push_str(&exit_status_section(codes));
    for s in &exit {
        page.push_str(".PP\n");
        page.push_str(&s.body);
    }
    page.push_str(".SH COMPATIBILITY\n");
    page.push_str(&roff_text(runplz_protocol::COMPATIBILITY));
    page.push('\n');
    for s in &examples {
        page.push_str(".SH EXAMPLES\n");
        page.push_str(&s.body);
    }
    page.push_str(&see_also(&cmd_name));
    let mut version = Vec::new();
    man.render_version_section(&mut version)?;
    page.push_str(&String::from_utf8(version)?);
    Ok(roff::ascii_only(&page).into_bytes())
}

/// SEE ALSO: every other page of the set.
fn see_also(this: &str) -> String {
    let mut pages: Vec<String> = Vec::new();
    for (cmd, _) in tools() {
        let name = cmd.get_name().to_string();
        for sub in cmd.get_subcommands() {
            pages.push(format!("{name}-{}", sub.get_name()));
        }
        pages.push(name);
    }
    pages.sort();
    let mut refs: Vec<String> = pages
        .iter()
        .filter(|p| p.as_str() != this)
        .map(|p| format!("\\%\\fB{}\\fR(1)", roff::esc(p)))
        .collect();
    refs.push("\\fBjob.json\\fR(5)".into());
    format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", "))
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
