//! The test harness itself: when `scripts/test` says an MLflow server is running
//! (`MLOPS_TEST_MLFLOW_URI`), it must answer. Tests that need MLflow call [`mlflow_uri`].

use std::time::Duration;

/// The MLflow server `scripts/test` started, or `None` under a plain `cargo test`.
///
/// When the variable is set the server must answer `/health`: a dead server fails the
/// calling test instead of letting it skip silently.
pub fn mlflow_uri() -> Option<String> {
    let uri = std::env::var("MLOPS_TEST_MLFLOW_URI").ok()?;
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
    Some(uri)
}

#[test]
fn mlflow_server_answers_when_announced() {
    if let Some(uri) = mlflow_uri() {
        let client = reqwest::blocking::Client::new();
        let version = client
            .get(format!("{uri}/version"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(version.trim(), "3.17.2", "the pinned MLflow version runs");
    }
}
