//! Drift from two [`Profile`]s, for data that never sits on one machine.
//!
//! Each side is profiled where it lives (per partition, merged); only the sketches
//! travel. The statistics are then computed on the sketches:
//!
//! * **Numeric columns** use the quantile sketch, whose estimated CDF `F^` satisfies
//!   `|F^(x) - F(x)| <= eps` for every `x` (`eps` = the sketch's
//!   `normalized_rank_error`, a guarantee, not a probability). Hence, with `eps_r`
//!   and `eps_c` for reference and current:
//!   - `ks`: `D^ = sup |F^_r - F^_c|` (exact sup of the two step functions) and
//!     `|D^ - D| <= eps_r + eps_c`. The p-value is SciPy's for `D^` and the sizes.
//!   - `wasserstein`: `W^ = integral |F^_r - F^_c| dx`, and since both CDFs are exact
//!     outside the pooled range `[min, max]` (min and max are kept exactly),
//!     `|W^ - W| <= (eps_r + eps_c) (max - min)`, divided by the same norm
//!     `max(std_ref, 0.001)` (the standard deviation is exact: mergeable moments).
//!   - `psi`, `kl_div`, `jensenshannon`: Evidently's Sturges bins over the pooled
//!     range, counts read from the sketches (each bin share within `2 eps`); no
//!     bound is given for the score.
//!
//!   The bound is reported per column as `error_bound` on the statistic.
//! * **Categorical columns** use the frequent-values summary: while it is exact
//!   (fewer distinct values than its counters) every categorical method gives the
//!   same numbers as on the raw data and `error_bound` is 0; otherwise the counts are
//!   lower bounds (each at most `max_error` short) and no bound is given.
//!
//! Methods that need the raw values (`anderson`, `cramer_von_mises`, `mannw`,
//! `t_test`, `ed`, numeric `hellinger`) are per-column errors here. Integer columns are
//! treated as numerical (a profile keeps no per-value counts for numbers).

use crate::profile::{ColumnKind, ColumnProfile, Profile, QuantileSketch};
use crate::{Error, Result};

use super::config::{ColumnType, DriftConfig, Method, default_method};
use super::kolmogorov;
use super::report::{
    ColumnDrift, ColumnIssue, Distribution, DriftReport, categorical, error_entry, finish,
    issue_entry, summarise,
};
use super::stats::{self, TestResult};

/// Two weighted step CDFs walked together: calls `f(value, F_r after, F_c after)`.
fn walk_weighted(
    a: &[(f64, u64)],
    b: &[(f64, u64)],
    na: f64,
    nb: f64,
    mut f: impl FnMut(f64, f64, f64),
) {
    let (mut i, mut j) = (0usize, 0usize);
    let (mut wa, mut wb) = (0u64, 0u64);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.0.min(y.0),
            (Some(x), None) => x.0,
            (None, Some(y)) => y.0,
            (None, None) => break,
        };
        while i < a.len() && a[i].0 == v {
            wa += a[i].1;
            i += 1;
        }
        while j < b.len() && b[j].0 == v {
            wb += b[j].1;
            j += 1;
        }
        f(v, wa as f64 / na, wb as f64 / nb);
    }
}

fn sketch_ks(r: &QuantileSketch, c: &QuantileSketch) -> (TestResult, f64) {
    let (a, b) = (r.weighted_items(), c.weighted_items());
    let (na, nb) = (r.count() as f64, c.count() as f64);
    let mut d: f64 = 0.0;
    walk_weighted(&a, &b, na, nb, |_, fa, fb| d = d.max((fa - fb).abs()));
    let (_, p) = kolmogorov::ks_2samp_pvalue(r.count(), c.count(), d);
    // the exact-lattice rounding SciPy applies is meaningless on a sketch: keep d
    let bound = r.normalized_rank_error() + c.normalized_rank_error();
    (
        TestResult {
            statistic: d,
            p_value: Some(p),
        },
        bound,
    )
}

fn sketch_wasserstein(r: &QuantileSketch, c: &QuantileSketch, std_ref: f64) -> (TestResult, f64) {
    let (a, b) = (r.weighted_items(), c.weighted_items());
    let (na, nb) = (r.count() as f64, c.count() as f64);
    let mut terms = Vec::with_capacity(a.len() + b.len());
    let mut prev: Option<(f64, f64)> = None;
    walk_weighted(&a, &b, na, nb, |v, fa, fb| {
        if let Some((pv, diff)) = prev {
            terms.push(diff.abs() * (v - pv));
        }
        prev = Some((v, fa - fb));
    });
    let norm = std_ref.max(0.001);
    let w = stats::pairwise_sum(&terms) / norm;
    let lo = r.min().unwrap_or(0.0).min(c.min().unwrap_or(0.0));
    let hi = r.max().unwrap_or(0.0).max(c.max().unwrap_or(0.0));
    let bound = (r.normalized_rank_error() + c.normalized_rank_error()) * (hi - lo) / norm;
    (TestResult::distance(w), bound)
}

/// Counts of a sketch in Evidently's bins `[e_i, e_{i+1})`, the last closed.
fn sketch_histogram(s: &QuantileSketch, edges: &[f64]) -> Vec<u64> {
    let k = edges.len() - 1;
    // rank(x) counts values <= x; values < e is rank of the largest double below e
    let below = |e: f64| -> u64 {
        if e == f64::NEG_INFINITY {
            0
        } else {
            s.rank(e.next_down())
        }
    };
    let mut cum: Vec<u64> = edges[..k].iter().map(|e| below(*e)).collect();
    cum.push(s.rank(edges[k]));
    cum.windows(2).map(|w| w[1].saturating_sub(w[0])).collect()
}

fn dropped(p: &ColumnProfile) -> usize {
    (p.null_count + p.nan_count + p.pos_inf_count + p.neg_inf_count) as usize
}

fn numeric_column(
    name: &str,
    r: &ColumnProfile,
    c: &ColumnProfile,
    config: &DriftConfig,
) -> ColumnDrift {
    let ty = ColumnType::Numerical;
    let (Some(rs), Some(cs)) = (&r.quantiles, &c.quantiles) else {
        return error_entry(name, ty, "profile has no quantile sketch".into());
    };
    let mut e = error_entry(name, ty, String::new());
    e.n_reference = rs.count() as usize;
    e.n_current = cs.count() as usize;
    e.dropped_reference = dropped(r);
    e.dropped_current = dropped(c);
    if rs.is_empty() || cs.is_empty() {
        e.error = Some(format!(
            "no finite values in the {} profile",
            if rs.is_empty() {
                "reference"
            } else {
                "current"
            }
        ));
        e.issue = Some(if rs.is_empty() {
            ColumnIssue::NoValuesInReference
        } else {
            ColumnIssue::NoValuesInCurrent
        });
        return e;
    }
    let mut hll = r.distinct.clone();
    hll.merge(&c.distinct);
    let unique = hll.estimate().round() as usize;
    let method = config
        .chosen_method(name, ty)
        .unwrap_or_else(|| default_method(ty, e.n_reference, unique));
    let threshold = config.threshold_for(name, ty, method);
    e.method = Some(method);
    e.threshold = Some(threshold);
    // Evidently's binning over the pooled range, from the sketches
    let (lo, hi) = (
        rs.min().unwrap_or(0.0).min(cs.min().unwrap_or(0.0)),
        rs.max().unwrap_or(0.0).max(cs.max().unwrap_or(0.0)),
    );
    let integer = r.dtype.starts_with("i") || r.dtype.starts_with("u");
    let edges = stats::sturges_edges(lo, hi, e.n_reference + e.n_current, integer);
    let dist = Distribution {
        reference: sketch_histogram(rs, &edges),
        current: sketch_histogram(cs, &edges),
        edges: Some(edges),
        labels: vec![],
    };
    let std_ref = r
        .moments
        .and_then(|m| m.population_variance())
        .map(f64::sqrt)
        .unwrap_or(0.0);
    let result: Result<(TestResult, Option<f64>)> = match method {
        Method::Ks => Ok(sketch_ks(rs, cs)).map(|(t, b)| (t, Some(b))),
        Method::Wasserstein => Ok(sketch_wasserstein(rs, cs, std_ref)).map(|(t, b)| (t, Some(b))),
        Method::Psi => stats::psi(&dist.reference, &dist.current).map(|t| (t, None)),
        Method::KlDiv => stats::kl_div(&dist.reference, &dist.current).map(|t| (t, None)),
        Method::JensenShannon => {
            stats::jensenshannon(&dist.reference, &dist.current).map(|t| (t, None))
        }
        other => Err(Error::InvalidArgument(format!(
            "method {other} needs the raw data, not a profile"
        ))),
    };
    e.distribution = Some(dist);
    finish(e, method, threshold, result)
}

fn categorical_column(
    name: &str,
    r: &ColumnProfile,
    c: &ColumnProfile,
    config: &DriftConfig,
) -> ColumnDrift {
    let ty = ColumnType::Categorical;
    let (Some(rf), Some(cf)) = (&r.frequent, &c.frequent) else {
        return error_entry(name, ty, "profile has no frequent-values summary".into());
    };
    let mut labels: Vec<String> = rf.counts.keys().chain(cf.counts.keys()).cloned().collect();
    labels.sort_unstable();
    labels.dedup();
    let rc: Vec<u64> = labels
        .iter()
        .map(|l| rf.counts.get(l).copied().unwrap_or(0))
        .collect();
    let cc: Vec<u64> = labels
        .iter()
        .map(|l| cf.counts.get(l).copied().unwrap_or(0))
        .collect();
    let mut e = error_entry(name, ty, String::new());
    e.n_reference = (r.count - r.null_count) as usize;
    e.n_current = (c.count - c.null_count) as usize;
    e.dropped_reference = r.null_count as usize;
    e.dropped_current = c.null_count as usize;
    if rc.iter().sum::<u64>() == 0 || cc.iter().sum::<u64>() == 0 {
        e.error = Some("no values in one of the profiles".into());
        e.issue = Some(if rc.iter().sum::<u64>() == 0 {
            ColumnIssue::NoValuesInReference
        } else {
            ColumnIssue::NoValuesInCurrent
        });
        return e;
    }
    let method = config
        .chosen_method(name, ty)
        .unwrap_or_else(|| default_method(ty, e.n_reference, labels.len()));
    let threshold = config.threshold_for(name, ty, method);
    e.method = Some(method);
    e.threshold = Some(threshold);
    let exact = rf.is_exact() && cf.is_exact();
    let result = categorical(method, &rc, &cc);
    e.distribution = Some(Distribution {
        edges: None,
        labels,
        reference: rc,
        current: cc,
    });
    finish(
        e,
        method,
        threshold,
        result.map(|t| (t, exact.then_some(0.0))),
    )
}

/// Drift of every column of `reference` against `current`, computed from their
/// profiles alone (see the module docs for what is exact and the error bounds).
///
/// Errors only when the config names a column the reference profile lacks.
pub fn drift_from_profiles(
    reference: &Profile,
    current: &Profile,
    config: &DriftConfig,
) -> Result<DriftReport> {
    let names: Vec<String> = match &config.columns {
        Some(c) => c.clone(),
        None => reference.columns.keys().cloned().collect(),
    };
    let mut columns = Vec::with_capacity(names.len());
    for name in &names {
        let r = reference.column(name).ok_or_else(|| {
            Error::InvalidArgument(format!("column {name:?} is not in the reference profile"))
        })?;
        let Some(c) = current.column(name) else {
            columns.push(issue_entry(
                name,
                ColumnType::Unknown,
                ColumnIssue::MissingInCurrent,
                "column is missing from the current profile".into(),
            ));
            continue;
        };
        let ty = config
            .column_types
            .get(name)
            .copied()
            .unwrap_or(match r.kind {
                ColumnKind::Numeric => ColumnType::Numerical,
                ColumnKind::Categorical => ColumnType::Categorical,
                ColumnKind::Other => ColumnType::Unknown,
            });
        let entry = match ty {
            ColumnType::Numerical => numeric_column(name, r, c, config),
            ColumnType::Categorical => categorical_column(name, r, c, config),
            other => issue_entry(
                name,
                other,
                ColumnIssue::NotTested,
                format!("{other:?} columns are not tested for drift").to_lowercase(),
            ),
        };
        columns.push(entry);
    }
    Ok(summarise(columns, config.drift_share))
}
