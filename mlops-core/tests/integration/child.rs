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

/// Moves alias `champion` of `MLOPS_CHILD_MODEL` (versions 1..=3) in the local registry
/// at `MLOPS_CHILD_ALIAS_REGISTRY` to the next version, over and over, until killed.
#[test]
fn alias_mover() {
    let Ok(root) = std::env::var("MLOPS_CHILD_ALIAS_REGISTRY") else {
        return;
    };
    use mlops_core::{AliasChange, LocalRegistry, Registry};
    let model = std::env::var("MLOPS_CHILD_MODEL").unwrap();
    let reg = LocalRegistry::open(PathBuf::from(root)).unwrap();
    loop {
        let now = reg
            .get_version_by_alias(&model, "champion")
            .map(|v| v.version)
            .unwrap_or(0);
        reg.set_alias(
            &model,
            "champion",
            now % 3 + 1,
            &AliasChange::new("loop").by("mover"),
        )
        .unwrap();
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

/// Writes one file of every kind the SDK writes under `MLOPS_CHILD_MODES_ROOT`, in a
/// process whose umask is `MLOPS_CHILD_UMASK` (set by the parent through `sh`), then
/// checks every mode under the root (see `modes`).
#[cfg(unix)]
#[test]
fn mode_writer() {
    let Ok(root) = std::env::var("MLOPS_CHILD_MODES_ROOT") else {
        return;
    };
    use mlops_core::mlflow_http::{MlflowHttp, RetryPolicy};
    use mlops_core::tracking::{LocalTracker, Metric, Param, RestTracker, Run, RunOptions};
    use mlops_core::{
        AliasChange, LocalRegistry, NewVersion, Registry, RunInfo, RunStatus, RunTag, Tracker,
    };
    use std::sync::Arc;
    let root = PathBuf::from(root);
    let umask = std::env::var("MLOPS_CHILD_UMASK").unwrap();
    // The umask really is the one asked for (Linux reports it in /proc).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    assert_eq!(
        u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap(),
        u32::from_str_radix(&umask, 8).unwrap(),
        "{line}"
    );

    // Sources for artifacts, outside the checked root.
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("notes.txt"), b"notes").unwrap();
    std::fs::create_dir_all(src.path().join("tree/a")).unwrap();
    std::fs::write(src.path().join("tree/a/b.txt"), b"b").unwrap();

    // Tracking: experiment meta and tags, run meta, params, tags, metric appends,
    // artifacts, a status change (meta.yaml rewritten), a download.
    let store = root.join("mlruns");
    let t = LocalTracker::open(&store).unwrap();
    let exp = t
        .create_experiment("modes", None, &[RunTag::new("team", "ml")])
        .unwrap();
    let t: Arc<dyn Tracker> = Arc::new(t);
    let run = Run::start(t.clone(), &exp, RunOptions::named("r")).unwrap();
    run.log_param("lr", "0.1").unwrap();
    run.log_param("opt/name", "adam").unwrap();
    run.set_tag("stage", "dev").unwrap();
    run.log_metric("loss", 0.5, 0).unwrap();
    run.log_metric("loss", 0.25, 1).unwrap();
    run.log_artifact(&src.path().join("notes.txt"), None)
        .unwrap();
    run.log_artifact(&src.path().join("tree"), Some("tree"))
        .unwrap();
    let run_id = run.id().to_string();
    run.end().unwrap();
    t.log_batch(
        &run_id,
        &[Metric::new("loss", 0.125, 1_700_000_000_000, 2)],
        &[Param::new("extra", "1")],
        &[],
    )
    .unwrap();
    t.download_artifacts(&run_id, "tree", &root.join("downloaded"))
        .unwrap();

    // The spool of a run whose server is unreachable.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let http = MlflowHttp::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .with_retry(RetryPolicy::none());
    let offline = Run::attach(
        Arc::new(RestTracker::new(http)),
        RunInfo {
            run_id: "0123456789abcdef0123456789abcdef".into(),
            experiment_id: "1".into(),
            run_name: "offline".into(),
            user_id: "u".into(),
            status: RunStatus::Running,
            start_time: Some(1),
            end_time: None,
            artifact_uri: String::new(),
            lifecycle_stage: "active".into(),
        },
        RunOptions {
            batch_size: 1,
            spool_dir: Some(root.join("spool")),
            ..RunOptions::default()
        },
    );
    offline.log_metric_at("m", 1.0, 0, 1).unwrap();
    offline.flush().unwrap();
    assert!(offline.spool_path().unwrap().is_file());
    std::mem::forget(offline); // no end() against a server that is not there

    // Registry: model, tags, version with its package, alias (history, audit log),
    // rename (a copy of the model's tree).
    let reg = LocalRegistry::open(&store).unwrap();
    let pkg = src.path().join("pkg");
    std::fs::create_dir_all(pkg.join("sub")).unwrap();
    std::fs::write(pkg.join("model.bin"), [1u8, 2, 3]).unwrap();
    std::fs::write(pkg.join("sub/conf.json"), b"{}").unwrap();
    let digest = reg.artifact_store().put_dir(&pkg).unwrap();
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("owner".to_string(), "team".to_string());
    reg.create_model("m", Some("a model"), &tags).unwrap();
    reg.create_version("m", &NewVersion::new(digest, "file:///pkg"))
        .unwrap();
    reg.set_alias("m", "champion", 1, &AliasChange::new("first"))
        .unwrap();
    reg.rename_model("m", "renamed").unwrap();
    reg.artifact_store()
        .export_dir(&digest, &root.join("export/pkg"))
        .unwrap();
    // A package copied between stores (what import_package and `mlops sync` do).
    mlops_core::ArtifactStore::new(root.join("copied"))
        .unwrap()
        .copy_package_from(reg.artifact_store(), &digest)
        .unwrap();

    // The fs helpers themselves.
    mlops_core::fs::write_atomic(&root.join("fs/atomic.txt"), b"a").unwrap();
    assert!(mlops_core::fs::write_atomic_new(&root.join("fs/new.txt"), b"n").unwrap());
    mlops_core::fs::copy_tree(&src.path().join("tree"), &root.join("fs/copy/tree")).unwrap();

    let mask = u32::from_str_radix(&umask, 8).unwrap();
    let files = crate::modes::check_tree(&root, mask);
    println!("checked {} files under umask {umask}", files.len());
}

/// Syncs the local store `MLOPS_CHILD_SYNC_FROM` into `MLOPS_CHILD_SYNC_TO` once.
#[test]
fn sync_runner() {
    let Ok(from) = std::env::var("MLOPS_CHILD_SYNC_FROM") else {
        return;
    };
    let to = std::env::var("MLOPS_CHILD_SYNC_TO").unwrap();
    use mlops_core::tracking::{LocalTracker, SyncOptions, sync};
    let from = LocalTracker::open(from).unwrap();
    let to = LocalTracker::open(to).unwrap();
    sync(&from, &to, &SyncOptions::default()).unwrap();
}
