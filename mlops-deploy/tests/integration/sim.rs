//! The evidence as seeded simulations of the same judge code: 2,000 rollouts
//! per scenario (5% baseline, 10% canary traffic, a look every 1,000 requests, horizon
//! 200,000, α = 0.05). `scripts/sim-canary` prints the same figures with more rollouts
//! and their Monte-Carlo standard errors.

use mlops_deploy::judge::JudgeConfig;
use mlops_deploy::judge::sim::{Scenario, SimConfig, simulate};

fn config() -> SimConfig {
    SimConfig {
        reps: 2_000,
        threads: 2,
        ..SimConfig::default()
    }
}

#[test]
fn identical_canaries_are_rolled_back_at_most_alpha_while_a_peeking_z_test_is_not() {
    let r = simulate(&config(), &Scenario::relative("A/A", 0.05, 1.0)).expect("sim");
    assert!(
        r.rollback.value <= 0.05,
        "A/A false rollback {}",
        r.rollback
    );
    // The contrast: a z-test re-run at every look (about 34% at 200 looks).
    assert!(
        r.naive_z_rollback.value > 0.25,
        "peeking z-test {}",
        r.naive_z_rollback
    );
    // One z-test at the horizon holds its level (within 4 SE).
    assert!(r.fixed_horizon_rollback.value <= 0.05 + 4.0 * r.fixed_horizon_rollback.se);
    // The rollouts kept as not rolled back are the first ones, with their end counts.
    let ends = &r.not_rolled_back;
    assert_eq!(ends.len(), 10);
    assert!(ends.windows(2).all(|w| w[0].rep < w[1].rep));
    for e in ends {
        assert_ne!(e.outcome, mlops_deploy::Outcome::Rollback);
        assert!(e.counts.canary.n() > 0 && e.canary_sd_above_truth.is_finite());
    }
}

#[test]
fn twenty_percent_worse_is_always_rolled_back_fast_and_never_promoted() {
    let r = simulate(&config(), &Scenario::relative("-20%", 0.05, 0.8)).expect("sim");
    assert_eq!(r.rollback.value, 1.0, "{r:?}");
    assert!(r.not_rolled_back.is_empty(), "{:?}", r.not_rolled_back);
    let median = r.rollback_time.expect("times").median.value;
    assert!(median <= 40_000.0, "median {median}");
    assert!(r.promote.value <= 0.001, "{}", r.promote);
}

/// Power at 10% worse (about 0.805 against the 0.75) is simulated with 10,000
/// rollouts (Monte-Carlo SE 0.004), since the sweep's settings come within 0.01 of it.
#[test]
fn ten_percent_worse_is_rolled_back_with_power_of_at_least_three_quarters() {
    let c = SimConfig {
        reps: 10_000,
        ..config()
    };
    let r = simulate(&c, &Scenario::relative("-10%", 0.05, 0.9)).expect("sim");
    assert!(r.rollback.value >= 0.75, "power {}", r.rollback);
    assert!(r.promote.value <= 0.005, "wrong promotions {}", r.promote);
}

#[test]
fn ten_percent_better_is_promoted() {
    let r = simulate(&config(), &Scenario::relative("+10%", 0.05, 1.1)).expect("sim");
    assert!(r.promote.value >= 0.95, "{}", r.promote);
    let median = r.promote_time.expect("times").median.value;
    assert!(median <= 80_000.0, "median {median}");
}

#[test]
fn results_do_not_depend_on_threads() {
    let one = SimConfig {
        reps: 200,
        threads: 1,
        ..SimConfig::default()
    };
    let three = SimConfig {
        threads: 3,
        ..one.clone()
    };
    let s = Scenario::relative("-10%", 0.05, 0.9);
    assert_eq!(
        simulate(&one, &s).expect("sim"),
        simulate(&three, &s).expect("sim")
    );
}

#[test]
fn the_horizon_test_keeps_alpha_and_only_adds_rollbacks_at_the_horizon() {
    let pure = SimConfig {
        judge: JudgeConfig {
            horizon_alpha: 0.0,
            ..JudgeConfig::default()
        },
        ..config()
    };
    // (A/A with the horizon test is `identical_canaries_are_rolled_back_at_most_alpha…`.)
    let with = simulate(&config(), &Scenario::relative("-10%", 0.05, 0.9)).expect("sim");
    let without = simulate(&pure, &Scenario::relative("-10%", 0.05, 0.9)).expect("sim");
    assert_eq!(without.horizon_rollback.value, 0.0);
    assert!(
        with.horizon_rollback.value > 0.02,
        "{:?}",
        with.horizon_rollback
    );
    // The sequential part runs at alpha - 0.01, so it decides a little later, but the
    // horizon test more than makes up for it.
    assert!(
        with.rollback.value > without.rollback.value,
        "{:?} vs {:?}",
        with.rollback,
        without.rollback
    );
    for bad in [-0.01, 0.05, 0.2] {
        let c = SimConfig {
            judge: JudgeConfig {
                horizon_alpha: bad,
                ..JudgeConfig::default()
            },
            ..config()
        };
        assert!(simulate(&c, &Scenario::relative("A/A", 0.05, 1.0)).is_err());
    }
}
