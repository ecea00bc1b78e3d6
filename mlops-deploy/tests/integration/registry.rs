//! Loading what the server serves from a registry: a local store, and (under
//! `scripts/test`) a real MLflow server read by a client with an empty cache, so the
//! package is downloaded and verified against its registered digest.

use std::collections::BTreeMap;

use mlops_core::mlflow_http::MlflowHttp;
use mlops_core::registry::{LocalRegistry, MlflowRegistry};
use mlops_core::{AliasChange, ModelUri, Registry};
use mlops_deploy::{ServedModel, ServerConfig};
use mlops_train::{Algorithm, FlavorRegistry, Lineage, ModelPackage};

use crate::common::*;

fn uri(s: &str) -> ModelUri {
    s.parse().unwrap()
}

/// Registers two versions, serves `@champion`, moves the alias and swaps: the answers
/// follow the registry.
fn serve_by_alias(reg: &dyn Registry, reader: &dyn Registry, name: &str) {
    let a = wine_model(Algorithm::logistic());
    let b = wine_model(Algorithm::forest(7, Some(4)));
    let (want_a, want_b) = (expected_labels(&a, 0, 100), expected_labels(&b, 0, 100));
    let va = register(reg, name, &a);
    let vb = register(reg, name, &b);
    let change = AliasChange::new("serve test").by("tester");
    reg.set_alias(name, "champion", va, &change).unwrap();
    let flavors = FlavorRegistry::new();
    let champion = uri(&format!("models:/{name}@champion"));
    let stable = ServedModel::from_registry(reader, &champion, &flavors).unwrap();
    assert_eq!(
        (stable.name(), stable.version()),
        (name, va.to_string().as_str())
    );
    let server = start(ServerConfig::default(), stable);
    let url = format!("{}/invocations", server.url());
    let c = client();
    let (s, h, v) = post(&c, &url, Some("application/json"), split_body(0, 100));
    assert_eq!(s, 200);
    assert_eq!(labels_of(&v), want_a);
    assert_eq!(h["x-model-version"], va.to_string().as_str());
    // The alias moves; a reload swaps the new version in.
    reg.set_alias(name, "champion", vb, &change).unwrap();
    let next = ServedModel::from_registry(reader, &champion, &flavors).unwrap();
    server.swap("stable", next).unwrap();
    let (_, h, v) = post(&c, &url, Some("application/json"), split_body(0, 100));
    assert_eq!(labels_of(&v), want_b);
    assert_eq!(h["x-model-version"], vb.to_string().as_str());
    // By number too.
    let pinned =
        ServedModel::from_registry(reader, &uri(&format!("models:/{name}/{va}")), &flavors)
            .unwrap();
    assert_eq!(pinned.version(), va.to_string());
    assert!(pinned.load_seconds() > 0.0);
    server.shutdown().unwrap();
}

#[test]
fn serves_local_registry_versions_by_alias_and_number() {
    let dir = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    serve_by_alias(&reg, &reg, "wine");
    // A tampered package is refused at load.
    let v = register(&reg, "wine", &wine_model(Algorithm::logistic()));
    let digest = reg
        .get_version("wine", v)
        .unwrap()
        .package_digest()
        .unwrap()
        .unwrap();
    let manifest = reg.artifact_store().get_manifest(&digest).unwrap();
    let payload = &manifest.files[mlops_train::package::PACKAGE_PAYLOAD];
    let path = reg.artifact_store().object_path(&payload.digest);
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&path, perms).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = ServedModel::from_registry(
        &reg,
        &uri(&format!("models:/wine/{v}")),
        &FlavorRegistry::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("fails verification"), "{err}");
}

#[test]
fn serves_a_package_directory_verified_against_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let model = wine_model(Algorithm::logistic());
    let want = expected_labels(&model, 0, 5);
    let pkg = ModelPackage::new(&model, BTreeMap::new(), Lineage::now(Vec::new(), None)).unwrap();
    let pkg_dir = dir.path().join("wine-pkg");
    pkg.write_dir(&pkg_dir).unwrap();
    let served =
        ServedModel::load(pkg_dir.to_str().unwrap(), None, &FlavorRegistry::new()).unwrap();
    assert_eq!(served.name(), "wine-pkg");
    assert!(
        served.version().starts_with("sha256:"),
        "{}",
        served.version()
    );
    let server = start(ServerConfig::default(), served);
    let (_, _, v) = post(
        &client(),
        &format!("{}/invocations", server.url()),
        Some("application/json"),
        split_body(0, 5),
    );
    assert_eq!(labels_of(&v), want);
    server.shutdown().unwrap();
    // A changed payload no longer matches the manifest.
    let payload = pkg_dir.join(mlops_train::package::PACKAGE_PAYLOAD);
    let mut text = std::fs::read_to_string(&payload).unwrap();
    text = text.replacen("0", "1", 1);
    std::fs::write(&payload, text).unwrap();
    assert!(ServedModel::load(pkg_dir.to_str().unwrap(), None, &FlavorRegistry::new()).is_err());
    assert!(ServedModel::load("models:/wine@champion", None, &FlavorRegistry::new()).is_err());
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn serves_mlflow_server_versions_downloaded_into_an_empty_cache() {
    let url = std::env::var("MLOPS_TEST_MLFLOW_URI").expect("MLOPS_TEST_MLFLOW_URI (scripts/test)");
    let state = tempfile::tempdir().unwrap();
    let writer = MlflowRegistry::new(MlflowHttp::new(&url).unwrap(), state.path()).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let reader = MlflowRegistry::new(MlflowHttp::new(&url).unwrap(), fresh.path()).unwrap();
    let name = format!("serve-{}", &mlops_core::RunId::random().as_str()[..8]);
    serve_by_alias(&writer, &reader, &name);
    writer.delete_model(&name).unwrap();
}
