//! The names every data check uses: `use mlops_data::prelude::*;`.
//!
//! Frames, contracts and their reports, snapshots and splits, drift and profiles;
//! everything else is imported by name.

pub use crate::polars::prelude::{DataFrame, LazyFrame};
pub use crate::{
    Contract, Dataset, DriftConfig, DriftReport, Profile, SplitOptions, ValidationReport,
    drift_report, read_frame, scan_frame, train_test_split,
};
