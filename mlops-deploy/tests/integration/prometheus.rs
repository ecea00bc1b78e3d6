//! The controller's Prometheus source against Debian's `prometheus` 2.42 scraping an
//! HTTP endpoint on 127.0.0.1 that exposes the `serve` helper's counter family
//! (`model_requests_total{model,version,variant,code}`, text format 0.0.4), and the
//! rollout metrics text checked by `promtool check metrics`.
//!
//! The scraped endpoint here is a small exposition server with counts the tests set
//! (so the judge's input is known exactly): what is tested is that Prometheus ingests
//! the family and `PrometheusSource` turns its instant queries into the judge's per-arm
//! counts. `local_rollout.rs` has the same Prometheus scraping the model server itself,
//! with the guardrail query sets of `ArmQueries::for_metric`.

use crate::common::promtool_check;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mlops_deploy::controller::{ArmSource, PrometheusSource, RolloutState};
use mlops_deploy::strategy::argo::ArmQueries;
use mlops_deploy::{Arm, ArmPair, VersionSpec};

fn version(v: &str) -> VersionSpec {
    VersionSpec {
        model: "fraud".into(),
        version: v.into(),
        storage_uri: String::new(),
    }
}

/// Serves `/metrics` with counts that grow with `tick`.
fn exposition_server(tick: Arc<AtomicU64>) -> u16 {
    text_server(move || {
        let t = tick.load(Ordering::SeqCst);
        format!(
            "# HELP model_requests_total Prediction requests by model, version, variant and HTTP status\n\
             # TYPE model_requests_total counter\n\
             model_requests_total{{model=\"fraud\",version=\"1\",variant=\"stable\",code=\"200\"}} {}\n\
             model_requests_total{{model=\"fraud\",version=\"1\",variant=\"stable\",code=\"500\"}} {}\n\
             model_requests_total{{model=\"fraud\",version=\"2\",variant=\"canary\",code=\"200\"}} {}\n\
             model_requests_total{{model=\"fraud\",version=\"2\",variant=\"canary\",code=\"503\"}} {}\n",
            900 * t - 9 * t,
            9 * t,
            100 * t - 3 * t,
            3 * t
        )
    })
}

/// Answers every request on a port of 127.0.0.1 with `body()` as an exposition.
fn text_server(body: impl Fn() -> String + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = body();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs Debian's prometheus and promtool (scripts/test installs them)"]
fn prometheus_source_reads_per_arm_counts_from_a_real_prometheus() {
    let tick = Arc::new(AtomicU64::new(10));
    let target = exposition_server(tick.clone());
    let dir = tempfile::tempdir().unwrap();
    let (_prometheus, port) = start_prometheus(dir.path(), target);
    let mut source =
        PrometheusSource::new(format!("http://127.0.0.1:{port}"), ArmQueries::default()).unwrap();
    // The first scrape, of tick = 10.
    let first = first_counts(&mut source, &version("1"), &version("2"));
    // Control: all requests of version 1 and its 5xx; canary: version 2.
    assert_eq!(first.control, Arm::proportion(9_000, 90));
    assert_eq!(first.canary, Arm::proportion(1_000, 30));
    // The counters grow; the next scrapes show it.
    tick.store(20, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = source.counts(&version("1"), &version("2")).unwrap();
        if p.canary.n() == 2_000 {
            assert_eq!(p.canary, Arm::proportion(2_000, 60));
            assert_eq!(p.control, Arm::proportion(18_000, 180));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never saw the new counts: {p:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // A bad query is a typed error with Prometheus' message.
    let e = source.scalar("sum(").unwrap_err().to_string();
    assert!(
        e.contains("metrics source") && e.contains("parse error"),
        "{e}"
    );
}

/// The first counts Prometheus answers `source`'s queries with once it has scraped the
/// control arm (at most 60 s).
pub fn first_counts(
    source: &mut PrometheusSource,
    stable: &VersionSpec,
    canary: &VersionSpec,
) -> ArmPair {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match source.counts(stable, canary) {
            Ok(p) if p.control.n() > 0 => return p,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(300)),
            other => panic!("no data from Prometheus after 60 s: {other:?}"),
        }
    }
}

/// Starts Debian's `prometheus` on a free port of 127.0.0.1, scraping `target` every
/// second; killed when the guard drops.
pub fn start_prometheus(dir: &std::path::Path, target: u16) -> (Killed, u16) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: model\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Debian's prometheus on PATH (scripts/test installs it)");
    (Killed(child), port)
}

/// The controller end to end on a real Prometheus: an error-rate judge (lower is
/// better) sees the canary's 3% 5xx against the control's 1% and rolls back; the alias
/// stays on the stable version.
fn run_on_prometheus(
    judge: mlops_deploy::JudgeConfig,
    guardrail_queries: Vec<ArmQueries>,
) -> mlops_deploy::Decision {
    use mlops_core::Registry;
    use mlops_deploy::controller::{Controller, RolloutPhase, RolloutSpec};
    use mlops_deploy::deployer::kubernetes::GitOpsDeployer;
    use mlops_deploy::{Deployer, Outcome};

    let tick = Arc::new(AtomicU64::new(1));
    let target = exposition_server(tick.clone());
    let dir = tempfile::tempdir().unwrap();
    let (_prom, port) = start_prometheus(dir.path(), target);
    let stop = Arc::new(AtomicU64::new(0));
    let (t2, s2) = (tick.clone(), stop.clone());
    std::thread::spawn(move || {
        while s2.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(200));
            t2.fetch_add(1, Ordering::SeqCst);
        }
    });
    let root = dir.path().join("registry");
    let reg = super::controller::registry(&root);
    let audit =
        mlops_core::AuditLog::open(mlops_core::tracking::sdk_state_dir(&root).join("audit.jsonl"));
    let gitops = dir.path().join("gitops");
    let mut deployer = GitOpsDeployer::open(&gitops, super::controller::app()).unwrap();
    deployer
        .deploy_stable(&super::controller::version("1"))
        .unwrap();
    let spec = RolloutSpec {
        name: "fraud-v2".into(),
        stable: super::controller::version("1"),
        canary: super::controller::version("2"),
        alias: "champion".into(),
        strategy: mlops_deploy::Strategy::Canary(mlops_deploy::strategy::Canary {
            steps: vec![
                mlops_deploy::strategy::Step::SetWeight(10),
                mlops_deploy::strategy::Step::Judge {
                    max_duration: Some(mlops_deploy::strategy::Duration(120)),
                },
            ],
            judge,
            background_analysis: None,
        }),
        look_every_ms: 500,
        prometheus: None,
        guardrail_queries,
    };
    // Wait until Prometheus has the family, so the judge's baseline is a real read.
    let mut source =
        PrometheusSource::new(format!("http://127.0.0.1:{port}"), ArmQueries::default()).unwrap();
    first_counts(&mut source, &version("1"), &version("2"));
    let state = RolloutState::new(spec).unwrap();
    let mut c = Controller::open(
        dir.path().join("rollout.json"),
        Some(state),
        &mut deployer,
        &reg,
        &audit,
        &mut source,
    )
    .unwrap();
    c.run(&mlops_core::now_ms).unwrap();
    stop.store(1, Ordering::SeqCst);
    assert_eq!(c.state.phase, RolloutPhase::RolledBack);
    let d = c.state.decision.clone().unwrap();
    assert_eq!(d.outcome, Outcome::Rollback);
    drop(c);
    assert_eq!(
        reg.get_version_by_alias("fraud", "champion")
            .unwrap()
            .version,
        1
    );
    d
}

/// The controller end to end on a real Prometheus: an error-rate judge (lower is
/// better) sees the canary's 3% 5xx against the control's 1% and rolls back; the alias
/// stays on the stable version.
#[test]
#[ignore = "needs Debian's prometheus and promtool (scripts/test installs them)"]
fn controller_rolls_back_a_failing_canary_from_prometheus_counts() {
    use mlops_deploy::{JudgeConfig, MetricSpec};
    let judge = JudgeConfig {
        metric: MetricSpec::proportion("errors").lower_is_better(),
        tau: 0.01,
        margin: 0.0,
        ..JudgeConfig::default()
    };
    let d = run_on_prometheus(judge, Vec::new());
    assert_eq!(d.boundary, mlops_deploy::Boundary::Harm);
    // (The interval is the unpooled confidence sequence; the harm test that decided uses
    // the pooled null variance, so the interval may still reach below zero.)
    assert!(
        d.estimate > 0.0 && d.ci[1] > 0.0 && d.p_value < 0.05,
        "error rate up: {d}"
    );
}

/// A guardrail rolls back on its own: the primary metric cannot decide (its minimum
/// sample is never reached), the error-rate guardrail read from Prometheus does.
#[test]
#[ignore = "needs Debian's prometheus and promtool (scripts/test installs them)"]
fn a_guardrail_from_prometheus_rolls_back_on_its_own() {
    use mlops_deploy::{Guardrail, JudgeConfig, MetricSpec};
    let judge = JudgeConfig {
        metric: MetricSpec::proportion("errors").lower_is_better(),
        min_samples: u64::MAX,
        guardrails: vec![Guardrail {
            metric: MetricSpec::proportion("5xx").lower_is_better(),
            alpha: 0.01,
            tau: 0.01,
            min_samples: 100,
        }],
        ..JudgeConfig::default()
    };
    let d = run_on_prometheus(judge, vec![ArmQueries::default()]);
    assert_eq!(
        (d.boundary, d.metric.as_str()),
        (mlops_deploy::Boundary::Guardrail, "5xx")
    );
}

#[test]
#[ignore = "needs Debian's prometheus and promtool (scripts/test installs them)"]
fn rollout_metrics_text_passes_promtool() {
    let spec = mlops_deploy::controller::RolloutSpec {
        name: "fraud-v2".into(),
        stable: version("1"),
        canary: version("2"),
        alias: "champion".into(),
        strategy: mlops_deploy::Strategy::from_text(
            r#"{"canary": {"steps": [{"set_weight": 10}]}}"#,
            false,
        )
        .unwrap(),
        look_every_ms: 1000,
        prometheus: None,
        guardrail_queries: Vec::new(),
    };
    promtool_check(&RolloutState::new(spec).unwrap().metrics_text());
}

/// One arm of an exposition: requests, 5xx answers and requests slower than 250 ms.
struct ArmCounts {
    version: &'static str,
    n: u64,
    errors: u64,
    slow: u64,
}

/// The `serve` helper's request counter and latency histogram for two arms, plus a
/// `mlops_test_scenario` gauge that tells when Prometheus has scraped this body.
fn exposition(scenario: u64, arms: &[&ArmCounts]) -> String {
    let mut out = String::from(
        "# TYPE mlops_test_scenario gauge\n\
         # TYPE model_requests_total counter\n\
         # TYPE model_request_duration_seconds histogram\n",
    );
    out.push_str(&format!("mlops_test_scenario {scenario}\n"));
    for a in arms {
        let l = format!(
            r#"model="fraud",version="{}",variant="v{}""#,
            a.version, a.version
        );
        out.push_str(&format!(
            "model_requests_total{{{l},code=\"200\"}} {}\nmodel_requests_total{{{l},code=\"500\"}} {}\n",
            a.n - a.errors,
            a.errors
        ));
        for (le, count) in [("0.1", a.n - a.slow), ("0.25", a.n - a.slow), ("+Inf", a.n)] {
            out.push_str(&format!(
                "model_request_duration_seconds_bucket{{{l},le=\"{le}\"}} {count}\n"
            ));
        }
        out.push_str(&format!(
            "model_request_duration_seconds_sum{{{l}}} {}\nmodel_request_duration_seconds_count{{{l}}} {}\n",
            a.n as f64 * 0.01,
            a.n
        ));
    }
    out
}

/// The Argo export's judge expression (error-rate primary, a 250 ms latency guardrail),
/// evaluated by a real Prometheus over the `serve` helper's families: the decision code
/// is 0 while the arms agree or are below the minimum sample, 1 for a canary with fewer
/// errors, −1 for one with more, and −1 for a canary with fewer errors that is slower
/// (the guardrail rolls back on its own and wins over promotion). The in-process judge
/// decides the same on the same counts.
#[test]
#[ignore = "needs Debian's prometheus (scripts/test installs it)"]
fn the_exported_judge_expression_decides_in_a_real_prometheus() {
    use mlops_deploy::judge::{Guardrail, Judge, Outcome, Verdict};
    use mlops_deploy::strategy::argo::{ArgoContext, judge_promql};
    use mlops_deploy::{JudgeConfig, MetricSpec};

    let cfg = JudgeConfig {
        metric: MetricSpec::proportion("error_rate").lower_is_better(),
        guardrails: vec![Guardrail {
            metric: MetricSpec::proportion("latency_over_250ms").lower_is_better(),
            alpha: 0.01,
            tau: 0.01,
            min_samples: 100,
        }],
        ..JudgeConfig::default()
    };
    let ctx = ArgoContext {
        name: "fraud".into(),
        model: "fraud".into(),
        stable_version: "1".into(),
        canary_version: "2".into(),
        prometheus: String::new(),
        queries: Default::default(),
        check_image: String::new(),
    };
    let query = judge_promql(&cfg, &ctx).unwrap();
    let arm = |version, n, errors, slow| ArmCounts {
        version,
        n,
        errors,
        slow,
    };
    // (what, control, canary, the exported decision code)
    let scenarios = [
        (
            "the same",
            arm("1", 90_000, 900, 900),
            arm("2", 10_000, 100, 100),
            0.0,
        ),
        (
            "fewer errors",
            arm("1", 90_000, 900, 900),
            arm("2", 10_000, 20, 100),
            1.0,
        ),
        (
            "more errors",
            arm("1", 90_000, 900, 900),
            arm("2", 10_000, 500, 100),
            -1.0,
        ),
        (
            "fewer errors, slower",
            arm("1", 90_000, 900, 900),
            arm("2", 10_000, 20, 1_000),
            -1.0,
        ),
        (
            "below the minimum sample",
            arm("1", 900, 9, 9),
            arm("2", 50, 25, 25),
            0.0,
        ),
    ];
    let body = Arc::new(std::sync::Mutex::new(exposition(0, &[])));
    let served = body.clone();
    let target = text_server(move || served.lock().unwrap().clone());
    let dir = tempfile::tempdir().unwrap();
    let (_prometheus, port) = start_prometheus(dir.path(), target);
    let source =
        PrometheusSource::new(format!("http://127.0.0.1:{port}"), ArmQueries::default()).unwrap();
    for (i, (what, control, canary, want)) in scenarios.into_iter().enumerate() {
        let scenario = i as u64 + 1;
        *body.lock().unwrap() = exposition(scenario, &[&control, &canary]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while source.vector("mlops_test_scenario").ok().flatten() != Some(scenario as f64) {
            assert!(Instant::now() < deadline, "{what}: never scraped");
            std::thread::sleep(Duration::from_millis(200));
        }
        let got = source.vector(&query).unwrap();
        assert_eq!(got, Some(want), "{what}: the exported expression");

        // The in-process judge on the same counts, at one look.
        let pair = |f: fn(&ArmCounts) -> u64| ArmPair {
            control: Arm::proportion(control.n, f(&control)),
            canary: Arm::proportion(canary.n, f(&canary)),
        };
        let mut judge = Judge::new(cfg.clone()).unwrap();
        let verdict = judge
            .observe(1, pair(|a| a.errors), &[pair(|a| a.slow)])
            .unwrap();
        let code = match verdict {
            Verdict::Continue(_) => 0.0,
            Verdict::Decided(d) if d.outcome == Outcome::Promote => 1.0,
            Verdict::Decided(_) => -1.0,
        };
        assert_eq!(code, want, "{what}: the in-process judge");
    }
}
