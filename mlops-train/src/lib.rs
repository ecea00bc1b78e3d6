//! Training for the `mlops` SDK, on linfa.
//!
//! This crate provides: features from a polars frame, seeded trainers, the `Model`
//! trait and model packages, evaluation metrics, and the gates that decide whether a
//! candidate may replace the champion.
//!
//! ## Usage
//!
//! Used by training jobs and CI. It knows nothing about HTTP or deployment.
//!
//! ## Crate feature flags
//!
//! None yet.

#![warn(missing_docs)]

mod error;
pub mod evaluation;
pub mod features;
pub mod gate;
pub mod metrics;
mod model;
pub mod package;
pub mod stats;
pub mod tracked;
pub mod train;

pub use error::{Error, Result};
pub use evaluation::{
    ContractOutcome, Evaluation, Fairness, GroupMetrics, ModelFacts, RowPredictions, Task,
};
pub use features::{
    Feature, FeatureKind, FeatureSpec, FittedFeatures, Impute, UnseenCategory, frame_from_matrix,
};
pub use gate::{Gate, GateOutcome, GateReport, RegressionTest};
pub use model::{Model, Prediction, Signature, evaluate, measure_latency};
pub use package::{FlavorRegistry, Lineage, ModelPackage, PACKAGE_FORMAT_VERSION, PackageManifest};
pub use tracked::{
    CrossValidation, GridSearch, TrainingJob, TrainingOutcome, Trial, cross_validate, grid_search,
    train_tracked,
};
pub use train::{Algorithm, LINFA_FLAVOR, LinfaModel, TargetSpec, TargetTask, TrainConfig, train};
