//! The quickstart: the main job of the workspace, on the embedded local store.
//!
//! It grows with the SDK. Today it exercises the foundation: it stores bytes, a file
//! and a directory in the content-addressed artifact store, reads them back verified,
//! records each step in the hash-chained audit log, verifies the log and prints what
//! it did.
//!
//! The store lives under the tracking root: `MLFLOW_TRACKING_URI` when it is a `file:`
//! URI or a path, `./mlruns` otherwise. Run it with `cargo run -p mlops-examples --bin
//! quickstart`.

use std::path::PathBuf;
use std::process::ExitCode;

use mlops_core::{ArtifactStore, AuditLog, Digest};

fn tracking_root() -> PathBuf {
    match std::env::var("MLFLOW_TRACKING_URI") {
        Ok(uri) if uri.starts_with("file://") => PathBuf::from(&uri["file://".len()..]),
        Ok(uri) if uri.starts_with("file:") => PathBuf::from(&uri["file:".len()..]),
        Ok(uri) if !uri.is_empty() && !uri.contains("://") => PathBuf::from(uri),
        _ => PathBuf::from("mlruns"),
    }
}

fn run() -> Result<(), mlops_core::Error> {
    let root = tracking_root();
    let sdk = root.join(".mlops");
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

    // 4. The audit log.
    let v = audit.verify()?;
    println!(
        "  audit log: {} records, chain valid, head {}",
        v.records,
        v.head.map(|h| h.short()).unwrap_or_default()
    );
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
