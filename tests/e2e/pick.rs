//! rp-pick, the built binary: offers from a catalog file, from stdin, and from `brev search`
//! on PATH (a fake `brev` that accepts exactly the real CLI's search flags, facts/brev-cli.md
//! §1.2, applies its filters and prints the fixture the way brev does), so
//! `rp-pick --gpu A100 --min-ram 64 | jq` works as the README says.
use crate::support::{bin_cmd, bin_dir, json, run_expect, stderr, FakeBin};
use std::io::Write;
use std::process::{Command, Stdio};

/// The fixture: `brev search --json` entries (GPU types, an oci one, two CPU types).
const CATALOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/brev/search.json");

/// A fake `brev` that answers `search [gpu|cpu] --json` from the fixture. Its flags are the
/// real ones (long and short); any other fails as cobra does, `unknown flag: --x`, exit 1.
/// It applies the numeric and substring filters as brev does (GPU search: NVIDIA types only,
/// i.e. those with GPUs; CPU search: those without), sorts by price, and notes in
/// `.brev.stdin` when its stdin was not a character device (brev would read a pipe).
fn fake_brev(fb: &FakeBin) {
    let stdin_log = fb.dir().join(".brev.stdin");
    fb.recorder(
        "brev",
        &format!(
            r#"[ -c /dev/stdin ] || echo not-a-tty-or-null >> '{stdin_log}'
fail() {{ echo "$1" >&2; exit 1; }}
[ "$1" = search ] || fail "unknown command \"$1\" for \"brev\""
shift
kind=gpu
case "$1" in gpu|cpu) kind=$1; shift;; esac
json=; f='.'
num() {{ case "$2" in ''|*[!0-9.]*) fail "invalid argument \"$2\" for \"$1\" flag: strconv.ParseFloat: parsing \"$2\": invalid syntax";; esac; }}
while [ $# -gt 0 ]; do
  a=$1; shift
  case "$a" in
    --*=*) name=${{a%%=*}}; val=${{a#*=}}; given=1;;
    *) name=$a; val=; given=;;
  esac
  case "$name" in
    --json) json=1; continue;;
    --wide|-w|--stoppable|--rebootable|--flex-ports|--desc|-d) continue;;
    --gpu-name|-g|--min-vram|-v|--min-total-vram|-t|--min-capability|-c)
      [ $kind = gpu ] || fail "unknown flag: $name";;
    --provider|-p|--arch|--min-vcpu|--min-ram|--min-disk|--max-boot-time|--sort|-s) ;;
    --*) fail "unknown flag: $name";;
    -*) fail "unknown shorthand flag: '${{name#-}}' in $name";;
    *) fail "unknown command \"$a\" for \"brev search\"";;
  esac
  if [ -z "$given" ]; then
    [ $# -gt 0 ] || fail "flag needs an argument: $name"
    val=$1; shift
  fi
  case "$name" in
    --min-vram|-v) num "$name" "$val"; f="$f | map(select(.vram_per_gpu_gb >= $val))";;
    --min-vcpu) num "$name" "$val"; f="$f | map(select(.vcpus >= $val))";;
    --min-ram) num "$name" "$val"; f="$f | map(select(.ram_gb >= $val))";;
    --min-disk) num "$name" "$val"; f="$f | map(select(.disk_max_gb >= $val))";;
    --provider|-p) prov=$val; f="$f | map(select(.provider | ascii_downcase | contains(\$prov | ascii_downcase)))";;
    --gpu-name|-g) gpu=$val; f="$f | map(select(.gpu_name | ascii_downcase | contains(\$gpu | ascii_downcase)))";;
  esac
done
[ -n "$json" ] || fail "fake brev: only --json output is faked"
if [ $kind = gpu ]; then k='map(select(.gpu_count > 0))'; else k='map(select(.gpu_count == 0))'; fi
exec jq --arg prov "${{prov-}}" --arg gpu "${{gpu-}}" "$k | $f | sort_by(.price_per_hour)" '{CATALOG}'"#,
            stdin_log = stdin_log.display(),
        ),
    );
}

fn rp_pick(fb: &FakeBin) -> Command {
    let mut c = bin_cmd("rp-pick");
    c.env("PATH", fb.path()).stdin(Stdio::null());
    c
}

#[test]
fn a_catalog_file_picks_the_quickest_in_the_band() {
    let out = run_expect(
        bin_cmd("rp-pick").args(["--catalog", CATALOG, "--gpu", "A100", "--min-ram", "64"]),
        0,
    );
    let v = json(&out);
    assert_eq!(v["type"], "pick");
    // gpu_1x_a100_sxm4 is cheapest ($1.29) with an unknown boot time; hyperstack_A100 is
    // 4.7% dearer and boots in 180 s; the oci one ($0.99) is excluded by default.
    assert_eq!(v["instance_type"], "hyperstack_A100");
    assert_eq!(v["provider"], "nexgen");
    assert_eq!(
        v["reason"],
        "lowest boot-time hint in the 5% band: 180 s at $1.35/h vs $1.29/h"
    );
    assert_eq!(
        v["types"],
        serde_json::json!([
            "hyperstack_A100",
            "gpu_1x_a100_sxm4",
            "a2-highgpu-1g:nvidia-tesla-a100:1"
        ])
    );
    assert_eq!(v["ranked"][1]["in_band"], true);
    assert_eq!(v["ranked"][2]["in_band"], false);
    assert_eq!(
        (v["matched"].as_u64(), v["offers"].as_u64()),
        (Some(5), Some(10))
    );
    assert_eq!(v["source"], CATALOG);
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_catalog_on_stdin_and_every_match_with_all() {
    let mut child = bin_cmd("rp-pick")
        .args(["--catalog", "-", "--gpu", "a100", "--all"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(CATALOG).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["source"], "-");
    let types: Vec<&str> = v["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "hyperstack_A100",
            "gpu_1x_a100_sxm4",
            "a2-highgpu-1g:nvidia-tesla-a100:1",
            "gpu_4x_a100_sxm4",
            "p4d.24xlarge"
        ]
    );
}

#[test]
fn brev_search_on_path_piped_into_jq() {
    let fb = FakeBin::new();
    fake_brev(&fb);
    // The README's command, through a real shell and a real jq.
    let out = run_expect(
        Command::new("sh")
            .args([
                "-c",
                "rp-pick --gpu A100 --min-ram 64 | jq -r .instance_type",
            ])
            .env("PATH", {
                let mut p = bin_dir().into_os_string();
                p.push(":");
                p.push(fb.path());
                p
            })
            .env("HOME", crate::support::world().home())
            .stdin(Stdio::null()),
        0,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hyperstack_A100\n");
    // brev got the filters it has (no --gpu-name: ours is by whole words), on /dev/null.
    assert_eq!(
        fb.calls("brev"),
        [vec!["search", "--json", "--min-ram", "64"]]
    );
    assert!(
        !fb.dir().join(".brev.stdin").exists(),
        "brev's stdin was not /dev/null"
    );

    // The same pick as from the catalog, and the record says where the offers came from.
    let out = run_expect(
        rp_pick(&fb).args([
            "--gpu",
            "A100",
            "--min-ram",
            "64",
            "--num-gpus",
            "1",
            "--min-vram",
            "40",
            "--min-cpu",
            "8",
            "--min-disk",
            "100",
            "--provider",
            "NEX",
        ]),
        0,
    );
    let v = json(&out);
    assert_eq!(v["instance_type"], "hyperstack_A100");
    assert_eq!(v["source"], "brev search");
    assert_eq!(
        fb.calls("brev")[1],
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
            "100",
            "--provider",
            "NEX"
        ]
    );
}

#[test]
fn a_job_without_a_gpu_asks_brev_for_cpu_types() {
    let fb = FakeBin::new();
    fake_brev(&fb);
    let out = run_expect(rp_pick(&fb).args(["--min-ram", "32"]), 0);
    let v = json(&out);
    assert_eq!(v["instance_type"], "n2-highmem-8");
    assert_eq!(v["gpu_name"], serde_json::Value::Null);
    assert_eq!(v["gpu_count"], 0);
    assert_eq!(v["source"], "brev search cpu");
    assert_eq!(
        fb.calls("brev"),
        [vec!["search", "cpu", "--json", "--min-ram", "32"]]
    );
}

#[test]
fn the_fake_brev_refuses_flags_the_real_one_lacks() {
    let fb = FakeBin::new();
    fake_brev(&fb);
    for (args, err) in [
        (
            vec!["search", "--json", "--min-gpus", "4"],
            "unknown flag: --min-gpus\n",
        ),
        (
            vec!["search", "--json", "--max-price", "4"],
            "unknown flag: --max-price\n",
        ),
        (
            vec!["search", "cpu", "--json", "--gpu-name", "A100"],
            "unknown flag: --gpu-name\n",
        ),
        (vec!["search", "-x"], "unknown shorthand flag: 'x' in -x\n"),
    ] {
        let out = Command::new("brev")
            .args(&args)
            .env("PATH", fb.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&out), err, "{args:?}");
        assert!(out.stdout.is_empty());
    }
    let out = Command::new("brev")
        .args(["search", "-g", "a10", "--json", "--sort=price"])
        .env("PATH", fb.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Brev's substring: A10 finds A10G and every A100 (not the CPU types).
    assert_eq!(v.as_array().unwrap().len(), 7);
}

#[test]
fn no_match_exits_6_naming_the_constraint_and_the_nearest_misses() {
    let out = run_expect(
        bin_cmd("rp-pick").args([
            "--catalog",
            CATALOG,
            "--gpu",
            "A100",
            "--num-gpus",
            "4",
            "--max-price",
            "10",
        ]),
        6,
    );
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "rp-pick: {CATALOG}: no offer matches: of 10 offers, 9 are not from an excluded provider (oci), 5 of those have A100, 2 of those have at least 4 GPUs, none of those cost at most $10.00/h; the cheapest of the 2 before that is gpu_4x_a100_sxm4 (lambda-labs, 4×A100, 120 vCPUs, 800 GB RAM, $14.20/h): costs $14.20/h, wanted at most $10.00/h; other near misses: BM.GPU.A100-v2.8 (oci, 8×A100"
        )),
        "{err}"
    );

    // Through brev: its filters left nothing, so it is asked again unfiltered to explain.
    let fb = FakeBin::new();
    fake_brev(&fb);
    let out = run_expect(
        rp_pick(&fb).args(["--gpu", "A100", "--min-ram", "100000"]),
        6,
    );
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("rp-pick: brev search: no offer matches: of 8 offers, 7 are not from an excluded provider (oci), 5 of those have A100, none of those have at least 100000 GB of RAM; the cheapest of the 5 before that is gpu_1x_a100_sxm4"),
        "{err}"
    );
    assert_eq!(
        fb.calls("brev"),
        [
            vec!["search", "--json", "--min-ram", "100000"],
            vec!["search", "--json"]
        ]
    );
}

#[test]
fn brev_failing_with_exit_0_or_1_or_missing_is_an_error_not_an_empty_pick() {
    let fb = FakeBin::new();
    // brev exits 0 on some failures: the output is what counts.
    fb.script(
        "brev",
        "echo 'failed to fetch instance types: Get \"https://api.brev.dev/v1/instance/types\": dial tcp: lookup api.brev.dev: no such host' >&2; exit 0",
    );
    let out = run_expect(rp_pick(&fb).args(["--gpu", "A100"]), 1);
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains(
            "rp-pick: `brev search --json` printed no offers: failed to fetch instance types"
        ),
        "{}",
        stderr(&out)
    );
    fb.script(
        "brev",
        "echo 'You are currently logged out, would you like to log in? [Y/n]: '; exit 0",
    );
    let out = run_expect(rp_pick(&fb).args(["--gpu", "A100"]), 1);
    assert!(
        stderr(&out).contains("printed no offers: You are currently logged out"),
        "{}",
        stderr(&out)
    );
    fb.script("brev", "echo 'unknown flag: --json' >&2; exit 1");
    let out = run_expect(rp_pick(&fb).args(["--gpu", "A100"]), 1);
    assert!(
        stderr(&out).contains("`brev search --json` exited with 1: unknown flag: --json"),
        "{}",
        stderr(&out)
    );
    // A brev older than v0.6.317 has no `search`: say so.
    fb.script(
        "brev",
        "echo 'Error: unknown command \"search\" for \"brev\"' >&2; exit 1",
    );
    let out = run_expect(rp_pick(&fb).args(["--gpu", "A100"]), 1);
    assert!(
        stderr(&out).contains("`brev search` needs brev v0.6.317 or later"),
        "{}",
        stderr(&out)
    );
    // No brev at all: 125 with the fix (and --catalog as the offline way).
    let empty = FakeBin::new();
    let out = run_expect(
        rp_pick(&empty)
            .env("PATH", empty.path_only())
            .args(["--gpu", "A100"]),
        125,
    );
    assert!(
        stderr(&out).contains("`brev` not found on PATH; install the Brev CLI"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--catalog FILE"));
}

#[test]
fn the_job_gives_resources_exclusions_and_the_fallback_count_and_flags_override_it() {
    let d = crate::support::shm_tempdir();
    let job = d.path().join("job.json");
    std::fs::write(
        &job,
        r#"{"name": "p", "image": {"from_registry": "debian"}, "run": "true",
            "resources": {"gpu": "A100", "min_memory": 64},
            "brev": {"exclude_providers": [], "instance_type_fallback_count": 2}}"#,
    )
    .unwrap();
    // No exclusions: the oci 8×A100 at $0.99/h is the cheapest; two types ranked.
    let out = run_expect(
        bin_cmd("rp-pick")
            .args(["--catalog", CATALOG, "--job"])
            .arg(&job),
        0,
    );
    let v = json(&out);
    assert_eq!(v["instance_type"], "BM.GPU.A100-v2.8");
    assert_eq!(v["types"].as_array().unwrap().len(), 2);
    // Flags win: a T4 with 8 GB of RAM, and --top over the job's count.
    let out = run_expect(
        bin_cmd("rp-pick")
            .args([
                "--catalog",
                CATALOG,
                "--gpu",
                "T4",
                "--min-ram",
                "8",
                "--top",
                "1",
                "--job",
            ])
            .arg(&job),
        0,
    );
    let v = json(&out);
    assert_eq!(v["instance_type"], "n1-standard-4:nvidia-tesla-t4:1");
    assert_eq!(v["reason"], "the only match: $0.55/h");
    assert_eq!(v["types"].as_array().unwrap().len(), 1);
    // A pinned type is said, not silently ignored.
    std::fs::write(
        &job,
        r#"{"name": "p", "image": {"from_registry": "debian"}, "run": "true",
            "brev": {"instance_type": "g5.xlarge"}}"#,
    )
    .unwrap();
    let out = run_expect(
        bin_cmd("rp-pick")
            .args(["--catalog", CATALOG, "--gpu", "A10G", "--job"])
            .arg(&job),
        0,
    );
    assert!(
        stderr(&out)
            .contains("rp-pick: warning: the job pins \"brev.instance_type\": \"g5.xlarge\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_is_refused_before_brev_runs() {
    let fb = FakeBin::new();
    fake_brev(&fb);
    let d = crate::support::shm_tempdir();
    let bad = d.path().join("offers.json");
    std::fs::write(
        &bad,
        r#"[{"type": "a", "price_per_hour": 1}, {"type": "b", "price_per_hour": "lots"}]"#,
    )
    .unwrap();
    let out = run_expect(rp_pick(&fb).arg("--catalog").arg(&bad), 2);
    assert!(
        stderr(&out).contains(&format!(
            "rp-pick: {}: at [1].price_per_hour: invalid value: string \"lots\", expected a number",
            bad.display()
        )),
        "{}",
        stderr(&out)
    );
    let out = run_expect(
        rp_pick(&fb).args(["--catalog", "/nonexistent/offers.json"]),
        2,
    );
    assert!(stderr(&out).contains("--catalog /nonexistent/offers.json: cannot read it"));
    let badjob = d.path().join("job.json");
    std::fs::write(&badjob, r#"{"name": "p", "image": {"from_registry": "d"}, "run": "true", "brev": {"exclude_providers": [""]}}"#).unwrap();
    let out = run_expect(rp_pick(&fb).arg("--job").arg(&badjob), 2);
    assert!(
        stderr(&out).contains("brev.exclude_providers[0]"),
        "{}",
        stderr(&out)
    );
    for args in [
        vec!["--job", "-", "--catalog", "-"],
        vec!["--top", "0"],
        vec!["--top", "2", "--all"],
        vec!["--gpu", " "],
        vec!["--max-price", "-1"],
        vec!["--min-gpus", "4"],
    ] {
        let out = run_expect(rp_pick(&fb).args(&args), 2);
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert!(fb.calls("brev").is_empty(), "brev ran for bad input");
}

#[test]
fn table_for_people() {
    let out = run_expect(
        bin_cmd("rp-pick").args([
            "--catalog",
            CATALOG,
            "--gpu",
            "A100",
            "--min-ram",
            "64",
            "--table",
        ]),
        0,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TYPE"), "{text}");
    assert!(lines[1].starts_with("hyperstack_A100 "), "{text}");
    assert!(
        lines[1].contains("$1.35") && lines[1].contains("180s") && lines[1].ends_with("yes"),
        "{text}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &"picked hyperstack_A100 (5 of 10 offers matched): lowest boot-time hint in the 5% band: 180 s at $1.35/h vs $1.29/h"
    );
}
