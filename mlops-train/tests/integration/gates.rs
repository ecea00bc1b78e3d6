//! Gates: policies as JSON, paired tests against a champion, composition, exit codes.

use mlops_train::{ContractOutcome, Evaluation, Gate};

fn eval(y: &[bool], score: &[f64]) -> Evaluation {
    Evaluation::binary_scores(y, score, None).unwrap()
}

/// 400 rows; `noise` flips the score of every n-th row to a wrong-side value.
fn scored(noise_every: usize) -> (Vec<bool>, Vec<f64>) {
    let y: Vec<bool> = (0..400).map(|i| (i * 7919) % 13 < 6).collect();
    let s: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let base = if t { 0.65 } else { 0.35 } + ((i * 31) % 17) as f64 / 100.0 - 0.08;
            if noise_every > 0 && i % noise_every == 0 {
                1.0 - base
            } else {
                base
            }
        })
        .collect();
    (y, s)
}

const POLICY: &str = r#"{
  "gate": "all",
  "gates": [
    {"gate": "threshold", "metric": "accuracy_score", "min": 0.6},
    {"gate": "no_regression", "metric": "roc_auc_score", "test": "delong", "tolerance": 0.0},
    {"gate": "no_regression", "metric": "accuracy_score", "test": "mcnemar"},
    {"gate": "no_regression", "metric": "log_loss", "test": "bootstrap", "resamples": 300, "seed": 1, "tolerance": 0.01}
  ]
}"#;

#[test]
fn a_clearly_worse_candidate_fails_a_similar_one_passes() {
    let gate = Gate::from_json(POLICY).unwrap();
    let (y, good) = scored(20);
    let (_, bad) = scored(3);
    let champion = eval(&y, &good);
    let worse = eval(&y, &bad);
    let r = gate.check(&worse, Some(&champion));
    println!("{r}");
    assert!(!r.passed);
    assert_eq!(r.exit_code(), 1);
    // All three paired tests reject.
    let failed: Vec<&str> = r
        .outcome
        .children
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.gate.as_str())
        .collect();
    assert!(failed.iter().any(|g| g.contains("delong")), "{failed:?}");
    assert!(failed.iter().any(|g| g.contains("mcnemar")), "{failed:?}");
    assert!(failed.iter().any(|g| g.contains("bootstrap")), "{failed:?}");

    let (_, similar) = scored(19);
    let r = gate.check(&eval(&y, &similar), Some(&champion));
    println!("{r}");
    assert!(r.passed, "{r}");
    assert_eq!(r.exit_code(), 0);
    // The report round-trips through JSON and carries the test numbers.
    let json = serde_json::to_string(&r).unwrap();
    let back: mlops_train::GateReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    assert!(json.contains("pvalue"));
}

#[test]
fn no_champion_passes_regression_gates_and_threshold_still_applies() {
    let gate = Gate::from_json(POLICY).unwrap();
    let (y, s) = scored(20);
    assert!(gate.check(&eval(&y, &s), None).passed);
    let (_, awful) = scored(1);
    assert!(!gate.check(&eval(&y, &awful), None).passed);
}

#[test]
fn different_rows_are_refused_for_paired_tests() {
    let g = Gate::from_json(r#"{"gate":"no_regression","metric":"roc_auc_score","test":"delong"}"#)
        .unwrap();
    let (y, s) = scored(20);
    let mut y2 = y.clone();
    y2[0] = !y2[0];
    let r = g.check(&eval(&y, &s), Some(&eval(&y2, &s)));
    assert!(!r.passed);
    assert!(
        r.outcome.reason.contains("same rows"),
        "{}",
        r.outcome.reason
    );
    // Without per-row data: fails closed with a reason.
    let r = g.check(
        &eval(&y, &s).without_rows(),
        Some(&eval(&y, &s).without_rows()),
    );
    assert!(!r.passed && r.outcome.reason.contains("per-row"));
}

#[test]
fn fairness_contract_size_latency_and_any() {
    let y = [true, false, true, false, true, false];
    let p = [true, false, true, true, false, false];
    let groups: Vec<String> = ["a", "a", "a", "b", "b", "b"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut e = Evaluation::binary_labels(&y, &p)
        .unwrap()
        .with_groups(&groups)
        .unwrap();
    let fair = Gate::Fairness {
        max_demographic_parity_difference: Some(0.1),
        max_equal_opportunity_difference: None,
    };
    // a: selection 2/3, b: 1/3 -> difference 1/3 > 0.1; true positive rates 1 and 0
    assert!(!fair.check(&e, None).passed);
    let loose = Gate::Fairness {
        max_demographic_parity_difference: Some(0.5),
        max_equal_opportunity_difference: Some(1.0),
    };
    assert!(loose.check(&e, None).passed);

    assert!(
        !Gate::ContractPassed.check(&e, None).passed,
        "missing outcome fails closed"
    );
    e.contract = Some(ContractOutcome {
        passed: false,
        failures: vec!["alcohol: 3 nulls".into()],
    });
    let r = Gate::ContractPassed.check(&e, None);
    assert!(!r.passed && r.outcome.reason.contains("alcohol"));
    e.contract = Some(ContractOutcome {
        passed: true,
        failures: vec![],
    });
    assert!(Gate::ContractPassed.check(&e, None).passed);

    assert!(
        !Gate::ModelSize { max_bytes: 10 }.check(&e, None).passed,
        "unmeasured fails closed"
    );
    e.model.size_bytes = Some(2_000);
    e.model.latency_p99_ms = Some(3.0);
    assert!(Gate::ModelSize { max_bytes: 10_000 }.check(&e, None).passed);
    assert!(!Gate::ModelSize { max_bytes: 1_000 }.check(&e, None).passed);
    assert!(!Gate::Latency { max_p99_ms: 1.0 }.check(&e, None).passed);
    let any = Gate::Any {
        gates: vec![
            Gate::Latency { max_p99_ms: 1.0 },
            Gate::ModelSize { max_bytes: 10_000 },
        ],
    };
    let r = any.check(&e, None);
    assert!(r.passed);
    assert!(r.to_string().contains("1 of 2 passed"), "{r}");
    // Group metrics are addressable by thresholds.
    let t = Gate::Threshold {
        metric: "groups.b.recall_score".into(),
        min: Some(0.9),
        max: None,
    };
    assert!(!t.check(&e, None).passed);
}

#[test]
fn malformed_policies_are_errors() {
    assert!(Gate::from_json(r#"{"gate":"threshold"}"#).is_err());
    assert!(Gate::from_json(r#"{"gate":"nonsense"}"#).is_err());
    assert!(Gate::from_json("[").is_err());
}

proptest::proptest! {
    /// Any candidate and champion (any sizes, ties, one class, mismatched rows) give a
    /// report, never a panic.
    #[test]
    fn gates_never_panic(
        a in proptest::collection::vec((proptest::bool::ANY, 0.0f64..=1.0), 1..40),
        b in proptest::collection::vec((proptest::bool::ANY, 0.0f64..=1.0), 1..40),
    ) {
        let ea = eval(&a.iter().map(|r| r.0).collect::<Vec<_>>(), &a.iter().map(|r| r.1).collect::<Vec<_>>());
        let eb = eval(&b.iter().map(|r| r.0).collect::<Vec<_>>(), &b.iter().map(|r| r.1).collect::<Vec<_>>());
        let gate = Gate::from_json(POLICY).unwrap();
        let r = gate.check(&ea, Some(&eb));
        proptest::prop_assert!(r.exit_code() <= 1);
        let r = gate.check(&ea, Some(&ea));
        // Against itself a candidate is never "significantly worse" (tests may still
        // fail closed where they cannot run, e.g. DeLong with one positive row).
        proptest::prop_assert!(r.outcome.children.iter().skip(1).all(|c| !c.reason.contains("significantly worse")), "{}", r);
    }
}

#[test]
fn bootstrap_works_for_multiclass_probabilities() {
    let k = 3;
    let y: Vec<usize> = (0..300).map(|i| (i * 7) % k).collect();
    let proba = |noise: f64| {
        let mut p = ndarray::Array2::<f64>::zeros((y.len(), k));
        for (i, &t) in y.iter().enumerate() {
            let wrong = ((i * 13) % 10) as f64 / 10.0 < noise;
            let hot = if wrong { (t + 1) % k } else { t };
            for c in 0..k {
                p[[i, c]] = if c == hot { 0.8 } else { 0.1 };
            }
        }
        p
    };
    let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let ev = |p: &ndarray::Array2<f64>| {
        let pred: Vec<usize> = p
            .rows()
            .into_iter()
            .map(|r| {
                if r[0] >= r[1] && r[0] >= r[2] {
                    0
                } else if r[1] >= r[2] {
                    1
                } else {
                    2
                }
            })
            .collect();
        Evaluation::classification(&y, &pred, Some(p.view()), &classes).unwrap()
    };
    let (good, bad) = (ev(&proba(0.1)), ev(&proba(0.5)));
    for metric in ["log_loss", "roc_auc_score", "f1_score_macro"] {
        let g = Gate::NoRegression {
            metric: metric.into(),
            tolerance: 0.0,
            alpha: 0.05,
            test: mlops_train::RegressionTest::Bootstrap {
                resamples: 200,
                seed: 3,
            },
        };
        assert!(
            !g.check(&bad, Some(&good)).passed,
            "{metric}: {}",
            g.check(&bad, Some(&good))
        );
        assert!(g.check(&good, Some(&bad)).passed, "{metric}");
    }
}

#[test]
fn a_policy_built_in_code_equals_the_parsed_one() {
    use mlops_train::RegressionTest;
    let built = Gate::all([
        Gate::at_least("accuracy_score", 0.6).unwrap(),
        Gate::no_regression("roc_auc_score", RegressionTest::Delong, 0.05).unwrap(),
        Gate::no_regression("accuracy_score", RegressionTest::Mcnemar, 0.05).unwrap(),
        Gate::no_regression("log_loss", RegressionTest::bootstrap(300, 1), 0.05)
            .unwrap()
            .with_tolerance(0.01)
            .unwrap(),
    ]);
    assert_eq!(built, Gate::from_json(POLICY).unwrap());
}

#[test]
fn bad_policies_are_errors_when_built_not_when_run() {
    use mlops_train::RegressionTest;
    let msg = |r: mlops_train::Result<Gate>| r.unwrap_err().to_string();
    // An unknown metric name, in code and in JSON.
    assert!(msg(Gate::at_least("roc_auc", 0.7)).contains("unknown metric \"roc_auc\""));
    assert!(Gate::from_json(r#"{"gate":"threshold","metric":"acuracy_score","min":0.5}"#).is_err());
    // A test that does not fit its metric.
    assert!(
        msg(Gate::no_regression(
            "accuracy_score",
            RegressionTest::Delong,
            0.05
        ))
        .contains("delong test does not apply to accuracy_score")
    );
    assert!(Gate::no_regression("roc_auc_score", RegressionTest::Mcnemar, 0.05).is_err());
    // Group metrics are thresholds only; a paired test needs a whole-evaluation metric.
    assert!(Gate::at_least("groups.b.recall_score", 0.5).is_ok());
    assert!(Gate::at_least("groups.b.selection_rate", 0.5).is_ok());
    assert!(
        Gate::no_regression(
            "groups.b.recall_score",
            RegressionTest::bootstrap(10, 0),
            0.05
        )
        .is_err()
    );
    // Alphas, tolerances, bounds and limits.
    assert!(Gate::no_regression("roc_auc_score", RegressionTest::Delong, 1.5).is_err());
    assert!(Gate::no_regression("roc_auc_score", RegressionTest::Delong, 0.0).is_err());
    assert!(
        Gate::no_regression("roc_auc_score", RegressionTest::Delong, 0.05)
            .unwrap()
            .with_tolerance(-0.1)
            .is_err()
    );
    assert!(Gate::contract_passed().with_tolerance(0.1).is_err());
    assert!(Gate::between("accuracy_score", 0.9, 0.1).is_err());
    assert!(Gate::at_least("accuracy_score", f64::NAN).is_err());
    assert!(Gate::max_latency_p99_ms(0.0).is_err());
    assert!(Gate::from_json(r#"{"gate":"fairness"}"#).is_err());
    assert!(Gate::from_json(r#"{"gate":"threshold","metric":"accuracy_score"}"#).is_err());
    // Nested gates are checked too, and the error names the gate.
    let nested =
        r#"{"gate":"any","gates":[{"gate":"no_regression","metric":"f1","test":"mcnemar"}]}"#;
    let e = Gate::from_json(nested).unwrap_err().to_string();
    assert!(
        e.contains("gate no_regression") && e.contains("\"f1\""),
        "{e}"
    );
}

#[test]
fn a_validation_report_becomes_the_contract_outcome() {
    use mlops_data::{ColumnCheck, ColumnSpec, Contract};
    use polars::prelude::*;
    let df = df!("x" => [1.0, -1.0, 3.0]).unwrap();
    let contract = Contract {
        columns: vec![
            ColumnSpec::new("x").check(ColumnCheck::range(Some(0.0), None)),
            ColumnSpec::new("y"),
        ],
        ..Contract::default()
    };
    let report = contract.validate(&df).unwrap();
    let outcome = ContractOutcome::from(&report);
    assert!(!outcome.passed);
    assert_eq!(outcome.failures.len(), report.failures.len());
    assert!(
        outcome.failures.iter().any(|f| f.starts_with("x: ")),
        "{outcome:?}"
    );
    assert!(
        outcome.failures.iter().any(|f| f.starts_with("y: ")),
        "{outcome:?}"
    );
    let e = Evaluation::binary_labels(&[true, false], &[true, true])
        .unwrap()
        .with_contract(&report);
    assert!(!Gate::contract_passed().check(&e, None).passed);
}
