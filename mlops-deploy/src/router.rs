//! Traffic between variants: one default arm (`stable`) that takes what the others do
//! not, weighted arms (`canary`, ...) and an optional `shadow` that gets a copy.
//!
//! A [`Routing`] is immutable: a weight change or a model swap builds a new one and
//! replaces it whole, and a request holds the one it started with to the end. So a
//! request is answered entirely by one model, never by a mix, and nothing waits for a
//! swap. Each arm carries counters ([`ArmStats`]) that a rollout judge reads.
//!
//! Splitting maps a request key to a point `u` in [0, 1): arms own consecutive slices of
//! that interval in order, by weight, and the default arm the rest. With a sticky key
//! (a header or a request field) `u` is a hash of its value, so the same user stays on
//! one arm while the weights stay, and raising a canary's weight only moves users from
//! the default arm to the canary, never back. Without one, `u` comes from a counter
//! mixed by SplitMix64: an even spread with no shared random state.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::served::ServedModel;
use crate::{Error, Result};

/// The name of the default arm.
pub const STABLE: &str = "stable";
/// The name of the mirrored arm.
pub const SHADOW: &str = "shadow";

/// Where a sticky routing key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyKey {
    /// A request header (e.g. `X-User-Id`).
    Header(String),
    /// An input field of the request's first row (e.g. `user_id`).
    Field(String),
}

/// Counters of one arm (variant × model version), only ever growing.
#[derive(Debug, Default)]
pub struct ArmCounters {
    requests: AtomicU64,
    server_errors: AtomicU64,
    client_errors: AtomicU64,
    rows: AtomicU64,
    latency_ns: AtomicU64,
    latency_sq_us2: AtomicU64,
    /// Requests per latency bucket ([`crate::metrics::LATENCY_BUCKETS`], then above
    /// the last bound).
    latency_buckets: [AtomicU64; LATENCY_SLOTS],
    /// Business outcomes the application reported for this arm's answers.
    pub(crate) outcomes: crate::outcome::ArmOutcomes,
}

/// Latency buckets of an arm: the histogram's bounds plus one above them.
const LATENCY_SLOTS: usize = crate::metrics::LATENCY_BUCKETS.len() + 1;

impl ArmCounters {
    pub(crate) fn record(&self, status: u16, rows: usize, seconds: f64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        } else if status >= 400 {
            self.client_errors.fetch_add(1, Ordering::Relaxed);
        }
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.latency_ns
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
        let us = seconds * 1e6;
        self.latency_sq_us2
            .fetch_add((us * us) as u64, Ordering::Relaxed);
        let slot = crate::metrics::LATENCY_BUCKETS.partition_point(|&b| b < seconds);
        self.latency_buckets[slot].fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of one arm's counters: what a judge compares between arms.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ArmStats {
    /// Variant name.
    pub variant: String,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Requests answered (any status).
    pub requests: u64,
    /// Requests answered 5xx (the model failed).
    pub server_errors: u64,
    /// Requests answered 4xx (bad input).
    pub client_errors: u64,
    /// Input rows predicted.
    pub rows: u64,
    /// Sum of whole-request latencies, seconds.
    pub latency_sum_s: f64,
    /// Sum of squared latencies, seconds² (for a variance).
    pub latency_sq_sum_s2: f64,
    /// Requests per latency bucket: `latency_buckets[i]` counts latencies in
    /// (`LATENCY_BUCKETS[i-1]`, `LATENCY_BUCKETS[i]`] of [`crate::metrics::LATENCY_BUCKETS`],
    /// the last entry those above its last bound.
    pub latency_buckets: Vec<u64>,
}

impl ArmStats {
    /// Requests slower than `seconds`, which must be one of
    /// [`crate::metrics::LATENCY_BUCKETS`] (`None` otherwise): what a latency guardrail
    /// ("at most 1% slower than 250 ms") counts.
    pub fn slower_than(&self, seconds: f64) -> Option<u64> {
        let i = crate::metrics::bound_index(seconds)?;
        Some(self.latency_buckets.iter().skip(i + 1).sum())
    }
}

/// One variant: a name, a model, a weight, counters.
#[derive(Debug, Clone)]
pub struct Arm {
    /// Variant name.
    pub name: String,
    /// The model.
    pub model: ServedModel,
    /// Share of traffic in [0, 1] (the default arm's is what is left).
    pub weight: f64,
    pub(crate) counters: Arc<ArmCounters>,
}

/// What a variant is now (for [`crate::ServerHandle::variants`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VariantInfo {
    /// Variant name.
    pub name: String,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Share of traffic (shadow: 1, it sees every request).
    pub weight: f64,
}

/// An immutable routing table.
#[derive(Debug, Clone)]
pub struct Routing {
    /// The default arm (`stable`), then weighted arms in the order they were added.
    pub arms: Vec<Arm>,
    /// The mirrored arm.
    pub shadow: Option<Arm>,
}

/// SplitMix64: a full-period mix of a counter.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a of bytes, then mixed: the hash of a sticky key (stable across processes and
/// versions, unlike std's hasher).
pub fn sticky_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix64(h)
}

impl Routing {
    /// The arm a key selects.
    pub fn choose(&self, key: u64) -> &Arm {
        // 53 random bits -> [0, 1).
        let u = (key >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        for arm in self.arms.iter().skip(1) {
            acc += arm.weight;
            if u < acc {
                return arm;
            }
        }
        &self.arms[0]
    }

    /// Every variant with its model and weight.
    pub fn variants(&self) -> Vec<VariantInfo> {
        let others: f64 = self.arms.iter().skip(1).map(|a| a.weight).sum();
        let mut out: Vec<VariantInfo> = self
            .arms
            .iter()
            .enumerate()
            .map(|(i, a)| VariantInfo {
                name: a.name.clone(),
                model: a.model.name().to_string(),
                version: a.model.version().to_string(),
                weight: if i == 0 {
                    (1.0 - others).max(0.0)
                } else {
                    a.weight
                },
            })
            .collect();
        if let Some(s) = &self.shadow {
            out.push(VariantInfo {
                name: s.name.clone(),
                model: s.model.name().to_string(),
                version: s.model.version().to_string(),
                weight: 1.0,
            });
        }
        out
    }
}

/// (variant, model, version): what an arm's counters are kept by.
type ArmKey = (String, String, String);

/// Keeps arm counters per (variant, model, version), so a swap starts a new series and
/// a swap back continues the old one.
#[derive(Debug, Default)]
pub(crate) struct CounterBook {
    entries: Mutex<Vec<(ArmKey, Arc<ArmCounters>)>>,
}

impl CounterBook {
    pub(crate) fn arm(&self, name: &str, model: ServedModel, weight: f64) -> Arm {
        let key = (
            name.to_string(),
            model.name().to_string(),
            model.version().to_string(),
        );
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let counters = match entries.iter().find(|(k, _)| *k == key) {
            Some((_, c)) => c.clone(),
            None => {
                let c = Arc::new(ArmCounters::default());
                entries.push((key, c.clone()));
                c
            }
        };
        Arm {
            name: name.to_string(),
            model,
            weight,
            counters,
        }
    }

    pub(crate) fn stats(&self) -> Vec<ArmStats> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .map(|((variant, model, version), c)| ArmStats {
                variant: variant.clone(),
                model: model.clone(),
                version: version.clone(),
                requests: c.requests.load(Ordering::Relaxed),
                server_errors: c.server_errors.load(Ordering::Relaxed),
                client_errors: c.client_errors.load(Ordering::Relaxed),
                rows: c.rows.load(Ordering::Relaxed),
                latency_sum_s: c.latency_ns.load(Ordering::Relaxed) as f64 / 1e9,
                latency_sq_sum_s2: c.latency_sq_us2.load(Ordering::Relaxed) as f64 / 1e12,
                latency_buckets: c
                    .latency_buckets
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect(),
            })
            .collect()
    }

    /// The counters of every arm of `variant` that served `version` (any model).
    pub(crate) fn find(&self, variant: &str, version: &str) -> Vec<Arc<ArmCounters>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .filter(|((v, _, ver), _)| v == variant && ver == version)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// The outcome sums of every arm, one entry per (arm, metric).
    pub(crate) fn outcome_stats(&self) -> Vec<crate::outcome::OutcomeStats> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .flat_map(|((variant, model, version), c)| {
                c.outcomes
                    .snapshot()
                    .into_iter()
                    .map(move |(metric, sums)| crate::outcome::OutcomeStats {
                        variant: variant.clone(),
                        model: model.clone(),
                        version: version.clone(),
                        metric,
                        sums,
                    })
            })
            .collect()
    }
}

/// Checks a weight and the sum of the weighted arms.
pub(crate) fn check_weights(routing: &Routing) -> Result<()> {
    let mut sum = 0.0;
    for a in routing.arms.iter().skip(1) {
        if !(0.0..=1.0).contains(&a.weight) || a.weight.is_nan() {
            return Err(Error::config(
                "weight",
                format!(
                    "variant {:?}: weight {} is not within [0, 1]",
                    a.name, a.weight
                ),
            ));
        }
        sum += a.weight;
    }
    if sum > 1.0 + 1e-9 {
        return Err(Error::config(
            "weight",
            format!("the variants' weights add up to {sum}, more than 1"),
        ));
    }
    Ok(())
}

/// Validates a variant name for use next to `stable` and `shadow`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::config(
            "variant",
            format!("variant name {name:?}: 1 to 64 of [A-Za-z0-9_-]"),
        ));
    }
    Ok(())
}
