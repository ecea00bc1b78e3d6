//! Data contracts: what a table must look like, as plain data that lives in git.
//!
//! A [`Contract`] lists columns ([`ColumnSpec`]: dtype, nullability, [`ColumnCheck`]s),
//! table rules ([`TableRules`]), statistical [`Expectation`]s and [`CustomCheck`]s.
//! It is serde data with one JSON form and one TOML form (for people), both
//! lossless. Every check carries an optional `mostly` fraction, as Great Expectations
//! has: the check passes when at least that fraction of the rows it looks at pass.
//!
//! [`Contract::infer`] proposes a contract from a frame; [`Contract::diff`] classifies
//! the changes between two versions as breaking or compatible; validation is in
//! [`crate::validate`].

mod diff;
pub(crate) mod expr;
mod infer;

use std::path::Path;

use polars::prelude::DataType;
use serde::{Deserialize, Serialize};

pub use diff::{ContractChange, ContractDiff};

use crate::{Error, Result};

/// A data contract.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// A name for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Table-level rules.
    #[serde(default, skip_serializing_if = "TableRules::is_default")]
    pub table: TableRules,
    /// Column specifications, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnSpec>,
    /// Statistical expectations on columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expectations: Vec<Expectation>,
    /// Named row-level predicates (see [`CustomCheck`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomCheck>,
}

/// Rules about the table as a whole.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRules {
    /// Fewest rows allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rows: Option<u64>,
    /// Most rows allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    /// What to do with columns the contract does not name.
    #[serde(default, skip_serializing_if = "ExtraColumns::is_default")]
    pub extra_columns: ExtraColumns,
    /// Sets of columns whose combined values must be unique per row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_together: Vec<Vec<String>>,
}

impl TableRules {
    fn is_default(&self) -> bool {
        *self == TableRules::default()
    }
}

/// The policy for columns a contract does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtraColumns {
    /// Extra columns are fine.
    #[default]
    Allow,
    /// Extra columns fail validation.
    Forbid,
}

impl ExtraColumns {
    fn is_default(&self) -> bool {
        *self == ExtraColumns::Allow
    }
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// One column of a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// Required dtype (`None`: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
    /// Whether nulls are allowed.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub nullable: bool,
    /// Whether the column must be present (an optional column is checked when present).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Value checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<ColumnCheck>,
}

impl ColumnSpec {
    /// A required, nullable column of any dtype with no checks.
    pub fn new(name: impl Into<String>) -> ColumnSpec {
        ColumnSpec {
            name: name.into(),
            dtype: None,
            nullable: true,
            required: true,
            checks: Vec::new(),
        }
    }

    /// Sets the dtype.
    pub fn dtype(mut self, dtype: DType) -> ColumnSpec {
        self.dtype = Some(dtype);
        self
    }

    /// Forbids nulls.
    pub fn not_null(mut self) -> ColumnSpec {
        self.nullable = false;
        self
    }

    /// Marks the column optional.
    pub fn optional(mut self) -> ColumnSpec {
        self.required = false;
        self
    }

    /// Adds a check.
    pub fn check(mut self, check: ColumnCheck) -> ColumnSpec {
        self.checks.push(check);
        self
    }
}

/// Column dtypes a contract can require: exact polars types and coarse classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum DType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    String,
    Categorical,
    Date,
    Datetime,
    Duration,
    Time,
    /// Any signed or unsigned integer.
    Integer,
    /// Any float.
    Float,
    /// Any integer or float.
    Numeric,
}

impl DType {
    /// Whether polars' `dtype` satisfies this one.
    pub fn matches(self, dtype: &DataType) -> bool {
        use DataType as D;
        match self {
            DType::Bool => matches!(dtype, D::Boolean),
            DType::Int8 => matches!(dtype, D::Int8),
            DType::Int16 => matches!(dtype, D::Int16),
            DType::Int32 => matches!(dtype, D::Int32),
            DType::Int64 => matches!(dtype, D::Int64),
            DType::UInt8 => matches!(dtype, D::UInt8),
            DType::UInt16 => matches!(dtype, D::UInt16),
            DType::UInt32 => matches!(dtype, D::UInt32),
            DType::UInt64 => matches!(dtype, D::UInt64),
            DType::Float32 => matches!(dtype, D::Float32),
            DType::Float64 => matches!(dtype, D::Float64),
            DType::String => matches!(dtype, D::String),
            DType::Categorical => dtype.is_categorical() || dtype.is_enum(),
            DType::Date => matches!(dtype, D::Date),
            DType::Datetime => matches!(dtype, D::Datetime(_, _)),
            DType::Duration => matches!(dtype, D::Duration(_)),
            DType::Time => matches!(dtype, D::Time),
            DType::Integer => dtype.is_integer(),
            DType::Float => dtype.is_float(),
            DType::Numeric => dtype.is_primitive_numeric(),
        }
    }

    /// The exact dtype of a polars type, when there is one.
    pub fn of(dtype: &DataType) -> Option<DType> {
        use DataType as D;
        Some(match dtype {
            D::Boolean => DType::Bool,
            D::Int8 => DType::Int8,
            D::Int16 => DType::Int16,
            D::Int32 => DType::Int32,
            D::Int64 => DType::Int64,
            D::UInt8 => DType::UInt8,
            D::UInt16 => DType::UInt16,
            D::UInt32 => DType::UInt32,
            D::UInt64 => DType::UInt64,
            D::Float32 => DType::Float32,
            D::Float64 => DType::Float64,
            D::String => DType::String,
            D::Date => DType::Date,
            D::Datetime(_, _) => DType::Datetime,
            D::Duration(_) => DType::Duration,
            D::Time => DType::Time,
            d if d.is_categorical() || d.is_enum() => DType::Categorical,
            _ => return None,
        })
    }

    /// Whether every dtype `self` accepts, `wider` accepts too.
    pub fn within(self, wider: DType) -> bool {
        if self == wider {
            return true;
        }
        let int = matches!(
            self,
            DType::Int8
                | DType::Int16
                | DType::Int32
                | DType::Int64
                | DType::UInt8
                | DType::UInt16
                | DType::UInt32
                | DType::UInt64
                | DType::Integer
        );
        let float = matches!(self, DType::Float32 | DType::Float64 | DType::Float);
        match wider {
            DType::Integer => int,
            DType::Float => float,
            DType::Numeric => int || float,
            _ => false,
        }
    }
}

/// A literal in an allowed set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
}

/// Monotonic direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Each value >= (or > when strict) the previous one.
    Increasing,
    /// Each value <= (or < when strict) the previous one.
    Decreasing,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A check on the values of one column. Nulls are never failures of value checks
/// (nullability is the column's `nullable` flag); NaN fails `range` and `finite`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum ColumnCheck {
    /// Values within bounds; each bound inclusive unless `*_exclusive`.
    Range {
        /// Lower bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Upper bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
        /// Whether the lower bound is excluded.
        #[serde(default, skip_serializing_if = "is_false")]
        min_exclusive: bool,
        /// Whether the upper bound is excluded.
        #[serde(default, skip_serializing_if = "is_false")]
        max_exclusive: bool,
        /// Fraction of non-null rows that must pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mostly: Option<f64>,
    },
    /// Values in a set.
    AllowedSet {
        /// The allowed values.
        values: Vec<Scalar>,
        /// Fraction of non-null rows that must pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mostly: Option<f64>,
    },
    /// Strings matching a regular expression (anywhere; anchor with `^...$`).
    Regex {
        /// The pattern (Rust regex syntax).
        pattern: String,
        /// Fraction of non-null rows that must pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mostly: Option<f64>,
    },
    /// String length in characters within bounds (inclusive).
    StrLength {
        /// Shortest length.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u64>,
        /// Longest length.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
        /// Fraction of non-null rows that must pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mostly: Option<f64>,
    },
    /// No value appears twice (nulls ignored).
    Unique {
        /// Fraction of non-null rows that must pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mostly: Option<f64>,
    },
    /// At most this fraction of rows is null.
    MaxNullFraction {
        /// The largest null fraction allowed.
        max: f64,
    },
    /// No NaN or ±inf.
    Finite {
        /// Fraction of non-null rows that must pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mostly: Option<f64>,
    },
    /// Values ordered along the rows (nulls skipped).
    Monotonic {
        /// Direction.
        direction: Direction,
        /// Whether equal neighbours fail.
        #[serde(default, skip_serializing_if = "is_false")]
        strict: bool,
    },
}

impl ColumnCheck {
    /// The check's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            ColumnCheck::Range { .. } => "range",
            ColumnCheck::AllowedSet { .. } => "allowed_set",
            ColumnCheck::Regex { .. } => "regex",
            ColumnCheck::StrLength { .. } => "str_length",
            ColumnCheck::Unique { .. } => "unique",
            ColumnCheck::MaxNullFraction { .. } => "max_null_fraction",
            ColumnCheck::Finite { .. } => "finite",
            ColumnCheck::Monotonic { .. } => "monotonic",
        }
    }

    /// The `mostly` fraction, when the check has one.
    pub fn mostly(&self) -> Option<f64> {
        match self {
            ColumnCheck::Range { mostly, .. }
            | ColumnCheck::AllowedSet { mostly, .. }
            | ColumnCheck::Regex { mostly, .. }
            | ColumnCheck::StrLength { mostly, .. }
            | ColumnCheck::Unique { mostly }
            | ColumnCheck::Finite { mostly } => *mostly,
            ColumnCheck::MaxNullFraction { .. } | ColumnCheck::Monotonic { .. } => None,
        }
    }

    /// A closed-or-open range check without `mostly`.
    pub fn range(min: Option<f64>, max: Option<f64>) -> ColumnCheck {
        ColumnCheck::Range {
            min,
            max,
            min_exclusive: false,
            max_exclusive: false,
            mostly: None,
        }
    }
}

/// A statistic of a column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stat", rename_all = "snake_case", deny_unknown_fields)]
pub enum Statistic {
    /// Mean of the finite values.
    Mean,
    /// Sample standard deviation (ddof = 1) of the finite values.
    Std,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Quantile `q` of the finite values (linear interpolation).
    Quantile {
        /// In [0, 1].
        q: f64,
    },
    /// Number of distinct non-null values.
    DistinctCount,
}

impl Statistic {
    /// The statistic's name in reports.
    pub fn name(&self) -> String {
        match self {
            Statistic::Mean => "mean".into(),
            Statistic::Std => "std".into(),
            Statistic::Min => "min".into(),
            Statistic::Max => "max".into(),
            Statistic::Quantile { q } => format!("quantile({q})"),
            Statistic::DistinctCount => "distinct_count".into(),
        }
    }
}

/// A statistic of a column that must lie within bounds (inclusive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// Column.
    pub column: String,
    /// Which statistic.
    #[serde(flatten)]
    pub stat: Statistic,
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A named row-level predicate written in the crate's expression language (see the
/// `contract::expr` module docs): rows where it is false fail; rows where it is null
/// (a null input) pass, as SQL CHECK constraints do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomCheck {
    /// Name in reports.
    pub name: String,
    /// The predicate, e.g. `price * quantity <= total + 0.01`.
    pub expr: String,
    /// Fraction of rows that must pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mostly: Option<f64>,
}

impl Contract {
    /// Checks that the contract itself is well formed: fractions in [0, 1], regexes
    /// and custom expressions that compile, no duplicate columns.
    pub fn check_well_formed(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidContract(m));
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.columns {
            if !seen.insert(c.name.as_str()) {
                return bad(format!("column {:?} appears twice", c.name));
            }
            for ch in &c.checks {
                if let Some(m) = ch.mostly()
                    && !(0.0..=1.0).contains(&m)
                {
                    return bad(format!("column {:?}: mostly {m} not in [0, 1]", c.name));
                }
                match ch {
                    ColumnCheck::Regex { pattern, .. } => {
                        if let Err(e) = regex::Regex::new(pattern) {
                            return bad(format!("column {:?}: regex {pattern:?}: {e}", c.name));
                        }
                    }
                    ColumnCheck::MaxNullFraction { max } if !(0.0..=1.0).contains(max) => {
                        return bad(format!(
                            "column {:?}: max_null_fraction {max} not in [0, 1]",
                            c.name
                        ));
                    }
                    ColumnCheck::Range { min, max, .. }
                        if min.is_some_and(|v| !v.is_finite())
                            || max.is_some_and(|v| !v.is_finite()) =>
                    {
                        return bad(format!(
                            "column {:?}: range bounds must be finite (leave one out for no bound)",
                            c.name
                        ));
                    }
                    _ => {}
                }
            }
        }
        for e in &self.expectations {
            if let Statistic::Quantile { q } = e.stat
                && !(0.0..=1.0).contains(&q)
            {
                return bad(format!("expectation on {:?}: quantile {q}", e.column));
            }
        }
        for c in &self.custom {
            expr::compile(&c.expr)?;
            if let Some(m) = c.mostly
                && !(0.0..=1.0).contains(&m)
            {
                return bad(format!("custom check {:?}: mostly {m}", c.name));
            }
        }
        for set in &self.table.unique_together {
            if set.is_empty() {
                return bad("unique_together with no columns".into());
            }
        }
        Ok(())
    }

    /// The contract as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))
    }

    /// Reads a contract from JSON and checks it is well formed.
    pub fn from_json(text: &str) -> Result<Contract> {
        let c: Contract =
            serde_json::from_str(text).map_err(|e| Error::InvalidContract(e.to_string()))?;
        c.check_well_formed()?;
        Ok(c)
    }

    /// The contract as TOML, the form for people to edit.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))
    }

    /// Reads a contract from TOML and checks it is well formed.
    pub fn from_toml(text: &str) -> Result<Contract> {
        let c: Contract =
            toml::from_str(text).map_err(|e| Error::InvalidContract(e.to_string()))?;
        c.check_well_formed()?;
        Ok(c)
    }

    /// Reads a contract file: `.toml` as TOML, anything else as JSON.
    pub fn load(path: &Path) -> Result<Contract> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        {
            Contract::from_toml(&text)
        } else {
            Contract::from_json(&text)
        }
    }

    /// The spec of a column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }
}
