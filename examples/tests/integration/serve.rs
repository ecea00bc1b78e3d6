//! `mlops serve` as a process: it loads `models:/NAME@ALIAS` from the store
//! `--tracking-uri` names, prints its address, answers MLflow's protocol, writes the
//! inference log, and on SIGTERM drains and exits 0.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use mlops_core::{AliasChange, LocalRegistry, NewVersion, Registry};
use mlops_train::{
    Algorithm, FeatureSpec, Lineage, ModelPackage, TargetSpec, TargetTask, TrainConfig,
    frame_from_matrix, train,
};
use polars::prelude::Column;

#[test]
fn mlops_serve_answers_then_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("mlruns");
    let ds = linfa_datasets::winequality();
    let names = ds.feature_names().to_vec();
    let mut df = frame_from_matrix(&names, ds.records.view()).unwrap();
    let good: Vec<i64> = ds.targets.iter().map(|&t| i64::from(t >= 6)).collect();
    df.with_column(Column::new("good".into(), good)).unwrap();
    let model = train(
        &df,
        &TrainConfig {
            features: FeatureSpec::all_numeric_standardized(&df, &["good"]),
            target: TargetSpec {
                column: "good".into(),
                task: TargetTask::Classification,
            },
            algorithm: Algorithm::logistic(),
            seed: 1,
        },
    )
    .unwrap();
    let reg = LocalRegistry::open(&store).unwrap();
    let pkg = ModelPackage::new(&model, BTreeMap::new(), Lineage::now(Vec::new(), None)).unwrap();
    let id = pkg.store(reg.artifact_store()).unwrap();
    reg.create_model("wine", None, &BTreeMap::new()).unwrap();
    let v = reg
        .create_version("wine", &NewVersion::new(id, "file:///model"))
        .unwrap();
    reg.set_alias(
        "wine",
        "champion",
        v.version,
        &AliasChange::new("test").by("t"),
    )
    .unwrap();
    drop(reg);

    let log_dir = dir.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args([
            "serve",
            "models:/wine@champion",
            "--port",
            "0",
            "--tracking-uri",
        ])
        .arg(&store)
        .arg("--log-dir")
        .arg(&log_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    let data: Vec<Vec<f64>> = (0..3).map(|i| ds.records.row(i).to_vec()).collect();
    let body = serde_json::json!({"dataframe_split": {"columns": names, "data": data}});
    let v: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{url}/invocations"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["predictions"].as_array().map(Vec::len), Some(3), "{v}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    // The log was flushed on the way out.
    let segments: Vec<_> = std::fs::read_dir(&log_dir).unwrap().collect();
    assert_eq!(segments.len(), 1);
}
