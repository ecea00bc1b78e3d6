//! Real data from linfa-datasets as polars frames, and a seeded split.

use mlops_train::frame_from_matrix;
use polars::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;

fn names(ds_names: &[String]) -> Vec<String> {
    ds_names.to_vec()
}

/// Red winequality (1599 rows, 11 features), `quality` as i64 and `good` = quality >= 6.
pub fn winequality() -> DataFrame {
    let ds = linfa_datasets::winequality();
    let mut df = frame_from_matrix(&names(ds.feature_names()), ds.records.view()).unwrap();
    let q: Vec<i64> = ds.targets.iter().map(|&t| t as i64).collect();
    let good: Vec<&str> = q
        .iter()
        .map(|&t| if t >= 6 { "good" } else { "bad" })
        .collect();
    df.with_column(Column::new("quality".into(), q)).unwrap();
    df.with_column(Column::new("good".into(), good)).unwrap();
    df
}

/// Iris (150 rows, 4 features), `species` as text.
pub fn iris() -> DataFrame {
    let ds = linfa_datasets::iris();
    let mut df = frame_from_matrix(&names(ds.feature_names()), ds.records.view()).unwrap();
    let s: Vec<&str> = ds
        .targets
        .iter()
        .map(|&t| ["setosa", "versicolor", "virginica"][t])
        .collect();
    df.with_column(Column::new("species".into(), s)).unwrap();
    df
}

/// Diabetes (442 rows, 10 features), `progression` as f64.
pub fn diabetes() -> DataFrame {
    let ds = linfa_datasets::diabetes();
    let n: Vec<String> = (0..ds.records.ncols()).map(|i| format!("x{i}")).collect();
    let mut df = frame_from_matrix(&n, ds.records.view()).unwrap();
    df.with_column(Column::new("progression".into(), ds.targets.to_vec()))
        .unwrap();
    df
}

/// A seeded train/test split (shuffled rows, `test` fraction held out).
pub fn split(df: &DataFrame, test: f64, seed: u64) -> (DataFrame, DataFrame) {
    let mut idx: Vec<u32> = (0..df.height() as u32).collect();
    idx.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(seed));
    let n_test = (df.height() as f64 * test).round() as usize;
    let take = |ix: &[u32]| df.take(&IdxCa::from_vec("i".into(), ix.to_vec())).unwrap();
    (take(&idx[n_test..]), take(&idx[..n_test]))
}
