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
    assert_eq!(codes("rp-image"), ["0", "1", "2"]);
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
