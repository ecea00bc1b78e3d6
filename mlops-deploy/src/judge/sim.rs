//! Monte-Carlo simulation of rollouts judged by [`Judge`]: the evidence that its error
//! rates hold while it looks after every batch, and a planning tool ("how long does a
//! 10% harm take to detect at my traffic?").
//!
//! Each simulated rollout draws per look `Binomial(n_canary, p_canary)` and
//! `Binomial(n_control, p_control)` conversions, cumulates them, and feeds the same
//! [`Judge`] the controller uses. On the same paths it also runs, for contrast, a
//! pooled two-proportion z-test re-run at every look (what a dashboard does) and one
//! z-test at the horizon (the fixed-sample test done right).
//!
//! Runs are seeded per replication (`seed`, replication index), so results do not
//! depend on the number of threads, and every scenario sees the same random streams
//! (common random numbers).

use rand_distr::{Binomial, Distribution};
use rand_pcg::Pcg64Mcg;
use rand_pcg::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{Arm, ArmPair, Boundary, Judge, JudgeConfig, Outcome, Verdict, stats};
use crate::error::{Error, Result};

/// A true state of the world: the control's and the canary's rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// A label (`A/A`, `-20%`).
    pub name: String,
    /// Control rate.
    pub control_rate: f64,
    /// Canary rate.
    pub canary_rate: f64,
}

impl Scenario {
    /// A scenario with the canary's rate `relative` times the control's (`0.8` = 20%
    /// worse).
    pub fn relative(name: impl Into<String>, control_rate: f64, relative: f64) -> Self {
        Self {
            name: name.into(),
            control_rate,
            canary_rate: control_rate * relative,
        }
    }
}

/// How the rollouts are simulated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// The judge under test.
    pub judge: JudgeConfig,
    /// Canary share of traffic.
    pub canary_share: f64,
    /// Requests (both arms) between looks.
    pub look_every: u64,
    /// Looks per rollout (the horizon is `looks · look_every`).
    pub looks: u64,
    /// Simulated rollouts per scenario.
    pub reps: u64,
    /// Seed of the random streams.
    pub seed: u64,
    /// Worker threads (results do not depend on it).
    pub threads: usize,
}

impl Default for SimConfig {
    /// The setting: 10% canary, a look every 1,000 requests, 200 looks
    /// (horizon 200,000), 2,000 rollouts.
    fn default() -> Self {
        Self {
            judge: JudgeConfig::default(),
            canary_share: 0.1,
            look_every: 1_000,
            looks: 200,
            reps: 2_000,
            seed: 20_240_601,
            threads: 1,
        }
    }
}

/// A Monte-Carlo estimate with its standard error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// Its Monte-Carlo standard error.
    pub se: f64,
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.4} ({:.4})", self.value, self.se)
    }
}

/// Times to a decision, in total requests, over the rollouts that took it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Times {
    /// Rollouts that took the decision.
    pub count: u64,
    /// Mean requests (SE: sd/√count).
    pub mean: Estimate,
    /// Median requests (SE: bootstrap SD over 200 resamples).
    pub median: Estimate,
}

/// What the simulation of one scenario found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// The scenario.
    pub scenario: Scenario,
    /// Simulated rollouts.
    pub reps: u64,
    /// Share rolled back by the judge (SE √(p(1−p)/R)).
    pub rollback: Estimate,
    /// Share of all rollouts rolled back by the judge's horizon z-test (part of
    /// `rollback`).
    pub horizon_rollback: Estimate,
    /// The first (by replication) few rollouts the judge did **not** roll back, with
    /// their counts at the end: where a harmful canary escaped, how far its observed
    /// rate was from its true one.
    pub not_rolled_back: Vec<PathEnd>,
    /// Share promoted by the judge.
    pub promote: Estimate,
    /// Share undecided at the horizon.
    pub no_decision: Estimate,
    /// Requests to a rollback.
    pub rollback_time: Option<Times>,
    /// Requests to a promotion.
    pub promote_time: Option<Times>,
    /// Share a pooled one-sided z-test re-run at every look would have rolled back.
    pub naive_z_rollback: Estimate,
    /// Median requests to that z-test's rollback.
    pub naive_z_time: Option<Times>,
    /// Share one pooled z-test at the horizon rolls back (it always uses the horizon).
    pub fixed_horizon_rollback: Estimate,
}

/// How one simulated rollout ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathEnd {
    /// Its replication index (with the seed, it replays the path).
    pub rep: u64,
    /// The judge's outcome.
    pub outcome: Outcome,
    /// Cumulative counts of both arms at the decision (or the horizon).
    pub counts: ArmPair,
    /// How many standard deviations the canary's observed rate was above its true
    /// rate: `(x/n − p) / sqrt(p(1−p)/n)`.
    pub canary_sd_above_truth: f64,
}

/// How many rollouts [`ScenarioResult::not_rolled_back`] keeps.
const KEEP_ENDS: usize = 10;

/// The fate of one simulated rollout.
#[derive(Clone, Copy, Debug)]
struct Path {
    judge: Outcome,
    boundary: Option<Boundary>,
    judge_at: u64,
    naive_at: Option<u64>,
    fixed_rollback: bool,
    /// Cumulative (control, canary) counts at the judge's decision (or the horizon).
    end: ArmPair,
}

fn rate(hits: u64, reps: u64) -> Estimate {
    let p = hits as f64 / reps as f64;
    Estimate {
        value: p,
        se: (p * (1.0 - p) / reps as f64).sqrt(),
    }
}

fn times(mut t: Vec<u64>, seed: u64) -> Option<Times> {
    if t.is_empty() {
        return None;
    }
    t.sort_unstable();
    let k = t.len();
    let mean = t.iter().map(|&x| x as f64).sum::<f64>() / k as f64;
    let var = if k > 1 {
        t.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (k - 1) as f64
    } else {
        0.0
    };
    let median = |s: &[u64]| -> f64 {
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2] as f64
        } else {
            0.5 * (s[n / 2 - 1] + s[n / 2]) as f64
        }
    };
    let m = median(&t);
    // Bootstrap SD of the median.
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0x6d65_6469_616e);
    let pick = rand_distr::Uniform::new(0, k).ok()?;
    let mut boot = Vec::with_capacity(200);
    let mut sample = vec![0u64; k];
    for _ in 0..200 {
        for slot in sample.iter_mut() {
            *slot = t[pick.sample(&mut rng)];
        }
        sample.sort_unstable();
        boot.push(median(&sample));
    }
    let bm = boot.iter().sum::<f64>() / boot.len() as f64;
    let bsd = (boot.iter().map(|x| (x - bm).powi(2)).sum::<f64>() / (boot.len() - 1) as f64).sqrt();
    Some(Times {
        count: k as u64,
        mean: Estimate {
            value: mean,
            se: (var / k as f64).sqrt(),
        },
        median: Estimate { value: m, se: bsd },
    })
}

/// Seed of replication `rep` (SplitMix64 of the pair, so neighbouring seeds differ in
/// every bit).
fn rep_seed(seed: u64, rep: u64) -> u64 {
    let mut z = seed.wrapping_add(rep.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn bad(field: &str, reason: String) -> Error {
    Error::InvalidConfig {
        field: field.to_string(),
        reason,
    }
}

/// Simulates `config.reps` rollouts of `scenario`.
pub fn simulate(config: &SimConfig, scenario: &Scenario) -> Result<ScenarioResult> {
    if !(config.canary_share > 0.0 && config.canary_share < 1.0) {
        return Err(bad(
            "canary_share",
            format!("must be in (0, 1), got {}", config.canary_share),
        ));
    }
    for (name, p) in [
        ("control_rate", scenario.control_rate),
        ("canary_rate", scenario.canary_rate),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(bad(name, format!("must be in [0, 1], got {p}")));
        }
    }
    if config.reps == 0 || config.looks == 0 || config.look_every == 0 {
        return Err(bad("reps/looks/look_every", "must all be > 0".into()));
    }
    let n_canary = (config.look_every as f64 * config.canary_share).round() as u64;
    let n_control = config.look_every - n_canary;
    if n_canary == 0 || n_control == 0 {
        return Err(bad(
            "canary_share",
            "leaves an arm without requests per look".into(),
        ));
    }
    let mut judge_config = config.judge.clone();
    judge_config.guardrails.clear();
    judge_config.horizon = Some(config.looks * config.look_every);
    Judge::new(judge_config.clone())?;
    let canary_draw = Binomial::new(n_canary, scenario.canary_rate)
        .map_err(|e| bad("canary_rate", e.to_string()))?;
    let control_draw = Binomial::new(n_control, scenario.control_rate)
        .map_err(|e| bad("control_rate", e.to_string()))?;
    let z_crit = stats::normal_upper_quantile(judge_config.alpha);
    let sign = judge_config.metric.sign();

    let run = |rep: u64| -> Result<Path> {
        let mut rng = Pcg64Mcg::seed_from_u64(rep_seed(config.seed, rep));
        let mut judge = Judge::new(judge_config.clone())?;
        let (mut xc, mut xb) = (0u64, 0u64);
        let mut decided: Option<(Outcome, u64)> = None;
        let mut boundary = None;
        let mut end = ArmPair::new(Arm::proportion(0, 0), Arm::proportion(0, 0));
        let mut naive_at = None;
        let mut fixed_rollback = false;
        for look in 1..=config.looks {
            xc += canary_draw.sample(&mut rng);
            xb += control_draw.sample(&mut rng);
            let (nc, nb) = (n_canary * look, n_control * look);
            let z = {
                let p = (xc + xb) as f64 / (nc + nb) as f64;
                let s2 = p * (1.0 - p) * (1.0 / nc as f64 + 1.0 / nb as f64);
                let d = sign * (xc as f64 / nc as f64 - xb as f64 / nb as f64);
                if s2 > 0.0 { d / s2.sqrt() } else { 0.0 }
            };
            if naive_at.is_none() && z <= -z_crit {
                naive_at = Some(look * config.look_every);
            }
            if look == config.looks {
                fixed_rollback = z <= -z_crit;
            }
            if decided.is_none() {
                let pair = ArmPair::new(Arm::proportion(nb, xb), Arm::proportion(nc, xc));
                end = pair;
                if let Verdict::Decided(d) = judge.observe(look, pair, &[])? {
                    decided = Some((d.outcome, look * config.look_every));
                    boundary = Some(d.boundary);
                }
            }
        }
        let (judge_outcome, judge_at) =
            decided.unwrap_or((Outcome::NoDecision, config.looks * config.look_every));
        Ok(Path {
            judge: judge_outcome,
            boundary,
            judge_at,
            naive_at,
            fixed_rollback,
            end,
        })
    };

    let threads = config.threads.max(1) as u64;
    let chunk = config.reps.div_ceil(threads);
    let paths: Vec<Path> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let run = &run;
                scope.spawn(move || {
                    let start = t * chunk;
                    let end = ((t + 1) * chunk).min(config.reps);
                    (start..end).map(run).collect::<Result<Vec<Path>>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(config.reps as usize);
        for h in handles {
            match h.join() {
                Ok(part) => all.extend(part?),
                Err(_) => return Err(bad("threads", "a simulation thread panicked".into())),
            }
        }
        Ok(all)
    })?;

    let reps = config.reps;
    let count = |o: Outcome| paths.iter().filter(|p| p.judge == o).count() as u64;
    let at = |o: Outcome| {
        paths
            .iter()
            .filter(|p| p.judge == o)
            .map(|p| p.judge_at)
            .collect::<Vec<_>>()
    };
    Ok(ScenarioResult {
        scenario: scenario.clone(),
        reps,
        rollback: rate(count(Outcome::Rollback), reps),
        not_rolled_back: paths
            .iter()
            .enumerate()
            .filter(|(_, p)| p.judge != Outcome::Rollback)
            .take(KEEP_ENDS)
            .map(|(rep, p)| {
                let (n, q) = (p.end.canary.n() as f64, scenario.canary_rate);
                PathEnd {
                    rep: rep as u64,
                    outcome: p.judge,
                    counts: p.end,
                    canary_sd_above_truth: (p.end.canary.estimate() - q)
                        / (q * (1.0 - q) / n).sqrt(),
                }
            })
            .collect(),
        horizon_rollback: rate(
            paths
                .iter()
                .filter(|p| p.boundary == Some(Boundary::HorizonHarm))
                .count() as u64,
            reps,
        ),
        promote: rate(count(Outcome::Promote), reps),
        no_decision: rate(count(Outcome::NoDecision), reps),
        rollback_time: times(at(Outcome::Rollback), config.seed),
        promote_time: times(at(Outcome::Promote), config.seed),
        naive_z_rollback: rate(
            paths.iter().filter(|p| p.naive_at.is_some()).count() as u64,
            reps,
        ),
        naive_z_time: times(
            paths.iter().filter_map(|p| p.naive_at).collect(),
            config.seed,
        ),
        fixed_horizon_rollback: rate(
            paths.iter().filter(|p| p.fixed_rollback).count() as u64,
            reps,
        ),
    })
}
