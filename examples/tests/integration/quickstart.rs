//! The quickstart, run twice as a user would: on the embedded store, and on the real
//! MLflow server when `scripts/test` runs one. The second run must compare against the
//! first champion on the same rows.

use std::path::Path;
use std::process::Command;

fn quickstart(cwd: &Path, tracking_uri: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .current_dir(cwd)
        .env("MLFLOW_TRACKING_URI", tracking_uri)
        .env("MLOPS_HOME", cwd.join(".mlops"))
        .env_remove("MLFLOW_REGISTRY_URI")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "quickstart failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn twice(cwd: &Path, uri: &str) {
    let first = quickstart(cwd, uri);
    println!("{first}");
    assert!(first.contains("contract passed"), "{first}");
    assert!(first.contains("champion:  none yet"), "{first}");
    assert!(first.contains("gate: PASSED"), "{first}");
    assert!(first.contains("alias champion -> 1"), "{first}");
    assert!(first.contains("chain valid"), "{first}");
    let second = quickstart(cwd, uri);
    println!("{second}");
    assert!(
        second.contains("champion:  models:/winequality-good/1"),
        "{second}"
    );
    assert!(
        second.contains("(champion 0."),
        "the champion is evaluated on the same rows: {second}"
    );
    assert!(
        second.contains("PASS no_regression roc_auc_score (delong): candidate"),
        "{second}"
    );
    // McNemar's test on accuracy ran on the same rows and says what it counted.
    let mcnemar = second
        .lines()
        .find(|l| l.contains("no_regression accuracy_score (mcnemar)"))
        .unwrap_or_else(|| panic!("no McNemar outcome: {second}"));
    assert!(mcnemar.trim_start().starts_with("PASS"), "{mcnemar}");
    let count = |label: &str| -> u64 {
        let rest = &mcnemar[mcnemar
            .find(label)
            .unwrap_or_else(|| panic!("{label}: {mcnemar}"))
            + label.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    let (b, c) = (
        count("champion-only right "),
        count("candidate-only right "),
    );
    assert!(
        b + c > 0,
        "two different models disagree on some rows: {mcnemar}"
    );
    let p: f64 = mcnemar
        .rsplit("p = ")
        .next()
        .and_then(|s| s.split(';').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no p-value: {mcnemar}"));
    assert!((0.0..=1.0).contains(&p), "{mcnemar}");
    // The latency gate ran and passed (it times each row's fastest of several tries,
    // so a loaded machine does not fail it).
    assert!(second.contains("PASS latency"), "{second}");
    assert!(second.contains("alias champion -> 2 (was 1)"), "{second}");
    let third = quickstart(cwd, uri);
    assert!(
        third.contains("byte-identical to champion version 2"),
        "{third}"
    );
}

#[test]
fn quickstart_twice_on_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    twice(dir.path(), root.to_str().unwrap());
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn quickstart_twice_on_a_real_mlflow_server() {
    let uri = std::env::var("MLOPS_TEST_MLFLOW_URI")
        .ok()
        .filter(|s| !s.is_empty())
        .expect("needs MLflow: run it through scripts/test (MLOPS_TEST_MLFLOW_URI is unset)");
    let dir = tempfile::tempdir().unwrap();
    twice(dir.path(), &uri);
}
