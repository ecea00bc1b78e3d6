//! The foundation of the `mlops` SDK: names, storage and the record of decisions.
//!
//! This crate provides:
//!
//! - [`Digest`]: SHA-256 content digests, hashed in constant memory from bytes, readers
//!   or files;
//! - [`ArtifactStore`]: a content-addressed object store that verifies every read and
//!   writes atomically, with directories stored as [`Manifest`]s;
//! - [`AuditLog`]: an append-only, hash-chained JSON-lines log whose tampering
//!   [`AuditLog::verify`] detects, safe for concurrent appends from many processes;
//! - lineage ids shared by every crate: [`DatasetRef`], [`RunId`], [`ExperimentId`],
//!   [`ModelVersionRef`] and [`ModelUri`];
//! - [`fs`]: the atomic-write and file-lock primitives the other stores build on;
//! - [`tracking`]: MLflow-compatible experiment tracking ([`Tracker`], [`Run`]) on a
//!   local MLflow file store or a real MLflow server;
//! - [`mlflow_http`]: the HTTP layer (auth, retries, typed errors) of every MLflow
//!   REST backend;
//! - [`registry`]: the model registry ([`Registry`]) on MLflow's file-store layout
//!   ([`LocalRegistry`]) or a real MLflow server ([`MlflowRegistry`]), with an alias
//!   history MLflow does not keep ([`Registry::alias_at`], [`Registry::rollback_alias`]);
//! - [`yaml`]: the one YAML reader/writer of MLflow's layout (`meta.yaml`, `MLmodel`);
//! - one error type, [`Error`], with [`Result`].
//!
//! ## Usage
//!
//! Applications rarely need this crate alone: `mlops-data`, `mlops-train` and
//! `mlops-deploy` build on it and re-export it whole (`mlops_train::core`, ...), so a
//! pipeline depends on one crate; [`prelude`] has the names most programs use. Depend on it
//! directly to store artifacts, read lineage, or verify an audit log in a tool of your
//! own. It has no polars and no linfa in its dependency tree, so such tools stay small.
//!
//! ```
//! use mlops_core::{ArtifactStore, AuditLog, Digest};
//! # let dir = tempfile::tempdir().unwrap();
//! let store = ArtifactStore::new(dir.path().join("store"))?;
//! let d = store.put_bytes(b"hello")?;
//! assert_eq!(d, Digest::of_bytes(b"hello"));
//! assert_eq!(store.get(&d)?, b"hello");
//!
//! let log = AuditLog::open(dir.path().join("audit.jsonl"));
//! log.append("ci", "dataset.snapshot", &d.to_string(), serde_json::json!({"rows": 1}))?;
//! assert_eq!(log.verify()?.records, 1);
//! # Ok::<(), mlops_core::Error>(())
//! ```
//!
//! ## Crate feature flags
//!
//! None yet: everything here is always built.
//!
//! ## Logging
//!
//! Operations emit `tracing` events; the crate never installs a subscriber.

#![warn(missing_docs)]

mod audit;
mod digest;
mod error;
pub mod fs;
mod lineage;
pub mod mlflow_http;
pub mod prelude;
pub mod registry;
mod store;
pub mod tracking;
pub mod yaml;

pub use audit::{AuditLog, AuditRecord, AuditRepair, AuditVerification, format_utc_ms, now_ms};
pub use digest::{Digest, Hasher};
pub use error::{Error, Result, Unreadable};
pub use lineage::{ColumnSchema, DatasetRef, ExperimentId, ModelUri, ModelVersionRef, RunId};
pub use registry::{
    AliasChange, AliasMove, LocalRegistry, MlflowRegistry, ModelVersion, NewVersion,
    RegisteredModel, Registry, registry_from_env, registry_from_uri,
};
pub use store::{
    ArtifactStore, MANIFEST_KIND, MAX_MANIFEST_BYTES, Manifest, ManifestEntry, ObjectReader,
};
pub use tracking::{
    Experiment, LocalTracker, Metric, Param, RestTracker, Run, RunInfo, RunOptions, RunRecord,
    RunStatus, RunTag, SearchRuns, Tracker, ViewType, tracker_from_env, tracker_from_uri,
};
