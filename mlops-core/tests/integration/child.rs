//! Child-process entry points: the test binary runs itself with `--exact child::NAME`
//! and an environment variable that tells the child what to do.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use mlops_core::{ArtifactStore, AuditLog};

/// Starts this test binary as a child running the entry point `name` with `env` set.
pub fn spawn(name: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        &format!("child::{name}"),
        "--nocapture",
        "--test-threads=1",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn child test process")
}

/// Writes ever new large objects into the store named by `MLOPS_CHILD_STORE` until killed.
#[test]
fn store_writer() {
    let Ok(root) = std::env::var("MLOPS_CHILD_STORE") else {
        return;
    };
    let store = ArtifactStore::new(PathBuf::from(root)).unwrap();
    let mut seed: u64 = std::process::id() as u64;
    loop {
        // 4 MiB of pseudo-random bytes, different every round.
        let mut bytes = vec![0u8; 4 << 20];
        for chunk in bytes.chunks_mut(8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let b = seed.to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        store.put_bytes(&bytes).unwrap();
    }
}

/// Appends `MLOPS_CHILD_APPENDS` records to the audit log `MLOPS_CHILD_AUDIT` as actor
/// `MLOPS_CHILD_ACTOR`.
#[test]
fn audit_appender() {
    let Ok(path) = std::env::var("MLOPS_CHILD_AUDIT") else {
        return;
    };
    let n: u64 = std::env::var("MLOPS_CHILD_APPENDS")
        .unwrap()
        .parse()
        .unwrap();
    let actor = std::env::var("MLOPS_CHILD_ACTOR").unwrap();
    let log = AuditLog::open(path);
    for i in 0..n {
        log.append(
            &actor,
            "test.append",
            &format!("{actor}/{i}"),
            serde_json::json!({ "i": i }),
        )
        .unwrap();
    }
}

/// Registers `MLOPS_CHILD_VERSIONS` versions of `MLOPS_CHILD_MODEL` in the local registry
/// at `MLOPS_CHILD_REGISTRY`, each tagged `writer=<MLOPS_CHILD_WRITER>/<i>` and with that
/// text's digest as its package.
#[test]
fn registry_registrar() {
    let Ok(root) = std::env::var("MLOPS_CHILD_REGISTRY") else {
        return;
    };
    use mlops_core::{LocalRegistry, NewVersion, Registry};
    let model = std::env::var("MLOPS_CHILD_MODEL").unwrap();
    let n: u32 = std::env::var("MLOPS_CHILD_VERSIONS")
        .unwrap()
        .parse()
        .unwrap();
    let writer = std::env::var("MLOPS_CHILD_WRITER").unwrap();
    let reg = LocalRegistry::open(PathBuf::from(root)).unwrap();
    for i in 0..n {
        let tag = format!("{writer}/{i}");
        let digest = reg.artifact_store().put_bytes(tag.as_bytes()).unwrap();
        reg.create_version(
            &model,
            &NewVersion::new(digest, format!("file:///pkg/{tag}")).tag("writer", &tag),
        )
        .unwrap();
    }
}

/// Logs 20,000 points of metric `shared` (value = the actor's number, step = i) to run
/// `MLOPS_CHILD_RUN` of the local store `MLOPS_CHILD_TRACKING_ROOT`, in batches.
#[test]
fn tracking_logger() {
    let Ok(root) = std::env::var("MLOPS_CHILD_TRACKING_ROOT") else {
        return;
    };
    let run = std::env::var("MLOPS_CHILD_RUN").unwrap();
    let actor: f64 = std::env::var("MLOPS_CHILD_ACTOR").unwrap()[1..]
        .parse()
        .unwrap();
    let t = mlops_core::tracking::LocalTracker::open(root).unwrap();
    use mlops_core::tracking::{Metric, Tracker};
    for chunk in 0..40 {
        let pts: Vec<Metric> = (0..500)
            .map(|i| Metric::new("shared", actor, 1_700_000_000_000, chunk * 500 + i))
            .collect();
        t.log_batch(&run, &pts, &[], &[]).unwrap();
    }
}

/// Registers versions of `MLOPS_CHILD_MODEL` in the local registry at
/// `MLOPS_CHILD_REGISTRY_LOOP`, each with a 1 MiB package, until killed.
#[test]
fn registry_loop() {
    let Ok(root) = std::env::var("MLOPS_CHILD_REGISTRY_LOOP") else {
        return;
    };
    use mlops_core::{LocalRegistry, NewVersion, Registry};
    let model = std::env::var("MLOPS_CHILD_MODEL").unwrap();
    let reg = LocalRegistry::open(PathBuf::from(root)).unwrap();
    let mut i = std::process::id() as u64;
    loop {
        i += 1;
        let mut bytes = vec![0u8; 1 << 20];
        bytes[..8].copy_from_slice(&i.to_le_bytes());
        let digest = reg.artifact_store().put_bytes(&bytes).unwrap();
        reg.create_version(
            &model,
            &NewVersion::new(digest, format!("file:///pkg/{i}"))
                .tag("a", "1")
                .tag("b", "2"),
        )
        .unwrap();
    }
}
