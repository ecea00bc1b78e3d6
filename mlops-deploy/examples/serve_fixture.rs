//! Writes the benchmark's inputs for `scripts/bench-serve`: the red winequality rows
//! (`wine.csv`, 11 features and `good` = quality >= 6), the Rust logistic model trained
//! on all of them (standardised features, as scikit-learn's `StandardScaler` +
//! `LogisticRegression` pipeline the script trains on the same file) as a package
//! directory, and request bodies of 1 and 100 rows (`body_1.json`, `body_100.json`).
//!
//! ```text
//! cargo run --release -p mlops-deploy --example serve_fixture -- OUT_DIR
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use mlops_train::{
    Algorithm, FeatureSpec, Lineage, ModelPackage, TargetSpec, TargetTask, TrainConfig,
    frame_from_matrix, train,
};
use polars::prelude::Column;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: serve_fixture OUT_DIR")?,
    );
    std::fs::create_dir_all(&out)?;
    let ds = linfa_datasets::winequality();
    let names = ds.feature_names().to_vec();
    let mut df = frame_from_matrix(&names, ds.records.view())?;
    let good: Vec<i64> = ds.targets.iter().map(|&t| i64::from(t >= 6)).collect();
    df.with_column(Column::new("good".into(), good.clone()))?;

    let mut csv = names.join(",") + ",good\n";
    for (i, row) in ds.records.rows().into_iter().enumerate() {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        csv += &format!("{},{}\n", cells.join(","), good[i]);
    }
    std::fs::write(out.join("wine.csv"), csv)?;

    for n in [1usize, 100] {
        let data: Vec<Vec<f64>> = (0..n).map(|i| ds.records.row(i).to_vec()).collect();
        let body = serde_json::json!({"dataframe_split": {"columns": names, "data": data}});
        std::fs::write(out.join(format!("body_{n}.json")), body.to_string())?;
    }

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
    let pkg = ModelPackage::new(&model, BTreeMap::new(), Lineage::now(Vec::new(), None))?;
    let dir = out.join("rust-logistic");
    pkg.write_dir(&dir)?;
    println!("{}", dir.display());
    Ok(())
}
