//! Credentials written into a tracking URI (`http://user:pass@host`) never leave the
//! client: not in `Debug`, `uri()`, `location()`, error messages, sync source tags or
//! audit payloads.

use std::collections::BTreeMap;

use mlops_core::tracking::{LocalTracker, SyncOptions, TAG_SYNC_SOURCE, Tracker, sync};
use mlops_core::{AliasChange, Registry, registry_from_uri, tracker_from_uri};

const SECRET: &str = "s3cret-pw";

fn with_credentials(uri: &str) -> String {
    uri.replacen("://", &format!("://alice:{SECRET}@"), 1)
}

#[test]
fn credentials_in_a_uri_show_nowhere_offline() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = with_credentials(&format!("http://127.0.0.1:{port}"));
    let t = tracker_from_uri(&uri).unwrap();
    let r = registry_from_uri(&uri).unwrap();
    let err = t.get_experiment("0").unwrap_err();
    for shown in [
        format!("{t:?}"),
        t.uri(),
        r.location(),
        format!("{r:?}"),
        err.to_string(),
        format!("{err:?}"),
        tracker_from_uri(&format!("weird://alice:{SECRET}@x"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
    ] {
        assert!(!shown.contains(SECRET), "credential shown: {shown}");
    }
    assert_eq!(t.uri(), format!("http://127.0.0.1:{port}"));
}

/// Through a real server: the sync tag and the audit payload of an alias move hold the
/// credential-free identity; the credentials still authenticate the calls.
#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn credentials_in_a_uri_show_nowhere_against_a_server() {
    let base = crate::harness::mlflow_uri();
    let uri = with_credentials(&base);
    let remote = tracker_from_uri(&uri).unwrap();
    let name = format!("secret-{}", crate::tracking::rand_suffix());
    let exp = remote.create_experiment(&name, None, &[]).unwrap();
    let run = remote
        .create_run(&mlops_core::tracking::CreateRun {
            experiment_id: exp,
            run_name: Some("r".into()),
            start_time: Some(1),
            tags: Vec::new(),
            parent_run_id: None,
            user_id: None,
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let local = LocalTracker::open(dir.path().join("mlruns")).unwrap();
    let rep = sync(
        remote.as_ref(),
        &local,
        &SyncOptions {
            experiments: vec![name.clone()],
            ..SyncOptions::default()
        },
    )
    .unwrap();
    let copy = local.get_run(&rep.run_map[&run.run_id]).unwrap();
    let tag = &copy.data.tags[TAG_SYNC_SOURCE];
    assert!(!tag.contains(SECRET), "{tag}");
    assert_eq!(tag, &format!("{base}#{}", run.run_id));

    let reg = mlops_core::MlflowRegistry::from_env_with_url(&uri).unwrap();
    let state = tempfile::tempdir().unwrap();
    let reg = mlops_core::MlflowRegistry::new(reg.http().clone(), state.path()).unwrap();
    let model = format!("secret-model-{}", crate::tracking::rand_suffix());
    reg.create_model(&model, None, &BTreeMap::new()).unwrap();
    let digest = reg.artifact_store().put_bytes(b"x").unwrap();
    let v = reg
        .create_version(
            &model,
            &mlops_core::NewVersion::new(digest, format!("{}/x", run.artifact_uri))
                .run_id(mlops_core::RunId(run.run_id.clone())),
        )
        .unwrap();
    reg.set_alias(&model, "champion", v.version, &AliasChange::new("t"))
        .unwrap();
    let audit = std::fs::read_to_string(reg.audit_log().path()).unwrap();
    assert!(audit.contains("registry.alias.set"));
    assert!(!audit.contains(SECRET), "credential in the audit log");
    reg.delete_model(&model).unwrap();
}
