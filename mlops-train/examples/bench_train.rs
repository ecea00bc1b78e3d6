//! Training and prediction times of mlops-train on red winequality (label: quality >= 6),
//! for `scripts/bench-train`, which runs scikit-learn on the same rows in the same run.
//!
//! `bench_train DIR` writes `DIR/train.csv` and `DIR/test.csv` (the split it uses) and
//! prints one line per model: `name fit_ms=… predict_ms=… accuracy=… roc_auc=…`
//! (best of 5 for times; predict = the whole test frame in one call).

use std::io::Write;
use std::time::Instant;

use mlops_data::{SplitOptions, train_test_split};
use mlops_train::{
    Algorithm, FeatureSpec, Model, TargetSpec, TargetTask, TrainConfig, evaluate,
    frame_from_matrix, train,
};
use polars::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: bench_train DIR")?);
    let ds = linfa_datasets::winequality();
    let mut df = frame_from_matrix(ds.feature_names(), ds.records.view())?;
    let good: Vec<&str> = ds
        .targets
        .iter()
        .map(|&t| if t >= 6 { "good" } else { "bad" })
        .collect();
    df.with_column(Column::new("good".into(), good))?;
    let mut opts = SplitOptions::new(0.25, 2026);
    opts.stratify = Some("good".into());
    let split = train_test_split(&df, &opts)?;
    for (name, frame) in [("train.csv", &split.train), ("test.csv", &split.test)] {
        write_csv(&dir.join(name), frame)?;
    }
    let features = FeatureSpec::all_numeric_standardized(&split.train, &["good"]);
    let models = [
        ("logistic_regression", Algorithm::logistic()),
        ("decision_tree_depth8", Algorithm::tree(Some(8))),
        (
            "random_forest_100x10",
            Algorithm::RandomForest {
                trees: 100,
                max_depth: Some(10),
                bootstrap_proportion: 1.0,
                feature_proportion: 0.33,
            },
        ),
        (
            "gaussian_nb",
            Algorithm::GaussianNb {
                var_smoothing: 1e-9,
            },
        ),
    ];
    for (name, algorithm) in models {
        let config = TrainConfig {
            features: features.clone(),
            target: TargetSpec {
                column: "good".into(),
                task: TargetTask::Classification,
            },
            algorithm,
            seed: 1,
        };
        let mut fit = f64::INFINITY;
        let mut model = None;
        for _ in 0..5 {
            let t = Instant::now();
            let m = train(&split.train, &config)?;
            fit = fit.min(t.elapsed().as_secs_f64() * 1e3);
            model = Some(m);
        }
        let model = model.ok_or("no model")?;
        let mut predict = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            model.predict(&split.test)?;
            predict = predict.min(t.elapsed().as_secs_f64() * 1e3);
        }
        let e = evaluate(&model, &split.test)?;
        println!(
            "{name} fit_ms={fit:.3} predict_ms={predict:.3} accuracy={:.4} roc_auc={:.4}",
            e.metric("accuracy_score").unwrap_or(f64::NAN),
            e.metric("roc_auc_score").unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

fn write_csv(path: &std::path::Path, df: &DataFrame) -> Result<(), Box<dyn std::error::Error>> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect();
    writeln!(f, "{}", names.join(","))?;
    let cols: Vec<Vec<String>> = df
        .columns()
        .iter()
        .map(|c| -> Result<Vec<String>, PolarsError> {
            let s = c.cast(&DataType::String)?;
            Ok(s.as_materialized_series()
                .str()?
                .iter()
                .map(|v| v.unwrap_or("").to_string())
                .collect())
        })
        .collect::<Result<_, _>>()?;
    for i in 0..df.height() {
        let row: Vec<&str> = cols.iter().map(|c| c[i].as_str()).collect();
        writeln!(f, "{}", row.join(","))?;
    }
    Ok(())
}
