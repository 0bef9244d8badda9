//! Unit tests of the ssh options, targets and control folders.

use super::*;

#[test]
fn parses_targets() {
    assert_eq!(
        Target::parse("me@box:2222").unwrap(),
        Target {
            user: Some("me".into()),
            host: "box".into(),
            port: Some(2222)
        }
    );
    assert_eq!(
        Target::parse("alias").unwrap(),
        Target {
            user: None,
            host: "alias".into(),
            port: None
        }
    );
    assert_eq!(
        Target::parse("root@[::1]:22").unwrap(),
        Target {
            user: Some("root".into()),
            host: "::1".into(),
            port: Some(22)
        }
    );
    for bad in ["", "@h", "h:0", "h:99999", "-oProxyCommand=x", "a b"] {
        assert!(Target::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn options_carry_config_key_and_port() {
    let ssh = Ssh::new(
        Target::parse("box").unwrap(),
        SshOptions {
            key: Some("/k".into()),
            user: Some("u".into()),
            port: Some(2200),
            ..Default::default()
        },
    )
    .unwrap();
    let o = ssh.options().join(" ");
    assert!(
        o.contains("-i /k -o IdentitiesOnly=yes -p 2200 -o BatchMode=yes"),
        "{o}"
    );
    assert!(o.contains("ControlMaster=auto"), "{o}");
    assert_eq!(ssh.destination(), "u@box");
}

fn box_ssh(tmp: &Path) -> Ssh {
    Ssh::new_in(Target::parse("box").unwrap(), SshOptions::default(), tmp).unwrap()
}

#[test]
fn the_control_dir_is_private_and_removed_on_drop() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let ssh = box_ssh(tmp.path());
    let dirs: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1);
    let name = dirs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("rp-{}-", std::process::id())),
        "{name}"
    );
    let mode = std::fs::metadata(&dirs[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(ssh
        .options()
        .join(" ")
        .contains(&format!("ControlPath={}/%C", dirs[0].display())));
    drop(ssh);
    assert!(!dirs[0].exists(), "the control dir outlived its Ssh");
}

#[test]
fn leftovers_of_dead_tools_are_swept_and_nothing_else() {
    use std::os::unix::fs::DirBuilderExt;
    let tmp = tempfile::tempdir().unwrap();
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let mut live = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let mk = |name: &str, sock: bool, file: bool| {
        let d = tmp.path().join(name);
        std::fs::DirBuilder::new().mode(0o700).create(&d).unwrap();
        if sock {
            // A socket file (its listener closed: a master that is gone).
            drop(std::os::unix::net::UnixListener::bind(d.join("sock")).unwrap());
        }
        if file {
            std::fs::write(d.join("data"), "not ours").unwrap();
        }
        d
    };
    let swept = mk(&format!("rp-{dead_pid}-abc123"), true, false);
    let swept_empty = mk(&format!("rp-{dead_pid}-7"), false, false);
    let live_dir = mk(&format!("rp-{}-def456", live.id()), true, false);
    let foreign = mk(&format!("rp-{dead_pid}-zzz"), true, true);
    let other = mk("rp-notapid-x", false, false);
    let ssh = box_ssh(tmp.path());
    assert!(
        !swept.exists() && !swept_empty.exists(),
        "a dead tool's dir was kept"
    );
    assert!(live_dir.exists(), "a live tool's dir was swept");
    assert!(
        foreign.exists(),
        "a dir holding more than sockets was swept"
    );
    assert!(other.exists());
    drop(ssh);
    let _ = live.kill();
    let _ = live.wait();
}

#[test]
fn no_control_dir_means_no_multiplexing_not_an_error() {
    let ssh = box_ssh(Path::new("/nonexistent/tmp"));
    assert!(!ssh.options().join(" ").contains("ControlMaster"));
}

#[test]
fn labels_and_rsync_dirs_bracket_ipv6() {
    for s in ["box", "me@box:2222", "root@[::1]:22"] {
        assert_eq!(Target::parse(s).unwrap().label(), s);
    }
    let ssh = |t: &str, user: Option<&str>| {
        let opts = SshOptions {
            user: user.map(str::to_string),
            ..Default::default()
        };
        Ssh::new(Target::parse(t).unwrap(), opts).unwrap()
    };
    assert_eq!(
        ssh("u@box:22", None).rsync_dir("runplz/j"),
        "u@box:./runplz/j/"
    );
    assert_eq!(
        ssh("[::1]:22", Some("job")).rsync_dir("/w"),
        "job@[::1]:/w/"
    );
    assert_eq!(ssh("box", None).rsync_dir("."), "box:./");
    assert_eq!(ssh("box", None).rsync_dir("-x"), "box:./-x/");
    assert_eq!(ssh("box", None).rsync_dir("/"), "box:/");
}

#[test]
fn posix_command_carries_any_script_through_any_login_shell() {
    let script = "set -u\nx='it'\\''s \"$(echo q)\" `echo b` \\\\ \\n ü !x %s'\nprintf '%s\\n' \"$x\" \"$0\"\n";
    let direct = std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(direct.status.success());
    let cmd = posix_command(script);
    // One line of letters, digits and punctuation, no quote or `!` a login shell would
    // read, no two backslashes together (fish reads them as one), and `$`, `"` and a
    // backquote only behind a backslash (sh's double quotes take it off).
    let inner = cmd
        .strip_prefix("exec /bin/sh -c 'eval \"$(printf %b \"")
        .and_then(|r| r.strip_suffix("\")\"'"))
        .unwrap();
    assert!(
        inner
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && !b"'!".contains(&b)),
        "{inner}"
    );
    assert!(!inner.contains("\\\\"), "{inner}");
    let b = inner.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if b"\"$`".contains(c) {
            assert!(i > 0 && b[i - 1] == b'\\', "{inner}");
        }
    }
    // Shorter than octal for every byte: a newline is two bytes, not five.
    assert!(
        inner.contains("\\n") && inner.len() < script.len() * 2,
        "{inner}"
    );
    // The real csh, fish and zsh too, where installed (scripts/test installs them).
    for login in ["sh", "bash", "dash", "tcsh", "fish", "zsh"] {
        if !["sh", "bash", "dash"].contains(&login) && which::which(login).is_err() {
            continue;
        }
        let via = std::process::Command::new(login)
            .args(["-c", &cmd])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&via.stdout),
            String::from_utf8_lossy(&direct.stdout).replace("\nsh\n", "\n/bin/sh\n"),
            "{login}"
        );
    }
}

#[test]
fn remote_paths_follow_one_rule() {
    for (given, form) in [
        ("~", "."),
        ("~/", "."),
        ("~/out/", "out"),
        ("~//a/b", "a/b"),
        ("runs/x", "runs/x"),
        ("/abs/dir/", "/abs/dir"),
        ("/", "/"),
        (".", "."),
        ("-x", "-x"),
    ] {
        assert_eq!(remote_path(given).unwrap(), form, "{given}");
    }
    for bad in ["", "~other/x", "~x", "a\0b"] {
        assert!(remote_path(bad).is_err(), "{bad:?}");
    }
    assert!(remote_path("~root")
        .unwrap_err()
        .contains("`~user` is not understood"));
    assert_eq!(remote_dir_word("."), "\"$HOME\"");
    assert_eq!(remote_dir_word("my dir"), "\"$HOME\"/'my dir'");
    assert_eq!(remote_dir_word("/tmp/x"), "/tmp/x");
}

#[test]
fn masters_are_known_by_title_and_a_private_folder_of_ours() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let ours = make_control_dir(t.path()).unwrap();
    let hex40 = "63e72440401fea91a6bcb07ad7410e7a28b29141";
    let title = |dir: &Path, name: &str| format!("ssh: {}/{name} [mux]", dir.display());
    assert!(is_runplz_master(&title(ours.path(), hex40)));
    let kept = t.path().join("runplz");
    std::fs::create_dir(&kept).unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(is_runplz_master(&title(&kept, "93d61412b44c67b0")));
    // Not a master's title, not our socket's name, or a folder others may write in.
    assert!(!is_runplz_master(&format!(
        "ssh {}/{hex40}",
        ours.path().display()
    )));
    assert!(!is_runplz_master(&title(ours.path(), "93d61412b44c67b0")));
    assert!(!is_runplz_master(&title(&kept, hex40)));
    assert!(!is_runplz_master(&title(t.path(), hex40)));
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!is_runplz_master(&title(&kept, "93d61412b44c67b0")));
    let other = t.path().join("rp-12-abcdef");
    std::fs::create_dir(&other).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(is_runplz_master(&title(&other, hex40)));
    assert!(!is_runplz_master(&title(
        &t.path().join("rp-x-abcdef"),
        hex40
    )));
}
