//! Models trained on real data (red winequality), servers and a small HTTP client.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use mlops_deploy::{ModelServer, ServedModel, ServerConfig, ServerHandle};
use mlops_train::{
    Algorithm, Batch, FeatureSpec, LinfaModel, Model, Prediction, Signature, TargetSpec,
    TargetTask, TrainConfig, frame_from_matrix, train,
};
use polars::prelude::*;

/// Red winequality (1599 rows, 11 features) with `good` = quality >= 6 as 0/1 (i64).
pub fn wine() -> DataFrame {
    let ds = linfa_datasets::winequality();
    let mut df = frame_from_matrix(ds.feature_names(), ds.records.view()).unwrap();
    let good: Vec<i64> = ds.targets.iter().map(|&t| i64::from(t >= 6)).collect();
    df.with_column(Column::new("good".into(), good)).unwrap();
    df
}

/// The feature names of [`wine`].
pub fn wine_features() -> Vec<String> {
    linfa_datasets::winequality().feature_names().to_vec()
}

/// A classifier on [`wine`]: standardised logistic regression or a small forest.
pub fn wine_model(algorithm: Algorithm) -> LinfaModel {
    let df = wine();
    let config = TrainConfig {
        features: FeatureSpec::all_numeric_standardized(&df, &["good"]),
        target: TargetSpec {
            column: "good".into(),
            task: TargetTask::Classification,
        },
        algorithm,
        seed: 7,
    };
    train(&df, &config).unwrap()
}

/// A logistic wine model on raw features that refuses missing values (no imputation).
pub fn wine_model_strict() -> LinfaModel {
    let df = wine();
    let config = TrainConfig {
        features: FeatureSpec::all_numeric(&df, &["good"]),
        target: TargetSpec {
            column: "good".into(),
            task: TargetTask::Classification,
        },
        algorithm: Algorithm::logistic(),
        seed: 7,
    };
    train(&df, &config).unwrap()
}

/// The logistic wine model, served as `wine` version `v`.
pub fn served(model: LinfaModel, version: &str) -> ServedModel {
    ServedModel::new("wine", version, Arc::new(model))
}

/// Starts a server with `stable`.
pub fn start(config: ServerConfig, stable: ServedModel) -> ServerHandle {
    ModelServer::start(config, stable).unwrap()
}

/// Rows `from..to` of [`wine`] as a `dataframe_split` body.
pub fn split_body(from: usize, to: usize) -> String {
    let df = wine();
    let names = wine_features();
    let rows: Vec<Vec<f64>> = (from..to)
        .map(|i| {
            names
                .iter()
                .map(|n| df.column(n).unwrap().f64().unwrap().get(i).unwrap())
                .collect()
        })
        .collect();
    serde_json::json!({"dataframe_split": {"columns": names, "data": rows}}).to_string()
}

/// The model's labels (0/1) for rows `from..to` of [`wine`].
pub fn expected_labels(model: &dyn Model, from: usize, to: usize) -> Vec<i64> {
    let df = wine().slice(from as i64, to - from);
    match model.predict(&df).unwrap() {
        Prediction::Classes {
            classes, labels, ..
        } => labels
            .iter()
            .map(|&l| classes[l].parse().unwrap())
            .collect(),
        Prediction::Values(_) => panic!("a classifier"),
    }
}

/// A blocking HTTP client with keep-alive.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// POSTs `body` with a content type; returns status, headers and the body as JSON
/// (`Null` when it is not JSON).
pub fn post(
    c: &reqwest::blocking::Client,
    url: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::blocking::Body>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut rb = c.post(url).body(body);
    if let Some(ct) = content_type {
        rb = rb.header("content-type", ct);
    }
    let r = rb.send().unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Labels out of `{"predictions": [...]}`.
pub fn labels_of(v: &serde_json::Value) -> Vec<i64> {
    v["predictions"]
        .as_array()
        .unwrap_or_else(|| panic!("no predictions in {v}"))
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

/// A model wrapper for failure tests: sleeps, fails or panics before predicting.
#[derive(Debug)]
pub struct Faulty {
    pub inner: Arc<dyn Model>,
    pub sleep: Duration,
    pub fail: bool,
    pub panic: bool,
}

impl Faulty {
    pub fn slow(inner: Arc<dyn Model>, sleep: Duration) -> Faulty {
        Faulty {
            inner,
            sleep,
            fail: false,
            panic: false,
        }
    }
}

impl Model for Faulty {
    fn flavor(&self) -> &str {
        self.inner.flavor()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn task(&self) -> mlops_train::Task {
        self.inner.task()
    }
    fn classes(&self) -> &[String] {
        self.inner.classes()
    }
    fn predict(&self, frame: &DataFrame) -> mlops_train::Result<Prediction> {
        std::thread::sleep(self.sleep);
        if self.panic {
            panic!("faulty model");
        }
        if self.fail {
            return Err(mlops_train::Error::InvalidArgument("faulty model".into()));
        }
        self.inner.predict(frame)
    }
    fn predict_batch(&self, batch: &Batch) -> mlops_train::Result<Prediction> {
        std::thread::sleep(self.sleep);
        if self.panic {
            panic!("faulty model");
        }
        if self.fail {
            return Err(mlops_train::Error::InvalidArgument("faulty model".into()));
        }
        self.inner.predict_batch(batch)
    }
    fn hyperparameters(&self) -> serde_json::Value {
        self.inner.hyperparameters()
    }
    fn to_payload(&self) -> mlops_train::Result<Vec<u8>> {
        self.inner.to_payload()
    }
}

/// Checks a Prometheus exposition with Debian's `promtool check metrics` (on `PATH`;
/// `scripts/test` installs it): fails when promtool is missing or rejects `text`.
pub fn promtool_check(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool on PATH (scripts/test installs Debian's prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Registers `model` as a new version of `name` (created when missing) through a model
/// package in the registry's artifact store; returns the version.
pub fn register(
    reg: &dyn mlops_core::Registry,
    name: &str,
    model: &mlops_train::LinfaModel,
) -> u64 {
    use std::collections::BTreeMap;
    let pkg = mlops_train::ModelPackage::new(
        model,
        BTreeMap::new(),
        mlops_train::Lineage::now(Vec::new(), None),
    )
    .unwrap();
    let id = pkg.store(reg.artifact_store()).unwrap();
    let imported = reg
        .import_package(reg.artifact_store(), &id, "file:///nowhere/model", None)
        .unwrap();
    let mut new = mlops_core::registry::NewVersion::new(id, imported.source);
    new.run_id = imported.run_id;
    if reg.get_model(name).is_err() {
        reg.create_model(name, None, &BTreeMap::new()).unwrap();
    }
    reg.create_version(name, &new).unwrap().version
}

/// The Prometheus queries of an application's own `conversion` counters (sessions and
/// orders per version), for strategies that judge a metric the server does not export.
pub fn conversion_queries()
-> std::collections::BTreeMap<String, mlops_deploy::strategy::argo::ArmQueries> {
    std::collections::BTreeMap::from([(
        "conversion".to_string(),
        mlops_deploy::strategy::argo::ArmQueries {
            total: r#"sum(shop_sessions_total{model="{model}",version="{version}"})"#.into(),
            successes: r#"sum(shop_orders_total{model="{model}",version="{version}"})"#.into(),
        },
    )])
}
