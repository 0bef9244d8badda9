//! The `rp-sync` command line: flags (clap) turned into runplz-core options, and the record printed.
//! Everything is checked (job, folder, destination, host, patterns, programs) before the box
//! is contacted; the logic lives in `runplz_core::sync`.

use anyhow::Result;
use clap::{CommandFactory, Parser, ValueEnum};
use runplz_core::error::CliError;
use runplz_core::out;
use runplz_core::scan;
use runplz_core::ssh::{Ssh, SshOptions, Target};
use runplz_core::sync::{self, excludes, Staged, SyncRecord, Transfer};
use runplz_protocol::Exit;
use std::path::PathBuf;
use std::time::Instant;

const TOOL: &str = "rp-sync";

/// Which way files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Direction {
    /// Ship SRC to the box (outputs come back with rp-collect).
    Up,
    /// Only scan what would ship for secrets: the `scan` record on stdout, exit 4 when a
    /// finding is not allowed (unless the job's `sync.secret_scan` is `warn`); a pre-commit
    /// hook. The positional may be a job file.
    Scan,
    /// Pack what would ship into one deterministic `tar.gz` (the same tree gives the same
    /// bytes) and write it to --to (a file, `file:///path`, an `http(s)://` URL taken by
    /// PUT, or `-`, stdout, the default); the scan applies as for `up`. The positional may
    /// be a job file.
    Pack,
}

/// Ship a folder to an SSH box, minus secrets and caches, incrementally.
///
/// rp-sync decides the file list on this machine and hands exactly that list to rsync: in a
/// git work tree, the files git tracks plus untracked files that .gitignore (and
/// .git/info/exclude, and your global excludes file) do not ignore; elsewhere, every file
/// .gitignore files do not ignore. Version-control folders, caches and secret-shaped files
/// (listed below) never ship, at any depth; secrets not even when git tracks them or a
/// pattern tries to bring them back. Symlinks ship as symlinks. A nested repo git records by
/// commit (a gitlink, with or without .gitmodules) ships its working tree by its own rules,
/// even if the outer .gitignore ignores it; one with no checkout here is named in a warning.
///
/// Transfers are incremental (rsync's size and modification-time check, to the nanosecond
/// where both rsyncs are 3.1.3 or later, else a warning), over one shared ssh connection. A
/// file rp-sync shipped before and that has since been deleted here is deleted on the box, inside DIR only: the box keeps DIR/.rp-sync-manifest listing what rp-sync
/// shipped, and nothing else in DIR (files the job wrote, a venv made on the box) is ever
/// deleted, and a file that is still here but now ignored or excluded stays there. Empty
/// folders are not shipped.
///
/// What a sync leaves on the box is kept here, in $XDG_STATE_HOME/runplz/sync-last/: the
/// manifest, each file's size, mtime, mode and inode here, and the folder's token, which the
/// box prints after each transfer (an md5 of every entry's type, mode, owner, size, mtime
/// and inode, by GNU find). The next sync asks the box for its token (reading only) while it
/// stages and scans here. When the token and manifest are as left and nothing changed here,
/// nothing is sent at all; when only some files changed or were added, only they go. A
/// folder with no manifest (new or emptied) gets the whole tree. Where the box has GNU tar,
/// those files go as a tar in the same ssh call that asked (compressed with zstd where the
/// box has `zstd`), each replacing the old file (a run's hard-linked copy keeps its
/// content); else, and for everything else (a folder
/// touched on the box, a deletion, a large change), rsync does the whole sync, which mends
/// what was touched there. Without a token kept here, a sync whose manifest there is as
/// left and has nothing to delete is one rsync call (it checks the box first).
#[derive(Debug, Parser)]
#[command(name = "rp-sync", version, after_long_help = after_long_help())]
pub struct Cli {
    /// `up`: ship SRC to the box; `scan`: only scan what would ship for secrets; `pack`:
    /// write what would ship as a `tar.gz`.
    #[arg(value_enum, value_name = "DIRECTION")]
    pub direction: Direction,

    /// A job.json (`-` reads stdin) or the folder to ship. A job (default: ./job.json when
    /// there is one) names the folder (its `sync.root`, else the top of the git work tree
    /// holding the job file, else its folder) and the default --dest `runplz/<job name>`; its
    /// `sync.exclude` patterns and outputs folder are excluded, and its `ssh.user`,
    /// `ssh.port` and `ssh.ssh_key_path` are used for the connection. A folder is shipped
    /// as it is, with no job (unless one is given with --job); without either, the current
    /// folder.
    #[arg(value_name = "JOB|SRC")]
    pub src: Option<PathBuf>,

    /// The box: `[user@]host[:port]` or a Host alias from your ssh config. Not needed with
    /// --dry-run.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// The folder on the box, relative to the remote home unless absolute (created when
    /// missing); `~/x` is x in the home, as for every runplz tool (`~user` is refused).
    /// Default with --job: `runplz/<job name>`; required otherwise. The home itself, `/` and
    /// `..` are refused.
    #[arg(long, value_name = "DIR")]
    pub dest: Option<String>,

    /// The job, with the positional then the folder to ship (`--job job.json sub/`); the
    /// older spelling of a positional JOB, kept for scripts.
    #[arg(long, value_name = "JOB", hide = true)]
    pub job: Option<PathBuf>,

    /// A gitignore-style pattern never to ship, relative to SRC (repeatable). `!PATTERN`
    /// re-includes something a cache pattern or an earlier pattern excluded, but never a
    /// secret.
    #[arg(long = "exclude", value_name = "PAT")]
    pub exclude: Vec<String>,

    /// An ssh config file, passed to ssh and rsync as `-F` (default: $RUNPLZ_SSH_CONFIG, else
    /// ssh's own).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,

    /// After shipping, copy DIR to this folder on the box (hard links, so it costs no data;
    /// a full copy, with a warning, where they fail): a snapshot that later syncs into DIR
    /// leave as it is, e.g. `runplz-runs/<run id>` for one run's own code. The sync and the
    /// copy hold a lock on DIR on the box (`flock`; a warning where the box has none), so
    /// two rp-syncs into one DIR at once each copy exactly what they shipped. Relative to the
    /// remote home unless absolute; must not exist yet; best on DIR's file system.
    #[arg(long, value_name = "SNAP", conflicts_with = "dry_run")]
    pub snapshot: Option<String>,

    /// Allow a finding of the content scan that is not a secret: a gitignore-style path
    /// relative to SRC, optionally `:LINE` (repeatable; adds to the job's
    /// `sync.allow_secrets`).
    #[arg(long = "allow-secret", value_name = "PATH[:LINE]")]
    pub allow_secret: Vec<String>,

    /// `pack` only: where the archive goes: a file path, `file:///abs/path`, an
    /// `http://` or `https://` URL (PUT, `Content-Type: application/gzip`; a presigned URL
    /// works), or `-` for stdout (the default; then the record goes to stderr).
    #[arg(long, value_name = "URL")]
    pub to: Option<String>,

    /// List what would ship (count, bytes, the largest files, the files too large or binary
    /// to be content-scanned) without connecting.
    #[arg(long)]
    pub dry_run: bool,

    /// Print a table for people on stdout instead of the JSON record.
    #[arg(long)]
    pub table: bool,
}

fn after_long_help() -> String {
    let list = |v: &[&str]| v.join(" ");
    format!(
        "\
Never shipped, at any depth (gitignore syntax):
  version control:  {vcs}
  secrets (case-insensitive; no pattern brings them back):
    {secrets}
    except these .env templates, which are shipped:
    {templates}
    nor their copies and look-alikes: a name above plus a backup suffix
    ({backups}), or padded with whitespace or
    invisible characters (`id_rsa~`, `.aws.bak/`, `.env `, `.env` + U+200D)
  caches and local outputs (a `!PATTERN` may re-include one):
    {caches}

A secret held back that git tracks is named in a warning. Keep a secret the job needs out
of the tree: pass it with the job's `env` or put it on the box yourself.

OUTPUT: one JSON record on stdout (fields a dry run cannot know are null):
  {{\"type\": \"sync\", \"version\": 1, \"source\": \"/abs/src\", \"dest\": \"runplz/job\",
   \"host\": \"box\", \"dry_run\": false, \"files\": 42, \"bytes\": 123456,
   \"files_transferred\": 3, \"bytes_transferred\": 2048, \"deleted\": 1,
   \"duration_seconds\": 0.41, \"largest\": [{{\"path\": \"data/train.csv\", \"bytes\": 100000}}],
   \"excluded_secrets\": 2, \"secret_scan\": {{...as the scan record below...}},
   \"tree\": {{\"fingerprint\": \"sha256:...\", \"git_commit\": \"3f2a...\", \"git_dirty\": false}}}}

  files, bytes        what the list holds (all of it, changed or not)
  files_transferred   files whose data rsync sent (0 when nothing changed)
  bytes_transferred   bytes rsync sent over the connection
  deleted             files deleted on the box because they were deleted here
  largest             the 10 largest files shipped
  excluded_secrets    secret-shaped paths held back that git and .gitignore would have
                      let through (a secret folder counts once)
  secret_scan         the content scan of what ships (see below)
  tree                the tree that ships: its fingerprint (sha256 over each file's path,
                      mode and content sha256, sorted by path; null when the scan is off),
                      the git commit and whether the work tree is dirty (null outside git)

Progress and warnings go to stderr; on a terminal, a live line while rsync sends (elapsed
time, files and bytes so far), as plain lines otherwise.

Before anything ships, every file in the list is scanned for secrets inside it (private
keys, cloud keys, tokens of known shapes, a random value assigned to a *_TOKEN, *_SECRET,
*_KEY or *PASSWORD* name, in code, YAML, TOML, JSON and notebooks). A finding stops the
sync (exit 4), naming file:line:column, the rule and a masked preview, never the value.
Ways out: pass the value with the job's pass_env instead, delete it, or allow it with
--allow-secret PATH[:LINE] or the job's sync.allow_secrets; sync.secret_scan \"warn\" ships
with a warning, \"off\" skips the scan. Files over 16 MiB or with a NUL byte in their
first 8 KiB are not content-scanned (counted; --dry-run lists them). Results are cached
per file by path, size, mtime and inode in $XDG_STATE_HOME/runplz/scan-cache/.
`rp-sync scan [JOB|SRC]` runs the scan alone and prints a `scan` record:
  {{\"type\": \"scan\", \"version\": 1, \"mode\": \"refuse\", \"source\": \"/abs/src\",
   \"files\": 42, \"scanned\": 3, \"cached\": 39, \"binary\": 1, \"too_large\": 0,
   \"findings\": [{{\"path\": \"train.py\", \"line\": 3, \"column\": 1,
   \"rule\": \"huggingface-token\", \"preview\": \"hf_Ab…\", \"allowed\": false}}],
   \"fingerprint\": \"sha256:...\"}}
The sync record carries the same object as \"secret_scan\".

PACK: `rp-sync pack [JOB|SRC] [--to URL]` writes the same files `up` would ship, scanned
the same way (a finding refuses, exit 4, before anything is written or sent), as one
deterministic tar.gz: entries sorted by path, every mtime 0, uid and gid 0, no owner
names, modes 0644, 0755 (executable here) or 0777 (symlinks), GNU headers (a long name
takes a GNU long-name entry, never a pax header), a gzip header with no name or time. The
same tree gives the same bytes and sha256; mtimes and ownership here do not count. --to
takes a file path or file:///path (written through a temporary file beside it, so a
failed pack leaves nothing), an http:// or https:// URL (PUT with Content-Type
application/gzip and Content-Length; a presigned URL works; 2xx is success), or - for
stdout (the default; refused on a terminal). An archive written inside the tree, or the
file stdout is redirected to, is left out of itself. Each file is read once while it is
packed and checked against what was scanned (size, mtime and inode before and after, and
the tree's fingerprint); one edited in between fails the pack (exit 1, nothing written).
The record (on stdout; on stderr, as the last line, when the archive goes to stdout):
  {{\"type\": \"pack\", \"version\": 1, \"source\": \"/abs/src\",
   \"url\": \"https://host/bucket/repo.tar.gz\", \"files\": 42, \"bytes\": 23456,
   \"sha256\": \"9f86...\", \"fingerprint\": \"sha256:...\", \"http_status\": 200,
   \"excluded_secrets\": 2, \"duration_seconds\": 0.3,
   \"secret_scan\": {{...}}, \"tree\": {{...}}}}
  url           where it went: -, file:///abs/path, or the URL without its user,
                password, query and fragment (a presigned URL's signature stays unsaid)
  bytes, sha256 the archive's size and sha256 (hex, as sha256sum prints it)
  fingerprint   the tree's fingerprint, from the bytes packed (set even with the scan off)
  http_status   the PUT's status; null for a file or stdout

CAVEATS: the transfer sends each file as rsync reads it, not as the scan read it. Once
something was sent, rp-sync compares every file's size, mtime and inode with what it
scanned and scans the changed ones again: a warning names them, and one that now holds a
secret fails with exit 4 saying that it reached the box (remove the value, sync again,
which replaces the file there, and rotate it). A file edited while rsync reads it, or an
edit that keeps both the size and the mtime (to the nanosecond), is not caught. `pack` has
no such window: it reads each file once, while packing it, and checks it against the scan.
Binary files and files over 16 MiB are not content-scanned, and a secret of a shape no rule
knows ships.

EXIT STATUS: 0 shipped (or listed, or scanned clean); 1 the transfer failed (the
message names rsync's exit code and its last lines) or the box could not be reached; 2 bad
usage or input, nothing done; 4 a secret was found in a file that would ship (nothing
sent or packed); 1 also when a pack's upload failed or a file changed while packed;
125 rsync or ssh is not installed here; 128+n interrupted by signal n.

EXAMPLES:
  rp-sync up --dry-run                      what would ship from here
  rp-sync up --host me@gpu-box --dest work/proj .
  rp-sync up --host gpu-box job.json       ship the job's repo to ~/runplz/<name>
  rp-sync up --host box | jq .files_transferred   the same, with ./job.json
  rp-sync scan job.json --table             the secret scan alone (a pre-commit hook)
  rp-sync pack job.json --to repo.tar.gz    the shipped tree as a reproducible archive
  rp-sync pack job.json --to \"$PRESIGNED_PUT_URL\" | jq -r .sha256",
        vcs = list(excludes::VCS_PATTERNS),
        backups = list(excludes::BACKUP_SUFFIXES),
        secrets = wrap(excludes::SECRET_PATTERNS, 80, "    "),
        templates = list(excludes::SECRET_TEMPLATES),
        caches = wrap(excludes::CACHE_PATTERNS, 80, "    "),
    )
}

/// Space-joined words, wrapped at `width` with `indent` on continuation lines.
fn wrap(words: &[&str], width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for w in words {
        if line > 0 && indent.len() + line + 1 + w.len() > width {
            out.push('\n');
            out.push_str(indent);
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(w);
        line += w.len();
    }
    out
}

/// The clap definition, for man pages and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// The exit codes rp-sync can return (its man page's EXIT STATUS): 1 when the transfer
/// failed, 125 without rsync or ssh here, 128+n when interrupted.
pub const EXIT_CODES: &[Exit] = &[
    Exit::Ok,
    Exit::Failed,
    Exit::Usage,
    Exit::Refused,
    Exit::ToolFailed,
    Exit::Signal(0),
];

/// Run the tool.
pub fn run(cli: Cli) -> Result<Exit> {
    let started = Instant::now();
    runplz_core::process::install_signal_handlers();
    let mut cli = cli;
    pick_job(&mut cli);

    // Everything is checked before the box is contacted.
    let job = cli.job.as_deref().map(runplz_core::job::load).transpose()?;
    let allow = scan::allow_for(job.as_ref(), &cli.allow_secret)?;
    if cli.to.is_some() && cli.direction != Direction::Pack {
        return Err(CliError::usage("--to is for `pack`"));
    }
    match cli.direction {
        Direction::Scan => return scan_only(&cli, job.as_ref(), &allow),
        Direction::Pack => return pack(&cli, job.as_ref(), &allow, started),
        Direction::Up => {}
    }
    let src = match (&cli.src, &job) {
        (Some(s), _) => s.clone(),
        (None, Some(j)) => j.ship_root.clone(),
        (None, None) => PathBuf::from("."),
    };
    let dest =
        match (&cli.dest, &job) {
            (Some(d), _) => Some(sync::remote_dir(d)?),
            (None, Some(j)) => Some(sync::remote_dir(&sync::default_dest(j.name()))?),
            (None, None) if cli.dry_run => None,
            (None, None) => return Err(CliError::usage(
                "--dest is required without a job (e.g. --dest work/myproject, or give a job.json)",
            )),
        };
    let snapshot = cli
        .snapshot
        .as_deref()
        .map(|s| {
            sync::remote_dir(s).map_err(|e| {
                CliError::usage(format!(
                    "--snapshot{}",
                    format!("{e}").trim_start_matches("--dest")
                ))
            })
        })
        .transpose()?;
    let mut patterns = job
        .as_ref()
        .map(|j| sync::job_excludes(j, &src))
        .unwrap_or_default();
    patterns.extend(cli.exclude.iter().cloned());
    sync::Excludes::new(&patterns)?;

    let target = cli.host.as_deref().map(Target::parse).transpose()?;
    let conn = match (&target, cli.dry_run) {
        (_, true) => None,
        (None, false) => {
            return Err(CliError::usage(
                "--host is required to ship (or use --dry-run to only list what would ship)",
            ))
        }
        (Some(t), false) => {
            runplz_core::process::require(
                "rsync",
                "install rsync (Debian/Ubuntu: `apt-get install rsync`, macOS: `brew install rsync`)",
            )?;
            runplz_core::process::require(
                "ssh",
                "install an OpenSSH client (Debian/Ubuntu: `apt-get install openssh-client`)",
            )?;
            Some(Ssh::new(
                t.clone(),
                SshOptions::for_job(job.as_ref(), cli.ssh_config.as_deref()),
            )?)
        }
    };

    // Staged and scanned before anything is sent: a refused tree never reaches the box. Where
    // this machine holds the box's token from its last sync there, the box is asked (it only
    // reads) meanwhile; else it is not even asked (a secret inside a file stops here, exit 4).
    let stage_and_scan = || -> Result<(Staged, scan::ScanRecord)> {
        let t = Instant::now();
        let staged = sync::stage(&src, &patterns)?;
        out::timing(TOOL, "stage", t);
        report_staged(&staged);
        let t = Instant::now();
        let secret_scan =
            scan::before_shipping(TOOL, &staged, job.as_ref(), &allow, Exit::Refused)?;
        out::timing(TOOL, "scan", t);
        Ok((staged, secret_scan))
    };
    let mut scanned = None;
    let (staged, secret_scan, transfer) = match (&conn, &dest) {
        (Some(ssh), Some(dest)) => {
            let mut live = None;
            let began = Instant::now();
            let (staged, t) = sync::stage_and_up(ssh, dest, snapshot.as_deref(), || {
                let (staged, sc) = stage_and_scan()?;
                scanned = Some(sc);
                out::note(
                    TOOL,
                    format_args!("shipping to {}:{dest}", ssh.destination()),
                );
                live = runplz_core::progress::on_tty(TOOL, "sync");
                Ok(staged)
            })?;
            let secret_scan = scanned.take().expect("scanned before sending");
            if let Some(l) = live {
                l.end(true, began.elapsed().as_secs_f64());
            }
            report_transfer(&staged, &t, started);
            // A file edited between the scan and rsync shipped as it is now: scanned again.
            if t.files_transferred > 0 && secret_scan.mode != scan::Mode::Off.name() {
                let at = Instant::now();
                let changed = match &t.changed {
                    // Checked while shipping: only those.
                    Some(paths) => sync::stage::only(&staged, paths),
                    None => sync::stage::changed_since_staged(&staged, t.sent.as_deref()),
                };
                scan::after_shipping(TOOL, &changed, &secret_scan, &allow, Exit::Refused)?;
                out::timing(TOOL, "scan again", at);
            }
            (staged, secret_scan, Some(t))
        }
        _ => {
            let (staged, secret_scan) = stage_and_scan()?;
            report_not_read(&staged, &secret_scan);
            out::note(TOOL, "dry run: nothing sent; the largest files:");
            for f in staged.largest(sync::LARGEST) {
                out::note(
                    TOOL,
                    format_args!("  {:>10}  {}", sync::human_bytes(f.bytes), shown(&f.path)),
                );
            }
            (staged, secret_scan, None)
        }
    };
    // Closes the shared connection before the record is printed.
    let t = Instant::now();
    drop(conn);
    out::timing(TOOL, "close", t);

    let mut record = sync::record(
        &staged,
        dest.as_deref(),
        cli.host.as_deref(),
        transfer.as_ref(),
        started,
    );
    record.tree = scan::tree(&staged, &secret_scan);
    if let Some(f) = &record.tree.fingerprint {
        out::note(TOOL, format_args!("tree fingerprint {f}"));
    }
    record.secret_scan = secret_scan;
    if cli.table {
        out::print_raw(&table(&record))?;
    } else {
        out::print_record("sync", &record)?;
    }
    Ok(Exit::Ok)
}

/// The positional is the job when it is a file (or `-`); with none, ./job.json when there is
/// one (as runplz); else it is the folder to ship.
fn pick_job(cli: &mut Cli) {
    if cli.job.is_some() {
        return;
    }
    match &cli.src {
        Some(s) if s.is_file() || s.as_os_str() == "-" => cli.job = cli.src.take(),
        Some(_) => {}
        None => {
            let default = PathBuf::from("job.json");
            if default.is_file() {
                cli.job = Some(default);
            }
        }
    }
}

/// The source and patterns `up` would use, for `scan`.
fn source_and_patterns(
    cli: &Cli,
    job: Option<&runplz_core::job::Job>,
) -> Result<(PathBuf, Vec<String>)> {
    let src = match (&cli.src, job) {
        (Some(s), _) => s.clone(),
        (None, Some(j)) => j.ship_root.clone(),
        (None, None) => PathBuf::from("."),
    };
    let mut patterns = job.map(|j| sync::job_excludes(j, &src)).unwrap_or_default();
    patterns.extend(cli.exclude.iter().cloned());
    sync::Excludes::new(&patterns)?;
    Ok((src, patterns))
}

/// `rp-sync scan`: the same list `up` would ship, scanned; the record on stdout.
fn scan_only(cli: &Cli, job: Option<&runplz_core::job::Job>, allow: &scan::Allow) -> Result<Exit> {
    if cli.host.is_some() || cli.dest.is_some() || cli.snapshot.is_some() {
        return Err(CliError::usage(
            "scan sends nothing: --host, --dest and --snapshot are for `up`",
        ));
    }
    let (src, patterns) = source_and_patterns(cli, job)?;
    let staged = sync::stage(&src, &patterns)?;
    let mut rec = scan::scan(&staged, allow, Some(&runplz_core::state::scan_cache_dir()))?;
    rec.mode = job
        .and_then(|j| j.spec.sync.secret_scan)
        .unwrap_or_default()
        .name()
        .into();
    report_not_read(&staged, &rec);
    let bad = scan::refused(&rec).count();
    out::note(
        TOOL,
        format_args!(
            "scanned {} files ({} from the cache, {} binary, {} too large): {} finding(s), {} allowed",
            rec.files,
            rec.cached,
            rec.binary,
            rec.too_large,
            rec.findings.len(),
            rec.findings.len() - bad
        ),
    );
    if cli.table {
        out::print_raw(&scan_table(&rec))?;
    } else {
        out::print_record("scan", &rec)?;
    }
    // A job that says `warn` ships its findings, so its scan passes too (with the warning).
    if bad > 0 {
        out::warn(TOOL, scan::refusal(&rec, job.map(|j| j.origin.as_str())));
        if rec.mode != scan::Mode::Warn.name() {
            return Ok(Exit::Refused);
        }
    }
    Ok(Exit::Ok)
}

/// `rp-sync pack`: the list `up` would ship, scanned as for `up`, as a deterministic
/// `tar.gz` written or uploaded to --to; the `pack` record on stdout (on stderr when the
/// archive itself goes to stdout).
fn pack(
    cli: &Cli,
    job: Option<&runplz_core::job::Job>,
    allow: &scan::Allow,
    started: Instant,
) -> Result<Exit> {
    use runplz_core::sync::pack::{self, Dest};
    use std::io::{IsTerminal, Write};
    if cli.host.is_some() || cli.dest.is_some() || cli.snapshot.is_some() || cli.dry_run {
        return Err(CliError::usage(
            "pack writes an archive here: --host, --dest, --snapshot and --dry-run are for `up`",
        ));
    }
    let to = pack::parse_dest(cli.to.as_deref().unwrap_or("-"))?;
    // Everything about the destination is checked before the tree is read.
    let to_file = match &to {
        Dest::Stdout if std::io::stdout().is_terminal() => {
            return Err(CliError::usage(
                "refusing to write a tar.gz to a terminal: redirect stdout or pass --to FILE",
            ))
        }
        Dest::File(p) => {
            let name = p
                .file_name()
                .filter(|_| !p.as_os_str().as_encoded_bytes().ends_with(b"/"));
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            let (Some(name), Ok(dir)) = (name, std::fs::canonicalize(dir)) else {
                return Err(CliError::usage(format!(
                    "--to: found {}, expected a file in a folder that exists",
                    shown(p)
                )));
            };
            if dir.join(name).is_dir() {
                return Err(CliError::usage(format!(
                    "--to: found the folder {}, expected a file name",
                    shown(p)
                )));
            }
            Some(dir.join(name))
        }
        _ => None,
    };
    let (src, patterns) = source_and_patterns(cli, job)?;
    let mut staged = sync::stage(&src, &patterns)?;
    // An archive written inside the tree (or an older one there) is not part of it.
    if let Some(rel) = to_file
        .as_ref()
        .and_then(|f| f.strip_prefix(&staged.root).ok())
    {
        staged.files.retain(|f| f.path != rel);
    }
    // So is the file stdout was redirected to (`rp-sync pack > repo.tar.gz` in the tree).
    if to == Dest::Stdout {
        use std::os::unix::fs::MetadataExt;
        if let Ok(st) = nix::sys::stat::fstat(std::io::stdout()) {
            let root = staged.root.clone();
            staged.files.retain(|f| {
                f.inode != st.st_ino
                    || std::fs::symlink_metadata(root.join(&f.path))
                        .is_ok_and(|m| m.dev() != st.st_dev)
            });
        }
    }
    staged.bytes = staged.files.iter().map(|f| f.bytes).sum();
    report_staged(&staged);
    let secret_scan = scan::before_shipping(TOOL, &staged, job, allow, Exit::Refused)?;

    // A file or an upload is written to a temporary file first: a refused or interrupted
    // pack leaves nothing behind, and a PUT knows its length.
    let tmp = match &to_file {
        Some(f) => Some(
            tempfile::Builder::new()
                .prefix(".rp-pack-")
                .tempfile_in(f.parent().unwrap_or(std::path::Path::new(".")))?,
        ),
        None if matches!(to, Dest::Http(_)) => Some(
            tempfile::Builder::new()
                .prefix("rp-pack-")
                .suffix(".tar.gz")
                .tempfile()?,
        ),
        None => None,
    };
    let (packed, sha, bytes) = match &tmp {
        Some(t) => {
            let w = pack::HashingWriter::new(std::io::BufWriter::new(t.as_file()));
            let (packed, w) = pack::write_tar_gz(&staged, w)?;
            let n = w.n;
            let (sha, mut w) = w.finish();
            w.flush()?;
            (packed, sha, n)
        }
        None => {
            let w = pack::HashingWriter::new(std::io::BufWriter::new(std::io::stdout().lock()));
            let (packed, w) = pack::write_tar_gz(&staged, w)?;
            let n = w.n;
            let (sha, mut w) = w.finish();
            w.flush()?;
            (packed, sha, n)
        }
    };
    // What was packed is what was scanned (a file edited in between is caught per file by
    // its size, mtime and inode; this catches an edit that kept all three).
    if let Some(fp) = secret_scan
        .fingerprint
        .as_ref()
        .filter(|fp| **fp != packed.fingerprint)
    {
        return Err(CliError::new(
            Exit::Failed,
            format!(
                "the tree changed between the secret scan ({fp}) and the pack ({}); nothing was written: run again",
                packed.fingerprint
            ),
        ));
    }
    let (url, http_status) = match (&to, tmp, &to_file) {
        (Dest::Http(u), Some(t), _) => {
            out::note(
                TOOL,
                format_args!(
                    "uploading {} to {}",
                    sync::human_bytes(bytes),
                    pack::redact_url(u)
                ),
            );
            let status = pack::put(u, t.path())?;
            (pack::redact_url(u), Some(status))
        }
        (_, Some(t), Some(f)) => {
            t.persist(f)
                .map_err(|e| anyhow::anyhow!("writing {}: {}", f.display(), e.error))?;
            (pack::file_url(f), None)
        }
        _ => ("-".to_string(), None),
    };
    out::note(
        TOOL,
        format_args!(
            "packed {} files into {} (sha256 {sha}), tree fingerprint {}",
            packed.files,
            sync::human_bytes(bytes),
            packed.fingerprint
        ),
    );
    let mut tree = scan::tree(&staged, &secret_scan);
    tree.fingerprint = Some(packed.fingerprint.clone());
    let record = runplz_protocol::PackRecord {
        source: staged.root.display().to_string(),
        url,
        files: packed.files,
        bytes,
        sha256: sha,
        fingerprint: packed.fingerprint,
        http_status,
        excluded_secrets: staged.secrets.len() as u64,
        duration_seconds: started.elapsed().as_secs_f64(),
        secret_scan,
        tree,
    };
    let text = if cli.table {
        pack_table(&record)
    } else {
        serde_json::to_string(&runplz_protocol::Record::new("pack", &record))?
    };
    if to == Dest::Stdout {
        // stdout holds the archive: the record goes to stderr, as its last line.
        eprintln!("{text}");
    } else {
        out::print_raw(&text)?;
    }
    Ok(Exit::Ok)
}

fn pack_table(r: &runplz_protocol::PackRecord) -> String {
    out::table(&[
        vec!["source".to_string(), r.source.clone()],
        vec!["url".into(), r.url.clone()],
        vec!["files".into(), r.files.to_string()],
        vec!["bytes".into(), r.bytes.to_string()],
        vec!["sha256".into(), r.sha256.clone()],
        vec!["fingerprint".into(), r.fingerprint.clone()],
        vec!["seconds".into(), format!("{:.3}", r.duration_seconds)],
    ])
}

/// A path as printed for people: odd bytes as `\xNN`, control characters escaped.
fn shown(p: &std::path::Path) -> String {
    out::escape(&out::path_text(p))
}

fn scan_table(r: &scan::ScanRecord) -> String {
    let mut rows = vec![vec![
        "PATH:LINE:COL".to_string(),
        "RULE".into(),
        "PREVIEW".into(),
        "ALLOWED".into(),
    ]];
    for f in &r.findings {
        rows.push(vec![
            format!("{}:{}:{}", out::escape(&f.path), f.line, f.column),
            f.rule.clone(),
            out::escape(&f.preview),
            if f.allowed { "yes" } else { "no" }.into(),
        ]);
    }
    out::table(&rows)
}

/// On a dry run or a scan: the files not content-scanned, and why.
fn report_not_read(staged: &Staged, rec: &scan::ScanRecord) {
    if rec.binary + rec.too_large == 0 {
        return;
    }
    out::note(
        TOOL,
        format_args!(
            "not content-scanned: {} binary, {} over {}:",
            rec.binary,
            rec.too_large,
            sync::human_bytes(scan::MAX_BYTES)
        ),
    );
    for (p, why) in scan::not_read(staged).into_iter().take(50) {
        out::note(TOOL, format_args!("  {why:>9}  {}", shown(&p)));
    }
}

fn report_staged(staged: &Staged) {
    for w in staged.all_warnings() {
        out::warn(TOOL, w);
    }
    out::note(
        TOOL,
        format_args!(
            "{} files, {} from {}{}",
            staged.files.len(),
            sync::human_bytes(staged.bytes),
            staged.root.display(),
            if staged.git { " (git-aware)" } else { "" }
        ),
    );
    if !staged.secrets.is_empty() {
        out::note(
            TOOL,
            format_args!(
                "held back {} secret-shaped path(s): {}",
                staged.secrets.len(),
                sync::some_paths(&staged.secrets, 5)
            ),
        );
    }
}

fn report_transfer(staged: &Staged, t: &Transfer, started: Instant) {
    for w in &t.warnings {
        out::warn(TOOL, w);
    }
    out::note(
        TOOL,
        format_args!(
            "sent {} of {} files ({} over the wire), deleted {}, in {:.2}s",
            t.files_transferred,
            staged.files.len(),
            sync::human_bytes(t.bytes_transferred),
            t.deleted,
            started.elapsed().as_secs_f64()
        ),
    );
}

fn table(r: &SyncRecord) -> String {
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
    let mut rows = vec![
        vec!["source".to_string(), r.source.clone()],
        vec!["dest".into(), r.dest.clone().unwrap_or_else(|| "-".into())],
        vec!["host".into(), r.host.clone().unwrap_or_else(|| "-".into())],
        vec!["dry run".into(), r.dry_run.to_string()],
        vec!["files".into(), r.files.to_string()],
        vec!["bytes".into(), r.bytes.to_string()],
        vec!["files transferred".into(), opt(r.files_transferred)],
        vec!["bytes transferred".into(), opt(r.bytes_transferred)],
        vec!["deleted".into(), opt(r.deleted)],
        vec!["excluded secrets".into(), r.excluded_secrets.to_string()],
        vec!["seconds".into(), format!("{:.3}", r.duration_seconds)],
    ];
    for f in &r.largest {
        rows.push(vec![format!("largest: {}", f.bytes), out::escape(&f.path)]);
    }
    out::table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_secret_pattern() {
        let help = after_long_help();
        for p in excludes::SECRET_PATTERNS {
            assert!(help.contains(p), "{p}");
        }
        assert!(help.lines().all(|l| l.len() <= 92), "{help}");
        assert_eq!(wrap(&["aa", "bb", "cc"], 9, "  "), "aa bb\n  cc");
    }
}
