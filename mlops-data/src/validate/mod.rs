//! Validation: a [`Contract`] compiled into polars expressions and evaluated at once.
//!
//! Every check becomes one aggregated expression (the number of failing rows, or the
//! observed statistic) and all of them run in **one** `select`, so polars evaluates
//! them in parallel in one query. String columns with value checks add a 10,000-row
//! cardinality probe and, when low-cardinality, one group-by. Only checks that fail get
//! another query, which fetches a bounded sample of failing row indices and values.
//!
//! Two shortcuts keep the row semantics and cut the work where it was measured to go
//! (`scripts/bench-data`): value checks of a string column (allowed set, regex,
//! length) run on its distinct values, one group-by per column, each value weighted by
//! its rows, since a regex over a million rows of a low-cardinality column is the most
//! expensive check of a typical contract (only when the column's first 10,000 rows
//! show low cardinality: for unique strings the group-by costs more than it saves);
//! and the NaN/inf counts of a float column are
//! not computed when a finite range check's pass count already proves them zero
//! (a second small query computes them otherwise).
//!
//! Problems with the *data* are reported, never raised: missing columns, wrong dtypes,
//! checks that do not apply to a column's dtype, all-null columns, empty frames. NaN
//! and ±inf are counted per column, separately from nulls. `Err` is kept for what stops
//! the work: a malformed contract or a source polars cannot read.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::contract::{Contract, Scalar};
use crate::{Error, Result};

mod plan;

/// How much a report carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateOptions {
    /// Failing rows sampled per failed check.
    pub sample_size: usize,
    /// Run the aggregate pass on polars' streaming engine: a scan of a large file is
    /// then validated in bounded memory. Off by default: for a frame already in
    /// memory the in-memory engine is faster.
    pub streaming: bool,
}

impl Default for ValidateOptions {
    fn default() -> ValidateOptions {
        ValidateOptions {
            sample_size: 10,
            streaming: false,
        }
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckFailure {
    /// The column (`None` for table rules and custom checks).
    pub column: Option<String>,
    /// The check's name (`range`, `not_null`, `column_exists`, `row_count`, ...).
    pub check: String,
    /// What was expected and what was found, for a person.
    pub detail: String,
    /// Rows failing the check (0 for aggregate checks such as statistics).
    pub failing_rows: u64,
    /// `failing_rows` over the rows the check looked at (non-null rows for value checks).
    pub failing_fraction: f64,
    /// The check's `mostly`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mostly: Option<f64>,
    /// The observed value of an aggregate check (row count, statistic, null fraction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    /// Up to `sample_size` failing row indices (0-based, in input order).
    pub sample_rows: Vec<u64>,
    /// The failing values at those rows (for a custom or multi-column check: `null`).
    pub sample_values: Vec<serde_json::Value>,
}

/// Null, NaN and infinity counts of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ColumnCounts {
    /// Null rows.
    pub nulls: u64,
    /// NaN values.
    pub nan: u64,
    /// ±inf values.
    pub inf: u64,
}

/// The result of validating data against a contract: plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Whether every check passed.
    pub ok: bool,
    /// The contract's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// Rows validated.
    pub rows: u64,
    /// Checks evaluated (including schema checks).
    pub checks: usize,
    /// Every failed check, in contract order (schema problems first).
    pub failures: Vec<CheckFailure>,
    /// Null/NaN/inf counts of every contract column present.
    pub columns: BTreeMap<String, ColumnCounts>,
}

impl ValidationReport {
    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.ok
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))
    }

    /// A table for a terminal.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} rows, {} checks, {} failed{}",
            if self.ok { "VALID" } else { "INVALID" },
            self.rows,
            self.checks,
            self.failures.len(),
            self.contract
                .as_deref()
                .map(|c| format!(" (contract {c})"))
                .unwrap_or_default()
        );
        if self.failures.is_empty() {
            return out;
        }
        let rows: Vec<[String; 5]> = self
            .failures
            .iter()
            .map(|f| {
                [
                    f.column.clone().unwrap_or_else(|| "-".into()),
                    f.check.clone(),
                    format!("{} ({:.2}%)", f.failing_rows, f.failing_fraction * 100.0),
                    f.detail.clone(),
                    f.sample_rows
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                ]
            })
            .collect();
        let head = ["column", "check", "failing", "detail", "sample rows"];
        let mut w = head.map(str::len);
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count().min(60));
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let c: String = c.chars().take(60).collect();
                let _ = write!(s, "{c:<width$}  ", width = w[i]);
            }
            s.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(&head.map(String::from)));
        let _ = writeln!(
            out,
            "{}",
            w.iter()
                .map(|n| "-".repeat(*n))
                .collect::<Vec<_>>()
                .join("  ")
        );
        for r in &rows {
            let _ = writeln!(out, "{}", line(r));
        }
        out
    }
}

/// What a planned check evaluates to and how it is judged.
enum Judge {
    /// Count of failing rows out of a denominator (a key of the aggregate row or all rows).
    Rows {
        fail: Box<Expr>,
        /// When set, the aggregate counts rows where this is true (cheaper kernels:
        /// `is_between`, `is_in`, `contains`), and failing rows are the denominator
        /// minus that count.
        pass: Option<Box<Expr>>,
        denominator: Denominator,
        mostly: Option<f64>,
        /// Expression whose value is shown in samples.
        value: Option<Box<Expr>>,
    },
    /// A null count judged as a fraction of rows.
    NullFraction { max: f64 },
    /// A statistic within bounds.
    Stat { min: Option<f64>, max: Option<f64> },
}

#[derive(Clone, Copy)]
enum Denominator {
    Rows,
    NonNull(usize),
}

struct Planned {
    column: Option<String>,
    check: String,
    detail: String,
    judge: Judge,
    /// Index of the aggregate in the select.
    key: usize,
}

fn fail_mask(e: Expr) -> Expr {
    e.fill_null(lit(false))
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Str(s) => s.clone(),
    }
}

fn dtype_name(dt: &DataType) -> String {
    dt.to_string()
}

impl Contract {
    /// Validates a frame (see [`Contract::validate_lazy`]).
    pub fn validate(&self, df: &DataFrame) -> Result<ValidationReport> {
        self.validate_lazy(df.clone().lazy(), &ValidateOptions::default())
    }

    /// Validates a lazy frame: one aggregated query for every check, then one small
    /// query per failed row-level check for its sample. Three steps: `plan` compiles
    /// the checks against the schema, `evaluate` runs the queries, `judge_and_sample`
    /// decides each check and samples the failing rows.
    pub fn validate_lazy(
        &self,
        lf: LazyFrame,
        options: &ValidateOptions,
    ) -> Result<ValidationReport> {
        self.check_well_formed()?;
        let mut lf = lf;
        let schema = lf.collect_schema()?;
        let plan = plan::plan(self, &lf, &schema)?;
        let evaluated = evaluate(&plan, &lf, options)?;
        self.judge_and_sample(plan, evaluated, &lf, options)
    }

    /// Step 3 of [`Contract::validate_lazy`]: judges every planned check on the
    /// evaluated numbers and samples failing rows for the checks that failed (one
    /// bounded query each).
    fn judge_and_sample(
        &self,
        plan: Plan,
        evaluated: Evaluated,
        lf: &LazyFrame,
        options: &ValidateOptions,
    ) -> Result<ValidationReport> {
        let Plan {
            mut checks,
            mut failures,
            plans: plan_checks,
            ..
        } = plan;
        let Evaluated { rows, columns, .. } = &evaluated;
        let rows = *rows;
        let get = |k: usize| evaluated.get(k);
        for f in failures.iter_mut() {
            if f.check == "column_exists" {
                f.failing_rows = rows;
            }
        }
        // --- row count ---
        if self.table.min_rows.is_some() || self.table.max_rows.is_some() {
            checks += 1;
            let lo = self.table.min_rows.unwrap_or(0);
            let hi = self.table.max_rows.unwrap_or(u64::MAX);
            if rows < lo || rows > hi {
                failures.insert(
                    0,
                    CheckFailure {
                        column: None,
                        check: "row_count".into(),
                        detail: format!(
                            "rows in [{lo}, {}]",
                            self.table
                                .max_rows
                                .map(|v| v.to_string())
                                .unwrap_or_else(|| "inf".into())
                        ),
                        failing_rows: 0,
                        failing_fraction: 1.0,
                        mostly: None,
                        observed: Some(rows as f64),
                        sample_rows: Vec::new(),
                        sample_values: Vec::new(),
                    },
                );
            }
        }

        // --- judge, then sample the failures ---
        for p in plan_checks {
            let failure = match &p.judge {
                Judge::Rows {
                    fail,
                    pass,
                    denominator,
                    mostly,
                    value,
                } => {
                    let counted = get(p.key).unwrap_or(0.0) as u64;
                    let denom = match denominator {
                        Denominator::Rows => rows,
                        Denominator::NonNull(k) => {
                            rows.saturating_sub(get(*k).unwrap_or(0.0) as u64)
                        }
                    };
                    let n_fail = if pass.is_some() {
                        denom.saturating_sub(counted)
                    } else {
                        counted
                    };
                    let frac = if denom == 0 {
                        0.0
                    } else {
                        n_fail as f64 / denom as f64
                    };
                    let passed = match mostly {
                        Some(m) => 1.0 - frac >= *m - 1e-12,
                        None => n_fail == 0,
                    };
                    if passed {
                        continue;
                    }
                    let (sample_rows, sample_values) = sample(
                        lf,
                        (**fail).clone(),
                        value.as_deref().cloned(),
                        options.sample_size,
                    )?;
                    CheckFailure {
                        column: p.column,
                        check: p.check,
                        detail: p.detail,
                        failing_rows: n_fail,
                        failing_fraction: frac,
                        mostly: *mostly,
                        observed: None,
                        sample_rows,
                        sample_values,
                    }
                }
                Judge::NullFraction { max } => {
                    let nulls = get(p.key).unwrap_or(0.0);
                    let frac = if rows == 0 { 0.0 } else { nulls / rows as f64 };
                    if frac <= *max {
                        continue;
                    }
                    let (sample_rows, sample_values) = match &p.column {
                        Some(c) => {
                            sample(lf, col(c.as_str()).is_null(), None, options.sample_size)?
                        }
                        None => (Vec::new(), Vec::new()),
                    };
                    CheckFailure {
                        column: p.column,
                        check: p.check,
                        detail: p.detail,
                        failing_rows: nulls as u64,
                        failing_fraction: frac,
                        mostly: None,
                        observed: Some(frac),
                        sample_rows,
                        sample_values,
                    }
                }
                Judge::Stat { min, max } => {
                    let observed = get(p.key).filter(|v| !v.is_nan());
                    let ok = observed.is_some_and(|v| {
                        min.is_none_or(|lo| v >= lo) && max.is_none_or(|hi| v <= hi)
                    });
                    if ok {
                        continue;
                    }
                    CheckFailure {
                        column: p.column,
                        check: p.check,
                        detail: match observed {
                            Some(v) => format!("{}; observed {v}", p.detail),
                            None => format!("{}; no finite values to compute it", p.detail),
                        },
                        failing_rows: 0,
                        failing_fraction: 1.0,
                        mostly: None,
                        observed,
                        sample_rows: Vec::new(),
                        sample_values: Vec::new(),
                    }
                }
            };
            failures.push(failure);
        }

        Ok(ValidationReport {
            ok: failures.is_empty(),
            contract: self.name.clone(),
            rows,
            checks,
            failures,
            columns: columns.clone(),
        })
    }
}

/// A contract compiled against a schema ([`plan::plan`]).
struct Plan {
    /// Checks counted so far (the row-count rule is counted when judged).
    checks: usize,
    /// Failures the schema alone decided.
    failures: Vec<CheckFailure>,
    /// The aggregates of the one `select` (`k0` is the row count).
    aggs: Vec<Expr>,
    /// Per-distinct-value checks: column -> (side key, weighted pass count).
    distinct: BTreeMap<String, Vec<(usize, Expr)>>,
    /// How each aggregated check is judged.
    plans: Vec<Planned>,
    /// Columns whose null (and NaN/inf) counts the report lists.
    counts_keys: Vec<CountKeys>,
}

/// The numbers a [`Plan`]'s queries produced ([`evaluate`]).
struct Evaluated {
    /// The one aggregated row.
    row: DataFrame,
    /// Results of the per-distinct-value queries, by side key.
    side: BTreeMap<usize, f64>,
    /// Rows of the frame.
    rows: u64,
    /// Null, NaN and inf counts per column.
    columns: BTreeMap<String, ColumnCounts>,
}

impl Evaluated {
    /// The value of aggregate `k` (a key of the row, or a side key).
    fn get(&self, k: usize) -> Option<f64> {
        lookup(&self.row, &self.side, k)
    }
}

fn lookup(row: &DataFrame, side: &BTreeMap<usize, f64>, k: usize) -> Option<f64> {
    if k >= SIDE_KEYS {
        return side.get(&k).copied();
    }
    let c = row.column(&format!("k{k}")).ok()?;
    let c = c.cast(&DataType::Float64).ok()?;
    c.f64().ok()?.get(0)
}

/// Step 2 of [`Contract::validate_lazy`]: runs the plan's queries (the one aggregated
/// `select`, a group-by per low-cardinality string column, NaN/inf counts the range
/// checks did not prove zero) and returns their numbers.
fn evaluate(plan: &Plan, lf: &LazyFrame, options: &ValidateOptions) -> Result<Evaluated> {
    // --- the one pass ---
    let query = lf.clone().select(plan.aggs.clone());
    let row = if options.streaming {
        crate::io::collect_streaming(query)?
    } else {
        query.collect()?
    };
    // String value checks: one group-by per column, the checks run on its distinct
    // values (a low-cardinality column has a handful), each weighted by its rows.
    let mut side: BTreeMap<usize, f64> = BTreeMap::new();
    for (name, checks) in &plan.distinct {
        let exprs: Vec<Expr> = checks
            .iter()
            .map(|(k, e)| e.clone().alias(format!("k{k}")))
            .collect();
        let query = lf
            .clone()
            .select([col(name.as_str())])
            .group_by([col(name.as_str())])
            .agg([len().alias(DISTINCT_N)])
            .select(exprs);
        let out = if options.streaming {
            crate::io::collect_streaming(query)?
        } else {
            query.collect()?
        };
        for (k, _) in checks {
            let v = out
                .column(&format!("k{k}"))
                .ok()
                .and_then(|c| c.cast(&DataType::Float64).ok())
                .and_then(|c| c.f64().ok().and_then(|c| c.get(0)))
                .unwrap_or(0.0);
            side.insert(*k, v);
        }
    }
    let get = |k: usize| lookup(&row, &side, k);
    let rows = get(0).unwrap_or(0.0) as u64;
    let mut unproved: Vec<Expr> = Vec::new();
    for (name, nulls, nan_inf) in &plan.counts_keys {
        let Some(proof) = nan_inf else { continue };
        let non_null = rows.saturating_sub(get(*nulls).unwrap_or(0.0) as u64);
        let proved = proof.is_some_and(|k| get(k).unwrap_or(-1.0) as u64 == non_null);
        if !proved {
            let c = col(name.as_str());
            unproved.push(
                c.clone()
                    .is_nan()
                    .sum()
                    .cast(DataType::UInt64)
                    .alias(format!("{name}__nan")),
            );
            unproved.push(
                c.is_infinite()
                    .sum()
                    .cast(DataType::UInt64)
                    .alias(format!("{name}__inf")),
            );
        }
    }
    let nan_inf_row = if unproved.is_empty() {
        None
    } else {
        let query = lf.clone().select(unproved);
        Some(if options.streaming {
            crate::io::collect_streaming(query)?
        } else {
            query.collect()?
        })
    };
    let count_of = |name: &str| -> u64 {
        nan_inf_row
            .as_ref()
            .and_then(|r| r.column(name).ok())
            .and_then(|c| c.cast(&DataType::UInt64).ok())
            .and_then(|c| c.u64().ok().and_then(|c| c.get(0)))
            .unwrap_or(0)
    };
    let mut columns = BTreeMap::new();
    for (name, nulls, _) in &plan.counts_keys {
        columns.insert(
            name.clone(),
            ColumnCounts {
                nulls: get(*nulls).unwrap_or(0.0) as u64,
                nan: count_of(&format!("{name}__nan")),
                inf: count_of(&format!("{name}__inf")),
            },
        );
    }

    Ok(Evaluated {
        row,
        side,
        rows,
        columns,
    })
}

/// Rows looked at to decide whether a string column is low-cardinality.
const CARDINALITY_SAMPLE: IdxSize = 10_000;

/// Whether the first [`CARDINALITY_SAMPLE`] rows of a column hold at most one distinct
/// value per four rows (a slice: a scan reads only its first rows for it).
fn low_cardinality(lf: &LazyFrame, name: &str) -> Result<bool> {
    let out = lf
        .clone()
        .select([col(name)])
        .slice(0, CARDINALITY_SAMPLE)
        .select([
            len().cast(DataType::UInt64).alias("n"),
            col(name).n_unique().cast(DataType::UInt64).alias("d"),
        ])
        .collect()?;
    let get = |k: &str| -> u64 {
        out.column(k)
            .ok()
            .and_then(|c| c.u64().ok().and_then(|c| c.get(0)))
            .unwrap_or(0)
    };
    Ok(get("d").saturating_mul(4) <= get("n"))
}

/// Aggregate keys of a column's null count and, for a float column, of the range check
/// whose pass count may prove it free of NaN and inf.
type CountKeys = (String, usize, Option<Option<usize>>);

const ROW: &str = "__mlops_row";
/// Rows per distinct value in the group-by of a string column.
const DISTINCT_N: &str = "__mlops_n";
/// First key of a check evaluated outside the one pass (per distinct value).
const SIDE_KEYS: usize = 1 << 30;

/// Row indices (and values) of up to `n` rows where `fail` is true.
fn sample(
    lf: &LazyFrame,
    fail: Expr,
    value: Option<Expr>,
    n: usize,
) -> Result<(Vec<u64>, Vec<serde_json::Value>)> {
    if n == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut sel = vec![col(ROW)];
    if let Some(v) = value {
        sel.push(v.alias("__mlops_value"));
    }
    let df = lf
        .clone()
        .with_row_index(ROW, None)
        .filter(fail)
        .select(sel)
        .limit(n as IdxSize)
        .collect()?;
    let idx = df.column(ROW)?.cast(&DataType::UInt64)?;
    let rows: Vec<u64> = idx.u64()?.iter().flatten().collect();
    let values = match df.column("__mlops_value") {
        Ok(c) => (0..c.len())
            .map(|i| c.get(i).map(any_to_json).unwrap_or(serde_json::Value::Null))
            .collect(),
        Err(_) => vec![serde_json::Value::Null; rows.len()],
    };
    Ok((rows, values))
}

fn any_to_json(v: AnyValue<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        AnyValue::Null => J::Null,
        AnyValue::Boolean(b) => J::Bool(b),
        AnyValue::String(s) => J::String(s.to_string()),
        AnyValue::StringOwned(s) => J::String(s.to_string()),
        AnyValue::Int8(x) => J::from(x),
        AnyValue::Int16(x) => J::from(x),
        AnyValue::Int32(x) => J::from(x),
        AnyValue::Int64(x) => J::from(x),
        AnyValue::UInt8(x) => J::from(x),
        AnyValue::UInt16(x) => J::from(x),
        AnyValue::UInt32(x) => J::from(x),
        AnyValue::UInt64(x) => J::from(x),
        AnyValue::Float32(x) => float_json(f64::from(x)),
        AnyValue::Float64(x) => float_json(x),
        other => J::String(other.to_string()),
    }
}

fn float_json(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x)
        .map(serde_json::Value::Number)
        .unwrap_or_else(|| serde_json::Value::String(x.to_string()))
}
