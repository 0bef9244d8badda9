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

#[test]
fn every_man_page_documents_the_exit_codes_and_the_compatibility_contract() {
    for (path, bytes) in xtask::render_all().unwrap() {
        if path.ends_with(".1") {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains(".SH \"EXIT STATUS\""), "{path}");
            assert!(text.contains("\n124\n"), "{path}");
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
