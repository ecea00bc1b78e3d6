//! The local tracker: MLflow's file-store layout, byte-compatible with the Python client.
//!
//! ```text
//! mlruns/
//!   .trash/                         deleted experiments (moved here, as MLflow does)
//!   0/meta.yaml                     the "Default" experiment, created with the store
//!   <exp_id>/meta.yaml              artifact_location, creation_time, experiment_id, ...
//!   <exp_id>/tags/<key>             experiment tags, one file each
//!   <exp_id>/<run_id>/meta.yaml     run info; status as MLflow's integer (1..5)
//!   <exp_id>/<run_id>/metrics/<key> one line per point: "<timestamp> <value> <step>"
//!   <exp_id>/<run_id>/params/<key>  the value, no newline
//!   <exp_id>/<run_id>/tags/<key>    the value, no newline
//!   <exp_id>/<run_id>/artifacts/    the run's files
//! ```
//!
//! Keys with `/` are subdirectories, exactly as MLflow writes them. Values are written
//! as Python's `str(float)` reads them back (`nan`, `inf`, `-inf`, shortest round-trip
//! digits), so a point survives Rust → file → Python → file → Rust bit for bit.
//!
//! Concurrency: `meta.yaml` files are replaced atomically ([`crate::fs::write_atomic`])
//! under a per-run lock; metric points are appended with one `write` per key and batch
//! on a file opened in append mode, so concurrent writers never interleave inside a
//! line, and a reader skips a last line that has no newline yet (a write in flight).
//! Params are created with a no-clobber link, so two processes logging different
//! values for one key cannot both win. Experiment creation is serialised by a lock
//! file in the root (a file: MLflow only lists directories there).
//!
//! The SDK's own state (artifact store, audit log) must NOT live inside the root: the
//! Python file store treats every directory there as an experiment and fails on any
//! name that is not an experiment id. [`sdk_state_dir`] names the sibling directory.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{
    CreateRun, Experiment, FileInfo, Metric, Param, RunData, RunInfo, RunPage, RunRecord,
    RunStatus, RunTag, SearchRuns, TAG_PARENT_RUN_ID, TAG_RUN_NAME, TAG_USER, Tracker, ViewType,
    filter, now_millis, validate_batch, validate_key,
};
use crate::fs::{
    FileLock, copy_tree, is_temp_name, read_kv_dir, safe_relative_path, walk_files, write_atomic,
    write_atomic_new,
};
use crate::mlflow_http::ErrorCode;
use crate::yaml::{self, Map, Value};
use crate::{Error, Result};

const TRASH: &str = ".trash";
const META: &str = "meta.yaml";
const LOCK: &str = ".mlops-experiments.lock";
/// Directories inside an experiment that are not runs.
const RESERVED: &[&str] = &["tags", "datasets", "traces", "models", "inputs", "outputs"];

/// Where the SDK keeps its own state for a tracking root: the sibling directory
/// `<root>.mlops` (`./mlruns` → `./mlruns.mlops`), holding the artifact store
/// (`store/`) and the audit log (`audit.jsonl`).
///
/// Not inside the root: MLflow's file store lists every directory of the root as an
/// experiment and raises on `.mlops` ("Invalid experiment ID").
pub fn sdk_state_dir(tracking_root: &Path) -> PathBuf {
    let name = tracking_root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mlruns".into());
    let parent = tracking_root.parent().unwrap_or(Path::new("."));
    parent.join(format!("{name}.mlops"))
}

/// An MLflow file store on a local directory. See the module docs.
#[derive(Debug)]
pub struct LocalTracker {
    root: PathBuf,
    run_dirs: Mutex<HashMap<String, PathBuf>>,
}

fn err(op: &str, code: ErrorCode, message: String) -> Error {
    Error::Mlflow {
        endpoint: format!("local:{op}"),
        status: 0,
        code,
        message,
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Formats a metric value as Python's `str(float)` parses it.
fn fmt_value(v: f64, out: &mut String) {
    use std::fmt::Write as _;
    if v.is_nan() {
        out.push_str("nan");
    } else if v == f64::INFINITY {
        out.push_str("inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-inf");
    } else {
        let _ = write!(out, "{v:?}");
    }
}

fn file_uri(path: &Path) -> String {
    let s = path.to_string_lossy();
    format!(
        "file://{}",
        crate::mlflow_http::encode_path(&s).replace("%3A", ":")
    )
}

/// A field `meta.yaml` must have: missing (or null), it is an error naming the file.
fn required(m: &Map, path: &Path, key: &str) -> Result<String> {
    m.get(key)
        .and_then(|v| v.to_opt_string())
        .ok_or_else(|| Error::Malformed {
            path: path.to_path_buf(),
            problem: format!("field {key:?} is missing"),
        })
}

impl LocalTracker {
    /// Experiments whose `meta.yaml` cannot be read (a writer killed mid-write, a field
    /// missing): skipped by listings and searches, reported here with the reason.
    pub fn unreadable_experiments(&self) -> Result<Vec<crate::Unreadable>> {
        let mut out = Vec::new();
        for d in self.experiment_dirs(ViewType::All)? {
            if let Err(e) = self.read_experiment(&d) {
                out.push(crate::Unreadable {
                    path: d.join(META),
                    problem: e.to_string(),
                });
            }
        }
        Ok(out)
    }

    /// Opens (creating when missing) the store at `root`, with MLflow's default
    /// experiment `0` and the `.trash` folder.
    pub fn open(root: impl AsRef<Path>) -> Result<LocalTracker> {
        let root = root.as_ref();
        fs::create_dir_all(root).map_err(|e| io(root, e))?;
        let root = fs::canonicalize(root).map_err(|e| io(root, e))?;
        let t = LocalTracker {
            root,
            run_dirs: Mutex::new(HashMap::new()),
        };
        let trash = t.root.join(TRASH);
        fs::create_dir_all(&trash).map_err(|e| io(&trash, e))?;
        if !t.root.join("0").exists() && !trash.join("0").exists() {
            let _lock = FileLock::acquire(&t.root.join(LOCK))?;
            if !t.root.join("0").exists() {
                t.write_experiment_meta(
                    &Experiment {
                        experiment_id: "0".into(),
                        name: "Default".into(),
                        artifact_location: file_uri(&t.root.join("0")),
                        lifecycle_stage: "active".into(),
                        creation_time: Some(now_millis()),
                        last_update_time: Some(now_millis()),
                        tags: BTreeMap::new(),
                    },
                    &t.root.join("0"),
                )?;
            }
        }
        Ok(t)
    }

    /// The store's root directory (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn write_experiment_meta(&self, e: &Experiment, dir: &Path) -> Result<()> {
        let mut m = Map::new();
        m.insert(
            "artifact_location".into(),
            Value::Str(e.artifact_location.clone()),
        );
        m.insert(
            "creation_time".into(),
            e.creation_time.map(Value::Int).unwrap_or(Value::Null),
        );
        m.insert("experiment_id".into(), Value::Str(e.experiment_id.clone()));
        m.insert(
            "last_update_time".into(),
            e.last_update_time.map(Value::Int).unwrap_or(Value::Null),
        );
        m.insert(
            "lifecycle_stage".into(),
            Value::Str(e.lifecycle_stage.clone()),
        );
        m.insert("name".into(), Value::Str(e.name.clone()));
        write_atomic(&dir.join(META), yaml::to_yaml(&m).as_bytes())
    }

    fn experiment_dir(&self, id: &str) -> Option<PathBuf> {
        if !valid_id(id) {
            return None;
        }
        let a = self.root.join(id);
        if a.join(META).is_file() {
            return Some(a);
        }
        let d = self.root.join(TRASH).join(id);
        d.join(META).is_file().then_some(d)
    }

    fn read_experiment(&self, dir: &Path) -> Result<Experiment> {
        let p = dir.join(META);
        let text = fs::read_to_string(&p).map_err(|e| io(&p, e))?;
        let m = yaml::parse_map(&text, &p)?;
        let req = |k: &str| required(&m, &p, k);
        let experiment_id = req("experiment_id")?;
        let tags = read_kv_dir(&dir.join("tags"))?;
        Ok(Experiment {
            experiment_id,
            name: req("name")?,
            artifact_location: req("artifact_location")?,
            lifecycle_stage: req("lifecycle_stage")?,
            creation_time: m.get("creation_time").and_then(|v| v.as_i64()),
            last_update_time: m.get("last_update_time").and_then(|v| v.as_i64()),
            tags,
        })
    }

    fn experiment_dirs(&self, view: ViewType) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut scan = |dir: &Path| -> Result<()> {
            let rd = match fs::read_dir(dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io(dir, e)),
            };
            for ent in rd {
                let ent = ent.map_err(|e| io(dir, e))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if valid_id(&name) && name != "models" && ent.path().join(META).is_file() {
                    out.push(ent.path());
                }
            }
            Ok(())
        };
        if view != ViewType::DeletedOnly {
            scan(&self.root)?;
        }
        if view != ViewType::ActiveOnly {
            scan(&self.root.join(TRASH))?;
        }
        Ok(out)
    }

    fn run_dir(&self, run_id: &str) -> Result<PathBuf> {
        if !valid_id(run_id) {
            return Err(err(
                "get_run",
                ErrorCode::InvalidParameterValue,
                format!("invalid run id {run_id:?}"),
            ));
        }
        if let Ok(map) = self.run_dirs.lock()
            && let Some(p) = map.get(run_id)
            && p.join(META).is_file()
        {
            return Ok(p.clone());
        }
        for exp in self.experiment_dirs(ViewType::All)? {
            let d = exp.join(run_id);
            if d.join(META).is_file() {
                if let Ok(mut map) = self.run_dirs.lock() {
                    map.insert(run_id.to_string(), d.clone());
                }
                return Ok(d);
            }
        }
        Err(err(
            "get_run",
            ErrorCode::ResourceDoesNotExist,
            format!("Run '{run_id}' not found"),
        ))
    }

    fn read_run_meta(&self, dir: &Path) -> Result<(RunInfo, Map)> {
        let p = dir.join(META);
        let text = fs::read_to_string(&p).map_err(|e| io(&p, e))?;
        let m = yaml::parse_map(&text, &p)?;
        let s = |k: &str| m.get(k).and_then(|v| v.to_opt_string());
        let req = |k: &str| required(&m, &p, k);
        let run_id = match s("run_id") {
            Some(id) => id,
            None => req("run_uuid")?,
        };
        let status = match m.get("status") {
            Some(Value::Int(i)) => RunStatus::from_int(*i),
            Some(Value::Str(s)) => RunStatus::parse(s).ok(),
            None => {
                return Err(Error::Malformed {
                    path: p.clone(),
                    problem: "field \"status\" is missing".into(),
                });
            }
            _ => None,
        }
        .ok_or_else(|| Error::Malformed {
            path: p.clone(),
            problem: "unknown status".into(),
        })?;
        let info = RunInfo {
            run_id,
            experiment_id: req("experiment_id")?,
            // Older MLflow versions kept the name only in the `mlflow.runName` tag.
            run_name: s("run_name").unwrap_or_default(),
            user_id: s("user_id").unwrap_or_default(),
            status,
            start_time: m.get("start_time").and_then(|v| v.as_i64()),
            end_time: m.get("end_time").and_then(|v| v.as_i64()),
            artifact_uri: req("artifact_uri")?,
            lifecycle_stage: req("lifecycle_stage")?,
        };
        Ok((info, m))
    }

    fn write_run_meta(&self, dir: &Path, info: &RunInfo, deleted_time: Option<i64>) -> Result<()> {
        let mut m = Map::new();
        m.insert("artifact_uri".into(), Value::Str(info.artifact_uri.clone()));
        if let Some(t) = deleted_time {
            m.insert("deleted_time".into(), Value::Int(t));
        }
        m.insert(
            "end_time".into(),
            info.end_time.map(Value::Int).unwrap_or(Value::Null),
        );
        m.insert("entry_point_name".into(), Value::Str(String::new()));
        m.insert(
            "experiment_id".into(),
            Value::Str(info.experiment_id.clone()),
        );
        m.insert(
            "lifecycle_stage".into(),
            Value::Str(info.lifecycle_stage.clone()),
        );
        m.insert("run_id".into(), Value::Str(info.run_id.clone()));
        m.insert("run_name".into(), Value::Str(info.run_name.clone()));
        m.insert("source_name".into(), Value::Str(String::new()));
        m.insert("source_type".into(), Value::Int(4));
        m.insert("source_version".into(), Value::Str(String::new()));
        m.insert(
            "start_time".into(),
            info.start_time.map(Value::Int).unwrap_or(Value::Null),
        );
        m.insert("status".into(), Value::Int(info.status.as_int()));
        m.insert("tags".into(), Value::List(Vec::new()));
        m.insert("user_id".into(), Value::Str(info.user_id.clone()));
        write_atomic(&dir.join(META), yaml::to_yaml(&m).as_bytes())
    }

    /// Read-modify-write of a run's meta under the run's lock.
    fn modify_run(
        &self,
        run_id: &str,
        f: impl FnOnce(&mut RunInfo, &mut Option<i64>),
    ) -> Result<()> {
        let dir = self.run_dir(run_id)?;
        let _lock = FileLock::acquire(&dir.join(".meta.lock"))?;
        let (mut info, m) = self.read_run_meta(&dir)?;
        let mut deleted = m.get("deleted_time").and_then(|v| v.as_i64());
        f(&mut info, &mut deleted);
        self.write_run_meta(&dir, &info, deleted)
    }

    fn read_run(&self, dir: &Path) -> Result<RunRecord> {
        let (info, _) = self.read_run_meta(dir)?;
        let params = read_kv_dir(&dir.join("params"))?;
        let tags = read_kv_dir(&dir.join("tags"))?;
        let mut metrics = BTreeMap::new();
        for (key, path) in walk_files(&dir.join("metrics"))? {
            if is_temp_name(&key) {
                continue;
            }
            let hist = read_metric_file(&path, &key)?;
            if let Some(latest) = hist.into_iter().max_by(|a, b| a.latest_cmp(b)) {
                metrics.insert(key, latest);
            }
        }
        Ok(RunRecord {
            info,
            data: RunData {
                metrics,
                params,
                tags,
            },
        })
    }

    fn artifact_root(&self, run_id: &str) -> Result<PathBuf> {
        let dir = self.run_dir(run_id)?;
        let (info, _) = self.read_run_meta(&dir)?;
        let uri = &info.artifact_uri;
        if uri.starts_with("file:") || !uri.contains(':') {
            super::local_path_of_uri(uri)
        } else {
            Err(err(
                "artifacts",
                ErrorCode::InvalidParameterValue,
                format!(
                    "run {run_id} keeps its artifacts at {uri}, which the local tracker cannot reach"
                ),
            ))
        }
    }

    fn check_active(&self, op: &str, dir: &Path) -> Result<RunInfo> {
        let (info, _) = self.read_run_meta(dir)?;
        if info.lifecycle_stage == "deleted" {
            return Err(err(
                op,
                ErrorCode::InvalidState,
                format!("The run {} must be in the 'active' state.", info.run_id),
            ));
        }
        Ok(info)
    }
}

fn read_metric_file(path: &Path, key: &str) -> Result<Vec<Metric>> {
    let bytes = fs::read(path).map_err(|e| io(path, e))?;
    let text = String::from_utf8_lossy(&bytes);
    // A last line without '\n' is a write in flight: not yet a point.
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut out = Vec::with_capacity(complete.len() / 24);
    for (n, line) in complete.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| Error::Malformed {
            path: path.to_path_buf(),
            problem: format!("line {}: {what}: {line:?}", n + 1),
        };
        let mut parts = line.split(' ');
        let ts: i64 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad timestamp"))?;
        let value: f64 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad value"))?;
        let step: i64 = match parts.next() {
            Some(s) => s.parse().map_err(|_| bad("bad step"))?,
            None => 0,
        };
        out.push(Metric {
            key: key.to_string(),
            value,
            timestamp: ts,
            step,
        });
    }
    Ok(out)
}

fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

impl Tracker for LocalTracker {
    fn uri(&self) -> String {
        file_uri(&self.root)
    }

    fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[RunTag],
    ) -> Result<String> {
        if name.trim().is_empty() || name.chars().count() > super::MAX_EXPERIMENT_NAME_LENGTH {
            return Err(err(
                "create_experiment",
                ErrorCode::InvalidParameterValue,
                format!("experiment name must be 1..=500 characters, got {:?}", name),
            ));
        }
        for t in tags {
            validate_key("experiment tag", &t.key)?;
        }
        let _lock = FileLock::acquire(&self.root.join(LOCK))?;
        // An unreadable experiment may hold this name: creating it again could make a
        // second experiment of the same name, so refuse, naming the file.
        if self.get_experiment_by_name(name)?.is_none()
            && let Some(bad) = self.unreadable_experiments()?.into_iter().next()
        {
            return Err(Error::Malformed {
                path: bad.path,
                problem: format!(
                    "experiment {name:?} is not created while this experiment is unreadable \
                     (it may hold that name); repair or remove it: {}",
                    bad.problem
                ),
            });
        }
        if let Some(e) = self.get_experiment_by_name(name)? {
            return Err(err(
                "create_experiment",
                ErrorCode::ResourceAlreadyExists,
                format!(
                    "Experiment '{}' already exists{}.",
                    e.name,
                    if e.lifecycle_stage == "deleted" {
                        " in deleted state"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let (id, dir) = loop {
            let id = (rand::random::<u64>() >> 4).to_string();
            let dir = self.root.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => break (id, dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&dir, e)),
            }
        };
        for t in tags {
            write_atomic(&dir.join("tags").join(&t.key), t.value.as_bytes())?;
        }
        let now = now_millis();
        self.write_experiment_meta(
            &Experiment {
                experiment_id: id.clone(),
                name: name.to_string(),
                artifact_location: artifact_location
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| file_uri(&dir)),
                lifecycle_stage: "active".into(),
                creation_time: Some(now),
                last_update_time: Some(now),
                tags: BTreeMap::new(),
            },
            &dir,
        )?;
        Ok(id)
    }

    fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        match self.experiment_dir(experiment_id) {
            Some(d) => self.read_experiment(&d),
            None => Err(err(
                "get_experiment",
                ErrorCode::ResourceDoesNotExist,
                format!("Could not find experiment with ID {experiment_id}"),
            )),
        }
    }

    fn get_experiment_by_name(&self, name: &str) -> Result<Option<Experiment>> {
        Ok(self
            .list_experiments(ViewType::All)?
            .into_iter()
            .find(|e| e.name == name))
    }

    fn list_experiments(&self, view: ViewType) -> Result<Vec<Experiment>> {
        let mut out = Vec::new();
        for d in self.experiment_dirs(view)? {
            match self.read_experiment(&d) {
                Ok(e) => out.push(e),
                Err(e) => {
                    tracing::warn!(dir = %d.display(), error = %e, "malformed experiment skipped")
                }
            }
        }
        out.sort_by(|a, b| {
            b.creation_time
                .cmp(&a.creation_time)
                .then(a.experiment_id.cmp(&b.experiment_id))
        });
        Ok(out)
    }

    fn set_experiment_tag(&self, experiment_id: &str, key: &str, value: &str) -> Result<()> {
        validate_key("experiment tag", key)?;
        if value.chars().count() > super::MAX_EXPERIMENT_TAG_VALUE_LENGTH {
            return Err(err(
                "set_experiment_tag",
                ErrorCode::InvalidParameterValue,
                format!("experiment tag {key:?}: value longer than 20000 characters"),
            ));
        }
        let dir = self.experiment_dir(experiment_id).ok_or_else(|| {
            err(
                "set_experiment_tag",
                ErrorCode::ResourceDoesNotExist,
                format!("Could not find experiment with ID {experiment_id}"),
            )
        })?;
        write_atomic(&dir.join("tags").join(key), value.as_bytes())
    }

    fn create_run(&self, req: &CreateRun) -> Result<RunInfo> {
        let exp = self.get_experiment(&req.experiment_id)?;
        if exp.lifecycle_stage == "deleted" {
            return Err(err(
                "create_run",
                ErrorCode::InvalidState,
                format!(
                    "Could not create run under non-active experiment with ID {}.",
                    exp.experiment_id
                ),
            ));
        }
        let exp_dir = self.root.join(&exp.experiment_id);
        let run_id = crate::RunId::random().0;
        let dir = exp_dir.join(&run_id);
        for sub in ["metrics", "params", "tags", "artifacts"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| io(&dir, e))?;
        }
        let run_name = req
            .run_name
            .clone()
            .unwrap_or_else(|| format!("run-{}", &run_id[..8]));
        let user_id = req.user_id.clone().unwrap_or_else(user);
        let mut tags = req.tags.clone();
        if !tags.iter().any(|t| t.key == TAG_RUN_NAME) {
            tags.push(RunTag::new(TAG_RUN_NAME, run_name.clone()));
        }
        if !tags.iter().any(|t| t.key == TAG_USER) {
            tags.push(RunTag::new(TAG_USER, user_id.clone()));
        }
        if let Some(p) = &req.parent_run_id {
            tags.retain(|t| t.key != TAG_PARENT_RUN_ID);
            tags.push(RunTag::new(TAG_PARENT_RUN_ID, p.clone()));
        }
        validate_batch(&[], &[], &tags)?;
        for t in &tags {
            write_atomic(&dir.join("tags").join(&t.key), t.value.as_bytes())?;
        }
        let artifact_base =
            super::local_path_of_uri(&exp.artifact_location).unwrap_or_else(|_| exp_dir.clone());
        let info = RunInfo {
            run_id: run_id.clone(),
            experiment_id: exp.experiment_id.clone(),
            run_name,
            user_id,
            status: RunStatus::Running,
            start_time: Some(req.start_time.unwrap_or_else(now_millis)),
            end_time: None,
            artifact_uri: file_uri(&artifact_base.join(&run_id).join("artifacts")),
            lifecycle_stage: "active".into(),
        };
        self.write_run_meta(&dir, &info, None)?;
        if let Ok(mut map) = self.run_dirs.lock() {
            map.insert(run_id, dir);
        }
        Ok(info)
    }

    fn update_run(
        &self,
        run_id: &str,
        status: RunStatus,
        end_time: Option<i64>,
        run_name: Option<&str>,
    ) -> Result<()> {
        if let Some(n) = run_name {
            self.set_tag(run_id, TAG_RUN_NAME, n)?;
        }
        self.modify_run(run_id, |info, _| {
            info.status = status;
            if end_time.is_some() {
                info.end_time = end_time;
            }
            if let Some(n) = run_name {
                info.run_name = n.to_string();
            }
        })
    }

    fn get_run(&self, run_id: &str) -> Result<RunRecord> {
        let dir = self.run_dir(run_id)?;
        self.read_run(&dir)
    }

    fn search_runs(&self, q: &SearchRuns) -> Result<RunPage> {
        if q.max_results == 0 || q.max_results > 50_000 {
            return Err(err(
                "search_runs",
                ErrorCode::InvalidParameterValue,
                format!("max_results must be in 1..=50000, got {}", q.max_results),
            ));
        }
        let f = filter::parse(&q.filter)?;
        let order = q
            .order_by
            .iter()
            .map(|o| filter::parse_order_by(o))
            .collect::<Result<Vec<_>>>()?;
        let offset: usize = match &q.page_token {
            None => 0,
            Some(t) if t.is_empty() => 0,
            Some(t) => t
                .strip_prefix("offset:")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    err(
                        "search_runs",
                        ErrorCode::InvalidParameterValue,
                        format!("invalid page token {t:?}"),
                    )
                })?,
        };
        let mut runs = Vec::new();
        for exp_id in &q.experiment_ids {
            let Some(exp_dir) = self.experiment_dir(exp_id) else {
                continue;
            };
            let rd = fs::read_dir(&exp_dir).map_err(|e| io(&exp_dir, e))?;
            for ent in rd {
                let ent = ent.map_err(|e| io(&exp_dir, e))?;
                let name = ent.file_name().to_string_lossy().into_owned();
                if RESERVED.contains(&name.as_str()) || !ent.path().join(META).is_file() {
                    continue;
                }
                match self.read_run(&ent.path()) {
                    Ok(r) => {
                        if q.view.accepts(&r.info.lifecycle_stage) && f.matches(&r) {
                            runs.push(r);
                        }
                    }
                    Err(e) => tracing::warn!(run = %name, error = %e, "malformed run skipped"),
                }
            }
        }
        filter::sort_runs(&mut runs, &order);
        let total = runs.len();
        let page: Vec<_> = runs.into_iter().skip(offset).take(q.max_results).collect();
        let next = offset + page.len();
        Ok(RunPage {
            runs: page,
            next_page_token: (next < total).then(|| format!("offset:{next}")),
        })
    }

    fn delete_run(&self, run_id: &str) -> Result<()> {
        self.modify_run(run_id, |info, deleted| {
            info.lifecycle_stage = "deleted".into();
            *deleted = Some(now_millis());
        })
    }

    fn restore_run(&self, run_id: &str) -> Result<()> {
        self.modify_run(run_id, |info, deleted| {
            info.lifecycle_stage = "active".into();
            *deleted = None;
        })
    }

    fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        validate_batch(metrics, params, tags)?;
        let dir = self.run_dir(run_id)?;
        self.check_active("log_batch", &dir)?;
        for p in params {
            let path = dir.join("params").join(&p.key);
            log_param_file(&path, p)?;
        }
        for t in tags {
            write_atomic(&dir.join("tags").join(&t.key), t.value.as_bytes())?;
        }
        // Group points by key, keeping their order, and append each group in one write.
        let mut groups: Vec<(&str, String)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for m in metrics {
            let i = *index.entry(m.key.as_str()).or_insert_with(|| {
                groups.push((m.key.as_str(), String::with_capacity(32 * metrics.len())));
                groups.len() - 1
            });
            let buf = &mut groups[i].1;
            use std::fmt::Write as _;
            let _ = write!(buf, "{} ", m.timestamp);
            fmt_value(m.value, buf);
            let _ = writeln!(buf, " {}", m.step);
        }
        for (key, lines) in groups {
            let path = dir.join("metrics").join(key);
            let open = |p: &Path| OpenOptions::new().create(true).append(true).open(p);
            let mut f = match open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some(parent) = path.parent() {
                        fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
                    }
                    open(&path).map_err(|e| io(&path, e))?
                }
                Err(e) => return Err(io(&path, e)),
            };
            f.write_all(lines.as_bytes()).map_err(|e| io(&path, e))?;
        }
        Ok(())
    }

    fn delete_tag(&self, run_id: &str, key: &str) -> Result<()> {
        validate_key("tag", key)?;
        let dir = self.run_dir(run_id)?;
        self.check_active("delete_tag", &dir)?;
        let p = dir.join("tags").join(key);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(err(
                "delete_tag",
                ErrorCode::ResourceDoesNotExist,
                format!("No tag with name: {key} in run with id {run_id}"),
            )),
            Err(e) => Err(io(&p, e)),
        }
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>> {
        validate_key("metric", key)?;
        let dir = self.run_dir(run_id)?;
        let p = dir.join("metrics").join(key);
        if !p.is_file() {
            return Ok(Vec::new());
        }
        read_metric_file(&p, key)
    }

    fn log_artifact(&self, run_id: &str, local: &Path, artifact_path: Option<&str>) -> Result<()> {
        let root = self.artifact_root(run_id)?;
        let mut dest = match artifact_path {
            Some(p) if !p.is_empty() => root.join(safe_relative_path(p)?),
            _ => root,
        };
        let meta = fs::metadata(local).map_err(|e| io(local, e))?;
        if meta.is_file() {
            let name = local.file_name().ok_or_else(|| Error::InvalidPath {
                path: local.display().to_string(),
                reason: "names no file",
            })?;
            dest = dest.join(name);
        }
        copy_tree(local, &dest)
    }

    fn list_artifacts(&self, run_id: &str, path: Option<&str>) -> Result<Vec<FileInfo>> {
        let root = self.artifact_root(run_id)?;
        let (dir, prefix) = match path {
            Some(p) if !p.is_empty() => {
                let p = safe_relative_path(p)?;
                (root.join(&p), format!("{p}/"))
            }
            _ => (root, String::new()),
        };
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| io(&dir, e))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            if is_temp_name(&name) {
                continue;
            }
            let md = ent.metadata().map_err(|e| io(&ent.path(), e))?;
            out.push(FileInfo {
                path: format!("{prefix}{name}"),
                is_dir: md.is_dir(),
                file_size: md.is_file().then_some(md.len()),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn download_artifacts(&self, run_id: &str, path: &str, dest: &Path) -> Result<PathBuf> {
        let root = self.artifact_root(run_id)?;
        let (src, out) = if path.is_empty() {
            (root, dest.to_path_buf())
        } else {
            let p = safe_relative_path(path)?;
            (root.join(&p), dest.join(&p))
        };
        if !src.exists() {
            return Err(err(
                "download_artifacts",
                ErrorCode::ResourceDoesNotExist,
                format!("No such artifact: {path:?} in run {run_id}"),
            ));
        }
        copy_tree(&src, &out)?;
        Ok(out)
    }
}

/// Writes a param once: a different existing value is an error, the same is fine.
fn log_param_file(path: &Path, p: &Param) -> Result<()> {
    let conflict = |old: &str| {
        err(
            "log_param",
            ErrorCode::InvalidParameterValue,
            format!(
                "Changing param values is not allowed. Param with key='{}' was already logged with value='{}', new value '{}'",
                p.key, old, p.value
            ),
        )
    };
    if write_atomic_new(path, p.value.as_bytes())? {
        return Ok(());
    }
    let old = fs::read(path).map_err(|e| io(path, e))?;
    let old = String::from_utf8_lossy(&old);
    if old == p.value {
        Ok(())
    } else {
        Err(conflict(&old))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_text() {
        for v in [
            0.1,
            1e-5,
            1e300,
            -0.0,
            123456789.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            0.30000000000000004,
        ] {
            let mut s = String::new();
            fmt_value(v, &mut s);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
        }
        for (v, t) in [
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            let mut s = String::new();
            fmt_value(v, &mut s);
            assert_eq!(s, t);
        }
        // What Python writes reads back.
        for t in ["nan", "inf", "-inf", "1e-05", "1e+20", "0.5"] {
            assert!(t.parse::<f64>().is_ok(), "{t}");
        }
    }

    #[test]
    fn sdk_state_is_beside_the_root() {
        assert_eq!(
            sdk_state_dir(Path::new("/x/mlruns")),
            PathBuf::from("/x/mlruns.mlops")
        );
    }
}
