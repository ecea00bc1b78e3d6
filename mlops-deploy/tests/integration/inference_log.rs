//! The inference log: the reader's segment naming, ordering and diagonal concatenation;
//! the server's rows, columns and dtypes as the contract with monitoring says, failed
//! requests as one row, and the bounds (disk, queue).

use std::sync::Arc;
use std::time::Duration;

use mlops_deploy::inference_log::{InferenceLog, LogRecord, list_segments, scan};
use mlops_deploy::{LogConfig, ServerConfig};
use mlops_train::{Algorithm, Batch, Prediction, Values};
use polars::prelude::*;

use crate::common::*;
use crate::util::write_segment;

#[test]
fn segments_are_read_in_name_order_and_concatenated_diagonally() {
    let dir = tempfile::tempdir().unwrap();
    let mut a =
        df!("request_id" => ["a0", "a1"], "row" => [0u32, 0], "input.x" => [1.0, 2.0]).unwrap();
    let mut b = df!("request_id" => ["b0"], "row" => [0u32], "input.y" => ["u"]).unwrap();
    // written out of order; the reader orders by file name
    write_segment(dir.path(), 2, &mut b);
    write_segment(dir.path(), 0, &mut a);
    // anything else is ignored: a temp file, another name, a short number
    std::fs::write(
        dir.path().join(".segment-00000000000000000009.parquet.tmp"),
        b"junk",
    )
    .unwrap();
    std::fs::write(dir.path().join("segment-1.parquet"), b"junk").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
    assert_eq!(list_segments(dir.path()).unwrap().len(), 2);
    let df = scan(dir.path()).unwrap().collect().unwrap();
    assert_eq!(df.height(), 3);
    let ids: Vec<Option<&str>> = df
        .column("request_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(ids, [Some("a0"), Some("a1"), Some("b0")]);
    assert_eq!(df.column("input.x").unwrap().null_count(), 1);
    assert_eq!(df.column("input.y").unwrap().null_count(), 2);
}

#[test]
fn empty_directory_is_an_empty_log_and_a_conflicting_dtype_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(scan(dir.path()).unwrap().collect().unwrap().height(), 0);
    let mut a = df!("input.x" => [1.0]).unwrap();
    let mut b = df!("input.x" => ["text"]).unwrap();
    write_segment(dir.path(), 0, &mut a);
    write_segment(dir.path(), 1, &mut b);
    let e = scan(dir.path()).err().expect("dtype conflict");
    let msg = e.to_string();
    assert!(
        msg.contains("segment-00000000000000000001.parquet") && msg.contains("input.x"),
        "{msg}"
    );
}

#[test]
fn served_requests_are_logged_one_row_per_input_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogConfig::new(dir.path());
    log.flush_interval = Duration::from_millis(50);
    let model = wine_model(Algorithm::logistic());
    let want = expected_labels(&model, 0, 3);
    let server = start(
        ServerConfig {
            log: Some(log),
            ..ServerConfig::default()
        },
        served(model, "4"),
    );
    let url = format!("{}/invocations", server.url());
    let c = client();
    let r = c
        .post(&url)
        .header("content-type", "application/json")
        .header("x-request-id", "req-1")
        .body(split_body(0, 3))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, h, _) = post(&c, &url, Some("application/json"), "not json");
    assert_eq!(s, 400);
    let failed_id = h["x-request-id"].to_str().unwrap().to_string();
    server.shutdown().unwrap();

    let df = mlops_deploy::scan(dir.path()).unwrap().collect().unwrap();
    assert_eq!(df.height(), 4, "{df}");
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        &names[..8],
        mlops_deploy::inference_log::BASE_COLUMNS.map(String::from)
    );
    for (name, dt) in [
        ("request_id", DataType::String),
        ("row", DataType::UInt32),
        ("ts_ms", DataType::Int64),
        ("status", DataType::UInt32),
        ("latency_ms", DataType::Float64),
        ("input.alcohol", DataType::Float64),
        ("prediction", DataType::String),
        ("value", DataType::Float64),
        ("proba.0", DataType::Float64),
        ("proba.1", DataType::Float64),
    ] {
        assert_eq!(df.column(name).unwrap().dtype(), &dt, "{name}");
    }
    let ok = df
        .clone()
        .lazy()
        .filter(col("request_id").eq(lit("req-1")))
        .collect()
        .unwrap();
    assert_eq!(ok.height(), 3);
    let rows: Vec<u32> = ok
        .column("row")
        .unwrap()
        .u32()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(rows, [0, 1, 2]);
    let preds: Vec<i64> = ok
        .column("prediction")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(preds, want);
    let alcohol = wine().column("alcohol").unwrap().f64().unwrap().get(1);
    assert_eq!(
        ok.column("input.alcohol").unwrap().f64().unwrap().get(1),
        alcohol
    );
    let value = ok.column("value").unwrap().f64().unwrap().get(0).unwrap();
    let p1 = ok.column("proba.1").unwrap().f64().unwrap().get(0).unwrap();
    assert_eq!(value, p1);
    assert!(
        ok.column("model")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .all(|m| m == "wine")
    );
    assert!(
        ok.column("version")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .flatten()
            .all(|m| m == "4")
    );
    let failed = df
        .lazy()
        .filter(col("request_id").eq(lit(failed_id)))
        .collect()
        .unwrap();
    assert_eq!(failed.height(), 1);
    assert_eq!(
        failed.column("status").unwrap().u32().unwrap().get(0),
        Some(400)
    );
    assert_eq!(failed.column("row").unwrap().u32().unwrap().get(0), Some(0));
    assert_eq!(failed.column("input.alcohol").unwrap().null_count(), 1);
    assert_eq!(failed.column("prediction").unwrap().null_count(), 1);
}

fn record(i: usize, feature: &str, values: Values, prediction: Prediction) -> LogRecord {
    let rows = values.len();
    let mut b = Batch::new(rows);
    b.push(feature, values).unwrap();
    LogRecord {
        request_id: format!("r{i}"),
        ts_ms: 1_700_000_000_000 + i as i64,
        model: "m".into(),
        version: "1".into(),
        variant: "stable".into(),
        status: 200,
        latency_ms: 1.0,
        inputs: Some(Arc::new(b)),
        prediction: Some(Arc::new(prediction)),
    }
}

#[test]
fn segments_read_back_diagonally_and_the_disk_bound_drops_whole_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_rows: 2,
        max_segments: 3,
        flush_interval: Duration::from_secs(60),
        ..LogConfig::new(dir.path())
    };
    let log = InferenceLog::start(config.clone()).unwrap();
    let tx = log.sender().unwrap();
    // Ten 2-row records: each fills a segment; the first seven are rotated out.
    for i in 0..10 {
        let (feature, values) = if i % 2 == 0 {
            ("a", Values::F64(vec![Some(i as f64), None]))
        } else {
            ("b", Values::Str(vec![Some("x".into()), Some("y".into())]))
        };
        tx.send(record(
            i,
            feature,
            values,
            Prediction::Values(vec![1.5, 2.5]),
        ));
        std::thread::sleep(Duration::from_millis(30));
    }
    let counters = log.counters().clone();
    log.close();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(counters.rows_written.load(Relaxed), 20);
    assert_eq!(counters.segments_deleted.load(Relaxed), 7);
    assert_eq!(counters.rows_dropped_rotation.load(Relaxed), 14);
    let segments = list_segments(dir.path()).unwrap();
    let names: Vec<String> = segments
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "segment-00000000000000000014.parquet",
            "segment-00000000000000000016.parquet",
            "segment-00000000000000000018.parquet",
        ]
    );
    // A foreign file is ignored by the reader.
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    let df = mlops_deploy::scan(dir.path()).unwrap().collect().unwrap();
    assert_eq!(df.height(), 6);
    let ids: Vec<&str> = df
        .column("request_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    assert_eq!(ids, ["r7", "r7", "r8", "r8", "r9", "r9"]);
    // input.a exists only in r8's segment, input.b in r7's and r9's: nulls elsewhere.
    assert_eq!(df.column("input.a").unwrap().null_count(), 5);
    assert_eq!(df.column("input.b").unwrap().null_count(), 2);
    assert_eq!(df.column("value").unwrap().f64().unwrap().get(1), Some(2.5));

    // A restart continues the sequence after the last segment.
    let log = InferenceLog::start(config).unwrap();
    log.sender().unwrap().send(record(
        10,
        "a",
        Values::F64(vec![Some(1.0), Some(2.0)]),
        Prediction::Values(vec![0.0, 0.0]),
    ));
    log.close();
    let last = list_segments(dir.path()).unwrap().pop().unwrap();
    assert!(
        last.ends_with("segment-00000000000000000020.parquet"),
        "{last:?}"
    );
    // An empty directory scans to an empty frame with the fixed columns.
    let empty = tempfile::tempdir().unwrap();
    let df = mlops_deploy::scan(empty.path()).unwrap().collect().unwrap();
    assert_eq!((df.height(), df.column("request_id").is_ok()), (0, true));
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        queue_capacity: 1,
        segment_rows: 1_000_000,
        ..LogConfig::new(dir.path())
    };
    let log = InferenceLog::start(config).unwrap();
    let tx = log.sender().unwrap();
    let t = std::time::Instant::now();
    for i in 0..20_000 {
        tx.send(record(
            i,
            "a",
            Values::F64(vec![Some(1.0)]),
            Prediction::Values(vec![0.0]),
        ));
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "sending blocked: {:?}",
        t.elapsed()
    );
    let counters = log.counters().clone();
    log.close();
    use std::sync::atomic::Ordering::Relaxed;
    let written = counters.rows_written.load(Relaxed);
    let dropped = counters.rows_dropped_queue.load(Relaxed);
    assert_eq!(
        written + dropped,
        20_000,
        "every row is written or counted as dropped"
    );
    assert!(dropped > 0, "a one-slot queue kept up with 20,000 sends");
}
