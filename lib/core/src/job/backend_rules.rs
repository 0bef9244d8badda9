//! Rules for the `ssh`, `brev` and `runpod` sections: a login name, port and key that can
//! work, no `on_finish` that would stop a box the user owns, the watchdog's settings
//! together, and lists that hold something.

use super::spans::join_index;
use super::spec::{Brev, BrevMode, OnFinish, Runpod, Ssh};
use super::validate::{
    blank, non_empty, on_finish_str, p, positive_seconds, q, resolve_user_path, Problem,
};
use std::path::Path;

/// Rules shared by the `ssh` and `brev` sections (the Python `_validate_remote_common`).
fn remote_common(
    section: &str,
    max_runtime: Option<i64>,
    max_inactivity: Option<i64>,
    action_set: bool,
    ready_wait: Option<i64>,
) -> Result<(), Problem> {
    positive_seconds(&format!("{section}.max_runtime_seconds"), max_runtime)?;
    positive_seconds(&format!("{section}.max_inactivity_seconds"), max_inactivity)?;
    if action_set && max_inactivity.is_none() {
        return Err(p(
            format!("{section}.inactivity_action"),
            "found an inactivity action with no \"max_inactivity_seconds\", expected both (the watchdog is off without it)",
        ));
    }
    positive_seconds(&format!("{section}.ssh_ready_wait_seconds"), ready_wait)
}

pub(super) fn ssh(s: &Ssh, root: &Path) -> Result<(), Problem> {
    if let Some(u) = &s.user {
        non_empty("ssh.user", Some(u), "a login name")?;
        if u.chars().any(|c| c.is_whitespace() || c == '@' || c == ':') {
            return Err(p(
                "ssh.user",
                format!(
                    "found {}, expected a login name (no spaces, '@' or ':')",
                    q(u)
                ),
            ));
        }
    }
    if let Some(port) = s.port {
        if !(1..=65535).contains(&port) {
            return Err(p(
                "ssh.port",
                format!("found {port}, expected a TCP port 1-65535"),
            ));
        }
    }
    if let Some(k) = &s.ssh_key_path {
        non_empty("ssh.ssh_key_path", Some(k), "a private key path")?;
        if !resolve_user_path(root, k).is_file() {
            return Err(p(
                "ssh.ssh_key_path",
                format!("found {}, expected an existing private key file (ssh gets it with IdentitiesOnly=yes, so a wrong path cannot fall back to your agent)", q(k)),
            ));
        }
    }
    if let Some(of) = s.on_finish {
        if of != OnFinish::Leave {
            return Err(p(
                "ssh.on_finish",
                format!(
                    "found {}, expected \"leave\": runplz never stops or deletes a box you own",
                    q(on_finish_str(of))
                ),
            ));
        }
    }
    if let Some(n) = s.keep_connection_seconds {
        if !(0..=crate::ssh::MAX_KEEP_SECONDS).contains(&n) {
            return Err(p(
                "ssh.keep_connection_seconds",
                format!(
                    "found {n}, expected 0 (close the connection with the run) to {} seconds",
                    crate::ssh::MAX_KEEP_SECONDS
                ),
            ));
        }
    }
    remote_common(
        "ssh",
        s.max_runtime_seconds,
        s.max_inactivity_seconds,
        s.inactivity_action.is_some(),
        s.ssh_ready_wait_seconds,
    )
}

pub(super) fn brev(b: &Brev) -> Result<(), Problem> {
    if b.mode.unwrap_or(BrevMode::Container) == BrevMode::Container && b.use_docker == Some(false) {
        return Err(p(
            "brev.use_docker",
            "found false in container mode, expected it unset: in container mode the box is the image and there is no docker to skip (use \"mode\": \"vm\" to run natively)",
        ));
    }
    if let Some(t) = &b.instance_type {
        if t.trim().is_empty() {
            return Err(p(
                "brev.instance_type",
                format!(
                    "found {}, expected an instance type such as \"g5.xlarge\" (or leave it out to pick one)",
                    blank(t)
                ),
            ));
        }
    }
    remote_common(
        "brev",
        b.max_runtime_seconds,
        b.max_inactivity_seconds,
        b.inactivity_action.is_some(),
        b.ssh_ready_wait_seconds,
    )?;
    if let Some(n) = b.instance_type_fallback_count {
        if n < 1 {
            return Err(p(
                "brev.instance_type_fallback_count",
                format!("found {n}, expected 1 or more (1 means no fallback)"),
            ));
        }
        if b.instance_type.is_some() {
            return Err(p(
                "brev.instance_type_fallback_count",
                "found a fallback count beside a pinned \"instance_type\", expected one of them: only picked types fall back",
            ));
        }
    }
    for (i, e) in b.exclude_providers.iter().flatten().enumerate() {
        non_empty(
            &join_index("brev.exclude_providers", i),
            Some(e),
            "a provider prefix such as \"oci\"",
        )?;
    }
    Ok(())
}

pub(super) fn runpod(r: &Runpod) -> Result<(), Problem> {
    positive_seconds("runpod.ssh_ready_wait_seconds", r.ssh_ready_wait_seconds)?;
    for (field, list, what) in [
        (
            "runpod.gpu_order",
            &r.gpu_order,
            "a GPU type id such as \"NVIDIA RTX A6000\"",
        ),
        (
            "runpod.datacenters",
            &r.datacenters,
            "a datacenter id such as \"US-TX-3\"",
        ),
    ] {
        if list.as_ref().is_some_and(|l| l.is_empty()) {
            return Err(p(
                field,
                format!(
                    "found an empty list, expected at least one entry (or leave \"{}\" out)",
                    &field[7..]
                ),
            ));
        }
        for (i, e) in list.iter().flatten().enumerate() {
            non_empty(&join_index(field, i), Some(e), what)?;
        }
    }
    Ok(())
}
