//! Paired statistical tests for comparing a candidate with the champion on the same rows.
//!
//! A point comparison ("0.861 < 0.863, reject") turns evaluation noise into decisions.
//! These tests ask whether the difference is larger than the noise of the evaluation
//! set: McNemar's test on the rows where exactly one model is right (accuracy), DeLong's
//! test on two correlated ROC AUCs, and a seeded paired bootstrap for any metric. All
//! three are paired: they need both models' predictions on the *same* rows.
//! McNemar and DeLong are pinned to reference values (statsmodels' formulas and a
//! committed Python DeLong) in `tests/data/metrics_vectors.json`.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ContinuousCDF, DiscreteCDF, Normal};

use crate::metrics::midranks;
use crate::{Error, Result};

/// The result of McNemar's test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Rows the champion got right and the candidate wrong.
    pub b: u64,
    /// Rows the champion got wrong and the candidate right.
    pub c: u64,
    /// Exact two-sided binomial p-value: `min(1, 2 P[X <= min(b, c)])`, `X ~ Bin(b + c, 1/2)`.
    pub exact_pvalue: f64,
    /// Continuity-corrected statistic `(|b - c| - 1)^2 / (b + c)` (`NaN` when `b + c = 0`).
    pub chi2_statistic: f64,
    /// Its p-value against chi-squared with one degree of freedom.
    pub chi2_pvalue: f64,
    /// The p-value used for decisions: exact when `b + c < 25`, else chi-squared
    /// (statsmodels' recommendation).
    pub pvalue: f64,
}

/// McNemar's test from the discordant counts.
pub fn mcnemar(b: u64, c: u64) -> McNemar {
    let n = b + c;
    let exact_pvalue = if n == 0 {
        1.0
    } else {
        (2.0 * binomial_half_cdf(b.min(c), n)).min(1.0)
    };
    let (chi2_statistic, chi2_pvalue) = if n == 0 {
        (f64::NAN, f64::NAN)
    } else {
        let d = (b as f64 - c as f64).abs() - 1.0;
        let s = d * d / n as f64;
        // chi2(1).sf(s) = 2 * normal.sf(sqrt(s))
        (s, 2.0 * Normal::standard().sf(s.sqrt()))
    };
    McNemar {
        b,
        c,
        exact_pvalue,
        chi2_statistic,
        chi2_pvalue,
        pvalue: if n < 25 { exact_pvalue } else { chi2_pvalue },
    }
}

/// McNemar's test from per-row correctness of champion and candidate.
pub fn mcnemar_rows(champion_right: &[bool], candidate_right: &[bool]) -> Result<McNemar> {
    if champion_right.len() != candidate_right.len() || champion_right.is_empty() {
        return Err(Error::arg(format!(
            "mcnemar: need the same non-empty rows, got {} and {}",
            champion_right.len(),
            candidate_right.len()
        )));
    }
    let mut b = 0;
    let mut c = 0;
    for (&ch, &ca) in champion_right.iter().zip(candidate_right) {
        match (ch, ca) {
            (true, false) => b += 1,
            (false, true) => c += 1,
            _ => {}
        }
    }
    Ok(mcnemar(b, c))
}

/// `P[X <= k]` for `X ~ Binomial(n, 1/2)` (statrs: the regularised incomplete beta).
fn binomial_half_cdf(k: u64, n: u64) -> f64 {
    match Binomial::new(0.5, n) {
        Ok(b) => b.cdf(k),
        Err(_) => f64::NAN,
    }
}

/// The result of DeLong's test for two correlated ROC AUCs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeLong {
    /// AUC of the first score (the candidate).
    pub auc_a: f64,
    /// AUC of the second score (the champion).
    pub auc_b: f64,
    /// Variance of `auc_a`.
    pub var_a: f64,
    /// Variance of `auc_b`.
    pub var_b: f64,
    /// Covariance of the two AUCs.
    pub cov_ab: f64,
    /// `(auc_a - auc_b) / sqrt(var(auc_a - auc_b))`.
    pub z: f64,
    /// Two-sided p-value.
    pub pvalue: f64,
}

/// DeLong's test (fast algorithm of Sun & Xu, 2014) on two score vectors for the same
/// rows. Needs at least two positives and two negatives.
pub fn delong(y_true: &[bool], score_a: &[f64], score_b: &[f64]) -> Result<DeLong> {
    if y_true.len() != score_a.len() || y_true.len() != score_b.len() {
        return Err(Error::arg(
            "delong: labels and both scores need the same rows",
        ));
    }
    if score_a.iter().chain(score_b).any(|x| !x.is_finite()) {
        return Err(Error::arg("delong: scores must be finite"));
    }
    let pos: Vec<usize> = (0..y_true.len()).filter(|&i| y_true[i]).collect();
    let neg: Vec<usize> = (0..y_true.len()).filter(|&i| !y_true[i]).collect();
    let (m, n) = (pos.len(), neg.len());
    if m < 2 || n < 2 {
        return Err(Error::arg(format!(
            "delong: needs at least two positive and two negative rows, got {m} and {n}"
        )));
    }
    let mut aucs = [0.0; 2];
    let mut v01 = [vec![0.0; m], vec![0.0; m]];
    let mut v10 = [vec![0.0; n], vec![0.0; n]];
    for (r, s) in [score_a, score_b].into_iter().enumerate() {
        let xs: Vec<f64> = pos.iter().map(|&i| s[i]).collect();
        let ys: Vec<f64> = neg.iter().map(|&i| s[i]).collect();
        let all: Vec<f64> = xs.iter().chain(&ys).copied().collect();
        let tx = midranks(&xs);
        let ty = midranks(&ys);
        let tz = midranks(&all);
        let (mf, nf) = (m as f64, n as f64);
        aucs[r] = tz[..m].iter().sum::<f64>() / mf / nf - (mf + 1.0) / 2.0 / nf;
        for i in 0..m {
            v01[r][i] = (tz[i] - tx[i]) / nf;
        }
        for j in 0..n {
            v10[r][j] = 1.0 - (tz[m + j] - ty[j]) / mf;
        }
    }
    let cov = |a: &[f64], b: &[f64]| {
        let k = a.len() as f64;
        let ma = a.iter().sum::<f64>() / k;
        let mb = b.iter().sum::<f64>() / k;
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - ma) * (y - mb))
            .sum::<f64>()
            / (k - 1.0)
    };
    let (mf, nf) = (m as f64, n as f64);
    let var_a = cov(&v01[0], &v01[0]) / mf + cov(&v10[0], &v10[0]) / nf;
    let var_b = cov(&v01[1], &v01[1]) / mf + cov(&v10[1], &v10[1]) / nf;
    let cov_ab = cov(&v01[0], &v01[1]) / mf + cov(&v10[0], &v10[1]) / nf;
    let diff = aucs[0] - aucs[1];
    let var = var_a + var_b - 2.0 * cov_ab;
    let (z, pvalue) = if var <= 0.0 {
        if diff == 0.0 {
            (0.0, 1.0)
        } else {
            (f64::INFINITY.copysign(diff), 0.0)
        }
    } else {
        let z = diff / var.sqrt();
        (z, 2.0 * Normal::standard().sf(z.abs()))
    };
    Ok(DeLong {
        auc_a: aucs[0],
        auc_b: aucs[1],
        var_a,
        var_b,
        cov_ab,
        z,
        pvalue,
    })
}

/// A paired bootstrap confidence interval for `metric(candidate) - metric(champion)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapCi {
    /// The difference on all rows.
    pub estimate: f64,
    /// Lower percentile bound.
    pub lower: f64,
    /// Upper percentile bound.
    pub upper: f64,
    /// Confidence level (e.g. 0.95).
    pub level: f64,
    /// Resamples drawn.
    pub resamples: usize,
    /// Resamples where the metric was undefined (skipped).
    pub skipped: usize,
    /// The seed, so the interval can be reproduced.
    pub seed: u64,
}

/// Resamples row indices with replacement `resamples` times (seeded) and returns the
/// percentile interval of `diff(indices)`. `diff` gets the resampled row indices and
/// returns the candidate-minus-champion difference, or `NaN` when undefined on that
/// resample (those are skipped and counted).
pub fn paired_bootstrap(
    n_rows: usize,
    resamples: usize,
    level: f64,
    seed: u64,
    diff: impl Fn(&[usize]) -> f64,
) -> Result<BootstrapCi> {
    if n_rows == 0 || resamples == 0 {
        return Err(Error::arg(
            "paired_bootstrap: needs rows and at least one resample",
        ));
    }
    if !(0.0 < level && level < 1.0) {
        return Err(Error::arg(format!(
            "paired_bootstrap: level {level} must be in (0, 1)"
        )));
    }
    let all: Vec<usize> = (0..n_rows).collect();
    let estimate = diff(&all);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut idx = vec![0usize; n_rows];
    let mut ds = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for slot in idx.iter_mut() {
            *slot = rng.gen_range(0..n_rows);
        }
        let d = diff(&idx);
        if d.is_finite() {
            ds.push(d);
        }
    }
    let skipped = resamples - ds.len();
    if ds.is_empty() {
        return Err(Error::arg(
            "paired_bootstrap: the metric was undefined on every resample",
        ));
    }
    ds.sort_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Ok(BootstrapCi {
        estimate,
        lower: percentile(&ds, alpha),
        upper: percentile(&ds, 1.0 - alpha),
        level,
        resamples,
        skipped,
        seed,
    })
}

/// Linear-interpolated percentile of sorted values (numpy's default method).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}
