//! `mlops monitor`, `mlops dora` and `mlops audit show` as a person or a CI job runs
//! them, on the quickstart's registered model and an inference log of its shape.

use std::path::Path;
use std::process::Command;

use mlops_core::{ModelUri, Registry, registry_from_uri};
use mlops_train::{FlavorRegistry, ModelPackage, Prediction, frame_from_matrix};
use polars::prelude::*;
use serde_json::Value;

fn run(cwd: &Path, bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin)
        .current_dir(cwd)
        .args(args)
        .env("MLOPS_HOME", cwd.join(".mlops"))
        .env_remove("MLFLOW_REGISTRY_URI")
        .env_remove("MLFLOW_TRACKING_URI")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes a segment as the server does: `segment-<20 digits>.parquet`, temp then rename.
fn write_segment(dir: &Path, first_seq: u64, df: &mut DataFrame) {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(".tmp-segment");
    ParquetWriter::new(std::fs::File::create(&tmp).unwrap())
        .finish(df)
        .unwrap();
    std::fs::rename(&tmp, dir.join(format!("segment-{first_seq:020}.parquet"))).unwrap();
}

fn winequality() -> DataFrame {
    let ds = linfa_datasets::winequality();
    let mut df = frame_from_matrix(ds.feature_names(), ds.records.view()).unwrap();
    let good: Vec<&str> = ds
        .targets
        .iter()
        .map(|&t| if t >= 6 { "good" } else { "bad" })
        .collect();
    df.with_column(Column::new("good".into(), good)).unwrap();
    df
}

/// The log the server writes for `data`, one request per row, ids from `first`.
fn served(registry: &dyn Registry, data: &DataFrame, first: usize) -> DataFrame {
    let loaded = registry
        .load(
            &"models:/winequality-good@champion"
                .parse::<ModelUri>()
                .unwrap(),
        )
        .unwrap();
    let pkg = ModelPackage::load(registry.artifact_store(), &loaded.package).unwrap();
    let model = pkg.model(&FlavorRegistry::new()).unwrap();
    let Prediction::Classes {
        classes,
        labels,
        proba,
    } = model.predict(data).unwrap()
    else {
        panic!()
    };
    let proba = proba.unwrap();
    let n = data.height();
    let mut cols = vec![
        Column::new(
            "request_id".into(),
            (0..n)
                .map(|i| format!("w{}", first + i))
                .collect::<Vec<_>>(),
        ),
        Column::new("row".into(), vec![0u32; n]),
        Column::new(
            "ts_ms".into(),
            (0..n)
                .map(|i| 1_764_000_000_000 + 100 * (first + i) as i64)
                .collect::<Vec<_>>(),
        ),
        Column::new("model".into(), vec!["winequality-good"; n]),
        Column::new("version".into(), vec!["1"; n]),
        Column::new("variant".into(), vec!["stable"; n]),
        Column::new("status".into(), vec![200u32; n]),
        Column::new("latency_ms".into(), vec![1.5; n]),
    ];
    for c in model.signature().inputs.iter() {
        cols.push(
            data.column(&c.name)
                .unwrap()
                .clone()
                .with_name(format!("input.{}", c.name).into()),
        );
    }
    cols.push(Column::new(
        "prediction".into(),
        labels
            .iter()
            .map(|&l| classes[l].clone())
            .collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "value".into(),
        (0..n).map(|i| proba[[i, 1]]).collect::<Vec<_>>(),
    ));
    DataFrame::new(n, cols).unwrap()
}

#[test]
fn monitor_dora_and_audit_show_on_the_quickstart_model() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let uri = root.to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .current_dir(dir.path())
        .env("MLFLOW_TRACKING_URI", uri)
        .env("MLOPS_HOME", dir.path().join(".mlops"))
        .env_remove("MLFLOW_REGISTRY_URI")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registry = registry_from_uri(uri).unwrap();

    // the log: the rows in a fixed shuffled order (the file is sorted by origin),
    // 800 as they are, then 799 with alcohol moved up by 2
    let data = winequality();
    let n = data.height() as u32;
    let idx = IdxCa::from_vec("i".into(), (0..n).map(|i| (i * 7) % n).collect());
    let data = data.take(&idx).unwrap();
    let calm = data.slice(0, 800);
    let mut moved = data.slice(800, 799);
    let alcohol = moved.column("alcohol").unwrap().f64().unwrap() + 2.0;
    moved
        .with_column(
            alcohol
                .into_series()
                .with_name("alcohol".into())
                .into_column(),
        )
        .unwrap();
    let logs = dir.path().join("log");
    write_segment(&logs, 0, &mut served(registry.as_ref(), &calm, 0));
    write_segment(&logs, 800, &mut served(registry.as_ref(), &moved, 800));
    let labels = dir.path().join("labels.csv");
    let mut csv = String::from("request_id,label\n");
    for (i, g) in data
        .column("good")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .enumerate()
    {
        csv.push_str(&format!("w{i},{}\n", g.unwrap()));
    }
    std::fs::write(&labels, csv).unwrap();

    let bin = env!("CARGO_BIN_EXE_mlops");
    let html = dir.path().join("monitor.html");
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"[{"name": "alcohol", "rule": "feature_drifted", "column": "alcohol"}]"#,
    )
    .unwrap();
    let (code, stdout, stderr) = run(
        dir.path(),
        bin,
        &[
            "monitor",
            "--log-dir",
            logs.to_str().unwrap(),
            "--model",
            "models:/winequality-good@champion",
            "--labels",
            labels.to_str().unwrap(),
            "--window",
            "400",
            "--json",
            "--html",
            html.to_str().unwrap(),
            "--tracking-uri",
            uri,
            "--record",
            "--policy",
            policy.to_str().unwrap(),
            "--threshold",
            "0.2",
        ],
    );
    assert_eq!(code, 1, "a policy fired: exit 1\n{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let windows = v["windows"].as_array().unwrap();
    let rows: Vec<u64> = windows
        .iter()
        .map(|w| w["rows"].as_u64().unwrap())
        .collect();
    assert_eq!(rows, [400, 400, 400, 399]);
    for w in windows {
        assert!(w["drift"]["share"].is_number());
        for c in w["drift"]["columns"].as_array().unwrap() {
            assert!(c["column"].is_string() && c["drifted"].is_boolean());
        }
        let acc = &w["quality"]["metrics"][0];
        assert_eq!(acc["metric"], "accuracy");
        assert!(acc["lower"].as_f64().unwrap() < acc["value"].as_f64().unwrap());
    }
    let drifted = |w: &Value| -> Vec<String> {
        w["drift"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["drifted"] == true)
            .map(|c| c["column"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        !drifted(&windows[0]).contains(&"alcohol".to_string()),
        "{}",
        windows[0]["drift"]
    );
    assert!(drifted(&windows[2]).contains(&"alcohol".to_string()));
    let fired = v["fired"].as_array().unwrap();
    assert!(!fired.is_empty());
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("class=\"window-row")
    );

    // only the calm segment, explicit policy on alcohol: nothing fires, exit 0
    let calm_dir = dir.path().join("calm");
    std::fs::create_dir_all(&calm_dir).unwrap();
    std::fs::copy(
        logs.join("segment-00000000000000000000.parquet"),
        calm_dir.join("segment-00000000000000000000.parquet"),
    )
    .unwrap();
    let (code, stdout, stderr) = run(
        dir.path(),
        bin,
        &[
            "monitor",
            "--log-dir",
            calm_dir.to_str().unwrap(),
            "--model",
            "models:/winequality-good@champion",
            "--window",
            "400",
            "--policy",
            policy.to_str().unwrap(),
            "--tracking-uri",
            uri,
            "--threshold",
            "0.2",
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("window    0"), "{stdout}");
    // --follow never exits 1; it stops after --max-polls here; the gauges go to a
    // textfile-collector file after every poll
    let metrics = dir.path().join("monitor.prom");
    let (code, stdout, _) = run(
        dir.path(),
        bin,
        &[
            "monitor",
            "--log-dir",
            logs.to_str().unwrap(),
            "--model",
            "models:/winequality-good@champion",
            "--window",
            "400",
            "--follow",
            "--max-polls",
            "1",
            "--interval-ms",
            "10",
            "--tracking-uri",
            uri,
            "--json",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        text.contains("# TYPE mlops_monitor_drift_share gauge")
            && text.contains("mlops_monitor_windows_total{model=\"models:/winequality-good/1\"} 3"),
        "{text}"
    );
    assert_eq!(
        stdout.lines().count(),
        3,
        "complete windows only while following: {stdout}"
    );
    // bad input: a typed message and exit 2
    let (code, _, stderr) = run(
        dir.path(),
        bin,
        &[
            "monitor",
            "--log-dir",
            logs.to_str().unwrap(),
            "--model",
            "models:/nope@champion",
            "--tracking-uri",
            uri,
        ],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("nope"), "{stderr}");
    // a labels file that is not there is an error in one pass (not "no labels")
    let (code, _, stderr) = run(
        dir.path(),
        bin,
        &[
            "monitor",
            "--log-dir",
            logs.to_str().unwrap(),
            "--model",
            "models:/winequality-good@champion",
            "--labels",
            "missing.jsonl",
            "--tracking-uri",
            uri,
        ],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("missing.jsonl") && stderr.contains("not found"),
        "{stderr}"
    );

    // dora: one promotion by the quickstart, one alert recorded by --record
    let (code, stdout, _) = run(dir.path(), bin, &["dora", "--tracking-uri", uri, "--json"]);
    assert_eq!(code, 0);
    let d: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(d["deployments"], 1);
    assert_eq!(d["alerts"].as_u64().unwrap(), fired.len() as u64);
    assert_eq!(d["deployment_list"][0]["lead_time_from"], "run_start");
    let (code, table, _) = run(dir.path(), bin, &["dora", "--tracking-uri", uri]);
    assert_eq!(code, 0);
    assert!(
        table.contains("deployment frequency") && table.contains("time to restore"),
        "{table}"
    );

    // the audit log as a timeline
    let audit = dir.path().join("mlruns.mlops").join("audit.jsonl");
    let (code, timeline, _) = run(dir.path(), bin, &["audit", "show", audit.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        timeline.contains("registry.alias.set") && timeline.contains("trigger.fired"),
        "{timeline}"
    );
    assert!(
        timeline.contains("UTC") || timeline.contains(":"),
        "{timeline}"
    );
}

/// `name{labels} value` of a Prometheus page.
fn sample(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn serve_with_a_monitor_takes_labels_over_http_and_follow_prints_late_revisions() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let uri = root.to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .current_dir(dir.path())
        .env("MLFLOW_TRACKING_URI", uri)
        .env("MLOPS_HOME", dir.path().join(".mlops"))
        .env_remove("MLFLOW_REGISTRY_URI")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = env!("CARGO_BIN_EXE_mlops");
    let logs = dir.path().join("log");
    let labels = dir.path().join("labels.jsonl");
    let mut server = Command::new(bin)
        .current_dir(dir.path())
        .args([
            "serve",
            "models:/winequality-good@champion",
            "--port",
            "0",
            "--tracking-uri",
            uri,
            "--monitor-window",
            "100",
            "--monitor-interval-ms",
            "50",
        ])
        .arg("--log-dir")
        .arg(&logs)
        .arg("--labels-file")
        .arg(&labels)
        .env("MLOPS_HOME", dir.path().join(".mlops"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();

    // 400 rows in requests of 10
    let data = winequality();
    let features: Vec<String> = data
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .filter(|s| s != "good")
        .collect();
    let c = reqwest::blocking::Client::new();
    for r in 0..40 {
        let rows: Vec<Vec<f64>> = (r * 10..r * 10 + 10)
            .map(|i| {
                features
                    .iter()
                    .map(|f| data.column(f).unwrap().f64().unwrap().get(i).unwrap())
                    .collect()
            })
            .collect();
        let body = serde_json::json!({"dataframe_split": {"columns": features, "data": rows}});
        let resp = c
            .post(format!("{url}/invocations"))
            .header("content-type", "application/json")
            .header("x-request-id", format!("q{r}"))
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
    let scrape = || {
        c.get(format!("{url}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    };
    let model = "models:/winequality-good/1";
    let wait = |what: &str, f: &dyn Fn(&str) -> bool| {
        let t = Instant::now();
        loop {
            let text = scrape();
            if f(&text) {
                return text;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no {what} on /metrics:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // the log is flushed every 5 s: the four windows show on the server's page
    let windows = format!("mlops_monitor_windows_total{{model=\"{model}\"}}");
    wait("4 windows", &|t| sample(t, &windows) == Some(4.0));
    let accuracy =
        format!("mlops_monitor_quality{{model=\"{model}\",metric=\"accuracy\",bound=\"value\"}}");
    assert!(sample(&scrape(), &accuracy).is_none(), "no labels yet");

    // the truth, over HTTP, for every row (by request id and row)
    let good = data.column("good").unwrap().str().unwrap();
    let items: Vec<Value> = (0..400)
        .map(|i| serde_json::json!({"request_id": format!("q{}", i / 10), "row": i % 10, "label": good.get(i).unwrap()}))
        .collect();
    let v: Value = c
        .post(format!("{url}/labels"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "labels": items }).to_string())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["accepted"], 400, "{v}");
    let v: Value = c
        .post(format!("{url}/labels"))
        .body(r#"{"labels": [{"request_id": "q1"}]}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["error_code"], "BAD_REQUEST", "{v}");
    // late labels reach the latest window's quality gauge
    let text = wait("accuracy", &|t| sample(t, &accuracy).is_some());
    let acc = sample(&text, &accuracy).unwrap();
    assert!((0.5..=1.0).contains(&acc), "{acc}");
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(server.wait().unwrap().success());

    // one pass over the same log with the server's label file: quality everywhere
    let (code, stdout, stderr) = run(
        dir.path(),
        bin,
        &[
            "monitor",
            "--log-dir",
            logs.to_str().unwrap(),
            "--model",
            "models:/winequality-good@champion",
            "--labels",
            labels.to_str().unwrap(),
            "--window",
            "100",
            "--json",
            "--tracking-uri",
            uri,
        ],
    );
    assert!(code == 0 || code == 1, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let ws = v["windows"].as_array().unwrap();
    assert_eq!(ws.len(), 4);
    for w in ws {
        assert_eq!(w["quality"]["labelled"], 100, "{w}");
    }
    // the last window, as the server's monitor saw it after the labels
    let last = ws[3]["quality"]["metrics"][0]["value"].as_f64().unwrap();
    assert!((last - acc).abs() < 1e-12, "{last} vs {acc}");

    // --follow: windows first without labels, then again (revision 1) once the labels
    // file appears, then new windows as new segments appear
    let late = dir.path().join("late.jsonl");
    let mut follow = Command::new(bin)
        .current_dir(dir.path())
        .args([
            "monitor",
            "--model",
            "models:/winequality-good@champion",
            "--window",
            "100",
            "--follow",
            "--json",
            "--interval-ms",
            "100",
            "--max-polls",
            "100",
            "--tracking-uri",
            uri,
        ])
        .arg("--log-dir")
        .arg(&logs)
        .arg("--labels")
        .arg(&late)
        .env("MLOPS_HOME", dir.path().join(".mlops"))
        .env_remove("MLFLOW_REGISTRY_URI")
        .env_remove("MLFLOW_TRACKING_URI")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut seen: Vec<Value> = Vec::new();
    for _ in 0..4 {
        seen.push(serde_json::from_str(&out.next().unwrap().unwrap()).unwrap());
    }
    assert!(
        seen.iter()
            .all(|w| w.get("quality").is_none() && w.get("revision").is_none()),
        "{seen:?}"
    );
    let tmp = dir.path().join("late.tmp");
    std::fs::copy(&labels, &tmp).unwrap();
    std::fs::rename(&tmp, &late).unwrap();
    let mut updated: Vec<Value> = Vec::new();
    for _ in 0..4 {
        updated.push(serde_json::from_str(&out.next().unwrap().unwrap()).unwrap());
    }
    let idx: Vec<u64> = updated
        .iter()
        .map(|w| w["index"].as_u64().unwrap())
        .collect();
    assert_eq!(idx, [0, 1, 2, 3]);
    for w in &updated {
        assert_eq!(w["revision"], 1, "{w}");
        assert_eq!(w["quality"]["labelled"], 100, "{w}");
    }
    assert_eq!(
        updated[3]["quality"]["metrics"][0]["value"].as_f64(),
        Some(last)
    );
    // new segments while following (the same 400 rows again, as a server restarted
    // with the sequence further on would write them): four new windows, labelled
    let segments: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    for (i, seg) in segments.iter().enumerate() {
        let tmp = logs.join(format!(".copy-{i}.tmp"));
        std::fs::copy(seg, &tmp).unwrap();
        let seq = 1_000_000 + i as u64 * 1_000;
        std::fs::rename(&tmp, logs.join(format!("segment-{seq:020}.parquet"))).unwrap();
    }
    for want in 4..8u64 {
        let w: Value = serde_json::from_str(&out.next().unwrap().unwrap()).unwrap();
        assert_eq!(w["index"], want, "{w}");
        assert_eq!(w["quality"]["labelled"], 100, "{w}");
        assert!(w.get("revision").is_none(), "{w}");
    }
    assert!(follow.wait().unwrap().success(), "--follow exits 0");
}
