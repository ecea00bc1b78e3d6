//! Model packages: a manifest plus payload, stored content-addressed.
//!
//! A package is a small directory:
//!
//! ```text
//! mlops-package.json   the manifest: format version, flavor, signature, hyper-parameters,
//!                      metrics, lineage (training datasets, run, git commit, time, version)
//! MLmodel              the same facts in MLflow's format, so the MLflow UI shows the inputs
//! model/model.json     the payload the flavor's loader reads
//! ```
//!
//! [`ModelPackage::store`] puts each file into the [`ArtifactStore`] and the directory as a
//! [`Manifest`]: the package's id is that manifest's digest. [`ModelPackage::load`] reads
//! it back verified (every object is checked against its digest by the store), refuses a
//! package written with another format version *before* reading anything else from it,
//! and checks the payload digest the manifest names. [`FlavorRegistry`] maps flavor names
//! to loaders, so a server turns a package into a `Box<dyn Model>` without knowing linfa.

use std::collections::BTreeMap;
use std::path::Path;

use mlops_core::registry::{AliasChange, ModelVersion, NewVersion, Registry};
use mlops_core::tracking::Run;
use mlops_core::{
    ArtifactStore, DatasetRef, Digest, MANIFEST_KIND, Manifest, ManifestEntry, ModelUri, RunId,
};
use serde::{Deserialize, Serialize};

use crate::evaluation::Task;
use crate::mlflow_model::{MLMODEL_FILE, MlflowModel};
use crate::model::{Model, Signature};
use crate::train::{LINFA_FLAVOR, LinfaModel};
use crate::{Error, Result};

/// The package format this build writes and reads.
pub const PACKAGE_FORMAT_VERSION: u32 = 1;
/// The `kind` marker of a package manifest.
pub const PACKAGE_KIND: &str = "mlops.model-package";
/// Path of the manifest inside a package.
pub const PACKAGE_MANIFEST: &str = "mlops-package.json";
/// Path of the payload inside a package.
pub const PACKAGE_PAYLOAD: &str = "model/model.json";

/// Where a model came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// The dataset snapshots it was trained (and evaluated) on.
    #[serde(default)]
    pub datasets: Vec<DatasetRef>,
    /// The tracked run that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// `git rev-parse HEAD` of the working directory, when it is a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Version of mlops-train that wrote the package.
    pub crate_version: String,
}

impl Lineage {
    /// Lineage stamped now, with this crate's version and the current git commit.
    pub fn now(datasets: Vec<DatasetRef>, run_id: Option<RunId>) -> Lineage {
        Lineage {
            datasets,
            run_id,
            git_commit: git_commit(),
            created_ms: mlops_core::now_ms(),
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// The commit of the current directory's git repository, if there is one.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && s.len() == 40).then_some(s)
}

/// The payload's place and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    /// Path inside the package.
    pub path: String,
    /// SHA-256 of the payload bytes.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// The manifest of a package (`mlops-package.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackageManifest {
    /// Always [`PACKAGE_KIND`].
    pub kind: String,
    /// The format version ([`PACKAGE_FORMAT_VERSION`]).
    pub format_version: u32,
    /// The flavor whose loader reads the payload.
    pub flavor: String,
    /// Task of the model.
    pub task: Task,
    /// Class names (classification).
    #[serde(default)]
    pub classes: Vec<String>,
    /// The input/output signature: the model's data contract.
    pub signature: Signature,
    /// Hyper-parameters.
    pub hyperparameters: serde_json::Value,
    /// Evaluation metrics at packaging time.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Lineage.
    pub lineage: Lineage,
    /// The payload.
    pub payload: PayloadRef,
}

/// A model package in memory: manifest plus payload bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPackage {
    /// The manifest.
    pub manifest: PackageManifest,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

type Loader = fn(&[u8]) -> Result<Box<dyn Model>>;

/// Builds a model from an MLflow model directory (one flavor of its `MLmodel`).
pub type MlflowLoader = fn(&MlflowModel) -> Result<Box<dyn Model>>;

/// Maps flavor names to loaders: of mlops package payloads, and of the flavors of MLflow
/// model directories logged by other clients (`mlflow.onnx.log_model` in Python).
#[derive(Debug, Clone)]
pub struct FlavorRegistry {
    loaders: BTreeMap<String, Loader>,
    mlflow_loaders: BTreeMap<String, MlflowLoader>,
}

impl Default for FlavorRegistry {
    fn default() -> Self {
        let mut r = FlavorRegistry {
            loaders: BTreeMap::new(),
            mlflow_loaders: BTreeMap::new(),
        };
        r.register(LINFA_FLAVOR, |b| {
            Ok(Box::new(LinfaModel::from_payload(b)?) as Box<dyn Model>)
        });
        #[cfg(feature = "onnx")]
        {
            use crate::onnx::{ONNX_FLAVOR, OnnxModel};
            r.register(ONNX_FLAVOR, |b| {
                Ok(Box::new(OnnxModel::from_payload(b)?) as Box<dyn Model>)
            });
            r.register_mlflow(ONNX_FLAVOR, |m| {
                Ok(Box::new(OnnxModel::from_mlflow(m)?) as Box<dyn Model>)
            });
        }
        r
    }
}

impl FlavorRegistry {
    /// A registry with this crate's flavors (`mlops-linfa`; with the `onnx` feature,
    /// `onnx` for packages and for MLflow model directories).
    pub fn new() -> FlavorRegistry {
        FlavorRegistry::default()
    }

    /// Adds (or replaces) the loader of a flavor.
    pub fn register(&mut self, flavor: &str, loader: Loader) {
        self.loaders.insert(flavor.to_string(), loader);
    }

    /// Adds (or replaces) the loader of an MLflow flavor (a key of `MLmodel`'s `flavors`).
    pub fn register_mlflow(&mut self, flavor: &str, loader: MlflowLoader) {
        self.mlflow_loaders.insert(flavor.to_string(), loader);
    }

    /// The registered flavor names.
    pub fn flavors(&self) -> Vec<&str> {
        self.loaders.keys().map(String::as_str).collect()
    }

    /// The MLflow flavors this registry loads.
    pub fn mlflow_flavors(&self) -> Vec<&str> {
        self.mlflow_loaders.keys().map(String::as_str).collect()
    }

    /// Loads an MLflow model directory with the loader of the first of its flavors
    /// that has one.
    pub fn load_mlflow(&self, model: &MlflowModel) -> Result<Box<dyn Model>> {
        let flavors = model.flavors();
        for f in &flavors {
            if let Some(loader) = self.mlflow_loaders.get(f) {
                return loader(model);
            }
        }
        let hint = if flavors.iter().any(|f| f == "onnx") && cfg!(not(feature = "onnx")) {
            " (the onnx flavor needs mlops-train's `onnx` feature)"
        } else {
            ""
        };
        Err(Error::UnknownFlavor(format!(
            "{}: MLflow flavors [{}], this build loads [{}]{hint}",
            model.source,
            flavors.join(", "),
            self.mlflow_flavors().join(", ")
        )))
    }

    /// Loads what a registry's `load` returned: the stored directory `id` is either an
    /// mlops package (its manifest names the flavor) or an MLflow model directory
    /// logged by another client (its `MLmodel` names the flavors). Every byte is
    /// verified against its digest by the store.
    pub fn load_stored(&self, store: &ArtifactStore, id: &Digest) -> Result<Box<dyn Model>> {
        let m = store.get_manifest(id)?;
        if m.files.contains_key(PACKAGE_MANIFEST) {
            ModelPackage::load(store, id)?.model(self)
        } else if m.files.contains_key(MLMODEL_FILE) {
            self.load_mlflow(&MlflowModel::from_store(store, id)?)
        } else {
            Err(pkg_err(
                format!("stored model {}", id.short()),
                format!("has neither {PACKAGE_MANIFEST} nor {MLMODEL_FILE}"),
            ))
        }
    }

    /// Loads a model directory on disk: an mlops package or an MLflow model.
    pub fn load_dir(&self, dir: &Path) -> Result<Box<dyn Model>> {
        if dir.join(PACKAGE_MANIFEST).is_file() {
            ModelPackage::read_dir(dir)?.model(self)
        } else {
            self.load_mlflow(&MlflowModel::read_dir(dir)?)
        }
    }

    /// Loads payload bytes with the flavor's loader.
    pub fn load(&self, flavor: &str, payload: &[u8]) -> Result<Box<dyn Model>> {
        let loader = self
            .loaders
            .get(flavor)
            .ok_or_else(|| Error::UnknownFlavor(flavor.to_string()))?;
        let m = loader(payload)?;
        if m.flavor() != flavor {
            return Err(Error::Package {
                package: flavor.to_string(),
                problem: format!("the loader returned a model of flavor {:?}", m.flavor()),
            });
        }
        Ok(m)
    }
}

fn pkg_err(package: impl Into<String>, problem: impl Into<String>) -> Error {
    Error::Package {
        package: package.into(),
        problem: problem.into(),
    }
}

impl ModelPackage {
    /// Packages a model with its metrics and lineage.
    pub fn new(
        model: &dyn Model,
        metrics: BTreeMap<String, f64>,
        lineage: Lineage,
    ) -> Result<ModelPackage> {
        let payload = model.to_payload()?;
        let manifest = PackageManifest {
            kind: PACKAGE_KIND.to_string(),
            format_version: PACKAGE_FORMAT_VERSION,
            flavor: model.flavor().to_string(),
            task: model.task(),
            classes: model.classes().to_vec(),
            signature: model.signature().clone(),
            hyperparameters: model.hyperparameters(),
            metrics: metrics.into_iter().filter(|(_, v)| v.is_finite()).collect(),
            lineage,
            payload: PayloadRef {
                path: PACKAGE_PAYLOAD.to_string(),
                digest: Digest::of_bytes(&payload),
                size: payload.len() as u64,
            },
        };
        Ok(ModelPackage { manifest, payload })
    }

    /// The files of the package, by relative path.
    pub fn files(&self) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut out = BTreeMap::new();
        let manifest = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| Error::json("package manifest", e))?;
        out.insert(PACKAGE_MANIFEST.to_string(), manifest);
        out.insert("MLmodel".to_string(), self.mlmodel().into_bytes());
        out.insert(self.manifest.payload.path.clone(), self.payload.clone());
        Ok(out)
    }

    /// Stores the package; returns its id (the digest of its directory manifest).
    pub fn store(&self, store: &ArtifactStore) -> Result<Digest> {
        let mut m = Manifest {
            kind: MANIFEST_KIND.to_string(),
            files: BTreeMap::new(),
        };
        for (path, bytes) in self.files()? {
            let digest = store.put_bytes(&bytes)?;
            m.files.insert(
                path,
                ManifestEntry {
                    digest,
                    size: bytes.len() as u64,
                },
            );
        }
        Ok(store.put_manifest(&m)?)
    }

    /// Writes the package files into `dir` (atomically, file by file), e.g. to log it as
    /// run artifacts.
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        for (path, bytes) in self.files()? {
            let p = dir.join(&path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            mlops_core::fs::write_atomic(&p, &bytes)?;
        }
        Ok(())
    }

    /// Loads a stored package, verified.
    pub fn load(store: &ArtifactStore, id: &Digest) -> Result<ModelPackage> {
        let name = format!("package {}", id.short());
        let m = store.get_manifest(id)?;
        let entry = m
            .files
            .get(PACKAGE_MANIFEST)
            .ok_or_else(|| pkg_err(&name, format!("has no {PACKAGE_MANIFEST}")))?;
        let manifest_bytes = store.get(&entry.digest)?;
        let payload_of = |path: &str| -> Result<Vec<u8>> {
            let e = m
                .files
                .get(path)
                .ok_or_else(|| pkg_err(&name, format!("has no payload file {path}")))?;
            Ok(store.get(&e.digest)?)
        };
        Self::from_parts(&name, &manifest_bytes, payload_of)
    }

    /// Reads a package from a directory (as written by [`ModelPackage::write_dir`] or
    /// downloaded from a tracking server).
    pub fn read_dir(dir: &Path) -> Result<ModelPackage> {
        let name = dir.display().to_string();
        let mp = dir.join(PACKAGE_MANIFEST);
        let manifest_bytes = std::fs::read(&mp).map_err(|e| Error::io(&mp, e))?;
        Self::from_parts(&name, &manifest_bytes, |path| {
            let safe = mlops_core::fs::safe_relative_path(path)?;
            let p = dir.join(safe);
            std::fs::read(&p).map_err(|e| Error::io(&p, e))
        })
    }

    fn from_parts(
        name: &str,
        manifest_bytes: &[u8],
        payload_of: impl Fn(&str) -> Result<Vec<u8>>,
    ) -> Result<ModelPackage> {
        let raw: serde_json::Value = serde_json::from_slice(manifest_bytes)
            .map_err(|e| Error::json(format!("{name} {PACKAGE_MANIFEST}"), e))?;
        if raw.get("kind").and_then(|k| k.as_str()) != Some(PACKAGE_KIND) {
            return Err(pkg_err(
                name,
                "is not an mlops model package (kind marker missing)",
            ));
        }
        let found = raw
            .get("format_version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| pkg_err(name, "has no format_version"))?;
        if found != u64::from(PACKAGE_FORMAT_VERSION) {
            return Err(Error::IncompatibleFormat {
                package: name.to_string(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: PACKAGE_FORMAT_VERSION,
            });
        }
        let manifest: PackageManifest = serde_json::from_value(raw)
            .map_err(|e| Error::json(format!("{name} {PACKAGE_MANIFEST}"), e))?;
        let payload = payload_of(&manifest.payload.path)?;
        let d = Digest::of_bytes(&payload);
        if d != manifest.payload.digest {
            return Err(pkg_err(
                name,
                format!(
                    "payload digest {} does not match the manifest's {}",
                    d.short(),
                    manifest.payload.digest.short()
                ),
            ));
        }
        Ok(ModelPackage { manifest, payload })
    }

    /// Stores the package in `store` and logs its files as the run's `model/`
    /// artifacts (where MLflow's UI and clients look for a model), in one call. Returns
    /// the package id and tags the run with it (`mlops.package_digest`).
    pub fn log_to(&self, run: &Run, store: &ArtifactStore) -> Result<Digest> {
        // A scratch directory that is removed even when this unwinds.
        let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let dir = scratch.path().join("model");
        self.write_dir(&dir)?;
        run.log_artifact(&dir, Some("model"))?;
        let id = self.store(store)?;
        run.set_tag("mlops.package_digest", id.to_string())?;
        Ok(id)
    }

    /// Registers the package as a new version of `name`, in one call: stores it in the
    /// registry's artifact store, creates the registered model when it is missing,
    /// creates the version with the package's lineage (its run as `runs:/RUN/model`,
    /// its dataset digests), and, with `alias`, moves that alias to the new version
    /// (recorded in the alias history and audit log with the change's actor and
    /// reason). The package must come from a run ([`Lineage::run_id`]): its files are
    /// expected under that run's `model/` artifacts ([`ModelPackage::log_to`]).
    pub fn register(
        &self,
        registry: &dyn Registry,
        name: &str,
        alias: Option<(&str, AliasChange)>,
    ) -> Result<ModelVersion> {
        let run_id = self.manifest.lineage.run_id.clone().ok_or_else(|| {
            Error::arg(format!(
                "register {name}: the package has no run in its lineage (package it with \
                 Lineage::now(.., Some(run.run_id())) and log it with log_to)"
            ))
        })?;
        let package = self.store(registry.artifact_store())?;
        match registry.get_model(name) {
            Ok(_) => {}
            Err(mlops_core::Error::ModelNotFound { .. }) => {
                registry.create_model(name, None, &BTreeMap::new())?;
            }
            Err(e) => return Err(e.into()),
        }
        let trained = self
            .manifest
            .hyperparameters
            .get("algorithm")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(&self.manifest.flavor)
            .to_string();
        let mut nv = NewVersion::new(package, format!("runs:/{run_id}/model"));
        nv.datasets = self
            .manifest
            .lineage
            .datasets
            .iter()
            .map(|d| d.digest)
            .collect();
        nv.description = Some(format!("{trained} trained by run {run_id}"));
        nv.run_id = Some(run_id);
        let version = registry.create_version(name, &nv)?;
        if let Some((alias, change)) = alias {
            registry.set_alias(name, alias, version.version, &change)?;
        }
        Ok(version)
    }

    /// Turns the package into a model through the flavor registry (checking the flavor).
    pub fn model(&self, flavors: &FlavorRegistry) -> Result<Box<dyn Model>> {
        let m = flavors.load(&self.manifest.flavor, &self.payload)?;
        if m.signature() != &self.manifest.signature {
            return Err(pkg_err(
                "model package",
                "the payload's signature differs from the manifest's",
            ));
        }
        Ok(m)
    }

    /// The MLflow `MLmodel` file (YAML) with the signature as MLflow column specs,
    /// written by the same YAML writer as MLflow's `meta.yaml` files
    /// ([`mlops_core::yaml`]: sorted keys, every ambiguous string quoted).
    pub fn mlmodel(&self) -> String {
        use mlops_core::yaml::{Map, Value, to_yaml};
        let m = &self.manifest;
        let text = |s: &str| Value::Str(s.to_string());
        let map = |entries: Vec<(&str, Value)>| {
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        };
        let task = match m.task {
            Task::Binary => "binary",
            Task::Multiclass => "multiclass",
            Task::Regression => "regression",
        };
        let flavor = map(vec![
            ("format_version", Value::Int(i64::from(m.format_version))),
            ("payload", text(&m.payload.path)),
            ("payload_sha256", text(&m.payload.digest.to_string())),
            ("mlops_train_version", text(&m.lineage.crate_version)),
            ("task", text(task)),
        ]);
        let mut doc = Map::new();
        doc.insert("artifact_path".into(), text("model"));
        doc.insert(
            "flavors".into(),
            map(vec![(&m.flavor.replace('-', "_"), flavor)]),
        );
        doc.insert(
            "model_size_bytes".into(),
            Value::Int(i64::try_from(m.payload.size).unwrap_or(i64::MAX)),
        );
        doc.insert("model_uuid".into(), text(&m.payload.digest.to_hex()[..32]));
        if let Some(r) = &m.lineage.run_id {
            doc.insert("run_id".into(), text(r.as_str()));
        }
        // MLflow stores the column specs as JSON text inside the YAML.
        doc.insert(
            "signature".into(),
            map(vec![
                ("inputs", text(&m.signature.mlflow_inputs().to_string())),
                ("outputs", text(&m.signature.mlflow_outputs().to_string())),
                ("params", Value::Null),
            ]),
        );
        doc.insert(
            "utc_time_created".into(),
            text(&utc_time(m.lineage.created_ms)),
        );
        to_yaml(&doc)
    }
}

/// Loads the model a registry URI names (`models:/NAME/VERSION` or
/// `models:/NAME@ALIAS`) in one call: resolves it, verifies the package bytes against
/// the digest recorded at registration, and turns the payload into a model with the
/// built-in flavors. A version registered by another MLflow client (Python's
/// `mlflow.onnx.log_model`) loads too, through its `MLmodel` ([`FlavorRegistry::load_stored`]).
/// [`load_model_with`] takes other flavors.
pub fn load_model(registry: &dyn Registry, uri: &ModelUri) -> Result<Box<dyn Model>> {
    load_model_with(registry, uri, &FlavorRegistry::new())
}

/// [`load_model`], but `None` when the model, version or alias does not exist (the
/// "no champion yet" case); a package that does not verify is still an error.
pub fn load_model_if_exists(
    registry: &dyn Registry,
    uri: &ModelUri,
) -> Result<Option<Box<dyn Model>>> {
    match load_model(registry, uri) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`load_model`] with the given flavor loaders.
pub fn load_model_with(
    registry: &dyn Registry,
    uri: &ModelUri,
    flavors: &FlavorRegistry,
) -> Result<Box<dyn Model>> {
    let loaded = registry.load(uri)?;
    flavors.load_stored(registry.artifact_store(), &loaded.package)
}

/// The version a URI resolves to and its package, verified.
pub(crate) fn load_package(
    registry: &dyn Registry,
    uri: &ModelUri,
) -> Result<(ModelVersion, ModelPackage)> {
    let loaded = registry.load(uri)?;
    let pkg = ModelPackage::load(registry.artifact_store(), &loaded.package)?;
    Ok((loaded.version, pkg))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, as MLflow writes `utc_time_created`.
fn utc_time(ms: u64) -> String {
    // Microseconds, as MLflow writes them: the millisecond form plus three zeros.
    format!("{}000", mlops_core::format_utc_ms(ms))
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_time_formats_like_mlflow() {
        assert_eq!(super::utc_time(0), "1970-01-01 00:00:00.000000");
        assert_eq!(
            super::utc_time(1_796_000_000_123),
            "2026-11-30 00:53:20.123000"
        );
    }
}
