//! Following a live inference log: poll the log and the labels, report new windows,
//! update windows whose late labels arrived, feed gauges and triggers.
//!
//! [`Follower::poll`] is one step (what `mlops monitor --follow` does at every
//! interval): read what is new in the labels file ([`LabelsFile`]), read
//! the log rows not seen yet ([`Monitor::push_log`]), recompute windows that late
//! labels changed ([`Monitor::relabel`]), then set the gauges, feed the triggers and
//! keep the report. [`MonitorThread`] runs a follower on a thread of its own beside a
//! running model server, so the server's `/metrics` shows the monitor's gauges:
//!
//! ```no_run
//! # use mlops_deploy::monitor::follow::{Follower, FollowConfig, MonitorThread};
//! # use mlops_deploy::monitor::gauges::MonitorGauges;
//! // `server`: a running `ModelServer` logging to `log/`; `monitor`: a `Monitor` built
//! // from the model's training profile (`Reference::from_registry`).
//! fn watch(
//!     server: &mlops_deploy::ServerHandle,
//!     monitor: mlops_deploy::Monitor,
//! ) -> Result<(), Box<dyn std::error::Error>> {
//! let gauges = MonitorGauges::new();
//! server.register_metrics(|r| gauges.register(r));
//! let mut config = FollowConfig::new("log");
//! config.labels = Some("labels.jsonl".into()); // what POST /labels appends to
//! config.gauges = Some(gauges);
//! let thread = MonitorThread::start(Follower::new(monitor, config))?;
//! // ... traffic; scrape /metrics ...
//! let report = thread.stop()?; // one last poll, then the whole report
//! # let _ = report;
//! Ok(())
//! }
//! ```

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::gauges::MonitorGauges;
use super::quality::LabelsFile;
use super::{Monitor, MonitorReport, WindowReport};
use crate::trigger::{Fired, TriggerEngine};
use crate::{Error, Result};

/// What a [`Follower`] watches and feeds.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// The server's inference-log directory.
    pub log_dir: PathBuf,
    /// A labels file (Parquet, CSV or the JSON lines `POST /labels` appends), re-read
    /// when it changes; a missing file is no labels yet.
    pub labels: Option<PathBuf>,
    /// Time between polls of a [`MonitorThread`].
    pub interval: Duration,
    /// Gauges to set (register them into the server's `/metrics` first).
    pub gauges: Option<MonitorGauges>,
    /// Trigger policies to evaluate on every window.
    pub triggers: Option<TriggerEngine>,
    /// Most windows (and firings) the report keeps, the oldest dropped first, so a
    /// follow that runs for weeks holds bounded memory (default 1,000).
    pub max_windows: usize,
}

impl FollowConfig {
    /// Follows `log_dir` every second, no labels, gauges or triggers.
    pub fn new(log_dir: impl Into<PathBuf>) -> FollowConfig {
        FollowConfig {
            log_dir: log_dir.into(),
            labels: None,
            interval: Duration::from_secs(1),
            gauges: None,
            triggers: None,
            max_windows: 1_000,
        }
    }
}

/// What one poll found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Poll {
    /// Windows completed by the new log rows.
    pub windows: Vec<WindowReport>,
    /// Windows reported earlier whose quality late labels changed (higher revision).
    pub relabelled: Vec<WindowReport>,
    /// Triggers that fired on either.
    pub fired: Vec<Fired>,
}

/// A monitor following a log directory, poll by poll (see the module docs).
#[derive(Debug)]
pub struct Follower {
    monitor: Monitor,
    config: FollowConfig,
    labels: Option<LabelsFile>,
    report: MonitorReport,
}

impl Follower {
    /// A follower of `monitor` over `config`.
    pub fn new(monitor: Monitor, config: FollowConfig) -> Follower {
        let report = MonitorReport::new(&monitor);
        Follower {
            labels: config.labels.clone().map(LabelsFile::new),
            monitor,
            config,
            report,
        }
    }

    /// The monitor.
    pub fn monitor(&self) -> &Monitor {
        &self.monitor
    }

    /// The report so far: every window at its latest revision and every firing (the
    /// last [`FollowConfig::max_windows`] of each).
    pub fn report(&self) -> &MonitorReport {
        &self.report
    }

    /// The trigger engine's state, when there is one.
    pub fn triggers(&self) -> Option<&TriggerEngine> {
        self.config.triggers.as_ref()
    }

    /// Reads what is new in the labels file ([`LabelsFile::poll`]: only the appended
    /// lines of a JSON-lines file); returns whether anything was read.
    pub fn reload_labels(&mut self) -> Result<bool> {
        let Some(file) = &mut self.labels else {
            return Ok(false);
        };
        match file.poll()? {
            Some(labels) => {
                self.monitor.add_labels(&labels);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// One step: labels, new log rows, late-label updates, gauges, triggers, report.
    pub fn poll(&mut self) -> Result<Poll> {
        self.reload_labels()?;
        let windows = self.monitor.push_log(&self.config.log_dir)?;
        let relabelled = self.monitor.relabel()?;
        Ok(self.record(windows, relabelled))
    }

    /// Ends following: the open rows become a last partial window (as
    /// [`Monitor::finish`]); returns the whole report.
    pub fn finish(mut self) -> Result<MonitorReport> {
        self.finish_poll()?;
        Ok(self.report)
    }

    /// The last step of a follower that reads a log once: the open rows become a last
    /// partial window (as [`Monitor::finish`]), reported, fed and kept like a poll's.
    pub fn finish_poll(&mut self) -> Result<Poll> {
        let windows = self.monitor.finish()?;
        Ok(self.record(windows, Vec::new()))
    }

    fn record(&mut self, windows: Vec<WindowReport>, relabelled: Vec<WindowReport>) -> Poll {
        let model = self.monitor.reference().model.clone();
        let mut fired = Vec::new();
        let new = windows.iter().map(|w| (w, false));
        for (w, again) in new.chain(relabelled.iter().map(|w| (w, true))) {
            if let Some(g) = &self.config.gauges {
                if again {
                    g.observe_relabelled(&model, w);
                } else {
                    g.observe(&model, w);
                }
            }
            if let Some(t) = &mut self.config.triggers {
                fired.extend(if again {
                    t.observe_relabelled(w)
                } else {
                    t.observe(w)
                });
            }
            self.report.upsert(w.clone());
        }
        self.report.fired.extend(fired.iter().cloned());
        let keep = self.config.max_windows.max(1);
        if self.report.windows.len() > keep {
            let cut = self.report.windows.len() - keep;
            self.report.windows.drain(..cut);
        }
        if self.report.fired.len() > keep {
            let cut = self.report.fired.len() - keep;
            self.report.fired.drain(..cut);
        }
        self.report.late_rows = self.monitor.late_rows();
        Poll {
            windows,
            relabelled,
            fired,
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    report: Option<MonitorReport>,
    polls: u64,
    last_error: Option<String>,
}

/// A [`Follower`] polling on a thread of its own until [`MonitorThread::stop`].
///
/// A poll that fails (a segment being replaced, a labels file mid-rewrite) is logged
/// through `tracing`, kept as [`MonitorThread::last_error`], and tried again at the
/// next interval.
#[derive(Debug)]
pub struct MonitorThread {
    shared: Arc<Mutex<Shared>>,
    stop: Option<mpsc::Sender<()>>,
    join: Option<std::thread::JoinHandle<Result<MonitorReport>>>,
}

impl MonitorThread {
    /// Starts polling at once, then every `interval` of the follower's config.
    pub fn start(follower: Follower) -> Result<MonitorThread> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (tx, rx) = mpsc::channel::<()>();
        let state = shared.clone();
        let interval = follower.config.interval;
        let join = std::thread::Builder::new()
            .name("mlops-monitor".into())
            .spawn(move || {
                let mut f = follower;
                loop {
                    let outcome = f.poll();
                    {
                        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                        s.polls += 1;
                        match outcome {
                            Ok(p) => {
                                // Copied out only when it changed (it holds up to
                                // `max_windows` windows with their drift).
                                let changed = !p.windows.is_empty()
                                    || !p.relabelled.is_empty()
                                    || s.report
                                        .as_ref()
                                        .is_none_or(|r| r.late_rows != f.report().late_rows);
                                if changed {
                                    s.report = Some(f.report().clone());
                                }
                                s.last_error = None;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "monitor poll failed; retrying");
                                s.last_error = Some(e.to_string());
                            }
                        }
                    }
                    match rx.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                f.poll()?;
                Ok(f.report)
            })
            .map_err(|e| Error::Server(format!("cannot start the monitor thread: {e}")))?;
        Ok(MonitorThread {
            shared,
            stop: Some(tx),
            join: Some(join),
        })
    }

    /// The report as of the last successful poll (`None` before it).
    pub fn report(&self) -> Option<MonitorReport> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .report
            .clone()
    }

    /// Polls done so far.
    pub fn polls(&self) -> u64 {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).polls
    }

    /// The error of the last poll, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_error
            .clone()
    }

    /// Stops the thread after one last poll and returns the whole report (complete
    /// windows only: the rows after the last one stay unreported).
    pub fn stop(mut self) -> Result<MonitorReport> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<MonitorReport> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.join.take() {
            Some(j) => j
                .join()
                .map_err(|_| Error::Server("the monitor thread panicked".into()))?,
            None => Err(Error::Server("the monitor thread was stopped".into())),
        }
    }
}

impl Drop for MonitorThread {
    fn drop(&mut self) {
        if self.join.is_some()
            && let Err(e) = self.stop_inner()
        {
            tracing::warn!(error = %e, "monitor thread stopped with an error");
        }
    }
}
