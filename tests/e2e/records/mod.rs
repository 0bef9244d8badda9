//! Every record the tools print, pinned from outside: independent serde structs with
//! `deny_unknown_fields`, filled from each real tool's real stdout (the exec record is pinned
//! in `exec/`). A field added, renamed, dropped or retyped fails here, so a schema change has
//! to be made on purpose in two places. Each struct also serialises back to exactly the JSON
//! it came from, which catches a dropped `null` field that `Option` alone would accept, and
//! [`wire`] checks that runplz-protocol's own types read (and write back) the same output.
mod brevbox;
mod image;
mod modal;
mod pick;
mod probe;
mod run;
mod transfer;

pub(crate) use ops::{Orphan, PsEntry};
mod ops;

use crate::support::json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::process::Output;

/// `earlier` in the run record's `outputs` and in the collect record: files already in the
/// folder that did not come this time.
#[derive(Debug, serde::Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Earlier {
    pub(crate) files: u64,
    pub(crate) paths: Vec<String>,
}

impl Earlier {
    pub(crate) fn none() -> Earlier {
        Earlier {
            files: 0,
            paths: Vec::new(),
        }
    }
}

/// The secret scan's summary: the `scan` record's fields, and `secret_scan` in `sync` and `run`.
#[derive(Debug, serde::Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scan {
    pub(crate) mode: String,
    pub(crate) source: String,
    pub(crate) files: u64,
    pub(crate) scanned: u64,
    pub(crate) cached: u64,
    pub(crate) binary: u64,
    pub(crate) too_large: u64,
    pub(crate) findings: Vec<SecretFinding>,
    pub(crate) fingerprint: Option<String>,
}

/// `tree` in the sync and run records.
#[derive(Debug, serde::Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tree {
    pub(crate) fingerprint: Option<String>,
    pub(crate) git_commit: Option<String>,
    pub(crate) git_dirty: Option<bool>,
}

/// One masked finding.
#[derive(Debug, serde::Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretFinding {
    pub(crate) path: String,
    pub(crate) line: u64,
    pub(crate) column: u64,
    pub(crate) rule: String,
    pub(crate) preview: String,
    pub(crate) allowed: bool,
}

/// Parse stdout into `T` strictly; `T` must serialise back to the same JSON.
pub(crate) fn pin<T: DeserializeOwned + Serialize>(out: &Output, what: &str) -> T {
    let v = json(out);
    let rec: T = serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("{what} record does not match the pinned schema ({e}):\n{v}"));
    assert_eq!(
        serde_json::to_value(&rec).unwrap(),
        v,
        "{what} record: a field is missing (an Option accepted its absence)"
    );
    rec
}

/// The protocol crate's own wire type `W` (what a Rust consumer would use) reads the same
/// stdout and writes it back unchanged: the inside types cover every field the tool prints.
pub(crate) fn wire<W>(out: &Output, what: &str)
where
    W: runplz_protocol::Tagged + DeserializeOwned + Serialize,
{
    let v = json(out);
    let rec: W = runplz_protocol::read(&v.to_string())
        .unwrap_or_else(|e| panic!("runplz-protocol cannot read the {what} record ({e}):\n{v}"));
    assert_eq!(
        serde_json::to_value(runplz_protocol::Record::new(W::TYPE, &rec)).unwrap(),
        v,
        "{what} record: runplz-protocol's type writes it back differently"
    );
}

/// A job folder: job.json using every image step kind (plus `extra`, more top-level keys,
/// written after a comma) and data.txt.
pub(crate) fn write_job(dir: &Path, extra: &str) {
    std::fs::write(
        dir.join("job.json"),
        format!(
            r#"{{"name": "rec", "image": {{"from_registry": "debian:bookworm", "steps": [
                 {{"apt_install": ["git"]}},
                 {{"pip_install": ["six"], "index_url": "https://pypi.example/simple"}},
                 {{"pip_install_local_dir": ".", "editable": true}},
                 {{"run_commands": ["echo hi"]}},
                 {{"env": {{"A": "b"}}}}]}},
               "run": "echo ok > \"$RUNPLZ_OUT/r.txt\"" {extra}}}"#
        ),
    )
    .unwrap();
    std::fs::write(dir.join("data.txt"), "payload\n").unwrap();
}

/// Write a .tar.gz holding `a/r.txt` = `hello\n` (also used by the README tests).
pub(crate) fn hello_tar_gz(path: &Path) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "a/r.txt", &b"hello\n"[..]).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}
