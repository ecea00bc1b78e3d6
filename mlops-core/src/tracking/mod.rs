//! Experiment tracking: MLflow's data model behind one object-safe, blocking trait.
//!
//! Users already run MLflow and its UI, so the model *is* MLflow's: experiments hold
//! runs; a run has params (write-once), tags (overwritable), metrics (full history of
//! `(value, timestamp, step)` points, NaN and ±inf kept) and artifacts. Two backends
//! implement [`Tracker`]:
//!
//! - [`LocalTracker`]: a directory in MLflow's own file-store layout, so the MLflow
//!   Python client and `mlflow ui --backend-store-uri file:./mlruns` read runs logged
//!   from Rust, and runs logged from Python read back here. No server needed.
//! - [`RestTracker`]: a real MLflow server over `/api/2.0/mlflow/...`, through the
//!   shared [`crate::mlflow_http`] layer.
//!
//! [`tracker_from_uri`] / [`tracker_from_env`] pick one from a URI as MLflow does. Jobs
//! log through a [`Run`] handle, which batches points, spools them to disk while the
//! server is away and ends the run as FAILED when dropped without [`Run::end`].
//! [`sync`] copies experiments and runs from one store to another.
//!
//! MLflow's limits are checked here, before anything is sent or written
//! ([`validate_batch`]), and batches larger than MLflow accepts are split
//! ([`split_batch`]) rather than refused: the server silently truncates over-long values,
//! so refusing them client-side is the only way not to lose data quietly.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::mlflow_http::ErrorCode;
use crate::{Error, Result};

pub mod filter;
mod local;
mod rest;
mod run;
mod sync;

pub use crate::mlflow_http::FileInfo;
pub use local::{LocalTracker, sdk_state_dir};
pub use rest::RestTracker;
pub use run::{Run, RunOptions, SpoolStats, refused_for_good};
pub use sync::{SyncOptions, SyncReport, TAG_SYNC_SOURCE, TAG_SYNC_STATE, source_identity, sync};

/// Longest key of a metric, param or tag.
pub const MAX_KEY_LENGTH: usize = 250;
/// Longest param value.
pub const MAX_PARAM_VALUE_LENGTH: usize = 6000;
/// Longest run tag value.
pub const MAX_TAG_VALUE_LENGTH: usize = 8000;
/// Longest experiment tag value.
pub const MAX_EXPERIMENT_TAG_VALUE_LENGTH: usize = 20_000;
/// Longest experiment name.
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
/// Most metrics in one log-batch request.
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Most params plus tags in one log-batch request (each at most 100).
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
/// Most entities (metrics + params + tags) in one log-batch request.
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;

/// The tag MLflow stores a run's name under.
pub const TAG_RUN_NAME: &str = "mlflow.runName";
/// The tag that makes a run the child of another.
pub const TAG_PARENT_RUN_ID: &str = "mlflow.parentRunId";
/// The tag MLflow stores the user under.
pub const TAG_USER: &str = "mlflow.user";

/// Lifecycle state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RunStatus {
    /// Being logged to.
    Running,
    /// Queued, not started.
    Scheduled,
    /// Ended normally.
    Finished,
    /// Ended with an error (or dropped without `end`).
    Failed,
    /// Stopped from outside.
    Killed,
}

impl RunStatus {
    /// MLflow's spelling (`RUNNING`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Parses MLflow's spelling.
    pub fn parse(s: &str) -> Result<RunStatus> {
        Ok(match s {
            "RUNNING" => RunStatus::Running,
            "SCHEDULED" => RunStatus::Scheduled,
            "FINISHED" => RunStatus::Finished,
            "FAILED" => RunStatus::Failed,
            "KILLED" => RunStatus::Killed,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown run status {other:?} (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)"
                )));
            }
        })
    }

    /// The integer the file store keeps in `meta.yaml` (1..=5).
    pub fn as_int(self) -> i64 {
        match self {
            RunStatus::Running => 1,
            RunStatus::Scheduled => 2,
            RunStatus::Finished => 3,
            RunStatus::Failed => 4,
            RunStatus::Killed => 5,
        }
    }

    /// From the file store's integer.
    pub fn from_int(i: i64) -> Option<RunStatus> {
        Some(match i {
            1 => RunStatus::Running,
            2 => RunStatus::Scheduled,
            3 => RunStatus::Finished,
            4 => RunStatus::Failed,
            5 => RunStatus::Killed,
            _ => return None,
        })
    }

    /// Ended (finished, failed or killed)?
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Killed
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which lifecycle stages a listing or search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ViewType {
    /// Only active entities (the default).
    #[default]
    ActiveOnly,
    /// Only deleted ones.
    DeletedOnly,
    /// Both.
    All,
}

impl ViewType {
    /// MLflow's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewType::ActiveOnly => "ACTIVE_ONLY",
            ViewType::DeletedOnly => "DELETED_ONLY",
            ViewType::All => "ALL",
        }
    }

    fn accepts(self, lifecycle_stage: &str) -> bool {
        match self {
            ViewType::ActiveOnly => lifecycle_stage != "deleted",
            ViewType::DeletedOnly => lifecycle_stage == "deleted",
            ViewType::All => true,
        }
    }
}

/// An experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    /// Id (`"0"` is the default experiment).
    pub experiment_id: String,
    /// Unique name.
    pub name: String,
    /// Where its runs' artifacts go (`file:///…`, `mlflow-artifacts:/…`).
    pub artifact_location: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
    /// Creation time, ms since the epoch.
    pub creation_time: Option<i64>,
    /// Last update, ms since the epoch.
    pub last_update_time: Option<i64>,
    /// Experiment tags.
    pub tags: BTreeMap<String, String>,
}

/// What identifies a run and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// 32-hex id.
    pub run_id: String,
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Display name.
    pub run_name: String,
    /// Who started it.
    pub user_id: String,
    /// Status.
    pub status: RunStatus,
    /// Start, ms since the epoch.
    pub start_time: Option<i64>,
    /// End, ms since the epoch (terminal runs).
    pub end_time: Option<i64>,
    /// Root of the run's artifacts.
    pub artifact_uri: String,
    /// `active` or `deleted`.
    pub lifecycle_stage: String,
}

/// One metric point.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Value (NaN and ±inf allowed).
    pub value: f64,
    /// Time, ms since the epoch.
    pub timestamp: i64,
    /// Step.
    pub step: i64,
}

/// A metric point with its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    /// Key.
    pub key: String,
    /// Value (NaN and ±inf allowed).
    pub value: f64,
    /// Time, ms since the epoch.
    pub timestamp: i64,
    /// Step.
    pub step: i64,
}

impl PartialEq for Metric {
    /// Bitwise on the value, so NaN equals NaN: "reads back as logged".
    fn eq(&self, o: &Metric) -> bool {
        self.key == o.key
            && self.timestamp == o.timestamp
            && self.step == o.step
            && (self.value == o.value || (self.value.is_nan() && o.value.is_nan()))
    }
}

impl Metric {
    /// A point.
    pub fn new(key: impl Into<String>, value: f64, timestamp: i64, step: i64) -> Metric {
        Metric {
            key: key.into(),
            value,
            timestamp,
            step,
        }
    }

    /// MLflow's "latest" order: step, then timestamp, then value (NaN lowest).
    pub(crate) fn latest_cmp(&self, o: &Metric) -> std::cmp::Ordering {
        let v = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
        (self.step, self.timestamp)
            .cmp(&(o.step, o.timestamp))
            .then(v(self.value).total_cmp(&v(o.value)))
            .then(o.value.is_nan().cmp(&self.value.is_nan()))
    }
}

/// A parameter (write-once per run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

impl Param {
    /// A param.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Param {
        Param {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A tag of a run or an experiment (overwritable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

impl RunTag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> RunTag {
        RunTag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A run's logged data: latest value of each metric, params and tags.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunData {
    /// The latest point of each metric key (MLflow's "latest": max step, timestamp, value).
    pub metrics: BTreeMap<String, Metric>,
    /// Params.
    pub params: BTreeMap<String, String>,
    /// Tags (including `mlflow.*` system tags).
    pub tags: BTreeMap<String, String>,
}

/// A run: its info and its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Identity and status.
    pub info: RunInfo,
    /// Metrics (latest), params, tags.
    pub data: RunData,
}

impl RunRecord {
    /// The parent run id, for nested runs.
    pub fn parent_run_id(&self) -> Option<&str> {
        self.data.tags.get(TAG_PARENT_RUN_ID).map(|s| s.as_str())
    }
}

/// What a new run starts with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateRun {
    /// The experiment.
    pub experiment_id: String,
    /// Display name (a random one when `None`).
    pub run_name: Option<String>,
    /// Start time in ms (now when `None`).
    pub start_time: Option<i64>,
    /// Initial tags.
    pub tags: Vec<RunTag>,
    /// Parent run, for nested runs (becomes the `mlflow.parentRunId` tag).
    pub parent_run_id: Option<String>,
    /// User (the `USER` variable when `None`).
    pub user_id: Option<String>,
}

/// A run search: experiments, filter, order, paging.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRuns {
    /// Experiments to search.
    pub experiment_ids: Vec<String>,
    /// MLflow filter (`metrics.acc > 0.5 and params.lr = '0.01'`); empty = all.
    pub filter: String,
    /// Order clauses (`metrics.acc DESC`, `attributes.start_time`).
    pub order_by: Vec<String>,
    /// Page size (MLflow's default 1000, max 50000).
    pub max_results: usize,
    /// Token from the previous page.
    pub page_token: Option<String>,
    /// Lifecycle filter.
    pub view: ViewType,
}

impl SearchRuns {
    /// All active runs of `experiment_id`, newest first, in pages of 1000.
    pub fn experiment(experiment_id: impl Into<String>) -> SearchRuns {
        SearchRuns {
            experiment_ids: vec![experiment_id.into()],
            filter: String::new(),
            order_by: Vec::new(),
            max_results: 1000,
            page_token: None,
            view: ViewType::ActiveOnly,
        }
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: impl Into<String>) -> SearchRuns {
        self.filter = filter.into();
        self
    }

    /// Adds an order clause.
    pub fn order_by(mut self, clause: impl Into<String>) -> SearchRuns {
        self.order_by.push(clause.into());
        self
    }

    /// Sets the page size.
    pub fn max_results(mut self, n: usize) -> SearchRuns {
        self.max_results = n;
        self
    }
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunRecord>,
    /// Token for the next page, if there is one.
    pub next_page_token: Option<String>,
}

/// An experiment-tracking backend. Object safe and blocking: pass `&dyn Tracker` or
/// `Arc<dyn Tracker>` around.
///
/// Implementations validate MLflow's limits ([`validate_batch`]) before writing and
/// split large batches ([`split_batch`]).
pub trait Tracker: Send + Sync + fmt::Debug {
    /// The store's URI (`file:///…/mlruns`, `http://host:port`).
    fn uri(&self) -> String;

    /// Creates an experiment; returns its id. An existing name is
    /// `RESOURCE_ALREADY_EXISTS`.
    fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[RunTag],
    ) -> Result<String>;
    /// An experiment by id (active or deleted).
    fn get_experiment(&self, experiment_id: &str) -> Result<Experiment>;
    /// An experiment by name, `None` when there is none.
    fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>>;
    /// All experiments of a lifecycle view.
    fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>>;
    /// Sets an experiment tag.
    fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()>;

    /// Starts a run.
    fn create_run(&self, req: &CreateRun) -> Result<RunInfo>;
    /// Sets status and end time (and optionally the name).
    fn update_run(
        &self,
        run_id: &str,
        status: RunStatus,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<()>;
    /// A run with its latest metrics, params and tags.
    fn get_run(&self, run_id: &str) -> Result<RunRecord>;
    /// Searches runs with MLflow's filter grammar.
    fn search_runs(&self, query: &SearchRuns) -> Result<RunPage>;
    /// Marks a run deleted.
    fn delete_run(&self, run_id: &str) -> Result<()>;
    /// Restores a deleted run.
    fn restore_run(&self, run_id: &str) -> Result<()>;

    /// Logs metrics, params and tags; any size (split into MLflow-sized batches).
    fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()>;
    /// Deletes a run tag.
    fn delete_tag(&self, run_id: &str, key: &str) -> Result<()>;
    /// The full history of one metric, in logging order.
    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>>;

    /// Uploads a file or a directory (recursively) under `artifact_path` (the run's
    /// artifact root when `None`). A file keeps its name; a directory's content goes
    /// under `artifact_path`. A symbolic link inside the directory is an
    /// [`Error::InvalidPath`](crate::Error::InvalidPath), never followed out of the tree
    /// (`fs::walk_files`, the walk of every store).
    fn log_artifact(&self, run_id: &str, local: &Path, artifact_path: Option<&str>) -> Result<()>;
    /// Lists one level of a run's artifacts; paths are relative to the run's root.
    fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>>;
    /// Downloads a file or directory of a run's artifacts (`""` = all) into `dest`;
    /// returns the local path of what was downloaded.
    fn download_artifacts(&self, run_id: &str, path: &str, dest: &Path) -> Result<PathBuf>;

    /// Logs one metric point.
    fn log_metric(
        &self,
        run_id: &str,
        key: &str,
        value: f64,
        timestamp: i64,
        step: i64,
    ) -> Result<()> {
        self.log_batch(
            run_id,
            &[Metric::new(key, value, timestamp, step)],
            &[],
            &[],
        )
    }
    /// Logs one param.
    fn log_param(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        self.log_batch(run_id, &[], &[Param::new(key, value)], &[])
    }
    /// Sets one run tag.
    fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        self.log_batch(run_id, &[], &[], &[RunTag::new(key, value)])
    }
    /// The id of the experiment named `name`, created when missing (a concurrent
    /// creator winning the race is fine).
    fn get_or_create_experiment(&self, name: &str) -> Result<String> {
        if let Some(e) = self.get_experiment_by_name(name)? {
            return Ok(e.experiment_id);
        }
        match self.create_experiment(name, None, &[]) {
            Ok(id) => Ok(id),
            Err(e) if e.mlflow_code() == Some(&ErrorCode::ResourceAlreadyExists) => self
                .get_experiment_by_name(name)?
                .map(|e| e.experiment_id)
                .ok_or(e),
            Err(e) => Err(e),
        }
    }
    /// Every run of a search, all pages.
    fn search_all_runs(&self, query: &SearchRuns) -> Result<Vec<RunRecord>> {
        let mut q = query.clone();
        let mut out = Vec::new();
        loop {
            let page = self.search_runs(&q)?;
            out.extend(page.runs);
            match page.next_page_token {
                Some(t) if !t.is_empty() => q.page_token = Some(t),
                _ => return Ok(out),
            }
        }
    }
}

/// Opens the tracker a URI names, as MLflow does: `http://` / `https://` → a
/// [`RestTracker`] (credentials from the environment), `file:` URIs and bare paths → a
/// [`LocalTracker`]. Other schemes (`sqlite:`, `databricks`) are refused.
pub fn tracker_from_uri(uri: &str) -> Result<Arc<dyn Tracker>> {
    let uri = uri.trim();
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return Ok(Arc::new(RestTracker::new(
            crate::mlflow_http::MlflowHttp::from_env(uri)?,
        )));
    }
    Ok(Arc::new(LocalTracker::open(local_path_of_uri(uri)?)?))
}

/// [`tracker_from_uri`] of `MLFLOW_TRACKING_URI`, or `./mlruns` when it is unset.
pub fn tracker_from_env() -> Result<Arc<dyn Tracker>> {
    match std::env::var("MLFLOW_TRACKING_URI") {
        Ok(u) if !u.trim().is_empty() => tracker_from_uri(&u),
        _ => tracker_from_uri("mlruns"),
    }
}

/// The directory a `file:` URI or bare path names (`file:///abs`, `file://localhost/abs`,
/// `file:rel`, percent-escapes decoded). Errors for an empty URI, a `file:` URI naming a
/// remote host, and other schemes. The one local-URI parser of the crate: the registry's
/// `registry_from_uri` goes through it too.
pub fn local_path_of_uri(uri: &str) -> Result<PathBuf> {
    if let Some(rest) = uri.strip_prefix("file:") {
        let rest = rest
            .strip_prefix("//localhost")
            .or_else(|| rest.strip_prefix("//").filter(|r| r.starts_with('/')))
            .unwrap_or(rest);
        if rest.starts_with("//") {
            return Err(Error::InvalidArgument(format!(
                "file URI {uri:?} names a remote host; only local paths are supported"
            )));
        }
        return Ok(PathBuf::from(percent_decode(rest)));
    }
    if uri.is_empty() {
        return Err(Error::InvalidArgument("empty tracking URI".into()));
    }
    if let Some((scheme, _)) = uri.split_once(':')
        && scheme.len() > 1
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    {
        return Err(Error::InvalidArgument(format!(
            "URI {:?}: scheme {scheme:?} is not supported (use file:, a path, http:// or https://)",
            crate::mlflow_http::redact_url(uri)
        )));
    }
    Ok(PathBuf::from(uri))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push((h << 4) | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The current time in ms since the epoch.
pub fn now_millis() -> i64 {
    crate::now_ms() as i64
}

fn invalid(what: String) -> Error {
    Error::Mlflow {
        endpoint: "client-side validation".into(),
        status: 0,
        code: ErrorCode::InvalidParameterValue,
        message: what,
    }
}

/// Checks a metric/param/tag key: 1..=250 characters of `[A-Za-z0-9_ -.:/]`, and a
/// path that names itself (no `..`, no leading `/`, no `//`), as MLflow requires.
pub fn validate_key(kind: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(invalid(format!("{kind} key is empty")));
    }
    if key.chars().count() > MAX_KEY_LENGTH {
        return Err(invalid(format!(
            "{kind} key {:?}… is {} characters, more than MLflow's {MAX_KEY_LENGTH}",
            key.chars().take(40).collect::<String>(),
            key.chars().count()
        )));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/')))
    {
        return Err(invalid(format!(
            "{kind} key {key:?} contains {c:?}: only alphanumerics, '_', '-', '.', ' ', ':' and '/' are allowed"
        )));
    }
    let bad_path = key.starts_with('/')
        || key.ends_with('/')
        || key.contains("//")
        || key.split('/').any(|s| s == "." || s == "..");
    if bad_path {
        return Err(invalid(format!(
            "{kind} key {key:?} would not name a unique file (no '.', '..', leading/trailing or double '/')"
        )));
    }
    Ok(())
}

/// Checks every item of a batch against MLflow's limits, before any of it is sent.
pub fn validate_batch(metrics: &[Metric], params: &[Param], tags: &[RunTag]) -> Result<()> {
    for m in metrics {
        validate_key("metric", &m.key)?;
    }
    for p in params {
        validate_key("param", &p.key)?;
        let n = p.value.chars().count();
        if n > MAX_PARAM_VALUE_LENGTH {
            return Err(invalid(format!(
                "param {:?}: value of {n} characters exceeds MLflow's {MAX_PARAM_VALUE_LENGTH} (the server would truncate it silently)",
                p.key
            )));
        }
    }
    for t in tags {
        validate_key("tag", &t.key)?;
        let n = t.value.chars().count();
        if n > MAX_TAG_VALUE_LENGTH {
            return Err(invalid(format!(
                "tag {:?}: value of {n} characters exceeds MLflow's {MAX_TAG_VALUE_LENGTH} (the server would truncate it silently)",
                t.key
            )));
        }
    }
    Ok(())
}

/// One MLflow-sized piece of a batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchChunk<'a> {
    /// At most [`MAX_METRICS_PER_BATCH`].
    pub metrics: &'a [Metric],
    /// Params of this chunk.
    pub params: &'a [Param],
    /// Tags of this chunk.
    pub tags: &'a [RunTag],
}

/// Splits a batch into chunks MLflow accepts: at most 1000 metrics, 100 params, 100
/// tags, and 1000 entities in all per chunk. Params and tags go first, so a param
/// conflict is reported before any metric of the batch is written.
pub fn split_batch<'a>(
    metrics: &'a [Metric],
    params: &'a [Param],
    tags: &'a [RunTag],
) -> Vec<BatchChunk<'a>> {
    let mut out = Vec::new();
    let (mut m, mut p, mut t) = (metrics, params, tags);
    while !(m.is_empty() && p.is_empty() && t.is_empty()) {
        let np = p.len().min(MAX_PARAMS_TAGS_PER_BATCH);
        let nt = t.len().min(MAX_PARAMS_TAGS_PER_BATCH - np);
        let nm = m
            .len()
            .min(MAX_METRICS_PER_BATCH)
            .min(MAX_ENTITIES_PER_BATCH - np - nt);
        out.push(BatchChunk {
            metrics: &m[..nm],
            params: &p[..np],
            tags: &t[..nt],
        });
        m = &m[nm..];
        p = &p[np..];
        t = &t[nt..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_limits() {
        validate_key("metric", "ok/sub-dir.name_1 space:x").unwrap();
        for bad in [
            "", "../x", "a//b", "/a", "a/", "a/./b", "a\\b", "a\nb", "a'b",
        ] {
            assert!(validate_key("metric", bad).is_err(), "{bad:?}");
        }
        assert!(validate_key("m", &"k".repeat(250)).is_ok());
        assert!(validate_key("m", &"k".repeat(251)).is_err());
        assert!(validate_batch(&[], &[Param::new("p", "v".repeat(6000))], &[]).is_ok());
        let e = validate_batch(&[], &[Param::new("p", "v".repeat(6001))], &[]).unwrap_err();
        assert_eq!(e.mlflow_code(), Some(&ErrorCode::InvalidParameterValue));
        assert!(validate_batch(&[], &[], &[RunTag::new("t", "v".repeat(8001))]).is_err());
    }

    #[test]
    fn batches_split_within_limits() {
        let ms: Vec<_> = (0..2500)
            .map(|i| Metric::new("m", i as f64, 0, i))
            .collect();
        let ps: Vec<_> = (0..150).map(|i| Param::new(format!("p{i}"), "v")).collect();
        let ts: Vec<_> = (0..120)
            .map(|i| RunTag::new(format!("t{i}"), "v"))
            .collect();
        let chunks = split_batch(&ms, &ps, &ts);
        let (mut nm, mut np, mut nt) = (0, 0, 0);
        for c in &chunks {
            assert!(c.metrics.len() <= 1000);
            assert!(c.params.len() + c.tags.len() <= 100);
            assert!(c.metrics.len() + c.params.len() + c.tags.len() <= 1000);
            nm += c.metrics.len();
            np += c.params.len();
            nt += c.tags.len();
        }
        assert_eq!((nm, np, nt), (2500, 150, 120));
        assert!(split_batch(&[], &[], &[]).is_empty());
    }

    #[test]
    fn uris() {
        assert_eq!(
            local_path_of_uri("file:///tmp/a%20b").unwrap(),
            PathBuf::from("/tmp/a b")
        );
        assert_eq!(
            local_path_of_uri("file:rel/x").unwrap(),
            PathBuf::from("rel/x")
        );
        assert_eq!(
            local_path_of_uri("./mlruns").unwrap(),
            PathBuf::from("./mlruns")
        );
        assert!(local_path_of_uri("sqlite:///x.db").is_err());
        assert!(local_path_of_uri("databricks://x").is_err());
        assert!(local_path_of_uri("file://host/x").is_err());
        assert!(local_path_of_uri("").is_err());
        assert_eq!(
            local_path_of_uri("file://localhost/tmp/x").unwrap(),
            PathBuf::from("/tmp/x")
        );
    }

    #[test]
    fn latest_order() {
        let a = Metric::new("m", 1.0, 5, 3);
        let b = Metric::new("m", 9.0, 1, 2);
        assert_eq!(a.latest_cmp(&b), std::cmp::Ordering::Greater);
        let n = Metric::new("m", f64::NAN, 5, 3);
        assert_eq!(n.latest_cmp(&a), std::cmp::Ordering::Less);
    }
}
