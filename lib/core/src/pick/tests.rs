//! The picker's rules pinned on small catalogs: the 5% band's boundary, each hint field in
//! precedence order, 0 as an unknown boot time, the provider rule, ties, flags over the job,
//! the no-match explanation, and tolerant reading.
use super::*;
use crate::error::exit_of;
use serde_json::json;

/// An A100 offer at `price` with a boot-time hint (0: unknown).
fn a100(ty: &str, price: f64, boot: f64) -> Offer {
    Offer {
        instance_type: ty.into(),
        provider: "aws".into(),
        cloud: Some("aws".into()),
        gpu_name: Some("A100".into()),
        gpu_count: 1.0,
        vram_per_gpu_gb: 40.0,
        total_vram_gb: 40.0,
        vcpus: 8.0,
        ram_gb: 64.0,
        disk_min_gb: 100.0,
        disk_max_gb: 100.0,
        price_per_hour: price,
        boot_time_seconds: boot,
        ..Offer::default()
    }
}

fn types(p: &Pick) -> Vec<&str> {
    p.ranked.iter().map(|o| o.instance_type.as_str()).collect()
}

fn any() -> Constraints {
    Constraints::default()
}

fn all(offers: &[Offer]) -> Pick {
    pick(offers, &any(), usize::MAX).unwrap()
}

#[test]
fn exactly_five_percent_above_is_in_the_band_and_just_over_is_out() {
    // 2.10 is exactly 5% above 2.00: in the band, and its lower boot time wins.
    let p = all(&[a100("cheap", 2.00, 600.0), a100("quick", 2.10, 60.0)]);
    assert_eq!(p.chosen.instance_type, "quick");
    assert_eq!(p.in_band, 2);
    assert_eq!(p.band_max_price, 2.1);
    assert_eq!(
        p.reason,
        "lowest boot-time hint in the 5% band: 60 s at $2.10/h vs $2.00/h"
    );
    // A hundredth of a cent more is out: plain cheapest.
    let p = all(&[a100("cheap", 2.00, 600.0), a100("quick", 2.1001, 60.0)]);
    assert_eq!(p.chosen.instance_type, "cheap");
    assert_eq!(p.in_band, 1);
    assert_eq!(types(&p), ["cheap", "quick"]);
    // Brev's own prices (three decimals): 1.006 × 1.05 = 1.0563 is in, 1.0564 is not.
    let p = all(&[a100("a", 1.006, 600.0), a100("b", 1.0563, 60.0)]);
    assert_eq!(p.chosen.instance_type, "b");
    let p = all(&[a100("a", 1.006, 600.0), a100("b", 1.0564, 60.0)]);
    assert_eq!(p.chosen.instance_type, "a");
}

#[test]
fn the_issue_example_reason() {
    let p = all(&[a100("cheap", 2.00, 600.0), a100("quick", 2.05, 120.0)]);
    assert_eq!(
        p.reason,
        "lowest boot-time hint in the 5% band: 120 s at $2.05/h vs $2.00/h"
    );
    assert_eq!(p.hint_field, Some(0));
}

#[test]
fn each_hint_field_decides_only_when_every_earlier_one_is_unknown() {
    // Offer "x" is better on field i, "y" on every later field; both unknown before i.
    // The cheaper is "y", so a wrong field (or none) would pick "y".
    for (i, field) in HINT_FIELDS.iter().enumerate() {
        let mut x = a100("x", 2.04, 0.0);
        let mut y = a100("y", 2.00, 0.0);
        let set = |o: &mut Offer, f: usize, v: f64| match f {
            0 => o.boot_time_seconds = v,
            1 => o.estimated_start_seconds = Some(v),
            2 => o.eta_seconds = Some(v),
            3 => o.eta_s = Some(v),
            4 => o.queue_wait_seconds = Some(v),
            _ => o.availability_rank = Some(v),
        };
        set(&mut x, i, 10.0);
        set(&mut y, i, 20.0);
        for later in i + 1..HINT_FIELDS.len() {
            set(&mut x, later, 500.0);
            set(&mut y, later, 5.0);
        }
        let p = all(&[y, x]);
        assert_eq!(p.chosen.instance_type, "x", "{field}");
        assert_eq!(p.hint_field, Some(i), "{field}");
        let rec = p.record("t", None);
        assert_eq!(rec.hint.as_ref().unwrap().field, *field);
        assert_eq!(rec.hint.unwrap().value, 10.0);
    }
    let p = all(&[a100("x", 2.04, 0.0), {
        let mut y = a100("y", 2.00, 0.0);
        y.availability_rank = Some(3.0);
        y
    }]);
    assert_eq!(
        p.reason,
        "cheapest match, with the lowest availability-rank hint in the 5% band: 3 at $2.00/h"
    );
}

#[test]
fn a_zero_boot_time_is_unknown_not_instant() {
    // 0 would sort first as a number; as "unknown" it ranks after any known hint.
    let p = all(&[a100("unknown", 2.00, 0.0), a100("known", 2.05, 900.0)]);
    assert_eq!(p.chosen.instance_type, "known");
    assert_eq!(types(&p), ["known", "unknown"]);
    let rec = p.record("t", None);
    assert_eq!(rec.ranked[1].boot_time_seconds, None);
    assert_eq!(rec.ranked[0].boot_time_seconds, Some(900.0));
    // With every boot time 0 the next field is consulted.
    let mut late = a100("late", 2.00, 0.0);
    late.eta_seconds = Some(300.0);
    let mut soon = a100("soon", 2.05, 0.0);
    soon.eta_seconds = Some(30.0);
    assert_eq!(all(&[late, soon]).chosen.instance_type, "soon");
    // No hint at all: plain cheapest, and the reason says so.
    let p = all(&[a100("b", 2.05, 0.0), a100("a", 2.00, 0.0)]);
    assert_eq!(p.chosen.instance_type, "a");
    assert_eq!(p.hint_field, None);
    assert_eq!(
        p.reason,
        "cheapest match: $2.00/h; no availability hint among the 2 offers in the 5% band"
    );
}

#[test]
fn the_ranked_list_is_the_band_by_hint_then_the_rest_by_price() {
    let offers = [
        a100("out-cheap", 3.00, 10.0),
        a100("band-slow", 2.00, 900.0),
        a100("band-quick", 2.08, 100.0),
        a100("out-dear", 9.00, 5.0),
        a100("band-mid", 2.02, 300.0),
    ];
    let p = pick(&offers, &any(), usize::MAX).unwrap();
    assert_eq!(
        types(&p),
        [
            "band-quick",
            "band-mid",
            "band-slow",
            "out-cheap",
            "out-dear"
        ]
    );
    assert_eq!(p.in_band, 3);
    let p = pick(&offers, &any(), 2).unwrap();
    assert_eq!(types(&p), ["band-quick", "band-mid"]);
    assert_eq!(p.matched, 5);
    let rec = p.record("catalog.json", None);
    assert_eq!(rec.types, ["band-quick", "band-mid"]);
    assert!(rec.ranked.iter().all(|r| r.in_band));
    let p = pick(&offers, &any(), 0).unwrap();
    assert_eq!(types(&p), ["band-quick"], "top 0 still names the winner");
}

#[test]
fn the_provider_rule() {
    let c = any(); // exclude_providers: ["oci"]
    for (provider, ty, out) in [
        ("oci", "VM.GPU.A10.1", true),
        ("OCI.x", "a", true),
        ("oci_y", "a", true),
        ("oci-z", "a", true),
        ("Oci", "a", true),
        ("ocifoo", "a", false),
        ("aws", "oci", true),
        ("aws", "OCI.GPU4.8", true),
        ("aws", "oci_a100", true),
        ("aws", "ocifoo.x", false),
        ("aws", "g5.oci", false),
        ("aws", "a", false),
    ] {
        let mut o = a100(ty, 1.0, 0.0);
        o.provider = provider.into();
        o.cloud = None;
        assert_eq!(excluded(&o, &c.exclude_providers), out, "{provider} {ty}");
    }
    // The cloud field counts too (a reseller's prefix).
    let mut o = a100("x", 1.0, 0.0);
    o.cloud = Some("oci".into());
    assert!(excluded(&o, &c.exclude_providers));
    // The cheapest is from oci: the next one wins; an empty list lets it through.
    let mut cheap = a100("BM.GPU.A100", 0.5, 0.0);
    cheap.provider = "oci".into();
    let offers = [cheap, a100("p4", 2.0, 0.0)];
    assert_eq!(pick(&offers, &c, 3).unwrap().chosen.instance_type, "p4");
    let open = Constraints {
        exclude_providers: vec![],
        ..any()
    };
    assert_eq!(
        pick(&offers, &open, 3).unwrap().chosen.instance_type,
        "BM.GPU.A100"
    );
}

#[test]
fn ties_are_broken_by_price_type_provider_then_catalog_order_whatever_the_input_order() {
    let mut b_gcp = a100("b", 2.00, 100.0);
    b_gcp.provider = "gcp".into();
    let offers = vec![
        a100("c", 2.00, 100.0),
        b_gcp,
        a100("b", 2.00, 100.0),
        a100("a", 2.01, 100.0),
    ];
    // The two "b" rows tie on price and name: aws sorts first and is the one ranked (a
    // type is named once).
    let want = ["b", "c", "a"];
    let p = all(&offers);
    assert_eq!(types(&p), want);
    assert_eq!(p.ranked[0].provider, "aws");
    let mut rev = offers.clone();
    rev.reverse();
    let r = all(&rev);
    assert_eq!(types(&r), want);
    assert_eq!(r.ranked, p.ranked);
}

#[test]
fn constraints_filter_each_field() {
    let mut big = a100("big", 10.0, 0.0);
    big.gpu_count = 4.0;
    big.vram_per_gpu_gb = 80.0;
    big.vcpus = 64.0;
    big.ram_gb = 512.0;
    big.disk_min_gb = 100.0;
    big.disk_max_gb = 2000.0;
    let mut l4 = a100("l4", 0.8, 0.0);
    l4.gpu_name = Some("L4".into());
    let mut a10 = a100("a10", 0.5, 0.0);
    a10.gpu_name = Some("A10".into());
    let mut cpu = a100("cpu", 0.1, 0.0);
    cpu.gpu_name = None;
    cpu.gpu_count = 0.0;
    cpu.vram_per_gpu_gb = 0.0;
    let offers = [a100("small", 2.0, 0.0), big, l4, a10, cpu];
    let first = |c: Constraints| pick(&offers, &c, 9).map(|p| types(&p).join(","));
    assert_eq!(first(any()).unwrap(), "cpu,a10,l4,small,big");
    let gpu = |g: &str| Constraints {
        gpu: Some(g.into()),
        ..any()
    };
    // Whole words: A10 is not A100, L4 is not L40S.
    assert_eq!(first(gpu("a100")).unwrap(), "small,big");
    assert_eq!(first(gpu("A10")).unwrap(), "a10");
    assert_eq!(first(gpu("L4")).unwrap(), "l4");
    let with = |f: &dyn Fn(&mut Constraints)| {
        let mut c = any();
        f(&mut c);
        first(c).unwrap()
    };
    assert_eq!(with(&|c| c.num_gpus = Some(2)), "big");
    assert_eq!(with(&|c| c.min_vram_gb = Some(41.0)), "big");
    assert_eq!(with(&|c| c.min_vram_gb = Some(1.0)), "a10,l4,small,big");
    assert_eq!(with(&|c| c.min_cpu = Some(9.0)), "big");
    assert_eq!(with(&|c| c.min_ram_gb = Some(64.0)), "cpu,a10,l4,small,big");
    assert_eq!(with(&|c| c.min_ram_gb = Some(64.5)), "big");
    assert_eq!(with(&|c| c.min_disk_gb = Some(1500.0)), "big");
    assert_eq!(with(&|c| c.max_price = Some(2.0)), "cpu,a10,l4,small");
    assert_eq!(
        with(&|c| c.provider = Some("AW".into())),
        "cpu,a10,l4,small,big"
    );
    assert!(first(Constraints {
        provider: Some("gcp".into()),
        ..any()
    })
    .is_err());
    // The disk asked for: the minimum inside a flexible range, else the smallest disk.
    let big = &offers[1];
    assert_eq!(big.disk_for(Some(1500.0)), Some(1500.0));
    assert_eq!(big.disk_for(Some(50.0)), Some(100.0));
    assert_eq!(big.disk_for(None), Some(100.0));
    assert_eq!(Offer::default().disk_for(None), None);
}

fn job(extra: &str) -> crate::job::Job {
    let text =
        format!(r#"{{"name": "t", "image": {{"from_registry": "debian"}}, "run": "true"{extra}}}"#);
    crate::job::parse(&text, "job.json", std::path::Path::new("/tmp")).unwrap()
}

#[test]
fn flags_override_the_jobs_resources() {
    let j = job(
        r#", "resources": {"gpu": "T4", "num_gpus": 2, "min_cpu": 8, "min_memory": 32, "min_gpu_memory": 16, "min_disk": 200},
             "brev": {"exclude_providers": ["lambda", "OCI"]}"#,
    );
    let base = Constraints::from_job(&j);
    assert_eq!(
        base,
        Constraints {
            gpu: Some("T4".into()),
            num_gpus: Some(2),
            min_cpu: Some(8.0),
            min_ram_gb: Some(32.0),
            min_vram_gb: Some(16.0),
            min_disk_gb: Some(200.0),
            max_price: None,
            provider: None,
            exclude_providers: vec!["lambda".into(), "OCI".into()],
        }
    );
    let flags = Constraints {
        gpu: Some("A100".into()),
        min_ram_gb: Some(64.0),
        max_price: Some(5.0),
        exclude_providers: vec![],
        ..Constraints::default()
    };
    let c = flags.or(base);
    assert_eq!(c.gpu.as_deref(), Some("A100"));
    assert_eq!(c.min_ram_gb, Some(64.0));
    assert_eq!(c.max_price, Some(5.0));
    assert_eq!(c.num_gpus, Some(2), "unset flags keep the job's value");
    assert_eq!(c.min_disk_gb, Some(200.0));
    assert_eq!(c.exclude_providers, ["lambda", "OCI"]);
    // The default exclusion, and an empty list that allows every provider.
    assert_eq!(Constraints::from_job(&job("")).exclude_providers, ["oci"]);
    let open = job(r#", "brev": {"exclude_providers": []}"#);
    assert!(Constraints::from_job(&open).exclude_providers.is_empty());
    // A picked result honours the merge: the job's T4 is replaced by the flag's A100.
    let mut t4 = a100("t4", 0.3, 0.0);
    t4.gpu_name = Some("T4".into());
    let mut two = a100("two", 4.0, 0.0);
    two.gpu_count = 2.0;
    two.ram_gb = 128.0;
    two.disk_max_gb = 500.0;
    two.vcpus = 16.0;
    let p = pick(&[t4, a100("one", 1.0, 0.0), two], &c, 3).unwrap();
    assert_eq!(types(&p), ["two"]);
}

#[test]
fn no_match_says_which_constraint_ruled_out_how_many_and_the_nearest_misses() {
    let mut offers = Vec::new();
    for i in 0..10 {
        offers.push(a100(&format!("one-{i}"), 1.0 + i as f64, 0.0));
    }
    let mut four = a100("gpu_4x_a100", 14.2, 0.0);
    four.gpu_count = 4.0;
    let mut eight = a100("p4d.24xlarge", 32.77, 0.0);
    eight.gpu_count = 8.0;
    let mut t4 = a100("t4", 0.5, 0.0);
    t4.gpu_name = Some("T4".into());
    let mut oci = a100("BM.GPU.A100", 0.9, 0.0);
    oci.gpu_count = 8.0;
    oci.provider = "oci".into();
    offers.extend([four, eight, t4, oci]);
    let c = Constraints {
        gpu: Some("A100".into()),
        num_gpus: Some(4),
        max_price: Some(10.0),
        ..any()
    };
    let no = pick(&offers, &c, 3).unwrap_err();
    assert_eq!(no.offers, 14);
    assert_eq!(no.ruled_out_by, Some(Step::MaxPrice));
    assert_eq!(
        no.funnel,
        [
            (Step::Excluded, 13),
            (Step::Gpu, 12),
            (Step::NumGpus, 2),
            (Step::MaxPrice, 0)
        ]
    );
    let nearest: Vec<&str> = no
        .nearest
        .iter()
        .map(|m| m.offer.instance_type.as_str())
        .collect();
    // The one that got furthest, then those failing one constraint, cheapest first.
    assert_eq!(nearest, ["gpu_4x_a100", "BM.GPU.A100", "one-0"]);
    assert_eq!(
        no.message,
        "no offer matches: of 14 offers, 13 are not from an excluded provider (oci), 12 of those have A100, 2 of those have at least 4 GPUs, none of those cost at most $10.00/h; \
         the cheapest of the 2 before that is gpu_4x_a100 (aws, 4×A100, 8 vCPUs, 64 GB RAM, $14.20/h): costs $14.20/h, wanted at most $10.00/h; \
         other near misses: BM.GPU.A100 (oci, 8×A100, 8 vCPUs, 64 GB RAM, $0.90/h): provider oci is excluded by brev.exclude_providers | \
         one-0 (aws, 1×A100, 8 vCPUs, 64 GB RAM, $1.00/h): 1 GPU, wanted at least 4"
    );
    // A model nobody has: the models on offer are named.
    let no = pick(
        &offers,
        &Constraints {
            gpu: Some("H100".into()),
            ..any()
        },
        3,
    )
    .unwrap_err();
    assert_eq!(no.ruled_out_by, Some(Step::Gpu));
    assert!(
        no.message.starts_with(
            "no offer matches: of 14 offers, 13 are not from an excluded provider (oci), none of those have H100 (GPUs on offer: A100, T4); the cheapest of the 13 before that is t4 (aws, 1×T4,"
        ),
        "{}",
        no.message
    );
    let empty = pick(&[], &any(), 3).unwrap_err();
    assert_eq!(empty.message, "there are no offers to pick from");
    assert_eq!(empty.ruled_out_by, None);
}

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

use runplz_protocol::Exit;

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
