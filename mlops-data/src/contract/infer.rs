//! Contract inference: a first contract proposed from data, for a person to curate.
//!
//! As pandera's `infer_schema` and TFDV's `infer_schema` do: exact dtypes, nullability
//! from the data, numeric ranges widened by a margin (10% of the observed span on each
//! side, rounded outward for integers, never below zero for a non-negative column),
//! allowed sets for low-cardinality string columns, and the observed row count as a
//! lower bound of one. Everything is computed in one polars `select`.

use polars::prelude::*;

use super::{ColumnCheck, ColumnSpec, Contract, DType, Scalar, TableRules};
use crate::Result;

/// String columns with at most this many distinct values get an allowed set.
pub(crate) const MAX_SET_SIZE: usize = 20;

/// The margin, as a fraction of the observed span, added to inferred ranges.
pub(crate) const RANGE_MARGIN: f64 = 0.1;

impl Contract {
    /// Proposes a contract from a frame: dtypes, nullability, ranges with a margin,
    /// small allowed sets.
    pub fn infer(df: &DataFrame) -> Result<Contract> {
        let schema = df.schema();
        let mut aggs = Vec::new();
        for (name, dtype) in schema.iter() {
            let c = col(name.clone());
            aggs.push(c.clone().null_count().alias(format!("{name}\u{1}nulls")));
            if dtype.is_primitive_numeric() {
                let finite = if dtype.is_float() {
                    c.clone().filter(c.clone().is_finite())
                } else {
                    c.clone()
                };
                aggs.push(
                    finite
                        .clone()
                        .min()
                        .cast(DataType::Float64)
                        .alias(format!("{name}\u{1}min")),
                );
                aggs.push(
                    finite
                        .max()
                        .cast(DataType::Float64)
                        .alias(format!("{name}\u{1}max")),
                );
            }
            if dtype.is_string() || dtype.is_categorical() {
                aggs.push(
                    c.clone()
                        .cast(DataType::String)
                        .n_unique()
                        .cast(DataType::UInt64)
                        .alias(format!("{name}\u{1}distinct")),
                );
            }
        }
        let stats = if aggs.is_empty() {
            DataFrame::empty()
        } else {
            df.clone().lazy().select(aggs).collect()?
        };
        let get_f64 = |key: &str| -> Option<f64> {
            stats
                .column(key)
                .ok()
                .and_then(|c| c.cast(&DataType::Float64).ok())
                .and_then(|c| c.f64().ok().and_then(|a| a.get(0)))
        };
        let mut columns = Vec::new();
        for (name, dtype) in schema.iter() {
            let mut spec = ColumnSpec::new(name.as_str());
            spec.dtype = DType::of(dtype);
            let nulls = get_f64(&format!("{name}\u{1}nulls")).unwrap_or(0.0);
            spec.nullable = nulls > 0.0 || df.height() == 0;
            if let (Some(lo), Some(hi)) = (
                get_f64(&format!("{name}\u{1}min")),
                get_f64(&format!("{name}\u{1}max")),
            ) {
                let span = (hi - lo).abs().max(hi.abs().max(lo.abs()) * 1e-9);
                let mut min = lo - RANGE_MARGIN * span;
                let mut max = hi + RANGE_MARGIN * span;
                if lo >= 0.0 {
                    min = min.max(0.0);
                }
                if dtype.is_integer() {
                    min = min.floor();
                    max = max.ceil();
                }
                spec.checks.push(ColumnCheck::range(Some(min), Some(max)));
            }
            if let Some(d) = get_f64(&format!("{name}\u{1}distinct")) {
                let non_null = df.height() as f64 - nulls;
                if d as usize <= MAX_SET_SIZE && d < non_null {
                    let values = df
                        .column(name)?
                        .cast(&DataType::String)?
                        .drop_nulls()
                        .unique_stable()?;
                    let mut set: Vec<String> =
                        values.str()?.iter().flatten().map(str::to_string).collect();
                    set.sort();
                    spec.checks.push(ColumnCheck::AllowedSet {
                        values: set.into_iter().map(Scalar::Str).collect(),
                        mostly: None,
                    });
                }
            }
            columns.push(spec);
        }
        Ok(Contract {
            name: None,
            table: TableRules {
                min_rows: Some(1),
                ..TableRules::default()
            },
            columns,
            expectations: Vec::new(),
            custom: Vec::new(),
        })
    }
}
