//! Trigger policies: k consecutive windows, hysteresis, cooldown, deduplication.

use mlops_core::Digest;
use mlops_deploy::monitor::{CovariateShift, Health, Shifts, WindowDrift};
use mlops_deploy::{Rule, TriggerEngine, TriggerPolicy, WindowReport};

fn window(index: usize, share: f64, end_ms: i64) -> WindowReport {
    WindowReport {
        index,
        complete: true,
        rows: 100,
        first_row: None,
        start_ms: Some(end_ms - 10),
        end_ms: Some(end_ms),
        profile_digest: Digest::of_bytes(&index.to_le_bytes()),
        drift: WindowDrift {
            share,
            n_tested: 10,
            n_drifted: (share * 10.0) as usize,
            dataset_drift: share >= 0.5,
            columns: vec![],
        },
        prediction_drift: None,
        health: Health {
            requests: 100,
            errors: 0,
            server_errors: 0,
            error_rate: 0.0,
            latency_ms: None,
        },
        quality: None,
        shifts: Shifts {
            covariate: CovariateShift {
                share,
                drifted_columns: vec![],
                shifted: share >= 0.5,
            },
            label: None,
            concept: None,
        },
        revision: 0,
    }
}

fn fire(engine: &mut TriggerEngine, shares: &[f64]) -> Vec<usize> {
    shares
        .iter()
        .enumerate()
        .flat_map(|(i, s)| engine.observe(&window(i, *s, 1000 * i as i64)))
        .map(|f| f.window)
        .collect()
}

#[test]
fn drift_share_needs_k_consecutive_windows_and_fires_once_per_incident() {
    let p = TriggerPolicy::new(
        "drift",
        Rule::DriftShare {
            above: 0.3,
            windows: 2,
            clear_below: Some(0.1),
        },
    );
    let mut e = TriggerEngine::new(vec![p]).unwrap();
    // one window above: nothing; two in a row: fires at the second; staying above
    // (or in the band 0.1..0.3) does not fire again; below 0.1 clears; a new run of
    // two fires again
    let fired = fire(
        &mut e,
        &[0.4, 0.0, 0.4, 0.5, 0.6, 0.2, 0.5, 0.5, 0.05, 0.5, 0.5],
    );
    assert_eq!(fired, [3, 10]);
}

#[test]
fn cooldown_holds_back_a_new_incident() {
    let mut p = TriggerPolicy::new(
        "drift",
        Rule::DriftShare {
            above: 0.3,
            windows: 1,
            clear_below: None,
        },
    );
    p.cooldown_ms = 5_000;
    let mut e = TriggerEngine::new(vec![p]).unwrap();
    // fires at 0 s; clears at 1 s; above again at 2 s..4 s is within the cooldown;
    // at 5 s it may fire
    let fired = fire(&mut e, &[0.5, 0.0, 0.5, 0.5, 0.5, 0.5]);
    assert_eq!(fired, [0, 5]);
    let inc: Vec<String> = Vec::new();
    assert!(inc.is_empty());
}

#[test]
fn schedule_manual_and_policy_files() {
    let text = r#"[
        {"name": "weekly", "rule": "schedule", "every_ms": 3000},
        {"name": "by-hand", "rule": "manual"},
        {"name": "x0", "rule": "feature_drifted", "column": "x0", "windows": 1},
        {"name": "auc", "rule": "quality_below", "metric": "roc_auc", "below": 0.7}
    ]"#;
    let policies = TriggerPolicy::list_from_json(text).unwrap();
    assert_eq!(policies.len(), 4);
    let mut e = TriggerEngine::new(policies).unwrap();
    let fired = fire(&mut e, &[0.0; 8]);
    assert_eq!(fired, [3, 6], "every 3 s of log time");
    let f = e
        .manual("by-hand", "release of new features", Some(9_000))
        .unwrap();
    assert_eq!(f.policy, "by-hand");
    assert!(e.manual("nobody", "", None).is_err());
    // policy files with mistakes are typed errors that say what
    assert!(TriggerPolicy::list_from_json(r#"[{"name": "a", "rule": "sometimes"}]"#).is_err());
    let dup = TriggerPolicy::list_from_json(
        r#"[{"name": "a", "rule": "manual"}, {"name": "a", "rule": "manual"}]"#,
    )
    .unwrap();
    assert!(
        TriggerEngine::new(dup)
            .unwrap_err()
            .to_string()
            .contains("\"a\"")
    );
    let bad =
        TriggerPolicy::list_from_json(r#"{"name": "b", "rule": "drift_share", "above": 2.0}"#)
            .unwrap();
    assert!(TriggerEngine::new(bad).is_err());
}
