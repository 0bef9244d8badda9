//! Generated docs stay current: every man page, completion script and the job.json schema
//! checked into the repo equals what the code renders now (`cargo run -p xtask` refreshes
//! them), and no stale generated file lingers.
use std::collections::BTreeSet;
use std::path::Path;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn generated_files_are_current() {
    let files = xtask::render_all().expect("render");
    let mut stale = Vec::new();
    for (path, bytes) in &files {
        match std::fs::read(repo().join(path)) {
            Ok(on_disk) if &on_disk == bytes => {}
            Ok(_) => stale.push(format!("{path} differs")),
            Err(_) => stale.push(format!("{path} is missing")),
        }
    }
    let wanted: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for dir in ["man", "completions"] {
        for entry in std::fs::read_dir(repo().join(dir)).expect(dir) {
            let name = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
            if !wanted.contains(name.as_str()) {
                stale.push(format!("{name} is not generated any more"));
            }
        }
    }
    assert!(stale.is_empty(), "run `cargo run -p xtask`: {stale:#?}");
}

/// The EXIT STATUS section of a rendered man page: its `.TP` codes, in order.
fn exit_status_codes(page: &str) -> Vec<String> {
    let (_, section) = page
        .split_once(".SH \"EXIT STATUS\"\n")
        .expect("an EXIT STATUS section");
    let section = section.split("\n.SH").next().unwrap();
    section
        .split(".TP\n")
        .skip(1)
        .map(|entry| entry.lines().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn every_man_page_documents_its_exit_codes_and_the_compatibility_contract() {
    let files = xtask::render_all().unwrap();
    let page = |name: &str| -> String {
        let (_, bytes) = files
            .iter()
            .find(|(p, _)| p == &format!("man/{name}.1"))
            .unwrap_or_else(|| panic!("no man/{name}.1"));
        String::from_utf8(bytes.clone()).unwrap()
    };
    for (cmd, codes) in xtask::tools() {
        let name = cmd.get_name().to_string();
        let want: Vec<&str> = codes.iter().map(|c| c.doc().0).collect();
        assert_eq!(exit_status_codes(&page(&name)), want, "{name}");
        // runplz's backend pages (runplz-ssh.1, ...) list runplz's codes.
        for sub in cmd.get_subcommands() {
            let full = format!("{name}-{}", sub.get_name());
            assert_eq!(exit_status_codes(&page(&full)), want, "{full}");
        }
    }
    // What the lists mean, spot-checked: only the tools with a deadline say 124, only those
    // that run a command pass its code on, and only runplz has setup steps.
    let codes = |name: &str| exit_status_codes(&page(name));
    // rp-image: 4 when the --context files hold a secret.
    assert_eq!(codes("rp-image"), ["0", "1", "2", "4"]);
    for name in ["rp-image", "rp-probe", "rp-pick", "rp-sync", "rp-collect"] {
        assert!(!codes(name).contains(&"124".to_string()), "{name}");
        assert!(!codes(name).contains(&"N".to_string()), "{name}");
    }
    for name in ["rp-exec", "runplz"] {
        assert!(codes(name).contains(&"124".to_string()), "{name}");
        assert!(codes(name).contains(&"N".to_string()), "{name}");
    }
    assert!(codes("runplz").contains(&"5".to_string()));
    assert!(codes("rp-collect").contains(&"4".to_string()));
    assert!(codes("rp-probe").contains(&"3".to_string()));
    assert_eq!(codes("rp-pick"), ["0", "1", "2", "6", "125", "128+n"]);
    for (path, bytes) in &files {
        if path.ends_with(".1") {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                text.contains(".SH COMPATIBILITY\nEvery JSON record"),
                "{path}"
            );
        }
    }
}

#[test]
fn clap_definitions_are_consistent() {
    for cmd in xtask::commands() {
        cmd.debug_assert();
    }
}

/// Every checked-in man page, as groff's man macros read it with every warning on.
#[test]
fn groff_reads_every_man_page_without_a_warning() {
    let mut pages: Vec<_> = std::fs::read_dir(repo().join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "1" || x == "5"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 11, "{pages:?}");
    let mut warnings = Vec::new();
    for page in &pages {
        // Both the default device and the terminal one `man` uses: each warns differently.
        for device in ["-Tps", "-Tutf8"] {
            let out = std::process::Command::new("groff")
                .args(["-ww", "-z", "-man", device])
                .arg(page)
                .output()
                .expect("groff (apt-get install groff-base; scripts/test installs it)");
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() || !stderr.is_empty() {
                warnings.push(format!("{} {device}: {stderr}", page.display()));
            }
        }
    }
    assert!(warnings.is_empty(), "{warnings:#?}");
}

/// What the pages read like: `code` in bold, the --help text's headings as sections, no
/// clap noise that only makes sense in a terminal.
#[test]
fn man_pages_render_code_and_sections_not_help_text_leftovers() {
    for (path, bytes) in xtask::render_all().unwrap() {
        if !(path.ends_with(".1") || path.ends_with(".5")) {
            continue;
        }
        let page = String::from_utf8(bytes).unwrap();
        for bad in [".SH EXTRA", "see a summary", "runplz\\-help(1)", "`"] {
            assert!(!page.contains(bad), "{path} contains {bad:?}");
        }
        assert!(page.is_ascii(), "{path}");
        assert!(
            page.contains(".SH \"SEE ALSO\"") || path.ends_with(".5"),
            "{path}"
        );
    }
    let page = |name: &str| std::fs::read_to_string(repo().join("man").join(name)).unwrap();
    let exec = page("rp-exec.1");
    for section in [".SH STOPPING\n", ".SH ENVIRONMENT\n", ".SH EXAMPLES\n"] {
        assert!(exec.contains(section), "rp-exec.1 lacks {section:?}");
    }
    // `code` is bold both in clap's part (the about) and in the after-help text; examples
    // are kept line by line.
    assert!(
        exec.contains("under \\fBsetsid\\fR in its own session"),
        "{exec}"
    );
    assert!(
        exec.contains("with a \\fBkill \\-KILL PID...\\fR command"),
        "{exec}"
    );
    assert!(
        exec.contains(".nf\n\\&rp\\-exec \\-\\-timeout 3600"),
        "{exec}"
    );
    // One EXIT STATUS section, with the help text's words on exit codes inside it.
    assert_eq!(exec.matches(".SH \"EXIT STATUS\"").count(), 1);
    assert_eq!(page("runplz.1").matches(".SH \"EXIT STATUS\"").count(), 1);
}

/// Nothing checked in points at a file outside the repo (the notes a clone does not have).
#[test]
fn no_tracked_file_points_outside_the_repo() {
    let out = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(repo())
        .output()
        .expect("git");
    assert!(out.status.success());
    // Spelled in pieces so that this file does not match itself.
    let outside = [
        ["shared", "/facts"].concat(),
        ["shared", "/DESIGN"].concat(),
        ["../", "shared"].concat(),
        ["/work", "/"].concat(),
    ];
    let mut found = Vec::new();
    for path in String::from_utf8(out.stdout).unwrap().split('\0') {
        let Ok(text) = std::fs::read_to_string(repo().join(path)) else {
            continue; // binary, or deleted in the work tree
        };
        for bad in &outside {
            if text.contains(bad.as_str()) {
                found.push(format!("{path}: {bad}"));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
