//! Reading what `brev` prints: `ls --json` in each version's shape, and which failures are
//! worth another try.

use anyhow::{Context, Result};
use runplz_protocol::BoxInfo;

/// The workspaces in `brev ls --json` output: `null`, a bare array (v0.6.317–322), or
/// `{"workspaces": null | [...]}` (≥ v0.6.323).
pub fn ls_json(text: &str) -> Result<Vec<BoxInfo>> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).with_context(|| {
        format!(
            "`brev ls --json` printed something that is not JSON: {:?}",
            text.chars().take(200).collect::<String>()
        )
    })?;
    let list = match &v {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(_) => v.clone(),
        serde_json::Value::Object(o) => match o.get("workspaces") {
            Some(w) => w.clone(),
            None => anyhow::bail!("`brev ls --json` printed an object without \"workspaces\": {v}"),
        },
        other => anyhow::bail!("`brev ls --json` printed {other}, expected a list of workspaces"),
    };
    if list.is_null() {
        return Ok(Vec::new());
    }
    serde_json::from_value(list).context("reading the workspaces `brev ls --json` printed")
}

/// How a failed brev call should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The network or the API stumbled: try again after a pause.
    Transient,
    /// Trying again cannot help (quota, permissions, a provider not enabled, bad input).
    Final,
    /// brev wants a login (it asked on stdout and hit EOF on /dev/null).
    LoggedOut,
}

/// Classify a failed call by what brev printed.
pub fn classify(stdout: &str, stderr: &str) -> Failure {
    let all = format!("{stdout}\n{stderr}").to_lowercase();
    if all.contains("logged out") || all.contains("please login") || all.contains("not logged in") {
        return Failure::LoggedOut;
    }
    const FINAL: &[&str] = &[
        "quota",
        "unauthorized",
        "forbidden",
        "not enabled",
        "permission denied",
        "not a recognized type",
        "invalid",
        "unknown flag",
        "unknown shorthand flag",
        "already exists",
        "does not support stop",
        "insufficient",
    ];
    if FINAL.iter().any(|f| all.contains(f)) {
        return Failure::Final;
    }
    const TRANSIENT: &[&str] = &[
        "unexpected eof",
        "connection reset",
        "connection refused",
        "deadline exceeded",
        "timeout",
        "timed out",
        "temporarily unavailable",
        "try again",
        "500 internal server error",
        "502",
        "503",
        "504",
        "bad gateway",
        "service unavailable",
        "tls handshake",
        "no such host",
        "eof",
    ];
    if TRANSIENT.iter().any(|f| all.contains(f)) {
        return Failure::Transient;
    }
    Failure::Final
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ls_shape_reads() {
        assert!(ls_json("null\n").unwrap().is_empty());
        assert!(ls_json("{\"workspaces\": null}").unwrap().is_empty());
        assert!(ls_json("[]").unwrap().is_empty());
        let one = r#"{"name":"b","id":"ejmrvoj8m","status":"RUNNING","build_status":"COMPLETED","shell_status":"READY","health_status":"HEALTHY","instance_type":"g5.xlarge","instance_kind":"gpu","gpu":"A10G"}"#;
        let a = ls_json(&format!("[{one}]")).unwrap();
        let o = ls_json(&format!("{{\"workspaces\": [{one}], \"nodes\": []}}")).unwrap();
        assert_eq!(a, o);
        assert_eq!(
            (
                a[0].name.as_str(),
                a[0].status.as_str(),
                a[0].shell_status.as_str()
            ),
            ("b", "RUNNING", "READY")
        );
        assert!(ls_json("You have 1 instances").is_err());
        assert!(ls_json("{\"nodes\": []}").is_err());
    }

    #[test]
    fn failures_are_sorted() {
        use Failure::*;
        let cases = [
            ("Post \"https://x/api\": unexpected EOF", Transient),
            (
                "read tcp 1:2->3:443: read: connection reset by peer",
                Transient,
            ),
            ("503 Service Unavailable", Transient),
            ("403 Forbidden: quota exceeded", Final),
            ("provider lambda-labs is not enabled for this org", Final),
            ("unknown flag: --min-gpus", Final),
            ("something nobody expected", Final),
        ];
        for (text, want) in cases {
            assert_eq!(classify("", text), want, "{text}");
        }
        assert_eq!(
            classify(
                "You are currently logged out, would you like to log in? [Y/n]: ",
                "EOF"
            ),
            LoggedOut
        );
    }
}
