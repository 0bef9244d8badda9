//! `rpt-brev`: a fake `brev` CLI (≥ v0.6.327) for the tests, installed on PATH as `brev`. It
//! follows /work/shared/facts/brev-cli.md: the same flags (an unknown one fails with
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

use serde_json::{json, Value};
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

    /// The box's sshd: a fresh user on first start, a free port each start, brev.pem's
    /// public key authorized. Runs in its own session, outliving this call.
    fn start_sshd(&self, b: &mut Value) -> R<()> {
        let name = b["name"].as_str().unwrap_or("").to_string();
        let bdir = self.dir.join("boxes").join(&name);
        std::fs::create_dir_all(&bdir).map_err(|e| Fail(e.to_string()))?;
        let user = b["user"].as_str().unwrap_or("").to_string();
        if b["user_made"] != true {
            create_user(&user)?;
            b["user_made"] = json!(true);
        }
        let key = self.key()?;
        if !bdir.join("host").exists() {
            keygen(&bdir.join("host"))?;
        }
        let q = |p: &Path| p.display().to_string();
        for _ in 0..20 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| Fail(e.to_string()))?
                .port();
            std::fs::write(
                bdir.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\n\
                     AuthorizedKeysFile {ak}\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\n\
                     StrictModes no\nLogLevel VERBOSE\nMaxStartups 100:30:200\nMaxSessions 50\n\
                     AllowUsers {user}\nSubsystem sftp internal-sftp\n",
                    hk = q(&bdir.join("host")),
                    pid = q(&bdir.join("sshd.pid")),
                    ak = q(&key.with_extension("pem.pub")),
                ),
            )
            .map_err(|e| Fail(e.to_string()))?;
            let _ = std::fs::create_dir_all("/run/sshd");
            let mut cmd = Command::new("/usr/sbin/sshd");
            cmd.args(["-D", "-e", "-f"])
                .arg(bdir.join("sshd_config"))
                .arg("-E")
                .arg(bdir.join("sshd.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: setsid is async-signal-safe; it detaches sshd from our caller's group.
            unsafe {
                cmd.pre_exec(|| {
                    nix::unistd::setsid().ok();
                    Ok(())
                })
            };
            let mut child = cmd.spawn().map_err(|e| Fail(format!("sshd: {e}")))?;
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    b["port"] = json!(port);
                    b["sshd_pid"] = json!(child.id());
                    return Ok(());
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    return fail(format!("sshd did not listen on {port}"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        fail("could not start sshd")
    }

    /// The account's key pair (brev.pem), made once.
    fn key(&self) -> R<PathBuf> {
        let k = self.dir.join("brev.pem");
        if !k.exists() {
            keygen(&k)?;
        }
        Ok(k)
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

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .expect("sh")
}

fn keygen(path: &Path) -> R<()> {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "fake-brev", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| Fail(format!("ssh-keygen: {e}")))?;
    if !st.success() {
        return fail("ssh-keygen failed");
    }
    Ok(())
}

fn create_user(user: &str) -> R<()> {
    if !user.starts_with("rpt") {
        return fail(format!("fake brev: refusing to create user {user:?} (FAKE_BREV_USER_PREFIX must start with rpt)"));
    }
    for _ in 0..50 {
        if sh(&format!(
            "useradd -m -s /bin/bash {user} && usermod -p '*' {user}"
        ))
        .status
        .success()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    fail(format!("could not create user {user}"))
}

/// Stop the box's sshd and everything its user runs (a stopped box runs nothing).
fn stop_box(b: &Value) {
    if let Some(pid) = b["sshd_pid"].as_u64() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    if let Some(u) = b["user"].as_str().filter(|u| u.starts_with("rpt")) {
        if b["user_made"] == true {
            let _ = sh(&format!(
                "pkill -KILL -u {u}; sleep 0.05; pkill -KILL -u {u}"
            ));
        }
    }
}

/// Stop the box and remove its user with its home (a deleted box keeps nothing).
fn remove_user(b: &Value) {
    stop_box(b);
    if let Some(u) = b["user"].as_str().filter(|u| u.starts_with("rpt")) {
        if b["user_made"] == true {
            for _ in 0..50 {
                if sh(&format!("userdel -r -f {u} 2>/dev/null"))
                    .status
                    .success()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

// ---- flags -------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Value,
}

/// Parsed flags: long name → value ("true" for a bool), and the positional arguments.
struct Parsed {
    flags: Vec<(String, String)>,
    pos: Vec<String>,
}

impl Parsed {
    fn get(&self, long: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == long)
            .map(|(_, v)| v.as_str())
    }
    fn on(&self, long: &str) -> bool {
        self.get(long).is_some_and(|v| v == "true")
    }
    fn num(&self, long: &str) -> R<Option<f64>> {
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
fn parse(args: &[String], spec: &[(&str, Option<char>, Kind)]) -> R<Parsed> {
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

use Kind::{Bool as B, Value as V};

const SEARCH_FLAGS: &[(&str, Option<char>, Kind)] = &[
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

const CREATE_FLAGS: &[(&str, Option<char>, Kind)] = &[
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
        "search" => search(&w, rest),
        "create" | "provision" => create(&w, rest),
        "ls" | "list" => ls(&w, rest),
        "start" => start(&w, rest),
        "stop" => stop_or_delete(&w, rest, false),
        "delete" => stop_or_delete(&w, rest, true),
        "refresh" => refresh(&w, rest),
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

fn gb(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

fn search(w: &World, args: &[String]) -> R<()> {
    let (cpu, args) = match args.first().map(String::as_str) {
        Some("cpu") => (true, &args[1..]),
        Some("gpu") => (false, &args[1..]),
        _ => (false, args),
    };
    let p = parse(args, SEARCH_FLAGS)?;
    if let Some(extra) = p.pos.first() {
        return fail(format!("unknown command \"{extra}\" for \"brev search\""));
    }
    let sorts = [
        "arch",
        "boot-time",
        "capability",
        "disk",
        "gpu-count",
        "price",
        "provider",
        "ram",
        "total-vram",
        "type",
        "vcpu",
        "vram",
    ];
    let sort = p.get("sort").unwrap_or("price");
    if !sorts.contains(&sort) {
        return fail(format!(
            "invalid sort option \"{sort}\". Valid options: {}",
            sorts.join(", ")
        ));
    }
    let sub = |hay: &Value, needle: Option<&str>| {
        needle.is_none_or(|n| {
            hay.as_str()
                .unwrap_or("")
                .to_lowercase()
                .contains(&n.to_lowercase())
        })
    };
    let mut rows: Vec<Value> = Vec::new();
    for o in w.catalog() {
        let gpu = o["gpu_count"].as_u64().unwrap_or(0) > 0;
        if cpu == gpu {
            continue;
        }
        let min =
            |k: &str, flag: &str| -> R<bool> { Ok(p.num(flag)?.is_none_or(|m| gb(&o, k) >= m)) };
        let keep = sub(&o["gpu_name"], p.get("gpu-name"))
            && sub(&o["provider"], p.get("provider"))
            && sub(&o["arch"], p.get("arch"))
            && min("vram_per_gpu_gb", "min-vram")?
            && min("total_vram_gb", "min-total-vram")?
            && min("capability", "min-capability")?
            && min("vcpus", "min-vcpu")?
            && min("ram_gb", "min-ram")?
            && min("disk_max_gb", "min-disk")?
            && p.num("max-boot-time")?.is_none_or(|m| {
                let b = gb(&o, "boot_time_seconds");
                b > 0.0 && b <= m * 60.0
            })
            && (!p.on("stoppable") || o["stoppable"] == true)
            && (!p.on("rebootable") || o["rebootable"] == true)
            && (!p.on("flex-ports") || o["flex_ports"] == true);
        if keep {
            rows.push(o);
        }
    }
    let key = |o: &Value| -> f64 {
        match sort {
            "price" => gb(o, "price_per_hour"),
            "gpu-count" => gb(o, "gpu_count"),
            "vram" => gb(o, "vram_per_gpu_gb"),
            "total-vram" => gb(o, "total_vram_gb"),
            "vcpu" => gb(o, "vcpus"),
            "capability" => gb(o, "capability"),
            "disk" => gb(o, "disk_max_gb"),
            "boot-time" => gb(o, "boot_time_seconds"),
            "ram" => gb(o, "ram_gb"),
            _ => 0.0,
        }
    };
    rows.sort_by(|a, b| {
        let text = |o: &Value| match sort {
            "type" => o["type"].as_str().unwrap_or("").to_string(),
            "provider" => o["provider"].as_str().unwrap_or("").to_string(),
            "arch" => o["arch"].as_str().unwrap_or("").to_string(),
            _ => String::new(),
        };
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| text(a).cmp(&text(b)))
    });
    if p.on("desc") {
        rows.reverse();
    }
    if p.on("json") {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap());
        return Ok(());
    }
    if rows.is_empty() {
        return Ok(()); // piped: nothing at all
    }
    let mut out = vec![
        "TYPE TARGET_DISK PROVIDER GPU COUNT VRAM/GPU TOTAL_VRAM CAPABILITY DISK $/GB/MO BOOT FEATURES VCPUs $/HR"
            .split(' ')
            .map(str::to_string)
            .collect::<Vec<_>>(),
    ];
    for o in &rows {
        let s = |k: &str| o[k].as_str().unwrap_or("").to_string();
        let n = |k: &str| format!("{}", gb(o, k));
        let feats: String = [("stoppable", 'S'), ("rebootable", 'R'), ("flex_ports", 'P')]
            .iter()
            .filter(|(k, _)| o[*k] == true)
            .map(|(_, c)| *c)
            .collect();
        let boot = gb(o, "boot_time_seconds") as u64;
        out.push(vec![
            s("type"),
            n("target_disk_gb"),
            if s("cloud") == s("provider") {
                s("provider")
            } else {
                format!("{}:{}", s("cloud"), s("provider"))
            },
            s("gpu_name"),
            n("gpu_count"),
            n("vram_per_gpu_gb"),
            n("total_vram_gb"),
            n("capability"),
            format!("{}GB", n("disk_max_gb")),
            o.get("disk_price_per_gb_mo")
                .map(|v| format!("${:.2}", v.as_f64().unwrap_or(0.0)))
                .unwrap_or("-".into()),
            if boot == 0 {
                "-".into()
            } else {
                format!("{}m", boot / 60)
            },
            if feats.is_empty() { "-".into() } else { feats },
            n("vcpus"),
            format!("${:.2}", gb(o, "price_per_hour")),
        ]);
    }
    let widths: Vec<usize> = (0..out[0].len())
        .map(|i| out.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    for r in out {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("  {}", line.join("  ").trim_end());
    }
    Ok(())
}

fn validate_name(n: &str) -> R<()> {
    if n.is_empty() {
        return fail("name is required");
    }
    if n.len() > 63 {
        return fail(format!(
            "name must be 63 characters or fewer (got {})",
            n.len()
        ));
    }
    let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return fail("name must start with a letter or digit and contain only letters, digits, hyphens, underscores, and dots");
    }
    Ok(())
}

fn create(w: &World, args: &[String]) -> R<()> {
    let p = parse(args, CREATE_FLAGS)?;
    let name = p
        .get("name")
        .map(str::to_string)
        .or_else(|| p.pos.first().cloned())
        .unwrap_or_default();
    validate_name(&name)?;
    let mode = p.get("mode").unwrap_or("vm");
    if !["vm", "k8s", "container", "compose"].contains(&mode) {
        return fail(format!(
            "invalid mode \"{mode}\": must be one of vm, k8s, container, compose"
        ));
    }
    if mode == "container" && p.get("container-image").is_none() {
        return fail("--container-image is required when --mode is container");
    }
    let count: usize = p.get("count").unwrap_or("1").parse().unwrap_or(1);
    let timeout: u64 = p.get("timeout").unwrap_or("300").parse().unwrap_or(300);
    let catalog = w.catalog();
    // The types: --type, else stdin (search's JSON or table), else a default search.
    let mut types: Vec<(String, f64)> = Vec::new();
    if let Some(t) = p.get("type") {
        types = t
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| (s.to_string(), 0.0))
            .collect();
    } else {
        let lines = stdin_lines();
        let text = lines.join("\n");
        if let Ok(Value::Array(a)) = serde_json::from_str::<Value>(&text) {
            types = a
                .iter()
                .map(|o| {
                    (
                        o["type"].as_str().unwrap_or("").to_string(),
                        gb(o, "target_disk_gb"),
                    )
                })
                .collect();
        } else {
            for l in &lines {
                if (l.contains("TYPE") || l.contains("GPU")) && types.is_empty() {
                    continue;
                }
                if l.starts_with("Found ") {
                    continue;
                }
                let mut it = l.split_whitespace();
                if let Some(t) = it.next() {
                    let d = it.next().and_then(|d| d.parse().ok()).unwrap_or(0.0);
                    types.push((t.to_string(), d));
                }
            }
        }
        if types.is_empty() {
            types = catalog
                .iter()
                .filter(|o| {
                    gb(o, "total_vram_gb") >= 20.0
                        && gb(o, "disk_max_gb") >= 500.0
                        && gb(o, "capability") >= 8.0
                        && gb(o, "boot_time_seconds") > 0.0
                        && gb(o, "boot_time_seconds") <= 420.0
                })
                .map(|o| (o["type"].as_str().unwrap_or("").to_string(), 500.0))
                .collect();
        }
    }
    if types.is_empty() {
        return fail("no instance types to try: none match the search filters");
    }
    w.require_login()?;
    let disk_of = |t: &str, d: f64| {
        if d > 0.0 {
            d
        } else {
            catalog
                .iter()
                .find(|o| o["type"] == t)
                .map(|o| gb(o, "disk_min_gb"))
                .unwrap_or(500.0)
        }
    };
    eprintln!("Attempting to create {count} instance(s) with 1 parallel attempts");
    eprintln!(
        "Instance types to try: {}",
        types
            .iter()
            .map(|(t, d)| format!("{t} ({}GB disk)", disk_of(t, *d)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let names: Vec<String> = if count <= 1 {
        vec![name.clone()]
    } else {
        (1..=count).map(|i| format!("{name}-{i}")).collect()
    };
    if p.on("dry-run") {
        for (t, _) in &types {
            println!("{t}");
        }
        return Ok(());
    }
    let mut made: Vec<String> = Vec::new();
    'names: for n in &names {
        for (t, _) in &types {
            eprintln!("Trying {t} for 1 instance(s)...");
            if !catalog.iter().any(|o| o["type"] == t.as_str()) {
                eprintln!("Skipping: instance type \"{t}\" is not a recognized type; run 'brev search' to see available types");
                continue;
            }
            eprintln!("[Worker 1] Trying {t} for instance '{n}'...");
            let outcome = w.with_state(|w, st| {
                if st.find(n).is_some() {
                    return Ok(Err("duplicate workspace".to_string()));
                }
                if w.fails("flaky") && !st.flaky_used {
                    st.flaky_used = true;
                    return Ok(Err(format!("Post \"{API}/api/organizations/org-fake/workspaces\": read tcp 10.0.0.2:51234->52.1.2.3:443: read: connection reset by peer")));
                }
                if w.fails("quota") {
                    return Ok(Err("403 Forbidden: quota exceeded: your organization has reached its GPU quota".to_string()));
                }
                if w.fails("create") {
                    return Ok(Err(format!("500 Internal Server Error: failed to create workspace on {t}")));
                }
                st.next += 1;
                let prefix = std::env::var("FAKE_BREV_USER_PREFIX").unwrap_or_else(|_| "rptfake".into());
                let id: String = format!("{:09x}", (now_ms() ^ (st.next << 40)) & 0xf_ffff_ffff)
                    .chars()
                    .map(|c| if c.is_ascii_digit() { (b'a' + (c as u8 - b'0')) as char } else { c })
                    .collect();
                let stoppable = catalog
                    .iter()
                    .find(|o| o["type"] == t.as_str())
                    .is_some_and(|o| o["stoppable"] == true);
                let gpu = catalog
                    .iter()
                    .find(|o| o["type"] == t.as_str())
                    .and_then(|o| o["gpu_name"].as_str())
                    .unwrap_or("-")
                    .to_string();
                st.boxes.push(json!({
                    "name": n, "id": id, "status": "DEPLOYING", "since_ms": now_ms(),
                    "build_status": "PENDING", "instance_type": t, "gpu": gpu,
                    "stoppable": stoppable, "mode": mode,
                    "container_image": p.get("container-image"),
                    "user": format!("{prefix}0{}", st.next), "user_made": false,
                    "stuck": w.fails("stuck"), "failure": w.fails("failure"),
                }));
                if w.fails("create-eof") {
                    return Ok(Err(format!("Post \"{API}/api/organizations/org-fake/workspaces\": unexpected EOF")));
                }
                Ok(Ok(()))
            })?;
            slow("create");
            match outcome {
                Ok(()) => {
                    eprintln!("[Worker 1] {t} Success! Created instance '{n}'");
                    made.push(n.clone());
                    continue 'names;
                }
                Err(e) if e.contains("duplicate workspace") => {
                    eprintln!("[Worker 1] {t} Failed: {e}");
                    return fail(format!("Error: workspace '{n}' already exists. Use a different name or delete the existing workspace"));
                }
                Err(e) => eprintln!("[Worker 1] {t} Failed: {e}"),
            }
        }
    }
    if made.len() < names.len() {
        eprintln!(
            "Warning: Only created {}/{} instances",
            made.len(),
            names.len()
        );
        return fail(format!(
            "could only create {}/{} instances",
            made.len(),
            names.len()
        ));
    }
    if !p.on("detached") {
        eprintln!("Waiting for instance(s) to be ready...");
        let deadline = Instant::now() + Duration::from_secs(timeout);
        for n in &made {
            loop {
                let s = w.with_state(|_, st| {
                    Ok(st
                        .find(n)
                        .map(|i| st.boxes[i]["status"].as_str().unwrap_or("").to_string()))
                })?;
                match s.as_deref() {
                    Some("RUNNING") => {
                        eprintln!("{n}: Ready");
                        break;
                    }
                    Some("FAILURE") => {
                        eprintln!("instance {n} failed: fake brev: the instance failed to deploy");
                        break;
                    }
                    _ if Instant::now() > deadline => {
                        eprintln!("{n}: Timeout waiting for ready state");
                        break;
                    }
                    _ => std::thread::sleep(poll(w)),
                }
            }
        }
    }
    for n in &made {
        println!("{n}");
    }
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

fn refresh(w: &World, args: &[String]) -> R<()> {
    parse(args, &[])?;
    w.require_login()?;
    println!("refreshing brev...");
    let key = w.key()?;
    let brev = w.home.join(".brev");
    std::fs::create_dir_all(&brev).map_err(|e| Fail(e.to_string()))?;
    let pem = brev.join("brev.pem");
    std::fs::copy(&key, &pem).map_err(|e| Fail(e.to_string()))?;
    let _ = std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o600));
    let home = w.home.display();
    let boxes = w.with_state(|_, st| Ok(st.boxes.clone()))?;
    let mut cfg = format!("# included in {home}/.ssh/config\n");
    for b in boxes.iter().filter(|b| b["status"] == "RUNNING") {
        let name = b["name"].as_str().unwrap_or("");
        let user = b["user"].as_str().unwrap_or("ubuntu");
        let port = b["port"].as_u64().unwrap_or(22);
        for alias in [name.to_string(), format!("{name}-host")] {
            cfg.push_str(&format!(
                "Host {alias}\n  Hostname 127.0.0.1\n  IdentityFile \"{home}/.brev/brev.pem\"\n  User {user}\n  \
                 ServerAliveInterval 30\n  UserKnownHostsFile /dev/null\n  IdentitiesOnly yes\n  \
                 StrictHostKeyChecking no\n  PasswordAuthentication no\n  AddKeysToAgent yes\n  \
                 ForwardAgent yes\n  RequestTTY yes\n  ControlMaster auto\n  \
                 ControlPath ~/.ssh/brev-control-%C\n  ControlPersist 10m\n  Port {port}\n\n"
            ));
        }
    }
    std::fs::write(brev.join("ssh_config"), cfg).map_err(|e| Fail(e.to_string()))?;
    let ssh_dir = w.home.join(".ssh");
    let _ = std::fs::create_dir_all(&ssh_dir);
    let user_cfg = ssh_dir.join("config");
    let old = std::fs::read_to_string(&user_cfg).unwrap_or_default();
    let include = format!("Include \"{home}/.brev/ssh_config\"");
    if !old.contains(&include) {
        std::fs::write(&user_cfg, format!("{include}\n{old}")).map_err(|e| Fail(e.to_string()))?;
    }
    println!("brev has been refreshed");
    Ok(())
}
