//! Constraints on each field, the flags over the job's resources, and what a pick that
//! matched nothing says.
use super::*;

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
