//! `mlops drift`: compare current data with reference data, column by column.
//!
//! Exit codes: 0 no dataset drift, 1 dataset drift (or a column whose change is itself
//! drift: missing or renamed, numbers arriving as text, all null/NaN), 2 an error
//! stopped the work (unreadable input, an empty current file, a column that could not
//! be compared, nothing testable). The JSON says per column why it was not tested
//! (`issue`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mlops_data::{
    ColumnIssue, DriftConfig, DriftReport, DriftVerdict, Method, drift_report, read_frame,
};

use crate::CmdResult;

/// Drift subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Compare current data with reference data (CSV or Parquet): exit 0 no dataset
    /// drift, 1 dataset drift or a column changed beyond comparison (missing, text
    /// instead of numbers, all NaN), 2 error (empty current file, untestable column).
    Drift(DriftArgs),
}

/// Arguments of `mlops drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Reference data (the training data), CSV or Parquet.
    #[arg(long)]
    reference: PathBuf,
    /// Current data (the live data), CSV or Parquet.
    #[arg(long)]
    current: PathBuf,
    /// Method for every column (Evidently's names: ks, wasserstein, psi, kl_div,
    /// jensenshannon, hellinger, chisquare, chi2_contingency, z, t_test, mannw,
    /// anderson, cramer_von_mises, ed, tvd). Default: Evidently's rule per column.
    #[arg(long)]
    method: Option<String>,
    /// Method for one column, as COLUMN=METHOD (repeatable).
    #[arg(long = "column-method", value_name = "COL=M")]
    column_method: Vec<String>,
    /// Threshold for every column (default: each method's own).
    #[arg(long)]
    threshold: Option<f64>,
    /// Share of drifted columns at which the dataset drifts.
    #[arg(long, default_value_t = 0.5)]
    drift_share: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report to this file.
    #[arg(long, value_name = "OUT")]
    html: Option<PathBuf>,
}

/// One column in the command's JSON output.
#[derive(serde::Serialize)]
struct JsonColumn<'a> {
    column: &'a str,
    method: Option<&'static str>,
    statistic: Option<f64>,
    p_value: Option<f64>,
    threshold: Option<f64>,
    drifted: bool,
    n_reference: usize,
    n_current: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issue: Option<ColumnIssue>,
}

/// The command's JSON output.
#[derive(serde::Serialize)]
struct JsonOut<'a> {
    columns: Vec<JsonColumn<'a>>,
    drift_share: f64,
    dataset_drift: bool,
    verdict: DriftVerdict,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn to_json(report: &DriftReport) -> serde_json::Result<String> {
    let out = JsonOut {
        columns: report
            .columns
            .iter()
            .map(|c| JsonColumn {
                column: &c.column,
                method: c.method.map(|m| m.name()),
                statistic: finite(c.statistic),
                p_value: finite(c.p_value),
                threshold: c.threshold,
                drifted: c.drifted,
                n_reference: c.n_reference,
                n_current: c.n_current,
                error: c.error.as_deref(),
                issue: c.issue,
            })
            .collect(),
        drift_share: report.drift_share,
        dataset_drift: report.dataset_drift,
        verdict: report.verdict,
    };
    serde_json::to_string_pretty(&out)
}

/// Runs `mlops drift`.
pub fn run(cmd: Cmd) -> CmdResult {
    let Cmd::Drift(a) = cmd;
    let mut config = DriftConfig {
        drift_share: a.drift_share,
        threshold: a.threshold,
        ..DriftConfig::default()
    };
    if let Some(m) = &a.method {
        config.method = Some(m.parse::<Method>()?);
    }
    for cm in &a.column_method {
        let (col, m) = cm
            .split_once('=')
            .ok_or_else(|| format!("--column-method expects COLUMN=METHOD, got {cm:?}"))?;
        config
            .per_column_method
            .insert(col.to_string(), m.parse::<Method>()?);
    }
    let reference = read_frame(&a.reference)?;
    let current = read_frame(&a.current)?;
    let report = drift_report(&reference, &current, &config)?;
    if let Some(out) = &a.html {
        let title = format!(
            "Drift: {} vs {}",
            a.current.display(),
            a.reference.display()
        );
        mlops_core::fs::write_atomic(out, report.to_html(&title).as_bytes())?;
    }
    if a.json {
        println!("{}", to_json(&report)?);
    } else {
        print!("{}", report.to_table());
        let untested: Vec<String> = report
            .columns
            .iter()
            .filter(|c| c.issue.is_some_and(|i| i != ColumnIssue::NotTested))
            .map(|c| format!("{} ({})", c.column, c.error.as_deref().unwrap_or("")))
            .collect();
        if !untested.is_empty() {
            println!("not comparable: {}", untested.join("; "));
        }
        println!("verdict: {:?}", report.verdict);
    }
    Ok(ExitCode::from(report.verdict.exit_code()))
}
