//! The canary judge: canary against control over the same period, decided by
//! always-valid sequential statistics.
//!
//! Why not a t-test or a Mann–Whitney per interval: re-running a fixed-sample test at
//! every look rolls back identical canaries far more often than its stated level (34%
//! instead of 5% at 200 looks, see `scripts/sim-canary`). The tests here are
//! nonnegative supermartingales under their null, so the chance that they *ever* cross
//! their boundary is at most `α` however often they are looked at.
//!
//! At each look the judge receives cumulative counts (proportions) or sums (means) per
//! arm and asks two questions:
//!
//! - **Rollback on harm**: a one-sided mixture SPRT (half-normal mixture over effects in
//!   the harmful direction, scale `τ`), with the variance **pooled under the null** (the
//!   unpooled plug-in variance is far too small when the canary has seen few events,
//!   which made early false rollbacks 2–5 times as frequent in the reference
//!   simulations). It crosses when `Λ₋ ≥ 1/α`.
//! - **Promote** on non-inferiority (margin `δ > 0`) or superiority (`δ = 0`): the lower
//!   bound of a one-sided confidence sequence for the effect exceeds `−δ`. It is the
//!   half-normal mixture test of "effect ≤ −δ", with the unpooled variance (a high
//!   canary rate inflates it, so its error is in the safe direction).
//!
//! The first boundary crossed wins; at the same look rollback wins. Guardrail metrics run
//! their own harm test and roll back on their own. A minimum sample per arm holds every
//! decision back while the Gaussian approximation is poor. Reaching the horizon without a
//! decision is a normal outcome, [`Outcome::NoDecision`], with a configured
//! [`NoDecisionAction`].
//!
//! **Why the harm test keeps a little `α` for the horizon.** A test that is valid for
//! ever pays for it in a rollout that ends: at a horizon of 200,000 requests a canary
//! 10% worse is about 3.1 standard errors from the control, and the mixture's boundary
//! there is at best about 2.8, so its power stalls near 0.74 whatever `τ` is (the sweep
//! in the README), while the discrete, truncated watch uses under half of its `α`
//! (identical canaries are rolled back 1.8% of the time at `α = 5%`). With a horizon,
//! the harm test therefore spends `α − horizon_alpha` sequentially and
//! `horizon_alpha` (default 0.01) on one pooled one-sided z-test taken once, at the
//! horizon look, for a rollout still undecided. By the union bound the chance of ever
//! rolling back a canary that is not worse stays at most `α`, however often it is
//! watched up to the horizon; at 200,000 requests power at −10% rises to about 0.81
//! while a canary 20% worse is still rolled back after a median 37,000 requests. The
//! harm p-value reported is that of the two parts together (`min(p_seq·α/(α−a),
//! p_z·α/a)`, a valid p-value at every look), so a rollback is always `p ≤ α`.
//!
//! Everything here is pure: counts in, decisions out; no clock, no I/O. The same code
//! runs in the controller, in `mlops judge` and in the simulations ([`sim`]).

pub mod sim;
pub mod stats;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a metric is measured per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A 0/1 outcome per request (click-through, conversion, error): arms are
    /// [`Arm::Proportion`].
    #[default]
    Proportion,
    /// A number per request (latency, revenue): arms are [`Arm::Mean`].
    Mean,
}

/// A metric the judge compares between canary and control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// Its name, as it appears in decisions.
    pub name: String,
    /// Proportion or mean.
    #[serde(default)]
    pub kind: MetricKind,
    /// `true` for click-through or revenue, `false` for error rate or latency.
    #[serde(default = "default_true")]
    pub higher_is_better: bool,
}

fn default_true() -> bool {
    true
}

impl MetricSpec {
    /// A proportion where higher is better (click-through, conversion).
    pub fn proportion(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: MetricKind::Proportion,
            higher_is_better: true,
        }
    }

    /// A mean where higher is better (revenue per request).
    pub fn mean(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: MetricKind::Mean,
            higher_is_better: true,
        }
    }

    /// The same metric with lower values better (error rate, latency).
    pub fn lower_is_better(mut self) -> Self {
        self.higher_is_better = false;
        self
    }

    fn sign(&self) -> f64 {
        if self.higher_is_better { 1.0 } else { -1.0 }
    }
}

/// What happens when the horizon is reached without a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NoDecisionAction {
    /// Keep the canary at its current weight until someone decides.
    #[default]
    Hold,
    /// Hand the rollout to a person: pause and wait for `promote` or `abort`.
    Manual,
    /// Treat an unproven canary as a failed one.
    Rollback,
}

/// A guardrail: a metric that can roll the canary back on its own (error rate, share of
/// requests slower than the latency objective), but never promotes it.
///
/// A p99 latency guardrail is written as the proportion of requests slower than the
/// objective (`higher_is_better = false`): "p99 ≤ 300 ms" is "at most 1% of requests
/// slower than 300 ms", a proportion the same test judges, and which a Prometheus
/// histogram gives directly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guardrail {
    /// The metric.
    pub metric: MetricSpec,
    /// Level of its harm test (each guardrail spends its own `α`).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Mixture scale on the metric's own scale.
    pub tau: f64,
    /// Minimum samples per arm before it may decide.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
}

/// The judge's configuration. The defaults are the ones `scripts/sim-canary` and the
/// test-suite simulations use (a 5% click-through, looks every 1,000 requests, horizon
/// 200,000): `α = 0.05` with `0.01` of it kept for the horizon z-test (it sets the power
/// at the horizon: 0.81 at −10%), `τ = 0.008` (16% relative; with the horizon test,
/// power no longer depends on `τ`, while a larger `τ` catches large harms sooner and a
/// smaller one spends less `α` early; `scripts/sim-canary-sweep` shows the trade),
/// non-inferiority margin `δ = 0.0025` (5% relative), at least 100 samples per arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeConfig {
    /// The primary metric: it can roll back and promote.
    #[serde(default = "default_metric")]
    pub metric: MetricSpec,
    /// Level of both tests: the chance of ever rolling back a canary that is not worse
    /// (sequential part and horizon test together), and of ever promoting one that is
    /// worse than the margin.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Scale of the half-normal mixture, on the metric's scale (an absolute difference
    /// in rate or mean). Set it to the smallest effect worth detecting.
    #[serde(default = "default_tau")]
    pub tau: f64,
    /// Non-inferiority margin `δ ≥ 0` (absolute): promote once the canary is shown to
    /// be no worse than `δ`. `0` asks for superiority.
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// No decision before each arm has this many samples.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
    /// Total samples (control + canary) after which an undecided rollout ends as
    /// [`Outcome::NoDecision`]; `None` judges for ever.
    #[serde(default = "default_horizon")]
    pub horizon: Option<u64>,
    /// The part of `alpha` the harm test keeps for one pooled one-sided z-test at the
    /// horizon look (see the module docs): the sequential harm test runs at
    /// `alpha − horizon_alpha`. In `[0, alpha)`; `0` gives the purely sequential test,
    /// and without a horizon it is unused (the sequential test gets all of `alpha`).
    #[serde(default = "default_horizon_alpha")]
    pub horizon_alpha: f64,
    /// What [`Outcome::NoDecision`] asks for.
    #[serde(default)]
    pub no_decision: NoDecisionAction,
    /// Metrics that roll back on their own.
    #[serde(default)]
    pub guardrails: Vec<Guardrail>,
}

fn default_metric() -> MetricSpec {
    MetricSpec::proportion("conversion")
}
fn default_alpha() -> f64 {
    0.05
}
fn default_tau() -> f64 {
    0.008
}
fn default_margin() -> f64 {
    0.0025
}
fn default_min_samples() -> u64 {
    100
}
fn default_horizon() -> Option<u64> {
    Some(200_000)
}
fn default_horizon_alpha() -> f64 {
    0.01
}

impl Default for JudgeConfig {
    fn default() -> Self {
        Self {
            metric: default_metric(),
            alpha: default_alpha(),
            tau: default_tau(),
            margin: default_margin(),
            min_samples: default_min_samples(),
            horizon: default_horizon(),
            horizon_alpha: default_horizon_alpha(),
            no_decision: NoDecisionAction::default(),
            guardrails: Vec::new(),
        }
    }
}

impl JudgeConfig {
    /// Checks every number; the error names the field.
    pub fn validate(&self) -> Result<()> {
        check_test("alpha", self.alpha, "tau", self.tau)?;
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(invalid(
                "margin",
                format!("must be finite and >= 0, got {}", self.margin),
            ));
        }
        if self.horizon == Some(0) {
            return Err(invalid("horizon", "must be > 0 (or absent)".into()));
        }
        if !(self.horizon_alpha >= 0.0 && self.horizon_alpha < self.alpha) {
            return Err(invalid(
                "horizon_alpha",
                format!(
                    "must be in [0, alpha = {}), got {}",
                    self.alpha, self.horizon_alpha
                ),
            ));
        }
        for g in &self.guardrails {
            check_test(
                &format!("guardrails[{}].alpha", g.metric.name),
                g.alpha,
                &format!("guardrails[{}].tau", g.metric.name),
                g.tau,
            )?;
        }
        Ok(())
    }
}

fn check_test(alpha_name: &str, alpha: f64, tau_name: &str, tau: f64) -> Result<()> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(invalid(
            alpha_name,
            format!("must be in (0, 1), got {alpha}"),
        ));
    }
    if !(tau.is_finite() && tau > 0.0) {
        return Err(invalid(
            tau_name,
            format!("must be finite and > 0, got {tau}"),
        ));
    }
    Ok(())
}

fn invalid(field: &str, reason: String) -> Error {
    Error::InvalidConfig {
        field: field.to_string(),
        reason,
    }
}

/// Cumulative data of one arm for one metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arm {
    /// `successes` out of `n` requests.
    Proportion {
        /// Requests.
        n: u64,
        /// Requests with the outcome (click, conversion, error).
        successes: u64,
    },
    /// `n` values with their sum and sum of squares.
    Mean {
        /// Values.
        n: u64,
        /// Their sum.
        sum: f64,
        /// The sum of their squares.
        sum_sq: f64,
    },
}

impl Arm {
    /// `successes` out of `n`.
    pub fn proportion(n: u64, successes: u64) -> Self {
        Arm::Proportion { n, successes }
    }

    /// `n` values with their sum and sum of squares (what counters can export).
    pub fn mean(n: u64, sum: f64, sum_sq: f64) -> Self {
        Arm::Mean { n, sum, sum_sq }
    }

    /// Number of samples.
    pub fn n(&self) -> u64 {
        match *self {
            Arm::Proportion { n, .. } | Arm::Mean { n, .. } => n,
        }
    }

    /// The arm's mean (rate for proportions); NaN when empty.
    pub fn estimate(&self) -> f64 {
        match *self {
            Arm::Proportion { n, successes } => successes as f64 / n as f64,
            Arm::Mean { n, sum, .. } => sum / n as f64,
        }
    }

    fn kind(&self) -> MetricKind {
        match self {
            Arm::Proportion { .. } => MetricKind::Proportion,
            Arm::Mean { .. } => MetricKind::Mean,
        }
    }

    /// Sum of squared deviations from the mean (`n · p(1−p)` for a proportion).
    fn m2(&self) -> f64 {
        match *self {
            Arm::Proportion { n, successes } => {
                let p = successes as f64 / n as f64;
                n as f64 * p * (1.0 - p)
            }
            Arm::Mean { n, sum, sum_sq } => (sum_sq - sum * sum / n as f64).max(0.0),
        }
    }

    /// Per-sample variance used by the tests: `p(1−p)` for a proportion (the binomial
    /// variance), the sample variance (`n − 1`) for a mean.
    fn variance(&self) -> f64 {
        match *self {
            Arm::Proportion { .. } => self.m2() / self.n() as f64,
            Arm::Mean { n, .. } => self.m2() / (n as f64 - 1.0),
        }
    }

    fn check(&self, metric: &MetricSpec, arm: &str, look: u64) -> Result<()> {
        let bad = |reason: String| Error::InvalidLook {
            look,
            reason: format!("{} {arm}: {reason}", metric.name),
        };
        if self.kind() != metric.kind {
            return Err(bad(format!(
                "got {:?} data for a {:?} metric",
                self.kind(),
                metric.kind
            )));
        }
        match *self {
            Arm::Proportion { n, successes } if successes > n => {
                Err(bad(format!("successes {successes} > n {n}")))
            }
            Arm::Mean { sum, sum_sq, .. } if !sum.is_finite() || !sum_sq.is_finite() => {
                Err(bad(format!("sum {sum} and sum_sq {sum_sq} must be finite")))
            }
            _ => Ok(()),
        }
    }

    fn shrank_from(&self, earlier: &Arm) -> bool {
        match (*self, *earlier) {
            (
                Arm::Proportion { n, successes },
                Arm::Proportion {
                    n: n0,
                    successes: s0,
                },
            ) => n < n0 || successes < s0 || n - successes < n0 - s0,
            (Arm::Mean { n, .. }, Arm::Mean { n: n0, .. }) => n < n0,
            _ => false,
        }
    }
}

/// Control and canary data of one metric at one look.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmPair {
    /// The current version (stable).
    pub control: Arm,
    /// The new version.
    pub canary: Arm,
}

impl ArmPair {
    /// A pair of arms.
    pub fn new(control: Arm, canary: Arm) -> Self {
        Self { control, canary }
    }
}

/// The statistics of one metric at one look, on the judge's oriented scale
/// (`d > 0` means the canary is better).
#[derive(Clone, Copy, Debug)]
struct Evidence {
    d: f64,
    s2_pooled: f64,
    s2_unpooled: f64,
}

fn evidence(metric: &MetricSpec, pair: &ArmPair) -> Option<Evidence> {
    let (c, b) = (&pair.canary, &pair.control);
    let (nc, nb) = (c.n() as f64, b.n() as f64);
    if metric.kind == MetricKind::Mean && (c.n() < 2 || b.n() < 2) {
        return None;
    }
    let raw = c.estimate() - b.estimate();
    let inv = 1.0 / nc + 1.0 / nb;
    let s2_pooled = match (c, b) {
        (Arm::Proportion { successes: xc, .. }, Arm::Proportion { successes: xb, .. }) => {
            let p = (xc + xb) as f64 / (nc + nb);
            p * (1.0 - p) * inv
        }
        _ => {
            // Variance of all samples around the common mean, as if both arms were one.
            let m2 = c.m2() + b.m2() + raw * raw * nc * nb / (nc + nb);
            m2 / (nc + nb - 1.0) * inv
        }
    };
    let s2_unpooled = c.variance() / nc + b.variance() / nb;
    Some(Evidence {
        d: metric.sign() * raw,
        s2_pooled,
        s2_unpooled,
    })
}

/// What a look concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The canary is worse: send its traffic back to the control.
    Rollback,
    /// The canary is shown better (or no worse than the margin): promote it.
    Promote,
    /// The horizon was reached without a boundary crossed.
    NoDecision,
}

impl Outcome {
    /// `rollback`, `promote` or `no_decision`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Rollback => "rollback",
            Outcome::Promote => "promote",
            Outcome::NoDecision => "no_decision",
        }
    }
}

/// Which boundary decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Boundary {
    /// The primary metric's harm test.
    Harm,
    /// A guardrail's harm test (its name is the decision's `metric`).
    Guardrail,
    /// The confidence sequence cleared `−margin` (`margin > 0`).
    NonInferiority,
    /// The confidence sequence cleared zero (`margin = 0`).
    Superiority,
    /// The primary metric's z-test at the horizon look (the part `horizon_alpha` of the
    /// harm test).
    HorizonHarm,
    /// The horizon, reached without a decision.
    Horizon,
}

/// A decision with the numbers behind it.
///
/// Estimates and intervals are on the metric's own scale: `canary − control`, whatever
/// the metric's direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Rollback, promote or no decision.
    pub outcome: Outcome,
    /// Which boundary was crossed.
    pub boundary: Boundary,
    /// For [`Outcome::NoDecision`], the configured action.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<NoDecisionAction>,
    /// The look (as numbered by the caller) at which it was taken.
    pub look: u64,
    /// The metric whose test decided (the primary one unless a guardrail did).
    pub metric: String,
    /// Control samples.
    pub control_n: u64,
    /// Canary samples.
    pub canary_n: u64,
    /// Control mean (rate).
    pub control_mean: f64,
    /// Canary mean (rate).
    pub canary_mean: f64,
    /// `canary − control`.
    pub estimate: f64,
    /// The confidence sequence for `canary − control` at this look: each side is a
    /// level-`α` one-sided bound valid at every look at once (so together `1 − 2α`).
    /// `[NaN, NaN]` (JSON `null`) when the variance is still zero.
    #[serde(with = "nullable_pair")]
    pub ci: [f64; 2],
    /// The p-value of the test that decided (for no decision: of the harm test), valid
    /// at every look: from the smallest `1/Λ` seen so far, capped at 1; for the primary
    /// harm test combined with its horizon z-test (see the module docs). A rollback or
    /// promotion always has `p_value ≤ alpha`.
    pub p_value: f64,
    /// The p-value of this metric's harm test, valid at every look (sequential part
    /// and, at the horizon, the horizon z-test together).
    pub p_harm: f64,
    /// Always-valid p-value of the promotion test (NaN, JSON `null`, for a guardrail).
    #[serde(with = "nullable")]
    pub p_promote: f64,
    /// The boundary of the statistic that decided: `Λ ≥ threshold` for a sequential
    /// test (`1/(α − horizon_alpha)` for the primary harm test before a horizon,
    /// `1/α` otherwise), `z ≤ −threshold` for the horizon z-test
    /// ([`Boundary::HorizonHarm`]).
    pub threshold: f64,
    /// The level `α` the p-value is compared with.
    pub alpha: f64,
    /// The mixture scale `τ`.
    pub tau: f64,
    /// The non-inferiority margin (0 for guardrails).
    pub margin: f64,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:?}) at look {}: {} canary {:.6} (n={}) vs control {:.6} (n={}), \
             difference {:+.6}, CS [{:.6}, {:.6}], always-valid p={:.4} (alpha={}, tau={}, margin={})",
            self.outcome.as_str(),
            self.boundary,
            self.look,
            self.metric,
            self.canary_mean,
            self.canary_n,
            self.control_mean,
            self.control_n,
            self.estimate,
            self.ci[0],
            self.ci[1],
            self.p_value,
            self.alpha,
            self.tau,
            self.margin
        )?;
        if let Some(a) = self.action {
            write!(f, ", action {a:?}")?;
        }
        Ok(())
    }
}

/// The judge's answer to a look.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// No boundary crossed yet.
    Continue(Progress),
    /// Decided (also returned for every look after the decision).
    Decided(Decision),
}

/// Cheap numbers of an undecided look (the confidence sequence is computed by
/// [`Judge::snapshot`] on demand, since it needs a root search).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The look.
    pub look: u64,
    /// `canary − control` of the primary metric (NaN before the first sample).
    pub estimate: f64,
    /// P-value of the harm test so far (valid at every look; see [`Decision::p_harm`]).
    pub p_harm: f64,
    /// Always-valid p-value of the promotion test so far.
    pub p_promote: f64,
    /// Whether the minimum sample per arm is reached.
    pub warmed_up: bool,
}

/// NaN as JSON `null` and back (JSON has no NaN).
mod nullable {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// A pair of floats with NaN as JSON `null`.
mod nullable_pair {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[f64; 2], s: S) -> Result<S::Ok, S::Error> {
        let f = |x: f64| x.is_finite().then_some(x);
        [f(v[0]), f(v[1])].serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
        let [a, b] = <[Option<f64>; 2]>::deserialize(d)?;
        Ok([a.unwrap_or(f64::NAN), b.unwrap_or(f64::NAN)])
    }
}

/// Running state of one metric's tests (the smallest `ln Λ` is `f64::MIN`, not −∞, so
/// the state round-trips through JSON).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Track {
    max_ln_harm: f64,
    max_ln_promote: f64,
    last: Option<ArmPair>,
}

impl Track {
    fn new() -> Self {
        Self {
            max_ln_harm: f64::MIN,
            max_ln_promote: f64::MIN,
            last: None,
        }
    }
}

fn p_of(max_ln: f64) -> f64 {
    (-max_ln).exp().min(1.0)
}

/// A sequential judge for one rollout: feed it cumulative data look by look. It
/// serialises with its running statistics, so a controller persists it and resumes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Judge {
    config: JudgeConfig,
    last_look: Option<u64>,
    primary: Track,
    guardrails: Vec<Track>,
    decision: Option<Decision>,
}

impl Judge {
    /// A judge with a validated configuration.
    pub fn new(config: JudgeConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            guardrails: vec![Track::new(); config.guardrails.len()],
            config,
            last_look: None,
            primary: Track::new(),
            decision: None,
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &JudgeConfig {
        &self.config
    }

    /// The decision, once taken.
    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// Levels of the primary harm test's two parts: (sequential, horizon z-test).
    fn harm_levels(&self) -> (f64, f64) {
        let cfg = &self.config;
        if cfg.horizon.is_some() && cfg.horizon_alpha > 0.0 {
            (cfg.alpha - cfg.horizon_alpha, cfg.horizon_alpha)
        } else {
            (cfg.alpha, 0.0)
        }
    }

    /// The primary harm test's p-value from its sequential part alone.
    fn p_harm_sequential(&self) -> f64 {
        let (seq_alpha, _) = self.harm_levels();
        (p_of(self.primary.max_ln_harm) * self.config.alpha / seq_alpha).min(1.0)
    }

    /// Judges one look. `look` numbers must increase; the data are cumulative and must
    /// not shrink; `guardrails` holds one pair per configured guardrail, in order.
    /// After a decision every call returns it again, unchanged.
    pub fn observe(
        &mut self,
        look: u64,
        primary: ArmPair,
        guardrails: &[ArmPair],
    ) -> Result<Verdict> {
        if let Some(d) = &self.decision {
            return Ok(Verdict::Decided(d.clone()));
        }
        if let Some(prev) = self.last_look
            && look <= prev
        {
            return Err(Error::InvalidLook {
                look,
                reason: format!("looks must increase (previous look {prev})"),
            });
        }
        if guardrails.len() != self.config.guardrails.len() {
            return Err(Error::InvalidLook {
                look,
                reason: format!(
                    "{} guardrail pairs given, {} configured",
                    guardrails.len(),
                    self.config.guardrails.len()
                ),
            });
        }
        check_pair(&self.config.metric, &self.primary, &primary, look)?;
        for ((g, track), pair) in self
            .config
            .guardrails
            .iter()
            .zip(&self.guardrails)
            .zip(guardrails)
        {
            check_pair(&g.metric, track, pair, look)?;
        }
        self.last_look = Some(look);

        // Guardrails first: any of them rolls back on its own.
        let mut rollback: Option<Decision> = None;
        for (i, g) in self.config.guardrails.iter().enumerate() {
            let pair = guardrails[i];
            let track = &mut self.guardrails[i];
            track.last = Some(pair);
            if pair.control.n().min(pair.canary.n()) < g.min_samples {
                continue;
            }
            let Some(ev) = evidence(&g.metric, &pair) else {
                continue;
            };
            if ev.s2_pooled.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                continue;
            }
            let ln_harm = stats::ln_half_normal_below(ev.d, ev.s2_pooled, g.tau);
            track.max_ln_harm = track.max_ln_harm.max(ln_harm);
            if rollback.is_none() && ln_harm >= (1.0 / g.alpha).ln() {
                let p = p_of(track.max_ln_harm);
                rollback = Some(self.decide(
                    Outcome::Rollback,
                    Boundary::Guardrail,
                    look,
                    &g.metric,
                    &pair,
                    (g.alpha, g.tau, 0.0, 1.0 / g.alpha),
                    (p, p, f64::NAN),
                ));
            }
        }

        let (seq_alpha, horizon_alpha) = self.harm_levels();
        let cfg = &self.config;
        self.primary.last = Some(primary);
        let warmed_up = primary.control.n().min(primary.canary.n()) >= cfg.min_samples;
        let at_horizon = cfg
            .horizon
            .is_some_and(|h| primary.control.n() + primary.canary.n() >= h);
        let mut harm_crossed = false;
        let mut promote_crossed = false;
        // The p-value of the horizon z-test, taken once, at the horizon.
        let mut p_z: Option<f64> = None;
        let mut estimate = primary.canary.estimate() - primary.control.estimate();
        if warmed_up && let Some(ev) = evidence(&cfg.metric, &primary) {
            estimate = cfg.metric.sign() * ev.d;
            if ev.s2_pooled > 0.0 {
                let ln_harm = stats::ln_half_normal_below(ev.d, ev.s2_pooled, cfg.tau);
                self.primary.max_ln_harm = self.primary.max_ln_harm.max(ln_harm);
                harm_crossed = ln_harm >= (1.0 / seq_alpha).ln();
                if at_horizon && horizon_alpha > 0.0 {
                    p_z = Some(stats::ln_norm_cdf(ev.d / ev.s2_pooled.sqrt()).exp());
                }
            }
            if ev.s2_unpooled > 0.0 {
                let ln_promote =
                    stats::ln_half_normal_above(ev.d + cfg.margin, ev.s2_unpooled, cfg.tau);
                self.primary.max_ln_promote = self.primary.max_ln_promote.max(ln_promote);
                promote_crossed = ln_promote >= (1.0 / cfg.alpha).ln();
            }
        }
        let horizon_harm = p_z.is_some_and(|p| p <= horizon_alpha);
        let mut p_harm = self.p_harm_sequential();
        if let Some(p) = p_z {
            p_harm = p_harm.min((p * cfg.alpha / horizon_alpha).min(1.0));
        }
        let p_promote = p_of(self.primary.max_ln_promote);
        let (alpha, tau, margin) = (cfg.alpha, cfg.tau, cfg.margin);
        let harm_numbers = (alpha, tau, margin, 1.0 / seq_alpha);
        let metric = cfg.metric.clone();

        let decision = if harm_crossed {
            Some(self.decide(
                Outcome::Rollback,
                Boundary::Harm,
                look,
                &metric,
                &primary,
                harm_numbers,
                (p_harm, p_harm, p_promote),
            ))
        } else if let Some(d) = rollback {
            Some(d)
        } else if horizon_harm {
            let z_boundary = stats::normal_upper_quantile(horizon_alpha);
            Some(self.decide(
                Outcome::Rollback,
                Boundary::HorizonHarm,
                look,
                &metric,
                &primary,
                (alpha, tau, margin, z_boundary),
                (p_harm, p_harm, p_promote),
            ))
        } else if promote_crossed {
            let boundary = if margin > 0.0 {
                Boundary::NonInferiority
            } else {
                Boundary::Superiority
            };
            Some(self.decide(
                Outcome::Promote,
                boundary,
                look,
                &metric,
                &primary,
                (alpha, tau, margin, 1.0 / alpha),
                (p_promote, p_harm, p_promote),
            ))
        } else if at_horizon {
            let mut d = self.decide(
                Outcome::NoDecision,
                Boundary::Horizon,
                look,
                &metric,
                &primary,
                harm_numbers,
                (p_harm, p_harm, p_promote),
            );
            d.action = Some(self.config.no_decision);
            Some(d)
        } else {
            None
        };
        match decision {
            Some(d) => {
                self.decision = Some(d.clone());
                Ok(Verdict::Decided(d))
            }
            None => Ok(Verdict::Continue(Progress {
                look,
                estimate,
                p_harm,
                p_promote,
                warmed_up,
            })),
        }
    }

    /// The full numbers of the primary metric at the last look, as a [`Decision`] with
    /// outcome "no decision" and boundary "horizon" when none has been taken yet (for
    /// status pages). `None` before the first look.
    pub fn snapshot(&self) -> Option<Decision> {
        if let Some(d) = &self.decision {
            return Some(d.clone());
        }
        let pair = self.primary.last?;
        let cfg = &self.config;
        let look = self.last_look?;
        let p_harm = self.p_harm_sequential();
        Some(self.decide(
            Outcome::NoDecision,
            Boundary::Horizon,
            look,
            &cfg.metric,
            &pair,
            (cfg.alpha, cfg.tau, cfg.margin, 1.0 / self.harm_levels().0),
            (p_harm, p_harm, p_of(self.primary.max_ln_promote)),
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        outcome: Outcome,
        boundary: Boundary,
        look: u64,
        metric: &MetricSpec,
        pair: &ArmPair,
        (alpha, tau, margin, threshold): (f64, f64, f64, f64),
        (p_value, p_harm, p_promote): (f64, f64, f64),
    ) -> Decision {
        let ev = evidence(metric, pair);
        let ci = match ev {
            Some(ev) if ev.s2_unpooled > 0.0 => {
                let r = stats::half_normal_cs_radius(ev.s2_unpooled, tau, alpha);
                let raw = metric.sign() * ev.d;
                [raw - r, raw + r]
            }
            _ => [f64::NAN, f64::NAN],
        };
        Decision {
            outcome,
            boundary,
            action: None,
            look,
            metric: metric.name.clone(),
            control_n: pair.control.n(),
            canary_n: pair.canary.n(),
            control_mean: pair.control.estimate(),
            canary_mean: pair.canary.estimate(),
            estimate: pair.canary.estimate() - pair.control.estimate(),
            ci,
            p_value,
            p_harm,
            p_promote,
            threshold,
            alpha,
            tau,
            margin,
        }
    }
}

fn check_pair(metric: &MetricSpec, track: &Track, pair: &ArmPair, look: u64) -> Result<()> {
    pair.control.check(metric, "control", look)?;
    pair.canary.check(metric, "canary", look)?;
    if let Some(prev) = track.last
        && (pair.control.shrank_from(&prev.control) || pair.canary.shrank_from(&prev.canary))
    {
        return Err(Error::InvalidLook {
            look,
            reason: format!(
                "{}: counts are cumulative and must not decrease (previous look had control n={} canary n={})",
                metric.name,
                prev.control.n(),
                prev.canary.n()
            ),
        });
    }
    Ok(())
}
