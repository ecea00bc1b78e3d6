//! The monitor's numbers as Prometheus gauges, so alerting rules and dashboards work
//! on them without our code.
//!
//! [`MonitorGauges`] holds typed gauge families (`prometheus-client`); register them
//! into the registry the server's `/metrics` encodes ([`MonitorGauges::register`]) and
//! feed every window to [`MonitorGauges::observe`]. Each gauge shows the latest
//! window's value; when late labels update that window ([`super::Monitor::relabel`]),
//! [`MonitorGauges::observe_relabelled`] updates its quality, label-shift and concept
//! gauges (updates of older windows change no gauge). A running model server shows
//! them on its own `/metrics` with `server.register_metrics(|r| gauges.register(r))`.
//! Names (all prefixed `mlops_monitor_`):
//!
//! | name | labels | value |
//! |---|---|---|
//! | `drift_share` | model | share of drifted features |
//! | `dataset_drift` | model | 1 when the share reaches the dataset threshold |
//! | `drift_score` | model, column | the score compared with the threshold |
//! | `column_drifted` | model, column | 1 when the feature drifted |
//! | `prediction_drift_share` | model | share of drifted prediction columns |
//! | `quality` | model, metric, bound | value, `lower` and `upper` interval bounds |
//! | `label_shift_distance` | model | Jensen–Shannon distance of the label shares |
//! | `concept_gap` | model | observed minus expected accuracy |
//! | `error_rate` | model | failed requests / requests |
//! | `latency_seconds` | model, percentile | latency percentiles (50, 90, 99) |
//! | `window_rows` | model | rows in the latest window |
//! | `windows` (counter) | model | windows completed |

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::WindowReport;

/// A float gauge.
type FGauge = Gauge<f64, AtomicU64>;

/// Label set `model`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

/// Label set `model`, `column`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ColumnLabel {
    model: String,
    column: String,
}

/// Label set `model`, `metric`, `bound`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MetricLabel {
    model: String,
    metric: String,
    bound: String,
}

/// Label set `model`, `percentile` (not `quantile`: that label is reserved for
/// summaries, and promtool rejects it on a gauge).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QuantileLabel {
    model: String,
    percentile: String,
}

/// The monitor's gauge families (cheap to clone: clones share the values).
#[derive(Debug, Clone, Default)]
pub struct MonitorGauges {
    drift_share: Family<ModelLabel, FGauge>,
    dataset_drift: Family<ModelLabel, FGauge>,
    drift_score: Family<ColumnLabel, FGauge>,
    column_drifted: Family<ColumnLabel, FGauge>,
    prediction_drift_share: Family<ModelLabel, FGauge>,
    quality: Family<MetricLabel, FGauge>,
    label_shift_distance: Family<ModelLabel, FGauge>,
    concept_gap: Family<ModelLabel, FGauge>,
    error_rate: Family<ModelLabel, FGauge>,
    latency_seconds: Family<QuantileLabel, FGauge>,
    window_rows: Family<ModelLabel, FGauge>,
    windows: Family<ModelLabel, Counter>,
    /// Index of the latest window observed, per model.
    latest: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl MonitorGauges {
    /// New families with no values.
    pub fn new() -> MonitorGauges {
        MonitorGauges::default()
    }

    /// Registers every family under the `mlops_monitor` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("mlops_monitor");
        r.register(
            "drift_share",
            "Share of drifted input features in the latest window",
            self.drift_share.clone(),
        );
        r.register(
            "dataset_drift",
            "1 when the latest window's drift share reached the dataset threshold",
            self.dataset_drift.clone(),
        );
        r.register(
            "drift_score",
            "Drift score of a feature in the latest window (compared with its threshold)",
            self.drift_score.clone(),
        );
        r.register(
            "column_drifted",
            "1 when a feature drifted in the latest window",
            self.column_drifted.clone(),
        );
        r.register(
            "prediction_drift_share",
            "Share of drifted prediction columns in the latest window",
            self.prediction_drift_share.clone(),
        );
        r.register(
            "quality",
            "Quality metric of the latest window from delayed labels, with interval bounds",
            self.quality.clone(),
        );
        r.register(
            "label_shift_distance",
            "Jensen-Shannon distance between label shares and training target shares",
            self.label_shift_distance.clone(),
        );
        r.register(
            "concept_gap",
            "Observed minus confidence-expected accuracy (negative: concept drift)",
            self.concept_gap.clone(),
        );
        r.register(
            "error_rate",
            "Failed requests over requests in the latest window",
            self.error_rate.clone(),
        );
        r.register(
            "latency_seconds",
            "Request latency percentiles in the latest window",
            self.latency_seconds.clone(),
        );
        r.register(
            "window_rows",
            "Log rows in the latest window",
            self.window_rows.clone(),
        );
        r.register("windows", "Windows completed", self.windows.clone());
    }

    /// Sets every gauge from a window of `model`.
    pub fn observe(&self, model: &str, w: &WindowReport) {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(model.to_string(), w.index);
        let m = ModelLabel {
            model: model.to_string(),
        };
        self.drift_share.get_or_create(&m).set(w.drift.share);
        self.dataset_drift
            .get_or_create(&m)
            .set(f64::from(u8::from(w.drift.dataset_drift)));
        for c in &w.drift.columns {
            let l = ColumnLabel {
                model: model.to_string(),
                column: c.column.clone(),
            };
            if let Some(s) = c.score {
                self.drift_score.get_or_create(&l).set(s);
            }
            self.column_drifted
                .get_or_create(&l)
                .set(f64::from(u8::from(c.drifted)));
        }
        if let Some(p) = &w.prediction_drift {
            self.prediction_drift_share.get_or_create(&m).set(p.share);
        }
        self.set_quality(model, w);
        self.error_rate.get_or_create(&m).set(w.health.error_rate);
        if let Some(l) = &w.health.latency_ms {
            for (q, v) in [("50", l.p50), ("90", l.p90), ("99", l.p99)] {
                self.latency_seconds
                    .get_or_create(&QuantileLabel {
                        model: model.to_string(),
                        percentile: q.to_string(),
                    })
                    .set(v / 1000.0);
            }
        }
        self.window_rows.get_or_create(&m).set(w.rows as f64);
        self.windows.get_or_create(&m).inc();
    }

    /// A window updated by late labels: its quality, label-shift and concept gauges
    /// are set when it is the latest window observed for `model`; returns whether it
    /// was.
    pub fn observe_relabelled(&self, model: &str, w: &WindowReport) -> bool {
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(model)
            .copied();
        if latest != Some(w.index) {
            return false;
        }
        self.set_quality(model, w);
        true
    }

    fn set_quality(&self, model: &str, w: &WindowReport) {
        let m = ModelLabel {
            model: model.to_string(),
        };
        if let Some(q) = &w.quality {
            for metric in &q.metrics {
                let set = |bound: &str, v: Option<f64>| {
                    if let Some(v) = v.filter(|v| v.is_finite()) {
                        self.quality
                            .get_or_create(&MetricLabel {
                                model: model.to_string(),
                                metric: metric.metric.clone(),
                                bound: bound.to_string(),
                            })
                            .set(v);
                    }
                };
                set("value", Some(metric.estimate.value));
                set("lower", metric.estimate.lower);
                set("upper", metric.estimate.upper);
            }
        }
        if let Some(l) = &w.shifts.label
            && l.distance.is_finite()
        {
            self.label_shift_distance.get_or_create(&m).set(l.distance);
        }
        if let Some(c) = &w.shifts.concept {
            self.concept_gap.get_or_create(&m).set(c.gap.value);
        }
    }
}
