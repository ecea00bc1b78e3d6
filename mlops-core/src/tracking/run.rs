//! The `Run` handle: logging that does not slow the job down, and loses nothing.
//!
//! A training loop calls [`Run::log_metric`] thousands of times; one HTTP request per
//! point would cost 5-50 ms each. So points are buffered with the timestamp fixed at
//! the call (which is also what makes a re-sent batch idempotent: the server drops
//! exact duplicates) and sent as log-batch requests when the buffer holds
//! `batch_size` points, when `flush_interval` has passed, on [`Run::flush`], on
//! [`Run::end`], and on drop. To a server, one flush goes out as up to
//! `parallel_requests` log-batch requests of 1000 points at once: the server's
//! per-batch work dominates, and a second request in flight keeps it busy.
//!
//! When the server cannot be reached (connection errors, timeouts, 5xx/429 after the
//! HTTP layer's retries), batches go to an on-disk spool (`<spool_dir>/<run_id>.jsonl`,
//! one JSON batch per line) and are sent first, in order, once the server answers
//! again. A call that returned `Ok` has its points either at the server or in the
//! spool. The spool is bounded: when it is full the call fails with
//! [`Error::SpoolFull`] and its points stay in memory (nothing is dropped silently).
//!
//! Any other failure (a 401 after a token expired, a deleted run, a spool directory
//! that cannot be written) keeps the points buffered too: the call returns
//! [`Error::Undelivered`], which names how many points wait, and the next flush tries
//! again. Nothing handed to a `Run` disappears without an error.
//!
//! A spooled batch the server refuses for good (a param conflict, a deleted run:
//! [`refused_for_good`]) cannot block the batches behind it: it is moved to the
//! dead-letter file `<spool_dir>/<run_id>.dead.jsonl` with the reason, counted in
//! [`SpoolStats`], and the replay goes on. Replay is strict: only a torn last line (a
//! crash mid-append, never acknowledged) is dropped, and counted; any other unreadable
//! line is an [`Error::Malformed`] and the spool is left as it is.
//!
//! A `Run` dropped without [`Run::end`] (a panic, an early `?` return) is ended as
//! FAILED, like Python's `with mlflow.start_run():`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{
    CreateRun, Metric, Param, RunInfo, RunStatus, RunTag, Tracker, now_millis, validate_batch,
};
use crate::mlflow_http::ErrorCode;
use crate::{Error, Result};

/// How a [`Run`] starts and batches.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Display name (random when `None`).
    pub run_name: Option<String>,
    /// Initial tags.
    pub tags: Vec<RunTag>,
    /// Parent run (nested runs).
    pub parent_run_id: Option<String>,
    /// Points buffered before they are sent (default 4000). A flush is split into
    /// MLflow-sized log-batch requests (at most 1000 metrics each).
    pub batch_size: usize,
    /// Log-batch requests of one flush sent at once to a server (default 4): the
    /// server parses and stores while the next request is on the wire.
    pub parallel_requests: usize,
    /// Longest time a point waits in the buffer (default 5 s), checked on each log call.
    pub flush_interval: Duration,
    /// Where to spool batches while the server is unreachable. Default: the system
    /// temporary directory's `mlops-spool/` for remote trackers, none for local ones
    /// (a local write error is not transient).
    pub spool_dir: Option<PathBuf>,
    /// Largest spool file, in bytes (default 256 MiB).
    pub spool_max_bytes: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            run_name: None,
            tags: Vec::new(),
            parent_run_id: None,
            batch_size: 4000,
            parallel_requests: 4,
            flush_interval: Duration::from_secs(5),
            spool_dir: None,
            spool_max_bytes: 256 << 20,
        }
    }
}

impl RunOptions {
    /// Options with a run name.
    pub fn named(name: impl Into<String>) -> RunOptions {
        RunOptions {
            run_name: Some(name.into()),
            ..RunOptions::default()
        }
    }
}

#[derive(Debug)]
struct State {
    metrics: Vec<Metric>,
    last_flush: Instant,
    ended: bool,
    /// After a transient failure, batches go straight to the spool until then.
    down_until: Option<Instant>,
    stats: SpoolStats,
}

/// What the spool replay of a [`Run`] had to set aside (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Spooled batches the server refused for good, moved to the dead-letter file.
    pub dead_lettered: usize,
    /// Torn last lines (a crash mid-append) dropped from the spool.
    pub torn_lines_dropped: usize,
}

/// A failed delivery: the error and the metric points that did not arrive.
type Undelivered = (Error, Vec<Metric>);

/// A live run: buffered, spooled logging. See the module docs.
#[derive(Debug)]
pub struct Run {
    tracker: Arc<dyn Tracker>,
    info: RunInfo,
    opts: RunOptions,
    spool: Option<PathBuf>,
    state: Mutex<State>,
}

fn transient(e: &Error) -> bool {
    match e {
        Error::Unreachable { .. } => true,
        Error::Mlflow { code, .. } => matches!(
            code,
            ErrorCode::TemporarilyUnavailable
                | ErrorCode::InternalError
                | ErrorCode::RequestLimitExceeded
        ),
        _ => false,
    }
}

/// Whether the server refused a batch for good: sending it again cannot succeed (a
/// param conflict, a deleted or missing run, a malformed value). Authentication and
/// permission errors are not: a refreshed credential makes the same batch go through.
pub fn refused_for_good(e: &Error) -> bool {
    match e {
        Error::Mlflow { code, .. } => matches!(
            code,
            ErrorCode::ResourceDoesNotExist
                | ErrorCode::ResourceAlreadyExists
                | ErrorCode::InvalidParameterValue
                | ErrorCode::InvalidState
                | ErrorCode::BadRequest
        ),
        Error::InvalidArgument(_) => true,
        _ => false,
    }
}

fn batch_line(metrics: &[Metric], params: &[Param], tags: &[RunTag]) -> String {
    let ms: Vec<Value> = metrics
        .iter()
        .map(|m| json!([m.key, super::rest::value_json(m.value), m.timestamp, m.step]))
        .collect();
    let ps: Vec<Value> = params.iter().map(|p| json!([p.key, p.value])).collect();
    let ts: Vec<Value> = tags.iter().map(|t| json!([t.key, t.value])).collect();
    let mut s = json!({"m": ms, "p": ps, "t": ts}).to_string();
    s.push('\n');
    s
}

type Batch = (Vec<Metric>, Vec<Param>, Vec<RunTag>);

fn parse_line(line: &str) -> Option<Batch> {
    let v: Value = serde_json::from_str(line).ok()?;
    let num = |x: &Value| -> Option<f64> {
        match x {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                _ => None,
            },
            _ => None,
        }
    };
    let mut ms = Vec::new();
    for m in v.get("m")?.as_array()? {
        ms.push(Metric {
            key: m.get(0)?.as_str()?.to_string(),
            value: num(m.get(1)?)?,
            timestamp: m.get(2)?.as_i64()?,
            step: m.get(3)?.as_i64()?,
        });
    }
    let kv = |k: &str| -> Option<Vec<(String, String)>> {
        v.get(k)?
            .as_array()?
            .iter()
            .map(|p| {
                Some((
                    p.get(0)?.as_str()?.to_string(),
                    p.get(1)?.as_str()?.to_string(),
                ))
            })
            .collect()
    };
    let ps = kv("p")?
        .into_iter()
        .map(|(k, v)| Param::new(k, v))
        .collect();
    let ts = kv("t")?
        .into_iter()
        .map(|(k, v)| RunTag::new(k, v))
        .collect();
    Some((ms, ps, ts))
}

impl Run {
    /// Starts a run in `experiment_id`.
    pub fn start(tracker: Arc<dyn Tracker>, experiment_id: &str, opts: RunOptions) -> Result<Run> {
        let info = tracker.create_run(&CreateRun {
            experiment_id: experiment_id.to_string(),
            run_name: opts.run_name.clone(),
            start_time: Some(now_millis()),
            tags: opts.tags.clone(),
            parent_run_id: opts.parent_run_id.clone(),
            user_id: None,
        })?;
        Ok(Run::attach(tracker, info, opts))
    }

    /// Starts a run in the experiment named `experiment`, creating it when missing.
    pub fn start_in(tracker: Arc<dyn Tracker>, experiment: &str, opts: RunOptions) -> Result<Run> {
        let id = tracker.get_or_create_experiment(experiment)?;
        Run::start(tracker, &id, opts)
    }

    /// Wraps an existing run (for example one whose spool was left behind by a crashed
    /// process: the first flush sends it).
    pub fn attach(tracker: Arc<dyn Tracker>, info: RunInfo, opts: RunOptions) -> Run {
        let remote = tracker.uri().starts_with("http");
        let spool = opts
            .spool_dir
            .clone()
            .or_else(|| remote.then(|| std::env::temp_dir().join("mlops-spool")))
            .map(|d| d.join(format!("{}.jsonl", info.run_id)));
        Run {
            tracker,
            info,
            state: Mutex::new(State {
                metrics: Vec::with_capacity(opts.batch_size.min(100_000)),
                last_flush: Instant::now(),
                ended: false,
                down_until: None,
                stats: SpoolStats::default(),
            }),
            opts,
            spool,
        }
    }

    /// Starts a nested run under this one (same experiment, tracker and options).
    pub fn child(&self, name: &str) -> Result<Run> {
        let opts = RunOptions {
            run_name: Some(name.to_string()),
            parent_run_id: Some(self.info.run_id.clone()),
            tags: Vec::new(),
            ..self.opts.clone()
        };
        Run::start(self.tracker.clone(), &self.info.experiment_id, opts)
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.info.run_id
    }

    /// The run's id as the lineage type (what packages and model versions record).
    pub fn run_id(&self) -> crate::RunId {
        crate::RunId(self.info.run_id.clone())
    }

    /// The run's info as it was at start.
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// The tracker the run logs to.
    pub fn tracker(&self) -> &Arc<dyn Tracker> {
        &self.tracker
    }

    /// The spool file, when the run has one.
    pub fn spool_path(&self) -> Option<&std::path::Path> {
        self.spool.as_deref()
    }

    /// The dead-letter file next to the spool (`<run_id>.dead.jsonl`), when the run has
    /// a spool.
    pub fn dead_letter_path(&self) -> Option<PathBuf> {
        self.spool
            .as_ref()
            .map(|p| p.with_file_name(format!("{}.dead.jsonl", self.info.run_id)))
    }

    /// What the spool replay set aside so far.
    pub fn spool_stats(&self) -> SpoolStats {
        self.lock().stats
    }

    /// Metric points buffered in memory, not yet sent or spooled.
    pub fn buffered(&self) -> usize {
        self.lock().metrics.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Logs a point at the current time. Cheap: buffered.
    pub fn log_metric(&self, key: &str, value: f64, step: i64) -> Result<()> {
        self.log_metric_at(key, value, step, now_millis())
    }

    /// Logs a point with an explicit timestamp (ms since the epoch).
    pub fn log_metric_at(&self, key: &str, value: f64, step: i64, timestamp: i64) -> Result<()> {
        let mut st = self.lock();
        if st.metrics.last().is_none_or(|m| m.key != key) {
            super::validate_key("metric", key)?;
        }
        st.metrics.push(Metric {
            key: key.to_string(),
            value,
            timestamp,
            step,
        });
        let due = st.metrics.len() >= self.opts.batch_size
            || st.last_flush.elapsed() >= self.opts.flush_interval;
        if due && let Err(mut e) = self.flush_locked(&mut st) {
            if let Error::Undelivered { source, points, .. } = &mut e
                && matches!(**source, Error::SpoolFull { .. })
            {
                // The point that did not fit is refused (the error says so), not kept.
                st.metrics.pop();
                *points = st.metrics.len();
            }
            return Err(e);
        }
        Ok(())
    }

    /// Logs several points of one step at the current time.
    pub fn log_metrics(&self, values: &[(&str, f64)], step: i64) -> Result<()> {
        let ts = now_millis();
        for (k, v) in values {
            self.log_metric_at(k, *v, step, ts)?;
        }
        Ok(())
    }

    /// Logs a param (sent at once: a conflicting value is reported here).
    pub fn log_param(&self, key: &str, value: impl ToString) -> Result<()> {
        self.log_params(&[Param::new(key, value.to_string())])
    }

    /// Logs several params at once.
    pub fn log_params(&self, params: &[Param]) -> Result<()> {
        validate_batch(&[], params, &[])?;
        let mut st = self.lock();
        self.deliver(&mut st, &[], params, &[]).map_err(|(e, _)| e)
    }

    /// Sets a tag (sent at once).
    pub fn set_tag(&self, key: &str, value: impl ToString) -> Result<()> {
        let t = [RunTag::new(key, value.to_string())];
        validate_batch(&[], &[], &t)?;
        let mut st = self.lock();
        self.deliver(&mut st, &[], &[], &t).map_err(|(e, _)| e)
    }

    /// Uploads a file or a directory under `artifact_path`.
    pub fn log_artifact(&self, local: &std::path::Path, artifact_path: Option<&str>) -> Result<()> {
        self.tracker
            .log_artifact(&self.info.run_id, local, artifact_path)
    }

    /// Sends (or spools) everything buffered. On error the points not delivered stay
    /// buffered and the error is [`Error::Undelivered`] with their count.
    pub fn flush(&self) -> Result<()> {
        let mut st = self.lock();
        self.flush_locked(&mut st)
    }

    fn flush_locked(&self, st: &mut State) -> Result<()> {
        st.last_flush = Instant::now();
        if st.metrics.is_empty() && !self.spool_pending() {
            return Ok(());
        }
        let metrics = std::mem::take(&mut st.metrics);
        match self.deliver(st, &metrics, &[], &[]) {
            Ok(()) => Ok(()),
            Err((e, mut unsent)) => {
                // Not accepted anywhere: keep the points, in order, for the next attempt.
                unsent.append(&mut st.metrics);
                st.metrics = unsent;
                Err(Error::Undelivered {
                    run_id: self.info.run_id.clone(),
                    points: st.metrics.len(),
                    source: Box::new(e),
                })
            }
        }
    }

    fn spool_pending(&self) -> bool {
        self.spool
            .as_ref()
            .and_then(|p| fs::metadata(p).ok())
            .is_some_and(|m| m.len() > 0)
    }

    /// Sends a batch after whatever is spooled; spools it when the server is away. On
    /// error, returns the metric points that were neither sent nor spooled.
    fn deliver(
        &self,
        st: &mut State,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> std::result::Result<(), Undelivered> {
        let empty = metrics.is_empty() && params.is_empty() && tags.is_empty();
        let all = || metrics.to_vec();
        let Some(spool) = &self.spool else {
            if empty {
                return Ok(());
            }
            return self
                .tracker
                .log_batch(&self.info.run_id, metrics, params, tags)
                .map_err(|e| (e, all()));
        };
        let down = st.down_until.is_some_and(|t| Instant::now() < t);
        if !down {
            match self.drain_spool(st, spool) {
                Ok(()) => {
                    st.down_until = None;
                    if empty {
                        return Ok(());
                    }
                    if params.is_empty() && tags.is_empty() {
                        return match self.send_parallel(metrics) {
                            Sent::All => Ok(()),
                            Sent::Transient(unsent) => {
                                tracing::warn!(run = %self.info.run_id, "server unreachable: spooling");
                                st.down_until = Some(Instant::now() + Duration::from_secs(1));
                                self.spool_batch(st, spool, &unsent, &[], &[])
                                    .map_err(|e| (e, unsent))
                            }
                            Sent::Failed(e, unsent) => Err((e, unsent)),
                        };
                    }
                    match self
                        .tracker
                        .log_batch(&self.info.run_id, metrics, params, tags)
                    {
                        Ok(()) => return Ok(()),
                        Err(e) if transient(&e) => {
                            tracing::warn!(run = %self.info.run_id, error = %e, "server unreachable: spooling");
                        }
                        Err(e) => return Err((e, all())),
                    }
                }
                Err(e) if transient(&e) => {
                    tracing::debug!(run = %self.info.run_id, error = %e, "spool not drained");
                }
                Err(e) => return Err((e, all())),
            }
            st.down_until = Some(Instant::now() + Duration::from_secs(1));
        }
        if empty {
            return Ok(());
        }
        self.spool_batch(st, spool, metrics, params, tags)
            .map_err(|e| (e, all()))
    }

    /// Sends metrics in MLflow-sized chunks over up to `parallel_requests` requests at
    /// once. Chunks are sent group by group; after a group with a failure no further
    /// group is sent, so what did not arrive is exactly the failed chunks and the rest.
    fn send_parallel(&self, metrics: &[Metric]) -> Sent {
        let chunks: Vec<&[Metric]> = metrics.chunks(super::MAX_METRICS_PER_BATCH).collect();
        let width = self.opts.parallel_requests.max(1);
        let mut unsent = Vec::new();
        let mut failure = None;
        for group in chunks.chunks(width) {
            if failure.is_some() {
                // A refusal stops the flush: the rest stays buffered with the error.
                for c in group {
                    unsent.extend_from_slice(c);
                }
                continue;
            }
            let results: Vec<Result<()>> = if group.len() == 1 {
                vec![
                    self.tracker
                        .log_batch(&self.info.run_id, group[0], &[], &[]),
                ]
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> = group
                        .iter()
                        .map(|c| {
                            s.spawn(move || self.tracker.log_batch(&self.info.run_id, c, &[], &[]))
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(Error::InvalidArgument("log-batch sender panicked".into()))
                            })
                        })
                        .collect()
                })
            };
            for (chunk, r) in group.iter().zip(results) {
                match r {
                    Ok(()) => {}
                    Err(e) if transient(&e) => unsent.extend_from_slice(chunk),
                    Err(e) => {
                        unsent.extend_from_slice(chunk);
                        if failure.is_none() {
                            failure = Some(e);
                        }
                    }
                }
            }
        }
        match failure {
            Some(e) => Sent::Failed(e, unsent),
            None if unsent.is_empty() => Sent::All,
            None => Sent::Transient(unsent),
        }
    }

    fn spool_batch(
        &self,
        st: &mut State,
        spool: &std::path::Path,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        let line = batch_line(metrics, params, tags);
        if cut_torn_tail(spool)? {
            st.stats.torn_lines_dropped += 1;
        }
        let size = fs::metadata(spool).map(|m| m.len()).unwrap_or(0);
        if size + line.len() as u64 > self.opts.spool_max_bytes {
            return Err(Error::SpoolFull {
                path: spool.to_path_buf(),
                bytes: size,
            });
        }
        if let Some(dir) = spool.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(spool)
            .map_err(|e| Error::io(spool, e))?;
        f.write_all(line.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(spool, e))
    }

    /// Sends the spooled batches in order; what could not be sent stays spooled. A
    /// batch refused for good goes to the dead-letter file; a torn last line is dropped
    /// and counted; any other unreadable line stops the replay with an error.
    fn drain_spool(&self, st: &mut State, spool: &std::path::Path) -> Result<()> {
        let bytes = match fs::read(spool) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(spool, e)),
        };
        if bytes.is_empty() {
            return Ok(());
        }
        let complete = bytes.ends_with(b"\n");
        let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        if complete {
            lines.pop();
        }
        let mut batches: Vec<(&str, Batch)> = Vec::with_capacity(lines.len());
        let mut torn = false;
        for (i, raw) in lines.iter().enumerate() {
            let parsed = std::str::from_utf8(raw)
                .ok()
                .and_then(|l| parse_line(l).map(|b| (l, b)));
            match parsed {
                Some(b) => batches.push(b),
                None if i + 1 == lines.len() && !complete => torn = true,
                None => {
                    return Err(Error::Malformed {
                        path: spool.to_path_buf(),
                        problem: format!(
                            "line {} is not a spooled batch (only a torn last line may be \
                             dropped); the spool is left as it is",
                            i + 1
                        ),
                    });
                }
            }
        }
        if torn {
            tracing::warn!(spool = %spool.display(), "torn last spool line (a crash mid-write) dropped");
            st.stats.torn_lines_dropped += 1;
            let keep: String = batches.iter().map(|(l, _)| format!("{l}\n")).collect();
            crate::fs::write_atomic(spool, keep.as_bytes())?;
        }
        for (n, (line, (m, p, t))) in batches.iter().enumerate() {
            match self.tracker.log_batch(&self.info.run_id, m, p, t) {
                Ok(()) => {}
                Err(e) if refused_for_good(&e) => {
                    self.dead_letter(line, &e)?;
                    st.stats.dead_lettered += 1;
                    tracing::error!(
                        run = %self.info.run_id, error = %e, points = m.len(),
                        "spooled batch refused for good: moved to the dead-letter file"
                    );
                }
                Err(e) => {
                    let rest: String = batches[n..].iter().map(|(l, _)| format!("{l}\n")).collect();
                    crate::fs::write_atomic(spool, rest.as_bytes())?;
                    return Err(e);
                }
            }
        }
        match fs::remove_file(spool) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(spool, e)),
        }
    }

    /// Appends a refused batch with the reason to the dead-letter file.
    fn dead_letter(&self, line: &str, e: &Error) -> Result<()> {
        let Some(path) = self.dead_letter_path() else {
            return Ok(());
        };
        let batch: Value = serde_json::from_str(line).map_err(|source| Error::Json {
            context: format!("spooled batch of run {}", self.info.run_id),
            source,
        })?;
        let mut entry = json!({"reason": e.to_string(), "batch": batch}).to_string();
        entry.push('\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.write_all(entry.as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| Error::io(&path, e))
    }

    /// Flushes and ends the run as FINISHED.
    pub fn end(self) -> Result<()> {
        self.end_with(RunStatus::Finished)
    }

    /// Flushes and ends the run with `status`. On error the run stays open (and is
    /// ended FAILED on drop); what was logged stays spooled.
    pub fn end_with(self, status: RunStatus) -> Result<()> {
        self.finish(status)
    }

    fn finish(&self, status: RunStatus) -> Result<()> {
        let mut st = self.lock();
        if st.ended {
            return Ok(());
        }
        st.down_until = None;
        self.flush_locked(&mut st)?;
        if self.spool_pending() {
            return Err(Error::Unreachable {
                endpoint: "runs/log-batch".into(),
                attempts: 0,
                message: "spooled points could not be sent yet; the run stays open".into(),
            });
        }
        self.tracker
            .update_run(&self.info.run_id, status, Some(now_millis()), None)?;
        st.ended = true;
        Ok(())
    }
}

/// How a `send_parallel` ended.
enum Sent {
    /// Every point arrived.
    All,
    /// These points failed transiently (to spool).
    Transient(Vec<Metric>),
    /// A refusal: the error and every point that did not arrive.
    Failed(Error, Vec<Metric>),
}

/// Cuts a torn last line (no newline: a writer killed mid-append) off the spool, so the
/// next append does not glue onto it. Returns whether it cut one.
fn cut_torn_tail(spool: &std::path::Path) -> Result<bool> {
    let bytes = match fs::read(spool) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(spool, e)),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(false);
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    tracing::warn!(spool = %spool.display(), bytes = bytes.len() - keep, "torn last spool line cut before appending");
    crate::fs::write_atomic(spool, &bytes[..keep])?;
    Ok(true)
}

impl Drop for Run {
    fn drop(&mut self) {
        let ended = self.lock().ended;
        if !ended && let Err(e) = self.finish(RunStatus::Failed) {
            tracing::warn!(run = %self.info.run_id, error = %e, "run dropped without end() could not be closed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_lines_round_trip() {
        let ms = vec![
            Metric::new("a", f64::NAN, 1, 2),
            Metric::new("b/c", f64::NEG_INFINITY, 3, -4),
            Metric::new("d", 0.1, 5, 6),
        ];
        let line = batch_line(&ms, &[Param::new("p", "v")], &[RunTag::new("t", "x\ny")]);
        let (m, p, t) = parse_line(line.trim_end()).unwrap();
        assert_eq!(m, ms);
        assert_eq!(p, vec![Param::new("p", "v")]);
        assert_eq!(t, vec![RunTag::new("t", "x\ny")]);
        assert!(parse_line("{\"m\":[[\"a\"").is_none());
    }
}
