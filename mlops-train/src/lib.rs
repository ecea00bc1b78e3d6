//! Training for the `mlops` SDK, on linfa: the step between "a data scientist improved
//! the algorithm" and "the model may go to production".
//!
//! - [`FeatureSpec`] turns a polars frame into the matrix linfa trains on; the fitted
//!   transform ([`FittedFeatures`]) is part of the model.
//! - [`train()`] fits a [`TrainConfig`] (features, target, [`Algorithm`], seed): same
//!   data and seed, same model bytes. [`LinfaModel`] is the `mlops-linfa` flavor.
//! - [`Model`] is what serving sees (`dyn Model`); [`ModelPackage`] stores a model
//!   content-addressed with its manifest, signature (a data contract) and lineage;
//!   [`FlavorRegistry`] loads it back.
//! - [`metrics`] computes scikit-learn's metrics in `f64`; [`Evaluation`] holds them with
//!   per-row predictions, slices and fairness; [`stats`] has the paired tests.
//! - [`Gate`] decides pass/fail against the champion; [`GateReport`] prints, serialises
//!   and maps to an exit code.
//! - [`train_tracked`] evaluates, gates, logs and registers a model from any trainer
//!   (`&dyn Model`) against any `Tracker` and `Registry`; [`load_model`],
//!   [`Evaluation::log_to`], [`ModelPackage::log_to`] and [`ModelPackage::register`]
//!   are its steps, one call each, for pipelines that assemble their own;
//!   [`cross_validate`] and [`grid_search`] log their folds and trials as child runs.
//!
//! One dependency suffices: the crates below are re-exported as [`data`]
//! (`mlops_data`), [`core`] (`mlops_core`) and [`polars`], and [`prelude`] has the names
//! a training pipeline uses (`use mlops_train::prelude::*;`), so versions cannot drift
//! apart. `examples/examples/custom_pipeline.rs` is such a pipeline.
//!
//! ## Usage
//!
//! Used by training jobs and CI (`mlops evaluate`, `mlops gate`). It knows nothing about
//! HTTP or deployment.
//!
//! ```no_run
//! use mlops_train::prelude::*;
//!
//! fn fit_and_evaluate(train_df: &DataFrame, test_df: &DataFrame) -> Result<(), Box<dyn std::error::Error>> {
//!     let config = TrainConfig {
//!         features: FeatureSpec::all_numeric_standardized(train_df, &["label"]),
//!         target: TargetSpec::classification("label"),
//!         algorithm: Algorithm::forest(100, Some(8)),
//!         seed: 42,
//!     };
//!     let model = train(train_df, &config)?;
//!     let evaluation = evaluate(&model, test_df)?;
//!     println!("{evaluation}");
//!     Ok(())
//! }
//! ```
//!
//! - [`MlflowModel`] reads an MLflow model directory logged by another client (its
//!   `MLmodel`); [`FlavorRegistry::load_stored`] loads either kind from the store.
//! - With the `onnx` feature, [`OnnxModel`] is MLflow's `onnx` flavor on tract (pure
//!   Rust), with the ONNX-ML operators scikit-learn models need (see [`onnx`]).
//!
//! ## Crate feature flags
//!
//! - `onnx`: the `onnx` flavor (tract-onnx). Off by default: training does not need it
//!   and tract is a large build; `mlops-deploy` turns it on to serve ONNX models.

#![warn(missing_docs)]

pub mod batch;
mod canonical;
mod error;
pub mod evaluation;
pub mod features;
pub mod gate;
pub mod metrics;
pub mod mlflow_model;
mod model;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod package;
pub mod prelude;
pub mod stats;
mod targets;
pub mod tracked;
pub mod train;

/// `mlops-core` (ids, stores, tracking, registry), the crate below `mlops-data`.
pub use mlops_core as core;
/// `mlops-data` (contracts, validation, snapshots, drift), the crate below this one.
pub use mlops_data as data;
/// polars, the version every frame here is.
pub use mlops_data::polars;

pub use batch::{Batch, Values};
pub use error::{Error, Result};
pub use evaluation::{
    ContractOutcome, Evaluation, Fairness, GroupMetrics, METRIC_NAMES, ModelFacts, RowPredictions,
    Task, is_metric_name,
};
pub use features::{
    Feature, FeatureKind, FeatureSpec, FittedFeatures, Impute, UnseenCategory, frame_from_matrix,
};
pub use gate::{Gate, GateOutcome, GateReport, RegressionTest};
pub use mlflow_model::MlflowModel;
pub use model::{
    Model, Prediction, Signature, default_mlflow_predictions, evaluate, measure_latency,
};
#[cfg(feature = "onnx")]
pub use onnx::{ONNX_FLAVOR, OnnxModel};
pub use package::{
    FlavorRegistry, Lineage, MlflowLoader, ModelPackage, PACKAGE_FORMAT_VERSION, PackageManifest,
    load_model, load_model_if_exists, load_model_with,
};
pub use tracked::{
    CrossValidation, GridSearch, TrainingJob, TrainingOutcome, Trial, cross_validate, grid_search,
    train_tracked,
};
pub use train::{Algorithm, LINFA_FLAVOR, LinfaModel, TargetSpec, TargetTask, TrainConfig, train};
