//! Loading frames from files: CSV or Parquet, chosen by the file's extension.
//!
//! Every entry point of the crate that takes a path (the CLI, profiles of files,
//! drift between two files) goes through here, so the rule "CSV or Parquet by
//! extension, a typed error for anything else" holds in one place. [`scan_frame`]
//! returns a `LazyFrame`, so validation and profiles can stream a large file instead
//! of loading it; [`read_frame`] collects it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use polars::prelude::*;

use crate::{Error, Result};

/// The file formats the crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
}

impl FileFormat {
    /// The format a path's extension names (case-insensitive), or
    /// [`Error::UnsupportedFormat`].
    pub fn of_path(path: &Path) -> Result<FileFormat> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => Ok(FileFormat::Csv),
            Some("parquet") | Some("pq") => Ok(FileFormat::Parquet),
            _ => Err(Error::UnsupportedFormat {
                path: path.display().to_string(),
            }),
        }
    }
}

/// A lazy scan of a CSV or Parquet file (by extension). Nothing is read beyond the
/// schema until the frame is collected, so callers can stream it.
///
/// Errors: [`Error::UnsupportedFormat`] for another extension, [`Error::Io`] when the
/// file does not exist or cannot be opened, [`Error::Polars`] when polars refuses it.
pub fn scan_frame(path: impl AsRef<Path>) -> Result<LazyFrame> {
    let path = path.as_ref();
    let format = FileFormat::of_path(path)?;
    // Fail early with the path in the message: polars' own error for a missing file
    // does not always say which file.
    std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let pl_path = PlRefPath::try_from_path(path)?;
    let lf = match format {
        FileFormat::Csv => LazyCsvReader::new(pl_path)
            .with_has_header(true)
            .with_infer_schema_length(Some(10_000))
            .finish()?,
        FileFormat::Parquet => LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default())?,
    };
    Ok(lf)
}

/// Reads a whole CSV or Parquet file (by extension) into a `DataFrame`.
///
/// Errors as [`scan_frame`], plus [`Error::Polars`] for a file polars cannot parse.
pub fn read_frame(path: impl AsRef<Path>) -> Result<DataFrame> {
    let path = path.as_ref();
    let df = scan_frame(path)?.collect().map_err(|e| Error::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(df)
}

/// Collects a lazy frame on polars' streaming engine (bounded memory for scans whose
/// plan streams), stacking the batches it yields in order.
pub(crate) fn collect_streaming(lf: LazyFrame) -> Result<DataFrame> {
    let parts: Arc<Mutex<Vec<DataFrame>>> = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&parts);
    let callback = PlanCallback::new(move |df: DataFrame| {
        sink.lock()
            .map_err(|_| PolarsError::ComputeError("batch lock poisoned".into()))?
            .push(df);
        Ok(false)
    });
    lf.sink_batches(callback, true, None)?
        .collect_with_engine(Engine::Streaming)?;
    let mut parts = std::mem::take(
        &mut *parts
            .lock()
            .map_err(|_| Error::InvalidArgument("batch lock poisoned".into()))?,
    );
    let mut out = match parts.len() {
        0 => {
            return Err(Error::InvalidArgument(
                "the streaming query returned nothing".into(),
            ));
        }
        _ => parts.remove(0),
    };
    for p in parts {
        out.vstack_mut_owned(p)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_by_extension() {
        assert_eq!(
            FileFormat::of_path(Path::new("a/b.CSV")).unwrap(),
            FileFormat::Csv
        );
        assert_eq!(
            FileFormat::of_path(Path::new("x.parquet")).unwrap(),
            FileFormat::Parquet
        );
        assert!(matches!(
            FileFormat::of_path(Path::new("x.json")),
            Err(Error::UnsupportedFormat { .. })
        ));
        assert!(matches!(
            FileFormat::of_path(Path::new("noext")),
            Err(Error::UnsupportedFormat { .. })
        ));
    }

    #[test]
    fn missing_file_is_io_error() {
        assert!(matches!(
            scan_frame(Path::new("/nonexistent/x.csv")),
            Err(Error::Io { .. })
        ));
    }
}
