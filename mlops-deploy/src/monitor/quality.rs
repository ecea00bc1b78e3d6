//! Model quality from delayed labels, with confidence intervals, and the three shifts
//! told apart.
//!
//! Ground truth arrives after the prediction, keyed by request id (and row, for
//! requests of several rows). [`Labels`] collects it from a Parquet/CSV drop or from
//! calls; the monitor joins it to the predictions of each window.
//!
//! Per window the quality numbers carry intervals, because a window of 300 labelled
//! rows says little on its own: accuracy, and binary precision and recall, are
//! proportions with Wilson score intervals; ROC AUC gets DeLong's variance (the
//! structural components of Sun & Xu's fast algorithm) and a normal interval. With
//! more than two classes, macro precision and recall (scikit-learn's `average="macro"`)
//! are means of per-class proportions whose trials are disjoint (each row has one
//! predicted and one true class), so their variances add: [`macro_interval`] is an
//! adjusted Wald interval on that mean (2/K successes and 4/K trials added to each
//! class, Agresti–Caffo's one success and one failure per group when K = 2), which
//! keeps its coverage where plain Wald collapses (a class whose precision is 1 has
//! zero Wald variance). Each is set beside the value recorded when the model was
//! registered.
//!
//! Why three shifts, each with its own numbers:
//!
//! * **covariate shift** (inputs moved) is the window's feature drift; it need not
//!   hurt a model whose `P(y|x)` still holds;
//! * **label shift** (base rate moved) compares the labels' class shares with the
//!   training target's, from the training profile;
//! * **concept drift** (`P(y|x)` changed) is quality decay *at the inputs actually
//!   seen*: the model's own confidence predicts the accuracy it should reach on these
//!   inputs if the relationship held (confidence-based performance estimation, offset
//!   by the calibration gap measured on the training snapshot); concept drift is the
//!   observed accuracy falling below that expectation, with a confidence interval of
//!   the paired differences `1{correct} - confidence`. A pure covariate shift moves
//!   the expectation and the observation together and leaves the gap at zero.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Ground truth keyed by request id (and optionally row within the request).
#[derive(Debug, Clone, Default)]
pub struct Labels {
    /// `(request_id, row)` → label; row `None` labels every row of the request.
    by_key: HashMap<(String, Option<u32>), String>,
}

impl Labels {
    /// No labels yet.
    pub fn new() -> Labels {
        Labels::default()
    }

    /// Number of labels held.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no label is held.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Adds (or replaces) one label: the API-call path.
    pub fn add(&mut self, request_id: &str, row: Option<u32>, label: &str) {
        self.by_key
            .insert((request_id.to_string(), row), label.to_string());
    }

    /// Adds every row of a frame with columns `request_id`, `label` (any dtype, read as
    /// text) and optionally `row`; returns how many were added. Rows with a null id or
    /// label are skipped.
    pub fn add_frame(&mut self, frame: &DataFrame) -> Result<usize> {
        let need = |n: &str| {
            frame.column(n).map_err(|_| {
                Error::arg(format!(
                    "labels need a {n:?} column (have {:?})",
                    frame.get_column_names()
                ))
            })
        };
        let ids = need("request_id")?.cast(&DataType::String)?;
        let labels = need("label")?.cast(&DataType::String)?;
        let rows = match frame.column("row") {
            Ok(c) => Some(c.cast(&DataType::UInt32)?),
            Err(_) => None,
        };
        let ids = ids.str()?;
        let labels = labels.str()?;
        let rows_ca = rows.as_ref().map(|r| r.u32()).transpose()?;
        let mut n = 0;
        for i in 0..frame.height() {
            let (Some(id), Some(label)) = (ids.get(i), labels.get(i)) else {
                continue;
            };
            let row = rows_ca.and_then(|r| r.get(i));
            self.add(id, row, label);
            n += 1;
        }
        Ok(n)
    }

    /// Adds every label of `other` (replacing labels of the same key).
    pub fn extend(&mut self, other: &Labels) {
        self.extend_changed(other);
    }

    /// [`Labels::extend`], returning the request ids whose label is new or changed.
    pub(crate) fn extend_changed(&mut self, other: &Labels) -> Vec<String> {
        let mut changed = Vec::new();
        for (k, v) in &other.by_key {
            if self.by_key.get(k) != Some(v) {
                self.by_key.insert(k.clone(), v.clone());
                changed.push(k.0.clone());
            }
        }
        changed
    }

    /// Reads a drop: Parquet or CSV (see [`Labels::add_frame`] for the columns), or
    /// JSON lines (`.jsonl`/`.ndjson`: one [`crate::label_log::LabelRecord`] per line,
    /// what the server's `POST /labels` appends; a last line without its newline is a
    /// torn write and ignored). Later lines replace earlier ones of the same key.
    pub fn read(path: &Path) -> Result<Labels> {
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson")
        ) {
            return Labels::read_json_lines(path);
        }
        let frame = mlops_data::read_frame(path)?;
        let mut l = Labels::new();
        l.add_frame(&frame)
            .map_err(|e| Error::log(path, e.to_string()))?;
        Ok(l)
    }

    /// The label of one predicted row.
    pub fn get(&self, request_id: &str, row: u32) -> Option<&str> {
        self.by_key
            .get(&(request_id.to_string(), Some(row)))
            .or_else(|| self.by_key.get(&(request_id.to_string(), None)))
            .map(String::as_str)
    }

    fn read_json_lines(path: &Path) -> Result<Labels> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Ok(Labels::parse_json_lines(path, &bytes, 0)?.0)
    }

    /// Parses the complete lines of `bytes` (a torn last line is left out); `first_line`
    /// numbers them in errors. Returns the labels and the bytes consumed.
    fn parse_json_lines(path: &Path, bytes: &[u8], first_line: usize) -> Result<(Labels, usize)> {
        let complete = match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) => &bytes[..=i],
            None => &bytes[..0],
        };
        let mut l = Labels::new();
        for (i, line) in complete.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let r: crate::label_log::LabelRecord = serde_json::from_slice(line)
                .map_err(|e| Error::log(path, format!("line {}: {e}", first_line + i + 1)))?;
            l.add(&r.request_id, r.row, &r.label);
        }
        Ok((l, complete.len()))
    }
}

/// A labels file watched for changes: [`LabelsFile::poll`] returns the labels that
/// appeared since the last call. A JSON-lines file that only grew (what `POST /labels`
/// appends to) is read from where the last call stopped, so following a stream of
/// labels costs what arrived, not the whole file each time; any other change (a new
/// Parquet/CSV drop, a file replaced, truncated or renamed over) reads it whole.
#[derive(Debug, Clone)]
pub struct LabelsFile {
    path: std::path::PathBuf,
    /// (length, modification time, inode) when last read.
    seen: Option<(u64, Option<std::time::SystemTime>, u64)>,
    /// Bytes of complete lines consumed (JSON lines).
    offset: u64,
    /// Lines consumed (JSON lines), for error messages.
    lines: usize,
}

impl LabelsFile {
    /// Watches `path` (it need not exist yet).
    pub fn new(path: impl Into<std::path::PathBuf>) -> LabelsFile {
        LabelsFile {
            path: path.into(),
            seen: None,
            offset: 0,
            lines: 0,
        }
    }

    /// The watched path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The labels new since the last call (`None`: the file is missing or unchanged).
    pub fn poll(&mut self) -> Result<Option<Labels>> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0u64;
        let stamp = (meta.len(), meta.modified().ok(), inode);
        if self.seen == Some(stamp) {
            return Ok(None);
        }
        let json_lines = matches!(
            self.path.extension().and_then(|e| e.to_str()),
            Some("jsonl" | "ndjson")
        );
        let appended = json_lines
            && cfg!(unix)
            && self
                .seen
                .is_some_and(|(len, _, ino)| ino == inode && meta.len() >= len);
        let labels = if json_lines {
            if !appended {
                self.offset = 0;
                self.lines = 0;
            }
            use std::io::{Read, Seek, SeekFrom};
            let mut f = std::fs::File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
            f.seek(SeekFrom::Start(self.offset))
                .map_err(|e| Error::io(&self.path, e))?;
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes)
                .map_err(|e| Error::io(&self.path, e))?;
            let (labels, used) = Labels::parse_json_lines(&self.path, &bytes, self.lines)?;
            self.offset += used as u64;
            self.lines += bytes[..used].iter().filter(|&&b| b == b'\n').count();
            labels
        } else {
            Labels::read(&self.path)?
        };
        self.seen = Some(stamp);
        Ok(Some(labels))
    }
}

/// One served row, kept for the join with labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRow {
    /// Request id.
    pub request_id: String,
    /// Row within the request.
    pub row: u32,
    /// Predicted label (or value as text).
    pub prediction: Option<String>,
    /// Positive-class score (binary) or regression value.
    pub value: Option<f64>,
    /// The model's confidence in its prediction (largest class probability).
    pub confidence: Option<f64>,
}

/// A value with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Point value.
    pub value: f64,
    /// Lower bound of the interval (`None` when no interval is known).
    pub lower: Option<f64>,
    /// Upper bound of the interval.
    pub upper: Option<f64>,
}

/// One quality metric of a window beside the registration value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityMetric {
    /// `accuracy`, `precision`, `recall`, `roc_auc`, `mae`, ...
    pub metric: String,
    /// Value and interval on the window's labelled rows.
    #[serde(flatten)]
    pub estimate: Estimate,
    /// How the interval was computed (`wilson`, `delong`, `normal`, `adjusted_wald`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// The value recorded in the model package at registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<f64>,
    /// The registration value lies outside the interval on the bad side.
    pub degraded: bool,
}

/// Quality of a window: how many of its rows have labels, and the metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Rows joined to a label.
    pub labelled: u64,
    /// Labels that name no class of the model (left out).
    pub unknown_labels: u64,
    /// The metrics (empty when no row is labelled).
    pub metrics: Vec<QualityMetric>,
}

impl Quality {
    /// A metric by name.
    pub fn metric(&self, name: &str) -> Option<&QualityMetric> {
        self.metrics.iter().find(|m| m.metric == name)
    }
}

/// Label shift: the labels' class shares against the training target's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelShift {
    /// Class shares in the training data (from the training profile).
    pub reference: BTreeMap<String, f64>,
    /// Class shares among the window's labels.
    pub current: BTreeMap<String, f64>,
    /// Jensen–Shannon distance between the two (base e).
    pub distance: f64,
    /// Binary: the positive class's rate in the window with a Wilson interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_rate: Option<Estimate>,
    /// Binary: the positive rate in the training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_positive_rate: Option<f64>,
    /// Binary: the training rate lies outside the window's interval; otherwise the
    /// distance is at least 0.1 (Evidently's Jensen–Shannon threshold).
    pub shifted: bool,
}

/// Concept drift: observed accuracy against the accuracy the model's confidence
/// predicts for the inputs seen (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConceptDrift {
    /// Accuracy expected at these inputs if `P(y|x)` held: mean confidence plus the
    /// training calibration gap.
    pub expected_accuracy: f64,
    /// Accuracy observed.
    pub observed_accuracy: f64,
    /// `observed - expected`, with its interval.
    pub gap: Estimate,
    /// `accuracy - mean confidence` on the training snapshot.
    pub reference_gap: f64,
    /// The whole interval lies below zero.
    pub drifted: bool,
}

/// Everything the quality step computes for one window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QualityOutcome {
    pub quality: Quality,
    pub label_shift: Option<LabelShift>,
    pub concept: Option<ConceptDrift>,
}

/// What the quality step needs to know about the model and its training data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReference {
    /// Class names (empty for regression).
    pub classes: Vec<String>,
    /// Index of the positive class for binary metrics (default 1).
    pub positive: usize,
    /// Metrics recorded at registration, by scikit-learn name.
    pub registered: BTreeMap<String, f64>,
    /// Training target counts per class (label shift).
    pub target_counts: BTreeMap<String, u64>,
    /// `accuracy - mean confidence` on the training snapshot (concept drift).
    pub calibration_gap: Option<f64>,
}

fn z_of(confidence: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    match Normal::new(0.0, 1.0) {
        Ok(n) => n.inverse_cdf(0.5 + confidence / 2.0),
        Err(_) => 1.959963984540054,
    }
}

/// Wilson score interval of `successes` out of `n` at two-sided `confidence`.
pub fn wilson(successes: u64, n: u64, confidence: f64) -> Estimate {
    if n == 0 {
        return Estimate {
            value: f64::NAN,
            lower: None,
            upper: None,
        };
    }
    let z = z_of(confidence);
    let nf = n as f64;
    let p = successes as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let center = (p + z2 / (2.0 * nf)) / denom;
    let half = z / denom * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    Estimate {
        value: p,
        lower: Some((center - half).max(0.0)),
        upper: Some((center + half).min(1.0)),
    }
}

/// Macro mean of per-class proportions, `successes[k]` of `trials[k]`, with an
/// adjusted Wald interval at two-sided `confidence` (see the module docs). A class
/// without trials counts 0 (scikit-learn's `zero_division=0`) and adds no variance.
/// The interval is centred on the adjusted mean, so it can sit slightly off-centre
/// around the value; it is clipped to [0, 1].
pub fn macro_interval(successes: &[u64], trials: &[u64], confidence: f64) -> Estimate {
    let k = trials.len().min(successes.len());
    if k == 0 {
        return Estimate {
            value: f64::NAN,
            lower: None,
            upper: None,
        };
    }
    let kf = k as f64;
    let (a, b) = (2.0 / kf, 4.0 / kf);
    let (mut value, mut center, mut var) = (0.0, 0.0, 0.0);
    for (&x, &n) in successes.iter().zip(trials).take(k) {
        if n == 0 {
            continue;
        }
        let (x, n) = (x as f64, n as f64);
        value += x / n;
        let p = (x + a) / (n + b);
        center += p;
        var += p * (1.0 - p) / (n + b);
    }
    let (value, center) = (value / kf, center / kf);
    let half = z_of(confidence) * var.sqrt() / kf;
    Estimate {
        value,
        lower: Some((center - half).max(0.0)),
        upper: Some((center + half).min(1.0)),
    }
}

/// Macro precision and recall of class indices (over the classes present in `y_true`
/// or `y_pred`, as scikit-learn's default `labels`) with [`macro_interval`]s.
pub fn macro_precision_recall(
    y_true: &[usize],
    y_pred: &[usize],
    confidence: f64,
) -> (Estimate, Estimate) {
    let c = mlops_train::metrics::label_counts(y_true, y_pred);
    let counts = |v: &[f64]| v.iter().map(|&x| x as u64).collect::<Vec<u64>>();
    let tp = counts(&c.tp);
    (
        macro_interval(&tp, &counts(&c.pred), confidence),
        macro_interval(&tp, &counts(&c.truth), confidence),
    )
}

/// Midranks (1-based, ties averaged) of `v`.
fn midranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mid;
        }
        i = j + 1;
    }
    r
}

fn sample_var(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    if v.len() < 2 {
        return 0.0;
    }
    let m = v.iter().sum::<f64>() / n;
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)
}

/// ROC AUC with DeLong's variance: `(auc, variance)`; `None` without both classes.
pub fn auc_delong(y_true: &[bool], score: &[f64]) -> Option<(f64, f64)> {
    let pos: Vec<f64> = y_true
        .iter()
        .zip(score)
        .filter(|(y, _)| **y)
        .map(|(_, s)| *s)
        .collect();
    let neg: Vec<f64> = y_true
        .iter()
        .zip(score)
        .filter(|(y, _)| !**y)
        .map(|(_, s)| *s)
        .collect();
    let (m, n) = (pos.len(), neg.len());
    if m == 0 || n == 0 {
        return None;
    }
    let mut all = pos.clone();
    all.extend_from_slice(&neg);
    let rz = midranks(&all);
    let rx = midranks(&pos);
    let ry = midranks(&neg);
    let v10: Vec<f64> = (0..m).map(|i| (rz[i] - rx[i]) / n as f64).collect();
    let v01: Vec<f64> = (0..n)
        .map(|j| 1.0 - (rz[m + j] - ry[j]) / m as f64)
        .collect();
    let auc = v10.iter().sum::<f64>() / m as f64;
    let var = sample_var(&v10) / m as f64 + sample_var(&v01) / n as f64;
    Some((auc, var))
}

/// ROC AUC with a DeLong normal interval at `confidence`, clipped to [0, 1].
pub fn auc_interval(y_true: &[bool], score: &[f64], confidence: f64) -> Option<Estimate> {
    let (auc, var) = auc_delong(y_true, score)?;
    let half = z_of(confidence) * var.max(0.0).sqrt();
    Some(Estimate {
        value: auc,
        lower: Some((auc - half).max(0.0)),
        upper: Some((auc + half).min(1.0)),
    })
}

fn mean_interval(v: &[f64], confidence: f64) -> Estimate {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return Estimate {
            value: m,
            lower: None,
            upper: None,
        };
    }
    let half = z_of(confidence) * (sample_var(v) / n).sqrt();
    Estimate {
        value: m,
        lower: Some(m - half),
        upper: Some(m + half),
    }
}

fn metric(
    name: &str,
    estimate: Estimate,
    interval: Option<&str>,
    registered: Option<f64>,
    higher_is_better: bool,
) -> QualityMetric {
    let degraded = match registered {
        Some(r) if higher_is_better => estimate.upper.is_some_and(|u| u < r),
        Some(r) => estimate.lower.is_some_and(|l| l > r),
        None => false,
    };
    QualityMetric {
        metric: name.to_string(),
        estimate,
        interval: interval.map(str::to_string),
        registered,
        degraded,
    }
}

fn point(v: f64) -> Estimate {
    Estimate {
        value: v,
        lower: None,
        upper: None,
    }
}

/// Joins `rows` with `labels` and computes quality, label shift and concept drift.
pub(crate) fn evaluate(
    rows: &[&ScoredRow],
    labels: &Labels,
    reference: &QualityReference,
    confidence: f64,
) -> Result<QualityOutcome> {
    let joined: Vec<(&ScoredRow, &str)> = rows
        .iter()
        .filter_map(|r| labels.get(&r.request_id, r.row).map(|l| (*r, l)))
        .collect();
    if reference.classes.is_empty() {
        return regression(&joined, reference, confidence);
    }
    let k = reference.classes.len();
    let index: HashMap<&str, usize> = reference
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut y_true = Vec::with_capacity(joined.len());
    let mut y_pred = Vec::with_capacity(joined.len());
    let mut scores = Vec::new();
    let mut conf = Vec::new();
    let mut unknown = 0u64;
    for (r, l) in &joined {
        let (Some(&t), Some(&p)) = (
            index.get(*l),
            r.prediction.as_deref().and_then(|p| index.get(p)),
        ) else {
            unknown += 1;
            continue;
        };
        y_true.push(t);
        y_pred.push(p);
        scores.push(r.value);
        conf.push(r.confidence);
    }
    let n = y_true.len() as u64;
    let mut quality = Quality {
        labelled: n,
        unknown_labels: unknown,
        metrics: Vec::new(),
    };
    if n == 0 {
        return Ok(QualityOutcome {
            quality,
            label_shift: None,
            concept: None,
        });
    }
    let reg = |name: &str| reference.registered.get(name).copied();
    let correct = y_true.iter().zip(&y_pred).filter(|(a, b)| a == b).count() as u64;
    quality.metrics.push(metric(
        "accuracy",
        wilson(correct, n, confidence),
        Some("wilson"),
        reg("accuracy_score"),
        true,
    ));
    if k == 2 {
        let pos = reference.positive.min(1);
        let tp = y_true
            .iter()
            .zip(&y_pred)
            .filter(|(t, p)| **t == pos && **p == pos)
            .count() as u64;
        let pred_pos = y_pred.iter().filter(|p| **p == pos).count() as u64;
        let true_pos = y_true.iter().filter(|t| **t == pos).count() as u64;
        quality.metrics.push(metric(
            "precision",
            wilson(tp, pred_pos, confidence),
            Some("wilson"),
            reg("precision_score"),
            true,
        ));
        quality.metrics.push(metric(
            "recall",
            wilson(tp, true_pos, confidence),
            Some("wilson"),
            reg("recall_score"),
            true,
        ));
        let sc: Option<Vec<f64>> = scores.iter().copied().collect();
        if let Some(sc) = sc {
            let t: Vec<bool> = y_true.iter().map(|&y| y == pos).collect();
            // the logged value is the score of class 1
            let sc: Vec<f64> = if pos == 1 {
                sc
            } else {
                sc.iter().map(|s| 1.0 - s).collect()
            };
            if let Some(e) = auc_interval(&t, &sc, confidence) {
                quality.metrics.push(metric(
                    "roc_auc",
                    e,
                    Some("delong"),
                    reg("roc_auc_score"),
                    true,
                ));
            }
        }
    } else {
        let (p, r) = macro_precision_recall(&y_true, &y_pred, confidence);
        quality.metrics.push(metric(
            "precision_macro",
            p,
            Some("adjusted_wald"),
            reg("precision_score"),
            true,
        ));
        quality.metrics.push(metric(
            "recall_macro",
            r,
            Some("adjusted_wald"),
            reg("recall_score"),
            true,
        ));
    }
    // label shift
    let label_shift = label_shift(&y_true, reference, confidence);
    // concept drift
    let concept = match (
        conf.iter().copied().collect::<Option<Vec<f64>>>(),
        reference.calibration_gap,
    ) {
        (Some(c), Some(ref_gap)) => {
            let d: Vec<f64> = y_true
                .iter()
                .zip(&y_pred)
                .zip(&c)
                .map(|((t, p), c)| f64::from(u8::from(t == p)) - c - ref_gap)
                .collect();
            let gap = mean_interval(&d, confidence);
            let mean_conf = c.iter().sum::<f64>() / c.len() as f64;
            Some(ConceptDrift {
                expected_accuracy: mean_conf + ref_gap,
                observed_accuracy: correct as f64 / n as f64,
                drifted: gap.upper.is_some_and(|u| u < 0.0),
                gap,
                reference_gap: ref_gap,
            })
        }
        _ => None,
    };
    Ok(QualityOutcome {
        quality,
        label_shift,
        concept,
    })
}

fn label_shift(
    y_true: &[usize],
    reference: &QualityReference,
    confidence: f64,
) -> Option<LabelShift> {
    let total_ref: u64 = reference.target_counts.values().sum();
    if total_ref == 0 || y_true.is_empty() {
        return None;
    }
    let k = reference.classes.len();
    let mut cur_counts = vec![0u64; k];
    for &t in y_true {
        cur_counts[t] += 1;
    }
    let ref_counts: Vec<u64> = reference
        .classes
        .iter()
        .map(|c| reference.target_counts.get(c).copied().unwrap_or(0))
        .collect();
    let n = y_true.len() as f64;
    let share = |counts: &[u64], total: f64| -> BTreeMap<String, f64> {
        reference
            .classes
            .iter()
            .zip(counts)
            .map(|(c, &x)| (c.clone(), x as f64 / total))
            .collect()
    };
    let distance = mlops_data::drift::stats::jensenshannon(&ref_counts, &cur_counts)
        .map(|t| t.statistic)
        .unwrap_or(f64::NAN);
    let (positive_rate, reference_positive_rate, shifted) = if k == 2 {
        let pos = reference.positive.min(1);
        let est = wilson(cur_counts[pos], y_true.len() as u64, confidence);
        let r = ref_counts[pos] as f64 / total_ref as f64;
        let out = est.lower.is_some_and(|l| r < l) || est.upper.is_some_and(|u| r > u);
        (Some(est), Some(r), out)
    } else {
        (None, None, distance >= 0.1)
    };
    Some(LabelShift {
        reference: share(&ref_counts, total_ref as f64),
        current: share(&cur_counts, n),
        distance,
        positive_rate,
        reference_positive_rate,
        shifted,
    })
}

fn regression(
    joined: &[(&ScoredRow, &str)],
    reference: &QualityReference,
    confidence: f64,
) -> Result<QualityOutcome> {
    let mut abs_err = Vec::with_capacity(joined.len());
    let mut unknown = 0u64;
    for (r, l) in joined {
        match (r.value, l.parse::<f64>().ok()) {
            (Some(v), Some(y)) if v.is_finite() && y.is_finite() => abs_err.push((v - y).abs()),
            _ => unknown += 1,
        }
    }
    let mut quality = Quality {
        labelled: abs_err.len() as u64,
        unknown_labels: unknown,
        metrics: Vec::new(),
    };
    if !abs_err.is_empty() {
        let reg = |name: &str| reference.registered.get(name).copied();
        quality.metrics.push(metric(
            "mae",
            mean_interval(&abs_err, confidence),
            Some("normal"),
            reg("mean_absolute_error"),
            false,
        ));
        let mse = abs_err.iter().map(|e| e * e).sum::<f64>() / abs_err.len() as f64;
        quality.metrics.push(metric(
            "rmse",
            point(mse.sqrt()),
            None,
            reg("root_mean_squared_error"),
            false,
        ));
    }
    Ok(QualityOutcome {
        quality,
        label_shift: None,
        concept: None,
    })
}
