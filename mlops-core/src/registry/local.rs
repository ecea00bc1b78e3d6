//! The embedded registry on MLflow's file-store layout.
//!
//! ```text
//! <root>/models/<name>/meta.yaml              registered model (PyYAML-style YAML)
//! <root>/models/<name>/tags/<key>             one file per tag, the value as its content
//! <root>/models/<name>/aliases/<alias>        one file per alias, the version as its content
//! <root>/models/<name>/version-<N>/meta.yaml  a version; deleted ones stay, marked
//!                                             `current_stage: Deleted_Internal`
//! <root>/models/<name>/version-<N>/tags/<key>
//!
//! <root>.mlops/registry.lock                  the SDK's writer lock
//! <root>.mlops/registry/<name>/alias_history.jsonl    alias moves, append-only
//! <root>.mlops/store/                         the artifact store packages live in
//! <root>.mlops/audit.jsonl                    the audit log
//! <root>.mlops/tmp/                           versions and models being built
//! ```
//!
//! The SDK's own state is in the sibling directory `<root>.mlops`
//! ([`sdk_state_dir`], shared with the tracker), not inside the root: MLflow's tracking
//! file store takes every directory of the root for an experiment and refuses to list
//! experiments when one is not.
//!
//! This is exactly what MLflow's `FileStore` (mlflow/store/model_registry/file_store.py)
//! reads and writes, so `MlflowClient(registry_uri="file:<root>")` (with
//! `MLFLOW_ALLOW_FILE_STORE=true`) sees models registered here, and this registry sees
//! models registered there.
//!
//! Why it is safe to share between processes: every write of the SDK happens under one
//! exclusive [`FileLock`] on `registry.lock`, so version numbers (the highest
//! `version-N` directory plus one, as MLflow computes them, deleted versions included so
//! a number is never reused) cannot be handed out twice. A new version or model is built
//! completely in `tmp/` of the state directory (outside `models/`, where MLflow would
//! list it; on the same file system, beside the root) and
//! renamed into place in one step; every file rewrite goes through
//! [`write_atomic`](crate::fs::write_atomic). A writer killed at any point leaves either
//! no version or a whole one. MLflow's Python writers do not take the lock: mixing
//! concurrent Python and Rust writers on one model is as safe as MLflow alone is.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::fs::{
    FileLock, copy_tree, read_dir_names, read_kv_dir, safe_relative_path, sync_dir, temp_dir_in,
    write_atomic,
};
use crate::tracking::sdk_state_dir;
use crate::yaml::{self, Map, Value};
use crate::{ArtifactStore, AuditLog, Error, Result, RunId, now_ms};

use super::alias::{self, AliasStore};
use super::history::{self, AliasMove, AliasMoveKind};
use super::{
    AliasChange, ModelQuery, ModelVersion, NewVersion, Page, RegisteredModel, Registry,
    VersionQuery, VersionStatus, check_alias, check_model_name,
};

const DELETED_STAGE: &str = "Deleted_Internal";

/// A registry in a local directory, in MLflow's file-store layout. See the module docs.
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    root: PathBuf,
    state: PathBuf,
    store: ArtifactStore,
    audit: AuditLog,
}

/// The local root a registry/tracking URI names: `None` = `./mlruns`; `file:` URIs and
/// plain paths as given. Relative paths are made absolute against the current directory.
pub(crate) fn root_from_uri(uri: Option<&str>) -> Result<PathBuf> {
    let path = match uri {
        None => PathBuf::from("mlruns"),
        Some(u) => crate::tracking::local_path_of_uri(u)?,
    };
    if path.is_absolute() {
        Ok(path)
    } else {
        let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
        Ok(cwd.join(path))
    }
}

fn check_tag_key(key: &str) -> Result<String> {
    let norm = safe_relative_path(key)?;
    if norm != key || key.len() > 250 {
        return Err(Error::InvalidArgument(format!(
            "tag key {key:?}: must be a normalised relative name of at most 250 bytes"
        )));
    }
    Ok(norm)
}

fn check_tag_value(key: &str, value: &str) -> Result<()> {
    if value.len() > 100_000 {
        return Err(Error::InvalidArgument(format!(
            "tag {key:?}: value longer than MLflow's 100,000 characters"
        )));
    }
    Ok(())
}

/// A number `meta.yaml` must have: missing, it is an error naming the file.
fn req_u64(map: &Map, path: &Path, key: &str) -> Result<u64> {
    map.get(key)
        .and_then(Value::as_i64)
        .map(|v| v.max(0) as u64)
        .ok_or_else(|| missing(path, key))
}

/// A text `meta.yaml` must have (it may be empty): missing, an error naming the file.
fn req_string(map: &Map, path: &Path, key: &str) -> Result<String> {
    match map.get(key) {
        Some(Value::Null) | None => Err(missing(path, key)),
        Some(v) => v.to_opt_string().ok_or_else(|| missing(path, key)),
    }
}

fn missing(path: &Path, key: &str) -> Error {
    Error::Malformed {
        path: path.to_path_buf(),
        problem: format!("field {key:?} is missing"),
    }
}

fn get_opt_string(map: &Map, key: &str) -> Option<String> {
    map.get(key).and_then(Value::to_opt_string)
}

/// SQL `LIKE` with `%` and `_`, case-sensitive, as MLflow's search filters.
pub(crate) fn like(pattern: &str, text: &str) -> bool {
    // The tracking filter's matcher (note its argument order: text, then pattern).
    crate::tracking::filter::like(text, pattern)
}

fn page<T>(items: Vec<T>, max_results: u32, token: Option<&str>, limit: u32) -> Result<Page<T>> {
    if max_results == 0 || max_results > limit {
        return Err(Error::InvalidArgument(format!(
            "max_results must be 1..={limit}, got {max_results}"
        )));
    }
    let start: usize = match token {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| Error::InvalidArgument(format!("invalid page token {t:?}")))?,
    };
    let end = start.saturating_add(max_results as usize);
    let total = items.len();
    let items: Vec<T> = items
        .into_iter()
        .skip(start)
        .take(max_results as usize)
        .collect();
    Ok(Page {
        items,
        next_page_token: (end < total).then(|| end.to_string()),
        skipped: Vec::new(),
    })
}

impl LocalRegistry {
    /// Opens (creating `models/` and the state directory `<root>.mlops` if needed) the
    /// registry rooted at `root`, the directory MLflow calls the store root (`./mlruns`
    /// by default).
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalRegistry> {
        let root: PathBuf = root.into();
        let models = root.join("models");
        std::fs::create_dir_all(&models).map_err(|e| Error::io(&models, e))?;
        let state = sdk_state_dir(&root);
        let store = ArtifactStore::new(state.join("store"))?;
        let audit = AuditLog::open(state.join("audit.jsonl"));
        Ok(LocalRegistry {
            root,
            state,
            store,
            audit,
        })
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SDK's state directory for this root (`<root>.mlops`): artifact store, audit
    /// log, alias history, lock.
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    fn sdk_dir(&self) -> PathBuf {
        self.state.clone()
    }

    fn model_dir(&self, name: &str) -> PathBuf {
        self.root.join("models").join(name)
    }

    fn history_path(&self, name: &str) -> PathBuf {
        self.sdk_dir()
            .join("registry")
            .join(name)
            .join("alias_history.jsonl")
    }

    /// Takes the writer lock and clears what a killed writer may have left in `tmp/`.
    fn lock(&self) -> Result<FileLock> {
        let lock = FileLock::acquire(&self.sdk_dir().join("registry.lock"))?;
        let tmp = self.sdk_dir().join("tmp");
        for name in read_dir_names(&tmp)? {
            // Only lock holders build in tmp/, so anything there now is abandoned.
            let p = tmp.join(name);
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        Ok(lock)
    }

    /// A build directory in `tmp/`, removed on drop (also on a panic). What is renamed
    /// out of it into `models/` stays: the removal only finds what is left.
    fn tmp_dir(&self) -> Result<tempfile::TempDir> {
        temp_dir_in(&self.sdk_dir().join("tmp"), "build-")
    }

    fn model_meta(&self, name: &str) -> Result<(PathBuf, Map)> {
        check_model_name(name)?;
        let path = self.model_dir(name).join("meta.yaml");
        if !path.is_file() {
            return Err(Error::ModelNotFound { name: name.into() });
        }
        let map = yaml::read_map(&path)?;
        Ok((path, map))
    }

    fn read_aliases(&self, name: &str) -> Result<BTreeMap<String, u64>> {
        let dir = self.model_dir(name).join("aliases");
        let mut out = BTreeMap::new();
        for (alias, v) in read_kv_dir(&dir)? {
            let version = v.trim().parse().map_err(|_| Error::Malformed {
                path: dir.join(&alias),
                problem: format!("alias file holds {v:?}, not a version number"),
            })?;
            out.insert(alias, version);
        }
        Ok(out)
    }

    fn read_model(&self, name: &str) -> Result<RegisteredModel> {
        let (path, meta) = self.model_meta(name)?;
        Ok(RegisteredModel {
            name: req_string(&meta, &path, "name")?,
            creation_timestamp: req_u64(&meta, &path, "creation_timestamp")?,
            last_updated_timestamp: req_u64(&meta, &path, "last_updated_timestamp")?,
            description: get_opt_string(&meta, "description"),
            tags: read_kv_dir(&self.model_dir(name).join("tags"))?,
            aliases: self.read_aliases(name)?,
        })
    }

    /// Rewrites a model's meta.yaml: `last_updated_timestamp`, and the `aliases` map
    /// MLflow keeps there as a copy of `aliases/`. Unknown fields are kept.
    fn touch_model(&self, name: &str, edit: impl FnOnce(&mut Map)) -> Result<()> {
        let (path, mut meta) = self.model_meta(name)?;
        meta.insert("last_updated_timestamp".into(), Value::Int(now_ms() as i64));
        let aliases = self
            .read_aliases(name)?
            .into_iter()
            .map(|(a, v)| (a, Value::Str(v.to_string())))
            .collect();
        meta.insert("aliases".into(), Value::Map(aliases));
        edit(&mut meta);
        write_atomic(&path, yaml::to_yaml(&meta).as_bytes())
    }

    fn version_dirs(&self, name: &str) -> Result<Vec<u64>> {
        let mut out: Vec<u64> = read_dir_names(&self.model_dir(name))?
            .iter()
            .filter_map(|n| n.strip_prefix("version-")?.parse().ok())
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Reads a version's meta.yaml; `None` when deleted (kept, marked, by MLflow).
    fn version_meta(&self, name: &str, version: u64) -> Result<(PathBuf, Map)> {
        self.model_meta(name)?;
        let path = self
            .model_dir(name)
            .join(format!("version-{version}"))
            .join("meta.yaml");
        let not_found = || Error::VersionNotFound {
            name: name.into(),
            version,
        };
        if !path.is_file() {
            return Err(not_found());
        }
        let meta = yaml::read_map(&path)?;
        if meta.get("current_stage").and_then(Value::as_str) == Some(DELETED_STAGE) {
            return Err(not_found());
        }
        Ok((path, meta))
    }

    fn read_version(
        &self,
        name: &str,
        version: u64,
        aliases: Option<&BTreeMap<String, u64>>,
    ) -> Result<ModelVersion> {
        let (path, meta) = self.version_meta(name, version)?;
        let all_aliases;
        let aliases = match aliases {
            Some(a) => a,
            None => {
                all_aliases = self.read_aliases(name)?;
                &all_aliases
            }
        };
        let source = req_string(&meta, &path, "source")?;
        Ok(ModelVersion {
            name: name.to_string(),
            version,
            creation_timestamp: req_u64(&meta, &path, "creation_timestamp")?,
            last_updated_timestamp: req_u64(&meta, &path, "last_updated_timestamp")?,
            description: get_opt_string(&meta, "description"),
            source,
            run_id: get_opt_string(&meta, "run_id")
                .filter(|r| !r.is_empty())
                .map(RunId),
            status: VersionStatus::parse(meta.get("status").and_then(Value::as_str)),
            stage: get_opt_string(&meta, "current_stage").unwrap_or_else(|| "None".into()),
            tags: read_kv_dir(
                &self
                    .model_dir(name)
                    .join(format!("version-{version}"))
                    .join("tags"),
            )?,
            aliases: aliases
                .iter()
                .filter(|(_, v)| **v == version)
                .map(|(a, _)| a.clone())
                .collect(),
        })
    }

    /// Every history record of `name`, one per move id in its latest state (a move's
    /// intent and confirmation are two lines), in the order moves began.
    fn read_history(&self, name: &str) -> Result<Vec<AliasMove>> {
        let path = self.history_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let mut out: Vec<AliasMove> = Vec::with_capacity(lines.len());
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str::<AliasMove>(line) {
                Ok(m) => match by_id.get(&m.id) {
                    Some(&at) if !m.id.is_empty() => out[at] = m,
                    _ => {
                        if !m.id.is_empty() {
                            by_id.insert(m.id.clone(), out.len());
                        }
                        out.push(m);
                    }
                },
                // A writer killed mid-line: the torn tail is not a record.
                Err(_) if i + 1 == lines.len() && !complete => {}
                Err(source) => {
                    return Err(Error::Json {
                        context: format!("{} line {}", path.display(), i + 1),
                        source,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Appends a history record (caller holds the lock).
    fn append_history(&self, name: &str, m: &AliasMove) -> Result<()> {
        let path = self.history_path(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // Cut a torn last line left by a killed writer before appending after it.
        let text = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        if !text.is_empty() && !text.ends_with(b"\n") {
            let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            f.set_len(keep as u64).map_err(|e| Error::io(&path, e))?;
        }
        let mut line = serde_json::to_vec(m).map_err(|source| Error::Json {
            context: "alias move".into(),
            source,
        })?;
        line.push(b'\n');
        f.write_all(&line).map_err(|e| Error::io(&path, e))?;
        f.sync_data().map_err(|e| Error::io(&path, e))
    }

    /// Moves an alias (caller holds the lock), in the order of `registry/alias.rs`.
    fn move_alias_locked(
        &self,
        name: &str,
        alias: &str,
        to: Option<u64>,
        kind: AliasMoveKind,
        change: &AliasChange,
    ) -> Result<AliasMove> {
        alias::move_alias(self, name, alias, to, kind, change)
    }

    fn write_version_tags(dir: &Path, tags: &BTreeMap<String, String>) -> Result<()> {
        for (k, v) in tags {
            let key = check_tag_key(k)?;
            check_tag_value(k, v)?;
            write_atomic(&dir.join("tags").join(key), v.as_bytes())?;
        }
        Ok(())
    }
}

/// The local half of the alias move (the caller holds the registry lock).
impl AliasStore for LocalRegistry {
    fn alias_location(&self) -> String {
        Registry::location(self)
    }

    fn alias_audit(&self) -> &AuditLog {
        &self.audit
    }

    fn current_alias(&self, name: &str, alias: &str) -> Result<Option<u64>> {
        self.model_meta(name)?;
        Ok(self.read_aliases(name)?.get(alias).copied())
    }

    fn check_target(&self, name: &str, to: u64) -> Result<()> {
        self.version_meta(name, to).map(|_| ())
    }

    fn point_alias(&self, name: &str, alias: &str, to: Option<u64>) -> Result<Option<u64>> {
        let alias_path = self.model_dir(name).join("aliases").join(alias);
        match to {
            Some(v) => write_atomic(&alias_path, v.to_string().as_bytes())?,
            None => {
                match std::fs::remove_file(&alias_path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&alias_path, e)),
                }
                if let Some(d) = alias_path.parent() {
                    sync_dir(d)?;
                }
            }
        }
        // The alias has moved: a stale copy of the aliases in meta.yaml must not make
        // the move read as failed (the next write of the model refreshes it).
        if let Err(e) = self.touch_model(name, |_| {}) {
            tracing::warn!(model = name, error = %e, "meta.yaml not refreshed after an alias move");
        }
        Ok(None)
    }

    fn write_record(&self, name: &str, m: &AliasMove) -> Result<()> {
        self.append_history(name, m)
    }

    fn read_records(&self, name: &str, alias: &str) -> Result<Vec<AliasMove>> {
        Ok(self
            .read_history(name)?
            .into_iter()
            .filter(|m| m.alias == alias)
            .collect())
    }

    fn settle_after_ms(&self) -> u64 {
        0 // movers hold the registry lock: an intent found by the next one is finished
    }
}

impl Registry for LocalRegistry {
    fn location(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn artifact_store(&self) -> &ArtifactStore {
        &self.store
    }

    fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    fn create_model(
        &self,
        name: &str,
        description: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<RegisteredModel> {
        check_model_name(name)?;
        for (k, v) in tags {
            check_tag_key(k)?;
            check_tag_value(k, v)?;
        }
        let _lock = self.lock()?;
        let dest = self.model_dir(name);
        if dest.exists() {
            return Err(Error::ModelAlreadyExists { name: name.into() });
        }
        let build = self.tmp_dir()?;
        let staged = build.path().join("model");
        std::fs::create_dir(&staged).map_err(|e| Error::io(&staged, e))?;
        let now = now_ms() as i64;
        let mut meta = Map::new();
        meta.insert("aliases".into(), Value::Map(Map::new()));
        meta.insert("creation_timestamp".into(), Value::Int(now));
        meta.insert("deployment_job_id".into(), Value::Null);
        meta.insert("deployment_job_state".into(), Value::Null);
        meta.insert("description".into(), Value::opt_str(description));
        meta.insert("last_updated_timestamp".into(), Value::Int(now));
        meta.insert("name".into(), Value::Str(name.into()));
        meta.insert("workspace".into(), Value::Str("default".into()));
        write_atomic(&staged.join("meta.yaml"), yaml::to_yaml(&meta).as_bytes())?;
        Self::write_version_tags(&staged, tags)?;
        std::fs::rename(&staged, &dest).map_err(|e| Error::io(&dest, e))?;
        sync_dir(&self.root.join("models"))?;
        tracing::info!(model = name, "registered model created");
        self.read_model(name)
    }

    fn get_model(&self, name: &str) -> Result<RegisteredModel> {
        self.read_model(name)
    }

    fn search_models(&self, query: &ModelQuery) -> Result<Page<RegisteredModel>> {
        let mut models = Vec::new();
        let mut skipped = Vec::new();
        for name in read_dir_names(&self.root.join("models"))? {
            if check_model_name(&name).is_err()
                || !self.model_dir(&name).join("meta.yaml").is_file()
            {
                continue;
            }
            if let Some(p) = &query.name_like
                && !like(p, &name)
            {
                continue;
            }
            match self.read_model(&name) {
                Ok(m) => models.push(m),
                // One model cut off by a killed writer must not hide all the others.
                Err(e) => {
                    tracing::warn!(model = %name, error = %e, "unreadable registered model skipped");
                    skipped.push(crate::Unreadable {
                        path: self.model_dir(&name).join("meta.yaml"),
                        problem: e.to_string(),
                    });
                }
            }
        }
        models.sort_by(|a, b| a.name.cmp(&b.name));
        let mut p = page(models, query.max_results, query.page_token.as_deref(), 1000)?;
        p.skipped = skipped;
        Ok(p)
    }

    fn rename_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel> {
        check_model_name(new_name)?;
        let _lock = self.lock()?;
        self.model_meta(name)?;
        let dest = self.model_dir(new_name);
        if dest.exists() {
            return Err(Error::ModelAlreadyExists {
                name: new_name.into(),
            });
        }
        // Build the renamed copy, then swap it in with two renames.
        let build = self.tmp_dir()?;
        let staged = build.path().join("model");
        copy_tree(&self.model_dir(name), &staged)?;
        let now = Value::Int(now_ms() as i64);
        let meta_path = staged.join("meta.yaml");
        let mut meta = yaml::read_map(&meta_path)?;
        meta.insert("name".into(), Value::Str(new_name.into()));
        meta.insert("last_updated_timestamp".into(), now.clone());
        write_atomic(&meta_path, yaml::to_yaml(&meta).as_bytes())?;
        for v in self.version_dirs(name)? {
            let p = staged.join(format!("version-{v}")).join("meta.yaml");
            if p.is_file() {
                let mut m = yaml::read_map(&p)?;
                m.insert("name".into(), Value::Str(new_name.into()));
                m.insert("last_updated_timestamp".into(), now.clone());
                write_atomic(&p, yaml::to_yaml(&m).as_bytes())?;
            }
        }
        std::fs::rename(&staged, &dest).map_err(|e| Error::io(&dest, e))?;
        let trash = build.path().join("old");
        std::fs::rename(self.model_dir(name), &trash)
            .map_err(|e| Error::io(self.model_dir(name), e))?;
        sync_dir(&self.root.join("models"))?;
        // The alias history follows the model.
        let old_hist = self.history_path(name);
        if let (Some(from), Some(to)) = (old_hist.parent(), self.history_path(new_name).parent())
            && from.exists()
        {
            if to.exists() {
                std::fs::remove_dir_all(to).map_err(|e| Error::io(to, e))?;
            }
            std::fs::rename(from, to).map_err(|e| Error::io(to, e))?;
        }
        drop(build); // removes what was moved aside
        tracing::info!(model = name, new_name, "registered model renamed");
        self.read_model(new_name)
    }

    fn set_model_description(&self, name: &str, description: &str) -> Result<RegisteredModel> {
        let _lock = self.lock()?;
        self.touch_model(name, |m| {
            m.insert("description".into(), Value::Str(description.into()));
        })?;
        self.read_model(name)
    }

    fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        let key = check_tag_key(key)?;
        check_tag_value(&key, value)?;
        let _lock = self.lock()?;
        self.model_meta(name)?;
        write_atomic(
            &self.model_dir(name).join("tags").join(&key),
            value.as_bytes(),
        )?;
        self.touch_model(name, |_| {})
    }

    fn delete_model_tag(&self, name: &str, key: &str) -> Result<()> {
        let key = check_tag_key(key)?;
        let _lock = self.lock()?;
        self.model_meta(name)?;
        let p = self.model_dir(name).join("tags").join(&key);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            self.touch_model(name, |_| {})?;
        }
        Ok(())
    }

    fn delete_model(&self, name: &str) -> Result<()> {
        let _lock = self.lock()?;
        self.model_meta(name)?;
        let build = self.tmp_dir()?;
        let dir = self.model_dir(name);
        std::fs::rename(&dir, build.path().join("old")).map_err(|e| Error::io(&dir, e))?;
        sync_dir(&self.root.join("models"))?;
        // Keep the deleted model's alias history aside (a new model of the same name
        // starts a history of its own); the audit log keeps the record either way.
        if let Some(h) = self.history_path(name).parent()
            && h.exists()
        {
            let kept = self
                .sdk_dir()
                .join("registry-deleted")
                .join(format!("{name}-{}", now_ms()));
            if let Some(p) = kept.parent() {
                std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
            }
            std::fs::rename(h, &kept).map_err(|e| Error::io(&kept, e))?;
        }
        drop(build); // removes what was moved aside
        self.audit.append(
            &AliasChange::new("").actor,
            "registry.model.delete",
            &format!("models:/{name}"),
            serde_json::json!({ "registry": self.location() }),
        )?;
        tracing::info!(model = name, "registered model deleted");
        Ok(())
    }

    fn create_version(&self, name: &str, new: &NewVersion) -> Result<ModelVersion> {
        check_model_name(name)?;
        let tags = new.all_tags();
        for (k, v) in &tags {
            check_tag_key(k)?;
            check_tag_value(k, v)?;
        }
        let _lock = self.lock()?;
        self.model_meta(name)?;
        let version = self.version_dirs(name)?.last().copied().unwrap_or(0) + 1;
        let build = self.tmp_dir()?;
        let staged = build.path().join("version");
        std::fs::create_dir(&staged).map_err(|e| Error::io(&staged, e))?;
        let now = now_ms() as i64;
        let mut meta = Map::new();
        meta.insert("creation_timestamp".into(), Value::Int(now));
        meta.insert("current_stage".into(), Value::Str("None".into()));
        meta.insert("deployment_job_state".into(), Value::Null);
        meta.insert(
            "description".into(),
            Value::opt_str(new.description.as_deref()),
        );
        meta.insert("last_updated_timestamp".into(), Value::Int(now));
        meta.insert("model_id".into(), Value::Null);
        meta.insert("name".into(), Value::Str(name.into()));
        meta.insert(
            "run_id".into(),
            Value::opt_str(new.run_id.as_ref().map(RunId::as_str)),
        );
        meta.insert("run_link".into(), Value::Null);
        meta.insert("source".into(), Value::Str(new.source.clone()));
        meta.insert("status".into(), Value::Str("READY".into()));
        meta.insert("status_message".into(), Value::Null);
        meta.insert("storage_location".into(), Value::Str(new.source.clone()));
        meta.insert("user_id".into(), Value::Null);
        meta.insert("version".into(), Value::Int(version as i64));
        meta.insert("workspace".into(), Value::Str("default".into()));
        write_atomic(&staged.join("meta.yaml"), yaml::to_yaml(&meta).as_bytes())?;
        Self::write_version_tags(&staged, &tags)?;
        let dest = self.model_dir(name).join(format!("version-{version}"));
        std::fs::rename(&staged, &dest).map_err(|e| Error::io(&dest, e))?;
        sync_dir(&self.model_dir(name))?;
        self.touch_model(name, |_| {})?;
        tracing::info!(model = name, version, package = %new.package, "model version created");
        self.read_version(name, version, None)
    }

    fn get_version(&self, name: &str, version: u64) -> Result<ModelVersion> {
        self.read_version(name, version, None)
    }

    fn search_versions(&self, query: &VersionQuery) -> Result<Page<ModelVersion>> {
        let names = match &query.name {
            Some(n) => {
                check_model_name(n)?;
                if self.model_dir(n).join("meta.yaml").is_file() {
                    vec![n.clone()]
                } else {
                    Vec::new()
                }
            }
            None => read_dir_names(&self.root.join("models"))?
                .into_iter()
                .filter(|n| {
                    check_model_name(n).is_ok() && self.model_dir(n).join("meta.yaml").is_file()
                })
                .collect(),
        };
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        for name in &names {
            let aliases = self.read_aliases(name)?;
            for v in self.version_dirs(name)?.into_iter().rev() {
                let mv = match self.read_version(name, v, Some(&aliases)) {
                    Ok(mv) => mv,
                    Err(Error::VersionNotFound { .. }) => continue, // deleted
                    Err(e) => {
                        tracing::warn!(model = %name, version = v, error = %e, "unreadable model version skipped");
                        skipped.push(crate::Unreadable {
                            path: self
                                .model_dir(name)
                                .join(format!("version-{v}"))
                                .join("meta.yaml"),
                            problem: e.to_string(),
                        });
                        continue;
                    }
                };
                if let Some(r) = &query.run_id
                    && mv.run_id.as_ref().map(RunId::as_str) != Some(r.as_str())
                {
                    continue;
                }
                out.push(mv);
            }
        }
        let mut p = page(out, query.max_results, query.page_token.as_deref(), 200_000)?;
        p.skipped = skipped;
        Ok(p)
    }

    fn set_version_description(
        &self,
        name: &str,
        version: u64,
        description: &str,
    ) -> Result<ModelVersion> {
        let _lock = self.lock()?;
        let (path, mut meta) = self.version_meta(name, version)?;
        meta.insert("description".into(), Value::Str(description.into()));
        meta.insert("last_updated_timestamp".into(), Value::Int(now_ms() as i64));
        write_atomic(&path, yaml::to_yaml(&meta).as_bytes())?;
        self.read_version(name, version, None)
    }

    fn set_version_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<()> {
        let key = check_tag_key(key)?;
        check_tag_value(&key, value)?;
        let _lock = self.lock()?;
        self.version_meta(name, version)?;
        let dir = self.model_dir(name).join(format!("version-{version}"));
        write_atomic(&dir.join("tags").join(&key), value.as_bytes())?;
        self.touch_model(name, |_| {})
    }

    fn delete_version_tag(&self, name: &str, version: u64, key: &str) -> Result<()> {
        let key = check_tag_key(key)?;
        let _lock = self.lock()?;
        self.version_meta(name, version)?;
        let p = self
            .model_dir(name)
            .join(format!("version-{version}"))
            .join("tags")
            .join(&key);
        if p.is_file() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            self.touch_model(name, |_| {})?;
        }
        Ok(())
    }

    fn delete_version(&self, name: &str, version: u64) -> Result<()> {
        let _lock = self.lock()?;
        let (path, mut meta) = self.version_meta(name, version)?;
        // Aliases on it go first, each move recorded.
        for (alias, v) in self.read_aliases(name)? {
            if v == version {
                let change = AliasChange::new(format!("version {version} deleted"));
                self.move_alias_locked(name, &alias, None, AliasMoveKind::Delete, &change)?;
            }
        }
        // MLflow marks the version deleted and keeps its directory, so the number stays
        // taken.
        meta.insert("current_stage".into(), Value::Str(DELETED_STAGE.into()));
        meta.insert("last_updated_timestamp".into(), Value::Int(now_ms() as i64));
        write_atomic(&path, yaml::to_yaml(&meta).as_bytes())?;
        self.touch_model(name, |_| {})?;
        tracing::info!(model = name, version, "model version deleted");
        Ok(())
    }

    fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: u64,
        change: &AliasChange,
    ) -> Result<AliasMove> {
        check_alias(alias)?;
        let _lock = self.lock()?;
        self.move_alias_locked(name, alias, Some(version), AliasMoveKind::Set, change)
    }

    fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        check_alias(alias)?;
        let aliases = {
            self.model_meta(name)?;
            self.read_aliases(name)?
        };
        let v = *aliases.get(alias).ok_or_else(|| Error::AliasNotFound {
            name: name.into(),
            alias: alias.into(),
        })?;
        self.read_version(name, v, Some(&aliases))
    }

    fn delete_alias(&self, name: &str, alias: &str, change: &AliasChange) -> Result<AliasMove> {
        check_alias(alias)?;
        let _lock = self.lock()?;
        self.model_meta(name)?;
        self.move_alias_locked(name, alias, None, AliasMoveKind::Delete, change)
    }

    fn alias_history(&self, name: &str, alias: &str) -> Result<Vec<AliasMove>> {
        // Under the lock: a move in flight is never read half-done.
        let _lock = self.lock()?;
        self.model_meta(name)?;
        alias::history(self, name, alias)
    }

    fn rollback_alias(&self, name: &str, alias: &str, change: &AliasChange) -> Result<AliasMove> {
        check_alias(alias)?;
        let _lock = self.lock()?;
        self.model_meta(name)?;
        let moves = alias::history(self, name, alias)?;
        let target = history::rollback_target(name, alias, &moves)?;
        self.move_alias_locked(name, alias, Some(target), AliasMoveKind::Rollback, change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("fraud%", "fraud-model"));
        assert!(like("%model", "fraud-model"));
        assert!(like("f_aud", "fraud"));
        assert!(like("%", ""));
        assert!(!like("fraud", "Fraud"));
        assert!(!like("a_", "a"));
    }

    #[test]
    fn uris_to_roots() {
        assert_eq!(
            root_from_uri(Some("file:///tmp/x%20y")).unwrap(),
            PathBuf::from("/tmp/x y")
        );
        assert_eq!(
            root_from_uri(Some("file:/tmp/m")).unwrap(),
            PathBuf::from("/tmp/m")
        );
        assert_eq!(
            root_from_uri(Some("/abs/p")).unwrap(),
            PathBuf::from("/abs/p")
        );
        assert!(root_from_uri(None).unwrap().ends_with("mlruns"));
        assert!(root_from_uri(Some("s3://bucket/x")).is_err());
        assert!(root_from_uri(Some("file://host/x")).is_err());
    }
}
