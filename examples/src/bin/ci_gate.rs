//! `ci_gate`: what a CI job runs on every push, as one program with an exit code.
//!
//! 1. validates the training data against the data contract kept in git
//!    (`examples/data/winequality.contract.json`): a broken column stops the job before
//!    any training (exit 2);
//! 2. trains a short candidate (logistic regression) and evaluates it on a seeded,
//!    stratified hold-out;
//! 3. evaluates the current champion (`models:/NAME@champion`) on the same rows and
//!    gates the candidate with the policy kept in git (`examples/data/gate-policy.json`:
//!    thresholds, no significant regression by DeLong and McNemar, contract passed, size
//!    and latency limits);
//! 4. logs the run (tagged with the commit it was built from, `GITHUB_SHA` or
//!    `GIT_COMMIT`) and, when the gate passed, registers the version. The first version
//!    of a model becomes `champion`; later ones get alias `candidate`, and the CD stage
//!    (`mlops rollout start`, a canary judged by statistics) decides whether they
//!    replace the champion.
//!
//! Exit codes: 0 passed (registered), 1 the gate failed, 2 the data broke its contract,
//! 3 any other error. `examples/pipeline/ci.yml` shows it as a GitHub Actions job.
//!
//! ```text
//! cargo run --release -p mlops-examples --bin ci_gate [-- --data FILE --model NAME]
//! ```
//!
//! It runs on `./mlruns` (or the store in `MLFLOW_TRACKING_URI`, an MLflow server
//! included) with no other set-up.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mlops_train::core::AliasChange;
use mlops_train::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/winequality-red.parquet");
const CONTRACT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/winequality.contract.json"
);
const POLICY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/gate-policy.json");

/// The CI gate: contract, training, evaluation, gate against the champion, exit code.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Training data (Parquet or CSV) with the contract's columns and the label `good`.
    #[arg(long, default_value = DATA)]
    data: PathBuf,
    /// The data contract (JSON) the data must hold.
    #[arg(long, default_value = CONTRACT)]
    contract: PathBuf,
    /// The gate policy (JSON).
    #[arg(long, default_value = POLICY)]
    policy: PathBuf,
    /// Registered model name.
    #[arg(long, default_value = "wine-ci")]
    model: String,
    #[command(flatten)]
    verbosity: mlops_examples::Verbosity,
}

/// Why the job stopped, as the exit code says.
enum Stop {
    Contract(String),
    Error(Box<dyn std::error::Error>),
}

impl<E: std::error::Error + 'static> From<E> for Stop {
    fn from(e: E) -> Stop {
        Stop::Error(Box::new(e))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    mlops_examples::init_logging(args.verbosity);
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Stop::Contract(why)) => {
            eprintln!("ci_gate: the data broke its contract, nothing was trained:\n{why}");
            ExitCode::from(2)
        }
        Err(Stop::Error(e)) => {
            eprintln!("ci_gate: {e}");
            ExitCode::from(3)
        }
    }
}

fn run(args: &Args) -> Result<bool, Stop> {
    let (tracker, registry) = (tracker_from_env()?, registry_from_env()?);
    // 1. The data against the contract in git.
    let df = read_frame(&args.data)?;
    let contract = Contract::from_json(&std::fs::read_to_string(&args.contract)?)?;
    let report = contract.validate(&df)?;
    println!(
        "data      {} rows, contract {}",
        df.height(),
        if report.is_ok() { "held" } else { "BROKEN" }
    );
    if !report.is_ok() {
        return Err(Stop::Contract(report.to_table()));
    }
    let data = Dataset::snapshot(&df, registry.artifact_store())?;
    // 2. A short training and its evaluation on a seeded, stratified hold-out.
    let parts = train_test_split(&df, &SplitOptions::new(0.25, 7))?;
    let config = TrainConfig {
        features: FeatureSpec::all_numeric_standardized(&df, &["quality", "good"]),
        target: TargetSpec::classification("good"),
        algorithm: Algorithm::logistic(),
        seed: 7,
    };
    let model = train(&parts.train, &config)?;
    let mut candidate = evaluate(&model, &parts.test)?.with_contract(&report);
    let (p50, p99) = mlops_train::measure_latency(&model, &parts.test, 100)?;
    (
        candidate.model.latency_p50_ms,
        candidate.model.latency_p99_ms,
    ) = (Some(p50), Some(p99));
    // 3. The champion on the same rows, and the gate in git.
    let champion_uri: ModelUri = format!("models:/{}@champion", args.model).parse()?;
    let champion = match load_model_if_exists(registry.as_ref(), &champion_uri)? {
        Some(m) => Some(evaluate(m.as_ref(), &parts.test)?),
        None => None,
    };
    let gate = Gate::from_json(&std::fs::read_to_string(&args.policy)?)?;
    let decision = gate.check(&candidate, champion.as_ref());
    print!("{decision}");
    // 4. The run, tagged with the commit; the version when the gate passed.
    let run = Run::start_in(tracker, "ci-gate", RunOptions::named("ci"))?;
    if let Some(sha) = ["GITHUB_SHA", "GIT_COMMIT"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    {
        run.set_tag("mlflow.source.git.commit", sha)?;
    }
    run.log_params(&config.params())?;
    candidate.log_to(&run)?;
    run.set_tag("mlops.gate.passed", decision.passed)?;
    let lineage = Lineage::now(vec![data], Some(run.run_id()));
    let package = ModelPackage::new(&model, candidate.metrics.clone(), lineage)?;
    package.log_to(&run, registry.artifact_store())?;
    if decision.passed {
        let alias = if champion.is_none() {
            "champion"
        } else {
            "candidate"
        };
        let why = AliasChange::new(format!("ci gate passed (run {})", run.run_id()));
        let v = package.register(registry.as_ref(), &args.model, Some((alias, why)))?;
        println!(
            "gate      passed: registered models:/{}/{} as @{alias}",
            args.model, v.version
        );
    } else {
        println!("gate      FAILED: nothing registered");
    }
    run.end()?;
    Ok(decision.passed)
}
