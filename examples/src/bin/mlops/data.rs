//! `mlops infer`, `mlops validate`, `mlops profile`, `mlops contract-diff`,
//! `mlops snapshot`: the data checks a CI job runs.
//!
//! DATA is a CSV or Parquet file (by extension). Validation and profiles scan the file
//! lazily, so large files stream.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use mlops_core::ArtifactStore;
use mlops_data::{Contract, Dataset, Profile, ProfileOptions, ValidateOptions};

use crate::CmdResult;

/// Data subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Propose a contract from data (JSON on stdout, or TOML with --toml).
    Infer {
        /// CSV or Parquet file.
        data: PathBuf,
        /// Print TOML instead of JSON.
        #[arg(long)]
        toml: bool,
    },
    /// Validate data against a contract: exit 0 valid, 1 invalid, 2 error.
    Validate {
        /// The contract (.json, or .toml).
        #[arg(long)]
        contract: PathBuf,
        /// CSV or Parquet file.
        data: PathBuf,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Failing rows sampled per failed check.
        #[arg(long, default_value_t = 10)]
        sample: usize,
    },
    /// Profile data (streams the file): a table, or JSON with --json.
    Profile {
        /// CSV or Parquet file.
        data: PathBuf,
        /// Print JSON (per column under `columns.NAME`).
        #[arg(long)]
        json: bool,
        /// Print the full mergeable profile (with sketches) instead of the summary.
        #[arg(long, requires = "json")]
        full: bool,
    },
    /// Compare two contracts: exit 0 compatible, 1 breaking, 2 error.
    ContractDiff {
        /// The old contract.
        old: PathBuf,
        /// The new contract.
        new: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Store a canonical Parquet snapshot in an artifact store; prints its DatasetRef.
    Snapshot {
        /// CSV or Parquet file.
        data: PathBuf,
        /// Artifact store directory.
        #[arg(long)]
        store: PathBuf,
        /// A human name for the ref.
        #[arg(long)]
        name: Option<String>,
    },
}

/// Runs a data subcommand.
pub fn run(cmd: Cmd) -> CmdResult {
    match cmd {
        Cmd::Infer { data, toml } => {
            let df = mlops_data::read_frame(&data)?;
            let contract = Contract::infer(&df)?;
            if toml {
                print!("{}", contract.to_toml()?);
            } else {
                println!("{}", contract.to_json()?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Validate {
            contract,
            data,
            json,
            sample,
        } => {
            let contract = Contract::load(&contract)?;
            let lf = mlops_data::scan_frame(&data)?;
            let report = contract.validate_lazy(
                lf,
                &ValidateOptions {
                    sample_size: sample,
                    streaming: true,
                },
            )?;
            if json {
                println!("{}", report.to_json()?);
            } else {
                print!("{}", report.to_table());
            }
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Profile { data, json, full } => {
            let profile = Profile::of_path(&data, &ProfileOptions::default())?;
            if json && full {
                println!("{}", profile.to_json()?);
            } else if json {
                println!("{}", serde_json::to_string_pretty(&profile.summary())?);
            } else {
                print!("{}", summary_table(&profile));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::ContractDiff { old, new, json } => {
            let diff = Contract::diff(&Contract::load(&old)?, &Contract::load(&new)?);
            if json {
                println!("{}", serde_json::to_string_pretty(&diff)?);
            } else if diff.is_empty() {
                println!("no changes");
            } else {
                for c in &diff.changes {
                    println!(
                        "{:<10} {:<20} {}",
                        if c.breaking { "BREAKING" } else { "compatible" },
                        c.column.as_deref().unwrap_or("-"),
                        c.description
                    );
                }
            }
            Ok(if diff.is_breaking() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Snapshot { data, store, name } => {
            let df = mlops_data::read_frame(&data)?;
            let store = ArtifactStore::new(store)?;
            let r = Dataset::snapshot_named(&df, &store, name.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.6}")).unwrap_or_else(|| "-".into())
}

fn summary_table(profile: &Profile) -> String {
    let s = profile.summary();
    let mut out = format!("{} rows\n", s.rows);
    out.push_str(&format!(
        "{:<20} {:<8} {:>10} {:>8} {:>8} {:>14} {:>14} {:>14} {:>14} {:>14} {:>10}\n",
        "column",
        "dtype",
        "count",
        "nulls",
        "nan/inf",
        "mean",
        "std",
        "min",
        "median",
        "max",
        "distinct"
    ));
    for (name, c) in &s.columns {
        out.push_str(&format!(
            "{:<20} {:<8} {:>10} {:>8} {:>8} {:>14} {:>14} {:>14} {:>14} {:>14} {:>10}\n",
            name,
            c.dtype,
            c.count,
            c.null_count,
            c.nan_count + c.inf_count,
            fmt_opt(c.mean),
            fmt_opt(c.std),
            fmt_opt(c.min),
            fmt_opt(c.quantiles.get("0.5").copied()),
            fmt_opt(c.max),
            c.distinct
        ));
    }
    out
}
