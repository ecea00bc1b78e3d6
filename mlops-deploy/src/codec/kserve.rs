//! KServe's Open Inference Protocol (V2), REST binding.
//!
//! `POST /v2/models/{name}[/versions/{v}]/infer` takes typed tensors:
//! `{"id"?, "inputs": [{"name", "shape", "datatype", "data"}]}`. Two layouts map onto
//! the model's columns: one tensor per input column (shape `[N]` or `[N, 1]`, named
//! like the column), or a single `[N, F]` tensor whose F values per row are the
//! signature's columns in order. The answer carries `predict` (labels or values, shape
//! `[N]`) and, for classifiers with probabilities, `predict_proba` (`[N, K]`, FP64),
//! row-major as the protocol flattens tensors. Errors are `{"error": "..."}`.

use mlops_train::{Model, Prediction};
use serde_json::{Value, json};

use crate::schema::{InputError, InputSchema, Table};

/// A parsed infer request.
#[derive(Debug, Clone, PartialEq)]
pub struct InferRequest {
    /// The request's `id`, echoed in the answer.
    pub id: Option<String>,
    /// The rows.
    pub table: Table,
}

fn bad(why: impl std::fmt::Display) -> InputError {
    InputError::bad_request(format!("Invalid V2 inference request: {why}"))
}

fn flatten(v: Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.into_iter().for_each(|x| flatten(x, out)),
        other => out.push(other),
    }
}

/// Parses an infer request against the model's schema (used only to lay out a single
/// 2-D tensor).
pub fn parse_infer(body: &[u8], schema: &InputSchema) -> Result<InferRequest, InputError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON ({e})")))?;
    let Value::Object(mut obj) = v else {
        return Err(bad("the body must be a JSON object"));
    };
    let id = match obj.remove("id") {
        Some(Value::String(s)) => Some(s),
        None | Some(Value::Null) => None,
        Some(_) => return Err(bad("'id' must be a string")),
    };
    let Some(Value::Array(inputs)) = obj.remove("inputs") else {
        return Err(bad("'inputs' must be a list of tensors"));
    };
    if inputs.is_empty() {
        return Err(bad("'inputs' is empty"));
    }
    let mut tensors = Vec::with_capacity(inputs.len());
    for (i, t) in inputs.into_iter().enumerate() {
        let Value::Object(mut t) = t else {
            return Err(bad(format!("input {i} is not an object")));
        };
        let name = match t.remove("name") {
            Some(Value::String(s)) => s,
            _ => return Err(bad(format!("input {i} has no name"))),
        };
        let shape: Vec<u64> = match t.remove("shape") {
            Some(Value::Array(dims)) => dims
                .iter()
                .map(|d| {
                    d.as_u64().ok_or_else(|| {
                        bad(format!("input {i}: shape must be non-negative integers"))
                    })
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(bad(format!("input {i}: 'shape' is missing"))),
        };
        match t.get("datatype") {
            Some(Value::String(dt)) if is_datatype(dt) => {}
            _ => return Err(bad(format!("input {i}: 'datatype' is missing or unknown"))),
        }
        let mut data = Vec::new();
        match t.remove("data") {
            Some(d) => flatten(d, &mut data),
            None => return Err(bad(format!("input {i}: 'data' is missing"))),
        }
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("input {i}: shape too large")))?;
        if elements != data.len() as u64 {
            return Err(bad(format!(
                "input {i}: shape holds {elements} elements, data has {}",
                data.len()
            )));
        }
        if shape.is_empty() || shape.len() > 2 {
            return Err(bad(format!(
                "input {i}: only 1-D and 2-D tensors are supported"
            )));
        }
        tensors.push((name, shape, data));
    }
    let width = schema.columns.len();
    let single_matrix = tensors.len() == 1
        && tensors[0].1.len() == 2
        && tensors[0].1[1] as usize == width
        && !(width == 1 && schema.columns[0].name == tensors[0].0);
    let table = if single_matrix {
        let (_, shape, data) = tensors.remove(0);
        let f = shape[1] as usize;
        let mut rows = Vec::with_capacity(shape[0] as usize);
        let mut it = data.into_iter();
        for _ in 0..shape[0] {
            rows.push(it.by_ref().take(f).collect());
        }
        Table::Positional(rows)
    } else {
        let mut cols = Vec::with_capacity(tensors.len());
        for (name, shape, data) in tensors {
            if shape.len() == 2 && shape[1] != 1 {
                return Err(bad(format!(
                    "input {name:?} has shape {shape:?}: a named column must be [N] or [N, 1]"
                )));
            }
            cols.push((name, data));
        }
        Table::Columns(cols)
    };
    table.validate_shape()?;
    Ok(InferRequest { id, table })
}

fn is_datatype(dt: &str) -> bool {
    matches!(
        dt,
        "BOOL"
            | "UINT8"
            | "UINT16"
            | "UINT32"
            | "UINT64"
            | "INT8"
            | "INT16"
            | "INT32"
            | "INT64"
            | "FP16"
            | "FP32"
            | "FP64"
            | "BYTES"
    )
}

/// The infer response body.
pub fn infer_response(
    model_name: &str,
    model_version: &str,
    id: Option<&str>,
    model: &dyn Model,
    prediction: &Prediction,
) -> Vec<u8> {
    let n = prediction.len();
    let mut outputs = Vec::new();
    match prediction {
        Prediction::Values(v) => outputs.push(json!({
            "name": "predict", "datatype": "FP64", "shape": [n], "data": v,
        })),
        Prediction::Classes {
            classes,
            labels,
            proba,
        } => {
            let ints: Option<Vec<i64>> = classes.iter().map(|c| c.parse::<i64>().ok()).collect();
            let numeric = !model.signature().output.dtype.eq("str");
            let label = match ints {
                Some(ints) if numeric => json!({
                    "name": "predict", "datatype": "INT64", "shape": [n],
                    "data": labels.iter().map(|&l| ints.get(l).copied().unwrap_or(-1)).collect::<Vec<_>>(),
                }),
                _ => json!({
                    "name": "predict", "datatype": "BYTES", "shape": [n],
                    "data": labels.iter().map(|&l| classes.get(l).cloned().unwrap_or_default()).collect::<Vec<_>>(),
                }),
            };
            outputs.push(label);
            if let Some(p) = proba {
                let flat: Vec<f64> = p.iter().copied().collect();
                outputs.push(json!({
                    "name": "predict_proba", "datatype": "FP64", "shape": [n, p.ncols()], "data": flat,
                }));
            }
        }
    }
    let mut v = json!({
        "model_name": model_name,
        "model_version": model_version,
        "outputs": outputs,
    });
    if let Some(id) = id {
        v["id"] = Value::String(id.to_string());
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// `GET /v2/models/{name}`: name, versions, platform, input and output tensors.
pub fn model_metadata(
    name: &str,
    version: &str,
    model: &dyn Model,
    schema: &InputSchema,
) -> Vec<u8> {
    let inputs: Vec<Value> = schema
        .columns
        .iter()
        .map(|c| json!({"name": c.name, "datatype": c.kind.v2_datatype(), "shape": [-1]}))
        .collect();
    let mut outputs = vec![json!({
        "name": "predict",
        "datatype": if model.classes().is_empty() { "FP64" } else if model.signature().output.dtype == "str" { "BYTES" } else { "INT64" },
        "shape": [-1],
    })];
    if !model.classes().is_empty() {
        outputs.push(json!({"name": "predict_proba", "datatype": "FP64", "shape": [-1, model.classes().len()]}));
    }
    let v = json!({
        "name": name,
        "versions": [version],
        "platform": format!("mlops-{}", model.flavor()),
        "inputs": inputs,
        "outputs": outputs,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The V2 error envelope.
pub fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({ "error": message })).unwrap_or_default()
}
