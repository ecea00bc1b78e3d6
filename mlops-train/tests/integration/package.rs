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

/// The pipeline glue, one call each: log an evaluation, store and log a package,
/// register it from its run (model created, lineage, alias), load it back by URI.
#[test]
fn a_package_is_logged_registered_and_loaded_by_uri() {
    use std::sync::Arc;

    use mlops_core::registry::{AliasChange, LocalRegistry, Registry};
    use mlops_core::tracking::{LocalTracker, Run, RunOptions, Tracker};
    use mlops_train::load_model;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let tracker: Arc<dyn Tracker> = Arc::new(LocalTracker::open(&root).unwrap());
    let registry = LocalRegistry::open(&root).unwrap();
    let (m, te) = model();
    let e = evaluate(&m, &te).unwrap();
    let run = Run::start_in(tracker.clone(), "glue", RunOptions::named("glue")).unwrap();
    e.log_to(&run).unwrap();

    // A package that names no run cannot be registered "from its run".
    let orphan = ModelPackage::new(&m, e.metrics.clone(), Lineage::now(vec![], None)).unwrap();
    let err = orphan.register(&registry, "glue", None).unwrap_err();
    assert!(err.to_string().contains("no run"), "{err}");

    let lineage = Lineage::now(vec![], Some(run.run_id()));
    let pkg = ModelPackage::new(&m, e.metrics.clone(), lineage).unwrap();
    let id = pkg.log_to(&run, registry.artifact_store()).unwrap();
    let v1 = pkg
        .register(
            &registry,
            "glue",
            Some(("champion", AliasChange::new("first"))),
        )
        .unwrap();
    assert_eq!(v1.version, 1);
    assert_eq!(v1.run_id, Some(run.run_id()));
    assert_eq!(v1.source, format!("runs:/{}/model", run.run_id()));
    assert_eq!(v1.package_digest().unwrap(), Some(id));
    // The model exists now: a second registration is version 2; without an alias the
    // champion stays.
    let v2 = pkg.register(&registry, "glue", None).unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        registry
            .get_version_by_alias("glue", "champion")
            .unwrap()
            .version,
        1
    );
    let history = registry.alias_history("glue", "champion").unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].reason, "first");

    let loaded = load_model(&registry, &"models:/glue@champion".parse().unwrap()).unwrap();
    assert_eq!(loaded.predict(&te).unwrap(), m.predict(&te).unwrap());
    let missing = load_model(&registry, &"models:/nope@champion".parse().unwrap()).unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    let nope = "models:/glue@nope".parse().unwrap();
    assert!(
        mlops_train::load_model_if_exists(&registry, &nope)
            .unwrap()
            .is_none()
    );
    let v2_uri = "models:/glue/2".parse().unwrap();
    assert!(
        mlops_train::load_model_if_exists(&registry, &v2_uri)
            .unwrap()
            .is_some()
    );

    let run_id = run.run_id();
    run.end().unwrap();
    let rec = tracker.get_run(run_id.as_str()).unwrap();
    assert_eq!(
        rec.data.metrics["roc_auc_score"].value,
        e.metric("roc_auc_score").unwrap()
    );
    assert!(rec.data.metrics.contains_key("model_size_bytes"));
    assert_eq!(rec.data.tags["mlops.package_digest"], id.to_string());
    let top = tracker.list_artifacts(run_id.as_str(), None).unwrap();
    assert!(top.iter().any(|f| f.path == "evaluation.json"), "{top:?}");
    let model_files = tracker
        .list_artifacts(run_id.as_str(), Some("model"))
        .unwrap();
    assert!(
        model_files.iter().any(|f| f.path.ends_with("MLmodel")),
        "{model_files:?}"
    );
}
