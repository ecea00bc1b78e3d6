//! Metrics, statistical tests and fairness against scikit-learn / SciPy reference values
//! (`tests/data/metrics_vectors.json`, from `scripts/vectors/train_vectors.py`).

use mlops_train::metrics::{self as m, Average};
use mlops_train::{Evaluation, stats};
use ndarray::Array2;
use proptest::prelude::*;
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("../data/metrics_vectors.json");
    serde_json::from_str(text).unwrap()
}

fn ints(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}
fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
fn bools(v: &Value) -> Vec<bool> {
    ints(v).into_iter().map(|x| x == 1).collect()
}
fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = v.as_array().unwrap().iter().map(floats).collect();
    let k = rows[0].len();
    Array2::from_shape_vec((rows.len(), k), rows.concat()).unwrap()
}

/// Compares a result with an expected JSON value: a number (1e-9 relative), "nan", or
/// {"error": ...}.
fn check(case: &str, metric: &str, got: mlops_train::Result<f64>, want: &Value) {
    let ctx = format!("{case} / {metric}");
    match want {
        Value::Object(o) if o.contains_key("error") => {
            assert!(got.is_err(), "{ctx}: expected an error, got {got:?}");
        }
        Value::String(s) if s == "nan" => {
            let g = got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert!(g.is_nan(), "{ctx}: expected nan, got {g}");
        }
        _ => {
            let w = want.as_f64().unwrap();
            let g = got.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            close(&ctx, g, w);
        }
    }
}

fn close(ctx: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol || (got == want),
        "{ctx}: got {got:e}, want {want:e}"
    );
}

#[test]
fn binary_metrics_match_sklearn() {
    let v = vectors();
    let cases = v["binary"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let yt = ints(&c["y_true"]);
        let yp = ints(&c["y_pred"]);
        let s = floats(&c["y_score"]);
        let bt = bools(&c["y_true"]);
        let e = &c["expected"];
        check(
            name,
            "accuracy",
            m::accuracy(&yt, &yp),
            &e["accuracy_score"],
        );
        check(
            name,
            "balanced",
            m::balanced_accuracy(&yt, &yp),
            &e["balanced_accuracy_score"],
        );
        check(
            name,
            "precision",
            m::precision(&yt, &yp, Average::Binary),
            &e["precision_score"],
        );
        check(
            name,
            "recall",
            m::recall(&yt, &yp, Average::Binary),
            &e["recall_score"],
        );
        check(name, "f1", m::f1(&yt, &yp, Average::Binary), &e["f1_score"]);
        check(
            name,
            "f1 macro",
            m::f1(&yt, &yp, Average::Macro),
            &e["f1_score_macro"],
        );
        check(
            name,
            "f1 weighted",
            m::f1(&yt, &yp, Average::Weighted),
            &e["f1_score_weighted"],
        );
        check(
            name,
            "precision macro",
            m::precision(&yt, &yp, Average::Macro),
            &e["precision_score_macro"],
        );
        check(
            name,
            "recall macro",
            m::recall(&yt, &yp, Average::Macro),
            &e["recall_score_macro"],
        );
        check(
            name,
            "precision weighted",
            m::precision(&yt, &yp, Average::Weighted),
            &e["precision_score_weighted"],
        );
        check(
            name,
            "recall weighted",
            m::recall(&yt, &yp, Average::Weighted),
            &e["recall_score_weighted"],
        );
        check(name, "roc_auc", m::roc_auc(&bt, &s), &e["roc_auc_score"]);
        check(
            name,
            "average_precision",
            m::average_precision(&bt, &s),
            &e["average_precision_score"],
        );
        check(
            name,
            "log_loss",
            m::log_loss_binary(&bt, &s),
            &e["log_loss"],
        );
        check(
            name,
            "brier",
            m::brier_score(&bt, &s),
            &e["brier_score_loss"],
        );
        check(
            name,
            "mcc",
            m::matthews_corrcoef(&yt, &yp),
            &e["matthews_corrcoef"],
        );
        let cm = m::confusion_matrix(&yt, &yp, 2).unwrap();
        let want_cm: Vec<Vec<u64>> = serde_json::from_value(e["confusion_matrix"].clone()).unwrap();
        assert_eq!(cm.matrix, want_cm, "{name}: confusion matrix");
        let cal = m::calibration_table(&bt, &s, 10).unwrap();
        let want_true = floats(&e["calibration_curve"][0]);
        let want_pred = floats(&e["calibration_curve"][1]);
        assert_eq!(cal.len(), want_true.len(), "{name}: calibration bins");
        for (i, b) in cal.iter().enumerate() {
            close(
                &format!("{name} cal true {i}"),
                b.fraction_positive,
                want_true[i],
            );
            close(
                &format!("{name} cal pred {i}"),
                b.mean_predicted,
                want_pred[i],
            );
        }
        // The evaluation carries the same numbers under sklearn's names.
        let ev = Evaluation::binary_scores(&bt, &s, None).unwrap();
        for key in [
            "accuracy_score",
            "f1_score",
            "roc_auc_score",
            "log_loss",
            "matthews_corrcoef",
        ] {
            match ev.metric(key) {
                Some(g) => close(
                    &format!("{name} evaluation {key}"),
                    g,
                    e[key].as_f64().unwrap(),
                ),
                None => assert_eq!(e[key], "nan", "{name}: {key} left out but defined"),
            }
        }
    }
}

#[test]
fn multiclass_metrics_match_sklearn() {
    let v = vectors();
    for c in v["multiclass"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let k = c["n_classes"].as_u64().unwrap() as usize;
        let yt = ints(&c["y_true"]);
        let yp = ints(&c["y_pred"]);
        let p = matrix(&c["y_proba"]);
        let e = &c["expected"];
        check(
            name,
            "accuracy",
            m::accuracy(&yt, &yp),
            &e["accuracy_score"],
        );
        check(
            name,
            "balanced",
            m::balanced_accuracy(&yt, &yp),
            &e["balanced_accuracy_score"],
        );
        for (avg, s) in [(Average::Macro, "macro"), (Average::Weighted, "weighted")] {
            check(
                name,
                s,
                m::precision(&yt, &yp, avg),
                &e[format!("precision_score_{s}")],
            );
            check(
                name,
                s,
                m::recall(&yt, &yp, avg),
                &e[format!("recall_score_{s}")],
            );
            check(name, s, m::f1(&yt, &yp, avg), &e[format!("f1_score_{s}")]);
        }
        check(
            name,
            "mcc",
            m::matthews_corrcoef(&yt, &yp),
            &e["matthews_corrcoef"],
        );
        check(name, "log_loss", m::log_loss(&yt, p.view()), &e["log_loss"]);
        check(
            name,
            "auc ovr",
            m::roc_auc_ovr_macro(&yt, p.view()),
            &e["roc_auc_score_ovr_macro"],
        );
        let cm = m::confusion_matrix(&yt, &yp, k).unwrap();
        let want_cm: Vec<Vec<u64>> = serde_json::from_value(e["confusion_matrix"].clone()).unwrap();
        assert_eq!(cm.matrix, want_cm, "{name}");
    }
}

#[test]
fn regression_metrics_match_sklearn() {
    let v = vectors();
    for c in v["regression"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let yt = floats(&c["y_true"]);
        let yp = floats(&c["y_pred"]);
        let e = &c["expected"];
        check(
            name,
            "rmse",
            m::rmse(&yt, &yp),
            &e["root_mean_squared_error"],
        );
        check(name, "mae", m::mae(&yt, &yp), &e["mean_absolute_error"]);
        check(name, "r2", m::r2(&yt, &yp), &e["r2_score"]);
        check(
            name,
            "mape",
            m::mape(&yt, &yp),
            &e["mean_absolute_percentage_error"],
        );
    }
}

#[test]
fn fairness_and_slices_match_reference() {
    let v = vectors();
    for c in v["fairness"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let yt = bools(&c["y_true"]);
        let yp = bools(&c["y_pred"]);
        let groups: Vec<String> = c["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap().to_string())
            .collect();
        let e = &c["expected"];
        let ev = Evaluation::binary_labels(&yt, &yp)
            .unwrap()
            .with_groups(&groups)
            .unwrap();
        let f = ev.fairness.as_ref().unwrap();
        close(
            name,
            f.demographic_parity_difference,
            e["demographic_parity_difference"].as_f64().unwrap(),
        );
        close(
            name,
            f.equal_opportunity_difference,
            e["equal_opportunity_difference"].as_f64().unwrap(),
        );
        for (g, want) in e["by_group"].as_object().unwrap() {
            let gm = &ev.groups[g];
            assert_eq!(gm.rows, want["count"].as_u64().unwrap());
            for (ours, theirs) in [
                ("selection_rate", "selection_rate"),
                ("true_positive_rate", "true_positive_rate"),
                ("precision_score", "precision_score"),
                ("recall_score", "recall_score"),
                ("accuracy_score", "accuracy_score"),
            ] {
                close(
                    &format!("{name} {g} {ours}"),
                    gm.metrics[ours],
                    want[theirs].as_f64().unwrap(),
                );
            }
        }
    }
}

#[test]
fn mcnemar_matches_statsmodels_formulas() {
    let v = vectors();
    for c in v["mcnemar"].as_array().unwrap() {
        let (b, cc) = (c["b"].as_u64().unwrap(), c["c"].as_u64().unwrap());
        let t = stats::mcnemar(b, cc);
        let name = format!("mcnemar {b}/{cc}");
        check(&name, "exact", Ok(t.exact_pvalue), &c["exact_pvalue"]);
        check(&name, "chi2", Ok(t.chi2_statistic), &c["chi2_statistic"]);
        check(&name, "chi2 p", Ok(t.chi2_pvalue), &c["chi2_pvalue"]);
    }
}

#[test]
fn delong_matches_reference_implementation() {
    let v = vectors();
    for c in v["delong"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let yt = bools(&c["y_true"]);
        let a = floats(&c["score_a"]);
        let b = floats(&c["score_b"]);
        let e = &c["expected"];
        let d = stats::delong(&yt, &a, &b).unwrap();
        close(name, d.auc_a, e["auc1"].as_f64().unwrap());
        close(name, d.auc_b, e["auc2"].as_f64().unwrap());
        close(name, d.auc_a, e["sklearn_auc1"].as_f64().unwrap());
        close(name, d.var_a, e["var1"].as_f64().unwrap());
        close(name, d.var_b, e["var2"].as_f64().unwrap());
        close(name, d.cov_ab, e["cov12"].as_f64().unwrap());
        close(name, d.z, e["z"].as_f64().unwrap());
        close(name, d.pvalue, e["pvalue"].as_f64().unwrap());
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    assert!(m::accuracy(&[], &[]).is_err());
    assert!(m::accuracy(&[0, 1], &[0]).is_err());
    assert!(m::roc_auc(&[true, false], &[f64::NAN, 0.2]).is_err());
    assert!(m::log_loss_binary(&[true], &[1.5]).is_err());
    assert!(m::brier_score(&[true], &[-0.1]).is_err());
    assert!(m::precision(&[0, 2], &[0, 1], Average::Binary).is_err());
    assert!(m::confusion_matrix(&[0, 3], &[0, 1], 2).is_err());
    assert!(stats::delong(&[true, false], &[0.1, 0.2], &[0.3, 0.4]).is_err());
}

#[test]
fn bootstrap_is_seeded_and_brackets_the_estimate() {
    let y: Vec<f64> = (0..200).map(|i| f64::from(i % 2)).collect();
    let diff = |idx: &[usize]| idx.iter().map(|&i| y[i]).sum::<f64>() / idx.len() as f64 - 0.5;
    let a = stats::paired_bootstrap(200, 500, 0.95, 7, diff).unwrap();
    let b = stats::paired_bootstrap(200, 500, 0.95, 7, diff).unwrap();
    assert_eq!(a, b);
    assert!(a.lower <= a.estimate && a.estimate <= a.upper, "{a:?}");
    assert!(a.lower < 0.0 && a.upper > 0.0);
}

proptest! {
    #[test]
    fn classification_metrics_stay_in_bounds(
        rows in proptest::collection::vec((0usize..3, 0usize..3, 0.0f64..=1.0), 1..60)
    ) {
        let yt: Vec<usize> = rows.iter().map(|r| r.0).collect();
        let yp: Vec<usize> = rows.iter().map(|r| r.1).collect();
        let s: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let bt: Vec<bool> = yt.iter().map(|&y| y == 1).collect();
        for avg in [Average::Macro, Average::Weighted] {
            for v in [m::precision(&yt, &yp, avg), m::recall(&yt, &yp, avg), m::f1(&yt, &yp, avg)] {
                let v = v.unwrap();
                prop_assert!((0.0..=1.0).contains(&v));
            }
        }
        let acc = m::accuracy(&yt, &yp).unwrap();
        prop_assert!((0.0..=1.0).contains(&acc));
        let bal = m::balanced_accuracy(&yt, &yp).unwrap();
        prop_assert!((0.0..=1.0).contains(&bal));
        let mcc = m::matthews_corrcoef(&yt, &yp).unwrap();
        prop_assert!((-1.0 - 1e-12..=1.0 + 1e-12).contains(&mcc));
        let auc = m::roc_auc(&bt, &s).unwrap();
        prop_assert!(auc.is_nan() || (0.0..=1.0).contains(&auc));
        let ap = m::average_precision(&bt, &s).unwrap();
        prop_assert!((0.0..=1.0 + 1e-12).contains(&ap));
        let ll = m::log_loss_binary(&bt, &s).unwrap();
        prop_assert!(ll >= 0.0 && ll.is_finite());
        let br = m::brier_score(&bt, &s).unwrap();
        prop_assert!((0.0..=1.0).contains(&br));
        let cal = m::calibration_table(&bt, &s, 10).unwrap();
        prop_assert_eq!(cal.iter().map(|b| b.count).sum::<u64>(), s.len() as u64);
    }

    #[test]
    fn regression_metrics_never_panic(
        rows in proptest::collection::vec((-1e6f64..1e6, -1e6f64..1e6), 0..40)
    ) {
        let yt: Vec<f64> = rows.iter().map(|r| r.0).collect();
        let yp: Vec<f64> = rows.iter().map(|r| r.1).collect();
        for r in [m::rmse(&yt, &yp), m::mae(&yt, &yp), m::mape(&yt, &yp)] {
            match r {
                Ok(v) => prop_assert!(v >= 0.0),
                Err(_) => prop_assert!(yt.is_empty()),
            }
        }
        if let Ok(r2) = m::r2(&yt, &yp) {
            prop_assert!(r2.is_nan() || r2 <= 1.0);
        }
    }

    #[test]
    fn arbitrary_floats_never_panic(xs in proptest::collection::vec(any::<f64>(), 1..20)) {
        let t: Vec<bool> = xs.iter().enumerate().map(|(i, _)| i % 2 == 0).collect();
        let _ = m::roc_auc(&t, &xs);
        let _ = m::average_precision(&t, &xs);
        let _ = m::log_loss_binary(&t, &xs);
        let _ = m::brier_score(&t, &xs);
        let _ = m::calibration_table(&t, &xs, 5);
        let _ = m::r2(&xs, &xs);
        let _ = Evaluation::binary_scores(&t, &xs, None);
    }
}
