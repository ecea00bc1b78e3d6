//! `mlops evaluate` and `mlops gate`: metrics for a file of predictions, and the gate
//! decision a CI job exits with.
//!
//! `evaluate` reads labels and scores or predictions that any tool produced (a model
//! built elsewhere, a batch-scoring job) and prints scikit-learn's metrics under
//! scikit-learn's function names; `--save` keeps the whole evaluation, per-row data
//! included, for `gate`, whose paired tests compare a candidate with a champion on the
//! same rows. Exit codes: `evaluate` 0 (2 on error); `gate` 0 pass, 1 fail, 2 error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use mlops_train::{Evaluation, Gate};
use serde_json::{Map, Value, json};

use crate::CmdResult;

/// Evaluation subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Metrics of a file of labels and scores/predictions (CSV or Parquet).
    Evaluate {
        /// The predictions file.
        #[arg(long)]
        predictions: PathBuf,
        /// Column of true labels (or targets).
        #[arg(long)]
        label: String,
        /// Column of positive-class probabilities (binary).
        #[arg(long)]
        score: Option<String>,
        /// Column of predicted labels (binary default: score >= 0.5).
        #[arg(long)]
        pred: Option<String>,
        /// Column whose values define groups (slices and fairness).
        #[arg(long)]
        group: Option<String>,
        /// The positive class (binary; default: the larger of the two labels).
        #[arg(long)]
        pos_label: Option<String>,
        /// The task (default: binary with --score, regression for a float label
        /// column, else classification).
        #[arg(long, value_enum, default_value_t = TaskArg::Auto)]
        task: TaskArg,
        /// Print JSON (scikit-learn function names as keys) instead of a table.
        #[arg(long)]
        json: bool,
        /// Also write the full evaluation (per-row data included) for `mlops gate`.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Decide with a gate policy: exit 0 pass, 1 fail.
    Gate {
        /// The candidate's evaluation (`mlops evaluate --save`).
        #[arg(long)]
        candidate: PathBuf,
        /// The champion's evaluation on the same rows.
        #[arg(long)]
        champion: Option<PathBuf>,
        /// The policy (a JSON gate, usually `{"gate": "all", "gates": [...]}`).
        #[arg(long)]
        policy: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The task of `mlops evaluate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    /// Decide from the columns.
    Auto,
    /// Two classes.
    Binary,
    /// Any number of classes.
    Classification,
    /// Real-valued targets.
    Regression,
}

/// Runs an evaluation subcommand.
pub fn run(cmd: Cmd) -> CmdResult {
    match cmd {
        Cmd::Evaluate {
            predictions,
            label,
            score,
            pred,
            group,
            pos_label,
            task,
            json,
            save,
        } => {
            let df = mlops_data::read_frame(&predictions)?;
            let mut e = evaluate_frame(
                &df,
                &label,
                score.as_deref(),
                pred.as_deref(),
                pos_label.as_deref(),
                task,
            )?;
            if let Some(g) = &group {
                let groups = text_column(&df, g)?
                    .into_iter()
                    .map(|v| v.unwrap_or_else(|| "null".into()))
                    .collect::<Vec<_>>();
                e = e.with_groups(&groups)?;
            }
            if let Some(path) = &save {
                write(path, e.to_json()?.as_bytes())?;
            }
            if json {
                out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&sklearn_json(&e))?
                ))?;
            } else {
                out(&e.to_string())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Gate {
            candidate,
            champion,
            policy,
            json,
        } => {
            let cand = Evaluation::from_json(&read(&candidate)?)?;
            let champ = match &champion {
                Some(p) => Some(Evaluation::from_json(&read(p)?)?),
                None => None,
            };
            let gate = Gate::from_json(&read(&policy)?)?;
            let report = gate.check(&cand, champ.as_ref());
            if json {
                out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
            } else {
                out(&report.to_string())?;
            }
            Ok(ExitCode::from(report.exit_code()))
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn out(text: &str) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn read(p: &Path) -> Result<String, Box<dyn std::error::Error>> {
    std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()).into())
}

fn write(p: &Path, bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    mlops_core::fs::write_atomic(p, bytes)?;
    Ok(())
}

fn text_column(
    df: &polars::prelude::DataFrame,
    col: &str,
) -> Result<Vec<Option<String>>, Box<dyn std::error::Error>> {
    use polars::prelude::DataType;
    let c = df
        .column(col)
        .map_err(|_| format!("column {col:?} is not in the file"))?;
    let c = c.cast(&DataType::String)?;
    Ok(c.as_materialized_series()
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn float_column(
    df: &polars::prelude::DataFrame,
    col: &str,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    use polars::prelude::DataType;
    let c = df
        .column(col)
        .map_err(|_| format!("column {col:?} is not in the file"))?;
    if !(c.dtype().is_primitive_numeric() || c.dtype().is_bool()) {
        return Err(format!("column {col:?} must be numeric, it is {}", c.dtype()).into());
    }
    let c = c.cast(&DataType::Float64)?;
    c.as_materialized_series()
        .f64()?
        .iter()
        .enumerate()
        .map(|(i, v)| v.ok_or_else(|| format!("column {col:?}: missing value at row {i}").into()))
        .collect()
}

/// Labels as text, sorted as classes (numerically when all are numbers).
fn classes_of(values: &[String]) -> Vec<String> {
    let mut v: Vec<String> = values.to_vec();
    v.sort();
    v.dedup();
    if v.iter().all(|s| s.parse::<f64>().is_ok()) {
        v.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
    }
    v
}

fn required(
    df: &polars::prelude::DataFrame,
    col: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    text_column(df, col)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.ok_or_else(|| format!("column {col:?}: missing value at row {i}").into()))
        .collect()
}

fn evaluate_frame(
    df: &polars::prelude::DataFrame,
    label: &str,
    score: Option<&str>,
    pred: Option<&str>,
    pos_label: Option<&str>,
    task: TaskArg,
) -> Result<Evaluation, Box<dyn std::error::Error>> {
    let label_dtype = df
        .column(label)
        .map_err(|_| format!("column {label:?} is not in the file"))?
        .dtype()
        .clone();
    let task = match task {
        TaskArg::Auto if score.is_some() => TaskArg::Binary,
        TaskArg::Auto if label_dtype.is_float() => TaskArg::Regression,
        TaskArg::Auto => TaskArg::Classification,
        t => t,
    };
    match task {
        TaskArg::Regression => {
            let p = pred.ok_or("regression needs --pred")?;
            Ok(Evaluation::regression(
                &float_column(df, label)?,
                &float_column(df, p)?,
            )?)
        }
        TaskArg::Binary => {
            let y = required(df, label)?;
            let classes = classes_of(&y);
            let pos = match pos_label {
                Some(p) => p.to_string(),
                None if classes.len() == 2 => classes[1].clone(),
                None if classes.len() == 1 && classes[0].parse::<f64>().is_ok() => "1".to_string(),
                None => {
                    return Err(format!(
                        "binary labels need exactly two values (found {}); name the positive one with --pos-label",
                        classes.len()
                    )
                    .into());
                }
            };
            let yt: Vec<bool> = y.iter().map(|v| *v == pos).collect();
            let s = match score {
                Some(c) => Some(float_column(df, c)?),
                None => None,
            };
            let yp: Option<Vec<bool>> = match pred {
                Some(c) => Some(required(df, c)?.iter().map(|v| *v == pos).collect()),
                None => None,
            };
            Ok(match (s, yp) {
                (Some(s), yp) => Evaluation::binary_scores(&yt, &s, yp.as_deref())?,
                (None, Some(yp)) => Evaluation::binary_labels(&yt, &yp)?,
                (None, None) => return Err("binary evaluation needs --score or --pred".into()),
            })
        }
        TaskArg::Classification | TaskArg::Auto => {
            let p = pred.ok_or("classification needs --pred (or --score for binary)")?;
            let y = required(df, label)?;
            let yp = required(df, p)?;
            let all: Vec<String> = y.iter().chain(&yp).cloned().collect();
            let classes = classes_of(&all);
            let idx = |v: &String| classes.iter().position(|c| c == v).unwrap_or(0);
            let yt: Vec<usize> = y.iter().map(idx).collect();
            let pp: Vec<usize> = yp.iter().map(idx).collect();
            if classes.len() < 2 {
                return Err("classification needs at least two distinct labels".into());
            }
            Ok(Evaluation::classification(&yt, &pp, None, &classes)?)
        }
    }
}

/// The JSON `mlops evaluate --json` prints: scikit-learn function names at the top,
/// per-group metrics under `groups.VALUE`, fairness under `fairness`.
fn sklearn_json(e: &Evaluation) -> Value {
    let mut top = Map::new();
    for (k, v) in &e.metrics {
        top.insert(k.clone(), json!(v));
    }
    for k in &e.undefined {
        top.insert(k.clone(), Value::Null);
    }
    top.insert("rows".into(), json!(e.rows));
    if let Some(cm) = &e.confusion_matrix {
        top.insert("confusion_matrix".into(), json!(cm.matrix));
    }
    if !e.groups.is_empty() {
        let mut g = Map::new();
        for (name, gm) in &e.groups {
            let mut m = Map::new();
            for (k, v) in &gm.metrics {
                m.insert(k.clone(), json!(v));
            }
            for k in &gm.undefined {
                m.insert(k.clone(), Value::Null);
            }
            m.insert("rows".into(), json!(gm.rows));
            g.insert(name.clone(), Value::Object(m));
        }
        top.insert("groups".into(), Value::Object(g));
    }
    if let Some(f) = &e.fairness {
        top.insert("fairness".into(), json!(f));
    }
    Value::Object(top)
}
