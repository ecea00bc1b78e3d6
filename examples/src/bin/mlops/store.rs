//! `mlops sync --from URI --to URI` and `mlops runs list EXPERIMENT`: move runs and
//! registered models between stores and look at them.
//!
//! URIs are MLflow's: `file:./mlruns` or a bare path for the local store,
//! `http(s)://host:port` for a server (credentials from `MLFLOW_TRACKING_USERNAME`/
//! `PASSWORD` or `MLFLOW_TRACKING_TOKEN`). Without `--tracking-uri`, `runs list` uses
//! `MLFLOW_TRACKING_URI`, else `./mlruns`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;
use mlops_core::RunRecord;
use mlops_core::registry::sync_models;
use mlops_core::registry_from_uri;
use mlops_core::tracking::{SearchRuns, SyncOptions, sync, tracker_from_env, tracker_from_uri};

use crate::CmdResult;
use crate::table::{Align, Listing, clip, duration, num, utc_opt};

/// Tracking-store subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Copy experiments and runs (params, metric history, tags, artifacts), then
    /// registered models (versions with their verified packages, aliases) from one store
    /// to another; runs and versions copied before are skipped.
    Sync {
        /// Source store URI.
        #[arg(long)]
        from: String,
        /// Target store URI.
        #[arg(long)]
        to: String,
        /// Only this experiment (repeatable); all active experiments by default.
        #[arg(long = "experiment")]
        experiments: Vec<String>,
        /// Do not copy artifacts.
        #[arg(long)]
        skip_artifacts: bool,
        /// Only this registered model (repeatable); all models by default.
        #[arg(long = "model")]
        models: Vec<String>,
        /// Do not copy registered models.
        #[arg(long)]
        skip_models: bool,
    },
    /// Tracked runs.
    #[command(subcommand)]
    Runs(RunsCmd),
}

/// `mlops runs ...`
#[derive(Debug, Subcommand)]
pub enum RunsCmd {
    /// List the runs of an experiment (by name or id), newest first.
    List {
        /// Experiment name or id.
        experiment: String,
        /// Tracking URI (default: MLFLOW_TRACKING_URI, else ./mlruns).
        #[arg(long)]
        tracking_uri: Option<String>,
        /// MLflow filter, e.g. "metrics.acc > 0.9 and params.lr = '0.01'".
        #[arg(long, default_value = "")]
        filter: String,
        /// Order clause (repeatable), e.g. "metrics.acc DESC".
        #[arg(long)]
        order_by: Vec<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 100)]
        max: usize,
        /// Metric columns of the table, comma-separated (default: the 4 keys most runs
        /// have; `--metrics ''` for none).
        #[arg(long, value_delimiter = ',')]
        metrics: Option<Vec<String>>,
        /// Param columns of the table, comma-separated (default: none).
        #[arg(long, value_delimiter = ',')]
        params: Vec<String>,
        /// One JSON object per line (every metric and param, full precision) instead of a
        /// table.
        #[arg(long)]
        json: bool,
    },
}

/// How many metric columns `runs list` shows when `--metrics` is not given.
const DEFAULT_METRIC_COLUMNS: usize = 4;

/// The metric keys most runs have, most frequent first (ties by name), at most `n`.
fn common_metric_keys(runs: &[RunRecord], n: usize) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in runs {
        for k in r.data.metrics.keys() {
            *counts.entry(k.as_str()).or_default() += 1;
        }
    }
    let mut keys: Vec<(&str, usize)> = counts.into_iter().collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    keys.into_iter()
        .take(n)
        .map(|(k, _)| k.to_string())
        .collect()
}

/// The `runs list` table: id, name, status, start (UTC), duration, then the chosen
/// metrics (readable precision) and params; `-` where a run lacks one.
fn runs_table(runs: &[RunRecord], metrics: &[String], params: &[String]) -> Listing {
    let mut cols = vec![
        ("RUN ID", Align::Left),
        ("NAME", Align::Left),
        ("STATUS", Align::Left),
        ("START (UTC)", Align::Left),
        ("DURATION", Align::Right),
    ];
    cols.extend(metrics.iter().map(|m| (m.as_str(), Align::Right)));
    cols.extend(params.iter().map(|p| (p.as_str(), Align::Left)));
    let mut t = Listing::new(&cols);
    for r in runs {
        let mut row = vec![
            r.info.run_id.clone(),
            clip(&r.info.run_name, 32),
            r.info.status.to_string(),
            utc_opt(r.info.start_time),
            duration(r.info.start_time, r.info.end_time),
        ];
        row.extend(metrics.iter().map(|k| match r.data.metrics.get(k) {
            Some(m) => num(m.value),
            None => "-".into(),
        }));
        row.extend(params.iter().map(|k| match r.data.params.get(k) {
            Some(v) => clip(v, 24),
            None => "-".into(),
        }));
        t.row(row);
    }
    t
}

/// Runs a store subcommand.
pub fn run(cmd: Cmd) -> CmdResult {
    match cmd {
        Cmd::Sync {
            from,
            to,
            experiments,
            skip_artifacts,
            models,
            skip_models,
        } => {
            let src = tracker_from_uri(&from)?;
            let dst = tracker_from_uri(&to)?;
            let r = sync(
                src.as_ref(),
                dst.as_ref(),
                &SyncOptions {
                    experiments,
                    skip_artifacts,
                },
            )?;
            println!(
                "synced {} -> {}: {} experiments created, {} runs copied, {} already there, {} partial copies redone, {} metric points, {} artifact files",
                src.uri(),
                dst.uri(),
                r.experiments_created,
                r.runs_copied,
                r.runs_skipped,
                r.runs_redone,
                r.metric_points,
                r.artifact_files
            );
            if !skip_models {
                let m = sync_models(
                    registry_from_uri(&from)?.as_ref(),
                    registry_from_uri(&to)?.as_ref(),
                    &r.run_map,
                    &models,
                )?;
                println!(
                    "models: {} created, {} versions copied, {} already there, {} not copyable, {} aliases set",
                    m.models_created,
                    m.versions_copied,
                    m.versions_skipped,
                    m.versions_unsupported,
                    m.aliases_set
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Runs(RunsCmd::List {
            experiment,
            tracking_uri,
            filter,
            order_by,
            max,
            metrics,
            params,
            json,
        }) => {
            let t = match tracking_uri {
                Some(u) => tracker_from_uri(&u)?,
                None => tracker_from_env()?,
            };
            let exp = match t.get_experiment_by_name(&experiment)? {
                Some(e) => e,
                None => t.get_experiment(&experiment)?,
            };
            let mut q = SearchRuns::experiment(exp.experiment_id.clone())
                .filter(filter)
                .max_results(max.clamp(1, 50_000));
            q.order_by = order_by;
            let page = t.search_runs(&q)?;
            let stdout = std::io::stdout();
            let mut o = stdout.lock();
            if json {
                for r in &page.runs {
                    writeln!(o, "{}", serde_json::to_string(r)?)?;
                }
            } else {
                let metrics = match metrics {
                    Some(m) => m.into_iter().filter(|k| !k.is_empty()).collect(),
                    None => common_metric_keys(&page.runs, DEFAULT_METRIC_COLUMNS),
                };
                let params: Vec<String> = params.into_iter().filter(|k| !k.is_empty()).collect();
                let table = runs_table(&page.runs, &metrics, &params);
                if table.is_empty() {
                    writeln!(o, "(no runs in experiment {})", exp.name)?;
                } else {
                    table.print(&mut o)?;
                }
            }
            o.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
