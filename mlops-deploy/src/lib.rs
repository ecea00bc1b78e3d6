//! Deployment for the `mlops` SDK.
//!
//! This crate will provide the local model server and KServe adapters, canary and
//! blue-green rollouts judged by sequential statistics, live monitors and retraining
//! triggers. It serves `dyn Model` loaded through flavors and never names a concrete
//! model type.
//!
//! ## Crate feature flags
//!
//! None yet.

#![warn(missing_docs)]

mod error;

pub use error::{Error, Result};
