//! `Evaluation`: the metrics of one model on one evaluation set, as plain serde data.
//!
//! An evaluation keeps the per-row labels, predictions and scores next to the metrics,
//! because the gates compare a candidate with the champion on the *same rows* (paired
//! tests) and recompute metrics per group. Metric keys are scikit-learn's function
//! names (`accuracy_score`, `roc_auc_score`, ...), so a JSON evaluation reads the same
//! in a notebook; averages other than the task's default carry a suffix
//! (`f1_score_macro`, `precision_score_weighted`). Metrics that are undefined on this
//! data (scikit-learn's `nan`) are left out of `metrics` and named in `undefined`:
//! JSON has no NaN.

use std::collections::BTreeMap;

use mlops_core::Digest;
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::metrics::{self, Average, CalibrationBin, ConfusionMatrix};
use crate::{Error, Result};

/// What kind of prediction was evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Two classes, class `1` positive.
    Binary,
    /// Three or more classes.
    Multiclass,
    /// A real-valued target.
    Regression,
}

/// Per-row inputs of an evaluation (labels as class indices for classification).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowPredictions {
    /// True values (class index or target).
    pub y_true: Vec<f64>,
    /// Predicted values (class index or target).
    pub y_pred: Vec<f64>,
    /// Positive-class probability (binary) when the model has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Vec<f64>>,
    /// Class probabilities, one row per input row (multiclass), when available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proba: Option<Vec<Vec<f64>>>,
    /// Group of each row (for slices and fairness), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Vec<String>>,
}

/// Metrics of one group (slice) of the evaluation rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    /// Rows in the group.
    pub rows: u64,
    /// The same metric keys as the whole evaluation, plus `selection_rate` and
    /// `true_positive_rate` for binary tasks.
    pub metrics: BTreeMap<String, f64>,
    /// Metrics undefined for this group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undefined: Vec<String>,
}

/// Fairness of a binary classifier across groups, as Fairlearn defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fairness {
    /// Largest minus smallest group selection rate (share predicted positive):
    /// Fairlearn's `demographic_parity_difference`.
    pub demographic_parity_difference: f64,
    /// Largest minus smallest group true positive rate (recall): Fairlearn's
    /// `equal_opportunity_difference`. A group without positives has rate 0
    /// (scikit-learn's `zero_division=0`).
    pub equal_opportunity_difference: f64,
}

/// Facts about the model itself that gates may limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelFacts {
    /// Serialised model size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Median latency of one single-row prediction, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile latency of one single-row prediction, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p99_ms: Option<f64>,
}

/// The result of checking the evaluation data against its contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractOutcome {
    /// Whether every check passed.
    pub passed: bool,
    /// Short descriptions of the failed checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

impl From<&mlops_data::ValidationReport> for ContractOutcome {
    /// The outcome a package and a gate record: passed when the report is clean, each
    /// failure as `column: detail` (or the table-level detail).
    fn from(report: &mlops_data::ValidationReport) -> ContractOutcome {
        ContractOutcome {
            passed: report.is_ok(),
            failures: report
                .failures
                .iter()
                .map(|f| match &f.column {
                    Some(c) => format!("{c}: {}", f.detail),
                    None => f.detail.clone(),
                })
                .collect(),
        }
    }
}

/// One model's evaluation: plain data that prints, serialises and gates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The task.
    pub task: Task,
    /// Evaluation rows.
    pub rows: u64,
    /// Class names by index (empty for regression).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// Metric values by scikit-learn function name.
    pub metrics: BTreeMap<String, f64>,
    /// Metrics undefined on this data (scikit-learn returns `nan`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undefined: Vec<String>,
    /// Confusion matrix (classification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confusion_matrix: Option<ConfusionMatrix>,
    /// Calibration table, ten uniform bins (binary with scores).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibration: Vec<CalibrationBin>,
    /// Metrics per group value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupMetrics>,
    /// Fairness across groups (binary with groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fairness: Option<Fairness>,
    /// Digest of the true values, so paired comparisons can check they see the same rows.
    pub rows_digest: Digest,
    /// The per-row data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predictions: Option<RowPredictions>,
    /// Model size and latency, when measured.
    #[serde(default)]
    pub model: ModelFacts,
    /// Outcome of the data contract on the evaluation data, when checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractOutcome>,
}

/// The metrics an [`Evaluation`] computes, by scikit-learn function name (which of them
/// are present depends on the task and on whether the model gives scores).
pub const METRIC_NAMES: &[&str] = &[
    "accuracy_score",
    "balanced_accuracy_score",
    "precision_score",
    "recall_score",
    "f1_score",
    "precision_score_macro",
    "recall_score_macro",
    "f1_score_macro",
    "precision_score_weighted",
    "recall_score_weighted",
    "f1_score_weighted",
    "matthews_corrcoef",
    "roc_auc_score",
    "average_precision_score",
    "log_loss",
    "brier_score_loss",
    "r2_score",
    "mean_absolute_error",
    "root_mean_squared_error",
    "mean_absolute_percentage_error",
];

/// Per-group rates [`Evaluation::with_groups`] adds besides the metrics.
const GROUP_RATES: &[&str] = &["selection_rate", "true_positive_rate"];

/// Fairness figures as [`Evaluation::flat_metrics`] names them.
const FAIRNESS_NAMES: &[&str] = &[
    "fairness.demographic_parity_difference",
    "fairness.equal_opportunity_difference",
];

/// Whether `name` is a metric an evaluation can hold under that name in
/// [`Evaluation::flat_metrics`]: one of [`METRIC_NAMES`], `groups.<group>.<metric or
/// rate>`, or a `fairness.` figure.
pub fn is_metric_name(name: &str) -> bool {
    if METRIC_NAMES.contains(&name) || FAIRNESS_NAMES.contains(&name) {
        return true;
    }
    match name
        .strip_prefix("groups.")
        .and_then(|r| r.rsplit_once('.'))
    {
        Some((group, metric)) => {
            !group.is_empty() && (METRIC_NAMES.contains(&metric) || GROUP_RATES.contains(&metric))
        }
        None => false,
    }
}

/// Whether a larger value of the metric is better.
pub fn higher_is_better(metric: &str) -> bool {
    !matches!(
        metric.split('.').next_back().unwrap_or(metric),
        "log_loss"
            | "brier_score_loss"
            | "root_mean_squared_error"
            | "mean_absolute_error"
            | "mean_absolute_percentage_error"
    )
}

fn digest_of(values: &[f64]) -> Digest {
    let mut h = mlops_core::Hasher::new();
    for v in values {
        h.update(&v.to_le_bytes());
    }
    h.finish()
}

struct MetricSet {
    metrics: BTreeMap<String, f64>,
    undefined: Vec<String>,
}

impl MetricSet {
    fn new() -> MetricSet {
        MetricSet {
            metrics: BTreeMap::new(),
            undefined: Vec::new(),
        }
    }
    fn put(&mut self, name: &str, v: Result<f64>) -> Result<()> {
        let v = v?;
        if v.is_nan() {
            self.undefined.push(name.to_string());
        } else {
            self.metrics.insert(name.to_string(), v);
        }
        Ok(())
    }
}

fn classification_metrics(
    y_true: &[usize],
    y_pred: &[usize],
    score: Option<&[f64]>,
    proba: Option<ArrayView2<'_, f64>>,
    binary: bool,
) -> Result<MetricSet> {
    let mut m = MetricSet::new();
    m.put("accuracy_score", metrics::accuracy(y_true, y_pred))?;
    m.put(
        "balanced_accuracy_score",
        metrics::balanced_accuracy(y_true, y_pred),
    )?;
    let (default, suffix) = if binary {
        (Average::Binary, "")
    } else {
        (Average::Macro, "")
    };
    m.put(
        &format!("precision_score{suffix}"),
        metrics::precision(y_true, y_pred, default),
    )?;
    m.put(
        &format!("recall_score{suffix}"),
        metrics::recall(y_true, y_pred, default),
    )?;
    m.put(
        &format!("f1_score{suffix}"),
        metrics::f1(y_true, y_pred, default),
    )?;
    for (avg, s) in [(Average::Macro, "_macro"), (Average::Weighted, "_weighted")] {
        m.put(
            &format!("precision_score{s}"),
            metrics::precision(y_true, y_pred, avg),
        )?;
        m.put(
            &format!("recall_score{s}"),
            metrics::recall(y_true, y_pred, avg),
        )?;
        m.put(&format!("f1_score{s}"), metrics::f1(y_true, y_pred, avg))?;
    }
    m.put(
        "matthews_corrcoef",
        metrics::matthews_corrcoef(y_true, y_pred),
    )?;
    if let Some(s) = score {
        let t: Vec<bool> = y_true.iter().map(|&y| y == 1).collect();
        m.put("roc_auc_score", metrics::roc_auc(&t, s))?;
        m.put("average_precision_score", metrics::average_precision(&t, s))?;
        m.put("log_loss", metrics::log_loss_binary(&t, s))?;
        m.put("brier_score_loss", metrics::brier_score(&t, s))?;
    } else if let Some(p) = proba {
        m.put("log_loss", metrics::log_loss(y_true, p))?;
        m.put("roc_auc_score", metrics::roc_auc_ovr_macro(y_true, p))?;
    }
    Ok(m)
}

fn regression_metrics(y_true: &[f64], y_pred: &[f64]) -> Result<MetricSet> {
    let mut m = MetricSet::new();
    m.put("r2_score", metrics::r2(y_true, y_pred))?;
    m.put("mean_absolute_error", metrics::mae(y_true, y_pred))?;
    m.put("root_mean_squared_error", metrics::rmse(y_true, y_pred))?;
    m.put(
        "mean_absolute_percentage_error",
        metrics::mape(y_true, y_pred),
    )?;
    Ok(m)
}

fn to_labels(xs: &[f64]) -> Vec<usize> {
    xs.iter().map(|&x| x as usize).collect()
}

fn from_labels(xs: &[usize]) -> Vec<f64> {
    xs.iter().map(|&x| x as f64).collect()
}

impl Evaluation {
    /// Evaluates a classifier: labels are class indices into `classes`; `proba` (rows ×
    /// classes) adds the probabilistic metrics. Two classes make a binary task with
    /// class 1 positive.
    pub fn classification(
        y_true: &[usize],
        y_pred: &[usize],
        proba: Option<ArrayView2<'_, f64>>,
        classes: &[String],
    ) -> Result<Evaluation> {
        let k = classes.len();
        if k < 2 {
            return Err(Error::arg(format!(
                "classification needs at least two classes, got {k}"
            )));
        }
        if let Some(p) = &proba
            && p.ncols() != k
        {
            return Err(Error::arg(format!(
                "probabilities have {} columns for {k} classes",
                p.ncols()
            )));
        }
        let binary = k == 2;
        let score: Option<Vec<f64>> = if binary {
            proba.as_ref().map(|p| p.column(1).to_vec())
        } else {
            None
        };
        let cm = ConfusionMatrix::new(y_true, y_pred, k)?;
        let m = classification_metrics(
            y_true,
            y_pred,
            score.as_deref(),
            if binary { None } else { proba },
            binary,
        )?;
        let calibration = match &score {
            Some(s) => {
                let t: Vec<bool> = y_true.iter().map(|&y| y == 1).collect();
                metrics::calibration_table(&t, s, 10)?
            }
            None => Vec::new(),
        };
        let yt = from_labels(y_true);
        Ok(Evaluation {
            task: if binary {
                Task::Binary
            } else {
                Task::Multiclass
            },
            rows: y_true.len() as u64,
            classes: classes.to_vec(),
            metrics: m.metrics,
            undefined: m.undefined,
            confusion_matrix: Some(cm),
            calibration,
            groups: BTreeMap::new(),
            fairness: None,
            rows_digest: digest_of(&yt),
            predictions: Some(RowPredictions {
                y_true: yt,
                y_pred: from_labels(y_pred),
                score: score.clone(),
                proba: if binary {
                    None
                } else {
                    proba.map(|p| p.rows().into_iter().map(|r| r.to_vec()).collect())
                },
                group: None,
            }),
            model: ModelFacts::default(),
            contract: None,
        })
    }

    /// Evaluates binary labels against positive-class scores; `y_pred` defaults to
    /// `score >= 0.5`. Scores must be probabilities in `[0, 1]`.
    pub fn binary_scores(
        y_true: &[bool],
        score: &[f64],
        y_pred: Option<&[bool]>,
    ) -> Result<Evaluation> {
        let yt: Vec<usize> = y_true.iter().map(|&b| usize::from(b)).collect();
        let yp: Vec<usize> = match y_pred {
            Some(p) => p.iter().map(|&b| usize::from(b)).collect(),
            None => score.iter().map(|&s| usize::from(s >= 0.5)).collect(),
        };
        if score.len() != yt.len() {
            return Err(Error::arg(format!(
                "{} labels but {} scores",
                yt.len(),
                score.len()
            )));
        }
        let mut p = Array2::<f64>::zeros((score.len(), 2));
        for (i, &s) in score.iter().enumerate() {
            p[[i, 0]] = 1.0 - s;
            p[[i, 1]] = s;
        }
        let mut e = Evaluation::classification(
            &yt,
            &yp,
            Some(p.view()),
            &["0".to_string(), "1".to_string()],
        )?;
        // Keep the caller's scores bit-exact (1 - (1 - s) need not equal s).
        if let Some(pr) = e.predictions.as_mut() {
            pr.score = Some(score.to_vec());
        }
        Ok(e)
    }

    /// Evaluates binary labels against hard predictions only.
    pub fn binary_labels(y_true: &[bool], y_pred: &[bool]) -> Result<Evaluation> {
        let yt: Vec<usize> = y_true.iter().map(|&b| usize::from(b)).collect();
        let yp: Vec<usize> = y_pred.iter().map(|&b| usize::from(b)).collect();
        Evaluation::classification(&yt, &yp, None, &["0".to_string(), "1".to_string()])
    }

    /// Evaluates a regressor.
    pub fn regression(y_true: &[f64], y_pred: &[f64]) -> Result<Evaluation> {
        let m = regression_metrics(y_true, y_pred)?;
        Ok(Evaluation {
            task: Task::Regression,
            rows: y_true.len() as u64,
            classes: Vec::new(),
            metrics: m.metrics,
            undefined: m.undefined,
            confusion_matrix: None,
            calibration: Vec::new(),
            groups: BTreeMap::new(),
            fairness: None,
            rows_digest: digest_of(y_true),
            predictions: Some(RowPredictions {
                y_true: y_true.to_vec(),
                y_pred: y_pred.to_vec(),
                score: None,
                proba: None,
                group: None,
            }),
            model: ModelFacts::default(),
            contract: None,
        })
    }

    /// The same evaluation with the outcome of its data's contract check (what the
    /// `contract_passed` gate reads).
    pub fn with_contract(mut self, report: &mlops_data::ValidationReport) -> Evaluation {
        self.contract = Some(ContractOutcome::from(report));
        self
    }

    /// A metric's value, if defined.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }

    /// Adds per-group metrics (slices) and, for binary tasks, Fairlearn's fairness
    /// differences. `groups` has one value per evaluation row.
    pub fn with_groups(mut self, groups: &[String]) -> Result<Evaluation> {
        let pr = self
            .predictions
            .clone()
            .ok_or_else(|| Error::arg("with_groups: the evaluation has no per-row data"))?;
        if groups.len() != pr.y_true.len() {
            return Err(Error::arg(format!(
                "with_groups: {} group values for {} rows",
                groups.len(),
                pr.y_true.len()
            )));
        }
        let mut names: Vec<&String> = groups.iter().collect();
        names.sort();
        names.dedup();
        let mut out = BTreeMap::new();
        let mut selection = Vec::new();
        let mut tpr = Vec::new();
        for g in names {
            let idx: Vec<usize> = (0..groups.len()).filter(|&i| &groups[i] == g).collect();
            let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let yt = pick(&pr.y_true);
            let yp = pick(&pr.y_pred);
            let mut m = match self.task {
                Task::Regression => regression_metrics(&yt, &yp)?,
                Task::Binary | Task::Multiclass => {
                    let score = pr.score.as_ref().map(|s| pick(s));
                    let proba = match (&pr.proba, self.task) {
                        (Some(p), Task::Multiclass) => {
                            let k = self.classes.len();
                            let mut a = Array2::<f64>::zeros((idx.len(), k));
                            for (r, &i) in idx.iter().enumerate() {
                                for c in 0..k.min(p[i].len()) {
                                    a[[r, c]] = p[i][c];
                                }
                            }
                            Some(a)
                        }
                        _ => None,
                    };
                    classification_metrics(
                        &to_labels(&yt),
                        &to_labels(&yp),
                        score.as_deref(),
                        proba.as_ref().map(|a| a.view()),
                        self.task == Task::Binary,
                    )?
                }
            };
            if self.task == Task::Binary {
                let n = yt.len() as f64;
                let sel = yp.iter().filter(|&&p| p == 1.0).count() as f64 / n;
                let t: Vec<usize> = to_labels(&yt);
                let p: Vec<usize> = to_labels(&yp);
                let r = metrics::recall(&t, &p, Average::Binary)?;
                m.metrics.insert("selection_rate".into(), sel);
                m.metrics.insert("true_positive_rate".into(), r);
                selection.push(sel);
                tpr.push(r);
            }
            out.insert(
                g.clone(),
                GroupMetrics {
                    rows: idx.len() as u64,
                    metrics: m.metrics,
                    undefined: m.undefined,
                },
            );
        }
        let spread = |v: &[f64]| {
            let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            max - min
        };
        if self.task == Task::Binary && !selection.is_empty() {
            self.fairness = Some(Fairness {
                demographic_parity_difference: spread(&selection),
                equal_opportunity_difference: spread(&tpr),
            });
        }
        self.groups = out;
        if let Some(p) = self.predictions.as_mut() {
            p.group = Some(groups.to_vec());
        }
        Ok(self)
    }

    /// A flat map of every metric, with group metrics as `groups.VALUE.METRIC` and
    /// fairness as `fairness.NAME`: what the command line prints and trackers log.
    pub fn flat_metrics(&self) -> BTreeMap<String, f64> {
        let mut out = self.metrics.clone();
        for (g, gm) in &self.groups {
            for (k, v) in &gm.metrics {
                out.insert(format!("groups.{g}.{k}"), *v);
            }
        }
        if let Some(f) = &self.fairness {
            out.insert(
                "fairness.demographic_parity_difference".into(),
                f.demographic_parity_difference,
            );
            out.insert(
                "fairness.equal_opportunity_difference".into(),
                f.equal_opportunity_difference,
            );
        }
        out
    }

    /// Logs this evaluation to `run` in one call: every defined metric under its
    /// [`Evaluation::flat_metrics`] name at step 0 (undefined ones are skipped: MLflow
    /// has no NaN), the model's size and latency when measured (`model_size_bytes`,
    /// `latency_p50_ms`, `latency_p99_ms`), and the whole evaluation as the artifact
    /// `evaluation.json`.
    pub fn log_to(&self, run: &mlops_core::tracking::Run) -> Result<()> {
        self.log_metrics_to(run, "")?;
        let facts = [
            ("model_size_bytes", self.model.size_bytes.map(|s| s as f64)),
            ("latency_p50_ms", self.model.latency_p50_ms),
            ("latency_p99_ms", self.model.latency_p99_ms),
        ];
        for (key, value) in facts {
            if let Some(v) = value {
                run.log_metric(key, v, 0)?;
            }
        }
        let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let path = scratch.path().join("evaluation.json");
        mlops_core::fs::write_atomic(&path, self.to_json()?.as_bytes())?;
        run.log_artifact(&path, None)?;
        Ok(())
    }

    /// Logs the defined metrics, each key prefixed with `prefix`, at step 0.
    pub(crate) fn log_metrics_to(
        &self,
        run: &mlops_core::tracking::Run,
        prefix: &str,
    ) -> Result<()> {
        let metrics: Vec<(String, f64)> = self
            .flat_metrics()
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (format!("{prefix}{k}"), v))
            .collect();
        let refs: Vec<(&str, f64)> = metrics.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        Ok(run.log_metrics(&refs, 0)?)
    }

    /// The same evaluation without per-row data (smaller JSON; paired gates then fall
    /// back to what the metrics alone allow).
    pub fn without_rows(mut self) -> Evaluation {
        self.predictions = None;
        self
    }

    /// Reads an evaluation from JSON text.
    pub fn from_json(text: &str) -> Result<Evaluation> {
        serde_json::from_str(text).map_err(|e| Error::json("evaluation", e))
    }

    /// Writes the evaluation as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::json("evaluation", e))
    }
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "evaluation ({:?}, {} rows)", self.task, self.rows)?;
        for (k, v) in &self.metrics {
            writeln!(f, "  {k:<34} {v:.6}")?;
        }
        for k in &self.undefined {
            writeln!(f, "  {k:<34} undefined")?;
        }
        if let Some(fair) = &self.fairness {
            writeln!(
                f,
                "  demographic_parity_difference      {:.6}",
                fair.demographic_parity_difference
            )?;
            writeln!(
                f,
                "  equal_opportunity_difference       {:.6}",
                fair.equal_opportunity_difference
            )?;
        }
        for (g, gm) in &self.groups {
            writeln!(f, "  group {g} ({} rows)", gm.rows)?;
            for (k, v) in &gm.metrics {
                writeln!(f, "    {k:<32} {v:.6}")?;
            }
        }
        Ok(())
    }
}
