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
//! ## Crate feature flags
//!
//! None yet.

#![warn(missing_docs)]
// Tests may unwrap; library code may not (workspace lint `unwrap_used`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod codec;
mod contract;
mod dataset;
mod error;
mod io;
mod profile;
mod validate;

pub use contract::{
    ColumnCheck, ColumnSpec, Contract, ContractChange, ContractDiff, CustomCheck, DType, Direction,
    Expectation, ExtraColumns, Scalar, Statistic, TableRules,
};
pub use dataset::{Dataset, SNAPSHOT_ROW_GROUP, Split, SplitOptions, train_test_split};
pub use error::{Error, Result};
pub use io::{FileFormat, read_frame, scan_frame};
pub use profile::{
    ColumnKind, ColumnProfile, ColumnSummary, FrequentItems, Histogram, HyperLogLog, Moments,
    Profile, ProfileOptions, ProfileSummary, QuantileSketch, SUMMARY_QUANTILES, hash_f64, hash_str,
};
pub use validate::{CheckFailure, ColumnCounts, ValidateOptions, ValidationReport};
