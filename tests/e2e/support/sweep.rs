//! Clean up after test runs that crashed: [`super::SshBox`] creates users `rpt<pid>x<n>` (and
//! [`super::world`] a folder `rpt-world-<pid>`) and removes them when dropped, but a test binary
//! that is killed leaves them behind, with their processes and /home dirs. Once per test
//! binary, before the first box or world, whatever belongs to a pid that is no longer a live
//! process is removed. A live pid (another test binary running now, or a reused pid) is left
//! alone: sweeping never touches a run in progress.

use std::path::Path;
use std::process::Command;
use std::sync::Once;

static ONCE: Once = Once::new();

/// Sweep once per test binary; later calls return at once.
pub fn once() {
    ONCE.call_once(|| {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        for user in leaked_users(&passwd, pid_is_live) {
            eprintln!("support: removing user {user}, left by a test run that is gone");
            remove_user(&user);
        }
        for dir in leaked_worlds(super::testenv::world_parent(), pid_is_live) {
            let _ = std::fs::remove_dir_all(dir);
        }
    });
}

/// The pid in a test user's name: `rpt<pid>x<n>`, both parts decimal digits, nothing else.
pub fn test_user_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("rpt")?;
    let (pid, n) = rest.split_once('x')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || !digits(n) {
        return None;
    }
    pid.parse().ok()
}

/// The test users in `passwd` (the text of /etc/passwd) whose creating process is not live.
pub fn leaked_users(passwd: &str, is_live: impl Fn(u32) -> bool) -> Vec<String> {
    passwd
        .lines()
        .filter_map(|l| l.split(':').next())
        .filter(|name| test_user_pid(name).is_some_and(|pid| !is_live(pid)))
        .map(str::to_string)
        .collect()
}

/// The shared-world folders under `parent` whose test binary is not live.
fn leaked_worlds(parent: &Path, is_live: impl Fn(u32) -> bool) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(super::testenv::WORLD_PREFIX))
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !is_live(pid))
        })
        .map(|e| e.path())
        .collect()
}

/// Whether a process with this pid exists now.
pub fn pid_is_live(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Kill the user's processes and delete the user with its home, as [`super::SshBox`]'s drop does.
pub fn remove_user(user: &str) {
    let sh = |c: &str| Command::new("sh").arg("-c").arg(c).output();
    let _ = sh(&format!(
        "pkill -KILL -u {user}; sleep 0.05; pkill -KILL -u {user}"
    ));
    for _ in 0..50 {
        match sh(&format!("userdel -r -f {user} 2>/dev/null")) {
            Ok(o) if o.status.success() => return,
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    eprintln!("support: could not delete user {user}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_test_users_of_dead_pids_are_selected() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      rpt100x0:x:1001:1001::/home/rpt100x0:/bin/bash\n\
                      rpt100x12:x:1002:1002::/home/rpt100x12:/bin/bash\n\
                      rpt200x0:x:1003:1003::/home/rpt200x0:/bin/bash\n\
                      rpt300:x:1004:1004::/home/rpt300:/bin/bash\n\
                      rptx1:x:1005:1005::/home/rptx1:/bin/bash\n\
                      rpt12ax3:x:1006:1006::/home/rpt12ax3:/bin/bash\n\
                      rpt7x1x2:x:1007:1007::/home/rpt7x1x2:/bin/bash\n\
                      xrpt9x1:x:1008:1008::/home/xrpt9x1:/bin/bash\n\
                      rpt400x:x:1009:1009::/home/rpt400x:/bin/bash\n";
        // 200 is live; every other pid is gone.
        let leaked = leaked_users(passwd, |pid| pid == 200);
        assert_eq!(leaked, ["rpt100x0", "rpt100x12"]);
        assert_eq!(test_user_pid("rpt4194304x7"), Some(4194304));
        assert_eq!(test_user_pid("rpt99999999999x1"), None, "not a pid");
        assert_eq!(test_user_pid("rpt+1x1"), None);
    }

    #[test]
    fn this_process_counts_as_live_and_a_free_pid_does_not() {
        assert!(pid_is_live(std::process::id()));
        assert!(pid_is_live(1));
        // Above the kernel's largest pid_max (2^22), so never a process.
        assert!(!pid_is_live(4_194_305));
    }

    #[test]
    fn only_worlds_of_dead_pids_are_selected() {
        let parent = crate::support::shm_tempdir();
        for name in [
            "rpt-world-100",
            "rpt-world-200",
            "rpt-world-x",
            "rpt-other-100",
        ] {
            std::fs::create_dir(parent.path().join(name)).unwrap();
        }
        let got = leaked_worlds(parent.path(), |pid| pid == 200);
        assert_eq!(got, [parent.path().join("rpt-world-100")]);
    }

    /// End to end: a user named like a box user of a dead pid, with a process running as it
    /// and a home, is gone after a sweep, process and home too.
    #[test]
    fn a_leaked_user_its_processes_and_home_are_removed() {
        once(); // so this binary's own first sweep cannot race the assertions below
        let pid = 4_194_305; // never a live pid (see above)
        let user = format!("rpt{pid}x{}", std::process::id());
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("useradd -m -s /bin/sh {user}"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let mut sleeper = Command::new("setpriv")
            .args([
                "--reuid",
                &user,
                "--regid",
                &user,
                "--clear-groups",
                "sleep",
                "300",
            ])
            .spawn()
            .unwrap();
        let home = format!("/home/{user}");
        assert!(Path::new(&home).is_dir());
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let leaked = leaked_users(&passwd, pid_is_live);
        assert!(leaked.contains(&user), "{leaked:?}");
        remove_user(&user);
        let status = sleeper.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        assert!(!Path::new(&home).exists());
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        assert!(!passwd.lines().any(|l| l.starts_with(&format!("{user}:"))));
    }
}
