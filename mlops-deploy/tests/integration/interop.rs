//! The server driven by the reference clients: MLflow's own `ScoringServerClient` and
//! the `kserve` SDK's V2 REST client (Python, from the venvs `scripts/test` creates).

use std::path::{Path, PathBuf};
use std::process::Command;

use mlops_deploy::ServerConfig;
use mlops_train::Algorithm;

use crate::common::*;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop/serve_check.py")
}

fn run(python: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python)
        .arg(script())
        .args(args)
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .output()
        .expect("run serve_check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "serve_check.py {args:?} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap()
}

/// Rows `0..n` of the wine features as CSV.
fn rows_csv(dir: &Path, n: usize) -> PathBuf {
    let df = wine();
    let names = wine_features();
    let mut text = names.join(",") + "\n";
    for i in 0..n {
        let row: Vec<String> = names
            .iter()
            .map(|c| format!("{:?}", df.column(c).unwrap().f64().unwrap().get(i).unwrap()))
            .collect();
        text += &(row.join(",") + "\n");
    }
    let p = dir.join("rows.csv");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
#[ignore = "needs Python with MLflow (scripts/test)"]
fn mlflows_scoring_client_gets_the_models_answers() {
    let python = std::env::var("MLOPS_TEST_PYTHON").expect("MLOPS_TEST_PYTHON (scripts/test)");
    let model = wine_model(Algorithm::logistic());
    let want = expected_labels(&model, 0, 25);
    let server = start(ServerConfig::default(), served(model, "1"));
    let dir = tempfile::tempdir().unwrap();
    let csv = rows_csv(dir.path(), 25);
    let out = run(&python, &["mlflow", &server.url(), csv.to_str().unwrap()]);
    let as_vec = |v: &serde_json::Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    };
    for shape in ["dataframe", "ndarray", "params", "records", "columns"] {
        assert_eq!(as_vec(&out[shape]), want, "{shape}: {out}");
    }
    assert_eq!(out["version"], env!("CARGO_PKG_VERSION"));
    let refused = out["missing_column"].as_str().unwrap();
    assert!(
        refused.contains("error code 400") && refused.contains("is missing"),
        "{refused}"
    );
}

#[test]
#[ignore = "needs Python with the kserve SDK (scripts/test)"]
fn kserves_v2_rest_client_gets_the_models_answers() {
    let python =
        std::env::var("MLOPS_TEST_KSERVE_PYTHON").expect("MLOPS_TEST_KSERVE_PYTHON (scripts/test)");
    let model = wine_model(Algorithm::logistic());
    let want = expected_labels(&model, 0, 10);
    let server = start(ServerConfig::default(), served(model, "5"));
    let dir = tempfile::tempdir().unwrap();
    let csv = rows_csv(dir.path(), 10);
    let out = run(
        &python,
        &["kserve", &server.url(), "wine", csv.to_str().unwrap()],
    );
    assert_eq!(
        (&out["live"], &out["ready"], &out["model_ready"]),
        (&true.into(), &true.into(), &true.into()),
        "{out}"
    );
    let by_column = &out["by_column"];
    assert_eq!(by_column["id"], "by-column");
    assert_eq!(by_column["model_name"], "wine");
    for outputs in [&by_column["outputs"], &out["matrix"]] {
        let labels: Vec<i64> = outputs["predict"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(labels, want, "{out}");
        let proba = outputs["predict_proba"].as_array().unwrap();
        assert_eq!(proba.len(), 10);
        for row in proba {
            let s: f64 = row
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
    }
}
