//! Rewording serde's and serde_json's messages into runplz's one shape, "found X, expected
//! Y", with a "did you mean" where a typo is likely. serde speaks Rust (`i64`, `a map`,
//! `struct Image`); users wrote JSON, so every message here speaks JSON.

use super::spans::{self, join_key};
use serde_json::Value;

/// A short description of a JSON value for "found ..." messages.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.is_empty() => "an empty string".into(),
        Value::String(s) => format!("string {}", Value::from(s.as_str())),
        Value::Array(a) if a.is_empty() => "an empty array".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(o) if o.is_empty() => "an empty object".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// `one of "a", "b", "c"`, or just `"a"` when there is one.
pub fn one_of(items: &[&str]) -> String {
    match items {
        [one] => Value::from(*one).to_string(),
        _ => format!("one of {}", quoted_list(items)),
    }
}

/// `"a", "b", "c"`.
pub fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| Value::from(*s).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The known word nearest to `word`, if it is plausibly a typo of it (or `word` is a
/// prefix of it, as in `instance` for `instance_type`).
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let w = word.to_lowercase();
    known
        .iter()
        .map(|k| (strsim::levenshtein(&w, k), *k))
        .filter(|(d, k)| *d <= (k.chars().count() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
        .or_else(|| {
            known
                .iter()
                .find(|k| w.len() >= 4 && (k.starts_with(&w) || w.starts_with(**k)))
                .copied()
        })
}

/// What runplz calls a key Python runplz's `@app.function(...)` and its configs took, for
/// the unknown key at `path` (`min_gpus`, `resources.min_gpus`).
pub fn python_name(path: &str) -> Option<&'static str> {
    const RESOURCES: &[(&str, &str)] = &[
        ("gpu", "resources.gpu"),
        ("num_gpus", "resources.num_gpus"),
        ("min_gpus", "resources.num_gpus"),
        ("min_cpu", "resources.min_cpu"),
        ("min_memory", "resources.min_memory"),
        ("min_gpu_memory", "resources.min_gpu_memory"),
        ("min_disk", "resources.min_disk"),
        ("brev_config", "brev"),
        ("ssh_config", "ssh"),
        ("modal_config", "modal"),
    ];
    match path {
        "resources.min_gpus" => Some("num_gpus"),
        top => RESOURCES.iter().find(|(p, _)| *p == top).map(|(_, r)| *r),
    }
}

/// `; did you mean "x"?` or nothing.
pub fn did_you_mean(word: &str, known: &[&str]) -> String {
    suggest(word, known)
        .map(|s| format!("; did you mean {}?", Value::from(s)))
        .unwrap_or_default()
}

/// The value at a path, if it exists.
pub fn value_at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    spans::segments(path)
        .iter()
        .try_fold(root, |cur, seg| match seg {
            spans::Seg::Key(k) => cur.get(k),
            spans::Seg::Index(i) => cur.get(i),
        })
}

/// Words between backticks in a serde message.
fn ticked(msg: &str) -> Vec<&str> {
    msg.split('`').skip(1).step_by(2).collect()
}

/// The values of the enum-typed key `key`, for messages where serde only says "string or map".
fn enum_values(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "mode" => Some(&["container", "vm"]),
        "on_finish" => Some(&["stop", "delete", "leave"]),
        "inactivity_action" => Some(&["diagnose", "terminate"]),
        _ => None,
    }
}

/// The JSON spelling of what serde expected (`key` is the last key of the path).
fn expected_json(e: &str, key: &str) -> String {
    match e {
        "string or map" => enum_values(key).map_or("a string".into(), one_of),
        "i64" | "u64" | "i32" | "u32" | "u16" | "usize" => "an integer".into(),
        "f64" | "f32" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a sequence" => "an array".into(),
        "a map" => "an object".into(),
        e if e.starts_with("struct ") => "an object".into(),
        e => e.to_string(),
    }
}

/// What a required key holds, for "found nothing, expected ...".
fn required(key: &str) -> &'static str {
    match key {
        "name" => "a job name",
        "image" => "an object with \"from_registry\" or \"from_dockerfile\"",
        "run" => "the command: a shell string or an argv array",
        _ => "a value",
    }
}

/// A serde error on the job, reworded: (path, message, whether it is about the key itself).
pub fn serde_error(
    err: &serde_path_to_error::Error<serde_json::Error>,
    root: &Value,
) -> (String, String, bool) {
    use serde_path_to_error::Segment;
    let segs: Vec<spans::Seg> = err
        .path()
        .iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(spans::Seg::Index(*index)),
            Segment::Map { key } => Some(spans::Seg::Key(key.clone())),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect();
    let path = spans::format_path(&segs);
    let msg = err.inner().to_string();
    let ticks = ticked(&msg);
    let word = ticks.first().copied().unwrap_or("");
    if msg.starts_with("unknown field") {
        let known: Vec<&str> = ticks.iter().skip(1).copied().collect();
        // With one known key the message already names it.
        let hint = if let Some(ours) = python_name(&path) {
            format!("; runplz calls this `{ours}`")
        } else if known.len() > 1 {
            did_you_mean(word, &known)
        } else {
            String::new()
        };
        let message = format!(
            "found unknown key {}, expected {}{hint}",
            Value::from(word),
            one_of(&known)
        );
        return (path, message, true);
    }
    if msg.starts_with("unknown variant") {
        let known: Vec<&str> = ticks.iter().skip(1).copied().collect();
        let hint = did_you_mean(word, &known);
        let message = format!(
            "found {}, expected {}{hint}",
            Value::from(word),
            one_of(&known)
        );
        return (path, message, false);
    }
    if msg.starts_with("missing field") {
        let message = format!(
            "found nothing, expected {} (the key is required)",
            required(word)
        );
        return (join_key(&path, word), message, false);
    }
    let found = value_at(root, &path)
        .map(describe)
        .unwrap_or_else(|| "a value".into());
    if msg.contains("untagged enum Run") {
        // An argv array with one bad element: point at that element.
        if let Some(Value::Array(items)) = value_at(root, &path) {
            if let Some(i) = items.iter().position(|v| !v.is_string()) {
                let message = format!("found {}, expected a string", describe(&items[i]));
                return (spans::join_index(&path, i), message, false);
            }
        }
        let message = format!("found {found}, expected a shell string or an argv array of strings");
        return (path, message, false);
    }
    let key = match segs.last() {
        Some(spans::Seg::Key(k)) => k.as_str(),
        _ => "",
    };
    let message = if let Some(rest) = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))
    {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        format!("found {found}, expected {}", expected_json(expected, key))
    } else {
        format!("found {found}, expected a valid value ({msg})")
    };
    (path, message, false)
}

/// A JSON syntax error, reworded (serde_json's own position suffix dropped), with its line
/// and column. serde_json reports a trailing comma at the bracket after it; the comma itself
/// is what to fix, so that is where this points.
pub fn syntax_error_at(err: &serde_json::Error, text: &str) -> (String, (usize, usize)) {
    let message = syntax_error(err);
    // serde_json's column is that of the last character read; 0 means it had just read a
    // newline, so the offending spot is the end of the line before.
    let mut pos = (err.line(), err.column().max(1));
    if err.column() == 0 && err.line() > 1 && !message.starts_with("found the end of the file") {
        let newline = spans::offset_of(text, (err.line(), 1)).saturating_sub(1);
        pos = spans::line_col(text, newline);
    }
    if message.starts_with("found a trailing comma") {
        let at = spans::offset_of(text, pos);
        if let Some(comma) = text[..at].rfind(|c: char| !c.is_whitespace()) {
            pos = spans::line_col(text, comma);
        }
    }
    (message, pos)
}

/// A JSON syntax error, reworded (serde_json's own position suffix dropped).
pub fn syntax_error(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let msg = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i]);
    if let Some(what) = msg.strip_prefix("EOF while parsing ") {
        return match what {
            "a value" => "found the end of the file, expected a value".into(),
            "a list" => "found the end of the file inside an array, expected the rest of it".into(),
            w => format!("found the end of the file inside {w}, expected the rest of it"),
        };
    }
    match msg {
        "trailing comma" => "found a trailing comma, expected another value (JSON allows no trailing commas)".into(),
        "key must be a string" => "found a key that is not a string, expected a \"quoted\" key".into(),
        "trailing characters" => "found more text after the JSON value, expected the end of the file".into(),
        "expected value" => "found invalid JSON, expected a value (a string, number, object, array, true, false or null)".into(),
        "expected ident" => "found invalid JSON, expected true, false or null".into(),
        m if m.starts_with("expected ") => format!("found invalid JSON, {m}"),
        m => format!("found invalid JSON ({m}), expected valid JSON"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["on_finish", "mode", "instance_type", "use_docker"];
        assert_eq!(suggest("on_finsh", &known), Some("on_finish"));
        assert_eq!(suggest("MODE", &known), Some("mode"));
        assert_eq!(suggest("instance", &known), Some("instance_type"));
        assert_eq!(suggest("zzz", &known), None);
    }
}
