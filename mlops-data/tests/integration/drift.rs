//! Drift statistics against SciPy/Evidently test vectors, report behaviour, renders.

use mlops_data::drift::{self, ColumnType, DriftConfig, Method, stats};
use polars::prelude::*;
use serde_json::Value;

const VECTORS: &str = include_str!("../data/drift_vectors.json");
const RTOL: f64 = 1e-9;

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

fn close(ours: f64, want: f64, what: &str, failures: &mut Vec<String>) {
    let ok = if want.is_nan() {
        ours.is_nan()
    } else if want.is_infinite() {
        ours == want
    } else {
        ours == want || (ours - want).abs() <= RTOL * want.abs().max(ours.abs())
    };
    if !ok {
        failures.push(format!(
            "{what}: ours {ours:e} vs scipy {want:e} (rel {:e})",
            ((ours - want) / want).abs()
        ));
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

fn counts(v: &Value) -> Vec<u64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("count"))
        .collect()
}

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors parse")
}

#[test]
fn numeric_statistics_match_scipy_and_evidently() {
    let v = vectors();
    let mut failures = Vec::new();
    for case in v["numeric"].as_array().expect("numeric") {
        let name = case["name"].as_str().expect("name");
        let r = floats(&case["reference"]);
        let c = floats(&case["current"]);
        let integer = case["integer"].as_bool().unwrap_or(false);
        let pair = |key: &str, res: mlops_data::drift::TestResult, failures: &mut Vec<String>| {
            if case.get(key).is_none() {
                return;
            }
            close(
                res.statistic,
                num(&case[key][0]),
                &format!("{name} {key} statistic"),
                failures,
            );
            let (ours, want) = (res.p_value.expect("p"), num(&case[key][1]));
            // SciPy's asymptotic Cramér–von Mises p-value is 1 - cdf, so SciPy itself
            // carries ~1e-16 absolute error there (a few ulps of the cdf near 1): for it
            // we accept 1e-9 relative or 5e-15 absolute.
            if key == "cramer_von_mises" && (ours - want).abs() <= 5e-15 {
                return;
            }
            close(ours, want, &format!("{name} {key} p"), failures);
        };
        pair("ks", stats::ks(&r, &c).expect("ks"), &mut failures);
        pair(
            "mannw",
            stats::mann_whitney_u(&r, &c).expect("mannw"),
            &mut failures,
        );
        if case.get("t_test").is_some() {
            pair("t_test", stats::t_test(&r, &c).expect("t"), &mut failures);
            pair(
                "cramer_von_mises",
                stats::cramer_von_mises(&r, &c).expect("cvm"),
                &mut failures,
            );
        }
        if case.get("anderson").is_some() {
            pair(
                "anderson",
                stats::anderson(&r, &c).expect("ad"),
                &mut failures,
            );
        }
        close(
            stats::wasserstein(&r, &c).expect("w").statistic,
            num(&case["wasserstein"]),
            &format!("{name} wasserstein"),
            &mut failures,
        );
        close(
            stats::wasserstein_distance(&r, &c).expect("w").statistic,
            num(&case["wasserstein_raw"]),
            &format!("{name} wasserstein_raw"),
            &mut failures,
        );
        close(
            stats::energy_distance(&r, &c).expect("ed").statistic,
            num(&case["energy_distance"]),
            &format!("{name} energy"),
            &mut failures,
        );
        close(
            stats::hellinger_numeric(&r, &c, integer)
                .expect("h")
                .statistic,
            num(&case["hellinger"]),
            &format!("{name} hellinger"),
            &mut failures,
        );
        let b = stats::bin_numeric(&r, &c, integer).expect("bins");
        let want_edges = &case["bins"]["edges"];
        match (&b.edges, want_edges.is_null()) {
            (Some(e), false) => {
                let we = floats(want_edges);
                assert_eq!(e.len(), we.len(), "{name} edge count");
                for (i, (x, y)) in e.iter().zip(&we).enumerate() {
                    close(*x, *y, &format!("{name} edge {i}"), &mut failures);
                }
            }
            (None, true) => {}
            _ => failures.push(format!("{name}: binning kind differs")),
        }
        let nr = r.len() as f64;
        let nc = c.len() as f64;
        for (i, (x, y)) in b
            .reference
            .iter()
            .zip(floats(&case["bins"]["reference"]))
            .enumerate()
        {
            close(
                *x as f64 / nr,
                y,
                &format!("{name} ref bin {i}"),
                &mut failures,
            );
        }
        for (i, (x, y)) in b
            .current
            .iter()
            .zip(floats(&case["bins"]["current"]))
            .enumerate()
        {
            close(
                *x as f64 / nc,
                y,
                &format!("{name} cur bin {i}"),
                &mut failures,
            );
        }
        close(
            stats::psi(&b.reference, &b.current).expect("psi").statistic,
            num(&case["psi"]),
            &format!("{name} psi"),
            &mut failures,
        );
        close(
            stats::kl_div(&b.reference, &b.current)
                .expect("kl")
                .statistic,
            num(&case["kl_div"]),
            &format!("{name} kl_div"),
            &mut failures,
        );
        close(
            stats::jensenshannon(&b.reference, &b.current)
                .expect("js")
                .statistic,
            num(&case["jensenshannon"]),
            &format!("{name} js"),
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn categorical_statistics_match_scipy_and_evidently() {
    let v = vectors();
    let mut failures = Vec::new();
    for case in v["categorical"].as_array().expect("categorical") {
        let name = case["name"].as_str().expect("name");
        let r = counts(&case["reference"]);
        let c = counts(&case["current"]);
        for (key, res) in [
            ("chisquare", stats::chisquare(&r, &c)),
            ("chi2_contingency", stats::chi2_contingency(&r, &c)),
            ("z", stats::z_test(&r, &c)),
        ] {
            let res = res.expect(key);
            close(
                res.statistic,
                num(&case[key][0]),
                &format!("{name} {key} statistic"),
                &mut failures,
            );
            close(
                res.p_value.expect("p"),
                num(&case[key][1]),
                &format!("{name} {key} p"),
                &mut failures,
            );
        }
        for (key, res) in [
            ("psi", stats::psi(&r, &c)),
            ("kl_div", stats::kl_div(&r, &c)),
            ("jensenshannon", stats::jensenshannon(&r, &c)),
            ("hellinger", stats::hellinger_categorical(&r, &c)),
            ("tvd", stats::tvd(&r, &c)),
        ] {
            close(
                res.expect(key).statistic,
                num(&case[key]),
                &format!("{name} {key}"),
                &mut failures,
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn kolmogorov_distribution_matches_scipy_kstwo() {
    let v = vectors();
    let mut failures = Vec::new();
    for row in v["kolmogorov_sf"].as_array().expect("kolmogorov") {
        let n = row[0].as_u64().expect("n");
        let x = num(&row[1]);
        close(
            drift::kolmogorov_sf(n, x),
            num(&row[2]),
            &format!("kstwo.sf({x}, {n})"),
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
