//! Business outcomes reported by the application after an answer: did the user click,
//! convert, how much did they spend. The canary judge's primary metric is one of these;
//! the server can count errors and latency itself, but only the application sees what
//! the user did next.
//!
//! The contract: every prediction answer carries `X-Request-Id`, `X-Variant` and
//! `X-Model-Version` headers. Later the application reports what happened, keyed by
//! the request id (preferred: the server remembers which arm answered the last
//! [`REMEMBERED_ANSWERS`] answered requests, and refuses a second report of the same
//! metric for one request, so a retried report is not counted twice) or by the
//! variant and version it read from the headers (for reports arriving after the id
//! was forgotten; not deduplicated):
//!
//! ```text
//! POST /outcomes
//! {"request_id": "5f1c…-2a", "metric": "click", "value": 1}
//! [{"request_id": "…", "metric": "click", "value": false},
//!  {"variant": "canary", "version": "7", "metric": "revenue", "value": 12.5}]
//! ```
//!
//! `value` is a number or a boolean (true = 1). A proportion metric (click-through,
//! conversion) is reported for every answered request, 1 or 0, so each arm's count of
//! reports is its denominator; a mean metric (revenue per request) likewise with its
//! value. The answer is `{"recorded": N}`; a batch is all or nothing: any bad item
//! (400: malformed or non-finite value; 404: unknown request id, variant or version;
//! 409: already reported) records none, and the error names the item. In process,
//! [`crate::ServerHandle::record_outcomes`] does the same.
//!
//! Counts are kept per arm (variant × model × version), beside the server's own
//! counters, and read with [`crate::ServerHandle::outcome_stats`]; the controller's
//! [`crate::controller::LocalSource`] turns them into the judge's arms.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::router::ArmCounters;
use crate::schema::InputError;

/// How many answered requests the server remembers for reports by request id.
pub const REMEMBERED_ANSWERS: usize = 200_000;

/// One outcome of one answered request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeReport {
    /// The answer's `X-Request-Id` (preferred).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Or: the answer's `X-Variant` …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// … and `X-Model-Version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The metric (`click`, `conversion`, `revenue`): the judge's `metric.name`.
    pub metric: String,
    /// 1/0 (or true/false) for a proportion, the value for a mean.
    #[serde(deserialize_with = "number_or_bool")]
    pub value: f64,
}

impl OutcomeReport {
    /// A report keyed by request id.
    pub fn for_request(
        request_id: impl Into<String>,
        metric: impl Into<String>,
        value: f64,
    ) -> Self {
        Self {
            request_id: Some(request_id.into()),
            variant: None,
            version: None,
            metric: metric.into(),
            value,
        }
    }

    /// A report keyed by the variant and version that answered.
    pub fn for_variant(
        variant: impl Into<String>,
        version: impl Into<String>,
        metric: impl Into<String>,
        value: f64,
    ) -> Self {
        Self {
            request_id: None,
            variant: Some(variant.into()),
            version: Some(version.into()),
            metric: metric.into(),
            value,
        }
    }
}

fn number_or_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Number(f64),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Bool(b) => f64::from(u8::from(b)),
        Raw::Number(x) => x,
    })
}

/// Running sums of one metric on one arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutcomeSums {
    /// Reports.
    pub n: u64,
    /// Sum of the values (successes, for a 0/1 metric).
    pub sum: f64,
    /// Sum of the squared values.
    pub sum_sq: f64,
}

impl OutcomeSums {
    fn add(&mut self, x: f64) {
        self.n += 1;
        self.sum += x;
        self.sum_sq += x * x;
    }
}

/// One metric's sums on one arm (what [`crate::ServerHandle::outcome_stats`] lists).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutcomeStats {
    /// Variant name.
    pub variant: String,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// The metric.
    pub metric: String,
    /// Its sums.
    #[serde(flatten)]
    pub sums: OutcomeSums,
}

/// Per-arm outcome sums, one entry per metric.
#[derive(Debug, Default)]
pub(crate) struct ArmOutcomes {
    sums: Mutex<Vec<(String, OutcomeSums)>>,
}

impl ArmOutcomes {
    fn add(&self, metric: &str, x: f64) {
        let mut sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        match sums.iter_mut().find(|(m, _)| m == metric) {
            Some((_, s)) => s.add(x),
            None => {
                let mut s = OutcomeSums::default();
                s.add(x);
                sums.push((metric.to_string(), s));
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, OutcomeSums)> {
        self.sums.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The last answered requests, by request id, with the arm that answered each.
#[derive(Default)]
pub(crate) struct AnswerMemory {
    inner: Mutex<Memory>,
}

/// Kept compact because it is written on every request and holds
/// [`REMEMBERED_ANSWERS`] entries: an id is remembered by its 64-bit hash (keyed per
/// process), not its text, and its arm by a small index, so an entry is 16 bytes of
/// table plus 8 of queue, and a full memory about 11 MB (the table doubles once under
/// eviction's tombstones), where the ids' text and an `Arc` per entry took about 40 MB
/// of server RSS under the serving benchmark. Metrics already reported are kept apart,
/// only for the ids that have some. Two ids with the same hash would share an entry:
/// among 200,000 remembered ids that happens with probability about 1e-9.
#[derive(Default)]
struct Memory {
    hasher: RandomState,
    /// Arms that answered remembered requests, each once.
    arms: Vec<Arc<ArmCounters>>,
    /// Id hash → index into `arms`.
    by_id: HashMap<u64, u32>,
    /// Id hashes, oldest first.
    order: VecDeque<u64>,
    /// Id hash → metrics already reported for it (remembered ids only).
    reported: HashMap<u64, Vec<String>>,
}

impl Memory {
    fn key(&self, request_id: &str) -> u64 {
        self.hasher.hash_one(request_id)
    }

    fn arm_index(&mut self, counters: &Arc<ArmCounters>) -> u32 {
        if let Some(i) = self.arms.iter().position(|a| Arc::ptr_eq(a, counters)) {
            return i as u32;
        }
        self.arms.push(counters.clone());
        (self.arms.len() - 1) as u32
    }
}

impl AnswerMemory {
    /// Remembers that `counters`' arm answered `request_id` (forgetting the oldest past
    /// [`REMEMBERED_ANSWERS`]). A reused id is answered by its latest request.
    pub(crate) fn remember(&self, request_id: &str, counters: &Arc<ArmCounters>) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key = m.key(request_id);
        let arm = m.arm_index(counters);
        if let Some(a) = m.by_id.get_mut(&key) {
            *a = arm;
            m.reported.remove(&key);
            return;
        }
        m.by_id.insert(key, arm);
        m.order.push_back(key);
        while m.order.len() > REMEMBERED_ANSWERS {
            if let Some(old) = m.order.pop_front() {
                m.by_id.remove(&old);
                m.reported.remove(&old);
            }
        }
    }

    /// Records a batch, all or nothing. `find` resolves a (variant, version) report to
    /// its arm's counters.
    pub(crate) fn record(
        &self,
        reports: &[OutcomeReport],
        find: impl Fn(&str, &str) -> Vec<Arc<ArmCounters>>,
    ) -> Result<usize, InputError> {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Each report's arm, and the id hash of a report by request id.
        let mut resolved: Vec<(Arc<ArmCounters>, Option<u64>)> = Vec::with_capacity(reports.len());
        // (id hash, metric) of this batch's reports by request id, for duplicates.
        let mut pending: HashSet<(u64, &str)> = HashSet::new();
        for (i, r) in reports.iter().enumerate() {
            // Why a report was refused: an HTTP status and a message naming the item.
            let bad = |status: u16, code: &'static str, what: String| InputError {
                status,
                code,
                message: format!("outcome {i}: {what}"),
            };
            if r.metric.is_empty() || r.metric.len() > 128 {
                return Err(bad(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "metric: 1 to 128 characters".into(),
                ));
            }
            if !r.value.is_finite() {
                return Err(bad(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "value must be a finite number or a boolean".into(),
                ));
            }
            match (&r.request_id, &r.variant, &r.version) {
                (Some(id), None, None) => {
                    let key = m.key(id);
                    let Some(&arm) = m.by_id.get(&key) else {
                        return Err(bad(
                            404,
                            "RESOURCE_DOES_NOT_EXIST",
                            format!(
                                "no answered request {id:?} remembered (the server keeps the last {REMEMBERED_ANSWERS}; report by variant and version after that)"
                            ),
                        ));
                    };
                    let dup = m
                        .reported
                        .get(&key)
                        .is_some_and(|v| v.iter().any(|x| x == &r.metric))
                        || !pending.insert((key, r.metric.as_str()));
                    if dup {
                        return Err(bad(
                            409,
                            "RESOURCE_ALREADY_EXISTS",
                            format!("request {id:?} already has a {:?} outcome", r.metric),
                        ));
                    }
                    resolved.push((m.arms[arm as usize].clone(), Some(key)));
                }
                (None, Some(variant), Some(version)) => {
                    let found = find(variant, version);
                    match found.as_slice() {
                        [one] => resolved.push((one.clone(), None)),
                        [] => {
                            return Err(bad(
                                404,
                                "RESOURCE_DOES_NOT_EXIST",
                                format!("no variant {variant:?} served version {version:?}"),
                            ));
                        }
                        _ => {
                            return Err(bad(
                                400,
                                "INVALID_PARAMETER_VALUE",
                                format!(
                                    "variant {variant:?} served version {version:?} of several models: report by request id"
                                ),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(bad(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        "give either request_id, or variant and version".into(),
                    ));
                }
            }
        }
        // The lock is held since validation, so every id is still remembered.
        for (r, (counters, key)) in reports.iter().zip(resolved) {
            counters.outcomes.add(&r.metric, r.value);
            if let Some(key) = key {
                m.reported.entry(key).or_default().push(r.metric.clone());
            }
        }
        Ok(reports.len())
    }
}
