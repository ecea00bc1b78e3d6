//! Strategies as data (TOML/JSON), Argo Rollouts' analysis semantics, and the export as
//! Argo Rollouts steps and AnalysisTemplates (field names from Argo's specification).

use mlops_deploy::strategy::analysis::{
    AnalysisMetric, Condition, GoldenRequest, Measured, MetricState, NoData, Phase, Provider,
    assess, assess_run, classify,
};
use mlops_deploy::strategy::argo::{ArgoContext, ArmQueries, export, judge_promql};
use mlops_deploy::strategy::{Duration, Step};
use mlops_deploy::{Analysis, JudgeConfig, MetricSpec, NoDecisionAction, Strategy};
use serde_json::json;
use std::collections::BTreeMap;

use crate::common::conversion_queries;

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn ctx() -> ArgoContext {
    ArgoContext {
        name: "fraud".into(),
        model: "fraud".into(),
        stable_version: "6".into(),
        canary_version: "7".into(),
        prometheus: "http://prometheus.monitoring:9090".into(),
        queries: conversion_queries(),
        check_image: "registry.invalid/mlops:1".into(),
    }
}

#[test]
fn canary_strategy_reads_from_toml_and_round_trips_through_json() {
    let s = Strategy::from_text(&read("strategy-canary.toml"), true).unwrap();
    let Strategy::Canary(c) = &s else {
        panic!("{s:?}")
    };
    assert_eq!(c.steps[0], Step::SetWeight(5));
    assert_eq!(
        c.steps[1],
        Step::Pause {
            duration: Some(Duration(600))
        }
    );
    assert_eq!(
        c.steps[3],
        Step::Judge {
            max_duration: Some(Duration(6 * 3600))
        }
    );
    assert_eq!(
        c.steps[5],
        Step::Pause {
            duration: Some(Duration(600))
        }
    );
    assert_eq!(c.judge.no_decision, NoDecisionAction::Manual);
    assert_eq!(c.judge.guardrails.len(), 2);
    assert!(!c.judge.guardrails[0].metric.higher_is_better);
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(Strategy::from_text(&json, false).unwrap(), s);
    // Durations are written back in Argo's notation.
    assert!(json.contains(r#"{"pause":{"duration":"10m"}}"#), "{json}");
}

#[test]
fn staging_strategy_is_one_blue_green_with_golden_requests_and_a_command() {
    let s = Strategy::from_text(&read("strategy-staging.toml"), true).unwrap();
    let Strategy::BlueGreen(b) = &s else {
        panic!("{s:?}")
    };
    let a = b.pre_promotion_analysis.as_ref().unwrap();
    assert!(matches!(&a.metrics[0].provider, Provider::Golden { requests } if requests.len() == 2));
    assert!(matches!(&a.metrics[1].provider, Provider::Command { argv } if argv[0] == "pytest"));
    assert_eq!(a.metrics[0].no_data, NoData::Fail);
    assert!(b.auto_promotion_enabled);
}

#[test]
fn bad_strategies_are_refused_with_the_field_named() {
    let cases = [
        (
            r#"{"canary": {"steps": [{"set_weight": 120}]}}"#,
            "canary.steps[0].set_weight",
        ),
        (
            r#"{"canary": {"steps": [{"judge": {}}]}}"#,
            "set a weight first",
        ),
        (r#"{"canary": {"steps": []}}"#, "at least one step"),
        (
            r#"{"canary": {"steps": [{"pause": {"duration": "10 minutes"}}]}}"#,
            "10 minutes",
        ),
        (
            r#"{"canary": {"steps": [{"set_weight": 5}], "surprise": 1}}"#,
            "surprise",
        ),
        (
            r#"{"canary": {"steps": [{"analysis": {"name": "a", "metrics": [{"name": "m",
               "success_condition": "len(result) > 0", "provider": {"prometheus": {"query": "up"}}}]}}]}}"#,
            "canary.steps[0].analysis.metrics[m].success_condition",
        ),
        (
            r#"{"canary": {"steps": [{"analysis": {"name": "a", "metrics": [{"name": "m", "count": 3,
               "provider": {"prometheus": {"query": "up"}}}]}}]}}"#,
            "count > 1 needs an interval",
        ),
        (
            r#"{"canary": {"steps": [{"analysis": {"name": "a", "metrics": [{"name": "m", "failure_limit": -1,
               "provider": {"prometheus": {"query": "up"}}}]}}]}}"#,
            "only allowed with consecutive_success_limit",
        ),
        (
            r#"{"shadow": {"percent": 0, "duration": "1h"}}"#,
            "shadow.percent",
        ),
    ];
    for (text, want) in cases {
        let e = Strategy::from_text(text, false).expect_err(text);
        assert!(e.to_string().contains(want), "{text}: {e}");
    }
}

fn metric(success: Option<&str>, failure: Option<&str>) -> AnalysisMetric {
    AnalysisMetric {
        name: "m".into(),
        interval: Some(Duration(60)),
        count: Some(5),
        initial_delay: None,
        success_condition: success.map(String::from),
        failure_condition: failure.map(String::from),
        failure_limit: 0,
        inconclusive_limit: 0,
        consecutive_error_limit: 4,
        consecutive_success_limit: 0,
        no_data: NoData::Inconclusive,
        provider: Provider::Prometheus {
            address: None,
            query: "up".into(),
        },
    }
}

#[test]
fn measurements_are_classified_as_argo_does() {
    let v = Measured::Value;
    // Neither condition: successful unless errored.
    let m = metric(None, None);
    assert_eq!(classify(&m, &v(3.0)), Some(Phase::Successful));
    assert_eq!(
        classify(&m, &Measured::Error("timeout".into())),
        Some(Phase::Error)
    );
    // Only success: not a success is a failure.
    let m = metric(Some("result[0] >= 0.95"), None);
    assert_eq!(classify(&m, &v(0.96)), Some(Phase::Successful));
    assert_eq!(classify(&m, &v(0.9)), Some(Phase::Failed));
    // Only failure: not a failure is a success.
    let m = metric(None, Some("result[0] > 0.05"));
    assert_eq!(classify(&m, &v(0.01)), Some(Phase::Successful));
    assert_eq!(classify(&m, &v(0.06)), Some(Phase::Failed));
    // Both: failure wins; neither matching is inconclusive.
    let m = metric(Some("result > 0.5"), Some("result > 0.9 || result < 0"));
    assert_eq!(classify(&m, &v(0.95)), Some(Phase::Failed));
    assert_eq!(classify(&m, &v(0.7)), Some(Phase::Successful));
    assert_eq!(classify(&m, &v(0.2)), Some(Phase::Inconclusive));
    assert_eq!(classify(&m, &v(-1.0)), Some(Phase::Failed));
    // The no-data policy, explicitly.
    for (policy, want) in [
        (NoData::Pass, Some(Phase::Successful)),
        (NoData::Fail, Some(Phase::Failed)),
        (NoData::Inconclusive, Some(Phase::Inconclusive)),
        (NoData::Ignore, None),
    ] {
        let m = AnalysisMetric {
            no_data: policy,
            ..metric(Some("result > 0"), None)
        };
        assert_eq!(classify(&m, &Measured::NoData), want, "{policy:?}");
    }
    // && binds tighter than ||.
    let c = Condition::parse("result > 1 && result < 2 || result == 5").unwrap();
    assert!(c.holds(1.5) && c.holds(5.0) && !c.holds(3.0));
}

fn run(m: &AnalysisMetric, phases: &[Option<Phase>]) -> (MetricState, Phase) {
    let mut st = MetricState::default();
    for p in phases {
        st.record(*p);
    }
    let phase = assess(m, &st, false);
    (st, phase)
}

#[test]
fn metrics_are_assessed_with_argo_limits() {
    use Phase::*;
    let s = Some(Successful);
    let f = Some(Failed);
    let i = Some(Inconclusive);
    let e = Some(Error);
    // failureLimit 0: one failure fails the metric.
    let m = metric(Some("result > 0"), None);
    assert_eq!(run(&m, &[s, f]).1, Failed);
    // failureLimit 2: failed > limit.
    let m2 = AnalysisMetric {
        failure_limit: 2,
        ..m.clone()
    };
    assert_eq!(run(&m2, &[f, f]).1, Running);
    assert_eq!(run(&m2, &[f, f, f]).1, Failed);
    // inconclusiveLimit 0: one inconclusive measurement makes it inconclusive.
    assert_eq!(run(&m, &[i]).1, Inconclusive);
    // consecutiveErrorLimit 4: the fifth consecutive error; a success resets the run.
    // (no count: errors are measurements, so a count of 5 would end the metric first)
    let open = AnalysisMetric {
        count: None,
        ..m.clone()
    };
    assert_eq!(run(&open, &[e, e, e, e]).1, Running);
    assert_eq!(run(&open, &[e, e, e, e, e]).1, Error);
    assert_eq!(run(&open, &[e, e, e, s, e, e, e]).1, Running);
    assert_eq!(run(&m, &[e, e, e, s, e]).1, Successful);
    // Count reached with only the failure limit: successful.
    assert_eq!(run(&m, &[s, s, s, s, s]).1, Successful);
    // consecutiveSuccessLimit: success once reached; at count with both limits,
    // inconclusive; with failureLimit -1 (only success limit), failed.
    let cs = AnalysisMetric {
        consecutive_success_limit: 2,
        failure_limit: 3,
        ..m.clone()
    };
    assert_eq!(run(&cs, &[f, s, s]).1, Successful);
    assert_eq!(run(&cs, &[s, f, s, f, s]).1, Inconclusive);
    let only = AnalysisMetric {
        consecutive_success_limit: 3,
        failure_limit: -1,
        ..m.clone()
    };
    assert_eq!(run(&only, &[f, f, f, f, f]).1, Failed);
    // Ignored windows do not count towards count.
    let (st, ph) = run(&m, &[None, None, s]);
    assert_eq!((st.measured, ph), (1, Running));
    // No interval, no count: one measurement.
    let once = AnalysisMetric {
        interval: None,
        count: None,
        ..m.clone()
    };
    assert_eq!(run(&once, &[s]).1, Successful);
    // Terminated early: successful unless the failure limit was violated.
    let st = MetricState {
        measured: 1,
        successful: 1,
        consecutive_success: 1,
        ..MetricState::default()
    };
    assert_eq!(assess(&m, &st, true), Successful);
    // Run phase: the worst completed phase; dry-run metrics left out.
    let a = Analysis {
        name: "a".into(),
        metrics: vec![
            AnalysisMetric {
                name: "x".into(),
                ..m.clone()
            },
            AnalysisMetric {
                name: "y".into(),
                ..m
            },
        ],
        dry_run: vec!["y".into()],
    };
    assert_eq!(assess_run(&a, &[Successful, Failed]), Successful);
    assert_eq!(assess_run(&a, &[Running, Failed]), Running);
    let a2 = Analysis {
        dry_run: vec![],
        ..a
    };
    assert_eq!(assess_run(&a2, &[Successful, Inconclusive]), Inconclusive);
    assert_eq!(assess_run(&a2, &[Running, Successful]), Running);
    assert!(
        Successful < Running
            && Running < Pending
            && Pending < Inconclusive
            && Inconclusive < Error
            && Error < Failed
    );
}

#[test]
fn canary_exports_as_argo_steps_and_templates() {
    let s = Strategy::from_text(&read("strategy-canary.toml"), true).unwrap();
    let out = export(&s, &ctx(), Duration(60)).unwrap();
    let steps = &out.strategy["canary"]["steps"];
    assert_eq!(steps[0], json!({"setWeight": 5}));
    assert_eq!(steps[1], json!({"pause": {"duration": "10m"}}));
    assert_eq!(steps[2], json!({"setWeight": 10}));
    assert_eq!(
        steps[3],
        json!({"analysis": {"templates": [{"templateName": "fraud-judge-3"}]}})
    );
    assert_eq!(
        out.strategy["canary"]["analysis"],
        json!({"templates": [{"templateName": "fraud-errors"}]})
    );
    assert_eq!(out.templates.len(), 2);
    let judge = out
        .templates
        .iter()
        .find(|t| t["metadata"]["name"] == "fraud-judge-3")
        .unwrap();
    assert_eq!(judge["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(judge["kind"], "AnalysisTemplate");
    let m = &judge["spec"]["metrics"][0];
    // Argo's field names; count = max_duration / look interval (6 h of 1-minute looks).
    assert_eq!(m["interval"], "1m");
    assert_eq!(m["count"], 360);
    assert_eq!(m["successCondition"], "result[0] > 0");
    assert_eq!(m["failureCondition"], "result[0] < 0");
    assert_eq!(m["failureLimit"], 0);
    assert_eq!(m["consecutiveSuccessLimit"], 1);
    assert_eq!(m["inconclusiveLimit"], 360);
    assert_eq!(m["consecutiveErrorLimit"], 4);
    assert_eq!(
        m["provider"]["prometheus"]["address"],
        "http://prometheus.monitoring:9090"
    );
    let q = m["provider"]["prometheus"]["query"].as_str().unwrap();
    assert!(
        q.contains(r#"model_requests_total{model="fraud",version="7"}"#),
        "{q}"
    );
    // The judged metric from the application's counters; the guardrails from the
    // `serve` helper's families (5xx answers; the 250 ms histogram bucket).
    assert!(
        q.contains(r#"shop_orders_total{model="fraud",version="7"}"#),
        "{q}"
    );
    assert!(
        q.contains(r#"model_requests_total{model="fraud",version="6",code=~"5.."}"#),
        "{q}"
    );
    assert!(
        q.contains(r#"model_request_duration_seconds_bucket{model="fraud",version="7",le="0.25"}"#),
        "{q}"
    );
    // Each guardrail's harm test at its own alpha: ln(1/0.05) and ln(1/0.01).
    assert!(q.contains(&format!("bool {}", (1.0f64 / 0.01).ln())), "{q}");
    // A judged metric without queries is refused, never measured on other counts.
    let bare = ArgoContext {
        queries: BTreeMap::new(),
        ..ctx()
    };
    let e = export(&s, &bare, Duration(60)).unwrap_err().to_string();
    assert!(
        e.contains("metric conversion") && e.contains("own queries"),
        "{e}"
    );
    let bg = out
        .templates
        .iter()
        .find(|t| t["metadata"]["name"] == "fraud-errors")
        .unwrap();
    let m = &bg["spec"]["metrics"][0];
    assert_eq!(m["failureCondition"], "result[0] > 0.05");
    assert_eq!(m["failureLimit"], 2);
    // Argo has no ignore-no-data policy field; the Prometheus query is kept as written.
    assert!(
        m["provider"]["prometheus"]["query"]
            .as_str()
            .unwrap()
            .starts_with("sum(rate(")
    );
}

#[test]
fn blue_green_and_shadow_export() {
    // Golden requests run as a job of `mlops golden` against the preview Service
    // (Argo's job metric: `provider.job.spec` is a batch/v1 JobSpec; success is the
    // job's, so the conditions travel as arguments, not as successCondition).
    let staging = Strategy::from_text(&read("strategy-staging.toml"), true).unwrap();
    let out = export(&staging, &ctx(), Duration(60)).unwrap();
    assert_eq!(
        out.strategy["blueGreen"]["prePromotionAnalysis"],
        json!({"templates": [{"templateName": "fraud-integration-pre"}]})
    );
    let golden = &out.templates[0]["spec"]["metrics"][0];
    assert_eq!(golden["name"], "golden");
    assert_eq!(golden.get("successCondition"), None, "{golden}");
    assert_eq!(golden.get("failureCondition"), None, "{golden}");
    assert_eq!(golden["failureLimit"], 0);
    let job = &golden["provider"]["job"]["spec"];
    assert_eq!(job["backoffLimit"], 0);
    assert_eq!(job["template"]["spec"]["restartPolicy"], "Never");
    let container = &job["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], ctx().check_image.as_str());
    let command: Vec<String> = serde_json::from_value(container["command"].clone()).unwrap();
    assert_eq!(
        command[..4],
        ["mlops", "golden", "--url", "http://fraud-preview"]
    );
    assert_eq!(command[4], "--requests");
    let Strategy::BlueGreen(b) = &staging else {
        unreachable!()
    };
    let Provider::Golden { requests } =
        &b.pre_promotion_analysis.as_ref().unwrap().metrics[0].provider
    else {
        unreachable!()
    };
    assert_eq!(
        serde_json::from_str::<Vec<GoldenRequest>>(&command[5]).unwrap(),
        *requests
    );
    assert_eq!(command[6..], ["--success", "result[0] == 1"]);
    // Outside blue-green there is no preview to send them to.
    let canary = Strategy::Canary(mlops_deploy::strategy::Canary {
        steps: vec![
            Step::SetWeight(10),
            Step::Analysis(b.pre_promotion_analysis.clone().unwrap()),
        ],
        judge: JudgeConfig::default(),
        background_analysis: None,
    });
    let e = export(&canary, &ctx(), Duration(60)).expect_err("golden outside blue-green");
    assert!(e.to_string().contains("preview"), "{e}");
    let Strategy::BlueGreen(mut b) = staging else {
        unreachable!()
    };
    let pre = b.pre_promotion_analysis.as_mut().unwrap();
    pre.metrics.remove(0);
    b.auto_promotion_enabled = false;
    b.auto_promotion_seconds = Some(600);
    let out = export(&Strategy::BlueGreen(b), &ctx(), Duration(60)).unwrap();
    let bg = &out.strategy["blueGreen"];
    assert_eq!(bg["activeService"], "fraud-active");
    assert_eq!(bg["previewService"], "fraud-preview");
    assert_eq!(bg["autoPromotionEnabled"], false);
    assert_eq!(bg["autoPromotionSeconds"], 600);
    assert_eq!(bg["scaleDownDelaySeconds"], 60);
    assert_eq!(
        bg["prePromotionAnalysis"],
        json!({"templates": [{"templateName": "fraud-integration-pre"}]})
    );
    let job = &out.templates[0]["spec"]["metrics"][0]["provider"]["job"]["spec"];
    assert_eq!(job["backoffLimit"], 0);
    assert_eq!(
        job["template"]["spec"]["containers"][0]["command"],
        json!(["pytest", "-q", "tests/integration"])
    );

    let shadow =
        Strategy::from_text(r#"{"shadow": {"percent": 50, "duration": "30m"}}"#, false).unwrap();
    let out = export(&shadow, &ctx(), Duration(60)).unwrap();
    let steps = &out.strategy["canary"]["steps"];
    assert_eq!(steps[0]["setMirrorRoute"]["percentage"], 50);
    assert_eq!(steps[1], json!({"pause": {"duration": "30m"}}));
    assert_eq!(
        steps[2],
        json!({"setMirrorRoute": {"name": "mlops-shadow"}})
    );
}

#[test]
fn judge_promql_refuses_means() {
    let cfg = JudgeConfig {
        metric: MetricSpec::mean("latency"),
        ..JudgeConfig::default()
    };
    assert!(judge_promql(&cfg, &ctx()).is_err());
}

#[test]
fn the_serve_helpers_metrics_have_queries_of_their_own_direction() {
    let err = |m: MetricSpec| ArmQueries::for_metric(&m).unwrap_err().to_string();
    assert_eq!(
        ArmQueries::for_metric(&MetricSpec::proportion("error_rate").lower_is_better()).unwrap(),
        ArmQueries::default()
    );
    let slow =
        ArmQueries::for_metric(&MetricSpec::proportion("latency_over_100ms").lower_is_better())
            .unwrap();
    assert!(slow.successes.contains(r#"le="0.1""#), "{slow:?}");
    // Not a histogram bound; not a metric of the serve helper; the wrong direction.
    assert!(
        err(MetricSpec::proportion("latency_over_30ms").lower_is_better()).contains("own queries")
    );
    assert!(err(MetricSpec::proportion("click")).contains("metric click"));
    assert!(err(MetricSpec::proportion("error_rate")).contains("higher_is_better = false"));
}
