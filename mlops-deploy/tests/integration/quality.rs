//! Quality intervals against the committed reference values
//! (`scripts/vectors/monitor_vectors.py`: scikit-learn, SciPy).

use mlops_data::Profile;
use mlops_deploy::monitor::quality::{
    auc_delong, auc_interval, macro_interval, macro_precision_recall, wilson,
};
use mlops_deploy::{Labels, Monitor, MonitorConfig, Reference, WindowSpec};
use polars::prelude::*;
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

fn vectors() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/monitor_vectors.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ints(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn triple(v: &serde_json::Value) -> [f64; 3] {
    let a = v.as_array().unwrap();
    [0, 1, 2].map(|i| a[i].as_f64().unwrap())
}

#[test]
fn multiclass_macro_intervals_match_the_reference_vectors() {
    let v = vectors();
    let cases = v["multiclass"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for (i, c) in cases.iter().enumerate() {
        let (y, p) = (ints(&c["y_true"]), ints(&c["y_pred"]));
        let conf = c["confidence"].as_f64().unwrap();
        let (prec, rec) = macro_precision_recall(&y, &p, conf);
        for (name, e) in [("precision_macro", prec), ("recall_macro", rec)] {
            let r = triple(&c[name]);
            close(e.value, r[0], &format!("case {i} {name} vs sklearn"));
            close(e.lower.unwrap(), r[1], &format!("case {i} {name} lower"));
            close(e.upper.unwrap(), r[2], &format!("case {i} {name} upper"));
        }
    }
}

/// The whole path: a log of served rows and delayed labels through the monitor gives
/// the reference values for a 3- to 5-class model.
#[test]
fn monitor_reports_multiclass_quality_with_the_reference_intervals() {
    let v = vectors();
    for (i, c) in v["multiclass"].as_array().unwrap().iter().enumerate() {
        let (y, p) = (ints(&c["y_true"]), ints(&c["y_pred"]));
        let conf = c["confidence"].as_f64().unwrap();
        let n = y.len();
        let k = y.iter().chain(&p).max().unwrap() + 1;
        let classes: Vec<String> = (0..k).map(|c| format!("class-{c}")).collect();
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let train = df!("x" => &x).unwrap();
        let mut reference =
            Reference::from_profile(Profile::of_frame(&train).unwrap(), None).unwrap();
        reference.quality.classes = classes.clone();
        let ids: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let log = df!(
            "request_id" => &ids,
            "row" => vec![0u32; n],
            "status" => vec![200u32; n],
            "input.x" => &x,
            "prediction" => p.iter().map(|&c| classes[c].clone()).collect::<Vec<_>>(),
        )
        .unwrap();
        let mut labels = Labels::new();
        for (id, &t) in ids.iter().zip(&y) {
            labels.add(id, None, &classes[t]);
        }
        let mut m = Monitor::new(
            reference,
            MonitorConfig {
                window: WindowSpec::rows(n as u64),
                confidence: conf,
                ..MonitorConfig::default()
            },
        )
        .unwrap();
        m.add_labels(&labels);
        let w = m.push(&log).unwrap().pop().unwrap();
        let q = w.quality.unwrap();
        assert_eq!(q.labelled, n as u64);
        for name in ["precision_macro", "recall_macro", "accuracy"] {
            let e = q.metric(name).unwrap();
            let r = triple(&c[name]);
            close(e.estimate.value, r[0], &format!("case {i} {name}"));
            close(
                e.estimate.lower.unwrap(),
                r[1],
                &format!("case {i} {name} lower"),
            );
            close(
                e.estimate.upper.unwrap(),
                r[2],
                &format!("case {i} {name} upper"),
            );
        }
        assert_eq!(
            q.metric("precision_macro").unwrap().interval.as_deref(),
            Some("adjusted_wald")
        );
    }
}

/// Coverage of the macro interval on simulated confusion matrices (seeded): the
/// share of 95% intervals holding the true macro precision stays near 0.95 where a
/// plain Wald interval falls to ~0.6 (high precision, small windows).
#[test]
fn macro_interval_covers_the_true_macro_precision() {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let mut rng = SmallRng::seed_from_u64(14);
    for (k, n, acc) in [
        (3usize, 30usize, 0.97),
        (3, 60, 0.9),
        (4, 100, 0.95),
        (5, 200, 0.6),
    ] {
        // classes equally likely; a wrong prediction is uniform over the other classes,
        // so every class's true precision is `acc`
        let reps = 2_000;
        let mut covered = 0;
        for _ in 0..reps {
            let mut y = Vec::with_capacity(n);
            let mut p = Vec::with_capacity(n);
            for _ in 0..n {
                let t = rng.gen_range(0..k);
                let guess = if rng.r#gen::<f64>() < acc {
                    t
                } else {
                    (t + rng.gen_range(1..k)) % k
                };
                y.push(t);
                p.push(guess);
            }
            let (prec, _) = macro_precision_recall(&y, &p, 0.95);
            covered += usize::from(prec.lower.unwrap() <= acc && acc <= prec.upper.unwrap());
        }
        let share = covered as f64 / reps as f64;
        eprintln!("macro precision coverage: k {k} n {n} precision {acc}: {share}");
        assert!(
            (0.925..=0.99).contains(&share),
            "k {k} n {n} precision {acc}: coverage {share}"
        );
    }
}

proptest! {
    #[test]
    fn macro_interval_is_ordered_and_inside_the_unit_interval(
        cells in proptest::collection::vec((0u64..200, 0u64..200), 1..8),
        conf in 0.5f64..0.999,
    ) {
        let x: Vec<u64> = cells.iter().map(|(a, b)| (*a).min(*b)).collect();
        let n: Vec<u64> = cells.iter().map(|(a, b)| (*a).max(*b)).collect();
        let e = macro_interval(&x, &n, conf);
        let (lo, hi) = (e.lower.unwrap(), e.upper.unwrap());
        prop_assert!((0.0..=1.0).contains(&lo) && lo <= hi && hi <= 1.0);
        prop_assert!((0.0..=1.0).contains(&e.value));
        // more data, same proportions: a narrower interval
        let x10: Vec<u64> = x.iter().map(|v| v * 10).collect();
        let n10: Vec<u64> = n.iter().map(|v| v * 10).collect();
        let e10 = macro_interval(&x10, &n10, conf);
        prop_assert!(e10.upper.unwrap() - e10.lower.unwrap() <= hi - lo + 1e-12);
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
