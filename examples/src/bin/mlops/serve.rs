//! `mlops serve MODEL_URI`: serve a registered model (or a package directory) over
//! MLflow's scoring protocol and KServe's V2 protocol, with optional canary and shadow
//! variants, until SIGINT/SIGTERM; then drain in-flight requests and exit.
//!
//! The registry is the one `--tracking-uri` names, else `MLFLOW_REGISTRY_URI`, else
//! `MLFLOW_TRACKING_URI`, else `./mlruns`. The first line on stdout is
//! `listening on http://HOST:PORT`, so a script can start it on port 0 and read the
//! address.
//!
//! With `--labels-file`, `POST /labels` appends delayed labels to that file (JSON lines,
//! `mlops_deploy::label_log`). With `--monitor-window N` (and `--log-dir`), a monitor
//! thread follows the inference log (and the labels file) in windows of N rows against
//! the stable model's training data, and its `mlops_monitor_*` gauges are on the same
//! `/metrics` page.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use mlops_core::{registry_from_env, registry_from_uri};
use mlops_deploy::monitor::follow::{FollowConfig, Follower, MonitorThread};
use mlops_deploy::monitor::gauges::MonitorGauges;
use mlops_deploy::{
    LogConfig, ModelServer, Monitor, MonitorConfig, Reference, ReferenceOptions, ServedModel,
    ServerConfig, StickyKey, WindowSpec,
};
use mlops_train::FlavorRegistry;

use crate::CmdResult;

/// The model server.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Serve a model: MLflow /invocations, KServe /v2, /metrics; Ctrl-C drains and stops.
    Serve {
        /// `models:/NAME@ALIAS`, `models:/NAME/VERSION`, or a package directory.
        model_uri: String,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Port (0: any free port; the address is printed).
        #[arg(long, default_value_t = 5000)]
        port: u16,
        /// A second model that gets `--canary-weight` of the traffic.
        #[arg(long)]
        canary: Option<String>,
        /// Share of traffic for the canary, in [0, 1].
        #[arg(long, default_value_t = 0.1, requires = "canary")]
        canary_weight: f64,
        /// A model that gets a copy of every request (answers logged, never returned).
        #[arg(long)]
        shadow: Option<String>,
        /// Write the inference log (Parquet segments) to this directory.
        #[arg(long)]
        log_dir: Option<PathBuf>,
        /// Keep each user on one variant by hashing this request header.
        #[arg(long, conflicts_with = "sticky_field")]
        sticky_header: Option<String>,
        /// Keep each user on one variant by hashing this input field (first row).
        #[arg(long)]
        sticky_field: Option<String>,
        /// Requests served at once; more are answered 503 with Retry-After.
        #[arg(long, default_value_t = 1024)]
        max_in_flight: usize,
        /// Largest request body in bytes.
        #[arg(long, default_value_t = 16 << 20)]
        max_body_bytes: usize,
        /// Most rows per request.
        #[arg(long, default_value_t = 100_000)]
        max_rows: usize,
        /// Runtime worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Registry location: a path, a file: URI or an http(s):// MLflow server
        /// (default: MLFLOW_REGISTRY_URI, MLFLOW_TRACKING_URI, ./mlruns).
        #[arg(long)]
        tracking_uri: Option<String>,
        /// Accept delayed labels on POST /labels and append them to this file (JSON
        /// lines; `mlops monitor --labels` reads it).
        #[arg(long)]
        labels_file: Option<PathBuf>,
        /// Monitor the inference log in windows of this many rows against the stable
        /// model's training data and show the mlops_monitor_* gauges (drift, quality
        /// from --labels-file) on /metrics (needs --log-dir and a models:/ URI).
        #[arg(long, requires = "log_dir")]
        monitor_window: Option<u64>,
        /// Poll interval of --monitor-window, ms.
        #[arg(long, default_value_t = 1000)]
        monitor_interval_ms: u64,
    },
}

/// Runs `mlops serve`.
pub fn run(cmd: Cmd) -> CmdResult {
    let Cmd::Serve {
        model_uri,
        host,
        port,
        canary,
        canary_weight,
        shadow,
        log_dir,
        sticky_header,
        sticky_field,
        max_in_flight,
        max_body_bytes,
        max_rows,
        workers,
        tracking_uri,
        labels_file,
        monitor_window,
        monitor_interval_ms,
    } = cmd;
    if monitor_window.is_some() && !model_uri.starts_with("models:/") {
        return Err("--monitor-window needs a models:/ URI (the training data is found through the registry)".into());
    }
    let needs_registry = [Some(&model_uri), canary.as_ref(), shadow.as_ref()]
        .into_iter()
        .flatten()
        .any(|u| u.starts_with("models:/"));
    let registry = if needs_registry {
        Some(match &tracking_uri {
            Some(u) => registry_from_uri(u)?,
            None => registry_from_env()?,
        })
    } else {
        None
    };
    let flavors = FlavorRegistry::new();
    let load = |spec: &str| ServedModel::load(spec, registry.as_deref(), &flavors);
    let stable = load(&model_uri)?;
    let config = ServerConfig {
        addr: SocketAddr::new(host, port),
        max_in_flight,
        max_body_bytes,
        max_rows,
        workers,
        sticky: sticky_header
            .map(StickyKey::Header)
            .or(sticky_field.map(StickyKey::Field)),
        log: log_dir.clone().map(LogConfig::new),
        labels: labels_file.clone(),
        ..ServerConfig::default()
    };
    let server = ModelServer::start(config, stable)?;
    let monitor = match (monitor_window, &log_dir, &registry) {
        (Some(rows), Some(dir), Some(registry)) => {
            let reference = Reference::from_registry(
                registry.as_ref(),
                &model_uri.parse()?,
                &ReferenceOptions::default(),
            )?;
            let monitor = Monitor::new(
                reference,
                MonitorConfig {
                    window: WindowSpec::rows(rows),
                    keep_predictions: labels_file.is_some(),
                    ..MonitorConfig::default()
                },
            )?;
            let gauges = MonitorGauges::new();
            server.register_metrics(|r| gauges.register(r));
            let mut follow = FollowConfig::new(dir.clone());
            follow.labels = labels_file.clone();
            follow.interval = std::time::Duration::from_millis(monitor_interval_ms.max(10));
            follow.gauges = Some(gauges);
            Some(MonitorThread::start(Follower::new(monitor, follow))?)
        }
        _ => None,
    };
    if let Some(c) = &canary {
        server.set_variant("canary", load(c)?, canary_weight)?;
    }
    if let Some(s) = &shadow {
        server.set_shadow(Some(load(s)?))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", server.url())?;
    for v in server.variants() {
        writeln!(
            out,
            "  {:<8} {} version {} (weight {:.3})",
            v.name, v.model, v.version, v.weight
        )?;
    }
    out.flush()?;
    drop(out);
    server.wait_for_signal()?;
    eprintln!("signal received: draining in-flight requests");
    server.shutdown()?;
    if let Some(m) = monitor {
        let report = m.stop()?;
        eprintln!("monitor: {} windows", report.windows.len());
    }
    eprintln!("stopped");
    Ok(ExitCode::SUCCESS)
}
