//! Benchmark: `Digest::of_file` throughput on one file, in MB/s.
//!
//! `scripts/bench-digest` runs this (built with `--release`) and `sha256sum` on the
//! same file in one go and prints the ratio. Usage: `bench_digest FILE [REPEATS]`;
//! prints the best of REPEATS (default 3) runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mlops_core::Digest;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next().map(PathBuf::from) else {
        eprintln!("usage: bench_digest FILE [REPEATS]");
        return ExitCode::from(2);
    };
    let repeats: u32 = args.next().and_then(|r| r.parse().ok()).unwrap_or(3);
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let mut best = f64::INFINITY;
    let mut digest = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        match Digest::of_file(&path) {
            Ok(d) => digest = Some(d),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let mbps = size as f64 / 1e6 / best;
    if let Some(d) = digest {
        println!("{d}  {}", path.display());
    }
    println!("mlops Digest::of_file: {size} bytes in {best:.3} s = {mbps:.0} MB/s");
    ExitCode::SUCCESS
}
