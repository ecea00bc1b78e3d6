//! `mlops judge`: judges offline canary streams with the same sequential judge the
//! rollout controller uses (`mlops_deploy::judge`).
//!
//! Input is a CSV of cumulative counts per stream and look:
//! `stream,look,control_n,control_successes,canary_n,canary_successes` for
//! `--metric proportion`, `stream,look,control_n,control_sum,control_sum_sq,canary_n,
//! canary_sum,canary_sum_sq` for `--metric mean`. Each stream is judged look by look; the
//! decision is the one taken at the first look where a boundary is crossed; a stream
//! that ends (or reaches the horizon) undecided is `no_decision` with the numbers of
//! its last look. Later looks of a decided stream are read and checked, then ignored.
//!
//! Exit codes: 0 no stream rolled back, 1 at least one rolled back, 2 an error (the
//! message names the line and column).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use mlops_deploy::{Arm, ArmPair, Decision, Judge, JudgeConfig, MetricSpec, Outcome, Verdict};

use crate::CmdResult;

/// Judge subcommand.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Judge offline canary streams (cumulative counts per look) with the always-valid
    /// sequential judge: exit 0 none rolled back, 1 some rolled back, 2 error.
    Judge(JudgeArgs),
}

/// Kind of metric in the CSV.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Metric {
    /// 0/1 outcomes: `*_n`, `*_successes`.
    Proportion,
    /// Numbers: `*_n`, `*_sum`, `*_sum_sq`.
    Mean,
}

/// Arguments of `mlops judge`. The defaults are the ones of the simulations in
/// `scripts/sim-canary` (a 5% rate, 10% canary traffic, looks every 1,000 requests).
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// CSV of cumulative counts per stream and look (looks in order within a stream).
    #[arg(long, value_name = "FILE.csv")]
    looks: PathBuf,
    /// Proportion (successes out of n) or mean (sum and sum of squares).
    #[arg(long, value_enum, default_value = "proportion")]
    metric: Metric,
    /// Level of both tests: chance of ever rolling back a canary that is not worse, and
    /// of ever promoting one worse than the margin.
    #[arg(long, default_value_t = JudgeConfig::default().alpha)]
    alpha: f64,
    /// Non-inferiority margin, absolute on the metric's scale (0: superiority).
    #[arg(long, default_value_t = JudgeConfig::default().margin)]
    margin: f64,
    /// Mixture scale: the smallest absolute difference worth detecting.
    #[arg(long, default_value_t = JudgeConfig::default().tau)]
    tau: f64,
    /// No decision before each arm has this many samples.
    #[arg(long, default_value_t = JudgeConfig::default().min_samples)]
    min_samples: u64,
    /// Total samples (control + canary) at which an undecided stream ends as
    /// no_decision; 0 for no horizon.
    #[arg(long, default_value_t = JudgeConfig::default().horizon.unwrap_or(0))]
    horizon: u64,
    /// Part of --alpha the harm test keeps for one z-test at the look that reaches the
    /// horizon (0: purely sequential; unused without a horizon).
    #[arg(long, default_value_t = JudgeConfig::default().horizon_alpha)]
    horizon_alpha: f64,
    /// Lower values are better (error rate, latency).
    #[arg(long)]
    lower_is_better: bool,
    /// One JSON line per stream instead of a table.
    #[arg(long)]
    json: bool,
    /// With --json: the decision's full numbers (p-values of both tests, means, tau).
    #[arg(long)]
    full: bool,
}

/// Runs `mlops judge`.
pub fn run(cmd: Cmd) -> CmdResult {
    let Cmd::Judge(args) = cmd;
    let mut metric = match args.metric {
        Metric::Proportion => MetricSpec::proportion("metric"),
        Metric::Mean => MetricSpec::mean("metric"),
    };
    metric.higher_is_better = !args.lower_is_better;
    let config = JudgeConfig {
        metric,
        alpha: args.alpha,
        tau: args.tau,
        margin: args.margin,
        min_samples: args.min_samples,
        horizon: (args.horizon > 0).then_some(args.horizon),
        horizon_alpha: args.horizon_alpha,
        ..JudgeConfig::default()
    };
    config.validate()?;
    let text = std::fs::read_to_string(&args.looks)
        .map_err(|e| format!("{}: {e}", args.looks.display()))?;
    let decisions = judge_csv(&text, &config, args.metric)
        .map_err(|e| format!("{}: {e}", args.looks.display()))?;
    let mut rolled_back = false;
    if !args.json {
        println!(
            "{:<20} {:<12} {:>6} {:>10} {:>10} {:>11} {:>10} {:>25}",
            "stream",
            "decision",
            "look",
            "control_n",
            "canary_n",
            "difference",
            "p_value",
            "confidence sequence"
        );
    }
    for (stream, d) in &decisions {
        rolled_back |= d.outcome == Outcome::Rollback;
        if args.json {
            let mut line = serde_json::json!({
                "stream": stream,
                "decision": d.outcome.as_str(),
                "look": d.look,
                "control_n": d.control_n,
                "canary_n": d.canary_n,
                "p_value": d.p_value,
                "ci": d.ci,
            });
            if args.full {
                line["numbers"] = serde_json::to_value(d)?;
            }
            println!("{line}");
        } else {
            println!(
                "{:<20} {:<12} {:>6} {:>10} {:>10} {:>+11.6} {:>10.4} [{:>+11.6}, {:>+11.6}]",
                stream,
                d.outcome.as_str(),
                d.look,
                d.control_n,
                d.canary_n,
                d.estimate,
                d.p_value,
                d.ci[0],
                d.ci[1]
            );
        }
    }
    Ok(if rolled_back {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

const PROPORTION_HEADER: [&str; 6] = [
    "stream",
    "look",
    "control_n",
    "control_successes",
    "canary_n",
    "canary_successes",
];
const MEAN_HEADER: [&str; 8] = [
    "stream",
    "look",
    "control_n",
    "control_sum",
    "control_sum_sq",
    "canary_n",
    "canary_sum",
    "canary_sum_sq",
];

/// Splits one CSV line; a field may be double-quoted (`""` inside is a quote).
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
                cur.clear();
            }
            (false, ',') => {
                out.push(if was_quoted {
                    std::mem::take(&mut cur)
                } else {
                    cur.trim().to_string()
                });
                cur.clear();
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(if was_quoted {
        cur
    } else {
        cur.trim().to_string()
    });
    Ok(out)
}

fn judge_csv(
    text: &str,
    config: &JudgeConfig,
    metric: Metric,
) -> Result<Vec<(String, Decision)>, String> {
    let header: &[&str] = match metric {
        Metric::Proportion => &PROPORTION_HEADER,
        Metric::Mean => &MEAN_HEADER,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return Err("empty file: expected the header ".to_string() + &header.join(","));
    };
    let got = fields(first.trim_start_matches('\u{feff}')).map_err(|e| format!("line 1: {e}"))?;
    if got != header {
        return Err(format!(
            "line 1: header must be {}, got {}",
            header.join(","),
            got.join(",")
        ));
    }
    struct Stream {
        judge: Judge,
        decision: Option<Decision>,
        look: u64,
    }
    let mut order: Vec<String> = Vec::new();
    let mut streams: HashMap<String, Stream> = HashMap::new();
    for (i, line) in lines {
        let at = |col: usize| format!("line {}, column {} ({})", i + 1, col + 1, header[col]);
        let f = fields(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        if f.len() != header.len() {
            return Err(format!(
                "line {}: {} fields, expected {}",
                i + 1,
                f.len(),
                header.len()
            ));
        }
        let int = |col: usize| {
            f[col]
                .parse::<u64>()
                .map_err(|e| format!("{}: {:?}: {e}", at(col), f[col]))
        };
        let num = |col: usize| -> Result<f64, String> {
            let v = f[col]
                .parse::<f64>()
                .map_err(|e| format!("{}: {:?}: {e}", at(col), f[col]))?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(format!("{}: {:?} is not finite", at(col), f[col]))
            }
        };
        let name = f[0].clone();
        if name.is_empty() {
            return Err(format!("{}: empty stream name", at(0)));
        }
        let look = int(1)?;
        let pair = match metric {
            Metric::Proportion => ArmPair::new(
                Arm::proportion(int(2)?, int(3)?),
                Arm::proportion(int(4)?, int(5)?),
            ),
            Metric::Mean => ArmPair::new(
                Arm::mean(int(2)?, num(3)?, num(4)?),
                Arm::mean(int(5)?, num(6)?, num(7)?),
            ),
        };
        if !streams.contains_key(&name) {
            order.push(name.clone());
            let judge = Judge::new(config.clone()).map_err(|e| e.to_string())?;
            streams.insert(
                name.clone(),
                Stream {
                    judge,
                    decision: None,
                    look: 0,
                },
            );
        }
        let Some(s) = streams.get_mut(&name) else {
            continue;
        };
        if s.decision.is_some() {
            // Decided: later looks must still be in order, nothing else changes.
            if look <= s.look {
                return Err(format!(
                    "{}: stream {name:?}: looks must increase (previous {})",
                    at(1),
                    s.look
                ));
            }
            s.look = look;
            continue;
        }
        match s.judge.observe(look, pair, &[]) {
            Ok(Verdict::Decided(d)) => s.decision = Some(d),
            Ok(Verdict::Continue(_)) => {}
            Err(e) => return Err(format!("line {}: stream {name:?}: {e}", i + 1)),
        }
        s.look = look;
    }
    let mut out = Vec::with_capacity(order.len());
    for name in order {
        let Some(s) = streams.remove(&name) else {
            continue;
        };
        let d = match s.decision {
            Some(d) => d,
            None => s
                .judge
                .snapshot()
                .ok_or_else(|| format!("stream {name:?}: no looks"))?,
        };
        out.push((name, d));
    }
    Ok(out)
}
