//! The picker's rules pinned on small catalogs: the 5% band's boundary, each hint field in
//! precedence order, 0 as an unknown boot time, the provider rule and ties here; flags over
//! the job and the no-match explanation in `filter`; tolerant reading and the search's
//! filters in `read`.
use super::*;

mod filter;
mod read;

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
