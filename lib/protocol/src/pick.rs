//! The `pick` record rp-pick prints: the Brev instance type chosen for a job, flat at the top
//! level, why it won, and the ranked list `brev create --type` falls back through.
use serde::{Deserialize, Serialize};

/// The `pick` record (`"type": "pick"`). The chosen offer's fields sit at the top level
/// (its instance type as `instance_type`, since `type` is the record's tag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickRecord {
    /// The chosen instance type, e.g. `g5.xlarge`.
    pub instance_type: String,
    /// Its provider (`aws`, `gcp`, `lambda-labs`...).
    pub provider: String,
    /// Its cloud (the provider, or the type's prefix for resellers).
    pub cloud: Option<String>,
    /// The GPU model (`A10G`), `null` for a CPU type.
    pub gpu_name: Option<String>,
    /// GPUs per box.
    pub gpu_count: u32,
    /// VRAM per GPU, GB.
    pub vram_per_gpu_gb: f64,
    /// VRAM of all GPUs together, GB.
    pub total_vram_gb: f64,
    /// vCPUs.
    pub vcpus: f64,
    /// RAM, GB.
    pub ram_gb: f64,
    /// The disk size to ask for, GB (the job's `min_disk` when the type's disk is flexible,
    /// else its smallest disk); `null` when the offer does not say.
    pub disk_gb: Option<f64>,
    /// US dollars per hour.
    pub price_per_hour: f64,
    /// Brev's boot-time estimate, seconds; `null` when unknown (brev prints 0).
    pub boot_time_seconds: Option<f64>,
    /// The availability hint that ranked it inside the 5% band, `null` when none did.
    pub hint: Option<Hint>,
    /// Why it won, one line for people.
    pub reason: String,
    /// The ranked instance types, the chosen one first, each once: what `brev create --type`
    /// takes, comma-joined (`--top N` long, or every match with `--all`).
    pub types: Vec<String>,
    /// The same offers in detail, in brev search's own field names (so `jq .ranked` pipes
    /// into `brev create`).
    pub ranked: Vec<RankedOffer>,
    /// The price at or under which an offer is in the 5% band (cheapest × 1.05).
    pub band_max_price: f64,
    /// How many offers met every constraint.
    pub matched: usize,
    /// How many offers were read.
    pub offers: usize,
    /// Where the offers came from: `brev search`, `brev search cpu`, a catalog file's path, or
    /// `-` for stdin.
    pub source: String,
}

/// One ranked offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedOffer {
    /// The instance type (brev's name for it: `type`).
    #[serde(rename = "type")]
    pub instance_type: String,
    /// Its provider.
    pub provider: String,
    /// The GPU model, `null` for a CPU type.
    pub gpu_name: Option<String>,
    /// GPUs per box.
    pub gpu_count: u32,
    /// VRAM per GPU, GB.
    pub vram_per_gpu_gb: f64,
    /// vCPUs.
    pub vcpus: f64,
    /// RAM, GB.
    pub ram_gb: f64,
    /// The disk size to ask for, GB (brev's name: `target_disk_gb`).
    pub target_disk_gb: Option<f64>,
    /// US dollars per hour.
    pub price_per_hour: f64,
    /// Brev's boot-time estimate, seconds; `null` when unknown.
    pub boot_time_seconds: Option<f64>,
    /// Its availability hint, when the ranking used one.
    pub hint: Option<Hint>,
    /// Whether it is priced inside the 5% band.
    pub in_band: bool,
}

/// An availability hint: the offer field it came from and its value (seconds, or a rank
/// for `availability_rank`). Lower is sooner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hint {
    /// `boot_time_seconds`, `estimated_start_seconds`, `eta_seconds`, `eta_s`,
    /// `queue_wait_seconds` or `availability_rank`. An open set.
    pub field: String,
    /// Its value.
    pub value: f64,
}
