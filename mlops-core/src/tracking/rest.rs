//! The MLflow REST tracker: `/api/2.0/mlflow/...` and the artifact proxy.
//!
//! A thin mapping of [`Tracker`] onto MLflow's JSON API through [`MlflowHttp`], with the
//! server's traps handled on the client side (measured on MLflow 3.17.2):
//!
//! - non-finite metric values are sent as the strings `"NaN"`, `"Infinity"`,
//!   `"-Infinity"` (a bare NaN is stored as 0 with HTTP 200; serde_json would write
//!   `null`, a 400). The SQL store keeps ±inf as ±`f64::MAX`, and that is what reads
//!   back — as it does for the Python client;
//! - `start_time`/`end_time` are always sent (the server would store 0 / nothing);
//! - over-long values are refused before sending (the server truncates silently);
//! - log-batch is retried (idempotent: every point carries the timestamp fixed when it
//!   was logged, and the server drops exact duplicates); creates are not.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{
    CreateRun, Experiment, FileInfo, Metric, Param, RunData, RunInfo, RunPage, RunRecord,
    RunStatus, RunTag, SearchRuns, TAG_PARENT_RUN_ID, Tracker, ViewType, split_batch,
    validate_batch, validate_key,
};
use crate::fs::safe_relative_path;
use crate::mlflow_http::{ErrorCode, Idempotency, MlflowHttp};
use crate::{Error, Result};

/// A tracker backed by an MLflow tracking server.
#[derive(Debug, Clone)]
pub struct RestTracker {
    http: MlflowHttp,
}

fn malformed(endpoint: &str, what: &str) -> Error {
    Error::Mlflow {
        endpoint: endpoint.to_string(),
        status: 200,
        code: ErrorCode::Other("MALFORMED_RESPONSE".into()),
        message: format!("unexpected answer: {what}"),
    }
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn i(v: &Value, k: &str) -> Option<i64> {
    match v.get(k)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn f(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// A metric value as MLflow wants it on the wire.
pub(crate) fn value_json(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v == f64::INFINITY {
        json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(v)
    }
}

fn kv_list(v: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    v.and_then(|x| x.as_array())
        .map(|a| a.iter().map(|t| (s(t, "key"), s(t, "value"))).collect())
        .unwrap_or_default()
}

fn tags_json(tags: &[RunTag]) -> Value {
    Value::Array(
        tags.iter()
            .map(|t| json!({"key": t.key, "value": t.value}))
            .collect(),
    )
}

fn experiment_of(v: &Value) -> Experiment {
    Experiment {
        experiment_id: s(v, "experiment_id"),
        name: s(v, "name"),
        artifact_location: s(v, "artifact_location"),
        lifecycle_stage: s(v, "lifecycle_stage"),
        creation_time: i(v, "creation_time"),
        last_update_time: i(v, "last_update_time"),
        tags: kv_list(v.get("tags")),
    }
}

fn run_info_of(v: &Value) -> Result<RunInfo> {
    let status = s(v, "status");
    Ok(RunInfo {
        run_id: {
            let r = s(v, "run_id");
            if r.is_empty() { s(v, "run_uuid") } else { r }
        },
        experiment_id: s(v, "experiment_id"),
        run_name: s(v, "run_name"),
        user_id: s(v, "user_id"),
        status: if status.is_empty() {
            RunStatus::Running
        } else {
            RunStatus::parse(&status)?
        },
        start_time: i(v, "start_time"),
        end_time: i(v, "end_time"),
        artifact_uri: s(v, "artifact_uri"),
        lifecycle_stage: s(v, "lifecycle_stage"),
    })
}

fn metric_of(m: &Value) -> Option<Metric> {
    Some(Metric {
        key: s(m, "key"),
        value: f(m.get("value")?)?,
        timestamp: i(m, "timestamp").unwrap_or(0),
        step: i(m, "step").unwrap_or(0),
    })
}

fn run_of(v: &Value) -> Result<RunRecord> {
    let info = run_info_of(v.get("info").ok_or_else(|| malformed("runs", "no info"))?)?;
    let data = v.get("data");
    let mut metrics = std::collections::BTreeMap::new();
    if let Some(ms) = data
        .and_then(|d| d.get("metrics"))
        .and_then(|m| m.as_array())
    {
        for m in ms {
            if let Some(m) = metric_of(m) {
                metrics.insert(m.key.clone(), m);
            }
        }
    }
    Ok(RunRecord {
        info,
        data: RunData {
            metrics,
            params: kv_list(data.and_then(|d| d.get("params"))),
            tags: kv_list(data.and_then(|d| d.get("tags"))),
        },
    })
}

impl RestTracker {
    /// A tracker talking to the server behind `http`.
    pub fn new(http: MlflowHttp) -> RestTracker {
        RestTracker { http }
    }

    /// The HTTP layer (shared with the registry backend).
    pub fn http(&self) -> &MlflowHttp {
        &self.http
    }

    /// The artifact-proxy path of a run's artifact root (`mlflow-artifacts:/1/<run>/artifacts`
    /// → `1/<run>/artifacts`).
    fn artifact_base(&self, run_id: &str) -> Result<String> {
        let run = self.get_run(run_id)?;
        let uri = run.info.artifact_uri;
        let rest = uri
            .strip_prefix("mlflow-artifacts:")
            .map(|r| {
                // mlflow-artifacts:/path or mlflow-artifacts://host:port/path
                if let Some(x) = r.strip_prefix("//") {
                    x.split_once('/').map(|(_, p)| p).unwrap_or("")
                } else {
                    r.trim_start_matches('/')
                }
            })
            .ok_or_else(|| Error::Mlflow {
                endpoint: "artifacts".into(),
                status: 0,
                code: ErrorCode::InvalidParameterValue,
                message: format!(
                    "run {run_id} stores artifacts at {uri:?}; only the server's artifact proxy (mlflow-artifacts:/) is supported"
                ),
            })?;
        Ok(rest.trim_end_matches('/').to_string())
    }

    fn put_file(&self, remote: &str, local: &Path) -> Result<()> {
        let local = local.to_path_buf();
        self.http.artifact_put(remote, || {
            let f = std::fs::File::open(&local).map_err(|e| Error::Io {
                path: local.clone(),
                source: e,
            })?;
            let len = f
                .metadata()
                .map_err(|e| Error::Io {
                    path: local.clone(),
                    source: e,
                })?
                .len();
            Ok((Box::new(f) as Box<dyn std::io::Read + Send>, len))
        })
    }

    fn put_tree(&self, remote: &str, local: &Path) -> Result<()> {
        let md = std::fs::metadata(local).map_err(|e| Error::Io {
            path: local.to_path_buf(),
            source: e,
        })?;
        if md.is_file() {
            return self.put_file(remote, local);
        }
        // The same walk as the local store's (`fs::walk_files`): regular files, a
        // symbolic link refused rather than followed out of the tree.
        for (rel, path) in crate::fs::walk_files(local)? {
            self.put_file(&format!("{remote}/{rel}"), &path)?;
        }
        Ok(())
    }

    /// Downloads `path` (a file or a directory) of a run whose artifact root on the
    /// proxy is `base` (resolved once per download by the caller).
    fn download_rec(&self, run_id: &str, base: &str, path: &str, dest: &Path) -> Result<()> {
        let items = self.list_artifacts(run_id, Some(path))?;
        let is_file_itself = items.len() == 1 && items[0].path == path && !items[0].is_dir;
        if items.is_empty() || is_file_itself {
            // `write_atomic_with` creates the parent directories.
            return self.download_rec_file(base, path, dest);
        }
        for it in items {
            if it.is_dir {
                self.download_rec(run_id, base, &it.path, dest)?;
            } else {
                self.download_rec_file(base, &it.path, dest)?;
            }
        }
        Ok(())
    }

    fn download_rec_file(&self, base: &str, path: &str, dest: &Path) -> Result<()> {
        // Paths come from the server's listing: checked, so none can escape `dest`.
        let out = dest.join(safe_relative_path(path)?);
        let mut err = None;
        crate::fs::write_atomic_with(&out, |f| {
            match self.http.artifact_get(&format!("{base}/{path}"), f) {
                Ok(_) => Ok(()),
                Err(e) => {
                    err = Some(e);
                    Err(std::io::Error::other("download failed"))
                }
            }
        })
        .map_err(|e| err.take().unwrap_or(e))
    }
}

impl Tracker for RestTracker {
    fn uri(&self) -> String {
        self.http.base_url().trim_end_matches('/').to_string()
    }

    fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[RunTag],
    ) -> Result<String> {
        let mut body = json!({"name": name, "tags": tags_json(tags)});
        if let Some(a) = artifact_location {
            body["artifact_location"] = json!(a);
        }
        let v = self
            .http
            .post("experiments/create", &body, Idempotency::NotIdempotent)?;
        Ok(s(&v, "experiment_id"))
    }

    fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        let v = self
            .http
            .get("experiments/get", &[("experiment_id", experiment_id)])?;
        Ok(experiment_of(v.get("experiment").ok_or_else(|| {
            malformed("experiments/get", "no experiment")
        })?))
    }

    fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        match self
            .http
            .get("experiments/get-by-name", &[("experiment_name", name)])
        {
            Ok(v) => Ok(v.get("experiment").map(experiment_of)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"max_results": 1000, "view_type": view.as_str()});
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let v = self
                .http
                .post("experiments/search", &body, Idempotency::Idempotent)?;
            if let Some(a) = v.get("experiments").and_then(|x| x.as_array()) {
                out.extend(a.iter().map(experiment_of));
            }
            match v.get("next_page_token").and_then(|t| t.as_str()) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()> {
        validate_key("experiment tag", key)?;
        self.http.post(
            "experiments/set-experiment-tag",
            &json!({"experiment_id": experiment_id, "key": key, "value": value}),
            Idempotency::Idempotent,
        )?;
        Ok(())
    }

    fn create_run(&self, req: &CreateRun) -> Result<RunInfo> {
        let mut tags = req.tags.clone();
        if let Some(p) = &req.parent_run_id {
            tags.retain(|t| t.key != TAG_PARENT_RUN_ID);
            tags.push(RunTag::new(TAG_PARENT_RUN_ID, p.clone()));
        }
        validate_batch(&[], &[], &tags)?;
        let user = req
            .user_id
            .clone()
            .unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "unknown".into()));
        if !tags.iter().any(|t| t.key == super::TAG_USER) {
            tags.push(RunTag::new(super::TAG_USER, user.clone()));
        }
        let mut body = json!({
            "experiment_id": req.experiment_id,
            "start_time": req.start_time.unwrap_or_else(super::now_millis),
            "tags": tags_json(&tags),
            "user_id": user,
        });
        if let Some(n) = &req.run_name {
            body["run_name"] = json!(n);
        }
        let v = self
            .http
            .post("runs/create", &body, Idempotency::NotIdempotent)?;
        run_info_of(
            v.get("run")
                .and_then(|r| r.get("info"))
                .ok_or_else(|| malformed("runs/create", "no run.info"))?,
        )
    }

    fn update_run(
        &self,
        run_id: &str,
        status: RunStatus,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<()> {
        let mut body = json!({"run_id": run_id, "status": status.as_str()});
        if let Some(t) = end_time {
            body["end_time"] = json!(t);
        }
        if let Some(n) = run_name {
            body["run_name"] = json!(n);
        }
        self.http
            .post("runs/update", &body, Idempotency::Idempotent)?;
        Ok(())
    }

    fn get_run(&self, run_id: &str) -> Result<RunRecord> {
        let v = self.http.get("runs/get", &[("run_id", run_id)])?;
        run_of(
            v.get("run")
                .ok_or_else(|| malformed("runs/get", "no run"))?,
        )
    }

    fn search_runs(&self, q: &SearchRuns) -> Result<RunPage> {
        let mut body = json!({
            "experiment_ids": q.experiment_ids,
            "filter": q.filter,
            "max_results": q.max_results,
            "order_by": q.order_by,
            "run_view_type": q.view.as_str(),
        });
        if let Some(t) = &q.page_token {
            body["page_token"] = json!(t);
        }
        let v = self
            .http
            .post("runs/search", &body, Idempotency::Idempotent)?;
        let runs = v
            .get("runs")
            .and_then(|r| r.as_array())
            .map(|a| a.iter().map(run_of).collect::<Result<Vec<_>>>())
            .transpose()?
            .unwrap_or_default();
        Ok(RunPage {
            runs,
            next_page_token: v
                .get("next_page_token")
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
                .map(|t| t.to_string()),
        })
    }

    fn delete_run(&self, run_id: &str) -> Result<()> {
        self.http.post(
            "runs/delete",
            &json!({"run_id": run_id}),
            Idempotency::Idempotent,
        )?;
        Ok(())
    }

    fn restore_run(&self, run_id: &str) -> Result<()> {
        self.http.post(
            "runs/restore",
            &json!({"run_id": run_id}),
            Idempotency::Idempotent,
        )?;
        Ok(())
    }

    fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        validate_batch(metrics, params, tags)?;
        for chunk in split_batch(metrics, params, tags) {
            let ms: Vec<Value> = chunk
                .metrics
                .iter()
                .map(|m| {
                    json!({"key": m.key, "value": value_json(m.value),
                           "timestamp": m.timestamp, "step": m.step})
                })
                .collect();
            let ps: Vec<Value> = chunk
                .params
                .iter()
                .map(|p| json!({"key": p.key, "value": p.value}))
                .collect();
            let body = json!({"run_id": run_id, "metrics": ms, "params": ps,
                              "tags": tags_json(chunk.tags)});
            self.http
                .post("runs/log-batch", &body, Idempotency::Idempotent)?;
        }
        Ok(())
    }

    fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        self.http.post(
            "runs/delete-tag",
            &json!({"run_id": run_id, "key": key}),
            Idempotency::Idempotent,
        )?;
        Ok(())
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = vec![
                ("run_id", run_id),
                ("metric_key", key),
                ("max_results", "25000"),
            ];
            if let Some(t) = &token {
                q.push(("page_token", t));
            }
            let v = self.http.get("metrics/get-history", &q)?;
            if let Some(a) = v.get("metrics").and_then(|m| m.as_array()) {
                out.extend(a.iter().filter_map(metric_of));
            }
            match v.get("next_page_token").and_then(|t| t.as_str()) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    fn log_artifact(&self, run_id: &str, local: &Path, artifact_path: Option<&str>) -> Result<()> {
        let base = self.artifact_base(run_id)?;
        let mut remote = match artifact_path {
            Some(p) if !p.is_empty() => format!("{base}/{}", safe_relative_path(p)?),
            _ => base,
        };
        if local.is_file() {
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| Error::InvalidPath {
                    path: local.display().to_string(),
                    reason: "names no file",
                })?;
            remote = format!("{remote}/{name}");
        }
        self.put_tree(&remote, local)
    }

    fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>> {
        let mut q = vec![("run_id", run_id)];
        let p;
        if let Some(x) = path.filter(|x| !x.is_empty()) {
            p = safe_relative_path(x)?;
            q.push(("path", p.as_str()));
        }
        let v = self.http.get("artifacts/list", &q)?;
        let mut out: Vec<FileInfo> = match v.get("files") {
            Some(files) => serde_json::from_value(files.clone()).map_err(|e| Error::Json {
                context: "artifacts/list".into(),
                source: e,
            })?,
            None => Vec::new(),
        };
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn download_artifacts(&self, run_id: &str, path: &str, dest: &Path) -> Result<PathBuf> {
        let base = self.artifact_base(run_id)?;
        if path.is_empty() {
            for it in self.list_artifacts(run_id, None)? {
                if it.is_dir {
                    self.download_rec(run_id, &base, &it.path, dest)?;
                } else {
                    self.download_rec_file(&base, &it.path, dest)?;
                }
            }
            return Ok(dest.to_path_buf());
        }
        let p = safe_relative_path(path)?;
        self.download_rec(run_id, &base, &p, dest)?;
        Ok(dest.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_are_strings_on_the_wire() {
        assert_eq!(value_json(f64::NAN), json!("NaN"));
        assert_eq!(value_json(f64::INFINITY), json!("Infinity"));
        assert_eq!(value_json(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(value_json(0.5), json!(0.5));
        assert!(f(&json!("NaN")).unwrap().is_nan());
        assert_eq!(f(&json!(1.5)), Some(1.5));
    }
}
