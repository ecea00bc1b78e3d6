//! Windows, drift against the training profile, prediction drift, health, the HTML
//! report and the gauges.

use crate::common::promtool_check;
use mlops_core::ModelUri;
use mlops_core::registry::LocalRegistry;
use mlops_data::{DriftConfig, Profile};
use mlops_deploy::monitor::gauges::MonitorGauges;
use mlops_deploy::{
    Labels, Monitor, MonitorConfig, MonitorReport, Reference, ReferenceOptions, WindowBy,
    WindowSpec,
};
use polars::prelude::*;

use crate::util::{Scenario, features, labels_for, registered_model, served, write_segment};

fn profile_reference(train: &DataFrame) -> Reference {
    let p = Profile::of_frame(&train.select(["x0", "x1", "x2", "cat"]).unwrap()).unwrap();
    Reference::from_profile(p, None).unwrap()
}

/// A log of plain feature rows (no model): `input.*` columns, one request per row.
fn plain_log(data: &DataFrame, first_id: usize) -> DataFrame {
    let n = data.height();
    let mut cols = vec![
        Column::new(
            "request_id".into(),
            (0..n)
                .map(|i| format!("q{}", first_id + i))
                .collect::<Vec<_>>(),
        ),
        Column::new("row".into(), vec![0u32; n]),
        Column::new(
            "ts_ms".into(),
            (0..n)
                .map(|i| (first_id + i) as i64 * 1000)
                .collect::<Vec<i64>>(),
        ),
        Column::new("status".into(), vec![200u32; n]),
        Column::new("latency_ms".into(), vec![2.0; n]),
    ];
    for f in ["x0", "x1", "x2", "cat"] {
        cols.push(
            data.column(f)
                .unwrap()
                .clone()
                .with_name(format!("input.{f}").into()),
        );
    }
    DataFrame::new(n, cols).unwrap()
}

#[test]
fn tumbling_and_sliding_windows_by_rows_cover_the_log_in_order() {
    let train = features(20_000, 1, Scenario::default());
    let live = features(25_000, 2, Scenario::default());
    let dir = tempfile::tempdir().unwrap();
    // three segments of odd sizes
    let log = plain_log(&live, 0);
    write_segment(dir.path(), 0, &mut log.slice(0, 7_000));
    write_segment(dir.path(), 7_000, &mut log.slice(7_000, 11_000));
    write_segment(dir.path(), 18_000, &mut log.slice(18_000, 7_000));

    let cfg = MonitorConfig {
        window: WindowSpec::rows(10_000),
        keep_predictions: false,
        ..MonitorConfig::default()
    };
    let mut m = Monitor::new(profile_reference(&train), cfg.clone()).unwrap();
    let mut ws = m.push_log(dir.path()).unwrap();
    assert_eq!(ws.len(), 2, "two complete windows before finish");
    ws.extend(m.finish().unwrap());
    let rows: Vec<u64> = ws.iter().map(|w| w.rows).collect();
    assert_eq!(rows, [10_000, 10_000, 5_000]);
    assert_eq!(
        ws.iter().map(|w| w.complete).collect::<Vec<_>>(),
        [true, true, false]
    );
    assert_eq!(
        ws.iter().map(|w| w.first_row.unwrap()).collect::<Vec<_>>(),
        [0, 10_000, 20_000]
    );
    assert!(
        ws.iter()
            .all(|w| w.drift.n_tested == 4 && !w.drift.dataset_drift)
    );
    // following: nothing new, no window
    assert!(m.push_log(dir.path()).unwrap().is_empty());

    // sliding: 10k every 5k from 5k panes, each pane profiled once
    let cfg = MonitorConfig {
        window: WindowSpec::rows(10_000).sliding(5_000),
        ..cfg
    };
    let mut m = Monitor::new(profile_reference(&train), cfg).unwrap();
    let mut ws = m.push_log(dir.path()).unwrap();
    ws.extend(m.finish().unwrap());
    let firsts: Vec<(u64, u64, bool)> = ws
        .iter()
        .map(|w| (w.first_row.unwrap(), w.rows, w.complete))
        .collect();
    assert_eq!(
        firsts,
        [
            (0, 10_000, true),
            (5_000, 10_000, true),
            (10_000, 10_000, true),
            (15_000, 10_000, true),
            (20_000, 5_000, false)
        ]
    );
    // the window profile merges its panes: x0's drift statistic stays within its
    // stated bound of the exact statistic on the window's raw rows
    let exact = mlops_data::drift_report(
        &train.select(["x0", "x1", "x2", "cat"]).unwrap(),
        &live
            .slice(5_000, 10_000)
            .select(["x0", "x1", "x2", "cat"])
            .unwrap(),
        &DriftConfig::default(),
    )
    .unwrap();
    for c in &ws[1].drift.columns {
        let e = exact.columns.iter().find(|e| e.column == c.column).unwrap();
        assert_eq!(c.method, e.method, "{}", c.column);
        let (a, b) = (c.statistic.unwrap(), e.statistic.unwrap());
        let bound = c.error_bound.unwrap_or(1e-9) + 1e-9;
        assert!(
            (a - b).abs() <= bound,
            "{}: {a} vs {b} (bound {bound})",
            c.column
        );
        assert_eq!(c.drifted, e.drifted, "{}", c.column);
    }
}

#[test]
fn drifted_windows_name_their_columns_and_exact_mode_agrees_with_drift_report() {
    let train = features(20_000, 3, Scenario::default());
    let calm = features(5_000, 4, Scenario::default());
    let moved = features(
        5_000,
        5,
        Scenario {
            x0_shift: 1.0,
            ..Scenario::default()
        },
    );
    let mut log = plain_log(&calm, 0);
    log.vstack_mut(&plain_log(&moved, 5_000)).unwrap();
    for exact in [false, true] {
        let mut reference = profile_reference(&train);
        if exact {
            reference.frame = Some(train.select(["x0", "x1", "x2", "cat"]).unwrap());
        }
        let cfg = MonitorConfig {
            window: WindowSpec::rows(5_000),
            exact,
            keep_predictions: false,
            ..MonitorConfig::default()
        };
        let mut m = Monitor::new(reference, cfg).unwrap();
        let ws = m.push(&log).unwrap();
        assert_eq!(ws.len(), 2);
        assert_eq!(
            ws[0].shifts.covariate.drifted_columns,
            Vec::<String>::new(),
            "exact={exact}"
        );
        assert_eq!(
            ws[1].shifts.covariate.drifted_columns,
            ["x0"],
            "exact={exact}"
        );
        assert!((ws[1].drift.share - 0.25).abs() < 1e-12);
        let x0 = ws[1].drift.column("x0").unwrap();
        if exact {
            let direct = mlops_data::drift_report(
                &train.select(["x0", "x1", "x2", "cat"]).unwrap(),
                &moved.select(["x0", "x1", "x2", "cat"]).unwrap(),
                &DriftConfig::default(),
            )
            .unwrap();
            let d = direct.columns.iter().find(|c| c.column == "x0").unwrap();
            assert_eq!(
                x0.statistic, d.statistic,
                "exact mode is drift_report on the window rows"
            );
            assert!(x0.error_bound.is_none());
        } else {
            assert!(x0.error_bound.unwrap() > 0.0);
        }
    }
}

#[test]
fn time_windows_follow_request_time_and_count_late_rows() {
    let train = features(5_000, 6, Scenario::default());
    let live = features(3_000, 7, Scenario::default());
    let log = plain_log(&live, 0); // ts = 0, 1000, 2000, ... ms
    let cfg = MonitorConfig {
        window: WindowSpec::millis(1_000_000).sliding(500_000),
        keep_predictions: false,
        ..MonitorConfig::default()
    };
    assert_eq!(cfg.window.by, WindowBy::Millis);
    let mut m = Monitor::new(profile_reference(&train), cfg).unwrap();
    let mut ws = m.push(&log.slice(0, 2_000)).unwrap();
    // a late row (ts 10 s) after time moved to 1,999 s: dropped and counted
    let late = log.slice(10, 1);
    ws.extend(m.push(&late).unwrap());
    ws.extend(m.push(&log.slice(2_000, 1_000)).unwrap());
    ws.extend(m.finish().unwrap());
    assert_eq!(m.late_rows(), 1);
    let spans: Vec<(i64, i64, u64, bool)> = ws
        .iter()
        .map(|w| (w.start_ms.unwrap(), w.end_ms.unwrap(), w.rows, w.complete))
        .collect();
    assert_eq!(
        spans,
        [
            (0, 999_000, 1000, true),
            (500_000, 1_499_000, 1000, true),
            (1_000_000, 1_999_000, 1000, true),
            (1_500_000, 2_499_000, 1000, true),
            (2_000_000, 2_999_000, 1000, false),
        ]
    );
}

fn registry_fixture() -> (
    tempfile::TempDir,
    LocalRegistry,
    Box<dyn mlops_train::Model>,
    DataFrame,
) {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    let train = features(6_000, 10, Scenario::default());
    let model = registered_model(&registry, "churn", &train);
    (dir, registry, model, train)
}

#[test]
fn reference_from_the_registry_gives_prediction_drift_health_quality_and_shifts() {
    let (_dir, registry, model, _train) = registry_fixture();
    let uri: ModelUri = "models:/churn@champion".parse().unwrap();
    let reference =
        Reference::from_registry(&registry, &uri, &ReferenceOptions::default()).unwrap();
    assert_eq!(reference.features, ["x0", "x1", "x2"]);
    assert!(reference.predictions.is_some());
    let gap = reference.quality.calibration_gap.unwrap();
    assert!(
        gap.abs() < 0.03,
        "a logistic model is calibrated on its training data: gap {gap}"
    );
    assert_eq!(reference.quality.classes, ["neg", "pos"]);

    // four windows of 3,000 requests: as trained, covariate shift, concept drift,
    // label shift
    let scenarios = [
        Scenario::default(),
        Scenario {
            x0_shift: 1.5,
            ..Scenario::default()
        },
        Scenario {
            flipped: true,
            ..Scenario::default()
        },
        Scenario {
            positive_rate: Some(0.85),
            ..Scenario::default()
        },
    ];
    let mut log = DataFrame::empty();
    let mut labels = Labels::new();
    for (k, s) in scenarios.iter().enumerate() {
        let data = features(3_000, 20 + k as u64, *s);
        let part = served(model.as_ref(), &data, k * 3_000, 1_000_000 * k as i64, 50);
        if log.width() == 0 {
            log = part
        } else {
            log.vstack_mut(&part).unwrap();
        }
        labels.add_frame(&labels_for(&data, k * 3_000)).unwrap();
    }
    let cfg = MonitorConfig {
        window: WindowSpec::rows(3_000),
        ..MonitorConfig::default()
    };
    let mut m = Monitor::new(reference, cfg).unwrap();
    m.add_labels(&labels);
    let ws = m.push(&log).unwrap();
    assert_eq!(ws.len(), 4);
    for w in &ws {
        // health: every 50th request failed with a 500
        assert_eq!(w.health.requests, 3_000);
        assert_eq!(w.health.errors, 60);
        assert_eq!(w.health.server_errors, 60);
        let l = w.health.latency_ms.unwrap();
        assert!(
            l.p50 > 5.0 && l.p50 < 6.1 && l.p99 > 10.5 && l.max <= 10.9,
            "{l:?}"
        );
        let q = w.quality.as_ref().unwrap();
        assert_eq!(
            q.labelled, 2_940,
            "failed requests have no prediction to join"
        );
        for metric in ["accuracy", "precision", "recall", "roc_auc"] {
            let e = q.metric(metric).unwrap();
            assert!(
                e.estimate.lower.unwrap() <= e.estimate.value
                    && e.estimate.value <= e.estimate.upper.unwrap()
            );
            assert!(
                e.registered.is_some(),
                "{metric} has its registration value"
            );
        }
    }
    let [calm, covariate, concept, label] = [&ws[0], &ws[1], &ws[2], &ws[3]];
    // as trained: nothing
    assert!(!calm.shifts.covariate.shifted && calm.shifts.covariate.drifted_columns.is_empty());
    assert!(!calm.shifts.concept.as_ref().unwrap().drifted);
    assert!(!calm.shifts.label.as_ref().unwrap().shifted);
    assert!(
        !calm
            .quality
            .as_ref()
            .unwrap()
            .metric("accuracy")
            .unwrap()
            .degraded
    );
    assert!(calm.prediction_drift.as_ref().unwrap().n_drifted == 0);
    // covariate shift: x0 moved, P(y|x) held, so no concept drift
    assert_eq!(covariate.shifts.covariate.drifted_columns, ["x0"]);
    let c = covariate.shifts.concept.as_ref().unwrap();
    assert!(!c.drifted, "covariate shift is not concept drift: {c:?}");
    assert!(
        covariate.prediction_drift.as_ref().unwrap().n_drifted > 0,
        "predictions moved with x0"
    );
    // concept drift: same inputs, the relationship flipped
    assert!(concept.shifts.covariate.drifted_columns.is_empty());
    let c = concept.shifts.concept.as_ref().unwrap();
    assert!(c.drifted && c.gap.upper.unwrap() < -0.2, "{c:?}");
    assert!(
        concept
            .quality
            .as_ref()
            .unwrap()
            .metric("accuracy")
            .unwrap()
            .degraded
    );
    // label shift: the base rate moved to 0.85
    let l = label.shifts.label.as_ref().unwrap();
    assert!(l.shifted, "{l:?}");
    let r = l.positive_rate.unwrap();
    assert!((r.value - 0.85).abs() < 0.03 && r.lower.unwrap() > l.reference_positive_rate.unwrap());

    // the report: JSON shape, HTML in headless Chromium, gauges through promtool
    let mut report = MonitorReport::new(&m);
    report.windows = ws.clone();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["windows"][1]["drift"]["columns"][0]["column"], "x0");
    assert_eq!(json["windows"][1]["drift"]["columns"][0]["drifted"], true);
    assert!(json["windows"][0]["quality"]["metrics"].is_array());
    html_in_chromium(&report);
    gauges_pass_promtool(&report);
}

fn html_in_chromium(report: &MonitorReport) {
    let html = report.to_html("Monitoring <churn>");
    assert!(
        !html.contains("<script src") && !html.contains("<link") && !html.contains("http"),
        "self-contained"
    );
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(
            std::env::var_os("MLOPS_TEST_MLFLOW_URI").is_none(),
            "/usr/bin/chromium is missing under scripts/test (it installs it)"
        );
        eprintln!("skipping the browser check: /usr/bin/chromium not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("monitor.html");
    std::fs::write(&page, &html).unwrap();
    let run = |extra: &[String]| {
        std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap()
    };
    let out = run(&["--dump-dom".into()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        dom.matches("class=\"window-row").count(),
        report.windows.len()
    );
    // drift share, heatmap, 4 quality metrics, concept gap, latency, error rate
    assert_eq!(dom.matches("class=\"monitor-chart\"").count(), 9);
    assert!(dom.contains("Monitoring &lt;churn&gt;"));
    let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("monitor_report.png");
    let out = run(&[
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,2400".into(),
    ]);
    assert!(out.status.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(png.len() > 10_000 && png.starts_with(b"\x89PNG"));
}

fn gauges_pass_promtool(report: &MonitorReport) {
    let gauges = MonitorGauges::new();
    let mut registry = prometheus_client::registry::Registry::default();
    gauges.register(&mut registry);
    for w in &report.windows {
        gauges.observe("churn", w);
    }
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("mlops_monitor_drift_share{model=\"churn\"} 0"),
        "{text}"
    );
    assert!(text.contains("mlops_monitor_column_drifted{model=\"churn\",column=\"x0\"}"));
    assert!(
        text.contains("mlops_monitor_quality{model=\"churn\",metric=\"accuracy\",bound=\"lower\"}")
    );
    assert!(text.contains("mlops_monitor_windows_total{model=\"churn\"} 4"));
    // Outside `scripts/test` (which installs it and sets MLOPS_TEST_MLFLOW_URI) a
    // missing promtool skips only this check; under it, it fails.
    if which_promtool().is_none() && std::env::var_os("MLOPS_TEST_MLFLOW_URI").is_none() {
        eprintln!("skipping promtool: not installed (scripts/test installs it)");
        return;
    }
    promtool_check(&text);
}

fn which_promtool() -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
}

#[test]
fn bad_configuration_is_a_typed_error() {
    let train = features(1_000, 30, Scenario::default());
    let r = || profile_reference(&train);
    for w in [
        WindowSpec::rows(0),
        WindowSpec::rows(10).sliding(20),
        WindowSpec::millis(10).sliding(0),
    ] {
        let e = Monitor::new(
            r(),
            MonitorConfig {
                window: w,
                ..MonitorConfig::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("window"), "{e}");
    }
    let e = Monitor::new(
        r(),
        MonitorConfig {
            exact: true,
            ..MonitorConfig::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("exact"), "{e}");
    // time windows on a frame without ts_ms
    let mut m = Monitor::new(
        r(),
        MonitorConfig {
            window: WindowSpec::millis(10),
            ..MonitorConfig::default()
        },
    )
    .unwrap();
    assert!(
        m.push(&df!("x" => [1.0]).unwrap())
            .unwrap_err()
            .to_string()
            .contains("ts_ms")
    );
    // a labels file without the columns says which
    let e = Labels::new()
        .add_frame(&df!("id" => ["a"]).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("request_id"), "{e}");
}

#[test]
fn push_log_reads_new_segments_only_across_rotation_gaps_and_column_changes() {
    let train = features(5_000, 60, Scenario::default());
    let live = features(3_000, 61, Scenario::default());
    let log = plain_log(&live, 0);
    let dir = tempfile::tempdir().unwrap();
    let mut m = Monitor::new(
        profile_reference(&train),
        MonitorConfig {
            window: WindowSpec::rows(1_000),
            ..MonitorConfig::default()
        },
    )
    .unwrap();
    // poll 1: a segment of failed requests only: no input columns at all
    let n = 500;
    let mut failed = df!(
        "request_id" => (0..n).map(|i| format!("f{i}")).collect::<Vec<_>>(),
        "row" => vec![0u32; n],
        "ts_ms" => vec![0i64; n],
        "status" => vec![500u32; n],
        "latency_ms" => vec![1.0; n],
    )
    .unwrap();
    write_segment(dir.path(), 0, &mut failed);
    assert!(m.push_log(dir.path()).unwrap().is_empty());
    // poll 2: served rows; the first window spans both segments' columns
    write_segment(dir.path(), 500, &mut log.slice(0, 1_000));
    let ws = m.push_log(dir.path()).unwrap();
    assert_eq!(ws.len(), 1);
    assert_eq!(
        (ws[0].rows, ws[0].health.requests, ws[0].health.errors),
        (1_000, 1_000, 500)
    );
    assert_eq!(ws[0].drift.n_tested, 4);
    assert!(m.push_log(dir.path()).unwrap().is_empty(), "nothing new");
    // rotation deletes both old segments, and the next one starts after a gap
    for f in mlops_deploy::inference_log::list_segments(dir.path()).unwrap() {
        std::fs::remove_file(f).unwrap();
    }
    write_segment(dir.path(), 5_000, &mut log.slice(1_000, 2_000));
    let ws = m.push_log(dir.path()).unwrap();
    assert_eq!(ws.len(), 2, "exactly the new segment's rows are read");
    assert!(ws.iter().all(|w| w.rows == 1_000 && w.health.errors == 0));
    assert_eq!(m.rows_seen(), 3_500);
    // an odd file in the directory is not a segment
    std::fs::write(dir.path().join("segment-x.parquet"), b"junk").unwrap();
    assert!(m.push_log(dir.path()).unwrap().is_empty());
}

#[test]
fn a_follower_keeps_the_last_max_windows_and_finishes_with_a_partial_one() {
    use mlops_deploy::monitor::follow::{FollowConfig, Follower};
    let train = features(3_000, 70, Scenario::default());
    let live = features(5_500, 71, Scenario::default());
    let dir = tempfile::tempdir().unwrap();
    write_segment(dir.path(), 0, &mut plain_log(&live, 0));
    let m = Monitor::new(
        profile_reference(&train),
        MonitorConfig {
            window: WindowSpec::rows(1_000),
            ..MonitorConfig::default()
        },
    )
    .unwrap();
    let mut config = FollowConfig::new(dir.path());
    config.max_windows = 2;
    let mut f = Follower::new(m, config);
    let poll = f.poll().unwrap();
    assert_eq!(poll.windows.len(), 5);
    assert!(poll.relabelled.is_empty() && poll.fired.is_empty());
    let kept: Vec<usize> = f.report().windows.iter().map(|w| w.index).collect();
    assert_eq!(kept, [3, 4]);
    assert!(f.poll().unwrap().windows.is_empty(), "nothing new");
    let report = f.finish().unwrap();
    let last = report.windows.last().unwrap();
    assert_eq!((last.index, last.rows, last.complete), (5, 500, false));
    assert_eq!(report.windows.len(), 2);
}
