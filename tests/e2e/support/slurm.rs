//! A real throw-away Slurm 22.05 cluster (munged, slurmctld, two slurmd nodes with two fake
//! GPUs each, proctrack/cgroup where the machine has cgroup v1), started once per test
//! binary by `slurm-cluster.sh` (the project's tested Slurm recipe) and stopped by a keeper
//! process when this test binary is gone, even after a kill -9. Client commands need
//! `SLURM_CONF` ([`Cluster::conf`]); nothing under /etc is touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The running cluster.
pub struct Cluster {
    /// Its folder (config, state, logs, munge key).
    pub dir: PathBuf,
}

impl Cluster {
    /// The `SLURM_CONF` every client command needs.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("etc/slurm.conf")
    }

    /// An ssh box as a login node of this cluster: its user's environment names the cluster,
    /// as /etc/slurm/slurm.conf would.
    pub fn login_node(&self) -> super::SshBox {
        let b = super::SshBox::start_with("PermitUserEnvironment yes", false);
        let env = b.home.join(".ssh/environment");
        std::fs::write(&env, format!("SLURM_CONF={}\n", self.conf().display())).unwrap();
        let o = Command::new("chown")
            .arg(&b.user)
            .arg(&env)
            .output()
            .unwrap();
        assert!(o.status.success());
        b
    }

    /// A Slurm client command (`squeue`, `scontrol`...) against this cluster.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.conf());
        c
    }

    /// `squeue -h -t all -o FORMAT` for every job the controller still knows.
    pub fn squeue(&self, format: &str) -> String {
        let o = self
            .cmd("squeue")
            .args(["-h", "-t", "all", "-o", format])
            .output()
            .expect("squeue");
        assert!(
            o.status.success(),
            "squeue: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// The cluster, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(start)
}

fn start() -> Cluster {
    for p in ["slurmctld", "slurmd", "munged", "sbatch"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {p}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "{p} is missing: scripts/test installs slurm-wlm and munge (apt-get install slurm-wlm munge)"
        );
    }
    // Twice at most: a first bring-up under the whole suite's load has been seen to leave
    // a node unregistered; a second cluster (its own ports and folder) then came up. What
    // the first said goes to stderr.
    match bring_up() {
        Ok(c) => c,
        Err(why) => {
            eprintln!("the test Slurm cluster did not come up; trying once more:\n{why}");
            bring_up()
                .unwrap_or_else(|why| panic!("the test Slurm cluster did not come up:\n{why}"))
        }
    }
}

/// One cluster in a folder of its own, its keeper started; what went wrong where it did not
/// come up (its log lines).
fn bring_up() -> Result<Cluster, String> {
    let dir = tempfile::Builder::new()
        .prefix("rpt-slurm-")
        .tempdir_in(if Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        })
        .expect("tempdir")
        .keep();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/support/slurm-cluster.sh");
    let pid = std::process::id();
    // Node names carry our pid: cgroup folders are named per node, machine-wide.
    let prefix = format!("p{pid}");
    let keeper = format!(
        "s={s}; w={w}; if \"$s\" up \"$w\" {prefix} >\"$w/up.log\" 2>&1; then touch \"$w/ready\"; else touch \"$w/failed\"; fi; \
         while kill -0 {pid} 2>/dev/null; do sleep 1; done; \"$s\" down \"$w\" >/dev/null 2>&1; rm -rf \"$w\"",
        s = shq(&script),
        w = shq(&dir),
    );
    // Its own session: a Ctrl-C to the tests does not stop the cluster under them. Never
    // waited for: it outlives this process on purpose, to stop the cluster after it.
    #[allow(clippy::zombie_processes)]
    Command::new("setsid")
        .args(["bash", "-c", &keeper])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the slurm keeper");
    let deadline = Instant::now() + Duration::from_secs(150);
    while !dir.join("ready").exists() {
        if dir.join("failed").exists() || Instant::now() >= deadline {
            let tail = |f: &str| {
                let t = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                let lines: Vec<&str> = t.lines().collect();
                format!(
                    "--- {f}\n{}",
                    lines[lines.len().saturating_sub(8)..].join("\n")
                )
            };
            let logs = ["up.log", "log/slurmctld.log"]
                .into_iter()
                .map(String::from)
                .chain((1..=2).map(|n| format!("log/slurmd-{prefix}n{n}.log")))
                .map(|f| tail(&f))
                .collect::<Vec<_>>()
                .join("\n");
            // Stopped before another is tried: the same node names, the same cgroups.
            let _ = Command::new(&script)
                .arg("down")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            return Err(logs);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Cluster { dir })
}

fn shq(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}
