//! `rpt-brev`: a fake `brev` CLI (≥ v0.6.327) for the tests, installed on PATH as `brev`. It
//! follows the real brev CLI as documented and observed: the same flags (an unknown one fails with
//! `unknown flag: --x`, exit 1), piped-mode output (progress on stderr, names on stdout), exit
//! codes 0 and 1 only (and exit 0 where brev exits 0 on failure: a create whose wait failed,
//! a start of an unknown name), stdin read as names or types when it is not a character
//! device, the three `ls --json` shapes, and the `ssh_config` that `brev refresh` writes.
//!
//! State lives in `$FAKE_BREV_DIR` (state.json under a flock, calls.jsonl, the catalog in
//! catalog.json). States move DEPLOYING → RUNNING, STOPPING → STOPPED, STARTING → RUNNING,
//! DELETING → gone, each after `$FAKE_BREV_STEP_MS` (default 300), when any call looks. A box
//! that reaches RUNNING is a real sshd on 127.0.0.1 (own port, own user named
//! `$FAKE_BREV_USER_PREFIX<n>`), stopped with its user's processes on `stop` and removed with
//! its user on `delete`. Logged in means `$HOME/.brev/credentials.json` exists.
//!
//! Failures are injected by words in `$FAKE_BREV_FAIL` or in the file `$FAKE_BREV_DIR/fail`:
//! `create` (every create attempt fails, no box), `create-eof` (the box is made, then the
//! call fails with `unexpected EOF`), `flaky` (the first create attempt fails with a
//! connection reset, no box), `quota`, `stuck` (new boxes stay DEPLOYING), `failure` (new
//! boxes end in FAILURE), `delete` and `stop` (those verbs fail, nothing changes).
//! `$FAKE_BREV_SLOW=cmd:ms[,...]` makes a command take that long; `$FAKE_BREV_LS_SHAPE=array`
//! prints `ls --json` as v0.6.317–322 did.

mod boxes;
mod create;
mod flags;
mod search;

use boxes::{remove_user, stop_box};
use flags::{parse, Kind, Parsed, B, V};
use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const VERSION: &str = "v0.6.327";
const API: &str = "https://brevapi.us-west-2-prod.control-plane.brev.dev";

/// An error printed as one line on stderr; exit 1.
struct Fail(String);

type R<T> = Result<T, Fail>;

fn fail<T>(m: impl Into<String>) -> R<T> {
    Err(Fail(m.into()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&args) {
        Ok(()) => 0,
        Err(Fail(m)) => {
            eprintln!("{m}");
            1
        }
    };
    std::process::exit(code);
}

struct World {
    dir: PathBuf,
    home: PathBuf,
    step: Duration,
    fail: Vec<String>,
}

impl World {
    fn open() -> R<World> {
        let dir = PathBuf::from(
            std::env::var_os("FAKE_BREV_DIR").ok_or(Fail("FAKE_BREV_DIR is not set".into()))?,
        );
        let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        let step = std::env::var("FAKE_BREV_STEP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        let mut fail: Vec<String> = std::env::var("FAKE_BREV_FAIL")
            .unwrap_or_default()
            .split([',', ' ', '\n'])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if let Ok(f) = std::fs::read_to_string(dir.join("fail")) {
            fail.extend(
                f.split([',', ' ', '\n'])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        }
        Ok(World {
            dir,
            home,
            step: Duration::from_millis(step),
            fail,
        })
    }

    fn fails(&self, what: &str) -> bool {
        self.fail.iter().any(|f| f == what)
    }

    fn catalog(&self) -> Vec<Value> {
        let p = std::env::var_os("FAKE_BREV_CATALOG")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.dir.join("catalog.json"));
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<Value>>(&t).ok())
            .unwrap_or_default()
    }

    fn logged_in(&self) -> bool {
        self.home.join(".brev/credentials.json").is_file()
    }

    /// Commands that need a login ask, read stdin, and fail on EOF.
    fn require_login(&self) -> R<()> {
        if self.logged_in() {
            return Ok(());
        }
        print!("You are currently logged out, would you like to log in? [Y/n]: ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => fail("EOF"),
            Ok(_) => fail("fake brev: interactive login is not faked"),
        }
    }

    /// Lock the state, let `f` change it, save it.
    fn with_state<T>(&self, f: impl FnOnce(&World, &mut State) -> R<T>) -> R<T> {
        use nix::fcntl::{Flock, FlockArg};
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("lock"))
            .map_err(|e| Fail(format!("fake brev: lock: {e}")))?;
        let _g = Flock::lock(lock, FlockArg::LockExclusive)
            .map_err(|(_, e)| Fail(format!("fake brev: flock: {e}")))?;
        let path = self.dir.join("state.json");
        let mut st: State = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map(State::from)
            .unwrap_or_default();
        self.advance(&mut st);
        let res = f(self, &mut st);
        let tmp = self.dir.join("state.json.new");
        std::fs::write(&tmp, serde_json::to_string_pretty(&st.to_json()).unwrap())
            .map_err(|e| Fail(format!("fake brev: state: {e}")))?;
        std::fs::rename(&tmp, &path).map_err(|e| Fail(format!("fake brev: state: {e}")))?;
        res
    }

    /// Move every box on whose state change enough time has passed.
    fn advance(&self, st: &mut State) {
        let now = now_ms();
        let due =
            |b: &Value| now >= b["since_ms"].as_u64().unwrap_or(0) + self.step.as_millis() as u64;
        let mut keep = Vec::new();
        for mut b in std::mem::take(&mut st.boxes) {
            let status = b["status"].as_str().unwrap_or("").to_string();
            if due(&b) {
                match status.as_str() {
                    "DEPLOYING" if b["stuck"] == true => {}
                    "DEPLOYING" if b["failure"] == true => {
                        set_status(&mut b, "FAILURE");
                        b["build_status"] = json!("CREATE_FAILED");
                    }
                    "DEPLOYING" | "STARTING" => match self.start_sshd(&mut b) {
                        Ok(()) => {
                            set_status(&mut b, "RUNNING");
                            b["build_status"] = json!("COMPLETED");
                        }
                        Err(Fail(m)) => {
                            eprintln!("fake brev: could not start the box's sshd: {m}");
                            set_status(&mut b, "FAILURE");
                        }
                    },
                    "STOPPING" => set_status(&mut b, "STOPPED"),
                    "DELETING" => {
                        remove_user(&b);
                        continue;
                    }
                    _ => {}
                }
            }
            keep.push(b);
        }
        st.boxes = keep;
    }

    fn record_call(&self, args: &[String]) {
        let line = json!({"argv": args, "stdin_is_chr": stdin_is_chr(), "at_ms": now_ms()});
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("calls.jsonl"))
        {
            // One write of the whole line: O_APPEND keeps concurrent calls' lines whole.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

#[derive(Default)]
struct State {
    next: u64,
    flaky_used: bool,
    /// The account's server-side `finishedOnboarding`, set by the first `ls`.
    onboarded: bool,
    boxes: Vec<Value>,
}

impl State {
    fn from(v: Value) -> State {
        State {
            next: v["next"].as_u64().unwrap_or(0),
            flaky_used: v["flaky_used"] == true,
            onboarded: v["onboarded"] == true,
            boxes: v["boxes"].as_array().cloned().unwrap_or_default(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"next": self.next, "flaky_used": self.flaky_used, "onboarded": self.onboarded, "boxes": self.boxes})
    }

    /// By name or id, exactly.
    fn find(&self, key: &str) -> Option<usize> {
        self.boxes
            .iter()
            .position(|b| b["name"] == key || b["id"] == key)
    }
}

fn set_status(b: &mut Value, s: &str) {
    b["status"] = json!(s);
    b["since_ms"] = json!(now_ms());
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn stdin_is_chr() -> bool {
    nix::sys::stat::fstat(std::io::stdin())
        .map(|s| (s.st_mode & nix::libc::S_IFMT) == nix::libc::S_IFCHR)
        .unwrap_or(true)
}

/// Lines of stdin when it is not a character device (brev reads names or types from it).
fn stdin_lines() -> Vec<String> {
    if stdin_is_chr() {
        return Vec::new();
    }
    let mut s = String::new();
    let _ = std::io::stdin().read_to_string(&mut s);
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

// ---- commands ----------------------------------------------------------------------------

fn run(args: &[String]) -> R<()> {
    if args.first().map(String::as_str) == Some("--version") {
        let p = parse(&args[1..], &[("no-check-latest", None, B)])?;
        let _ = p;
        println!("Current Version: {VERSION}");
        return Ok(());
    }
    let w = World::open()?;
    w.record_call(args);
    let Some(cmd) = args.first() else {
        return fail("fake brev: no command");
    };
    let rest = &args[1..];
    // `FAKE_BREV_SLOW=cmd:ms`: that command takes this long (create: after the box is made,
    // as a call whose answer is still on its way).
    if cmd != "create" {
        slow(cmd);
    }
    match cmd.as_str() {
        "search" => search::search(&w, rest),
        "create" | "provision" => create::create(&w, rest),
        "ls" | "list" => ls(&w, rest),
        "start" => start(&w, rest),
        "stop" => stop_or_delete(&w, rest, false),
        "delete" => stop_or_delete(&w, rest, true),
        "refresh" => boxes::refresh(&w, rest),
        "login" => login(&w, rest),
        "exec" | "shell" | "ssh" | "copy" | "cp" | "scp" => {
            w.require_login()?;
            fail(format!(
                "fake brev: `{cmd}` is not faked (runplz uses ssh itself)"
            ))
        }
        other => fail(format!(
            "unknown command \"{other}\" for \"brev\"\nRun 'brev --help' for usage."
        )),
    }
}

fn login(w: &World, args: &[String]) -> R<()> {
    let p = parse(
        args,
        &[
            ("token", None, V),
            ("api-key", None, V),
            ("org-id", None, V),
        ],
    )?;
    if let Some(k) = p.get("api-key") {
        if !k.starts_with("bak-") {
            return fail("invalid api key: must start with bak-");
        }
        if p.get("org-id").is_none() {
            return fail("api key auth requires an org id; run brev login --api-key <api-key> --org-id <org-id>");
        }
    } else if p.get("token").is_none() {
        return fail("fake brev: only `login --token` and `login --api-key` are faked");
    }
    let d = w.home.join(".brev");
    std::fs::create_dir_all(&d).map_err(|e| Fail(e.to_string()))?;
    std::fs::write(
        d.join("credentials.json"),
        r#"{"access_token":"fake","refresh_token":"fake"}"#,
    )
    .map_err(|e| Fail(e.to_string()))?;
    Ok(())
}

fn slow(cmd: &str) {
    let v = std::env::var("FAKE_BREV_SLOW").unwrap_or_default();
    for part in v.split(',') {
        if let Some((c, ms)) = part.split_once(':') {
            if c == cmd {
                std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
            }
        }
    }
}

/// brev polls every 5 s; the fake polls at half its state step, so tests stay fast.
fn poll(w: &World) -> Duration {
    (w.step / 2).max(Duration::from_millis(20))
}

fn ls(w: &World, args: &[String]) -> R<()> {
    let p = parse(
        args,
        &[("json", None, B), ("all", None, B), ("org", Some('o'), V)],
    )?;
    w.require_login()?;
    // brev's onboarding runs after the first `ls` of an account (it flips the server's
    // finishedOnboarding) while ~/.brev/onboarding_step.json is missing or at step 0.
    let (boxes, first) = w.with_state(|_, st| {
        let first = !st.onboarded;
        st.onboarded = true;
        Ok((st.boxes.clone(), first))
    })?;
    let onboard = first && {
        let f = w.home.join(".brev/onboarding_step.json");
        std::fs::read_to_string(&f)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_none_or(|v| {
                v["step"].as_i64().unwrap_or(0) == 0
                    && v["hasRunBrevShell"] != true
                    && v["hasRunBrevOpen"] != true
            })
    };
    let res = ls_print(&p, boxes);
    if onboard {
        println!("\n\nHi Fake! Looks like it's your first time using Brev!");
        println!("Let's get you set up. Press Enter to continue...");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    }
    res
}

fn ls_print(p: &Parsed, boxes: Vec<Value>) -> R<()> {
    let rows: Vec<Value> = boxes
        .iter()
        .map(|b| {
            let status = b["status"].as_str().unwrap_or("");
            let build = b["build_status"].as_str().unwrap_or("");
            let ready = status == "RUNNING" && build == "COMPLETED";
            json!({
                "name": b["name"], "id": b["id"], "status": status, "build_status": build,
                "shell_status": if ready { "READY" } else { "NOT READY" },
                "health_status": if status == "RUNNING" { "HEALTHY" } else { "" },
                "instance_type": b["instance_type"], "instance_kind": "gpu", "gpu": b["gpu"],
            })
        })
        .collect();
    if p.on("json") {
        let list = if rows.is_empty() {
            Value::Null
        } else {
            Value::Array(rows)
        };
        let shape = std::env::var("FAKE_BREV_LS_SHAPE").unwrap_or_default();
        let v = if shape == "array" {
            list
        } else {
            json!({ "workspaces": list })
        };
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
        return Ok(());
    }
    if rows.is_empty() {
        println!("No instances in org fake-org");
        return Ok(());
    }
    println!("You have {} instances in Org fake-org", rows.len());
    println!("  NAME  STATUS  BUILD  SHELL  ID  MACHINE  GPU");
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        println!(
            "  {}  {}  {}  {}  {}  {}  {}",
            s("name"),
            s("status"),
            s("build_status"),
            s("shell_status"),
            s("id"),
            s("instance_type"),
            s("gpu")
        );
    }
    Ok(())
}

fn start(w: &World, args: &[String]) -> R<()> {
    let p = parse(
        args,
        &[
            ("detached", Some('d'), B),
            ("name", Some('n'), V),
            ("org", Some('o'), V),
            ("gpu", Some('g'), V),
            ("setup-script", Some('s'), V),
            ("setup-repo", Some('r'), V),
            ("setup-path", Some('p'), V),
            ("empty", Some('e'), B),
        ],
    )?;
    w.require_login()?;
    let mut names = p.pos.clone();
    let piped_names = names.is_empty();
    if piped_names {
        names = stdin_lines();
    }
    let detached = p.on("detached") || piped_names;
    for n in &names {
        let r = w.with_state(|_, st| {
            let Some(i) = st.find(n) else {
                return Ok(None);
            };
            let b = &mut st.boxes[i];
            let s = b["status"].as_str().unwrap_or("").to_string();
            if s != "STOPPED" {
                return fail(format!("Instance is not stopped status={s}"));
            }
            set_status(b, "STARTING");
            Ok(Some(()))
        })?;
        if r.is_none() {
            // brev treats an unknown name as a local path to create from.
            eprintln!("tried to start with local path but path not found");
            println!("{n}");
            continue;
        }
        eprintln!("Instance {n} is starting.");
        eprintln!("Note: this can take about a minute. Run 'brev ls' to check status");
        if !detached {
            // No timeout and no FAILURE check, as brev.
            loop {
                let s = w.with_state(|_, st| {
                    Ok(st
                        .find(n)
                        .map(|i| st.boxes[i]["status"].as_str().unwrap_or("").to_string()))
                })?;
                if s.as_deref() == Some("RUNNING") {
                    break;
                }
                std::thread::sleep(poll(w));
            }
        }
        println!("{n}");
    }
    Ok(())
}

fn stop_or_delete(w: &World, args: &[String], delete: bool) -> R<()> {
    let spec: &[(&str, Option<char>, Kind)] = if delete {
        &[]
    } else {
        &[("all", Some('a'), B)]
    };
    let p = parse(args, spec)?;
    w.require_login()?;
    let mut names = p.pos.clone();
    if names.is_empty() && !p.on("all") {
        names = stdin_lines();
    }
    let verb = if delete { "delete" } else { "stop" };
    let mut errors = Vec::new();
    let mut done = Vec::new();
    w.with_state(|w, st| {
        if p.on("all") {
            names = st
                .boxes
                .iter()
                .filter(|b| b["status"] == "RUNNING" && b["stoppable"] == true)
                .filter_map(|b| b["name"].as_str().map(str::to_string))
                .collect();
        }
        for n in &names {
            let Some(i) = st.find(n) else {
                errors.push(format!("instance with id/name {n} not found"));
                continue;
            };
            if w.fails(verb) {
                errors.push(format!(
                    "failed to {verb} instance {n}: 500 Internal Server Error: the provider did not answer"
                ));
                continue;
            }
            let b = &mut st.boxes[i];
            if !delete && b["stoppable"] != true {
                errors.push(format!("instance \"{n}\" does not support stop."));
                continue;
            }
            if delete {
                stop_box(b);
                set_status(b, "DELETING");
            } else if b["status"] != "STOPPED" {
                stop_box(b);
                set_status(b, "STOPPING");
            }
            done.push(n.clone());
        }
        Ok(())
    })?;
    for n in &done {
        if delete {
            eprintln!(
                "Deleting instance {n}. This can take a few minutes. Run 'brev ls' to check status"
            );
        } else {
            eprintln!("Stopping instance {n}.");
        }
    }
    match errors.len() {
        0 => {
            for n in &done {
                println!("{n}");
            }
            Ok(())
        }
        1 => fail(errors.remove(0)),
        k => fail(format!(
            "{k} errors occurred:\n{}",
            errors
                .iter()
                .map(|e| format!("\t* {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}
