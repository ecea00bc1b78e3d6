//! Live monitoring: the inference log read in windows, each window compared with the
//! training data and, when labels arrive, with the truth.
//!
//! The log is cut into **panes** of `gcd(size, step)` rows (or milliseconds). Each
//! pane is profiled exactly once (a mergeable [`Profile`] of its inputs and of its
//! predictions, a latency sketch, request and error counts); a window is the merge of
//! its panes. A tumbling window is one pane; a sliding window of 10,000 rows every
//! 2,000 merges five 2,000-row panes and shares four of them with the window before,
//! so nothing is profiled twice however much windows overlap.
//!
//! Each window gets:
//!
//! * **data drift** per feature against the training profile kept in the model
//!   package's lineage ([`mlops_data::drift_from_profiles`]: Evidently's methods and
//!   defaults, with a guaranteed error bound per numeric statistic), or, with
//!   [`MonitorConfig::exact`], against the training rows themselves
//!   ([`mlops_data::drift_report`] on the window's raw rows);
//! * **prediction drift**: the window's predicted labels and scores against the
//!   model's predictions on its training snapshot (or against the first window when
//!   the model cannot be loaded here);
//! * **service health**: requests, error rate, latency percentiles;
//! * with labels, **quality** with confidence intervals beside the registration
//!   evaluation, and **covariate shift, label shift and concept drift** each with its
//!   own numbers ([`quality`]).
//!
//! The monitor is a pure consumer: [`Monitor::push`] takes log rows in log order and
//! returns the windows they complete; [`Monitor::push_log`] reads new rows of a log
//! directory (the same call, repeated, follows it). Triggers, gauges, reports and
//! the audit trail are fed from the returned [`WindowReport`]s; [`follow`] does the
//! polling (on a thread of its own, next to a running server, with its gauges on the
//! server's `/metrics`).
//!
//! **Late labels.** Labels usually arrive after the window of their request was
//! reported. The monitor keeps the served rows of the last
//! [`MonitorConfig::late_label_windows`] reported windows; [`Monitor::relabel`]
//! recomputes the quality (and label shift and concept drift) of each kept window that
//! holds a request whose label is new or changed since the last call, and returns those
//! windows again with the same `index` and `revision` one higher. A consumer keeps the
//! highest revision of each index ([`MonitorReport::upsert`]). Drift, health and the
//! profile digest of a window never change; labels for windows older than the horizon
//! are kept for [`crate::retrain::recent_labelled`] but change no report.

pub mod follow;
pub mod gauges;
pub mod html;
pub mod quality;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::Arc;

use mlops_core::registry::Registry;
use mlops_core::{Digest, ModelUri};
use mlops_data::drift::ColumnDrift;
use mlops_data::{
    ColumnKind, Dataset, DriftConfig, DriftReport, Profile, ProfileOptions, QuantileSketch,
};
use mlops_train::{FlavorRegistry, Model, ModelPackage, Prediction};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};
/// Prefix of the inference log's input feature columns.
pub const INPUT_PREFIX: &str = "input.";
/// Prefix of the inference log's class-probability columns.
pub const PROBA_PREFIX: &str = "proba.";

use quality::{ConceptDrift, LabelShift, Labels, Quality, QualityReference, ScoredRow};

/// What a window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowBy {
    /// Log rows (a request may carry several).
    Rows,
    /// Milliseconds of request arrival time (`ts_ms`), aligned to the Unix epoch.
    Millis,
}

/// Window size and step: tumbling when `step == size`, sliding when smaller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    /// Rows or milliseconds.
    pub by: WindowBy,
    /// Window length.
    pub size: u64,
    /// Distance between window starts (`size` for tumbling windows).
    pub step: u64,
}

impl WindowSpec {
    /// Tumbling windows of `n` rows.
    pub fn rows(n: u64) -> WindowSpec {
        WindowSpec {
            by: WindowBy::Rows,
            size: n,
            step: n,
        }
    }

    /// Tumbling windows of `ms` milliseconds.
    pub fn millis(ms: u64) -> WindowSpec {
        WindowSpec {
            by: WindowBy::Millis,
            size: ms,
            step: ms,
        }
    }

    /// The same windows, sliding by `step`.
    pub fn sliding(mut self, step: u64) -> WindowSpec {
        self.step = step;
        self
    }

    fn check(&self) -> Result<()> {
        if self.size == 0 || self.step == 0 {
            return Err(Error::arg("window size and step must be positive"));
        }
        if self.step > self.size {
            return Err(Error::arg(format!(
                "window step {} is larger than its size {} (rows would be skipped)",
                self.step, self.size
            )));
        }
        Ok(())
    }

    /// The pane length: `gcd(size, step)`.
    pub fn pane(&self) -> u64 {
        let (mut a, mut b) = (self.size, self.step);
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }
}

/// How the monitor works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// The windows.
    pub window: WindowSpec,
    /// Drift methods, thresholds and drift share (Evidently's defaults).
    pub drift: DriftConfig,
    /// Drift from raw rows (training snapshot vs the window's rows) instead of
    /// profiles: exact statistics, more memory and time.
    pub exact: bool,
    /// Sketch sizes of the window profiles.
    pub profile: ProfileOptions,
    /// Two-sided confidence of every interval (0.95).
    pub confidence: f64,
    /// Keep each row's prediction for the join with labels (needed for quality).
    pub keep_predictions: bool,
    /// Reported windows whose quality late labels still update
    /// ([`Monitor::relabel`]); their served rows stay in memory (about 100 bytes a
    /// row). 0: quality is computed once, when the window is reported.
    #[serde(default = "default_late_label_windows")]
    pub late_label_windows: usize,
}

fn default_late_label_windows() -> usize {
    100
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            window: WindowSpec::rows(10_000),
            drift: DriftConfig::default(),
            exact: false,
            profile: ProfileOptions::default(),
            confidence: 0.95,
            keep_predictions: true,
            late_label_windows: default_late_label_windows(),
        }
    }
}

/// What a window is compared with: the training data and the registered model.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The model this is the reference of (`models:/NAME/VERSION`), for reports.
    pub model: String,
    /// Feature names (the model's inputs found in the training profile), in order.
    pub features: Vec<String>,
    /// Training profile of the features.
    pub profile: Profile,
    /// Digest of the stored training profile, when it came from lineage.
    pub profile_digest: Option<Digest>,
    /// Training rows of the features (for exact drift).
    pub frame: Option<DataFrame>,
    /// Profile of the model's predictions on the training snapshot (`prediction`,
    /// `value`).
    pub predictions: Option<Profile>,
    /// Classes, registration metrics, target shares, calibration gap.
    pub quality: QualityReference,
}

/// Options of [`Reference::from_registry`].
#[derive(Debug, Clone, Default)]
pub struct ReferenceOptions {
    /// Load the training rows too (for [`MonitorConfig::exact`]).
    pub exact: bool,
    /// Loaders of model flavors (for prediction drift and the calibration gap).
    pub flavors: FlavorRegistry,
}

fn prediction_frame(pred: &Prediction, positive: usize) -> Result<(DataFrame, Vec<f64>)> {
    let (labels, value, conf): (Vec<String>, Vec<Option<f64>>, Vec<f64>) = match pred {
        Prediction::Classes {
            classes,
            labels,
            proba,
        } => {
            let names = labels.iter().map(|&l| classes[l].clone()).collect();
            let (value, conf) = match proba {
                Some(p) => (
                    (0..p.nrows())
                        .map(|i| (classes.len() == 2).then(|| p[[i, positive.min(1)]]))
                        .collect(),
                    (0..p.nrows())
                        .map(|i| p.row(i).iter().copied().fold(0.0, f64::max))
                        .collect(),
                ),
                None => (vec![None; labels.len()], Vec::new()),
            };
            (names, value, conf)
        }
        Prediction::Values(v) => (
            v.iter().map(f64::to_string).collect(),
            v.iter().map(|x| Some(*x)).collect(),
            Vec::new(),
        ),
    };
    let n = labels.len();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("prediction".into(), labels),
            Column::new("value".into(), value),
        ],
    )?;
    Ok((df, conf))
}

impl Reference {
    /// A reference from a training profile alone (no prediction drift, no quality
    /// baselines). `features` defaults to every column of the profile.
    pub fn from_profile(profile: Profile, features: Option<Vec<String>>) -> Result<Reference> {
        let features = features.unwrap_or_else(|| profile.columns.keys().cloned().collect());
        let profile = restrict(&profile, &features)?;
        Ok(Reference {
            model: String::new(),
            features,
            profile,
            profile_digest: None,
            frame: None,
            predictions: None,
            quality: QualityReference {
                positive: 1,
                ..QualityReference::default()
            },
        })
    }

    /// The reference of a registered model: the model URI is resolved and its package
    /// verified; the training profile is the one its lineage's first dataset snapshot
    /// recorded; the model predicts the training snapshot once, giving the prediction
    /// profile, the training target shares and the calibration gap.
    pub fn from_registry(
        registry: &dyn Registry,
        uri: &ModelUri,
        options: &ReferenceOptions,
    ) -> Result<Reference> {
        let loaded = registry.load(uri)?;
        let store = registry.artifact_store();
        let pkg = ModelPackage::load(store, &loaded.package)?;
        let m = &pkg.manifest;
        let name = format!("models:/{}/{}", loaded.version.name, loaded.version.version);
        let dataset = m
            .lineage
            .datasets
            .iter()
            .find(|d| d.profile_digest.is_some())
            .ok_or_else(|| {
                Error::arg(format!(
                    "{name}: its package lineage names no dataset snapshot with a profile, \
                     so there is no training profile to compare with"
                ))
            })?;
        let full = Dataset::load_profile(store, dataset)?;
        let features: Vec<String> = m
            .signature
            .inputs
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| full.columns.contains_key(n))
            .collect();
        if features.is_empty() {
            return Err(Error::arg(format!(
                "{name}: none of the model's inputs is in its training profile"
            )));
        }
        let target = m.signature.output.name.clone();
        let mut quality = QualityReference {
            classes: m.classes.clone(),
            positive: 1,
            registered: m.metrics.clone(),
            target_counts: BTreeMap::new(),
            calibration_gap: None,
        };
        if let Some(t) = full.column(&target) {
            quality.target_counts = t.top_k(usize::MAX).into_iter().collect();
        }
        let model = pkg.model(&options.flavors);
        let need_rows = options.exact || model.is_ok();
        let mut frame = None;
        let mut predictions = None;
        if need_rows {
            let df = Dataset::load(store, &dataset.digest)?;
            if let Ok(model) = &model {
                let (p, gap) = reference_predictions(model.as_ref(), &df, &target, &quality)?;
                predictions = Some(p);
                quality.calibration_gap = gap;
            } else if let Err(e) = &model {
                tracing::warn!(model = %name, error = %e, "model not loadable here: prediction drift uses the first window");
            }
            if options.exact {
                frame = Some(feature_frame(&df, &features, &full, "")?);
            }
        }
        Ok(Reference {
            model: name,
            profile: restrict(&full, &features)?,
            features,
            profile_digest: dataset.profile_digest,
            frame,
            predictions,
            quality,
        })
    }
}

fn reference_predictions(
    model: &dyn Model,
    df: &DataFrame,
    target: &str,
    quality: &QualityReference,
) -> Result<(Profile, Option<f64>)> {
    let pred = model.predict(df)?;
    let (pf, conf) = prediction_frame(&pred, quality.positive)?;
    let profile = Profile::of_frame(&pf)?;
    let mut gap = None;
    if let (
        Prediction::Classes {
            classes, labels, ..
        },
        false,
    ) = (&pred, conf.is_empty())
        && let Ok(t) = df.column(target)
    {
        let t = t.cast(&DataType::String)?;
        let t = t.str()?;
        let mut correct = 0usize;
        let mut n = 0usize;
        for (i, &l) in labels.iter().enumerate() {
            if let Some(v) = t.get(i) {
                n += 1;
                correct += usize::from(classes[l] == v);
            }
        }
        if n > 0 {
            let mean_conf = conf.iter().sum::<f64>() / conf.len() as f64;
            gap = Some(correct as f64 / n as f64 - mean_conf);
        }
    }
    Ok((profile, gap))
}

fn restrict(profile: &Profile, features: &[String]) -> Result<Profile> {
    let mut columns = BTreeMap::new();
    for f in features {
        let c = profile
            .column(f)
            .ok_or_else(|| Error::arg(format!("feature {f:?} is not in the training profile")))?;
        columns.insert(f.clone(), c.clone());
    }
    Ok(Profile {
        rows: profile.rows,
        columns,
    })
}

/// The dtype every window casts a feature to, by its kind in the training profile:
/// numbers as `f64`, categories as text, so pane profiles always merge.
fn feature_dtype(kind: ColumnKind) -> DataType {
    match kind {
        ColumnKind::Numeric => DataType::Float64,
        _ => DataType::String,
    }
}

/// The features of `df` (columns `prefix + name`), cast to their monitoring dtypes;
/// missing columns are nulls.
fn feature_frame(
    df: &DataFrame,
    features: &[String],
    profile: &Profile,
    prefix: &str,
) -> Result<DataFrame> {
    let mut cols = Vec::with_capacity(features.len());
    for f in features {
        let kind = profile
            .column(f)
            .map(|c| c.kind)
            .unwrap_or(ColumnKind::Numeric);
        let dt = feature_dtype(kind);
        let c = match df.column(&format!("{prefix}{f}")) {
            Ok(c) => c.cast(&dt)?.with_name(f.as_str().into()),
            Err(_) => Column::full_null(f.as_str().into(), df.height(), &dt),
        };
        cols.push(c);
    }
    Ok(DataFrame::new(df.height(), cols)?)
}

/// Service health of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Requests (rows with `row` = 0).
    pub requests: u64,
    /// Requests answered with 4xx or 5xx.
    pub errors: u64,
    /// Requests answered with 5xx.
    pub server_errors: u64,
    /// `errors / requests` (0 without requests).
    pub error_rate: f64,
    /// Latency percentiles (ms) from a mergeable sketch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
}

/// Latency percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Guaranteed normalised rank error of the percentiles.
    pub rank_error: f64,
}

/// A window's drift: the share and each column's verdict (bins left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowDrift {
    /// Drifted columns / tested columns.
    pub share: f64,
    /// Columns tested.
    pub n_tested: usize,
    /// Columns drifted.
    pub n_drifted: usize,
    /// `share >= drift_share` (the dataset verdict).
    pub dataset_drift: bool,
    /// Per column: method, statistic, score, threshold, `drifted`, error bound.
    pub columns: Vec<ColumnDrift>,
}

impl WindowDrift {
    fn of(mut r: DriftReport) -> WindowDrift {
        for c in &mut r.columns {
            c.distribution = None;
        }
        WindowDrift {
            share: r.drift_share,
            n_tested: r.n_tested,
            n_drifted: r.n_drifted,
            dataset_drift: r.dataset_drift,
            columns: r.columns,
        }
    }

    /// A column's verdict.
    pub fn column(&self, name: &str) -> Option<&ColumnDrift> {
        self.columns.iter().find(|c| c.column == name)
    }
}

/// Covariate shift: the inputs moved (the window's feature drift, summarised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CovariateShift {
    /// Drift share of the features.
    pub share: f64,
    /// Features that drifted.
    pub drifted_columns: Vec<String>,
    /// The dataset verdict.
    pub shifted: bool,
}

/// The three shifts of a window, each with its own numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shifts {
    /// Inputs moved.
    pub covariate: CovariateShift,
    /// Base rate moved (needs labels and the training target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<LabelShift>,
    /// `P(y|x)` changed (needs labels and class probabilities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concept: Option<ConceptDrift>,
}

/// Everything the monitor says about one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowReport {
    /// Position in log order, from 0.
    pub index: usize,
    /// `false` for the last, partial window of a pass.
    pub complete: bool,
    /// Log rows in the window (failed requests included).
    pub rows: u64,
    /// Offset of the first row in the log (row windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_row: Option<u64>,
    /// Earliest request arrival in the window (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    /// Latest request arrival in the window (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// Digest of the window's feature profile (what the audit trail links).
    pub profile_digest: Digest,
    /// Feature drift against the training data.
    pub drift: WindowDrift,
    /// Drift of the predictions against the reference predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_drift: Option<WindowDrift>,
    /// Requests, errors, latency.
    pub health: Health,
    /// Quality from labels (present when labels were given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<Quality>,
    /// Covariate shift, label shift and concept drift.
    pub shifts: Shifts,
    /// 0 when first reported; one higher each time late labels changed its quality
    /// ([`Monitor::relabel`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One pane, profiled once.
#[derive(Debug, Clone)]
struct Pane {
    rows: u64,
    first_row: u64,
    ts: Option<(i64, i64)>,
    features: Profile,
    predictions: Option<Profile>,
    latency: QuantileSketch,
    requests: u64,
    errors: u64,
    server_errors: u64,
    scored: Arc<Vec<ScoredRow>>,
    frame: Option<DataFrame>,
}

/// A reported window that late labels may still update.
#[derive(Debug, Clone)]
struct Reported {
    report: WindowReport,
    scored: Vec<Arc<Vec<ScoredRow>>>,
}

/// The live monitor (see the module docs).
#[derive(Debug)]
pub struct Monitor {
    config: MonitorConfig,
    reference: Reference,
    labels: Labels,
    pane_len: u64,
    per_window: i64,
    per_step: i64,
    open: Option<(i64, Vec<DataFrame>, u64)>,
    closed: BTreeMap<i64, Pane>,
    last_closed: Option<i64>,
    next_window: Option<i64>,
    emitted: usize,
    rows_seen: u64,
    late_rows: u64,
    prediction_baseline: Option<Profile>,
    reported: VecDeque<Reported>,
    changed: HashSet<String>,
    last_segment: Option<std::ffi::OsString>,
}

impl Monitor {
    /// A monitor of `reference` with `config`.
    pub fn new(reference: Reference, config: MonitorConfig) -> Result<Monitor> {
        config.window.check()?;
        if config.exact && reference.frame.is_none() {
            return Err(Error::arg(
                "exact drift needs the training rows (ReferenceOptions::exact)",
            ));
        }
        if !(config.confidence > 0.0 && config.confidence < 1.0) {
            return Err(Error::arg(format!(
                "confidence {} is not in (0, 1)",
                config.confidence
            )));
        }
        let g = config.window.pane();
        Ok(Monitor {
            pane_len: g,
            per_window: (config.window.size / g) as i64,
            per_step: (config.window.step / g) as i64,
            prediction_baseline: reference.predictions.clone(),
            config,
            reference,
            labels: Labels::new(),
            open: None,
            closed: BTreeMap::new(),
            last_closed: None,
            next_window: None,
            emitted: 0,
            rows_seen: 0,
            late_rows: 0,
            reported: VecDeque::new(),
            changed: HashSet::new(),
            last_segment: None,
        })
    }

    /// The reference windows are compared with.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// The configuration.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    /// Adds delayed labels (a drop read with [`Labels::read`], or built by calls);
    /// they apply to windows completed from now on, and to the kept windows already
    /// reported on the next [`Monitor::relabel`] (the request ids whose label is new or
    /// changed are kept until then). Adding a label already held changes nothing.
    pub fn add_labels(&mut self, labels: &Labels) {
        let changed = self.labels.extend_changed(labels);
        if self.config.late_label_windows > 0 {
            self.changed.extend(changed);
        }
    }

    /// Recomputes the quality, label shift and concept drift of every kept reported
    /// window (the last [`MonitorConfig::late_label_windows`]) that holds a request
    /// whose label arrived or changed since the last call, and returns the windows
    /// whose numbers changed, with `revision` one higher (see the module docs).
    pub fn relabel(&mut self) -> Result<Vec<WindowReport>> {
        if self.changed.is_empty() {
            return Ok(Vec::new());
        }
        let changed = std::mem::take(&mut self.changed);
        let mut out = Vec::new();
        for r in &mut self.reported {
            let hit = r
                .scored
                .iter()
                .any(|p| p.iter().any(|s| changed.contains(&s.request_id)));
            if !hit {
                continue;
            }
            let rows: Vec<&ScoredRow> = r.scored.iter().flat_map(|p| p.iter()).collect();
            let q = quality::evaluate(
                &rows,
                &self.labels,
                &self.reference.quality,
                self.config.confidence,
            )?;
            let w = &mut r.report;
            if w.quality.as_ref() == Some(&q.quality)
                && w.shifts.label == q.label_shift
                && w.shifts.concept == q.concept
            {
                continue;
            }
            w.quality = Some(q.quality);
            w.shifts.label = q.label_shift;
            w.shifts.concept = q.concept;
            w.revision += 1;
            out.push(w.clone());
        }
        Ok(out)
    }

    /// Labels held.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// Log rows consumed so far.
    pub fn rows_seen(&self) -> u64 {
        self.rows_seen
    }

    /// Rows of time windows that arrived after their pane had closed (dropped).
    pub fn late_rows(&self) -> u64 {
        self.late_rows
    }

    /// Reads the segments of the log directory not consumed yet, in slices, and
    /// returns the windows they complete. Call it again to follow the log.
    ///
    /// Segments are immutable once they have their name, and names grow with the log's
    /// row sequence, so the monitor remembers the last segment it read and reads only
    /// the ones named after it: segments the server deletes past its bound
    /// (rotation) or a gap in the numbering change nothing.
    pub fn push_log(&mut self, dir: &Path) -> Result<Vec<WindowReport>> {
        const SLICE: u64 = 200_000;
        let files: Vec<std::path::PathBuf> = crate::inference_log::list_segments(dir)?
            .into_iter()
            .filter(|f| {
                self.last_segment
                    .as_ref()
                    .is_none_or(|last| f.file_name().is_some_and(|n| n > last.as_os_str()))
            })
            .collect();
        let Some(last) = files
            .last()
            .and_then(|f| f.file_name())
            .map(|n| n.to_owned())
        else {
            return Ok(Vec::new());
        };
        let lf = crate::inference_log::scan_segments(&files)?;
        let total = crate::inference_log::count_segment_rows(&files)?;
        let mut out = Vec::new();
        let mut offset = 0u64;
        while offset < total {
            let take = SLICE.min(total - offset);
            let df = lf.clone().slice(offset as i64, take as IdxSize).collect()?;
            out.extend(self.push(&df)?);
            offset += take;
        }
        self.last_segment = Some(last);
        Ok(out)
    }

    /// Consumes log rows (in log order) and returns the windows they complete.
    pub fn push(&mut self, df: &DataFrame) -> Result<Vec<WindowReport>> {
        let mut out = Vec::new();
        match self.config.window.by {
            WindowBy::Rows => {
                let mut start = 0usize;
                while start < df.height() {
                    let offset = self.rows_seen;
                    let pane = (offset / self.pane_len) as i64;
                    let room = (pane as u64 + 1) * self.pane_len - offset;
                    let take = (room as usize).min(df.height() - start);
                    let part = df.slice(start as i64, take);
                    self.append(pane, part, &mut out)?;
                    self.rows_seen += take as u64;
                    start += take;
                    if self.open.as_ref().is_some_and(|o| o.2 == self.pane_len) {
                        self.close_open(&mut out)?;
                    }
                }
            }
            WindowBy::Millis => {
                let ts = df.column("ts_ms").map_err(|_| {
                    Error::arg("time windows need the ts_ms column of the inference log")
                })?;
                let ts = ts.cast(&DataType::Int64)?;
                let ts = ts.i64()?;
                let g = self.pane_len as i64;
                let panes: Vec<Option<i64>> =
                    ts.iter().map(|t| t.map(|t| t.div_euclid(g))).collect();
                let mut i = 0usize;
                while i < panes.len() {
                    let p = panes[i];
                    let mut j = i + 1;
                    while j < panes.len() && panes[j] == p {
                        j += 1;
                    }
                    let n = j - i;
                    self.rows_seen += n as u64;
                    match p {
                        None => self.late_rows += n as u64,
                        Some(p) if self.last_closed.is_some_and(|c| p <= c) => {
                            self.late_rows += n as u64
                        }
                        Some(p) => {
                            if self.open.as_ref().is_some_and(|o| o.0 < p) {
                                self.close_open(&mut out)?;
                            }
                            self.append(p, df.slice(i as i64, n), &mut out)?;
                        }
                    }
                    i = j;
                }
            }
        }
        Ok(out)
    }

    /// Ends a pass: the open pane is closed and the rows after the last complete
    /// window are reported as one partial window (`complete: false`), if any.
    pub fn finish(&mut self) -> Result<Vec<WindowReport>> {
        let mut out = Vec::new();
        if let Some((idx, frames, rows)) = self.open.take() {
            let first = self.rows_seen - rows;
            let pane = self.profile_pane(&frames, first)?;
            self.closed.insert(idx, pane);
        }
        let from = match self.next_window {
            Some(j) => j * self.per_step,
            None => self.closed.keys().next().copied().unwrap_or(0),
        };
        let idx: Vec<i64> = self.closed.range(from..).map(|(k, _)| *k).collect();
        if !idx.is_empty() {
            out.push(self.window(&idx, false)?);
        }
        self.closed.clear();
        Ok(out)
    }

    fn append(&mut self, pane: i64, part: DataFrame, _out: &mut Vec<WindowReport>) -> Result<()> {
        let n = part.height() as u64;
        match &mut self.open {
            Some((idx, frames, rows)) if *idx == pane => {
                frames.push(part);
                *rows += n;
            }
            _ => self.open = Some((pane, vec![part], n)),
        }
        Ok(())
    }

    fn close_open(&mut self, out: &mut Vec<WindowReport>) -> Result<()> {
        let Some((idx, frames, rows)) = self.open.take() else {
            return Ok(());
        };
        let first = self.rows_seen - rows;
        let pane = self.profile_pane(&frames, first)?;
        self.closed.insert(idx, pane);
        self.last_closed = Some(idx);
        let s = self.per_step;
        let w = self.per_window;
        let first_pane = *self.closed.keys().next().unwrap_or(&idx);
        let mut j = *self.next_window.get_or_insert_with(|| {
            first_pane.div_euclid(s) + i64::from(first_pane.rem_euclid(s) != 0)
        });
        while j * s + w - 1 <= idx {
            let panes: Vec<i64> = self
                .closed
                .range(j * s..=j * s + w - 1)
                .map(|(k, _)| *k)
                .collect();
            if !panes.is_empty() {
                out.push(self.window(&panes, true)?);
            }
            j += 1;
            self.next_window = Some(j);
            let keep_from = j * s;
            self.closed = self.closed.split_off(&keep_from);
        }
        Ok(())
    }

    fn profile_pane(&self, frames: &[DataFrame], first_row: u64) -> Result<Pane> {
        let df = stack(frames)?;
        let n = df.height();
        // any integer dtype: polars builds without UInt16 read it as what they can
        let status: Vec<Option<i64>> = match df.column("status") {
            Ok(c) => c.cast(&DataType::Int64)?.i64()?.iter().collect(),
            Err(_) => vec![Some(200); n],
        };
        let row: Vec<Option<u32>> = match df.column("row") {
            Ok(c) => c.cast(&DataType::UInt32)?.u32()?.iter().collect(),
            Err(_) => vec![Some(0); n],
        };
        let latency: Vec<Option<f64>> = match df.column("latency_ms") {
            Ok(c) => c.cast(&DataType::Float64)?.f64()?.iter().collect(),
            Err(_) => vec![None; n],
        };
        let (mut requests, mut errors, mut server_errors) = (0u64, 0u64, 0u64);
        let mut lat = Vec::new();
        let mut ok_mask = Vec::with_capacity(n);
        for i in 0..n {
            let s = status[i].unwrap_or(200);
            ok_mask.push(s < 400);
            if row[i].unwrap_or(0) == 0 {
                requests += 1;
                errors += u64::from(s >= 400);
                server_errors += u64::from(s >= 500);
                if let Some(l) = latency[i].filter(|l| l.is_finite()) {
                    lat.push(l);
                }
            }
        }
        let mut latency_sketch = QuantileSketch::new(self.config.profile.sketch_k);
        latency_sketch.add_batch(&mut lat);
        let ts = match df.column("ts_ms") {
            Ok(c) => {
                let c = c.cast(&DataType::Int64)?;
                let ca = c.i64()?;
                ca.min().zip(ca.max())
            }
            Err(_) => None,
        };
        let mask = BooleanChunked::from_slice("ok".into(), &ok_mask);
        let ok = df.filter(&mask)?;
        let feats = feature_frame(
            &ok,
            &self.reference.features,
            &self.reference.profile,
            INPUT_PREFIX,
        )?;
        let features = Profile::of_frame_with(&feats, &self.config.profile)?;
        let has_pred = ok.column("prediction").is_ok();
        let predictions = if has_pred {
            let pf = DataFrame::new(
                ok.height(),
                vec![
                    ok.column("prediction")?
                        .cast(&DataType::String)?
                        .with_name("prediction".into()),
                    match ok.column("value") {
                        Ok(c) => c.cast(&DataType::Float64)?,
                        Err(_) => {
                            Column::full_null("value".into(), ok.height(), &DataType::Float64)
                        }
                    },
                ],
            )?;
            Some(Profile::of_frame_with(&pf, &self.config.profile)?)
        } else {
            None
        };
        let scored = Arc::new(if self.config.keep_predictions && has_pred {
            scored_rows(&ok)?
        } else {
            Vec::new()
        });
        Ok(Pane {
            rows: n as u64,
            first_row,
            ts,
            features,
            predictions,
            latency: latency_sketch,
            requests,
            errors,
            server_errors,
            scored,
            frame: self.config.exact.then_some(feats),
        })
    }

    fn window(&mut self, panes: &[i64], complete: bool) -> Result<WindowReport> {
        let ps: Vec<&Pane> = panes.iter().filter_map(|p| self.closed.get(p)).collect();
        let first = ps
            .first()
            .ok_or_else(|| Error::arg("a window without panes"))?;
        let mut features = first.features.clone();
        let mut predictions = first.predictions.clone();
        let mut latency = first.latency.clone();
        let (mut rows, mut requests, mut errors, mut server_errors) = (
            first.rows,
            first.requests,
            first.errors,
            first.server_errors,
        );
        let mut ts = first.ts;
        for p in &ps[1..] {
            features.merge_in(&p.features)?;
            match (&mut predictions, &p.predictions) {
                (Some(a), Some(b)) => a.merge_in(b)?,
                (a @ None, Some(b)) => *a = Some(b.clone()),
                _ => {}
            }
            latency.merge(&p.latency);
            rows += p.rows;
            requests += p.requests;
            errors += p.errors;
            server_errors += p.server_errors;
            ts = match (ts, p.ts) {
                (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
                (a, b) => a.or(b),
            };
        }
        let drift_cfg = DriftConfig {
            columns: Some(self.reference.features.clone()),
            ..self.config.drift.clone()
        };
        let drift = if self.config.exact {
            let mut frame = first.frame.clone().unwrap_or_default();
            for p in &ps[1..] {
                if let Some(f) = &p.frame {
                    frame.vstack_mut(f)?;
                }
            }
            let reference = self.reference.frame.as_ref().ok_or_else(|| {
                Error::arg("exact drift needs the training rows (ReferenceOptions::exact)")
            })?;
            mlops_data::drift_report(reference, &frame, &drift_cfg)?
        } else {
            mlops_data::drift_from_profiles(&self.reference.profile, &features, &drift_cfg)?
        };
        let drift = WindowDrift::of(drift);
        let prediction_drift = match (&self.prediction_baseline, &predictions) {
            (Some(base), Some(cur)) => Some(WindowDrift::of(mlops_data::drift_from_profiles(
                base,
                cur,
                &DriftConfig::default(),
            )?)),
            (None, Some(cur)) => {
                self.prediction_baseline = Some(cur.clone());
                None
            }
            _ => None,
        };
        let health = Health {
            requests,
            errors,
            server_errors,
            error_rate: if requests == 0 {
                0.0
            } else {
                errors as f64 / requests as f64
            },
            latency_ms: (!latency.is_empty()).then(|| {
                let q = latency
                    .quantiles(&[0.5, 0.9, 0.99])
                    .unwrap_or_else(|| vec![f64::NAN; 3]);
                Latency {
                    p50: q[0],
                    p90: q[1],
                    p99: q[2],
                    max: latency.max().unwrap_or(f64::NAN),
                    rank_error: latency.normalized_rank_error(),
                }
            }),
        };
        let mut shifts = Shifts {
            covariate: CovariateShift {
                share: drift.share,
                drifted_columns: drift
                    .columns
                    .iter()
                    .filter(|c| c.drifted)
                    .map(|c| c.column.clone())
                    .collect(),
                shifted: drift.dataset_drift,
            },
            label: None,
            concept: None,
        };
        let quality = if self.labels.is_empty() {
            None
        } else {
            let scored: Vec<&ScoredRow> = ps.iter().flat_map(|p| p.scored.iter()).collect();
            let q = quality::evaluate(
                &scored,
                &self.labels,
                &self.reference.quality,
                self.config.confidence,
            )?;
            shifts.label = q.label_shift;
            shifts.concept = q.concept;
            Some(q.quality)
        };
        let report = WindowReport {
            index: self.emitted,
            complete,
            rows,
            first_row: (self.config.window.by == WindowBy::Rows).then_some(first.first_row),
            start_ms: ts.map(|t| t.0),
            end_ms: ts.map(|t| t.1),
            profile_digest: features.digest()?,
            drift,
            prediction_drift,
            health,
            quality,
            shifts,
            revision: 0,
        };
        self.emitted += 1;
        let keep = self.config.late_label_windows;
        if keep > 0 && ps.iter().any(|p| !p.scored.is_empty()) {
            self.reported.push_back(Reported {
                report: report.clone(),
                scored: ps.iter().map(|p| p.scored.clone()).collect(),
            });
            while self.reported.len() > keep {
                self.reported.pop_front();
            }
        }
        Ok(report)
    }
}

/// The frames of a pane one under the other. Frames read by different polls may have
/// different columns (a segment of failed requests only has no input columns; a new
/// model may add a class): a column missing from a frame is null there, in the order
/// columns first appear.
fn stack(frames: &[DataFrame]) -> Result<DataFrame> {
    let Some(first) = frames.first() else {
        return Ok(DataFrame::empty_with_schema(
            &crate::inference_log::base_schema(),
        ));
    };
    let same = frames[1..]
        .iter()
        .all(|f| f.get_column_names() == first.get_column_names());
    let mut union: Vec<(PlSmallStr, DataType)> = Vec::new();
    if !same {
        for f in frames {
            for c in f.columns() {
                if !union.iter().any(|(n, _)| n == c.name()) {
                    union.push((c.name().clone(), c.dtype().clone()));
                }
            }
        }
    }
    let align = |f: &DataFrame| -> Result<DataFrame> {
        if same {
            return Ok(f.clone());
        }
        let cols = union
            .iter()
            .map(|(n, dt)| match f.column(n) {
                Ok(c) => c.clone(),
                Err(_) => Column::full_null(n.clone(), f.height(), dt),
            })
            .collect();
        Ok(DataFrame::new(f.height(), cols)?)
    };
    let mut df = align(first)?;
    for f in &frames[1..] {
        df.vstack_mut(&align(f)?)?;
    }
    Ok(df)
}

/// Each served row's id, prediction, score and confidence.
fn scored_rows(ok: &DataFrame) -> Result<Vec<ScoredRow>> {
    let n = ok.height();
    let ids = ok.column("request_id")?.cast(&DataType::String)?;
    let ids = ids.str()?;
    let rows: Vec<Option<u32>> = match ok.column("row") {
        Ok(c) => c.cast(&DataType::UInt32)?.u32()?.iter().collect(),
        Err(_) => vec![Some(0); n],
    };
    let pred = ok.column("prediction")?.cast(&DataType::String)?;
    let pred = pred.str()?;
    let value: Vec<Option<f64>> = match ok.column("value") {
        Ok(c) => c.cast(&DataType::Float64)?.f64()?.iter().collect(),
        Err(_) => vec![None; n],
    };
    let proba_cols: Vec<Vec<Option<f64>>> = ok
        .columns()
        .iter()
        .filter(|c| c.name().starts_with(PROBA_PREFIX))
        .map(|c| -> Result<Vec<Option<f64>>> {
            Ok(c.cast(&DataType::Float64)?.f64()?.iter().collect())
        })
        .collect::<Result<_>>()?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let Some(id) = ids.get(i) else { continue };
        let confidence = if proba_cols.is_empty() {
            value[i]
                .filter(|v| (0.0..=1.0).contains(v))
                .map(|v| v.max(1.0 - v))
        } else {
            proba_cols
                .iter()
                .map(|c| c[i])
                .collect::<Option<Vec<f64>>>()
                .map(|v| v.into_iter().fold(0.0, f64::max))
        };
        out.push(ScoredRow {
            request_id: id.to_string(),
            row: rows[i].unwrap_or(0),
            prediction: pred.get(i).map(str::to_string),
            value: value[i],
            confidence,
        });
    }
    Ok(out)
}

/// A whole pass (or the history of a follow): what `mlops monitor --json` prints and
/// the HTML report draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    /// The model monitored (`models:/NAME/VERSION`).
    pub model: String,
    /// Digest of the training profile compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_profile: Option<Digest>,
    /// The drift share at which a window counts as drifted.
    pub drift_share_threshold: f64,
    /// Windows in log order.
    pub windows: Vec<WindowReport>,
    /// Triggers that fired.
    pub fired: Vec<crate::trigger::Fired>,
    /// Rows of time windows dropped because they arrived after their pane closed.
    #[serde(default)]
    pub late_rows: u64,
}

impl MonitorReport {
    /// An empty report for `monitor`'s model.
    pub fn new(monitor: &Monitor) -> MonitorReport {
        MonitorReport {
            model: monitor.reference.model.clone(),
            reference_profile: monitor.reference.profile_digest,
            drift_share_threshold: monitor.config.drift.drift_share,
            windows: Vec::new(),
            fired: Vec::new(),
            late_rows: 0,
        }
    }

    /// Adds a window, or replaces the one of the same index with a later revision
    /// (late labels, [`Monitor::relabel`]).
    pub fn upsert(&mut self, w: WindowReport) {
        match self.windows.iter_mut().find(|x| x.index == w.index) {
            Some(x) if x.revision <= w.revision => *x = w,
            Some(_) => {}
            None => self.windows.push(w),
        }
    }

    /// The self-contained HTML page.
    pub fn to_html(&self, title: &str) -> String {
        html::to_html(title, self)
    }
}
