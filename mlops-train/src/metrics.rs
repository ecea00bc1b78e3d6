//! Evaluation metrics in `f64`, defined exactly as scikit-learn defines them.
//!
//! linfa's own metrics are `f32` and differ from scikit-learn in their degenerate
//! cases, and a gate that compares a candidate with a champion needs numbers a data
//! scientist can reproduce in a notebook. So every function here follows the
//! scikit-learn function named in its doc, including the edge cases: undefined ratios
//! count as `0` where scikit-learn's `zero_division="warn"` gives `0`; ROC AUC with a
//! single class in `y_true` is `NaN` (scikit-learn warns and returns `nan`); `r2` on
//! fewer than two rows is `NaN`; on a constant `y_true` it is `1` for a perfect fit and
//! `0` otherwise. Inputs that scikit-learn rejects (empty arrays, different lengths,
//! `NaN` scores, probabilities outside `[0, 1]`) are an [`Error::InvalidArgument`].
//! The committed vectors in `tests/data/metrics_vectors.json` (from
//! `scripts/vectors/train_vectors.py`) pin every value to 1e-9 relative.
//!
//! Classification labels are class indices (`0..n_classes`); binary tasks use `1` as
//! the positive class, or `bool`s where only "positive or not" matters.

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

fn check_len(what: &str, a: usize, b: usize) -> Result<()> {
    if a == 0 {
        return Err(Error::arg(format!(
            "{what}: empty input (at least one row is required)"
        )));
    }
    if a != b {
        return Err(Error::arg(format!(
            "{what}: inputs have different lengths ({a} and {b})"
        )));
    }
    Ok(())
}

fn check_finite(what: &str, xs: &[f64]) -> Result<()> {
    if let Some(i) = xs.iter().position(|x| !x.is_finite()) {
        return Err(Error::arg(format!(
            "{what}: value {} at row {i} is not finite",
            xs[i]
        )));
    }
    Ok(())
}

fn check_probability(what: &str, xs: &[f64]) -> Result<()> {
    check_finite(what, xs)?;
    if let Some(i) = xs.iter().position(|x| !(0.0..=1.0).contains(x)) {
        return Err(Error::arg(format!(
            "{what}: probability {} at row {i} is outside [0, 1]",
            xs[i]
        )));
    }
    Ok(())
}

/// How per-class precision, recall and F1 are combined (scikit-learn's `average`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Average {
    /// The score of class `1` only; labels must be `0`/`1` (`average="binary"`).
    Binary,
    /// The unweighted mean over the labels present in `y_true` or `y_pred`.
    Macro,
    /// The mean weighted by each label's support in `y_true`.
    Weighted,
}

/// A confusion matrix: `matrix[true][predicted]` counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Rows are true classes, columns predicted classes, both `0..n_classes`.
    pub matrix: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Counts `y_true` against `y_pred` over classes `0..n_classes`
    /// (`confusion_matrix(y_true, y_pred, labels=range(n_classes))`).
    pub fn new(y_true: &[usize], y_pred: &[usize], n_classes: usize) -> Result<ConfusionMatrix> {
        check_len("confusion_matrix", y_true.len(), y_pred.len())?;
        let mut matrix = vec![vec![0u64; n_classes]; n_classes];
        for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
            if t >= n_classes || p >= n_classes {
                return Err(Error::arg(format!(
                    "confusion_matrix: label {} at row {i} is not below n_classes = {n_classes}",
                    t.max(p)
                )));
            }
            matrix[t][p] += 1;
        }
        Ok(ConfusionMatrix { matrix })
    }

    fn n(&self) -> usize {
        self.matrix.len()
    }
}

/// Per-class counts over the classes present in `y_true` or `y_pred` (scikit-learn's
/// default `labels`), in class order: what precision, recall and F1 average over.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelCounts {
    /// The classes present.
    pub labels: Vec<usize>,
    /// True positives per class.
    pub tp: Vec<f64>,
    /// Predictions per class.
    pub pred: Vec<f64>,
    /// True members per class.
    pub truth: Vec<f64>,
}

/// [`LabelCounts`] of class indices.
pub fn label_counts(y_true: &[usize], y_pred: &[usize]) -> LabelCounts {
    let k = y_true.iter().chain(y_pred).copied().max().unwrap_or(0) + 1;
    let mut tp = vec![0.0; k];
    let mut pred = vec![0.0; k];
    let mut truth = vec![0.0; k];
    for (&t, &p) in y_true.iter().zip(y_pred) {
        truth[t] += 1.0;
        pred[p] += 1.0;
        if t == p {
            tp[t] += 1.0;
        }
    }
    let labels: Vec<usize> = (0..k)
        .filter(|&l| truth[l] > 0.0 || pred[l] > 0.0)
        .collect();
    LabelCounts {
        tp: labels.iter().map(|&l| tp[l]).collect(),
        pred: labels.iter().map(|&l| pred[l]).collect(),
        truth: labels.iter().map(|&l| truth[l]).collect(),
        labels,
    }
}

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

#[derive(Clone, Copy)]
enum Prf {
    Precision,
    Recall,
    F1,
}

fn prf(which: Prf, y_true: &[usize], y_pred: &[usize], average: Average) -> Result<f64> {
    check_len("precision/recall/f1", y_true.len(), y_pred.len())?;
    let per = |tp: f64, pred: f64, truth: f64| match which {
        Prf::Precision => ratio(tp, pred),
        Prf::Recall => ratio(tp, truth),
        Prf::F1 => ratio(2.0 * tp, pred + truth),
    };
    if average == Average::Binary {
        if let Some(i) = y_true.iter().chain(y_pred).position(|&l| l > 1) {
            return Err(Error::arg(format!(
                "average=binary needs labels 0/1, found a label above 1 at position {i}"
            )));
        }
        let mut tp = 0.0;
        let mut pred = 0.0;
        let mut truth = 0.0;
        for (&t, &p) in y_true.iter().zip(y_pred) {
            tp += f64::from(u8::from(t == 1 && p == 1));
            pred += f64::from(u8::from(p == 1));
            truth += f64::from(u8::from(t == 1));
        }
        return Ok(per(tp, pred, truth));
    }
    let c = label_counts(y_true, y_pred);
    let scores: Vec<f64> = (0..c.labels.len())
        .map(|i| per(c.tp[i], c.pred[i], c.truth[i]))
        .collect();
    Ok(if average == Average::Macro {
        scores.iter().sum::<f64>() / scores.len() as f64
    } else {
        let total: f64 = c.truth.iter().sum();
        let w: f64 = scores.iter().zip(&c.truth).map(|(s, t)| s * t).sum();
        ratio(w, total)
    })
}

/// `accuracy_score`: the fraction of rows predicted right.
pub fn accuracy(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    check_len("accuracy_score", y_true.len(), y_pred.len())?;
    let right = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(right as f64 / y_true.len() as f64)
}

/// `balanced_accuracy_score`: the mean recall over the classes present in `y_true`.
pub fn balanced_accuracy(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    check_len("balanced_accuracy_score", y_true.len(), y_pred.len())?;
    let c = label_counts(y_true, y_pred);
    let recalls: Vec<f64> = (0..c.labels.len())
        .filter(|&i| c.truth[i] > 0.0)
        .map(|i| c.tp[i] / c.truth[i])
        .collect();
    Ok(recalls.iter().sum::<f64>() / recalls.len() as f64)
}

/// `precision_score(average=...)`; `0` where nothing was predicted (zero division).
pub fn precision(y_true: &[usize], y_pred: &[usize], average: Average) -> Result<f64> {
    prf(Prf::Precision, y_true, y_pred, average)
}

/// `recall_score(average=...)`; `0` for a class absent from `y_true`.
pub fn recall(y_true: &[usize], y_pred: &[usize], average: Average) -> Result<f64> {
    prf(Prf::Recall, y_true, y_pred, average)
}

/// `f1_score(average=...)`: `2 tp / (2 tp + fp + fn)` per class, `0` when undefined.
pub fn f1(y_true: &[usize], y_pred: &[usize], average: Average) -> Result<f64> {
    prf(Prf::F1, y_true, y_pred, average)
}

/// `matthews_corrcoef`, multiclass form; `0` when a marginal is constant.
pub fn matthews_corrcoef(y_true: &[usize], y_pred: &[usize]) -> Result<f64> {
    check_len("matthews_corrcoef", y_true.len(), y_pred.len())?;
    let c = label_counts(y_true, y_pred);
    let n = y_true.len() as f64;
    let correct: f64 = c.tp.iter().sum();
    let tp_dot: f64 = c.truth.iter().zip(&c.pred).map(|(a, b)| a * b).sum();
    let cov_ytyp = correct * n - tp_dot;
    let cov_ypyp = n * n - c.pred.iter().map(|x| x * x).sum::<f64>();
    let cov_ytyt = n * n - c.truth.iter().map(|x| x * x).sum::<f64>();
    if cov_ypyp * cov_ytyt == 0.0 {
        return Ok(0.0);
    }
    Ok(cov_ytyp / (cov_ytyt * cov_ypyp).sqrt())
}

/// Mid-ranks (1-based, ties averaged), like `scipy.stats.rankdata(method="average")`.
pub(crate) fn midranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut ranks = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && xs[idx[j + 1]] == xs[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            ranks[k] = r;
        }
        i = j + 1;
    }
    ranks
}

/// `roc_auc_score` for binary labels: the probability that a random positive scores
/// above a random negative (ties count one half). `NaN` when `y_true` has one class.
pub fn roc_auc(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    check_len("roc_auc_score", y_true.len(), scores.len())?;
    check_finite("roc_auc_score", scores)?;
    let pos = y_true.iter().filter(|&&t| t).count() as f64;
    let neg = y_true.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Ok(f64::NAN);
    }
    let ranks = midranks(scores);
    let sum_pos: f64 = ranks
        .iter()
        .zip(y_true)
        .filter(|(_, t)| **t)
        .map(|(r, _)| r)
        .sum();
    Ok((sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// `roc_auc_score(multi_class="ovr", average="macro")`: the mean one-vs-rest AUC over
/// classes `0..k` (`NaN` when a class is absent from `y_true`). Rows of `proba` must sum
/// to one (`np.allclose`), as scikit-learn requires.
pub fn roc_auc_ovr_macro(y_true: &[usize], proba: ArrayView2<'_, f64>) -> Result<f64> {
    check_len("roc_auc_score", y_true.len(), proba.nrows())?;
    check_proba_matrix("roc_auc_score", y_true, proba)?;
    for (i, row) in proba.rows().into_iter().enumerate() {
        let s: f64 = row.sum();
        if (s - 1.0).abs() > 1e-8 + 1e-5 {
            return Err(Error::arg(format!(
                "roc_auc_score: probabilities of row {i} sum to {s}, not 1"
            )));
        }
    }
    let k = proba.ncols();
    let mut total = 0.0;
    for c in 0..k {
        let t: Vec<bool> = y_true.iter().map(|&y| y == c).collect();
        let col: Vec<f64> = proba.column(c).to_vec();
        total += roc_auc(&t, &col)?;
    }
    Ok(total / k as f64)
}

/// `average_precision_score`: the step integral of the precision-recall curve over
/// distinct score thresholds. With no positive in `y_true` it is `0`.
pub fn average_precision(y_true: &[bool], scores: &[f64]) -> Result<f64> {
    check_len("average_precision_score", y_true.len(), scores.len())?;
    check_finite("average_precision_score", scores)?;
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let total_pos = y_true.iter().filter(|&&t| t).count() as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let s = scores[idx[i]];
        while i < idx.len() && scores[idx[i]] == s {
            if y_true[idx[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let precision = tp / (tp + fp);
        let recall = if total_pos == 0.0 {
            1.0
        } else {
            tp / total_pos
        };
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap.max(0.0))
}

fn check_proba_matrix(what: &str, y_true: &[usize], proba: ArrayView2<'_, f64>) -> Result<()> {
    if proba.ncols() < 2 {
        return Err(Error::arg(format!(
            "{what}: probabilities need at least two columns"
        )));
    }
    if let Some(i) = y_true.iter().position(|&y| y >= proba.ncols()) {
        return Err(Error::arg(format!(
            "{what}: label {} at row {i} has no probability column ({} columns)",
            y_true[i],
            proba.ncols()
        )));
    }
    for (i, row) in proba.rows().into_iter().enumerate() {
        for &p in row {
            if !p.is_finite() || !(0.0..=1.0).contains(&p) {
                return Err(Error::arg(format!(
                    "{what}: probability {p} in row {i} is outside [0, 1]"
                )));
            }
        }
    }
    Ok(())
}

/// `log_loss(y_true, proba, labels=range(k))`: mean negative log probability of the true
/// class, probabilities clipped to `[eps, 1 - eps]` (`eps` = `f64::EPSILON`), rows not
/// renormalised.
pub fn log_loss(y_true: &[usize], proba: ArrayView2<'_, f64>) -> Result<f64> {
    check_len("log_loss", y_true.len(), proba.nrows())?;
    check_proba_matrix("log_loss", y_true, proba)?;
    let eps = f64::EPSILON;
    let sum: f64 = y_true
        .iter()
        .zip(proba.rows())
        .map(|(&y, row)| -row[y].clamp(eps, 1.0 - eps).ln())
        .sum();
    Ok(sum / y_true.len() as f64)
}

/// `log_loss` for a binary task from the positive-class probability.
pub fn log_loss_binary(y_true: &[bool], p: &[f64]) -> Result<f64> {
    check_len("log_loss", y_true.len(), p.len())?;
    check_probability("log_loss", p)?;
    let eps = f64::EPSILON;
    let sum: f64 = y_true
        .iter()
        .zip(p)
        .map(|(&y, &p)| {
            let q = if y { p } else { 1.0 - p };
            -q.clamp(eps, 1.0 - eps).ln()
        })
        .sum();
    Ok(sum / y_true.len() as f64)
}

/// `brier_score_loss`: mean squared difference between the positive-class probability
/// and the outcome.
pub fn brier_score(y_true: &[bool], p: &[f64]) -> Result<f64> {
    check_len("brier_score_loss", y_true.len(), p.len())?;
    check_probability("brier_score_loss", p)?;
    let sum: f64 = y_true
        .iter()
        .zip(p)
        .map(|(&y, &p)| (f64::from(u8::from(y)) - p).powi(2))
        .sum();
    Ok(sum / y_true.len() as f64)
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge (exclusive, except the first bin which includes 0).
    pub lower: f64,
    /// Upper edge (inclusive).
    pub upper: f64,
    /// Rows whose probability falls in the bin.
    pub count: u64,
    /// Mean predicted probability (`prob_pred`).
    pub mean_predicted: f64,
    /// Fraction of positives (`prob_true`).
    pub fraction_positive: f64,
}

/// `calibration_curve(strategy="uniform", n_bins)`: non-empty bins only, like
/// scikit-learn, with their edges and counts added.
pub fn calibration_table(y_true: &[bool], p: &[f64], n_bins: usize) -> Result<Vec<CalibrationBin>> {
    check_len("calibration_curve", y_true.len(), p.len())?;
    check_probability("calibration_curve", p)?;
    if n_bins == 0 {
        return Err(Error::arg("calibration_curve: n_bins must be at least 1"));
    }
    // np.linspace(0, 1, n_bins + 1): i * step, the last edge exactly 1.
    let step = 1.0 / n_bins as f64;
    let edges: Vec<f64> = (0..=n_bins)
        .map(|i| if i == n_bins { 1.0 } else { i as f64 * step })
        .collect();
    let inner = &edges[1..n_bins];
    let mut sums = vec![0.0; n_bins];
    let mut trues = vec![0.0; n_bins];
    let mut counts = vec![0u64; n_bins];
    for (&y, &x) in y_true.iter().zip(p) {
        // np.searchsorted(inner, x, side="left"): number of inner edges < x.
        let b = inner.partition_point(|&e| e < x);
        sums[b] += x;
        trues[b] += f64::from(u8::from(y));
        counts[b] += 1;
    }
    Ok((0..n_bins)
        .filter(|&b| counts[b] > 0)
        .map(|b| CalibrationBin {
            lower: edges[b],
            upper: edges[b + 1],
            count: counts[b],
            mean_predicted: sums[b] / counts[b] as f64,
            fraction_positive: trues[b] / counts[b] as f64,
        })
        .collect())
}

fn check_regression(what: &str, y_true: &[f64], y_pred: &[f64]) -> Result<()> {
    check_len(what, y_true.len(), y_pred.len())?;
    check_finite(what, y_true)?;
    check_finite(what, y_pred)
}

/// `root_mean_squared_error`.
pub fn rmse(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression("root_mean_squared_error", y_true, y_pred)?;
    let s: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    Ok((s / y_true.len() as f64).sqrt())
}

/// `mean_absolute_error`.
pub fn mae(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression("mean_absolute_error", y_true, y_pred)?;
    let s: f64 = y_true.iter().zip(y_pred).map(|(a, b)| (a - b).abs()).sum();
    Ok(s / y_true.len() as f64)
}

/// `r2_score`: `NaN` on fewer than two rows; on a constant `y_true`, `1` for a perfect
/// prediction and `0` otherwise (scikit-learn's `force_finite=True`).
pub fn r2(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression("r2_score", y_true, y_pred)?;
    if y_true.len() < 2 {
        return Ok(f64::NAN);
    }
    let mean = y_true.iter().sum::<f64>() / y_true.len() as f64;
    let num: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let den: f64 = y_true.iter().map(|a| (a - mean).powi(2)).sum();
    if den == 0.0 {
        return Ok(if num == 0.0 { 1.0 } else { 0.0 });
    }
    Ok(1.0 - num / den)
}

/// `mean_absolute_percentage_error`: `|y - ŷ| / max(|y|, eps)`, averaged (a fraction,
/// not a percentage; huge where `y_true` is zero, as in scikit-learn).
pub fn mape(y_true: &[f64], y_pred: &[f64]) -> Result<f64> {
    check_regression("mean_absolute_percentage_error", y_true, y_pred)?;
    let s: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b).abs() / a.abs().max(f64::EPSILON))
        .sum();
    Ok(s / y_true.len() as f64)
}

/// Confusion matrix convenience for callers that only have labels.
pub fn confusion_matrix(
    y_true: &[usize],
    y_pred: &[usize],
    n_classes: usize,
) -> Result<ConfusionMatrix> {
    ConfusionMatrix::new(y_true, y_pred, n_classes)
}

impl ConfusionMatrix {
    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n()
    }
}
