//! Analysis with Argo Rollouts' semantics, so that templates port both ways.
//!
//! A metric takes measurements (every `interval`, `count` times, after
//! `initial_delay`); each measurement is classified by its conditions, the counts are
//! assessed against the limits, and the run takes the worst phase of its metrics.
//! The rules are Argo's (`utils/evaluate/evaluate.go`, `analysis/analysis.go`), with one
//! addition: an explicit [`NoData`] policy for a window without data, where Argo turns
//! an empty result into an evaluation error and Flagger into a failed check.
//!
//! Conditions are Argo's expression form restricted to what numbers need: comparisons of
//! `result` (or `result[0]`) with a number, joined by `&&` and `||` (`&&` binds tighter),
//! e.g. `result[0] < 0.05 || result[0] >= 0.99`. Anything else is refused when the
//! strategy is read, never at run time.

use serde::{Deserialize, Serialize};

use super::Duration;
use crate::error::{Error, Result};
use crate::judge::JudgeConfig;

/// A set of metrics measured together; its phase is the worst of theirs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// A name (the AnalysisTemplate's name when exported).
    pub name: String,
    /// The metrics.
    pub metrics: Vec<AnalysisMetric>,
    /// Metrics measured and reported but left out of the run's phase (Argo's `dryRun`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<String>,
}

/// What a window without data counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NoData {
    /// A successful measurement.
    Pass,
    /// A failed measurement.
    Fail,
    /// An inconclusive measurement (the default: missing data never passes silently and
    /// never rolls back on its own).
    #[default]
    Inconclusive,
    /// Not a measurement at all: it does not count towards `count` or any limit.
    Ignore,
}

/// One metric of an analysis (Argo's `Metric`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisMetric {
    /// Name, unique within the analysis.
    pub name: String,
    /// Time between measurements; absent with no `count`: one measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Number of measurements; absent with an interval: until the rollout ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Wait before the first measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<Duration>,
    /// A measurement is successful when this holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    /// A measurement is failed when this holds (it wins over success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    /// The metric fails when failed measurements exceed this (default 0; −1 disables it
    /// and needs `consecutive_success_limit`).
    #[serde(default)]
    pub failure_limit: i32,
    /// The metric is inconclusive when inconclusive measurements exceed this.
    #[serde(default)]
    pub inconclusive_limit: u32,
    /// The metric errors when consecutive errors exceed this (default 4).
    #[serde(default = "four")]
    pub consecutive_error_limit: u32,
    /// The metric succeeds after this many consecutive successes (0: off).
    #[serde(default)]
    pub consecutive_success_limit: u32,
    /// What an empty window counts as.
    #[serde(default)]
    pub no_data: NoData,
    /// Where measurements come from.
    pub provider: Provider,
}

fn four() -> u32 {
    4
}

/// A golden request: an input with its expected answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenRequest {
    /// A label for reports.
    pub name: String,
    /// The request body (MLflow scoring protocol JSON).
    pub body: serde_json::Value,
    /// The expected `predictions`.
    pub expected: serde_json::Value,
    /// Absolute tolerance for numeric predictions.
    #[serde(default)]
    pub tolerance: f64,
}

/// Where a metric's measurements come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Provider {
    /// A PromQL instant query; `result` is its vector of values.
    Prometheus {
        /// Server address; absent: the controller's configured Prometheus.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
        /// The query.
        query: String,
    },
    /// The sequential judge over the arms' counters: `result` is 1 (promote), −1
    /// (rollback) or 0 (no decision yet); see [`Provider::judge_conditions`].
    Judge(JudgeConfig),
    /// Golden requests sent to the preview/canary: `result` is the share answered as
    /// expected.
    Golden {
        /// The requests.
        requests: Vec<GoldenRequest>,
    },
    /// The application's own check command: `result` is 1 when it exits 0, 0 when it
    /// exits 1; other exits or a failure to start are measurement errors.
    Command {
        /// Program and arguments (no shell).
        argv: Vec<String>,
    },
}

impl Provider {
    /// The conditions a judge metric uses: success on promote, failure on rollback.
    pub fn judge_conditions() -> (&'static str, &'static str) {
        ("result[0] > 0", "result[0] < 0")
    }
}

impl Analysis {
    /// Checks names, conditions and limits; `at` names the analysis in errors.
    pub fn validate(&self, at: &str) -> Result<()> {
        let bad = |field: String, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.metrics.is_empty() {
            return bad(
                format!("{at}.metrics"),
                "at least one metric is needed".into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.metrics {
            let here = format!("{at}.metrics[{}]", m.name);
            if !seen.insert(m.name.as_str()) {
                return bad(here, "duplicate metric name".into());
            }
            for (field, cond) in [
                ("success_condition", &m.success_condition),
                ("failure_condition", &m.failure_condition),
            ] {
                if let Some(c) = cond {
                    Condition::parse(c).map_err(|reason| Error::InvalidConfig {
                        field: format!("{here}.{field}"),
                        reason,
                    })?;
                }
            }
            if m.count.is_some_and(|c| c > 1) && m.interval.is_none() {
                return bad(
                    format!("{here}.count"),
                    "count > 1 needs an interval".into(),
                );
            }
            if m.failure_limit < -1 {
                return bad(format!("{here}.failure_limit"), "must be >= -1".into());
            }
            if m.failure_limit == -1 && m.consecutive_success_limit == 0 {
                return bad(
                    format!("{here}.failure_limit"),
                    "-1 is only allowed with consecutive_success_limit".into(),
                );
            }
            match &m.provider {
                Provider::Judge(j) => j.validate()?,
                Provider::Command { argv } if argv.is_empty() => {
                    return bad(format!("{here}.provider.command.argv"), "empty".into());
                }
                Provider::Golden { requests } if requests.is_empty() => {
                    return bad(format!("{here}.provider.golden.requests"), "empty".into());
                }
                _ => {}
            }
        }
        for d in &self.dry_run {
            if !seen.contains(d.as_str()) {
                return bad(format!("{at}.dry_run"), format!("no metric named {d:?}"));
            }
        }
        Ok(())
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A parsed condition: an OR of ANDs of comparisons of `result` with numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    any: Vec<Vec<(Op, f64)>>,
}

impl Condition {
    /// Parses `result[0] < 0.05 && result >= 0 || ...`; the error says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut any = Vec::new();
        for alt in text.split("||") {
            let mut all = Vec::new();
            for term in alt.split("&&") {
                all.push(parse_term(term.trim()).map_err(|e| format!("{text:?}: {e}"))?);
            }
            any.push(all);
        }
        Ok(Self { any })
    }

    /// Whether the condition holds for a measured value.
    pub fn holds(&self, value: f64) -> bool {
        self.any.iter().any(|all| {
            all.iter().all(|&(op, x)| match op {
                Op::Lt => value < x,
                Op::Le => value <= x,
                Op::Gt => value > x,
                Op::Ge => value >= x,
                Op::Eq => value == x,
                Op::Ne => value != x,
            })
        })
    }
}

fn parse_term(term: &str) -> std::result::Result<(Op, f64), String> {
    let rest = term
        .strip_prefix("result[0]")
        .or_else(|| term.strip_prefix("result"))
        .ok_or_else(|| format!("{term:?} must start with result or result[0]"))?
        .trim_start();
    let ops = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let (op, num) = ops
        .iter()
        .find_map(|(s, op)| rest.strip_prefix(s).map(|n| (*op, n)))
        .ok_or_else(|| format!("{term:?}: expected one of < <= > >= == != after result"))?;
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{term:?}: {:?} is not a number", num.trim()))?;
    Ok((op, x))
}

/// One measurement as the provider returned it.
#[derive(Clone, Debug, PartialEq)]
pub enum Measured {
    /// A value.
    Value(f64),
    /// The window had no data.
    NoData,
    /// The provider or the evaluation failed.
    Error(String),
}

/// Phase of a measurement, a metric or a run. The order is Argo's severity order:
/// `Successful < Running < Pending < Inconclusive < Error < Failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Passed.
    Successful,
    /// Still measuring.
    Running,
    /// Not started.
    Pending,
    /// Neither passed nor failed: the rollout pauses for a person.
    Inconclusive,
    /// Too many consecutive errors.
    Error,
    /// Failed: the rollout aborts.
    Failed,
}

impl Phase {
    /// Whether the phase is final.
    pub fn is_completed(&self) -> bool {
        !matches!(self, Phase::Running | Phase::Pending)
    }
}

/// Classifies one measurement (`None`: an empty window under [`NoData::Ignore`]).
pub fn classify(metric: &AnalysisMetric, measured: &Measured) -> Option<Phase> {
    let value = match measured {
        Measured::Error(_) => return Some(Phase::Error),
        Measured::NoData => {
            return match metric.no_data {
                NoData::Pass => Some(Phase::Successful),
                NoData::Fail => Some(Phase::Failed),
                NoData::Inconclusive => Some(Phase::Inconclusive),
                NoData::Ignore => None,
            };
        }
        Measured::Value(v) => *v,
    };
    // Conditions were checked by `validate`; an unparsable one here is an error phase.
    let parse = |c: &Option<String>| c.as_deref().map(Condition::parse).transpose();
    let (Ok(success), Ok(failure)) = (
        parse(&metric.success_condition),
        parse(&metric.failure_condition),
    ) else {
        return Some(Phase::Error);
    };
    Some(match (success, failure) {
        (None, None) => Phase::Successful,
        (Some(s), None) => {
            if s.holds(value) {
                Phase::Successful
            } else {
                Phase::Failed
            }
        }
        (None, Some(f)) => {
            if f.holds(value) {
                Phase::Failed
            } else {
                Phase::Successful
            }
        }
        (Some(s), Some(f)) => {
            if f.holds(value) {
                Phase::Failed
            } else if s.holds(value) {
                Phase::Successful
            } else {
                Phase::Inconclusive
            }
        }
    })
}

/// The running counts of one metric.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricState {
    /// Measurements taken (errors included, ignored windows not).
    pub measured: u32,
    /// Successful measurements.
    pub successful: u32,
    /// Failed measurements.
    pub failed: u32,
    /// Inconclusive measurements.
    pub inconclusive: u32,
    /// Errored measurements.
    pub error: u32,
    /// Current run of consecutive errors.
    pub consecutive_error: u32,
    /// Current run of consecutive successes.
    pub consecutive_success: u32,
}

impl MetricState {
    /// Records one classified measurement.
    pub fn record(&mut self, phase: Option<Phase>) {
        let Some(phase) = phase else { return };
        self.measured += 1;
        match phase {
            Phase::Error => {
                self.error += 1;
                self.consecutive_error += 1;
                self.consecutive_success = 0;
                return;
            }
            Phase::Successful => {
                self.successful += 1;
                self.consecutive_success += 1;
            }
            Phase::Failed => {
                self.failed += 1;
                self.consecutive_success = 0;
            }
            Phase::Inconclusive => {
                self.inconclusive += 1;
                self.consecutive_success = 0;
            }
            Phase::Running | Phase::Pending => {}
        }
        self.consecutive_error = 0;
    }
}

/// The metric's phase after its measurements (Argo's `assessMetricStatus`);
/// `terminated` means the rollout stopped measuring early.
pub fn assess(metric: &AnalysisMetric, state: &MetricState, terminated: bool) -> Phase {
    let mut phase = None;
    if metric.failure_limit >= 0 && state.failed > metric.failure_limit as u32 {
        phase = Some(Phase::Failed);
    }
    if state.inconclusive > metric.inconclusive_limit {
        phase = Some(Phase::Inconclusive);
    }
    if state.consecutive_error > metric.consecutive_error_limit {
        phase = Some(Phase::Error);
    }
    if let Some(p) = phase {
        return p;
    }
    if metric.consecutive_success_limit > 0
        && state.consecutive_success >= metric.consecutive_success_limit
    {
        return Phase::Successful;
    }
    let effective_count = match (metric.count, metric.interval) {
        (Some(c), _) => Some(c),
        (None, None) => Some(1),
        (None, Some(_)) => None,
    };
    if effective_count.is_some_and(|c| c > 0 && state.measured >= c) {
        let failure_applies = metric.failure_limit >= 0;
        let success_applies = metric.consecutive_success_limit > 0;
        return match (failure_applies, success_applies) {
            (true, true) => Phase::Inconclusive,
            (false, true) => Phase::Failed,
            _ => Phase::Successful,
        };
    }
    if terminated {
        return Phase::Successful;
    }
    if state.measured == 0 {
        Phase::Pending
    } else {
        Phase::Running
    }
}

/// The run's phase: the worst of its metrics' phases, dry-run metrics left out. A run
/// is over when every counted metric is completed or one is Failed, Error or
/// Inconclusive (Argo then terminates the rest).
pub fn assess_run(analysis: &Analysis, phases: &[Phase]) -> Phase {
    let counted: Vec<Phase> = analysis
        .metrics
        .iter()
        .zip(phases)
        .filter(|(m, _)| !analysis.dry_run.contains(&m.name))
        .map(|(_, p)| *p)
        .collect();
    if counted.is_empty() {
        return Phase::Successful;
    }
    let worst = counted.iter().copied().max().unwrap_or(Phase::Successful);
    if matches!(worst, Phase::Failed | Phase::Error | Phase::Inconclusive) {
        return worst;
    }
    if counted.iter().all(Phase::is_completed) {
        Phase::Successful
    } else {
        worst
    }
}
