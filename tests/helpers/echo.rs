//! Test helper: print one JSON line `{"argv":[..],"env":{..},"cwd":".."}` with the arguments
//! after the program name, the whole environment and the working directory, so tests can
//! check that hostile values arrive byte for byte.
use std::collections::BTreeMap;

fn main() {
    let lossy = |s: std::ffi::OsString| s.to_string_lossy().into_owned();
    let argv: Vec<String> = std::env::args_os().skip(1).map(lossy).collect();
    let env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| (lossy(k), lossy(v)))
        .collect();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let line = serde_json::json!({"argv": argv, "env": env, "cwd": cwd});
    println!("{line}");
}
