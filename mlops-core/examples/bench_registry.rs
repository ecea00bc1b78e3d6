//! Benchmark: registry operations per call, on either backend.
//!
//! `scripts/bench-registry` runs this (built with `--release`) and the MLflow Python
//! client on the same kind of store in one go and prints both and the ratios. Usage:
//! `bench_registry URI N`: on a fresh model, N `create_version`, N alias moves,
//! N `get_version_by_alias`, then one search of all N versions. Prints one JSON object:
//! per operation the mean, p50 and p99 in milliseconds.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Instant;

use mlops_core::registry::VersionQuery;
use mlops_core::{AliasChange, Digest, NewVersion, Registry, registry_from_uri};

fn stats(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let n = ms.len().max(1);
    let mean = ms.iter().sum::<f64>() / n as f64;
    let q = |p: f64| ms.get(((n as f64 - 1.0) * p).round() as usize).copied();
    serde_json::json!({"n": ms.len(), "mean_ms": mean, "p50_ms": q(0.5), "p99_ms": q(0.99)})
}

fn timed<T>(
    out: &mut Vec<f64>,
    f: impl FnOnce() -> mlops_core::Result<T>,
) -> mlops_core::Result<T> {
    let t = Instant::now();
    let r = f()?;
    out.push(t.elapsed().as_secs_f64() * 1e3);
    Ok(r)
}

fn run(uri: &str, n: u64) -> mlops_core::Result<serde_json::Value> {
    let reg = registry_from_uri(Some(uri))?;
    let remote = uri.starts_with("http");
    let name = format!("bench-rust-{}", mlops_core::now_ms());
    let mut create_model = Vec::new();
    timed(&mut create_model, || {
        reg.create_model(&name, None, &BTreeMap::new())
    })?;
    let mut create = Vec::new();
    for i in 0..n {
        let digest = Digest::of_bytes(&i.to_le_bytes());
        // A server accepts an object-store source without a run; a file store anything.
        let source = if remote {
            format!("s3://bench/pkg-{i}")
        } else {
            format!("file:///bench/pkg-{i}")
        };
        timed(&mut create, || {
            reg.create_version(&name, &NewVersion::new(digest, source))
        })?;
    }
    let change = AliasChange::new("bench").by("bench");
    let mut alias = Vec::new();
    for i in 0..n {
        timed(&mut alias, || {
            reg.set_alias(&name, "champion", i % n + 1, &change)
        })?;
    }
    let mut by_alias = Vec::new();
    for _ in 0..n {
        timed(&mut by_alias, || {
            reg.get_version_by_alias(&name, "champion")
        })?;
    }
    let mut search = Vec::new();
    let page = timed(&mut search, || {
        reg.search_versions(&VersionQuery::of_model(&name))
    })?;
    if page.items.len() as u64 != n {
        return Err(mlops_core::Error::InvalidArgument(format!(
            "search found {} versions, expected {n}",
            page.items.len()
        )));
    }
    Ok(serde_json::json!({
        "side": "rust",
        "uri": uri,
        "create_model": stats(create_model),
        "create_version": stats(create),
        "set_alias": stats(alias),
        "get_by_alias": stats(by_alias),
        "search_versions": stats(search),
    }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(uri), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: bench_registry URI N");
        return ExitCode::from(2);
    };
    match run(uri, n) {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
