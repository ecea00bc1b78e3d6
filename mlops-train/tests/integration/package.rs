//! Model packages: content-addressed storage, verification, format versions, flavors.

use mlops_core::ArtifactStore;
use mlops_train::{
    Algorithm, FeatureSpec, FlavorRegistry, Lineage, Model, ModelPackage, TargetSpec, TargetTask,
    TrainConfig, evaluate, train,
};

use crate::common::{split, winequality};

fn model() -> (mlops_train::LinfaModel, polars::prelude::DataFrame) {
    let (tr, te) = split(&winequality(), 0.25, 5);
    let c = TrainConfig {
        features: FeatureSpec::all_numeric_standardized(&tr, &["quality", "good"]),
        target: TargetSpec {
            column: "good".into(),
            task: TargetTask::Classification,
        },
        algorithm: Algorithm::forest(8, Some(5)),
        seed: 7,
    };
    (train(&tr, &c).unwrap(), te)
}

#[test]
fn package_round_trips_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path()).unwrap();
    let (m, te) = model();
    let e = evaluate(&m, &te).unwrap();
    let pkg = ModelPackage::new(&m, e.metrics.clone(), Lineage::now(vec![], None)).unwrap();
    let id = pkg.store(&store).unwrap();
    let back = ModelPackage::load(&store, &id).unwrap();
    assert_eq!(back, pkg);
    let served: Box<dyn Model> = back.model(&FlavorRegistry::new()).unwrap();
    assert_eq!(served.flavor(), "mlops-linfa");
    assert_eq!(served.predict(&te).unwrap(), m.predict(&te).unwrap());
    assert_eq!(served.signature().inputs.len(), 11);
    // The MLmodel file carries the signature as MLflow column specs.
    // It is read back by the same YAML reader as MLflow's meta.yaml files.
    let text = pkg.mlmodel();
    let ml = mlops_core::yaml::parse_map(&text, std::path::Path::new("MLmodel")).unwrap();
    let Some(mlops_core::yaml::Value::Map(sig)) = ml.get("signature") else {
        panic!("no signature in {text}");
    };
    let inputs: serde_json::Value = serde_json::from_str(sig["inputs"].as_str().unwrap()).unwrap();
    assert_eq!(inputs[0]["name"], "fixed acidity", "{text}");
    assert_eq!(inputs[0]["type"], "double", "{text}");
    assert_eq!(
        ml.get("model_size_bytes"),
        Some(&mlops_core::yaml::Value::Int(
            pkg.manifest.payload.size as i64
        ))
    );
    // Same directory again: same id.
    assert_eq!(pkg.store(&store).unwrap(), id);
}

#[test]
fn corrupt_payload_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path()).unwrap();
    let (m, _) = model();
    let pkg = ModelPackage::new(&m, Default::default(), Lineage::now(vec![], None)).unwrap();
    let id = pkg.store(&store).unwrap();
    let p = store.object_path(&pkg.manifest.payload.digest);
    let mut bytes = std::fs::read(&p).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let err = ModelPackage::load(&store, &id).unwrap_err().to_string();
    assert!(err.contains("corrupt"), "{err}");
}

#[test]
fn incompatible_format_and_unknown_flavor_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = model();
    let pkg = ModelPackage::new(&m, Default::default(), Lineage::now(vec![], None)).unwrap();
    let out = dir.path().join("pkg");
    pkg.write_dir(&out).unwrap();
    assert_eq!(ModelPackage::read_dir(&out).unwrap(), pkg);
    let mp = out.join("mlops-package.json");
    let text = std::fs::read_to_string(&mp).unwrap();
    std::fs::write(
        &mp,
        text.replace("\"format_version\": 1", "\"format_version\": 2"),
    )
    .unwrap();
    let err = ModelPackage::read_dir(&out).unwrap_err().to_string();
    assert!(
        err.contains("format version 2") && err.contains("reads version 1"),
        "{err}"
    );

    let mut odd = pkg.clone();
    odd.manifest.flavor = "sklearn".into();
    let err = odd.model(&FlavorRegistry::new()).unwrap_err().to_string();
    assert!(err.contains("sklearn"), "{err}");

    // Payload bytes that do not match the manifest's digest.
    let mut tampered = pkg.clone();
    tampered.payload.push(b' ');
    let out2 = dir.path().join("pkg2");
    tampered.write_dir(&out2).unwrap();
    assert!(
        ModelPackage::read_dir(&out2)
            .unwrap_err()
            .to_string()
            .contains("digest")
    );
}
