//! The test harness itself: when `scripts/test` says an MLflow server is running
//! (`MLOPS_TEST_MLFLOW_URI`), it must answer. Tests that need MLflow are
//! `#[ignore = "needs MLflow (scripts/test)"]`, so a plain `cargo test` lists them as
//! ignored; `scripts/test` runs them with `--include-ignored` and they call
//! [`mlflow_uri`], which fails (never skips) when the server is not there.

use std::time::Duration;

/// The MLflow server `scripts/test` started.
///
/// Panics when the variable is unset (the test was run with `--include-ignored` outside
/// `scripts/test`) or the server does not answer `/health`: a missing server fails the
/// calling test instead of letting it pass silently.
pub fn mlflow_uri() -> String {
    let uri = std::env::var("MLOPS_TEST_MLFLOW_URI")
        .ok()
        .filter(|s| !s.is_empty())
        .expect("needs MLflow: run it through scripts/test (MLOPS_TEST_MLFLOW_URI is unset)");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let resp = client
        .get(format!("{uri}/health"))
        .send()
        .unwrap_or_else(|e| panic!("MLOPS_TEST_MLFLOW_URI={uri} is set but does not answer: {e}"));
    assert!(
        resp.status().is_success(),
        "MLflow at {uri} is unhealthy: {}",
        resp.status()
    );
    uri
}

/// The venv's Python with MLflow that `scripts/test` provides; panics when it is unset.
pub fn python() -> String {
    std::env::var("MLOPS_TEST_PYTHON")
        .ok()
        .filter(|s| !s.is_empty())
        .expect(
            "needs Python with MLflow: run it through scripts/test (MLOPS_TEST_PYTHON is unset)",
        )
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn mlflow_server_answers_when_announced() {
    let uri = mlflow_uri();
    let client = reqwest::blocking::Client::new();
    let version = client
        .get(format!("{uri}/version"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(version.trim(), "3.17.2", "the pinned MLflow version runs");
}
