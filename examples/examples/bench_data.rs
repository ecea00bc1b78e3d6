//! Benchmark of `mlops-data` for `scripts/bench-data`: validation of a contract and a
//! profile of a Parquet file, against one plain polars pass over the same data.
//!
//! ```text
//! cargo run --release -p mlops-examples --example bench_data -- DATA.parquet CONTRACT.json
//! ```
//!
//! Prints one JSON object of wall-clock seconds (best of several runs, warm cache):
//! `read` (polars read of the file), `polars_pass` (read plus one select of
//! null-count/min/max of every column and the sum of numeric ones), `validate` (the contract on the frame
//! in memory), `validate_file` (the contract on a lazy scan of the file), `profile`
//! (in memory), `profile_file` (streaming the file), plus checks and failures found.

use std::path::PathBuf;
use std::time::Instant;

use mlops_data::{Contract, Profile, ProfileOptions, ValidateOptions};
use polars::prelude::*;

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    (best, out.expect("runs > 0"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Warnings of the SDK on stderr (RUST_LOG for more); stdout stays one JSON object.
    mlops_examples::init_logging(mlops_examples::Verbosity::default());
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: bench_data DATA.parquet CONTRACT.json");
        std::process::exit(2);
    }
    let data = PathBuf::from(&args[1]);
    let contract = Contract::load(&PathBuf::from(&args[2]))?;
    let runs = 5;

    let (read, df) = best(runs, || mlops_data::read_frame(&data));
    let df = df?;
    let (polars_pass, pass) = best(runs, || {
        let mut lf = mlops_data::scan_frame(&data)?;
        let schema = lf.collect_schema()?;
        let mut exprs = Vec::new();
        for (name, dtype) in schema.iter() {
            let c = col(name.clone());
            exprs.push(c.clone().null_count().alias(format!("{name}_nulls")));
            exprs.push(c.clone().min().alias(format!("{name}_min")));
            exprs.push(c.clone().max().alias(format!("{name}_max")));
            if dtype.is_primitive_numeric() {
                exprs.push(c.sum().alias(format!("{name}_sum")));
            }
        }
        Ok::<_, mlops_data::Error>(lf.select(exprs).collect()?)
    });
    pass?;
    let (validate, report) = best(runs, || contract.validate(&df));
    let report = report?;
    let (validate_file, report_file) = best(runs, || {
        let opts = ValidateOptions {
            streaming: true,
            ..ValidateOptions::default()
        };
        contract.validate_lazy(mlops_data::scan_frame(&data)?, &opts)
    });
    let report_file = report_file?;
    let opts = ProfileOptions::default();
    let (profile, prof) = best(runs, || Profile::of_frame_with(&df, &opts));
    let prof = prof?;
    let (profile_file, prof_file) = best(runs, || Profile::of_path(&data, &opts));
    let prof_file = prof_file?;
    let json_len = prof.to_json()?.len();
    let worst_rank_error = prof
        .columns
        .values()
        .filter_map(|c| c.quantiles.as_ref())
        .map(|s| s.normalized_rank_error())
        .fold(0.0, f64::max);
    // Measured (not bound) rank error of the median of num_0 against the exact one.
    let measured_median_error = match df.column("num_0") {
        Ok(c) => {
            let mut v: Vec<f64> = c
                .f64()?
                .iter()
                .flatten()
                .filter(|v| v.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            let est = prof_file
                .column("num_0")
                .and_then(|c| c.quantile(0.5))
                .unwrap_or(f64::NAN);
            let rank = v.partition_point(|x| *x <= est) as f64;
            (rank / v.len() as f64 - 0.5).abs()
        }
        Err(_) => f64::NAN,
    };
    // Per-column cost: the contract restricted to one column at a time.
    let mut breakdown = serde_json::Map::new();
    if std::env::var_os("BENCH_BREAKDOWN").is_some() {
        for spec in &contract.columns {
            let one = Contract {
                columns: vec![spec.clone()],
                ..Contract::default()
            };
            let (t, r) = best(runs, || one.validate(&df));
            r?;
            breakdown.insert(spec.name.clone(), serde_json::json!(t));
        }
    }
    let out = serde_json::json!({
        "validate_breakdown": breakdown,
        "rows": df.height(),
        "columns": df.width(),
        "read": read,
        "polars_pass": polars_pass,
        "validate": validate,
        "validate_file": validate_file,
        "profile": profile,
        "profile_file": profile_file,
        "checks": report.checks,
        "failures": report.failures.len(),
        "failures_file": report_file.failures.len(),
        "profile_json_bytes": json_len,
        "profile_worst_rank_error_bound": worst_rank_error,
        "profile_median_measured_rank_error": measured_median_error,
    });
    println!("{out}");
    Ok(())
}
