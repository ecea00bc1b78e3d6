//! Two-sample drift statistics as plain functions.
//!
//! Every function here takes the two samples (reference first, current second) as
//! `f64` slices of finite values, or as category counts aligned on the same
//! categories, and returns a [`TestResult`]. They are the building blocks of
//! [`DriftReport`](super::DriftReport), and usable on their own.
//!
//! Why each formula is the one it is: the numbers must agree with SciPy (and, for the
//! methods Evidently defines itself, with Evidently 0.7) to 1e-9 relative, so users
//! can move their Evidently configurations over and get the same verdicts. The test
//! vectors in `tests/data/drift_vectors.json` come from `scripts/vectors/drift_vectors.py`.
//! Where Evidently has a known flaw we keep its method under its name (so configs port)
//! and offer the fixed one next to it: `chisquare` (goodness of fit against reference
//! proportions) and `chi2_contingency` (the proper 2xK homogeneity test); `mannw` is
//! two-sided here (Evidently's is one-sided "less").
//!
//! Sorted inputs: most numeric statistics need both samples sorted. The `*_sorted`
//! functions (crate-internal) take sorted slices so a report sorts each column once.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

use super::kolmogorov;
use crate::{Error, Result};

/// The outcome of one two-sample statistic.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TestResult {
    /// The statistic (D for KS, U1 for Mann–Whitney, the distance for distances...).
    pub statistic: f64,
    /// The p-value, for hypothesis tests; `None` for distances.
    pub p_value: Option<f64>,
}

impl TestResult {
    pub(crate) fn test(statistic: f64, p: f64) -> Self {
        TestResult {
            statistic,
            p_value: Some(p),
        }
    }
    pub(crate) fn distance(statistic: f64) -> Self {
        TestResult {
            statistic,
            p_value: None,
        }
    }
}

fn check_sample(name: &str, x: &[f64], min: usize) -> Result<()> {
    if x.len() < min {
        return Err(Error::InvalidArgument(format!(
            "{name} sample has {} values, needs at least {min}",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "{name} sample has a non-finite value at index {i}"
        )));
    }
    Ok(())
}

fn sorted(x: &[f64]) -> Vec<f64> {
    let v: Vec<f64> = x.iter().map(|v| if *v == 0.0 { 0.0 } else { *v }).collect();
    sort_f64_owned(v)
}

/// Sorts non-NaN floats ascending (-0.0 before +0.0: callers normalise zeros).
///
/// Sorting is the floor of exact KS/Wasserstein; a least-significant-digit radix sort
/// on the order-preserving integer image of the floats (6 passes of 11 bits, a pass
/// skipped when one bucket holds everything) is several times faster than a
/// comparison sort on millions of values. Small inputs use `sort_unstable_by`.
/// The vector is taken and returned: the keys reuse its allocation (a same-size
/// `map`/`collect` runs in place), so a sort costs one extra buffer.
pub(crate) fn sort_f64_owned(v: Vec<f64>) -> Vec<f64> {
    const BITS: u32 = 11;
    const PASSES: usize = 6; // 6 x 11 >= 64
    const MASK: u64 = (1 << BITS) - 1;
    if v.len() <= 4096 {
        let mut v = v;
        v.sort_unstable_by(f64::total_cmp);
        return v;
    }
    let mut keys: Vec<u64> = v
        .into_iter()
        .map(|x| {
            let b = x.to_bits();
            if b >> 63 == 1 { !b } else { b | (1 << 63) }
        })
        .collect();
    let mut counts = vec![[0usize; 1 << BITS]; PASSES];
    for k in &keys {
        for (pass, c) in counts.iter_mut().enumerate() {
            c[((k >> (BITS as usize * pass)) & MASK) as usize] += 1;
        }
    }
    let n = keys.len();
    let mut buf = vec![0u64; n];
    for (pass, c) in counts.iter_mut().enumerate() {
        if c.contains(&n) {
            continue; // every key has the same digit here
        }
        let mut sum = 0;
        for x in c.iter_mut() {
            let t = *x;
            *x = sum;
            sum += t;
        }
        let shift = BITS as usize * pass;
        for k in &keys {
            let d = ((k >> shift) & MASK) as usize;
            buf[c[d]] = *k;
            c[d] += 1;
        }
        std::mem::swap(&mut keys, &mut buf);
    }
    keys.into_iter()
        .map(|k| f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k }))
        .collect()
}

fn check_counts(a: &[u64], b: &[u64]) -> Result<()> {
    if a.len() != b.len() {
        return Err(Error::InvalidArgument(format!(
            "category counts differ in length: reference {} vs current {}",
            a.len(),
            b.len()
        )));
    }
    if a.is_empty() || a.iter().sum::<u64>() == 0 || b.iter().sum::<u64>() == 0 {
        return Err(Error::InvalidArgument("category counts are empty".into()));
    }
    Ok(())
}

/// Pairwise summation like numpy's `np.sum` (blocks of 8 below 128 elements).
pub(crate) fn pairwise_sum(x: &[f64]) -> f64 {
    if x.len() < 8 {
        return x.iter().fold(0.0, |a, b| a + b);
    }
    if x.len() <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&x[..8]);
        let mut i = 8;
        while i + 8 <= x.len() {
            for (acc, v) in r.iter_mut().zip(&x[i..i + 8]) {
                *acc += v;
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < x.len() {
            res += x[i];
            i += 1;
        }
        return res;
    }
    let mut n2 = x.len() / 2;
    n2 -= n2 % 8;
    pairwise_sum(&x[..n2]) + pairwise_sum(&x[n2..])
}

fn mean(x: &[f64]) -> f64 {
    pairwise_sum(x) / x.len() as f64
}

/// Population standard deviation (`np.std`, ddof = 0).
pub(crate) fn std_pop(x: &[f64]) -> f64 {
    let m = mean(x);
    let sq: Vec<f64> = x.iter().map(|v| (v - m) * (v - m)).collect();
    (pairwise_sum(&sq) / x.len() as f64).sqrt()
}

fn var_sample(x: &[f64]) -> f64 {
    let m = mean(x);
    let sq: Vec<f64> = x.iter().map(|v| (v - m) * (v - m)).collect();
    pairwise_sum(&sq) / (x.len() as f64 - 1.0)
}

/// Walks the distinct values of two sorted samples in increasing order, calling
/// `f(value, count_in_a, count_in_b, a_before, b_before)`.
fn walk_distinct(a: &[f64], b: &[f64], mut f: impl FnMut(f64, usize, usize, usize, usize)) {
    let (mut i, mut j) = (0usize, 0usize);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => break,
        };
        let (i0, j0) = (i, j);
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        f(v, i - i0, j - j0, i0, j0);
    }
}

// ---------------------------------------------------------------------------
// Kolmogorov–Smirnov

/// Two-sample Kolmogorov–Smirnov test, two-sided, as `scipy.stats.ks_2samp` with
/// `method="auto"`: exact null distribution when both samples have at most 10,000
/// values, otherwise `kstwo.sf(D, round(n1 n2 / (n1 + n2)))`.
pub fn ks(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    check_sample("reference", reference, 1)?;
    check_sample("current", current, 1)?;
    Ok(ks_sorted(&sorted(reference), &sorted(current)))
}

pub(crate) fn ks_sorted(a: &[f64], b: &[f64]) -> TestResult {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut max_s, mut min_s) = (f64::NEG_INFINITY, f64::INFINITY);
    walk_distinct(a, b, |_, ca, cb, i0, j0| {
        let diff = (i0 + ca) as f64 / n1 - (j0 + cb) as f64 / n2;
        max_s = max_s.max(diff);
        min_s = min_s.min(diff);
    });
    let min_s = (-min_s).clamp(0.0, 1.0);
    let d = if min_s > max_s { min_s } else { max_s };
    let (d, p) = kolmogorov::ks_2samp_pvalue(a.len() as u64, b.len() as u64, d);
    TestResult::test(d, p)
}

// ---------------------------------------------------------------------------
// CDF distances

fn cdf_distance_sorted(a: &[f64], b: &[f64], p: u8) -> f64 {
    // One merge pass over the pooled sorted values: between consecutive pooled values
    // the two empirical CDFs are constant, so the integral is a sum of
    // |F_a - F_b|^p * delta (SciPy's `_cdf_distance`). The merge is branch-free (the
    // side to advance is a data-dependent select), and terms are summed in blocks of
    // 256 whose sums are added with Kahan compensation: ~1e-16 relative, like numpy's
    // pairwise sum, at the cost of a plain loop.
    if a.is_empty() || b.is_empty() {
        return f64::NAN;
    }
    // CDF values as i * (1/n): within one ulp of i / n, and no division per step
    let (r1, r2) = (1.0 / a.len() as f64, 1.0 / b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut prev = a[0].min(b[0]);
    let (mut total, mut comp) = (0.0f64, 0.0f64);
    let mut block = 0.0f64;
    let mut in_block = 0u32;
    let mut add = |term: f64, block: &mut f64, in_block: &mut u32| {
        *block += term;
        *in_block += 1;
        if *in_block == 256 {
            let y = *block - comp;
            let t = total + y;
            comp = (t - total) - y;
            total = t;
            *block = 0.0;
            *in_block = 0;
        }
    };
    let term = |diff: f64, delta: f64| {
        if p == 1 {
            diff.abs() * delta
        } else {
            diff * diff * delta
        }
    };
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        let take_a = x <= y;
        let v = if take_a { x } else { y };
        let diff = i as f64 * r1 - j as f64 * r2;
        add(term(diff, v - prev), &mut block, &mut in_block);
        prev = v;
        i += usize::from(take_a);
        j += usize::from(!take_a);
    }
    while i < a.len() {
        let v = a[i];
        add(
            term(i as f64 * r1 - 1.0, v - prev),
            &mut block,
            &mut in_block,
        );
        prev = v;
        i += 1;
    }
    while j < b.len() {
        let v = b[j];
        add(
            term(1.0 - j as f64 * r2, v - prev),
            &mut block,
            &mut in_block,
        );
        prev = v;
        j += 1;
    }
    let y = block - comp;
    let sum = total + y;
    if p == 1 { sum } else { sum.sqrt() }
}

/// First Wasserstein distance (`scipy.stats.wasserstein_distance`), not normed.
pub fn wasserstein_distance(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    check_sample("reference", reference, 1)?;
    check_sample("current", current, 1)?;
    Ok(TestResult::distance(cdf_distance_sorted(
        &sorted(reference),
        &sorted(current),
        1,
    )))
}

/// Evidently's `wasserstein`: W1 divided by `max(std(reference, ddof=0), 0.001)`.
pub fn wasserstein(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    check_sample("reference", reference, 1)?;
    check_sample("current", current, 1)?;
    Ok(wasserstein_sorted(&sorted(reference), &sorted(current)))
}

pub(crate) fn wasserstein_sorted(a: &[f64], b: &[f64]) -> TestResult {
    let norm = std_pop(a).max(0.001);
    TestResult::distance(cdf_distance_sorted(a, b, 1) / norm)
}

/// Energy distance (`scipy.stats.energy_distance`), raw as Evidently's `ed`.
pub fn energy_distance(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    check_sample("reference", reference, 1)?;
    check_sample("current", current, 1)?;
    Ok(energy_distance_sorted(&sorted(reference), &sorted(current)))
}

pub(crate) fn energy_distance_sorted(a: &[f64], b: &[f64]) -> TestResult {
    TestResult::distance(std::f64::consts::SQRT_2 * cdf_distance_sorted(a, b, 2))
}

// ---------------------------------------------------------------------------
// Rank and moment tests

/// Student's two-sample t-test with pooled variance (`scipy.stats.ttest_ind`).
pub fn t_test(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    check_sample("reference", reference, 2)?;
    check_sample("current", current, 2)?;
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    let (v1, v2) = (var_sample(reference), var_sample(current));
    let df = n1 + n2 - 2.0;
    let svar = ((n1 - 1.0) * v1 + (n2 - 1.0) * v2) / df;
    let denom = (svar * (1.0 / n1 + 1.0 / n2)).sqrt();
    let t = (mean(reference) - mean(current)) / denom;
    if t.is_nan() {
        return Ok(TestResult::test(t, f64::NAN));
    }
    if t.is_infinite() {
        return Ok(TestResult::test(t, 0.0));
    }
    let dist = StudentsT::new(0.0, 1.0, df).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(TestResult::test(
        t,
        (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0),
    ))
}

/// Two-sided Mann–Whitney U test with tie correction and continuity correction,
/// as `scipy.stats.mannwhitneyu(alternative="two-sided", method="auto")`: exact when
/// one sample has at most 8 values and there are no ties, normal otherwise.
/// `statistic` is U of the reference sample.
pub fn mann_whitney_u(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    check_sample("reference", reference, 1)?;
    check_sample("current", current, 1)?;
    Ok(mann_whitney_sorted(&sorted(reference), &sorted(current)))
}

pub(crate) fn mann_whitney_sorted(a: &[f64], b: &[f64]) -> TestResult {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let mut r1 = 0.0;
    let mut tie_term = 0.0;
    let mut ties = false;
    walk_distinct(a, b, |_, ca, cb, i0, j0| {
        let t = (ca + cb) as f64;
        let start = (i0 + j0) as f64;
        let avg = start + (t + 1.0) / 2.0;
        r1 += ca as f64 * avg;
        tie_term += t * t * t - t;
        ties |= ca + cb > 1;
    });
    let u1 = r1 - n1 * (n1 + 1.0) / 2.0;
    let u2 = n1 * n2 - u1;
    let u = u1.max(u2);
    let exact = !(ties || a.len() > 8 && b.len() > 8);
    let p = if exact {
        mwu_exact_sf(a.len().min(b.len()), a.len().max(b.len()), u as u64)
    } else {
        let mu = n1 * n2 / 2.0;
        let n = n1 + n2;
        let s = (n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
        let z = (u - mu - 0.5) / s;
        Normal::standard().sf(z)
    };
    TestResult::test(u1, (2.0 * p).clamp(0.0, 1.0))
}

/// Exact survival function `P(U >= k)` of the Mann–Whitney U statistic, `m <= n`.
fn mwu_exact_sf(m: usize, n: usize, k: u64) -> f64 {
    let mn = (m * n) as u64;
    let kc = mn - k.min(mn);
    // counts of U = u, u = 0..=kc, via the recursion SciPy uses (sigma array).
    let maxu = kc as usize;
    let mut sigma = vec![0i64; maxu + 1];
    for d in 1..=m {
        let mut i = d;
        while i <= maxu {
            sigma[i] += d as i64;
            i += d;
        }
    }
    for d in (n + 1)..=(n + m) {
        let mut i = d;
        while i <= maxu {
            sigma[i] -= d as i64;
            i += d;
        }
    }
    let mut conf = vec![0f64; maxu + 1];
    let mut exact_ok = true;
    let mut iconf = vec![0i128; maxu + 1];
    iconf[0] = 1;
    conf[0] = 1.0;
    for u in 1..=maxu {
        if exact_ok {
            let mut acc: i128 = 0;
            for j in 0..u {
                match iconf[j]
                    .checked_mul(sigma[u - j] as i128)
                    .and_then(|t| acc.checked_add(t))
                {
                    Some(v) => acc = v,
                    None => {
                        exact_ok = false;
                        break;
                    }
                }
            }
            if exact_ok {
                iconf[u] = acc / u as i128;
                conf[u] = iconf[u] as f64;
                continue;
            }
        }
        let mut acc = 0.0;
        for j in 0..u {
            acc += conf[j] * sigma[u - j] as f64;
        }
        conf[u] = acc / u as f64;
    }
    let total = binom(m + n, m);
    let s: f64 = conf.iter().sum();
    s / total
}

fn binom(n: usize, k: usize) -> f64 {
    let k = k.min(n - k);
    let mut r = 1.0f64;
    for i in 0..k {
        r = r * (n - i) as f64 / (i + 1) as f64;
    }
    r.round()
}

/// k-sample Anderson–Darling test for two samples, as
/// `scipy.stats.anderson_ksamp([reference, current])` (midrank variant). The p-value
/// is SciPy's interpolation, capped to [0.001, 0.25] as SciPy does.
/// `statistic` is SciPy's normalised A2.
pub fn anderson(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    check_sample("reference", reference, 1)?;
    check_sample("current", current, 1)?;
    anderson_sorted(&sorted(reference), &sorted(current))
}

pub(crate) fn anderson_sorted(a: &[f64], b: &[f64]) -> Result<TestResult> {
    let n = [a.len() as f64, b.len() as f64];
    let nn = n[0] + n[1];
    let mut distinct = 0usize;
    walk_distinct(a, b, |_, _, _, _, _| distinct += 1);
    if distinct < 2 {
        return Err(Error::InvalidArgument(
            "anderson needs more than one distinct value".into(),
        ));
    }
    let all_distinct = distinct == a.len() + b.len();
    let mut inner = [Vec::with_capacity(distinct), Vec::with_capacity(distinct)];
    walk_distinct(a, b, |_, ca, cb, i0, j0| {
        let lj = if all_distinct { 1.0 } else { (ca + cb) as f64 };
        let left = (i0 + j0) as f64;
        let bj = left + lj / 2.0;
        for (s, (cnt, before)) in [(ca, i0), (cb, j0)].into_iter().enumerate() {
            let mij = (before + cnt) as f64 - cnt as f64 / 2.0;
            let num = nn * mij - bj * n[s];
            inner[s].push(lj / nn * num * num / (bj * (nn - bj) - nn * lj / 4.0));
        }
    });
    let mut a2akn = 0.0;
    for (terms, size) in inner.iter().zip(n) {
        a2akn += pairwise_sum(terms) / size;
    }
    a2akn *= (nn - 1.0) / nn;
    let k = 2.0f64;
    let h_big = 1.0 / n[0] + 1.0 / n[1];
    let big_n = a.len() + b.len();
    // hs_cs = cumsum(1 / arange(N-1, 1, -1))
    let mut hs_cs = Vec::with_capacity(big_n.saturating_sub(2));
    let mut acc = 0.0;
    for d in (2..big_n).rev() {
        acc += 1.0 / d as f64;
        hs_cs.push(acc);
    }
    let h = hs_cs.last().copied().unwrap_or(0.0) + 1.0;
    let gterms: Vec<f64> = hs_cs
        .iter()
        .enumerate()
        .map(|(i, v)| v / (i + 2) as f64)
        .collect();
    let g = pairwise_sum(&gterms);
    let av = (4.0 * g - 6.0) * (k - 1.0) + (10.0 - 6.0 * g) * h_big;
    let bv = (2.0 * g - 4.0) * k * k + 8.0 * h * k + (2.0 * g - 14.0 * h - 4.0) * h_big - 8.0 * h
        + 4.0 * g
        - 6.0;
    let cv = (6.0 * h + 2.0 * g - 2.0) * k * k
        + (4.0 * h - 4.0 * g + 6.0) * k
        + (2.0 * h - 6.0) * h_big
        + 4.0 * h;
    let dv = (2.0 * h + 6.0) * k * k - 4.0 * h * k;
    let sigmasq =
        (av * nn.powi(3) + bv * nn.powi(2) + cv * nn + dv) / ((nn - 1.0) * (nn - 2.0) * (nn - 3.0));
    let m = k - 1.0;
    let a2 = (a2akn - m) / sigmasq.sqrt();
    let b0 = [0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085];
    let b1 = [-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615];
    let b2 = [-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154];
    let critical: Vec<f64> = (0..7)
        .map(|i| b0[i] + b1[i] / m.sqrt() + b2[i] / m)
        .collect();
    let sig = [0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001];
    let cmin = critical.iter().cloned().fold(f64::INFINITY, f64::min);
    let cmax = critical.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let p = if a2 < cmin {
        0.25
    } else if a2 > cmax {
        0.001
    } else {
        let logsig: Vec<f64> = sig.iter().map(|s: &f64| s.ln()).collect();
        let c = polyfit2(&critical, &logsig);
        (c[0] * a2 * a2 + c[1] * a2 + c[2]).exp()
    };
    Ok(TestResult::test(a2, p))
}

/// Least-squares quadratic fit (highest power first, as `np.polyfit(x, y, 2)`),
/// by Householder QR of the column-scaled Vandermonde matrix.
#[allow(clippy::needless_range_loop)] // Householder steps read best with indices
fn polyfit2(x: &[f64], y: &[f64]) -> [f64; 3] {
    let rows = x.len();
    let mut a: Vec<[f64; 3]> = x.iter().map(|v| [v * v, *v, 1.0]).collect();
    let mut scale = [0.0f64; 3];
    for c in 0..3 {
        scale[c] = a.iter().map(|r| r[c] * r[c]).sum::<f64>().sqrt();
        for r in a.iter_mut() {
            r[c] /= scale[c];
        }
    }
    let mut b = y.to_vec();
    for c in 0..3 {
        let norm = (c..rows).map(|r| a[r][c] * a[r][c]).sum::<f64>().sqrt();
        let alpha = if a[c][c] > 0.0 { -norm } else { norm };
        let mut v: Vec<f64> = (0..rows)
            .map(|r| if r < c { 0.0 } else { a[r][c] })
            .collect();
        v[c] -= alpha;
        let vnorm2: f64 = v.iter().map(|t| t * t).sum();
        if vnorm2 == 0.0 {
            continue;
        }
        for cc in c..3 {
            let dot: f64 = (c..rows).map(|r| v[r] * a[r][cc]).sum();
            for r in c..rows {
                a[r][cc] -= 2.0 * v[r] * dot / vnorm2;
            }
        }
        let dot: f64 = (c..rows).map(|r| v[r] * b[r]).sum();
        for r in c..rows {
            b[r] -= 2.0 * v[r] * dot / vnorm2;
        }
    }
    let mut coef = [0.0f64; 3];
    for c in (0..3).rev() {
        let mut s = b[c];
        for cc in c + 1..3 {
            s -= a[c][cc] * coef[cc];
        }
        coef[c] = s / a[c][c];
    }
    for c in 0..3 {
        coef[c] /= scale[c];
    }
    coef
}

/// Two-sample Cramér–von Mises test, as `scipy.stats.cramervonmises_2samp`
/// (`method="auto"`: exact p-value when both samples have at most 20 values).
pub fn cramer_von_mises(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    check_sample("reference", reference, 2)?;
    check_sample("current", current, 2)?;
    Ok(cramer_von_mises_sorted(
        &sorted(reference),
        &sorted(current),
    ))
}

pub(crate) fn cramer_von_mises_sorted(a: &[f64], b: &[f64]) -> TestResult {
    let (nx, ny) = (a.len(), b.len());
    let mut tx = Vec::with_capacity(nx);
    let mut ty = Vec::with_capacity(ny);
    walk_distinct(a, b, |_, ca, cb, i0, j0| {
        let t = (ca + cb) as f64;
        let r = (i0 + j0) as f64 + (t + 1.0) / 2.0;
        for i in 0..ca {
            let d = r - (i0 + i + 1) as f64;
            tx.push(d * d);
        }
        for j in 0..cb {
            let d = r - (j0 + j + 1) as f64;
            ty.push(d * d);
        }
    });
    let u = nx as f64 * pairwise_sum(&tx) + ny as f64 * pairwise_sum(&ty);
    let k = (nx * ny) as f64;
    let nn = (nx + ny) as f64;
    let t = u / (k * nn) - (4.0 * k - 1.0) / (6.0 * nn);
    let p = if nx.max(ny) <= 20 {
        cvm_exact_pvalue(u, nx as u64, ny as u64)
    } else {
        let et = (1.0 + 1.0 / nn) / 6.0;
        let vt = (nn + 1.0) * (4.0 * k * nn - 3.0 * ((nx * nx + ny * ny) as f64) - 2.0 * k);
        let vt = vt / (45.0 * nn * nn * 4.0 * k);
        let tn = 1.0 / 6.0 + (t - et) / (45.0 * vt).sqrt();
        if tn >= 0.003 {
            (1.0 - cdf_cvm_inf(tn)).max(0.0)
        } else {
            1.0
        }
    };
    TestResult::test(t, p)
}

/// Python's float floor division `a // b`.
fn py_floordiv(a: f64, b: f64) -> f64 {
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    let mut fd = div.floor();
    if div - fd > 0.5 {
        fd += 1.0;
    }
    fd
}

fn cvm_exact_pvalue(s: f64, m: u64, n: u64) -> f64 {
    let g = {
        let (mut x, mut y) = (m, n);
        while y != 0 {
            (x, y) = (y, x % y);
        }
        x
    };
    let lcm = m / g * n;
    let a = lcm / m;
    let b = lcm / n;
    let mn = m * n;
    let zeta = py_floordiv(
        (lcm * lcm * (m + n)) as f64 * (6.0 * s - (mn * (4 * mn - 1)) as f64),
        (6 * mn * mn) as f64,
    );
    let combinations = binom((m + n) as usize, m as usize);
    // gs[v]: sorted (value, frequency) pairs.
    let mut gs: Vec<Vec<(u64, u64)>> = vec![Vec::new(); m as usize + 1];
    gs[0] = vec![(0, 1)];
    for u in 0..=n {
        let mut next: Vec<Vec<(u64, u64)>> = Vec::with_capacity(gs.len());
        let mut tmp: Vec<(u64, u64)> = Vec::new();
        for (v, g) in gs.iter().enumerate() {
            // merge tmp and g, summing frequencies of equal values
            let mut merged = Vec::with_capacity(tmp.len() + g.len());
            let (mut i, mut j) = (0, 0);
            while i < tmp.len() || j < g.len() {
                if j >= g.len() || (i < tmp.len() && tmp[i].0 < g[j].0) {
                    merged.push(tmp[i]);
                    i += 1;
                } else if i >= tmp.len() || g[j].0 < tmp[i].0 {
                    merged.push(g[j]);
                    j += 1;
                } else {
                    merged.push((tmp[i].0, tmp[i].1 + g[j].1));
                    i += 1;
                    j += 1;
                }
            }
            let d = a as i64 * v as i64 - b as i64 * u as i64;
            let add = (d * d) as u64;
            for e in merged.iter_mut() {
                e.0 += add;
            }
            tmp = merged;
            next.push(tmp.clone());
        }
        gs = next;
    }
    let count: u64 = gs[m as usize]
        .iter()
        .filter(|(v, _)| *v as f64 >= zeta)
        .map(|(_, f)| f)
        .sum();
    count as f64 / combinations
}

/// Modified Bessel function of the second kind `K_nu(x)` times `exp(x)`, by the
/// trapezoidal rule on `int_0^inf exp(-x (cosh t - 1)) cosh(nu t) dt`, which
/// converges geometrically fast for this analytic, doubly-exponentially decaying
/// integrand (no crate offers fractional-order Bessel K).
fn bessel_k_scaled(nu: f64, x: f64) -> f64 {
    let h = 0.05;
    let (mut sum, mut comp) = (0.5f64, 0.0f64); // t = 0 term: exp(0) * cosh(0) / 2
    let mut k = 1;
    loop {
        let t = k as f64 * h;
        // cosh t - 1 = 2 sinh^2(t/2), without cancellation near t = 0
        let s = (t / 2.0).sinh();
        let term = (-x * 2.0 * s * s).exp() * (nu * t).cosh();
        let y = term - comp;
        let tt = sum + y;
        comp = (tt - sum) - y;
        sum = tt;
        if term < 1e-18 * sum || k > 100_000 {
            break;
        }
        k += 1;
    }
    sum * h
}

/// CDF of the limiting Cramér–von Mises distribution (SciPy's `_cdf_cvm_inf`).
fn cdf_cvm_inf(x: f64) -> f64 {
    let mut tot = 0.0;
    let mut k = 0u32;
    // Gamma(k + 1/2) / Gamma(k + 1) by recurrence from sqrt(pi): a few ulps, where
    // exp(ln_gamma - ln_gamma) would cost ~1e-15 relative.
    let mut gratio = std::f64::consts::PI.sqrt();
    loop {
        let kf = k as f64;
        if k > 0 {
            gratio *= (kf - 0.5) / kf;
        }
        let u = gratio / (std::f64::consts::PI.powf(1.5) * x.sqrt());
        let y = 4.0 * kf + 1.0;
        let q = y * y / (16.0 * x);
        // exp(-q) * K_{1/4}(q) = bessel_k_scaled * exp(-2q)
        let z = u * y.sqrt() * bessel_k_scaled(0.25, q) * (-2.0 * q).exp();
        tot += z;
        if z.abs() < 1e-7 || k > 10_000 {
            break;
        }
        k += 1;
    }
    tot
}

// ---------------------------------------------------------------------------
// Binning (Evidently's `get_binned_data`)

/// Distributions binned as Evidently does, for `psi`, `kl_div`, `jensenshannon`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Binned {
    /// Bin edges (`n_bins + 1`) for equal-width numeric bins; `None` when each bin is one value.
    pub edges: Option<Vec<f64>>,
    /// The value of each bin when bins are single values (numeric columns with few
    /// distinct values), else empty.
    pub values: Vec<f64>,
    /// Reference counts per bin.
    pub reference: Vec<u64>,
    /// Current counts per bin.
    pub current: Vec<u64>,
}

/// `np.histogram_bin_edges(x, bins="sturges")` for data with minimum `lo`, maximum
/// `hi` and `n` values; `integer` as numpy does for integer arrays (width >= 1).
pub(crate) fn sturges_edges(lo: f64, hi: f64, n: usize, integer: bool) -> Vec<f64> {
    let (mut first, mut last) = (lo, hi);
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let mut width = (hi - lo) / ((n as f64).log2() + 1.0);
    let nbins = if width != 0.0 {
        if integer && width < 1.0 {
            width = 1.0;
        }
        (((last - first) / width).ceil() as usize).max(1)
    } else {
        1
    };
    let step = (last - first) / nbins as f64;
    let mut edges: Vec<f64> = (0..=nbins).map(|i| i as f64 * step + first).collect();
    edges[nbins] = last;
    edges
}

/// Counts of a sorted sample in bins `[e_i, e_{i+1})`, the last closed (`np.histogram`).
pub(crate) fn histogram_sorted(x: &[f64], edges: &[f64]) -> Vec<u64> {
    let k = edges.len() - 1;
    let mut cum: Vec<usize> = edges[..k]
        .iter()
        .map(|e| x.partition_point(|v| v < e))
        .collect();
    cum.push(x.partition_point(|v| *v <= edges[k]));
    cum.windows(2).map(|w| (w[1] - w[0]) as u64).collect()
}

/// The dtype a numeric column had before it became `f64`s: integer columns get bins at
/// least one unit wide, as numpy's histogram gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericDtype {
    /// An integer column.
    Integer,
    /// A floating-point column.
    Float,
}

/// Evidently's binning of a numeric column: Sturges equal-width bins over the pooled
/// range when the reference has more than 20 distinct values, else one bin per
/// distinct value of either sample.
pub fn bin_numeric(reference: &[f64], current: &[f64], dtype: NumericDtype) -> Result<Binned> {
    check_sample("reference", reference, 1)?;
    check_sample("current", current, 1)?;
    Ok(bin_numeric_sorted(
        &sorted(reference),
        &sorted(current),
        dtype == NumericDtype::Integer,
    ))
}

/// Number of distinct values of a sorted slice, counting stops at `cap`.
pub(crate) fn distinct_sorted_capped(x: &[f64], cap: usize) -> usize {
    if x.is_empty() {
        return 0;
    }
    let mut c = 1;
    for w in x.windows(2) {
        if w[0] != w[1] {
            c += 1;
            if c >= cap {
                return c;
            }
        }
    }
    c
}

pub(crate) fn bin_numeric_sorted(a: &[f64], b: &[f64], integer: bool) -> Binned {
    if distinct_sorted_capped(a, 21) > 20 {
        let lo = a[0].min(b[0]);
        let hi = a[a.len() - 1].max(b[b.len() - 1]);
        let edges = sturges_edges(lo, hi, a.len() + b.len(), integer);
        Binned {
            reference: histogram_sorted(a, &edges),
            current: histogram_sorted(b, &edges),
            edges: Some(edges),
            values: vec![],
        }
    } else {
        let (mut values, mut r, mut c) = (vec![], vec![], vec![]);
        walk_distinct(a, b, |v, ca, cb, _, _| {
            values.push(v);
            r.push(ca as u64);
            c.push(cb as u64);
        });
        Binned {
            edges: None,
            values,
            reference: r,
            current: c,
        }
    }
}

/// Counts per distinct value of two sorted samples (one category per value, in
/// increasing order): how categorical tests see a numeric column.
pub(crate) fn bin_numeric_values(a: &[f64], b: &[f64]) -> (Vec<u64>, Vec<u64>) {
    let (mut r, mut c) = (vec![], vec![]);
    walk_distinct(a, b, |_, ca, cb, _, _| {
        r.push(ca as u64);
        c.push(cb as u64);
    });
    (r, c)
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    counts.iter().map(|c| *c as f64 / n as f64).collect()
}

/// Evidently's zero filling: zeros become (smallest nonzero share) / 1e6 if that is
/// at most 1e-4, else 1e-4.
fn fill_zeros(p: &mut [f64]) {
    let min = p
        .iter()
        .cloned()
        .filter(|v| *v != 0.0)
        .fold(f64::INFINITY, f64::min);
    let fill = if min <= 0.0001 { min / 1e6 } else { 0.0001 };
    for v in p.iter_mut() {
        if *v == 0.0 {
            *v = fill;
        }
    }
}

fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// Population stability index over Evidently's bins (zero shares filled).
pub fn psi(reference: &[u64], current: &[u64]) -> Result<TestResult> {
    check_counts(reference, current)?;
    let (mut r, mut c) = (shares(reference), shares(current));
    fill_zeros(&mut r);
    fill_zeros(&mut c);
    let terms: Vec<f64> = r
        .iter()
        .zip(&c)
        .map(|(r, c)| (r - c) * (r / c).ln())
        .collect();
    Ok(TestResult::distance(pairwise_sum(&terms)))
}

/// Kullback–Leibler divergence KL(reference ‖ current) in nats over Evidently's bins
/// (zero shares filled, then renormalised as `scipy.stats.entropy` does).
pub fn kl_div(reference: &[u64], current: &[u64]) -> Result<TestResult> {
    check_counts(reference, current)?;
    let (mut r, mut c) = (shares(reference), shares(current));
    fill_zeros(&mut r);
    fill_zeros(&mut c);
    let (sr, sc) = (pairwise_sum(&r), pairwise_sum(&c));
    let terms: Vec<f64> = r
        .iter()
        .zip(&c)
        .map(|(r, c)| rel_entr(r / sr, c / sc))
        .collect();
    Ok(TestResult::distance(pairwise_sum(&terms)))
}

/// Jensen–Shannon distance (square root of the divergence, natural log), as
/// `scipy.spatial.distance.jensenshannon`, over Evidently's bins (no zero filling).
pub fn jensenshannon(reference: &[u64], current: &[u64]) -> Result<TestResult> {
    check_counts(reference, current)?;
    let (r, c) = (shares(reference), shares(current));
    let (sr, sc) = (pairwise_sum(&r), pairwise_sum(&c));
    let p: Vec<f64> = r.iter().map(|v| v / sr).collect();
    let q: Vec<f64> = c.iter().map(|v| v / sc).collect();
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    let left: Vec<f64> = p.iter().zip(&m).map(|(a, m)| rel_entr(*a, *m)).collect();
    let right: Vec<f64> = q.iter().zip(&m).map(|(a, m)| rel_entr(*a, *m)).collect();
    let js = pairwise_sum(&left) + pairwise_sum(&right);
    Ok(TestResult::distance((js / 2.0).sqrt()))
}

/// Total variation distance `0.5 * sum |p - q|` of the category shares.
///
/// Evidently's `TVD` reports a permutation p-value instead (1000 shuffles); ours is
/// the deterministic distance, thresholded like the other distances.
pub fn tvd(reference: &[u64], current: &[u64]) -> Result<TestResult> {
    check_counts(reference, current)?;
    let (r, c) = (shares(reference), shares(current));
    let terms: Vec<f64> = r.iter().zip(&c).map(|(a, b)| (a - b).abs()).collect();
    Ok(TestResult::distance(0.5 * pairwise_sum(&terms)))
}

/// Hellinger distance of category shares (Evidently's categorical form).
pub fn hellinger_categorical(reference: &[u64], current: &[u64]) -> Result<TestResult> {
    check_counts(reference, current)?;
    let (r, c) = (shares(reference), shares(current));
    let mut s = 0.0;
    for (a, b) in r.iter().zip(&c) {
        s += (a * b).sqrt();
    }
    Ok(TestResult::distance((1.0 - s.clamp(0.0, 1.0)).sqrt()))
}

/// Hellinger distance of a numeric column, Evidently's form: density histograms on
/// Sturges bins whose count comes from the number of distinct pooled values.
pub fn hellinger_numeric(
    reference: &[f64],
    current: &[f64],
    dtype: NumericDtype,
) -> Result<TestResult> {
    check_sample("reference", reference, 1)?;
    check_sample("current", current, 1)?;
    Ok(hellinger_numeric_sorted(
        &sorted(reference),
        &sorted(current),
        dtype == NumericDtype::Integer,
    ))
}

pub(crate) fn hellinger_numeric_sorted(a: &[f64], b: &[f64], integer: bool) -> TestResult {
    let mut keys = 0usize;
    walk_distinct(a, b, |_, _, _, _, _| keys += 1);
    let lo = a[0].min(b[0]);
    let hi = a[a.len() - 1].max(b[b.len() - 1]);
    let edges = sturges_edges(lo, hi, keys, integer);
    let density = |x: &[f64]| -> Vec<f64> {
        let counts = histogram_sorted(x, &edges);
        let total: u64 = counts.iter().sum();
        counts
            .iter()
            .zip(edges.windows(2))
            .map(|(c, w)| *c as f64 / (w[1] - w[0]) / total as f64)
            .collect()
    };
    let (h1, h2) = (density(a), density(b));
    let bin_width = (edges[edges.len() - 1] - edges[0]) / (edges.len() - 1) as f64;
    let mut s = 0.0;
    for (p1, p2) in h1.iter().zip(&h2) {
        s += (p1 * p2).sqrt() * bin_width;
    }
    TestResult::distance((1.0 - s.clamp(0.0, 1.0)).sqrt())
}

// ---------------------------------------------------------------------------
// Categorical tests

fn chi2_sf(x: f64, df: f64) -> Result<f64> {
    if x.is_infinite() {
        return Ok(0.0);
    }
    let d = ChiSquared::new(df).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    Ok(d.sf(x))
}

/// Evidently's `chisquare`: the goodness-of-fit test of current counts against the
/// reference proportions scaled to the current size (`scipy.stats.chisquare`).
/// A category absent from the reference gives an infinite statistic and p = 0.
pub fn chisquare(reference: &[u64], current: &[u64]) -> Result<TestResult> {
    check_counts(reference, current)?;
    let k_norm = current.iter().sum::<u64>() as f64 / reference.iter().sum::<u64>() as f64;
    let terms: Vec<f64> = reference
        .iter()
        .zip(current)
        .map(|(r, c)| {
            let e = *r as f64 * k_norm;
            let d = *c as f64 - e;
            d * d / e
        })
        .collect();
    let stat = pairwise_sum(&terms);
    if reference.len() < 2 {
        // one category: no degrees of freedom; SciPy returns NaN (never drift)
        return Ok(TestResult::test(stat, f64::NAN));
    }
    Ok(TestResult::test(
        stat,
        chi2_sf(stat, (reference.len() - 1) as f64)?,
    ))
}

/// Pearson's chi-square test of homogeneity on the 2xK table (reference, current) x
/// categories, as `scipy.stats.chi2_contingency` (Yates' correction when K = 2).
pub fn chi2_contingency(reference: &[u64], current: &[u64]) -> Result<TestResult> {
    check_counts(reference, current)?;
    let cols: Vec<(u64, u64)> = reference
        .iter()
        .zip(current)
        .map(|(a, b)| (*a, *b))
        .filter(|(a, b)| a + b > 0)
        .collect();
    let k = cols.len();
    let dof = k.saturating_sub(1);
    if dof == 0 {
        return Ok(TestResult::test(0.0, 1.0));
    }
    let r0: f64 = cols.iter().map(|c| c.0 as f64).sum();
    let r1: f64 = cols.iter().map(|c| c.1 as f64).sum();
    let total = r0 + r1;
    let mut terms = Vec::with_capacity(2 * k);
    for row in 0..2 {
        for c in &cols {
            let colsum = (c.0 + c.1) as f64;
            let rowsum = if row == 0 { r0 } else { r1 };
            let e = rowsum * colsum / total;
            let mut o = if row == 0 { c.0 as f64 } else { c.1 as f64 };
            if dof == 1 {
                let diff = e - o;
                let mag = diff.abs().min(0.5);
                o += mag * diff.signum() * f64::from(diff != 0.0);
            }
            terms.push((o - e) * (o - e) / e);
        }
    }
    let stat = pairwise_sum(&terms);
    Ok(TestResult::test(stat, chi2_sf(stat, dof as f64)?))
}

/// Evidently's `z`: two-proportion z-test of the first category (in sorted order:
/// the first element of the counts) against all others, with the exact two-sided tail
/// `2 * Phi(-|z|)` (Evidently computes `2 * (1 - Phi(|z|))`, equal to 1e-16 absolute).
/// When both samples hold one and the same category, p = 1.
pub fn z_test(reference: &[u64], current: &[u64]) -> Result<TestResult> {
    check_counts(reference, current)?;
    let (n1, n2) = (
        reference.iter().sum::<u64>() as f64,
        current.iter().sum::<u64>() as f64,
    );
    let ref_nonzero = reference.iter().filter(|c| **c > 0).count();
    let cur_nonzero = current.iter().filter(|c| **c > 0).count();
    if ref_nonzero == 1
        && cur_nonzero == 1
        && reference.iter().zip(current).any(|(a, b)| *a > 0 && *b > 0)
    {
        return Ok(TestResult::test(0.0, 1.0));
    }
    // first sorted key -> 0, others -> 1; p = share of ones
    let p1 = (n1 - reference[0] as f64) / n1;
    let p2 = (n2 - current[0] as f64) / n2;
    let pp = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pp * (1.0 - pp) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let p = 2.0 * Normal::standard().sf(z.abs());
    Ok(TestResult::test(z, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_matches_comparison_sort() {
        let mut s = 0x1234_5678_9abc_def0u64;
        let mut v: Vec<f64> = (0..20_000)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let x = (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                match i % 7 {
                    0 => x * 1e300,
                    1 => x * 1e-300,
                    2 => (x * 10.0).round(),
                    3 => 0.0,
                    _ => x,
                }
            })
            .collect();
        let mut w = v.clone();
        v = sort_f64_owned(v);
        w.sort_unstable_by(f64::total_cmp);
        assert_eq!(v, w);
    }
}
