//! The monitor beside a running server: its gauges on the server's `/metrics` under
//! traffic, labels sent over HTTP (`POST /labels`) joined like a drop, and late labels
//! updating windows already reported.

use crate::common::promtool_check;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mlops_core::registry::LocalRegistry;
use mlops_deploy::label_log::LabelRecord;
use mlops_deploy::monitor::follow::{FollowConfig, Follower, MonitorThread};
use mlops_deploy::monitor::gauges::MonitorGauges;
use mlops_deploy::{
    Labels, LogConfig, ModelServer, Monitor, MonitorConfig, MonitorReport, Reference,
    ReferenceOptions, Rule, ServedModel, ServerConfig, TriggerEngine, TriggerPolicy, WindowSpec,
};
use mlops_train::FlavorRegistry;
use polars::prelude::*;

use crate::common::{client, post};
use crate::util::{Scenario, features, labels_for, registered_model, served};

/// `name{labels} value` lines of a Prometheus page, keyed by `name{labels}`.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse::<f64>().unwrap())
        })
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Rows `from..to` of `data` (x0, x1, x2) as a `dataframe_split` body.
fn body(data: &DataFrame, from: usize, to: usize) -> String {
    let cols = ["x0", "x1", "x2"];
    let rows: Vec<Vec<f64>> = (from..to)
        .map(|i| {
            cols.iter()
                .map(|c| data.column(c).unwrap().f64().unwrap().get(i).unwrap())
                .collect()
        })
        .collect();
    serde_json::json!({"dataframe_split": {"columns": cols, "data": rows}}).to_string()
}

/// The scenario's `/metrics` scrape, run once for both tests below (`scripts/test` runs
/// the ignored one too).
fn live_page() -> &'static str {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAGE.get_or_init(live_server_with_monitor)
}

#[test]
fn server_metrics_show_the_monitor_gauges_and_late_labels_over_http() {
    live_page();
}

#[test]
#[ignore = "needs promtool (scripts/test installs Debian's prometheus)"]
fn server_page_with_the_monitor_gauges_passes_promtool() {
    promtool_check(live_page());
}

/// A served model under traffic with a monitor thread beside it; labels arrive over
/// HTTP after the windows were reported. Returns a scrape of the server's `/metrics`.
fn live_server_with_monitor() -> String {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    let train = features(6_000, 10, Scenario::default());
    registered_model(&registry, "churn", &train);
    let flavors = FlavorRegistry::new();
    let stable = ServedModel::load("models:/churn@champion", Some(&registry), &flavors).unwrap();
    let log_dir = dir.path().join("log");
    let labels_file = dir.path().join("labels").join("labels.jsonl");
    let mut log = LogConfig::new(&log_dir);
    log.segment_rows = 300;
    log.flush_interval = Duration::from_millis(30);
    let server = ModelServer::start(
        ServerConfig {
            log: Some(log),
            labels: Some(labels_file.clone()),
            ..ServerConfig::default()
        },
        stable,
    )
    .unwrap();

    // the monitor of the served model, its gauges on the server's page
    let reference = Reference::from_registry(
        &registry,
        &"models:/churn@champion".parse().unwrap(),
        &ReferenceOptions::default(),
    )
    .unwrap();
    let model = reference.model.clone();
    let monitor = Monitor::new(
        reference,
        MonitorConfig {
            window: WindowSpec::rows(400),
            ..MonitorConfig::default()
        },
    )
    .unwrap();
    let gauges = MonitorGauges::new();
    server.register_metrics(|r| gauges.register(r));
    let mut follow = FollowConfig::new(&log_dir);
    follow.labels = Some(labels_file.clone());
    follow.interval = Duration::from_millis(30);
    follow.gauges = Some(gauges.clone());
    follow.triggers = Some(
        TriggerEngine::new(vec![TriggerPolicy::new(
            "accuracy",
            Rule::QualityBelow {
                metric: "accuracy".into(),
                below: 0.6,
                min_labelled: 100,
            },
        )])
        .unwrap(),
    );
    let thread = MonitorThread::start(Follower::new(monitor, follow)).unwrap();

    // traffic: 2,000 rows in requests of 10 from two clients at once; x0 moved by 1.5
    // (covariate shift) and the relationship flipped for the second half (concept drift)
    let calm = features(
        1_000,
        11,
        Scenario {
            x0_shift: 1.5,
            ..Scenario::default()
        },
    );
    let flipped = features(
        1_000,
        12,
        Scenario {
            x0_shift: 1.5,
            flipped: true,
            ..Scenario::default()
        },
    );
    // each request carries 5 rows of each, so every window holds half of each
    // whatever order the two clients' requests reach the log in
    let client_rows = |k: usize| {
        let mut df = DataFrame::empty();
        for r in 0..100 {
            for part in [&calm, &flipped] {
                let p = part.slice((k * 500 + r * 5) as i64, 5);
                if df.width() == 0 {
                    df = p;
                } else {
                    df.vstack_mut(&p).unwrap();
                }
            }
        }
        df
    };
    let clients = [client_rows(0), client_rows(1)];
    let url = format!("{}/invocations", server.url());
    std::thread::scope(|s| {
        for (k, data) in clients.iter().enumerate() {
            let url = url.clone();
            s.spawn(move || {
                let c = client();
                for r in 0..100 {
                    let resp = c
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-request-id", format!("c{k}-{r}"))
                        .body(body(data, r * 10, r * 10 + 10))
                        .send()
                        .unwrap();
                    assert_eq!(resp.status().as_u16(), 200);
                }
            });
        }
    });
    // every window reported, without labels yet (5 windows of 400 rows)
    wait_for("5 windows", Duration::from_secs(60), || {
        thread.report().is_some_and(|r| r.windows.len() == 5)
    });
    let before = thread.report().unwrap();
    assert!(before.windows.iter().all(|w| w.quality.is_none()));
    assert!(
        before
            .windows
            .iter()
            .all(|w| w.drift.column("x0").unwrap().drifted),
        "x0 moved by 1.5 sd in every window"
    );

    // the truth arrives later, over HTTP, 500 labels a call, each row by its index
    let c = client();
    let labels_url = format!("{}/labels", server.url());
    let mut items = Vec::new();
    for (k, data) in clients.iter().enumerate() {
        let y = data.column("label").unwrap().str().unwrap();
        for i in 0..1_000 {
            items.push(serde_json::json!({
                "request_id": format!("c{k}-{}", i / 10),
                "row": i % 10,
                "label": y.get(i).unwrap(),
            }));
        }
    }
    for chunk in items.chunks(500) {
        let (status, _, v) = post(
            &c,
            &labels_url,
            Some("application/json"),
            serde_json::json!({ "labels": chunk }).to_string(),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["accepted"], 500);
    }
    // the windows already reported get their quality (a higher revision)
    wait_for(
        "late labels in every window",
        Duration::from_secs(60),
        || {
            thread.report().is_some_and(|r| {
                r.windows
                    .iter()
                    .all(|w| w.quality.as_ref().is_some_and(|q| q.labelled == 400))
            })
        },
    );
    let scrape = || {
        c.get(format!("{}/metrics", server.url()))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let text = scrape();
    let report = thread.stop().unwrap();
    assert_eq!(report.windows.len(), 5);
    // at least one update each (more when a poll fell between two label calls)
    assert!(report.windows.iter().all(|w| w.revision >= 1));
    // the relationship flipped for one client's rows: accuracy fell below 0.6 in
    // some window, and the quality policy fired on a late-labelled window
    let acc: Vec<f64> = report
        .windows
        .iter()
        .map(|w| {
            w.quality
                .as_ref()
                .unwrap()
                .metric("accuracy")
                .unwrap()
                .estimate
                .value
        })
        .collect();
    assert!(
        acc.iter().all(|a| *a < 0.75),
        "half the rows are flipped: {acc:?}"
    );
    assert!(!report.fired.is_empty(), "{acc:?}");
    assert!(report.fired[0].reason.contains("late labels"));

    // what a scrape of the server shows is the last window, read back
    let last = report.windows.last().unwrap();
    let got = samples(&text);
    let key = |name: &str, extra: &str| format!("mlops_monitor_{name}{{model=\"{model}\"{extra}}}");
    let close = |k: String, want: f64| {
        let v = *got.get(&k).unwrap_or_else(|| panic!("{k} not in\n{text}"));
        assert!(
            (v - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{k}: {v} vs {want}"
        );
    };
    close(key("drift_share", ""), last.drift.share);
    close(key("windows_total", ""), 5.0);
    close(key("window_rows", ""), 400.0);
    let x0 = last.drift.column("x0").unwrap();
    close(key("drift_score", ",column=\"x0\""), x0.score.unwrap());
    close(key("column_drifted", ",column=\"x0\""), 1.0);
    for m in ["accuracy", "precision", "recall", "roc_auc"] {
        let e = last.quality.as_ref().unwrap().metric(m).unwrap().estimate;
        close(
            key("quality", &format!(",metric=\"{m}\",bound=\"value\"")),
            e.value,
        );
        close(
            key("quality", &format!(",metric=\"{m}\",bound=\"lower\"")),
            e.lower.unwrap(),
        );
    }
    close(
        key("concept_gap", ""),
        last.shifts.concept.as_ref().unwrap().gap.value,
    );
    // the server's own families are still there
    assert!(got.keys().any(|k| k.starts_with("model_requests_total{")));

    // the label file is what the monitor joined: a drop like any other
    let joined = Labels::read(&labels_file).unwrap();
    assert_eq!(joined.len(), 2_000);
    assert_eq!(
        joined.get("c1-99", 9),
        Some(
            flipped
                .column("label")
                .unwrap()
                .str()
                .unwrap()
                .get(999)
                .unwrap()
        )
    );
    server.shutdown().unwrap();
    text
}

#[test]
fn labels_endpoint_refuses_bad_input_with_json_4xx_and_keeps_the_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("labels.jsonl");
    let model = crate::common::wine_model(mlops_train::Algorithm::logistic());
    let server = ModelServer::start(
        ServerConfig {
            labels: Some(file.clone()),
            max_rows: 3,
            max_body_bytes: 4096,
            ..ServerConfig::default()
        },
        crate::common::served(model, "1"),
    )
    .unwrap();
    let c = client();
    let url = format!("{}/labels", server.url());
    let send = |body: &str| post(&c, &url, Some("application/json"), body.to_string());
    let (s, _, v) = send(r#"{"request_id": "a-1", "label": "fraud"}"#);
    assert_eq!((s, &v["accepted"]), (200, &serde_json::json!(1)));
    let (s, _, v) = send(
        r#"{"labels": [{"request_id": "a-2", "row": 1, "label": 0}, {"request_id": "a-3", "label": true}]}"#,
    );
    assert_eq!((s, &v["accepted"]), (200, &serde_json::json!(2)));
    for (body, status, says) in [
        ("not json", 400, "not JSON"),
        ("[1, 2]", 400, "label object"),
        (r#"{"labels": []}"#, 400, "empty"),
        (r#"{"labels": {"request_id": "x"}}"#, 400, "must be a list"),
        (r#"{"label": "x"}"#, 400, "request_id: missing"),
        (
            r#"{"request_id": 7, "label": "x"}"#,
            400,
            "request_id: must be a string",
        ),
        (
            r#"{"request_id": "", "label": "x"}"#,
            400,
            "printable ASCII",
        ),
        (
            r#"{"request_id": "a b", "label": "x"}"#,
            400,
            "printable ASCII",
        ),
        (
            r#"{"labels": [{"request_id": "ok", "label": "x"}, {"request_id": "b"}]}"#,
            400,
            "labels[1].label: missing",
        ),
        (
            r#"{"request_id": "b", "label": null}"#,
            400,
            "label: must be a string",
        ),
        (
            r#"{"request_id": "b", "label": ""}"#,
            400,
            "1 to 1024 bytes",
        ),
        (
            r#"{"request_id": "b", "label": "x", "row": -1}"#,
            400,
            "row: must be an integer",
        ),
        (
            r#"{"request_id": "b", "label": "x", "row": 1.5}"#,
            400,
            "row: must be an integer",
        ),
        (
            r#"{"request_id": "b", "label": "x", "who": "me"}"#,
            400,
            "unknown field",
        ),
        (
            r#"{"labels": [{"request_id": "a", "label": 1}, {"request_id": "b", "label": 1}, {"request_id": "c", "label": 1}, {"request_id": "d", "label": 1}]}"#,
            400,
            "at most 3",
        ),
    ] {
        let (s, _, v) = send(body);
        assert_eq!(s, status, "{body}: {v}");
        assert_eq!(v["error_code"], "BAD_REQUEST", "{body}: {v}");
        let m = v["message"].as_str().unwrap();
        assert!(m.contains(says), "{body}: {m}");
        assert!(
            !m.contains("me") || says != "unknown field",
            "no value echoed: {m}"
        );
    }
    let (s, _, v) = send(&"x".repeat(5000));
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["error_code"], "BAD_REQUEST");
    // GET is not a route of /labels
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    server.shutdown().unwrap();

    // only the accepted labels were written, whole lines, and they read back as a drop
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<LabelRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1].row, Some(1));
    assert!(lines.iter().all(|r| r.ts_ms.is_some()));
    let labels = Labels::read(&file).unwrap();
    assert_eq!(labels.get("a-1", 5), Some("fraud"));
    assert_eq!(labels.get("a-2", 1), Some("0"));
    assert_eq!(labels.get("a-2", 0), None);
    assert_eq!(labels.get("a-3", 0), Some("true"));
    // a torn last line (a writer killed mid-write) is ignored, a bad whole line is not
    std::fs::write(&file, format!("{text}{{\"request_id\": \"a-4\", \"lab")).unwrap();
    assert_eq!(Labels::read(&file).unwrap().len(), 3);
    std::fs::write(&file, format!("{text}{{\"request_id\": 1}}\n")).unwrap();
    let e = Labels::read(&file).unwrap_err().to_string();
    assert!(e.contains("line 4"), "{e}");

    // a server without a labels file answers 404 in the same JSON envelope
    let model = crate::common::wine_model(mlops_train::Algorithm::logistic());
    let server =
        ModelServer::start(ServerConfig::default(), crate::common::served(model, "1")).unwrap();
    let (s, _, v) = post(
        &c,
        &format!("{}/labels", server.url()),
        Some("application/json"),
        "{}",
    );
    assert_eq!(s, 404);
    assert_eq!(v["error_code"], "ENDPOINT_NOT_FOUND");
    server.shutdown().unwrap();
}

#[test]
fn late_labels_update_reported_windows_within_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    let train = features(6_000, 10, Scenario::default());
    let model = registered_model(&registry, "churn", &train);
    let reference = || {
        Reference::from_registry(
            &registry,
            &"models:/churn@champion".parse().unwrap(),
            &ReferenceOptions::default(),
        )
        .unwrap()
    };
    let data = features(4_000, 40, Scenario::default());
    let log = served(model.as_ref(), &data, 0, 0, 0);
    let all = labels_for(&data, 0);
    let config = MonitorConfig {
        window: WindowSpec::rows(1_000),
        late_label_windows: 3,
        ..MonitorConfig::default()
    };
    // what windows say when every label is known up front
    let mut upfront = Monitor::new(reference(), config.clone()).unwrap();
    let mut l = Labels::new();
    l.add_frame(&all).unwrap();
    upfront.add_labels(&l);
    let want = upfront.push(&log).unwrap();

    let mut m = Monitor::new(reference(), config).unwrap();
    let first = m.push(&log.slice(0, 4_000)).unwrap();
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|w| w.quality.is_none() && w.revision == 0));
    assert!(
        m.relabel().unwrap().is_empty(),
        "no labels, nothing to update"
    );
    let mut report = MonitorReport::new(&m);
    for w in first {
        report.upsert(w);
    }
    // labels of windows 0 (beyond the horizon of 3) and 1..3 arrive
    let mut late = Labels::new();
    late.add_frame(&all).unwrap();
    m.add_labels(&late);
    let updated = m.relabel().unwrap();
    assert_eq!(
        updated.iter().map(|w| w.index).collect::<Vec<_>>(),
        [1, 2, 3],
        "window 0 is older than the horizon"
    );
    for w in &updated {
        assert_eq!(w.revision, 1);
        let u = &want[w.index];
        assert_eq!(
            w.quality, u.quality,
            "late labels give the numbers of labels known up front"
        );
        assert_eq!(w.shifts, u.shifts);
        assert_eq!(
            (w.drift.clone(), w.profile_digest, w.rows),
            (u.drift.clone(), u.profile_digest, u.rows)
        );
        report.upsert(w.clone());
    }
    assert!(
        m.relabel().unwrap().is_empty(),
        "the same labels again change nothing"
    );
    m.add_labels(&late);
    assert!(m.relabel().unwrap().is_empty());
    // a correction of 200 labels in window 2 changes window 2 only
    let mut fix = Labels::new();
    let y = data.column("label").unwrap().str().unwrap();
    for i in 2_000..2_200 {
        let flipped = if y.get(i).unwrap() == "pos" {
            "neg"
        } else {
            "pos"
        };
        fix.add(&format!("r{i}"), None, flipped);
    }
    m.add_labels(&fix);
    let again = m.relabel().unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].index, again[0].revision), (2, 2));
    let acc = |w: &mlops_deploy::WindowReport| {
        w.quality
            .as_ref()
            .unwrap()
            .metric("accuracy")
            .unwrap()
            .estimate
            .value
    };
    assert!(acc(&again[0]) < acc(&want[2]) - 0.1);
    report.upsert(again[0].clone());
    report.upsert(want[2].clone()); // an older revision does not replace a newer one
    assert_eq!(report.windows[2].revision, 2);
    assert!(report.windows[0].quality.is_none());
    assert_eq!(
        serde_json::to_value(&report).unwrap()["windows"][2]["revision"],
        2
    );
    assert!(
        serde_json::to_value(&report.windows[0])
            .unwrap()
            .get("revision")
            .is_none()
    );

    // gauges: an update of the latest window sets its quality; of an older one, nothing
    let gauges = MonitorGauges::new();
    let mut reg = prometheus_client::registry::Registry::default();
    gauges.register(&mut reg);
    for w in &report.windows {
        gauges.observe("churn", w);
    }
    assert!(!gauges.observe_relabelled("churn", &report.windows[2]));
    assert!(gauges.observe_relabelled("churn", &report.windows[3]));

    // late_label_windows = 0: quality only when reported
    let mut none = Monitor::new(
        reference(),
        MonitorConfig {
            window: WindowSpec::rows(1_000),
            late_label_windows: 0,
            ..MonitorConfig::default()
        },
    )
    .unwrap();
    none.push(&log).unwrap();
    none.add_labels(&late);
    assert!(none.relabel().unwrap().is_empty());
}

#[test]
fn a_labels_file_is_followed_by_what_was_appended() {
    use mlops_deploy::monitor::quality::LabelsFile;
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.jsonl");
    let mut f = LabelsFile::new(&path);
    assert!(f.poll().unwrap().is_none(), "no file yet: no labels");
    let line =
        |id: &str, label: &str| format!("{{\"request_id\": \"{id}\", \"label\": \"{label}\"}}\n");
    std::fs::write(&path, line("a", "x") + &line("b", "y")).unwrap();
    assert_eq!(f.poll().unwrap().unwrap().len(), 2);
    assert!(f.poll().unwrap().is_none(), "unchanged");
    // appended: only the new lines; a torn line waits for its end
    let mut w = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    w.write_all((line("c", "z") + "{\"request_id\": \"d\", ").as_bytes())
        .unwrap();
    let new = f.poll().unwrap().unwrap();
    assert_eq!((new.len(), new.get("c", 0)), (1, Some("z")));
    w.write_all(b"\"label\": \"w\"}\n").unwrap();
    let new = f.poll().unwrap().unwrap();
    assert_eq!((new.len(), new.get("d", 0)), (1, Some("w")));
    // a bad line is named by its number in the file
    w.write_all(b"{\"label\": 1}\n").unwrap();
    let e = f.poll().unwrap_err().to_string();
    assert!(e.contains("line 5"), "{e}");
    // replaced by another file (renamed over): read whole
    let tmp = dir.path().join("next.tmp");
    std::fs::write(&tmp, line("e", "v")).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let all = f.poll().unwrap().unwrap();
    assert_eq!((all.len(), all.get("e", 0)), (1, Some("v")));
    // a CSV drop is read whole when it changes
    let csv = dir.path().join("labels.csv");
    std::fs::write(&csv, "request_id,label\nq1,pos\n").unwrap();
    let mut c = LabelsFile::new(&csv);
    assert_eq!(c.poll().unwrap().unwrap().len(), 1);
    std::fs::write(&csv, "request_id,label\nq1,pos\nq2,neg\n").unwrap();
    assert_eq!(c.poll().unwrap().unwrap().len(), 2);
}
