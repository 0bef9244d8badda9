//! What runplz writes for brev: the ssh config a run reaches its box through, and the
//! mark that brev's first-time onboarding is done.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// The ssh config a run reaches box `name` through: our overrides for that host first (the
/// first value ssh reads wins: no tty, no agent forwarding, no control master of brev's,
/// quiet host-key notes), then brev's own file (`$HOME/.brev/ssh_config`, read directly so
/// that `~/.ssh/config` need not include it), then the user's config (or `user_config`).
pub fn ssh_config_text(name: &str, home: &Path, user_config: Option<&Path>) -> String {
    let user = user_config
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.ssh/config".into());
    format!(
        "# written by runplz for Brev box {name}\nHost {name}\n  RequestTTY no\n  ForwardAgent no\n  \
         ControlMaster no\n  ControlPath none\n  LogLevel ERROR\n\nInclude \"{}/.brev/ssh_config\"\nInclude \"{user}\"\n",
        home.display()
    )
}

/// Write [`ssh_config_text`] to `path` (mode 0600).
pub fn write_ssh_config(path: &Path, name: &str, user_config: Option<&Path>) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("HOME is not set: cannot find brev's ~/.brev/ssh_config"))?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    f.write_all(ssh_config_text(name, &home, user_config).as_bytes())?;
    Ok(())
}

/// brev's first-time onboarding runs after `brev ls` while `~/.brev/onboarding_step.json` is
/// missing or still at step 0 with neither `brev shell` nor `brev open` run: it prints a
/// greeting and tips on stdout (into `ls --json`'s output) and asks questions. Mark it done,
/// as it would be after a first `brev shell`; a file that says more is left alone.
pub fn skip_onboarding(home: &Path) {
    let path = home.join(".brev/onboarding_step.json");
    let fresh = match std::fs::read_to_string(&path) {
        Err(_) => true,
        Ok(t) => serde_json::from_str::<serde_json::Value>(&t).map_or(true, |v| {
            v["step"].as_i64().unwrap_or(0) == 0
                && v["hasRunBrevShell"] != true
                && v["hasRunBrevOpen"] != true
        }),
    };
    if fresh {
        let _ = std::fs::create_dir_all(home.join(".brev"));
        let _ = std::fs::write(
            &path,
            r#"{"step":1,"hasRunBrevShell":true,"hasRunBrevOpen":true}"#,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onboarding_is_marked_done_unless_a_file_says_more() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".brev/onboarding_step.json");
        skip_onboarding(d.path());
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(
            (v["step"].as_i64(), v["hasRunBrevShell"].as_bool()),
            (Some(1), Some(true))
        );
        std::fs::write(
            &p,
            r#"{"step":0,"hasRunBrevShell":false,"hasRunBrevOpen":false}"#,
        )
        .unwrap();
        skip_onboarding(d.path());
        assert!(std::fs::read_to_string(&p).unwrap().contains("\"step\":1"));
        std::fs::write(
            &p,
            r#"{"step":3,"hasRunBrevShell":false,"hasRunBrevOpen":true}"#,
        )
        .unwrap();
        skip_onboarding(d.path());
        assert!(std::fs::read_to_string(&p).unwrap().contains("\"step\":3"));
    }

    #[test]
    fn our_overrides_come_before_brevs_file() {
        let t = ssh_config_text("b1", Path::new("/h"), None);
        let ours = t.find("RequestTTY no").unwrap();
        let brevs = t.find("Include \"/h/.brev/ssh_config\"").unwrap();
        assert!(ours < brevs);
        assert!(t.contains("Include \"~/.ssh/config\""));
        assert!(t.contains("ForwardAgent no"));
    }
}
