//! The loop closes: a trigger fires → the application retrains → the candidate is
//! gated against the champion on recent labelled data → registered → a rollout starts.
//!
//! [`RetrainLoop::on_fired`] runs that chain once per incident. The retrain step is the
//! application's ([`RetrainStep`]: a closure, or [`CommandStep`] running a program); it
//! stores a model package in the registry's artifact store and says which
//! ([`Candidate`]). The candidate and the champion are evaluated on the *same* recent
//! labelled rows (the inference log joined with delayed labels, [`recent_labelled`])
//! and the application's [`Gate`] decides, as in `train_tracked`; a candidate that
//! fails is recorded and goes no further. Starting the rollout is behind
//! [`RolloutStarter`]: [`ControllerRollout`] hands the version to the rollout
//! controller as a canary judged by statistics; [`PromoteNow`] is the trivial strategy
//! (the alias moves at once: full traffic).
//!
//! Every step is appended to the registry's audit log, and every record's payload
//! names the hash of the record that caused it (`cause`), so the chain reads back
//! from the rollout to the window profile that started it: window profile digest →
//! `trigger.fired` → `retrain.started` → `retrain.candidate` (run, package digest) →
//! `retrain.gate` → `retrain.registered` (version) → `rollout.started`. One incident
//! runs once: an incident id already in the audit log is skipped (deduplication
//! across processes).

use std::collections::BTreeSet;
use std::path::PathBuf;

use mlops_core::registry::{AliasChange, NewVersion, Registry};
use mlops_core::{AuditRecord, Digest, ModelUri, RunId};
use mlops_train::{FlavorRegistry, Gate, GateReport, ModelPackage};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::monitor::INPUT_PREFIX;
use crate::monitor::quality::Labels;
use crate::trigger::Fired;
use crate::{Error, Result};

/// What the application's retrain step produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The package, stored in the registry's artifact store.
    pub package: Digest,
    /// The training run, when tracked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// When training started (Unix ms), for lead time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// Digests of the dataset snapshots it was trained on.
    #[serde(default)]
    pub datasets: Vec<Digest>,
}

/// What the retrain step is told.
#[derive(Debug)]
pub struct RetrainRequest<'a> {
    /// The firing.
    pub fired: &'a Fired,
    /// Registered model name.
    pub model: &'a str,
    /// The champion's version, if any.
    pub champion_version: Option<u64>,
    /// Recent labelled rows (features and target) the gates will use.
    pub recent: &'a DataFrame,
    /// Hash of the `trigger.fired` audit record.
    pub trigger_record: Digest,
}

/// The application's retraining: a closure `FnMut(&RetrainRequest) -> Result<Candidate>`
/// or a [`CommandStep`].
pub trait RetrainStep {
    /// Trains a candidate and stores its package in the registry's store.
    fn retrain(&mut self, request: &RetrainRequest<'_>) -> Result<Candidate>;
}

impl<F> RetrainStep for F
where
    F: FnMut(&RetrainRequest<'_>) -> Result<Candidate>,
{
    fn retrain(&mut self, request: &RetrainRequest<'_>) -> Result<Candidate> {
        self(request)
    }
}

/// A retrain step that runs a program.
///
/// The program gets `MLOPS_MODEL`, `MLOPS_TRIGGER` (the firing as JSON),
/// `MLOPS_TRIGGER_RECORD` (audit hash) and `MLOPS_RECENT_DATA` (a Parquet file of the
/// recent labelled rows) in its environment, and prints the [`Candidate`] as JSON on
/// its last line of standard output. A non-zero exit is [`Error::Retrain`] with the
/// tail of its standard error.
#[derive(Debug, Clone)]
pub struct CommandStep {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

impl RetrainStep for CommandStep {
    fn retrain(&mut self, request: &RetrainRequest<'_>) -> Result<Candidate> {
        let dir = tempfile::tempdir().map_err(|e| Error::io(&std::env::temp_dir(), e))?;
        let data = dir.path().join("recent.parquet");
        let mut frame = request.recent.clone();
        let f = std::fs::File::create(&data).map_err(|e| Error::io(&data, e))?;
        ParquetWriter::new(f).finish(&mut frame)?;
        let fired = serde_json::to_string(request.fired).map_err(|e| Error::json("firing", e))?;
        let out = std::process::Command::new(&self.program)
            .args(&self.args)
            .env("MLOPS_MODEL", request.model)
            .env("MLOPS_TRIGGER", fired)
            .env("MLOPS_TRIGGER_RECORD", request.trigger_record.to_string())
            .env("MLOPS_RECENT_DATA", &data)
            .output()
            .map_err(|e| Error::io(&self.program, e))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: String = err.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            return Err(Error::Retrain(format!(
                "{} exited with {}: {tail}",
                self.program.display(),
                out.status
            )));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .ok_or_else(|| {
                Error::Retrain(format!("{} printed no candidate", self.program.display()))
            })?;
        serde_json::from_str(last).map_err(|e| {
            Error::Retrain(format!(
                "{} printed {last:?}, not a candidate: {e}",
                self.program.display()
            ))
        })
    }
}

/// What starting a rollout returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutStarted {
    /// The rollout's id.
    pub rollout: String,
    /// Strategy and numbers, recorded in the audit log.
    pub detail: serde_json::Value,
}

/// Starts a rollout of a registered version; the rollout controller implements it.
pub trait RolloutStarter {
    /// Starts rolling `version` of `model` out (replacing `champion`); `cause` is the
    /// hash of the audit record that led here.
    fn start_rollout(
        &mut self,
        model: &str,
        version: u64,
        champion: Option<u64>,
        cause: &Digest,
    ) -> Result<RolloutStarted>;
}

/// The one-step rollout: the alias moves to the new version at once.
#[derive(Debug)]
pub struct PromoteNow<'a> {
    /// The registry.
    pub registry: &'a dyn Registry,
    /// The alias served at full traffic (`champion`).
    pub alias: String,
    /// Who moves it.
    pub actor: String,
}

impl RolloutStarter for PromoteNow<'_> {
    fn start_rollout(
        &mut self,
        model: &str,
        version: u64,
        champion: Option<u64>,
        cause: &Digest,
    ) -> Result<RolloutStarted> {
        let m = self.registry.set_alias(
            model,
            &self.alias,
            version,
            &AliasChange::new(format!("retrained after audit record {}", cause.short()))
                .by(&self.actor),
        )?;
        Ok(RolloutStarted {
            rollout: format!("promote-{model}-{version}"),
            detail: serde_json::json!({
                "strategy": "immediate",
                "alias": self.alias,
                "from_version": champion,
                "to_version": version,
                "time_ms": m.time_ms,
                "traffic": 1.0,
            }),
        })
    }
}

/// Starts a canary rollout run by the rollout [`Controller`](crate::controller::Controller):
/// writes the new rollout's state file (`<state_dir>/<model>-v<version>.json`), which a
/// controller (`mlops rollout`, or `Controller::open(path, None, ...)` in the
/// application) then drives step by step, judged by statistics, promoting (alias move)
/// or rolling back. A first model (no champion) has nothing to canary against and is
/// refused.
#[derive(Debug)]
pub struct ControllerRollout<'a> {
    /// The registry (the versions' sources become the deployer's storage URIs).
    pub registry: &'a dyn Registry,
    /// The canary strategy (controller rules: canary steps, no guardrails).
    pub strategy: crate::strategy::Strategy,
    /// The alias moved on promotion.
    pub alias: String,
    /// Milliseconds between the judge's looks.
    pub look_every_ms: u64,
    /// Where rollout state files are written.
    pub state_dir: PathBuf,
    /// Prometheus HTTP API for analysis steps.
    pub prometheus: Option<String>,
}

impl RolloutStarter for ControllerRollout<'_> {
    fn start_rollout(
        &mut self,
        model: &str,
        version: u64,
        champion: Option<u64>,
        cause: &Digest,
    ) -> Result<RolloutStarted> {
        use crate::controller::{RolloutSpec, RolloutState};
        use crate::deployer::VersionSpec;
        let stable = champion.ok_or_else(|| {
            Error::arg(format!(
                "models:/{model}/{version} has no champion to canary against"
            ))
        })?;
        let spec_of = |v: u64| -> Result<VersionSpec> {
            Ok(VersionSpec {
                model: model.to_string(),
                version: v.to_string(),
                storage_uri: self.registry.get_version(model, v)?.source,
            })
        };
        let name = format!("{model}-v{version}");
        let state = RolloutState::new(RolloutSpec {
            name: name.clone(),
            stable: spec_of(stable)?,
            canary: spec_of(version)?,
            alias: self.alias.clone(),
            strategy: self.strategy.clone(),
            look_every_ms: self.look_every_ms,
            prometheus: self.prometheus.clone(),
            guardrail_queries: Vec::new(),
        })?;
        // The controller's records name the registration that started the rollout.
        let mut state = state;
        state.last_record = Some(*cause);
        std::fs::create_dir_all(&self.state_dir).map_err(|e| Error::io(&self.state_dir, e))?;
        let path = self.state_dir.join(format!("{name}.json"));
        if path.exists() {
            return Err(Error::arg(format!(
                "a rollout state already exists at {}",
                path.display()
            )));
        }
        state.save(&path)?;
        Ok(RolloutStarted {
            rollout: name,
            detail: serde_json::json!({
                "strategy": "canary (rollout controller)",
                "state": path.display().to_string(),
                "stable_version": stable,
                "canary_version": version,
                "alias": self.alias,
                "cause": cause.to_string(),
            }),
        })
    }
}

/// What one run of the chain did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopOutcome {
    /// The incident.
    pub incident: String,
    /// The candidate, when the step produced one.
    pub candidate: Option<Candidate>,
    /// The gate's decision.
    pub gate: Option<GateReport>,
    /// The registered version.
    pub version: Option<u64>,
    /// The rollout started.
    pub rollout: Option<RolloutStarted>,
    /// Why the chain stopped early (duplicate incident, failed step, failed gate).
    pub stopped: Option<String>,
    /// Hashes of the audit records written, in order.
    pub records: Vec<Digest>,
}

/// Runs the chain for each firing (see the module docs).
#[derive(Debug)]
pub struct RetrainLoop<'a> {
    /// The registry (its artifact store holds candidates; its audit log the chain).
    pub registry: &'a dyn Registry,
    /// Registered model name.
    pub model: String,
    /// The champion's alias.
    pub champion_alias: String,
    /// The gate policy (e.g. precision no worse, no new bias across groups).
    pub gate: Gate,
    /// Loaders of model flavors.
    pub flavors: FlavorRegistry,
    /// Who acts in the audit log.
    pub actor: String,
    /// A column of the recent rows whose values are the groups that fairness gates
    /// compare (e.g. `region`): both evaluations then carry per-group figures
    /// ([`Evaluation::with_groups`](mlops_train::Evaluation::with_groups)). `None`: no
    /// group figures, and a fairness gate fails closed.
    pub group_column: Option<String>,
    handled: BTreeSet<String>,
}

impl<'a> RetrainLoop<'a> {
    /// A loop for `model` in `registry`, champion alias `champion`, actor
    /// `mlops-monitor`.
    pub fn new(registry: &'a dyn Registry, model: &str, gate: Gate) -> RetrainLoop<'a> {
        RetrainLoop {
            registry,
            model: model.to_string(),
            champion_alias: "champion".into(),
            gate,
            flavors: FlavorRegistry::new(),
            actor: "mlops-monitor".into(),
            group_column: None,
            handled: BTreeSet::new(),
        }
    }

    fn subject(&self) -> String {
        format!("models:/{}@{}", self.model, self.champion_alias)
    }

    fn append(
        &self,
        action: &str,
        cause: Option<&Digest>,
        mut payload: serde_json::Value,
        records: &mut Vec<Digest>,
    ) -> Result<AuditRecord> {
        if let (Some(c), Some(o)) = (cause, payload.as_object_mut()) {
            o.insert("cause".into(), c.to_string().into());
        }
        let r = self
            .registry
            .audit_log()
            .append(&self.actor, action, &self.subject(), payload)?;
        records.push(r.hash);
        Ok(r)
    }

    fn incident_recorded(&self, incident: &str) -> Result<bool> {
        Ok(self.registry.audit_log().records()?.iter().any(|r| {
            r.action == "trigger.fired"
                && r.payload.get("incident").and_then(|v| v.as_str()) == Some(incident)
                && r.payload.get("model").and_then(|v| v.as_str()) == Some(self.model.as_str())
        }))
    }

    /// Records a firing and runs the chain for it.
    pub fn on_fired(
        &mut self,
        fired: &Fired,
        recent: &DataFrame,
        step: &mut dyn RetrainStep,
        rollout: &mut dyn RolloutStarter,
    ) -> Result<LoopOutcome> {
        let mut out = LoopOutcome {
            incident: fired.incident.clone(),
            candidate: None,
            gate: None,
            version: None,
            rollout: None,
            stopped: None,
            records: Vec::new(),
        };
        if self.handled.contains(&fired.incident) || self.incident_recorded(&fired.incident)? {
            out.stopped = Some("duplicate incident: already handled".into());
            return Ok(out);
        }
        self.handled.insert(fired.incident.clone());
        let champion = match self.registry.resolve(&ModelUri::Alias {
            name: self.model.clone(),
            alias: self.champion_alias.clone(),
        }) {
            Ok(v) => Some(v.version),
            Err(
                mlops_core::Error::AliasNotFound { .. } | mlops_core::Error::ModelNotFound { .. },
            ) => None,
            Err(e) => return Err(e.into()),
        };
        let rec = &mut out.records;
        let trig = self.append(
            "trigger.fired",
            None,
            serde_json::json!({
                "model": self.model,
                "incident": fired.incident,
                "policy": fired.policy,
                "window": fired.window,
                "window_profile": fired.window_profile.map(|d| d.to_string()),
                "value": fired.value,
                "reason": fired.reason,
                "champion_version": champion,
            }),
            rec,
        )?;
        let started = self.append(
            "retrain.started",
            Some(&trig.hash),
            serde_json::json!({"model": self.model, "recent_rows": recent.height()}),
            rec,
        )?;
        let request = RetrainRequest {
            fired,
            model: &self.model,
            champion_version: champion,
            recent,
            trigger_record: trig.hash,
        };
        let candidate = match step.retrain(&request) {
            Ok(c) => c,
            Err(e) => {
                self.append(
                    "retrain.failed",
                    Some(&started.hash),
                    serde_json::json!({"model": self.model, "error": e.to_string()}),
                    rec,
                )?;
                out.stopped = Some(format!("retrain step failed: {e}"));
                return Ok(out);
            }
        };
        let cand_rec = self.append(
            "retrain.candidate",
            Some(&started.hash),
            serde_json::json!({
                "model": self.model,
                "package": candidate.package.to_string(),
                "run_id": candidate.run_id.as_ref().map(|r| r.as_str().to_string()),
                "started_ms": candidate.started_ms,
                "datasets": candidate.datasets.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            }),
            rec,
        )?;
        out.candidate = Some(candidate.clone());
        // gates: candidate and champion on the same recent rows
        let store = self.registry.artifact_store();
        let cand_model = ModelPackage::load(store, &candidate.package)?.model(&self.flavors)?;
        let groups =
            match &self.group_column {
                Some(c) => Some(mlops_train::tracked::group_values(recent, c).map_err(|e| {
                    Error::arg(format!("group column {c:?} of the recent rows: {e}"))
                })?),
                None => None,
            };
        let evaluate = |m: &dyn mlops_train::Model| -> Result<mlops_train::Evaluation> {
            let e = mlops_train::evaluate(m, recent)?;
            Ok(match &groups {
                Some(g) => e.with_groups(g)?,
                None => e,
            })
        };
        let cand_eval = evaluate(cand_model.as_ref())?;
        let champ_eval = match champion {
            Some(v) => {
                let loaded =
                    self.registry
                        .load(&ModelUri::Version(mlops_core::ModelVersionRef {
                            name: self.model.clone(),
                            version: v,
                        }))?;
                let m = ModelPackage::load(store, &loaded.package)?.model(&self.flavors)?;
                Some(evaluate(m.as_ref())?)
            }
            None => None,
        };
        let report = self.gate.check(&cand_eval, champ_eval.as_ref());
        let gate_rec = self.append(
            "retrain.gate",
            Some(&cand_rec.hash),
            serde_json::json!({
                "model": self.model,
                "passed": report.passed,
                "package": candidate.package.to_string(),
                "champion_version": champion,
                "rows": recent.height(),
                "rows_digest": cand_eval.rows_digest.to_string(),
                "candidate_metrics": cand_eval.metrics,
                "champion_metrics": champ_eval.as_ref().map(|e| e.metrics.clone()),
                "report": serde_json::to_value(&report).map_err(|e| Error::json("gate report", e))?,
            }),
            rec,
        )?;
        out.gate = Some(report.clone());
        if !report.passed {
            out.stopped = Some("candidate failed the gate".into());
            return Ok(out);
        }
        let mut nv = NewVersion::new(
            candidate.package,
            match &candidate.run_id {
                Some(r) => format!("runs:/{r}/model"),
                None => format!("mlops-package:{}", candidate.package),
            },
        );
        nv.run_id = candidate.run_id.clone();
        nv.datasets = candidate.datasets.clone();
        nv.description = Some(format!("retrained on incident {}", fired.incident));
        nv.tags
            .insert("mlops.trigger_record".into(), trig.hash.to_string());
        nv.tags
            .insert("mlops.incident".into(), fired.incident.clone());
        let version = self.registry.create_version(&self.model, &nv)?;
        let reg_rec = self.append(
            "retrain.registered",
            Some(&gate_rec.hash),
            serde_json::json!({
                "model": self.model,
                "version": version.version,
                "package": candidate.package.to_string(),
                "run_id": candidate.run_id.as_ref().map(|r| r.as_str().to_string()),
            }),
            rec,
        )?;
        out.version = Some(version.version);
        let started =
            rollout.start_rollout(&self.model, version.version, champion, &reg_rec.hash)?;
        self.append(
            "rollout.started",
            Some(&reg_rec.hash),
            serde_json::json!({
                "model": self.model,
                "version": version.version,
                "rollout": started.rollout,
                "detail": started.detail,
            }),
            &mut out.records,
        )?;
        out.rollout = Some(started);
        Ok(out)
    }
}

/// The inference log's served rows joined with labels, as a frame the model can be
/// evaluated on: the `features` (input columns without their prefix, dtypes as
/// logged) and `target` (text for classifiers, `f64` for regressors). Only the last
/// `last_rows` labelled rows are kept.
pub fn recent_labelled(
    log: &DataFrame,
    labels: &Labels,
    features: &[String],
    target: &str,
    regression: bool,
    last_rows: usize,
) -> Result<DataFrame> {
    let n = log.height();
    let ids = log
        .column("request_id")
        .map_err(|_| Error::arg("the inference log has no request_id column"))?
        .cast(&DataType::String)?;
    let ids = ids.str()?;
    let rows: Vec<Option<u32>> = match log.column("row") {
        Ok(c) => c.cast(&DataType::UInt32)?.u32()?.iter().collect(),
        Err(_) => vec![Some(0); n],
    };
    let status: Vec<Option<i64>> = match log.column("status") {
        Ok(c) => c.cast(&DataType::Int64)?.i64()?.iter().collect(),
        Err(_) => vec![Some(200); n],
    };
    let mut keep: Vec<IdxSize> = Vec::new();
    let mut target_vals: Vec<String> = Vec::new();
    for i in (0..n).rev() {
        if keep.len() >= last_rows {
            break;
        }
        if status[i].unwrap_or(200) >= 400 {
            continue;
        }
        if let Some(id) = ids.get(i)
            && let Some(l) = labels.get(id, rows[i].unwrap_or(0))
        {
            keep.push(i as IdxSize);
            target_vals.push(l.to_string());
        }
    }
    keep.reverse();
    target_vals.reverse();
    let idx = IdxCa::from_vec("idx".into(), keep);
    let taken = log.take(&idx)?;
    let mut cols = Vec::with_capacity(features.len() + 1);
    for f in features {
        let c = taken
            .column(&format!("{INPUT_PREFIX}{f}"))
            .map_err(|_| Error::arg(format!("the inference log has no input.{f} column")))?;
        cols.push(c.clone().with_name(f.as_str().into()));
    }
    let t = Column::new(target.into(), target_vals);
    cols.push(if regression {
        t.cast(&DataType::Float64)?
    } else {
        t
    });
    Ok(DataFrame::new(taken.height(), cols)?)
}
