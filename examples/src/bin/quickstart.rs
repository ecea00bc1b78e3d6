//! The quickstart: the main job of the workspace, the whole pipeline on real data.
//!
//! Run it twice. Each run:
//!
//! 1. loads the red winequality data (1599 rows, shipped inside linfa-datasets) and adds
//!    the label `good` (quality >= 6);
//! 2. validates it against the committed data contract
//!    `examples/data/winequality.contract.json` (`mlops_data::Contract`);
//! 3. snapshots it into the content-addressed store (`Dataset::snapshot`: canonical
//!    Parquet plus profile; the digest is the data's lineage);
//! 4. splits it (seeded, stratified by the label), trains a candidate: logistic regression when there is no
//!    champion yet, a random forest once there is one (the "improved algorithm");
//! 5. evaluates it, loads the current champion (`models:/winequality-good@champion`) and
//!    evaluates it on the same rows;
//! 6. gates the candidate (`examples/data/gate-policy.json`): thresholds, no significant
//!    regression (DeLong for ROC AUC, McNemar for accuracy), contract passed, size and
//!    latency limits;
//! 7. logs the run (params, metrics, dataset lineage, gate report, the model package),
//!    and when the gate passes registers a version and moves alias `champion`;
//! 8. verifies every object in the store and the audit log's hash chain.
//!
//! It runs on the embedded local store (`./mlruns`, or the path / `file:` URI in
//! `MLFLOW_TRACKING_URI`) and, unchanged, on a real MLflow server when
//! `MLFLOW_TRACKING_URI=http://...`. Run it with `cargo run -p mlops-examples --bin
//! quickstart`. The SDK's warnings go to stderr (`-v`/`-q`, `RUST_LOG`).

use std::process::ExitCode;

use mlops_core::{ModelUri, registry_from_env, tracker_from_env};
use mlops_data::{Contract, Dataset, SplitOptions, train_test_split};
use mlops_train::{
    Algorithm, ContractOutcome, FeatureSpec, Gate, TargetSpec, TargetTask, TrainConfig,
    TrainingJob, frame_from_matrix, train, train_tracked,
};
use polars::prelude::*;

const MODEL: &str = "winequality-good";
const EXPERIMENT: &str = "quickstart";
const CONTRACT: &str = include_str!("../../data/winequality.contract.json");
const POLICY: &str = include_str!("../../data/gate-policy.json");

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Red winequality from linfa-datasets, with `quality` (i64) and `good` (text label).
fn load_winequality() -> Res<DataFrame> {
    let ds = linfa_datasets::winequality();
    let mut df = frame_from_matrix(ds.feature_names(), ds.records.view())?;
    let q: Vec<i64> = ds.targets.iter().map(|&t| t as i64).collect();
    let good: Vec<&str> = q
        .iter()
        .map(|&t| if t >= 6 { "good" } else { "bad" })
        .collect();
    df.with_column(Column::new("quality".into(), q))?;
    df.with_column(Column::new("good".into(), good))?;
    Ok(df)
}

/// Validates the frame against the committed contract (one polars pass).
fn check_contract(df: &DataFrame) -> Res<(ContractOutcome, mlops_data::ValidationReport)> {
    let contract = Contract::from_json(CONTRACT)?;
    let report = contract.validate(df)?;
    Ok((ContractOutcome::from(&report), report))
}

fn run() -> Res<bool> {
    let tracker = tracker_from_env()?;
    let registry = registry_from_env()?;
    println!("mlops quickstart");
    println!("  tracking:  {}", tracker.uri());
    println!("  registry:  {}", registry.location());
    println!(
        "  store:     {}",
        registry.artifact_store().root().display()
    );

    // 1-3. Data: load, contract, snapshot.
    let df = load_winequality()?;
    let (contract, report) = check_contract(&df)?;
    println!(
        "  data:      winequality, {} rows x {} columns; contract {} ({} checks)",
        df.height(),
        df.width(),
        if contract.passed { "passed" } else { "FAILED" },
        report.checks
    );
    for f in &contract.failures {
        println!("    {f}");
    }
    let data_ref =
        Dataset::snapshot_named(&df, registry.artifact_store(), Some("winequality-red"))?;
    println!(
        "  snapshot:  {} ({} rows)",
        data_ref.digest.short(),
        data_ref.rows
    );

    // 4. Split and choose the candidate.
    let mut split = SplitOptions::new(0.25, 2026);
    split.stratify = Some("good".into());
    let parts = train_test_split(&df, &split)?;
    let (train_df, eval_df) = (parts.train, parts.test);
    let champion = registry.resolve(&ModelUri::Alias {
        name: MODEL.into(),
        alias: "champion".into(),
    });
    let algorithm = match &champion {
        Ok(v) => {
            println!(
                "  champion:  models:/{MODEL}/{} (alias champion)",
                v.version
            );
            Algorithm::forest(60, Some(10))
        }
        Err(_) => {
            println!("  champion:  none yet");
            Algorithm::logistic()
        }
    };
    let config = TrainConfig {
        features: FeatureSpec::all_numeric_standardized(&train_df, &["quality", "good"]),
        target: TargetSpec {
            column: "good".into(),
            task: TargetTask::Classification,
        },
        algorithm,
        seed: 7,
    };
    println!(
        "  candidate: {} on {} rows, evaluated on {}",
        config.algorithm.name(),
        train_df.height(),
        eval_df.height()
    );

    // 5-7. Train, evaluate, gate against the champion, log, register, promote.
    let model = train(&train_df, &config)?;
    let mut job = TrainingJob::for_config(EXPERIMENT, &config, &eval_df);
    job.run_name = format!("quickstart-{}", config.algorithm.name());
    job.datasets = vec![data_ref];
    job.contract = Some(contract);
    job.gate = Some(Gate::from_json(POLICY)?);
    job.model_name = Some(MODEL.into());
    job.latency_rows = 100;
    let out = train_tracked(&job, &model, tracker.clone(), Some(registry.as_ref()))?;

    println!("  run:       {}", out.run_id);
    for key in ["accuracy_score", "roc_auc_score", "f1_score", "log_loss"] {
        let c = out.evaluation.metric(key).unwrap_or(f64::NAN);
        match out.champion.as_ref().and_then(|e| e.metric(key)) {
            Some(h) => println!("    {key:<18} {c:.4}   (champion {h:.4})"),
            None => println!("    {key:<18} {c:.4}"),
        }
    }
    if let (Some(s), Some(l)) = (
        out.evaluation.model.size_bytes,
        out.evaluation.model.latency_p99_ms,
    ) {
        println!("    model size {s} bytes, single-row latency p99 {l:.3} ms");
    }
    print!("{}", indent(&out.gate.to_string()));
    match out.version {
        Some(v) => println!(
            "  registered models:/{MODEL}/{v}; alias champion -> {v}{}",
            out.champion_version
                .map(|c| format!(" (was {c})"))
                .unwrap_or_default()
        ),
        None if out.identical_to_champion => println!(
            "  not registered: the candidate is byte-identical to champion version {}",
            out.champion_version
                .map(|c| c.to_string())
                .unwrap_or("-".into())
        ),
        None => println!(
            "  not registered: the gate failed; champion stays at version {}",
            out.champion_version
                .map(|c| c.to_string())
                .unwrap_or("-".into())
        ),
    }

    // 8. Everything stored verifies; the audit chain is intact.
    let store = registry.artifact_store();
    let objects = store.list()?;
    for o in &objects {
        store.verify(o)?;
    }
    let audit = registry.audit_log();
    audit.append(
        "quickstart",
        "quickstart.run",
        out.run_id.as_str(),
        serde_json::json!({
            "gate": out.gate.passed,
            "version": out.version,
            "package": out.package.to_string(),
        }),
    )?;
    let v = audit.verify()?;
    // The package reads back as a directory, every file verified.
    let export = tempfile::tempdir()?;
    store.export_dir(&out.package, export.path())?;
    let files = std::fs::read_dir(export.path())
        .map(|d| d.count())
        .unwrap_or(0);
    println!(
        "  package {} exported: {files} entries (MLmodel, mlops-package.json, model/)",
        out.package.short()
    );
    println!("  verified {} objects in the store", objects.len());
    println!(
        "  audit log: {} records, chain valid, head {}",
        v.records,
        v.head.map(|h| h.short()).unwrap_or_default()
    );
    Ok(out.gate.passed)
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

/// The quickstart's flags: only how much it logs.
#[derive(Debug, clap::Parser)]
#[command(
    name = "quickstart",
    about = "The whole pipeline on the winequality data"
)]
struct Cli {
    #[command(flatten)]
    log: mlops_examples::Verbosity,
}

fn main() -> ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    mlops_examples::init_logging(cli.log);
    match run() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}
