//! The loop: firing → retrain step → gate against the champion on recent labelled rows
//! → register → rollout, audit-logged and linked; DORA numbers from what it recorded.

use mlops_core::ModelUri;
use mlops_core::registry::{AliasChange, LocalRegistry, Registry};
use mlops_deploy::retrain::{Candidate, PromoteNow, RetrainLoop, RetrainRequest, recent_labelled};
use mlops_deploy::{
    Fired, Labels, Monitor, MonitorConfig, Reference, ReferenceOptions, Rule, TriggerEngine,
    TriggerPolicy, WindowSpec,
};
use mlops_train::{Gate, Lineage, ModelPackage};

use crate::util::{Scenario, features, fit, labels_for, registered_model, served};

#[test]
fn a_concept_drift_incident_retrains_gates_registers_and_promotes_once() {
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    let train = features(4_000, 40, Scenario::default());
    let champion = registered_model(&registry, "churn", &train);

    // live traffic whose relationship flipped; labels arrive for all of it (x0 is
    // also moved a little, as in the scenario this test was written for).
    let live = features(
        6_000,
        41,
        Scenario {
            flipped: true,
            x0_shift: -0.4,
            ..Scenario::default()
        },
    );
    let log = served(champion.as_ref(), &live, 0, 0, 0);
    let mut labels = Labels::new();
    labels.add_frame(&labels_for(&live, 0)).unwrap();

    let uri: ModelUri = "models:/churn@champion".parse().unwrap();
    let reference =
        Reference::from_registry(&registry, &uri, &ReferenceOptions::default()).unwrap();
    let mut monitor = Monitor::new(
        reference,
        MonitorConfig {
            window: WindowSpec::rows(2_000),
            ..MonitorConfig::default()
        },
    )
    .unwrap();
    monitor.add_labels(&labels);
    let mut engine = TriggerEngine::new(vec![TriggerPolicy::new(
        "accuracy-floor",
        Rule::QualityBelow {
            metric: "accuracy".into(),
            below: 0.6,
            min_labelled: 100,
        },
    )])
    .unwrap();
    let fired: Vec<Fired> = monitor
        .push(&log)
        .unwrap()
        .iter()
        .flat_map(|w| engine.observe(w))
        .collect();
    assert_eq!(fired.len(), 1, "one incident, three bad windows: {fired:?}");

    let recent = recent_labelled(
        &log,
        &labels,
        &["x0".into(), "x1".into(), "x2".into()],
        "label",
        false,
        3_000,
    )
    .unwrap();
    assert_eq!(recent.height(), 3_000);
    let gate: Gate = serde_json::from_str(
        r#"{"gate": "all", "gates": [
            {"gate": "threshold", "metric": "accuracy_score", "min": 0.7},
            {"gate": "no_regression", "metric": "precision_score", "test": "bootstrap", "resamples": 200}
        ]}"#,
    )
    .unwrap();
    let calls = std::cell::Cell::new(0);
    let mut step = |req: &RetrainRequest<'_>| -> mlops_deploy::Result<Candidate> {
        calls.set(calls.get() + 1);
        assert_eq!(req.model, "churn");
        assert!(req.champion_version.is_some());
        // the application's training job: fit on the recent labelled rows
        let m = fit(req.recent);
        let ds = mlops_data::Dataset::snapshot(req.recent, registry.artifact_store()).unwrap();
        let pkg = ModelPackage::new(
            m.as_ref(),
            Default::default(),
            Lineage::now(vec![ds.clone()], None),
        )
        .unwrap();
        Ok(Candidate {
            package: pkg.store(registry.artifact_store()).unwrap(),
            run_id: None,
            started_ms: Some(mlops_core::now_ms()),
            datasets: vec![ds.digest],
        })
    };
    let mut rollout = PromoteNow {
        registry: &registry,
        alias: "champion".into(),
        actor: "test-loop".into(),
    };
    let mut lp = RetrainLoop::new(&registry, "churn", gate.clone());
    let out = lp
        .on_fired(&fired[0], &recent, &mut step, &mut rollout)
        .unwrap();
    assert!(out.stopped.is_none(), "{out:?}");
    assert!(out.gate.as_ref().unwrap().passed);
    assert_eq!(out.version, Some(2));
    assert_eq!(
        registry
            .get_version_by_alias("churn", "champion")
            .unwrap()
            .version,
        2
    );
    assert_eq!(out.records.len(), 6);
    // the same incident again (this loop, or a new process reading the audit log)
    let again = lp
        .on_fired(&fired[0], &recent, &mut step, &mut rollout)
        .unwrap();
    assert!(again.stopped.unwrap().contains("duplicate"));
    let mut fresh = RetrainLoop::new(&registry, "churn", gate.clone());
    assert!(
        fresh
            .on_fired(&fired[0], &recent, &mut step, &mut rollout)
            .unwrap()
            .stopped
            .is_some()
    );
    assert_eq!(calls.get(), 1);

    // the chain reads back by digests: each record's cause is the previous one's hash
    let audit = registry.audit_log();
    audit.verify().unwrap();
    let recs = audit.records().unwrap();
    let chain: Vec<&mlops_core::AuditRecord> = out
        .records
        .iter()
        .map(|h| recs.iter().find(|r| r.hash == *h).unwrap())
        .collect();
    let actions: Vec<&str> = chain.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "trigger.fired",
            "retrain.started",
            "retrain.candidate",
            "retrain.gate",
            "retrain.registered",
            "rollout.started"
        ]
    );
    assert_eq!(
        chain[0].payload["window_profile"],
        fired[0].window_profile.unwrap().to_string()
    );
    for w in chain.windows(2) {
        assert_eq!(
            w[1].payload["cause"],
            w[0].hash.to_string(),
            "{} caused by {}",
            w[1].action,
            w[0].action
        );
    }
    assert_eq!(chain[2].payload["package"], chain[4].payload["package"]);
    let v2 = registry.get_version("churn", 2).unwrap();
    assert_eq!(v2.tags["mlops.trigger_record"], chain[0].hash.to_string());

    // a candidate that fails the gate is recorded and goes no further
    let strict: Gate =
        serde_json::from_str(r#"{"gate": "threshold", "metric": "accuracy_score", "min": 0.999}"#)
            .unwrap();
    let mut lp = RetrainLoop::new(&registry, "churn", strict);
    let f2 = Fired {
        incident: "manual#1".into(),
        ..fired[0].clone()
    };
    let out = lp.on_fired(&f2, &recent, &mut step, &mut rollout).unwrap();
    assert_eq!(out.stopped.as_deref(), Some("candidate failed the gate"));
    assert_eq!(out.version, None);
    assert_eq!(
        registry
            .search_versions(&mlops_core::registry::VersionQuery::of_model("churn"))
            .unwrap()
            .items
            .len(),
        2
    );
    let last = audit.records().unwrap().last().unwrap().clone();
    assert_eq!(last.action, "retrain.gate");
    assert_eq!(last.payload["passed"], false);

    // a failing step is recorded too
    let mut broken = |_: &RetrainRequest<'_>| -> mlops_deploy::Result<Candidate> {
        Err(mlops_deploy::Error::Retrain("out of memory".into()))
    };
    let f3 = Fired {
        incident: "manual#2".into(),
        ..fired[0].clone()
    };
    let out = lp
        .on_fired(&f3, &recent, &mut broken, &mut rollout)
        .unwrap();
    assert!(out.stopped.unwrap().contains("out of memory"));
    assert_eq!(
        audit.records().unwrap().last().unwrap().action,
        "retrain.failed"
    );

    // the rollout controller as the starter: a canary rollout state for the next
    // passing candidate, ready for `mlops rollout` / Controller::open
    let strategy = mlops_deploy::Strategy::from_text(
        r#"{"canary": {"steps": [{"set_weight": 10}, {"judge": {"max_duration": "1h"}}],
            "judge": {"alpha": 0.05, "tau": 0.006, "margin": 0.0025, "min_samples": 100,
                      "horizon": 200000, "metric": {"name": "errors", "higher_is_better": false}}}}"#,
        false,
    )
    .unwrap();
    let states = tempfile::tempdir().unwrap();
    let mut canary = mlops_deploy::retrain::ControllerRollout {
        registry: &registry,
        strategy,
        alias: "champion".into(),
        look_every_ms: 1000,
        state_dir: states.path().to_path_buf(),
        prometheus: None,
    };
    let mut lp = RetrainLoop::new(&registry, "churn", gate.clone());
    let f4 = Fired {
        incident: "manual#3".into(),
        ..fired[0].clone()
    };
    let out = lp.on_fired(&f4, &recent, &mut step, &mut canary).unwrap();
    assert!(out.stopped.is_none(), "{out:?}");
    let started = out.rollout.unwrap();
    assert_eq!(started.rollout, "churn-v3");
    let state =
        mlops_deploy::controller::RolloutState::load(&states.path().join("churn-v3.json")).unwrap();
    assert_eq!(
        (
            state.spec.stable.version.as_str(),
            state.spec.canary.version.as_str()
        ),
        ("2", "3")
    );
    // The controller's records will name the registration that started the rollout.
    let registered = out
        .records
        .iter()
        .find(|h| {
            audit
                .records()
                .unwrap()
                .iter()
                .any(|r| r.hash == **h && r.action == "retrain.registered")
        })
        .copied();
    assert!(registered.is_some());
    assert_eq!(state.last_record, registered);
    assert_eq!(
        registry
            .get_version_by_alias("churn", "champion")
            .unwrap()
            .version,
        2,
        "the controller moves it, later"
    );

    // DORA from what was recorded: 2 promotions (v1 by hand, v2 by the loop), lead
    // time of v2 from the candidate's training start, 3 alerts, restores measured
    let d = mlops_deploy::dora::dora(&registry, None, "champion", None).unwrap();
    assert_eq!(d.deployments, 2);
    assert_eq!(
        d.deployment_list[1].lead_time_from.as_deref(),
        Some("retrain_candidate")
    );
    assert_eq!(d.alerts, 4);
    assert_eq!(
        d.time_to_restore.n, 1,
        "only the first alert was followed by a promotion"
    );
    assert_eq!(d.change_failure_rate, Some(0.0));
    // a rollback of v2 makes it a failed change
    registry
        .rollback_alias("churn", "champion", &AliasChange::new("bad").by("oncall"))
        .unwrap();
    let d = mlops_deploy::dora::dora(&registry, None, "champion", None).unwrap();
    assert_eq!(
        (d.changes, d.failed_changes),
        (2, 1),
        "v3 is still a canary, not a change yet"
    );
    assert_eq!(d.change_failure_rate, Some(0.5));
    assert!(d.to_table().contains("change failure rate"));

    // fairness gates get per-group figures of both models from a column of the
    // recent rows; without one they fail closed, and a missing column is an error
    let mut grouped = recent.clone();
    let grp: Vec<&str> = grouped
        .column("x0")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| {
            if v.unwrap_or(0.0) > 0.0 {
                "east"
            } else {
                "west"
            }
        })
        .collect();
    grouped
        .with_column(polars::prelude::Column::new("region".into(), grp))
        .unwrap();
    let fair = Gate::max_demographic_parity_difference(1.0).unwrap();
    let mut lp = RetrainLoop::new(&registry, "churn", fair.clone());
    lp.group_column = Some("region".into());
    let f5 = Fired {
        incident: "manual#fair".into(),
        ..fired[0].clone()
    };
    let out = lp.on_fired(&f5, &grouped, &mut step, &mut rollout).unwrap();
    assert!(out.gate.as_ref().unwrap().passed, "{out:?}");
    let gate_rec = audit.records().unwrap();
    let gate_rec = gate_rec
        .iter()
        .rev()
        .find(|r| r.action == "retrain.gate")
        .unwrap();
    let report = gate_rec.payload["report"].to_string();
    assert!(report.contains("demographic parity difference"), "{report}");
    let mut lp = RetrainLoop::new(&registry, "churn", fair);
    let f6 = Fired {
        incident: "manual#unfair".into(),
        ..fired[0].clone()
    };
    let out = lp.on_fired(&f6, &grouped, &mut step, &mut rollout).unwrap();
    assert_eq!(out.stopped.as_deref(), Some("candidate failed the gate"));
    lp.group_column = Some("nope".into());
    let f7 = Fired {
        incident: "manual#nope".into(),
        ..fired[0].clone()
    };
    let err = lp
        .on_fired(&f7, &grouped, &mut step, &mut rollout)
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn a_command_retrain_step_gets_the_data_and_prints_its_candidate() {
    use mlops_deploy::retrain::{CommandStep, RetrainStep};
    let dir = tempfile::tempdir().unwrap();
    let registry = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    let train = features(500, 50, Scenario::default());
    registered_model(&registry, "m", &train);
    let recent = train.select(["x0", "x1", "x2", "label"]).unwrap();
    let fired = Fired {
        policy: "p".into(),
        incident: "p#0".into(),
        window: 0,
        window_profile: None,
        time_ms: None,
        value: None,
        reason: "test".into(),
    };
    let digest = mlops_core::Digest::of_bytes(b"x");
    let req = RetrainRequest {
        fired: &fired,
        model: "m",
        champion_version: Some(1),
        recent: &recent,
        trigger_record: digest,
    };
    // the program sees the recent rows as Parquet and the firing as JSON
    let script = format!(
        r#"test -s "$MLOPS_RECENT_DATA" && test "$MLOPS_MODEL" = m && echo "$MLOPS_TRIGGER" | grep -q '"incident":"p#0"' && echo training... && echo '{{"package": "{digest}", "started_ms": 5}}'"#
    );
    let mut step = CommandStep {
        program: "sh".into(),
        args: vec!["-c".into(), script],
    };
    let c = step.retrain(&req).unwrap();
    assert_eq!(c.package, digest);
    assert_eq!(c.started_ms, Some(5));
    // a failing program: its exit status and the tail of its stderr
    let mut bad = CommandStep {
        program: "sh".into(),
        args: vec!["-c".into(), "echo 'no GPU left' >&2; exit 3".into()],
    };
    let e = bad.retrain(&req).unwrap_err().to_string();
    assert!(e.contains("no GPU left") && e.contains('3'), "{e}");
    // a program that prints something else
    let mut odd = CommandStep {
        program: "sh".into(),
        args: vec!["-c".into(), "echo done".into()],
    };
    assert!(
        odd.retrain(&req)
            .unwrap_err()
            .to_string()
            .contains("not a candidate")
    );
}
