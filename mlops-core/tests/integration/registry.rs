//! The model registry: both backends, interop with the MLflow Python client, concurrent
//! registration, alias history and the typed errors.
//!
//! Local tests run everywhere. Tests against a server are ignored under a plain
//! `cargo test`; `scripts/test` runs them against its server (`MLOPS_TEST_MLFLOW_URI`),
//! and they fail when it does not answer.
//! Interop tests also need `MLOPS_TEST_PYTHON` (a Python with mlflow).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mlops_core::mlflow_http::{Idempotency, MlflowHttp};
use mlops_core::registry::{ModelQuery, TAG_PACKAGE_DIGEST, VersionQuery};
use mlops_core::{
    AliasChange, ArtifactStore, Digest, Error, LocalRegistry, MlflowRegistry, ModelUri, NewVersion,
    Registry, RunId,
};
use serde_json::{Value, json};

use crate::harness::mlflow_uri;

/// A small model package directory, different per `seed`, stored in `store`.
fn package(store: &ArtifactStore, seed: u32) -> (tempfile::TempDir, Digest) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("MLmodel"),
        format!("flavors:\n  mlops:\n    seed: {seed}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(d.path().join("data")).unwrap();
    let weights: Vec<u8> = (0..4096u32).map(|i| (i * 31 + seed) as u8).collect();
    std::fs::write(d.path().join("data/weights.bin"), weights).unwrap();
    let digest = store.put_dir(d.path()).unwrap();
    (d, digest)
}

fn uri(s: &str) -> ModelUri {
    s.parse().unwrap()
}

fn change(reason: &str) -> AliasChange {
    AliasChange::new(reason).by("tester")
}

fn no_tags() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &RunId::random().as_str()[..10])
}

use crate::harness::python;

fn interop_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop/registry_check.py")
}

/// Runs the Python interop script; panics with its output when it fails.
fn run_python(py: &str, args: &[&str]) -> Value {
    let out = Command::new(py)
        .arg(interop_script())
        .args(args)
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .output()
        .expect("run the Python interop script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "registry_check.py {args:?} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap()
}

// ---------------------------------------------------------------------------------
// Shared checks, run on both backends.
// ---------------------------------------------------------------------------------

/// Models, versions, tags, descriptions, search and paging, rename, delete.
fn crud(reg: &dyn Registry, new_version: &dyn Fn(u32) -> NewVersion) {
    let name = unique("crud");
    let mut tags = BTreeMap::new();
    tags.insert("team".to_string(), "fraud".to_string());
    let m = reg.create_model(&name, Some("first"), &tags).unwrap();
    assert_eq!(m.name, name);
    assert_eq!(m.description.as_deref(), Some("first"));
    assert_eq!(m.tags.get("team").map(String::as_str), Some("fraud"));

    let v1 = reg.create_version(&name, &new_version(1)).unwrap();
    let v2 = reg.create_version(&name, &new_version(2)).unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.stage, "None");
    assert_eq!(v1.status.as_str(), "READY");
    assert!(v1.package_digest().unwrap().is_some());

    reg.set_model_description(&name, "second: with 'quotes', yes\nand lines")
        .unwrap();
    assert_eq!(
        reg.get_model(&name).unwrap().description.as_deref(),
        Some("second: with 'quotes', yes\nand lines")
    );
    reg.set_model_tag(&name, "owner", "on").unwrap();
    reg.delete_model_tag(&name, "team").unwrap();
    let m = reg.get_model(&name).unwrap();
    assert_eq!(m.tags.get("owner").map(String::as_str), Some("on"));
    assert!(!m.tags.contains_key("team"));

    reg.set_version_tag(&name, 1, "gate", "passed").unwrap();
    reg.set_version_description(&name, 1, "v1 text").unwrap();
    let g = reg.get_version(&name, 1).unwrap();
    assert_eq!(g.tags.get("gate").map(String::as_str), Some("passed"));
    assert_eq!(g.description.as_deref(), Some("v1 text"));
    reg.delete_version_tag(&name, 1, "gate").unwrap();
    assert!(!reg.get_version(&name, 1).unwrap().tags.contains_key("gate"));

    // Deleting the newest version never frees its number.
    reg.delete_version(&name, 2).unwrap();
    assert!(matches!(
        reg.get_version(&name, 2),
        Err(Error::VersionNotFound { version: 2, .. })
    ));
    assert_eq!(
        reg.create_version(&name, &new_version(3)).unwrap().version,
        3
    );
    let vs = reg.search_versions(&VersionQuery::of_model(&name)).unwrap();
    let numbers: Vec<u64> = vs.items.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [3, 1]);

    // Search by name pattern, two per page.
    let prefix = unique("page");
    for i in 0..5 {
        reg.create_model(&format!("{prefix}-{i}"), None, &no_tags())
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut q = ModelQuery {
        name_like: Some(format!("{prefix}-%")),
        max_results: 2,
        page_token: None,
    };
    loop {
        let p = reg.search_models(&q).unwrap();
        assert!(p.items.len() <= 2);
        seen.extend(p.items.into_iter().map(|m| m.name));
        match p.next_page_token {
            Some(t) => q.page_token = Some(t),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|i| format!("{prefix}-{i}")).collect();
    assert_eq!(seen, expected);

    // Rename: versions, aliases and history follow.
    reg.set_alias(&name, "champion", 1, &change("first"))
        .unwrap();
    let renamed = format!("{name}-renamed");
    let r = reg.rename_model(&name, &renamed).unwrap();
    assert_eq!(r.name, renamed);
    assert!(matches!(
        reg.get_model(&name),
        Err(Error::ModelNotFound { .. })
    ));
    assert_eq!(
        reg.get_version_by_alias(&renamed, "champion")
            .unwrap()
            .version,
        1
    );
    assert_eq!(reg.alias_history(&renamed, "champion").unwrap().len(), 1);
    assert_eq!(reg.get_version(&renamed, 3).unwrap().name, renamed);

    reg.delete_model(&renamed).unwrap();
    assert!(matches!(
        reg.get_model(&renamed),
        Err(Error::ModelNotFound { .. })
    ));
}

/// Missing model / version / alias and a duplicate model: each its own variant.
fn typed_errors(reg: &dyn Registry, new_version: &dyn Fn(u32) -> NewVersion) {
    let name = unique("errors");
    let missing = unique("missing");
    assert!(
        matches!(reg.get_model(&missing), Err(Error::ModelNotFound { name }) if name == missing)
    );
    assert!(matches!(
        reg.create_version(&missing, &new_version(1)),
        Err(Error::ModelNotFound { .. })
    ));
    assert!(matches!(
        reg.get_version_by_alias(&missing, "champion"),
        Err(Error::ModelNotFound { .. })
    ));
    reg.create_model(&name, None, &no_tags()).unwrap();
    assert!(matches!(
        reg.create_model(&name, None, &no_tags()),
        Err(Error::ModelAlreadyExists { name: n }) if n == name
    ));
    assert!(matches!(
        reg.get_version(&name, 7),
        Err(Error::VersionNotFound { version: 7, .. })
    ));
    assert!(matches!(
        reg.get_version(&missing, 1),
        Err(Error::ModelNotFound { .. })
    ));
    assert!(matches!(
        reg.get_version_by_alias(&name, "challenger"),
        Err(Error::AliasNotFound { alias, .. }) if alias == "challenger"
    ));
    assert!(matches!(
        reg.load(&uri(&format!("models:/{name}@challenger"))),
        Err(Error::AliasNotFound { .. })
    ));
    assert!(matches!(
        reg.set_alias(&name, "champion", 3, &change("no such version")),
        Err(Error::VersionNotFound { version: 3, .. })
    ));
    assert!(matches!(
        reg.delete_alias(&name, "champion", &change("never set")),
        Err(Error::AliasNotFound { .. })
    ));
    assert!(matches!(
        reg.set_alias(&name, "latest", 1, &change("reserved")),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        reg.rollback_alias(&name, "champion", &change("nothing to undo")),
        Err(Error::InvalidArgument(_))
    ));
    reg.delete_model(&name).unwrap();
}

/// Champion moves through five versions; `alias_at` between moves; rollbacks; audit.
fn history(reg: &dyn Registry, new_version: &dyn Fn(u32) -> NewVersion) {
    let name = unique("history");
    reg.create_model(&name, None, &no_tags()).unwrap();
    for i in 1..=5 {
        reg.create_version(&name, &new_version(i)).unwrap();
    }
    let audit_before = reg.audit_log().verify().unwrap().records;
    let before = mlops_core::now_ms();
    std::thread::sleep(Duration::from_millis(5));
    let mut times = Vec::new();
    for v in 1..=5u64 {
        let m = reg
            .set_alias(&name, "champion", v, &change(&format!("promote v{v}")))
            .unwrap();
        assert_eq!(m.to_version, Some(v));
        assert_eq!(m.from_version, if v == 1 { None } else { Some(v - 1) });
        assert_eq!(m.actor, "tester");
        // The move's time: the mover's clock within the server's second, if it dated it.
        times.push(m.effective_ms());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(reg.alias_at(&name, "champion", before).unwrap(), None);
    for (i, t) in times.iter().enumerate() {
        let v = i as u64 + 1;
        assert_eq!(reg.alias_at(&name, "champion", *t).unwrap(), Some(v));
        let next = times.get(i + 1).copied().unwrap_or(t + 1000);
        let between = t + (next - t) / 2;
        assert_eq!(
            reg.alias_at(&name, "champion", between).unwrap(),
            Some(v),
            "at {between}, between move {v} and the next"
        );
        if *t > 0 {
            let just_before = t - 1;
            let expect = if v == 1 { None } else { Some(v - 1) };
            assert_eq!(
                reg.alias_at(&name, "champion", just_before).unwrap(),
                expect
            );
        }
    }
    let rb = reg
        .rollback_alias(&name, "champion", &change("v5 regressed"))
        .unwrap();
    assert_eq!((rb.from_version, rb.to_version), (Some(5), Some(4)));
    assert_eq!(
        reg.get_version_by_alias(&name, "champion").unwrap().version,
        4
    );
    let rb2 = reg
        .rollback_alias(&name, "champion", &change("v4 too"))
        .unwrap();
    assert_eq!(rb2.to_version, Some(3));
    assert_eq!(
        reg.load(&uri(&format!("models:/{name}@champion")))
            .unwrap()
            .version
            .version,
        3
    );
    // The history as recorded, then the audit log: two records per move (its intent,
    // then its confirmation), chain intact.
    let h = reg.alias_history(&name, "champion").unwrap();
    assert_eq!(h.len(), 7);
    assert_eq!(h[5].reason, "v5 regressed");
    let audit = reg.audit_log();
    let v = audit.verify().unwrap();
    assert_eq!(v.records, audit_before + 14);
    let all: Vec<_> = audit
        .records()
        .unwrap()
        .into_iter()
        .filter(|r| r.subject == format!("models:/{name}@champion"))
        .collect();
    let (confirms, moves): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|r| r.action == "registry.alias.confirm");
    assert_eq!(moves.len(), 7);
    assert_eq!(confirms.len(), 7);
    for (m, c) in moves.iter().zip(&confirms) {
        assert_eq!(m.payload["id"], c.payload["id"]);
        assert!(m.seq < c.seq, "intent before confirmation");
    }
    assert_eq!(moves[5].action, "registry.alias.rollback");
    assert_eq!(moves[5].payload["to_version"], json!(4));
    // Delete is recorded too, and alias_at after it says "not set".
    let del = reg
        .delete_alias(&name, "champion", &change("retire"))
        .unwrap();
    assert_eq!(del.to_version, None);
    assert_eq!(
        reg.alias_at(&name, "champion", del.effective_ms()).unwrap(),
        None
    );
    assert_eq!(reg.alias_at(&name, "champion", times[4]).unwrap(), Some(5));
    reg.delete_model(&name).unwrap();
}

// ---------------------------------------------------------------------------------
// Local backend.
// ---------------------------------------------------------------------------------

fn local() -> (tempfile::TempDir, LocalRegistry) {
    let d = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::open(d.path().join("mlruns")).unwrap();
    (d, reg)
}

fn local_version(reg: &LocalRegistry) -> impl Fn(u32) -> NewVersion + '_ {
    move |seed| {
        let (dir, digest) = package(reg.artifact_store(), seed);
        let _ = dir; // the package is in the store; its source dir may go
        NewVersion::new(digest, format!("file:///packages/{digest}"))
            .run_id(RunId::random())
            .dataset(Digest::of_bytes(format!("data {seed}").as_bytes()))
    }
}

#[test]
fn local_crud() {
    let (_d, reg) = local();
    crud(&reg, &local_version(&reg));
}

#[test]
fn local_typed_errors_and_tampered_package() {
    let (_d, reg) = local();
    typed_errors(&reg, &local_version(&reg));

    let name = "tamper";
    reg.create_model(name, None, &no_tags()).unwrap();
    let (_src, digest) = package(reg.artifact_store(), 9);
    let new = NewVersion::new(digest, "file:///pkg")
        .dataset(Digest::of_bytes(b"train"))
        .run_id(RunId("0123456789abcdef0123456789abcdef".into()));
    let v = reg.create_version(name, &new).unwrap();
    assert_eq!(v.dataset_digests().unwrap(), [Digest::of_bytes(b"train")]);
    assert_eq!(
        v.run_id.as_ref().map(RunId::as_str),
        Some("0123456789abcdef0123456789abcdef")
    );
    reg.set_alias(name, "champion", 1, &change("ship")).unwrap();
    let ok = reg.load(&uri("models:/tamper@champion")).unwrap();
    assert_eq!(ok.package, digest);
    assert_eq!(reg.load(&uri("models:/tamper/1")).unwrap().package, digest);

    // Flip one byte of one file of the package.
    let store = reg.artifact_store();
    let manifest = store.get_manifest(&digest).unwrap();
    let weights = &manifest.files["data/weights.bin"].digest;
    let path = store.object_path(weights);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    match reg.load(&uri("models:/tamper@champion")) {
        Err(Error::PackageTampered {
            name: n,
            version: 1,
            digest: d,
            problem,
        }) => {
            assert_eq!((n.as_str(), d), (name, digest));
            assert!(problem.contains("data/weights.bin"), "{problem}");
        }
        other => panic!("expected PackageTampered, got {other:?}"),
    }
    // A package missing from the store is refused the same way.
    std::fs::remove_file(store.object_path(&digest)).unwrap();
    assert!(matches!(
        reg.load(&uri("models:/tamper/1")),
        Err(Error::PackageTampered { .. })
    ));
}

#[test]
fn local_alias_history() {
    let (_d, reg) = local();
    history(&reg, &local_version(&reg));
    // The deleted model's history file is kept aside in the state directory.
    let files: Vec<_> = std::fs::read_dir(reg.state_dir().join("registry-deleted"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1, "the deleted model's history is kept aside");
}

#[test]
fn local_layout_matches_mlflow_file_store() {
    let (_d, reg) = local();
    reg.create_model("layout", Some("d"), &no_tags()).unwrap();
    let (_p, digest) = package(reg.artifact_store(), 1);
    reg.create_version(
        "layout",
        &NewVersion::new(digest, "file:///m").tag("k", "v"),
    )
    .unwrap();
    reg.set_alias("layout", "champion", 1, &change("x"))
        .unwrap();
    let m = reg.root().join("models/layout");
    for f in [
        "meta.yaml",
        "aliases/champion",
        "version-1/meta.yaml",
        "version-1/tags/k",
        "version-1/tags/mlops.package_digest",
    ] {
        assert!(m.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read_to_string(m.join("aliases/champion")).unwrap(),
        "1"
    );
    let meta = std::fs::read_to_string(m.join("version-1/meta.yaml")).unwrap();
    for line in [
        "current_stage: None",
        "name: layout",
        "source: file:///m",
        "status: READY",
        "storage_location: file:///m",
        "version: 1",
    ] {
        assert!(meta.lines().any(|l| l == line), "{line:?} not in\n{meta}");
    }
    // Nothing but models lives in models/ (builds happen in the state dir's tmp/), and
    // nothing of the SDK's inside the root, where MLflow would take it for an experiment.
    assert!(!reg.root().join(".mlops").exists());
    assert_eq!(reg.state_dir(), reg.root().with_file_name("mlruns.mlops"));
    let names: Vec<_> = std::fs::read_dir(reg.root().join("models"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["layout"]);
}

#[test]
fn local_four_processes_register_25_versions_each() {
    let (_d, reg) = local();
    reg.create_model("contended", None, &no_tags()).unwrap();
    let children: Vec<_> = (0..4)
        .map(|p| {
            crate::child::spawn(
                "registry_registrar",
                &[
                    ("MLOPS_CHILD_REGISTRY", reg.root().display().to_string()),
                    ("MLOPS_CHILD_MODEL", "contended".into()),
                    ("MLOPS_CHILD_VERSIONS", "25".into()),
                    ("MLOPS_CHILD_WRITER", format!("p{p}")),
                ],
            )
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a registering child failed");
    }
    let all = reg
        .search_versions(&VersionQuery::of_model("contended"))
        .unwrap()
        .items;
    let numbers: BTreeSet<u64> = all.iter().map(|v| v.version).collect();
    assert_eq!(all.len(), 100, "100 versions, none lost or doubled");
    assert_eq!(numbers, (1..=100).collect::<BTreeSet<u64>>());
    let writers: BTreeSet<String> = all.iter().map(|v| v.tags["writer"].clone()).collect();
    assert_eq!(writers.len(), 100, "each registration got its own version");
    for v in &all {
        assert_eq!(
            v.package_digest().unwrap(),
            Some(Digest::of_bytes(v.tags["writer"].as_bytes()))
        );
    }
}

#[test]
fn local_writer_killed_at_random_points_leaves_whole_versions() {
    let (_d, reg) = local();
    reg.create_model("crashy", None, &no_tags()).unwrap();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut last = 0;
    for round in 0..8 {
        let mut child = crate::child::spawn(
            "registry_loop",
            &[
                (
                    "MLOPS_CHILD_REGISTRY_LOOP",
                    reg.root().display().to_string(),
                ),
                ("MLOPS_CHILD_MODEL", "crashy".into()),
            ],
        );
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        std::thread::sleep(Duration::from_millis(150 + state % 350));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Every version directory MLflow can see is whole: meta, all three tags, a
        // verifiable package; numbers are 1..=n without a gap.
        let dir = reg.root().join("models/crashy");
        let mut numbers: Vec<u64> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                e.unwrap()
                    .file_name()
                    .to_str()?
                    .strip_prefix("version-")?
                    .parse()
                    .ok()
            })
            .collect();
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            (1..=numbers.len() as u64).collect::<Vec<_>>(),
            "round {round}"
        );
        for n in &numbers {
            let v = reg.get_version("crashy", *n).unwrap();
            assert_eq!(
                v.tags.len(),
                3,
                "round {round}: version {n} has tags {:?}",
                v.tags
            );
            reg.load(&uri(&format!("models:/crashy/{n}")))
                .unwrap_or_else(|e| panic!("round {round}: version {n}: {e}"));
        }
        last = numbers.len();
    }
    assert!(
        last > 0,
        "the child registered nothing: the test exercised nothing"
    );
    // The registry still works after all those kills.
    let (_p, d) = package(reg.artifact_store(), 7);
    let v = reg
        .create_version("crashy", &NewVersion::new(d, "file:///x"))
        .unwrap();
    assert_eq!(v.version, last as u64 + 1);
}

#[test]
fn registry_from_uri_opens_the_local_layout() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("store");
    let reg = mlops_core::registry_from_uri(&format!("file://{}", root.display())).unwrap();
    assert_eq!(reg.location(), format!("file://{}", root.display()));
    reg.create_model("via-uri", None, &no_tags()).unwrap();
    assert!(root.join("models/via-uri/meta.yaml").is_file());
    let again = mlops_core::registry_from_uri(root.to_str().unwrap()).unwrap();
    assert_eq!(again.get_model("via-uri").unwrap().name, "via-uri");
    for bad in ["sqlite:///x.db", "databricks://p", "file://otherhost/x"] {
        assert!(
            matches!(
                mlops_core::registry_from_uri(bad),
                Err(Error::InvalidArgument(_))
            ),
            "{bad}"
        );
    }
}

#[test]
#[ignore = "needs Python with MLflow (scripts/test)"]
fn local_interop_with_python_client() {
    let py = python();
    let (_d, reg) = local();
    let store_uri = format!("file://{}", reg.root().display());
    let name = "interop-local";
    reg.create_model(name, Some("from rust"), &no_tags())
        .unwrap();
    let (_p1, d1) = package(reg.artifact_store(), 1);
    reg.create_version(name, &NewVersion::new(d1, "file:///pkg/1"))
        .unwrap();
    reg.set_alias(name, "champion", 1, &change("rust ships v1"))
        .unwrap();
    let out = run_python(
        &py,
        &["check", &store_uri, name, "champion", "1", &d1.to_string()],
    );
    assert_eq!(out["version"], "1");

    // Python registers v2 (a package Rust stored) and moves champion; Rust resolves it.
    let (_p2, d2) = package(reg.artifact_store(), 2);
    let out = run_python(
        &py,
        &[
            "register",
            &store_uri,
            name,
            "champion",
            "file:///pkg/2",
            "-",
            &d2.to_string(),
        ],
    );
    assert_eq!(out["version"], "2");
    let loaded = reg.load(&uri("models:/interop-local@champion")).unwrap();
    assert_eq!(loaded.version.version, 2);
    assert_eq!(loaded.package, d2);
    assert_eq!(
        loaded.version.description.as_deref(),
        Some("registered from Python")
    );
    assert_eq!(loaded.version.tags["registered_by"], "python");
    // Rust keeps numbering after Python's version.
    let (_p3, d3) = package(reg.artifact_store(), 3);
    assert_eq!(
        reg.create_version(name, &NewVersion::new(d3, "file:///pkg/3"))
            .unwrap()
            .version,
        3
    );
    // The model meta.yaml Python rewrote still reads.
    assert_eq!(
        reg.get_model(name).unwrap().aliases.get("champion"),
        Some(&2)
    );
}

// ---------------------------------------------------------------------------------
// MLflow server backend.
// ---------------------------------------------------------------------------------

/// A registry on the test server with a fresh state directory, and a run whose
/// artifacts hold packages (MLflow only accepts version sources inside a run).
struct Server {
    _state: tempfile::TempDir,
    reg: MlflowRegistry,
    http: MlflowHttp,
    run_id: String,
    artifact_uri: String,
}

fn server(uri: &str) -> Server {
    let state = tempfile::tempdir().unwrap();
    let http = MlflowHttp::new(uri).unwrap();
    let reg = MlflowRegistry::new(http.clone(), state.path()).unwrap();
    let r = http
        .post(
            "runs/create",
            &json!({"experiment_id": "0", "start_time": mlops_core::now_ms()}),
            Idempotency::NotIdempotent,
        )
        .unwrap();
    let run_id = r["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let artifact_uri = r["run"]["info"]["artifact_uri"]
        .as_str()
        .unwrap()
        .to_string();
    Server {
        _state: state,
        reg,
        http,
        run_id,
        artifact_uri,
    }
}

impl Server {
    /// Stores package `seed` locally and uploads its files under the run's
    /// `model-<seed>/`; returns the version to register.
    fn upload(&self, seed: u32) -> NewVersion {
        let (dir, digest) = package(self.reg.artifact_store(), seed);
        let base = self
            .artifact_uri
            .strip_prefix("mlflow-artifacts:/")
            .unwrap()
            .to_string();
        for rel in ["MLmodel", "data/weights.bin"] {
            let bytes = std::fs::read(dir.path().join(rel)).unwrap();
            self.http
                .artifact_put(&format!("{base}/model-{seed}/{rel}"), || {
                    let b = bytes.clone();
                    let len = b.len() as u64;
                    Ok((Box::new(std::io::Cursor::new(b)), len))
                })
                .unwrap();
        }
        NewVersion::new(digest, format!("{}/model-{seed}", self.artifact_uri))
            .run_id(RunId(self.run_id.clone()))
    }
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn mlflow_crud() {
    let u = mlflow_uri();
    let s = server(&u);
    crud(&s.reg, &|seed| s.upload(seed));
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn mlflow_typed_errors_and_tampered_package() {
    let u = mlflow_uri();
    let s = server(&u);
    typed_errors(&s.reg, &|seed| s.upload(seed));
    // A package whose files on the server differ from the registered digest.
    let name = unique("tamper");
    s.reg.create_model(&name, None, &no_tags()).unwrap();
    let new = s.upload(40);
    let (_other, other_digest) = package(s.reg.artifact_store(), 41);
    let forged = NewVersion {
        package: other_digest,
        ..new.clone()
    };
    s.reg.create_version(&name, &forged).unwrap();
    // A fresh cache: load must download from the server, and the bytes do not match.
    let fresh = tempfile::tempdir().unwrap();
    let reg2 = MlflowRegistry::new(s.http.clone(), fresh.path()).unwrap();
    assert!(matches!(
        reg2.load(&uri(&format!("models:/{name}/1"))),
        Err(Error::PackageTampered { version: 1, .. })
    ));
    s.reg.delete_model(&name).unwrap();
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn mlflow_alias_history() {
    let u = mlflow_uri();
    let s = server(&u);
    history(&s.reg, &|seed| s.upload(seed));
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn mlflow_history_is_kept_in_model_tags() {
    let u = mlflow_uri();
    let s = server(&u);
    let name = unique("histtags");
    s.reg.create_model(&name, None, &no_tags()).unwrap();
    s.reg.create_version(&name, &s.upload(1)).unwrap();
    s.reg
        .set_alias(&name, "champion", 1, &change("tagged"))
        .unwrap();
    // A second client (another machine: its own state dir) sees the same history.
    let other = tempfile::tempdir().unwrap();
    let reg2 = MlflowRegistry::new(s.http.clone(), other.path()).unwrap();
    let h = reg2.alias_history(&name, "champion").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].reason, "tagged");
    // Confirmed, and dated by the server's clock (its `Date` answer header).
    assert_eq!(h[0].state, mlops_core::registry::MoveState::Done);
    let server_ms = h[0].server_time_ms.expect("the server dates the move");
    assert!(
        server_ms.abs_diff(h[0].time_ms) < 60_000,
        "server {server_ms} vs client {}",
        h[0].time_ms
    );
    let tags = reg2.get_model(&name).unwrap().tags;
    // One tag per move: the intent was overwritten by the confirmation.
    let history_tags: Vec<_> = tags
        .iter()
        .filter(|(k, _)| k.starts_with("mlops.alias_history.champion."))
        .collect();
    assert_eq!(history_tags.len(), 1, "{history_tags:?}");
    assert!(history_tags[0].1.contains("\"state\":\"done\""));
    // And loads the package from the server into its own cache, verified.
    let l = reg2
        .load(&uri(&format!("models:/{name}@champion")))
        .unwrap();
    assert_eq!(Some(l.package), l.version.package_digest().unwrap());
    assert!(reg2.artifact_store().contains(&l.package));
    s.reg.delete_model(&name).unwrap();
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn mlflow_interop_with_python_client() {
    let u = mlflow_uri();
    let py = python();
    let s = server(&u);
    let name = unique("interop");
    s.reg.create_model(&name, None, &no_tags()).unwrap();
    let v1 = s.upload(1);
    let d1 = v1.package;
    s.reg.create_version(&name, &v1).unwrap();
    s.reg
        .set_alias(&name, "champion", 1, &change("rust ships v1"))
        .unwrap();
    let out = run_python(&py, &["check", &u, &name, "champion", "1", &d1.to_string()]);
    assert_eq!(out["version"], "1");

    let v2 = s.upload(2);
    let out = run_python(
        &py,
        &[
            "register",
            &u,
            &name,
            "champion",
            &v2.source,
            &s.run_id,
            &v2.package.to_string(),
        ],
    );
    assert_eq!(out["version"], "2");
    // Resolve from a client with an empty cache: downloaded and verified.
    let fresh = tempfile::tempdir().unwrap();
    let reg2 = MlflowRegistry::new(s.http.clone(), fresh.path()).unwrap();
    let loaded = reg2
        .load(&uri(&format!("models:/{name}@champion")))
        .unwrap();
    assert_eq!(loaded.version.version, 2);
    assert_eq!(loaded.package, v2.package);
    assert_eq!(
        loaded.version.tags.get(TAG_PACKAGE_DIGEST),
        Some(&v2.package.to_string())
    );
    s.reg.delete_model(&name).unwrap();
}

/// Local -> MLflow server -> local: runs first, then a model with two versions and the
/// alias `champion`; each leg run twice, the second copying nothing.
#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn sync_models_local_to_server_and_back() {
    use mlops_core::registry::sync_models;
    use mlops_core::tracking::{CreateRun, SyncOptions, sync};
    use mlops_core::{LocalTracker, RunStatus, Tracker, tracker_from_uri};

    let u = mlflow_uri();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let tracker = LocalTracker::open(&root).unwrap();
    let exp_name = unique("sync-exp");
    let exp = tracker.create_experiment(&exp_name, None, &[]).unwrap();
    let run = tracker
        .create_run(&CreateRun {
            experiment_id: exp,
            run_name: Some("train".into()),
            start_time: None,
            tags: Vec::new(),
            parent_run_id: None,
            user_id: None,
        })
        .unwrap();
    tracker
        .update_run(&run.run_id, RunStatus::Finished, Some(1), None)
        .unwrap();
    let local = LocalRegistry::open(&root).unwrap();
    let name = unique("sync-model");
    let model_tags = BTreeMap::from([("team".to_string(), "fraud".to_string())]);
    local
        .create_model(&name, Some("card fraud"), &model_tags)
        .unwrap();
    let (_d1, p1) = package(local.artifact_store(), 1);
    let (_d2, p2) = package(local.artifact_store(), 2);
    local
        .create_version(
            &name,
            &NewVersion::new(p1, "file:///m/1").description("first"),
        )
        .unwrap();
    let dataset = local.artifact_store().put_bytes(b"training data").unwrap();
    local
        .create_version(
            &name,
            &NewVersion::new(p2, "file:///m/2")
                .run_id(RunId(run.run_id.clone()))
                .dataset(dataset)
                .tag("stage-note", "gated"),
        )
        .unwrap();
    local
        .set_alias(&name, "champion", 2, &change("best"))
        .unwrap();

    let opts = SyncOptions {
        experiments: vec![exp_name.clone()],
        ..SyncOptions::default()
    };
    let only = [name.clone()];
    let remote_tracker = tracker_from_uri(&u).unwrap();
    let state = tempfile::tempdir().unwrap();
    let remote = MlflowRegistry::new(MlflowHttp::new(&u).unwrap(), state.path()).unwrap();
    let r1 = sync(&tracker, remote_tracker.as_ref(), &opts).unwrap();
    let m1 = sync_models(&local, &remote, &r1.run_map, &only).unwrap();
    assert_eq!(
        (m1.models_created, m1.versions_copied, m1.aliases_set),
        (1, 2, 1)
    );
    let r2 = sync(&tracker, remote_tracker.as_ref(), &opts).unwrap();
    let m2 = sync_models(&local, &remote, &r2.run_map, &only).unwrap();
    assert_eq!(
        (
            m2.models_created,
            m2.versions_copied,
            m2.versions_skipped,
            m2.aliases_set
        ),
        (0, 0, 2, 0)
    );
    assert_eq!(m2.version_map, m1.version_map);

    // On the server: metadata, lineage rewritten, package loadable by a client with an
    // empty cache (downloaded from the server and verified).
    let m = remote.get_model(&name).unwrap();
    assert_eq!(m.description.as_deref(), Some("card fraud"));
    assert_eq!(m.tags.get("team").map(String::as_str), Some("fraud"));
    let remote_run = &r1.run_map[&run.run_id];
    let fresh_state = tempfile::tempdir().unwrap();
    let fresh = MlflowRegistry::new(MlflowHttp::new(&u).unwrap(), fresh_state.path()).unwrap();
    let champ = fresh
        .load(&uri(&format!("models:/{name}@champion")))
        .unwrap();
    assert_eq!(champ.package, p2);
    assert_eq!(champ.version.version, m1.version_map[&(name.clone(), 2)]);
    assert_eq!(
        champ.version.run_id.as_ref().map(RunId::as_str),
        Some(remote_run.as_str())
    );
    assert_eq!(champ.version.dataset_digests().unwrap(), vec![dataset]);
    assert_eq!(champ.version.tags["stage-note"], "gated");
    let v1 = fresh
        .load(&uri(&format!(
            "models:/{name}/{}",
            m1.version_map[&(name.clone(), 1)]
        )))
        .unwrap();
    assert_eq!(v1.package, p1);
    assert_eq!(v1.version.description.as_deref(), Some("first"));

    // And back into a fresh local store, from a registry with an empty cache.
    let back_root = dir.path().join("back");
    let back_tracker = LocalTracker::open(&back_root).unwrap();
    let back = LocalRegistry::open(&back_root).unwrap();
    let r3 = sync(remote_tracker.as_ref(), &back_tracker, &opts).unwrap();
    let m3 = sync_models(&fresh, &back, &r3.run_map, &only).unwrap();
    assert_eq!(
        (m3.models_created, m3.versions_copied, m3.aliases_set),
        (1, 2, 1)
    );
    let r4 = sync(remote_tracker.as_ref(), &back_tracker, &opts).unwrap();
    let m4 = sync_models(&fresh, &back, &r4.run_map, &only).unwrap();
    assert_eq!(
        (m4.versions_copied, m4.versions_skipped, m4.aliases_set),
        (0, 2, 0)
    );
    let home = back
        .load(&uri(&format!("models:/{name}@champion")))
        .unwrap();
    assert_eq!(home.package, p2);
    assert_eq!(
        home.version.run_id.as_ref().map(RunId::as_str),
        Some(r3.run_map[remote_run].as_str())
    );
    assert_eq!(home.version.dataset_digests().unwrap(), vec![dataset]);
    assert_eq!(
        back.get_model(&name).unwrap().description.as_deref(),
        Some("card fraud")
    );
    let b1 = back.load(&uri(&format!("models:/{name}/1"))).unwrap();
    assert_eq!(
        (b1.package, b1.version.description.as_deref()),
        (p1, Some("first"))
    );
}
