//! A model ready to serve: the `dyn Model` loaded through the flavor registry, its
//! identity (name, version) and its input schema compiled once.
//!
//! The server never names a flavor: whatever [`FlavorRegistry`] turns a package into is
//! served the same way. Loading always goes through a digest: a registry version's
//! package is verified by [`Registry::load`] (and every object again by the store), a
//! package directory's payload is checked against its manifest.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use mlops_core::{Digest, ModelUri, Registry};
use mlops_train::{FlavorRegistry, Model};

use crate::schema::InputSchema;
use crate::{Error, Result};

/// A loaded model with its identity and compiled input schema.
#[derive(Debug, Clone)]
pub struct ServedModel {
    name: String,
    version: String,
    source: String,
    model: Arc<dyn Model>,
    schema: Arc<InputSchema>,
    load_seconds: f64,
}

impl ServedModel {
    /// Wraps a model already in memory (tests, embedding): `name` and `version` are
    /// what the log, the metrics and the KServe metadata show.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        model: Arc<dyn Model>,
    ) -> ServedModel {
        let schema = Arc::new(InputSchema::compile(model.signature()));
        let name = name.into();
        ServedModel {
            source: name.clone(),
            name,
            version: version.into(),
            model,
            schema,
            load_seconds: 0.0,
        }
    }

    /// Loads `models:/NAME@ALIAS` or `models:/NAME/VERSION` from any registry: the
    /// version's package is verified against its recorded digest, then read from the
    /// registry's store and turned into a model by its flavor's loader.
    pub fn from_registry(
        registry: &dyn Registry,
        uri: &ModelUri,
        flavors: &FlavorRegistry,
    ) -> Result<ServedModel> {
        let t = Instant::now();
        let loaded = registry.load(uri)?;
        // An mlops package or an MLflow model directory registered by another client
        // (Python's `mlflow.onnx.log_model`): the flavor registry reads both.
        let model: Arc<dyn Model> =
            Arc::from(flavors.load_stored(registry.artifact_store(), &loaded.package)?);
        let mut served = ServedModel::new(
            loaded.version.name.clone(),
            loaded.version.version.to_string(),
            model,
        );
        served.source = uri.to_string();
        served.load_seconds = t.elapsed().as_secs_f64();
        tracing::info!(model = %served.name, version = %served.version, uri = %uri,
            seconds = served.load_seconds, "model loaded");
        Ok(served)
    }

    /// Loads a package directory (as `ModelPackage::write_dir` writes it): the payload
    /// is checked against the manifest's digest. The name is the directory's name, the
    /// version `sha256:` and the first 12 hex digits of the manifest's digest.
    ///
    /// An MLflow model directory (an `MLmodel` file and no package manifest, e.g. what
    /// `mlflow.onnx.save_model` writes) is loaded through its flavor the same way; it
    /// records no digest to check, so its version is the digest of its `MLmodel` file.
    pub fn from_package_dir(dir: &Path, flavors: &FlavorRegistry) -> Result<ServedModel> {
        let t = Instant::now();
        let model: Arc<dyn Model> = Arc::from(flavors.load_dir(dir)?);
        let manifest_path = dir.join(mlops_train::package::PACKAGE_MANIFEST);
        let digest = if manifest_path.is_file() {
            Digest::of_file(&manifest_path)?
        } else {
            Digest::of_file(&dir.join(mlops_train::mlflow_model::MLMODEL_FILE))?
        };
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".to_string());
        let mut served = ServedModel::new(name, format!("sha256:{}", digest.short()), model);
        served.source = dir.display().to_string();
        served.load_seconds = t.elapsed().as_secs_f64();
        Ok(served)
    }

    /// Loads `spec`: a `models:/...` URI from `registry`, or else a package directory.
    pub fn load(
        spec: &str,
        registry: Option<&dyn Registry>,
        flavors: &FlavorRegistry,
    ) -> Result<ServedModel> {
        if spec.starts_with("models:/") {
            let uri: ModelUri = spec.parse()?;
            let registry = registry.ok_or_else(|| {
                Error::config(
                    "model_uri",
                    format!("{spec} needs a registry (--tracking-uri)"),
                )
            })?;
            ServedModel::from_registry(registry, &uri, flavors)
        } else {
            ServedModel::from_package_dir(Path::new(spec), flavors)
        }
    }

    /// Registered model name (or package directory name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Version (registry version number, or `sha256:<prefix>` for a package).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Where it was loaded from (the URI or path).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn Model> {
        &self.model
    }

    /// The compiled input schema.
    pub fn schema(&self) -> &Arc<InputSchema> {
        &self.schema
    }

    /// Seconds the load took (0 for [`ServedModel::new`]).
    pub fn load_seconds(&self) -> f64 {
        self.load_seconds
    }
}
