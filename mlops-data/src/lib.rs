//! Data work for the `mlops` SDK, on polars.
//!
//! This crate provides (growing with the roadmap): schema contracts and validation of
//! polars frames, mergeable dataset profiles, drift statistics and reports, and
//! content-addressed dataset snapshots with seeded splits.
//!
//! ## Usage
//!
//! Used by CI jobs that check data before training, by `mlops-train` to record the
//! datasets a model was trained on, and by `mlops-deploy` to watch live data drift.
//! It knows nothing about models or serving.
//!
//! One dependency suffices: the crate below is re-exported as [`core`]
//! (`mlops_data::core` is `mlops_core`) and polars, the version this crate is built
//! on, as [`polars`]; [`prelude`] has the names every data check uses.
//!
//! ## Crate feature flags
//!
//! None yet.

#![warn(missing_docs)]
// Tests may unwrap; library code may not (workspace lint `unwrap_used`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod codec;
mod contract;
mod dataset;
pub mod drift;
mod error;
mod io;
pub mod prelude;
mod profile;
mod validate;

/// `mlops-core`, the crate below (ids, stores, tracking, registry), re-exported so
/// one dependency suffices and the versions cannot drift apart.
pub use mlops_core as core;
/// polars, the version every frame of this crate is, re-exported for the same reason.
pub use polars;

pub use contract::{
    ColumnCheck, ColumnSpec, Contract, ContractChange, ContractDiff, CustomCheck, DType, Direction,
    Expectation, ExtraColumns, Scalar, Statistic, TableRules,
};
pub use dataset::{Dataset, SNAPSHOT_ROW_GROUP, Split, SplitOptions, train_test_split};
pub use drift::{
    ColumnDrift, ColumnIssue, ColumnType, DriftConfig, DriftReport, DriftVerdict, Method,
    drift_from_profiles, drift_report,
};
pub use error::{Error, Result};
pub use io::{FileFormat, read_frame, scan_frame};
pub use profile::{
    ColumnKind, ColumnProfile, ColumnSummary, FrequentItems, Histogram, HyperLogLog, Moments,
    Profile, ProfileOptions, ProfileSummary, QuantileSketch, SUMMARY_QUANTILES, hash_f64, hash_str,
};
pub use validate::{CheckFailure, ColumnCounts, ValidateOptions, ValidationReport};
