//! `mlops sync --from URI --to URI` and `mlops runs list EXPERIMENT`: move runs between
//! tracking stores and look at them.
//!
//! URIs are MLflow's: `file:./mlruns` or a bare path for the local store,
//! `http(s)://host:port` for a server (credentials from `MLFLOW_TRACKING_USERNAME`/
//! `PASSWORD` or `MLFLOW_TRACKING_TOKEN`). Without `--tracking-uri`, `runs list` uses
//! `MLFLOW_TRACKING_URI`, else `./mlruns`.

use std::process::ExitCode;

use clap::Subcommand;
use mlops_core::tracking::{SearchRuns, SyncOptions, sync, tracker_from_env, tracker_from_uri};

use crate::CmdResult;

/// Tracking-store subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Copy experiments and runs (params, metric history, tags, artifacts) from one
    /// tracking store to another; runs copied before are skipped.
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
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a store subcommand.
pub fn run(cmd: Cmd) -> CmdResult {
    match cmd {
        Cmd::Sync {
            from,
            to,
            experiments,
            skip_artifacts,
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
                "synced {} -> {}: {} experiments created, {} runs copied, {} already there, {} metric points, {} artifact files",
                src.uri(),
                dst.uri(),
                r.experiments_created,
                r.runs_copied,
                r.runs_skipped,
                r.metric_points,
                r.artifact_files
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Runs(RunsCmd::List {
            experiment,
            tracking_uri,
            filter,
            order_by,
            max,
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
            if !json {
                println!(
                    "{:<32}  {:<24}  {:<8}  {:>14}  metrics",
                    "run_id", "name", "status", "start_time"
                );
            }
            for r in &page.runs {
                if json {
                    println!("{}", serde_json::to_string(r)?);
                    continue;
                }
                let metrics: Vec<String> = r
                    .data
                    .metrics
                    .values()
                    .map(|m| format!("{}={}", m.key, m.value))
                    .collect();
                println!(
                    "{:<32}  {:<24}  {:<8}  {:>14}  {}",
                    r.info.run_id,
                    r.info.run_name,
                    r.info.status,
                    r.info.start_time.unwrap_or(0),
                    metrics.join(" ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
