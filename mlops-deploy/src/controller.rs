//! The rollout controller: runs a strategy against any [`Deployer`], reads the arms'
//! counters from an [`ArmSource`], asks the [`Judge`], and promotes (moves the registry
//! alias with the decision's numbers as the reason, then the canary to 100%) or rolls
//! back (canary weight 0, alias untouched).
//!
//! The three strategies map onto the same deployer calls:
//!
//! - canary: `set_weight`, `pause`, `judge` and `analysis` steps in order;
//! - blue-green: the new version up as a canary with no traffic (the preview; golden
//!   requests reach it alone through [`Deployer::preview_url`]), the pre-promotion
//!   analysis, the wait for promotion (automatic, after N seconds, or a person), the
//!   switch (canary weight 100, the old version still up), the post-promotion analysis
//!   (failure switches back), the scale-down delay, then the promotion;
//! - shadow: every request mirrored to the new version ([`Deployer::deploy_shadow`];
//!   no user sees its answers) for the duration, then its analysis (judge metrics
//!   compare the shadow's arm with the stable one), then a promotion (a switch) or the
//!   shadow removed ([`RolloutPhase::Completed`]).
//!
//! Analysis metrics are measured here: Prometheus queries, the application's command,
//! golden requests (against the preview) and the judge (over the source's counts of
//! the metric it names, at that measurement's cumulative counts).
//!
//! A blue-green post-promotion judge has no concurrent control (the old version gets
//! no traffic after the switch): it compares the new version's counts with the old
//! version's from before the switch.
//!
//! Crash safety is the design constraint. The whole rollout is one [`RolloutState`],
//! written with `write_atomic` after every unit of work ([`Controller::tick`]); a
//! controller killed anywhere and restarted on the same state file resumes at the same
//! step. Every effect is idempotent or guarded: weights are set again harmlessly,
//! and a promotion is first recorded as `Promoting` (with its decision), then the alias
//! is moved **only if it does not already point at the canary**, then the deployer
//! promotes, then `Promoted` is written. So a kill between any two of those never
//! moves the alias twice.
//!
//! Time is passed in (`now_ms`), so pauses are testable and the controller has no clock
//! of its own; the binaries pass `mlops_core::now_ms()`.

use std::path::{Path, PathBuf};

use mlops_core::{AliasChange, AuditLog, Registry};
use serde::{Deserialize, Serialize};

use crate::deployer::{Deployer, VersionSpec};
use crate::error::{Error, Result};
use crate::judge::{
    Arm, ArmPair, Decision, Guardrail, Judge, MetricKind, MetricSpec, NoDecisionAction, Outcome,
    Verdict,
};
use crate::strategy::analysis::GoldenRequest;
use crate::strategy::analysis::{
    Analysis, Measured, MetricState, Phase as AnalysisPhase, Provider, assess, assess_run, classify,
};
use crate::strategy::{BlueGreen, Canary, Shadow, Step, Strategy};

/// Where the arms' cumulative counters come from.
pub trait ArmSource {
    /// Cumulative control and canary counts of the primary metric now (since the
    /// counters started; the controller subtracts the values it saw when judging began).
    fn counts(&mut self, stable: &VersionSpec, canary: &VersionSpec) -> Result<ArmPair>;

    /// Cumulative control and canary counts of any named metric (an analysis' judge
    /// metric). Only sources that resolve metrics by name ([`LocalSource`]) have them.
    fn metric_counts(
        &mut self,
        metric: &MetricSpec,
        _stable: &VersionSpec,
        _canary: &VersionSpec,
    ) -> Result<ArmPair> {
        Err(Error::Source(format!(
            "this source reads only its configured metric, not {:?}",
            metric.name
        )))
    }

    /// Cumulative counts of the judge's guardrail metrics, one pair per guardrail, in
    /// order. A source reads them by the guardrail's metric name ([`LocalSource`]) or
    /// from the rollout's query sets, one per guardrail ([`PrometheusSource`]). Sources
    /// without guardrail metrics refuse any.
    fn guardrail_counts(
        &mut self,
        guardrails: &[Guardrail],
        queries: &[crate::strategy::argo::ArmQueries],
        _stable: &VersionSpec,
        _canary: &VersionSpec,
    ) -> Result<Vec<ArmPair>> {
        if guardrails.is_empty() && queries.is_empty() {
            Ok(Vec::new())
        } else {
            Err(Error::Source(
                "this source has no guardrail metrics (use Prometheus)".into(),
            ))
        }
    }
}

/// Counts read from a CSV of cumulative looks (`control_n,control_successes,canary_n,
/// canary_successes`, the `mlops judge` columns without `stream` and `look`): replays a
/// recorded rollout, one row per read; the last row repeats once the file is exhausted.
#[derive(Clone, Debug)]
pub struct ReplaySource {
    rows: Vec<ArmPair>,
    next: usize,
}

impl ReplaySource {
    /// Parses the CSV (header line first); errors name the line.
    pub fn from_csv(text: &str) -> Result<Self> {
        let bad = |line: usize, reason: String| Error::InvalidConfig {
            field: format!("replay line {line}"),
            reason,
        };
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() != 4 {
                return Err(bad(i + 1, format!("{} fields, expected 4", f.len())));
            }
            let mut n = [0u64; 4];
            for (slot, text) in n.iter_mut().zip(&f) {
                *slot = text
                    .parse()
                    .map_err(|e| bad(i + 1, format!("{text:?}: {e}")))?;
            }
            rows.push(ArmPair::new(
                Arm::proportion(n[0], n[1]),
                Arm::proportion(n[2], n[3]),
            ));
        }
        if rows.is_empty() {
            return Err(bad(1, "no rows".into()));
        }
        Ok(Self { rows, next: 0 })
    }

    /// Continues after `reads` rows were consumed (a restarted controller).
    pub fn skip(mut self, reads: usize) -> Self {
        self.next = reads;
        self
    }
}

impl ArmSource for ReplaySource {
    fn counts(&mut self, _: &VersionSpec, _: &VersionSpec) -> Result<ArmPair> {
        let i = self.next.min(self.rows.len() - 1);
        self.next += 1;
        Ok(self.rows[i])
    }
}

/// What a rollout is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RolloutSpec {
    /// A name for logs and metrics.
    pub name: String,
    /// The version serving now.
    pub stable: VersionSpec,
    /// The version rolled out.
    pub canary: VersionSpec,
    /// The registry alias moved on promotion (`champion`).
    pub alias: String,
    /// The strategy (canary steps; the local controller runs `set_weight`, `pause` and
    /// `judge` steps, and `analysis` steps with Prometheus and command metrics).
    pub strategy: Strategy,
    /// Milliseconds between the judge's looks.
    pub look_every_ms: u64,
    /// Prometheus HTTP API for analysis metrics without their own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
    /// For a Prometheus source: one query set per guardrail of the judge, in order
    /// (`successes` counts the guardrail's events, e.g. 5xx answers or requests slower
    /// than the objective). Empty for a [`LocalSource`], which reads guardrails by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guardrail_queries: Vec<crate::strategy::argo::ArmQueries>,
}

/// The measurements of the current analysis step.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AnalysisRun {
    /// Counts per metric, in the analysis' order.
    pub metrics: Vec<MetricState>,
    /// When each metric measures next (ms); `None` once it is complete.
    pub next_ms: Vec<Option<u64>>,
    /// Phase per metric.
    pub phases: Vec<AnalysisPhase>,
}

/// Where a rollout stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum RolloutPhase {
    /// Working through the steps.
    Progressing,
    /// Waiting for a person (`promote` or `abort`).
    Paused {
        /// Why.
        reason: String,
    },
    /// Promotion recorded, not yet finished.
    Promoting {
        /// Why (the decision's numbers, or "manual").
        reason: String,
    },
    /// Done: the canary is the stable version, the alias points at it.
    Promoted,
    /// Rollback recorded, not yet finished.
    RollingBack {
        /// Why.
        reason: String,
    },
    /// Done: the canary gets no traffic.
    RolledBack,
    /// Done without a promotion: a shadow whose analysis passed (and that was not
    /// asked to promote) was removed.
    Completed,
}

impl RolloutPhase {
    /// The numeric code exported as `deploy_rollout_phase` (Flagger-style: 0 running,
    /// 1 succeeded, 2 failed, 3 paused).
    pub fn code(&self) -> u8 {
        match self {
            RolloutPhase::Progressing
            | RolloutPhase::Promoting { .. }
            | RolloutPhase::RollingBack { .. } => 0,
            RolloutPhase::Promoted | RolloutPhase::Completed => 1,
            RolloutPhase::RolledBack => 2,
            RolloutPhase::Paused { .. } => 3,
        }
    }

    /// Whether the rollout is over.
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            RolloutPhase::Promoted | RolloutPhase::RolledBack | RolloutPhase::Completed
        )
    }
}

/// The persisted state of one rollout.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RolloutState {
    /// The rollout.
    pub spec: RolloutSpec,
    /// Index of the current step.
    pub step: usize,
    /// The phase.
    pub phase: RolloutPhase,
    /// Canary weight last set.
    pub weight: u8,
    /// When the current pause or judge step started (ms).
    pub step_started_ms: Option<u64>,
    /// When the judge last looked (ms).
    pub last_look_ms: Option<u64>,
    /// The judge of the current judge step, with its running statistics.
    pub judge: Option<Judge>,
    /// Counts when the judge step started (subtracted from later reads).
    pub baseline: Option<ArmPair>,
    /// Guardrail counts when the judge step started.
    #[serde(default)]
    pub guardrail_baseline: Vec<ArmPair>,
    /// Looks taken by the judge.
    pub looks: u64,
    /// Reads made from the source (a replay source resumes after them).
    pub reads: u64,
    /// The judge's decision, once taken.
    pub decision: Option<Decision>,
    /// The running analysis step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisRun>,
    /// Hash of the audit record this rollout wrote last, or of the record that started
    /// it (set by whoever starts the rollout, e.g. the retrain loop's registration):
    /// each record the controller writes names it as its `cause`, so the rollout's
    /// records chain back, digest by digest, to what started it. State is saved before
    /// the record that reports it is appended, so the saved copy holds the hash of the
    /// record before (after a restart the next record links one step further back; the
    /// chain still reaches the start); the controller's in-memory state holds the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_record: Option<mlops_core::Digest>,
    /// Blue-green: when all traffic was switched to the new version (ms); the
    /// scale-down delay counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switched_ms: Option<u64>,
}

impl RolloutState {
    /// A new rollout at its first step.
    pub fn new(spec: RolloutSpec) -> Result<Self> {
        spec.strategy.validate()?;
        let guardrails = match &spec.strategy {
            Strategy::Canary(c) => c.judge.guardrails.len(),
            _ => 0,
        };
        if let Strategy::Shadow(s) = &spec.strategy
            && s.promote_on_success
            && spec.alias.is_empty()
        {
            return Err(Error::InvalidConfig {
                field: "alias".into(),
                reason: "a shadow that promotes on success needs the alias to move".into(),
            });
        }
        if !spec.guardrail_queries.is_empty() && guardrails != spec.guardrail_queries.len() {
            return Err(Error::InvalidConfig {
                field: "canary.judge.guardrails".into(),
                reason: format!(
                    "{} guardrails but {} guardrail query sets: each guardrail needs its queries",
                    guardrails,
                    spec.guardrail_queries.len()
                ),
            });
        }
        Ok(Self {
            spec,
            step: 0,
            phase: RolloutPhase::Progressing,
            weight: 0,
            step_started_ms: None,
            last_look_ms: None,
            judge: None,
            baseline: None,
            guardrail_baseline: Vec::new(),
            looks: 0,
            reads: 0,
            decision: None,
            analysis: None,
            last_record: None,
            switched_ms: None,
        })
    }

    /// Reads a persisted state.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| mlops_core::Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidConfig {
            field: path.display().to_string(),
            reason: format!("not a rollout state: {e}"),
        })
    }

    /// Writes it atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::InvalidConfig {
            field: "state".into(),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        mlops_core::fs::write_atomic(path, &bytes)?;
        Ok(())
    }

    /// The rollout's phase and weight in the Prometheus text format (0.0.4).
    pub fn metrics_text(&self) -> String {
        // The families the server's `/metrics` shows, through the same encoder.
        let gauges = RolloutGauges::new();
        let mut registry = prometheus_client::registry::Registry::default();
        gauges.register(&mut registry);
        gauges.observe(self);
        let mut text = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }
}

/// What one tick did.
#[derive(Clone, Debug, PartialEq)]
pub enum Tick {
    /// Progress was made; tick again.
    Advanced,
    /// Nothing to do before this time (ms).
    WaitUntil(u64),
    /// Waiting for a person.
    Paused,
    /// The rollout is over.
    Done,
}

/// Runs one rollout.
pub struct Controller<'a> {
    /// The persisted state.
    pub state: RolloutState,
    path: PathBuf,
    deployer: &'a mut dyn Deployer,
    registry: &'a dyn Registry,
    audit: &'a AuditLog,
    source: &'a mut dyn ArmSource,
    actor: String,
    gauges: Option<RolloutGauges>,
}

fn parse_version(v: &VersionSpec) -> Result<u64> {
    v.version.parse().map_err(|_| Error::InvalidConfig {
        field: "canary.version".into(),
        reason: format!("{:?} is not a registry version number", v.version),
    })
}

impl<'a> Controller<'a> {
    /// A controller for the rollout persisted at `path` (or `state`, saved there first
    /// when the file does not exist yet).
    pub fn open(
        path: impl Into<PathBuf>,
        state: Option<RolloutState>,
        deployer: &'a mut dyn Deployer,
        registry: &'a dyn Registry,
        audit: &'a AuditLog,
        source: &'a mut dyn ArmSource,
    ) -> Result<Self> {
        let path = path.into();
        let state = if path.exists() {
            RolloutState::load(&path)?
        } else {
            let s = state.ok_or_else(|| Error::InvalidConfig {
                field: path.display().to_string(),
                reason: "no rollout state there and no new rollout given".into(),
            })?;
            s.save(&path)?;
            s
        };
        Ok(Self {
            state,
            path,
            deployer,
            registry,
            audit,
            source,
            actor: "mlops-rollout-controller".into(),
            gauges: None,
        })
    }

    fn persist(&self) -> Result<()> {
        self.state.save(&self.path)?;
        if let Some(g) = &self.gauges {
            g.observe(&self.state);
        }
        Ok(())
    }

    /// Shows the rollout's phase, weight and step on these gauges (registered into a
    /// server's `/metrics` with [`RolloutGauges::register`]), updated on every step.
    pub fn with_gauges(mut self, gauges: RolloutGauges) -> Self {
        gauges.observe(&self.state);
        self.gauges = Some(gauges);
        self
    }

    fn record(&mut self, action: &str, mut payload: serde_json::Value) -> Result<()> {
        let subject = format!(
            "{}/{}",
            self.state.spec.canary.model, self.state.spec.canary.version
        );
        if let (Some(cause), Some(o)) = (&self.state.last_record, payload.as_object_mut()) {
            o.insert("cause".into(), serde_json::json!(cause.to_string()));
        }
        let rec = self.audit.append(&self.actor, action, &subject, payload)?;
        self.state.last_record = Some(rec.hash);
        Ok(())
    }

    /// Asks for promotion now (a person's decision, or the end of the steps).
    pub fn promote(&mut self, reason: &str) -> Result<()> {
        if self.state.phase.is_done() {
            return Ok(());
        }
        self.state.phase = RolloutPhase::Promoting {
            reason: reason.into(),
        };
        self.persist()?;
        self.finish()
    }

    /// Aborts: the canary goes back to weight 0.
    pub fn abort(&mut self, reason: &str) -> Result<()> {
        if self.state.phase.is_done() {
            return Ok(());
        }
        self.state.phase = RolloutPhase::RollingBack {
            reason: reason.into(),
        };
        self.persist()?;
        self.finish()
    }

    /// Finishes a recorded promotion or rollback (idempotent).
    fn finish(&mut self) -> Result<()> {
        match self.state.phase.clone() {
            RolloutPhase::Promoting { reason } => {
                let spec = &self.state.spec;
                let version = parse_version(&spec.canary)?;
                let current = self
                    .registry
                    .get_version_by_alias(&spec.canary.model, &spec.alias)
                    .ok();
                if current.map(|v| v.version) != Some(version) {
                    let change = AliasChange::new(format!("rollout {}: {reason}", spec.name))
                        .by(self.actor.clone());
                    self.registry
                        .set_alias(&spec.canary.model, &spec.alias, version, &change)?;
                }
                if let Strategy::Shadow(_) = &self.state.spec.strategy {
                    // A shadow is promoted by a switch: the mirror goes, the new
                    // version comes up as the canary and takes all the traffic.
                    let canary = self.state.spec.canary.clone();
                    self.deployer.remove_shadow()?;
                    self.deployer.deploy_canary(&canary)?;
                }
                self.deployer.promote()?;
                self.state.weight = 100;
                self.state.phase = RolloutPhase::Promoted;
                self.persist()?;
                self.record(
                    "rollout.promote",
                    serde_json::json!({"rollout": self.state.spec.name, "reason": reason,
                                       "decision": self.state.decision, "alias": self.state.spec.alias}),
                )?;
            }
            RolloutPhase::RollingBack { reason } => {
                if let Strategy::Shadow(_) = &self.state.spec.strategy {
                    self.deployer.remove_shadow()?;
                }
                self.deployer.rollback()?;
                self.state.weight = 0;
                self.state.phase = RolloutPhase::RolledBack;
                self.persist()?;
                self.record(
                    "rollout.rollback",
                    serde_json::json!({"rollout": self.state.spec.name, "reason": reason,
                                       "decision": self.state.decision}),
                )?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Does one unit of work and persists the state.
    pub fn tick(&mut self, now_ms: u64) -> Result<Tick> {
        match &self.state.phase {
            RolloutPhase::Promoted | RolloutPhase::RolledBack | RolloutPhase::Completed => {
                return Ok(Tick::Done);
            }
            RolloutPhase::Paused { .. } => return Ok(Tick::Paused),
            RolloutPhase::Promoting { .. } | RolloutPhase::RollingBack { .. } => {
                self.finish()?;
                return Ok(Tick::Done);
            }
            RolloutPhase::Progressing => {}
        }
        let canary = match self.state.spec.strategy.clone() {
            Strategy::Canary(c) => c,
            Strategy::BlueGreen(b) => return self.blue_green_tick(&b, now_ms),
            Strategy::Shadow(s) => return self.shadow_tick(&s, now_ms),
        };
        if self.state.step == 0 && self.state.step_started_ms.is_none() && self.state.weight == 0 {
            // First tick: bring the canary up (idempotent).
            self.deployer.deploy_canary(&self.state.spec.canary)?;
        }
        let Some(step) = canary.steps.get(self.state.step).cloned() else {
            let reason = match &self.state.decision {
                Some(d) => d.to_string(),
                None => "all steps passed".to_string(),
            };
            self.promote(&reason)?;
            return Ok(Tick::Done);
        };
        match step {
            Step::SetWeight(w) => {
                self.deployer.set_canary_weight(w)?;
                self.state.weight = w;
                self.state.step += 1;
                self.persist()?;
                self.record(
                    "rollout.step",
                    serde_json::json!({"rollout": self.state.spec.name, "set_weight": w}),
                )?;
                Ok(Tick::Advanced)
            }
            Step::Pause { duration: None } => {
                self.state.phase = RolloutPhase::Paused {
                    reason: format!("step {}: pause until promoted", self.state.step),
                };
                self.state.step += 1;
                self.persist()?;
                Ok(Tick::Paused)
            }
            Step::Pause { duration: Some(d) } => {
                let start = *self.state.step_started_ms.get_or_insert(now_ms);
                let end = start + d.seconds() * 1000;
                if now_ms >= end {
                    self.next_step()
                } else {
                    self.persist()?;
                    Ok(Tick::WaitUntil(end))
                }
            }
            Step::Judge { max_duration } => self.judge_tick(&canary, max_duration, now_ms),
            Step::Analysis(a) => self.analysis_tick(&a, now_ms),
        }
    }

    fn measure(&mut self, provider: &Provider) -> Measured {
        match provider {
            Provider::Prometheus { address, query } => {
                let Some(base) = address
                    .clone()
                    .or_else(|| self.state.spec.prometheus.clone())
                else {
                    return Measured::Error("no Prometheus address (metric or rollout)".into());
                };
                let source =
                    match PrometheusSource::new(base, crate::strategy::argo::ArmQueries::default())
                    {
                        Ok(s) => s,
                        Err(e) => return Measured::Error(e.to_string()),
                    };
                match source.vector(query) {
                    Ok(None) => Measured::NoData,
                    Ok(Some(v)) => Measured::Value(v),
                    Err(e) => Measured::Error(e.to_string()),
                }
            }
            Provider::Command { argv } => {
                let Some((program, args)) = argv.split_first() else {
                    return Measured::Error("empty command".into());
                };
                match std::process::Command::new(program)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .status()
                {
                    Ok(st) if st.code() == Some(0) => Measured::Value(1.0),
                    Ok(st) if st.code() == Some(1) => Measured::Value(0.0),
                    Ok(st) => Measured::Error(format!("{program}: {st}")),
                    Err(e) => Measured::Error(format!("{program}: {e}")),
                }
            }
            Provider::Golden { requests } => {
                let url = match self.deployer.preview_url() {
                    Ok(Some(url)) => url,
                    Ok(None) => {
                        return Measured::Error(
                            "this deployer has no preview endpoint for golden requests (in Kubernetes they run as an Argo analysis)".into(),
                        );
                    }
                    Err(e) => return Measured::Error(e.to_string()),
                };
                match golden_share(&url, requests) {
                    Ok(share) => Measured::Value(share),
                    Err(e) => Measured::Error(e),
                }
            }
            Provider::Judge(config) => {
                let spec = self.state.spec.clone();
                let measured = (|| -> Result<f64> {
                    let pair =
                        self.source
                            .metric_counts(&config.metric, &spec.stable, &spec.canary)?;
                    let guards = self.source.guardrail_counts(
                        &config.guardrails,
                        &[],
                        &spec.stable,
                        &spec.canary,
                    )?;
                    // The sequential boundaries are crossed or not at this look's
                    // cumulative counts: checking a subset of looks keeps their error
                    // rates. A measurement has no memory, so it cannot take the horizon
                    // z-test exactly once: like the Argo export, it spends all of alpha
                    // sequentially.
                    let mut config = config.clone();
                    config.horizon_alpha = 0.0;
                    let mut judge = Judge::new(config)?;
                    Ok(match judge.observe(1, pair, &guards)? {
                        Verdict::Decided(d) => match d.outcome {
                            Outcome::Promote => 1.0,
                            Outcome::Rollback => -1.0,
                            Outcome::NoDecision => 0.0,
                        },
                        Verdict::Continue(_) => 0.0,
                    })
                })();
                match measured {
                    Ok(v) => Measured::Value(v),
                    Err(e) => Measured::Error(e.to_string()),
                }
            }
        }
    }

    /// Blue-green: 0 preview up with no traffic + pre-promotion analysis, 1 wait for
    /// promotion (auto, after N seconds, or a person), 2 switch all traffic, 3
    /// post-promotion analysis (failure switches back), 4 scale-down delay, then the
    /// promotion (alias moved, the old version removed).
    fn blue_green_tick(&mut self, b: &BlueGreen, now_ms: u64) -> Result<Tick> {
        match self.state.step {
            0 => {
                if self.state.step_started_ms.is_none() {
                    self.deployer.deploy_canary(&self.state.spec.canary)?;
                    self.state.step_started_ms = Some(now_ms);
                    self.persist()?;
                    self.record(
                        "rollout.step",
                        serde_json::json!({"rollout": self.state.spec.name, "preview": self.state.spec.canary}),
                    )?;
                }
                match &b.pre_promotion_analysis {
                    Some(a) => self.analysis_tick(a, now_ms),
                    None => self.next_step(),
                }
            }
            1 => {
                if b.auto_promotion_enabled {
                    return self.next_step();
                }
                match b.auto_promotion_seconds {
                    Some(secs) => {
                        let start = *self.state.step_started_ms.get_or_insert(now_ms);
                        let end = start + secs * 1000;
                        if now_ms >= end {
                            self.next_step()
                        } else {
                            self.persist()?;
                            Ok(Tick::WaitUntil(end))
                        }
                    }
                    None => {
                        self.state.phase = RolloutPhase::Paused {
                            reason: "blue-green: the preview passed; promote to switch".into(),
                        };
                        self.state.step += 1;
                        self.persist()?;
                        Ok(Tick::Paused)
                    }
                }
            }
            2 => {
                self.deployer.set_canary_weight(100)?;
                self.state.weight = 100;
                self.state.switched_ms = Some(now_ms);
                self.state.step += 1;
                self.state.step_started_ms = None;
                self.persist()?;
                self.record(
                    "rollout.step",
                    serde_json::json!({"rollout": self.state.spec.name, "switch": 100}),
                )?;
                Ok(Tick::Advanced)
            }
            3 => match &b.post_promotion_analysis {
                Some(a) => self.analysis_tick(a, now_ms),
                None => self.next_step(),
            },
            _ => {
                let switched = *self.state.switched_ms.get_or_insert(now_ms);
                let end = switched + b.scale_down_delay_seconds * 1000;
                if now_ms >= end {
                    self.promote("blue-green: switched, post-promotion analysis passed, scale-down delay over")?;
                    Ok(Tick::Done)
                } else {
                    self.persist()?;
                    Ok(Tick::WaitUntil(end))
                }
            }
        }
    }

    /// Shadow: 0 mirror every request to the new version for `duration` (no user sees
    /// its answers), 1 the analysis (judge metrics compare the shadow's arm with the
    /// stable one), 2 promote (a switch) or remove the shadow.
    fn shadow_tick(&mut self, sh: &Shadow, now_ms: u64) -> Result<Tick> {
        match self.state.step {
            0 => {
                if self.state.step_started_ms.is_none() {
                    self.deployer
                        .deploy_shadow(&self.state.spec.canary, sh.percent)?;
                    self.state.step_started_ms = Some(now_ms);
                    self.persist()?;
                    self.record(
                        "rollout.step",
                        serde_json::json!({"rollout": self.state.spec.name, "shadow": self.state.spec.canary, "percent": sh.percent}),
                    )?;
                }
                let end =
                    self.state.step_started_ms.unwrap_or(now_ms) + sh.duration.seconds() * 1000;
                if now_ms >= end {
                    self.next_step()
                } else {
                    Ok(Tick::WaitUntil(end))
                }
            }
            1 => match &sh.analysis {
                Some(a) => self.analysis_tick(a, now_ms),
                None => self.next_step(),
            },
            _ => {
                if sh.promote_on_success {
                    self.promote("shadow: analysis passed")?;
                    return Ok(Tick::Done);
                }
                self.deployer.remove_shadow()?;
                self.state.phase = RolloutPhase::Completed;
                self.persist()?;
                self.record(
                    "rollout.complete",
                    serde_json::json!({"rollout": self.state.spec.name, "reason": "shadow: analysis passed, shadow removed"}),
                )?;
                Ok(Tick::Done)
            }
        }
    }

    fn next_step(&mut self) -> Result<Tick> {
        self.state.step += 1;
        self.state.step_started_ms = None;
        self.persist()?;
        Ok(Tick::Advanced)
    }

    fn analysis_tick(&mut self, a: &Analysis, now_ms: u64) -> Result<Tick> {
        if self.state.analysis.is_none() {
            let next = a
                .metrics
                .iter()
                .map(|m| Some(now_ms + m.initial_delay.map_or(0, |d| d.seconds() * 1000)))
                .collect();
            self.state.analysis = Some(AnalysisRun {
                metrics: vec![MetricState::default(); a.metrics.len()],
                next_ms: next,
                phases: vec![AnalysisPhase::Pending; a.metrics.len()],
            });
            self.persist()?;
        }
        let mut run = self.state.analysis.clone().unwrap_or_default();
        for (i, m) in a.metrics.iter().enumerate() {
            let Some(due) = run.next_ms[i] else { continue };
            if now_ms < due {
                continue;
            }
            let measured = self.measure(&m.provider);
            run.metrics[i].record(classify(m, &measured));
            run.phases[i] = assess(m, &run.metrics[i], false);
            run.next_ms[i] = if run.phases[i].is_completed() {
                None
            } else {
                Some(now_ms + m.interval.map_or(0, |d| d.seconds() * 1000))
            };
            self.record(
                "rollout.measurement",
                serde_json::json!({"rollout": self.state.spec.name, "analysis": a.name, "metric": m.name,
                                   "measured": format!("{measured:?}"), "phase": run.phases[i]}),
            )?;
        }
        let phase = assess_run(a, &run.phases);
        self.state.analysis = Some(run.clone());
        match phase {
            AnalysisPhase::Successful => {
                self.state.analysis = None;
                self.next_step()
            }
            AnalysisPhase::Failed | AnalysisPhase::Error => {
                self.abort(&format!("analysis {} {phase:?}", a.name))?;
                Ok(Tick::Done)
            }
            AnalysisPhase::Inconclusive => {
                self.state.phase = RolloutPhase::Paused {
                    reason: format!("analysis {} inconclusive", a.name),
                };
                self.persist()?;
                Ok(Tick::Paused)
            }
            AnalysisPhase::Running | AnalysisPhase::Pending => {
                self.persist()?;
                let next = run
                    .next_ms
                    .iter()
                    .flatten()
                    .min()
                    .copied()
                    .unwrap_or(now_ms);
                Ok(if next > now_ms {
                    Tick::WaitUntil(next)
                } else {
                    Tick::Advanced
                })
            }
        }
    }

    fn judge_tick(
        &mut self,
        canary: &Canary,
        max: Option<crate::strategy::Duration>,
        now_ms: u64,
    ) -> Result<Tick> {
        let spec = self.state.spec.clone();
        if self.state.judge.is_none() {
            let baseline = self.source.counts(&spec.stable, &spec.canary)?;
            self.state.guardrail_baseline = self.source.guardrail_counts(
                &canary.judge.guardrails,
                &spec.guardrail_queries,
                &spec.stable,
                &spec.canary,
            )?;
            self.state.reads += 1;
            self.state.judge = Some(Judge::new(canary.judge.clone())?);
            self.state.baseline = Some(baseline);
            self.state.step_started_ms = Some(now_ms);
            self.state.last_look_ms = Some(now_ms);
            self.persist()?;
            return Ok(Tick::Advanced);
        }
        let due = self.state.last_look_ms.unwrap_or(now_ms) + spec.look_every_ms;
        if now_ms < due {
            return Ok(Tick::WaitUntil(due));
        }
        let now = self.source.counts(&spec.stable, &spec.canary)?;
        let guard_now = self.source.guardrail_counts(
            &canary.judge.guardrails,
            &spec.guardrail_queries,
            &spec.stable,
            &spec.canary,
        )?;
        self.state.reads += 1;
        let pair = subtract(now, self.state.baseline.unwrap_or(now))?;
        let guards = guard_now
            .iter()
            .zip(&self.state.guardrail_baseline)
            .map(|(n, b)| subtract(*n, *b))
            .collect::<Result<Vec<_>>>()?;
        self.state.looks += 1;
        self.state.last_look_ms = Some(now_ms);
        let look = self.state.looks;
        let expired = max.is_some_and(|m| {
            now_ms >= self.state.step_started_ms.unwrap_or(now_ms) + m.seconds() * 1000
        });
        let judge = self
            .state
            .judge
            .as_mut()
            .ok_or_else(|| Error::InvalidConfig {
                field: "state.judge".into(),
                reason: "missing".into(),
            })?;
        let verdict = judge.observe(look, pair, &guards)?;
        let decision = match verdict {
            Verdict::Decided(d) => Some(d),
            Verdict::Continue(_) if expired => judge.snapshot().map(|mut d| {
                d.action = Some(canary.judge.no_decision);
                d
            }),
            Verdict::Continue(_) => None,
        };
        let Some(d) = decision else {
            self.persist()?;
            return Ok(Tick::Advanced);
        };
        self.state.decision = Some(d.clone());
        self.record(
            "rollout.decision",
            serde_json::to_value(&d).unwrap_or_default(),
        )?;
        match (d.outcome, d.action) {
            (Outcome::Rollback, _) | (Outcome::NoDecision, Some(NoDecisionAction::Rollback)) => {
                self.abort(&d.to_string())?;
                Ok(Tick::Done)
            }
            (Outcome::Promote, _) => {
                // The judge ends the steps: promotion.
                self.promote(&d.to_string())?;
                Ok(Tick::Done)
            }
            (Outcome::NoDecision, action) => {
                let what = if action == Some(NoDecisionAction::Manual) {
                    "handed to a person"
                } else {
                    "weight held"
                };
                self.state.phase = RolloutPhase::Paused {
                    reason: format!("no decision at look {}: {what}", d.look),
                };
                self.persist()?;
                Ok(Tick::Paused)
            }
        }
    }

    /// Ticks until done or paused, sleeping while waiting (`now` gives the time).
    pub fn run(&mut self, now: &dyn Fn() -> u64) -> Result<Tick> {
        loop {
            match self.tick(now())? {
                Tick::Advanced => {}
                Tick::WaitUntil(t) => {
                    let wait = t.saturating_sub(now());
                    std::thread::sleep(std::time::Duration::from_millis(wait.min(1_000)));
                }
                other => return Ok(other),
            }
        }
    }
}

fn subtract(now: ArmPair, base: ArmPair) -> Result<ArmPair> {
    let arm = |a: Arm, b: Arm| -> Result<Arm> {
        match (a, b) {
            (Arm::Proportion { n, successes }, Arm::Proportion { n: n0, successes: s0 }) if n >= n0 && successes >= s0 => {
                Ok(Arm::proportion(n - n0, successes - s0))
            }
            (Arm::Mean { n, sum, sum_sq }, Arm::Mean { n: n0, sum: s0, sum_sq: q0 }) if n >= n0 => {
                Ok(Arm::mean(n - n0, sum - s0, sum_sq - q0))
            }
            _ => Err(Error::InvalidLook {
                look: 0,
                reason: "counters went backwards (a server restarted?): the judge needs cumulative counts".into(),
            }),
        }
    };
    Ok(ArmPair::new(
        arm(now.control, base.control)?,
        arm(now.canary, base.canary)?,
    ))
}

/// Counts from a Prometheus HTTP API (`/api/v1/query`, instant queries), with the same
/// query templates the Argo export uses ([`crate::strategy::argo::ArmQueries`]).
pub struct PrometheusSource {
    base: String,
    queries: crate::strategy::argo::ArmQueries,
    client: reqwest::blocking::Client,
}

impl PrometheusSource {
    /// A source querying `base` (e.g. `http://127.0.0.1:9090`).
    pub fn new(
        base: impl Into<String>,
        queries: crate::strategy::argo::ArmQueries,
    ) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Source(format!("HTTP client: {e}")))?;
        Ok(Self {
            base: base.into().trim_end_matches('/').to_string(),
            queries,
            client,
        })
    }

    /// The value of an instant query returning one sample (0 when it returns none: a
    /// counter not yet incremented).
    pub fn scalar(&self, query: &str) -> Result<f64> {
        let url = format!("{}/api/v1/query", self.base);
        let body = self.get(&url, query)?;
        let result = &body["data"]["result"];
        let value = match body["data"]["resultType"].as_str() {
            Some("vector") => match result.as_array().map(Vec::as_slice) {
                Some([]) => return Ok(0.0),
                Some([one]) => &one["value"][1],
                _ => {
                    return Err(Error::Source(format!(
                        "{query}: more than one series; aggregate it with sum()"
                    )));
                }
            },
            Some("scalar") => &result[1],
            other => {
                return Err(Error::Source(format!(
                    "{query}: unexpected result type {other:?}"
                )));
            }
        };
        value
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| Error::Source(format!("{query}: value {value} is not a number")))
    }

    /// The first value of an instant query, `None` when it returns no sample (an empty
    /// window, judged by the metric's no-data policy).
    pub fn vector(&self, query: &str) -> Result<Option<f64>> {
        let url = format!("{}/api/v1/query", self.base);
        let body = self.get(&url, query)?;
        let result = &body["data"]["result"];
        let value = match body["data"]["resultType"].as_str() {
            Some("vector") => match result.as_array().and_then(|a| a.first()) {
                None => return Ok(None),
                Some(one) => one["value"][1].clone(),
            },
            Some("scalar") => result[1].clone(),
            other => {
                return Err(Error::Source(format!(
                    "{query}: unexpected result type {other:?}"
                )));
            }
        };
        value
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .map(Some)
            .ok_or_else(|| Error::Source(format!("{query}: value {value} is not a number")))
    }

    fn count(&self, template: &str, v: &VersionSpec) -> Result<u64> {
        let q = template
            .replace("{model}", &v.model)
            .replace("{version}", &v.version);
        let x = self.scalar(&q)?;
        if !(x.is_finite() && x >= 0.0) {
            return Err(Error::Source(format!("{q}: {x} is not a count")));
        }
        Ok(x.round() as u64)
    }
}

impl PrometheusSource {
    fn get(&self, url: &str, query: &str) -> Result<serde_json::Value> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let resp = self
            .client
            .get(format!("{url}?query={encoded}"))
            .send()
            .map_err(|e| Error::Source(format!("{url}: {e}")))?;
        let status = resp.status();
        let body: serde_json::Value = resp
            .json()
            .map_err(|e| Error::Source(format!("{url}: HTTP {status}, not JSON: {e}")))?;
        if body["status"] != "success" {
            return Err(Error::Source(format!("{url}: {query}: {}", body["error"])));
        }
        Ok(body)
    }
}

impl PrometheusSource {
    fn pair(
        &self,
        q: &crate::strategy::argo::ArmQueries,
        stable: &VersionSpec,
        canary: &VersionSpec,
    ) -> Result<ArmPair> {
        let arm = |v: &VersionSpec| -> Result<Arm> {
            let n = self.count(&q.total, v)?;
            let x = self.count(&q.successes, v)?.min(n);
            Ok(Arm::proportion(n, x))
        };
        Ok(ArmPair::new(arm(stable)?, arm(canary)?))
    }
}

impl ArmSource for PrometheusSource {
    fn counts(&mut self, stable: &VersionSpec, canary: &VersionSpec) -> Result<ArmPair> {
        self.pair(&self.queries, stable, canary)
    }

    fn guardrail_counts(
        &mut self,
        guardrails: &[Guardrail],
        queries: &[crate::strategy::argo::ArmQueries],
        stable: &VersionSpec,
        canary: &VersionSpec,
    ) -> Result<Vec<ArmPair>> {
        if guardrails.len() != queries.len() {
            return Err(Error::Source(format!(
                "{} guardrails but {} guardrail query sets: Prometheus needs one query set per guardrail",
                guardrails.len(),
                queries.len()
            )));
        }
        queries
            .iter()
            .map(|q| self.pair(q, stable, canary))
            .collect()
    }
}

/// How a [`LocalSource`] counts the denominator of a reported 0/1 outcome metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeDenominator {
    /// The reports: the application reports every answered request, 1 or 0.
    #[default]
    Reported,
    /// The arm's answered (non-error) requests: the application reports only the
    /// successes (clicks); a request whose outcome is not yet known counts as a 0.
    Answered,
}

/// The arms' counts read from a running local server ([`crate::ServerHandle`]): the
/// control is the `stable` variant serving the rollout's stable version, the canary
/// the `canary` variant serving the canary version ([`LocalSource::variants`] changes
/// the names).
///
/// A metric is resolved by its name:
///
/// | name | kind | from the server's per-arm counters |
/// |---|---|---|
/// | `error_rate` | proportion | answers 5xx out of requests |
/// | `latency_over_<MS>ms` | proportion | requests slower than MS ms (a bound of [`crate::metrics::LATENCY_BUCKETS`], e.g. `latency_over_250ms`) out of requests |
/// | `latency_seconds` | mean | whole-request latency |
/// | anything else | either | outcomes the application reported ([`crate::outcome`]) |
///
/// So the primary metric (`click`) comes from the application's reports, and
/// guardrails (`error_rate`, `latency_over_250ms`) from the server itself.
pub struct LocalSource<'a> {
    server: &'a crate::ServerHandle,
    metric: MetricSpec,
    denominator: OutcomeDenominator,
    control: String,
    canary: Vec<String>,
}

impl std::fmt::Debug for LocalSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSource")
            .field("server", &self.server.addr())
            .field("metric", &self.metric)
            .field("denominator", &self.denominator)
            .finish()
    }
}

impl<'a> LocalSource<'a> {
    /// A source reading `metric` (the judge's primary metric) from `server`.
    pub fn new(server: &'a crate::ServerHandle, metric: MetricSpec) -> Self {
        Self {
            server,
            metric,
            denominator: OutcomeDenominator::Reported,
            control: crate::router::STABLE.to_string(),
            canary: vec![
                crate::deployer::local::CANARY.to_string(),
                crate::router::SHADOW.to_string(),
            ],
        }
    }

    /// Counts reported 0/1 outcomes against `denominator`.
    pub fn denominator(mut self, denominator: OutcomeDenominator) -> Self {
        self.denominator = denominator;
        self
    }

    /// Reads the control and canary arms from these variants (default: `stable`, and
    /// `canary` or else `shadow`, whichever has served the canary version).
    pub fn variants(mut self, control: impl Into<String>, canary: impl Into<String>) -> Self {
        self.control = control.into();
        self.canary = vec![canary.into()];
        self
    }

    /// The cumulative counts of `metric` for the arm `variant` serving `version`.
    pub fn arm(&self, metric: &MetricSpec, variant: &str, version: &VersionSpec) -> Result<Arm> {
        let stats = self.server.stats().into_iter().find(|s| {
            s.variant == variant && s.model == version.model && s.version == version.version
        });
        let requests = stats.as_ref().map_or(0, |s| s.requests);
        let want = |kind: MetricKind| -> Result<()> {
            if metric.kind == kind {
                Ok(())
            } else {
                Err(Error::InvalidConfig {
                    field: format!("metric {}", metric.name),
                    reason: format!(
                        "the server measures it as a {kind:?}, not a {:?}",
                        metric.kind
                    ),
                })
            }
        };
        let name = metric.name.as_str();
        if name == "error_rate" {
            want(MetricKind::Proportion)?;
            return Ok(Arm::proportion(
                requests,
                stats.as_ref().map_or(0, |s| s.server_errors),
            ));
        }
        if name == "latency_seconds" {
            want(MetricKind::Mean)?;
            return Ok(stats.as_ref().map_or(Arm::mean(0, 0.0, 0.0), |s| {
                Arm::mean(s.requests, s.latency_sum_s, s.latency_sq_sum_s2)
            }));
        }
        if let Some(bucket) = crate::metrics::latency_over(name) {
            want(MetricKind::Proportion)?;
            let i = bucket.ok_or_else(|| Error::InvalidConfig {
                field: format!("metric {name}"),
                reason: format!(
                    "latency_over_<MS>ms needs one of the latency buckets, in ms: {:?}",
                    crate::metrics::LATENCY_BUCKETS.map(|b| b * 1000.0)
                ),
            })?;
            let slow = stats
                .as_ref()
                .and_then(|s| s.slower_than(crate::metrics::LATENCY_BUCKETS[i]))
                .unwrap_or(0);
            return Ok(Arm::proportion(requests, slow));
        }
        let sums = self
            .server
            .outcome_stats()
            .into_iter()
            .find(|o| {
                o.metric == name
                    && o.variant == variant
                    && o.model == version.model
                    && o.version == version.version
            })
            .map(|o| o.sums)
            .unwrap_or_default();
        Ok(match metric.kind {
            MetricKind::Mean => Arm::mean(sums.n, sums.sum, sums.sum_sq),
            MetricKind::Proportion => {
                let successes = sums.sum.round().max(0.0) as u64;
                let n = match self.denominator {
                    OutcomeDenominator::Reported => sums.n,
                    OutcomeDenominator::Answered => stats.as_ref().map_or(0, |s| {
                        s.requests
                            .saturating_sub(s.server_errors)
                            .saturating_sub(s.client_errors)
                    }),
                };
                if successes > n {
                    return Err(Error::Source(format!(
                        "metric {name} on {variant} {}/{}: {successes} successes out of {n} (report 0/1 values, one per answered request)",
                        version.model, version.version
                    )));
                }
                Arm::proportion(n, successes)
            }
        })
    }

    fn pair(
        &self,
        metric: &MetricSpec,
        stable: &VersionSpec,
        canary: &VersionSpec,
    ) -> Result<ArmPair> {
        let stats = self.server.stats();
        let variant = self
            .canary
            .iter()
            .find(|v| {
                stats.iter().any(|s| {
                    &s.variant == *v && s.model == canary.model && s.version == canary.version
                })
            })
            .or(self.canary.first())
            .cloned()
            .unwrap_or_default();
        Ok(ArmPair::new(
            self.arm(metric, &self.control, stable)?,
            self.arm(metric, &variant, canary)?,
        ))
    }
}

impl ArmSource for LocalSource<'_> {
    fn counts(&mut self, stable: &VersionSpec, canary: &VersionSpec) -> Result<ArmPair> {
        let metric = self.metric.clone();
        self.pair(&metric, stable, canary)
    }

    fn metric_counts(
        &mut self,
        metric: &MetricSpec,
        stable: &VersionSpec,
        canary: &VersionSpec,
    ) -> Result<ArmPair> {
        self.pair(metric, stable, canary)
    }

    fn guardrail_counts(
        &mut self,
        guardrails: &[Guardrail],
        _queries: &[crate::strategy::argo::ArmQueries],
        stable: &VersionSpec,
        canary: &VersionSpec,
    ) -> Result<Vec<ArmPair>> {
        guardrails
            .iter()
            .map(|g| self.pair(&g.metric, stable, canary))
            .collect()
    }
}

/// Sends golden requests (MLflow scoring protocol JSON) to `base`/invocations and
/// returns the share answered with the expected `predictions` (numbers within each
/// request's tolerance, anything else equal).
pub fn golden_share(base: &str, requests: &[GoldenRequest]) -> std::result::Result<f64, String> {
    if requests.is_empty() {
        return Err("no golden requests".into());
    }
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let url = format!("{}/invocations", base.trim_end_matches('/'));
    let mut ok = 0usize;
    for g in requests {
        let resp = client
            .post(&url)
            .header("content-type", "application/json")
            .body(g.body.to_string())
            .send()
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().unwrap_or(serde_json::Value::Null);
        let matches =
            status.is_success() && same_answer(&body["predictions"], &g.expected, g.tolerance);
        if matches {
            ok += 1;
        } else {
            tracing::info!(golden = %g.name, %status, "golden request not answered as expected");
        }
    }
    Ok(ok as f64 / requests.len() as f64)
}

/// Equal JSON, numbers within `tolerance`.
fn same_answer(got: &serde_json::Value, want: &serde_json::Value, tolerance: f64) -> bool {
    use serde_json::Value;
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => (a - b).abs() <= tolerance,
            _ => a == b,
        },
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_answer(x, y, tolerance))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| same_answer(x, y, tolerance)))
        }
        _ => got == want,
    }
}

/// The rollout's phase, canary weight and step as `prometheus-client` gauges
/// (`deploy_rollout_phase`, `deploy_canary_weight`, `deploy_rollout_step`, label
/// `rollout`; the families [`RolloutState::metrics_text`] prints), to register into
/// the server's `/metrics` page:
/// `server.register_metrics(|r| gauges.register(r))`, then
/// [`Controller::with_gauges`]. Clones share the same series.
#[derive(Clone, Debug, Default)]
pub struct RolloutGauges {
    phase: prometheus_client::metrics::family::Family<
        RolloutLabel,
        prometheus_client::metrics::gauge::Gauge,
    >,
    weight: prometheus_client::metrics::family::Family<
        RolloutLabel,
        prometheus_client::metrics::gauge::Gauge,
    >,
    step: prometheus_client::metrics::family::Family<
        RolloutLabel,
        prometheus_client::metrics::gauge::Gauge,
    >,
}

/// The `rollout` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct RolloutLabel {
    rollout: String,
}

impl RolloutGauges {
    /// New, empty gauges.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the three families into `registry`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "deploy_rollout_phase",
            "Rollout phase: 0 progressing, 1 promoted (or completed), 2 rolled back, 3 paused",
            self.phase.clone(),
        );
        registry.register(
            "deploy_canary_weight",
            "Percentage of traffic sent to the canary",
            self.weight.clone(),
        );
        registry.register(
            "deploy_rollout_step",
            "Index of the rollout's current step",
            self.step.clone(),
        );
    }

    /// Shows `state`.
    pub fn observe(&self, state: &RolloutState) {
        let label = RolloutLabel {
            rollout: state.spec.name.clone(),
        };
        self.phase
            .get_or_create(&label)
            .set(i64::from(state.phase.code()));
        self.weight
            .get_or_create(&label)
            .set(i64::from(state.weight));
        self.step
            .get_or_create(&label)
            .set(i64::try_from(state.step).unwrap_or(i64::MAX));
    }
}
