//! The inference log: what the server saw and answered, one Parquet row per input row.
//!
//! The server writes it to its `--log-dir` as segment files named
//! `segment-<20-digit first sequence number>.parquet`, each written to a temporary name
//! and renamed, so a reader never sees half a segment; anything else in the directory
//! is ignored. The columns (the contract between the server and the monitor):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `request_id` | String | from `X-Request-Id` or generated |
//! | `row` | UInt32 | index of the row within its request |
//! | `ts_ms` | Int64 | request arrival, Unix ms UTC |
//! | `model` | String | registered model name (or package name) |
//! | `version` | String | model version (or package digest prefix) |
//! | `variant` | String | `stable`, `canary`, `shadow`, ... |
//! | `status` | UInt16 (any integer dtype is read) | HTTP status of the request |
//! | `latency_ms` | Float64 | whole-request latency |
//! | `input.<feature>` | the feature's dtype | one column per input feature; null on failed requests |
//! | `prediction` | String | predicted label (classifiers) or the value as text |
//! | `value` | Float64 | regression value, or the positive class's score (binary) |
//! | `proba.<class>` | Float64 | class probabilities when the model gives them |
//!
//! A failed request (4xx/5xx) gets one row with `row` = 0 and null inputs and outputs.
//! Segments may differ in their `input.*`/`proba.*` columns (a model swap); [`scan`]
//! concatenates them diagonally (a column missing from a segment reads as nulls).

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::{Error, Result};

fn is_segment_name(name: &str) -> bool {
    name.strip_prefix("segment-")
        .and_then(|r| r.strip_suffix(".parquet"))
        .is_some_and(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The segment files of `dir`, oldest first (ordered by name; anything else is ignored).
pub fn list_segments(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if let Some(n) = name.to_str()
            && is_segment_name(n)
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads every segment of `dir` as one lazy frame: segments concatenated diagonally (a
/// column missing from a segment is null there), in file-name order. An empty
/// directory gives an empty frame with the fixed columns.
pub fn scan(dir: impl AsRef<Path>) -> Result<LazyFrame> {
    scan_segments(&list_segments(dir.as_ref())?)
}

/// [`scan`] of an explicit list of segment files (in the given order).
pub fn scan_segments(files: &[PathBuf]) -> Result<LazyFrame> {
    if files.is_empty() {
        return Ok(DataFrame::empty_with_schema(&base_schema()).lazy());
    }
    let mut frames = Vec::with_capacity(files.len());
    let mut union: Vec<(PlSmallStr, DataType)> = Vec::new();
    for f in files {
        let path = PlRefPath::try_from_path(f)
            .map_err(|e| Error::log(f, format!("not a usable path: {e}")))?;
        let mut lf = LazyFrame::scan_parquet(path, ScanArgsParquet::default())
            .map_err(|e| Error::log(f, e.to_string()))?;
        let schema = lf
            .collect_schema()
            .map_err(|e| Error::log(f, e.to_string()))?;
        for (name, dt) in schema.iter() {
            match union.iter().find(|(n, _)| n == name) {
                Some((_, have)) if have != dt => {
                    return Err(Error::log(
                        f,
                        format!("column {name:?} is {dt} here but {have} in an earlier segment"),
                    ));
                }
                Some(_) => {}
                None => union.push((name.clone(), dt.clone())),
            }
        }
        frames.push((lf, schema));
    }
    let aligned: Vec<LazyFrame> = frames
        .into_iter()
        .map(|(lf, schema)| {
            let exprs: Vec<Expr> = union
                .iter()
                .map(|(n, dt)| {
                    if schema.contains(n) {
                        col(n.clone())
                    } else {
                        lit(NULL).cast(dt.clone()).alias(n.clone())
                    }
                })
                .collect();
            lf.select(exprs)
        })
        .collect();
    concat(aligned, UnionArgs::default()).map_err(Error::from)
}

/// The fixed (non-feature) columns and their dtypes.
pub fn base_schema() -> Schema {
    Schema::from_iter([
        Field::new("request_id".into(), DataType::String),
        Field::new("row".into(), DataType::UInt32),
        Field::new("ts_ms".into(), DataType::Int64),
        Field::new("model".into(), DataType::String),
        Field::new("version".into(), DataType::String),
        Field::new("variant".into(), DataType::String),
        Field::new("status".into(), DataType::UInt32),
        Field::new("latency_ms".into(), DataType::Float64),
        Field::new("prediction".into(), DataType::String),
        Field::new("value".into(), DataType::Float64),
    ])
}

/// Rows in the log of `dir` (the sum of the segments' row counts).
pub fn count_rows(dir: &Path) -> Result<u64> {
    let mut total = 0u64;
    for f in list_segments(dir)? {
        // the plain file scan: polars 0.55 fails on `len()` over a projected scan
        let path = PlRefPath::try_from_path(&f)
            .map_err(|e| Error::log(&f, format!("not a usable path: {e}")))?;
        let df = LazyFrame::scan_parquet(path, ScanArgsParquet::default())
            .map_err(|e| Error::log(&f, e.to_string()))?
            .select([len().alias("n")])
            .collect()
            .map_err(|e| Error::log(&f, e.to_string()))?;
        let n = df
            .column("n")?
            .cast(&DataType::UInt64)?
            .u64()?
            .get(0)
            .unwrap_or(0);
        total += n;
    }
    Ok(total)
}
