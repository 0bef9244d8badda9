//! Reading back: every record reads with fields it does not know and enum values it does
//! not know (as `Unknown`), and writes exactly the documented shape.
use super::*;
use serde_json::json;

#[test]
fn exec_record_writes_the_documented_shape() {
    let rec = ExecRecord {
        host: None,
        run_id: "r1".into(),
        argv: vec!["sleep".into(), "9".into()],
        exit_code: 124,
        ending: Ending::TimedOut { signal: Some(9) },
        duration_seconds: 1.5,
        log: None,
    };
    let s = serde_json::to_string(&Record::new("exec", &rec)).unwrap();
    assert_eq!(
        s,
        r#"{"type":"exec","version":1,"host":null,"run_id":"r1","argv":["sleep","9"],"exit_code":124,"ending":{"kind":"timed_out","signal":9},"duration_seconds":1.5,"log":null}"#
    );
    assert_eq!(read::<ExecRecord>(&s).unwrap(), rec);
    for (ending, want) in [
        (
            Ending::Exited { code: 3 },
            json!({"kind": "exited", "code": 3}),
        ),
        (
            Ending::Signaled { signal: 9 },
            json!({"kind": "signaled", "signal": 9}),
        ),
        (
            Ending::TimedOut { signal: None },
            json!({"kind": "timed_out", "signal": null}),
        ),
        (
            Ending::CostCap { signal: Some(15) },
            json!({"kind": "cost_cap", "signal": 15}),
        ),
        (
            Ending::Interrupted {
                signal: 2,
                ended_by: Some(9),
            },
            json!({"kind": "interrupted", "signal": 2, "ended_by": 9}),
        ),
    ] {
        assert_eq!(serde_json::to_value(ending).unwrap(), want);
        assert_eq!(serde_json::from_value::<Ending>(want).unwrap(), ending);
    }
}

#[test]
fn exec_record_reads_unknown_fields_and_endings() {
    let line = r#"{"type":"exec","version":1,"host":"box","run_id":"r","argv":[],"exit_code":3,
        "ending":{"kind":"exited","code":3,"core_dumped":false},"duration_seconds":0.1,"log":null,
        "cpu_seconds":0.05}"#;
    let rec: ExecRecord = read(line).unwrap();
    assert_eq!(rec.ending, Ending::Exited { code: 3 });
    assert_eq!(rec.host.as_deref(), Some("box"));
    let line = line.replace(
        r#"{"kind":"exited","code":3,"core_dumped":false}"#,
        r#"{"kind":"oom_killed","rss_gb":12}"#,
    );
    assert_eq!(read::<ExecRecord>(&line).unwrap().ending, Ending::Unknown);
}

#[test]
fn sync_and_collect_records_read_unknown_fields() {
    let sync: SyncRecord = read(
        r#"{"type":"sync","version":1,"source":"/r","dest":null,"host":null,"dry_run":true,
        "files":2,"bytes":10,"files_transferred":null,"bytes_transferred":null,"deleted":null,
        "duration_seconds":0.01,"largest":[{"path":"a","bytes":9,"mode":"0644"}],
        "excluded_secrets":1,"compressed":true}"#,
    )
    .unwrap();
    assert_eq!(
        sync.largest,
        [LargestFile {
            path: "a".into(),
            bytes: 9
        }]
    );
    assert!(sync.dry_run);
    let col: CollectRecord = read(
        r#"{"type":"collect","version":1,"source":"box:o","dest":"out","entries":[
        {"path":"a","bytes":1,"sha256":"00","mtime":5}],"files":1,"bytes":1,
        "duration_seconds":0.2,"warnings":[],"method":"rsync"}"#,
    )
    .unwrap();
    assert_eq!(col.entries[0].sha256, "00");
    assert_eq!((col.files, col.bytes), (1, 1));
}

#[test]
fn probe_record_reads_unknown_fields_and_levels() {
    let rec: ProbeRecord = read(
        r#"{"type":"probe","version":1,"host":null,"ok":true,"uptime":3,
        "facts":{"cpus":4,"memory_gb":15.5,"disk_free_gb":null,"disk_total_gb":null,
          "shm_free_gb":1,"gpus":[{"name":"T4","memory_gb":15,"mig":[],"uuid":"x"}],
          "gpu_count":1,"gpu_reason":null,"docker":true,"docker_nvidia":null,"rsync":true,
          "os":"Debian","arch":"x86_64","unreadable":[],"kernel":"6.1"},
        "findings":[{"level":"fatal","check":"tpu","wanted":1,"found":null,"message":"m",
          "hint":"h"},{"level":"warning","check":"gpu","wanted":"A100","found":"T4",
          "message":"m"}]}"#,
    )
    .unwrap();
    assert_eq!(rec.findings[0].level, Level::Unknown);
    assert_eq!(rec.findings[1].level, Level::Warning);
    assert_eq!(rec.facts.gpus[0].memory_gb, Some(15.0));
    assert_eq!(rec.facts.shm_free_gb, Some(1.0));
}

#[test]
fn image_records_read_unknown_formats_ops_and_fields() {
    let text: ImageRecord =
        read(r#"{"type":"image","version":1,"format":"shell","text":"x","lines":1}"#).unwrap();
    assert_eq!(text, ImageRecord::Shell { text: "x".into() });
    let other: ImageRecord =
        read(r#"{"type":"image","version":1,"format":"nix","expr":"{}"}"#).unwrap();
    assert_eq!(other, ImageRecord::Unknown);
    let modal: ImageRecord = read(
        r#"{"type":"image","version":1,"format":"modal","ops":[
        {"op":"from_registry","image":"debian","add_python":"3.11","platform":"arm64"},
        {"op":"uv_pip_install","packages":["six"]},
        {"op":"workdir","path":"/w"}]}"#,
    )
    .unwrap();
    assert_eq!(
        modal,
        ImageRecord::Modal {
            ops: vec![
                ModalOp::FromRegistry {
                    image: "debian".into(),
                    add_python: Some("3.11".into())
                },
                ModalOp::Unknown,
                ModalOp::Workdir { path: "/w".into() },
            ]
        }
    );
    // Written with the tag first, as the golden files pin.
    let s = serde_json::to_string(&Record::new(
        "image",
        &ImageRecord::Modal {
            ops: vec![ModalOp::Env {
                vars: [("A".to_string(), "b".to_string())].into(),
            }],
        },
    ))
    .unwrap();
    assert_eq!(
        s,
        r#"{"type":"image","version":1,"format":"modal","ops":[{"op":"env","vars":{"A":"b"}}]}"#
    );
}

#[test]
fn shared_enums_read_unknown_values() {
    let b: Vec<Backend> = serde_json::from_str(r#"["local","runpod","lambda"]"#).unwrap();
    assert_eq!(b, [Backend::Local, Backend::Runpod, Backend::Unknown]);
    let m: Vec<Mode> = serde_json::from_str(r#"["in_place","docker","wasm"]"#).unwrap();
    assert_eq!(m, [Mode::InPlace, Mode::Docker, Mode::Unknown]);
    assert_eq!(
        serde_json::to_string(&Mode::InPlace).unwrap(),
        r#""in_place""#
    );
    assert_eq!(serde_json::to_string(&Backend::Ssh).unwrap(), r#""ssh""#);
}

#[test]
fn read_refuses_other_types_and_versions() {
    let line = r#"{"type":"sync","version":1}"#;
    assert!(matches!(
        read::<ExecRecord>(line),
        Err(ReadError::WrongType {
            expected: "exec",
            ..
        })
    ));
    let line = r#"{"type":"exec","version":2,"whatever":true}"#;
    assert!(matches!(
        read::<ExecRecord>(line),
        Err(ReadError::Version(2))
    ));
    assert!(matches!(
        read::<ExecRecord>("nope"),
        Err(ReadError::Json(_))
    ));
}

#[test]
fn pick_record_writes_the_documented_shape_and_reads_unknown_fields() {
    let offer = RankedOffer {
        instance_type: "g5.xlarge".into(),
        provider: "aws".into(),
        gpu_name: Some("A10G".into()),
        gpu_count: 1,
        vram_per_gpu_gb: 24.0,
        vcpus: 4.0,
        ram_gb: 16.0,
        target_disk_gb: Some(256.0),
        price_per_hour: 1.006,
        boot_time_seconds: Some(420.0),
        hint: Some(Hint {
            field: "boot_time_seconds".into(),
            value: 420.0,
        }),
        in_band: true,
    };
    let rec = PickRecord {
        instance_type: "g5.xlarge".into(),
        provider: "aws".into(),
        cloud: Some("aws".into()),
        gpu_name: Some("A10G".into()),
        gpu_count: 1,
        vram_per_gpu_gb: 24.0,
        total_vram_gb: 24.0,
        vcpus: 4.0,
        ram_gb: 16.0,
        disk_gb: Some(256.0),
        price_per_hour: 1.006,
        boot_time_seconds: Some(420.0),
        hint: offer.hint.clone(),
        reason: "cheapest match: $1.006/h".into(),
        types: vec!["g5.xlarge".into()],
        ranked: vec![offer],
        band_max_price: 1.0563,
        matched: 1,
        offers: 2,
        source: "brev search".into(),
    };
    let s = serde_json::to_string(&Record::new("pick", &rec)).unwrap();
    assert_eq!(
        s,
        r#"{"type":"pick","version":1,"instance_type":"g5.xlarge","provider":"aws","cloud":"aws","gpu_name":"A10G","gpu_count":1,"vram_per_gpu_gb":24.0,"total_vram_gb":24.0,"vcpus":4.0,"ram_gb":16.0,"disk_gb":256.0,"price_per_hour":1.006,"boot_time_seconds":420.0,"hint":{"field":"boot_time_seconds","value":420.0},"reason":"cheapest match: $1.006/h","types":["g5.xlarge"],"ranked":[{"type":"g5.xlarge","provider":"aws","gpu_name":"A10G","gpu_count":1,"vram_per_gpu_gb":24.0,"vcpus":4.0,"ram_gb":16.0,"target_disk_gb":256.0,"price_per_hour":1.006,"boot_time_seconds":420.0,"hint":{"field":"boot_time_seconds","value":420.0},"in_band":true}],"band_max_price":1.0563,"matched":1,"offers":2,"source":"brev search"}"#
    );
    assert_eq!(read::<PickRecord>(&s).unwrap(), rec);
    let newer = s.replace(r#""matched":1,"#, r#""matched":1,"region":"us-east-1","#);
    assert_eq!(read::<PickRecord>(&newer).unwrap(), rec);
}
