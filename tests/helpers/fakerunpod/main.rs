//! `rpt-runpod`: a fake RunPod GraphQL API for the tests (facts/runpod.md), on 127.0.0.1.
//! `POST /graphql` with `Authorization: Bearer <key>` or `?api_key=<key>` (the key is
//! `$FAKE_RUNPOD_KEY`; anything else is HTTP 401), a JSON body `{"query", "variables"}`,
//! answered `{"data": ...}` or `{"errors": [{"message"}]}` with only the fields asked for
//! (an unknown one is an error, as on the real server). Calls: `gpuTypes` (the catalog,
//! `$FAKE_RUNPOD_DIR/gpu_types.json` or a built-in one), `myself { pods }`, `pod`,
//! `podFindAndDeployOnDemand`, `podStop`, `podResume`, `podTerminate`.
//!
//! A pod is `RUNNING` at once with `runtime: null`; after `runtime-ms` (default 300) it is a
//! real sshd on 127.0.0.1 that lets `root` in with the create's `PUBLIC_KEY`, and its
//! runtime lists that port as the public `22/tcp` (and a private `22` entry beside it on
//! 127.0.0.2, which must never be used). Its sessions carry `RUNPOD_POD_ID`; a stop or a
//! terminate kills the sshd and every process that carries it.
//!
//! Written as it changes: `$FAKE_RUNPOD_DIR/port`, `state.json` (every pod ever made, with
//! `desiredStatus` `TERMINATED` once terminated, and the fake's own `_sshd_pid`),
//! `calls.jsonl` (one line per request: the operation's top field, its resolved `input`, how
//! it authenticated; never the key). Failures are lines of `$FAKE_RUNPOD_DIR/fail`, read at
//! each request: `nocap=<gpu type id>` (creates of that type fail with RunPod's "no longer
//! any instances available"), `create-hang=<ms>` (a create makes the pod, then answers only
//! after that long), `5xx=<n>` (the next n requests get a 502 with an HTML body, then the
//! line counts down), `graphql-unauthorized` (every request is a 200 whose error says
//! "Unauthorized"), `runtime-ms=<ms>`, `terminate-fails`, `slow=<field>:<ms>` (calls to
//! that top field answer only after that long).

mod gql;
mod pods;

use serde_json::{json, Map, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct World {
    pub dir: PathBuf,
    key: String,
    pub pods: Mutex<Vec<Value>>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

impl World {
    /// The injected failures now, as (word, value) pairs.
    pub fn fails(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.join("fail"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
                None => (l.trim().to_string(), String::new()),
            })
            .collect()
    }

    pub fn fail_value(&self, word: &str) -> Option<String> {
        self.fails()
            .into_iter()
            .find(|(k, _)| k == word)
            .map(|(_, v)| v)
    }

    /// Take one from a `5xx=<n>` line; whether this request fails.
    fn take_5xx(&self) -> bool {
        let path = self.dir.join("fail");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut hit = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                match l
                    .trim()
                    .strip_prefix("5xx=")
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    Some(n) if n > 0 => {
                        hit = true;
                        format!("5xx={}", n - 1)
                    }
                    _ => l.to_string(),
                }
            })
            .collect();
        if hit {
            let _ = std::fs::write(&path, lines.join("\n") + "\n");
        }
        hit
    }

    pub fn save(&self, pods: &[Value]) {
        let tmp = self.dir.join("state.json.new");
        let _ = std::fs::write(&tmp, serde_json::to_string_pretty(pods).unwrap());
        let _ = std::fs::rename(&tmp, self.dir.join("state.json"));
    }

    fn record(&self, line: Value) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("calls.jsonl"))
        {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }

    pub fn catalog(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("gpu_types.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(pods::default_catalog)
    }
}

fn main() {
    let dir = PathBuf::from(std::env::var_os("FAKE_RUNPOD_DIR").expect("FAKE_RUNPOD_DIR"));
    let key = std::env::var("FAKE_RUNPOD_KEY").expect("FAKE_RUNPOD_KEY");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().unwrap().port();
    let w = Arc::new(World {
        dir: dir.clone(),
        key,
        pods: Mutex::new(Vec::new()),
    });
    w.save(&[]);
    std::fs::write(dir.join("port.new"), port.to_string()).unwrap();
    std::fs::rename(dir.join("port.new"), dir.join("port")).unwrap();
    // A test binary killed outright cannot stop us: when our parent is gone, the pods go
    // (their sshds outlive us otherwise) and so do we.
    let parent = std::os::unix::process::parent_id();
    let watch = w.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        if std::os::unix::process::parent_id() != parent {
            for p in watch.pods.lock().unwrap().iter() {
                pods::kill_pod(p);
            }
            std::process::exit(0);
        }
    });
    for s in l.incoming().flatten() {
        let w = w.clone();
        std::thread::spawn(move || {
            let _ = serve(&w, s);
        });
    }
}

fn respond(
    s: &mut TcpStream,
    code: u16,
    reason: &str,
    ctype: &str,
    body: &str,
) -> std::io::Result<()> {
    write!(
        s,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}

fn serve(w: &Arc<World>, mut s: TcpStream) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut len = 0usize;
    let mut auth = String::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "authorization" => auth = v.trim().to_string(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "POST" || path != "/graphql" {
        return respond(&mut s, 404, "Not Found", "text/plain", "404 page not found");
    }
    let by_query = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("api_key="))
        .any(|k| k == w.key);
    let how = if auth == format!("Bearer {}", w.key) {
        "bearer"
    } else if by_query {
        "api_key"
    } else {
        "none"
    };
    if w.take_5xx() {
        w.record(json!({"http": 502, "at_ms": now_ms()}));
        return respond(
            &mut s,
            502,
            "Bad Gateway",
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>",
        );
    }
    if how == "none" {
        w.record(json!({"http": 401, "at_ms": now_ms()}));
        return respond(
            &mut s,
            401,
            "Unauthorized",
            "application/json",
            r#"{"error":"Unauthorized"}"#,
        );
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let vars = req["variables"].as_object().cloned().unwrap_or_default();
    let doc = req["query"].as_str().unwrap_or("");
    let answer = if w.fail_value("graphql-unauthorized").is_some() {
        json!({"errors": [{"message": "Unauthorized"}], "data": null})
    } else {
        match gql::parse(doc, &vars) {
            Err(m) => json!({"errors": [{"message": m}]}),
            Ok((op, fields)) => {
                let mut data = Map::new();
                let mut errors = Vec::new();
                for f in &fields {
                    let input = f.args.get("input").cloned().unwrap_or(Value::Null);
                    w.record(json!({"op": f.name, "kind": op, "input": input, "auth": how, "at_ms": now_ms()}));
                    if let Some(ms) = w.fails().iter().find_map(|(k, v)| {
                        let (o, ms) = v.split_once(':')?;
                        (k == "slow" && o == f.name)
                            .then(|| ms.parse::<u64>().ok())
                            .flatten()
                    }) {
                        std::thread::sleep(Duration::from_millis(ms));
                    }
                    match pods::resolve(w, &op, f).and_then(|v| gql::project(&v, &f.sels, &f.name))
                    {
                        Ok(v) => {
                            data.insert(f.key().to_string(), v);
                        }
                        Err(m) => {
                            data.insert(f.key().to_string(), Value::Null);
                            errors.push(json!({"message": m, "path": [f.key()]}));
                        }
                    }
                }
                if errors.is_empty() {
                    json!({"data": data})
                } else {
                    json!({"errors": errors, "data": data})
                }
            }
        }
    };
    respond(&mut s, 200, "OK", "application/json", &answer.to_string())
}
