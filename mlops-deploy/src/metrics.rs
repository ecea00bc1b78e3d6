//! `/metrics`: the server's Prometheus metrics through `prometheus-client`, in the 0.0.4
//! text format.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `model_requests_total` | counter | model, version, variant, code |
//! | `model_request_duration_seconds` | histogram (explicit buckets) | model, version, variant |
//! | `model_requests_in_flight` | gauge | |
//! | `model_prediction_errors_total` | counter | model, version, variant |
//! | `model_requests_rejected_total` | counter (503, over the in-flight bound) | |
//! | `model_load_seconds` | gauge | model, version |
//! | `deploy_variant_weight` | gauge (share of traffic) | variant |
//! | `shadow_requests_skipped_total` | counter (shadow saturated) | |
//! | `inference_log_dropped_rows_total` | counter | reason (`queue_full`, `rotated`) |
//! | `inference_log_rows_written_total` | counter | |
//! | `process_cpu_seconds_total` | counter | |
//! | `process_resident_memory_bytes` | gauge | |
//!
//! Families of other parts of the application (the monitor's `mlops_monitor_*` gauges,
//! [`crate::monitor::gauges`]) are added to the same page after start through
//! [`Metrics::register_extra`] (`ServerHandle::register_metrics`): they live in a second
//! registry encoded after the server's own, so the server's families never change.
//!
//! Process figures come from `/proc/self/stat` (user + system time, in the kernel's
//! fixed 100 ticks per second of its user ABI) and `/proc/self/status` (`VmRSS`), read
//! at scrape time; on a system without `/proc` they stay 0.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::inference_log::LogCounters;

/// Labels of request counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Variant.
    pub variant: String,
    /// HTTP status code.
    pub code: String,
}

/// Labels of per-arm series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ArmLabels {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Variant.
    pub variant: String,
}

/// Labels of per-model series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
}

/// Labels of per-variant series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VariantLabels {
    /// Variant.
    pub variant: String,
}

/// Labels of the log drop counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why rows were dropped.
    pub reason: String,
}

/// Upper bounds of the latency histogram, seconds.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The index of `seconds` in [`LATENCY_BUCKETS`], if it is one of the bounds.
pub(crate) fn bound_index(seconds: f64) -> Option<usize> {
    LATENCY_BUCKETS
        .iter()
        .position(|&b| (b - seconds).abs() <= 1e-9 * b)
}

/// For a metric named `latency_over_<MS>ms` (requests slower than `MS` ms, the name the
/// local source and the Prometheus guardrails share): `Some(index of the bound)`, or
/// `Some(None)` when `MS` is not a bound of [`LATENCY_BUCKETS`]; `None` for any other
/// name.
pub(crate) fn latency_over(name: &str) -> Option<Option<usize>> {
    let ms = name.strip_prefix("latency_over_")?.strip_suffix("ms")?;
    Some(
        ms.parse::<f64>()
            .ok()
            .and_then(|ms| bound_index(ms / 1000.0)),
    )
}

type HistogramFamily = Family<ArmLabels, Histogram, fn() -> Histogram>;

/// The server's metric families.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) duration: HistogramFamily,
    pub(crate) in_flight: Gauge,
    pub(crate) prediction_errors: Family<ArmLabels, Counter>,
    pub(crate) rejected: Counter,
    pub(crate) load_seconds: Family<ModelLabels, Gauge<f64, AtomicU64>>,
    pub(crate) weight: Family<VariantLabels, Gauge<f64, AtomicU64>>,
    pub(crate) shadow_skipped: Counter,
    log_dropped: Family<ReasonLabels, Counter>,
    log_written: Counter,
    cpu_seconds: Counter<f64, AtomicU64>,
    rss_bytes: Gauge,
    /// Last values copied from the log counters and /proc (counters only grow by deltas).
    last: Mutex<Last>,
    /// Families registered after start ([`Metrics::register_extra`]).
    extra: RwLock<Registry>,
}

#[derive(Default)]
struct Last {
    queue: u64,
    rotated: u64,
    written: u64,
    cpu: f64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every family.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "model_requests",
            "Prediction requests by model, version, variant and HTTP status",
            requests.clone(),
        );
        let duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "model_request_duration_seconds",
            "Whole-request latency of prediction requests",
            duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "model_requests_in_flight",
            "Prediction requests being served now",
            in_flight.clone(),
        );
        let prediction_errors = Family::<ArmLabels, Counter>::default();
        registry.register(
            "model_prediction_errors",
            "Requests whose model failed to predict (5xx)",
            prediction_errors.clone(),
        );
        let rejected = Counter::default();
        registry.register(
            "model_requests_rejected",
            "Requests answered 503 because the in-flight bound was reached",
            rejected.clone(),
        );
        let load_seconds = Family::<ModelLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "model_load_seconds",
            "Seconds it took to load and verify each served model",
            load_seconds.clone(),
        );
        let weight = Family::<VariantLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "deploy_variant_weight",
            "Share of traffic routed to each variant (shadow: 1 when mirrored)",
            weight.clone(),
        );
        let shadow_skipped = Counter::default();
        registry.register(
            "shadow_requests_skipped",
            "Requests not mirrored to the shadow variant because it was saturated",
            shadow_skipped.clone(),
        );
        let log_dropped = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "inference_log_dropped_rows",
            "Inference log rows lost: queue full (never written) or rotated out (old segments)",
            log_dropped.clone(),
        );
        let log_written = Counter::default();
        registry.register(
            "inference_log_rows_written",
            "Inference log rows written to segments",
            log_written.clone(),
        );
        let cpu_seconds = Counter::<f64, AtomicU64>::default();
        registry.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            cpu_seconds.clone(),
        );
        let rss_bytes = Gauge::default();
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            rss_bytes.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            in_flight,
            prediction_errors,
            rejected,
            load_seconds,
            weight,
            shadow_skipped,
            log_dropped,
            log_written,
            cpu_seconds,
            rss_bytes,
            last: Mutex::new(Last::default()),
            extra: RwLock::new(Registry::default()),
        }
    }

    /// Lets `f` register more families (or collectors) into a registry encoded after
    /// the server's own on every scrape. Their names must differ from the server's
    /// families (a Prometheus page holds each family once).
    pub fn register_extra(&self, f: impl FnOnce(&mut Registry)) {
        let mut extra = self.extra.write().unwrap_or_else(|e| e.into_inner());
        f(&mut extra);
    }

    /// Refreshes the scrape-time values and encodes everything as Prometheus text.
    pub fn render(&self, log: Option<&LogCounters>) -> String {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = log {
                let queue = c.rows_dropped_queue.load(Ordering::Relaxed);
                let rotated = c.rows_dropped_rotation.load(Ordering::Relaxed);
                let written = c.rows_written.load(Ordering::Relaxed);
                let reason = |r: &str| ReasonLabels {
                    reason: r.to_string(),
                };
                self.log_dropped
                    .get_or_create(&reason("queue_full"))
                    .inc_by(queue.saturating_sub(last.queue));
                self.log_dropped
                    .get_or_create(&reason("rotated"))
                    .inc_by(rotated.saturating_sub(last.rotated));
                self.log_written
                    .inc_by(written.saturating_sub(last.written));
                last.queue = last.queue.max(queue);
                last.rotated = last.rotated.max(rotated);
                last.written = last.written.max(written);
            }
            if let Some(cpu) = process_cpu_seconds()
                && cpu > last.cpu
            {
                self.cpu_seconds.inc_by(cpu - last.cpu);
                last.cpu = cpu;
            }
            if let Some(rss) = process_rss_bytes() {
                self.rss_bytes.set(i64::try_from(rss).unwrap_or(i64::MAX));
            }
        }
        let mut out = String::new();
        let extra = self.extra.read().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err()
            || prometheus_client::encoding::prometheus_text::encode(&mut out, &extra).is_err()
        {
            tracing::error!("metrics could not be encoded");
        }
        out
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// User + system CPU seconds of this process (`/proc/self/stat` fields 14 and 15).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; fields after it follow its ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field 14 is index 11.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ: the kernel reports these in 1/100 s on every Linux architecture's ABI.
    Some((utime + stime) / 100.0)
}

/// Resident set size of this process in bytes (`VmRSS` of `/proc/self/status`).
pub fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
