//! Step 1 of validation: a [`Contract`] compiled against a schema into a [`Plan`].
//!
//! Planning is split along the contract's own parts (table schema, each column, table
//! rules, expectations, custom checks); each part adds aggregates to the one `select`
//! and says how its checks will be judged. One column check on its own is compiled by
//! [`value_check`], a pure function of the column's dtype, so a new kind of check
//! touches one match arm. Checks that the schema alone decides (missing columns, wrong
//! dtypes, inapplicable checks) become failures here.

use std::collections::BTreeMap;

use polars::prelude::*;

use super::{
    CheckFailure, CountKeys, DISTINCT_N, Denominator, Judge, Plan, Planned, SIDE_KEYS, dtype_name,
    fail_mask, low_cardinality, scalar_text,
};
use crate::Result;
use crate::contract::expr;
use crate::contract::{
    ColumnCheck, ColumnSpec, Contract, CustomCheck, Direction, Expectation, ExtraColumns, Statistic,
};

/// Compiles `contract` against `schema` (`lf` is probed for string cardinality).
pub(super) fn plan(contract: &Contract, lf: &LazyFrame, schema: &Schema) -> Result<Plan> {
    let mut p = Planner {
        lf,
        schema,
        checks: 0,
        failures: Vec::new(),
        aggs: vec![len().cast(DataType::UInt64).alias("k0")],
        plans: Vec::new(),
        counts_keys: Vec::new(),
        distinct: BTreeMap::new(),
        next_side: SIDE_KEYS,
        usable: BTreeMap::new(),
    };
    if contract.table.extra_columns == ExtraColumns::Forbid {
        p.extra_columns(contract);
    }
    for spec in &contract.columns {
        p.column(spec)?;
    }
    for set in &contract.table.unique_together {
        p.unique_together(set);
    }
    for e in &contract.expectations {
        p.expectation(e);
    }
    for cc in &contract.custom {
        p.custom(cc)?;
    }
    Ok(Plan {
        checks: p.checks,
        failures: p.failures,
        aggs: p.aggs,
        distinct: p.distinct,
        plans: p.plans,
        counts_keys: p.counts_keys,
    })
}

/// The plan under construction.
struct Planner<'a> {
    lf: &'a LazyFrame,
    schema: &'a Schema,
    checks: usize,
    failures: Vec<CheckFailure>,
    aggs: Vec<Expr>,
    plans: Vec<Planned>,
    counts_keys: Vec<CountKeys>,
    /// Value checks of string columns evaluated once per distinct value: column ->
    /// (key, pass count over the distinct values weighted by their row counts).
    distinct: BTreeMap<String, Vec<(usize, Expr)>>,
    next_side: usize,
    /// Columns present with the contract's dtype: later rules may read them.
    usable: BTreeMap<String, DataType>,
}

/// A check decided by the schema alone: every row counts as failing.
fn schema_failure(column: Option<&str>, check: &str, detail: String) -> CheckFailure {
    CheckFailure {
        column: column.map(str::to_string),
        check: check.to_string(),
        detail,
        failing_rows: 0,
        failing_fraction: 1.0,
        mostly: None,
        observed: None,
        sample_rows: Vec::new(),
        sample_values: Vec::new(),
    }
}

/// Whether a check on a string column may run per distinct value.
fn string_value_check(check: &ColumnCheck) -> bool {
    matches!(
        check,
        ColumnCheck::AllowedSet { .. } | ColumnCheck::Regex { .. } | ColumnCheck::StrLength { .. }
    )
}

fn bound(v: Option<impl ToString>, none: &str) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| none.into())
}

impl Planner<'_> {
    /// Adds an aggregate to the one `select` and returns its key.
    fn agg(&mut self, e: Expr) -> usize {
        let k = self.aggs.len();
        self.aggs.push(e.alias(format!("k{k}")));
        k
    }

    fn extra_columns(&mut self, contract: &Contract) {
        self.checks += 1;
        let extra: Vec<&str> = self
            .schema
            .iter_names()
            .map(|n| n.as_str())
            .filter(|n| contract.column(n).is_none())
            .collect();
        if !extra.is_empty() {
            self.failures.push(schema_failure(
                None,
                "extra_columns",
                format!("columns not in the contract: {extra:?}"),
            ));
        }
    }

    /// One column: existence, dtype, nullability and its value checks.
    fn column(&mut self, spec: &ColumnSpec) -> Result<()> {
        let name = spec.name.as_str();
        let Some(dtype) = self.schema.get(name) else {
            if spec.required {
                self.checks += 1;
                self.failures.push(schema_failure(
                    Some(name),
                    "column_exists",
                    "required column is missing".into(),
                ));
            }
            return Ok(());
        };
        if let Some(want) = spec.dtype {
            self.checks += 1;
            if !want.matches(dtype) {
                self.failures.push(schema_failure(
                    Some(name),
                    "dtype",
                    format!("expected {want:?}, found {}", dtype_name(dtype)),
                ));
                return Ok(());
            }
        }
        self.usable.insert(name.to_string(), dtype.clone());
        let c = col(name);
        let nulls = self.agg(c.clone().null_count().cast(DataType::UInt64));
        // NaN/inf counts of a float column are computed after the pass, and only when
        // no finite range check has already proved them zero.
        let mut proof: Option<usize> = None;
        // String value checks run per distinct value only for a low-cardinality column:
        // a group-by of a million unique strings costs three times the row-wise regex it
        // would replace (measured), so the first rows decide.
        let low_cardinality = (dtype.is_string() || dtype.is_categorical() || dtype.is_enum())
            && spec.checks.iter().any(string_value_check)
            && low_cardinality(self.lf, name)?;
        if !spec.nullable {
            self.checks += 1;
            self.plans.push(Planned {
                column: Some(name.into()),
                check: "not_null".into(),
                detail: "nulls are not allowed".into(),
                judge: Judge::Rows {
                    fail: Box::new(c.clone().is_null()),
                    pass: None,
                    denominator: Denominator::Rows,
                    mostly: None,
                    value: None,
                },
                key: nulls,
            });
        }
        for check in &spec.checks {
            self.checks += 1;
            if let ColumnCheck::MaxNullFraction { max } = check {
                self.plans.push(Planned {
                    column: Some(name.into()),
                    check: check.name().into(),
                    detail: format!("null fraction <= {max}"),
                    judge: Judge::NullFraction { max: *max },
                    key: nulls,
                });
                continue;
            }
            let (judge, detail) = match value_check(name, dtype, check, nulls) {
                Ok(compiled) => compiled,
                Err(failure) => {
                    self.failures.push(*failure);
                    continue;
                }
            };
            let key = match &judge {
                Judge::Rows { pass: Some(ok), .. }
                    if low_cardinality && string_value_check(check) =>
                {
                    let k = self.next_side;
                    self.next_side += 1;
                    let weighted = col(DISTINCT_N)
                        .filter((**ok).clone().fill_null(lit(false)))
                        .sum()
                        .cast(DataType::UInt64);
                    self.distinct
                        .entry(name.to_string())
                        .or_default()
                        .push((k, weighted));
                    k
                }
                Judge::Rows { pass: Some(ok), .. } => {
                    self.agg((**ok).clone().sum().cast(DataType::UInt64))
                }
                Judge::Rows { fail, .. } => self.agg((**fail).clone().sum().cast(DataType::UInt64)),
                _ => self.agg(lit(0u64)),
            };
            // Every non-null value inside finite bounds means no NaN and no inf
            // (`is_between` rejects both), so the range check's pass count proves the
            // column's NaN/inf counts zero when it equals the non-null rows.
            if let ColumnCheck::Range {
                min: Some(lo),
                max: Some(hi),
                ..
            } = check
                && dtype.is_float()
                && lo.is_finite()
                && hi.is_finite()
            {
                proof = Some(key);
            }
            self.plans.push(Planned {
                column: Some(name.into()),
                check: check.name().into(),
                detail,
                judge,
                key,
            });
        }
        self.counts_keys
            .push((name.to_string(), nulls, dtype.is_float().then_some(proof)));
        Ok(())
    }

    /// Rows unique over a set of columns.
    fn unique_together(&mut self, set: &[String]) {
        self.checks += 1;
        let missing: Vec<&String> = set
            .iter()
            .filter(|c| !self.usable.contains_key(c.as_str()))
            .collect();
        if !missing.is_empty() {
            self.failures.push(schema_failure(
                None,
                "unique_together",
                format!("columns missing or mistyped: {missing:?}"),
            ));
            return;
        }
        let fail = if set.len() == 1 {
            col(set[0].as_str()).is_duplicated()
        } else {
            as_struct(set.iter().map(|c| col(c.as_str())).collect()).is_duplicated()
        };
        let key = self.agg(fail.clone().sum().cast(DataType::UInt64));
        self.plans.push(Planned {
            column: None,
            check: "unique_together".into(),
            detail: format!("rows unique over {set:?}"),
            judge: Judge::Rows {
                fail: Box::new(fail),
                pass: None,
                denominator: Denominator::Rows,
                mostly: None,
                value: None,
            },
            key,
        });
    }

    /// A statistic of a column within bounds.
    fn expectation(&mut self, e: &Expectation) {
        self.checks += 1;
        let Some(dtype) = self.usable.get(e.column.as_str()) else {
            self.failures.push(schema_failure(
                Some(&e.column),
                &e.stat.name(),
                "column missing or mistyped".into(),
            ));
            return;
        };
        let c = col(e.column.as_str());
        if !dtype.is_primitive_numeric() && !matches!(e.stat, Statistic::DistinctCount) {
            let detail = format!(
                "{} needs a numeric column, found {}",
                e.stat.name(),
                dtype_name(dtype)
            );
            self.failures
                .push(schema_failure(Some(&e.column), &e.stat.name(), detail));
            return;
        }
        let v = if dtype.is_float() {
            c.clone().filter(c.clone().is_finite())
        } else {
            c.clone()
        };
        let stat = match e.stat {
            Statistic::Mean => v.mean(),
            Statistic::Std => v.std(1),
            Statistic::Min => v.min(),
            Statistic::Max => v.max(),
            Statistic::Quantile { q } => v.quantile(lit(q), QuantileMethod::Linear),
            Statistic::DistinctCount => c.clone().drop_nulls().n_unique(),
        };
        let key = self.agg(stat.cast(DataType::Float64));
        self.plans.push(Planned {
            column: Some(e.column.clone()),
            check: e.stat.name(),
            detail: format!(
                "{} in [{}, {}]",
                e.stat.name(),
                bound(e.min, "-inf"),
                bound(e.max, "inf")
            ),
            judge: Judge::Stat {
                min: e.min,
                max: e.max,
            },
            key,
        });
    }

    /// A custom check in the contract's expression language.
    fn custom(&mut self, cc: &CustomCheck) -> Result<()> {
        self.checks += 1;
        let compiled = expr::compile(&cc.expr)?;
        let missing: Vec<&String> = compiled
            .columns
            .iter()
            .filter(|c| {
                !self.usable.contains_key(c.as_str()) && self.schema.get(c.as_str()).is_none()
            })
            .collect();
        if !missing.is_empty() {
            self.failures.push(schema_failure(
                None,
                &cc.name,
                format!("custom check reads missing columns {missing:?}"),
            ));
            return Ok(());
        }
        let fail = fail_mask(compiled.expr.not());
        let key = self.agg(fail.clone().sum().cast(DataType::UInt64));
        self.plans.push(Planned {
            column: None,
            check: cc.name.clone(),
            detail: format!("custom: {}", cc.expr),
            judge: Judge::Rows {
                fail: Box::new(fail),
                pass: None,
                denominator: Denominator::Rows,
                mostly: cc.mostly,
                value: None,
            },
            key,
        });
        Ok(())
    }
}

/// Compiles one value check of column `name` (of `dtype`, null count at aggregate key
/// `nulls`) into its judgement and detail text, or the failure that says why it does
/// not apply. `MaxNullFraction` is planned by the caller.
fn value_check(
    name: &str,
    dtype: &DataType,
    check: &ColumnCheck,
    nulls: usize,
) -> std::result::Result<(Judge, String), Box<CheckFailure>> {
    let c = col(name);
    let numeric = dtype.is_primitive_numeric();
    let stringy = dtype.is_string() || dtype.is_categorical() || dtype.is_enum();
    let not_applicable = |what: &str| {
        Box::new(schema_failure(
            Some(name),
            check.name(),
            format!(
                "{} needs a {what} column, found {}",
                check.name(),
                dtype_name(dtype)
            ),
        ))
    };
    let s = if stringy && !dtype.is_string() {
        c.clone().cast(DataType::String)
    } else {
        c.clone()
    };
    // A value check given by its pass mask (null on null rows).
    let row_check = |ok: Expr, mostly: Option<f64>| Judge::Rows {
        fail: Box::new(fail_mask(c.clone().is_not_null().and(ok.clone().not()))),
        pass: Some(Box::new(ok)),
        denominator: Denominator::NonNull(nulls),
        mostly,
        value: Some(Box::new(c.clone())),
    };
    Ok(match check {
        ColumnCheck::Range {
            min,
            max,
            min_exclusive,
            max_exclusive,
            mostly,
        } => {
            if !numeric {
                return Err(not_applicable("numeric"));
            }
            let lower = |lo: f64| {
                if *min_exclusive {
                    c.clone().gt(lit(lo))
                } else {
                    c.clone().gt_eq(lit(lo))
                }
            };
            let upper = |hi: f64| {
                if *max_exclusive {
                    c.clone().lt(lit(hi))
                } else {
                    c.clone().lt_eq(lit(hi))
                }
            };
            let float = dtype.is_float();
            // NaN is never in range (polars orders NaN above every number, so an upper
            // bound already rejects it).
            let ok = match (min, max) {
                (Some(lo), Some(hi)) => {
                    let closed = match (*min_exclusive, *max_exclusive) {
                        (false, false) => ClosedInterval::Both,
                        (false, true) => ClosedInterval::Left,
                        (true, false) => ClosedInterval::Right,
                        (true, true) => ClosedInterval::None,
                    };
                    c.clone().is_between(lit(*lo), lit(*hi), closed)
                }
                (Some(lo), None) if float => lower(*lo).and(c.clone().is_not_nan()),
                (Some(lo), None) => lower(*lo),
                (None, Some(hi)) => upper(*hi),
                (None, None) if float => c.clone().is_not_nan(),
                (None, None) => c.clone().is_not_null(),
            };
            let detail = format!(
                "values in {}{}, {}{}",
                if *min_exclusive { "(" } else { "[" },
                bound(*min, "-inf"),
                bound(*max, "inf"),
                if *max_exclusive { ")" } else { "]" },
            );
            (row_check(ok, *mostly), detail)
        }
        ColumnCheck::AllowedSet { values, mostly } => {
            let (probe, set) = if numeric {
                let nums: Option<Vec<f64>> = values
                    .iter()
                    .map(|v| match v {
                        crate::contract::Scalar::Int(i) => Some(*i as f64),
                        crate::contract::Scalar::Float(f) => Some(*f),
                        _ => None,
                    })
                    .collect();
                let Some(nums) = nums else {
                    return Err(Box::new(schema_failure(
                        Some(name),
                        "allowed_set",
                        format!(
                            "set has non-numeric values for a {} column",
                            dtype_name(dtype)
                        ),
                    )));
                };
                (
                    c.clone().cast(DataType::Float64),
                    Series::new("set".into(), nums),
                )
            } else if dtype.is_bool() {
                let b: Option<Vec<bool>> = values
                    .iter()
                    .map(|v| match v {
                        crate::contract::Scalar::Bool(b) => Some(*b),
                        _ => None,
                    })
                    .collect();
                let Some(b) = b else {
                    return Err(Box::new(schema_failure(
                        Some(name),
                        "allowed_set",
                        "set has non-boolean values for a bool column".into(),
                    )));
                };
                (c.clone(), Series::new("set".into(), b))
            } else if stringy {
                let t: Vec<String> = values.iter().map(scalar_text).collect();
                (s.clone(), Series::new("set".into(), t))
            } else {
                return Err(not_applicable("numeric, string or bool"));
            };
            let ok = probe.is_in(lit(set).implode(false), false);
            let shown: Vec<String> = values.iter().take(10).map(scalar_text).collect();
            let detail = format!(
                "values in {{{}{}}}",
                shown.join(", "),
                if values.len() > 10 { ", ..." } else { "" }
            );
            (row_check(ok, *mostly), detail)
        }
        ColumnCheck::Regex { pattern, mostly } => {
            if !stringy {
                return Err(not_applicable("string"));
            }
            let ok = s.clone().str().contains(lit(pattern.as_str()), true);
            (row_check(ok, *mostly), format!("values match /{pattern}/"))
        }
        ColumnCheck::StrLength { min, max, mostly } => {
            if !stringy {
                return Err(not_applicable("string"));
            }
            let l = s.clone().str().len_chars();
            let mut ok = s.clone().is_not_null();
            if let Some(lo) = min {
                ok = ok.and(l.clone().gt_eq(lit(*lo)));
            }
            if let Some(hi) = max {
                ok = ok.and(l.clone().lt_eq(lit(*hi)));
            }
            let detail = format!("length in [{}, {}]", bound(*min, "0"), bound(*max, "inf"));
            (row_check(ok, *mostly), detail)
        }
        ColumnCheck::Unique { mostly } => {
            let ok = c.clone().is_not_null().and(c.clone().is_duplicated().not());
            (row_check(ok, *mostly), "values are unique".to_string())
        }
        ColumnCheck::Finite { mostly } => {
            if !numeric {
                return Err(not_applicable("numeric"));
            }
            let ok = if dtype.is_float() {
                c.clone().is_finite()
            } else {
                c.clone().is_not_null()
            };
            (row_check(ok, *mostly), "no NaN or inf".to_string())
        }
        ColumnCheck::Monotonic { direction, strict } => {
            let prev = c.clone().shift(lit(1));
            let fail = match (direction, strict) {
                (Direction::Increasing, false) => c.clone().lt(prev),
                (Direction::Increasing, true) => c.clone().lt_eq(prev),
                (Direction::Decreasing, false) => c.clone().gt(prev),
                (Direction::Decreasing, true) => c.clone().gt_eq(prev),
            };
            let detail = format!(
                "{}{} between neighbouring rows",
                if *strict { "strictly " } else { "" },
                match direction {
                    Direction::Increasing => "increasing",
                    Direction::Decreasing => "decreasing",
                }
            );
            let judge = Judge::Rows {
                fail: Box::new(fail_mask(fail)),
                pass: None,
                denominator: Denominator::Rows,
                mostly: None,
                value: Some(Box::new(c.clone())),
            };
            (judge, detail)
        }
        ColumnCheck::MaxNullFraction { max } => {
            // Planned by the caller on the column's null count; kept here so the match
            // stays exhaustive.
            (
                Judge::NullFraction { max: *max },
                format!("null fraction <= {max}"),
            )
        }
    })
}
