//! `runplz slurm`: a Slurm cluster, through its login node (`--host LOGIN_NODE` over ssh, or
//! `--host local` when runplz runs on the login node). The repo goes to the shared home as
//! for `runplz ssh` (or, locally, stays where it is), the venv is set up on the login node,
//! and the job is submitted with `sbatch` and waited for (see `crate::slurm`).

use super::{Backend, Kind, Place, PlanPlace, Program, RSYNC, SSH};
use crate::job::{Job, JobError, Settings};
use crate::quote::sh;
use crate::ssh::Target;
use crate::state::RunState;
use crate::steps::{self, Collect, Command, Launch, Prepared, Step, Steps, Workdir};
use anyhow::Result;
use std::path::PathBuf;

/// `runplz slurm`'s own flags.
#[derive(Debug, Clone)]
pub struct SlurmArgs {
    /// The login node, as `[user@]host[:port]` or an ssh-config alias; `local` for this machine.
    pub host: String,
    /// `--ssh-config`.
    pub ssh_config: Option<PathBuf>,
    /// `--nodes`: beats the job's `slurm.nodes`.
    pub nodes: Option<u32>,
    /// A sweep's arg sets to run as one job array (the sweep's own file; see
    /// `crate::slurm::array`).
    pub array: Option<PathBuf>,
    /// `--detach`: return once the job is submitted.
    pub detach: bool,
}

pub(super) struct Slurm(pub(super) SlurmArgs);

const SBATCH: Program = Program {
    name: "sbatch",
    hint: "run runplz on the cluster's login node (Slurm's client tools: apt-get install slurm-client), or pass --host LOGIN_NODE",
};

pub(super) fn rules(job: &Job, s: &Settings) -> Result<(), JobError> {
    super::mode_rules(job, s, "slurm", "Slurm jobs run natively on the nodes")?;
    crate::slurm::rules(job)
}

impl Slurm {
    fn local(&self) -> bool {
        self.0.host == "local"
    }

    fn nodes(&self, job: &Job) -> u32 {
        self.0
            .nodes
            .or_else(|| job.spec.slurm.nodes.and_then(|n| u32::try_from(n).ok()))
            .unwrap_or(1)
    }
}

impl Backend for Slurm {
    fn kind(&self) -> Kind {
        Kind::Slurm
    }

    fn check_job(&self, job: &Job, settings: &Settings) -> Result<(), JobError> {
        rules(job, settings)
    }

    fn unused_settings(&self, job: &Job) -> Vec<String> {
        crate::slurm::unused_settings(job)
    }

    fn check_args(&self) -> Result<()> {
        if self.0.nodes == Some(0) {
            return Err(crate::error::CliError::usage(
                "--nodes: found 0, expected a whole number of nodes, 1 or more",
            ));
        }
        if self.0.detach && self.0.array.is_some() {
            return Err(crate::error::CliError::usage(
                "--detach: a sweep waits for its members; run them without --sweep to detach each",
            ));
        }
        if self.local() {
            if self.0.ssh_config.is_some() {
                return Err(crate::error::CliError::usage(
                    "--ssh-config is for a login node reached over ssh, not --host local",
                ));
            }
            return Ok(());
        }
        Target::parse(&self.0.host).map(|_| ())
    }

    fn programs(&self, _s: &Settings) -> Vec<Program> {
        if self.local() {
            vec![SBATCH]
        } else {
            vec![SSH, RSYNC]
        }
    }

    fn steps(&self, p: &Prepared) -> Result<Steps> {
        let nodes = self.nodes(&p.job);
        let name = p.job.name();
        let mut list = Vec::new();
        let (ship, out_expr, venv, collect) = if self.local() {
            // On the login node itself the repo is already on the shared file system.
            (
                Workdir::At(p.job.ship_root.display().to_string()),
                sh(&p.outputs.display().to_string()),
                sh(&steps::local_venv(p).display().to_string()),
                Collect::CountLocal,
            )
        } else {
            list.push(Step::Sync {
                dest: crate::sync::default_dest(name),
                runs: steps::BOX_RUNS.into(),
            });
            (
                Workdir::InRun(String::new()),
                format!("\"$HOME/{}/$RUNPLZ_RUN_ID\"", steps::BOX_OUTPUTS),
                steps::remote_venv(name),
                Collect::Rsync {
                    parent: steps::BOX_OUTPUTS.into(),
                },
            )
        };
        // The venv lives in the shared home: set up once on the login node, used by every node.
        list.push(steps::venv_step(
            Some(ship.join(&p.job.job_rel)),
            &venv,
            self.local(),
        ));
        let workdir = Some(ship.join(&p.job.workdir));
        // A sweep's members: one command each, writing to its own outputs folder.
        let array = p
            .array
            .iter()
            .flat_map(|a| &a.members)
            .map(|m| crate::slurm::array::Task {
                run_id: m.run_id.clone(),
                outputs: m.outputs.clone(),
                command: Command {
                    workdir: workdir.clone(),
                    argv: steps::bash_c(steps::native_run_script_of(
                        &m.run,
                        &if self.local() {
                            sh(&m.outputs.display().to_string())
                        } else {
                            out_expr.clone()
                        },
                        &venv,
                        !self.local(),
                    )),
                    stdin: None,
                },
            })
            .collect();
        list.push(Step::Job {
            command: Command {
                workdir,
                argv: steps::bash_c(steps::native_run_script(p, &out_expr, &venv, !self.local())),
                stdin: None,
            },
            launch: Launch::Submitted {
                nodes,
                array,
                detach: self.0.detach,
            },
            cleanup: None,
        });
        list.push(Step::Collect(collect));
        Ok(Steps {
            mode: p.settings.mode,
            list,
            outputs: p.outputs.clone(),
            tag: steps::tag(&p.job),
        })
    }

    fn target(&self) -> Option<String> {
        Some(self.0.host.clone())
    }

    fn acquire(&self, p: &Prepared, _state: &mut RunState) -> Result<Place> {
        if self.local() {
            return Ok(Place::Here);
        }
        Ok(Place::Box(super::ssh::connect(
            &self.0.host,
            p,
            self.0.ssh_config.as_deref(),
            // A kept connection is runplz ssh's edit-run loop; a Slurm run closes its own.
            None,
        )?))
    }

    fn release_policy(&self) -> &'static str {
        if self.local() {
            "none"
        } else {
            "close"
        }
    }

    fn release(&self, place: &Place) -> Result<()> {
        if let Some(ssh) = place.ssh() {
            ssh.close();
        }
        Ok(())
    }

    fn plan_place(&self, _p: &Prepared) -> Result<PlanPlace> {
        Err(crate::error::CliError::usage(
            "--plan: runplz slurm has no plan script yet (its submit-and-wait has no rp-* tool)",
        ))
    }
}
