//! The judge against the SciPy reference (`scripts/vectors/judge_vectors.py`), plus its
//! invariants as properties.

use mlops_deploy::judge::stats;
use mlops_deploy::{
    Arm, ArmPair, Boundary, Guardrail, Judge, JudgeConfig, MetricSpec, Outcome, Verdict,
};
use proptest::prelude::*;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/judge_vectors.json");
    let text = std::fs::read_to_string(path)
        .expect("judge_vectors.json (scripts/vectors/judge_vectors.py)");
    serde_json::from_str(&text).expect("vectors parse")
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[track_caller]
fn close(got: f64, want: f64, rel: f64, what: &str) {
    let tol = rel * want.abs().max(1e-300);
    assert!(
        (got - want).abs() <= tol || (got == want),
        "{what}: got {got:e}, want {want:e} (diff {:e})",
        (got - want).abs()
    );
}

#[test]
fn ln_norm_cdf_matches_scipy_log_ndtr() {
    for case in vectors()["ln_norm_cdf"].as_array().expect("array") {
        let x = f(case, "x");
        close(
            stats::ln_norm_cdf(x),
            f(case, "value"),
            1e-9,
            &format!("log_ndtr({x})"),
        );
    }
}

#[test]
fn mixture_statistics_match_reference() {
    for case in vectors()["mixtures"].as_array().expect("array") {
        let (d, s2, tau) = (f(case, "d"), f(case, "s2"), f(case, "tau"));
        let what = format!("d={d} s2={s2} tau={tau}");
        close(
            stats::ln_normal_mixture(d, s2, tau),
            f(case, "ln_normal"),
            1e-9,
            &what,
        );
        close(
            stats::ln_half_normal_below(d, s2, tau),
            f(case, "ln_below"),
            1e-9,
            &what,
        );
        close(
            stats::ln_half_normal_above(d, s2, tau),
            f(case, "ln_above"),
            1e-9,
            &what,
        );
    }
}

#[test]
fn confidence_sequence_radius_matches_brentq() {
    for case in vectors()["cs_radius"].as_array().expect("array") {
        let (s2, tau, alpha) = (f(case, "s2"), f(case, "tau"), f(case, "alpha"));
        close(
            stats::half_normal_cs_radius(s2, tau, alpha),
            f(case, "radius"),
            1e-9,
            &format!("radius s2={s2} tau={tau} alpha={alpha}"),
        );
    }
    for case in vectors()["normal_upper_quantile"]
        .as_array()
        .expect("array")
    {
        let a = f(case, "alpha");
        close(
            stats::normal_upper_quantile(a),
            f(case, "value"),
            1e-9,
            &format!("isf({a})"),
        );
    }
}

fn arm(kind: &str, v: &Value) -> Arm {
    let a = v.as_array().expect("arm");
    let n = a[0].as_u64().expect("n");
    if kind == "proportion" {
        Arm::proportion(n, a[1].as_u64().expect("successes"))
    } else {
        Arm::mean(
            n,
            a[1].as_f64().expect("sum"),
            a[2].as_f64().expect("sum_sq"),
        )
    }
}

fn config_of(c: &Value) -> JudgeConfig {
    let kind = c["kind"].as_str().expect("kind");
    let mut metric = if kind == "proportion" {
        MetricSpec::proportion("m")
    } else {
        MetricSpec::mean("m")
    };
    metric.higher_is_better = c["higher_is_better"].as_bool().expect("direction");
    JudgeConfig {
        metric,
        alpha: f(c, "alpha"),
        tau: f(c, "tau"),
        margin: f(c, "margin"),
        min_samples: c["min_samples"].as_u64().expect("min"),
        horizon: c["horizon"].as_u64(),
        horizon_alpha: f(c, "horizon_alpha"),
        ..JudgeConfig::default()
    }
}

#[test]
fn whole_streams_decide_like_the_reference() {
    let v = vectors();
    let mut outcomes = std::collections::BTreeMap::new();
    for s in v["streams"].as_array().expect("streams") {
        let name = s["name"].as_str().expect("name");
        let cfg = config_of(&s["config"]);
        let kind = s["config"]["kind"].as_str().expect("kind");
        let mut judge = Judge::new(cfg).expect("config");
        let mut decision = None;
        for look in s["looks"].as_array().expect("looks") {
            let pair = ArmPair::new(arm(kind, &look["control"]), arm(kind, &look["canary"]));
            let n = look["look"].as_u64().expect("look");
            if let Verdict::Decided(d) = judge.observe(n, pair, &[]).expect("valid look") {
                decision = Some(d);
                break;
            }
        }
        let want = &s["expected"];
        let d = decision.unwrap_or_else(|| panic!("{name}: no decision, reference {want}"));
        assert_eq!(
            d.outcome.as_str(),
            want["decision"].as_str().expect("decision"),
            "{name}"
        );
        assert_eq!(d.look, want["look"].as_u64().expect("look"), "{name}");
        assert_eq!(
            serde_json::to_value(d.boundary).expect("boundary"),
            want["boundary"],
            "{name}"
        );
        assert_eq!(
            d.control_n,
            want["control_n"].as_u64().expect("n"),
            "{name}"
        );
        assert_eq!(d.canary_n, want["canary_n"].as_u64().expect("n"), "{name}");
        close(d.estimate, f(want, "estimate"), 1e-9, name);
        close(d.p_value, f(want, "p_value"), 1e-9, name);
        close(d.p_harm, f(want, "p_harm"), 1e-9, name);
        close(d.p_promote, f(want, "p_promote"), 1e-9, name);
        close(d.ci[0], want["ci"][0].as_f64().expect("lo"), 1e-9, name);
        close(d.ci[1], want["ci"][1].as_f64().expect("hi"), 1e-9, name);
        *outcomes.entry(format!("{:?}", d.boundary)).or_insert(0) += 1;
    }
    // The vectors exercise every boundary of the primary metric.
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
}

fn p(n: u64, x: u64) -> Arm {
    Arm::proportion(n, x)
}

#[test]
fn rollback_wins_a_tie_and_decisions_stick() {
    // A huge margin makes the promotion test cross at the same look as the harm test.
    let cfg = JudgeConfig {
        margin: 0.5,
        ..JudgeConfig::default()
    };
    let mut j = Judge::new(cfg).expect("config");
    let pair = ArmPair::new(p(90_000, 4_500), p(10_000, 300));
    let Verdict::Decided(d) = j.observe(1, pair, &[]).expect("look") else {
        panic!("expected a decision")
    };
    assert_eq!((d.outcome, d.boundary), (Outcome::Rollback, Boundary::Harm));
    assert!(d.p_promote < 0.05, "the promotion test crossed too: {d:?}");
    // Later looks return the same decision, even with other data.
    let again = j
        .observe(2, ArmPair::new(p(1, 1), p(1, 1)), &[])
        .expect("look");
    assert_eq!(again, Verdict::Decided(d));
}

#[test]
fn minimum_sample_and_zero_variance_hold_decisions_back() {
    let cfg = JudgeConfig {
        min_samples: 1_000,
        ..JudgeConfig::default()
    };
    let mut j = Judge::new(cfg).expect("config");
    // Overwhelming harm, but only 999 canary requests.
    let v = j
        .observe(1, ArmPair::new(p(9_000, 900), p(999, 0)), &[])
        .expect("look");
    assert!(
        matches!(v, Verdict::Continue(ref pr) if !pr.warmed_up),
        "{v:?}"
    );
    let v = j
        .observe(2, ArmPair::new(p(9_000, 900), p(1_000, 0)), &[])
        .expect("look");
    assert!(
        matches!(v, Verdict::Decided(ref d) if d.outcome == Outcome::Rollback),
        "{v:?}"
    );
    // No events in either arm: the variance is zero, nothing is decided.
    let mut j = Judge::new(JudgeConfig::default()).expect("config");
    let v = j
        .observe(1, ArmPair::new(p(9_000, 0), p(1_000, 0)), &[])
        .expect("look");
    assert!(matches!(v, Verdict::Continue(_)), "{v:?}");
}

#[test]
fn guardrail_rolls_back_on_its_own_and_horizon_gives_the_configured_action() {
    let cfg = JudgeConfig {
        guardrails: vec![Guardrail {
            metric: MetricSpec::proportion("errors").lower_is_better(),
            alpha: 0.01,
            tau: 0.01,
            min_samples: 100,
        }],
        no_decision: mlops_deploy::NoDecisionAction::Manual,
        horizon: Some(20_000),
        ..JudgeConfig::default()
    };
    let mut j = Judge::new(cfg.clone()).expect("config");
    let same = ArmPair::new(p(9_000, 450), p(1_000, 50));
    let errors = ArmPair::new(p(9_000, 9), p(1_000, 40));
    let Verdict::Decided(d) = j.observe(1, same, &[errors]).expect("look") else {
        panic!("guardrail should decide")
    };
    assert_eq!(
        (d.outcome, d.boundary, d.metric.as_str()),
        (Outcome::Rollback, Boundary::Guardrail, "errors")
    );
    assert!(d.estimate > 0.0 && d.ci[0] > 0.0, "error rate up: {d:?}");

    let mut j = Judge::new(cfg).expect("config");
    let quiet = ArmPair::new(p(9_000, 9), p(1_000, 1));
    assert!(matches!(
        j.observe(1, same, &[quiet]).expect("look"),
        Verdict::Continue(_)
    ));
    let end = ArmPair::new(p(18_000, 900), p(2_000, 100));
    let Verdict::Decided(d) = j.observe(2, end, &[quiet]).expect("look") else {
        panic!("horizon should decide")
    };
    assert_eq!(d.outcome, Outcome::NoDecision);
    assert_eq!(d.action, Some(mlops_deploy::NoDecisionAction::Manual));
}

#[test]
fn bad_looks_are_typed_errors_that_name_the_problem() {
    let mut j = Judge::new(JudgeConfig::default()).expect("config");
    let e = j
        .observe(1, ArmPair::new(p(10, 11), p(10, 1)), &[])
        .expect_err("successes > n");
    assert!(e.to_string().contains("successes 11 > n 10"), "{e}");
    j.observe(2, ArmPair::new(p(100, 5), p(100, 5)), &[])
        .expect("look");
    let e = j
        .observe(2, ArmPair::new(p(200, 5), p(200, 5)), &[])
        .expect_err("same look");
    assert!(e.to_string().contains("looks must increase"), "{e}");
    let e = j
        .observe(3, ArmPair::new(p(50, 5), p(200, 5)), &[])
        .expect_err("shrank");
    assert!(e.to_string().contains("cumulative"), "{e}");
    let e = j
        .observe(4, ArmPair::new(Arm::mean(300, 1.0, 1.0), p(300, 5)), &[])
        .expect_err("kind");
    assert!(
        e.to_string().contains("Mean data for a Proportion metric"),
        "{e}"
    );
    for bad in [
        JudgeConfig {
            alpha: 1.5,
            ..JudgeConfig::default()
        },
        JudgeConfig {
            tau: 0.0,
            ..JudgeConfig::default()
        },
        JudgeConfig {
            margin: f64::NAN,
            ..JudgeConfig::default()
        },
        JudgeConfig {
            horizon_alpha: 0.05,
            ..JudgeConfig::default()
        },
        JudgeConfig {
            horizon_alpha: -0.001,
            ..JudgeConfig::default()
        },
    ] {
        let e = Judge::new(bad).expect_err("invalid config");
        assert!(e.to_string().starts_with("invalid configuration: "), "{e}");
    }
    let e = Judge::new(JudgeConfig {
        horizon_alpha: 0.2,
        ..JudgeConfig::default()
    })
    .expect_err("horizon_alpha above alpha");
    assert!(e.to_string().contains("horizon_alpha"), "{e}");
}

/// Counts at 2,000 requests whose pooled z-statistic is about -2.76: past the horizon
/// test's boundary at 0.01 (z 2.33), far from the sequential boundary at 0.04.
fn z_minus_2_76() -> ArmPair {
    ArmPair::new(p(1_800, 180), p(200, 8))
}

#[test]
fn the_horizon_test_is_taken_once_at_the_horizon_and_spends_only_its_share() {
    let pair = z_minus_2_76();
    let cfg = JudgeConfig {
        horizon: Some(2_000),
        ..JudgeConfig::default()
    };
    let mut j = Judge::new(cfg.clone()).expect("config");
    let Verdict::Decided(d) = j.observe(1, pair, &[]).expect("look") else {
        panic!("the horizon should decide")
    };
    assert_eq!(
        (d.outcome, d.boundary),
        (Outcome::Rollback, Boundary::HorizonHarm)
    );
    // Pooled z = d / s; the reported p-value is the horizon test's, scaled to alpha.
    let (pb, pc) = (0.1, 0.04);
    let pool = 188.0 / 2_000.0;
    let z = (pc - pb) / (pool * (1.0f64 - pool) * (1.0 / 1_800.0 + 1.0 / 200.0)).sqrt();
    assert!(z < -2.7 && z > -2.8, "z {z}");
    let p_z = stats::ln_norm_cdf(z).exp();
    close(d.p_value, p_z * 0.05 / 0.01, 1e-12, "p");
    assert!(d.p_value <= d.alpha);
    close(
        d.threshold,
        stats::normal_upper_quantile(0.01),
        1e-12,
        "z boundary",
    );

    // Before the horizon the same counts decide nothing, and the sequential part's
    // p-value is scaled by alpha / (alpha - horizon_alpha).
    let mut j = Judge::new(JudgeConfig {
        horizon: Some(4_000),
        ..cfg.clone()
    })
    .expect("config");
    let Verdict::Continue(pr) = j.observe(1, pair, &[]).expect("look") else {
        panic!("nothing before the horizon")
    };
    assert!(pr.p_harm > 0.05, "{pr:?}");
    let snap = j.snapshot().expect("snapshot");
    close(snap.threshold, 1.0 / 0.04, 1e-12, "sequential boundary");

    // With no share kept for the horizon, the horizon is a plain no decision.
    let mut j = Judge::new(JudgeConfig {
        horizon_alpha: 0.0,
        ..cfg.clone()
    })
    .expect("config");
    let Verdict::Decided(d) = j.observe(1, pair, &[]).expect("look") else {
        panic!("the horizon should decide")
    };
    assert_eq!(
        (d.outcome, d.boundary),
        (Outcome::NoDecision, Boundary::Horizon)
    );
    assert!(d.p_value > 0.05);
    close(d.threshold, 1.0 / 0.05, 1e-12, "full alpha");

    // Without a horizon the sequential test keeps all of alpha.
    let mut j = Judge::new(JudgeConfig {
        horizon: None,
        ..cfg
    })
    .expect("config");
    j.observe(1, pair, &[]).expect("look");
    close(
        j.snapshot().expect("snapshot").threshold,
        1.0 / 0.05,
        1e-12,
        "no horizon",
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The promotion test is exactly "the CS lower bound clears −margin".
    #[test]
    fn promotion_test_is_the_confidence_sequence(
        d in -0.05f64..0.05, s2 in 1e-7f64..1e-3, tau in 0.001f64..0.05,
        margin in 0.0f64..0.01, alpha in 0.01f64..0.2,
    ) {
        let r = stats::half_normal_cs_radius(s2, tau, alpha);
        let ln = stats::ln_half_normal_above(d + margin, s2, tau);
        let gap = (d - r + margin) / s2.sqrt();
        prop_assume!(gap.abs() > 1e-9);
        prop_assert_eq!(ln >= (1.0 / alpha).ln(), gap > 0.0);
    }

    /// The half-normal statistic grows with the evidence of harm.
    #[test]
    fn harm_statistic_is_monotone(d in -0.05f64..0.05, step in 1e-6f64..0.01, s2 in 1e-7f64..1e-3, tau in 0.001f64..0.05) {
        let a = stats::ln_half_normal_below(d, s2, tau);
        let b = stats::ln_half_normal_below(d - step, s2, tau);
        prop_assert!(b >= a - 1e-12 * a.abs().max(1.0), "{b} < {a}");
    }

    /// Counting failures instead of successes with the direction flipped decides the
    /// same way at the same look with the mirrored numbers.
    #[test]
    fn direction_flip_mirrors_the_decision(
        rates in (0.01f64..0.2, 0.5f64..1.5), looks in 5u64..60, seed in 0u64..1_000,
    ) {
        let (p0, rel) = rates;
        let p1 = (p0 * rel).min(0.99);
        let up = JudgeConfig { horizon: Some(looks * 1_000), tau: 0.01, ..JudgeConfig::default() };
        let down = JudgeConfig { metric: MetricSpec::proportion("conversion").lower_is_better(), ..up.clone() };
        let (mut a, mut b) = (Judge::new(up).expect("cfg"), Judge::new(down).expect("cfg"));
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let mut next = |p: f64, n: u64| -> u64 {
            (0..n).filter(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 11) as f64 / (1u64 << 53) as f64) < p
            }).count() as u64
        };
        let (mut xb, mut xc) = (0, 0);
        for look in 1..=looks {
            xb += next(p0, 900);
            xc += next(p1, 100);
            let (nb, nc) = (900 * look, 100 * look);
            let va = a.observe(look, ArmPair::new(p(nb, xb), p(nc, xc)), &[]).expect("look");
            let vb = b.observe(look, ArmPair::new(p(nb, nb - xb), p(nc, nc - xc)), &[]).expect("look");
            match (va, vb) {
                (Verdict::Decided(x), Verdict::Decided(y)) => {
                    prop_assert_eq!((x.outcome, x.look), (y.outcome, y.look));
                    prop_assert!((x.estimate + y.estimate).abs() < 1e-12);
                    prop_assert!((x.ci[0] + y.ci[1]).abs() < 1e-12);
                    break;
                }
                (Verdict::Continue(_), Verdict::Continue(_)) => {}
                (x, y) => prop_assert!(false, "diverged at look {}: {:?} vs {:?}", look, x, y),
            }
        }
    }
}
