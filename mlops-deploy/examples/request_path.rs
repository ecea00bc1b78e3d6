//! What the request path costs, per stage, for the wine logistic model: decoding a
//! `dataframe_split` body into a typed batch, predicting on the batch directly, and what
//! the frame path would add (building a polars frame per request, and validating it
//! with the signature's contract as training does).
//!
//! ```text
//! cargo run --release -p mlops-deploy --example request_path
//! ```
//!
//! The figures decided the serving design: see `mlops_train::batch` and
//! `mlops_deploy::schema`.

use std::time::Instant;

use mlops_deploy::codec::mlflow::{BodyFormat, parse};
use mlops_deploy::schema::InputSchema;
use mlops_train::{
    Algorithm, FeatureSpec, Model, TargetSpec, TargetTask, TrainConfig, frame_from_matrix, train,
};
use polars::prelude::Column;

fn body(rows: usize, names: &[String], x: &ndarray::Array2<f64>) -> String {
    let data: Vec<Vec<f64>> = (0..rows).map(|i| x.row(i).to_vec()).collect();
    serde_json::json!({"dataframe_split": {"columns": names, "data": data}}).to_string()
}

/// Median of `n` timings of `f`, in microseconds.
fn time(n: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ds = linfa_datasets::winequality();
    let names = ds.feature_names().to_vec();
    let mut df = frame_from_matrix(&names, ds.records.view())?;
    let good: Vec<i64> = ds.targets.iter().map(|&t| i64::from(t >= 6)).collect();
    df.with_column(Column::new("good".into(), good))?;
    let model = train(
        &df,
        &TrainConfig {
            features: FeatureSpec::all_numeric_standardized(&df, &["good"]),
            target: TargetSpec {
                column: "good".into(),
                task: TargetTask::Classification,
            },
            algorithm: Algorithm::logistic(),
            seed: 7,
        },
    )?;
    let schema = InputSchema::compile(model.signature());
    println!("stage (median of 2000, µs)           1 row   100 rows");
    let mut rows_out = Vec::new();
    for rows in [1usize, 100] {
        let text = body(rows, &names, &ds.records);
        let parsed = parse(BodyFormat::Json, text.as_bytes()).map_err(|e| e.message)?;
        let batch = schema.decode(&parsed.table).map_err(|e| e.message)?;
        let frame = batch.to_frame()?;
        let n = 2000;
        let parse_us = time(n, || {
            let _ = parse(BodyFormat::Json, text.as_bytes());
        });
        let decode_us = time(n, || {
            let _ = schema.decode(&parsed.table);
        });
        let batch_us = time(n, || {
            let _ = model.predict_batch(&batch);
        });
        let to_frame_us = time(n, || {
            let _ = batch.to_frame();
        });
        let frame_predict_us = time(n, || {
            let _ = model.predict(&frame);
        });
        let contract_us = time(n / 10, || {
            let _ = model.signature().check(&frame);
        });
        assert_eq!(model.predict_batch(&batch)?, model.predict(&frame)?);
        rows_out.push([
            parse_us,
            decode_us,
            batch_us,
            to_frame_us,
            frame_predict_us,
            contract_us,
        ]);
    }
    let labels = [
        "parse JSON body",
        "decode against compiled schema",
        "predict_batch (served path)",
        "build polars frame",
        "predict on the frame",
        "Signature::check (contract, polars)",
    ];
    for (i, l) in labels.iter().enumerate() {
        println!("{l:<36} {:>8.1} {:>10.1}", rows_out[0][i], rows_out[1][i]);
    }
    for (k, rows) in [(0, 1), (1, 100)] {
        let r = rows_out[k];
        println!(
            "{rows:>3} row(s): served path {:.1} µs; frame path {:.1} µs (+ contract {:.1} µs)",
            r[0] + r[1] + r[2],
            r[0] + r[1] + r[3] + r[4],
            r[5]
        );
    }
    Ok(())
}
