//! Seeded trainers over linfa, and [`LinfaModel`], the `mlops-linfa` flavor.
//!
//! A [`TrainConfig`] (features, target, algorithm with its hyper-parameters, seed) is
//! plain serde data: it is logged as the run's parameters and stored in the package.
//! The same frame, config and seed give the same model bytes: rows are used in frame
//! order, randomness comes only from a `SmallRng` seeded with `seed`, and the payload is
//! canonical JSON (object keys sorted), so linfa's `HashMap`s inside Gaussian naive Bayes
//! serialise identically every time.
//!
//! Decision trees and random forests are grown by our own small CART ([`Tree`]) rather
//! than linfa-trees 0.8.1, measured not to meet the same-bytes rule: its leaf votes and
//! its pruning break ties through `HashMap` iteration order, so two fits of the same
//! bootstrap sample gave trees of 67 and 65 nodes. linfa-ensemble 0.8.1 also has no serde
//! support and linfa's trees give no class probabilities. Ours tries features in order
//! and thresholds (midpoints between distinct sorted values, `x < t` goes left) in
//! increasing order and keeps only strictly better splits; each leaf keeps its training
//! class counts; prediction takes the largest count (the smallest class index on ties)
//! and probabilities are normalised counts, averaged over a forest's trees (soft voting,
//! as scikit-learn does). Forests draw bootstrap rows and a per-tree feature subset
//! from the seeded `SmallRng`.

mod cart;
mod config;
mod flavor;

pub use cart::{Node, Tree};
pub(crate) use config::flat_params;
pub use config::{Algorithm, Criterion, TargetSpec, TargetTask, TrainConfig};
pub use flavor::{Estimator, LINFA_FLAVOR, LinfaModel};

use polars::prelude::DataFrame;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::features::text_values;
use crate::targets::{class_targets, sort_classes, value_targets};
use crate::{Error, Result};

/// Trains a model on `df` as `config` says.
pub fn train(df: &DataFrame, config: &TrainConfig) -> Result<LinfaModel> {
    let classifier = config.target.task == TargetTask::Classification;
    if classifier != config.algorithm.is_classifier() {
        return Err(Error::arg(format!(
            "{} does not fit a {:?} target",
            config.algorithm.name(),
            config.target.task
        )));
    }
    if df.height() < 2 {
        return Err(Error::arg(format!(
            "training needs at least two rows, the frame has {}",
            df.height()
        )));
    }
    let features = config.features.fit(df)?;
    let x = features.transform(df)?;
    let target_dtype = df
        .column(&config.target.column)
        .map_err(|_| Error::Column {
            column: config.target.column.clone(),
            problem: "target missing from the training frame".into(),
        })?
        .dtype()
        .to_string();
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let (classes, estimator) = if classifier {
        let labels: Vec<String> = text_values(df, &config.target.column)?
            .into_iter()
            .flatten()
            .collect();
        let classes = sort_classes(labels);
        if classes.len() < 2 {
            return Err(Error::arg(format!(
                "classification needs at least two classes in {:?}, found {}",
                config.target.column,
                classes.len()
            )));
        }
        let y = class_targets(df, &config.target.column, &classes)?;
        let est = flavor::fit_classifier(&config.algorithm, &x, &y, classes.len(), &mut rng)?;
        (classes, est)
    } else {
        let y = value_targets(df, &config.target.column)?;
        (
            Vec::new(),
            flavor::fit_regressor(&config.algorithm, &x, &y)?,
        )
    };
    Ok(LinfaModel::new(
        config.clone(),
        features,
        classes,
        target_dtype,
        estimator,
    ))
}
