//! `sim-canary`: Monte-Carlo evidence for the canary judge (run it through
//! `scripts/sim-canary`).
//!
//! The issue's setting: baseline click-through 5%, canary 10% of traffic, a look every
//! 1,000 requests, horizon 200,000, α = 0.05, the judge's defaults. Six scenarios
//! (A/A, ±5%, ±10%, −20%), each with `--reps` rollouts (default 10,000), every rate with
//! its Monte-Carlo standard error, then the issue's targets checked one by one (exit 1
//! if one fails).
//!
//! ```text
//! sim_canary [--reps N] [--seed S] [--threads T] [--tau X] [--margin M] [--min-samples N]
//!            [--horizon-alpha A] [--json]
//! ```
//!
//! `--horizon-alpha A` sets the part of `α` the judge keeps for its z-test at the
//! horizon (default 0.01); `--horizon-alpha 0` simulates the purely sequential test.

use std::process::ExitCode;

use mlops_deploy::judge::sim::{Estimate, Scenario, ScenarioResult, SimConfig, Times, simulate};

fn arg(args: &[String], name: &str) -> Result<Option<u64>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse::<u64>()
            .map(Some)
            .map_err(|e| format!("{name}: {e}")),
    }
}

fn argf(args: &[String], name: &str) -> Result<Option<f64>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse::<f64>()
            .map(Some)
            .map_err(|e| format!("{name}: {e}")),
    }
}

fn k(t: &Option<Times>) -> String {
    match t {
        Some(t) => format!("{:.1}k ({:.1})", t.median.value / 1e3, t.median.se / 1e3),
        None => "-".into(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| -> Result<SimConfig, String> {
        let mut c = SimConfig {
            reps: 10_000,
            ..SimConfig::default()
        };
        if let Some(r) = arg(&args, "--reps")? {
            c.reps = r;
        }
        if let Some(s) = arg(&args, "--seed")? {
            c.seed = s;
        }
        if let Some(t) = argf(&args, "--tau")? {
            c.judge.tau = t;
        }
        if let Some(m) = argf(&args, "--margin")? {
            c.judge.margin = m;
        }
        if let Some(t) = arg(&args, "--threads")? {
            c.threads = t as usize;
        }
        if let Some(m) = arg(&args, "--min-samples")? {
            c.judge.min_samples = m;
        }
        if let Some(a) = argf(&args, "--horizon-alpha")? {
            c.judge.horizon_alpha = a;
        }
        Ok(c)
    })();
    let config = match parsed {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let json = args.iter().any(|a| a == "--json");
    let p0 = 0.05;
    let scenarios = [
        Scenario::relative("A/A", p0, 1.0),
        Scenario::relative("+5%", p0, 1.05),
        Scenario::relative("+10%", p0, 1.10),
        Scenario::relative("-5%", p0, 0.95),
        Scenario::relative("-10%", p0, 0.90),
        Scenario::relative("-20%", p0, 0.80),
    ];
    let mut results: Vec<ScenarioResult> = Vec::new();
    for s in &scenarios {
        match simulate(&config, s) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if json {
        match serde_json::to_string_pretty(&results) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let j = &config.judge;
    println!(
        "canary judge: alpha={} (horizon z-test {}) tau={} margin={} min_samples={} | canary share {} | look every {} | horizon {} | {} rollouts per scenario, seed {}",
        j.alpha,
        j.horizon_alpha,
        j.tau,
        j.margin,
        j.min_samples,
        config.canary_share,
        config.look_every,
        config.looks * config.look_every,
        config.reps,
        config.seed
    );
    println!("rates as value (Monte-Carlo SE); times are total requests, median (bootstrap SE)\n");
    println!(
        "| scenario | p canary | rollback | of which at horizon | median T rollback | promote | median T promote | no decision | z-test every look: rollback | its median T | fixed-horizon z @200k: rollback |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.4} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario.name,
            r.scenario.canary_rate,
            r.rollback,
            r.horizon_rollback,
            k(&r.rollback_time),
            r.promote,
            k(&r.promote_time),
            r.no_decision,
            r.naive_z_rollback,
            k(&r.naive_z_time),
            r.fixed_horizon_rollback
        );
    }
    let by = |name: &str| results.iter().find(|r| r.scenario.name == name);
    let (Some(aa), Some(w20), Some(w10), Some(b10)) =
        (by("A/A"), by("-20%"), by("-10%"), by("+10%"))
    else {
        return ExitCode::from(2);
    };
    let median = |t: &Option<Times>| t.map(|t| t.median.value).unwrap_or(f64::INFINITY);
    let e = |x: &Estimate| format!("{x}");
    let checks = [
        (
            format!(
                "A/A rolled back at most alpha: {} <= {}",
                e(&aa.rollback),
                j.alpha
            ),
            aa.rollback.value <= j.alpha,
        ),
        (
            format!(
                "z-test re-run every look exceeds alpha on A/A: {} > {}",
                e(&aa.naive_z_rollback),
                j.alpha
            ),
            aa.naive_z_rollback.value > j.alpha,
        ),
        (
            format!(
                "20% worse rolled back in every run: {} of {}",
                (w20.rollback.value * w20.reps as f64).round(),
                w20.reps
            ),
            w20.rollback.value == 1.0,
        ),
        (
            format!(
                "20% worse median requests <= 40,000: {}",
                k(&w20.rollback_time)
            ),
            median(&w20.rollback_time) <= 40_000.0,
        ),
        (
            format!("10% worse power >= 0.75: {}", e(&w10.rollback)),
            w10.rollback.value >= 0.75,
        ),
        (
            format!("10% better promoted >= 95%: {}", e(&b10.promote)),
            b10.promote.value >= 0.95,
        ),
        (
            format!(
                "10% better median requests <= 80,000: {}",
                k(&b10.promote_time)
            ),
            median(&b10.promote_time) <= 80_000.0,
        ),
        (
            format!("20% worse promoted <= 0.1%: {}", e(&w20.promote)),
            w20.promote.value <= 0.001,
        ),
    ];
    println!();
    let mut ok = true;
    for (what, pass) in &checks {
        println!("{} {what}", if *pass { "PASS" } else { "FAIL" });
        ok &= pass;
    }
    // Where a 20%-worse canary escaped: its path, replayable by rep and seed.
    for m in &w20.not_rolled_back {
        let c = &m.counts.canary;
        println!(
            "  -20% rollout {} ended {} at {} requests: canary {:.5} (n={}) against a true {:.4}, {:+.1} SD, control {:.5}",
            m.rep,
            m.outcome.as_str(),
            m.counts.control.n() + c.n(),
            c.estimate(),
            c.n(),
            w20.scenario.canary_rate,
            m.canary_sd_above_truth,
            m.counts.control.estimate()
        );
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
