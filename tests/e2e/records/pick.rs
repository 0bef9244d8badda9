//! The `pick` record, from rp-pick on the brev search fixture.
use super::{pin, wire};
use crate::support::{bin_cmd, run_expect};
use serde::{Deserialize, Serialize};

/// rp-pick's record.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Pick {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    instance_type: String,
    provider: String,
    cloud: Option<String>,
    gpu_name: Option<String>,
    gpu_count: u32,
    vram_per_gpu_gb: f64,
    total_vram_gb: f64,
    vcpus: f64,
    ram_gb: f64,
    disk_gb: Option<f64>,
    price_per_hour: f64,
    boot_time_seconds: Option<f64>,
    hint: Option<Hint>,
    reason: String,
    types: Vec<String>,
    ranked: Vec<Ranked>,
    band_max_price: f64,
    matched: usize,
    offers: usize,
    source: String,
}

/// One ranked offer, in brev search's field names.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Ranked {
    #[serde(rename = "type")]
    instance_type: String,
    provider: String,
    gpu_name: Option<String>,
    gpu_count: u32,
    vram_per_gpu_gb: f64,
    vcpus: f64,
    ram_gb: f64,
    target_disk_gb: Option<f64>,
    price_per_hour: f64,
    boot_time_seconds: Option<f64>,
    hint: Option<Hint>,
    in_band: bool,
}

#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Hint {
    field: String,
    value: f64,
}

#[test]
fn pick_record() {
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/brev/search.json");
    let out = run_expect(
        bin_cmd("rp-pick").args([
            "--catalog",
            catalog,
            "--gpu",
            "A100",
            "--min-disk",
            "200",
            "--all",
        ]),
        0,
    );
    let rec: Pick = pin(&out, "pick");
    wire::<runplz_protocol::PickRecord>(&out, "pick");
    assert_eq!((rec.kind.as_str(), rec.version), ("pick", 1));
    // The types and the ranked offers agree, winner first.
    let names: Vec<&str> = rec
        .ranked
        .iter()
        .map(|r| r.instance_type.as_str())
        .collect();
    assert_eq!(rec.types, names);
    assert_eq!(rec.instance_type, rec.types[0]);
    // A flexible disk is asked at the minimum; a fixed one at its size.
    let a2 = rec
        .ranked
        .iter()
        .find(|r| r.instance_type.starts_with("a2-"))
        .unwrap();
    assert_eq!(a2.target_disk_gb, Some(200.0));
    let p4 = rec
        .ranked
        .iter()
        .find(|r| r.instance_type == "p4d.24xlarge")
        .unwrap();
    assert_eq!(p4.target_disk_gb, Some(8000.0));
    // hyperstack's fixed 100 GB disk cannot hold 200 GB: not a match.
    assert!(!names.contains(&"hyperstack_A100"));
    assert_eq!(rec.instance_type, "gpu_1x_a100_sxm4");
    assert_eq!(rec.hint, None);
    assert_eq!(rec.boot_time_seconds, None);
}
