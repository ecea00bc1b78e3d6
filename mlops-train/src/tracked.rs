//! Tracked training: one call evaluates, gates, logs and registers a trained model.
//!
//! [`train_tracked`] is the step a training job runs once it has a model, from
//! [`train`](crate::train()) or from any other trainer (`&dyn Model`). It works with any
//! [`Tracker`] and any [`Registry`] (the local MLflow file store or a real MLflow
//! server), in this order, so that nothing is promoted that was not recorded first:
//!
//! 1. start a run; log the job's params and the model's hyper-parameters, the dataset
//!    lineage as tags;
//! 2. evaluate the model on the evaluation frame (with groups and the data-contract
//!    outcome when given), measure size and single-row latency;
//! 3. load the current champion (`models:/NAME@champion`, verified) and evaluate it on
//!    the *same* rows, so the gate's paired tests compare like with like;
//! 4. check the gate; log metrics, the evaluation and the gate report as artifacts;
//! 5. store the package content-addressed, log its files under the run's `model/`;
//! 6. only when the gate passes: register a version (package digest, run id, dataset
//!    digests as lineage) and move the champion alias, recording who and why; a
//!    candidate byte-identical to the champion (same data, config, seed) is not
//!    registered again.
//!
//! [`cross_validate`] and [`grid_search`] log each fold or trial as a child run.

use std::collections::BTreeMap;
use std::sync::Arc;

use mlops_core::registry::{AliasChange, Registry};
use mlops_core::tracking::{Param, Run, RunOptions, RunStatus, Tracker};
use mlops_core::{DatasetRef, Digest, ModelUri, RunId};
use polars::prelude::{DataFrame, IdxCa};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::evaluation::{ContractOutcome, Evaluation};
use crate::gate::{Gate, GateReport};
use crate::model::{Model, evaluate, measure_latency};
use crate::package::{FlavorRegistry, Lineage, ModelPackage, load_package};
use crate::train::{Algorithm, TrainConfig, flat_params, train};
use crate::{Error, Result};

/// What one tracked training job records and decides, besides the model itself.
#[derive(Debug, Clone)]
pub struct TrainingJob<'a> {
    /// Experiment name (created when missing).
    pub experiment: String,
    /// Run name.
    pub run_name: String,
    /// Parameters to log (e.g. [`TrainConfig::params`]); the model's
    /// hyper-parameters are logged as well, except keys already here.
    pub params: Vec<Param>,
    /// Evaluation rows (held out).
    pub eval: &'a DataFrame,
    /// Snapshots of the data (recorded as lineage).
    pub datasets: Vec<DatasetRef>,
    /// Column of `eval` whose values define groups for slices and fairness.
    pub group_column: Option<String>,
    /// Outcome of the data contract on the data, when checked.
    pub contract: Option<ContractOutcome>,
    /// The gate policy (none: always passes).
    pub gate: Option<Gate>,
    /// Registered model name; `None` evaluates and logs without registering.
    pub model_name: Option<String>,
    /// The alias that names the current champion (default `champion`).
    pub champion_alias: String,
    /// Rows used to measure single-row latency (0: not measured).
    pub latency_rows: usize,
    /// Loaders for the champion's flavor (default: the built-in flavors).
    pub flavors: FlavorRegistry,
}

impl<'a> TrainingJob<'a> {
    /// A job with defaults: run name `train`, no params, no groups, no contract, no
    /// gate, not registered, alias `champion`, latency over 50 rows.
    pub fn new(experiment: &str, eval: &'a DataFrame) -> Self {
        TrainingJob {
            experiment: experiment.to_string(),
            run_name: "train".to_string(),
            params: Vec::new(),
            eval,
            datasets: Vec::new(),
            group_column: None,
            contract: None,
            gate: None,
            model_name: None,
            champion_alias: "champion".to_string(),
            latency_rows: 50,
            flavors: FlavorRegistry::new(),
        }
    }

    /// A job for a model trained from `config`: its params logged, the run named
    /// `train-<algorithm>`.
    pub fn for_config(experiment: &str, config: &TrainConfig, eval: &'a DataFrame) -> Self {
        let mut job = TrainingJob::new(experiment, eval);
        job.run_name = format!("train-{}", config.algorithm.name());
        job.params = config.params();
        job
    }
}

/// What a tracked training job did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainingOutcome {
    /// The run.
    pub run_id: RunId,
    /// The candidate's evaluation.
    pub evaluation: Evaluation,
    /// The champion's evaluation on the same rows, when there was a champion.
    pub champion: Option<Evaluation>,
    /// The champion's version before this job.
    pub champion_version: Option<u64>,
    /// The gate's decision.
    pub gate: GateReport,
    /// The package id in the registry's (or a scratch) artifact store.
    pub package: Digest,
    /// The registered version, when the gate passed and a model name was given.
    pub version: Option<u64>,
    /// Whether the champion alias now points at the new version.
    pub promoted: bool,
    /// The candidate's payload is byte-identical to the champion's (same data, config
    /// and seed): nothing new is registered.
    pub identical_to_champion: bool,
}

fn log_metrics(run: &Run, metrics: &[(String, f64)], step: i64) -> Result<()> {
    let refs: Vec<(&str, f64)> = metrics.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    Ok(run.log_metrics(&refs, step)?)
}

/// The values of `column` as group names (any type as text, null as `"null"`): what
/// [`Evaluation::with_groups`] takes for per-group gates.
pub fn group_values(df: &DataFrame, column: &str) -> Result<Vec<String>> {
    let v = crate::features::text_values(df, column)?;
    Ok(v.into_iter()
        .map(|g| g.unwrap_or_else(|| "null".to_string()))
        .collect())
}

/// Evaluates `model` on `frame` with the job's groups, contract and latency.
fn full_evaluation(model: &dyn Model, job: &TrainingJob<'_>) -> Result<Evaluation> {
    let mut e = evaluate(model, job.eval)?;
    if let Some(g) = &job.group_column {
        e = e.with_groups(&group_values(job.eval, g)?)?;
    }
    e.contract = job.contract.clone();
    if job.latency_rows > 0 {
        let (p50, p99) = measure_latency(model, job.eval, job.latency_rows)?;
        e.model.latency_p50_ms = Some(p50);
        e.model.latency_p99_ms = Some(p99);
    }
    Ok(e)
}

/// Evaluates, gates, logs and (when the gate passes) registers and promotes `model`,
/// trained by [`train`](crate::train()) or by any other trainer. See the module docs for
/// the order of steps. A failure marks the run FAILED with the error as a tag.
pub fn train_tracked(
    job: &TrainingJob<'_>,
    model: &dyn Model,
    tracker: Arc<dyn Tracker>,
    registry: Option<&dyn Registry>,
) -> Result<TrainingOutcome> {
    let run = Run::start_in(tracker, &job.experiment, RunOptions::named(&job.run_name))?;
    match run_job(job, model, &run, registry) {
        Ok(o) => {
            run.end()?;
            Ok(o)
        }
        Err(e) => {
            let _ = run.set_tag("mlops.error", e.to_string());
            let _ = run.end_with(RunStatus::Failed);
            Err(e)
        }
    }
}

fn run_job(
    job: &TrainingJob<'_>,
    model: &dyn Model,
    run: &Run,
    registry: Option<&dyn Registry>,
) -> Result<TrainingOutcome> {
    let run_id = run.run_id();
    let hyperparameters = model.hyperparameters();
    let mut params = job.params.clone();
    for p in flat_params(&hyperparameters) {
        if !params.iter().any(|q| q.key == p.key) {
            params.push(p);
        }
    }
    run.log_params(&params)?;
    run.set_tag("mlops.flavor", model.flavor())?;
    run.set_tag("mlops.hyperparameters", hyperparameters.to_string())?;
    for (i, d) in job.datasets.iter().enumerate() {
        run.set_tag(
            &format!("mlops.dataset.{i}"),
            format!(
                "{}{}",
                d.name
                    .as_deref()
                    .map(|n| format!("{n}@"))
                    .unwrap_or_default(),
                d.digest
            ),
        )?;
    }
    run.set_tag("mlops.eval_rows", job.eval.height())?;

    let evaluation = full_evaluation(model, job)?;

    // The champion, evaluated on the same rows.
    let mut champion_payload = None;
    let (champion, champion_version) = match (registry, &job.model_name) {
        (Some(reg), Some(name)) => {
            let uri = ModelUri::Alias {
                name: name.clone(),
                alias: job.champion_alias.clone(),
            };
            match load_package(reg, &uri) {
                Ok((version, pkg)) => {
                    champion_payload = Some(pkg.manifest.payload.digest);
                    let m = pkg.model(&job.flavors)?;
                    (
                        Some(full_evaluation(m.as_ref(), job)?),
                        Some(version.version),
                    )
                }
                Err(e) if e.is_not_found() => (None, None),
                Err(e) => return Err(e),
            }
        }
        _ => (None, None),
    };

    let gate = job
        .gate
        .clone()
        .unwrap_or(Gate::All { gates: Vec::new() })
        .check(&evaluation, champion.as_ref());

    evaluation.log_to(run)?;
    if let Some(c) = &champion {
        c.log_metrics_to(run, "champion.")?;
    }
    run.set_tag("mlops.gate", if gate.passed { "passed" } else { "failed" })?;
    let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let gate_json = scratch.path().join("gate.json");
    mlops_core::fs::write_atomic(
        &gate_json,
        &serde_json::to_vec_pretty(&gate).map_err(|e| Error::json("gate report", e))?,
    )?;
    run.log_artifact(&gate_json, None)?;

    // Package: stored content-addressed, and logged as the run's `model/` artifacts.
    let lineage = Lineage::now(job.datasets.clone(), Some(run_id.clone()));
    let pkg = ModelPackage::new(model, evaluation.metrics.clone(), lineage)?;
    let store = match registry {
        Some(r) => r.artifact_store().clone(),
        None => mlops_core::ArtifactStore::new(scratch.path().join("store"))?,
    };
    let package = pkg.log_to(run, &store)?;

    let mut version = None;
    let mut promoted = false;
    let identical = champion_payload == Some(pkg.manifest.payload.digest);
    if identical {
        run.set_tag("mlops.identical_to_champion", "true")?;
    }
    if let (true, false, Some(reg), Some(name)) =
        (gate.passed, identical, registry, &job.model_name)
    {
        let reason = match champion_version {
            Some(c) => format!("gate passed against version {c} (run {run_id})"),
            None => format!("first model to pass the gate (run {run_id})"),
        };
        let v = pkg.register(
            reg,
            name,
            Some((job.champion_alias.as_str(), AliasChange::new(reason))),
        )?;
        run.set_tag("mlops.registered_version", v.version)?;
        version = Some(v.version);
        promoted = true;
    }

    Ok(TrainingOutcome {
        run_id,
        evaluation,
        champion,
        champion_version,
        gate,
        package,
        version,
        promoted,
        identical_to_champion: identical,
    })
}

/// Result of k-fold cross-validation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Evaluation per fold (without per-row data).
    pub folds: Vec<Evaluation>,
    /// Mean of each metric over the folds where it was defined.
    pub mean: BTreeMap<String, f64>,
    /// Sample standard deviation of each metric over the folds.
    pub std: BTreeMap<String, f64>,
}

/// Seeded k-fold cross-validation: rows are shuffled with `seed` and cut into `k`
/// folds; each fold is evaluated by a model trained on the others. With `parent`, each
/// fold is logged as a child run.
pub fn cross_validate(
    df: &DataFrame,
    config: &TrainConfig,
    k: usize,
    seed: u64,
    parent: Option<&Run>,
) -> Result<CrossValidation> {
    if k < 2 || k > df.height() {
        return Err(Error::arg(format!(
            "k-fold needs 2 <= k <= rows, got k = {k} for {} rows",
            df.height()
        )));
    }
    let mut idx: Vec<u32> = (0..df.height() as u32).collect();
    idx.shuffle(&mut SmallRng::seed_from_u64(seed));
    let take =
        |ix: Vec<u32>| -> Result<DataFrame> { Ok(df.take(&IdxCa::from_vec("i".into(), ix))?) };
    let mut folds = Vec::with_capacity(k);
    for f in 0..k {
        let test: Vec<u32> = idx
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k == f)
            .map(|(_, &r)| r)
            .collect();
        let train_ix: Vec<u32> = idx
            .iter()
            .enumerate()
            .filter(|(i, _)| i % k != f)
            .map(|(_, &r)| r)
            .collect();
        let (tr, te) = (take(train_ix)?, take(test)?);
        let model = train(&tr, config)?;
        let e = evaluate(&model, &te)?.without_rows();
        if let Some(p) = parent {
            let child = p.child(&format!("fold-{f}"))?;
            child.log_params(&config.params())?;
            child.log_param("fold", f)?;
            e.log_metrics_to(&child, "")?;
            child.end()?;
        }
        folds.push(e);
    }
    let mut keys: Vec<String> = folds
        .iter()
        .flat_map(|e| e.metrics.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    let mut mean = BTreeMap::new();
    let mut std = BTreeMap::new();
    for key in keys {
        let vals: Vec<f64> = folds.iter().filter_map(|e| e.metric(&key)).collect();
        let n = vals.len() as f64;
        let m = vals.iter().sum::<f64>() / n;
        let s = if vals.len() > 1 {
            (vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        mean.insert(key.clone(), m);
        std.insert(key, s);
    }
    Ok(CrossValidation { folds, mean, std })
}

/// One trial of a grid search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// The candidate algorithm and hyper-parameters.
    pub algorithm: Algorithm,
    /// Cross-validated mean of the selection metric.
    pub score: f64,
    /// Its standard deviation over folds.
    pub std: f64,
    /// The child run, when tracked.
    pub run_id: Option<RunId>,
}

/// Result of a grid search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GridSearch {
    /// Every trial in the order given.
    pub trials: Vec<Trial>,
    /// Index of the best trial (by `metric`, direction from the metric's name; the
    /// first on ties).
    pub best: usize,
    /// The selection metric.
    pub metric: String,
}

/// Cross-validates each candidate algorithm (same features, target, seed and folds)
/// and picks the best by `metric`. With `parent`, each trial is a child run logging its
/// params and its mean metrics.
pub fn grid_search(
    df: &DataFrame,
    base: &TrainConfig,
    candidates: &[Algorithm],
    k: usize,
    metric: &str,
    parent: Option<&Run>,
) -> Result<GridSearch> {
    if candidates.is_empty() {
        return Err(Error::arg("grid search needs at least one candidate"));
    }
    let higher = crate::evaluation::higher_is_better(metric);
    let mut trials = Vec::with_capacity(candidates.len());
    for (i, alg) in candidates.iter().enumerate() {
        let mut cfg = base.clone();
        cfg.algorithm = alg.clone();
        let child = match parent {
            Some(p) => Some(p.child(&format!("trial-{i}-{}", alg.name()))?),
            None => None,
        };
        let cv = cross_validate(df, &cfg, k, base.seed, None)?;
        let score = cv.mean.get(metric).copied().ok_or_else(|| {
            Error::arg(format!(
                "metric {metric} is not computed for {}",
                alg.name()
            ))
        })?;
        let std = cv.std.get(metric).copied().unwrap_or(0.0);
        let run_id = match child {
            Some(c) => {
                c.log_params(&cfg.params())?;
                let mut ms: Vec<(String, f64)> = cv
                    .mean
                    .iter()
                    .map(|(k, v)| (format!("cv_mean.{k}"), *v))
                    .collect();
                ms.extend(cv.std.iter().map(|(k, v)| (format!("cv_std.{k}"), *v)));
                log_metrics(&c, &ms, 0)?;
                let id = c.run_id();
                c.end()?;
                Some(id)
            }
            None => None,
        };
        trials.push(Trial {
            algorithm: alg.clone(),
            score,
            std,
            run_id,
        });
    }
    let mut best = 0;
    for (i, t) in trials.iter().enumerate() {
        let better = if higher {
            t.score > trials[best].score
        } else {
            t.score < trials[best].score
        };
        if better {
            best = i;
        }
    }
    if let Some(p) = parent {
        p.log_param("grid.best_algorithm", trials[best].algorithm.name())?;
        p.log_metric(&format!("grid.best.{metric}"), trials[best].score, 0)?;
    }
    Ok(GridSearch {
        trials,
        best,
        metric: metric.to_string(),
    })
}
