//! Rollouts on the local server, over real HTTP on 127.0.0.1: the `LocalDeployer`
//! loading registry versions (a `LocalRegistry` in MLflow's layout, packages verified)
//! into a running server while simulated users keep calling it, outcomes reported by
//! the users through `POST /outcomes`, and the controller judging canary against
//! control from those reports and the server's own counters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mlops_core::registry::LocalRegistry;
use mlops_core::{AliasChange, AuditLog, ModelUri, Registry};
use mlops_deploy::controller::{
    Controller, LocalSource, RolloutGauges, RolloutPhase, RolloutSpec, RolloutState,
};
use mlops_deploy::strategy::{Canary, Step};
use mlops_deploy::{
    DeployPhase, Deployer, Guardrail, JudgeConfig, LocalDeployer, MetricSpec, OutcomeReport,
    ServedModel, ServerConfig, Strategy, VersionSpec,
};
use mlops_train::{Algorithm, FlavorRegistry, LinfaModel};
use rand::{Rng, SeedableRng};

use crate::common::*;

fn spec(v: u64) -> VersionSpec {
    VersionSpec {
        model: "wine".into(),
        version: v.to_string(),
        storage_uri: format!("models:/wine/{v}"),
    }
}

/// A registry with `wine` versions 1 (logistic), 2 (forest), 3 (small forest),
/// `champion` on 1, and the three models.
fn registry(root: &std::path::Path) -> (LocalRegistry, Vec<LinfaModel>) {
    let reg = LocalRegistry::open(root).unwrap();
    let models = vec![
        wine_model(Algorithm::logistic()),
        wine_model(Algorithm::forest(7, Some(4))),
        wine_model(Algorithm::forest(3, Some(2))),
    ];
    for m in &models {
        register(&reg, "wine", m);
    }
    reg.set_alias("wine", "champion", 1, &AliasChange::new("first"))
        .unwrap();
    (reg, models)
}

fn load(reg: &dyn Registry, v: u64) -> ServedModel {
    let uri: ModelUri = format!("models:/wine/{v}").parse().unwrap();
    ServedModel::from_registry(reg, &uri, &FlavorRegistry::new()).unwrap()
}

/// What the simulated users saw.
#[derive(Default)]
struct Seen {
    sent: AtomicU64,
    by_version: Mutex<BTreeMap<String, u64>>,
    failures: Mutex<Vec<String>>,
}

/// `threads` users calling the server until `stop`; each answer is checked against the
/// labels its version's model gives (no mixed answers), and when `click` is given each
/// user reports a click (true with the probability for the answering variant) by the
/// answer's request id.
fn users(
    url: &str,
    threads: usize,
    stop: &AtomicBool,
    seen: &Seen,
    want: &BTreeMap<String, Vec<i64>>,
    click: Option<&(dyn Fn(&str) -> f64 + Sync)>,
) {
    let (from, to) = (0, 20);
    let body = split_body(from, to);
    std::thread::scope(|s| {
        for t in 0..threads {
            let body = body.clone();
            s.spawn(move || {
                let c = client();
                let mut rng = rand::rngs::StdRng::seed_from_u64(t as u64 + 1);
                // Bounded: stops with `stop`, or after 200,000 requests.
                for _ in 0..200_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    seen.sent.fetch_add(1, Ordering::Relaxed);
                    let r = match c
                        .post(format!("{url}/invocations"))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                    {
                        Ok(r) => r,
                        Err(e) => {
                            seen.failures
                                .lock()
                                .unwrap()
                                .push(format!("transport: {e}"));
                            continue;
                        }
                    };
                    let status = r.status().as_u16();
                    let h = r.headers().clone();
                    let v: serde_json::Value = r.json().unwrap_or_default();
                    if status != 200 {
                        seen.failures
                            .lock()
                            .unwrap()
                            .push(format!("status {status}: {v}"));
                        continue;
                    }
                    let version = h["x-model-version"].to_str().unwrap().to_string();
                    if labels_of(&v) != want[&version] {
                        seen.failures
                            .lock()
                            .unwrap()
                            .push(format!("version {version}: not its model's answer"));
                    }
                    *seen.by_version.lock().unwrap().entry(version).or_default() += 1;
                    if let Some(p) = click {
                        let variant = h["x-variant"].to_str().unwrap();
                        let clicked = rng.r#gen::<f64>() < p(variant);
                        let report = serde_json::json!({
                            "request_id": h["x-request-id"].to_str().unwrap(),
                            "metric": "click",
                            "value": clicked,
                        });
                        let r = c
                            .post(format!("{url}/outcomes"))
                            .header("content-type", "application/json")
                            .body(report.to_string())
                            .send()
                            .unwrap();
                        if r.status() != 200 {
                            seen.failures
                                .lock()
                                .unwrap()
                                .push(format!("outcome: {}", r.text().unwrap()));
                        }
                    }
                }
            });
        }
    });
}

fn wanted(models: &[LinfaModel]) -> BTreeMap<String, Vec<i64>> {
    models
        .iter()
        .enumerate()
        .map(|(i, m)| ((i + 1).to_string(), expected_labels(m, 0, 20)))
        .collect()
}

fn wait_for(seen: &Seen, more: u64) {
    let start = seen.sent.load(Ordering::Relaxed);
    let t = std::time::Instant::now();
    while seen.sent.load(Ordering::Relaxed) < start + more {
        assert!(t.elapsed() < Duration::from_secs(60), "the users stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_local_deployer_steps_promotes_and_rolls_back_under_traffic_failing_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let (reg, models) = registry(&dir.path().join("registry"));
    let want = wanted(&models);
    assert_ne!(want["1"], want["2"], "the models must differ to see a mix");
    let server = start(
        ServerConfig {
            workers: Some(2),
            ..ServerConfig::default()
        },
        load(&reg, 1),
    );
    let stop = AtomicBool::new(false);
    let seen = Seen::default();
    let url = server.url();
    std::thread::scope(|s| {
        s.spawn(|| users(&url, 3, &stop, &seen, &want, None));
        let mut d = LocalDeployer::new(&server, &reg);
        d.deploy_stable(&spec(1)).unwrap(); // already serving: no reload
        assert_eq!(d.status().unwrap().phase, DeployPhase::Stable);
        d.deploy_canary(&spec(2)).unwrap();
        d.deploy_canary(&spec(2)).unwrap(); // idempotent
        let st = d.status().unwrap();
        assert_eq!(
            (st.canary.clone(), st.canary_weight, st.phase),
            (Some(spec(2)), 0, DeployPhase::Progressing)
        );
        for w in [10u8, 50, 90] {
            d.set_canary_weight(w).unwrap();
            assert_eq!(d.status().unwrap().canary_weight, w);
            wait_for(&seen, 150);
        }
        d.promote().unwrap();
        d.promote().unwrap(); // idempotent
        let st = d.status().unwrap();
        assert_eq!(
            (st.stable, st.canary, st.canary_weight, st.phase),
            (Some(spec(2)), None, 100, DeployPhase::Promoted)
        );
        wait_for(&seen, 150);
        // A second canary, rolled back.
        d.deploy_canary(&spec(3)).unwrap();
        d.set_canary_weight(50).unwrap();
        wait_for(&seen, 150);
        d.rollback().unwrap();
        d.rollback().unwrap(); // idempotent
        let st = d.status().unwrap();
        assert_eq!(
            (st.stable, st.canary, st.canary_weight, st.phase),
            (Some(spec(2)), None, 0, DeployPhase::RolledBack)
        );
        // Requests that took the old routing before the rollback may still land.
        std::thread::sleep(Duration::from_millis(300));
        let before = seen.by_version.lock().unwrap().clone();
        wait_for(&seen, 150);
        let after = seen.by_version.lock().unwrap().clone();
        assert_eq!(
            before.get("3"),
            after.get("3"),
            "a rolled-back canary answers nothing"
        );
        assert!(after["2"] > before["2"]);
        // A canary needs a weight before it exists, and only registered versions load.
        assert!(d.set_canary_weight(10).is_err());
        assert!(d.deploy_canary(&spec(9)).is_err());
        assert!(d.set_canary_weight(101).is_err());
        stop.store(true, Ordering::Relaxed);
    });
    let failures = seen.failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let by = seen.by_version.lock().unwrap();
    assert!(by["1"] > 0 && by["2"] > 0 && by["3"] > 0, "{by:?}");
    server.shutdown().unwrap();
}

#[test]
fn outcomes_are_counted_per_arm_by_request_id_or_variant_and_bad_reports_are_4xx() {
    let model = wine_model(Algorithm::logistic());
    let server = start(ServerConfig::default(), served(model.clone(), "1"));
    server
        .set_variant("canary", served(model, "2"), 0.5)
        .unwrap();
    let c = client();
    let url = server.url();
    let mut answered = Vec::new();
    for i in 0..200 {
        let (s, h, _) = post(
            &c,
            &format!("{url}/invocations"),
            Some("application/json"),
            split_body(i % 50, i % 50 + 1),
        );
        assert_eq!(s, 200);
        answered.push((
            h["x-request-id"].to_str().unwrap().to_string(),
            h["x-variant"].to_str().unwrap().to_string(),
        ));
    }
    // Canary answers clicked, stable ones not: one report each, half as a batch.
    let report = |id: &str, variant: &str| serde_json::json!({"request_id": id, "metric": "click", "value": variant == "canary"});
    for (id, variant) in &answered[..100] {
        let (s, _, v) = post(
            &c,
            &format!("{url}/outcomes"),
            Some("application/json"),
            report(id, variant).to_string(),
        );
        assert_eq!((s, &v), (200, &serde_json::json!({"recorded": 1})));
    }
    let batch: Vec<_> = answered[100..]
        .iter()
        .map(|(id, variant)| report(id, variant))
        .collect();
    let (s, _, v) = post(
        &c,
        &format!("{url}/outcomes"),
        Some("application/json"),
        serde_json::Value::from(batch).to_string(),
    );
    assert_eq!((s, v["recorded"].as_u64()), (200, Some(100)));
    let canary_n = answered.iter().filter(|(_, v)| v == "canary").count() as u64;
    assert!(canary_n > 50 && canary_n < 150, "{canary_n}");
    let click = |variant: &str| {
        server
            .outcome_stats()
            .into_iter()
            .find(|o| o.variant == variant && o.metric == "click")
            .unwrap()
            .sums
    };
    assert_eq!(
        (click("canary").n, click("canary").sum),
        (canary_n, canary_n as f64)
    );
    assert_eq!(
        (click("stable").n, click("stable").sum),
        (200 - canary_n, 0.0)
    );

    // Refusals: a second report (409), an unknown id (404), no key or a bad value
    // (400), an unknown variant/version (404); a batch with one bad item records none.
    let (id, variant) = &answered[0];
    let refused = [
        (report(id, variant).to_string(), 409, "already"),
        (
            serde_json::json!({"request_id": "nope", "metric": "click", "value": 1}).to_string(),
            404,
            "no answered request",
        ),
        (
            r#"{"metric": "click", "value": 1}"#.to_string(),
            400,
            "either",
        ),
        (
            format!(r#"{{"request_id": "{id}", "metric": "click", "value": "yes"}}"#),
            400,
            "outcomes",
        ),
        (
            serde_json::json!({"variant": "canary", "version": "7", "metric": "click", "value": 1})
                .to_string(),
            404,
            "version",
        ),
        (
            serde_json::json!([
                {"variant": "stable", "version": "1", "metric": "click", "value": 1},
                {"request_id": "nope", "metric": "click", "value": 1},
            ])
            .to_string(),
            404,
            "outcome 1",
        ),
        ("not json".to_string(), 400, "outcomes"),
    ];
    for (body, status, says) in refused {
        let (s, _, v) = post(
            &c,
            &format!("{url}/outcomes"),
            Some("application/json"),
            body.clone(),
        );
        assert_eq!(s, status, "{body}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{body}: {v}");
        assert!(v["error_code"].is_string(), "{v}");
    }
    assert_eq!(
        click("stable").n,
        200 - canary_n,
        "nothing recorded by a refused batch"
    );
    // By variant and version, over HTTP and in process, for a mean metric too.
    let (s, _, _) = post(
        &c,
        &format!("{url}/outcomes"),
        Some("application/json"),
        serde_json::json!({"variant": "stable", "version": "1", "metric": "revenue", "value": 2.5})
            .to_string(),
    );
    assert_eq!(s, 200);
    server
        .record_outcomes(&[OutcomeReport::for_variant("stable", "1", "revenue", 1.5)])
        .unwrap();
    let revenue = server
        .outcome_stats()
        .into_iter()
        .find(|o| o.metric == "revenue")
        .unwrap();
    assert_eq!(
        (
            revenue.variant.as_str(),
            revenue.sums.n,
            revenue.sums.sum,
            revenue.sums.sum_sq
        ),
        ("stable", 2, 4.0, 8.5)
    );
    assert!(
        server
            .record_outcomes(&[OutcomeReport::for_request("nope", "click", 1.0)])
            .is_err()
    );
    // What a LocalSource makes of it: the reports, and the server's own counters.
    use mlops_deploy::controller::ArmSource;
    let v = |n: &str| VersionSpec {
        model: "wine".into(),
        version: n.into(),
        storage_uri: String::new(),
    };
    let mut source = LocalSource::new(&server, MetricSpec::proportion("click"));
    let pair = source.counts(&v("1"), &v("2")).unwrap();
    assert_eq!(
        pair.control,
        mlops_deploy::Arm::proportion(200 - canary_n, 0)
    );
    assert_eq!(
        pair.canary,
        mlops_deploy::Arm::proportion(canary_n, canary_n)
    );
    let stats = server.stats();
    let stable = stats.iter().find(|s| s.variant == "stable").unwrap();
    for (metric, want) in [
        (
            MetricSpec::proportion("error_rate").lower_is_better(),
            mlops_deploy::Arm::proportion(stable.requests, 0),
        ),
        (
            MetricSpec::proportion("latency_over_2500ms").lower_is_better(),
            mlops_deploy::Arm::proportion(stable.requests, 0),
        ),
        (
            MetricSpec::mean("latency_seconds").lower_is_better(),
            mlops_deploy::Arm::mean(
                stable.requests,
                stable.latency_sum_s,
                stable.latency_sq_sum_s2,
            ),
        ),
        (
            MetricSpec::mean("revenue"),
            mlops_deploy::Arm::mean(2, 4.0, 8.5),
        ),
    ] {
        let pair = source.metric_counts(&metric, &v("1"), &v("2")).unwrap();
        assert_eq!(pair.control, want, "{}", metric.name);
    }
    assert_eq!(
        stable.latency_buckets.iter().sum::<u64>(),
        stable.requests,
        "every request in one latency bucket"
    );
    // A bound that is not a bucket, or a kind the server does not measure, is refused.
    for bad in [
        MetricSpec::proportion("latency_over_300ms"),
        MetricSpec::mean("error_rate"),
    ] {
        assert!(
            source.metric_counts(&bad, &v("1"), &v("2")).is_err(),
            "{}",
            bad.name
        );
    }
    // Apps that report only clicks count against the answered requests.
    let mut answered = LocalSource::new(&server, MetricSpec::proportion("click"))
        .denominator(mlops_deploy::controller::OutcomeDenominator::Answered);
    let pair = answered.counts(&v("1"), &v("2")).unwrap();
    assert_eq!(
        pair.canary.n(),
        stats
            .iter()
            .find(|s| s.variant == "canary")
            .unwrap()
            .requests
    );
    server.shutdown().unwrap();
}

fn canary_strategy(judge: JudgeConfig) -> Strategy {
    Strategy::Canary(Canary {
        steps: vec![
            Step::SetWeight(20),
            Step::SetWeight(50),
            Step::Judge {
                max_duration: Some(mlops_deploy::strategy::Duration(120)),
            },
        ],
        judge,
        background_analysis: None,
    })
}

/// Large effects so a test decides within a few thousand requests (the statistics'
/// error rates are checked by the simulations, not here).
fn click_judge() -> JudgeConfig {
    JudgeConfig {
        metric: MetricSpec::proportion("click"),
        tau: 0.1,
        margin: 0.0,
        min_samples: 200,
        horizon: None,
        ..JudgeConfig::default()
    }
}

/// What a local rollout ended with.
struct Run {
    state: RolloutState,
    /// Failed user requests.
    failures: Vec<String>,
    /// User answers per version.
    by: BTreeMap<String, u64>,
    /// Where `champion` points.
    alias: u64,
    variants: Vec<mlops_deploy::VariantInfo>,
    stats: Vec<mlops_deploy::ArmStats>,
    /// `/metrics` at the end.
    metrics: String,
    /// Audit actions, in order.
    actions: Vec<String>,
}

/// Runs `strategy` rolling out `canary` over version 1 with users calling the server
/// (and clicking with probability `p(variant)`); a `faulty_canary` fails every
/// prediction. The rollout's gauges are on the server's `/metrics`.
fn run_rollout(
    canary: u64,
    strategy: Strategy,
    metric: MetricSpec,
    p: &(dyn Fn(&str) -> f64 + Sync),
    faulty_canary: bool,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let (reg, models) = registry(&root);
    let want = wanted(&models);
    let audit_path = mlops_core::tracking::sdk_state_dir(&root).join("audit.jsonl");
    let audit = AuditLog::open(&audit_path);
    let server = start(
        ServerConfig {
            workers: Some(2),
            ..ServerConfig::default()
        },
        load(&reg, 1),
    );
    let gauges = RolloutGauges::new();
    server.register_metrics(|r| gauges.register(r));
    let stop = AtomicBool::new(false);
    let seen = Seen::default();
    let url = server.url();
    let state = std::thread::scope(|s| {
        s.spawn(|| users(&url, 3, &stop, &seen, &want, Some(p)));
        let reg_ref: &dyn Registry = &reg;
        let mut deployer = LocalDeployer::with_loader(&server, move |v: &VersionSpec| {
            let m = load(reg_ref, v.version.parse().unwrap());
            if faulty_canary && v.version == canary.to_string() {
                let faulty = Faulty {
                    inner: m.model().clone(),
                    sleep: Duration::ZERO,
                    fail: true,
                    panic: false,
                };
                return Ok(ServedModel::new(
                    "wine",
                    v.version.clone(),
                    Arc::new(faulty),
                ));
            }
            Ok(m)
        });
        let mut source = LocalSource::new(&server, metric);
        let spec = RolloutSpec {
            name: format!("wine-v{canary}"),
            stable: spec(1),
            canary: spec(canary),
            alias: "champion".into(),
            strategy,
            look_every_ms: 50,
            prometheus: None,
            guardrail_queries: Vec::new(),
        };
        let st = RolloutState::new(spec).unwrap();
        let mut c = Controller::open(
            dir.path().join("rollout.json"),
            Some(st),
            &mut deployer,
            &reg,
            &audit,
            &mut source,
        )
        .unwrap()
        .with_gauges(gauges.clone());
        let end = c.run(&mlops_core::now_ms);
        stop.store(true, Ordering::Relaxed);
        end.unwrap();
        c.state.clone()
    });
    let metrics = client()
        .get(format!("{}/metrics", server.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let actions = std::fs::read_to_string(&audit_path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["action"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    let run = Run {
        state,
        failures: seen.failures.lock().unwrap().clone(),
        by: seen.by_version.lock().unwrap().clone(),
        alias: reg
            .get_version_by_alias("wine", "champion")
            .unwrap()
            .version,
        variants: server.variants(),
        stats: server.stats(),
        metrics,
        actions,
    };
    server.shutdown().unwrap();
    run
}

fn only_stable(variants: &[mlops_deploy::VariantInfo], version: &str) {
    assert_eq!(variants.len(), 1, "{variants:?}");
    assert_eq!(
        (variants[0].name.as_str(), variants[0].version.as_str()),
        ("stable", version)
    );
}

fn gauge(metrics: &str, family: &str, rollout: &str) -> f64 {
    let prefix = format!("{family}{{rollout=\"{rollout}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("{prefix} missing from\n{metrics}"))
        .trim()
        .parse()
        .unwrap()
}

/// A canary users click more (0.45 against 0.2), rolled out once for the tests that
/// look at it (`scripts/test` runs the ignored promtool one too).
fn better_rollout() -> &'static Run {
    static RUN: std::sync::OnceLock<Run> = std::sync::OnceLock::new();
    RUN.get_or_init(|| {
        let better = |v: &str| if v == "canary" { 0.45 } else { 0.2 };
        run_rollout(
            2,
            canary_strategy(click_judge()),
            MetricSpec::proportion("click"),
            &better,
            false,
        )
    })
}

#[test]
fn the_controller_promotes_a_canary_users_click_more_and_rolls_back_one_they_click_less() {
    // Better: promoted, the alias moves with the decision, the canary serves everything,
    // and /metrics shows the rollout promoted at weight 100.
    let click = MetricSpec::proportion("click");
    let r = better_rollout();
    assert_eq!(
        r.state.phase,
        RolloutPhase::Promoted,
        "{:?}",
        r.state.decision
    );
    let d = r.state.decision.as_ref().unwrap();
    assert_eq!(d.outcome, mlops_deploy::Outcome::Promote);
    assert!(d.estimate > 0.1, "{d}");
    assert_eq!(r.alias, 2);
    only_stable(&r.variants, "2");
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(r.by["2"] > 0, "{:?}", r.by);
    assert_eq!(gauge(&r.metrics, "deploy_rollout_phase", "wine-v2"), 1.0);
    assert_eq!(gauge(&r.metrics, "deploy_canary_weight", "wine-v2"), 100.0);

    // Worse: rolled back, the alias stays, the canary is gone.
    let worse = |v: &str| if v == "canary" { 0.05 } else { 0.25 };
    let r = run_rollout(3, canary_strategy(click_judge()), click, &worse, false);
    assert_eq!(
        r.state.phase,
        RolloutPhase::RolledBack,
        "{:?}",
        r.state.decision
    );
    assert_eq!(
        r.state.decision.as_ref().unwrap().outcome,
        mlops_deploy::Outcome::Rollback
    );
    assert_eq!(r.alias, 1);
    only_stable(&r.variants, "1");
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(gauge(&r.metrics, "deploy_rollout_phase", "wine-v3"), 2.0);
    assert_eq!(gauge(&r.metrics, "deploy_canary_weight", "wine-v3"), 0.0);
}

#[test]
fn a_canary_failing_requests_is_rolled_back_by_the_error_rate_guardrail() {
    // Users click the failing canary's (non-existent) answers as often as the stable
    // one's: only the guardrail, read from the server's own 5xx counts, can stop it.
    let same = |_: &str| 0.2;
    let judge = JudgeConfig {
        guardrails: vec![Guardrail {
            metric: MetricSpec::proportion("error_rate").lower_is_better(),
            alpha: 0.05,
            tau: 0.05,
            min_samples: 100,
        }],
        ..click_judge()
    };
    let r = run_rollout(
        2,
        canary_strategy(judge),
        MetricSpec::proportion("click"),
        &same,
        true,
    );
    assert_eq!(
        r.state.phase,
        RolloutPhase::RolledBack,
        "{:?}",
        r.state.decision
    );
    let d = r.state.decision.as_ref().unwrap();
    assert!(d.to_string().contains("error_rate"), "{d}");
    assert_eq!(r.alias, 1);
    only_stable(&r.variants, "1");
    // The canary's failures were real 500s seen by users (and only those).
    assert!(!r.failures.is_empty());
    assert!(
        r.failures.iter().all(|f| f.starts_with("status 500")),
        "{:?}",
        r.failures
    );
}

/// A judge analysis metric: no harm on `error_rate` (the shadow's or the switched
/// version's 5xx share against the stable one's), measured `count` times a second.
fn no_harm(count: u32) -> serde_json::Value {
    serde_json::json!({
        "name": "no-harm",
        "metrics": [{
            "name": "errors",
            "interval": "1s",
            "count": count,
            "success_condition": "result[0] >= 0",
            "failure_condition": "result[0] < 0",
            "provider": {"judge": {
                "metric": {"name": "error_rate", "kind": "proportion", "higher_is_better": false},
                "tau": 0.05,
                "min_samples": 50
            }}
        }]
    })
}

/// A blue-green strategy whose preview must answer rows 0..5 with `expected`.
fn blue_green(expected: &[i64]) -> Strategy {
    let body: serde_json::Value = serde_json::from_str(&split_body(0, 5)).unwrap();
    serde_json::from_value(serde_json::json!({"blue_green": {
        "auto_promotion_enabled": true,
        "scale_down_delay_seconds": 1,
        "pre_promotion_analysis": {"name": "integration", "metrics": [{
            "name": "golden",
            "success_condition": "result[0] == 1",
            "no_data": "fail",
            "provider": {"golden": {"requests": [
                {"name": "rows 0-4", "body": body, "expected": expected}
            ]}}
        }]},
        "post_promotion_analysis": no_harm(2),
    }}))
    .unwrap()
}

#[test]
fn blue_green_checks_golden_requests_on_the_preview_then_switches_all_traffic() {
    let models = [
        wine_model(Algorithm::logistic()),
        wine_model(Algorithm::forest(7, Some(4))),
    ];
    let golden = expected_labels(&models[1], 0, 5);
    let none = |_: &str| 0.0;
    let r = run_rollout(
        2,
        blue_green(&golden),
        MetricSpec::proportion("click"),
        &none,
        false,
    );
    assert_eq!(r.state.phase, RolloutPhase::Promoted, "{:?}", r.state);
    assert_eq!(r.alias, 2);
    only_stable(&r.variants, "2");
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert!(r.by["1"] > 0 && r.by["2"] > 0, "{:?}", r.by);
    // Golden requests went to the preview server, never through the users' server:
    // everything the canary variant answered there came after the switch, from users.
    let canary: u64 = r
        .stats
        .iter()
        .filter(|s| s.variant == "canary")
        .map(|s| s.requests)
        .sum();
    let stable_2: u64 = r
        .stats
        .iter()
        .filter(|s| s.variant == "stable" && s.version == "2")
        .map(|s| s.requests)
        .sum();
    assert_eq!(canary + stable_2, r.by["2"], "{:?}", r.stats);
    let steps: Vec<&String> = r
        .actions
        .iter()
        .filter(|a| a.starts_with("rollout."))
        .collect();
    assert!(
        steps.contains(&&"rollout.measurement".to_string()),
        "{steps:?}"
    );
    assert_eq!(
        steps.last().unwrap().as_str(),
        "rollout.promote",
        "{steps:?}"
    );

    // Golden answers that do not match: the preview fails its analysis and users never
    // see the new version.
    let wrong: Vec<i64> = golden.iter().map(|l| 1 - l).collect();
    let r = run_rollout(
        2,
        blue_green(&wrong),
        MetricSpec::proportion("click"),
        &none,
        false,
    );
    assert_eq!(r.state.phase, RolloutPhase::RolledBack, "{:?}", r.state);
    assert_eq!(r.alias, 1);
    only_stable(&r.variants, "1");
    assert_eq!(r.by.get("2"), None, "{:?}", r.by);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
}

#[test]
fn a_failing_version_switched_in_by_blue_green_is_switched_back_by_post_promotion_analysis() {
    // No pre-promotion check, the switch after 2 s: the failing version takes all the
    // traffic (users see its 500s); the post-promotion analysis compares its error rate
    // with the old version's before the switch (after it, the old one has no traffic),
    // fails and switches back.
    let strategy: Strategy = serde_json::from_value(serde_json::json!({"blue_green": {
        "auto_promotion_enabled": false,
        "auto_promotion_seconds": 2,
        "scale_down_delay_seconds": 30,
        "post_promotion_analysis": no_harm(5),
    }}))
    .unwrap();
    let none = |_: &str| 0.0;
    let r = run_rollout(2, strategy, MetricSpec::proportion("click"), &none, true);
    assert_eq!(r.state.phase, RolloutPhase::RolledBack, "{:?}", r.state);
    assert_eq!(r.alias, 1);
    only_stable(&r.variants, "1");
    assert!(r.by["1"] > 0, "{:?}", r.by);
    // The switch happened (users saw the failing version's 500s, and only those) and
    // the post-promotion analysis measured it before switching back.
    assert!(
        !r.failures.is_empty() && r.failures.iter().all(|f| f.starts_with("status 500")),
        "{:?}",
        r.failures
    );
    assert!(
        r.actions.iter().any(|a| a == "rollout.measurement"),
        "{:?}",
        r.actions
    );
}

fn shadow(promote: bool) -> Strategy {
    serde_json::from_value(serde_json::json!({"shadow": {
        "duration": "2s",
        "promote_on_success": promote,
        "analysis": no_harm(1),
    }}))
    .unwrap()
}

#[test]
fn a_shadow_sees_every_request_no_user_sees_its_answers_and_the_judge_compares_it() {
    let none = |_: &str| 0.0;
    let click = MetricSpec::proportion("click");
    // Healthy, not promoted: completed, users only ever saw version 1.
    let r = run_rollout(2, shadow(false), click.clone(), &none, false);
    assert_eq!(r.state.phase, RolloutPhase::Completed, "{:?}", r.state);
    assert_eq!(r.alias, 1);
    only_stable(&r.variants, "1");
    assert_eq!(r.by.keys().collect::<Vec<_>>(), ["1"], "{:?}", r.by);
    let mirrored: u64 = r
        .stats
        .iter()
        .filter(|s| s.variant == "shadow")
        .map(|s| s.requests)
        .sum();
    assert!(mirrored >= 50, "{:?}", r.stats);
    assert!(r.failures.is_empty(), "{:?}", r.failures);

    // Healthy and promoted: a switch, the alias moves.
    let r = run_rollout(2, shadow(true), click.clone(), &none, false);
    assert_eq!(r.state.phase, RolloutPhase::Promoted, "{:?}", r.state);
    assert_eq!(r.alias, 2);
    only_stable(&r.variants, "2");
    assert!(r.failures.is_empty(), "{:?}", r.failures);

    // Failing: every mirrored request fails, no user notices, the judge rolls it back.
    let r = run_rollout(2, shadow(true), click, &none, true);
    assert_eq!(r.state.phase, RolloutPhase::RolledBack, "{:?}", r.state);
    assert_eq!(r.alias, 1);
    only_stable(&r.variants, "1");
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let failed: u64 = r
        .stats
        .iter()
        .filter(|s| s.variant == "shadow")
        .map(|s| s.server_errors)
        .sum();
    assert!(failed >= 50, "{:?}", r.stats);
}

#[test]
#[ignore = "needs promtool (scripts/test installs Debian's prometheus)"]
fn rollout_gauges_on_the_servers_metrics_pass_promtool() {
    let r = better_rollout();
    assert_eq!(r.state.phase, RolloutPhase::Promoted);
    for family in [
        "deploy_rollout_phase",
        "deploy_canary_weight",
        "deploy_rollout_step",
    ] {
        assert!(
            r.metrics.contains(&format!("# TYPE {family} gauge")),
            "{}",
            r.metrics
        );
    }
    promtool_check(&r.metrics);
}

/// Guardrails read through a real Prometheus (Debian's) scraping this server's own
/// `/metrics`, with the query sets `mlops rollout start --prometheus URL --guardrail
/// NAME` builds (`ArmQueries::for_metric`): a canary 60 ms slower is rolled back by
/// `latency_over_25ms`, while the error-rate primary (no errors on either arm) cannot
/// decide.
#[test]
#[ignore = "needs Debian's prometheus (scripts/test installs it)"]
fn a_slow_canary_is_rolled_back_by_a_latency_guardrail_read_through_a_real_prometheus() {
    use mlops_deploy::controller::PrometheusSource;
    use mlops_deploy::strategy::argo::ArmQueries;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let (reg, models) = registry(&root);
    let want = wanted(&models);
    let audit = AuditLog::open(mlops_core::tracking::sdk_state_dir(&root).join("audit.jsonl"));
    let server = start(
        ServerConfig {
            workers: Some(4),
            ..ServerConfig::default()
        },
        load(&reg, 1),
    );
    let url = server.url();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let (_prometheus, prom_port) = crate::prometheus::start_prometheus(dir.path(), port);
    let prom = format!("http://127.0.0.1:{prom_port}");
    let slow = |name: &str| ArmQueries::for_metric(&MetricSpec::proportion(name).lower_is_better());
    let latency = slow("latency_over_25ms").unwrap();
    assert!(slow("latency_over_30ms").is_err());
    assert_eq!(slow("error_rate").unwrap(), ArmQueries::default());
    let stop = AtomicBool::new(false);
    let seen = Seen::default();
    let state = std::thread::scope(|s| {
        s.spawn(|| users(&url, 3, &stop, &seen, &want, None));
        // Prometheus has scraped the stable arm before the rollout starts.
        let mut source = PrometheusSource::new(prom.clone(), ArmQueries::default()).unwrap();
        crate::prometheus::first_counts(&mut source, &spec(1), &spec(2));
        let reg_ref: &dyn Registry = &reg;
        let mut deployer = LocalDeployer::with_loader(&server, move |v: &VersionSpec| {
            let m = load(reg_ref, v.version.parse().unwrap());
            if v.version == "2" {
                let slow = Faulty::slow(m.model().clone(), Duration::from_millis(60));
                return Ok(ServedModel::new("wine", "2", Arc::new(slow)));
            }
            Ok(m)
        });
        let judge = JudgeConfig {
            metric: MetricSpec::proportion("error_rate").lower_is_better(),
            tau: 0.05,
            margin: 0.0,
            min_samples: 100,
            horizon: None,
            guardrails: vec![Guardrail {
                metric: MetricSpec::proportion("latency_over_25ms").lower_is_better(),
                alpha: 0.05,
                tau: 0.1,
                min_samples: 50,
            }],
            ..JudgeConfig::default()
        };
        let rollout = RolloutSpec {
            name: "wine-v2".into(),
            stable: spec(1),
            canary: spec(2),
            alias: "champion".into(),
            strategy: Strategy::Canary(Canary {
                steps: vec![
                    Step::SetWeight(50),
                    Step::Judge {
                        max_duration: Some(mlops_deploy::strategy::Duration(120)),
                    },
                ],
                judge,
                background_analysis: None,
            }),
            look_every_ms: 1_000,
            prometheus: Some(prom.clone()),
            guardrail_queries: vec![latency],
        };
        let mut c = Controller::open(
            dir.path().join("rollout.json"),
            Some(RolloutState::new(rollout).unwrap()),
            &mut deployer,
            &reg,
            &audit,
            &mut source,
        )
        .unwrap();
        let end = c.run(&mlops_core::now_ms);
        stop.store(true, Ordering::Relaxed);
        end.unwrap();
        c.state.clone()
    });
    assert_eq!(
        state.phase,
        RolloutPhase::RolledBack,
        "{:?}",
        state.decision
    );
    let d = state.decision.as_ref().unwrap();
    assert_eq!(
        (d.boundary, d.metric.as_str()),
        (mlops_deploy::Boundary::Guardrail, "latency_over_25ms"),
        "{d}"
    );
    // Nearly every canary request is over 25 ms, nearly no stable one.
    assert!(d.canary_mean > 0.9 && d.control_mean < 0.2, "{d}");
    assert_eq!(
        reg.get_version_by_alias("wine", "champion")
            .unwrap()
            .version,
        1
    );
    only_stable(&server.variants(), "1");
    assert!(
        seen.failures.lock().unwrap().is_empty(),
        "{:?}",
        seen.failures
    );
    server.shutdown().unwrap();
}
