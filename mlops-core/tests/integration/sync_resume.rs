//! A sync killed at random points is finished by the next one: the target ends equal
//! to the source, with no half-copied run taken for a copy. And the source is known by
//! its identity, not its spelling.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use mlops_core::tracking::{
    CreateRun, LocalTracker, Metric, Param, RunStatus, RunTag, SearchRuns, SyncOptions,
    TAG_SYNC_SOURCE, TAG_SYNC_STATE, Tracker, ViewType, source_identity, sync,
};

fn source(root: &Path) -> LocalTracker {
    let t = LocalTracker::open(root).unwrap();
    let art = root.parent().unwrap().join("art");
    std::fs::create_dir_all(&art).unwrap();
    for e in 0..2 {
        let exp = t.create_experiment(&format!("exp{e}"), None, &[]).unwrap();
        for r in 0..4 {
            let run = t
                .create_run(&CreateRun {
                    experiment_id: exp.clone(),
                    run_name: Some(format!("r{e}-{r}")),
                    start_time: Some(1_700_000_000_000 + r),
                    tags: vec![RunTag::new("team", "a")],
                    parent_run_id: None,
                    user_id: Some("u".into()),
                })
                .unwrap();
            let params: Vec<Param> = (0..20)
                .map(|i| Param::new(format!("p{i}"), i.to_string()))
                .collect();
            t.log_batch(&run.run_id, &[], &params, &[]).unwrap();
            for key in ["loss", "acc"] {
                let pts: Vec<Metric> = (0..600)
                    .map(|i| Metric::new(key, i as f64 / 7.0, 1_700_000_000_000 + i, i))
                    .collect();
                for chunk in pts.chunks(500) {
                    t.log_batch(&run.run_id, chunk, &[], &[]).unwrap();
                }
            }
            for f in 0..3 {
                std::fs::write(art.join(format!("f{f}.txt")), format!("{e}/{r}/{f}")).unwrap();
            }
            t.log_artifact(&run.run_id, &art, Some("files")).unwrap();
            t.update_run(
                &run.run_id,
                RunStatus::Finished,
                Some(1_700_000_100_000),
                None,
            )
            .unwrap();
        }
    }
    t
}

/// Everything of a store's active runs that a sync must carry, keyed by source id.
fn contents(t: &dyn Tracker, map_back: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for exp in t.list_experiments(ViewType::ActiveOnly).unwrap() {
        for run in t
            .search_all_runs(&SearchRuns::experiment(exp.experiment_id.clone()))
            .unwrap()
        {
            let key = map_back
                .get(&run.info.run_id)
                .cloned()
                .unwrap_or_else(|| run.info.run_id.clone());
            let mut tags = run.data.tags.clone();
            tags.retain(|k, _| !k.starts_with("mlops.sync.") && !k.starts_with("mlflow."));
            let mut metrics = BTreeMap::new();
            for k in run.data.metrics.keys() {
                let mut h = t.metric_history(&run.info.run_id, k).unwrap();
                h.sort_by_key(|m| (m.step, m.timestamp));
                metrics.insert(k.clone(), h);
            }
            let arts = t
                .list_artifacts(&run.info.run_id, Some("files"))
                .unwrap()
                .len();
            let summary = format!(
                "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{arts}",
                exp.name,
                run.info.run_name,
                run.info.status,
                run.info.end_time,
                run.data.params,
                tags,
                metrics
            );
            assert!(
                out.insert(key.clone(), summary).is_none(),
                "two active copies of {key}"
            );
        }
    }
    out
}

#[test]
fn sync_killed_at_random_points_is_finished_by_the_next() {
    let d = tempfile::tempdir().unwrap();
    let from_root = d.path().join("from");
    let src = source(&from_root);
    let spawn = |to: &Path| {
        crate::child::spawn(
            "sync_runner",
            &[
                ("MLOPS_CHILD_SYNC_FROM", from_root.display().to_string()),
                ("MLOPS_CHILD_SYNC_TO", to.display().to_string()),
            ],
        )
    };
    // How long a whole sync takes here (child start included), to kill within it.
    let t0 = Instant::now();
    assert!(spawn(&d.path().join("scratch")).wait().unwrap().success());
    let whole = t0.elapsed();
    let mut rng = 0x1234_5678_9abc_def1u64;
    let mut partial_seen = 0;
    let want = contents(&src, &BTreeMap::new());
    for round in 0..5 {
        // A fresh target each round: one kill, then the sync that must finish it.
        let to_root = d.path().join(format!("to{round}"));
        let mut child = spawn(&to_root);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let frac = 0.2 + (rng % 1000) as f64 / 1000.0 * 0.75;
        std::thread::sleep(whole.mul_f64(frac));
        let _ = child.kill();
        child.wait().unwrap();
        let to = LocalTracker::open(&to_root).unwrap();
        for exp in to.list_experiments(ViewType::ActiveOnly).unwrap() {
            let runs = to
                .search_all_runs(&SearchRuns::experiment(exp.experiment_id.clone()))
                .unwrap();
            partial_seen += runs
                .iter()
                .filter(|r| r.data.tags.get(TAG_SYNC_STATE).map(String::as_str) == Some("copying"))
                .count();
        }
        let r = sync(&src, &to, &SyncOptions::default()).unwrap();
        let back: BTreeMap<String, String> = r
            .run_map
            .iter()
            .map(|(s, t)| (t.clone(), s.clone()))
            .collect();
        assert_eq!(contents(&to, &back), want, "round {round}");
        let again = sync(&src, &to, &SyncOptions::default()).unwrap();
        assert_eq!(
            (again.runs_copied, again.runs_redone, again.runs_skipped),
            (0, 0, 8)
        );
    }
    eprintln!("sync takes {whole:?}; kills left {partial_seen} partial copies in 5 rounds");
}

/// A copy interrupted after it was created (params in, metrics not) is redone, not
/// skipped.
#[test]
fn half_copied_run_is_redone() {
    let d = tempfile::tempdir().unwrap();
    let src = LocalTracker::open(d.path().join("from")).unwrap();
    let exp = src.create_experiment("e", None, &[]).unwrap();
    let run = src
        .create_run(&CreateRun {
            experiment_id: exp,
            run_name: Some("r".into()),
            start_time: Some(1),
            tags: Vec::new(),
            parent_run_id: None,
            user_id: None,
        })
        .unwrap();
    src.log_batch(
        &run.run_id,
        &[Metric::new("m", 1.0, 1, 0)],
        &[Param::new("p", "1")],
        &[],
    )
    .unwrap();
    let to = LocalTracker::open(d.path().join("to")).unwrap();
    // What a sync killed after creating the copy leaves behind.
    let texp = to.create_experiment("e", None, &[]).unwrap();
    to.create_run(&CreateRun {
        experiment_id: texp,
        run_name: Some("r".into()),
        start_time: Some(1),
        tags: vec![
            RunTag::new(TAG_SYNC_SOURCE, format!("{}#{}", src.uri(), run.run_id)),
            RunTag::new(TAG_SYNC_STATE, "copying"),
        ],
        parent_run_id: None,
        user_id: None,
    })
    .unwrap();
    let r = sync(&src, &to, &SyncOptions::default()).unwrap();
    assert_eq!((r.runs_copied, r.runs_redone, r.runs_skipped), (1, 1, 0));
    let copy = &r.run_map[&run.run_id];
    assert_eq!(to.metric_history(copy, "m").unwrap().len(), 1);
    assert_eq!(
        to.get_run(copy).unwrap().data.tags[TAG_SYNC_STATE],
        "complete"
    );
}

#[test]
fn source_identity_is_normalised() {
    let same = [
        "http://localhost:5000",
        "http://127.0.0.1:5000/",
        "HTTP://LOCALHOST:5000//",
        "http://alice:pw@localhost:5000",
        "http://[::1]:5000",
    ];
    for u in same {
        assert_eq!(source_identity(u), "http://127.0.0.1:5000", "{u}");
    }
    assert_eq!(
        source_identity("https://mlflow.example:443/"),
        "https://mlflow.example"
    );
    assert_ne!(
        source_identity("http://localhost:5001"),
        source_identity("http://localhost:5000")
    );
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mlruns");
    std::fs::create_dir_all(&p).unwrap();
    let a = source_identity(&format!("file://{}/", p.display()));
    let b = source_identity(p.to_str().unwrap());
    assert_eq!(a, b);
    assert!(!a.ends_with('/'));
}

/// A sync whose source is spelled differently (`localhost` vs `127.0.0.1`, a trailing
/// slash) finds the earlier copies; and syncing the copies back copies nothing.
#[test]
fn respelled_source_and_the_way_back_copy_nothing() {
    let d = tempfile::tempdir().unwrap();
    let a_root = d.path().join("a");
    let a = source(&a_root);
    let b = LocalTracker::open(d.path().join("b")).unwrap();
    let first = sync(&a, &b, &SyncOptions::default()).unwrap();
    assert_eq!(first.runs_copied, 8);
    // The same store by another spelling of its path.
    let respelled = LocalTracker::open(format!("{}/../a/", a_root.display())).unwrap();
    let second = sync(&respelled, &b, &SyncOptions::default()).unwrap();
    assert_eq!((second.runs_copied, second.runs_skipped), (0, 8));
    // The way back: the copies' originals are in `a`.
    let back = sync(&b, &a, &SyncOptions::default()).unwrap();
    assert_eq!((back.runs_copied, back.runs_skipped), (0, 8));
    let back2 = sync(&b, &a, &SyncOptions::default()).unwrap();
    assert_eq!(back2.runs_copied, 0);
}
