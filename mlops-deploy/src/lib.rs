//! Deployment for the `mlops` SDK.
//!
//! This crate provides canary and blue-green rollouts judged by always-valid sequential
//! statistics ([`judge`]), live monitors and the retraining loop; the local model server
//! and KServe adapters come with their issues. It serves `dyn Model` loaded through
//! flavors and never names a concrete model type.
//!
//! The monitoring half closes the loop:
//!
//! - [`inference_log`]: the server's log of every served row (Parquet segments);
//! - [`monitor`]: windows of that log profiled once, drift against the training
//!   profile, prediction drift, health, quality from delayed labels, the three shifts,
//!   gauges for `/metrics`, an HTML report;
//! - [`trigger`]: policies as data with hysteresis, cooldown and deduplication;
//! - [`retrain`]: on a firing, the application's retrain step, the gates against the
//!   champion on recent labelled data, registration and the start of a rollout, all
//!   audit-logged and linked by digests;
//! - [`dora`]: delivery metrics from the audit log and the registry.
//!
//! ## Crate feature flags
//!
//! None yet.

#![warn(missing_docs)]
// Tests may unwrap; library code may not (workspace lint `unwrap_used`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod controller;
pub mod deployer;
pub mod dora;
mod error;
pub mod inference_log;
pub mod judge;
pub mod monitor;
pub mod retrain;
pub mod strategy;
pub mod trigger;

/// `mlops-core` (ids, stores, tracking, registry), re-exported with the other crates
/// below so one dependency suffices.
pub use mlops_core as core;
/// `mlops-data` (contracts, validation, drift).
pub use mlops_data as data;
/// polars, the version every frame here is.
pub use mlops_data::polars;
/// `mlops-train` (models, packages, evaluation, gates).
pub use mlops_train as train;

pub use deployer::{DeployPhase, DeployStatus, Deployer, VersionSpec};
pub use error::{Error, Result};
pub use judge::{
    Arm, ArmPair, Boundary, Decision, Guardrail, Judge, JudgeConfig, MetricKind, MetricSpec,
    NoDecisionAction, Outcome, Verdict,
};
pub use monitor::quality::{Labels, Quality};
pub use monitor::{
    Monitor, MonitorConfig, MonitorReport, Reference, ReferenceOptions, WindowBy, WindowReport,
    WindowSpec,
};
pub use strategy::{Analysis, Strategy};
pub use trigger::{Fired, Rule, TriggerEngine, TriggerPolicy};
