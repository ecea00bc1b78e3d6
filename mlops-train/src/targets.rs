//! Reading a target column as the numbers metrics and trainers take: class indices into
//! a model's classes, or values. Shared by training and evaluation, so the model module
//! (what serving depends on) never imports the trainers.

use polars::prelude::DataFrame;

use crate::features::{numeric_values, text_values};
use crate::{Error, Result};

/// Sorts class labels: numerically when every label is a number, else as text.
pub(crate) fn sort_classes(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    if v.iter().all(|s| s.parse::<f64>().is_ok()) {
        v.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    v
}

/// Reads a classification target as class indices into `classes`.
pub(crate) fn class_targets(
    df: &DataFrame,
    column: &str,
    classes: &[String],
) -> Result<Vec<usize>> {
    let vals = text_values(df, column)?;
    vals.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let v = v.ok_or_else(|| Error::Column {
                column: column.to_string(),
                problem: format!("missing target at row {i}"),
            })?;
            classes
                .iter()
                .position(|c| *c == v)
                .ok_or_else(|| Error::Column {
                    column: column.to_string(),
                    problem: format!("label {v:?} at row {i} is not a class of the model"),
                })
        })
        .collect()
}

/// Reads a regression target.
pub(crate) fn value_targets(df: &DataFrame, column: &str) -> Result<Vec<f64>> {
    numeric_values(df, column)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| Error::Column {
                column: column.to_string(),
                problem: format!("missing target at row {i}"),
            })
        })
        .collect()
}
