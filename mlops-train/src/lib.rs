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
pub mod gate;
pub mod metrics;
pub mod stats;

pub use error::{Error, Result};
pub use evaluation::{
    ContractOutcome, Evaluation, Fairness, GroupMetrics, ModelFacts, RowPredictions, Task,
};
pub use gate::{Gate, GateOutcome, GateReport, RegressionTest};
