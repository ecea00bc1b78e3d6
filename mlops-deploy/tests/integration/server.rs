//! The server over real HTTP: MLflow's request shapes, bad input, overload, variants,
//! shadow, drain, KServe V2 and metrics.

use std::sync::Arc;
use std::time::Duration;

use mlops_deploy::{ServedModel, ServerConfig, StickyKey};
use mlops_train::{Algorithm, Model};
use proptest::prelude::*;

use crate::common::*;

#[test]
fn every_mlflow_input_shape_gives_the_models_answer() {
    let model = wine_model(Algorithm::logistic());
    let want = expected_labels(&model, 0, 20);
    let server = start(ServerConfig::default(), served(model, "1"));
    let url = format!("{}/invocations", server.url());
    let c = client();
    let df = wine().slice(0, 20);
    let names = wine_features();
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = (0..20)
        .map(|i| {
            names
                .iter()
                .map(|n| {
                    let v = df.column(n).unwrap().f64().unwrap().get(i).unwrap();
                    (n.clone(), serde_json::json!(v))
                })
                .collect()
        })
        .collect();
    let columns: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .map(|n| {
            let v: Vec<f64> = df
                .column(n)
                .unwrap()
                .f64()
                .unwrap()
                .into_no_null_iter()
                .collect();
            (n.clone(), serde_json::json!(v))
        })
        .collect();
    let positional: Vec<Vec<f64>> = (0..20)
        .map(|i| {
            names
                .iter()
                .map(|n| df.column(n).unwrap().f64().unwrap().get(i).unwrap())
                .collect()
        })
        .collect();
    let mut csv = names.join(",");
    csv.push('\n');
    for r in &positional {
        csv.push_str(&r.iter().map(f64::to_string).collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    let bodies = [
        ("application/json", split_body(0, 20)),
        (
            "application/json; charset=utf-8",
            serde_json::json!({"dataframe_records": rows}).to_string(),
        ),
        (
            "application/json",
            serde_json::json!({"instances": rows}).to_string(),
        ),
        (
            "application/json",
            serde_json::json!({"inputs": columns}).to_string(),
        ),
        (
            "application/json",
            serde_json::json!({"inputs": positional, "params": {"ignored": 1}}).to_string(),
        ),
        ("text/csv", csv.clone()),
        ("application/csv", csv),
    ];
    for (ct, body) in bodies {
        let (status, headers, v) = post(&c, &url, Some(ct), body);
        assert_eq!(status, 200, "{ct}: {v}");
        assert_eq!(labels_of(&v), want, "{ct}");
        assert!(headers.contains_key("x-request-id"));
        assert_eq!(headers["x-variant"], "stable");
    }
    // A JSON integer and a numeric string in a float column are coerced, as MLflow does;
    // an extra column is ignored.
    let mut row = rows[0].clone();
    row.insert(names[0].clone(), serde_json::json!(7));
    row.insert(names[1].clone(), serde_json::json!("0.7"));
    row.insert("bogus".into(), serde_json::json!("x"));
    let (status, _, v) = post(
        &c,
        &url,
        Some("application/json"),
        serde_json::json!({"dataframe_records": [row]}).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    // The client's request id comes back.
    let r = c
        .post(&url)
        .header("content-type", "application/json")
        .header("x-request-id", "abc-123")
        .body(split_body(0, 1))
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    for path in [
        "/ping",
        "/health",
        "/version",
        "/v2/health/live",
        "/v2/health/ready",
    ] {
        let r = c.get(format!("{}{path}", server.url())).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    server.shutdown().unwrap();
}

#[test]
fn bad_input_is_a_4xx_in_mlflows_envelope_that_never_echoes_the_body() {
    let model = wine_model_strict();
    let config = ServerConfig {
        max_body_bytes: 64 * 1024,
        max_rows: 50,
        ..ServerConfig::default()
    };
    let server = start(config, served(model, "1"));
    let url = format!("{}/invocations", server.url());
    let c = client();
    let names = wine_features();
    let secret = "SECRET-MARKER-42";
    let mut missing = serde_json::from_str::<serde_json::Value>(&split_body(0, 1)).unwrap();
    missing["dataframe_split"]["columns"][0] = serde_json::json!(secret);
    let mut wrong_type = serde_json::from_str::<serde_json::Value>(&split_body(0, 2)).unwrap();
    wrong_type["dataframe_split"]["data"][1][3] = serde_json::json!(secret);
    let mut null = serde_json::from_str::<serde_json::Value>(&split_body(0, 2)).unwrap();
    null["dataframe_split"]["data"][0][2] = serde_json::Value::Null;
    let ragged = format!(
        r#"{{"dataframe_split": {{"columns": {}, "data": [[1, "{secret}"]]}}}}"#,
        serde_json::json!(names)
    );
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        (
            "missing column",
            Some("application/json"),
            missing.to_string(),
            400,
            "is missing",
        ),
        (
            "wrong type",
            Some("application/json"),
            wrong_type.to_string(),
            400,
            "row 1",
        ),
        (
            "null where the model refuses",
            Some("application/json"),
            null.to_string(),
            400,
            "missing value",
        ),
        (
            "not JSON",
            Some("application/json"),
            format!("{{{secret}"),
            400,
            "valid JSON",
        ),
        (
            "unknown key",
            Some("application/json"),
            format!(r#"{{"{secret}": []}}"#),
            400,
            "exactly one",
        ),
        (
            "top-level list",
            Some("application/json"),
            "[1, 2, 3]".into(),
            400,
            "exactly one",
        ),
        (
            "empty body",
            Some("application/json"),
            String::new(),
            400,
            "valid JSON",
        ),
        (
            "empty object",
            Some("application/json"),
            "{}".into(),
            400,
            "exactly one",
        ),
        ("ragged row", Some("application/json"), ragged, 400, "row 0"),
        (
            "text/plain",
            Some("text/plain"),
            split_body(0, 1),
            415,
            "content type",
        ),
        (
            "form",
            Some("application/x-www-form-urlencoded"),
            split_body(0, 1),
            415,
            "content type",
        ),
        (
            "legacy parameter",
            Some("application/json; format=pandas-split"),
            split_body(0, 1),
            415,
            "parameters",
        ),
        (
            "no content type",
            None,
            split_body(0, 1),
            415,
            "Content-Type",
        ),
        ("CSV of JSON", Some("text/csv"), split_body(0, 1), 400, ""),
        (
            "too many rows",
            Some("application/json"),
            split_body(0, 60),
            400,
            "at most 50",
        ),
        (
            "body over the limit",
            Some("application/json"),
            format!("{}{}", secret, "x".repeat(70_000)),
            413,
            "limit",
        ),
    ];
    for (what, ct, body, status, needle) in cases {
        let (got, headers, v) = post(&c, &url, ct, body);
        assert_eq!(got, status, "{what}: {v}");
        assert_eq!(headers["content-type"], "application/json", "{what}");
        let code = v["error_code"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {v}"));
        assert!(!code.is_empty());
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(needle), "{what}: {message}");
        assert!(
            !message.contains(secret),
            "{what} echoes the body: {message}"
        );
    }
    // A client still sending an oversized body reads the 413, not a connection reset
    // (the server throws the rest of the body away before it answers and closes).
    for _ in 0..20 {
        let (got, _, v) = post(&c, &url, Some("application/json"), "x".repeat(4 << 20));
        assert_eq!(got, 413, "{v}");
    }
    let r = c.get(&url).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let (s, _, v) = post(
        &c,
        &format!("{}/predict", server.url()),
        Some("application/json"),
        "{}",
    );
    assert_eq!(s, 404);
    assert_eq!(v["error_code"], "ENDPOINT_NOT_FOUND");
    // Zero rows: an empty answer, as MLflow gives.
    let (s, _, v) = post(
        &c,
        &url,
        Some("application/json"),
        r#"{"dataframe_records": []}"#,
    );
    assert_eq!(
        (s, v["predictions"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{v}"
    );
}

#[test]
fn past_the_in_flight_bound_the_server_answers_503_with_retry_after() {
    let model: Arc<dyn Model> = Arc::new(wine_model(Algorithm::logistic()));
    let slow = ServedModel::new(
        "wine",
        "1",
        Arc::new(Faulty::slow(model, Duration::from_millis(400))),
    );
    let config = ServerConfig {
        max_in_flight: 2,
        workers: Some(4),
        ..ServerConfig::default()
    };
    let server = start(config, slow);
    let url = format!("{}/invocations", server.url());
    let results: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                let url = url.clone();
                s.spawn(move || {
                    let r = client()
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(split_body(0, 1))
                        .send()
                        .unwrap();
                    let ra = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    (r.status().as_u16(), ra)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let shed: Vec<_> = results.iter().filter(|(s, _)| *s == 503).collect();
    assert!(ok >= 2, "{results:?}");
    assert_eq!(ok + shed.len(), 6, "{results:?}");
    assert!(!shed.is_empty(), "{results:?}");
    assert!(
        shed.iter().all(|(_, ra)| ra.as_deref() == Some("1")),
        "{results:?}"
    );
    server.shutdown().unwrap();
}

#[test]
fn shutdown_drains_in_flight_requests() {
    let model: Arc<dyn Model> = Arc::new(wine_model(Algorithm::logistic()));
    let slow = ServedModel::new(
        "wine",
        "1",
        Arc::new(Faulty::slow(model, Duration::from_millis(600))),
    );
    let server = start(
        ServerConfig {
            workers: Some(2),
            ..ServerConfig::default()
        },
        slow,
    );
    let url = format!("{}/invocations", server.url());
    let h = std::thread::spawn(move || {
        post(&client(), &url, Some("application/json"), split_body(0, 3))
    });
    std::thread::sleep(Duration::from_millis(150));
    let t = std::time::Instant::now();
    server.shutdown().unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "shutdown did not wait"
    );
    let (status, _, v) = h.join().unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(labels_of(&v).len(), 3);
}

#[test]
fn canary_weight_splits_traffic_and_sticky_users_stay_on_their_arm() {
    let stable = served(wine_model(Algorithm::logistic()), "1");
    let canary = served(wine_model(Algorithm::forest(5, Some(3))), "2");
    let config = ServerConfig {
        sticky: Some(StickyKey::Header("x-user-id".into())),
        ..ServerConfig::default()
    };
    let server = start(config, stable);
    server.set_variant("canary", canary, 0.3).unwrap();
    assert!(server.set_weight("canary", 1.5).is_err());
    assert!(
        server
            .set_variant("other", served(wine_model(Algorithm::logistic()), "3"), 0.8)
            .is_err()
    );
    let url = format!("{}/invocations", server.url());
    let c = client();
    let n = 1000;
    let mut on_canary = 0;
    for _ in 0..n {
        let (s, h, _) = post(&c, &url, Some("application/json"), split_body(0, 1));
        assert_eq!(s, 200);
        if h["x-variant"] == "canary" {
            assert_eq!(h["x-model-version"], "2");
            on_canary += 1;
        }
    }
    // Binomial(1000, 0.3): sd 14.5; 5 sd either side.
    assert!(
        (228..=372).contains(&on_canary),
        "{on_canary} of {n} on the canary"
    );
    let variant_of = |user: &str| {
        let r = c
            .post(&url)
            .header("content-type", "application/json")
            .header("x-user-id", user)
            .body(split_body(0, 1))
            .send()
            .unwrap();
        r.headers()["x-variant"].to_str().unwrap().to_string()
    };
    let users: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    let before: Vec<String> = users.iter().map(|u| variant_of(u)).collect();
    for (u, v) in users.iter().zip(&before).take(30) {
        for _ in 0..3 {
            assert_eq!(&variant_of(u), v, "user {u} moved");
        }
    }
    server.set_weight("canary", 0.6).unwrap();
    let after: Vec<String> = users.iter().map(|u| variant_of(u)).collect();
    for (b, a) in before.iter().zip(&after) {
        if b == "canary" {
            assert_eq!(a, "canary", "raising the weight moved a canary user back");
        }
    }
    let stats = server.stats();
    let canary_stats = stats.iter().find(|s| s.variant == "canary").unwrap();
    assert!(canary_stats.requests > 0 && canary_stats.server_errors == 0);
    assert!(canary_stats.latency_sum_s > 0.0);
    server.promote("canary").unwrap();
    let vs = server.variants();
    assert_eq!(
        (vs.len(), vs[0].name.as_str(), vs[0].version.as_str()),
        (1, "stable", "2")
    );
    server.shutdown().unwrap();
}

#[test]
fn a_failing_shadow_never_slows_or_fails_the_primary() {
    let inner: Arc<dyn Model> = Arc::new(wine_model(Algorithm::logistic()));
    let stable = served(wine_model(Algorithm::logistic()), "1");
    let dir = tempfile::tempdir().unwrap();
    let mut log = mlops_deploy::LogConfig::new(dir.path());
    log.flush_interval = Duration::from_millis(100);
    let config = ServerConfig {
        log: Some(log),
        ..ServerConfig::default()
    };
    let server = start(config, stable);
    let failing = Faulty {
        inner: inner.clone(),
        sleep: Duration::from_millis(200),
        fail: true,
        panic: false,
    };
    server
        .set_shadow(Some(ServedModel::new(
            "wine",
            "shadow-1",
            Arc::new(failing),
        )))
        .unwrap();
    let url = format!("{}/invocations", server.url());
    let c = client();
    let t = std::time::Instant::now();
    for _ in 0..20 {
        let (s, h, _) = post(&c, &url, Some("application/json"), split_body(0, 2));
        assert_eq!(s, 200);
        assert_eq!(h["x-variant"], "stable");
    }
    // 20 requests with a 200 ms shadow each would take 4 s if the shadow were waited for.
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let panicking = Faulty {
        inner,
        sleep: Duration::ZERO,
        fail: false,
        panic: true,
    };
    server
        .swap(
            "shadow",
            ServedModel::new("wine", "shadow-2", Arc::new(panicking)),
        )
        .unwrap();
    for _ in 0..10 {
        let (s, _, _) = post(&c, &url, Some("application/json"), split_body(0, 2));
        assert_eq!(s, 200);
    }
    std::thread::sleep(Duration::from_millis(600));
    let stats = server.stats();
    let stable_stats = stats.iter().find(|s| s.variant == "stable").unwrap();
    assert_eq!((stable_stats.requests, stable_stats.server_errors), (30, 0));
    let shadow_seen: u64 = stats
        .iter()
        .filter(|s| s.variant == "shadow")
        .map(|s| s.requests)
        .sum();
    let shadow_failed: u64 = stats
        .iter()
        .filter(|s| s.variant == "shadow")
        .map(|s| s.server_errors)
        .sum();
    assert!(shadow_seen > 0 && shadow_failed == shadow_seen, "{stats:?}");
    server.shutdown().unwrap();
    let df = mlops_deploy::scan(dir.path()).unwrap().collect().unwrap();
    let variants = df.column("variant").unwrap().str().unwrap();
    assert_eq!(variants.iter().filter(|v| *v == Some("stable")).count(), 60);
    assert!(variants.iter().any(|v| v == Some("shadow")));
}

#[test]
fn kserve_v2_endpoints_over_http() {
    let model = wine_model(Algorithm::logistic());
    let want = expected_labels(&model, 0, 4);
    let server = start(ServerConfig::default(), served(model, "3"));
    let c = client();
    let base = server.url();
    let meta: serde_json::Value = c
        .get(format!("{base}/v2/models/wine"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(meta["name"], "wine");
    assert_eq!(meta["versions"][0], "3");
    assert_eq!(meta["inputs"].as_array().unwrap().len(), 11);
    assert_eq!(
        c.get(format!("{base}/v2/models/wine/ready"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        c.get(format!("{base}/v2/models/nope"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let df = wine().slice(0, 4);
    let names = wine_features();
    let by_column: Vec<serde_json::Value> = names
        .iter()
        .map(|n| {
            let v: Vec<f64> = df
                .column(n)
                .unwrap()
                .f64()
                .unwrap()
                .into_no_null_iter()
                .collect();
            serde_json::json!({"name": n, "shape": [4], "datatype": "FP64", "data": v})
        })
        .collect();
    let matrix: Vec<f64> = (0..4)
        .flat_map(|i| names.iter().map(move |n| (n.clone(), i)))
        .map(|(n, i)| df.column(&n).unwrap().f64().unwrap().get(i).unwrap())
        .collect();
    let bodies = [
        serde_json::json!({"id": "r1", "inputs": by_column}),
        serde_json::json!({"id": "r1", "inputs": [{"name": "x", "shape": [4, 11], "datatype": "FP64", "data": matrix}]}),
    ];
    for body in bodies {
        let (s, _, v) = post(
            &c,
            &format!("{base}/v2/models/wine/infer"),
            Some("application/json"),
            body.to_string(),
        );
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["id"], "r1");
        assert_eq!(v["model_name"], "wine");
        assert_eq!(v["model_version"], "3");
        let out = &v["outputs"][0];
        assert_eq!(
            (out["name"].as_str(), out["datatype"].as_str()),
            (Some("predict"), Some("INT64"))
        );
        let got: Vec<i64> = out["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(got, want);
        assert_eq!(v["outputs"][1]["shape"], serde_json::json!([4, 2]));
    }
    let (s, _, v) = post(
        &c,
        &format!("{base}/v2/models/wine/infer"),
        Some("application/json"),
        r#"{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1]}]}"#,
    );
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("shape"), "{v}");
    let (s, _, _) = post(
        &c,
        &format!("{base}/v2/models/other/infer"),
        Some("application/json"),
        "{}",
    );
    assert_eq!(s, 404);
}

fn fetch_metrics(url: &str) -> (String, String) {
    let r = client().get(format!("{url}/metrics")).send().unwrap();
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    (ct, r.text().unwrap())
}

#[test]
fn metrics_count_requests_by_model_version_variant_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        log: Some(mlops_deploy::LogConfig::new(dir.path())),
        ..ServerConfig::default()
    };
    let server = start(config, served(wine_model(Algorithm::logistic()), "1"));
    server
        .set_variant(
            "canary",
            served(wine_model(Algorithm::logistic()), "2"),
            0.5,
        )
        .unwrap();
    let url = format!("{}/invocations", server.url());
    let c = client();
    for i in 0..40 {
        let body = if i % 10 == 0 {
            "{}".to_string()
        } else {
            split_body(0, 2)
        };
        post(&c, &url, Some("application/json"), body);
    }
    let (ct, text) = fetch_metrics(&server.url());
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    for family in [
        "model_requests_total{",
        "model_request_duration_seconds_bucket{",
        "model_requests_in_flight ",
        "model_load_seconds{",
        "deploy_variant_weight{variant=\"canary\"} 0.5",
        "inference_log_rows_written_total",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
    ] {
        assert!(text.contains(family), "{family} missing from\n{text}");
    }
    assert!(text.contains("code=\"400\""), "{text}");
    let total: f64 = text
        .lines()
        .filter(|l| l.starts_with("model_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 40.0);
    let rss: f64 = text
        .lines()
        .find(|l| l.starts_with("process_resident_memory_bytes "))
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rss > 1e6, "{rss}");
}

#[test]
#[ignore = "needs promtool (scripts/test installs Debian's prometheus)"]
fn metrics_under_traffic_pass_promtool() {
    let server = start(
        ServerConfig::default(),
        served(wine_model(Algorithm::logistic()), "1"),
    );
    server
        .set_variant(
            "canary",
            served(wine_model(Algorithm::forest(3, Some(2))), "2"),
            0.2,
        )
        .unwrap();
    let url = format!("{}/invocations", server.url());
    let text = std::thread::scope(|s| {
        let load = s.spawn(|| {
            let c = client();
            for i in 0..300 {
                let body = if i % 7 == 0 {
                    "nope".to_string()
                } else {
                    split_body(i % 50, i % 50 + 3)
                };
                post(&c, &url, Some("application/json"), body);
            }
        });
        std::thread::sleep(Duration::from_millis(200));
        let (_, text) = fetch_metrics(&server.url());
        load.join().unwrap();
        text
    });
    for t in [text, fetch_metrics(&server.url()).1] {
        promtool_check(&t);
    }
}

fn header_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    let names = prop_oneof![
        Just("content-type".to_string()),
        Just("x-request-id".to_string()),
        Just("content-length".to_string()),
        Just("accept".to_string()),
        "[a-z][a-z0-9-]{0,12}",
    ];
    let values = prop_oneof![
        Just("application/json".to_string()),
        Just("text/csv".to_string()),
        Just("application/json; charset=utf-8".to_string()),
        Just("application/json; charset=latin-1".to_string()),
        "[ -~]{0,40}",
    ];
    proptest::collection::vec((names, values), 0..4)
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let names = wine_features();
    let json_like = prop_oneof![
        Just(split_body(0, 2)),
        Just(r#"{"dataframe_split": {"columns": [], "data": [[]]}}"#.to_string()),
        Just(r#"{"dataframe_records": [{}, 1, null]}"#.to_string()),
        Just(r#"{"instances": [[1e400, -0.0], "x"]}"#.to_string()),
        Just(r#"{"inputs": {"a": 1}, "params": []}"#.to_string()),
        "\\PC{0,200}",
    ];
    let mutated = (json_like, any::<usize>(), any::<u8>()).prop_map(|(s, at, b)| {
        let mut v = s.into_bytes();
        if !v.is_empty() {
            let i = at % v.len();
            v[i] = b;
        }
        v
    });
    let records = proptest::collection::vec(
        proptest::collection::vec(
            prop_oneof![
                any::<f64>().prop_map(|x| serde_json::json!(x)),
                any::<i64>().prop_map(|x| serde_json::json!(x)),
                "\\PC{0,8}".prop_map(|s| serde_json::json!(s)),
                Just(serde_json::Value::Null),
                Just(serde_json::json!([1, 2])),
            ],
            0..13,
        ),
        0..4,
    )
    .prop_map(move |rows| {
        serde_json::json!({"dataframe_split": {"columns": names, "data": rows}})
            .to_string()
            .into_bytes()
    });
    prop_oneof![
        mutated,
        records,
        proptest::collection::vec(any::<u8>(), 0..300)
    ]
}

#[test]
fn random_bodies_and_headers_never_get_a_5xx() {
    let server = start(
        ServerConfig::default(),
        served(wine_model(Algorithm::logistic()), "1"),
    );
    let c = client();
    let base = server.url();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(header_strategy(), body_strategy(), 0..3usize),
            |(headers, body, path)| {
                let path = [
                    "/invocations",
                    "/v2/models/wine/infer",
                    "/v2/models/wine/versions/1/infer",
                ][path];
                let mut rb = c.post(format!("{base}{path}")).body(body);
                for (k, v) in &headers {
                    if let (Ok(k), Ok(v)) = (
                        reqwest::header::HeaderName::from_bytes(k.as_bytes()),
                        reqwest::header::HeaderValue::from_str(v),
                    ) {
                        if k == reqwest::header::CONTENT_LENGTH {
                            continue;
                        }
                        rb = rb.header(k, v);
                    }
                }
                let r = rb.send().unwrap();
                let status = r.status().as_u16();
                prop_assert!(status < 500, "status {status} for {headers:?}");
                Ok(())
            },
        )
        .unwrap();
    // The server is still healthy.
    let (s, _, _) = post(
        &c,
        &format!("{base}/invocations"),
        Some("application/json"),
        split_body(0, 1),
    );
    assert_eq!(s, 200);
}
