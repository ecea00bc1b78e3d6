//! `mlops monitor` (windows of the inference log against the training data, triggers,
//! optionally the retrain loop) and `mlops dora` (delivery metrics).
//!
//! The registry is the one `--tracking-uri` names, else `MLFLOW_REGISTRY_URI`, else
//! `MLFLOW_TRACKING_URI`, else `./mlruns`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use mlops_core::{ModelUri, Registry, registry_from_env, registry_from_uri};
use mlops_deploy::monitor::follow::{FollowConfig, Follower};
use mlops_deploy::monitor::gauges::MonitorGauges;
use mlops_deploy::retrain::{CommandStep, PromoteNow, RetrainLoop, recent_labelled};
use mlops_deploy::{
    Monitor, MonitorConfig, Reference, ReferenceOptions, TriggerEngine, TriggerPolicy,
    WindowReport, WindowSpec,
};

use crate::CmdResult;

/// Monitoring subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Watch the inference log: drift, prediction drift, health and (with labels)
    /// quality per window against the model's training data; exit 1 when a trigger
    /// policy fires (one pass, without --follow).
    Monitor(Box<MonitorArgs>),
    /// Delivery metrics from the audit log and the registry: deployment frequency,
    /// lead time, change failure rate, time to restore.
    Dora {
        /// Registry location (default: MLFLOW_REGISTRY_URI, MLFLOW_TRACKING_URI, ./mlruns).
        #[arg(long)]
        tracking_uri: Option<String>,
        /// The alias that is "in production".
        #[arg(long, default_value = "champion")]
        alias: String,
        /// Only these models (repeatable; default: all).
        #[arg(long = "model")]
        models: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `mlops monitor` arguments.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    /// The server's inference-log directory (segment-*.parquet).
    #[arg(long)]
    log_dir: PathBuf,
    /// The model whose training data is the reference (models:/NAME@ALIAS or /VERSION).
    #[arg(long)]
    model: String,
    /// Delayed labels: Parquet or CSV with request_id, label and optionally row, or
    /// the JSON lines `mlops serve --labels-file` appends (POST /labels).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Window length in log rows (a request may carry several).
    #[arg(long, default_value_t = 10_000)]
    window: u64,
    /// Window length in milliseconds of request time instead of rows.
    #[arg(long, conflicts_with = "window")]
    window_ms: Option<u64>,
    /// Slide windows by this many rows (or ms); default: tumbling.
    #[arg(long)]
    step: Option<u64>,
    /// Drift from the raw training rows and window rows (exact) instead of profiles.
    #[arg(long)]
    exact: bool,
    /// Drift threshold for every feature (default: each method's own, as `mlops drift`).
    #[arg(long)]
    threshold: Option<f64>,
    /// Trigger policies (JSON list); default: dataset drift in one window.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Write the self-contained HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Keep watching the log (and the labels file) until interrupted: each complete
    /// window is printed once it closes, and again (same index, higher "revision")
    /// when late labels change its quality; never exits 1.
    #[arg(long)]
    follow: bool,
    /// Poll interval of --follow, ms.
    #[arg(long, default_value_t = 2000)]
    interval_ms: u64,
    /// Stop --follow after this many polls (for scripts and tests).
    #[arg(long, hide = true)]
    max_polls: Option<u64>,
    /// Write the monitor's Prometheus gauges (text format 0.0.4) to this file after
    /// every poll, for a node-exporter textfile collector or a quick look.
    #[arg(long)]
    metrics_file: Option<PathBuf>,
    /// Record firings in the registry's audit log (deduplicated by incident).
    #[arg(long)]
    record: bool,
    /// On a firing: run this program as the retrain step (prints a candidate as JSON),
    /// gate it with --gate against the champion on recent labelled rows, register it
    /// and promote it (implies --record).
    #[arg(long, requires = "gate")]
    retrain_cmd: Option<PathBuf>,
    /// Gate policy (JSON, as `mlops gate`) for --retrain-cmd.
    #[arg(long)]
    gate: Option<PathBuf>,
    /// Registry location (default: MLFLOW_REGISTRY_URI, MLFLOW_TRACKING_URI, ./mlruns).
    #[arg(long)]
    tracking_uri: Option<String>,
}

fn open_registry(uri: &Option<String>) -> Result<Box<dyn Registry>, mlops_core::Error> {
    match uri {
        Some(u) => registry_from_uri(u),
        None => registry_from_env(),
    }
}

/// Runs a monitoring subcommand.
pub fn run(cmd: Cmd) -> CmdResult {
    match cmd {
        Cmd::Monitor(a) => monitor(*a),
        Cmd::Dora {
            tracking_uri,
            alias,
            models,
            json,
        } => {
            let registry = open_registry(&tracking_uri)?;
            let tracker = match &tracking_uri {
                Some(u) => mlops_core::tracking::tracker_from_uri(u).ok(),
                None => mlops_core::tracking::tracker_from_env().ok(),
            };
            let report = mlops_deploy::dora::dora(
                registry.as_ref(),
                tracker.as_deref(),
                &alias,
                (!models.is_empty()).then_some(models.as_slice()),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.to_table());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_window(w: &WindowReport) {
    let acc = w
        .quality
        .as_ref()
        .and_then(|q| q.metric("accuracy"))
        .map(|m| {
            format!(
                "  accuracy {:.4} [{:.4}, {:.4}]",
                m.estimate.value,
                m.estimate.lower.unwrap_or(f64::NAN),
                m.estimate.upper.unwrap_or(f64::NAN)
            )
        })
        .unwrap_or_default();
    println!(
        "window {:>4}{} rows {:>8}  drift share {:.3}{}  errors {:.4}  p99 {}{}{}{}",
        w.index,
        if w.complete { " " } else { "*" },
        w.rows,
        w.drift.share,
        if w.shifts.covariate.drifted_columns.is_empty() {
            String::new()
        } else {
            format!(" ({})", w.shifts.covariate.drifted_columns.join(", "))
        },
        w.health.error_rate,
        w.health
            .latency_ms
            .map(|l| format!("{:.1} ms", l.p99))
            .unwrap_or_else(|| "-".into()),
        acc,
        w.shifts
            .concept
            .as_ref()
            .filter(|c| c.drifted)
            .map(|c| format!("  CONCEPT DRIFT (gap {:.3})", c.gap.value))
            .unwrap_or_default(),
        if w.revision > 0 {
            format!("  (late labels, revision {})", w.revision)
        } else {
            String::new()
        },
    );
}

fn monitor(a: MonitorArgs) -> CmdResult {
    let registry = open_registry(&a.tracking_uri)?;
    let uri: ModelUri = a.model.parse()?;
    let reference = Reference::from_registry(
        registry.as_ref(),
        &uri,
        &ReferenceOptions {
            exact: a.exact,
            ..ReferenceOptions::default()
        },
    )?;
    let mut window = match a.window_ms {
        Some(ms) => WindowSpec::millis(ms),
        None => WindowSpec::rows(a.window),
    };
    if let Some(s) = a.step {
        window = window.sliding(s);
    }
    let mut config = MonitorConfig {
        window,
        exact: a.exact,
        keep_predictions: a.labels.is_some(),
        ..MonitorConfig::default()
    };
    config.drift.threshold = a.threshold;
    let policies = match &a.policy {
        Some(p) => TriggerPolicy::list_from_json(
            &std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )?,
        None => vec![TriggerPolicy::dataset_drift(config.drift.drift_share)],
    };
    let engine = TriggerEngine::new(policies)?;
    let monitor = Monitor::new(reference, config)?;
    if let Some(p) = &a.labels
        && !a.follow
        && !p.exists()
    {
        return Err(format!("labels file {} not found", p.display()).into());
    }
    let gauges = MonitorGauges::new();
    let mut prom = prometheus_client::registry::Registry::default();
    gauges.register(&mut prom);
    let gate = match &a.gate {
        Some(p) => Some(mlops_train::Gate::from_json(
            &std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )?),
        None => None,
    };
    let model_name = match &uri {
        ModelUri::Alias { name, .. } => name.clone(),
        ModelUri::Version(v) => v.name.clone(),
    };
    let mut retrain = gate.map(|g| {
        let mut l = RetrainLoop::new(registry.as_ref(), &model_name, g);
        if let ModelUri::Alias { alias, .. } = &uri {
            l.champion_alias = alias.clone();
        }
        l
    });
    // The library's follower does each poll: the labels appended since the last one,
    // the new log rows, windows late labels changed, gauges, triggers, the report.
    let mut follow = FollowConfig::new(&a.log_dir);
    follow.labels = a.labels.clone();
    follow.gauges = Some(gauges.clone());
    follow.triggers = Some(engine);
    if !a.follow {
        // One pass over the log reports every window.
        follow.max_windows = usize::MAX;
    }
    let mut follower = Follower::new(monitor, follow);
    let record = a.record || a.retrain_cmd.is_some();
    let mut polls = 0u64;
    loop {
        let mut poll = follower.poll()?;
        if !a.follow {
            let last = follower.finish_poll()?;
            poll.windows.extend(last.windows);
            poll.fired.extend(last.fired);
        }
        if a.follow {
            for w in poll.windows.iter().chain(&poll.relabelled) {
                if a.json {
                    println!("{}", serde_json::to_string(w)?);
                } else {
                    print_window(w);
                }
            }
        }
        for f in &poll.fired {
            if a.follow && !a.json {
                println!("FIRED {}: {}", f.policy, f.reason);
            }
            if !record {
                continue;
            }
            match (&a.retrain_cmd, &mut retrain) {
                (Some(cmd), Some(l)) => {
                    let monitor = follower.monitor();
                    let log = mlops_deploy::inference_log::scan(&a.log_dir)?.collect()?;
                    let target = monitor_target(registry.as_ref(), &uri)?;
                    let recent = recent_labelled(
                        &log,
                        monitor.labels(),
                        &monitor.reference().features,
                        &target,
                        monitor.reference().quality.classes.is_empty(),
                        5000,
                    )?;
                    let mut step = CommandStep {
                        program: cmd.clone(),
                        args: Vec::new(),
                    };
                    let mut rollout = PromoteNow {
                        registry: registry.as_ref(),
                        alias: l.champion_alias.clone(),
                        actor: l.actor.clone(),
                    };
                    let outcome = l.on_fired(f, &recent, &mut step, &mut rollout)?;
                    eprintln!(
                        "retrain loop for {}: {}",
                        f.incident,
                        match (&outcome.stopped, outcome.version) {
                            (Some(why), _) => format!("stopped: {why}"),
                            (None, Some(v)) => format!("version {v} registered and rolled out"),
                            _ => "done".into(),
                        }
                    );
                }
                _ => record_firing(registry.as_ref(), &model_name, f)?,
            }
        }
        if let Some(p) = &a.metrics_file {
            let mut text = String::new();
            prometheus_client::encoding::prometheus_text::encode(&mut text, &prom)?;
            mlops_core::fs::write_atomic(p, text.as_bytes())?;
        }
        if let Some(p) = &a.html {
            let html = follower
                .report()
                .to_html(&format!("Monitoring {}", a.model));
            mlops_core::fs::write_atomic(p, html.as_bytes())?;
        }
        polls += 1;
        if !a.follow || a.max_polls.is_some_and(|m| polls >= m) {
            break;
        }
        std::thread::sleep(Duration::from_millis(a.interval_ms));
    }
    let report = follower.report();
    if !a.follow {
        if a.json {
            println!("{}", serde_json::to_string_pretty(report)?);
        } else {
            for w in &report.windows {
                print_window(w);
            }
            for f in &report.fired {
                println!("FIRED {}: {}", f.policy, f.reason);
            }
            if report.windows.is_empty() {
                println!("no rows in {}", a.log_dir.display());
            }
        }
    }
    Ok(if !a.follow && !report.fired.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn monitor_target(
    registry: &dyn Registry,
    uri: &ModelUri,
) -> Result<String, Box<dyn std::error::Error>> {
    let loaded = registry.load(uri)?;
    let pkg = mlops_train::ModelPackage::load(registry.artifact_store(), &loaded.package)?;
    Ok(pkg.manifest.signature.output.name)
}

/// Appends a `trigger.fired` record unless this incident is already recorded.
fn record_firing(
    registry: &dyn Registry,
    model: &str,
    f: &mlops_deploy::Fired,
) -> Result<(), Box<dyn std::error::Error>> {
    let audit = registry.audit_log();
    let seen = audit.records()?.iter().any(|r| {
        r.action == "trigger.fired"
            && r.payload.get("incident").and_then(|v| v.as_str()) == Some(f.incident.as_str())
            && r.payload.get("model").and_then(|v| v.as_str()) == Some(model)
    });
    if !seen {
        let mut payload = serde_json::to_value(f)?;
        if let Some(o) = payload.as_object_mut() {
            o.insert("model".into(), model.into());
        }
        audit.append(
            "mlops-monitor",
            "trigger.fired",
            &format!("models:/{model}"),
            payload,
        )?;
    }
    Ok(())
}
