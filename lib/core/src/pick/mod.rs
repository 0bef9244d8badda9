//! Picking a Brev instance type: the cheapest offer that meets every constraint, refined by
//! availability. Offers come from `brev search --json` ([`search`]) or a catalog in the same
//! shape ([`offers_from_json`]).
//!
//! The rule ([`pick`]): drop offers from excluded providers ([`excluded`]), keep those that
//! meet every [`Constraints`] field, sort by price. The band is every match priced at most 5%
//! above the cheapest (inclusive, compared in whole micro-dollars so 2.00 → 2.10 is in);
//! inside it the lowest availability hint wins: `boot_time_seconds` (0 = unknown), else
//! `estimated_start_seconds`, `eta_seconds`, `eta_s`, `queue_wait_seconds`,
//! `availability_rank` (the first field any band offer knows is the one compared; offers
//! without it rank after those with it). No hint: plain cheapest. Ties go to the cheaper,
//! then the type name, then the provider, then catalog order. The ranked list is the band in
//! that order, then the rest by price. No match: a [`NoMatch`] that says which constraint
//! ruled out how many offers, and the nearest misses.

mod nomatch;
mod offer;
mod search;

pub use nomatch::{Miss, NoMatch, Step};
pub use offer::{for_each_offer, offers_from_json, parse_size_gb, Offer, HINT_FIELDS};
#[cfg(test)]
mod tests;

pub use search::{run as run_search, search, search_args, Search};

use crate::job::Job;
#[cfg(doc)]
use crate::probe::gpu_matches;
use runplz_protocol as wire;
use std::cmp::Ordering;

/// The band: offers priced at most this many percent above the cheapest.
pub const BAND_PERCENT: u64 = 5;

/// The default `brev.exclude_providers`.
pub const DEFAULT_EXCLUDED: &[&str] = &["oci"];

/// The default `brev.instance_type_fallback_count`: how many types the ranked list holds.
pub const DEFAULT_TOP: usize = 3;

/// What the box must have. Sizes in GB, price in USD per hour. `None` is "any".
#[derive(Debug, Clone, PartialEq)]
pub struct Constraints {
    /// GPU model, matched by name words ignoring case (`A100` matches `A100`, not `A10`).
    pub gpu: Option<String>,
    /// At least this many GPUs (1 when a model or VRAM is asked and this is unset).
    pub num_gpus: Option<u32>,
    /// At least this many vCPUs.
    pub min_cpu: Option<f64>,
    /// At least this much RAM.
    pub min_ram_gb: Option<f64>,
    /// At least this much VRAM per GPU.
    pub min_vram_gb: Option<f64>,
    /// A disk of at least this size can be had (compared with the type's largest disk).
    pub min_disk_gb: Option<f64>,
    /// At most this price.
    pub max_price: Option<f64>,
    /// Only providers whose name contains this, ignoring case (as `brev search --provider`).
    pub provider: Option<String>,
    /// Provider prefixes never picked (see [`excluded`]).
    pub exclude_providers: Vec<String>,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints {
            gpu: None,
            num_gpus: None,
            min_cpu: None,
            min_ram_gb: None,
            min_vram_gb: None,
            min_disk_gb: None,
            max_price: None,
            provider: None,
            exclude_providers: DEFAULT_EXCLUDED.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Constraints {
    /// The job's `resources` (gpu, num_gpus, min_cpu, min_memory, min_gpu_memory, min_disk)
    /// and `brev.exclude_providers` (default `["oci"]`).
    pub fn from_job(job: &Job) -> Constraints {
        let r = &job.spec.resources;
        Constraints {
            gpu: r.gpu.clone(),
            num_gpus: r.num_gpus.map(|n| n.clamp(0, u32::MAX as i64) as u32),
            min_cpu: r.min_cpu,
            min_ram_gb: r.min_memory,
            min_vram_gb: r.min_gpu_memory,
            min_disk_gb: r.min_disk,
            max_price: None,
            provider: None,
            exclude_providers: job
                .spec
                .brev
                .exclude_providers
                .clone()
                .unwrap_or_else(|| Constraints::default().exclude_providers),
        }
    }

    /// Each value set in `self` (the flags) wins over `base`'s (the job). The excluded
    /// providers are `base`'s: no flag sets them.
    pub fn or(self, base: Constraints) -> Constraints {
        Constraints {
            gpu: self.gpu.or(base.gpu),
            num_gpus: self.num_gpus.or(base.num_gpus),
            min_cpu: self.min_cpu.or(base.min_cpu),
            min_ram_gb: self.min_ram_gb.or(base.min_ram_gb),
            min_vram_gb: self.min_vram_gb.or(base.min_vram_gb),
            min_disk_gb: self.min_disk_gb.or(base.min_disk_gb),
            max_price: self.max_price.or(base.max_price),
            provider: self.provider.or(base.provider),
            exclude_providers: base.exclude_providers,
        }
    }

    /// How many GPUs are needed: `num_gpus`, else 1 when a model or VRAM is asked.
    pub fn gpus_needed(&self) -> Option<u32> {
        self.num_gpus
            .or((self.gpu.is_some() || self.min_vram_gb.is_some()).then_some(1))
    }

    /// Whether the job needs a GPU at all (else a CPU search is enough).
    pub fn wants_gpu(&self) -> bool {
        self.gpus_needed().is_some_and(|n| n > 0)
    }
}

/// Whether `prefix` excludes this offer: its provider, cloud or type equals the prefix, or
/// starts with it followed by `.`, `_` or `-`, ignoring case (`oci`, `OCI.x`, `oci_y` and
/// `oci-z` are out; `ocifoo` stays).
pub fn excluded(offer: &Offer, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| {
        let p = p.trim();
        !p.is_empty()
            && [
                Some(offer.provider.as_str()),
                offer.cloud.as_deref(),
                Some(offer.instance_type.as_str()),
            ]
            .into_iter()
            .flatten()
            .any(|s| has_prefix(s, p))
    })
}

fn has_prefix(s: &str, p: &str) -> bool {
    s.len() >= p.len()
        && s.is_char_boundary(p.len())
        && s[..p.len()].eq_ignore_ascii_case(p)
        && matches!(s[p.len()..].chars().next(), None | Some('.' | '_' | '-'))
}

/// The chosen offer and the ranked fallback list.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    /// The winner (also `ranked[0]`).
    pub chosen: Offer,
    /// The ranked list, the winner first: the band by hint, then the rest by price; each type
    /// once (where it ranks best), at most the `top` asked.
    pub ranked: Vec<Offer>,
    /// How many of `ranked` are inside the band.
    pub in_band: usize,
    /// The hint field (an index into [`HINT_FIELDS`]) that ranked the band, if any.
    pub hint_field: Option<usize>,
    /// Why the winner won, one line.
    pub reason: String,
    /// The cheapest match's price.
    pub cheapest_price: f64,
    /// The band's upper price (cheapest × 1.05).
    pub band_max_price: f64,
    /// How many offers met every constraint.
    pub matched: usize,
    /// How many offers there were.
    pub offers: usize,
}

impl Pick {
    /// The ranked types, the winner first: what `brev create --type` takes, comma-joined.
    pub fn types(&self) -> Vec<String> {
        self.ranked
            .iter()
            .map(|o| o.instance_type.clone())
            .collect()
    }

    /// The record rp-pick prints; `source` says where the offers came from and
    /// `min_disk` is the disk asked for (for the disk size to request).
    pub fn record(&self, source: &str, min_disk: Option<f64>) -> wire::PickRecord {
        let hint = |o: &Offer| {
            self.hint_field.and_then(|f| {
                o.hint(f).map(|value| wire::Hint {
                    field: HINT_FIELDS[f].to_string(),
                    value,
                })
            })
        };
        let c = &self.chosen;
        wire::PickRecord {
            instance_type: c.instance_type.clone(),
            provider: c.provider.clone(),
            cloud: c.cloud.clone(),
            gpu_name: c.gpu().map(str::to_string),
            gpu_count: c.gpus(),
            vram_per_gpu_gb: c.vram_per_gpu_gb,
            total_vram_gb: c.total_vram_gb,
            vcpus: c.vcpus,
            ram_gb: c.ram_gb,
            disk_gb: c.disk_for(min_disk),
            price_per_hour: c.price_per_hour,
            boot_time_seconds: c.hint(0),
            hint: hint(c),
            reason: self.reason.clone(),
            types: self.types(),
            ranked: self
                .ranked
                .iter()
                .enumerate()
                .map(|(i, o)| wire::RankedOffer {
                    instance_type: o.instance_type.clone(),
                    provider: o.provider.clone(),
                    gpu_name: o.gpu().map(str::to_string),
                    gpu_count: o.gpus(),
                    vram_per_gpu_gb: o.vram_per_gpu_gb,
                    vcpus: o.vcpus,
                    ram_gb: o.ram_gb,
                    target_disk_gb: o.disk_for(min_disk),
                    price_per_hour: o.price_per_hour,
                    boot_time_seconds: o.hint(0),
                    hint: hint(o),
                    in_band: i < self.in_band,
                })
                .collect(),
            band_max_price: self.band_max_price,
            matched: self.matched,
            offers: self.offers,
            source: source.to_string(),
        }
    }

    /// A table for people: one row per ranked offer, then the reason.
    pub fn table(&self, min_disk: Option<f64>) -> String {
        let mut rows = vec![[
            "TYPE", "PROVIDER", "GPU", "COUNT", "VRAM", "VCPUS", "RAM", "DISK", "$/HR", "BOOT",
            "BAND",
        ]
        .map(String::from)
        .to_vec()];
        for (i, o) in self.ranked.iter().enumerate() {
            rows.push(vec![
                clean(&o.instance_type).into_owned(),
                clean(&o.provider).into_owned(),
                clean(o.gpu().unwrap_or("-")).into_owned(),
                o.gpus().to_string(),
                num(o.vram_per_gpu_gb),
                num(o.vcpus),
                num(o.ram_gb),
                o.disk_for(min_disk).map(num).unwrap_or_else(|| "-".into()),
                format!("${:.2}", o.price_per_hour),
                o.hint(0)
                    .map(|s| format!("{}s", num(s)))
                    .unwrap_or_else(|| "-".into()),
                if i < self.in_band { "yes" } else { "no" }.to_string(),
            ]);
        }
        let mut t = crate::out::table(&rows);
        t.push_str(&format!(
            "picked {} ({} of {} offers matched): {}\n",
            clean(&self.chosen.instance_type),
            self.matched,
            self.offers,
            clean(&self.reason)
        ));
        t
    }
}

/// Text from an offer made safe for a terminal: control characters (a newline, an escape
/// sequence from a hostile catalog) are shown escaped.
pub(crate) fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// A number without a needless `.0`.
pub(crate) fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{}", (v * 100.0).round() / 100.0)
    }
}

/// A price as people read it: `$2.05/h` (more digits when cents would hide a difference).
pub(crate) fn price(v: f64) -> String {
    if (v * 100.0).fract().abs() < 1e-9 {
        format!("${v:.2}/h")
    } else {
        format!("${}/h", (v * 10_000.0).round() / 10_000.0)
    }
}

/// A price in whole micro-dollars, so the band's boundary is exact.
fn micros(p: f64) -> u64 {
    (p * 1e6).round().max(0.0) as u64
}

/// The constraints an offer fails, in [`nomatch::STEPS`] order.
pub(crate) fn fails<'a>(o: &'a Offer, c: &'a Constraints) -> impl Iterator<Item = Step> + 'a {
    nomatch::STEPS.iter().copied().filter(|s| !s.holds(o, c))
}

/// Pick the best offer and rank up to `top` (at least 1; `usize::MAX` for all).
pub fn pick(offers: &[Offer], c: &Constraints, top: usize) -> Result<Pick, NoMatch> {
    let mut matches: Vec<(usize, &Offer)> = offers
        .iter()
        .enumerate()
        .filter(|(_, o)| nomatch::STEPS.iter().all(|s| s.holds(o, c)))
        .collect();
    if matches.is_empty() {
        return Err(NoMatch::explain(offers, c));
    }
    let by_price = |a: &(usize, &Offer), b: &(usize, &Offer)| -> Ordering {
        micros(a.1.price_per_hour)
            .cmp(&micros(b.1.price_per_hour))
            .then_with(|| a.1.instance_type.cmp(&b.1.instance_type))
            .then_with(|| a.1.provider.cmp(&b.1.provider))
            .then_with(|| a.0.cmp(&b.0))
    };
    matches.sort_by(by_price);
    let cheapest = micros(matches[0].1.price_per_hour);
    let band_len = matches
        .iter()
        .take_while(|(_, o)| micros(o.price_per_hour) * 100 <= cheapest * (100 + BAND_PERCENT))
        .count();
    let hint_field = (0..HINT_FIELDS.len())
        .find(|&f| matches[..band_len].iter().any(|(_, o)| o.hint(f).is_some()));
    if let Some(f) = hint_field {
        // Known hints first, lowest first; the stable sort keeps price order within.
        matches[..band_len].sort_by(|a, b| match (a.1.hint(f), b.1.hint(f)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
    }
    let chosen = matches[0].1.clone();
    let cheapest_price = cheapest as f64 / 1e6;
    let reason = reason(&chosen, cheapest_price, band_len, hint_field, matches.len());
    // brev search prints a row per GPU configuration, so a type can come twice: the
    // fallback chain names each type once, where it ranks best.
    let top = top.max(1);
    let mut seen = std::collections::HashSet::new();
    let (mut ranked, mut in_band) = (Vec::new(), 0);
    for (i, (_, o)) in matches.iter().enumerate() {
        if ranked.len() == top {
            break;
        }
        if seen.insert(o.instance_type.as_str()) {
            ranked.push((*o).clone());
            in_band += usize::from(i < band_len);
        }
    }
    Ok(Pick {
        ranked,
        in_band,
        hint_field,
        reason,
        cheapest_price,
        band_max_price: cheapest as f64 * (100 + BAND_PERCENT) as f64 / 1e8,
        matched: matches.len(),
        offers: offers.len(),
        chosen,
    })
}

fn hint_name(f: usize) -> &'static str {
    match f {
        0 => "boot-time",
        1 => "estimated-start",
        2 | 3 => "ETA",
        4 => "queue-wait",
        _ => "availability-rank",
    }
}

fn hint_value(f: usize, v: f64) -> String {
    if f == 5 {
        num(v)
    } else {
        format!("{} s", num(v))
    }
}

fn reason(
    chosen: &Offer,
    cheapest: f64,
    band_len: usize,
    hint_field: Option<usize>,
    matched: usize,
) -> String {
    let p = chosen.price_per_hour;
    if matched == 1 {
        return format!("the only match: {}", price(p));
    }
    match hint_field {
        None if band_len > 1 => format!(
            "cheapest match: {}; no availability hint among the {band_len} offers in the 5% band",
            price(p)
        ),
        None => format!("cheapest match: {}", price(p)),
        Some(f) if band_len == 1 => format!(
            "cheapest match: {}, alone in the 5% band ({} hint {})",
            price(p),
            hint_name(f),
            chosen
                .hint(f)
                .map(|v| hint_value(f, v))
                .unwrap_or_else(|| "unknown".into())
        ),
        Some(f) => {
            let v = chosen.hint(f).map(|v| hint_value(f, v)).unwrap_or_default();
            if micros(p) == micros(cheapest) {
                format!(
                    "cheapest match, with the lowest {} hint in the 5% band: {v} at {}",
                    hint_name(f),
                    price(p)
                )
            } else {
                format!(
                    "lowest {} hint in the 5% band: {v} at {} vs {}",
                    hint_name(f),
                    price(p),
                    price(cheapest)
                )
            }
        }
    }
}

/// Whether the offer's GPU is the wanted model: [`gpu_matches`]'s rule (every wanted word is
/// a word of the name, ignoring case and punctuation, or the wanted words written together
/// are adjacent name words), without allocating, since it runs once per offer.
pub(crate) fn gpu_ok(o: &Offer, want: &str) -> bool {
    let Some(name) = o.gpu() else {
        return false;
    };
    if words(want).next().is_none() {
        return false;
    }
    if words(want).all(|w| words(name).any(|n| n.eq_ignore_ascii_case(w))) {
        return true;
    }
    // The wanted words joined, against runs of adjacent name words joined.
    let joined = || want.bytes().filter(u8::is_ascii_alphanumeric);
    let starts = words(name).count();
    (0..starts).any(|i| {
        let mut w = joined().peekable();
        for word in words(name).skip(i) {
            for b in word.bytes() {
                match w.next() {
                    Some(x) if x.eq_ignore_ascii_case(&b) => {}
                    _ => return false,
                }
            }
            if w.peek().is_none() {
                return true;
            }
        }
        false
    })
}

/// The words of a GPU name: runs of ASCII letters and digits.
fn words(s: &str) -> impl Iterator<Item = &str> + Clone {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// Whether `needle` occurs in `hay`, ignoring ASCII case (brev's `--provider` rule).
pub(crate) fn contains_ci(hay: &str, needle: &str) -> bool {
    let n = needle.as_bytes();
    n.is_empty()
        || hay
            .as_bytes()
            .windows(n.len())
            .any(|w| w.eq_ignore_ascii_case(n))
}
/// Where offers come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `brev search --json` on PATH.
    Brev,
    /// A file in the same JSON shape; `-` is stdin.
    Catalog(std::path::PathBuf),
}

/// Read a catalog file (`-`: stdin); errors name the file and the JSON path (exit 2).
pub fn read_catalog(path: &std::path::Path) -> anyhow::Result<Vec<Offer>> {
    let text = catalog_text(path)?;
    offers_from_json(&text).map_err(|e| in_catalog(path, e))
}

fn in_catalog(path: &std::path::Path, e: anyhow::Error) -> anyhow::Error {
    crate::CliError::usage(format!("{}: {e}", path.display()))
}

fn catalog_text(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    let shown = path.display().to_string();
    let mut text = String::new();
    let res = if shown == "-" {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text))
    };
    res.map_err(|e| crate::CliError::usage(format!("--catalog {shown}: cannot read it: {e}")))?;
    Ok(text)
}

/// [`pick`] over offers as JSON text, keeping only the matches while reading (10,000 offers
/// need not all be held); on no match the text is read again, whole, to explain.
pub fn pick_json(text: &str, c: &Constraints, top: usize) -> anyhow::Result<Result<Pick, NoMatch>> {
    let mut kept = Vec::new();
    let total = for_each_offer(text, |o| {
        if nomatch::STEPS.iter().all(|s| s.holds(&o, c)) {
            kept.push(o)
        }
    })?;
    Ok(match pick(&kept, c, top) {
        Ok(mut p) => {
            p.offers = total;
            Ok(p)
        }
        Err(_) => Err(NoMatch::explain(&offers_from_json(text)?, c)),
    })
}

/// Offers from `source`, picked under `c`, ranking up to `top`; with the source's name for
/// the record. No match is an error with exit 6 ([`wire::Exit::NoMatch`]) whose message says
/// which constraint ruled out how many offers; when brev's own filters left nothing to
/// explain with, brev is asked again without them.
pub fn find(c: &Constraints, source: &Source, top: usize) -> anyhow::Result<(Pick, String)> {
    let (res, name, filtered) = match source {
        Source::Catalog(p) => {
            let text = catalog_text(p)?;
            let res = pick_json(&text, c, top).map_err(|e| in_catalog(p, e))?;
            (res, p.display().to_string(), None)
        }
        Source::Brev => {
            let s = search_args(c, true);
            let text = search::run_text(&s)?;
            let res = pick_json(&text, c, top).map_err(|e| search::unreadable(&s, e))?;
            (res, s.source.to_string(), Some(s))
        }
    };
    match res {
        Ok(p) => Ok((p, name)),
        Err(mut no) => {
            if let Some(s) = filtered {
                let all = search_args(c, false);
                if all != s {
                    no = match run_search(&all) {
                        Ok(every) => NoMatch::explain(&every, c),
                        Err(_) => no,
                    };
                }
            }
            Err(crate::CliError::new(
                wire::Exit::NoMatch,
                format!("{}: {}", name, no.message),
            ))
        }
    }
}
