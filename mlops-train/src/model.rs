//! The `Model` trait that serving sees, and the one flavor this crate trains.
//!
//! [`Model`] is object safe: `mlops-deploy` serves a `Box<dyn Model>` loaded through
//! the flavor registry and never names linfa. A model predicts on a polars frame (its
//! own fitted [`FittedFeatures`] turn the frame into numbers), tells its input
//! [`Signature`] and its flavor name, and serialises itself to payload bytes.

use ndarray::Array2;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use mlops_core::ColumnSchema;

use crate::Result;
use crate::batch::Batch;
use crate::evaluation::Task;

/// A model's interface: the input columns it reads and the target it predicts.
///
/// This is the model's data contract: `contract` is an `mlops_data::Contract` over the
/// inputs (numeric columns must be numeric, nullable only where the model imputes,
/// categories restricted to the training ones where unseen categories are refused), so
/// serving validates a request frame with the same engine as the training data. The
/// package also writes it as MLflow's `signature` so the MLflow UI shows the inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// Input columns (names and polars dtypes as seen in training).
    pub inputs: Vec<ColumnSchema>,
    /// The predicted column.
    pub output: ColumnSchema,
    /// The inputs as a data contract.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<mlops_data::Contract>,
}

impl Signature {
    /// Checks `df` against the input contract (or, without one, the input names and
    /// numeric dtypes); extra columns are ignored. Returns every problem found, as text.
    pub fn check(&self, df: &DataFrame) -> Vec<String> {
        if let Some(c) = &self.contract {
            return match c.validate(df) {
                Ok(report) => crate::ContractOutcome::from(&report).failures,
                Err(e) => vec![e.to_string()],
            };
        }
        let mut problems = Vec::new();
        for c in &self.inputs {
            match df.column(&c.name) {
                Err(_) => problems.push(format!("column {:?} is missing", c.name)),
                Ok(col) => {
                    let want_numeric = is_numeric_name(&c.dtype);
                    let dt = col.dtype();
                    if want_numeric && !(dt.is_primitive_numeric() || dt.is_bool() || dt.is_null())
                    {
                        problems.push(format!(
                            "column {:?} has dtype {dt}, the model expects {}",
                            c.name, c.dtype
                        ));
                    }
                }
            }
        }
        problems
    }

    /// MLflow's column-spec JSON for the inputs (`[{"type": "double", "name": ...}]`).
    pub fn mlflow_inputs(&self) -> serde_json::Value {
        serde_json::Value::Array(self.inputs.iter().map(mlflow_colspec).collect())
    }

    /// MLflow's column-spec JSON for the output.
    pub fn mlflow_outputs(&self) -> serde_json::Value {
        serde_json::Value::Array(vec![mlflow_colspec(&self.output)])
    }
}

fn is_numeric_name(dtype: &str) -> bool {
    matches!(
        dtype,
        "f64" | "f32" | "i64" | "i32" | "i16" | "i8" | "u64" | "u32" | "u16" | "u8" | "bool"
    )
}

fn mlflow_colspec(c: &ColumnSchema) -> serde_json::Value {
    let ty = match c.dtype.as_str() {
        "f64" => "double",
        "f32" => "float",
        "i64" | "u32" | "u64" => "long",
        "i32" | "i16" | "i8" | "u16" | "u8" => "integer",
        "bool" => "boolean",
        _ => "string",
    };
    serde_json::json!({"type": ty, "name": c.name, "required": true})
}

/// What a model predicted for each row of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// Classes: the index into `classes` per row, and class probabilities when the
    /// model has them (rows × classes).
    Classes {
        /// Class names, by index.
        classes: Vec<String>,
        /// Predicted class index per row.
        labels: Vec<usize>,
        /// Class probabilities per row.
        proba: Option<Array2<f64>>,
    },
    /// Real values per row.
    Values(Vec<f64>),
}

impl Prediction {
    /// Number of rows predicted.
    pub fn len(&self) -> usize {
        match self {
            Prediction::Classes { labels, .. } => labels.len(),
            Prediction::Values(v) => v.len(),
        }
    }

    /// Whether no row was predicted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The predicted class names (classification) or values as text.
    pub fn label_names(&self) -> Vec<String> {
        match self {
            Prediction::Classes {
                classes, labels, ..
            } => labels.iter().map(|&l| classes[l].clone()).collect(),
            Prediction::Values(v) => v.iter().map(f64::to_string).collect(),
        }
    }
}

/// A trained model as the rest of the SDK sees it.
pub trait Model: Send + Sync + std::fmt::Debug {
    /// The flavor: the name of the loader that reads this model's payload.
    fn flavor(&self) -> &str;
    /// The input and output columns.
    fn signature(&self) -> &Signature;
    /// Binary, multiclass or regression.
    fn task(&self) -> Task;
    /// Class names by index (empty for regression).
    fn classes(&self) -> &[String];
    /// Predicts every row of `frame`.
    fn predict(&self, frame: &DataFrame) -> Result<Prediction>;
    /// Predicts every row of a [`Batch`] (the serving path: request rows decoded into
    /// typed columns, no polars frame). The default builds a frame and calls
    /// [`Model::predict`]; a flavor overrides it when it can read the columns directly,
    /// which is cheaper than the frame for the few rows of a request.
    fn predict_batch(&self, batch: &Batch) -> Result<Prediction> {
        self.predict(&batch.to_frame()?)
    }
    /// The predictions as MLflow's scoring server answers them for this flavor (the
    /// value under `"predictions"`). The default is the `python_function` shape of a
    /// scikit-learn model: one entry per row, the class label (a number when the
    /// target column is numeric) or the regression value.
    fn mlflow_predictions(&self, prediction: &Prediction) -> serde_json::Value {
        default_mlflow_predictions(&self.signature().output, prediction)
    }
    /// The hyper-parameters it was trained with, as JSON.
    fn hyperparameters(&self) -> serde_json::Value;
    /// The payload bytes the flavor's loader reads back; the same model always gives
    /// the same bytes.
    fn to_payload(&self) -> Result<Vec<u8>>;
}

/// One JSON value per row: the label (as a number when the output column is numeric
/// and the label reads as one) or the value; non-finite values become `null`.
pub fn default_mlflow_predictions(
    output: &ColumnSchema,
    prediction: &Prediction,
) -> serde_json::Value {
    use serde_json::Value;
    let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    match prediction {
        Prediction::Values(v) => Value::Array(v.iter().map(|&x| num(x)).collect()),
        Prediction::Classes {
            classes, labels, ..
        } => {
            let numeric = is_numeric_name(&output.dtype);
            let as_json: Vec<Value> = classes
                .iter()
                .map(|c| {
                    if numeric {
                        if let Ok(i) = c.parse::<i64>() {
                            return Value::from(i);
                        }
                        if let Ok(x) = c.parse::<f64>() {
                            return num(x);
                        }
                    }
                    Value::String(c.clone())
                })
                .collect();
            Value::Array(
                labels
                    .iter()
                    .map(|&l| as_json.get(l).cloned().unwrap_or(Value::Null))
                    .collect(),
            )
        }
    }
}

/// Evaluates a model on a frame that holds its target column: predictions, scores and
/// the model's size (its payload). Labels unknown to the model are an error.
pub fn evaluate(model: &dyn Model, frame: &DataFrame) -> Result<crate::Evaluation> {
    let target = &model.signature().output.name;
    let pred = model.predict(frame)?;
    let mut e = match pred {
        Prediction::Classes {
            classes,
            labels,
            proba,
        } => {
            let y = crate::targets::class_targets(frame, target, &classes)?;
            crate::Evaluation::classification(
                &y,
                &labels,
                proba.as_ref().map(|p| p.view()),
                &classes,
            )?
        }
        Prediction::Values(v) => {
            let y = crate::targets::value_targets(frame, target)?;
            crate::Evaluation::regression(&y, &v)?
        }
    };
    e.model.size_bytes = Some(model.to_payload()?.len() as u64);
    Ok(e)
}

/// How many times [`measure_latency`] times each row (the fastest counts).
pub const LATENCY_REPEATS: usize = 5;

/// Measures single-row prediction latency over the first `n` rows of `frame` (each
/// row predicted alone, as a server would) and returns p50 and p99 in milliseconds.
///
/// Each row is timed [`LATENCY_REPEATS`] times and its fastest time kept: that is the
/// model's own cost. A busy machine only adds time (another process ran, the thread was
/// descheduled), so one slow sample says nothing about the model, and a latency gate on
/// the minimum does not fail because CI was loaded; all repeats of one row would have
/// to be delayed.
pub fn measure_latency(model: &dyn Model, frame: &DataFrame, n: usize) -> Result<(f64, f64)> {
    let n = n.min(frame.height());
    if n == 0 {
        return Err(crate::Error::arg("latency needs at least one row"));
    }
    let rows: Vec<DataFrame> = (0..n).map(|i| frame.slice(i as i64, 1)).collect();
    let mut ms = vec![f64::INFINITY; n];
    for _ in 0..LATENCY_REPEATS {
        for (row, best) in rows.iter().zip(ms.iter_mut()) {
            let t = std::time::Instant::now();
            model.predict(row)?;
            *best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((q * (n - 1) as f64).round() as usize).min(n - 1)];
    Ok((at(0.5), at(0.99)))
}
