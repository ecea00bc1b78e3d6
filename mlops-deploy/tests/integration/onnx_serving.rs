//! The `onnx` flavor through the server over real HTTP: scikit-learn models converted by
//! skl2onnx (the fixtures of `mlops-train/tests/data/onnx/`) answer MLflow's scoring
//! protocol as MLflow's own `onnx` scoring server does (its answers are stored in
//! `mlflow_scoring.json` by `scripts/interop/onnx_models.py scoring`), and KServe V2
//! with onnxruntime's labels; an MLflow model directory serves from its path.

use std::path::PathBuf;
use std::sync::Arc;

use mlops_deploy::{ServedModel, ServerConfig};
use mlops_train::{FlavorRegistry, OnnxModel};
use serde_json::Value;

use crate::common::*;

const TOLERANCE: f64 = 1e-5;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mlops-train/tests/data/onnx")
}

fn read_json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join(name)).unwrap()).unwrap()
}

fn case(name: &str) -> Value {
    read_json("reference.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
        .clone()
}

/// The case's input rows (`[rows, features]`).
fn rows(c: &Value) -> Vec<Vec<f64>> {
    let x = &c["inputs"]["X"];
    let width = x["shape"][1].as_u64().unwrap() as usize;
    let flat: Vec<f64> = x["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    flat.chunks(width).map(<[f64]>::to_vec).collect()
}

fn json_close(got: &Value, want: &Value, at: &str) {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!(
                (g - w).abs() <= TOLERANCE * w.abs().max(1.0),
                "{at}: {g} vs {w}"
            );
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{at}: length");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                json_close(g, w, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(g), Value::Object(w)) => {
            assert_eq!(
                g.keys().collect::<Vec<_>>(),
                w.keys().collect::<Vec<_>>(),
                "{at}: keys"
            );
            for (k, w) in w {
                json_close(&g[k], w, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(got, want, "{at}"),
    }
}

fn served_fixture(name: &str) -> ServedModel {
    let bytes = std::fs::read(fixtures().join(format!("{name}.onnx"))).unwrap();
    let model = OnnxModel::from_onnx(name, bytes, None).unwrap();
    ServedModel::new(name, "1", Arc::new(model))
}

/// `POST /invocations` on an ONNX model answers MLflow's `onnx` scoring answer (records
/// of the graph's outputs) where MLflow has one, and onnxruntime's labels and
/// probabilities as records where MLflow 3.17 fails (a `[rows, classes]` probability
/// output); one-row requests answer the same as the rows of a batch.
#[test]
fn onnx_models_answer_mlflows_scoring_protocol_over_http() {
    let scoring = read_json("mlflow_scoring.json");
    let c = client();
    for name in [
        "sk_lr_binary_zipmap",
        "sk_lr_multiclass_zipmap",
        "sk_rf_regressor",
        "sk_gb_multiclass",
        "sk_lr_binary",
    ] {
        let case = case(name);
        let x = rows(&case);
        let server = start(ServerConfig::default(), served_fixture(name));
        let url = format!("{}/invocations", server.url());
        let columns: Vec<String> = (0..x[0].len()).map(|i| i.to_string()).collect();
        let body = serde_json::json!({"dataframe_split": {"columns": columns, "data": x}});
        let (status, _, answer) = post(&c, &url, Some("application/json"), body.to_string());
        assert_eq!(status, 200, "{name}: {answer}");
        let got = &answer["predictions"];
        if let Some(want) = scoring[name].get("predictions") {
            json_close(got, want, name);
        } else {
            let out = case["outputs"].as_array().unwrap();
            let records = got.as_array().unwrap();
            assert_eq!(records.len(), x.len(), "{name}");
            for (r, rec) in records.iter().enumerate() {
                assert_eq!(rec["label"], out[0]["data"][r], "{name} row {r}");
                let k = rec["probabilities"].as_array().unwrap().len();
                let want: Vec<f64> = out[1]["data"].as_array().unwrap()[r * k..(r + 1) * k]
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                json_close(&rec["probabilities"], &Value::from(want), name);
            }
        }
        // One row per request, as the benchmark sends them.
        for r in [0, x.len() - 1] {
            let body = serde_json::json!({"dataframe_split": {"columns": columns, "data": [x[r]]}});
            let (status, _, one) = post(&c, &url, Some("application/json"), body.to_string());
            assert_eq!(status, 200, "{name}");
            json_close(&one["predictions"][0], &got[r], &format!("{name} row {r}"));
        }
    }
}

/// KServe V2 `infer` on an ONNX classifier with string classes: onnxruntime's labels.
#[test]
fn onnx_models_answer_kserve_v2_infer_over_http() {
    let name = "sk_gb_multiclass";
    let case = case(name);
    let x = rows(&case);
    let server = start(ServerConfig::default(), served_fixture(name));
    let flat: Vec<f64> = x.iter().flatten().copied().collect();
    let body = serde_json::json!({"inputs": [
        {"name": "X", "shape": [x.len(), 8], "datatype": "FP64", "data": flat}
    ]});
    let (status, _, answer) = post(
        &client(),
        &format!("{}/v2/models/{name}/infer", server.url()),
        Some("application/json"),
        body.to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    let outputs = answer["outputs"].as_array().unwrap();
    assert_eq!(outputs[0]["datatype"], "BYTES");
    assert_eq!(outputs[0]["data"], case["outputs"][0]["data"]);
    json_close(
        &outputs[1]["data"],
        &case["outputs"][1]["data"],
        "predict_proba",
    );
}

/// An MLflow model directory as `mlflow.onnx.save_model` writes it serves from its path
/// (what `mlops serve DIR` does): named by the directory, versioned by its `MLmodel`.
#[test]
fn an_mlflow_onnx_directory_serves_from_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("wine-onnx");
    std::fs::create_dir(&model_dir).unwrap();
    std::fs::copy(
        fixtures().join("sk_rf_regressor.onnx"),
        model_dir.join("model.onnx"),
    )
    .unwrap();
    std::fs::write(
        model_dir.join("MLmodel"),
        "artifact_path: model\nflavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.23.2\n  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\n",
    )
    .unwrap();
    let served = ServedModel::from_package_dir(&model_dir, &FlavorRegistry::new()).unwrap();
    assert_eq!(served.name(), "wine-onnx");
    assert!(
        served.version().starts_with("sha256:"),
        "{}",
        served.version()
    );
    assert_eq!(served.model().flavor(), "onnx");
    let server = start(ServerConfig::default(), served);
    let case = case("sk_rf_regressor");
    let x = rows(&case);
    let columns: Vec<String> = (0..x[0].len()).map(|i| i.to_string()).collect();
    let body = serde_json::json!({"dataframe_split": {"columns": columns, "data": x}});
    let (status, _, answer) = post(
        &client(),
        &format!("{}/invocations", server.url()),
        Some("application/json"),
        body.to_string(),
    );
    assert_eq!(status, 200, "{answer}");
    json_close(
        &answer["predictions"],
        &read_json("mlflow_scoring.json")["sk_rf_regressor"]["predictions"],
        "directory",
    );
}
