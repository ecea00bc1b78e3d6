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
}

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
        if due && let Err(e) = self.flush_locked(&mut st) {
            if matches!(e, Error::SpoolFull { .. }) {
                // The point that did not fit is refused, not silently kept or lost.
                st.metrics.pop();
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
        self.deliver(&mut st, &[], params, &[])
    }

    /// Sets a tag (sent at once).
    pub fn set_tag(&self, key: &str, value: impl ToString) -> Result<()> {
        let t = [RunTag::new(key, value.to_string())];
        validate_batch(&[], &[], &t)?;
        let mut st = self.lock();
        self.deliver(&mut st, &[], &[], &t)
    }

    /// Uploads a file or a directory under `artifact_path`.
    pub fn log_artifact(&self, local: &std::path::Path, artifact_path: Option<&str>) -> Result<()> {
        self.tracker
            .log_artifact(&self.info.run_id, local, artifact_path)
    }

    /// Sends (or spools) everything buffered.
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
            Err(e) => {
                if matches!(e, Error::SpoolFull { .. } | Error::Unreachable { .. }) || transient(&e)
                {
                    // Not accepted anywhere: keep the points for the next attempt.
                    let mut back = metrics;
                    back.append(&mut st.metrics);
                    st.metrics = back;
                }
                Err(e)
            }
        }
    }

    fn spool_pending(&self) -> bool {
        self.spool
            .as_ref()
            .and_then(|p| fs::metadata(p).ok())
            .is_some_and(|m| m.len() > 0)
    }

    /// Sends a batch after whatever is spooled; spools it when the server is away.
    fn deliver(
        &self,
        st: &mut State,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        let empty = metrics.is_empty() && params.is_empty() && tags.is_empty();
        let Some(spool) = &self.spool else {
            if empty {
                return Ok(());
            }
            return self
                .tracker
                .log_batch(&self.info.run_id, metrics, params, tags);
        };
        let down = st.down_until.is_some_and(|t| Instant::now() < t);
        if !down {
            match self.drain_spool(spool) {
                Ok(()) => {
                    st.down_until = None;
                    if empty {
                        return Ok(());
                    }
                    if params.is_empty() && tags.is_empty() {
                        match self.send_parallel(metrics) {
                            Ok(None) => return Ok(()),
                            Ok(Some(unsent)) => {
                                tracing::warn!(run = %self.info.run_id, "server unreachable: spooling");
                                st.down_until = Some(Instant::now() + Duration::from_secs(1));
                                return self.spool_batch(spool, &unsent, &[], &[]);
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    match self
                        .tracker
                        .log_batch(&self.info.run_id, metrics, params, tags)
                    {
                        Ok(()) => return Ok(()),
                        Err(e) if transient(&e) => {
                            tracing::warn!(run = %self.info.run_id, error = %e, "server unreachable: spooling");
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) if transient(&e) => {
                    tracing::debug!(run = %self.info.run_id, error = %e, "spool not drained");
                }
                Err(e) => return Err(e),
            }
            st.down_until = Some(Instant::now() + Duration::from_secs(1));
        }
        if empty {
            return Ok(());
        }
        self.spool_batch(spool, metrics, params, tags)
    }

    /// Sends metrics in MLflow-sized chunks over up to `parallel_requests` requests at
    /// once. Returns the points of the chunks that failed transiently (to spool), or
    /// the first non-transient error.
    fn send_parallel(&self, metrics: &[Metric]) -> Result<Option<Vec<Metric>>> {
        let chunks: Vec<&[Metric]> = metrics.chunks(super::MAX_METRICS_PER_BATCH).collect();
        let width = self.opts.parallel_requests.max(1);
        let mut unsent = Vec::new();
        for group in chunks.chunks(width) {
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
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((!unsent.is_empty()).then_some(unsent))
    }

    fn spool_batch(
        &self,
        spool: &std::path::Path,
        metrics: &[Metric],
        params: &[Param],
        tags: &[RunTag],
    ) -> Result<()> {
        let line = batch_line(metrics, params, tags);
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

    /// Sends the spooled batches in order; what could not be sent stays spooled.
    fn drain_spool(&self, spool: &std::path::Path) -> Result<()> {
        let text = match fs::read_to_string(spool) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(spool, e)),
        };
        if text.is_empty() {
            return Ok(());
        }
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        for (n, line) in lines.iter().enumerate() {
            let Some((m, p, t)) = parse_line(line) else {
                // A torn last line (crash mid-append) was never acknowledged.
                tracing::warn!(spool = %spool.display(), line = n + 1, "unreadable spool line skipped");
                continue;
            };
            if let Err(e) = self.tracker.log_batch(&self.info.run_id, &m, &p, &t) {
                let rest: String = lines[n..].iter().map(|l| format!("{l}\n")).collect();
                crate::fs::write_atomic(spool, rest.as_bytes())?;
                return Err(e);
            }
        }
        match fs::remove_file(spool) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(spool, e)),
        }
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
