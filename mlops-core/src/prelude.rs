//! The names most programs on `mlops-core` use: `use mlops_core::prelude::*;`.
//!
//! Kept small on purpose (ids, the two stores and their constructors, a run); everything
//! else is imported by name.

pub use crate::registry::{AliasChange, Registry, registry_from_env, registry_from_uri};
pub use crate::tracking::{Run, RunOptions, Tracker, tracker_from_env, tracker_from_uri};
pub use crate::{ArtifactStore, DatasetRef, Digest, ModelUri, RunId};
