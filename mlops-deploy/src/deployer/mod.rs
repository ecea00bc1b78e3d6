//! Deployers: where a rollout's versions run and how their traffic is split.
//!
//! The controller drives a rollout through the [`Deployer`] trait only, so one strategy
//! runs against the local server or a Kubernetes cluster. The local deployer
//! ([`local::LocalDeployer`]) drives a running in-process server's variants. The
//! Kubernetes deployer is
//! GitOps ([`kubernetes::GitOpsDeployer`]): it writes manifests into a directory that
//! Argo CD or Flux syncs, never talks to a cluster, and writes them so that a git diff
//! shows exactly what a step changed (sorted keys, one field per line, files rewritten
//! only when their content changes).

pub mod kubernetes;
pub mod local;
pub mod yaml;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A model version to deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSpec {
    /// Registered model name.
    pub model: String,
    /// Version in the registry.
    pub version: String,
    /// Where the serving runtime downloads the package from (`s3://…`, `gs://…`,
    /// `pvc://…`); the local server ignores it.
    pub storage_uri: String,
}

/// Where a rollout stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeployPhase {
    /// Only the stable version serves.
    #[default]
    Stable,
    /// A canary receives part of the traffic.
    Progressing,
    /// The canary was promoted: it is the stable version now.
    Promoted,
    /// The canary was rolled back: it receives no traffic.
    RolledBack,
}

/// What a deployer reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeployStatus {
    /// The stable version.
    pub stable: Option<VersionSpec>,
    /// The canary, while one is deployed.
    pub canary: Option<VersionSpec>,
    /// Percentage of traffic the canary receives.
    pub canary_weight: u8,
    /// The phase.
    pub phase: DeployPhase,
}

/// Deploys versions as variants and splits traffic between them.
///
/// Object safe; every method is idempotent (the controller repeats the last step after
/// a crash).
pub trait Deployer {
    /// Makes `version` the stable variant with all the traffic (first deployment).
    fn deploy_stable(&mut self, version: &VersionSpec) -> Result<()>;
    /// Brings `version` up as the canary, with no traffic yet.
    fn deploy_canary(&mut self, version: &VersionSpec) -> Result<()>;
    /// Sends `weight` percent of the traffic to the canary.
    fn set_canary_weight(&mut self, weight: u8) -> Result<()>;
    /// The canary becomes the stable version with all the traffic.
    fn promote(&mut self) -> Result<()>;
    /// The canary gets no traffic; the stable version keeps serving.
    fn rollback(&mut self) -> Result<()>;
    /// Where the deployment stands.
    fn status(&self) -> Result<DeployStatus>;

    /// Where golden requests reach the canary (a blue-green preview) alone, as the base
    /// URL of an MLflow scoring endpoint; `None` when this deployer has none (in
    /// Kubernetes golden requests run as an Argo analysis against the preview Service).
    fn preview_url(&mut self) -> Result<Option<String>> {
        Ok(None)
    }

    /// Mirrors `percent`% of the requests to `version` (a shadow): its answers are
    /// discarded, its counters kept.
    fn deploy_shadow(&mut self, version: &VersionSpec, percent: u8) -> Result<()> {
        let _ = (version, percent);
        Err(crate::error::Error::InvalidConfig {
            field: "strategy.shadow".into(),
            reason: "this deployer runs no shadow (export the strategy to Argo Rollouts)".into(),
        })
    }

    /// Stops mirroring (idempotent).
    fn remove_shadow(&mut self) -> Result<()> {
        Ok(())
    }
}
