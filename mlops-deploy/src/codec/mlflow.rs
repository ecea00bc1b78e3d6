//! MLflow's scoring protocol (`mlflow models serve`, MLflow 2.0 and later).
//!
//! `POST /invocations` with `Content-Type: application/json` and exactly one of
//! `dataframe_split`, `dataframe_records`, `instances` or `inputs` (plus optional
//! `params`), or `text/csv` (also `application/csv`) with a header row. Only a `charset`
//! parameter of `utf-8` is accepted on the content type, as MLflow does. The answer is
//! `{"predictions": ...}` in the shape the model's flavor gives
//! ([`Model::mlflow_predictions`]); errors are MLflow's envelope
//! `{"error_code": ..., "message": ...}`.
//!
//! Deliberate differences from MLflow, all towards refusing less or failing safer: a
//! missing content type is a 415 (MLflow answers 500), and rows without column names
//! are matched to the signature by position when their width fits (MLflow refuses them
//! for a column signature).

use mlops_train::{Model, Prediction};
use serde_json::{Map, Value};

use crate::schema::{InputError, Table};

/// The body formats of `/invocations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`.
    Json,
    /// `text/csv` or `application/csv`.
    Csv,
}

/// A parsed request: its rows and MLflow `params` (accepted, not used by any flavor yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The rows.
    pub table: Table,
    /// The `params` object, if sent.
    pub params: Option<Map<String, Value>>,
}

const INPUT_KEYS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

/// Reads the content type: JSON or CSV, with at most a `charset=utf-8` parameter.
pub fn body_format(content_type: Option<&[u8]>) -> Result<BodyFormat, InputError> {
    let unsupported = |what: String| InputError {
        status: 415,
        code: "BAD_REQUEST",
        message: format!(
            "{what}. This server accepts application/json and text/csv (MLflow's scoring \
             protocol)."
        ),
    };
    let raw = content_type.ok_or_else(|| unsupported("No Content-Type header".into()))?;
    let text = std::str::from_utf8(raw)
        .map_err(|_| unsupported("The Content-Type header is not text".into()))?;
    let mut parts = text.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let format = match mime.as_str() {
        "application/json" => BodyFormat::Json,
        "text/csv" | "application/csv" => BodyFormat::Csv,
        _ => return Err(unsupported("Unsupported content type".into())),
    };
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let v = v.trim().trim_matches('"');
        if !(k.trim().eq_ignore_ascii_case("charset") && v.eq_ignore_ascii_case("utf-8")) {
            return Err(unsupported(
                "Unrecognized content type parameters (only charset=utf-8 is accepted; the \
                 scoring protocol changed in MLflow 2.0)"
                    .into(),
            ));
        }
    }
    Ok(format)
}

/// Parses a body of the given format.
pub fn parse(format: BodyFormat, body: &[u8]) -> Result<Parsed, InputError> {
    let parsed = match format {
        BodyFormat::Json => parse_json(body)?,
        BodyFormat::Csv => Parsed {
            table: parse_csv(body)?,
            params: None,
        },
    };
    parsed.table.validate_shape()?;
    Ok(parsed)
}

fn parse_json(body: &[u8]) -> Result<Parsed, InputError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        InputError::bad_request(format!(
            "Invalid input. Ensure that input is a valid JSON formatted string. Error: {e}"
        ))
    })?;
    let shape_error = || {
        InputError::bad_request(format!(
            "The input must be a JSON dictionary with exactly one of the input fields {{{}}} \
             and optionally 'params'. The scoring protocol changed in MLflow 2.0: a bare \
             dataframe is no longer accepted.",
            INPUT_KEYS.map(|k| format!("'{k}'")).join(", ")
        ))
    };
    let Value::Object(mut obj) = value else {
        return Err(shape_error());
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => {
            return Err(InputError::bad_request(
                "Invalid input. 'params' must be a JSON object",
            ));
        }
    };
    if obj.len() != 1 {
        return Err(shape_error());
    }
    let (key, data) = obj.into_iter().next().ok_or_else(shape_error)?;
    let table = match key.as_str() {
        "dataframe_split" => split_table(data)?,
        "dataframe_records" => match data {
            Value::Array(rows) => rows_table(rows, "dataframe_records")?,
            _ => {
                return Err(InputError::bad_request(
                    "Invalid input. dataframe_records must be a list of records",
                ));
            }
        },
        "instances" | "inputs" => tensor_table(data, &key)?,
        _ => return Err(shape_error()),
    };
    Ok(Parsed { table, params })
}

fn split_table(data: Value) -> Result<Table, InputError> {
    let bad = |why: &str| {
        InputError::bad_request(format!(
            "Invalid input. Provided dataframe_split field is not a valid dataframe \
             representation in 'split' format: {why}"
        ))
    };
    let Value::Object(mut m) = data else {
        return Err(bad("expected an object with 'columns' and 'data'"));
    };
    let rows = match m.remove("data") {
        Some(Value::Array(rows)) => rows,
        Some(_) => return Err(bad("'data' must be a list of rows")),
        None => return Err(bad("'data' is missing")),
    };
    match m.remove("columns") {
        Some(Value::Array(cols)) => {
            let columns = cols
                .into_iter()
                .map(|c| match c {
                    Value::String(s) => Ok(s),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(bad("column names must be strings")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Table::Split {
                columns,
                data: rows,
            })
        }
        None | Some(Value::Null) => rows_table(rows, "dataframe_split"),
        Some(_) => Err(bad("'columns' must be a list of names")),
    }
}

/// A list of rows: objects become records, lists positional rows, scalars one-value rows.
fn rows_table(rows: Vec<Value>, key: &str) -> Result<Table, InputError> {
    match rows.first() {
        None => Ok(Table::Records(rows)),
        Some(Value::Object(_)) => Ok(Table::Records(rows)),
        Some(Value::Array(_)) => rows
            .into_iter()
            .enumerate()
            .map(|(r, row)| match row {
                Value::Array(a) => Ok(a),
                _ => Err(InputError::bad_request(format!(
                    "Invalid input. {key} row {r} is not a list like row 0"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Table::Positional),
        Some(_) => Ok(Table::Positional(
            rows.into_iter().map(|v| vec![v]).collect(),
        )),
    }
}

/// `instances` / `inputs`: a list of rows, or an object of named columns.
fn tensor_table(data: Value, key: &str) -> Result<Table, InputError> {
    match data {
        Value::Array(rows) => rows_table(rows, key),
        Value::Object(cols) => {
            let columns = cols
                .into_iter()
                .map(|(name, v)| match v {
                    Value::Array(a) => (name, a),
                    scalar => (name, vec![scalar]),
                })
                .collect();
            Ok(Table::Columns(columns))
        }
        _ => Err(InputError::bad_request(format!(
            "Invalid input. {key} must be a list of rows or an object of named columns"
        ))),
    }
}

fn parse_csv(body: &[u8]) -> Result<Table, InputError> {
    let bad = |why: String| InputError::bad_request(format!("Invalid input. CSV body: {why}"));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(body);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(csv_problem(&e)))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(bad("no header row".into()));
    }
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| bad(csv_problem(&e)))?;
        rows.push(rec.iter().map(str::to_string).collect());
    }
    Ok(Table::Csv { header, rows })
}

/// A CSV error's kind and position, without the offending bytes.
fn csv_problem(e: &csv::Error) -> String {
    let at = e
        .position()
        .map(|p| format!(" at line {}", p.line()))
        .unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => format!("invalid UTF-8{at}"),
        csv::ErrorKind::UnequalLengths { .. } => format!("rows of unequal length{at}"),
        _ => format!("unreadable{at}"),
    }
}

/// The `{"predictions": ...}` body.
pub fn predictions_body(model: &dyn Model, prediction: &Prediction) -> Vec<u8> {
    let v = serde_json::json!({ "predictions": model.mlflow_predictions(prediction) });
    serde_json::to_vec(&v).unwrap_or_else(|_| b"{\"predictions\": []}".to_vec())
}

/// MLflow's error envelope.
pub fn error_body(code: &str, message: &str) -> Vec<u8> {
    let v = serde_json::json!({ "error_code": code, "message": message });
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_as_mlflow() {
        assert_eq!(body_format(Some(b"application/json")), Ok(BodyFormat::Json));
        assert_eq!(
            body_format(Some(b"application/json; charset=UTF-8")),
            Ok(BodyFormat::Json)
        );
        assert_eq!(body_format(Some(b"text/csv")), Ok(BodyFormat::Csv));
        assert_eq!(body_format(Some(b"application/csv")), Ok(BodyFormat::Csv));
        for bad in [
            &b"text/plain"[..],
            b"application/x-www-form-urlencoded",
            b"application/json; format=pandas-split",
            b"application/json; charset=latin-1",
        ] {
            assert_eq!(body_format(Some(bad)).map_err(|e| e.status), Err(415));
        }
        assert_eq!(body_format(None).map_err(|e| e.status), Err(415));
    }

    #[test]
    fn json_shapes() {
        let p = parse(
            BodyFormat::Json,
            br#"{"dataframe_split": {"columns": ["a","b"], "index": [0], "data": [[1, 2]]}}"#,
        )
        .unwrap();
        assert!(matches!(p.table, Table::Split { .. }));
        let p = parse(
            BodyFormat::Json,
            br#"{"dataframe_records": [{"a": 1}], "params": {"k": 1}}"#,
        )
        .unwrap();
        assert!(matches!(p.table, Table::Records(_)));
        assert!(p.params.is_some());
        let p = parse(BodyFormat::Json, br#"{"instances": [[1, 2], [3, 4]]}"#).unwrap();
        assert!(matches!(p.table, Table::Positional(_)));
        let p = parse(
            BodyFormat::Json,
            br#"{"inputs": {"a": [1, 3], "b": [2, 4]}}"#,
        )
        .unwrap();
        assert_eq!(p.table.rows(), 2);
        for bad in [
            &br#"{}"#[..],
            br#"[1, 2]"#,
            br#"{"rows": []}"#,
            br#"{"inputs": [], "instances": []}"#,
            br#"{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}"#,
            b"",
            b"{,",
        ] {
            let e = parse(BodyFormat::Json, bad).unwrap_err();
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn csv_with_header() {
        let p = parse(BodyFormat::Csv, b"a,b\n1,2\n3,\n").unwrap();
        assert_eq!(p.table.rows(), 2);
        assert!(parse(BodyFormat::Csv, b"a,b\n1,2,3\n").is_err());
    }
}
