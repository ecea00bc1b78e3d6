//! Fixtures: synthetic features, a trained model in a local registry, and inference-log
//! frames of exactly the shape the server writes.

use mlops_core::registry::{AliasChange, LocalRegistry, NewVersion, Registry};
use mlops_data::Dataset;
use mlops_train::{
    Algorithm, FeatureSpec, Lineage, Model, ModelPackage, Prediction, TargetSpec, TargetTask,
    TrainConfig,
};
use polars::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub fn normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = rng.r#gen::<f64>().max(1e-300);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// How serving data differs from training data.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scenario {
    /// Added to x0 (covariate shift).
    pub x0_shift: f64,
    /// The label depends on -x0 instead of x0 (concept drift).
    pub flipped: bool,
    /// Keep positives with this share by rejection (label shift); `None`: as drawn.
    pub positive_rate: Option<f64>,
}

/// `n` rows of x0, x1, x2 (numeric), cat (a/b/c) and label (neg/pos) with
/// `P(pos | x) = sigmoid(2 x0 - 1.5 x1)` (x2 and cat are noise), so a logistic model
/// on x0..x2 is well specified and calibrated.
pub fn features(n: usize, seed: u64, s: Scenario) -> DataFrame {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut x0, mut x1, mut x2, mut cat, mut label) = (vec![], vec![], vec![], vec![], vec![]);
    while x0.len() < n {
        let a = normal(&mut rng) + s.x0_shift;
        let b = normal(&mut rng);
        let c = rng.r#gen::<f64>() * 10.0;
        let k = ["a", "b", "c"][rng.gen_range(0..3)];
        let sign = if s.flipped { -2.0 } else { 2.0 };
        let z = sign * a - 1.5 * b;
        let pos = rng.r#gen::<f64>() < 1.0 / (1.0 + (-z).exp());
        if let Some(r) = s.positive_rate {
            // rejection: keep a positive with prob r, a negative with prob 1 - r
            let keep = if pos { r } else { 1.0 - r };
            if rng.r#gen::<f64>() >= keep {
                continue;
            }
        }
        x0.push(a);
        x1.push(b);
        x2.push(c);
        cat.push(k.to_string());
        label.push(if pos { "pos" } else { "neg" }.to_string());
    }
    df!("x0" => x0, "x1" => x1, "x2" => x2, "cat" => cat, "label" => label).unwrap()
}

/// A logistic regression on x0, x1, x2 registered as `name` version 1 @champion, with
/// its training snapshot (and profile) in the package lineage.
pub fn registered_model(registry: &LocalRegistry, name: &str, train: &DataFrame) -> Box<dyn Model> {
    let model = fit(train);
    register(registry, name, model.as_ref(), train, true);
    model
}

pub fn fit(train: &DataFrame) -> Box<dyn Model> {
    let cfg = TrainConfig {
        features: FeatureSpec::all_numeric_standardized(train, &["label"]),
        target: TargetSpec {
            column: "label".into(),
            task: TargetTask::Classification,
        },
        algorithm: Algorithm::logistic(),
        seed: 7,
    };
    Box::new(mlops_train::train(train, &cfg).unwrap())
}

/// Stores the package (lineage: a snapshot of `data`) and registers it; moves
/// @champion when `promote`. Returns (package digest, version).
pub fn register(
    registry: &dyn Registry,
    name: &str,
    model: &dyn Model,
    data: &DataFrame,
    promote: bool,
) -> (mlops_core::Digest, u64) {
    let store = registry.artifact_store();
    let ds = Dataset::snapshot_named(data, store, Some("train")).unwrap();
    let eval = mlops_train::evaluate(model, data).unwrap();
    let pkg = ModelPackage::new(
        model,
        eval.metrics.clone(),
        Lineage::now(vec![ds.clone()], None),
    )
    .unwrap();
    let digest = pkg.store(store).unwrap();
    if registry.get_model(name).is_err() {
        registry
            .create_model(name, None, &Default::default())
            .unwrap();
    }
    let v = registry
        .create_version(name, &NewVersion::new(digest, "test:").dataset(ds.digest))
        .unwrap();
    if promote {
        registry
            .set_alias(
                name,
                "champion",
                v.version,
                &AliasChange::new("test").by("test"),
            )
            .unwrap();
    }
    (digest, v.version)
}

/// The inference-log rows the server would write for `data` served by `model`, one
/// request per row (ids `r<first_id + i>`), 10 ms apart from `t0`; every
/// `fail_every`-th request failed with a 500 (null inputs and outputs).
pub fn served(
    model: &dyn Model,
    data: &DataFrame,
    first_id: usize,
    t0: i64,
    fail_every: usize,
) -> DataFrame {
    let n = data.height();
    let pred = model.predict(data).unwrap();
    let Prediction::Classes {
        classes,
        labels,
        proba,
    } = pred
    else {
        panic!("classifier expected")
    };
    let proba = proba.unwrap();
    let failed = |i: usize| fail_every > 0 && (first_id + i) % fail_every == fail_every - 1;
    let opt = |i: usize, v: f64| (!failed(i)).then_some(v);
    let ids: Vec<String> = (0..n).map(|i| format!("r{}", first_id + i)).collect();
    let mut cols = vec![
        Column::new("request_id".into(), ids),
        Column::new("row".into(), vec![0u32; n]),
        Column::new(
            "ts_ms".into(),
            (0..n).map(|i| t0 + 10 * i as i64).collect::<Vec<i64>>(),
        ),
        Column::new("model".into(), vec!["m"; n]),
        Column::new("version".into(), vec!["1"; n]),
        Column::new("variant".into(), vec!["stable"; n]),
        Column::new(
            "status".into(),
            (0..n)
                .map(|i| if failed(i) { 500u32 } else { 200 })
                .collect::<Vec<u32>>(),
        ),
        Column::new(
            "latency_ms".into(),
            (0..n)
                .map(|i| 1.0 + (i % 100) as f64 / 10.0)
                .collect::<Vec<f64>>(),
        ),
    ];
    for f in ["x0", "x1", "x2"] {
        let v = data.column(f).unwrap().f64().unwrap();
        cols.push(Column::new(
            format!("input.{f}").into(),
            (0..n)
                .map(|i| v.get(i).and_then(|x| opt(i, x)))
                .collect::<Vec<Option<f64>>>(),
        ));
    }
    let cat = data.column("cat").unwrap().str().unwrap();
    cols.push(Column::new(
        "input.cat".into(),
        (0..n)
            .map(|i| (!failed(i)).then(|| cat.get(i).unwrap().to_string()))
            .collect::<Vec<Option<String>>>(),
    ));
    cols.push(Column::new(
        "prediction".into(),
        (0..n)
            .map(|i| (!failed(i)).then(|| classes[labels[i]].clone()))
            .collect::<Vec<Option<String>>>(),
    ));
    cols.push(Column::new(
        "value".into(),
        (0..n)
            .map(|i| opt(i, proba[[i, 1]]))
            .collect::<Vec<Option<f64>>>(),
    ));
    for (k, c) in classes.iter().enumerate() {
        cols.push(Column::new(
            format!("proba.{c}").into(),
            (0..n)
                .map(|i| opt(i, proba[[i, k]]))
                .collect::<Vec<Option<f64>>>(),
        ));
    }
    DataFrame::new(n, cols).unwrap()
}

/// Labels frame (request_id, label) for `data` served with ids from `first_id`.
pub fn labels_for(data: &DataFrame, first_id: usize) -> DataFrame {
    let n = data.height();
    df!(
        "request_id" => (0..n).map(|i| format!("r{}", first_id + i)).collect::<Vec<_>>(),
        "label" => data.column("label").unwrap().as_materialized_series().clone()
    )
    .unwrap()
}

/// Writes a segment as the server does: `segment-<20 digits>.parquet`, temp then rename.
pub fn write_segment(
    dir: &std::path::Path,
    first_seq: u64,
    df: &mut DataFrame,
) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("segment-{first_seq:020}.parquet"));
    let tmp = dir.join(format!(".segment-{first_seq:020}.parquet.tmp"));
    ParquetWriter::new(std::fs::File::create(&tmp).unwrap())
        .finish(df)
        .unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}
