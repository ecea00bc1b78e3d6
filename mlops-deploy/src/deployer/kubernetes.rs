//! The Kubernetes deployer, GitOps style: renders manifests into a directory that Argo CD
//! or Flux syncs, and keeps its own state in the same directory
//! (`mlops-deployment.state`, JSON under a name no GitOps tool applies), so the git history is the deployment history.
//!
//! Two targets:
//!
//! - **KServe** (`serving.kserve.io/v1beta1 InferenceService`): the predictor's model
//!   (`modelFormat: mlops`, served by the `mlops-server` `ClusterServingRuntime` rendered
//!   beside it) with `storageUri`, resources and replicas. A canary is KServe's own
//!   mechanism: the new `storageUri` with `canaryTrafficPercent: W` (the previously
//!   rolled-out revision keeps `100 − W`); promotion removes `canaryTrafficPercent`;
//!   rollback sets it to 0, which KServe answers by sending everything to the previous
//!   revision.
//! - **Argo Rollouts** (a plain Deployment's pods): a `Rollout` whose pod template runs
//!   the `mlops` server image on one version, with the strategy exported by
//!   [`crate::strategy::argo`], its `AnalysisTemplate`s (PromQL over the `serve`
//!   helper's `model_requests_total{model,version,code}`) and the `Service`s the
//!   strategy names. Argo moves the weights itself; a canary is a new version in the
//!   template, promotion records it as stable, rollback puts the stable version back in
//!   the template (a full revert in git).
//!
//! Every file is rewritten through `mlops_core::fs::write_atomic` and only when its
//! bytes change, so re-running a step is a no-op on disk (idempotent) and a diff shows
//! exactly the fields a step changed; a manifest the deployer wrote before and no longer
//! renders is removed (the state lists the files it owns).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{DeployPhase, DeployStatus, Deployer, VersionSpec, yaml};
use crate::error::{Error, Result};
use crate::strategy::argo::{ArgoContext, ArmQueries, export};
use crate::strategy::{Duration, Strategy};

/// Compute resources of the serving container (Kubernetes quantities).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// CPU request, e.g. `500m`.
    pub cpu: String,
    /// Memory request, e.g. `512Mi`.
    pub memory: String,
    /// CPU limit (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<String>,
    /// Memory limit (absent: the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            cpu: "500m".into(),
            memory: "512Mi".into(),
            cpu_limit: None,
            memory_limit: None,
        }
    }
}

impl Resources {
    fn to_value(&self) -> Value {
        let mut limits = serde_json::Map::new();
        if let Some(c) = &self.cpu_limit {
            limits.insert("cpu".into(), json!(c));
        }
        limits.insert(
            "memory".into(),
            json!(self.memory_limit.as_ref().unwrap_or(&self.memory)),
        );
        json!({"requests": {"cpu": self.cpu, "memory": self.memory}, "limits": limits})
    }
}

/// Which manifests to render.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// A KServe InferenceService.
    Kserve,
    /// An Argo Rollouts Rollout with this strategy.
    ArgoRollout {
        /// The strategy exported into the Rollout.
        strategy: Box<Strategy>,
        /// Prometheus address the analysis templates query.
        prometheus: String,
        /// Time between the judge's looks in Argo.
        look_interval: Duration,
        /// Prometheus counter queries of judged metrics the `serve` helper's families do
        /// not give, by metric name ([`crate::strategy::argo::ArgoContext::queries`]);
        /// `error_rate` and `latency_over_<MS>ms` need none.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        queries: BTreeMap<String, ArmQueries>,
    },
}

/// The application being deployed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppSpec {
    /// Name of the Kubernetes objects (a DNS-1035 label).
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Image of the `mlops` model server.
    pub image: String,
    /// Replicas (min and max for KServe).
    pub replicas: u32,
    /// Most replicas KServe may scale to.
    pub max_replicas: u32,
    /// Container port of the server.
    pub port: u16,
    /// Container resources.
    pub resources: Resources,
    /// Manifests to render.
    pub target: Target,
}

/// The deployer's persisted state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct State {
    status: DeployStatus,
    /// The manifests the last render wrote, so the next one removes those it no
    /// longer renders (an analysis the strategy dropped) and nothing else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
}

/// Renders manifests for Argo CD / Flux into a directory.
#[derive(Debug)]
pub struct GitOpsDeployer {
    dir: PathBuf,
    app: AppSpec,
    state: State,
}

/// Not `.json`/`.yaml`: Argo CD and Flux apply every file with those extensions.
const STATE_FILE: &str = "mlops-deployment.state";

fn invalid(field: &str, reason: String) -> Error {
    Error::InvalidConfig {
        field: field.into(),
        reason,
    }
}

fn dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl GitOpsDeployer {
    /// A deployer writing into `dir` (created if missing); reads its state back when the
    /// directory already holds one.
    pub fn open(dir: impl Into<PathBuf>, app: AppSpec) -> Result<Self> {
        let dir = dir.into();
        if !dns_label(&app.name) {
            return Err(invalid(
                "name",
                format!("{:?} is not a DNS-1035 label", app.name),
            ));
        }
        if !dns_label(&app.namespace) {
            return Err(invalid(
                "namespace",
                format!("{:?} is not a DNS-1035 label", app.namespace),
            ));
        }
        if app.replicas == 0 || app.max_replicas < app.replicas {
            return Err(invalid(
                "replicas",
                "need 0 < replicas <= max_replicas".into(),
            ));
        }
        if let Target::ArgoRollout {
            strategy,
            prometheus,
            look_interval,
            queries,
        } = &app.target
        {
            strategy.validate()?;
            // Export once now, so a strategy Argo cannot run (a judged metric without
            // queries, a judge over means) is refused before anything is written.
            let ctx = ArgoContext {
                name: app.name.clone(),
                model: "model".into(),
                stable_version: "1".into(),
                canary_version: "2".into(),
                prometheus: prometheus.clone(),
                queries: queries.clone(),
                check_image: app.image.clone(),
            };
            export(strategy, &ctx, *look_interval)?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| mlops_core::Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        let state_path = dir.join(STATE_FILE);
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| invalid(STATE_FILE, format!("{}: {e}", state_path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => {
                return Err(mlops_core::Error::Io {
                    path: state_path,
                    source: e,
                }
                .into());
            }
        };
        Ok(Self { dir, app, state })
    }

    /// The directory the manifests are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn labels(&self) -> Value {
        json!({"app.kubernetes.io/name": self.app.name, "app.kubernetes.io/managed-by": "mlops"})
    }

    fn metadata(&self, name: &str) -> Value {
        json!({"name": name, "namespace": self.app.namespace, "labels": self.labels()})
    }

    fn inference_service(&self) -> Option<Value> {
        let s = &self.state.status;
        // The spec names the newest version: the canary while one is deployed.
        let serving = match (s.phase, &s.canary, &s.stable) {
            (DeployPhase::Progressing | DeployPhase::RolledBack, Some(c), _) => c,
            (_, _, Some(st)) => st,
            (_, Some(c), None) => c,
            (_, None, None) => return None,
        };
        let mut predictor = json!({
            "minReplicas": self.app.replicas,
            "maxReplicas": self.app.max_replicas,
            "model": {
                "modelFormat": {"name": "mlops", "version": "1"},
                "runtime": "mlops-server",
                "protocolVersion": "v1",
                "storageUri": serving.storage_uri,
                "resources": self.app.resources.to_value(),
            },
        });
        match s.phase {
            DeployPhase::Progressing => predictor["canaryTrafficPercent"] = json!(s.canary_weight),
            DeployPhase::RolledBack => predictor["canaryTrafficPercent"] = json!(0),
            _ => {}
        }
        let mut meta = self.metadata(&self.app.name);
        meta["annotations"] = json!({
            "mlops.dev/model": serving.model,
            "mlops.dev/version": serving.version,
        });
        Some(json!({
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": meta,
            "spec": {"predictor": predictor},
        }))
    }

    fn serving_runtime(&self) -> Value {
        json!({
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "ClusterServingRuntime",
            "metadata": {"name": "mlops-server", "labels": self.labels()},
            "spec": {
                "supportedModelFormats": [{"name": "mlops", "version": "1", "autoSelect": true}],
                "protocolVersions": ["v1"],
                "containers": [{
                    "name": "kserve-container",
                    "image": self.app.image,
                    "args": ["serve", "--package", "/mnt/models", "--host", "0.0.0.0",
                             "--port", self.app.port.to_string()],
                    "ports": [{"containerPort": self.app.port, "protocol": "TCP"}],
                }],
            },
        })
    }

    fn pod_template(&self, v: &VersionSpec) -> Value {
        json!({
            "metadata": {"labels": self.labels()},
            "spec": {"containers": [{
                "name": "server",
                "image": self.app.image,
                "args": ["serve", "--model-uri", format!("models:/{}/{}", v.model, v.version),
                         "--host", "0.0.0.0", "--port", self.app.port.to_string()],
                "env": [{"name": "MLOPS_STORAGE_URI", "value": v.storage_uri}],
                "ports": [{"name": "http", "containerPort": self.app.port, "protocol": "TCP"}],
                "readinessProbe": {"httpGet": {"path": "/ping", "port": "http"}},
                "resources": self.app.resources.to_value(),
            }]},
        })
    }

    fn service(&self, name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": self.metadata(name),
            "spec": {
                "selector": {"app.kubernetes.io/name": self.app.name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        })
    }

    fn argo_manifests(
        &self,
        strategy: &Strategy,
        prometheus: &str,
        look: Duration,
        queries: &BTreeMap<String, ArmQueries>,
    ) -> Result<Vec<(String, Value)>> {
        let s = &self.state.status;
        let template_version = match (s.phase, &s.canary, &s.stable) {
            (DeployPhase::Progressing, Some(c), _) => c,
            (_, _, Some(st)) => st,
            (_, Some(c), None) => c,
            (_, None, None) => return Ok(Vec::new()),
        };
        let stable = s.stable.as_ref().unwrap_or(template_version);
        let canary = s.canary.as_ref().unwrap_or(template_version);
        let ctx = ArgoContext {
            name: self.app.name.clone(),
            model: template_version.model.clone(),
            stable_version: stable.version.clone(),
            canary_version: canary.version.clone(),
            prometheus: prometheus.to_string(),
            queries: queries.clone(),
            check_image: self.app.image.clone(),
        };
        let exported = export(strategy, &ctx, look)?;
        let mut files = Vec::new();
        let rollout = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": self.metadata(&self.app.name),
            "spec": {
                "replicas": self.app.replicas,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": {"app.kubernetes.io/name": self.app.name}},
                "template": self.pod_template(template_version),
                "strategy": exported.strategy,
            },
        });
        files.push(("rollout.yaml".to_string(), rollout));
        for t in exported.templates {
            let name = t["metadata"]["name"]
                .as_str()
                .unwrap_or("analysis")
                .to_string();
            let mut t = t;
            t["metadata"]["namespace"] = json!(self.app.namespace);
            files.push((format!("analysistemplate-{name}.yaml"), t));
        }
        match strategy {
            Strategy::BlueGreen(_) => {
                files.push((
                    "service-active.yaml".into(),
                    self.service(&format!("{}-active", self.app.name)),
                ));
                files.push((
                    "service-preview.yaml".into(),
                    self.service(&format!("{}-preview", self.app.name)),
                ));
            }
            _ => files.push(("service.yaml".into(), self.service(&self.app.name))),
        }
        Ok(files)
    }

    /// The manifests for the current state, as (file name, object), sorted by name.
    pub fn manifests(&self) -> Result<Vec<(String, Value)>> {
        let mut files = match &self.app.target {
            Target::Kserve => {
                let mut f = vec![("servingruntime.yaml".to_string(), self.serving_runtime())];
                if let Some(isvc) = self.inference_service() {
                    f.push(("inferenceservice.yaml".into(), isvc));
                }
                f
            }
            Target::ArgoRollout {
                strategy,
                prometheus,
                look_interval,
                queries,
            } => self.argo_manifests(strategy, prometheus, *look_interval, queries)?,
        };
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// Writes every manifest and the state; files whose bytes are unchanged are not
    /// touched, and a manifest the previous render wrote but this one does not (an
    /// analysis template the strategy no longer has) is removed; other files in the
    /// directory are never touched. Returns the names of the files it wrote or removed.
    pub fn render(&mut self) -> Result<Vec<String>> {
        let mut written = Vec::new();
        let mut files: Vec<(String, Vec<u8>)> = self
            .manifests()?
            .into_iter()
            .map(|(n, v)| (n, yaml::to_yaml(&v).into_bytes()))
            .collect();
        let stale: Vec<String> = std::mem::take(&mut self.state.files)
            .into_iter()
            .filter(|old| !files.iter().any(|(n, _)| n == old))
            .collect();
        self.state.files = files.iter().map(|(n, _)| n.clone()).collect();
        let mut state = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| invalid(STATE_FILE, e.to_string()))?;
        state.push(b'\n');
        files.push((STATE_FILE.to_string(), state));
        for (name, bytes) in files {
            let path = self.dir.join(&name);
            if std::fs::read(&path).ok().as_deref() == Some(&bytes[..]) {
                continue;
            }
            mlops_core::fs::write_atomic(&path, &bytes)?;
            written.push(name);
        }
        for name in stale {
            let path = self.dir.join(&name);
            match std::fs::remove_file(&path) {
                Ok(()) => written.push(name),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(mlops_core::Error::Io { path, source: e }.into()),
            }
        }
        Ok(written)
    }

    fn require_canary(&self, what: &str) -> Result<()> {
        if self.state.status.canary.is_none() {
            return Err(invalid("canary", format!("{what}: no canary is deployed")));
        }
        Ok(())
    }
}

impl Deployer for GitOpsDeployer {
    fn deploy_stable(&mut self, version: &VersionSpec) -> Result<()> {
        self.state.status = DeployStatus {
            stable: Some(version.clone()),
            canary: None,
            canary_weight: 0,
            phase: DeployPhase::Stable,
        };
        self.render().map(|_| ())
    }

    fn deploy_canary(&mut self, version: &VersionSpec) -> Result<()> {
        let s = &mut self.state.status;
        if s.stable.as_ref() == Some(version) {
            return Err(invalid(
                "canary",
                format!("version {} is already the stable one", version.version),
            ));
        }
        if s.canary.as_ref() != Some(version) {
            s.canary = Some(version.clone());
            s.canary_weight = 0;
        }
        s.phase = DeployPhase::Progressing;
        self.render().map(|_| ())
    }

    fn set_canary_weight(&mut self, weight: u8) -> Result<()> {
        if weight > 100 {
            return Err(invalid("weight", format!("{weight} > 100")));
        }
        self.require_canary("set weight")?;
        if let Target::ArgoRollout { .. } = self.app.target {
            // Argo moves the weights itself through the exported steps; the state only
            // records what the controller asked for.
            self.state.status.canary_weight = weight;
            return self.render().map(|_| ());
        }
        self.state.status.canary_weight = weight;
        self.state.status.phase = DeployPhase::Progressing;
        self.render().map(|_| ())
    }

    fn promote(&mut self) -> Result<()> {
        let s = &mut self.state.status;
        if s.phase == DeployPhase::Promoted {
            return Ok(());
        }
        let Some(canary) = s.canary.take() else {
            return Err(invalid("canary", "promote: no canary is deployed".into()));
        };
        s.stable = Some(canary);
        s.canary_weight = 0;
        s.phase = DeployPhase::Promoted;
        self.render().map(|_| ())
    }

    fn rollback(&mut self) -> Result<()> {
        self.require_canary("rollback")?;
        let s = &mut self.state.status;
        s.canary_weight = 0;
        s.phase = DeployPhase::RolledBack;
        self.render().map(|_| ())
    }

    fn status(&self) -> Result<DeployStatus> {
        Ok(self.state.status.clone())
    }
}
