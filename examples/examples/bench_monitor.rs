//! The monitor's speed on a big log, for `scripts/bench-monitor`:
//!
//!     bench_monitor TRAIN.parquet LOG_DIR WINDOW [REPEATS]
//!
//! Profiles the training frame once (what registration stores in lineage; timed
//! apart), then monitors every row of the inference log in tumbling windows of
//! WINDOW rows: each window profiled once and compared with the training profile by
//! every column's default method. Prints one JSON object: timings (best of REPEATS)
//! and each window's drift share and drifted columns.

use std::path::PathBuf;
use std::time::Instant;

use mlops_data::{Profile, ProfileOptions};
use mlops_deploy::{Monitor, MonitorConfig, Reference, WindowSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: bench_monitor TRAIN.parquet LOG_DIR WINDOW [REPEATS]".into());
    }
    let train = PathBuf::from(&args[1]);
    let log = PathBuf::from(&args[2]);
    let window: u64 = args[3].parse()?;
    let repeats: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(3);

    let t = Instant::now();
    let profile = Profile::of_path(&train, &ProfileOptions::default())?;
    let profile_s = t.elapsed().as_secs_f64();

    let mut best = f64::INFINITY;
    let mut last = Vec::new();
    for _ in 0..repeats {
        let reference = Reference::from_profile(profile.clone(), None)?;
        let config = MonitorConfig {
            window: WindowSpec::rows(window),
            keep_predictions: false,
            ..MonitorConfig::default()
        };
        let t = Instant::now();
        let mut m = Monitor::new(reference, config)?;
        let mut ws = m.push_log(&log)?;
        ws.extend(m.finish()?);
        best = best.min(t.elapsed().as_secs_f64());
        last = ws;
    }
    let rows: u64 = last.iter().map(|w| w.rows).sum();
    let windows: Vec<serde_json::Value> = last
        .iter()
        .map(|w| {
            serde_json::json!({
                "index": w.index,
                "rows": w.rows,
                "share": w.drift.share,
                "drifted": w.shifts.covariate.drifted_columns,
                "columns": w.drift.columns.iter().map(|c| serde_json::json!({
                    "column": c.column, "method": c.method, "score": c.score, "drifted": c.drifted,
                    "error_bound": c.error_bound})).collect::<Vec<_>>(),
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "training_profile_s": profile_s,
            "monitor_s": best,
            "rows": rows,
            "windows": windows,
        })
    );
    Ok(())
}
