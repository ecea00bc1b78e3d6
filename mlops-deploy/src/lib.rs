//! Deployment for the `mlops` SDK: a model server that speaks MLflow's and KServe's
//! protocols, traffic split between variants, and the inference log monitors read.
//!
//! The server serves `dyn Model` loaded through the flavor registry and never names a
//! concrete model type. Data flows one way, one module per step:
//!
//! ```text
//! registry alias ──load──▶ served (verified, schema compiled once)
//!     request ──▶ codec (mlflow | kserve) ──▶ router (stable / canary / shadow) ──▶ model
//!                                              │                     │
//!                                              ▼                     ▼
//!                                  metrics (/metrics)      inference_log (segments)
//! ```
//!
//! ```no_run
//! use mlops_deploy::{ModelServer, ServedModel, ServerConfig};
//! use mlops_train::FlavorRegistry;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = mlops_core::registry_from_env()?;
//! let flavors = FlavorRegistry::new();
//! let stable = ServedModel::load("models:/wine@champion", Some(registry.as_ref()), &flavors)?;
//! let server = ModelServer::start(ServerConfig::default(), stable)?;
//! println!("listening on {}", server.url());
//! let challenger = ServedModel::load("models:/wine@challenger", Some(registry.as_ref()), &flavors)?;
//! server.set_variant("canary", challenger, 0.1)?;   // 10% of traffic
//! server.set_weight("canary", 0.5)?;                // later: half
//! server.promote("canary")?;                        // canary becomes stable
//! server.shutdown()?;                               // drains in-flight requests
//! # Ok(()) }
//! ```
//!
//! Rollouts are judged by always-valid sequential statistics ([`judge`]), described
//! as data ([`strategy`]) and run by the [`controller`] against a [`Deployer`]: the
//! local server ([`LocalDeployer`], with the applications' business outcomes reported
//! through [`outcome`]) or GitOps manifests.
//!
//! The monitoring half closes the loop:
//!
//! - [`inference_log`]: the server's log of every served row (Parquet segments);
//! - [`monitor`]: windows of that log profiled once, drift against the training
//!   profile, prediction drift, health, quality from delayed labels (late labels update
//!   windows already reported), the three shifts, gauges for the server's `/metrics`
//!   ([`ServerHandle::register_metrics`]), an HTML report; [`monitor::follow`] polls a
//!   live log, on a thread of its own beside a running server;
//! - [`label_log`]: delayed labels as API calls (`POST /labels`), appended to a file
//!   the monitor reads like any other labels drop;
//! - [`trigger`]: policies as data with hysteresis, cooldown and deduplication;
//! - [`retrain`]: on a firing, the application's retrain step, the gates against the
//!   champion on recent labelled data, registration and the start of a rollout, all
//!   audit-logged and linked by digests;
//! - [`dora`]: delivery metrics from the audit log and the registry.
//!
//! ## Crate feature flags
//!
//! None.

#![warn(missing_docs)]
// Tests may unwrap; library code may not (workspace lint `unwrap_used`).
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod codec;
pub mod controller;
pub mod deployer;
pub mod dora;
mod error;
pub mod inference_log;
pub mod judge;
pub mod label_log;
pub mod metrics;
pub mod monitor;
pub mod outcome;
pub mod retrain;
pub mod router;
pub mod schema;
mod served;
mod server;
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

pub use deployer::local::LocalDeployer;
pub use deployer::{DeployPhase, DeployStatus, Deployer, VersionSpec};
pub use error::{Error, Result};
pub use inference_log::{LogConfig, LogCounters, scan};
pub use judge::{
    Arm, ArmPair, Boundary, Decision, Guardrail, Judge, JudgeConfig, MetricKind, MetricSpec,
    NoDecisionAction, Outcome, Verdict,
};
pub use monitor::quality::{Labels, Quality};
pub use monitor::{
    Monitor, MonitorConfig, MonitorReport, Reference, ReferenceOptions, WindowBy, WindowReport,
    WindowSpec,
};
pub use outcome::{OutcomeReport, OutcomeStats};
pub use router::{ArmStats, StickyKey, VariantInfo};
pub use served::ServedModel;
pub use server::{ModelServer, ServerConfig, ServerHandle};
pub use strategy::{Analysis, Strategy};
pub use trigger::{Fired, Rule, TriggerEngine, TriggerPolicy};
