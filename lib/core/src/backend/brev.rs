//! `runplz brev`: a Brev box, then the same steps as `runplz ssh`.
//!
//! Acquire: an ephemeral box (no `--instance`) is picked (unless `brev.instance_type` pins
//! the type), named `runplz-<job>-<8 hex>`, written into the run state, created, and waited
//! for; a named box that exists is started if stopped; a named box that does not exist is
//! refused before anything is billed (the typo guard) unless `brev.auto_create_instances`.
//! The box is reached through a per-run ssh config that overrides brev's tty and control
//! master and includes `$HOME/.brev/ssh_config` (see [`crate::brevbox::ssh_config_text`]).
//!
//! Release (once, shielded, on every exit path, also when acquire itself fails after the
//! name was written): an ephemeral box is deleted; a named one gets `on_finish` (stop by
//! default, delete, or leave). A release that fails is a loud warning that names the box
//! and says it may still be billing. One line at the end says what the box cost.

use super::{Backend, Kind, Place, PlanPlace, Program, RSYNC, SSH};
use crate::brevbox::{self, Brev as Cli, CreateMode};
use crate::error::CliError;
use crate::job::spec::OnFinish;
use crate::job::{Base, Job, JobError, Mode, Settings};
use crate::quote::sh;
use crate::ssh::{Ssh, SshOptions, Target};
use crate::state::RunState;
use crate::steps::{Prepared, Steps};
use anyhow::Result;
use runplz_protocol::{Exit, Instance};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TOOL: &str = "runplz";

const BREV: Program = Program {
    name: "brev",
    hint: brevbox::BREV_HINT,
};

/// `runplz brev`'s own flags.
#[derive(Debug, Clone, Default)]
pub struct BrevArgs {
    /// The instance name.
    pub instance: Option<String>,
    /// `--ssh-config`: the user's ssh config, included after brev's.
    pub ssh_config: Option<PathBuf>,
    /// `--detach`: start the job and return; the box stays up (billed) until `runplz
    /// collect` or `runplz kill` releases it as `brev.on_finish` says.
    pub detach: bool,
    /// `--cost-cap-usd`: the run's budget in US dollars, from the start of provisioning.
    pub cost_cap_usd: Option<f64>,
}

/// What happens to the box at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    Delete,
    Stop,
    Leave,
}

impl Release {
    fn of(on_finish: Option<OnFinish>) -> Release {
        match on_finish {
            Some(OnFinish::Delete) => Release::Delete,
            Some(OnFinish::Leave) => Release::Leave,
            _ => Release::Stop,
        }
    }
    fn policy(self) -> &'static str {
        match self {
            Release::Delete => "delete",
            Release::Stop => "stop",
            Release::Leave => "leave",
        }
    }
}

/// The box this run holds, from the moment its name is written.
struct Live {
    name: String,
    created: bool,
    release: Release,
    /// Billing starts at create (or start).
    since: Instant,
    instance_type: Option<String>,
    provider: Option<String>,
    price: Option<f64>,
    /// With a cost cap: the highest price of the types offered to the create, for a box
    /// whose type matches none of them.
    cap_price: Option<f64>,
    /// The per-run ssh config's folder.
    _cfg: Option<tempfile::TempDir>,
    /// Set once released.
    done: Option<Instance>,
}

pub(super) struct Brev {
    args: BrevArgs,
    /// The release policy, known once the job is (for the run state).
    policy: std::sync::OnceLock<Release>,
    live: Mutex<Option<Live>>,
}

impl Brev {
    pub(super) fn new(args: BrevArgs) -> Brev {
        Brev {
            args,
            policy: std::sync::OnceLock::new(),
            live: Mutex::new(None),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stop or delete the box (once), say what it cost, and remember it for the record.
    fn teardown(&self) -> Result<()> {
        let mut g = self.live();
        let Some(live) = g.as_mut() else {
            return Ok(());
        };
        if live.done.is_some() {
            return Ok(());
        }
        let name = live.name.clone();
        let res = match live.release {
            Release::Leave => Ok(String::new()),
            r => Cli::find().map(Cli::for_cleanup).and_then(|cli| {
                if r == Release::Delete {
                    cli.delete(&name)
                } else {
                    cli.stop(&name)
                }
            }),
        };
        let secs = live.since.elapsed().as_secs_f64();
        let what = match &live.instance_type {
            Some(t) => match live.price {
                Some(p) => format!("{t}, ${p:.2}/h"),
                None => t.clone(),
            },
            None => "type unknown".into(),
        };
        let cost = live.price.map(|p| p * secs / 3600.0);
        let (release, billed) = match (&res, live.release) {
            (Err(_), _) => ("failed", Some(secs)),
            (Ok(_), Release::Leave) => ("left", None),
            (Ok(_), Release::Delete) => ("deleted", Some(secs)),
            (Ok(_), Release::Stop) => ("stopped", Some(secs)),
        };
        live.done = Some(Instance {
            name: name.clone(),
            instance_type: live.instance_type.clone(),
            provider: live.provider.clone(),
            price_per_hour: live.price,
            created: live.created,
            release: release.into(),
            billed_seconds: billed.map(|s| (s * 10.0).round() / 10.0),
            cost: cost
                .filter(|_| billed.is_some())
                .map(|c| (c * 100.0).round() / 100.0),
            pod_id: None,
            datacenter: None,
        });
        match res {
            Ok(verified) if live.release == Release::Leave => {
                let _ = verified;
                crate::out::note(
                    TOOL,
                    format!("box {name} ({what}) left running (brev.on_finish: leave): it bills until you stop it with `brev stop {name}`"),
                );
                Ok(())
            }
            Ok(verified) => {
                let cost = cost.map(|c| format!(": about ${c:.2}")).unwrap_or_default();
                crate::out::note(
                    TOOL,
                    format!(
                        "box {name} ({what}) {release} after {}{cost} ({verified})",
                        human(secs)
                    ),
                );
                Ok(())
            }
            Err(e) => {
                let verb = live.release.policy();
                crate::out::warn(
                    TOOL,
                    format!(
                        "BOX {name} WAS NOT {}: {e:#}. It may still be running and billing ({what}): {verb} it with `brev {verb} {name}` and check with `brev ls`",
                        if verb == "delete" { "DELETED" } else { "STOPPED" }
                    ),
                );
                Err(e.context(format!("box {name} may still be billing")))
            }
        }
    }

    /// Acquire's work; on an error after the name was written the caller releases.
    fn bring_up(&self, p: &Prepared, state: &mut RunState) -> Result<Ssh> {
        let cli = Cli::find()?;
        let limit = p
            .settings
            .ssh_ready_wait
            .unwrap_or(Duration::from_secs(1800));
        let release = self.policy.get().copied().unwrap_or(Release::Delete);
        let mode = create_mode(&p.job, &p.settings)?;
        let name = match &self.args.instance {
            Some(n) => {
                brevbox::check_name(n)?;
                let found = cli.get(n)?;
                if found.is_none() && p.job.spec.brev.auto_create_instances != Some(true) {
                    return Err(CliError::usage(format!(
                        "no Brev box named {n:?} (`brev ls` does not list it); nothing was created and nothing is billed. Check the name with `brev ls`, create it with `brev create {n}`, or set \"brev.auto_create_instances\": true in {} to have runplz create it",
                        p.job.origin
                    )));
                }
                self.hold(state, n, found.is_none(), release)?;
                match found {
                    Some(_) => {
                        cli.start(n, limit)?;
                        self.set_type(&cli, n, None)?;
                    }
                    None => {
                        let types = self.types(p, &cli)?;
                        let made = cli.create(n, &types.0, &mode)?;
                        self.set_type(&cli, &made.name, Some(&types.1))?;
                    }
                }
                n.clone()
            }
            None => {
                let types = self.types(p, &cli)?;
                let n = brevbox::ephemeral_name(p.job.name());
                self.hold(state, &n, true, Release::Delete)?;
                if let Some(l) = self.live().as_mut() {
                    l.cap_price = types
                        .1
                        .iter()
                        .filter(|o| types.0.contains(&o.instance_type))
                        .map(|o| o.price_per_hour)
                        .reduce(f64::max);
                }
                crate::out::note(
                    TOOL,
                    format!("creating Brev box {n} ({})...", types.0.join(", ")),
                );
                let made = cli.create(&n, &types.0, &mode)?;
                self.set_type(&cli, &made.name, Some(&types.1))?;
                n
            }
        };
        if self.args.cost_cap_usd.is_some() && self.cost_cap().is_none() {
            anyhow::bail!("--cost-cap-usd: the price of box {name} is not known, so the cap cannot be enforced; the box is released");
        }
        // The type and price, for `runplz ps` and `reconcile` while the box runs.
        let known = self
            .live()
            .as_ref()
            .map(|l| (l.instance_type.clone(), l.price));
        if let Some((t, price)) = known {
            state.update(|r| {
                r.instance_type = t;
                r.price_per_hour = price;
            })?;
        }
        let dir = tempfile::Builder::new()
            .prefix("rp-brev-")
            .tempdir()
            .map_err(|e| anyhow::anyhow!("creating a folder for the box's ssh config: {e}"))?;
        let cfg = dir.path().join("ssh_config");
        let user = crate::ssh::config_from(self.args.ssh_config.as_deref());
        brevbox::write_ssh_config(&cfg, &name, user.as_deref())?;
        if let Some(l) = self.live().as_mut() {
            l._cfg = Some(dir);
        }
        let ssh = Ssh::new(
            Target {
                user: None,
                host: name.clone(),
                port: None,
            },
            SshOptions {
                config: Some(cfg),
                connect_timeout: Some(10),
                ..SshOptions::default()
            },
        )?;
        crate::out::note(TOOL, format!("waiting for box {name} to answer ssh..."));
        cli.wait(&name, limit, || {
            ssh.command("true")
                .timeout(Some(Duration::from_secs(30)))
                .run()
                .is_ok_and(|f| f.status.success())
        })?;
        Ok(ssh)
    }

    /// Write the box into the run state, then hold it for release (before it exists).
    fn hold(
        &self,
        state: &mut RunState,
        name: &str,
        created: bool,
        release: Release,
    ) -> Result<()> {
        state.update(|r| {
            r.handle.instance = Some(name.to_string());
            r.target = Some(name.to_string());
        })?;
        *self.live() = Some(Live {
            name: name.to_string(),
            created,
            release,
            since: Instant::now(),
            instance_type: None,
            provider: None,
            price: None,
            cap_price: None,
            _cfg: None,
            done: None,
        });
        Ok(())
    }

    /// The types to try, best first, and the offers they came from (price, provider).
    fn types(&self, p: &Prepared, _cli: &Cli) -> Result<(Vec<String>, Vec<crate::pick::Offer>)> {
        if let Some(t) = &p.job.spec.brev.instance_type {
            if self.args.cost_cap_usd.is_none() {
                return Ok((vec![t.clone()], Vec::new()));
            }
            // A cap needs the price before the box is made.
            return match price_of(t)? {
                Some(o) => Ok((vec![t.clone()], vec![o])),
                None => Err(CliError::usage(format!(
                    "--cost-cap-usd: brev's catalog has no price for the pinned type {t:?} (\"brev.instance_type\" in {}), so the cap cannot be turned into a deadline; nothing was created",
                    p.job.origin
                ))),
            };
        }
        let top = p
            .job
            .spec
            .brev
            .instance_type_fallback_count
            .unwrap_or(3)
            .clamp(1, 100) as usize;
        let c = crate::pick::Constraints::from_job(&p.job);
        let (pick, _) = crate::pick::find(&c, &crate::pick::Source::Brev, top)?;
        crate::out::note(
            TOOL,
            format!("picked {}: {}", pick.chosen.instance_type, pick.reason),
        );
        Ok((pick.types(), pick.ranked))
    }

    /// What type the box is, from `brev ls`, and its price from the offers, if known.
    fn set_type(
        &self,
        cli: &Cli,
        name: &str,
        offers: Option<&Vec<crate::pick::Offer>>,
    ) -> Result<()> {
        let t = cli
            .get(name)?
            .map(|b| b.instance_type)
            .filter(|t| !t.is_empty());
        let mut offer = offers
            .and_then(|o| o.iter().find(|o| Some(&o.instance_type) == t.as_ref()))
            .cloned();
        if let (None, Some(t)) = (&offer, &t) {
            offer = price_of(t)?;
        }
        if let Some(l) = self.live().as_mut() {
            l.instance_type = t;
            l.provider = offer.as_ref().map(|o| o.provider.clone());
            l.price = offer.map(|o| o.price_per_hour);
        }
        Ok(())
    }
}

/// The catalog's offer for type `t` (a named box, a pinned type), for its price: best
/// effort, as a failed search only leaves the cost unknown; a Ctrl-C still stops the run.
fn price_of(t: &str) -> Result<Option<crate::pick::Offer>> {
    for args in [&["search", "--json"][..], &["search", "cpu", "--json"][..]] {
        let s = crate::pick::Search {
            args: args.iter().map(|a| a.to_string()).collect(),
            source: "brev search",
        };
        match crate::pick::run_search(&s) {
            Ok(offers) => {
                if let Some(o) = offers.into_iter().find(|o| o.instance_type == t) {
                    return Ok(Some(o));
                }
            }
            Err(e) if matches!(crate::error::exit_of(&e, Exit::Failed), Exit::Signal(_)) => {
                return Err(e)
            }
            Err(_) => {}
        }
    }
    Ok(None)
}

/// A duration as people read it (`42s`, `6m12s`, `2h05m`).
pub(crate) fn human(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// How the box is made for these settings.
fn create_mode(job: &Job, s: &Settings) -> Result<CreateMode> {
    match (s.mode, &job.base) {
        (Mode::InPlace, Base::Registry(img)) => Ok(CreateMode::Container(img.clone())),
        (Mode::InPlace, Base::Dockerfile(_)) => Err(CliError::usage(
            "brev container mode needs image.from_registry (set \"brev.mode\": \"vm\" for a Dockerfile)",
        )),
        _ => Ok(CreateMode::Vm),
    }
}

pub(super) fn rules(job: &Job, s: &Settings) -> Result<(), JobError> {
    let dockerfile = matches!(job.base, Base::Dockerfile(_));
    if s.mode == Mode::InPlace && dockerfile {
        return Err(job.error_at(
            "image.from_dockerfile",
            "found a Dockerfile image in brev container mode, expected \"from_registry\": a container-mode box starts from a registry image and runs the steps inline (or set \"brev.mode\": \"vm\")",
        ));
    }
    super::mode_rules(job, s, "brev", "\"brev.use_docker\": false")
}

impl Backend for Brev {
    fn kind(&self) -> Kind {
        Kind::Brev
    }

    fn check_job(&self, job: &Job, settings: &Settings) -> Result<(), JobError> {
        let r = match self.args.instance {
            Some(_) => Release::of(settings.on_finish),
            None => Release::Delete,
        };
        let _ = self.policy.set(r);
        rules(job, settings)
    }

    fn unused_settings(&self, job: &Job) -> Vec<String> {
        let b = &job.spec.brev;
        let mut w = Vec::new();
        if self.args.instance.is_none() {
            if let Some(of) = b.on_finish {
                if of != OnFinish::Delete {
                    w.push(format!("brev.on_finish ({}) applies to a named box (--instance); a box runplz creates for one run is always deleted", serde_json::to_value(of).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()));
                }
            }
            if b.auto_create_instances.is_some() {
                w.push("brev.auto_create_instances applies to a named box (--instance); without one runplz creates a box for the run anyway".into());
            }
        }
        if b.instance_type.is_some() && b.exclude_providers.is_some() {
            w.push("brev.exclude_providers is not used: brev.instance_type pins the type, so nothing is picked".into());
        }
        w
    }

    fn check_args(&self) -> Result<()> {
        if let Some(usd) = self.args.cost_cap_usd {
            super::check_cost_cap(usd)?;
            if let Some(n) = &self.args.instance {
                return Err(CliError::usage(format!(
                    "--cost-cap-usd needs a price per hour known before the box is made, and a named box (--instance {n}) has none; drop --instance (runplz then picks a type with a price) or the cap; nothing was created"
                )));
            }
        }
        match &self.args.instance {
            Some(n) => {
                brevbox::check_name(n).map_err(|e| CliError::usage(format!("--instance: {e:#}")))
            }
            None => Ok(()),
        }
    }

    fn programs(&self, _s: &Settings) -> Vec<Program> {
        vec![BREV, SSH, RSYNC]
    }

    fn steps(&self, p: &Prepared) -> Result<Steps> {
        let steps = crate::steps::on_box(p)?;
        Ok(if self.args.detach {
            crate::steps::detached(steps)
        } else {
            steps
        })
    }

    fn target(&self) -> Option<String> {
        self.args.instance.clone()
    }

    fn announces_acquire(&self) -> bool {
        true
    }

    fn acquire(&self, p: &Prepared, state: &mut RunState) -> Result<Place> {
        super::acquired(self.bring_up(p, state), || self.teardown(), "box")
    }

    fn release_policy(&self) -> &'static str {
        self.policy
            .get()
            .copied()
            .unwrap_or(Release::Delete)
            .policy()
    }

    fn release(&self, place: &Place) -> Result<()> {
        if let Some(ssh) = place.ssh() {
            ssh.close();
        }
        self.teardown()
    }

    fn instance(&self) -> Option<Instance> {
        self.live().as_ref().and_then(|l| l.done.clone())
    }

    fn cost_cap(&self) -> Option<(f64, f64)> {
        let usd = self.args.cost_cap_usd?;
        let price = self.live().as_ref().and_then(|l| l.price.or(l.cap_price))?;
        Some((usd, price))
    }

    fn plan_place(&self, p: &Prepared) -> Result<PlanPlace> {
        let mut lines = vec![
            "# The Brev box: created (or started) for this plan, waited for, reached through an"
                .to_string(),
            "# ssh config that includes brev's; the EXIT trap releases it on every exit path."
                .to_string(),
            "BOXDIR=$(mktemp -d)".to_string(),
        ];
        let release = self.policy.get().copied().unwrap_or(Release::Delete);
        let mode = match create_mode(&p.job, &p.settings)? {
            CreateMode::Container(img) => {
                format!(" --mode container --container-image {}", sh(&img))
            }
            CreateMode::Vm => " --mode vm".to_string(),
        };
        let verb = release.policy();
        match &self.args.instance {
            Some(n) => {
                lines.push(format!("BOX={}", sh(n)));
                lines.push(release_fn(verb));
                lines.push("trap release_place EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP".into());
                lines.push("rp-box start \"$BOX\" > /dev/null".into());
            }
            None => {
                match &p.job.spec.brev.instance_type {
                    Some(t) => lines.push(format!("TYPES={}", sh(t))),
                    None => {
                        lines.push(
                            "TYPES=$(rp-pick --job \"$JOB\" | jq -r '.types | join(\",\")')".into(),
                        );
                        lines.push("[ -n \"$TYPES\" ] || { echo 'plan: rp-pick found no instance type (see above); nothing was created' >&2; exit 6; }".into());
                    }
                }
                let slug = brevbox::ephemeral_name(p.job.name());
                let prefix = &slug[..slug.len() - 8];
                lines.push(format!(
                    "BOX={}\"$(od -An -N4 -tx1 /dev/urandom | tr -d ' \\n')\"",
                    sh(prefix)
                ));
                lines.push(release_fn("delete"));
                lines.push("trap release_place EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; trap 'exit 129' HUP".into());
                lines.push(format!(
                    "rp-box create \"$BOX\" --type \"$TYPES\"{mode} > /dev/null"
                ));
            }
        }
        let wait = p
            .settings
            .ssh_ready_wait
            .map(|d| d.as_secs())
            .unwrap_or(1800);
        let user_cfg = match crate::ssh::config_from(self.args.ssh_config.as_deref()) {
            Some(c) => format!(" --user-ssh-config {}", sh(&c.display().to_string())),
            None => String::new(),
        };
        lines.push(format!(
            "rp-box wait \"$BOX\" --timeout {wait} --ssh-config \"$BOXDIR/ssh_config\"{user_cfg} > /dev/null"
        ));
        lines.push("export RUNPLZ_SSH_CONFIG=\"$BOXDIR/ssh_config\"".into());
        lines.push("HOST=\"$BOX\"".into());
        Ok(PlanPlace {
            lines,
            host_flag: " --host \"$HOST\"".into(),
            release: true,
        })
    }
}

/// The plan's `release_place` function: the box's release, loud when it fails.
fn release_fn(verb: &str) -> String {
    if verb == "leave" {
        return "release_place() { rm -rf \"$BOXDIR\"; echo \"plan: box $BOX left running (brev.on_finish: leave)\" >&2; }".into();
    }
    format!(
        "release_place() {{ trap - EXIT INT TERM HUP; rp-box {verb} \"$BOX\" > /dev/null || echo \"plan: BOX $BOX WAS NOT {}: it may still be billing; run: brev {verb} $BOX\" >&2; rm -rf \"$BOXDIR\"; }}",
        if verb == "delete" { "DELETED" } else { "STOPPED" }
    )
}
