//! Logging throughput of the tracking `Run` handle, for `scripts/bench-tracking`.
//!
//! `cargo run --release -p mlops-core --example bench_tracking -- URI POINTS`
//! logs POINTS metric points (3 keys, one step per 3 points) to a fresh run at URI
//! (`http://…` or a local path) through `Run::log_metric`, ends the run, checks that
//! every point arrived, and prints one JSON line: `{"uri", "points", "seconds", "rate"}`.
//! The time includes the final flush and the end of the run.

use std::time::Instant;

use mlops_core::tracking::{Run, RunOptions, tracker_from_uri};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let uri = args.next().ok_or("usage: bench_tracking URI POINTS")?;
    let points: i64 = args
        .next()
        .ok_or("usage: bench_tracking URI POINTS")?
        .parse()?;
    let tracker = tracker_from_uri(&uri)?;
    let exp = tracker.get_or_create_experiment("bench-tracking")?;
    let run = Run::start(tracker.clone(), &exp, RunOptions::named("rust-bench"))?;
    let keys = ["loss", "accuracy", "lr"];
    let start = Instant::now();
    for i in 0..points {
        run.log_metric(keys[(i % 3) as usize], 1.0 / (i as f64 + 1.0), i / 3)?;
    }
    let id = run.id().to_string();
    run.end()?;
    let seconds = start.elapsed().as_secs_f64();
    let mut got = 0;
    for k in keys {
        got += tracker.metric_history(&id, k)?.len() as i64;
    }
    if got != points {
        return Err(format!("only {got} of {points} points arrived").into());
    }
    println!(
        "{}",
        serde_json::json!({"uri": uri, "points": points, "seconds": seconds, "rate": points as f64 / seconds})
    );
    Ok(())
}
