//! The inference log: every request's rows, inputs and outputs, written off the request
//! path to rotating Parquet segments that monitoring reads back as one `LazyFrame`.
//!
//! Why this shape:
//! - **Never on the request path.** A request hands its record to a bounded queue with
//!   `try_send` and moves on; a writer thread batches records into segments. When the
//!   queue is full the record is dropped and counted ([`LogCounters`]), never waited for.
//! - **Bounded on disk.** At most [`LogConfig::max_segments`] segment files are kept;
//!   writing one more deletes the oldest whole segment (its rows are counted as
//!   dropped). A reader never sees half a segment: each is written to a temporary name,
//!   fsynced and renamed.
//! - **One row per input row**, in the columns of the table below, so a drift monitor
//!   can compare `input.<feature>` columns with the training data directly. A failed
//!   request is one row with `row` = 0 and null inputs and outputs.
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `request_id` | String | from `X-Request-Id` or generated |
//! | `row` | UInt32 | index of the row within its request |
//! | `ts_ms` | Int64 | request arrival, Unix ms UTC |
//! | `model` | String | registered model name (or package name) |
//! | `version` | String | model version (or package digest prefix) |
//! | `variant` | String | `stable`, `canary`, `shadow`, ... |
//! | `status` | UInt32 | HTTP status of the request (the workspace's polars is built without UInt16; readers accept any integer dtype) |
//! | `latency_ms` | Float64 | whole-request latency |
//! | `input.<feature>` | the feature's dtype | one column per input feature |
//! | `prediction` | String | predicted label, or the value as text |
//! | `value` | Float64 | regression value, or the positive-class score (binary) |
//! | `proba.<class>` | Float64 | class probabilities when the model gives them |
//!
//! Segments are named `segment-<20-digit first sequence number>.parquet`; the sequence
//! counts rows and continues across restarts. [`scan`] concatenates the segments of a
//! directory diagonally (a column missing from a segment reads as null), in file-name
//! order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mlops_train::{Batch, Prediction, Values};
use polars::prelude::{
    Column, DataFrame, DataType, Expr, IntoLazy, LazyFrame, NULL, ParquetWriter, PlRefPath,
    PlSmallStr, ScanArgsParquet, Schema, UnionArgs, col, concat, lit,
};

use crate::{Error, Result};

/// Where and how much the inference log writes.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// The directory of the segment files (created if missing).
    pub dir: PathBuf,
    /// A segment is written once it holds this many rows...
    pub segment_rows: usize,
    /// ...or once its oldest row is this old.
    pub flush_interval: Duration,
    /// Segments kept on disk; the oldest whole segment is deleted past this.
    pub max_segments: usize,
    /// Requests waiting for the writer; past this they are dropped (and counted).
    pub queue_capacity: usize,
}

impl LogConfig {
    /// Defaults: 50,000-row segments, flushed at least every 5 s, 200 segments kept,
    /// 10,000 requests queued.
    pub fn new(dir: impl Into<PathBuf>) -> LogConfig {
        LogConfig {
            dir: dir.into(),
            segment_rows: 50_000,
            flush_interval: Duration::from_secs(5),
            max_segments: 200,
            queue_capacity: 10_000,
        }
    }
}

/// What the log did, for `/metrics` and tests. Counters only grow.
#[derive(Debug, Default)]
pub struct LogCounters {
    /// Rows written to segments.
    pub rows_written: AtomicU64,
    /// Segment files written.
    pub segments_written: AtomicU64,
    /// Requests dropped because the queue was full (never written).
    pub requests_dropped: AtomicU64,
    /// Rows of requests dropped because the queue was full.
    pub rows_dropped_queue: AtomicU64,
    /// Rows deleted with old segments (the bound on disk).
    pub rows_dropped_rotation: AtomicU64,
    /// Segments deleted by rotation.
    pub segments_deleted: AtomicU64,
    /// Segments that could not be written (their rows are lost and counted here too).
    pub write_errors: AtomicU64,
}

impl LogCounters {
    /// Every row that will never be read: queue drops, rotation and write errors.
    pub fn rows_dropped(&self) -> u64 {
        self.rows_dropped_queue.load(Ordering::Relaxed)
            + self.rows_dropped_rotation.load(Ordering::Relaxed)
    }
}

/// The outcome of one request (or of its shadow copy), as the log records it.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Request id.
    pub request_id: String,
    /// Arrival time, Unix ms.
    pub ts_ms: i64,
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Variant (`stable`, `canary`, `shadow`, ...).
    pub variant: String,
    /// HTTP status.
    pub status: u16,
    /// Whole-request latency, ms.
    pub latency_ms: f64,
    /// The decoded inputs (`None` for a failed request).
    pub inputs: Option<Arc<Batch>>,
    /// The prediction (`None` for a failed request).
    pub prediction: Option<Arc<Prediction>>,
}

impl LogRecord {
    fn rows(&self) -> usize {
        match (&self.inputs, &self.prediction) {
            (Some(b), _) => b.rows().max(1),
            (None, Some(p)) => p.len().max(1),
            _ => 1,
        }
    }
}

enum Msg {
    Record(LogRecord),
    Stop,
}

/// The sending side of the log, cheap to clone.
#[derive(Clone)]
pub struct LogSender {
    tx: SyncSender<Msg>,
    counters: Arc<LogCounters>,
}

impl LogSender {
    /// Queues a record without waiting; a full queue drops it and counts the drop.
    pub fn send(&self, record: LogRecord) {
        let rows = record.rows() as u64;
        match self.tx.try_send(Msg::Record(record)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.counters
                    .requests_dropped
                    .fetch_add(1, Ordering::Relaxed);
                self.counters
                    .rows_dropped_queue
                    .fetch_add(rows, Ordering::Relaxed);
            }
        }
    }

    /// The log's counters.
    pub fn counters(&self) -> &Arc<LogCounters> {
        &self.counters
    }
}

impl std::fmt::Debug for LogSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSender").finish_non_exhaustive()
    }
}

/// The running log: its sender and the writer thread.
#[derive(Debug)]
pub struct InferenceLog {
    sender: Option<LogSender>,
    writer: Option<JoinHandle<()>>,
    counters: Arc<LogCounters>,
}

impl InferenceLog {
    /// Creates the directory and starts the writer thread.
    pub fn start(config: LogConfig) -> Result<InferenceLog> {
        if config.segment_rows == 0 || config.max_segments == 0 || config.queue_capacity == 0 {
            return Err(Error::config(
                "log",
                "inference log: segment_rows, max_segments and queue_capacity must be > 0",
            ));
        }
        std::fs::create_dir_all(&config.dir).map_err(|e| Error::io(&config.dir, e))?;
        let next_seq = next_sequence(&config.dir)?;
        let counters = Arc::new(LogCounters::default());
        let (tx, rx) = std::sync::mpsc::sync_channel(config.queue_capacity);
        let mut writer = Writer {
            config,
            counters: counters.clone(),
            pending: Vec::new(),
            pending_rows: 0,
            oldest: None,
            next_seq,
        };
        let handle = std::thread::Builder::new()
            .name("mlops-inference-log".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| Error::Server(format!("cannot start the inference log writer: {e}")))?;
        Ok(InferenceLog {
            sender: Some(LogSender {
                tx,
                counters: counters.clone(),
            }),
            writer: Some(handle),
            counters,
        })
    }

    /// A sender for request handlers.
    pub fn sender(&self) -> Option<LogSender> {
        self.sender.clone()
    }

    /// The counters.
    pub fn counters(&self) -> &Arc<LogCounters> {
        &self.counters
    }

    /// Writes what is queued, stops the writer and waits for it. Records sent after
    /// this are dropped and counted.
    pub fn close(mut self) {
        self.close_inner();
    }

    fn close_inner(&mut self) {
        if let Some(s) = self.sender.take() {
            // Blocks only while the writer drains a full queue: this is shutdown.
            let _ = s.tx.send(Msg::Stop);
        }
        if let Some(h) = self.writer.take()
            && h.join().is_err()
        {
            tracing::error!("the inference log writer panicked");
        }
    }
}

impl Drop for InferenceLog {
    fn drop(&mut self) {
        self.close_inner();
    }
}

struct Writer {
    config: LogConfig,
    counters: Arc<LogCounters>,
    pending: Vec<LogRecord>,
    pending_rows: usize,
    oldest: Option<Instant>,
    next_seq: u64,
}

impl Writer {
    fn run(&mut self, rx: Receiver<Msg>) {
        loop {
            let wait = match self.oldest {
                Some(t) => self.config.flush_interval.saturating_sub(t.elapsed()),
                None => Duration::from_secs(3600),
            };
            match rx.recv_timeout(wait) {
                Ok(Msg::Record(r)) => {
                    self.pending_rows += r.rows();
                    self.oldest.get_or_insert_with(Instant::now);
                    self.pending.push(r);
                    if self.pending_rows >= self.config.segment_rows {
                        self.flush();
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.flush(),
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    return;
                }
            }
        }
    }

    fn flush(&mut self) {
        self.oldest = None;
        if self.pending.is_empty() {
            return;
        }
        let records = std::mem::take(&mut self.pending);
        let rows = std::mem::take(&mut self.pending_rows) as u64;
        let first = self.next_seq;
        self.next_seq += rows;
        let path = self.config.dir.join(segment_name(first));
        let written = build_frame(&records).and_then(|mut df| write_segment(&path, &mut df));
        match written {
            Ok(()) => {
                self.counters
                    .rows_written
                    .fetch_add(rows, Ordering::Relaxed);
                self.counters
                    .segments_written
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, path = %path.display(), "inference log segment not written");
                self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .rows_dropped_queue
                    .fetch_add(rows, Ordering::Relaxed);
            }
        }
        self.rotate();
    }

    fn rotate(&mut self) {
        let Ok(mut segments) = list_segments(&self.config.dir) else {
            return;
        };
        while segments.len() > self.config.max_segments {
            let old = segments.remove(0);
            let rows = segment_rows(&old).unwrap_or(0);
            match std::fs::remove_file(&old) {
                Ok(()) => {
                    self.counters
                        .segments_deleted
                        .fetch_add(1, Ordering::Relaxed);
                    self.counters
                        .rows_dropped_rotation
                        .fetch_add(rows, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(error = %e, path = %old.display(), "old inference log segment not deleted");
                    return;
                }
            }
        }
    }
}

fn segment_name(first: u64) -> String {
    format!("segment-{first:020}.parquet")
}

fn is_segment_name(name: &str) -> bool {
    name.strip_prefix("segment-")
        .and_then(|r| r.strip_suffix(".parquet"))
        .is_some_and(|d| d.len() == 20 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The segment files of `dir`, oldest first (anything else is ignored).
pub fn list_segments(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if let Some(name) = entry.file_name().to_str()
            && is_segment_name(name)
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn segment_rows(path: &Path) -> Result<u64> {
    let lf = scan_one(path)?;
    let df = lf
        .select([polars::prelude::len().alias("n")])
        .collect()
        .map_err(Error::from)?;
    let n = df
        .column("n")
        .ok()
        .and_then(|c| c.get(0).ok())
        .and_then(|v| v.extract::<u64>())
        .unwrap_or(0);
    Ok(n)
}

fn next_sequence(dir: &Path) -> Result<u64> {
    let segments = list_segments(dir)?;
    let Some(last) = segments.last() else {
        return Ok(0);
    };
    let first: u64 = last
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.get(8..28))
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    Ok(first + segment_rows(last)?)
}

fn write_segment(path: &Path, df: &mut DataFrame) -> Result<()> {
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf)
        .finish(df)
        .map_err(Error::from)?;
    mlops_core::fs::write_atomic(path, &buf)?;
    Ok(())
}

fn scan_one(path: &Path) -> Result<LazyFrame> {
    let pl_path = PlRefPath::try_from_path(path).map_err(|e| Error::log(path, e.to_string()))?;
    LazyFrame::scan_parquet(pl_path, ScanArgsParquet::default())
        .map_err(|e| Error::log(path, e.to_string()))
}

/// The fixed leading columns of every segment, in order.
pub const BASE_COLUMNS: [&str; 8] = [
    "request_id",
    "row",
    "ts_ms",
    "model",
    "version",
    "variant",
    "status",
    "latency_ms",
];

/// The fixed (non-feature) columns and their dtypes.
pub fn base_schema() -> Schema {
    let mut s = Schema::default();
    for (name, dt) in [
        ("request_id", DataType::String),
        ("row", DataType::UInt32),
        ("ts_ms", DataType::Int64),
        ("model", DataType::String),
        ("version", DataType::String),
        ("variant", DataType::String),
        ("status", DataType::UInt32),
        ("latency_ms", DataType::Float64),
        ("prediction", DataType::String),
        ("value", DataType::Float64),
    ] {
        s.with_column(name.into(), dt);
    }
    s
}

/// Reads every segment of `dir` as one lazy frame: segments concatenated diagonally (a
/// column missing from a segment is null there), in file-name order. An empty or
/// missing directory gives an empty frame with the fixed columns.
pub fn scan(dir: impl AsRef<Path>) -> Result<LazyFrame> {
    let dir = dir.as_ref();
    let segments = if dir.exists() {
        list_segments(dir)?
    } else {
        Vec::new()
    };
    scan_segments(&segments)
}

/// Rows in the log of `dir` (the sum of the segments' row counts).
pub fn count_rows(dir: &Path) -> Result<u64> {
    count_segment_rows(&list_segments(dir)?)
}

/// Rows of the given segment files (each read from its own Parquet scan).
pub fn count_segment_rows(files: &[PathBuf]) -> Result<u64> {
    files.iter().map(|f| segment_rows(f)).sum()
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

/// A column being built for a segment: values per row, `None` = null.
enum Buf {
    F64(Vec<Option<f64>>),
    I64(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<String>>),
}

impl Buf {
    fn like(v: &Values, len: usize) -> Buf {
        match v {
            Values::F64(_) => Buf::F64(vec![None; len]),
            Values::I64(_) => Buf::I64(vec![None; len]),
            Values::Bool(_) => Buf::Bool(vec![None; len]),
            Values::Str(_) => Buf::Str(vec![None; len]),
        }
    }

    fn len(&self) -> usize {
        match self {
            Buf::F64(v) => v.len(),
            Buf::I64(v) => v.len(),
            Buf::Bool(v) => v.len(),
            Buf::Str(v) => v.len(),
        }
    }

    fn pad_to(&mut self, len: usize) {
        match self {
            Buf::F64(v) => v.resize(len, None),
            Buf::I64(v) => v.resize(len, None),
            Buf::Bool(v) => v.resize(len, None),
            Buf::Str(v) => v.resize(len, None),
        }
    }

    /// Appends `v`'s values; a dtype that differs from the column's is written as text
    /// into a text column, or as null otherwise.
    fn extend(&mut self, v: &Values) {
        match (self, v) {
            (Buf::F64(b), Values::F64(x)) => b.extend_from_slice(x),
            (Buf::F64(b), Values::I64(x)) => b.extend(x.iter().map(|o| o.map(|i| i as f64))),
            (Buf::I64(b), Values::I64(x)) => b.extend_from_slice(x),
            (Buf::Bool(b), Values::Bool(x)) => b.extend_from_slice(x),
            (Buf::Str(b), Values::Str(x)) => b.extend(x.iter().cloned()),
            (Buf::Str(b), other) => b.extend((0..other.len()).map(|i| text_at(other, i))),
            (buf, other) => {
                let n = buf.len() + other.len();
                buf.pad_to(n);
            }
        }
    }

    fn into_column(self, name: &str) -> Column {
        match self {
            Buf::F64(v) => Column::new(name.into(), v),
            Buf::I64(v) => Column::new(name.into(), v),
            Buf::Bool(v) => Column::new(name.into(), v),
            Buf::Str(v) => Column::new(name.into(), v),
        }
    }
}

fn text_at(v: &Values, i: usize) -> Option<String> {
    match v {
        Values::F64(x) => x[i].map(|f| f.to_string()),
        Values::I64(x) => x[i].map(|f| f.to_string()),
        Values::Bool(x) => x[i].map(|f| f.to_string()),
        Values::Str(x) => x[i].clone(),
    }
}

/// Builds one segment's frame from request records (one row per input row).
fn build_frame(records: &[LogRecord]) -> Result<DataFrame> {
    let n: usize = records.iter().map(LogRecord::rows).sum();
    let mut request_id = Vec::with_capacity(n);
    let mut row = Vec::with_capacity(n);
    let mut ts = Vec::with_capacity(n);
    let mut model = Vec::with_capacity(n);
    let mut version = Vec::with_capacity(n);
    let mut variant = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut latency = Vec::with_capacity(n);
    let mut prediction: Vec<Option<String>> = Vec::with_capacity(n);
    let mut value: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut inputs: BTreeMap<String, Buf> = BTreeMap::new();
    let mut input_order: Vec<String> = Vec::new();
    let mut proba: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    let mut proba_order: Vec<String> = Vec::new();

    for r in records {
        let k = r.rows();
        let start = request_id.len();
        for i in 0..k {
            request_id.push(r.request_id.clone());
            row.push(i as u32);
            ts.push(r.ts_ms);
            model.push(r.model.clone());
            version.push(r.version.clone());
            variant.push(r.variant.clone());
            status.push(u32::from(r.status));
            latency.push(r.latency_ms);
        }
        let end = start + k;
        if let Some(b) = &r.inputs
            && b.rows() == k
        {
            for (name, vals) in b.columns() {
                let buf = inputs.entry(name.clone()).or_insert_with(|| {
                    input_order.push(name.clone());
                    Buf::like(vals, start)
                });
                buf.pad_to(start);
                buf.extend(vals);
            }
        }
        match r.prediction.as_deref() {
            Some(p) if p.len() == k => match p {
                Prediction::Values(v) => {
                    prediction.extend(v.iter().map(|x| Some(x.to_string())));
                    value.extend(v.iter().map(|x| Some(*x)));
                }
                Prediction::Classes {
                    classes,
                    labels,
                    proba: pr,
                } => {
                    prediction.extend(labels.iter().map(|&l| classes.get(l).cloned()));
                    match pr {
                        Some(m) if classes.len() == 2 && m.ncols() == 2 => {
                            value.extend(m.column(1).iter().map(|x| Some(*x)));
                        }
                        _ => value.extend(std::iter::repeat_n(None, k)),
                    }
                    if let Some(m) = pr
                        && m.ncols() == classes.len()
                    {
                        for (c, name) in classes.iter().enumerate() {
                            let key = format!("proba.{name}");
                            let col = proba.entry(key.clone()).or_insert_with(|| {
                                proba_order.push(key.clone());
                                Vec::new()
                            });
                            col.resize(start, None);
                            col.extend(m.column(c).iter().map(|x| Some(*x)));
                        }
                    }
                }
            },
            _ => {
                prediction.extend(std::iter::repeat_n(None, k));
                value.extend(std::iter::repeat_n(None, k));
            }
        }
        debug_assert_eq!(prediction.len(), end);
    }

    let mut cols = vec![
        Column::new("request_id".into(), request_id),
        Column::new("row".into(), row),
        Column::new("ts_ms".into(), ts),
        Column::new("model".into(), model),
        Column::new("version".into(), version),
        Column::new("variant".into(), variant),
        Column::new("status".into(), status),
        Column::new("latency_ms".into(), latency),
    ];
    for name in input_order {
        if let Some(mut buf) = inputs.remove(&name) {
            buf.pad_to(n);
            cols.push(buf.into_column(&format!("input.{name}")));
        }
    }
    cols.push(Column::new("prediction".into(), prediction));
    cols.push(Column::new("value".into(), value));
    for name in proba_order {
        if let Some(mut v) = proba.remove(&name) {
            v.resize(n, None);
            cols.push(Column::new(name.as_str().into(), v));
        }
    }
    DataFrame::new(n, cols).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_by_sequence() {
        assert_eq!(segment_name(42), "segment-00000000000000000042.parquet");
        assert!(is_segment_name(&segment_name(7)));
        assert!(!is_segment_name("segment-1.parquet"));
        assert!(!is_segment_name(
            ".segment-00000000000000000042.parquet.tmp"
        ));
    }
}
