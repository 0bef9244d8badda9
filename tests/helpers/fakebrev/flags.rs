//! cobra's flag parsing for the commands the fake has, with brev's own flag names.

use super::{fail, Fail, R};

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Bool,
    Value,
}

/// Parsed flags: long name → value ("true" for a bool), and the positional arguments.
pub(super) struct Parsed {
    pub(super) flags: Vec<(String, String)>,
    pub(super) pos: Vec<String>,
}

impl Parsed {
    pub(super) fn get(&self, long: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == long)
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn on(&self, long: &str) -> bool {
        self.get(long).is_some_and(|v| v == "true")
    }
    pub(super) fn num(&self, long: &str) -> R<Option<f64>> {
        match self.get(long) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Fail(format!(
                    "invalid argument \"{v}\" for \"--{long}\" flag: strconv.ParseFloat: parsing \"{v}\": invalid syntax"
                ))
            }),
        }
    }
}

/// Cobra's parsing, for one command's flags (`--help` aside).
pub(super) fn parse(args: &[String], spec: &[(&str, Option<char>, Kind)]) -> R<Parsed> {
    let mut p = Parsed {
        flags: Vec::new(),
        pos: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            p.pos.extend(args[i..].iter().cloned());
            break;
        }
        let (long, inline) = if let Some(rest) = a.strip_prefix("--") {
            let (n, v) = match rest.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (rest.to_string(), None),
            };
            let Some(s) = spec.iter().find(|s| s.0 == n) else {
                return fail(format!("unknown flag: --{n}"));
            };
            (s, v)
        } else if a.len() > 1 && a.starts_with('-') {
            let c = a.chars().nth(1).unwrap();
            let Some(s) = spec.iter().find(|s| s.1 == Some(c)) else {
                return fail(format!("unknown shorthand flag: '{c}' in {a}"));
            };
            let rest = &a[2..];
            (
                s,
                (!rest.is_empty()).then(|| rest.trim_start_matches('=').to_string()),
            )
        } else {
            p.pos.push(a.clone());
            continue;
        };
        let value = match (long.2, inline) {
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Bool, Some(v)) => v,
            (Kind::Value, Some(v)) => v,
            (Kind::Value, None) => match args.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => return fail(format!("flag needs an argument: --{}", long.0)),
            },
        };
        p.flags.push((long.0.to_string(), value));
    }
    Ok(p)
}

pub(super) use Kind::{Bool as B, Value as V};

pub(super) const SEARCH_FLAGS: &[(&str, Option<char>, Kind)] = &[
    ("gpu-name", Some('g'), V),
    ("min-vram", Some('v'), V),
    ("min-total-vram", Some('t'), V),
    ("min-capability", Some('c'), V),
    ("wide", Some('w'), B),
    ("provider", Some('p'), V),
    ("arch", None, V),
    ("min-vcpu", None, V),
    ("min-ram", None, V),
    ("min-disk", None, V),
    ("max-boot-time", None, V),
    ("stoppable", None, B),
    ("rebootable", None, B),
    ("flex-ports", None, B),
    ("sort", Some('s'), V),
    ("desc", Some('d'), B),
    ("json", None, B),
];

pub(super) const CREATE_FLAGS: &[(&str, Option<char>, Kind)] = &[
    ("name", Some('n'), V),
    ("type", Some('t'), V),
    ("count", Some('c'), V),
    ("parallel", Some('p'), V),
    ("detached", Some('d'), B),
    ("timeout", None, V),
    ("startup-script", Some('s'), V),
    ("dry-run", None, B),
    ("mode", Some('m'), V),
    ("jupyter", None, B),
    ("container-image", None, V),
    ("compose-file", None, V),
    ("launchable", Some('l'), V),
    ("gpu-name", Some('g'), V),
    ("provider", None, V),
    ("min-vram", Some('v'), V),
    ("min-total-vram", None, V),
    ("min-capability", None, V),
    ("min-disk", None, V),
    ("max-boot-time", None, V),
    ("stoppable", None, B),
    ("rebootable", None, B),
    ("flex-ports", None, B),
    ("sort", None, V),
    ("desc", None, B),
];
