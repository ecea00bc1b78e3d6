//! The drift report: every column of two frames compared, as plain serde data.
//!
//! Per column: NaN, ±inf and nulls are dropped (and counted), the method and threshold
//! are resolved ([`DriftConfig`]), the statistic is computed, and the binned
//! distributions used (or, for methods without bins, Evidently's binning for the
//! picture) are kept so the report can be drawn without the data. A column that
//! cannot be tested (empty after dropping, missing in the current frame, a method
//! that does not fit its type) gets an `error` entry and an [`ColumnIssue`] saying why,
//! and does not count towards the drift share; nothing here panics on data.
//!
//! Such a column is not a quiet pass: the report's [`DriftVerdict`] counts it. A change
//! that is itself drift (a column missing or renamed in the current data, a numeric
//! column arriving as text that does not parse, a column all null/NaN in the current
//! data) makes the verdict `Drift`; what stops the comparison (an empty current frame,
//! a reference column without values, a method that fails, nothing testable at all)
//! makes it `Error`. Text and datetime columns are not tested, by Evidently's rule, and
//! count for nothing. A numeric reference against text current values is compared as
//! numbers when every value parses (`"1.0"` is 1, never the label `"1.0"` against
//! `"1"`).
//!
//! Speed: each numeric column is sorted once (a radix sort, `stats::sort_f64_owned`)
//! and every statistic walks the sorted arrays; columns are spread over threads.

use polars::prelude::*;

use super::config::{ColumnType, DriftConfig, Method, default_method};
use super::stats::{self, TestResult};
use crate::{Error, Result};

/// Distribution of one column on both sides, as binned for the method or the chart.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Distribution {
    /// Equal-width bin edges (`bins + 1`) for numeric columns with many values;
    /// `None` when each bin is one value or category (see `labels`).
    pub edges: Option<Vec<f64>>,
    /// One label per bin when bins are single values or categories; empty otherwise.
    pub labels: Vec<String>,
    /// Reference counts per bin.
    pub reference: Vec<u64>,
    /// Current counts per bin.
    pub current: Vec<u64>,
}

/// The drift verdict for one column.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColumnDrift {
    /// Column name.
    pub column: String,
    /// The column's type (given or inferred).
    pub column_type: ColumnType,
    /// The method used; `None` when the column could not be tested.
    pub method: Option<Method>,
    /// The method's statistic: the test statistic (D, chi-square, z, t, U, A2, T) for
    /// tests, the distance for distances.
    pub statistic: Option<f64>,
    /// The p-value for tests; `None` for distances.
    pub p_value: Option<f64>,
    /// What is compared with the threshold: the p-value for tests, else the statistic.
    pub score: Option<f64>,
    /// The threshold used.
    pub threshold: Option<f64>,
    /// Whether the column drifted.
    pub drifted: bool,
    /// Values compared from the reference (after dropping).
    pub n_reference: usize,
    /// Values compared from the current frame (after dropping).
    pub n_current: usize,
    /// Nulls, NaN and ±inf dropped from the reference.
    pub dropped_reference: usize,
    /// Nulls, NaN and ±inf dropped from the current frame.
    pub dropped_current: usize,
    /// The binned distributions (for binned methods, exactly the bins used).
    pub distribution: Option<Distribution>,
    /// Why the column was not tested.
    pub error: Option<String>,
    /// The kind of problem behind `error`, for machines (`None` when tested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<ColumnIssue>,
    /// For reports from profiles: a guaranteed bound on the error of `statistic`
    /// relative to the exact value on the raw data (0 when exact); `None` for reports
    /// on raw data and where no bound is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_bound: Option<f64>,
}

/// Why a column could not be tested, and what that means for the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnIssue {
    /// The column is not in the current data (dropped or renamed): drift.
    MissingInCurrent,
    /// The current values are of another kind than the reference's (numbers arriving
    /// as text that does not parse): drift.
    TypeChanged,
    /// Every current value is null, NaN or infinite: drift.
    NoValuesInCurrent,
    /// The current data has no rows at all: nothing to compare, an error.
    EmptyCurrent,
    /// Every reference value is null, NaN or infinite: an error.
    NoValuesInReference,
    /// The method could not run on the column: an error.
    MethodFailed,
    /// Text or datetime columns are not tested (Evidently's rule): counts for nothing.
    NotTested,
}

impl ColumnIssue {
    /// Whether the problem is itself drift (`true`) or stops the comparison (`false`,
    /// except [`ColumnIssue::NotTested`], which is neither).
    pub fn is_drift(self) -> bool {
        matches!(
            self,
            ColumnIssue::MissingInCurrent
                | ColumnIssue::TypeChanged
                | ColumnIssue::NoValuesInCurrent
        )
    }
}

/// The dataset verdict, counting the columns that could not be tested.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum DriftVerdict {
    /// No dataset drift and every column testable (exit 0).
    #[default]
    NoDrift,
    /// Dataset drift, or a column whose change is itself drift (exit 1).
    Drift,
    /// The comparison could not be made for some column, or for none at all (exit 2).
    Error,
}

impl DriftVerdict {
    /// The exit code of the verdict: 0, 1 or 2.
    pub fn exit_code(self) -> u8 {
        match self {
            DriftVerdict::NoDrift => 0,
            DriftVerdict::Drift => 1,
            DriftVerdict::Error => 2,
        }
    }
}

/// Drift of a whole dataset: one entry per column and the dataset verdict.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DriftReport {
    /// One entry per column, in frame order.
    pub columns: Vec<ColumnDrift>,
    /// Columns tested (without an error).
    pub n_tested: usize,
    /// Columns that drifted.
    pub n_drifted: usize,
    /// `n_drifted / n_tested` (0 when nothing was tested).
    pub drift_share: f64,
    /// The share at which the dataset counts as drifted.
    pub drift_share_threshold: f64,
    /// Whether `drift_share >= drift_share_threshold` (and something was tested).
    pub dataset_drift: bool,
    /// The verdict with untestable columns counted (see the module docs).
    #[serde(default)]
    pub verdict: DriftVerdict,
}

/// Evidently's column type inference (new API, `infer_column_type`): floats are
/// numerical; integers with at most 10 distinct values categorical, else numerical;
/// strings text when more than half the non-null values are distinct, else
/// categorical; booleans and categoricals categorical; dates and times datetime.
pub fn infer_column_type(series: &Series) -> ColumnType {
    let dt = series.dtype();
    if dt.is_float() {
        ColumnType::Numerical
    } else if dt.is_integer() {
        match series.n_unique() {
            Ok(u) if u - usize::from(series.null_count() > 0) <= 10 => ColumnType::Categorical,
            _ => ColumnType::Numerical,
        }
    } else if dt.is_string() {
        let non_null = series.len() - series.null_count();
        let unique = series.n_unique().unwrap_or(0) - usize::from(series.null_count() > 0);
        if unique as f64 > non_null as f64 * 0.5 {
            ColumnType::Text
        } else {
            ColumnType::Categorical
        }
    } else if dt.is_bool() || dt.is_categorical() || dt.is_enum() {
        ColumnType::Categorical
    } else if dt.is_temporal() {
        ColumnType::Datetime
    } else {
        ColumnType::Unknown
    }
}

/// One column's data after dropping nulls and non-finite values.
enum Prepared {
    Numeric {
        reference: Vec<f64>,
        current: Vec<f64>,
        integer: bool,
    },
    Categorical {
        labels: Vec<String>,
        reference: Vec<u64>,
        current: Vec<u64>,
    },
}

fn finite_sorted(s: &Series) -> Result<(Vec<f64>, usize)> {
    let f = s.cast(&DataType::Float64)?;
    let ca = f.f64()?;
    let mut v = Vec::with_capacity(ca.len());
    // straight over the arrow buffers: far cheaper than the Option iterator
    for arr in ca.downcast_iter() {
        if arr.validity().is_none() {
            v.extend(
                arr.values()
                    .iter()
                    .filter(|x| x.is_finite())
                    .map(|x| if *x == 0.0 { 0.0 } else { *x }),
            );
        } else {
            for x in arr.iter().flatten() {
                if x.is_finite() {
                    v.push(if *x == 0.0 { 0.0 } else { *x });
                }
            }
        }
    }
    let dropped = s.len() - v.len();
    Ok((stats::sort_f64_owned(v), dropped))
}

fn label_counts(s: &Series) -> Result<(PlHashMap<String, u64>, usize)> {
    let st = s.cast(&DataType::String)?;
    let ca = st.str()?;
    let mut m: PlHashMap<&str, u64> = PlHashMap::new();
    let mut n = 0usize;
    for x in ca.iter().flatten() {
        *m.entry(x).or_insert(0) += 1;
        n += 1;
    }
    let owned = m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Ok((owned, s.len() - n))
}

/// Why a column's data could not be prepared.
enum Unprepared {
    /// The current values are not of the reference's kind.
    TypeChanged(String),
    /// Anything else.
    Failed(Error),
}

impl From<PolarsError> for Unprepared {
    fn from(e: PolarsError) -> Self {
        Unprepared::Failed(e.into())
    }
}

impl From<Error> for Unprepared {
    fn from(e: Error) -> Self {
        Unprepared::Failed(e)
    }
}

fn prepare(
    reference: &Series,
    current: &Series,
    ty: ColumnType,
) -> std::result::Result<(Prepared, usize, usize), Unprepared> {
    let numeric_dtype = reference.dtype().is_primitive_numeric();
    if numeric_dtype && current.dtype() == &DataType::String {
        // Numbers that arrived as text (a CSV column with one stray value, a quoted
        // export): compared as numbers when every value parses, never as labels.
        let parsed = current.cast(&DataType::Float64)?;
        let bad = parsed.null_count() - current.null_count();
        if bad > 0 {
            let example = current
                .str()?
                .iter()
                .zip(parsed.f64()?.iter())
                .find_map(|(s, v)| match (s, v) {
                    (Some(s), None) => Some(s.to_string()),
                    _ => None,
                })
                .unwrap_or_default();
            return Err(Unprepared::TypeChanged(format!(
                "numeric in the reference ({}), text in the current data: {bad} value(s) are \
                 not numbers, e.g. {example:?}",
                reference.dtype()
            )));
        }
        return prepare(reference, &parsed, ty);
    }
    if numeric_dtype && current.dtype().is_primitive_numeric() {
        let (r, dr) = finite_sorted(reference)?;
        let (c, dc) = finite_sorted(current)?;
        if ty == ColumnType::Numerical {
            let integer = reference.dtype().is_integer();
            return Ok((
                Prepared::Numeric {
                    reference: r,
                    current: c,
                    integer,
                },
                dr,
                dc,
            ));
        }
        // categorical with numeric values: categories in numeric order
        let (mut labels, mut rc, mut cc) = (vec![], vec![], vec![]);
        let (mut i, mut j) = (0, 0);
        while i < r.len() || j < c.len() {
            let v = match (r.get(i), c.get(j)) {
                (Some(x), Some(y)) => x.min(*y),
                (Some(x), None) => *x,
                (None, Some(y)) => *y,
                (None, None) => break,
            };
            let (i0, j0) = (i, j);
            while i < r.len() && r[i] == v {
                i += 1;
            }
            while j < c.len() && c[j] == v {
                j += 1;
            }
            labels.push(format_value(v));
            rc.push((i - i0) as u64);
            cc.push((j - j0) as u64);
        }
        return Ok((
            Prepared::Categorical {
                labels,
                reference: rc,
                current: cc,
            },
            dr,
            dc,
        ));
    }
    if ty == ColumnType::Numerical {
        let msg = format!(
            "numerical column has non-numeric type {} / {}",
            reference.dtype(),
            current.dtype()
        );
        return Err(if numeric_dtype {
            Unprepared::TypeChanged(msg)
        } else {
            Unprepared::Failed(Error::InvalidArgument(msg))
        });
    }
    let (rm, dr) = label_counts(reference)?;
    let (cm, dc) = label_counts(current)?;
    let mut labels: Vec<String> = rm.keys().chain(cm.keys()).cloned().collect();
    labels.sort_unstable();
    labels.dedup();
    let rc = labels
        .iter()
        .map(|l| rm.get(l).copied().unwrap_or(0))
        .collect();
    let cc = labels
        .iter()
        .map(|l| cm.get(l).copied().unwrap_or(0))
        .collect();
    Ok((
        Prepared::Categorical {
            labels,
            reference: rc,
            current: cc,
        },
        dr,
        dc,
    ))
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn numeric_distribution(a: &[f64], b: &[f64], integer: bool) -> Distribution {
    let binned = stats::bin_numeric_sorted(a, b, integer);
    let labels = binned.values.iter().map(|v| format_value(*v)).collect();
    Distribution {
        edges: binned.edges,
        labels,
        reference: binned.reference,
        current: binned.current,
    }
}

/// Distinct values of two sorted samples pooled, counting stops at `cap`.
fn pooled_distinct_capped(a: &[f64], b: &[f64], cap: usize) -> usize {
    let (mut i, mut j, mut u) = (0usize, 0usize, 0usize);
    let mut prev: Option<f64> = None;
    while (i < a.len() || j < b.len()) && u < cap {
        let v = if j >= b.len() || (i < a.len() && a[i] <= b[j]) {
            i += 1;
            a[i - 1]
        } else {
            j += 1;
            b[j - 1]
        };
        if prev != Some(v) {
            u += 1;
            prev = Some(v);
        }
    }
    u
}

/// Computes one method on prepared data.
fn run_method(method: Method, data: &Prepared, dist: &Distribution) -> Result<TestResult> {
    match data {
        Prepared::Numeric {
            reference: a,
            current: b,
            integer,
        } => match method {
            Method::Ks => Ok(stats::ks_sorted(a, b)),
            Method::Wasserstein => Ok(stats::wasserstein_sorted(a, b)),
            Method::EnergyDistance => Ok(stats::energy_distance_sorted(a, b)),
            Method::MannW => Ok(stats::mann_whitney_sorted(a, b)),
            Method::TTest => stats::t_test(a, b),
            Method::Anderson => stats::anderson_sorted(a, b),
            Method::CramerVonMises => {
                if a.len() < 2 || b.len() < 2 {
                    return Err(Error::InvalidArgument(
                        "cramer_von_mises needs two values per side".into(),
                    ));
                }
                Ok(stats::cramer_von_mises_sorted(a, b))
            }
            Method::Hellinger => Ok(stats::hellinger_numeric_sorted(a, b, *integer)),
            Method::Psi => stats::psi(&dist.reference, &dist.current),
            Method::KlDiv => stats::kl_div(&dist.reference, &dist.current),
            Method::JensenShannon => stats::jensenshannon(&dist.reference, &dist.current),
            // categorical tests on a numeric column: one category per distinct value
            Method::ChiSquare | Method::Chi2Contingency | Method::Z | Method::Tvd => {
                let cats = stats::bin_numeric_values(a, b);
                categorical(method, &cats.0, &cats.1)
            }
        },
        Prepared::Categorical {
            reference, current, ..
        } => {
            if !method.allows_categorical() {
                return Err(Error::InvalidArgument(format!(
                    "method {method} does not apply to categorical columns"
                )));
            }
            categorical(method, reference, current)
        }
    }
}

/// Runs a categorical method on aligned category counts (sample and profile reports).
pub(super) fn categorical(method: Method, r: &[u64], c: &[u64]) -> Result<TestResult> {
    match method {
        Method::Psi => stats::psi(r, c),
        Method::KlDiv => stats::kl_div(r, c),
        Method::JensenShannon => stats::jensenshannon(r, c),
        Method::Hellinger => stats::hellinger_categorical(r, c),
        Method::ChiSquare => stats::chisquare(r, c),
        Method::Chi2Contingency => stats::chi2_contingency(r, c),
        Method::Z => stats::z_test(r, c),
        Method::Tvd => stats::tvd(r, c),
        other => Err(Error::InvalidArgument(format!(
            "method {other} does not apply to categorical columns"
        ))),
    }
}

/// Fills an entry from a method's result (statistic, p-value, score, verdict, error
/// bound) or its error: the one place a result becomes a verdict, for sample and
/// profile reports alike.
pub(super) fn finish(
    mut e: ColumnDrift,
    method: Method,
    threshold: f64,
    result: Result<(TestResult, Option<f64>)>,
) -> ColumnDrift {
    match result {
        Ok((t, bound)) => {
            let score = if method.is_test() {
                t.p_value.unwrap_or(f64::NAN)
            } else {
                t.statistic
            };
            e.statistic = Some(t.statistic);
            e.p_value = t.p_value;
            e.score = Some(score);
            e.drifted = method.drifted(score, threshold);
            e.error_bound = bound;
            e.error = None;
        }
        Err(err) => {
            e.error = Some(err.to_string());
            e.issue = Some(ColumnIssue::MethodFailed);
        }
    }
    e
}

/// A report entry for a column that could not be tested (shared with `profiles.rs`).
pub(super) fn error_entry(column: &str, ty: ColumnType, msg: String) -> ColumnDrift {
    ColumnDrift {
        column: column.to_string(),
        column_type: ty,
        method: None,
        statistic: None,
        p_value: None,
        score: None,
        threshold: None,
        drifted: false,
        n_reference: 0,
        n_current: 0,
        dropped_reference: 0,
        dropped_current: 0,
        distribution: None,
        error: Some(msg),
        issue: None,
        error_bound: None,
    }
}

/// An error entry with its issue.
pub(super) fn issue_entry(
    column: &str,
    ty: ColumnType,
    issue: ColumnIssue,
    msg: String,
) -> ColumnDrift {
    let mut e = error_entry(column, ty, msg);
    e.issue = Some(issue);
    e
}

fn column_drift(
    name: &str,
    ty: ColumnType,
    reference: &Series,
    current: &Series,
    config: &DriftConfig,
) -> ColumnDrift {
    if !matches!(ty, ColumnType::Numerical | ColumnType::Categorical) {
        return issue_entry(
            name,
            ty,
            ColumnIssue::NotTested,
            format!("{ty:?} columns are not tested for drift").to_lowercase(),
        );
    }
    let (data, dr, dc) = match prepare(reference, current, ty) {
        Ok(p) => p,
        Err(Unprepared::TypeChanged(msg)) => {
            return issue_entry(name, ty, ColumnIssue::TypeChanged, msg);
        }
        Err(Unprepared::Failed(e)) => {
            return issue_entry(name, ty, ColumnIssue::MethodFailed, e.to_string());
        }
    };
    let (n_ref, n_cur, n_unique, dist) = match &data {
        Prepared::Numeric {
            reference: a,
            current: b,
            integer,
        } => {
            // Evidently's rule only asks whether the pooled sample has more than 2 or
            // more than 5 distinct values: count up to 6 and stop.
            let u = pooled_distinct_capped(a, b, 6);
            let dist = if a.is_empty() || b.is_empty() {
                None
            } else {
                Some(numeric_distribution(a, b, *integer))
            };
            (a.len(), b.len(), u, dist)
        }
        Prepared::Categorical {
            labels,
            reference: r,
            current: c,
        } => {
            let dist = Distribution {
                edges: None,
                labels: labels.clone(),
                reference: r.clone(),
                current: c.clone(),
            };
            (
                r.iter().sum::<u64>() as usize,
                c.iter().sum::<u64>() as usize,
                labels.len(),
                Some(dist),
            )
        }
    };
    let mut entry = error_entry(name, ty, String::new());
    entry.n_reference = n_ref;
    entry.n_current = n_cur;
    entry.dropped_reference = dr;
    entry.dropped_current = dc;
    if n_ref == 0 || n_cur == 0 {
        entry.error = Some(format!(
            "no finite values left in the {} data",
            if n_ref == 0 { "reference" } else { "current" }
        ));
        entry.issue = Some(if n_ref == 0 {
            ColumnIssue::NoValuesInReference
        } else {
            ColumnIssue::NoValuesInCurrent
        });
        return entry;
    }
    let Some(dist) = dist else {
        entry.error = Some("no data".into());
        entry.issue = Some(ColumnIssue::MethodFailed);
        return entry;
    };
    let method = config
        .chosen_method(name, ty)
        .unwrap_or_else(|| default_method(ty, n_ref, n_unique));
    let threshold = config.threshold_for(name, ty, method);
    entry.method = Some(method);
    entry.threshold = Some(threshold);
    let result = run_method(method, &data, &dist).map(|t| (t, None));
    entry.distribution = Some(dist);
    finish(entry, method, threshold, result)
}

/// One column's work: index, name, given type, reference and current data.
type Job = (usize, String, Option<ColumnType>, Series, Option<Series>);

/// Compares every column of `reference` with the same column of `current`.
///
/// Errors only for what stops the whole report (a column listed in
/// `config.columns` that the reference lacks); everything about a single column's
/// data is reported in its entry.
pub fn drift_report(
    reference: &DataFrame,
    current: &DataFrame,
    config: &DriftConfig,
) -> Result<DriftReport> {
    let names: Vec<String> = match &config.columns {
        Some(c) => c.clone(),
        None => reference
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let mut jobs: Vec<Job> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let r = reference
            .column(name)
            .map_err(|_| {
                Error::InvalidArgument(format!("column {name:?} is not in the reference data"))
            })?
            .as_materialized_series()
            .clone();
        let ty = config.column_types.get(name).copied();
        let c = current
            .column(name)
            .ok()
            .map(|c| c.as_materialized_series().clone());
        jobs.push((i, name.clone(), ty, r, c));
    }
    let run = |job: &Job| -> ColumnDrift {
        let (_, name, ty, r, c) = job;
        // inferred on the worker: n_unique of a large string column is not free
        let ty = ty.unwrap_or_else(|| infer_column_type(r));
        match c {
            Some(c) => column_drift(name, ty, r, c, config),
            None => issue_entry(
                name,
                ty,
                ColumnIssue::MissingInCurrent,
                "column is missing from the current data (dropped or renamed)".into(),
            ),
        }
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len())
        .max(1);
    let mut results: Vec<Option<ColumnDrift>> = vec![None; jobs.len()];
    if threads <= 1 {
        for (k, job) in jobs.iter().enumerate() {
            results[k] = Some(run(job));
        }
    } else {
        // Longest first: numeric columns cost a sort; hand them out dynamically.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let collected = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(job) = jobs.get(k) else { break };
                        let out = run(job);
                        if let Ok(mut v) = collected.lock() {
                            v.push((k, out));
                        }
                    }
                });
            }
        });
        let collected = collected
            .into_inner()
            .map_err(|_| Error::InvalidArgument("a drift worker panicked".into()))?;
        for (k, out) in collected {
            results[k] = Some(out);
        }
    }
    let columns: Vec<ColumnDrift> = results
        .into_iter()
        .zip(&jobs)
        .map(|(r, job)| {
            r.unwrap_or_else(|| {
                error_entry(
                    &job.1,
                    job.2.unwrap_or(ColumnType::Unknown),
                    "not computed".into(),
                )
            })
        })
        .collect();
    let mut report = summarise(columns, config.drift_share);
    if current.height() == 0 {
        for c in &mut report.columns {
            if c.issue != Some(ColumnIssue::NotTested) {
                c.issue = Some(ColumnIssue::EmptyCurrent);
                c.error = Some("the current data has no rows".into());
            }
        }
        report.verdict = DriftVerdict::Error;
    }
    Ok(report)
}

/// Builds the dataset verdict from per-column entries.
pub(crate) fn summarise(columns: Vec<ColumnDrift>, drift_share_threshold: f64) -> DriftReport {
    let n_tested = columns.iter().filter(|c| c.error.is_none()).count();
    let n_drifted = columns
        .iter()
        .filter(|c| c.error.is_none() && c.drifted)
        .count();
    let drift_share = if n_tested == 0 {
        0.0
    } else {
        n_drifted as f64 / n_tested as f64
    };
    let dataset_drift = n_tested > 0 && drift_share >= drift_share_threshold;
    let issues = || {
        columns
            .iter()
            .filter(|c| c.error.is_some())
            .map(|c| c.issue.unwrap_or(ColumnIssue::MethodFailed))
    };
    let verdict = if n_tested == 0 || issues().any(|i| !i.is_drift() && i != ColumnIssue::NotTested)
    {
        DriftVerdict::Error
    } else if dataset_drift || issues().any(ColumnIssue::is_drift) {
        DriftVerdict::Drift
    } else {
        DriftVerdict::NoDrift
    };
    DriftReport {
        columns,
        n_tested,
        n_drifted,
        drift_share,
        drift_share_threshold,
        dataset_drift,
        verdict,
    }
}
