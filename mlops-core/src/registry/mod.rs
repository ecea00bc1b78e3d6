//! The model registry: which model versions exist, where their packages are, and which
//! version each alias (`champion`, `challenger`, ...) points at — now and at any moment
//! in the past.
//!
//! [`Registry`] is one blocking, object-safe trait with two implementations:
//!
//! - [`LocalRegistry`], the embedded default: MLflow's own file-store layout
//!   (`mlruns/models/<name>/meta.yaml`, `version-N/`, `aliases/`, `tags/`), so the MLflow
//!   Python client reads what Rust registered and the other way round. Writers take a
//!   file lock (two processes never get the same version number) and build each version
//!   in a temporary directory that is renamed into place (a crash never leaves half a
//!   version).
//! - [`MlflowRegistry`], a client of a real MLflow server's REST API
//!   (`/api/2.0/mlflow/registered-models/*`, `/model-versions/*`).
//!
//! ## Packages and lineage
//!
//! A version is created from a model package already stored in the SDK's
//! [`ArtifactStore`]: the package's digest is carried as the version tag
//! [`TAG_PACKAGE_DIGEST`], the run that produced it as MLflow's `run_id`, and the digests
//! of the datasets it was trained on as [`TAG_DATASETS`]. [`Registry::load`] resolves
//! `models:/NAME/VERSION` or `models:/NAME@ALIAS` to that digest and verifies the
//! package's bytes against it, so a tampered package is refused
//! ([`Error::PackageTampered`]).
//!
//! ## Alias history
//!
//! MLflow keeps only where an alias points *now*. Every alias move made through this
//! trait is also recorded as an [`AliasMove`] (time, actor, from, to, reason) in an
//! append-only history and in the [`AuditLog`], so [`Registry::alias_at`] can say which
//! version was `champion` at a given time and [`Registry::rollback_alias`] can undo the
//! last move. The local backend keeps the history as a JSON-lines file in its state
//! directory (`<root>.mlops/registry/`); the MLflow backend keeps it on the server, one
//! registered-model tag per move (see [`MlflowRegistry`] for the choice and its limits).
//! Moves made by other clients (the MLflow UI, the Python client) bypass the history;
//! the next recorded move still reads the true `from` version, so such a gap shows.
//!
//! A move records its intent before the alias moves and confirms it after, one
//! implementation for both backends (`alias.rs`): after a crash at any point the move
//! and its record both exist, neither does, or the record says the move is unconfirmed
//! ([`MoveState::Intended`]) until the next move of the alias settles it.
//!
//! ## Usage
//!
//! ```
//! use std::collections::BTreeMap;
//! use mlops_core::{AliasChange, LocalRegistry, NewVersion, Registry};
//! # let dir = tempfile::tempdir().unwrap();
//! let reg = LocalRegistry::open(dir.path().join("mlruns"))?;
//! reg.create_model("fraud", Some("card fraud scorer"), &BTreeMap::new())?;
//! let package = reg.artifact_store().put_bytes(b"model bytes")?;
//! let v = reg.create_version("fraud", &NewVersion::new(package, "file:///models/fraud"))?;
//! reg.set_alias("fraud", "champion", v.version, &AliasChange::new("passed the gate"))?;
//! let loaded = reg.load(&"models:/fraud@champion".parse()?)?; // digest verified
//! assert_eq!((loaded.version.version, loaded.package), (1, package));
//! assert_eq!(reg.alias_at("fraud", "champion", mlops_core::now_ms())?, Some(1));
//! # Ok::<(), mlops_core::Error>(())
//! ```
//!
//! ## Stages
//!
//! MLflow's stages (`Staging`, `Production`, ...) are deprecated there since 2.9. They
//! are read ([`ModelVersion::stage`]) and nothing here builds on them: use aliases.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ArtifactStore, AuditLog, Digest, Error, ModelUri, ModelVersionRef, Result, RunId};

mod alias;
mod history;
mod local;
mod rest;
mod sync;

pub use history::{AliasMove, AliasMoveKind, MoveState, SERVER_DATE_TOLERANCE_MS};
pub use local::LocalRegistry;
pub use rest::MlflowRegistry;
pub use sync::{ModelSyncReport, TAG_SYNC_SOURCE_RUN, sync_models};

/// Version tag holding the digest of the version's package in the [`ArtifactStore`].
pub const TAG_PACKAGE_DIGEST: &str = "mlops.package_digest";
/// Version tag holding the digests of the training datasets, comma-separated.
pub const TAG_DATASETS: &str = "mlops.dataset_digests";
/// Version tag holding the id of the run that produced the package (also MLflow's
/// `run_id` field where the backend knows the run).
pub const TAG_RUN_ID: &str = "mlops.run_id";

/// A registered model: a name under which versions are numbered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredModel {
    /// Unique name.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub creation_timestamp: u64,
    /// Last change, ms since the Unix epoch.
    pub last_updated_timestamp: u64,
    /// Free text.
    pub description: Option<String>,
    /// Tags (the SDK's own `mlops.*` history tags included on the MLflow backend).
    pub tags: BTreeMap<String, String>,
    /// Alias name to version number.
    pub aliases: BTreeMap<String, u64>,
}

/// Registration status of a model version (MLflow's `ModelVersionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VersionStatus {
    /// Still being registered (asynchronous registries).
    PendingRegistration,
    /// Registration failed.
    FailedRegistration,
    /// Usable.
    Ready,
}

impl VersionStatus {
    /// MLflow's name for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            VersionStatus::PendingRegistration => "PENDING_REGISTRATION",
            VersionStatus::FailedRegistration => "FAILED_REGISTRATION",
            VersionStatus::Ready => "READY",
        }
    }

    /// Parses MLflow's name; unknown names read as `Ready` only when absent.
    pub(crate) fn parse(s: Option<&str>) -> VersionStatus {
        match s {
            Some("PENDING_REGISTRATION") => VersionStatus::PendingRegistration,
            Some("FAILED_REGISTRATION") => VersionStatus::FailedRegistration,
            _ => VersionStatus::Ready,
        }
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// Registered model name.
    pub name: String,
    /// Version number: from 1, per model, never reused.
    pub version: u64,
    /// Creation time, ms since the Unix epoch.
    pub creation_timestamp: u64,
    /// Last change, ms since the Unix epoch.
    pub last_updated_timestamp: u64,
    /// Free text.
    pub description: Option<String>,
    /// Where the model's files are (a URI as MLflow records it).
    pub source: String,
    /// The run that produced it, when known.
    pub run_id: Option<RunId>,
    /// Registration status.
    pub status: VersionStatus,
    /// MLflow's deprecated stage (`None`, `Staging`, `Production`, `Archived`): read only.
    pub stage: String,
    /// Tags, lineage tags (`mlops.*`) included.
    pub tags: BTreeMap<String, String>,
    /// Aliases pointing at this version (empty in search results of the MLflow backend,
    /// which omits them there).
    pub aliases: Vec<String>,
}

impl ModelVersion {
    /// `models:/NAME/VERSION` of this version.
    pub fn reference(&self) -> ModelVersionRef {
        ModelVersionRef {
            name: self.name.clone(),
            version: self.version,
        }
    }

    /// The package digest recorded at registration, if this version has one (versions
    /// registered by other clients have none).
    pub fn package_digest(&self) -> Result<Option<Digest>> {
        self.tags
            .get(TAG_PACKAGE_DIGEST)
            .map(|s| s.parse())
            .transpose()
    }

    /// The digests of the datasets the package was trained on.
    pub fn dataset_digests(&self) -> Result<Vec<Digest>> {
        match self.tags.get(TAG_DATASETS) {
            None => Ok(Vec::new()),
            Some(s) => s
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::parse)
                .collect(),
        }
    }
}

/// What a new version is made of: a stored package and its lineage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVersion {
    /// Digest of the package in the registry's [`ArtifactStore`] (an object or a
    /// [`Manifest`](crate::Manifest) of a directory).
    pub package: Digest,
    /// Where the package's files are, as MLflow records a version's `source`
    /// (`runs:/<run>/model`, `mlflow-artifacts:/...`, a `file:` URI).
    pub source: String,
    /// The run that produced it.
    pub run_id: Option<RunId>,
    /// Digests of the datasets it was trained on.
    pub datasets: Vec<Digest>,
    /// Free text.
    pub description: Option<String>,
    /// Extra tags.
    pub tags: BTreeMap<String, String>,
}

impl NewVersion {
    /// A version of `package`, whose files are at `source`.
    pub fn new(package: Digest, source: impl Into<String>) -> NewVersion {
        NewVersion {
            package,
            source: source.into(),
            run_id: None,
            datasets: Vec::new(),
            description: None,
            tags: BTreeMap::new(),
        }
    }

    /// Sets the producing run.
    pub fn run_id(mut self, run: RunId) -> NewVersion {
        self.run_id = Some(run);
        self
    }

    /// Adds a training dataset's digest.
    pub fn dataset(mut self, digest: Digest) -> NewVersion {
        self.datasets.push(digest);
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> NewVersion {
        self.description = Some(text.into());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> NewVersion {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// All tags the version is created with: the extra tags plus the lineage tags.
    pub(crate) fn all_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert(TAG_PACKAGE_DIGEST.into(), self.package.to_string());
        if !self.datasets.is_empty() {
            let list: Vec<String> = self.datasets.iter().map(|d| d.to_string()).collect();
            tags.insert(TAG_DATASETS.into(), list.join(","));
        }
        if let Some(run) = &self.run_id {
            tags.insert(TAG_RUN_ID.into(), run.to_string());
        }
        tags
    }
}

/// Where [`Registry::import_package`] put a package: what to register the version with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPackage {
    /// The version's `source`.
    pub source: String,
    /// The version's run.
    pub run_id: Option<RunId>,
}

/// A search over registered models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelQuery {
    /// SQL `LIKE` pattern on the name (`%` any run, `_` one character); `None` = all.
    pub name_like: Option<String>,
    /// Page size (1..=1000).
    pub max_results: u32,
    /// Token from a previous page's [`Page::next_page_token`].
    pub page_token: Option<String>,
}

impl Default for ModelQuery {
    fn default() -> ModelQuery {
        ModelQuery {
            name_like: None,
            max_results: 100,
            page_token: None,
        }
    }
}

/// A search over model versions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionQuery {
    /// Only versions of this model.
    pub name: Option<String>,
    /// Only versions produced by this run.
    pub run_id: Option<String>,
    /// Page size (1..=10000).
    pub max_results: u32,
    /// Token from a previous page's [`Page::next_page_token`].
    pub page_token: Option<String>,
}

impl Default for VersionQuery {
    fn default() -> VersionQuery {
        VersionQuery {
            name: None,
            run_id: None,
            max_results: 1000,
            page_token: None,
        }
    }
}

impl VersionQuery {
    /// All versions of one model.
    pub fn of_model(name: impl Into<String>) -> VersionQuery {
        VersionQuery {
            name: Some(name.into()),
            ..VersionQuery::default()
        }
    }
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The results of this page.
    pub items: Vec<T>,
    /// Pass this back for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
    /// Entries that could not be read and were left out (a `meta.yaml` cut off by a
    /// killed writer, a required field missing), with the file and the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<crate::Unreadable>,
}

/// Who moves an alias and why: recorded in the alias history and the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasChange {
    /// Who acts (a person, a CI job, a rollout controller).
    pub actor: String,
    /// Why.
    pub reason: String,
}

impl AliasChange {
    /// A change for `reason` by the actor named in `MLOPS_ACTOR`, else `USER`, else
    /// `unknown`.
    pub fn new(reason: impl Into<String>) -> AliasChange {
        let actor = std::env::var("MLOPS_ACTOR")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        AliasChange {
            actor,
            reason: reason.into(),
        }
    }

    /// Sets the actor.
    pub fn by(mut self, actor: impl Into<String>) -> AliasChange {
        self.actor = actor.into();
        self
    }
}

/// A model version resolved from a URI, with its package verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedModel {
    /// The version the URI names.
    pub version: ModelVersion,
    /// The package's digest, verified against the store's bytes. For a version
    /// registered by another MLflow client (no recorded digest; see
    /// [`MlflowRegistry`](crate::MlflowRegistry)'s `load`), the digest of the downloaded
    /// MLflow model directory.
    pub package: Digest,
}

/// A model registry: registered models, their numbered versions, and aliases with
/// their history. Blocking; object safe (`Box<dyn Registry>`).
///
/// Errors are typed: [`Error::ModelNotFound`], [`Error::ModelAlreadyExists`],
/// [`Error::VersionNotFound`], [`Error::AliasNotFound`] and
/// [`Error::PackageTampered`] on every backend.
pub trait Registry: Send + Sync + fmt::Debug {
    /// Where this registry is (`file:///...` or the server's base URL).
    fn location(&self) -> String;

    /// The store packages are read from and verified against.
    fn artifact_store(&self) -> &ArtifactStore;

    /// The audit log alias moves are written to.
    fn audit_log(&self) -> &AuditLog;

    /// Creates a registered model; [`Error::ModelAlreadyExists`] if the name is taken.
    fn create_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<RegisteredModel>;

    /// Reads a registered model with its tags and aliases.
    fn get_model(&self, name: &str) -> Result<RegisteredModel>;

    /// Lists registered models by name pattern, sorted by name, one page at a time.
    fn search_models(&self, query: &ModelQuery) -> Result<Page<RegisteredModel>>;

    /// Renames a model (its versions, aliases and alias history follow).
    fn rename_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel>;

    /// Replaces a model's description.
    fn set_model_description(&self, name: &str, description: &str) -> Result<RegisteredModel>;

    /// Sets (or overwrites) a model tag.
    fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()>;

    /// Removes a model tag (no error if it was not set).
    fn delete_model_tag(&self, name: &str, key: &str) -> Result<()>;

    /// Deletes a model with all its versions and aliases.
    fn delete_model(&self, name: &str) -> Result<()>;

    /// Registers a new version of `name` (which must exist) with the next number.
    fn create_version(&self, name: &str, new: &NewVersion) -> Result<ModelVersion>;

    /// Reads one version.
    fn get_version(&self, name: &str, version: u64) -> Result<ModelVersion>;

    /// Lists versions, newest first, one page at a time.
    fn search_versions(&self, query: &VersionQuery) -> Result<Page<ModelVersion>>;

    /// Replaces a version's description.
    fn set_version_description(
        &self,
        name: &str,
        version: u64,
        description: &str,
    ) -> Result<ModelVersion>;

    /// Sets (or overwrites) a version tag.
    fn set_version_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<()>;

    /// Removes a version tag (no error if it was not set).
    fn delete_version_tag(&self, name: &str, version: u64, key: &str) -> Result<()>;

    /// Deletes a version; its number is never given out again, aliases on it are removed.
    fn delete_version(&self, name: &str, version: u64) -> Result<()>;

    /// Points `alias` at `version`, recording the move in the history and audit log.
    fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: u64,
        change: &AliasChange,
    ) -> Result<AliasMove>;

    /// The version `alias` points at; [`Error::AliasNotFound`] if it is not set.
    fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;

    /// Removes `alias`, recording the move; [`Error::AliasNotFound`] if it is not set.
    fn delete_alias(&self, name: &str, alias: &str, change: &AliasChange) -> Result<AliasMove>;

    /// Every recorded move of `alias` on `name`, oldest first.
    fn alias_history(&self, name: &str, alias: &str) -> Result<Vec<AliasMove>>;

    /// Moves `alias` back to the version it pointed at before its last recorded move
    /// (rollbacks themselves are undone in turn: two rollbacks go back two moves).
    fn rollback_alias(&self, name: &str, alias: &str, change: &AliasChange) -> Result<AliasMove>;

    /// Makes `package`, a verified package in another registry's store `from`, available
    /// to this registry's [`Registry::create_version`], and says which `source` and run
    /// to register it with (`source` is the one it had where it came from, `run_id` the
    /// run it is meant to be registered with here). The default copies the objects into
    /// [`Registry::artifact_store`] and keeps both; the MLflow backend also uploads the
    /// files to the server's artifact store and returns their `mlflow-artifacts:` URI
    /// (and a carrier run when `run_id` is `None`, as the server requires one), so other
    /// clients can load the version too.
    fn import_package(
        &self,
        from: &ArtifactStore,
        package: &Digest,
        source: &str,
        run_id: Option<&RunId>,
    ) -> Result<ImportedPackage> {
        self.artifact_store().copy_package_from(from, package)?;
        Ok(ImportedPackage {
            source: source.to_string(),
            run_id: run_id.cloned(),
        })
    }

    /// The version `alias` pointed at at `time_ms` (ms since the Unix epoch) according
    /// to the recorded history; `None` when it was not set then.
    fn alias_at(&self, name: &str, alias: &str, time_ms: u64) -> Result<Option<u64>> {
        Ok(history::version_at(
            &self.alias_history(name, alias)?,
            time_ms,
        ))
    }

    /// The version a model URI names.
    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersion> {
        match uri {
            ModelUri::Version(v) => self.get_version(&v.name, v.version),
            ModelUri::Alias { name, alias } => self.get_version_by_alias(name, alias),
        }
    }

    /// Resolves a model URI and verifies its package against the recorded digest:
    /// [`Error::PackageTampered`] if the bytes changed or the package is missing. The
    /// MLflow backend also loads versions registered by other clients (Python's
    /// `log_model`), which have no recorded digest, by downloading them.
    fn load(&self, uri: &ModelUri) -> Result<LoadedModel> {
        let version = self.resolve(uri)?;
        let package = verify_package(self.artifact_store(), &version)?;
        Ok(LoadedModel { version, package })
    }
}

/// Checks a version's package in `store`: the object (and, for a manifest, every file
/// it lists) must be present and hash to its name.
pub(crate) fn verify_package(store: &ArtifactStore, version: &ModelVersion) -> Result<Digest> {
    let tampered = |digest: Digest, problem: String| Error::PackageTampered {
        name: version.name.clone(),
        version: version.version,
        digest,
        problem,
    };
    let digest = version.package_digest()?.ok_or_else(|| {
        Error::InvalidArgument(format!(
            "models:/{}/{} has no {TAG_PACKAGE_DIGEST} tag: it was not registered from a \
             stored package",
            version.name, version.version
        ))
    })?;
    // Stream-verify the package object; a small one may be a directory's manifest.
    let checked = store.verify(&digest).and_then(|()| {
        let small = std::fs::metadata(store.object_path(&digest))
            .map(|m| m.len() <= crate::store::MAX_MANIFEST_BYTES)
            .unwrap_or(false);
        if small {
            store.get(&digest).map(Some)
        } else {
            Ok(None)
        }
    });
    let bytes = match checked {
        Ok(b) => b,
        Err(e @ (Error::Corrupt { .. } | Error::NotFound(_))) => {
            return Err(tampered(digest, e.to_string()));
        }
        Err(e) => return Err(e),
    };
    // A directory package: verify every file it lists as well.
    if let Some(m) = bytes
        .as_deref()
        .and_then(|b| serde_json::from_slice::<crate::Manifest>(b).ok())
        && m.kind == crate::MANIFEST_KIND
    {
        for (path, entry) in &m.files {
            match store.verify(&entry.digest) {
                Ok(()) => {}
                Err(e @ (Error::Corrupt { .. } | Error::NotFound(_))) => {
                    return Err(tampered(digest, format!("{path}: {e}")));
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(digest)
}

/// Checks a registered-model name: non-empty, and usable as one directory name (no
/// `/`, `\`, `%`, NUL, not `.` or `..`), as MLflow's file store requires.
pub(crate) fn check_model_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::InvalidArgument(format!(
            "model name {name:?}: {why}"
        )))
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name == "." || name == ".." {
        return bad("not a usable name");
    }
    if name.contains(['/', '\\', '%', '\0']) {
        return bad("must not contain '/', '\\', '%' or NUL");
    }
    if name.len() > 256 {
        return bad("longer than 256 bytes");
    }
    Ok(())
}

/// Checks an alias name as MLflow does: 1..=255 of `[A-Za-z0-9_-]`, not `latest` (any
/// case) and not `v<digits>`, which MLflow reserves.
pub(crate) fn check_alias(alias: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidArgument(format!("alias {alias:?}: {why}")));
    if alias.is_empty() || alias.len() > 255 {
        return bad("must be 1 to 255 characters");
    }
    if !alias
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return bad("only letters, digits, '_' and '-' are allowed");
    }
    if alias.eq_ignore_ascii_case("latest") {
        return bad("'latest' is reserved by MLflow");
    }
    if alias.len() > 1
        && alias.starts_with(['v', 'V'])
        && alias[1..].chars().all(|c| c.is_ascii_digit())
    {
        return bad("'v<digits>' is reserved by MLflow");
    }
    Ok(())
}

/// Opens the registry a URI names, as [`tracker_from_uri`](crate::tracking::tracker_from_uri)
/// opens a tracker: a path or a `file:` URI = a [`LocalRegistry`] there (empty = `./mlruns`);
/// `http://` / `https://` = an [`MlflowRegistry`] (credentials from the environment, SDK
/// state, package cache and audit log under `$MLOPS_HOME`, default `./.mlops`). Other
/// schemes are refused.
pub fn registry_from_uri(uri: &str) -> Result<Box<dyn Registry>> {
    let uri = uri.trim();
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return Ok(Box::new(MlflowRegistry::from_env_with_url(uri)?));
    }
    let root = local::root_from_uri(Some(uri).filter(|u| !u.is_empty()))?;
    Ok(Box::new(LocalRegistry::open(root)?))
}

/// Opens the registry named by `MLFLOW_REGISTRY_URI`, else `MLFLOW_TRACKING_URI`, else
/// `./mlruns` (the order the MLflow client uses).
pub fn registry_from_env() -> Result<Box<dyn Registry>> {
    let var = |k: &str| std::env::var(k).ok().filter(|u| !u.trim().is_empty());
    let uri = var("MLFLOW_REGISTRY_URI")
        .or_else(|| var("MLFLOW_TRACKING_URI"))
        .unwrap_or_default();
    registry_from_uri(&uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names() {
        for ok in ["champion", "challenger-2", "a_b", "v", "vx1", "v1a"] {
            assert!(check_alias(ok).is_ok(), "{ok}");
        }
        for bad in ["", "latest", "LATEST", "v1", "V22", "a b", "a/b", "é"] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn model_names() {
        for bad in ["", ".", "..", "a/b", "a%b", "a\\b"] {
            assert!(check_model_name(bad).is_err(), "{bad}");
        }
        assert!(check_model_name("fraud model-1.2").is_ok());
    }
}
