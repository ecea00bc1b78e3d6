//! Features: from a polars frame to the `f64` matrix linfa trains on.
//!
//! A [`FeatureSpec`] says, per column, how it becomes numbers: numeric columns pass
//! through or are standardised, categorical columns are one-hot encoded with an explicit
//! policy for categories never seen in training, and missing values are imputed by a
//! stated rule (or refused). [`FeatureSpec::fit`] learns the statistics (means, scales,
//! fill values, category lists) and returns [`FittedFeatures`], which is serialised
//! *inside* the model: serving applies exactly what training did, never a re-fit.
//!
//! Columns are converted by hand (cast, then iterate) rather than through polars'
//! ndarray feature, which would rebuild polars for the whole workspace.

use polars::prelude::{DataFrame, DataType};
use serde::{Deserialize, Serialize};

use mlops_core::ColumnSchema;
use ndarray::Array2;

use crate::batch::{Batch, Values};
use crate::{Error, Result};

/// How missing values (nulls, NaN) of a column are filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Impute {
    /// A missing value is an error naming the column and row.
    Refuse,
    /// The training mean (numeric).
    Mean,
    /// The training median (numeric).
    Median,
    /// A fixed number (numeric).
    Constant {
        /// The fill value.
        value: f64,
    },
    /// The most frequent training category (categorical; ties: the smallest).
    MostFrequent,
    /// A fixed category (categorical), e.g. `"missing"`.
    Category {
        /// The fill category.
        value: String,
    },
}

/// What to do with a category that training never saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnseenCategory {
    /// An error naming the column, row and value.
    Refuse,
    /// All one-hot columns zero (scikit-learn's `handle_unknown="ignore"`).
    Ignore,
}

/// How one column becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureKind {
    /// A numeric column, optionally standardised to mean 0 and unit variance
    /// (population standard deviation, as scikit-learn's `StandardScaler`).
    Numeric {
        /// Standardise with the training mean and standard deviation.
        #[serde(default)]
        standardize: bool,
    },
    /// A categorical column, one-hot encoded over the training categories (sorted).
    Categorical {
        /// Policy for categories not seen in training.
        unseen: UnseenCategory,
    },
}

/// One input column of a feature spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    /// Column name in the frame.
    pub column: String,
    /// How it is encoded.
    #[serde(flatten)]
    pub kind: FeatureKind,
    /// How missing values are filled.
    pub impute: Impute,
}

impl Feature {
    /// A numeric column passed through; missing values refused.
    pub fn numeric(column: &str) -> Feature {
        Feature {
            column: column.to_string(),
            kind: FeatureKind::Numeric { standardize: false },
            impute: Impute::Refuse,
        }
    }

    /// A standardised numeric column; missing values filled with the training mean.
    pub fn standardized(column: &str) -> Feature {
        Feature {
            column: column.to_string(),
            kind: FeatureKind::Numeric { standardize: true },
            impute: Impute::Mean,
        }
    }

    /// A one-hot categorical column: unseen categories encode as all zeros, missing
    /// values as the category `"missing"`.
    pub fn categorical(column: &str) -> Feature {
        Feature {
            column: column.to_string(),
            kind: FeatureKind::Categorical {
                unseen: UnseenCategory::Ignore,
            },
            impute: Impute::Category {
                value: "missing".to_string(),
            },
        }
    }

    /// The same feature with another imputation rule.
    pub fn impute(mut self, rule: Impute) -> Feature {
        self.impute = rule;
        self
    }
}

/// The input columns of a model and how they are encoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// The features, in order.
    pub features: Vec<Feature>,
}

/// A fitted column transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FittedColumn {
    /// A numeric column.
    Numeric {
        /// Column name.
        column: String,
        /// Value for missing entries (`None`: refuse).
        fill: Option<f64>,
        /// Subtracted (0 when not standardised).
        center: f64,
        /// Divided by (1 when not standardised or constant).
        scale: f64,
    },
    /// A one-hot categorical column.
    Categorical {
        /// Column name.
        column: String,
        /// Training categories, sorted: one output column each.
        categories: Vec<String>,
        /// Category for missing entries (`None`: refuse).
        fill: Option<String>,
        /// Policy for unseen categories.
        unseen: UnseenCategory,
    },
}

/// The learned transform: part of every model, applied identically at serving time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedFeatures {
    /// Per input column, in order.
    pub columns: Vec<FittedColumn>,
    /// The input schema seen in training (names and polars dtypes).
    pub inputs: Vec<ColumnSchema>,
}

fn col_err(column: &str, problem: impl Into<String>) -> Error {
    Error::Column {
        column: column.to_string(),
        problem: problem.into(),
    }
}

/// Reads a column as `f64`s (`None` for null or NaN). Numeric and boolean dtypes only.
pub(crate) fn numeric_values(df: &DataFrame, column: &str) -> Result<Vec<Option<f64>>> {
    let c = df
        .column(column)
        .map_err(|_| col_err(column, "missing from the frame"))?;
    let dt = c.dtype();
    if !(dt.is_primitive_numeric() || dt.is_bool()) {
        return Err(col_err(
            column,
            format!("expected a numeric column, found {dt}"),
        ));
    }
    let c = c.cast(&DataType::Float64)?;
    let ca = c.as_materialized_series().f64()?;
    Ok(ca.iter().map(|v| v.filter(|x| !x.is_nan())).collect())
}

/// Reads a column as text (`None` for null). Any dtype polars can cast to a string.
pub(crate) fn text_values(df: &DataFrame, column: &str) -> Result<Vec<Option<String>>> {
    let c = df
        .column(column)
        .map_err(|_| col_err(column, "missing from the frame"))?;
    let c = c.cast(&DataType::String)?;
    let ca = c.as_materialized_series().str()?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

impl FeatureSpec {
    /// A spec from features.
    pub fn new(features: Vec<Feature>) -> FeatureSpec {
        FeatureSpec { features }
    }

    /// Every numeric column of `df` except `exclude`, passed through as it is.
    pub fn all_numeric(df: &DataFrame, exclude: &[&str]) -> FeatureSpec {
        Self::numeric_columns(df, exclude, Feature::numeric)
    }

    /// Every numeric column of `df` except `exclude`, standardised (zero mean, unit
    /// variance, learned on the training frame).
    pub fn all_numeric_standardized(df: &DataFrame, exclude: &[&str]) -> FeatureSpec {
        Self::numeric_columns(df, exclude, Feature::standardized)
    }

    fn numeric_columns(
        df: &DataFrame,
        exclude: &[&str],
        feature: impl Fn(&str) -> Feature,
    ) -> FeatureSpec {
        let features = df
            .columns()
            .iter()
            .filter(|c| c.dtype().is_primitive_numeric() && !exclude.contains(&c.name().as_str()))
            .map(|c| feature(c.name()))
            .collect();
        FeatureSpec { features }
    }

    /// Learns the transform's statistics from the training frame.
    pub fn fit(&self, df: &DataFrame) -> Result<FittedFeatures> {
        if self.features.is_empty() {
            return Err(Error::arg("the feature spec has no features"));
        }
        let mut columns = Vec::new();
        let mut inputs = Vec::new();
        for f in &self.features {
            let c = df
                .column(&f.column)
                .map_err(|_| col_err(&f.column, "missing from the training frame"))?;
            inputs.push(ColumnSchema {
                name: f.column.clone(),
                dtype: c.dtype().to_string(),
            });
            match &f.kind {
                FeatureKind::Numeric { standardize } => {
                    let vals = numeric_values(df, &f.column)?;
                    let present: Vec<f64> = vals.iter().flatten().copied().collect();
                    if present.is_empty() {
                        return Err(col_err(
                            &f.column,
                            "has no non-missing values to learn from",
                        ));
                    }
                    let mean = present.iter().sum::<f64>() / present.len() as f64;
                    let fill = match &f.impute {
                        Impute::Refuse => None,
                        Impute::Mean => Some(mean),
                        Impute::Median => Some(median(present.clone())),
                        Impute::Constant { value } => Some(*value),
                        other => {
                            return Err(col_err(
                                &f.column,
                                format!("imputation {other:?} does not apply to a numeric column"),
                            ));
                        }
                    };
                    let (center, scale) = if *standardize {
                        let var = present.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                            / present.len() as f64;
                        let sd = var.sqrt();
                        (mean, if sd > 0.0 { sd } else { 1.0 })
                    } else {
                        (0.0, 1.0)
                    };
                    columns.push(FittedColumn::Numeric {
                        column: f.column.clone(),
                        fill,
                        center,
                        scale,
                    });
                }
                FeatureKind::Categorical { unseen } => {
                    let vals = text_values(df, &f.column)?;
                    let mut counts = std::collections::BTreeMap::<String, u64>::new();
                    for v in vals.iter().flatten() {
                        *counts.entry(v.clone()).or_default() += 1;
                    }
                    let fill = match &f.impute {
                        Impute::Refuse => None,
                        Impute::MostFrequent => {
                            let best = counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
                            Some(
                                best.map(|(k, _)| k.clone()).ok_or_else(|| {
                                    col_err(&f.column, "has no non-missing values")
                                })?,
                            )
                        }
                        Impute::Category { value } => Some(value.clone()),
                        other => {
                            return Err(col_err(
                                &f.column,
                                format!(
                                    "imputation {other:?} does not apply to a categorical column"
                                ),
                            ));
                        }
                    };
                    if vals.iter().any(Option::is_none)
                        && let Some(fv) = &fill
                    {
                        counts.entry(fv.clone()).or_default();
                    }
                    columns.push(FittedColumn::Categorical {
                        column: f.column.clone(),
                        categories: counts.into_keys().collect(),
                        fill,
                        unseen: *unseen,
                    });
                }
            }
        }
        Ok(FittedFeatures { columns, inputs })
    }
}

impl FittedFeatures {
    /// The inputs as a data contract: numeric columns must be numeric, a column may
    /// hold nulls only where the transform imputes them, and a categorical column whose
    /// unseen categories are refused may only hold its training categories.
    pub fn input_contract(&self) -> mlops_data::Contract {
        use mlops_data::{ColumnCheck, ColumnSpec, Contract, DType, Scalar};
        let text_input = |name: &str| {
            self.inputs
                .iter()
                .any(|i| i.name == name && i.dtype == "str")
        };
        let columns = self
            .columns
            .iter()
            .map(|c| match c {
                FittedColumn::Numeric { column, fill, .. } => {
                    let mut spec = ColumnSpec::new(column.clone()).dtype(DType::Numeric);
                    spec.nullable = fill.is_some();
                    spec
                }
                FittedColumn::Categorical {
                    column,
                    categories,
                    fill,
                    unseen,
                } => {
                    let mut spec = ColumnSpec::new(column.clone());
                    spec.nullable = fill.is_some();
                    // Only text columns: the categories are the text form of the values.
                    if *unseen == UnseenCategory::Refuse && text_input(column) {
                        spec.checks.push(ColumnCheck::AllowedSet {
                            values: categories.iter().cloned().map(Scalar::Str).collect(),
                            mostly: None,
                        });
                    }
                    spec
                }
            })
            .collect();
        Contract {
            name: Some("model inputs".to_string()),
            columns,
            ..Contract::default()
        }
    }

    /// Names of the output features (`column` or `column=category`).
    pub fn output_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.columns {
            match c {
                FittedColumn::Numeric { column, .. } => out.push(column.clone()),
                FittedColumn::Categorical {
                    column, categories, ..
                } => out.extend(categories.iter().map(|k| format!("{column}={k}"))),
            }
        }
        out
    }

    /// Applies the transform to a frame: one row per frame row, one column per output
    /// feature. Missing or unseen values follow the fitted policies; refusals name the
    /// column and row.
    pub fn transform(&self, df: &DataFrame) -> Result<Array2<f64>> {
        let n = df.height();
        let width = self.output_names().len();
        let mut x = Array2::<f64>::zeros((n, width));
        let mut at = 0;
        for c in &self.columns {
            match c {
                FittedColumn::Numeric {
                    column,
                    fill,
                    center,
                    scale,
                } => {
                    let vals = numeric_values(df, column)?;
                    for (i, v) in vals.into_iter().enumerate() {
                        let v = match (v, fill) {
                            (Some(v), _) => v,
                            (None, Some(f)) => *f,
                            (None, None) => {
                                return Err(col_err(
                                    column,
                                    format!("missing value at row {i} (imputation: refuse)"),
                                ));
                            }
                        };
                        x[[i, at]] = (v - center) / scale;
                    }
                    at += 1;
                }
                FittedColumn::Categorical {
                    column,
                    categories,
                    fill,
                    unseen,
                } => {
                    let vals = text_values(df, column)?;
                    for (i, v) in vals.into_iter().enumerate() {
                        let v = match (v, fill) {
                            (Some(v), _) => v,
                            (None, Some(f)) => f.clone(),
                            (None, None) => {
                                return Err(col_err(
                                    column,
                                    format!("missing value at row {i} (imputation: refuse)"),
                                ));
                            }
                        };
                        match categories.binary_search(&v) {
                            Ok(k) => x[[i, at + k]] = 1.0,
                            Err(_) if *unseen == UnseenCategory::Ignore => {}
                            Err(_) => {
                                return Err(col_err(
                                    column,
                                    format!("category {v:?} at row {i} was not seen in training"),
                                ));
                            }
                        }
                    }
                    at += categories.len();
                }
            }
        }
        Ok(x)
    }
}

impl FittedFeatures {
    /// [`FittedFeatures::transform`] on a [`Batch`] (the serving path), without a polars
    /// frame. Numeric features read numbers, integers and booleans; categorical features
    /// read text, integers and booleans as text. A categorical feature given floats
    /// (whose text form is polars') goes through the frame path instead, so both paths
    /// always agree.
    pub fn transform_batch(&self, batch: &Batch) -> Result<Array2<f64>> {
        let categorical_floats = self.columns.iter().any(|c| {
            matches!(c, FittedColumn::Categorical { column, .. }
                if matches!(batch.column(column), Some(Values::F64(_))))
        });
        if categorical_floats {
            return self.transform(&batch.to_frame()?);
        }
        let n = batch.rows();
        let width = self.output_names().len();
        let mut x = Array2::<f64>::zeros((n, width));
        let mut at = 0;
        for c in &self.columns {
            match c {
                FittedColumn::Numeric {
                    column,
                    fill,
                    center,
                    scale,
                } => {
                    let vals = batch
                        .column(column)
                        .ok_or_else(|| col_err(column, "missing from the frame"))?;
                    if let Values::Str(_) = vals {
                        return Err(col_err(column, "expected a numeric column, found str"));
                    }
                    for i in 0..n {
                        let v = match (vals.f64_at(i), fill) {
                            (Some(v), _) => v,
                            (None, Some(f)) => *f,
                            (None, None) => {
                                return Err(col_err(
                                    column,
                                    format!("missing value at row {i} (imputation: refuse)"),
                                ));
                            }
                        };
                        x[[i, at]] = (v - center) / scale;
                    }
                    at += 1;
                }
                FittedColumn::Categorical {
                    column,
                    categories,
                    fill,
                    unseen,
                } => {
                    let vals = batch
                        .column(column)
                        .ok_or_else(|| col_err(column, "missing from the frame"))?;
                    for i in 0..n {
                        let text: Option<std::borrow::Cow<'_, str>> = match vals {
                            Values::Str(v) => v[i].as_deref().map(std::borrow::Cow::Borrowed),
                            Values::I64(v) => v[i].map(|x| x.to_string().into()),
                            Values::Bool(v) => v[i].map(|b| b.to_string().into()),
                            // Handled by the frame path above.
                            Values::F64(_) => None,
                        };
                        let v = match (text, fill) {
                            (Some(v), _) => v,
                            (None, Some(f)) => std::borrow::Cow::Borrowed(f.as_str()),
                            (None, None) => {
                                return Err(col_err(
                                    column,
                                    format!("missing value at row {i} (imputation: refuse)"),
                                ));
                            }
                        };
                        match categories.binary_search_by(|k| k.as_str().cmp(&v)) {
                            Ok(k) => x[[i, at + k]] = 1.0,
                            Err(_) if *unseen == UnseenCategory::Ignore => {}
                            Err(_) => {
                                return Err(col_err(
                                    column,
                                    format!("category {v:?} at row {i} was not seen in training"),
                                ));
                            }
                        }
                    }
                    at += categories.len();
                }
            }
        }
        Ok(x)
    }
}

/// Builds a frame of `f64` columns from a matrix (e.g. a linfa dataset's records).
pub fn frame_from_matrix(names: &[String], x: ndarray::ArrayView2<'_, f64>) -> Result<DataFrame> {
    if names.len() != x.ncols() {
        return Err(Error::arg(format!(
            "{} names for {} columns",
            names.len(),
            x.ncols()
        )));
    }
    let cols: Vec<polars::prelude::Column> = names
        .iter()
        .zip(x.columns())
        .map(|(n, c)| polars::prelude::Column::new(n.as_str().into(), c.to_vec()))
        .collect();
    Ok(DataFrame::new(x.nrows(), cols)?)
}
