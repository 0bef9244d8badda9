//! One instance type on offer, read from `brev search --json` (an array of objects, fields as
//! facts/brev-cli.md §1.2 lists them). Reading is tolerant: fields it does not know are
//! ignored, any field may be missing or `null`, numbers may come as strings (the API's
//! `base_price.amount` is one), `ram_gb` falls back to `memory` (`"16GiB"`), and the
//! availability hints other catalogs carry (`estimated_start_seconds`, `eta_seconds`,
//! `eta_s`, `queue_wait_seconds`, `availability_rank`) are read beside brev's
//! `boot_time_seconds`.

use crate::error::CliError;
use anyhow::Result;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One instance type on offer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Offer {
    /// The instance type, e.g. `g5.xlarge`.
    #[serde(rename = "type", alias = "instance_type", deserialize_with = "text")]
    pub instance_type: String,
    /// The cloud (`aws`, or a reseller's prefix such as `hyperstack`).
    #[serde(deserialize_with = "opt_text")]
    pub cloud: Option<String>,
    /// The provider.
    #[serde(deserialize_with = "text")]
    pub provider: String,
    /// The GPU model (`A10G`); `None` for a CPU type.
    #[serde(deserialize_with = "opt_text")]
    pub gpu_name: Option<String>,
    /// GPUs per box.
    #[serde(deserialize_with = "num")]
    pub gpu_count: f64,
    /// VRAM per GPU, GB.
    #[serde(deserialize_with = "num")]
    pub vram_per_gpu_gb: f64,
    /// VRAM of all GPUs, GB (GPU count × VRAM when the offer leaves it out).
    #[serde(deserialize_with = "num")]
    pub total_vram_gb: f64,
    /// vCPUs.
    #[serde(deserialize_with = "num")]
    pub vcpus: f64,
    /// Memory as brev prints it (`"16GiB"`).
    #[serde(deserialize_with = "opt_text")]
    pub memory: Option<String>,
    /// RAM, GB.
    #[serde(deserialize_with = "num")]
    pub ram_gb: f64,
    /// The smallest disk, GB.
    #[serde(deserialize_with = "num")]
    pub disk_min_gb: f64,
    /// The largest disk, GB (equal to the smallest for a fixed disk).
    #[serde(deserialize_with = "num")]
    pub disk_max_gb: f64,
    /// The disk brev would create, GB (0: not given).
    #[serde(deserialize_with = "num")]
    pub target_disk_gb: f64,
    /// US dollars per hour.
    #[serde(alias = "price", deserialize_with = "num")]
    pub price_per_hour: f64,
    /// Brev's boot-time estimate, seconds; 0 means unknown.
    #[serde(deserialize_with = "num")]
    pub boot_time_seconds: f64,
    /// Availability hint: estimated seconds to start.
    #[serde(deserialize_with = "opt_num")]
    pub estimated_start_seconds: Option<f64>,
    /// Availability hint: seconds until available.
    #[serde(deserialize_with = "opt_num")]
    pub eta_seconds: Option<f64>,
    /// Availability hint: the same, short name.
    #[serde(deserialize_with = "opt_num")]
    pub eta_s: Option<f64>,
    /// Availability hint: seconds queued before start.
    #[serde(deserialize_with = "opt_num")]
    pub queue_wait_seconds: Option<f64>,
    /// Availability hint: a rank, lower is sooner.
    #[serde(deserialize_with = "opt_num")]
    pub availability_rank: Option<f64>,
}

/// The availability hint fields, in the order they are consulted.
pub const HINT_FIELDS: [&str; 6] = [
    "boot_time_seconds",
    "estimated_start_seconds",
    "eta_seconds",
    "eta_s",
    "queue_wait_seconds",
    "availability_rank",
];

impl Offer {
    /// The hint field `i` of [`HINT_FIELDS`], when this offer knows it. Brev prints 0 for an
    /// unknown boot time; a negative or non-finite value is unknown anywhere.
    pub fn hint(&self, i: usize) -> Option<f64> {
        let v = match i {
            0 => Some(self.boot_time_seconds).filter(|v| *v > 0.0),
            1 => self.estimated_start_seconds,
            2 => self.eta_seconds,
            3 => self.eta_s,
            4 => self.queue_wait_seconds,
            5 => self.availability_rank,
            _ => None,
        };
        v.filter(|v| v.is_finite() && *v >= 0.0)
    }

    /// GPUs per box, as a count.
    pub fn gpus(&self) -> u32 {
        self.gpu_count.max(0.0).min(u32::MAX as f64) as u32
    }

    /// The GPU model, `None` for a CPU type (brev prints `""` or `-` there).
    pub fn gpu(&self) -> Option<&str> {
        self.gpu_name
            .as_deref()
            .filter(|g| !g.is_empty() && *g != "-" && self.gpu_count > 0.0)
    }

    /// The largest disk it can have, GB (the fixed size when it gives no range).
    pub fn disk_max(&self) -> f64 {
        self.disk_max_gb.max(self.disk_min_gb)
    }

    /// The disk to ask for given a minimum, as brev computes `target_disk_gb`: the minimum when
    /// it lies inside a flexible range, else the smallest disk. `None` when unknown.
    pub fn disk_for(&self, min_disk: Option<f64>) -> Option<f64> {
        let (lo, hi) = (self.disk_min_gb, self.disk_max());
        match min_disk {
            Some(m) if m > lo && m <= hi => Some(m),
            Some(_) if lo > 0.0 => Some(lo),
            None if self.target_disk_gb > 0.0 => Some(self.target_disk_gb),
            None if lo > 0.0 => Some(lo),
            _ => None,
        }
    }

    /// Fill what the offer left out but implied: `ram_gb` from `memory`, `total_vram_gb`
    /// from count × VRAM.
    fn complete(&mut self) {
        if self.ram_gb <= 0.0 {
            if let Some(gb) = self.memory.as_deref().and_then(parse_size_gb) {
                self.ram_gb = gb;
            }
        }
        if self.total_vram_gb <= 0.0 {
            self.total_vram_gb = self.gpu_count * self.vram_per_gpu_gb;
        }
    }
}

/// A size as brev prints one (`16GiB`, `24GB`, `1TiB`, `512MiB`) in GB, counting GiB and GB
/// alike and TiB as 1024, as brev does.
pub fn parse_size_gb(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "gb" | "gib" | "g" => 1.0,
        "tb" | "tib" | "t" => 1024.0,
        "mb" | "mib" | "m" => 1.0 / 1024.0,
        _ => return None,
    };
    Some(n * mult)
}

/// Offers from `brev search --json` text (or a catalog in the same shape): a JSON array of
/// offer objects. `null` and blank text are no offers. An offer without a `type` is refused.
/// Errors name the JSON path (`[3].price_per_hour`) and what was found; they are usage errors
/// (exit 2), since a catalog is input.
pub fn offers_from_json(text: &str) -> Result<Vec<Offer>> {
    let mut offers = Vec::new();
    for_each_offer(text, |o| offers.push(o))?;
    Ok(offers)
}

/// Read the offers in `text` one at a time, each checked and completed, handing each to `f`
/// without keeping them (so a caller that keeps only the matches holds only those); returns
/// how many there were. Errors as [`offers_from_json`]'s.
pub fn for_each_offer(text: &str, mut f: impl FnMut(Offer)) -> Result<usize> {
    if text.trim().is_empty() {
        return Ok(0);
    }
    let mut problem: Option<String> = None;
    let mut n = 0usize;
    let res = {
        let mut each = |mut o: Offer| {
            let i = n;
            n += 1;
            if problem.is_some() {
                return;
            }
            if o.instance_type.trim().is_empty() {
                problem = Some(format!(
                    "at [{i}].type: found no instance type, expected a name such as \"g5.xlarge\""
                ));
            } else if !o.price_per_hour.is_finite() || o.price_per_hour < 0.0 {
                problem = Some(format!(
                    "at [{i}].price_per_hour: found {}, expected a price in USD per hour",
                    o.price_per_hour
                ));
            } else {
                o.complete();
                f(o);
            }
        };
        let de = &mut serde_json::Deserializer::from_str(text);
        de::DeserializeSeed::deserialize(Each(&mut each), &mut *de).and_then(|_| de.end())
    };
    if let Some(p) = problem {
        return Err(CliError::usage(p));
    }
    if res.is_err() {
        // Parse again only to say where (slower; the common path stays fast).
        let de = &mut serde_json::Deserializer::from_str(text);
        let err = serde_path_to_error::deserialize::<_, Option<Vec<Offer>>>(de)
            .err()
            .map(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." || path.is_empty() {
                    format!(
                        "{inner}, expected a JSON array of offers as `brev search --json` prints"
                    )
                } else {
                    format!("at {path}: {inner}")
                }
            })
            .unwrap_or_else(|| res.err().map(|e| e.to_string()).unwrap_or_default());
        return Err(CliError::usage(err));
    }
    Ok(n)
}

/// A JSON array (or `null`) of offers, each handed to the closure as it is read.
struct Each<'a, F: FnMut(Offer)>(&'a mut F);

impl<'de, F: FnMut(Offer)> de::DeserializeSeed<'de> for Each<'_, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, F: FnMut(Offer)> Visitor<'de> for Each<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of offers")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(o) = seq.next_element::<Offer>()? {
            (self.0)(o);
        }
        Ok(())
    }
}

/// A number, a string holding one, or `null` (0).
fn num<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(opt_num(d)?.unwrap_or(0.0))
}

/// A number, a string holding one, or `null`.
fn opt_num<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let t = v.trim().trim_start_matches('$');
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<f64>()
                .map(Some)
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_any(V)
}

/// A string, or `null` ("").
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A string; `null` and `""` are `None`.
fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}
