//! The `image` record: rp-image --json for the text formats, and the modal format's ops.
use super::{pin, wire, write_job};
use crate::support::{bin_cmd, run_expect, shm_tempdir};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

/// rp-image --json for the text formats (dockerfile, shell).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ImageText {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    format: String,
    text: String,
}

/// rp-image --format modal.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ImageModal {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    format: String,
    ops: Vec<ModalOp>,
}

/// One Modal image operation, tagged by `op`.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum ModalOp {
    FromRegistry {
        image: String,
        add_python: Option<String>,
    },
    FromDockerfile {
        path: String,
    },
    AptInstall {
        packages: Vec<String>,
    },
    PipInstall {
        packages: Vec<String>,
        index_url: Option<String>,
        extra_index_url: Option<String>,
    },
    AddLocalDir {
        local_path: String,
        remote_path: String,
        copy: bool,
    },
    RunCommands {
        commands: Vec<String>,
    },
    Env {
        vars: BTreeMap<String, String>,
    },
    Workdir {
        path: String,
    },
}

fn image(dir: &Path, args: &[&str]) -> Output {
    run_expect(
        bin_cmd("rp-image")
            .current_dir(dir)
            .arg("job.json")
            .args(args),
        0,
    )
}

#[test]
fn image_text_records() {
    let d = shm_tempdir();
    write_job(d.path(), "");
    for (format, starts) in [
        ("dockerfile", "FROM debian:bookworm\n"),
        ("shell", "#!/usr/bin/env bash\n"),
    ] {
        let out = image(d.path(), &["--format", format, "--json"]);
        wire::<runplz_protocol::ImageRecord>(&out, format);
        let rec: ImageText = pin(&out, format);
        assert_eq!((rec.kind.as_str(), rec.version), ("image", 1));
        assert_eq!(rec.format, format);
        assert!(rec.text.starts_with(starts), "{format}: {}", rec.text);
        // --json carries exactly the text printed without it.
        let raw = image(d.path(), &["--format", format]);
        assert_eq!(rec.text.as_bytes(), raw.stdout.as_slice(), "{format}");
    }
}

#[test]
fn image_modal_record() {
    let d = shm_tempdir();
    write_job(d.path(), "");
    let out = image(d.path(), &["--format", "modal"]);
    wire::<runplz_protocol::ImageRecord>(&out, "modal");
    let rec: ImageModal = pin(&out, "modal");
    assert_eq!((rec.kind.as_str(), rec.version), ("image", 1));
    assert_eq!(rec.format, "modal");
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        rec.ops,
        [
            ModalOp::FromRegistry {
                image: "debian:bookworm".into(),
                add_python: None
            },
            ModalOp::AptInstall {
                packages: s(&["git"])
            },
            ModalOp::PipInstall {
                packages: s(&["six"]),
                index_url: Some("https://pypi.example/simple".into()),
                extra_index_url: None
            },
            ModalOp::AddLocalDir {
                local_path: ".".into(),
                remote_path: "/workspace".into(),
                copy: true
            },
            ModalOp::RunCommands {
                commands: s(&["python3 -m pip install --no-cache-dir -e /workspace"])
            },
            ModalOp::RunCommands {
                commands: s(&["echo hi"])
            },
            ModalOp::Env {
                vars: [("A".to_string(), "b".to_string())].into()
            },
            ModalOp::Workdir {
                path: "/workspace".into()
            },
        ]
    );
    // The other base: the user's Dockerfile, by its path relative to the job.
    std::fs::write(d.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(
        d.path().join("job.json"),
        r#"{"name": "rec", "image": {"from_dockerfile": "Dockerfile"}, "run": "true"}"#,
    )
    .unwrap();
    let rec: ImageModal = pin(&image(d.path(), &["--format", "modal"]), "modal");
    assert_eq!(
        rec.ops,
        [ModalOp::FromDockerfile {
            path: "Dockerfile".into()
        }]
    );
}
