//! Drift detection: has the current data moved away from the reference data?
//!
//! Three layers, each usable alone:
//!
//! * [`stats`]: the statistics as plain functions on two samples (`f64` slices or
//!   category counts), matching SciPy and Evidently to 1e-9 relative on committed
//!   test vectors;
//! * [`DriftConfig`] + [`drift_report`]: every column of two polars frames, with
//!   Evidently's method/threshold hierarchy and default method rule, into a
//!   [`DriftReport`] of plain serde data;
//! * [`drift_from_profiles`]: the same report from two mergeable `Profile`s, with
//!   a guaranteed error bound per numeric statistic;
//! * rendering of a report as a terminal table, JSON, or a self-contained HTML page.
//!
//! Method names and defaults follow Evidently 0.7 so configurations port; where
//! Evidently has a known flaw the fixed variant sits next to it under its own name
//! (`chi2_contingency` next to `chisquare`; `mannw` is two-sided here).

mod config;
mod kolmogorov;
mod profiles;
mod render;
mod report;
pub mod stats;

pub use config::{ColumnType, Decision, DriftConfig, Method, default_method};
pub use kolmogorov::kolmogorov_sf;
pub use profiles::drift_from_profiles;
pub use report::{
    ColumnDrift, ColumnIssue, Distribution, DriftReport, DriftVerdict, drift_report,
    infer_column_type,
};
pub use stats::{Binned, NumericDtype, TestResult};
