//! Quality intervals against the committed reference values
//! (`scripts/vectors/monitor_vectors.py`: scikit-learn, SciPy).

use mlops_deploy::monitor::quality::{auc_delong, auc_interval, wilson};
use proptest::prelude::*;

fn close(a: f64, b: f64, what: &str) {
    let tol = 1e-9 * b.abs().max(1e-12);
    assert!((a - b).abs() <= tol.max(1e-15), "{what}: {a} vs {b}");
}

#[test]
fn intervals_match_the_reference_vectors() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/monitor_vectors.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for (i, c) in cases.iter().enumerate() {
        let f = |k: &str| -> Vec<f64> {
            c[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let y: Vec<bool> = f("y_true").iter().map(|&x| x == 1.0).collect();
        let p: Vec<bool> = f("y_pred").iter().map(|&x| x == 1.0).collect();
        let s = f("score");
        let conf = c["confidence"].as_f64().unwrap();
        let n = y.len() as u64;
        let correct = y.iter().zip(&p).filter(|(a, b)| a == b).count() as u64;
        let tp = y.iter().zip(&p).filter(|(a, b)| **a && **b).count() as u64;
        let pp = p.iter().filter(|b| **b).count() as u64;
        let ap = y.iter().filter(|b| **b).count() as u64;
        for (name, est) in [
            ("accuracy", wilson(correct, n, conf)),
            ("precision", wilson(tp, pp, conf)),
            ("recall", wilson(tp, ap, conf)),
        ] {
            let r = f(name);
            close(est.value, r[0], &format!("case {i} {name}"));
            close(
                est.value,
                c[&format!("{name}_sklearn")].as_f64().unwrap(),
                &format!("case {i} {name} vs sklearn"),
            );
            close(est.lower.unwrap(), r[1], &format!("case {i} {name} lower"));
            close(est.upper.unwrap(), r[2], &format!("case {i} {name} upper"));
        }
        let (auc, var) = auc_delong(&y, &s).unwrap();
        close(
            var,
            c["delong_variance"].as_f64().unwrap(),
            &format!("case {i} DeLong variance"),
        );
        let e = auc_interval(&y, &s, conf).unwrap();
        let r = f("roc_auc");
        close(auc, r[0], &format!("case {i} auc"));
        close(e.lower.unwrap(), r[1], &format!("case {i} auc lower"));
        close(e.upper.unwrap(), r[2], &format!("case {i} auc upper"));
    }
}

proptest! {
    #[test]
    fn wilson_interval_holds_the_estimate_and_shrinks_with_n(x in 0u64..500, extra in 0u64..500, conf in 0.5f64..0.999) {
        let n = x + extra + 1;
        let e = wilson(x, n, conf);
        let (lo, hi) = (e.lower.unwrap(), e.upper.unwrap());
        prop_assert!((0.0..=1.0).contains(&lo) && lo <= e.value + 1e-12 && e.value <= hi + 1e-12 && hi <= 1.0);
        let e10 = wilson(10 * x, 10 * n, conf);
        prop_assert!(e10.upper.unwrap() - e10.lower.unwrap() <= hi - lo + 1e-12);
    }

    #[test]
    fn auc_of_a_score_and_its_negation_sum_to_one(s in proptest::collection::vec(0.0f64..1.0, 4..60), seed in 0u64..1000) {
        let y: Vec<bool> = s.iter().enumerate().map(|(i, _)| (i as u64 * 7 + seed).is_multiple_of(3)).collect();
        prop_assume!(y.iter().any(|b| *b) && y.iter().any(|b| !*b));
        let neg: Vec<f64> = s.iter().map(|v| -v).collect();
        let (a, va) = auc_delong(&y, &s).unwrap();
        let (b, vb) = auc_delong(&y, &neg).unwrap();
        prop_assert!((a + b - 1.0).abs() < 1e-12);
        prop_assert!((va - vb).abs() < 1e-12);
    }
}
