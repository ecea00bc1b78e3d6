//! Deployment for the `mlops` SDK.
//!
//! This crate provides canary and blue-green rollouts judged by always-valid sequential
//! statistics ([`judge`]); the local model server, KServe adapters, live monitors and
//! retraining triggers come with their issues. It serves `dyn Model` loaded through
//! flavors and never names a concrete model type.
//!
//! ## Crate feature flags
//!
//! None yet.

#![warn(missing_docs)]

pub mod controller;
pub mod deployer;
mod error;
pub mod judge;
pub mod strategy;

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
pub use strategy::{Analysis, Strategy};
