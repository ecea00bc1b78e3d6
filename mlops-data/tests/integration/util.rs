//! Shared test data.

use std::path::PathBuf;

use polars::prelude::*;

pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The red-wine quality data (1599 rows x 12 numeric columns).
pub fn wine() -> DataFrame {
    mlops_data::read_frame(data_path("winequality-red.csv")).unwrap()
}

/// A frame like the benchmark's, with known faults injected:
/// rows 3 and 7 null in num_0, row 5 = 150 in num_2, rows 9 and 11 cat_0 = "zzz",
/// row 13 cat_1 = "bogus", row 4 NaN and row 6 +inf in num_1.
pub fn faulty(n: usize) -> DataFrame {
    let num_0: Vec<Option<f64>> = (0..n)
        .map(|i| {
            if i == 3 || i == 7 {
                None
            } else {
                Some((i % 50) as f64)
            }
        })
        .collect();
    let num_1: Vec<f64> = (0..n)
        .map(|i| match i {
            4 => f64::NAN,
            6 => f64::INFINITY,
            _ => (i as f64 * 0.37).sin(),
        })
        .collect();
    let num_2: Vec<f64> = (0..n)
        .map(|i| if i == 5 { 150.0 } else { (i % 100) as f64 })
        .collect();
    let cats = ["a", "b", "c", "d", "e"];
    let cat_0: Vec<&str> = (0..n)
        .map(|i| {
            if i == 9 || i == 11 {
                "zzz"
            } else {
                cats[i % 5]
            }
        })
        .collect();
    let cat_1: Vec<String> = (0..n)
        .map(|i| {
            if i == 13 {
                "bogus".to_string()
            } else {
                format!("k{:02}", i % 20)
            }
        })
        .collect();
    let id: Vec<i64> = (0..n as i64).collect();
    df!(
        "id" => id,
        "num_0" => num_0,
        "num_1" => num_1,
        "num_2" => num_2,
        "cat_0" => cat_0,
        "cat_1" => cat_1,
    )
    .unwrap()
}
