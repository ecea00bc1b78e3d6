//! The registry on a real MLflow server, over its REST API.
//!
//! Every call goes through [`MlflowHttp`] (the layer the tracking backend shares): auth,
//! retries (creates are never re-sent once the server may have seen them) and typed
//! [`Error::Mlflow`] answers, which this file turns into the registry's own variants
//! ([`Error::ModelNotFound`], [`Error::VersionNotFound`], [`Error::AliasNotFound`],
//! [`Error::ModelAlreadyExists`]) by the `error_code` and a follow-up read, never by
//! the message. Quirks handled (measured on MLflow 3.17.2): `version` is a JSON string;
//! a missing alias answers 400 `INVALID_PARAMETER_VALUE`, not 404; the alias `DELETE`
//! takes a JSON body; `model-versions/search` omits `aliases`; an unset description
//! comes back as `""`.
//!
//! ## Where the alias history lives
//!
//! On the server, next to the alias: each recorded move is one **registered-model tag**
//! `mlops.alias_history.<alias>.<time_ms, 13 digits>.<first 8 hex of the move id>`
//! whose value is the [`AliasMove`] as JSON (about 250 bytes). The intent is written
//! first and the same tag is overwritten with the confirmed move (`registry/alias.rs`).
//! The server's `Date` answer to the alias call is recorded with the move
//! ([`AliasMove::server_time_ms`]); a mover whose clock is more than 30 s off the server's
//! is ordered by the server's ([`AliasMove::effective_ms`]). Why tags: they are the only per-model
//! key-value storage MLflow's API offers, every MLflow client can read them, they move
//! with the model on rename and go with it on delete, and one tag per move means a move
//! never rewrites an earlier record (append-only without a read-modify-write race). The
//! key sorts by time; the random suffix keeps two movers in the same millisecond apart.
//!
//! Limits: MLflow caps a tag key at 250 characters, so this backend refuses aliases
//! longer than [`MAX_ALIAS_LEN`] (207) whose moves could not be recorded and a value at 100,000 (a move is far below). Tags are returned with every
//! `registered-models/get`, so each move adds ~250 bytes to that answer: 10,000 moves of
//! one model make it ~2.5 MB. MLflow has no compare-and-set: two processes moving the
//! same alias at the same moment both succeed, the later one wins on the server, and
//! both moves are recorded (the `from` of one may be stale).
//!
//! The audit log and the package cache are local: `<state dir>/audit.jsonl` and
//! `<state dir>/store` (state dir: `$MLOPS_HOME`, default `./.mlops`). A package that is
//! not in the cache is downloaded from the version's `mlflow-artifacts:` source (or
//! `runs:/` source) on [`Registry::load`] and verified against the recorded digest.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use crate::mlflow_http::{ErrorCode, Idempotency, MlflowHttp};
use crate::{ArtifactStore, AuditLog, Digest, Error, ModelUri, Result, RunId, now_ms};

use super::alias::{self, AliasStore};
use super::history::{self, AliasMove, AliasMoveKind, HISTORY_TAG_PREFIX};
use super::{
    AliasChange, ImportedPackage, LoadedModel, ModelQuery, ModelVersion, NewVersion, Page,
    RegisteredModel, Registry, VersionQuery, VersionStatus, check_alias, check_model_name,
    verify_package,
};

/// The longest alias whose history tag key fits MLflow's 250-character limit.
pub const MAX_ALIAS_LEN: usize = 250 - HISTORY_TAG_PREFIX.len() - ".0000000000000.00000000".len();

/// A registry on an MLflow tracking server. See the module docs for the history tags.
#[derive(Debug, Clone)]
pub struct MlflowRegistry {
    http: MlflowHttp,
    store: ArtifactStore,
    audit: AuditLog,
}

fn s(v: &Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(Value::String(x)) => Some(x.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn ms(v: &Value, key: &str) -> u64 {
    match v.get(key) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(x)) => x.parse().unwrap_or(0),
        _ => 0,
    }
}

fn tags_of(v: &Value) -> BTreeMap<String, String> {
    v.get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| Some((s(t, "key")?, s(t, "value").unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default()
}

fn tag_list(tags: &BTreeMap<String, String>) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

fn parse_model(v: &Value) -> Result<RegisteredModel> {
    let name = s(v, "name").ok_or_else(|| bad_answer("registered model without a name"))?;
    let mut aliases = BTreeMap::new();
    for a in v
        .get("aliases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(alias), Some(ver)) = (s(a, "alias"), s(a, "version"))
            && let Ok(n) = ver.parse()
        {
            aliases.insert(alias, n);
        }
    }
    Ok(RegisteredModel {
        name,
        creation_timestamp: ms(v, "creation_timestamp"),
        last_updated_timestamp: ms(v, "last_updated_timestamp"),
        description: s(v, "description").filter(|d| !d.is_empty()),
        tags: tags_of(v),
        aliases,
    })
}

fn parse_version(v: &Value) -> Result<ModelVersion> {
    let name = s(v, "name").ok_or_else(|| bad_answer("model version without a name"))?;
    let version = s(v, "version")
        .and_then(|x| x.parse().ok())
        .ok_or_else(|| bad_answer("model version without a version number"))?;
    Ok(ModelVersion {
        name,
        version,
        creation_timestamp: ms(v, "creation_timestamp"),
        last_updated_timestamp: ms(v, "last_updated_timestamp"),
        description: s(v, "description").filter(|d| !d.is_empty()),
        source: s(v, "source").unwrap_or_default(),
        run_id: s(v, "run_id").filter(|r| !r.is_empty()).map(RunId),
        status: VersionStatus::parse(s(v, "status").as_deref()),
        stage: s(v, "current_stage").unwrap_or_else(|| "None".into()),
        tags: tags_of(v),
        aliases: v
            .get("aliases")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn bad_answer(what: &str) -> Error {
    Error::Mlflow {
        endpoint: "registry".into(),
        status: 200,
        code: ErrorCode::Other("MALFORMED_ANSWER".into()),
        message: what.into(),
    }
}

/// A filter string literal: single quotes, or double quotes when the text has a `'`.
fn literal(text: &str) -> Result<String> {
    if !text.contains('\'') {
        Ok(format!("'{text}'"))
    } else if !text.contains('"') {
        Ok(format!("\"{text}\""))
    } else {
        Err(Error::InvalidArgument(format!(
            "{text:?}: a search value cannot hold both kinds of quotes"
        )))
    }
}

fn history_key_of(m: &AliasMove) -> String {
    let suffix: String = m.id.chars().take(8).collect();
    format!(
        "{HISTORY_TAG_PREFIX}{}.{:013}.{suffix:0>8}",
        m.alias, m.time_ms
    )
}

#[cfg(test)]
fn history_key(alias: &str, time_ms: u64) -> String {
    let r: u32 = rand::random();
    format!("{HISTORY_TAG_PREFIX}{alias}.{time_ms:013}.{r:08x}")
}

impl MlflowRegistry {
    /// A registry on the server `http` talks to, keeping its package cache and audit
    /// log under `state_dir`.
    pub fn new(http: MlflowHttp, state_dir: impl Into<PathBuf>) -> Result<MlflowRegistry> {
        let dir: PathBuf = state_dir.into();
        Ok(MlflowRegistry {
            http,
            store: ArtifactStore::new(dir.join("store"))?,
            audit: AuditLog::open(dir.join("audit.jsonl")),
        })
    }

    /// A registry on the server at `url`, credentials from the environment
    /// ([`Auth::from_env`](crate::mlflow_http::Auth::from_env)), state under
    /// `$MLOPS_HOME` (default `./.mlops`).
    pub fn from_env_with_url(url: &str) -> Result<MlflowRegistry> {
        let dir = std::env::var("MLOPS_HOME")
            .ok()
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".mlops"));
        MlflowRegistry::new(MlflowHttp::from_env(url)?, dir)
    }

    /// The HTTP layer.
    pub fn http(&self) -> &MlflowHttp {
        &self.http
    }

    /// Maps "does not exist" on a model-level call to [`Error::ModelNotFound`].
    fn model_err(name: &str) -> impl FnOnce(Error) -> Error + '_ {
        move |e| {
            if e.is_not_found() {
                Error::ModelNotFound { name: name.into() }
            } else {
                e
            }
        }
    }

    /// Maps "does not exist" on a version-level call to the precise variant: the model
    /// or the version (asked of the server, not read from the message).
    fn version_err(&self, name: &str, version: u64, e: Error) -> Error {
        if !e.is_not_found() {
            return e;
        }
        match self.get_model(name) {
            Err(m @ Error::ModelNotFound { .. }) => m,
            _ => Error::VersionNotFound {
                name: name.into(),
                version,
            },
        }
    }

    fn move_alias(
        &self,
        name: &str,
        alias: &str,
        to: Option<u64>,
        kind: AliasMoveKind,
        change: &AliasChange,
    ) -> Result<AliasMove> {
        if alias.len() > MAX_ALIAS_LEN {
            return Err(Error::InvalidArgument(format!(
                "alias {alias:?}: longer than {MAX_ALIAS_LEN} characters, its moves could not \
                 be recorded in a registered-model tag"
            )));
        }
        alias::move_alias(self, name, alias, to, kind, change)
    }

    /// Downloads a version's files from its `mlflow-artifacts:`, `runs:/` or
    /// `models:/m-<id>` source into the cache; returns the digest of what arrived (the
    /// object, or the directory's manifest). The caller verifies a recorded digest.
    fn fetch_package(&self, version: &ModelVersion) -> Result<Digest> {
        let path = self.artifact_path(version)?;
        let tmp =
            tempfile::tempdir_in(self.store.root()).map_err(|e| Error::io(self.store.root(), e))?;
        let listing = self.http.artifact_list(&path)?;
        if listing.is_empty() {
            // A single file.
            let dest = tmp.path().join("package");
            let mut f = std::fs::File::create(&dest).map_err(|e| Error::io(&dest, e))?;
            self.http.artifact_get(&path, &mut f)?;
            self.store.put_file(&dest)
        } else {
            let mut stack = vec![(path.clone(), listing)];
            while let Some((dir, entries)) = stack.pop() {
                for e in entries {
                    let name = e.path.rsplit('/').next().unwrap_or(&e.path).to_string();
                    let full = format!("{dir}/{name}");
                    if e.is_dir {
                        let sub = self.http.artifact_list(&full)?;
                        stack.push((full, sub));
                    } else {
                        let rel = full.strip_prefix(&format!("{path}/")).unwrap_or(&name);
                        let rel = crate::fs::safe_relative_path(rel)?;
                        let dest = tmp.path().join("package").join(&rel);
                        if let Some(p) = dest.parent() {
                            std::fs::create_dir_all(p).map_err(|err| Error::io(p, err))?;
                        }
                        let mut f =
                            std::fs::File::create(&dest).map_err(|err| Error::io(&dest, err))?;
                        self.http.artifact_get(&full, &mut f)?;
                    }
                }
            }
            self.store.put_dir(&tmp.path().join("package"))
        }
    }

    /// Creates a finished run in experiment `0` to hold a package that has no run.
    fn carrier_run(&self, package: &Digest) -> Result<RunId> {
        let hex = package.to_string();
        let now = now_ms();
        let r = self.http.post(
            "runs/create",
            &json!({
                "experiment_id": "0",
                "run_name": format!("mlops-package-{}", &hex[..hex.len().min(12)]),
                "start_time": now,
                "tags": [{"key": super::TAG_PACKAGE_DIGEST, "value": hex}],
            }),
            Idempotency::NotIdempotent,
        )?;
        let id = r
            .pointer("/run/info/run_id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad_answer("runs/create without run_id"))?
            .to_string();
        self.http.post(
            "runs/update",
            &json!({"run_id": id, "status": "FINISHED", "end_time": now}),
            Idempotency::Idempotent,
        )?;
        Ok(RunId(id))
    }

    /// The `mlflow-artifacts` path of a version's source.
    fn artifact_path(&self, version: &ModelVersion) -> Result<String> {
        self.artifact_path_of(&version.source).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::InvalidArgument(format!(
                "models:/{}/{}: {m}; cannot download it",
                version.name, version.version
            )),
            other => other,
        })
    }

    /// The `mlflow-artifacts` path of a source URI (`mlflow-artifacts:`, `runs:/`, or
    /// `models:/m-<id>`: the logged model MLflow 3's Python `log_model` registers).
    fn artifact_path_of(&self, src: &str) -> Result<String> {
        if let Some(id) = src.strip_prefix("models:/")
            && id.starts_with("m-")
            && !id.contains('/')
        {
            let r = self.http.get(&format!("logged-models/{id}"), &[])?;
            let uri = r
                .pointer("/model/info/artifact_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_answer("logged model without artifact_uri"))?;
            return uri
                .strip_prefix("mlflow-artifacts:")
                .map(|p| p.trim_start_matches('/').trim_end_matches('/').to_string())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "logged model {id} keeps artifacts at {uri:?}, not on the server"
                    ))
                });
        }
        if let Some(p) = src.strip_prefix("mlflow-artifacts:") {
            let p = p.trim_start_matches('/');
            // `mlflow-artifacts://host:port/path` names the server explicitly.
            let p = if src.starts_with("mlflow-artifacts://") {
                p.split_once('/').map(|(_, rest)| rest).unwrap_or("")
            } else {
                p
            };
            return Ok(p.trim_end_matches('/').to_string());
        }
        if let Some(rest) = src.strip_prefix("runs:/") {
            let (run, sub) = rest.split_once('/').unwrap_or((rest, ""));
            let r = self.http.get("runs/get", &[("run_id", run)])?;
            let uri = r
                .pointer("/run/info/artifact_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| bad_answer("run without artifact_uri"))?;
            let base = uri
                .strip_prefix("mlflow-artifacts:")
                .map(|p| p.trim_start_matches('/').to_string())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "run {run} keeps artifacts at {uri:?}, not on the server"
                    ))
                })?;
            return Ok(format!("{base}/{}", sub.trim_matches('/'))
                .trim_end_matches('/')
                .to_string());
        }
        Err(Error::InvalidArgument(format!(
            "source {src:?} is not on the MLflow server"
        )))
    }
}

/// The MLflow half of the alias move.
impl AliasStore for MlflowRegistry {
    fn alias_location(&self) -> String {
        Registry::location(self)
    }

    fn alias_audit(&self) -> &AuditLog {
        &self.audit
    }

    fn current_alias(&self, name: &str, alias: &str) -> Result<Option<u64>> {
        match self.get_version_by_alias(name, alias) {
            Ok(v) => Ok(Some(v.version)),
            Err(Error::AliasNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn check_target(&self, name: &str, to: u64) -> Result<()> {
        self.get_version(name, to).map(|_| ())
    }

    fn point_alias(&self, name: &str, alias: &str, to: Option<u64>) -> Result<Option<u64>> {
        let (_, date) = match to {
            Some(v) => self
                .http
                .call_dated(
                    Method::POST,
                    "registered-models/alias",
                    &[],
                    Some(&json!({"name": name, "alias": alias, "version": v.to_string()})),
                    Idempotency::Idempotent,
                )
                .map_err(|e| self.version_err(name, v, e))?,
            None => self
                .http
                .call_dated(
                    Method::DELETE,
                    "registered-models/alias",
                    &[],
                    Some(&json!({"name": name, "alias": alias})),
                    Idempotency::Idempotent,
                )
                .map_err(Self::model_err(name))?,
        };
        Ok(date)
    }

    fn write_record(&self, name: &str, m: &AliasMove) -> Result<()> {
        let value = serde_json::to_string(m).map_err(|source| Error::Json {
            context: "alias move".into(),
            source,
        })?;
        self.set_model_tag(name, &history_key_of(m), &value)
    }

    fn read_records(&self, name: &str, alias: &str) -> Result<Vec<AliasMove>> {
        let model = self.get_model(name)?;
        let prefix = format!("{HISTORY_TAG_PREFIX}{alias}.");
        let mut moves = Vec::new();
        // BTreeMap order = key order = time order (13-digit zero-padded ms).
        for (key, value) in model.tags.range(prefix.clone()..) {
            if !key.starts_with(&prefix) {
                break;
            }
            let m: AliasMove = serde_json::from_str(value).map_err(|source| Error::Json {
                context: format!("alias history tag {key} of {name}"),
                source,
            })?;
            if m.alias == alias {
                moves.push(m);
            }
        }
        Ok(moves)
    }

    fn settle_after_ms(&self) -> u64 {
        // Movers share no lock: a younger intent may be another client's move in flight.
        5 * 60 * 1000
    }
}

impl Registry for MlflowRegistry {
    fn location(&self) -> String {
        self.http.base_url().trim_end_matches('/').to_string()
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
        let mut body = json!({"name": name, "tags": tag_list(tags)});
        if let Some(d) = description {
            body["description"] = d.into();
        }
        let r = self
            .http
            .post(
                "registered-models/create",
                &body,
                Idempotency::NotIdempotent,
            )
            .map_err(|e| match e.mlflow_code() {
                Some(ErrorCode::ResourceAlreadyExists) => {
                    Error::ModelAlreadyExists { name: name.into() }
                }
                _ => e,
            })?;
        parse_model(r.get("registered_model").unwrap_or(&Value::Null))
    }

    fn get_model(&self, name: &str) -> Result<RegisteredModel> {
        check_model_name(name)?;
        let r = self
            .http
            .get("registered-models/get", &[("name", name)])
            .map_err(Self::model_err(name))?;
        parse_model(r.get("registered_model").unwrap_or(&Value::Null))
    }

    fn search_models(&self, query: &ModelQuery) -> Result<Page<RegisteredModel>> {
        let max = query.max_results.to_string();
        let filter = query
            .name_like
            .as_deref()
            .map(|p| literal(p).map(|l| format!("name LIKE {l}")))
            .transpose()?;
        let mut q: Vec<(&str, &str)> = vec![("max_results", &max), ("order_by", "name ASC")];
        if let Some(f) = &filter {
            q.push(("filter", f));
        }
        if let Some(t) = &query.page_token {
            q.push(("page_token", t));
        }
        let r = self.http.get("registered-models/search", &q)?;
        let items = r
            .get("registered_models")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(parse_model).collect::<Result<Vec<_>>>())
            .transpose()?
            .unwrap_or_default();
        Ok(Page {
            items,
            next_page_token: s(&r, "next_page_token").filter(|t| !t.is_empty()),
            skipped: Vec::new(),
        })
    }

    fn rename_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel> {
        check_model_name(new_name)?;
        let r = self
            .http
            .post(
                "registered-models/rename",
                &json!({"name": name, "new_name": new_name}),
                Idempotency::NotIdempotent,
            )
            .map_err(|e| match e.mlflow_code() {
                Some(ErrorCode::ResourceAlreadyExists) => Error::ModelAlreadyExists {
                    name: new_name.into(),
                },
                _ => Self::model_err(name)(e),
            })?;
        parse_model(r.get("registered_model").unwrap_or(&Value::Null))
    }

    fn set_model_description(&self, name: &str, description: &str) -> Result<RegisteredModel> {
        let r = self
            .http
            .call(
                Method::PATCH,
                "registered-models/update",
                &[],
                Some(&json!({"name": name, "description": description})),
                Idempotency::Idempotent,
            )
            .map_err(Self::model_err(name))?;
        match r.get("registered_model") {
            Some(m) => parse_model(m),
            None => self.get_model(name),
        }
    }

    fn set_model_tag(&self, name: &str, key: &str, value: &str) -> Result<()> {
        self.http
            .post(
                "registered-models/set-tag",
                &json!({"name": name, "key": key, "value": value}),
                Idempotency::Idempotent,
            )
            .map_err(Self::model_err(name))?;
        Ok(())
    }

    fn delete_model_tag(&self, name: &str, key: &str) -> Result<()> {
        match self.http.call(
            Method::DELETE,
            "registered-models/delete-tag",
            &[],
            Some(&json!({"name": name, "key": key})),
            Idempotency::Idempotent,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => {
                // The tag was not set (fine) or the model does not exist (not fine).
                self.get_model(name).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    fn delete_model(&self, name: &str) -> Result<()> {
        self.http
            .call(
                Method::DELETE,
                "registered-models/delete",
                &[],
                Some(&json!({"name": name})),
                Idempotency::Idempotent,
            )
            .map_err(Self::model_err(name))?;
        self.audit.append(
            &AliasChange::new("").actor,
            "registry.model.delete",
            &format!("models:/{name}"),
            json!({ "registry": self.location() }),
        )?;
        Ok(())
    }

    fn create_version(&self, name: &str, new: &NewVersion) -> Result<ModelVersion> {
        check_model_name(name)?;
        let mut body = json!({
            "name": name,
            "source": new.source,
            "tags": tag_list(&new.all_tags()),
        });
        if let Some(r) = &new.run_id {
            body["run_id"] = r.as_str().into();
        }
        if let Some(d) = &new.description {
            body["description"] = d.as_str().into();
        }
        let r = self
            .http
            .post("model-versions/create", &body, Idempotency::NotIdempotent)
            .map_err(Self::model_err(name))?;
        parse_version(r.get("model_version").unwrap_or(&Value::Null))
    }

    fn get_version(&self, name: &str, version: u64) -> Result<ModelVersion> {
        let v = version.to_string();
        let r = self
            .http
            .get("model-versions/get", &[("name", name), ("version", &v)])
            .map_err(|e| self.version_err(name, version, e))?;
        parse_version(r.get("model_version").unwrap_or(&Value::Null))
    }

    fn search_versions(&self, query: &VersionQuery) -> Result<Page<ModelVersion>> {
        let mut clauses = Vec::new();
        if let Some(n) = &query.name {
            clauses.push(format!("name = {}", literal(n)?));
        }
        if let Some(r) = &query.run_id {
            clauses.push(format!("run_id = {}", literal(r)?));
        }
        let filter = clauses.join(" AND ");
        let max = query.max_results.to_string();
        let mut q: Vec<(&str, &str)> = vec![
            ("max_results", &max),
            ("order_by", "name ASC"),
            ("order_by", "version_number DESC"),
        ];
        if !filter.is_empty() {
            q.push(("filter", &filter));
        }
        if let Some(t) = &query.page_token {
            q.push(("page_token", t));
        }
        let r = self.http.get("model-versions/search", &q)?;
        let items = r
            .get("model_versions")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(parse_version).collect::<Result<Vec<_>>>())
            .transpose()?
            .unwrap_or_default();
        Ok(Page {
            items,
            next_page_token: s(&r, "next_page_token").filter(|t| !t.is_empty()),
            skipped: Vec::new(),
        })
    }

    fn set_version_description(
        &self,
        name: &str,
        version: u64,
        description: &str,
    ) -> Result<ModelVersion> {
        self.http
            .call(
                Method::PATCH,
                "model-versions/update",
                &[],
                Some(&json!({"name": name, "version": version.to_string(), "description": description})),
                Idempotency::Idempotent,
            )
            .map_err(|e| self.version_err(name, version, e))?;
        self.get_version(name, version)
    }

    fn set_version_tag(&self, name: &str, version: u64, key: &str, value: &str) -> Result<()> {
        self.http
            .post(
                "model-versions/set-tag",
                &json!({"name": name, "version": version.to_string(), "key": key, "value": value}),
                Idempotency::Idempotent,
            )
            .map_err(|e| self.version_err(name, version, e))?;
        Ok(())
    }

    fn delete_version_tag(&self, name: &str, version: u64, key: &str) -> Result<()> {
        match self.http.call(
            Method::DELETE,
            "model-versions/delete-tag",
            &[],
            Some(&json!({"name": name, "version": version.to_string(), "key": key})),
            Idempotency::Idempotent,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => self.get_version(name, version).map(|_| ()),
            Err(e) => Err(e),
        }
    }

    fn delete_version(&self, name: &str, version: u64) -> Result<()> {
        // Aliases on it disappear with it on the server: record those moves first.
        let model = self.get_model(name)?;
        self.get_version(name, version)?;
        for (alias, v) in &model.aliases {
            if *v == version {
                let change = AliasChange::new(format!("version {version} deleted"));
                self.move_alias(name, alias, None, AliasMoveKind::Delete, &change)?;
            }
        }
        self.http
            .call(
                Method::DELETE,
                "model-versions/delete",
                &[],
                Some(&json!({"name": name, "version": version.to_string()})),
                Idempotency::Idempotent,
            )
            .map_err(|e| self.version_err(name, version, e))?;
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
        self.move_alias(name, alias, Some(version), AliasMoveKind::Set, change)
    }

    fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        check_alias(alias)?;
        match self.http.get(
            "registered-models/alias",
            &[("name", name), ("alias", alias)],
        ) {
            Ok(r) => parse_version(r.get("model_version").unwrap_or(&Value::Null)),
            Err(e) if e.is_not_found() => Err(Error::ModelNotFound { name: name.into() }),
            // MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE; the name
            // was checked above, so that is what this code means here.
            Err(e) if e.mlflow_code() == Some(&ErrorCode::InvalidParameterValue) => {
                Err(Error::AliasNotFound {
                    name: name.into(),
                    alias: alias.into(),
                })
            }
            Err(e) => Err(e),
        }
    }

    fn delete_alias(&self, name: &str, alias: &str, change: &AliasChange) -> Result<AliasMove> {
        check_alias(alias)?;
        self.move_alias(name, alias, None, AliasMoveKind::Delete, change)
    }

    fn alias_history(&self, name: &str, alias: &str) -> Result<Vec<AliasMove>> {
        alias::history(self, name, alias)
    }

    fn rollback_alias(&self, name: &str, alias: &str, change: &AliasChange) -> Result<AliasMove> {
        check_alias(alias)?;
        let moves = self.alias_history(name, alias)?;
        let target = history::rollback_target(name, alias, &moves)?;
        self.move_alias(name, alias, Some(target), AliasMoveKind::Rollback, change)
    }

    /// Copies the package into the local cache and uploads its files to the server's
    /// artifact store (a directory package as its files, an object as one file), where
    /// [`Registry::load`] of any client finds them, under
    /// `<run artifact_uri>/mlops-packages/<digest>`. MLflow requires an
    /// `mlflow-artifacts:` source to lie inside the artifacts of the version's run, so
    /// without `run_id` a carrier run is created for the package (experiment `0`,
    /// named `mlops-package-<digest prefix>`, status `FINISHED`) and the version is
    /// registered with it. PUTs are idempotent: importing the same package into the same
    /// run twice rewrites the same files.
    fn import_package(
        &self,
        from: &ArtifactStore,
        package: &Digest,
        _source: &str,
        run_id: Option<&RunId>,
    ) -> Result<ImportedPackage> {
        let manifest = self.store.copy_package_from(from, package)?;
        let run = match run_id {
            Some(r) => r.clone(),
            None => self.carrier_run(package)?,
        };
        let base = format!(
            "{}/mlops-packages/{package}",
            self.artifact_path_of(&format!("runs:/{}", run.as_str()))?
        );
        let put = |path: &str, digest: &Digest| {
            self.http.artifact_put(path, || {
                let len = std::fs::metadata(self.store.object_path(digest))
                    .map_err(|e| Error::io(self.store.object_path(digest), e))?
                    .len();
                let r = self.store.open(digest)?;
                Ok((Box::new(r) as Box<dyn std::io::Read + Send>, len))
            })
        };
        match manifest {
            Some(m) => {
                for (rel, entry) in &m.files {
                    put(&format!("{base}/{rel}"), &entry.digest)?;
                }
            }
            None => put(&base, package)?,
        }
        Ok(ImportedPackage {
            source: format!("mlflow-artifacts:/{base}"),
            run_id: Some(run),
        })
    }

    /// A version registered by another MLflow client (Python's `log_model`: no
    /// `mlops.package_digest` tag) has no digest to check: its files are downloaded from
    /// its source (a `models:/m-<id>` logged model, a run, or `mlflow-artifacts:`) and
    /// stored content-addressed, and `package` is the digest of what arrived, verified
    /// on every later read from the store. Such a directory holds an `MLmodel` (MLflow's
    /// format) rather than an mlops package manifest; `mlops_train::FlavorRegistry::
    /// load_stored` reads both.
    fn load(&self, uri: &ModelUri) -> Result<LoadedModel> {
        let version = self.resolve(uri)?;
        if version.package_digest()?.is_none() {
            let package = self.fetch_package(&version)?;
            tracing::info!(%uri, package = %package.short(), "downloaded a version registered by another client");
            return Ok(LoadedModel { version, package });
        }
        if let Some(d) = version.package_digest()?
            && !self.store.contains(&d)
        {
            // Not cached here: fetch it from the server, then verify like any other.
            match self.fetch_package(&version) {
                Ok(_) => {}
                // The server is gone: say so, rather than call the package tampered.
                Err(e @ Error::Unreachable { .. }) => return Err(e),
                // Not downloadable or not there: verification reports it missing.
                Err(e) => tracing::warn!(%uri, error = %e, "package download failed"),
            }
        }
        let package = verify_package(&self.store, &version)?;
        Ok(LoadedModel { version, package })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_fit_mlflow_limits() {
        let alias = "a".repeat(MAX_ALIAS_LEN);
        assert_eq!(MAX_ALIAS_LEN, 207);
        assert_eq!(history_key(&alias, now_ms()).len(), 250);
        assert!(history_key("champion", 5) < history_key("champion", 10));
        assert_eq!(literal("it's").unwrap(), "\"it's\"");
        assert!(literal("'\"").is_err());
    }
}
