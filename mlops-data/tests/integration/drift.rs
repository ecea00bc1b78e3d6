//! Drift statistics against SciPy/Evidently test vectors, report behaviour, renders.

use mlops_data::drift::{self, ColumnIssue, ColumnType, DriftConfig, DriftVerdict, Method, stats};
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
        let dtype = if case["integer"].as_bool().unwrap_or(false) {
            mlops_data::drift::NumericDtype::Integer
        } else {
            mlops_data::drift::NumericDtype::Float
        };
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
            stats::hellinger_numeric(&r, &c, dtype)
                .expect("h")
                .statistic,
            num(&case["hellinger"]),
            &format!("{name} hellinger"),
            &mut failures,
        );
        let b = stats::bin_numeric(&r, &c, dtype).expect("bins");
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

// ---------------------------------------------------------------------------
// Report

fn normal_like(n: usize, shift: f64, seed: u64) -> Vec<f64> {
    // deterministic, roughly normal values (sum of uniforms from an LCG)
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            let mut acc = 0.0;
            for _ in 0..4 {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                acc += (s >> 11) as f64 / (1u64 << 53) as f64;
            }
            (acc - 2.0) * 1.7 + shift
        })
        .collect()
}

fn labels(n: usize, skew: usize, seed: u64) -> Vec<String> {
    let v = normal_like(n, 0.0, seed);
    v.iter()
        .enumerate()
        .map(|(i, x)| {
            let k = if i % 10 < skew {
                0
            } else {
                ((x.abs() * 3.0) as usize) % 4
            };
            format!("cat{k}")
        })
        .collect()
}

fn frames(n_ref: usize, n_cur: usize) -> (DataFrame, DataFrame) {
    let reference = df!(
        "num" => normal_like(n_ref, 0.0, 1),
        "shifted" => normal_like(n_ref, 0.0, 2),
        "cat" => labels(n_ref, 0, 3),
        "few" => (0..n_ref as i64).map(|i| i % 3).collect::<Vec<_>>(),
    )
    .expect("frame");
    let mut cur_num = normal_like(n_cur, 0.0, 11);
    cur_num[0] = f64::NAN;
    cur_num[1] = f64::INFINITY;
    cur_num[2] = f64::NEG_INFINITY;
    let current = df!(
        "num" => cur_num,
        "shifted" => normal_like(n_cur, 1.5, 12),
        "cat" => labels(n_cur, 4, 13),
        "few" => (0..n_cur as i64).map(|i| i % 3).collect::<Vec<_>>(),
    )
    .expect("frame");
    (reference, current)
}

fn col<'a>(r: &'a drift::DriftReport, name: &str) -> &'a drift::ColumnDrift {
    r.columns
        .iter()
        .find(|c| c.column == name)
        .expect("column in report")
}

#[test]
fn default_methods_follow_evidently_rule() {
    let (reference, current) = frames(5000, 4000);
    let r = drift::drift_report(&reference, &current, &DriftConfig::default()).expect("report");
    assert_eq!(col(&r, "num").method, Some(Method::Wasserstein));
    assert_eq!(col(&r, "cat").method, Some(Method::JensenShannon));
    assert_eq!(
        col(&r, "few").column_type,
        ColumnType::Categorical,
        "int with <= 10 values is categorical"
    );
    assert_eq!(col(&r, "few").method, Some(Method::JensenShannon));
    assert!(col(&r, "shifted").drifted && col(&r, "cat").drifted);
    assert!(!col(&r, "num").drifted && !col(&r, "few").drifted);
    assert_eq!(r.n_tested, 4);
    assert_eq!(r.n_drifted, 2);
    assert_eq!(r.drift_share, 0.5);
    assert!(r.dataset_drift, "share 0.5 >= drift_share 0.5");
    // NaN and infinities dropped and counted
    assert_eq!(col(&r, "num").dropped_current, 3);
    assert_eq!(col(&r, "num").n_current, 3997);

    let (reference, current) = frames(800, 700);
    let r = drift::drift_report(&reference, &current, &DriftConfig::default()).expect("report");
    assert_eq!(col(&r, "num").method, Some(Method::Ks));
    assert_eq!(col(&r, "cat").method, Some(Method::ChiSquare));
    assert_eq!(col(&r, "few").method, Some(Method::ChiSquare));
    assert_eq!(col(&r, "num").threshold, Some(0.05));
}

#[test]
fn config_hierarchy_column_then_type_then_global() {
    let (reference, current) = frames(3000, 3000);
    let mut cfg = DriftConfig {
        method: Some(Method::Psi),
        num_method: Some(Method::Ks),
        threshold: Some(0.07),
        cat_threshold: Some(0.3),
        ..DriftConfig::default()
    };
    cfg.per_column_method.insert("num".into(), Method::Anderson);
    cfg.per_column_threshold.insert("num".into(), 0.2);
    cfg.drift_share = 0.9;
    let r = drift::drift_report(&reference, &current, &cfg).expect("report");
    assert_eq!(col(&r, "num").method, Some(Method::Anderson));
    assert_eq!(col(&r, "num").threshold, Some(0.2));
    assert_eq!(col(&r, "shifted").method, Some(Method::Ks));
    assert_eq!(col(&r, "shifted").threshold, Some(0.07));
    assert_eq!(col(&r, "cat").method, Some(Method::Psi));
    assert_eq!(col(&r, "cat").threshold, Some(0.3));
    assert!(!r.dataset_drift, "share below 0.9");
    // a numeric-only method on a categorical column is a per-column error
    let mut cfg = DriftConfig::default();
    cfg.per_column_method.insert("cat".into(), Method::Ks);
    let r = drift::drift_report(&reference, &current, &cfg).expect("report");
    assert!(
        col(&r, "cat")
            .error
            .as_deref()
            .unwrap_or("")
            .contains("categorical")
    );
    assert_eq!(r.n_tested, 3);
}

#[test]
fn empty_and_missing_columns_are_errors_not_crashes() {
    let reference =
        df!("a" => [1.0, 2.0, 3.0], "b" => [f64::NAN, f64::NAN, f64::NAN], "c" => [1.0, 2.0, 3.0])
            .expect("frame");
    let current = df!("a" => [1.5, 2.5, f64::INFINITY], "b" => [1.0, 2.0, 3.0]).expect("frame");
    let r = drift::drift_report(&reference, &current, &DriftConfig::default()).expect("report");
    assert!(col(&r, "a").error.is_none());
    assert_eq!(col(&r, "a").dropped_current, 1);
    assert!(
        col(&r, "b")
            .error
            .as_deref()
            .unwrap_or("")
            .contains("reference")
    );
    assert!(
        col(&r, "c")
            .error
            .as_deref()
            .unwrap_or("")
            .contains("missing")
    );
    assert_eq!(r.n_tested, 1);
    let text = r.to_table();
    assert!(text.contains("ERROR") && text.contains("error in b"));
    let json: Value = serde_json::from_str(&r.to_json().expect("json")).expect("valid json");
    assert_eq!(json["columns"].as_array().map(|a| a.len()), Some(3));
    // every method on tiny or constant data: a value or a typed error, never a panic
    let tiny = df!("x" => [1.0]).expect("frame");
    let constant = df!("x" => [2.0, 2.0, 2.0]).expect("frame");
    for m in Method::ALL {
        let cfg = DriftConfig {
            method: Some(m),
            ..DriftConfig::default()
        };
        drift::drift_report(&tiny, &constant, &cfg).expect("report");
        drift::drift_report(&constant, &constant, &cfg).expect("report");
    }
    // a column the config names but the reference lacks stops the report
    let cfg = DriftConfig {
        columns: Some(vec!["zzz".into()]),
        ..DriftConfig::default()
    };
    assert!(drift::drift_report(&reference, &current, &cfg).is_err());
}

/// Unusable columns are not a quiet pass: each says why (`issue`) and counts in the
/// verdict; a change that is itself drift makes it `Drift`, what stops the comparison
/// makes it `Error`.
#[test]
fn unusable_columns_count_in_the_verdict() {
    let n = 400;
    let x: Vec<f64> = (0..n).map(|i| (i % 37) as f64 / 3.0).collect();
    let k: Vec<i64> = (0..n).map(|i| (i % 3) as i64).collect();
    let reference = df!("x" => x.clone(), "k" => k.clone(), "y" => x.clone()).expect("frame");
    let same = reference.clone();
    let r = drift::drift_report(&reference, &same, &DriftConfig::default()).expect("report");
    assert_eq!(r.verdict, DriftVerdict::NoDrift);
    assert_eq!(r.verdict.exit_code(), 0);

    // A column renamed in the current data: drift, not a quiet pass.
    let renamed = df!("x" => x.clone(), "k" => k.clone(), "y_new" => x.clone()).expect("frame");
    let r = drift::drift_report(&reference, &renamed, &DriftConfig::default()).expect("report");
    assert_eq!(col(&r, "y").issue, Some(ColumnIssue::MissingInCurrent));
    assert!(!r.dataset_drift, "the drift share alone would pass it");
    assert_eq!(r.verdict, DriftVerdict::Drift);

    // A column all NaN in the current data: drift.
    let nan = df!("x" => x.clone(), "k" => k.clone(), "y" => vec![f64::NAN; n]).expect("frame");
    let r = drift::drift_report(&reference, &nan, &DriftConfig::default()).expect("report");
    assert_eq!(col(&r, "y").issue, Some(ColumnIssue::NoValuesInCurrent));
    assert_eq!(r.verdict, DriftVerdict::Drift);

    // Numbers arriving as text: compared as numbers when they parse ("1.0" is 1, so
    // the integer categories match), a type change when they do not.
    let as_text = |v: &[f64]| v.iter().map(|f| format!("{f:.1}")).collect::<Vec<_>>();
    let k_text: Vec<String> = k.iter().map(|i| format!("{i}.0")).collect();
    let text = df!("x" => as_text(&x), "k" => k_text, "y" => as_text(&x)).expect("frame");
    let r = drift::drift_report(&reference, &text, &DriftConfig::default()).expect("report");
    assert!(col(&r, "k").error.is_none(), "{:?}", col(&r, "k").error);
    assert!(!col(&r, "k").drifted, "\"1.0\" is the category 1");
    assert_eq!(r.verdict, DriftVerdict::NoDrift);
    let mut bad = as_text(&x);
    bad[7] = "n/a".into();
    let text = df!("x" => bad, "k" => k.clone(), "y" => x.clone()).expect("frame");
    let r = drift::drift_report(&reference, &text, &DriftConfig::default()).expect("report");
    assert_eq!(col(&r, "x").issue, Some(ColumnIssue::TypeChanged));
    assert!(col(&r, "x").error.as_deref().unwrap_or("").contains("n/a"));
    assert_eq!(r.verdict, DriftVerdict::Drift);

    // An empty current frame: nothing to compare, an error.
    let empty = reference.head(Some(0));
    let r = drift::drift_report(&reference, &empty, &DriftConfig::default()).expect("report");
    assert!(
        r.columns
            .iter()
            .all(|c| c.issue == Some(ColumnIssue::EmptyCurrent))
    );
    assert_eq!(r.verdict, DriftVerdict::Error);
    assert_eq!(r.verdict.exit_code(), 2);

    // A reference column without values: an error.
    let ref_nan = df!("x" => vec![f64::NAN; n], "k" => k).expect("frame");
    let r = drift::drift_report(&ref_nan, &same, &DriftConfig::default()).expect("report");
    assert_eq!(col(&r, "x").issue, Some(ColumnIssue::NoValuesInReference));
    assert_eq!(r.verdict, DriftVerdict::Error);
}

fn html_report() -> (String, usize) {
    let (reference, current) = frames(3000, 2500);
    let mut reference = reference;
    reference
        .with_column(Column::new("empty".into(), vec![f64::NAN; 3000]))
        .expect("column");
    let mut current = current;
    current
        .with_column(Column::new("empty".into(), vec![1.0; 2500]))
        .expect("column");
    let r = drift::drift_report(&reference, &current, &DriftConfig::default()).expect("report");
    (r.to_html("Drift <test> report"), r.columns.len())
}

#[test]
fn html_report_is_self_contained() {
    let (html, _) = html_report();
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "self-contained"
    );
}

#[test]
#[ignore = "needs chromium (scripts/test installs it)"]
fn html_report_renders_in_headless_chromium() {
    let (html, n) = html_report();
    let chromium = std::path::Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "/usr/bin/chromium is missing (scripts/test installs it)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).expect("write html");
    let profile = dir.path().join("profile");
    let base = |extra: &[String]| {
        let mut cmd = std::process::Command::new(chromium);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()));
        cmd.output().expect("run chromium")
    };
    let out = base(&["--dump-dom".to_string()]);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        dom.matches("class=\"drift-row\"").count(),
        n,
        "one summary row per column"
    );
    assert_eq!(
        dom.matches("class=\"drift-chart\"").count(),
        n,
        "one chart per column"
    );
    assert!(dom.contains("Drift &lt;test&gt; report"), "title escaped");
    let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("drift_report.png");
    let out = base(&[
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,1100".to_string(),
    ]);
    assert!(
        out.status.success(),
        "chromium screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.len() > 10_000 && png.starts_with(b"\x89PNG"),
        "a real PNG"
    );
    eprintln!("screenshot: {}", shot.display());
}

// ---------------------------------------------------------------------------
// Drift from profiles

#[test]
fn drift_from_profiles_stays_within_its_error_bound() {
    let (reference, current) = frames(60_000, 50_000);
    let rp = mlops_data::Profile::of_frame(&reference).expect("profile");
    // the current side profiled in two partitions and merged, as across machines
    let half = current.height() / 2;
    let cp = mlops_data::Profile::of_frame(&current.slice(0, half))
        .expect("profile")
        .merge(
            &mlops_data::Profile::of_frame(&current.slice(half as i64, current.height() - half))
                .expect("profile"),
        )
        .expect("merge");
    for num_method in [Method::Wasserstein, Method::Ks] {
        let cfg = DriftConfig {
            num_method: Some(num_method),
            ..DriftConfig::default()
        };
        let exact = drift::drift_report(&reference, &current, &cfg).expect("exact");
        let sketched = drift::drift_from_profiles(&rp, &cp, &cfg).expect("sketched");
        for name in ["num", "shifted"] {
            let (e, s) = (col(&exact, name), col(&sketched, name));
            assert_eq!(s.method, Some(num_method));
            let bound = s.error_bound.expect("bound");
            let (es, ss) = (e.statistic.expect("stat"), s.statistic.expect("stat"));
            assert!(
                (es - ss).abs() <= bound,
                "{name} {num_method}: exact {es} sketch {ss} bound {bound}"
            );
            assert!(bound < 0.05, "{name} {num_method}: bound {bound} is useful");
            assert_eq!(e.drifted, s.drifted, "{name} {num_method}: same verdict");
            assert_eq!((e.n_reference, e.n_current), (s.n_reference, s.n_current));
        }
        // categorical columns: the frequent-values summary is exact here, so is the score
        let (e, s) = (col(&exact, "cat"), col(&sketched, "cat"));
        assert_eq!(s.error_bound, Some(0.0));
        let (es, ss) = (e.statistic.expect("stat"), s.statistic.expect("stat"));
        assert!(
            (es - ss).abs() <= 1e-12 * es.abs().max(1e-300),
            "cat: exact {es} sketch {ss}"
        );
        assert_eq!(e.drifted, s.drifted);
    }
    // methods needing raw values are per-column errors, not panics
    let cfg = DriftConfig {
        num_method: Some(Method::Anderson),
        ..DriftConfig::default()
    };
    let r = drift::drift_from_profiles(&rp, &cp, &cfg).expect("report");
    assert!(
        col(&r, "num")
            .error
            .as_deref()
            .unwrap_or("")
            .contains("raw data")
    );
}

// ---------------------------------------------------------------------------
// Invariants

mod invariants {
    use mlops_data::drift::stats;
    use proptest::prelude::*;

    fn sample() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(
            prop_oneof![-1e6f64..1e6, (-5i32..5).prop_map(f64::from)],
            1..60,
        )
    }

    fn counts() -> impl Strategy<Value = (Vec<u64>, Vec<u64>)> {
        (1usize..8).prop_flat_map(|k| {
            (
                prop::collection::vec(0u64..50, k),
                prop::collection::vec(0u64..50, k),
            )
                .prop_filter("non-empty sides", |(a, b)| {
                    a.iter().sum::<u64>() > 0 && b.iter().sum::<u64>() > 0
                })
        })
    }

    proptest! {
        #[test]
        fn tests_give_probabilities_and_distances_are_symmetric(a in sample(), b in sample()) {
            let ks = stats::ks(&a, &b).unwrap();
            prop_assert!((0.0..=1.0).contains(&ks.statistic));
            prop_assert!((0.0..=1.0).contains(&ks.p_value.unwrap()));
            let ks_ba = stats::ks(&b, &a).unwrap();
            prop_assert_eq!(ks.statistic, ks_ba.statistic);
            let mw = stats::mann_whitney_u(&a, &b).unwrap();
            prop_assert!((0.0..=1.0).contains(&mw.p_value.unwrap()));
            let w = stats::wasserstein_distance(&a, &b).unwrap().statistic;
            let w_ba = stats::wasserstein_distance(&b, &a).unwrap().statistic;
            prop_assert!(w >= 0.0 && (w - w_ba).abs() <= 1e-9 * w.max(1.0));
            let e = stats::energy_distance(&a, &b).unwrap().statistic;
            prop_assert!(e >= 0.0);
            prop_assert_eq!(stats::ks(&a, &a).unwrap().statistic, 0.0);
            prop_assert_eq!(stats::wasserstein_distance(&a, &a).unwrap().statistic, 0.0);
        }

        #[test]
        fn binned_scores_are_in_range((r, c) in counts()) {
            let js = stats::jensenshannon(&r, &c).unwrap().statistic;
            prop_assert!((0.0..=std::f64::consts::LN_2.sqrt() + 1e-12).contains(&js));
            prop_assert!(stats::psi(&r, &c).unwrap().statistic >= -1e-12);
            prop_assert!(stats::kl_div(&r, &c).unwrap().statistic >= -1e-12);
            let tvd = stats::tvd(&r, &c).unwrap().statistic;
            prop_assert!((0.0..=1.0 + 1e-12).contains(&tvd));
            let h = stats::hellinger_categorical(&r, &c).unwrap().statistic;
            prop_assert!((0.0..=1.0).contains(&h));
            let p = stats::chi2_contingency(&r, &c).unwrap().p_value.unwrap();
            prop_assert!(p.is_nan() || (0.0..=1.0).contains(&p));
        }
    }
}
