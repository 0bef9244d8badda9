//! `job.json(5)`: the job file's man page, rendered from the same JSON Schema value that is
//! checked in as `man/job.schema.json`, so the page can never describe a field the code does
//! not have. Each field is listed by its JSON path with its type, its constraints, its
//! default (where the schema documents one) and its doc comment; the prose around the fields
//! (variables, errors, backend rules, examples) is written here.

use serde_json::{Map, Value};
use std::fmt::Write;

/// The README's example job, shown verbatim in EXAMPLES (a stale copy fails the docs test).
const HELLO: &str = include_str!("../../../examples/hello/job.json");

const GPU_EXAMPLE: &str = r#"{
  "name": "finetune",
  "image": {
    "from_registry": "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime",
    "steps": [
      {"apt_install": ["git"]},
      {"pip_install": ["transformers>=4.40", "datasets"]},
      {"pip_install_local_dir": ".", "editable": true}
    ]
  },
  "run": ["python", "-m", "mypkg.train", "--epochs", "{epochs}"],
  "args": {"epochs": "3"},
  "env": {"WANDB_MODE": "offline"},
  "resources": {"gpu": "A100", "num_gpus": 2, "min_memory": 64},
  "timeout": 14400,
  "brev": {"mode": "vm", "on_finish": "delete"},
  "preconditions": {"shm_gb": 8}
}"#;

/// Escape text for roff: backslashes, and a leading `.` or `'` that would read as a request.
fn esc(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// A doc comment as one roff paragraph: lines joined, `code` in bold.
fn prose(s: &str) -> String {
    let joined = s.split('\n').map(str::trim).collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    for (i, part) in joined.split('`').enumerate() {
        if i % 2 == 1 {
            write!(out, "\\fB{}\\fR", esc(part)).unwrap();
        } else {
            out.push_str(&esc(part));
        }
    }
    // A line must not start with a control character after joining either.
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

/// The schema's patterns in words (the regex itself for any not known here).
fn pattern_words(p: &str) -> String {
    match p {
        "^[A-Za-z_][A-Za-z0-9_]*$" => "names like steps_2 ([A-Za-z_][A-Za-z0-9_]*)".into(),
        "^(?!RUNPLZ_)[A-Za-z_][A-Za-z0-9_]*$" => {
            "shell identifiers ([A-Za-z_][A-Za-z0-9_]*), not starting with RUNPLZ_".into()
        }
        "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$" => "1 to 63 characters".into(),
        p => format!("matches {p}"),
    }
}

struct Walker<'a> {
    defs: &'a Map<String, Value>,
    out: String,
}

impl<'a> Walker<'a> {
    /// Follow a `$ref`, or `anyOf: [$ref, null]` (how an optional enum is written).
    fn resolve(&self, s: &'a Value) -> &'a Value {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.trim_start_matches("#/$defs/");
            return self.defs.get(name).unwrap_or(s);
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            let non_null: Vec<&Value> = any
                .iter()
                .filter(|v| v.get("type") != Some(&Value::from("null")))
                .collect();
            if let [one] = non_null.as_slice() {
                if one.get("$ref").is_some() {
                    return self.resolve(one);
                }
            }
        }
        s
    }

    /// Enum values with their docs, when `s` is a string enum (`oneOf` of `const`s).
    fn variants(&self, s: &'a Value) -> Option<Vec<(&'a str, &'a str)>> {
        let one_of = self.resolve(s).get("oneOf")?.as_array()?;
        one_of
            .iter()
            .map(|v| {
                let c = v.get("const")?.as_str()?;
                let d = v.get("description").and_then(Value::as_str).unwrap_or("");
                Some((c, d))
            })
            .collect()
    }

    /// The type in words: `integer`, `array of strings`, `"stop" | "delete" | "leave"`, ...
    fn type_of(&self, s: &'a Value) -> String {
        if let Some(vars) = self.variants(s) {
            return vars
                .iter()
                .map(|(c, _)| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(" | ");
        }
        let r = self.resolve(s);
        if let Some(any) = r.get("anyOf").and_then(Value::as_array) {
            return any
                .iter()
                .map(|v| self.type_of(v))
                .collect::<Vec<_>>()
                .join(" or ");
        }
        let types: Vec<&str> = match r.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let t = types.into_iter().find(|t| *t != "null").unwrap_or("value");
        match t {
            "array" => {
                let item = r.get("items").map_or("value".into(), |i| self.type_of(i));
                format!(
                    "array of {}s",
                    item.trim_start_matches("an ").trim_start_matches("a ")
                )
            }
            "object" if r.get("properties").is_none() => match r.get("additionalProperties") {
                Some(v @ Value::Object(_)) => format!("object of {}s", self.type_of(v)),
                _ => "object".into(),
            },
            t => t.into(),
        }
    }

    /// Constraints worth a reader's time, in words.
    fn constraints(&self, s: &Value) -> Vec<String> {
        let mut c = Vec::new();
        let num = |k: &str| s.get(k).and_then(Value::as_f64);
        match (num("minimum"), num("maximum")) {
            (Some(lo), Some(hi)) => c.push(format!("{lo} to {hi}")),
            (Some(lo), None) => c.push(format!("at least {lo}")),
            _ => {}
        }
        if num("exclusiveMinimum") == Some(0.0) {
            c.push("more than 0".into());
        }
        if num("minItems").is_some() || num("minProperties").is_some() {
            c.push("not empty".into());
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            c.push(pattern_words(p));
        }
        if let Some(p) = s
            .get("propertyNames")
            .and_then(|p| p.get("pattern"))
            .and_then(Value::as_str)
        {
            c.push(format!("keys: {}", pattern_words(p)));
        }
        c
    }

    fn field(&mut self, path: &str, s: &'a Value, required: bool) {
        let r = self.resolve(s);
        // A field restricted to some values (ssh.on_finish) shows only those.
        let ty = match s.get("enum").and_then(Value::as_array) {
            Some(vals) => vals
                .iter()
                .filter(|v| !v.is_null())
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(" | "),
            None => self.type_of(s),
        };
        let mut head = format!("\\fI{}\\fR", esc(&ty));
        if required {
            head.push_str(", required");
        }
        for c in self.constraints(s) {
            write!(head, "; {}", esc(&c)).unwrap();
        }
        if let Some(d) = s.get("default") {
            let empty = d.as_object().is_some_and(Map::is_empty);
            if !empty {
                write!(head, "; default \\fB{}\\fR", esc(&d.to_string())).unwrap();
            }
        }
        write!(self.out, ".TP\n.B {}\n{head}.\n", esc(path)).unwrap();
        let desc = s
            .get("description")
            .or_else(|| r.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if !desc.is_empty() {
            writeln!(self.out, ".br\n{}", prose(desc)).unwrap();
        }
        if let Some(vars) = self.variants(s).filter(|_| s.get("enum").is_none()) {
            self.out.push_str(".RS\n");
            for (c, d) in vars {
                write!(self.out, ".TP\n.B \"{c}\"\n{}\n", prose(d)).unwrap();
            }
            self.out.push_str(".RE\n");
        }
        let items = (r.get("type") == Some(&Value::from("array")))
            .then(|| r.get("items").map(|i| self.resolve(i)))
            .flatten();
        if let Some(item) = items.filter(|i| i.get("properties").is_some()) {
            self.object(&format!("{path}[]"), item);
        }
        if r.get("properties").is_some() {
            self.object(path, r);
        }
    }

    fn object(&mut self, prefix: &str, s: &'a Value) {
        let required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(props) = s.get("properties").and_then(Value::as_object) else {
            return;
        };
        for (k, v) in props {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            self.field(&path, v, required.contains(&k.as_str()));
        }
    }
}

fn example(out: &mut String, title: &str, json: &str) {
    write!(out, ".PP\n{title}\n.PP\n.RS 4\n.nf\n").unwrap();
    for line in json.trim_end().lines() {
        writeln!(out, "{}", esc(line)).unwrap();
    }
    out.push_str(".fi\n.RE\n");
}

/// The whole page, from the `schema_for!(JobFile)` value.
pub fn render(schema: &Value) -> String {
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut w = Walker {
        defs,
        out: String::new(),
    };
    w.object("", schema);
    let fields = w.out;
    let version = env!("CARGO_PKG_VERSION");
    let mut out = format!(
        ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n.TH JOB.JSON 5 \"\" \"runplz {version}\" \"File Formats\"\n"
    );
    out.push_str(
        r#".SH NAME
job.json \- a runplz job: its image, its command, what it needs, and how each backend runs it
.SH SYNOPSIS
.B runplz
.I backend
.B job.json
.RB [ \-\-\fIname\fB=\fIvalue\fR ...]
.br
.B rp\-image job.json \-\-format dockerfile
.SH DESCRIPTION
A job file is one JSON object that every runplz tool reads. It declares the image the job
runs in (a registry image plus build steps, or a Dockerfile of your own), the command, the
environment, the resources the job needs, a wall\-clock limit, and settings for each backend
(\fBlocal\fR, \fBssh\fR, \fBbrev\fR, \fBmodal\fR, \fBslurm\fR, \fBrunpod\fR). The folder holding the job file is the
repository root: it is what is shipped to the box, relative paths in the file resolve against
it, and it is the job's working directory (\fI/workspace\fR in containers). The job writes
what should come back into \fB$RUNPLZ_OUT\fR.
.PP
The file is checked strictly before anything runs: an unknown key is an error that names the
key and suggests the nearest known one, a key given twice is an error, and every rule below
is enforced before a box is created or a file is shipped. Errors read
.PP
.RS 4
.nf
job.json:8:18: brev.on_finish: found "destroy", expected one of "stop", "delete", "leave"
.fi
.RE
.PP
that is the file, the line and column, the JSON path, what was found and what was expected.
Tools exit with status 2 on an invalid job.
.PP
Keys not listed below are errors. A key whose value is \fBnull\fR is the same as a missing
key. Memory and disk sizes are in GB, durations in seconds.
.SH FIELDS
"#,
    );
    out.push_str(&fields);
    out.push_str(
        r#".SH VARIABLES
\fB{name}\fR in \fBrun\fR is a placeholder. Its value comes from, lowest precedence first:
the \fBargs\fR object in the job; \fB\-\-vars\-file\fR \fIFILE\fR (a JSON object of strings);
\fB\-\-var\fR \fIname\fR=\fIvalue\fR; and \fB\-\-\fIname\fB=\fIvalue\fR given after the job
file, which wins. A variable that no placeholder uses, and a placeholder left without a
value, are errors. In a shell\-string \fBrun\fR every value is substituted shell\-quoted, so a
value can never inject a command; in an argv \fBrun\fR it is one argument, as is.
\fB{{\fR and \fB}}\fR are literal braces, so a shell variable in braces is written
\fB${{HOME}}\fR (a bare \fB$HOME\fR needs nothing); \fB${HOME}\fR is refused as ambiguous.
.SH "BACKEND RULES"
Some jobs are valid on one backend and impossible on another. These are checked when a
backend is chosen, still before any side effect:
.TP
.B brev
A \fBfrom_dockerfile\fR image needs \fB"mode": "vm"\fR with docker: a container\-mode box is
started from a registry image and runs the steps inline.
.TP
.B local, ssh
A \fBfrom_dockerfile\fR image cannot run natively (\fBuse_docker\fR false, or
\fB\-\-native\fR for local); a native local run takes no \fBlocal.network\fR.
.TP
.B modal
No \fBresources.min_disk\fR (Modal has no per\-function disk size); \fBmin_gpu_memory\fR
needs a \fBgpu\fR model (Modal picks GPUs by name); at most 8 GPUs; \fBtimeout\fR at most
86400 (24 hours).
.TP
.B runpod
A \fBfrom_registry\fR image only (the pod is the image, started by RunPod); GPU pods only
(\fBnum_gpus\fR 0 is refused).
"#,
    );
    out.push_str(".SH EXAMPLES\n");
    example(
        &mut out,
        "The example the README runs (examples/hello/job.json); it needs only python3:",
        HELLO,
    );
    example(
        &mut out,
        "A GPU job that installs its own package and runs on a Brev VM it deletes afterwards:",
        GPU_EXAMPLE,
    );
    out.push_str(
        r#".SH FILES
.TP
.I man/job.schema.json
The JSON Schema this page is generated from. Point an editor at it with a \fB"$schema"\fR key
for completion and checking as you type.
.SH "SEE ALSO"
.BR runplz (1),
.BR rp\-image (1),
.BR rp\-exec (1),
.BR rp\-sync (1),
.BR rp\-collect (1),
.BR rp\-probe (1)
"#,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_example_is_a_valid_job() {
        let root = std::env::temp_dir();
        let job = runplz_core::job::parse(GPU_EXAMPLE, "example", &root).unwrap();
        assert_eq!(job.name(), "finetune");
        runplz_core::backend::check_job(&job, runplz_core::job::Backend::Brev).unwrap();
    }

    #[test]
    fn roff_escapes_requests_and_code() {
        assert_eq!(
            prose(".hidden `a-b` c\\d"),
            "\\&.hidden \\fBa\\-b\\fR c\\ed"
        );
        assert_eq!(esc("'x"), "\\&'x");
    }
}
