//! One corrupt `meta.yaml` (a Python writer killed mid-write) is skipped and reported,
//! never takes the whole listing down, and never leads to a second experiment of the
//! same name; a missing field is an error naming the file, never an empty string or 0.

use std::collections::BTreeMap;
use std::path::Path;

use mlops_core::registry::ModelQuery;
use mlops_core::tracking::{CreateRun, LocalTracker, Tracker, ViewType};
use mlops_core::{Error, LocalRegistry, NewVersion, Registry};

/// Cuts a file in the middle, as a writer killed mid-write leaves it.
fn tear(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

fn drop_field(path: &Path, field: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(&format!("{field}:")))
        .collect();
    assert_ne!(
        kept.len(),
        text.lines().count(),
        "{field} not in {}",
        path.display()
    );
    std::fs::write(path, kept.join("\n") + "\n").unwrap();
}

fn names_file(e: &Error, path: &Path) -> bool {
    matches!(e, Error::Malformed { path: p, .. } if p == path)
}

#[test]
fn corrupt_model_is_skipped_and_reported() {
    let d = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::open(d.path().join("mlruns")).unwrap();
    for name in ["alpha", "beta", "gamma"] {
        reg.create_model(name, None, &BTreeMap::new()).unwrap();
        let digest = reg.artifact_store().put_bytes(name.as_bytes()).unwrap();
        reg.create_version(name, &NewVersion::new(digest, "file:///p"))
            .unwrap();
    }
    let meta = reg.root().join("models/beta/meta.yaml");
    tear(&meta);
    let page = reg.search_models(&ModelQuery::default()).unwrap();
    let names: Vec<&str> = page.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["alpha", "gamma"]);
    assert_eq!(page.skipped.len(), 1);
    assert_eq!(page.skipped[0].path, meta);
    assert!(matches!(reg.get_model("beta"), Err(e) if names_file(&e, &meta)));
    // A version with a field missing: skipped in searches, an error naming the file.
    let vmeta = reg.root().join("models/gamma/version-1/meta.yaml");
    drop_field(&vmeta, "creation_timestamp");
    assert!(matches!(reg.get_version("gamma", 1), Err(e) if names_file(&e, &vmeta)));
    let versions = reg
        .search_versions(&mlops_core::registry::VersionQuery::default())
        .unwrap();
    assert!(versions.skipped.iter().any(|s| s.path == vmeta));
    assert!(versions.items.iter().all(|v| v.name != "gamma"));
}

#[test]
fn corrupt_experiment_is_skipped_and_never_duplicated() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("mlruns");
    let t = LocalTracker::open(&root).unwrap();
    let id = t.create_experiment("fraud", None, &[]).unwrap();
    t.create_experiment("other", None, &[]).unwrap();
    let meta = root.join(&id).join("meta.yaml");
    drop_field(&meta, "name"); // what a write cut before its last (sorted) key leaves
    let names: Vec<String> = t
        .list_experiments(ViewType::All)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(!names.contains(&"fraud".to_string()) && names.contains(&"other".to_string()));
    let bad = t.unreadable_experiments().unwrap();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].path, meta);
    assert!(bad[0].problem.contains("name"), "{}", bad[0].problem);
    // get_or_create must not make a second "fraud": it refuses, naming the file.
    let before = std::fs::read_dir(&root).unwrap().count();
    match t.get_or_create_experiment("fraud") {
        Err(e) => assert!(names_file(&e, &meta), "{e}"),
        Ok(id2) => panic!("a second experiment {id2} was created"),
    }
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), before);
    // A name that is found still works.
    assert!(t.get_or_create_experiment("other").is_ok());
}

#[test]
fn missing_run_fields_are_errors_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("mlruns");
    let t = LocalTracker::open(&root).unwrap();
    let exp = t.create_experiment("e", None, &[]).unwrap();
    let run = t
        .create_run(&CreateRun {
            experiment_id: exp.clone(),
            run_name: Some("r".into()),
            start_time: Some(1),
            tags: Vec::new(),
            parent_run_id: None,
            user_id: None,
        })
        .unwrap();
    let meta = root.join(&exp).join(&run.run_id).join("meta.yaml");
    drop_field(&meta, "artifact_uri");
    match t.get_run(&run.run_id) {
        Err(e) => {
            assert!(names_file(&e, &meta), "{e}");
            assert!(e.to_string().contains("artifact_uri"), "{e}");
        }
        Ok(r) => panic!("read with an empty artifact_uri: {:?}", r.info),
    }
    let emeta = root.join(&exp).join("meta.yaml");
    drop_field(&emeta, "artifact_location");
    assert!(matches!(t.get_experiment(&exp), Err(e) if names_file(&e, &emeta)));
}
