//! A strategy exported as Argo Rollouts data: `spec.strategy` of a `Rollout` and the
//! `AnalysisTemplate`s its analyses reference (field names as in Argo's
//! `docs/features/specification.md` and `analysis_types.go`).
//!
//! Argo cannot call the judge, so a `judge` step becomes an inline analysis whose one
//! metric computes the decision in PromQL from the arms' counters (`result` is −1
//! rollback, 0 no decision, 1 promote): failure on −1 (`failureLimit: 0`), success on 1
//! (`consecutiveSuccessLimit: 1`), and at `count` (the horizon) Argo's rule for both
//! limits makes the metric Inconclusive, which pauses the rollout for a person. PromQL
//! has no normal distribution function, so the exported test is the **symmetric**
//! normal mixture restricted to the harmful (resp. better) side: `Λ ≥ 1/α` with the
//! estimate on that side implies the half-normal statistic crosses too (its factor
//! `2Φ(·)` is ≥ 1 there), so the exported test is valid and slightly more conservative
//! than the in-process judge (about half its spare α; see canary.md §3.3). It also runs
//! the harm test at the full `α` with no horizon z-test (`JudgeConfig::horizon_alpha`):
//! an Argo metric is re-measured every interval and cannot take a test exactly once, so
//! keeping a share of `α` for one would not be valid there. The judge's guardrails are
//! folded into the same expression (any guardrail's harm test, at its own `α`, makes it
//! −1), so a rollout exported to Argo keeps every test the strategy in git names. Each
//! metric is measured from its own counters (`error_rate` and `latency_over_<MS>ms` from
//! the `serve` helper's families, any other metric from queries the caller gives):
//! a metric without queries is refused, never judged on another metric's counts.
//!
//! A golden-request metric of a blue-green analysis becomes a `job` metric running
//! `mlops golden` (the same check the local controller makes, with the metric's
//! conditions) in the check image against the preview Service `http://NAME-preview`;
//! the job's exit status is the measurement (Argo's job metrics have no value). Outside
//! blue-green there is no preview to send them to, and the export refuses them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::analysis::{Analysis, AnalysisMetric, Provider};
use super::{BlueGreen, Canary, Shadow, Step, Strategy};
use crate::error::{Error, Result};
use crate::judge::{JudgeConfig, MetricKind, MetricSpec};

/// How the exported PromQL finds each arm's counters.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArmQueries {
    /// Query template for an arm's requests; `{model}` and `{version}` are replaced.
    pub total: String,
    /// Query template for an arm's successes (errors, for an error-rate metric).
    pub successes: String,
}

impl Default for ArmQueries {
    /// The `serve` helper's counters: all requests of a version, and those answered
    /// with a 5xx (an error-rate metric, lower is better).
    fn default() -> Self {
        Self {
            total: r#"sum(model_requests_total{model="{model}",version="{version}"})"#.into(),
            successes:
                r#"sum(model_requests_total{model="{model}",version="{version}",code=~"5.."})"#
                    .into(),
        }
    }
}

impl ArmQueries {
    /// The query set of a judged metric named as [`crate::controller::LocalSource`]
    /// names it, over the `serve` helper's metric families: `error_rate` (answers 5xx out
    /// of requests, the [`Default`]) or `latency_over_<MS>ms` (requests slower than `MS`
    /// ms out of requests, from `model_request_duration_seconds`; `MS` must be a bound of
    /// [`crate::metrics::LATENCY_BUCKETS`], e.g. `latency_over_250ms`). So the same metric
    /// name is judged on the local server and through Prometheus.
    ///
    /// Both are proportions where lower is better; a metric of another name, kind or
    /// direction is refused (an [`Error::InvalidConfig`] naming it) rather than judged
    /// on counts that are not its own: give its queries in [`ArgoContext::queries`] or
    /// to [`crate::controller::PrometheusSource::new`].
    pub fn for_metric(metric: &MetricSpec) -> Result<Self> {
        let name = &metric.name;
        let invalid = |reason: String| Error::InvalidConfig {
            field: format!("metric {name}"),
            reason,
        };
        let le = if name == "error_rate" {
            None
        } else {
            Some(
                crate::metrics::latency_over(name)
                    .flatten()
                    .map(|i| crate::metrics::LATENCY_BUCKETS[i])
                    .ok_or_else(|| {
                        invalid(format!(
                            "the serve helper's Prometheus families give error_rate and latency_over_<MS>ms with MS one of {:?}; any other metric needs its own queries",
                            crate::metrics::LATENCY_BUCKETS.map(|b| b * 1000.0)
                        ))
                    })?,
            )
        };
        if metric.kind != MetricKind::Proportion || metric.higher_is_better {
            return Err(invalid(
                "it is a proportion where lower is better (kind = \"proportion\", higher_is_better = false)".into(),
            ));
        }
        let Some(le) = le else {
            return Ok(Self::default());
        };
        let sel = r#"model="{model}",version="{version}""#;
        let count = format!("sum(model_request_duration_seconds_count{{{sel}}})");
        Ok(Self {
            // `le` as the exposition writes it (Rust's shortest round-trip form, which
            // Prometheus matches as a string label).
            successes: format!(
                "{count} - sum(model_request_duration_seconds_bucket{{{sel},le=\"{le:?}\"}})"
            ),
            total: count,
        })
    }
}

/// What the export needs to know about the deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgoContext {
    /// The Rollout's name (templates are named after it).
    pub name: String,
    /// Registered model name (the `model` label).
    pub model: String,
    /// Version serving now (the `version` label of the control arm).
    pub stable_version: String,
    /// Version rolled out (the canary arm).
    pub canary_version: String,
    /// Prometheus address for metrics without their own.
    pub prometheus: String,
    /// Counter queries of judged metrics (the judge's and its guardrails') by metric
    /// name, for metrics the `serve` helper's families do not give (an application's own
    /// counters); a metric not in it gets [`ArmQueries::for_metric`].
    pub queries: BTreeMap<String, ArmQueries>,
    /// Image of `command` analysis jobs.
    pub check_image: String,
}

/// Everything a strategy exports: the `spec.strategy` value and the templates.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgoExport {
    /// `spec.strategy` of the Rollout.
    pub strategy: Value,
    /// `AnalysisTemplate` manifests, in a stable order.
    pub templates: Vec<Value>,
}

fn unsupported(what: &str) -> Error {
    Error::InvalidConfig {
        field: "strategy".into(),
        reason: format!("{what} cannot be expressed in Argo Rollouts"),
    }
}

fn sub(template: &str, model: &str, version: &str) -> String {
    template
        .replace("{model}", model)
        .replace("{version}", version)
}

impl ArgoContext {
    /// The counter queries of `metric`: its entry in [`Self::queries`], else
    /// [`ArmQueries::for_metric`].
    pub fn queries_for(&self, metric: &MetricSpec) -> Result<ArmQueries> {
        match self.queries.get(&metric.name) {
            Some(q) => Ok(q.clone()),
            None => ArmQueries::for_metric(metric),
        }
    }
}

/// One metric's terms in PromQL: the arms' sizes and successes, and the difference
/// oriented so that positive is better.
struct Terms {
    nc: String,
    nb: String,
    xc: String,
    xb: String,
    /// `sign · (p̂_canary − p̂_control)`.
    d: String,
}

impl Terms {
    fn new(metric: &MetricSpec, ctx: &ArgoContext) -> Result<Self> {
        if metric.kind != MetricKind::Proportion {
            return Err(unsupported(&format!(
                "a judge over the mean {} (Prometheus counters give no sum of squares)",
                metric.name
            )));
        }
        let queries = ctx.queries_for(metric)?;
        let q = |t: &str, v: &str| format!("scalar({})", sub(t, &ctx.model, v));
        // `or vector(0)` keeps a missing series (no errors yet) from emptying the result.
        let q0 = |t: &str, v: &str| format!("scalar(({}) or vector(0))", sub(t, &ctx.model, v));
        let nc = q(&queries.total, &ctx.canary_version);
        let nb = q(&queries.total, &ctx.stable_version);
        let xc = q0(&queries.successes, &ctx.canary_version);
        let xb = q0(&queries.successes, &ctx.stable_version);
        let sign = if metric.higher_is_better { "" } else { "-" };
        let d = format!("({sign}(({xc} / {nc}) - ({xb} / {nb})))");
        Ok(Self { nc, nb, xc, xb, d })
    }

    /// 1 once both arms have `min` samples, else 0.
    fn warm(&self, min: u64) -> String {
        format!(
            "(vector({}) >= bool {min}) * (vector({}) >= bool {min})",
            self.nc, self.nb
        )
    }

    /// 1 when the harm test (variance pooled under the null) crosses `1/α`.
    fn harm(&self, alpha: f64, tau: f64, min: u64) -> String {
        let (nc, nb, xc, xb, d) = (&self.nc, &self.nb, &self.xc, &self.xb, &self.d);
        let pbar = format!("(({xc} + {xb}) / ({nc} + {nb}))");
        let s2p = format!("({pbar} * (1 - {pbar}) * (1 / {nc} + 1 / {nb}))");
        format!(
            "(({} >= bool {}) * (vector({d}) < bool 0) * {})",
            ln_mix(d, &s2p, tau),
            (1.0 / alpha).ln(),
            self.warm(min)
        )
    }
}

/// `ln Λ` of the symmetric normal mixture (scale `tau`) for estimate `est` with
/// variance `s2`.
fn ln_mix(est: &str, s2: &str, tau: f64) -> String {
    let t2 = tau * tau;
    format!(
        "(0.5 * ln(vector({s2} / ({s2} + {t2}))) + vector({t2} * {est} * {est} / (2 * {s2} * ({s2} + {t2}))))"
    )
}

/// PromQL of the judge's decision code (−1, 0, 1) over the arms' counters: −1 when the
/// primary metric's harm test or any guardrail's crosses, else 1 when the promotion
/// test crosses, else 0. Each metric's counters come from [`ArgoContext::queries_for`].
pub fn judge_promql(cfg: &JudgeConfig, ctx: &ArgoContext) -> Result<String> {
    let primary = Terms::new(&cfg.metric, ctx)?;
    let (nc, nb, xc, xb) = (&primary.nc, &primary.nb, &primary.xc, &primary.xb);
    let pc = format!("({xc} / {nc})");
    let pb = format!("({xb} / {nb})");
    let s2u = format!("({pc} * (1 - {pc}) / {nc} + {pb} * (1 - {pb}) / {nb})");
    let y = format!("({} + {})", primary.d, cfg.margin);
    let promote = format!(
        "(({} >= bool {}) * (vector({y}) > bool 0) * {})",
        ln_mix(&y, &s2u, cfg.tau),
        (1.0 / cfg.alpha).ln(),
        primary.warm(cfg.min_samples)
    );
    let mut harms = vec![primary.harm(cfg.alpha, cfg.tau, cfg.min_samples)];
    for g in &cfg.guardrails {
        harms.push(Terms::new(&g.metric, ctx)?.harm(g.alpha, g.tau, g.min_samples));
    }
    let harm = if harms.len() == 1 {
        harms.remove(0)
    } else {
        format!("(({}) >= bool 1)", harms.join(" + "))
    };
    Ok(format!("{promote} * (1 - {harm}) - {harm}"))
}

/// `preview`: the base URL golden requests go to (a blue-green preview Service).
fn metric_value(m: &AnalysisMetric, ctx: &ArgoContext, preview: Option<&str>) -> Result<Value> {
    let mut out = serde_json::Map::new();
    out.insert("name".into(), json!(m.name));
    if let Some(i) = m.interval {
        out.insert("interval".into(), json!(i.to_string()));
    }
    if let Some(c) = m.count {
        out.insert("count".into(), json!(c));
    }
    if let Some(d) = m.initial_delay {
        out.insert("initialDelay".into(), json!(d.to_string()));
    }
    let (mut success, mut failure) = (m.success_condition.clone(), m.failure_condition.clone());
    let mut failure_limit = m.failure_limit;
    let mut consecutive_success = m.consecutive_success_limit;
    let mut inconclusive_limit = m.inconclusive_limit;
    let provider = match &m.provider {
        Provider::Prometheus { address, query } => json!({"prometheus": {
            "address": address.clone().unwrap_or_else(|| ctx.prometheus.clone()),
            "query": query,
        }}),
        Provider::Judge(cfg) => {
            let (s, f) = Provider::judge_conditions();
            success = Some(s.into());
            failure = Some(f.into());
            failure_limit = 0;
            consecutive_success = 1;
            // "No decision yet" measurements are inconclusive; they must not end the
            // metric before `count` (the horizon), where Argo makes it Inconclusive.
            inconclusive_limit = m.count.unwrap_or(u32::MAX / 2);
            json!({"prometheus": {"address": ctx.prometheus, "query": judge_promql(cfg, ctx)?}})
        }
        Provider::Command { argv } => json!({"job": {"spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "check", "image": ctx.check_image, "command": argv}],
            }},
        }}}),
        Provider::Golden { requests } => {
            // The same check the local controller runs (`mlops golden`), as a job
            // against the preview Service; the job applies the conditions itself and
            // exits 0 (pass) or 1 (fail), which is all a job metric reports.
            let Some(url) = preview else {
                return Err(unsupported(
                    "a golden-request metric outside a blue-green analysis (golden requests go to the preview Service)",
                ));
            };
            let body = serde_json::to_string(requests).map_err(|e| Error::InvalidConfig {
                field: format!("metric {}", m.name),
                reason: e.to_string(),
            })?;
            let mut command = vec![
                "mlops".to_string(),
                "golden".into(),
                "--url".into(),
                url.to_string(),
                "--requests".into(),
                body,
            ];
            if let Some(s) = success.take() {
                command.extend(["--success".to_string(), s]);
            }
            if let Some(f) = failure.take() {
                command.extend(["--failure".to_string(), f]);
            }
            json!({"job": {"spec": {
                "backoffLimit": 0,
                "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "golden", "image": ctx.check_image, "command": command}],
                }},
            }}})
        }
    };
    if let Some(s) = success {
        out.insert("successCondition".into(), json!(s));
    }
    if let Some(f) = failure {
        out.insert("failureCondition".into(), json!(f));
    }
    out.insert("failureLimit".into(), json!(failure_limit));
    out.insert("inconclusiveLimit".into(), json!(inconclusive_limit));
    out.insert(
        "consecutiveErrorLimit".into(),
        json!(m.consecutive_error_limit),
    );
    if consecutive_success > 0 {
        out.insert("consecutiveSuccessLimit".into(), json!(consecutive_success));
    }
    out.insert("provider".into(), provider);
    Ok(Value::Object(out))
}

/// The `AnalysisTemplate` of an analysis (golden-request metrics refused: they need a
/// preview, see [`export`]).
pub fn analysis_template(
    analysis: &Analysis,
    template_name: &str,
    ctx: &ArgoContext,
) -> Result<Value> {
    template_with_preview(analysis, template_name, ctx, None)
}

fn template_with_preview(
    analysis: &Analysis,
    template_name: &str,
    ctx: &ArgoContext,
    preview: Option<&str>,
) -> Result<Value> {
    let metrics = analysis
        .metrics
        .iter()
        .map(|m| metric_value(m, ctx, preview))
        .collect::<Result<Vec<_>>>()?;
    let mut spec = json!({"metrics": metrics});
    if !analysis.dry_run.is_empty() {
        spec["dryRun"] = json!(
            analysis
                .dry_run
                .iter()
                .map(|n| json!({"metricName": n}))
                .collect::<Vec<_>>()
        );
    }
    Ok(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": template_name, "labels": {"app.kubernetes.io/managed-by": "mlops"}},
        "spec": spec,
    }))
}

fn template_ref(name: &str) -> Value {
    json!({"templates": [{"templateName": name}]})
}

fn judge_analysis(
    cfg: &JudgeConfig,
    max: Option<super::Duration>,
    look: super::Duration,
) -> Analysis {
    let count = max.map(|m| (m.seconds() / look.seconds().max(1)).max(1) as u32);
    Analysis {
        name: "judge".into(),
        metrics: vec![AnalysisMetric {
            name: "judge".into(),
            interval: Some(look),
            count,
            initial_delay: None,
            success_condition: None,
            failure_condition: None,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            consecutive_success_limit: 1,
            no_data: super::analysis::NoData::Inconclusive,
            provider: Provider::Judge(cfg.clone()),
        }],
        dry_run: Vec::new(),
    }
}

/// Exports a strategy; `look` is the interval between the judge's looks in Argo.
pub fn export(strategy: &Strategy, ctx: &ArgoContext, look: super::Duration) -> Result<ArgoExport> {
    strategy.validate()?;
    let mut templates = Vec::new();
    // Golden requests of a blue-green analysis go to its preview Service (as the GitOps
    // deployer names it, port 80, same namespace).
    let preview = match strategy {
        Strategy::BlueGreen(_) => Some(format!("http://{}-preview", ctx.name)),
        _ => None,
    };
    let mut add = |a: &Analysis, suffix: &str| -> Result<Value> {
        let name = format!("{}-{}", ctx.name, suffix);
        templates.push(template_with_preview(a, &name, ctx, preview.as_deref())?);
        Ok(template_ref(&name))
    };
    let strategy = match strategy {
        Strategy::Canary(Canary {
            steps,
            judge,
            background_analysis,
        }) => {
            let mut out = Vec::new();
            for (i, step) in steps.iter().enumerate() {
                out.push(match step {
                    Step::SetWeight(w) => json!({"setWeight": w}),
                    Step::Pause { duration: Some(d) } => json!({"pause": {"duration": d.to_string()}}),
                    Step::Pause { duration: None } => json!({"pause": {}}),
                    Step::Judge { max_duration } => {
                        json!({"analysis": add(&judge_analysis(judge, *max_duration, look), &format!("judge-{i}"))?})
                    }
                    Step::Analysis(a) => json!({"analysis": add(a, &format!("{}-{i}", a.name))?}),
                });
            }
            let mut canary = json!({"steps": out});
            if let Some(a) = background_analysis {
                canary["analysis"] = add(a, &a.name)?;
            }
            json!({"canary": canary})
        }
        Strategy::BlueGreen(BlueGreen {
            pre_promotion_analysis,
            auto_promotion_enabled,
            auto_promotion_seconds,
            post_promotion_analysis,
            scale_down_delay_seconds,
        }) => {
            let mut bg = json!({
                "activeService": format!("{}-active", ctx.name),
                "previewService": format!("{}-preview", ctx.name),
                "autoPromotionEnabled": auto_promotion_enabled,
                "scaleDownDelaySeconds": scale_down_delay_seconds,
            });
            if let Some(s) = auto_promotion_seconds {
                bg["autoPromotionSeconds"] = json!(s);
            }
            if let Some(a) = pre_promotion_analysis {
                bg["prePromotionAnalysis"] = add(a, &format!("{}-pre", a.name))?;
            }
            if let Some(a) = post_promotion_analysis {
                bg["postPromotionAnalysis"] = add(a, &format!("{}-post", a.name))?;
            }
            json!({"blueGreen": bg})
        }
        Strategy::Shadow(Shadow {
            percent,
            duration,
            analysis,
            promote_on_success,
        }) => {
            // Mirroring needs Argo's traffic routing (managedRoutes); the route is
            // removed again before the decision.
            let mut steps = vec![
                json!({"setMirrorRoute": {"name": "mlops-shadow", "percentage": percent,
                        "match": [{"method": {"prefix": "POST"}}]}}),
                json!({"pause": {"duration": duration.to_string()}}),
            ];
            if let Some(a) = analysis {
                steps.push(json!({"analysis": add(a, &format!("{}-shadow", a.name))?}));
            }
            steps.push(json!({"setMirrorRoute": {"name": "mlops-shadow"}}));
            if !promote_on_success {
                steps.push(json!({"pause": {}}));
            }
            json!({"canary": {"steps": steps}})
        }
    };
    Ok(ArgoExport {
        strategy,
        templates,
    })
}
