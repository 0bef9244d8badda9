//! Two runs of one job on one box at once (issues #7 and #15): each keeps its own outputs and
//! runs the code it shipped, and their syncs into the shared folder do not race.
use super::seam::{native_job, runplz, states};
use crate::support::{bin_cmd, json, run_expect, shm_tempdir, stderr, SshBox};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn two_runs_of_one_job_on_one_box_at_once_both_come_back_whole() {
    let b = SshBox::start();
    let d = shm_tempdir();
    let state = shm_tempdir();
    // Each run writes its file, waits while the other starts, then lists what it sees in its
    // own $RUNPLZ_OUT: a run keyed by job name would see (or have wiped) the other's file.
    std::fs::write(
        d.path().join("job.json"),
        native_job("t={tag}; echo $t > \"$RUNPLZ_OUT/$t.txt\"; sleep 3; saw=$(ls \"$RUNPLZ_OUT\"); echo \"$saw\" > \"$RUNPLZ_OUT/$t-saw.txt\""),
    )
    .unwrap();
    let spawn = |tag: &str| {
        let mut c = runplz(d.path(), state.path(), &["ssh", "job.json"]);
        c.args(b.tool_args())
            .arg(format!("--tag={tag}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let (a, c) = (spawn("a"), spawn("b"));
    let (a, c) = (a.wait_with_output().unwrap(), c.wait_with_output().unwrap());
    for (tag, out) in [("a", &a), ("b", &c)] {
        assert_eq!(out.status.code(), Some(0), "{tag}: {}", stderr(out));
        let rec = json(out);
        assert_eq!(rec["outputs"]["files"], 2, "{tag}: {rec}");
        let o = d.path().join("out");
        assert_eq!(
            std::fs::read_to_string(o.join(format!("{tag}.txt"))).unwrap(),
            format!("{tag}\n")
        );
        assert_eq!(
            std::fs::read_to_string(o.join(format!("{tag}-saw.txt"))).unwrap(),
            format!("{tag}.txt\n"),
            "run {tag} saw another run's outputs"
        );
    }
    assert_ne!(json(&a)["run_id"], json(&c)["run_id"]);
    // Each run removed its own outputs from the box once they were back.
    assert_eq!(b.ssh("ls -A runplz-out | wc -l").trim(), "0");
    assert_eq!(states(state.path()).len(), 2);
}

#[test]
fn syncs_of_one_job_into_one_folder_at_once_all_succeed() {
    // Two runs of one job share the box's workspace; their manifest writes once raced on one
    // temp file, failing one run's sync at random.
    let b = SshBox::start();
    let d = shm_tempdir();
    std::fs::write(d.path().join("job.json"), native_job("true")).unwrap();
    for i in 0..20 {
        std::fs::write(d.path().join(format!("f{i}.txt")), "x").unwrap();
    }
    let kids: Vec<_> = (0..6)
        .map(|_| {
            bin_cmd("rp-sync")
                .current_dir(d.path())
                .args(["up", "--dest", "runplz/t"])
                .args(b.tool_args())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_eq!(b.ssh("ls -A runplz/t | grep -c '^f'").trim(), "20");
    assert_eq!(b.ssh("ls -A runplz/t | grep -c tmp || true").trim(), "0");
}

/// A checkout of job `t` whose `code.txt` says `code`.
fn checkout(code: &str, run: &str) -> tempfile::TempDir {
    let d = shm_tempdir();
    std::fs::write(d.path().join("job.json"), native_job(run)).unwrap();
    std::fs::write(d.path().join("code.txt"), code).unwrap();
    d
}

#[test]
fn two_checkouts_of_one_job_at_once_each_run_their_own_code() {
    // Issue #15: both runs sync into the box's one `runplz/t`; the second sync (1.5 s later)
    // used to change the first run's code under it. Each run now runs in its own copy.
    let b = SshBox::start();
    let state = shm_tempdir();
    let run = "echo {tag} > \"$RUNPLZ_OUT/tag.txt\"; cat code.txt > \"$RUNPLZ_OUT/early.txt\"; sleep 4; cat code.txt > \"$RUNPLZ_OUT/late.txt\"; pwd > \"$RUNPLZ_OUT/pwd.txt\"";
    let (da, db) = (checkout("A", run), checkout("B", run));
    let spawn = |d: &Path, tag: &str| {
        let mut c = runplz(d, state.path(), &["ssh", "job.json"]);
        c.args(b.tool_args())
            .arg(format!("--tag={tag}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let a = spawn(da.path(), "A");
    std::thread::sleep(Duration::from_millis(1500));
    let c = spawn(db.path(), "B");
    let (a, c) = (a.wait_with_output().unwrap(), c.wait_with_output().unwrap());
    for (code, d, out) in [("A", &da, &a), ("B", &db, &c)] {
        assert_eq!(out.status.code(), Some(0), "{code}: {}", stderr(out));
        let id = json(out)["run_id"].as_str().unwrap().to_string();
        let o = d.path().join("out");
        assert_eq!(
            std::fs::read_to_string(o.join("tag.txt")).unwrap(),
            format!("{code}\n")
        );
        for f in ["early.txt", "late.txt"] {
            assert_eq!(
                std::fs::read_to_string(o.join(f)).unwrap(),
                code,
                "run {code} ran another checkout's code ({f}): {}",
                stderr(out)
            );
        }
        let pwd = std::fs::read_to_string(o.join("pwd.txt")).unwrap();
        assert!(
            pwd.trim_end().ends_with(&format!("/runplz-runs/{id}")),
            "{pwd}"
        );
        let s = states(state.path())
            .into_iter()
            .find(|(_, s)| s["run_id"] == id.as_str())
            .unwrap()
            .1;
        assert_eq!(s["handle"]["remote_workspace"], format!("runplz-runs/{id}"));
    }
    // Each run's copy went with it; the shared tree stays for the next incremental sync.
    assert_eq!(b.ssh("ls -A runplz-runs | wc -l").trim(), "0");
    assert_eq!(b.ssh("stat -c %a runplz-runs").trim(), "700");
    assert_eq!(b.ssh("cat runplz/t/code.txt").trim(), "B");
}

#[test]
fn syncs_with_snapshots_at_once_each_copy_exactly_what_they_shipped() {
    // Without the box's lock one sync's files (or deletions) land between another's sync and
    // its copy. Each checkout has its own code.txt and its own f<i>.txt; the manifest
    // deletes the other checkouts' f*.txt from the shared folder.
    let b = SshBox::start();
    let dirs: Vec<_> = (0..6)
        .map(|i| {
            let d = checkout(&format!("{i}"), "true");
            for k in 0..20 {
                std::fs::write(d.path().join(format!("f{i}-{k}.txt")), "x").unwrap();
            }
            d
        })
        .collect();
    let kids: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            bin_cmd("rp-sync")
                .current_dir(d.path())
                .args(["up", "--dest", "runplz/t", "--snapshot"])
                .arg(format!("runplz-runs/s{i}"))
                .args(b.tool_args())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(!stderr(&out).contains("not locked"), "{}", stderr(&out));
    }
    for i in 0..6 {
        assert_eq!(
            b.ssh(&format!("cat runplz-runs/s{i}/code.txt")),
            format!("{i}")
        );
        let files = b.ssh(&format!(
            "ls -A runplz-runs/s{i} | grep '^f' | cut -d- -f1 | sort -u"
        ));
        assert_eq!(
            files.trim(),
            format!("f{i}"),
            "copy {i} holds another sync's files"
        );
        assert_eq!(
            b.ssh(&format!(
                "ls -A runplz-runs/s{i} | grep -c manifest || true"
            ))
            .trim(),
            "0"
        );
    }
    // An existing snapshot is never overwritten.
    let out = bin_cmd("rp-sync")
        .current_dir(dirs[0].path())
        .args(["up", "--dest", "runplz/t", "--snapshot", "runplz-runs/s1"])
        .args(b.tool_args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(b.ssh("cat runplz-runs/s1/code.txt"), "1");
}

#[test]
fn a_run_after_killed_runs_runs_its_own_code() {
    let b = SshBox::start();
    let state = shm_tempdir();
    let d = checkout("old", "cat code.txt > \"$RUNPLZ_OUT/code.txt\"; sleep 300");
    let start = || {
        let mut c = runplz(d.path(), state.path(), &["ssh", "job.json"]);
        c.args(b.tool_args())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    };
    // Killed while it holds the box's sync lock (a lock file `flock -n` cannot take), then
    // killed while the job runs: neither may hold up the next run.
    let mut first = start();
    // Watched on the box itself: an ssh call per look is slower than the lock is held.
    let watch = "for i in $(seq 6000); do for f in ~/.runplz/locks/sync-*; do [ -e \"$f\" ] && ! flock -n \"$f\" true && exit 0; done; sleep 0.01; done; exit 1";
    assert_eq!(
        b.ssh_raw(watch).status.code(),
        Some(0),
        "the sync lock was never taken"
    );
    first.kill().unwrap(); // SIGKILL: no clean-up of ours runs
    first.wait().unwrap();
    // Its state says where its copy of the code is (or would have been).
    let s = &states(state.path())[0].1;
    let id = s["run_id"].as_str().unwrap();
    assert_eq!(s["handle"]["remote_workspace"], format!("runplz-runs/{id}"));
    let mut second = start();
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.ssh_raw("test -f runplz-out/t-*/code.txt").status.code() != Some(0) {
        assert!(Instant::now() < deadline, "the second job never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    second.kill().unwrap();
    second.wait().unwrap();
    std::fs::write(d.path().join("code.txt"), "new").unwrap();
    std::fs::write(
        d.path().join("job.json"),
        native_job("cat code.txt > \"$RUNPLZ_OUT/code.txt\""),
    )
    .unwrap();
    let mut c = runplz(d.path(), state.path(), &["ssh", "job.json"]);
    c.args(b.tool_args());
    let out = run_expect(&mut c, 0);
    let id = json(&out)["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(d.path().join("out/code.txt")).unwrap(),
        "new"
    );
    // The killed job still runs in its own copy, with its own code; this run's copy is gone.
    let left = b.ssh("ls runplz-runs");
    assert!(!left.contains(&id), "{left}");
    let killed = left.lines().next().unwrap_or_default().to_string();
    assert_eq!(b.ssh(&format!("cat runplz-runs/{killed}/code.txt")), "old");
}
