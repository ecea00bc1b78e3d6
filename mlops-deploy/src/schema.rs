//! A model's input signature compiled once at load, and request tables decoded against
//! it into a typed [`Batch`].
//!
//! The model's `Signature` carries a data contract that training validates frames with
//! (polars expressions). Running that engine per request would cost more than the model
//! (a frame build plus a lazy query for a one-row request), so [`InputSchema::compile`]
//! turns the parts of the contract a request can violate (dtype, nullability, allowed
//! categories, ranges) into plain per-column rules checked while decoding. A contract
//! with anything else (table rules, expectations, custom expressions, `mostly`) keeps a
//! copy that is validated on a frame of the request rows, the slow but exact path.
//!
//! Decoding follows MLflow's schema enforcement: columns are matched by name, extra
//! columns are ignored, a JSON integer or a numeric string is accepted in a float
//! column, a float with a fraction is refused in an integer column. Error messages
//! name the column and row, never a value from the request.

use std::collections::HashSet;

use mlops_data::{ColumnCheck, Contract, Scalar};
use mlops_train::{Batch, Signature, Values};
use serde_json::Value;

/// How a request failed to decode: an HTTP status, MLflow's `error_code` and a message
/// that names the problem without echoing the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// HTTP status (4xx).
    pub status: u16,
    /// MLflow's error code (`BAD_REQUEST`, `INVALID_PARAMETER_VALUE`, ...).
    pub code: &'static str,
    /// What was wrong and where.
    pub message: String,
}

impl InputError {
    /// A 400 `BAD_REQUEST` (unparsable body, unknown format).
    pub fn bad_request(message: impl Into<String>) -> InputError {
        InputError {
            status: 400,
            code: "BAD_REQUEST",
            message: message.into(),
        }
    }

    /// A 400 `INVALID_PARAMETER_VALUE` (the rows do not fit the model's signature).
    pub fn invalid(message: impl Into<String>) -> InputError {
        InputError {
            status: 400,
            code: "INVALID_PARAMETER_VALUE",
            message: message.into(),
        }
    }
}

/// The value type a column decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Floating point (`f64`, `f32`).
    F64,
    /// Integer (any signed or unsigned polars integer).
    I64,
    /// Boolean.
    Bool,
    /// Text (strings, categoricals, anything else).
    Str,
}

impl Kind {
    fn of_dtype(dtype: &str) -> Kind {
        match dtype {
            "f64" | "f32" => Kind::F64,
            "i64" | "i32" | "i16" | "i8" | "u64" | "u32" | "u16" | "u8" => Kind::I64,
            "bool" => Kind::Bool,
            _ => Kind::Str,
        }
    }

    /// The KServe V2 datatype name of the kind.
    pub fn v2_datatype(self) -> &'static str {
        match self {
            Kind::F64 => "FP64",
            Kind::I64 => "INT64",
            Kind::Bool => "BOOL",
            Kind::Str => "BYTES",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::F64 => "a number",
            Kind::I64 => "an integer",
            Kind::Bool => "a boolean",
            Kind::Str => "a string",
        }
    }
}

/// One compiled input column.
#[derive(Debug, Clone, PartialEq)]
pub struct InputColumn {
    /// Column name.
    pub name: String,
    /// Value type.
    pub kind: Kind,
    /// Whether a missing value is allowed (the model imputes it).
    pub nullable: bool,
    /// Allowed values, as text, when the contract restricts them.
    pub allowed: Option<HashSet<String>>,
    /// Inclusive/exclusive bounds when the contract gives a range:
    /// `(min, min_exclusive, max, max_exclusive)`.
    pub range: Option<(Option<f64>, bool, Option<f64>, bool)>,
}

/// A model's inputs compiled for the request path.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSchema {
    /// The columns, in signature order.
    pub columns: Vec<InputColumn>,
    /// The contract, kept when it has rules the compiled columns do not cover (then
    /// validated on a frame of the request rows).
    pub residual: Option<Contract>,
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Str(s) => s.clone(),
    }
}

impl InputSchema {
    /// Compiles a signature: column kinds from its dtypes, nullability, allowed sets
    /// and ranges from its contract.
    pub fn compile(signature: &Signature) -> InputSchema {
        let contract = signature.contract.as_ref();
        let mut residual = contract.is_some_and(|c| {
            c.table.min_rows.is_some()
                || c.table.max_rows.is_some()
                || !c.table.unique_together.is_empty()
                || !c.expectations.is_empty()
                || !c.custom.is_empty()
                || c.columns
                    .iter()
                    .any(|s| !signature.inputs.iter().any(|i| i.name == s.name))
        });
        let columns = signature
            .inputs
            .iter()
            .map(|input| {
                let mut col = InputColumn {
                    name: input.name.clone(),
                    kind: Kind::of_dtype(&input.dtype),
                    nullable: true,
                    allowed: None,
                    range: None,
                };
                if let Some(spec) =
                    contract.and_then(|c| c.columns.iter().find(|s| s.name == input.name))
                {
                    col.nullable = spec.nullable;
                    if spec.dtype.is_some_and(|d| {
                        !matches!(
                            (col.kind, d),
                            (Kind::F64 | Kind::I64, mlops_data::DType::Numeric)
                                | (Kind::F64, mlops_data::DType::Float)
                                | (Kind::F64, mlops_data::DType::Float64)
                                | (Kind::I64, mlops_data::DType::Integer)
                                | (Kind::I64, mlops_data::DType::Int64)
                                | (Kind::Bool, mlops_data::DType::Bool)
                                | (Kind::Str, mlops_data::DType::String)
                        )
                    }) {
                        residual = true;
                    }
                    for check in &spec.checks {
                        match check {
                            ColumnCheck::AllowedSet {
                                values,
                                mostly: None,
                            } => col.allowed = Some(values.iter().map(scalar_text).collect()),
                            ColumnCheck::Range {
                                min,
                                max,
                                min_exclusive,
                                max_exclusive,
                                mostly: None,
                            } => col.range = Some((*min, *min_exclusive, *max, *max_exclusive)),
                            _ => residual = true,
                        }
                    }
                }
                col
            })
            .collect();
        InputSchema {
            columns,
            residual: if residual { contract.cloned() } else { None },
        }
    }

    /// Decodes a request table into a typed batch, checking every compiled rule.
    pub fn decode(&self, table: &Table) -> Result<Batch, InputError> {
        let rows = table.rows();
        let mut batch = Batch::new(rows);
        for (ci, col) in self.columns.iter().enumerate() {
            let source = table.locate(&col.name, ci, self.columns.len())?;
            let mut builder = Builder::new(col.kind, rows);
            for r in 0..rows {
                let cell = table.cell(source, r, &col.name);
                builder.push(cell).map_err(|why| {
                    InputError::invalid(format!("column {:?}, row {r}: {why}", col.name))
                })?;
            }
            let values = builder.finish();
            self.check(col, &values)?;
            batch
                .push(col.name.clone(), values)
                .map_err(|e| InputError::invalid(e.to_string()))?;
        }
        if let Some(contract) = &self.residual {
            let frame = batch
                .to_frame()
                .map_err(|e| InputError::invalid(e.to_string()))?;
            let report = contract
                .validate(&frame)
                .map_err(|e| InputError::invalid(format!("the input contract: {e}")))?;
            if let Some(f) = report.failures.first() {
                let at = f
                    .column
                    .as_deref()
                    .map(|c| format!("column {c:?}: "))
                    .unwrap_or_default();
                return Err(InputError::invalid(format!(
                    "{at}check {} failed on {} of {} rows",
                    f.check, f.failing_rows, rows
                )));
            }
        }
        Ok(batch)
    }

    fn check(&self, col: &InputColumn, values: &Values) -> Result<(), InputError> {
        let bad = |r: usize, why: &str| {
            Err(InputError::invalid(format!(
                "column {:?}, row {r}: {why}",
                col.name
            )))
        };
        for r in 0..values.len() {
            let missing = match values {
                Values::F64(v) => v[r].is_none_or(f64::is_nan),
                Values::I64(v) => v[r].is_none(),
                Values::Bool(v) => v[r].is_none(),
                Values::Str(v) => v[r].is_none(),
            };
            if missing {
                if !col.nullable {
                    return bad(r, "missing value (the model does not impute this column)");
                }
                continue;
            }
            if let Some(allowed) = &col.allowed {
                let text = match values {
                    Values::Str(v) => v[r].clone().unwrap_or_default(),
                    Values::I64(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
                    Values::Bool(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
                    Values::F64(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
                };
                if !allowed.contains(&text) {
                    return bad(r, "a category the model was not trained on");
                }
            }
            if let Some((min, min_ex, max, max_ex)) = col.range
                && let Some(x) = values.f64_at(r)
            {
                let low = min.is_some_and(|m| if min_ex { x <= m } else { x < m });
                let high = max.is_some_and(|m| if max_ex { x >= m } else { x > m });
                if low || high {
                    return bad(r, "outside the range the model accepts");
                }
            }
        }
        Ok(())
    }
}

/// A cell of a request table.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// A JSON value.
    Json(&'a Value),
    /// A CSV field.
    Text(&'a str),
    /// Absent (a record without the key).
    Missing,
}

/// A request's rows in the shape the protocol sent them, before typing.
#[derive(Debug, Clone, PartialEq)]
pub enum Table {
    /// Column names and row arrays (`dataframe_split`).
    Split {
        /// Column names.
        columns: Vec<String>,
        /// Rows, each a JSON array as long as `columns`.
        data: Vec<Value>,
    },
    /// Row objects (`dataframe_records`, `instances` of objects).
    Records(Vec<Value>),
    /// Named columns (`inputs` / `instances` as an object of lists, V2 tensors).
    Columns(Vec<(String, Vec<Value>)>),
    /// Rows of values matched to the signature by position (lists of lists, a 2-D
    /// V2 tensor).
    Positional(Vec<Vec<Value>>),
    /// CSV: a header and text rows.
    Csv {
        /// Header names.
        header: Vec<String>,
        /// Rows of fields.
        rows: Vec<Vec<String>>,
    },
}

/// Where a schema column's values are in a table.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// Column index (split, columns, CSV, positional).
    Index(usize),
    /// By key (records).
    Key,
}

impl Table {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Table::Split { data, .. } => data.len(),
            Table::Records(r) => r.len(),
            Table::Columns(c) => c.first().map_or(0, |(_, v)| v.len()),
            Table::Positional(r) => r.len(),
            Table::Csv { rows, .. } => rows.len(),
        }
    }

    /// Checks the table's own shape (rectangular, rows of the right kind).
    pub fn validate_shape(&self) -> Result<(), InputError> {
        let ragged = |what: &str| Err(InputError::bad_request(format!("Invalid input. {what}")));
        match self {
            Table::Split { columns, data } => {
                for (r, row) in data.iter().enumerate() {
                    match row.as_array() {
                        Some(a) if a.len() == columns.len() => {}
                        Some(a) => {
                            return ragged(&format!(
                                "dataframe_split row {r} has {} values for {} columns",
                                a.len(),
                                columns.len()
                            ));
                        }
                        None => return ragged(&format!("dataframe_split row {r} is not a list")),
                    }
                }
            }
            Table::Records(rows) => {
                if let Some(r) = rows.iter().position(|v| !v.is_object()) {
                    return ragged(&format!("record {r} is not a JSON object"));
                }
            }
            Table::Columns(cols) => {
                let n = self.rows();
                if let Some((name, v)) = cols.iter().find(|(_, v)| v.len() != n) {
                    return ragged(&format!(
                        "column {name:?} has {} values, the first column {n}",
                        v.len()
                    ));
                }
            }
            Table::Positional(rows) => {
                let w = rows.first().map_or(0, Vec::len);
                if let Some(r) = rows.iter().position(|row| row.len() != w) {
                    return ragged(&format!("row {r} has another length than row 0"));
                }
            }
            Table::Csv { header, rows } => {
                if let Some(r) = rows.iter().position(|row| row.len() != header.len()) {
                    return ragged(&format!(
                        "CSV row {} has another number of fields than the header",
                        r + 1
                    ));
                }
            }
        }
        Ok(())
    }

    fn locate(&self, name: &str, position: usize, width: usize) -> Result<Source, InputError> {
        let missing = || {
            InputError::invalid(format!(
                "column {name:?} is missing: the model's signature requires it"
            ))
        };
        match self {
            Table::Split { columns, .. } => columns
                .iter()
                .position(|c| c == name)
                .map(Source::Index)
                .ok_or_else(missing),
            Table::Csv { header, .. } => header
                .iter()
                .position(|c| c == name)
                .map(Source::Index)
                .ok_or_else(missing),
            Table::Columns(cols) => cols
                .iter()
                .position(|(c, _)| c == name)
                .map(Source::Index)
                .ok_or_else(missing),
            Table::Records(rows) => {
                if rows.is_empty() || rows.iter().any(|r| r.get(name).is_some()) {
                    Ok(Source::Key)
                } else {
                    Err(missing())
                }
            }
            Table::Positional(rows) => {
                let w = rows.first().map_or(width, Vec::len);
                if w != width {
                    return Err(InputError::invalid(format!(
                        "rows without column names have {w} values; the model's signature \
                         has {width} columns (send dataframe_split or records to match by name)"
                    )));
                }
                Ok(Source::Index(position))
            }
        }
    }

    fn cell<'t>(&'t self, source: Source, row: usize, name: &str) -> Cell<'t> {
        match (self, source) {
            (Table::Split { data, .. }, Source::Index(c)) => data
                .get(row)
                .and_then(|r| r.get(c))
                .map_or(Cell::Missing, Cell::Json),
            (Table::Csv { rows, .. }, Source::Index(c)) => rows
                .get(row)
                .and_then(|r| r.get(c))
                .map_or(Cell::Missing, |s| Cell::Text(s)),
            (Table::Columns(cols), Source::Index(c)) => cols
                .get(c)
                .and_then(|(_, v)| v.get(row))
                .map_or(Cell::Missing, Cell::Json),
            (Table::Positional(rows), Source::Index(c)) => rows
                .get(row)
                .and_then(|r| r.get(c))
                .map_or(Cell::Missing, Cell::Json),
            (Table::Records(rows), Source::Key) => rows
                .get(row)
                .and_then(|r| r.get(name))
                .map_or(Cell::Missing, Cell::Json),
            _ => Cell::Missing,
        }
    }

    /// The text of field `name` in the first row (for sticky routing), if present.
    pub fn first_value_of(&self, name: &str) -> Option<String> {
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        match self {
            Table::Split { columns, data } => {
                let c = columns.iter().position(|c| c == name)?;
                text(data.first()?.get(c)?)
            }
            Table::Records(rows) => text(rows.first()?.get(name)?),
            Table::Columns(cols) => text(cols.iter().find(|(c, _)| c == name)?.1.first()?),
            Table::Csv { header, rows } => {
                let c = header.iter().position(|c| c == name)?;
                rows.first()?.get(c).cloned()
            }
            Table::Positional(_) => None,
        }
    }
}

enum Raw<'a> {
    Null,
    Num(&'a serde_json::Number),
    Str(&'a str),
    Bool(bool),
}

enum Builder {
    F64(Vec<Option<f64>>),
    I64(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<String>>),
}

impl Builder {
    fn new(kind: Kind, n: usize) -> Builder {
        match kind {
            Kind::F64 => Builder::F64(Vec::with_capacity(n)),
            Kind::I64 => Builder::I64(Vec::with_capacity(n)),
            Kind::Bool => Builder::Bool(Vec::with_capacity(n)),
            Kind::Str => Builder::Str(Vec::with_capacity(n)),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Builder::F64(_) => Kind::F64,
            Builder::I64(_) => Kind::I64,
            Builder::Bool(_) => Kind::Bool,
            Builder::Str(_) => Kind::Str,
        }
    }

    fn push(&mut self, cell: Cell<'_>) -> Result<(), String> {
        let kind = self.kind();
        let wrong = |found: &str| format!("expected {}, found {found}", kind.expected());
        let raw = match cell {
            Cell::Missing | Cell::Json(Value::Null) => Raw::Null,
            Cell::Text("") => Raw::Null,
            Cell::Text(s) => Raw::Str(s),
            Cell::Json(Value::String(s)) => Raw::Str(s),
            Cell::Json(Value::Number(n)) => Raw::Num(n),
            Cell::Json(Value::Bool(b)) => Raw::Bool(*b),
            Cell::Json(other) => return Err(wrong(json_kind(other))),
        };
        match self {
            Builder::F64(v) => v.push(match raw {
                Raw::Null => None,
                Raw::Num(n) => n.as_f64(),
                Raw::Str(s) => Some(parse_f64(s).ok_or_else(|| wrong("a non-numeric string"))?),
                Raw::Bool(_) => return Err(wrong("a boolean")),
            }),
            Builder::I64(v) => v.push(match raw {
                Raw::Null => None,
                Raw::Num(n) => Some(match n.as_i64() {
                    Some(i) => i,
                    None => n
                        .as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15)
                        .map(|f| f as i64)
                        .ok_or_else(|| wrong("a number with a fraction or out of range"))?,
                }),
                Raw::Str(s) => Some(
                    s.trim()
                        .parse::<i64>()
                        .map_err(|_| wrong("a non-integer string"))?,
                ),
                Raw::Bool(_) => return Err(wrong("a boolean")),
            }),
            Builder::Bool(v) => v.push(match raw {
                Raw::Null => None,
                Raw::Bool(b) => Some(b),
                Raw::Str(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
                Raw::Str(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
                Raw::Str(_) => return Err(wrong("a string")),
                Raw::Num(_) => return Err(wrong("a number")),
            }),
            Builder::Str(v) => v.push(match raw {
                Raw::Null => None,
                Raw::Str(s) => Some(s.to_string()),
                Raw::Num(n) => Some(n.to_string()),
                Raw::Bool(b) => Some(b.to_string()),
            }),
        }
        Ok(())
    }

    fn finish(self) -> Values {
        match self {
            Builder::F64(v) => Values::F64(v),
            Builder::I64(v) => Values::I64(v),
            Builder::Bool(v) => Values::Bool(v),
            Builder::Str(v) => Values::Str(v),
        }
    }
}

fn parse_f64(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
