//! `mlops evaluate` and `mlops gate` as a CI job runs them: numbers against the
//! scikit-learn vectors of mlops-train, exit codes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("../../../mlops-train/tests/data/metrics_vectors.json");
    serde_json::from_str(text).unwrap()
}

fn mlops(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_csv(path: &Path, case: &Value, groups: bool) {
    let mut s = String::from(if groups {
        "label,score,grp\n"
    } else {
        "label,score\n"
    });
    let y = case["y_true"].as_array().unwrap();
    let p = case["y_score"].as_array().unwrap();
    for (i, (a, b)) in y.iter().zip(p).enumerate() {
        // serde_json prints the shortest round-trip form: exact f64 values.
        if groups {
            s.push_str(&format!("{a},{b},{}\n", if i % 3 == 0 { "x" } else { "y" }));
        } else {
            s.push_str(&format!("{a},{b}\n"));
        }
    }
    std::fs::write(path, s).unwrap();
}

#[test]
fn evaluate_prints_sklearn_names_and_values() {
    let v = vectors();
    let dir = tempfile::tempdir().unwrap();
    for case in v["binary"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        if name.starts_with("one_class") {
            continue; // one label value: --pos-label is needed, checked below
        }
        let csv = dir.path().join(format!("{name}.csv"));
        write_csv(&csv, case, false);
        let (code, out, err) = mlops(&[
            "evaluate",
            "--predictions",
            csv.to_str().unwrap(),
            "--label",
            "label",
            "--score",
            "score",
            "--json",
        ]);
        assert_eq!(code, 0, "{name}: {err}");
        let got: Value = serde_json::from_str(&out).unwrap();
        for key in [
            "accuracy_score",
            "balanced_accuracy_score",
            "precision_score",
            "recall_score",
            "f1_score",
            "roc_auc_score",
            "average_precision_score",
            "log_loss",
            "brier_score_loss",
            "matthews_corrcoef",
        ] {
            let want = &case["expected"][key];
            if want == "nan" {
                assert!(got[key].is_null(), "{name} {key}: {}", got[key]);
            } else {
                let (g, w) = (got[key].as_f64().unwrap(), want.as_f64().unwrap());
                assert!(
                    (g - w).abs() <= 1e-9 * w.abs().max(1e-300) || g == w,
                    "{name} {key}: {g} vs {w}"
                );
            }
        }
    }
}

#[test]
fn groups_policy_and_exit_codes() {
    let v = vectors();
    let case = &v["binary"][0];
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("p.csv");
    write_csv(&csv, case, true);
    let cand = dir.path().join("cand.json");
    let (code, out, err) = mlops(&[
        "evaluate",
        "--predictions",
        csv.to_str().unwrap(),
        "--label",
        "label",
        "--score",
        "score",
        "--group",
        "grp",
        "--json",
        "--save",
        cand.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let got: Value = serde_json::from_str(&out).unwrap();
    assert!(got["groups"]["x"]["accuracy_score"].is_f64(), "{out}");
    assert!(got["groups"]["y"]["roc_auc_score"].is_f64(), "{out}");
    assert!(got["fairness"]["demographic_parity_difference"].is_f64());

    let pass = dir.path().join("pass.json");
    std::fs::write(&pass, r#"{"gate":"all","gates":[{"gate":"threshold","metric":"roc_auc_score","min":0.8},{"gate":"no_regression","metric":"roc_auc_score","test":"delong"}]}"#).unwrap();
    let fail = dir.path().join("fail.json");
    std::fs::write(
        &fail,
        r#"{"gate":"threshold","metric":"accuracy_score","min":0.99}"#,
    )
    .unwrap();
    let c = cand.to_str().unwrap();
    assert_eq!(
        mlops(&[
            "gate",
            "--candidate",
            c,
            "--champion",
            c,
            "--policy",
            pass.to_str().unwrap()
        ])
        .0,
        0
    );
    let (code, out, _) = mlops(&[
        "gate",
        "--candidate",
        c,
        "--policy",
        fail.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["passed"],
        false
    );
    // Errors stop the work: exit 2 with a message.
    let (code, _, err) = mlops(&[
        "gate",
        "--candidate",
        "/nonexistent.json",
        "--policy",
        fail.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("nonexistent"), "{err}");
    let (code, _, err) = mlops(&[
        "evaluate",
        "--predictions",
        csv.to_str().unwrap(),
        "--label",
        "nope",
        "--score",
        "score",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
    // One label value: binary needs the positive label named.
    let one = dir.path().join("one.csv");
    write_csv(&one, &v["binary"][3], false);
    let (code, out, err) = mlops(&[
        "evaluate",
        "--predictions",
        one.to_str().unwrap(),
        "--label",
        "label",
        "--score",
        "score",
        "--pos-label",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let got: Value = serde_json::from_str(&out).unwrap();
    assert!(
        got["roc_auc_score"].is_null(),
        "undefined, as sklearn's nan"
    );
}
