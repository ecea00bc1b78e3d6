//! `mlops judge` as a CI job runs it: offline streams in, one JSON line per stream out,
//! every number against the SciPy reference (`scripts/vectors/judge_vectors.py`).

use std::process::Command;

use serde_json::Value;

const LOOKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/judge_looks.csv");
const EXPECTED: &str = include_str!("../data/judge_looks.expected.jsonl");

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

fn close(got: &Value, want: &Value, what: &str) {
    let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
    assert!(
        (g - w).abs() <= 1e-9 * w.abs().max(1e-300),
        "{what}: got {g}, want {w}"
    );
}

#[test]
fn judge_prints_one_json_line_per_stream_matching_the_reference() {
    let (code, out, err) = mlops(&[
        "judge",
        "--looks",
        LOOKS,
        "--metric",
        "proportion",
        "--json",
    ]);
    // Some streams are rolled back: exit 1.
    assert_eq!(code, 1, "{err}");
    let got: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<Value> = EXPECTED
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        let name = w["stream"].as_str().unwrap();
        let keys: Vec<&String> = g.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "canary_n",
                "ci",
                "control_n",
                "decision",
                "look",
                "p_value",
                "stream"
            ]
        );
        for k in ["stream", "decision", "look", "control_n", "canary_n"] {
            assert_eq!(g[k], w[k], "{name}: {k}");
        }
        close(&g["p_value"], &w["p_value"], name);
        close(&g["ci"][0], &w["ci"][0], name);
        close(&g["ci"][1], &w["ci"][1], name);
    }
    let decisions: std::collections::BTreeSet<&str> = got
        .iter()
        .map(|g| g["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions.len(),
        3,
        "all three outcomes are exercised: {decisions:?}"
    );
}

#[test]
fn judge_table_and_exit_zero_without_rollbacks() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("aa.csv");
    let text: String = std::fs::read_to_string(LOOKS)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("stream,") || l.starts_with("aa_0,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&csv, text).unwrap();
    let (code, out, err) = mlops(&["judge", "--looks", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("aa_0") && out.contains("no_decision"), "{out}");
    // A stream that ends before the horizon is undecided at its last look.
    let (code, out, err) = mlops(&[
        "judge",
        "--looks",
        csv.to_str().unwrap(),
        "--json",
        "--horizon",
        "0",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["decision"].as_str(), v["look"].as_u64()),
        (Some("no_decision"), Some(200))
    );
}

#[test]
fn judge_bad_input_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("stream,look,n\n", "header must be stream,look,control_n"),
        (
            "stream,look,control_n,control_successes,canary_n,canary_successes\ns,1,900,45,100,x\n",
            "line 2, column 6 (canary_successes)",
        ),
        (
            "stream,look,control_n,control_successes,canary_n,canary_successes\ns,1,900,45,100,101\n",
            "successes 101 > n 100",
        ),
        (
            "stream,look,control_n,control_successes,canary_n,canary_successes\ns,2,900,45,100,5\ns,1,1800,90,200,10\n",
            "looks must increase",
        ),
        (
            "stream,look,control_n,control_successes,canary_n,canary_successes\ns,1,900,45,100,5\ns,2,800,45,200,10\n",
            "must not decrease",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let csv = dir.path().join(format!("bad{i}.csv"));
        std::fs::write(&csv, text).unwrap();
        let (code, out, err) = mlops(&["judge", "--looks", csv.to_str().unwrap(), "--json"]);
        assert_eq!(code, 2, "{text}: {out}");
        assert!(err.contains(want), "{text}: {err}");
    }
    let (code, _, err) = mlops(&["judge", "--looks", LOOKS, "--alpha", "2"]);
    assert_eq!(code, 2);
    assert!(err.contains("alpha"), "{err}");
}

#[test]
fn judge_means_match_the_reference() {
    // The latency streams of judge_vectors.json (lower is better, tau 0.1, margin 0.02).
    let v: Value = serde_json::from_str(include_str!(
        "../../../mlops-deploy/tests/data/judge_vectors.json"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("latency.csv");
    let mut text = String::from(
        "stream,look,control_n,control_sum,control_sum_sq,canary_n,canary_sum,canary_sum_sq\n",
    );
    let mut want = Vec::new();
    for s in v["streams"].as_array().unwrap() {
        if s["config"]["kind"] != "mean" {
            continue;
        }
        let name = s["name"].as_str().unwrap();
        for l in s["looks"].as_array().unwrap() {
            let (c, t) = (&l["control"], &l["canary"]);
            // serde_json prints the shortest round-trip form: exact f64 values.
            text.push_str(&format!(
                "{name},{},{},{},{},{},{},{}\n",
                l["look"], c[0], c[1], c[2], t[0], t[1], t[2]
            ));
        }
        want.push((name.to_string(), s["expected"].clone()));
    }
    std::fs::write(&csv, text).unwrap();
    let (code, out, err) = mlops(&[
        "judge",
        "--looks",
        csv.to_str().unwrap(),
        "--metric",
        "mean",
        "--lower-is-better",
        "--tau",
        "0.1",
        "--margin",
        "0.02",
        "--json",
    ]);
    assert_eq!(code, 1, "latency_worse is rolled back: {err}");
    let got: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, (name, w)) in got.iter().zip(&want) {
        assert_eq!(g["stream"], name.as_str());
        assert_eq!(g["decision"], w["decision"], "{name}");
        assert_eq!(g["look"], w["look"], "{name}");
        close(&g["p_value"], &w["p_value"], name);
        close(&g["ci"][0], &w["ci"][0], name);
    }
}
