//! The quickstart: the main job of the workspace, on the embedded local store.
//!
//! It grows with the SDK. Today it exercises the foundation and tracking: it stores
//! bytes, a file and a directory in the content-addressed artifact store, reads them
//! back verified, records each step in the hash-chained audit log, verifies the log,
//! and logs the whole thing as an MLflow run (params, a metric curve, the model
//! directory as artifacts) through `tracker_from_env()`.
//!
//! Tracking goes where `MLFLOW_TRACKING_URI` says, as with MLflow itself:
//! `MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run -p mlops-examples --bin
//! quickstart` logs to that server; with no variable it logs to `./mlruns` (open it with
//! `mlflow ui --backend-store-uri file:./mlruns`). The SDK's own state (artifact store,
//! audit log) lives beside the local tracking root, in `<root>.mlops/`
//! (`./mlruns.mlops` for a server): MLflow's file store must not see it.

use std::path::PathBuf;
use std::process::ExitCode;

use mlops_core::tracking::{Run, RunOptions, local_path_of_uri, sdk_state_dir, tracker_from_env};
use mlops_core::{ArtifactStore, AuditLog, Digest};

/// The local tracking root: `MLFLOW_TRACKING_URI` when it is a `file:` URI or a path,
/// `./mlruns` otherwise (also when tracking goes to a server).
fn tracking_root() -> PathBuf {
    match std::env::var("MLFLOW_TRACKING_URI") {
        Ok(uri) if !uri.is_empty() && !uri.starts_with("http") => {
            local_path_of_uri(&uri).unwrap_or_else(|_| PathBuf::from("mlruns"))
        }
        _ => PathBuf::from("mlruns"),
    }
}

fn run() -> Result<(), mlops_core::Error> {
    let root = tracking_root();
    let sdk = sdk_state_dir(&root);
    let tracker = tracker_from_env()?;
    let tracked = Run::start_in(
        tracker.clone(),
        "quickstart",
        RunOptions::named("quickstart"),
    )?;
    tracked.log_param("store", "content-addressed")?;
    tracked.log_param("epochs", 50)?;
    let store = ArtifactStore::new(sdk.join("store"))?;
    let audit = AuditLog::open(sdk.join("audit.jsonl"));
    println!("mlops quickstart");
    println!("  store:     {}", store.root().display());
    println!("  audit log: {}", audit.path().display());

    // 1. Bytes.
    let note = b"mlops quickstart: content-addressed and verified on read\n";
    let d = store.put_bytes(note)?;
    assert_eq!(store.get(&d)?, note);
    audit.append(
        "quickstart",
        "store.put_bytes",
        &d.to_string(),
        serde_json::json!({"size": note.len()}),
    )?;
    println!("  stored {} bytes as {}", note.len(), d.short());

    // 2. A directory: a small "model package" made on the spot.
    let work = tempfile_dir()?;
    std::fs::create_dir_all(work.join("model")).map_err(|e| io(&work, e))?;
    std::fs::write(work.join("model/weights.json"), b"[0.25, -1.5, 3.0]")
        .map_err(|e| io(&work, e))?;
    std::fs::write(work.join("MLmodel"), b"flavors: {}\n").map_err(|e| io(&work, e))?;
    let manifest = store.put_dir(&work)?;
    let m = store.get_manifest(&manifest)?;
    audit.append(
        "quickstart",
        "store.put_dir",
        &manifest.to_string(),
        serde_json::json!({"files": m.files.len()}),
    )?;
    println!(
        "  stored a directory of {} files as manifest {}",
        m.files.len(),
        manifest.short()
    );
    for (path, entry) in &m.files {
        println!(
            "    {path:<20} {} ({} bytes)",
            entry.digest.short(),
            entry.size
        );
    }

    // 3. Read it all back, verified.
    let out = work.join("restored");
    store.export_dir(&manifest, &out)?;
    let restored = Digest::of_file(&out.join("model/weights.json"))?;
    assert_eq!(restored, m.files["model/weights.json"].digest);
    let objects = store.list()?;
    for o in &objects {
        store.verify(o)?;
    }
    println!("  verified {} objects in the store", objects.len());

    // 4. Track it: a metric curve, the directory as artifacts.
    for epoch in 0..50i64 {
        let loss = 1.0 / (1.0 + epoch as f64 * 0.2);
        tracked.log_metrics(&[("loss", loss), ("accuracy", 1.0 - loss / 2.0)], epoch)?;
    }
    tracked.log_metric("objects", objects.len() as f64, 0)?;
    tracked.set_tag("manifest", manifest.to_string())?;
    tracked.log_artifact(&work.join("model"), Some("model"))?;
    tracked.log_artifact(&work.join("MLmodel"), Some("model"))?;

    // 5. The audit log.
    let v = audit.verify()?;
    println!(
        "  audit log: {} records, chain valid, head {}",
        v.records,
        v.head.map(|h| h.short()).unwrap_or_default()
    );
    let run_id = tracked.id().to_string();
    tracked.end()?;
    println!("  tracked run {run_id} at {}", tracker.uri());
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf, mlops_core::Error> {
    let d = std::env::temp_dir().join(format!("mlops-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| io(&d, e))?;
    Ok(d)
}

fn io(path: &std::path::Path, source: std::io::Error) -> mlops_core::Error {
    mlops_core::Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}
