//! Request rows in columns, without a polars frame: the serving path's model input.
//!
//! A model server receives a few rows per request. Building a polars `DataFrame` for
//! them costs more than the model math of a linear model (measured by
//! `mlops-deploy/examples/request_path.rs`: a 30-column, 1-row frame plus the frame
//! transform take tens of microseconds, the dot product well under one), so the server
//! decodes a request straight into a [`Batch`] of typed columns and calls
//! [`Model::predict_batch`](crate::Model::predict_batch). Flavors that only know frames
//! get one built by the trait's default method ([`Batch::to_frame`]).

use polars::prelude::{Column, DataFrame};

use crate::{Error, Result};

/// The values of one input column, one entry per row (`None` = missing).
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Floating-point numbers.
    F64(Vec<Option<f64>>),
    /// Integers.
    I64(Vec<Option<i64>>),
    /// Booleans.
    Bool(Vec<Option<bool>>),
    /// Text.
    Str(Vec<Option<String>>),
}

impl Values {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` as a number (`None` for missing, NaN, text or out of range).
    pub fn f64_at(&self, i: usize) -> Option<f64> {
        match self {
            Values::F64(v) => v.get(i).copied().flatten().filter(|x| !x.is_nan()),
            Values::I64(v) => v.get(i).copied().flatten().map(|x| x as f64),
            Values::Bool(v) => v.get(i).copied().flatten().map(|b| f64::from(u8::from(b))),
            Values::Str(_) => None,
        }
    }

    fn to_column(&self, name: &str) -> Column {
        match self {
            Values::F64(v) => Column::new(name.into(), v.as_slice()),
            Values::I64(v) => Column::new(name.into(), v.as_slice()),
            Values::Bool(v) => Column::new(name.into(), v.as_slice()),
            Values::Str(v) => {
                let refs: Vec<Option<&str>> = v.iter().map(Option::as_deref).collect();
                Column::new(name.into(), refs)
            }
        }
    }
}

/// Rows of named, typed columns, all of the same length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    rows: usize,
    columns: Vec<(String, Values)>,
}

impl Batch {
    /// An empty batch of `rows` rows; add its columns with [`Batch::push`].
    pub fn new(rows: usize) -> Batch {
        Batch {
            rows,
            columns: Vec::new(),
        }
    }

    /// Adds a column; its length must be the batch's row count and its name new.
    pub fn push(&mut self, name: impl Into<String>, values: Values) -> Result<()> {
        let name = name.into();
        if values.len() != self.rows {
            return Err(Error::Column {
                column: name,
                problem: format!("has {} values for {} rows", values.len(), self.rows),
            });
        }
        if self.column(&name).is_some() {
            return Err(Error::Column {
                column: name,
                problem: "appears twice".to_string(),
            });
        }
        self.columns.push((name, values));
        Ok(())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[(String, Values)] {
        &self.columns
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&Values> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The same rows as a polars frame (what [`Model::predict`](crate::Model::predict)
    /// takes).
    pub fn to_frame(&self) -> Result<DataFrame> {
        let cols: Vec<Column> = self.columns.iter().map(|(n, v)| v.to_column(n)).collect();
        Ok(DataFrame::new(self.rows, cols)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trips_to_a_frame() {
        let mut b = Batch::new(2);
        b.push("x", Values::F64(vec![Some(1.5), None])).unwrap();
        b.push("n", Values::I64(vec![Some(3), Some(4)])).unwrap();
        b.push("s", Values::Str(vec![Some("a".into()), None]))
            .unwrap();
        b.push("b", Values::Bool(vec![Some(true), Some(false)]))
            .unwrap();
        assert!(b.push("x", Values::F64(vec![None, None])).is_err());
        assert!(b.push("short", Values::F64(vec![None])).is_err());
        let df = b.to_frame().unwrap();
        assert_eq!(df.shape(), (2, 4));
        assert_eq!(df.column("x").unwrap().f64().unwrap().get(0), Some(1.5));
        assert_eq!(df.column("s").unwrap().str().unwrap().get(1), None);
        assert_eq!(b.column("n").unwrap().f64_at(1), Some(4.0));
    }
}
