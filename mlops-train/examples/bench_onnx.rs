//! Predict latency of the `onnx` flavor (tract + our ONNX-ML ops) on the bench models of
//! `scripts/interop/onnx_models.py bench DIR` (logistic regression in a scaler pipeline;
//! a 100-tree, depth-8 random forest; 8 features). Run by `scripts/bench-onnx`, which
//! prints onnxruntime's figures from the same run beside these.
//!
//! For 1 and 100 rows: `Model::predict` on a polars frame (what a server pays per
//! request once the frame is built) and `OnnxGraph::run` on a ready tensor (the graph
//! alone). p50 and p99 over 2000 (1 row) or 500 (100 rows) calls after a warm-up.
//!
//!   cargo run --release -p mlops-train --example bench_onnx -- DIR

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary

use std::time::Instant;

use mlops_train::Model;
use mlops_train::onnx::OnnxModel;
use mlops_train::onnx::tract_onnx::prelude::Tensor;
use polars::prelude::*;

fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    (us[us.len() / 2], us[(us.len() as f64 * 0.99) as usize])
}

fn time(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..200 {
        f();
    }
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f();
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    percentiles(us)
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: bench_onnx DIR"));
    let text = std::fs::read_to_string(dir.join("rows.csv")).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .map(|l| l.split(',').map(|v| v.trim().parse().unwrap()).collect())
        .collect();
    for name in ["lr", "rf"] {
        let bytes = std::fs::read(dir.join(format!("{name}.onnx"))).unwrap();
        let t = Instant::now();
        let model = OnnxModel::from_onnx(name, bytes, None).unwrap();
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        println!("{name}: load {load_ms:.1} ms ({:?})", model.graph().ops);
        for n in [1usize, 100] {
            let cols: Vec<Column> = (0..8)
                .map(|j| {
                    Column::new(
                        j.to_string().into(),
                        rows[..n].iter().map(|r| r[j]).collect::<Vec<f64>>(),
                    )
                })
                .collect();
            let df = DataFrame::new(n, cols).unwrap();
            let calls = if n == 1 { 2000 } else { 500 };
            let (p50, p99) = time(calls, || {
                std::hint::black_box(model.predict(&df).unwrap());
            });
            println!("{name} {n} row(s), Model::predict (frame): p50 {p50:.1} us, p99 {p99:.1} us");
            let data: Vec<f32> = rows[..n].iter().flatten().map(|&v| v as f32).collect();
            let tensor = Tensor::from_shape(&[n, 8], &data).unwrap();
            let g = model.graph();
            let (p50, p99) = time(calls, || {
                std::hint::black_box(g.run(vec![tensor.clone()]).unwrap());
            });
            println!(
                "{name} {n} row(s), OnnxGraph::run (tensor): p50 {p50:.1} us, p99 {p99:.1} us"
            );
        }
    }
}
