//! Offers from the real `brev search --json` (facts/brev-cli.md §1.2). The filters brev has
//! that mean exactly what ours do are passed (`--min-vram`, `--min-vcpu`, `--min-ram`,
//! `--min-disk`, `--provider`); the rest (GPU model by whole words, GPU count, price,
//! excluded providers) are ours, since brev has no `--min-gpus` and its `--gpu-name` is a
//! substring. A job with no GPU asks `brev search cpu`. brev runs
//! with stdin at /dev/null (a pipe would make it read stdin) and may exit 0 on failure, so
//! its output is checked, never its code alone.

use super::{offers_from_json, Constraints, Offer};
use crate::error::CliError;
use crate::process::{self, Proc};
use anyhow::Result;
use runplz_protocol::Exit;
use std::time::Duration;

/// How long `brev search` may take (one HTTP call to Brev's public API).
const SEARCH_TIMEOUT: Duration = Duration::from_secs(120);

/// A search's arguments and what to call it in messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// The arguments after `brev`.
    pub args: Vec<String>,
    /// `brev search` or `brev search cpu`.
    pub source: &'static str,
}

/// A float as a flag value: `64`, `0.5`.
fn flag_num(v: f64) -> String {
    format!("{v}")
}

/// The `brev search` arguments for `c`; `filtered: false` leaves brev's filters out (to
/// explain a no-match with every offer).
pub fn search_args(c: &Constraints, filtered: bool) -> Search {
    let gpu = c.wants_gpu();
    let mut args: Vec<String> = vec!["search".into()];
    if !gpu {
        args.push("cpu".into());
    }
    args.push("--json".into());
    if filtered {
        let mut flag = |name: &str, v: String| {
            args.push(name.into());
            args.push(v);
        };
        // Not --gpu-name: brev's is a substring (`A10` finds `A100`), ours whole words
        // (`RTX4090` finds `RTX 4090`, which brev's would drop); brev fetches every type and
        // filters locally anyway, so leaving it out costs no network.
        if gpu {
            if let Some(v) = c.min_vram_gb {
                flag("--min-vram", flag_num(v));
            }
        }
        if let Some(v) = c.min_cpu {
            flag("--min-vcpu", format!("{}", v.ceil() as i64));
        }
        if let Some(v) = c.min_ram_gb {
            flag("--min-ram", flag_num(v));
        }
        if let Some(v) = c.min_disk_gb {
            flag("--min-disk", flag_num(v));
        }
        if let Some(p) = c.provider.as_deref() {
            flag("--provider", p.trim().to_string());
        }
    }
    Search {
        args,
        source: if gpu {
            "brev search"
        } else {
            "brev search cpu"
        },
    }
}

/// Run `brev search --json` with the filters brev has and read its offers.
pub fn search(c: &Constraints) -> Result<Vec<Offer>> {
    run(&search_args(c, true))
}

/// Run one search and read its offers.
pub fn run(s: &Search) -> Result<Vec<Offer>> {
    let out = run_text(s)?;
    offers_from_json(&out).map_err(|e| unreadable(s, e))
}

/// What a search printed that rp-pick cannot read: brev's failure (exit 1), not the user's.
pub(crate) fn unreadable(s: &Search, e: anyhow::Error) -> anyhow::Error {
    CliError::new(
        Exit::Failed,
        format!(
            "`brev {}` printed offers rp-pick cannot read: {e}",
            s.args.join(" ")
        ),
    )
}

/// Run one search; its stdout, checked to be a JSON array (or `null`).
pub fn run_text(s: &Search) -> Result<String> {
    let brev = process::require(
        "brev",
        "install the Brev CLI (https://github.com/brevdev/brev-cli), or give offers with --catalog FILE",
    )?;
    let shown = format!("brev {}", s.args.join(" "));
    // Proc's stdin is /dev/null unless given bytes.
    let f = Proc::new(brev)
        .args(&s.args)
        .timeout(Some(SEARCH_TIMEOUT))
        .run()?;
    f.check_interrupted()?;
    let tail = f.tail(5);
    if f.timed_out {
        return Err(CliError::new(
            Exit::Failed,
            format!("`{shown}` gave no answer in {}s", SEARCH_TIMEOUT.as_secs()),
        ));
    }
    if !f.status.success() {
        // brev before v0.6.317 has no `search` (facts/brev-cli.md §1.0).
        let old = if tail.contains("unknown command \"search\"") {
            "; `brev search` needs brev v0.6.317 or later (see `brev --version --no-check-latest`), or give offers with --catalog FILE"
        } else {
            ""
        };
        return Err(CliError::new(
            Exit::Failed,
            format!(
                "`{shown}` exited with {}: {}{old}",
                f.status.code(),
                tail.trim()
            ),
        ));
    }
    let out = f.stdout_str();
    let t = out.trim_start();
    // Exit 0 is no proof: anything but a JSON array (or null) is a failure it printed.
    if !(t.starts_with('[') || t.starts_with("null")) {
        let said = if tail.trim().is_empty() {
            first_line(&out)
        } else {
            tail
        };
        return Err(CliError::new(
            Exit::Failed,
            format!("`{shown}` printed no offers: {}", said.trim()),
        ));
    }
    Ok(out)
}

fn first_line(s: &str) -> String {
    let l = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(nothing)");
    if l.chars().count() > 200 {
        format!("{}...", l.chars().take(200).collect::<String>())
    } else {
        l.to_string()
    }
}
