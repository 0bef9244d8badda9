//! The `rp-box` command line: one Brev box verb per call, each checked against
//! `brev ls --json` afterwards, one `box` record on stdout.
use clap::{CommandFactory, Parser, Subcommand};
use runplz_core::brevbox::{self, Brev, CreateMode};
use runplz_core::ssh::{Ssh, SshOptions, Target};
use runplz_core::{job, out, CliError};
use runplz_protocol::{BoxInfo, BoxRecord, Exit};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = r#"OUTPUT
  One JSON record on stdout:
    {"type": "box", "version": 1, "verb": "create", "name": "runplz-train-3f2a9c1d",
     "box": {"name": "...", "id": "ejmrvoj8m", "status": "DEPLOYING", "shell_status": "NOT READY",
             "instance_type": "g5.xlarge"} (null once gone),
     "boxes": [] (ls: the boxes), "verified": "`brev ls` shows ... STOPPING",
     "ssh_config": "/path" (wait --ssh-config)}

BREV'S QUIRKS, HANDLED
  brev runs with stdin at /dev/null (a pipe makes it read names from stdin, and a login
  prompt then fails at once instead of waiting). Its exit codes are not trusted: every verb
  is checked with `brev ls --json` (null, a list, or {"workspaces": [...]}, by version).
  create never runs twice for one name: after a failed call (brev may fail with
  `unexpected EOF` after making the box) it looks first, and takes a box it finds. start is
  always `-d`. Transient failures (connection reset, EOF, 5xx, deadline exceeded) are tried
  again with backoff; final ones (quota, unauthorized, a provider not enabled) stop at once
  and say that nothing was created and nothing is billed.

EXIT CODES USED
  0    done, and `brev ls` agrees
  1    brev failed, or `brev ls` disagrees (the message says what it shows)
  2    bad usage (a bad name, no type); nothing was called
  124  wait: the box was not up, or did not answer ssh, in --timeout seconds
  125  brev (or ssh) is not installed
  128+n  interrupted by signal n

EXAMPLES
  rp-pick --job job.json | rp-box create --job job.json
  rp-box create runplz-train-3f2a9c1d --type g5.xlarge,g6.xlarge --mode vm
  rp-box wait runplz-train-3f2a9c1d --timeout 1800 --ssh-config /tmp/box.ssh
  rp-box delete runplz-train-3f2a9c1d
  rp-box ls --table"#;

/// Brev box lifecycle, one verb per call: create, start, wait, stop, delete, status, ls.
///
/// Drives the real `brev` CLI and checks each verb with `brev ls --json`.
#[derive(Debug, Parser)]
#[command(name = "rp-box", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub verb: Verb,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Create a box (detached). Types from --type, else rp-pick's record on stdin.
    Create {
        /// The box's name; default `runplz-<job>-<8 hex>` (needs --job).
        name: Option<String>,
        /// Instance types to try in order, comma-separated (brev's fallback chain).
        #[arg(long = "type", value_name = "T[,T...]")]
        types: Option<String>,
        /// The job whose name, image and `brev.mode` are used.
        #[arg(long, value_name = "JOB")]
        job: Option<PathBuf>,
        /// `container` (the box is --container-image) or `vm`; default from --job, else vm.
        #[arg(long, value_parser = ["container", "vm"])]
        mode: Option<String>,
        /// The image of a container-mode box; default the job's `image.from_registry`.
        #[arg(long, value_name = "IMAGE")]
        container_image: Option<String>,
    },
    /// Start a stopped box (a running one is left as it is).
    Start {
        /// The box.
        name: String,
    },
    /// Wait until the box is RUNNING with its shell READY, then until ssh answers.
    Wait {
        /// The box.
        name: String,
        /// Give up after this many seconds (exit 124).
        #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
        timeout: u64,
        /// Write the ssh config that reaches the box (Host NAME, over brev's own) here.
        #[arg(long, value_name = "FILE")]
        ssh_config: Option<PathBuf>,
        /// Your own ssh config, included after brev's (default ~/.ssh/config).
        #[arg(long, value_name = "FILE", env = "RUNPLZ_SSH_CONFIG")]
        user_ssh_config: Option<PathBuf>,
    },
    /// Stop the box.
    Stop {
        /// The box.
        name: String,
    },
    /// Delete the box (a box that is not there is deleted).
    Delete {
        /// The box.
        name: String,
    },
    /// The box as `brev ls` shows it (null when there is none; exit 0 either way).
    Status {
        /// The box.
        name: String,
    },
    /// runplz's boxes (`runplz-*`), or every box with --all.
    Ls {
        /// Every box, not only runplz's.
        #[arg(long)]
        all: bool,
        /// A table for people instead of the JSON record.
        #[arg(long)]
        table: bool,
    },
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The exit codes rp-box can return.
pub const EXIT_CODES: &[Exit] = &[
    Exit::Ok,
    Exit::Failed,
    Exit::Usage,
    Exit::TimedOut,
    Exit::ToolFailed,
    Exit::Signal(0),
];

fn record(verb: &str, name: Option<&str>) -> BoxRecord {
    BoxRecord {
        verb: verb.into(),
        name: name.map(str::to_string),
        instance: None,
        boxes: Vec::new(),
        verified: None,
        ssh_config: None,
    }
}

/// Types from rp-pick's record (`types`, else `type`) on stdin.
fn types_from_stdin() -> anyhow::Result<Vec<String>> {
    use std::io::Read;
    if std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "create: no --type, and stdin is a terminal: pass --type T[,T...] or pipe rp-pick's record in",
        ));
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::usage(format!("create: stdin is not rp-pick's JSON record: {e}")))?;
    let list: Vec<String> = match v.get("types").and_then(|t| t.as_array()) {
        Some(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        None => v
            .get("type")
            .and_then(|t| t.as_str())
            .map(|t| vec![t.to_string()])
            .unwrap_or_default(),
    };
    if list.is_empty() {
        return Err(CliError::usage(
            "create: stdin's record has neither \"types\" nor \"type\" (expected rp-pick's record)",
        ));
    }
    Ok(list)
}

/// Run one verb and print its record.
pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    runplz_core::process::install_signal_handlers();
    let rec = match cli.verb {
        Verb::Create {
            name,
            types,
            job,
            mode,
            container_image,
        } => {
            let job = job.as_deref().map(job::load).transpose()?;
            let name = match (name, &job) {
                (Some(n), _) => n,
                (None, Some(j)) => brevbox::ephemeral_name(j.name()),
                (None, None) => {
                    return Err(CliError::usage(
                        "create: give the box a NAME, or --job to name it runplz-<job>-<8 hex>",
                    ))
                }
            };
            brevbox::check_name(&name)?;
            let job_mode = job.as_ref().map(|j| {
                j.settings(runplz_core::job::Backend::Brev).mode == runplz_core::job::Mode::InPlace
            });
            let container = match mode.as_deref() {
                Some(m) => m == "container",
                None => job_mode.unwrap_or(false),
            };
            let mode = if container {
                let image = container_image
                    .or_else(|| match job.as_ref().map(|j| &j.base) {
                        Some(job::Base::Registry(i)) => Some(i.clone()),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        CliError::usage("create: container mode needs --container-image (or --job with image.from_registry)")
                    })?;
                CreateMode::Container(image)
            } else {
                CreateMode::Vm
            };
            let types: Vec<String> = match types {
                Some(t) => t
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                None => types_from_stdin()?,
            };
            if types.is_empty() {
                return Err(CliError::usage("create: --type is empty"));
            }
            let cli = Brev::find()?;
            let b = cli.create(&name, &types, &mode)?;
            let mut r = record("create", Some(&name));
            r.verified = Some(format!("`brev ls` shows {name} {}", b.status));
            r.instance = Some(b);
            r
        }
        Verb::Start { name } => {
            brevbox::check_name(&name)?;
            let b = Brev::find()?.start(&name, Duration::from_secs(600))?;
            let mut r = record("start", Some(&name));
            r.verified = Some(format!("`brev ls` shows {name} {}", b.status));
            r.instance = Some(b);
            r
        }
        Verb::Wait {
            name,
            timeout,
            ssh_config,
            user_ssh_config,
        } => {
            brevbox::check_name(&name)?;
            let cli = Brev::find()?;
            let dir = tempfile::tempdir()?;
            let cfg = ssh_config.unwrap_or_else(|| dir.path().join("ssh_config"));
            brevbox::write_ssh_config(&cfg, &name, user_ssh_config.as_deref())?;
            let ssh = Ssh::new(
                Target {
                    user: None,
                    host: name.clone(),
                    port: None,
                },
                SshOptions {
                    config: Some(cfg.clone()),
                    connect_timeout: Some(10),
                    ..SshOptions::default()
                },
            )?;
            let b = cli
                .wait(&name, Duration::from_secs(timeout), || {
                    ssh.command("true")
                        .timeout(Some(Duration::from_secs(30)))
                        .run()
                        .is_ok_and(|f| f.status.success())
                })
                .map_err(|e| {
                    let msg = format!("{e:#}");
                    if msg.contains("within") {
                        CliError::new(Exit::TimedOut, msg)
                    } else {
                        e
                    }
                })?;
            let mut r = record("wait", Some(&name));
            r.verified = Some(format!(
                "`brev ls` shows {name} RUNNING and READY; ssh answers"
            ));
            r.instance = Some(b);
            r.ssh_config = Some(cfg.display().to_string());
            r
        }
        Verb::Stop { name } => end("stop", &name)?,
        Verb::Delete { name } => end("delete", &name)?,
        Verb::Status { name } => {
            brevbox::check_name(&name)?;
            let mut r = record("status", Some(&name));
            r.instance = Brev::find()?.get(&name)?;
            r
        }
        Verb::Ls { all, table } => {
            let boxes: Vec<BoxInfo> = Brev::find()?
                .ls()?
                .into_iter()
                .filter(|b| all || brevbox::is_ours(&b.name))
                .collect();
            if table {
                let mut rows = vec![["NAME", "STATUS", "SHELL", "TYPE", "ID"]
                    .map(String::from)
                    .to_vec()];
                for b in &boxes {
                    rows.push(vec![
                        b.name.clone(),
                        b.status.clone(),
                        b.shell_status.clone(),
                        b.instance_type.clone(),
                        b.id.clone(),
                    ]);
                }
                out::print_raw(&out::table(&rows))?;
                return Ok(Exit::Ok);
            }
            let mut r = record("ls", None);
            r.boxes = boxes;
            r
        }
    };
    out::print_record("box", &rec)?;
    Ok(Exit::Ok)
}

fn end(verb: &str, name: &str) -> anyhow::Result<BoxRecord> {
    brevbox::check_name(name)?;
    let cli = Brev::find()?.for_cleanup();
    let verified = if verb == "stop" {
        cli.stop(name)?
    } else {
        cli.delete(name)?
    };
    let mut r = record(verb, Some(name));
    r.verified = Some(verified);
    r.instance = cli.get(name)?;
    Ok(r)
}
