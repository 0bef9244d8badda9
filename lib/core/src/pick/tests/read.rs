//! Reading `brev search` JSON tolerantly, the filters the search passes, the GPU rule, and
//! names that reach the terminal.
use super::*;
use crate::error::exit_of;
use runplz_protocol::Exit;
use serde_json::json;

#[test]
fn reads_brev_search_json_tolerantly() {
    let text = json!([
        {"type": "g5.xlarge", "cloud": "aws", "provider": "aws", "gpu_name": "A10G",
         "gpu_count": 1, "vram_per_gpu_gb": 24, "total_vram_gb": 24, "capability": 8.6,
         "vcpus": 4, "memory": "16GiB", "ram_gb": 16, "arch": "x86_64", "disk_min_gb": 256,
         "disk_max_gb": 256, "boot_time_seconds": 420, "stoppable": true, "rebootable": true,
         "flex_ports": false, "target_disk_gb": 256, "price_per_hour": 1.006},
        // Strings for numbers, nulls, no ram_gb (memory instead), no total VRAM, a new field.
        {"type": "x", "provider": null, "gpu_name": "L4", "gpu_count": "2",
         "vram_per_gpu_gb": "24", "memory": "1TiB", "price_per_hour": "$0.75",
         "boot_time_seconds": null, "eta_s": 40, "new_field": {"a": 1}},
        // A CPU type as `brev search cpu` prints it.
        {"type": "n2-standard-4", "provider": "gcp", "gpu_name": "", "gpu_count": 0,
         "vcpus": 4, "ram_gb": 16, "price_per_hour": 0.19}
    ])
    .to_string();
    let o = offers_from_json(&text).unwrap();
    assert_eq!(o.len(), 3);
    assert_eq!(o[0].instance_type, "g5.xlarge");
    assert_eq!(
        (o[0].gpus(), o[0].ram_gb, o[0].hint(0)),
        (1, 16.0, Some(420.0))
    );
    assert_eq!(o[1].provider, "");
    assert_eq!((o[1].gpus(), o[1].vram_per_gpu_gb), (2, 24.0));
    assert_eq!((o[1].ram_gb, o[1].total_vram_gb), (1024.0, 48.0));
    assert_eq!(
        (o[1].price_per_hour, o[1].hint(0), o[1].hint(3)),
        (0.75, None, Some(40.0))
    );
    assert_eq!(o[2].gpu(), None);
    for empty in ["", "  \n", "null", "[]"] {
        assert!(offers_from_json(empty).unwrap().is_empty(), "{empty:?}");
    }
    for (bad, want) in [
        (
            r#"[{"type": "a", "price_per_hour": "cheap"}]"#,
            "at [0].price_per_hour: invalid value: string \"cheap\", expected a number",
        ),
        (
            r#"[{"type": "a"}, {"price_per_hour": 1}]"#,
            "at [1].type: found no instance type",
        ),
        (
            r#"{"items": []}"#,
            "expected a JSON array of offers as `brev search --json` prints",
        ),
        (
            r#"[{"type": "a", "price_per_hour": -1}]"#,
            "at [0].price_per_hour: found -1",
        ),
        ("You are currently logged out", "expected a JSON array"),
    ] {
        let e = offers_from_json(bad).unwrap_err();
        assert!(format!("{e:#}").contains(want), "{bad}: {e:#}");
        assert_eq!(exit_of(&e, Exit::Failed), Exit::Usage);
    }
    assert_eq!(parse_size_gb("512MiB"), Some(0.5));
    assert_eq!(parse_size_gb("24 GB"), Some(24.0));
    assert_eq!(parse_size_gb("lots"), None);
}

#[test]
fn search_passes_the_filters_brev_has_and_no_others() {
    let c = Constraints {
        gpu: Some("A100".into()),
        num_gpus: Some(4),
        min_cpu: Some(7.5),
        min_ram_gb: Some(64.0),
        min_vram_gb: Some(40.0),
        min_disk_gb: Some(500.0),
        max_price: Some(10.0),
        provider: Some("aws".into()),
        exclude_providers: vec!["oci".into()],
    };
    let s = search_args(&c, true);
    assert_eq!(s.source, "brev search");
    assert_eq!(
        s.args,
        [
            "search",
            "--json",
            "--min-vram",
            "40",
            "--min-vcpu",
            "8",
            "--min-ram",
            "64",
            "--min-disk",
            "500",
            "--provider",
            "aws"
        ]
    );
    assert_eq!(search_args(&c, false).args, ["search", "--json"]);
    // The model is matched here, by whole words: brev's --gpu-name substring would find
    // A100 for A10 and miss "RTX 4090" for RTX4090.
    for g in ["A10", "RTX4090"] {
        let s = search_args(
            &Constraints {
                gpu: Some(g.into()),
                ..any()
            },
            true,
        );
        assert_eq!(s.args, ["search", "--json"]);
    }
    // No GPU asked: a CPU search, without the GPU-only flags.
    let s = search_args(
        &Constraints {
            min_ram_gb: Some(0.5),
            ..any()
        },
        true,
    );
    assert_eq!(s.source, "brev search cpu");
    assert_eq!(s.args, ["search", "cpu", "--json", "--min-ram", "0.5"]);
}

#[test]
fn the_gpu_rule_is_probes_word_rule() {
    let names = [
        "A100",
        "A100 80GB",
        "NVIDIA A100-SXM4-80GB",
        "A10",
        "A10G",
        "L4",
        "L40S",
        "RTX 4090",
        "RTX4090",
        "H100",
        "-",
        "",
    ];
    let wants = [
        "A100",
        "a100",
        "A10",
        "L4",
        "RTX4090",
        "rtx 4090",
        "RTX-4090",
        "4090",
        "A100 80GB",
        "a100-80gb",
        "80GB",
        "H",
        "",
        " ",
        "RTX40",
        "SXM4 80GB",
    ];
    for name in names {
        let mut o = a100("x", 1.0, 0.0);
        o.gpu_name = Some(name.into());
        for want in wants {
            let expected = !name.is_empty() && name != "-" && crate::probe::gpu_matches(want, name);
            assert_eq!(gpu_ok(&o, want), expected, "{want:?} vs {name:?}");
        }
    }
    assert!(contains_ci("Lambda-Labs", "LABS"));
    assert!(contains_ci("aws", ""));
    assert!(!contains_ci("aws", "awss"));
}

#[test]
fn picking_from_json_text_keeps_only_the_matches_and_counts_every_offer() {
    let offers = [
        a100("a", 2.0, 0.0),
        {
            let mut t4 = a100("t4", 0.5, 0.0);
            t4.gpu_name = Some("T4".into());
            t4
        },
        a100("b", 2.05, 60.0),
    ];
    let text = serde_json::to_string(&offers).unwrap();
    let c = Constraints {
        gpu: Some("A100".into()),
        ..any()
    };
    let p = pick_json(&text, &c, 3).unwrap().unwrap();
    let whole = pick(&offers, &c, 3).unwrap();
    assert_eq!(p, whole, "the same pick as from every offer held");
    assert_eq!((p.offers, p.matched), (3, 2));
    let no = pick_json(
        &text,
        &Constraints {
            gpu: Some("H100".into()),
            ..any()
        },
        3,
    )
    .unwrap()
    .unwrap_err();
    assert_eq!(
        no,
        NoMatch::explain(
            &offers,
            &Constraints {
                gpu: Some("H100".into()),
                ..any()
            }
        )
    );
    let mut seen = Vec::new();
    assert_eq!(
        for_each_offer(&text, |o| seen.push(o.instance_type)).unwrap(),
        3
    );
    assert_eq!(seen, ["a", "t4", "b"]);
    assert!(pick_json("[{\"type\": \"\"}]", &c, 3).is_err());
}

#[test]
fn a_type_listed_twice_is_ranked_once_where_it_ranks_best() {
    // brev search prints one row per GPU configuration of a type.
    let mut again = a100("dup", 2.5, 30.0);
    again.gpu_count = 2.0;
    let offers = [
        a100("dup", 2.0, 600.0),
        again,
        a100("other", 2.05, 60.0),
        a100("third", 3.0, 0.0),
    ];
    let p = pick(&offers, &any(), 3).unwrap();
    assert_eq!(types(&p), ["other", "dup", "third"]);
    assert_eq!(p.in_band, 2);
    assert_eq!(p.matched, 4);
    let p = pick(&offers, &any(), 2).unwrap();
    assert_eq!(types(&p), ["other", "dup"]);
}

#[test]
fn every_offer_excluded_says_where_to_allow_them() {
    let mut o = a100("BM.GPU.A100", 1.0, 0.0);
    o.provider = "oci".into();
    let no = pick(&[o], &any(), 3).unwrap_err();
    assert!(
        no.message.starts_with(
            "no offer matches: of 1 offer, all are from excluded providers (oci; \"brev.exclude_providers\" in the job sets them); the cheapest of the 1 before that is BM.GPU.A100 (oci,"
        ),
        "{}",
        no.message
    );
}

#[test]
fn hostile_names_reach_the_terminal_escaped() {
    let mut o = a100("evil\n\u{1b}[2Jx", 1.0, 0.0);
    o.provider = "p\rq".into();
    let p = pick(std::slice::from_ref(&o), &any(), 3).unwrap();
    let table = p.table(None);
    assert!(
        !table.contains('\u{1b}') && !table.contains('\r'),
        "{table:?}"
    );
    assert!(table.contains("evil\\n\\u{1b}[2Jx"), "{table}");
    // The record keeps the name exactly (JSON escapes it).
    assert_eq!(p.record("t", None).instance_type, o.instance_type);
    let no = pick(
        &[o],
        &Constraints {
            max_price: Some(0.5),
            ..any()
        },
        3,
    )
    .unwrap_err();
    assert!(
        !no.message.contains('\n') && !no.message.contains('\u{1b}'),
        "{}",
        no.message
    );
}
