//! `mlops infer`, `mlops validate` and `mlops profile`: exit codes (0 valid, 1 invalid,
//! 2 error) and the JSON shapes a CI job reads, from the built binary.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn mlops(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(args)
        .output()
        .expect("run mlops")
}

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// 40 rows: id 0..40, x = id / 4, cat cycling a/b/c; `bad` puts x = 99 at rows 5 and
/// 17 and cat = "zzz" at row 8.
fn write_csv(path: &Path, bad: bool) {
    let mut s = String::from("id,x,cat\n");
    for i in 0..40 {
        let x = if bad && (i == 5 || i == 17) {
            99.0
        } else {
            f64::from(i) / 4.0
        };
        let cat = if bad && i == 8 {
            "zzz"
        } else {
            ["a", "b", "c"][i as usize % 3]
        };
        s.push_str(&format!("{i},{x},{cat}\n"));
    }
    std::fs::write(path, s).unwrap();
}

const CONTRACT: &str = r#"{
  "name": "cli",
  "columns": [
    {"name": "id", "dtype": "int64", "nullable": false, "checks": [{"check": "unique"}]},
    {"name": "x", "dtype": "float64", "nullable": false,
     "checks": [{"check": "range", "min": 0.0, "max": 10.0}]},
    {"name": "cat", "dtype": "string", "nullable": false,
     "checks": [{"check": "allowed_set", "values": ["a", "b", "c"]}]}
  ]
}"#;

#[test]
fn infer_then_validate_clean_data_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("clean.csv");
    write_csv(&data, false);
    let out = mlops(&["infer", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let inferred = json_of(&out);
    let names: Vec<&str> = inferred["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "x", "cat"]);
    let contract = dir.path().join("inferred.json");
    std::fs::write(&contract, &out.stdout).unwrap();
    let out = mlops(&[
        "validate",
        "--contract",
        contract.to_str().unwrap(),
        data.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report = json_of(&out);
    assert_eq!(report["ok"], true);
    assert_eq!(report["failures"], serde_json::json!([]));
    // TOML output parses back through `validate` too.
    let out = mlops(&["infer", "--toml", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let toml = dir.path().join("inferred.toml");
    std::fs::write(&toml, &out.stdout).unwrap();
    let out = mlops(&[
        "validate",
        "--contract",
        toml.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn validate_invalid_data_exits_1_with_failures() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.csv");
    write_csv(&data, true);
    let contract = dir.path().join("contract.json");
    std::fs::write(&contract, CONTRACT).unwrap();
    let out = mlops(&[
        "validate",
        "--contract",
        contract.to_str().unwrap(),
        data.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = json_of(&out);
    assert_eq!(report["ok"], false);
    let failures = report["failures"].as_array().unwrap();
    let got: Vec<(String, String, u64, Vec<u64>)> = failures
        .iter()
        .map(|f| {
            (
                f["column"].as_str().unwrap().to_string(),
                f["check"].as_str().unwrap().to_string(),
                f["failing_rows"].as_u64().unwrap(),
                f["sample_rows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("x".into(), "range".into(), 2, vec![5, 17]),
            ("cat".into(), "allowed_set".into(), 1, vec![8]),
        ]
    );
    // Without --json: a table, same exit code.
    let out = mlops(&[
        "validate",
        "--contract",
        contract.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("INVALID"));
}

#[test]
fn validate_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let contract = dir.path().join("contract.json");
    std::fs::write(&contract, CONTRACT).unwrap();
    // Missing data file.
    let missing = dir.path().join("missing.csv");
    let out = mlops(&[
        "validate",
        "--contract",
        contract.to_str().unwrap(),
        missing.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
    // Malformed contract.
    let data = dir.path().join("clean.csv");
    write_csv(&data, false);
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"columns\": [").unwrap();
    let out = mlops(&[
        "validate",
        "--contract",
        broken.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn profile_json_has_the_summary_shape() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("clean.csv");
    write_csv(&data, false);
    let out = mlops(&["profile", data.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let p = json_of(&out);
    let x = &p["columns"]["x"];
    for key in [
        "count",
        "null_count",
        "mean",
        "std",
        "min",
        "max",
        "distinct",
    ] {
        assert!(x[key].is_number(), "x.{key}: {x}");
    }
    assert_eq!(x["count"], 40);
    assert_eq!(x["null_count"], 0);
    assert_eq!(x["min"].as_f64(), Some(0.0));
    assert_eq!(x["max"].as_f64(), Some(9.75));
    assert!((x["mean"].as_f64().unwrap() - 4.875).abs() < 1e-12);
    assert_eq!(x["distinct"].as_f64(), Some(40.0));
    for q in ["0.25", "0.5", "0.75"] {
        assert!(x["quantiles"][q].is_number(), "x.quantiles.{q}: {x}");
    }
    let median = x["quantiles"]["0.5"].as_f64().unwrap();
    assert!((4.5..=5.25).contains(&median), "median {median}");
    let cat = &p["columns"]["cat"];
    assert_eq!(cat["distinct"].as_f64(), Some(3.0));
    assert_eq!(cat["null_count"], 0);
    // Missing input: exit 2.
    let out = mlops(&["profile", dir.path().join("nope.csv").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
