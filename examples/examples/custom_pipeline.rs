//! A pipeline an application writes itself, on one dependency (`mlops-train`, which
//! re-exports the crates below): load Parquet, validate, train, evaluate, gate against
//! the champion, log, register. Run it twice: the second run is gated against the first.
//!
//! `cargo run -p mlops-examples --example custom_pipeline` writes to `./mlruns`, or to
//! the store or MLflow server in `MLFLOW_TRACKING_URI`.

use mlops_train::prelude::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/winequality-red.parquet");
const CONTRACT: &str = include_str!("../data/winequality.contract.json");
const MODEL: &str = "wine-custom";
const CHAMPION: &str = "models:/wine-custom@champion";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (tracker, registry) = (tracker_from_env()?, registry_from_env()?);
    // Data: load, check against the contract, snapshot, split.
    let df = read_frame(DATA)?;
    let report = Contract::from_json(CONTRACT)?.validate(&df)?;
    let data = Dataset::snapshot(&df, registry.artifact_store())?;
    let parts = train_test_split(&df, &SplitOptions::new(0.25, 7))?;
    // Train a candidate; evaluate it and the champion (if any) on the same rows.
    let config = TrainConfig {
        features: FeatureSpec::all_numeric_standardized(&df, &["quality", "good"]),
        target: TargetSpec::classification("good"),
        algorithm: Algorithm::forest(40, Some(8)),
        seed: 7,
    };
    let model = train(&parts.train, &config)?;
    let candidate = evaluate(&model, &parts.test)?.with_contract(&report);
    let champion = match load_model_if_exists(registry.as_ref(), &CHAMPION.parse()?)? {
        Some(m) => Some(evaluate(m.as_ref(), &parts.test)?),
        None => None,
    };
    // Gate: the data held its contract, the model is good, and no worse than the champion.
    let decision = Gate::all([
        Gate::contract_passed(),
        Gate::at_least("roc_auc_score", 0.75)?,
        Gate::no_regression("roc_auc_score", RegressionTest::Delong, 0.05)?,
    ])
    .check(&candidate, champion.as_ref());
    print!("{decision}");
    // Log the run (params, metrics, evaluation, package); register when the gate passed.
    let run = Run::start_in(tracker, "custom-pipeline", RunOptions::named("forest"))?;
    run.log_params(&config.params())?;
    candidate.log_to(&run)?;
    let lineage = Lineage::now(vec![data], Some(run.run_id()));
    let package = ModelPackage::new(&model, candidate.metrics.clone(), lineage)?;
    package.log_to(&run, registry.artifact_store())?;
    if decision.passed {
        let promote = AliasChange::new(format!("gate passed (run {})", run.run_id()));
        let v = package.register(registry.as_ref(), MODEL, Some(("champion", promote)))?;
        println!("registered models:/{MODEL}/{}, alias champion", v.version);
    }
    run.end()?;
    Ok(())
}
