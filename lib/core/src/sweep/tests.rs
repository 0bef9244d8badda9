use super::*;

#[test]
fn a_grid_is_the_cross_product_first_name_slowest() {
    let sets = parse(r#"{"lr": [0.1, 0.2], "seed": [1, 2, 3], "opt": ["adam"]}"#).unwrap();
    assert_eq!(sets.len(), 6);
    let flat: Vec<String> = sets
        .iter()
        .map(|s| {
            s.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    assert_eq!(flat[0], "lr=0.1,seed=1,opt=adam");
    assert_eq!(flat[2], "lr=0.1,seed=3,opt=adam");
    assert_eq!(flat[5], "lr=0.2,seed=3,opt=adam");
}

#[test]
fn json_lines_are_one_set_a_line() {
    let sets = parse("{\"a\": 1, \"b\": true}\n\n{\"a\": \"x y\"}\n").unwrap();
    assert_eq!(
        sets,
        vec![
            vec![
                ("a".to_string(), "1".to_string()),
                ("b".into(), "true".into())
            ],
            vec![("a".to_string(), "x y".to_string())],
        ]
    );
}

#[test]
fn bad_files_name_what_and_where() {
    let e = parse(r#"{"lr": []}"#).unwrap_err();
    assert!(e.contains(".lr: found an empty list"), "{e}");
    let e = parse(r#"{"lr": [[1]]}"#).unwrap_err();
    assert!(e.contains(".lr[0]: found a list, expected a string"), "{e}");
    let e = parse("{\"a\": 1}\n[1]\n").unwrap_err();
    assert!(e.contains("line 2: found a list"), "{e}");
    let e = parse(r#"{"a b": [1]}"#).unwrap_err();
    assert!(e.contains("\"a b\""), "{e}");
    let e = parse("").unwrap_err();
    assert!(e.contains("empty"), "{e}");
    let e = parse("{\"a\": {\"x\": 1}}").unwrap_err();
    assert!(e.contains(".a: found an object"), "{e}");
}

#[test]
fn members_get_their_outputs_and_args_after_the_separator() {
    let base: Vec<OsString> = ["ssh", "job.json", "--host", "box", "--", "--steps=5"]
        .iter()
        .map(OsString::from)
        .collect();
    let a = member_args(
        &base,
        Path::new("out/s-0"),
        &vec![("lr".into(), "0.1".into())],
    );
    let a: Vec<String> = a.iter().map(|w| w.to_string_lossy().into_owned()).collect();
    assert_eq!(
        a,
        [
            "ssh",
            "job.json",
            "--host",
            "box",
            "--json",
            "--outputs-dir",
            "out/s-0",
            "--",
            "--steps=5",
            "--lr=0.1"
        ]
    );
}
