//! Evaluation gates: may this candidate replace the champion?
//!
//! A [`Gate`] is plain serde data (a policy file is one JSON gate, usually an `all`),
//! so the same policy runs in a training job, in `mlops gate` in CI, and in a review.
//! Gates fail *closed*: a gate whose input is missing (no fairness figures, no per-row
//! predictions for a paired test, no measured latency) fails and says what is missing.
//! The one exception is `no_regression` without a champion: the first model has nothing
//! to regress from, so it passes and says so.
//!
//! `no_regression` never compares two numbers alone. It asks whether the candidate is
//! *significantly* worse than the champion by more than `tolerance`, on the same rows:
//! a paired bootstrap interval of the difference (any metric), McNemar's test
//! (accuracy) or DeLong's test (ROC AUC). It fails when the difference is below
//! `-tolerance` and the test rejects equality at `alpha` (for the bootstrap: when the
//! whole `1 - alpha` interval lies below `-tolerance`).
//!
//! A policy is built in code as well as parsed: `Gate::all([Gate::contract_passed(),
//! Gate::at_least("roc_auc_score", 0.75)?, Gate::no_regression("roc_auc_score",
//! RegressionTest::Delong, 0.05)?])`. Both ways check the policy when it is built
//! ([`Gate::validate`]): an unknown metric name, a test that does not fit its metric or
//! an alpha outside (0, 1) is an error then, not a failed gate at the end of a training
//! job.

use serde::{Deserialize, Serialize};

use crate::evaluation::{
    Evaluation, METRIC_NAMES, RowPredictions, Task, higher_is_better, is_metric_name,
};
use crate::metrics::{self, Average};
use crate::stats;

/// The statistical test behind a `no_regression` gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "test", rename_all = "snake_case")]
pub enum RegressionTest {
    /// Paired bootstrap percentile interval of the difference (any metric).
    Bootstrap {
        /// Resamples (default 1000).
        #[serde(default = "default_resamples")]
        resamples: usize,
        /// Seed (default 0).
        #[serde(default)]
        seed: u64,
    },
    /// McNemar's test (metric `accuracy_score`).
    Mcnemar,
    /// DeLong's test (metric `roc_auc_score`, binary with scores).
    Delong,
}

impl RegressionTest {
    /// A paired bootstrap with `resamples` resamples drawn from `seed`.
    pub fn bootstrap(resamples: usize, seed: u64) -> RegressionTest {
        RegressionTest::Bootstrap { resamples, seed }
    }

    fn name(&self) -> &'static str {
        match self {
            RegressionTest::Bootstrap { .. } => "bootstrap",
            RegressionTest::Mcnemar => "mcnemar",
            RegressionTest::Delong => "delong",
        }
    }
}

fn default_resamples() -> usize {
    1000
}

fn default_alpha() -> f64 {
    0.05
}

/// A gate: a rule over a candidate's evaluation and, optionally, the champion's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// `min <= metric <= max` on the candidate.
    Threshold {
        /// Metric name (scikit-learn's function name, or `groups.G.metric`).
        metric: String,
        /// Smallest allowed value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Largest allowed value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// The candidate is not significantly worse than the champion beyond `tolerance`.
    NoRegression {
        /// Metric name.
        metric: String,
        /// Allowed loss in the metric's units (default 0).
        #[serde(default)]
        tolerance: f64,
        /// Significance level (default 0.05).
        #[serde(default = "default_alpha")]
        alpha: f64,
        /// The test.
        #[serde(flatten)]
        test: RegressionTest,
    },
    /// Limits on Fairlearn's differences across groups.
    Fairness {
        /// Largest allowed demographic parity difference.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_demographic_parity_difference: Option<f64>,
        /// Largest allowed equal opportunity difference.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_equal_opportunity_difference: Option<f64>,
    },
    /// The evaluation data passed its data contract.
    ContractPassed,
    /// The serialised model is at most this large.
    ModelSize {
        /// Limit in bytes.
        max_bytes: u64,
    },
    /// Single-row prediction latency limit.
    Latency {
        /// Limit on the 99th percentile, milliseconds.
        max_p99_ms: f64,
    },
    /// Passes when every inner gate passes.
    All {
        /// Inner gates.
        gates: Vec<Gate>,
    },
    /// Passes when at least one inner gate passes.
    Any {
        /// Inner gates.
        gates: Vec<Gate>,
    },
}

/// The outcome of one gate, with its inner gates' outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateOutcome {
    /// Short name (`threshold accuracy_score`, `all`, ...).
    pub gate: String,
    /// Whether it passed.
    pub passed: bool,
    /// Why, for a person.
    pub reason: String,
    /// The numbers behind the decision (test statistics, intervals).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    /// Outcomes of inner gates (`all`/`any`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<GateOutcome>,
}

/// The decision of a gate policy: prints, serialises, maps to an exit code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// Whether the candidate may replace the champion.
    pub passed: bool,
    /// The outcome tree.
    pub outcome: GateOutcome,
}

impl GateReport {
    /// 0 when passed, 1 when failed: what a CI job exits with.
    pub fn exit_code(&self) -> u8 {
        if self.passed { 0 } else { 1 }
    }
}

impl std::fmt::Display for GateReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn walk(
            f: &mut std::fmt::Formatter<'_>,
            o: &GateOutcome,
            depth: usize,
        ) -> std::fmt::Result {
            let mark = if o.passed { "PASS" } else { "FAIL" };
            writeln!(
                f,
                "{:indent$}{mark} {}: {}",
                "",
                o.gate,
                o.reason,
                indent = depth * 2
            )?;
            for c in &o.children {
                walk(f, c, depth + 1)?;
            }
            Ok(())
        }
        writeln!(f, "gate: {}", if self.passed { "PASSED" } else { "FAILED" })?;
        walk(f, &self.outcome, 1)
    }
}

fn outcome(gate: String, passed: bool, reason: String) -> GateOutcome {
    GateOutcome {
        gate,
        passed,
        reason,
        details: serde_json::Value::Null,
        children: Vec::new(),
    }
}

impl Gate {
    /// Decides on `candidate`, against `champion` when there is one.
    pub fn check(&self, candidate: &Evaluation, champion: Option<&Evaluation>) -> GateReport {
        let outcome = self.outcome(candidate, champion);
        GateReport {
            passed: outcome.passed,
            outcome,
        }
    }

    /// Reads a policy from JSON text and checks it ([`Gate::validate`]).
    pub fn from_json(text: &str) -> crate::Result<Gate> {
        let gate: Gate =
            serde_json::from_str(text).map_err(|e| crate::Error::json("gate policy", e))?;
        gate.validate()?;
        Ok(gate)
    }

    /// Passes when every gate passes (no gates: passes).
    pub fn all(gates: impl IntoIterator<Item = Gate>) -> Gate {
        Gate::All {
            gates: gates.into_iter().collect(),
        }
    }

    /// Passes when at least one gate passes.
    pub fn any(gates: impl IntoIterator<Item = Gate>) -> Gate {
        Gate::Any {
            gates: gates.into_iter().collect(),
        }
    }

    /// `metric >= min` on the candidate. The name is checked now.
    pub fn at_least(metric: &str, min: f64) -> crate::Result<Gate> {
        Gate::checked(Gate::Threshold {
            metric: metric.to_string(),
            min: Some(min),
            max: None,
        })
    }

    /// `metric <= max` on the candidate. The name is checked now.
    pub fn at_most(metric: &str, max: f64) -> crate::Result<Gate> {
        Gate::checked(Gate::Threshold {
            metric: metric.to_string(),
            min: None,
            max: Some(max),
        })
    }

    /// `min <= metric <= max` on the candidate. The name is checked now.
    pub fn between(metric: &str, min: f64, max: f64) -> crate::Result<Gate> {
        Gate::checked(Gate::Threshold {
            metric: metric.to_string(),
            min: Some(min),
            max: Some(max),
        })
    }

    /// The candidate is not significantly worse than the champion in `metric`, by
    /// `test` at significance `alpha` (tolerance 0; see [`Gate::with_tolerance`]):
    /// `Gate::no_regression("roc_auc_score", RegressionTest::Delong, 0.05)`. The
    /// metric, the test's fit to it and `alpha` are checked now.
    pub fn no_regression(metric: &str, test: RegressionTest, alpha: f64) -> crate::Result<Gate> {
        Gate::checked(Gate::NoRegression {
            metric: metric.to_string(),
            tolerance: 0.0,
            alpha,
            test,
        })
    }

    /// A `no_regression` gate that allows a loss of up to `tolerance` (metric units).
    /// An error on any other gate.
    pub fn with_tolerance(self, tolerance: f64) -> crate::Result<Gate> {
        match self {
            Gate::NoRegression {
                metric,
                alpha,
                test,
                ..
            } => Gate::checked(Gate::NoRegression {
                metric,
                tolerance,
                alpha,
                test,
            }),
            other => Err(crate::Error::arg(format!(
                "a tolerance applies to no_regression gates, not to {}",
                other.kind()
            ))),
        }
    }

    /// The evaluation data passed its data contract.
    pub fn contract_passed() -> Gate {
        Gate::ContractPassed
    }

    /// The serialised model is at most `max_bytes` large.
    pub fn max_model_size(max_bytes: u64) -> Gate {
        Gate::ModelSize { max_bytes }
    }

    /// Single-row latency p99 at most `max_p99_ms` milliseconds (positive, finite).
    pub fn max_latency_p99_ms(max_p99_ms: f64) -> crate::Result<Gate> {
        Gate::checked(Gate::Latency { max_p99_ms })
    }

    /// Fairlearn's demographic parity difference across groups at most `max`.
    pub fn max_demographic_parity_difference(max: f64) -> crate::Result<Gate> {
        Gate::checked(Gate::Fairness {
            max_demographic_parity_difference: Some(max),
            max_equal_opportunity_difference: None,
        })
    }

    /// Fairlearn's equal opportunity difference across groups at most `max`.
    pub fn max_equal_opportunity_difference(max: f64) -> crate::Result<Gate> {
        Gate::checked(Gate::Fairness {
            max_demographic_parity_difference: None,
            max_equal_opportunity_difference: Some(max),
        })
    }

    fn checked(gate: Gate) -> crate::Result<Gate> {
        gate.validate()?;
        Ok(gate)
    }

    fn kind(&self) -> &'static str {
        match self {
            Gate::Threshold { .. } => "threshold",
            Gate::NoRegression { .. } => "no_regression",
            Gate::Fairness { .. } => "fairness",
            Gate::ContractPassed => "contract_passed",
            Gate::ModelSize { .. } => "model_size",
            Gate::Latency { .. } => "latency",
            Gate::All { .. } => "all",
            Gate::Any { .. } => "any",
        }
    }

    /// Checks the policy without running it: metric names are ones an evaluation
    /// holds ([`is_metric_name`]), a paired test fits its metric (McNemar:
    /// `accuracy_score`, DeLong: `roc_auc_score`, bootstrap: any of
    /// [`METRIC_NAMES`]), alphas are in (0, 1), limits are finite, and every
    /// threshold or fairness gate has a bound. The error names the offending gate.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |why: String| Err(crate::Error::arg(format!("gate {}: {why}", self.kind())));
        let finite = |what: &str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                bad(format!("{what} must be a finite number, got {v}"))
            }
        };
        match self {
            Gate::Threshold { metric, min, max } => {
                if !is_metric_name(metric) {
                    return bad(format!("unknown metric {metric:?}"));
                }
                match (min, max) {
                    (None, None) => return bad(format!("{metric} needs a min or a max")),
                    (Some(a), Some(b)) if a > b => {
                        return bad(format!("{metric}: min {a} is above max {b}"));
                    }
                    _ => {}
                }
                for v in min.iter().chain(max.iter()) {
                    finite("a bound", *v)?;
                }
            }
            Gate::NoRegression {
                metric,
                tolerance,
                alpha,
                test,
            } => {
                if !METRIC_NAMES.contains(&metric.as_str()) {
                    return bad(format!(
                        "unknown metric {metric:?} (a paired test needs one of {})",
                        METRIC_NAMES.join(", ")
                    ));
                }
                let fits = match test {
                    RegressionTest::Mcnemar => metric == "accuracy_score",
                    RegressionTest::Delong => metric == "roc_auc_score",
                    RegressionTest::Bootstrap { resamples, .. } => {
                        if *resamples == 0 {
                            return bad("a bootstrap needs at least one resample".into());
                        }
                        true
                    }
                };
                if !fits {
                    return bad(format!(
                        "the {} test does not apply to {metric}",
                        test.name()
                    ));
                }
                if !(*alpha > 0.0 && *alpha < 1.0) {
                    return bad(format!("alpha must be in (0, 1), got {alpha}"));
                }
                finite("tolerance", *tolerance)?;
                if *tolerance < 0.0 {
                    return bad(format!("tolerance must not be negative, got {tolerance}"));
                }
            }
            Gate::Fairness {
                max_demographic_parity_difference: dp,
                max_equal_opportunity_difference: eo,
            } => {
                if dp.is_none() && eo.is_none() {
                    return bad("needs at least one limit".into());
                }
                for v in dp.iter().chain(eo.iter()) {
                    finite("a limit", *v)?;
                }
            }
            Gate::Latency { max_p99_ms } => {
                finite("max_p99_ms", *max_p99_ms)?;
                if *max_p99_ms <= 0.0 {
                    return bad(format!("max_p99_ms must be positive, got {max_p99_ms}"));
                }
            }
            Gate::ContractPassed | Gate::ModelSize { .. } => {}
            Gate::All { gates } | Gate::Any { gates } => {
                for g in gates {
                    g.validate()?;
                }
            }
        }
        Ok(())
    }

    fn outcome(&self, cand: &Evaluation, champ: Option<&Evaluation>) -> GateOutcome {
        match self {
            Gate::Threshold { metric, min, max } => {
                let name = format!("threshold {metric}");
                let Some(v) = cand.flat_metrics().get(metric).copied() else {
                    return outcome(
                        name,
                        false,
                        format!("metric {metric} is not in the evaluation"),
                    );
                };
                let lo_ok = min.is_none_or(|m| v >= m);
                let hi_ok = max.is_none_or(|m| v <= m);
                let bounds = match (min, max) {
                    (Some(a), Some(b)) => format!("[{a}, {b}]"),
                    (Some(a), None) => format!(">= {a}"),
                    (None, Some(b)) => format!("<= {b}"),
                    (None, None) => "unbounded".to_string(),
                };
                outcome(
                    name,
                    lo_ok && hi_ok,
                    format!(
                        "{v:.6} {} {bounds}",
                        if lo_ok && hi_ok { "within" } else { "outside" }
                    ),
                )
            }
            Gate::NoRegression {
                metric,
                tolerance,
                alpha,
                test,
            } => no_regression(metric, *tolerance, *alpha, test, cand, champ),
            Gate::Fairness {
                max_demographic_parity_difference,
                max_equal_opportunity_difference,
            } => {
                let name = "fairness".to_string();
                let Some(f) = &cand.fairness else {
                    return outcome(
                        name,
                        false,
                        "the evaluation has no fairness figures (evaluate with groups)".into(),
                    );
                };
                let mut problems = Vec::new();
                if let Some(m) = max_demographic_parity_difference
                    && f.demographic_parity_difference > *m
                {
                    problems.push(format!(
                        "demographic parity difference {:.4} > {m}",
                        f.demographic_parity_difference
                    ));
                }
                if let Some(m) = max_equal_opportunity_difference
                    && f.equal_opportunity_difference > *m
                {
                    problems.push(format!(
                        "equal opportunity difference {:.4} > {m}",
                        f.equal_opportunity_difference
                    ));
                }
                let passed = problems.is_empty();
                let reason = if passed {
                    format!(
                        "demographic parity difference {:.4}, equal opportunity difference {:.4}",
                        f.demographic_parity_difference, f.equal_opportunity_difference
                    )
                } else {
                    problems.join("; ")
                };
                outcome(name, passed, reason)
            }
            Gate::ContractPassed => match &cand.contract {
                None => outcome(
                    "contract".into(),
                    false,
                    "no contract outcome recorded".into(),
                ),
                Some(c) if c.passed => {
                    outcome("contract".into(), true, "data contract passed".into())
                }
                Some(c) => outcome(
                    "contract".into(),
                    false,
                    format!("data contract failed: {}", c.failures.join("; ")),
                ),
            },
            Gate::ModelSize { max_bytes } => match cand.model.size_bytes {
                None => outcome("model_size".into(), false, "model size not measured".into()),
                Some(s) => outcome(
                    "model_size".into(),
                    s <= *max_bytes,
                    format!("{s} bytes (limit {max_bytes})"),
                ),
            },
            Gate::Latency { max_p99_ms } => match cand.model.latency_p99_ms {
                None => outcome("latency".into(), false, "latency not measured".into()),
                Some(l) => outcome(
                    "latency".into(),
                    l <= *max_p99_ms,
                    format!("p99 {l:.3} ms (limit {max_p99_ms} ms)"),
                ),
            },
            Gate::All { gates } | Gate::Any { gates } => {
                let all = matches!(self, Gate::All { .. });
                let children: Vec<GateOutcome> =
                    gates.iter().map(|g| g.outcome(cand, champ)).collect();
                let n_pass = children.iter().filter(|c| c.passed).count();
                let passed = if all {
                    n_pass == children.len()
                } else {
                    n_pass > 0
                };
                GateOutcome {
                    gate: if all { "all" } else { "any" }.to_string(),
                    passed,
                    reason: format!("{n_pass} of {} passed", children.len()),
                    details: serde_json::Value::Null,
                    children,
                }
            }
        }
    }
}

/// Recomputes a named metric on a subset of rows (for the bootstrap). `NaN` when the
/// metric is undefined or unknown for the task.
pub(crate) fn metric_on_rows(task: Task, name: &str, p: &RowPredictions, idx: &[usize]) -> f64 {
    let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let yt = pick(&p.y_true);
    let yp = pick(&p.y_pred);
    let lt: Vec<usize> = yt.iter().map(|&x| x as usize).collect();
    let lp: Vec<usize> = yp.iter().map(|&x| x as usize).collect();
    let bt: Vec<bool> = lt.iter().map(|&x| x == 1).collect();
    let score = p.score.as_ref().map(|s| pick(s));
    let proba = p.proba.as_ref().and_then(|rows| {
        let k = rows.first()?.len();
        let flat: Vec<f64> = idx.iter().flat_map(|&i| rows[i].iter().copied()).collect();
        ndarray::Array2::from_shape_vec((idx.len(), k), flat).ok()
    });
    let default = if task == Task::Binary {
        Average::Binary
    } else {
        Average::Macro
    };
    let r = match name {
        "accuracy_score" => metrics::accuracy(&lt, &lp),
        "balanced_accuracy_score" => metrics::balanced_accuracy(&lt, &lp),
        "precision_score" => metrics::precision(&lt, &lp, default),
        "recall_score" => metrics::recall(&lt, &lp, default),
        "f1_score" => metrics::f1(&lt, &lp, default),
        "f1_score_macro" => metrics::f1(&lt, &lp, Average::Macro),
        "f1_score_weighted" => metrics::f1(&lt, &lp, Average::Weighted),
        "matthews_corrcoef" => metrics::matthews_corrcoef(&lt, &lp),
        "roc_auc_score" if score.is_some() => {
            metrics::roc_auc(&bt, score.as_deref().unwrap_or_default())
        }
        "average_precision_score" if score.is_some() => {
            metrics::average_precision(&bt, score.as_deref().unwrap_or_default())
        }
        "log_loss" if score.is_some() => {
            metrics::log_loss_binary(&bt, score.as_deref().unwrap_or_default())
        }
        "brier_score_loss" if score.is_some() => {
            metrics::brier_score(&bt, score.as_deref().unwrap_or_default())
        }
        "log_loss" if proba.is_some() => proba
            .as_ref()
            .map_or(Ok(f64::NAN), |a| metrics::log_loss(&lt, a.view())),
        "roc_auc_score" if proba.is_some() => proba
            .as_ref()
            .map_or(Ok(f64::NAN), |a| metrics::roc_auc_ovr_macro(&lt, a.view())),
        "r2_score" => metrics::r2(&yt, &yp),
        "mean_absolute_error" => metrics::mae(&yt, &yp),
        "root_mean_squared_error" => metrics::rmse(&yt, &yp),
        "mean_absolute_percentage_error" => metrics::mape(&yt, &yp),
        _ => Ok(f64::NAN),
    };
    r.unwrap_or(f64::NAN)
}

fn no_regression(
    metric: &str,
    tolerance: f64,
    alpha: f64,
    test: &RegressionTest,
    cand: &Evaluation,
    champ: Option<&Evaluation>,
) -> GateOutcome {
    let name = format!("no_regression {metric} ({})", test.name());
    let Some(champ) = champ else {
        return outcome(name, true, "no champion to compare with".into());
    };
    let sign = if higher_is_better(metric) { 1.0 } else { -1.0 };
    let (Some(cv), Some(hv)) = (cand.metric(metric), champ.metric(metric)) else {
        return outcome(
            name,
            false,
            format!("metric {metric} is missing from the candidate or the champion"),
        );
    };
    let (Some(cp), Some(hp)) = (&cand.predictions, &champ.predictions) else {
        return outcome(
            name,
            false,
            "a paired test needs both evaluations with per-row predictions".into(),
        );
    };
    if cand.rows_digest != champ.rows_digest || cp.y_true.len() != hp.y_true.len() {
        return outcome(
            name,
            false,
            "candidate and champion were not evaluated on the same rows".into(),
        );
    }
    let diff = sign * (cv - hv);
    let point = format!("candidate {cv:.6} vs champion {hv:.6}");
    let mut o = match test {
        RegressionTest::Bootstrap { resamples, seed } => {
            let n = cp.y_true.len();
            let ci = stats::paired_bootstrap(n, *resamples, 1.0 - alpha, *seed, |idx| {
                sign * (metric_on_rows(cand.task, metric, cp, idx)
                    - metric_on_rows(champ.task, metric, hp, idx))
            });
            match ci {
                Err(e) => outcome(name, false, format!("bootstrap failed: {e}")),
                Ok(ci) => {
                    let worse = ci.upper < -tolerance;
                    let mut o = outcome(
                        name,
                        !worse,
                        format!(
                            "{point}; improvement {:.6}, {:.0}% CI [{:.6}, {:.6}] {} -{tolerance}",
                            ci.estimate + 0.0, // no "-0.000000"
                            ci.level * 100.0,
                            ci.lower + 0.0,
                            ci.upper + 0.0,
                            if worse {
                                "entirely below"
                            } else {
                                "not entirely below"
                            }
                        ),
                    );
                    o.details = serde_json::to_value(&ci).unwrap_or_default();
                    o
                }
            }
        }
        RegressionTest::Mcnemar => {
            if metric != "accuracy_score" {
                return outcome(
                    name,
                    false,
                    "McNemar's test applies to accuracy_score only".into(),
                );
            }
            let ch: Vec<bool> = hp
                .y_true
                .iter()
                .zip(&hp.y_pred)
                .map(|(a, b)| a == b)
                .collect();
            let ca: Vec<bool> = cp
                .y_true
                .iter()
                .zip(&cp.y_pred)
                .map(|(a, b)| a == b)
                .collect();
            match stats::mcnemar_rows(&ch, &ca) {
                Err(e) => outcome(name, false, e.to_string()),
                Ok(t) => {
                    let worse = diff < -tolerance && t.pvalue < alpha;
                    let mut o = outcome(
                        name,
                        !worse,
                        format!(
                            "{point}; champion-only right {}, candidate-only right {}, p = {:.4}",
                            t.b, t.c, t.pvalue
                        ),
                    );
                    o.details = serde_json::to_value(&t).unwrap_or_default();
                    o
                }
            }
        }
        RegressionTest::Delong => {
            let (Some(cs), Some(hs)) = (&cp.score, &hp.score) else {
                return outcome(
                    name,
                    false,
                    "DeLong's test needs binary scores from both models".into(),
                );
            };
            if metric != "roc_auc_score" {
                return outcome(
                    name,
                    false,
                    "DeLong's test applies to roc_auc_score only".into(),
                );
            }
            let t: Vec<bool> = cp.y_true.iter().map(|&y| y == 1.0).collect();
            match stats::delong(&t, cs, hs) {
                Err(e) => outcome(name, false, e.to_string()),
                Ok(d) => {
                    let worse = diff < -tolerance && d.pvalue < alpha;
                    let mut o = outcome(
                        name,
                        !worse,
                        format!("{point}; z = {:.3}, p = {:.4}", d.z, d.pvalue),
                    );
                    o.details = serde_json::to_value(&d).unwrap_or_default();
                    o
                }
            }
        }
    };
    if o.passed && diff >= 0.0 {
        o.reason = format!("{}; not worse", o.reason);
    } else if o.passed {
        o.reason = format!("{}; not significantly worse", o.reason);
    } else if !o.passed && diff < -tolerance {
        o.reason = format!("{}; significantly worse", o.reason);
    }
    o
}
