//! `Run` delivery under failure: points handed to a `Run` are delivered, spooled or
//! still buffered with an error naming how many; a spooled batch refused for good goes
//! to the dead-letter file instead of blocking; spool replay is strict.
//!
//! These run on the local file store, which (unlike MLflow's SQL store) keeps exact
//! duplicates, so "exactly once" is visible here.

use std::sync::Arc;
use std::time::Duration;

use mlops_core::Error;
use mlops_core::mlflow_http::{MlflowHttp, RetryPolicy};
use mlops_core::tracking::{
    CreateRun, LocalTracker, Param, RestTracker, Run, RunInfo, RunOptions, SpoolStats, Tracker,
};

fn local_run(root: &std::path::Path) -> (Arc<dyn Tracker>, RunInfo) {
    let t: Arc<dyn Tracker> = Arc::new(LocalTracker::open(root).unwrap());
    let exp = t.create_experiment("delivery", None, &[]).unwrap();
    let info = t
        .create_run(&CreateRun {
            experiment_id: exp,
            run_name: Some("r".into()),
            start_time: Some(1),
            tags: Vec::new(),
            parent_run_id: None,
            user_id: None,
        })
        .unwrap();
    (t, info)
}

fn steps(t: &dyn Tracker, run: &str, key: &str) -> Vec<i64> {
    let mut s: Vec<i64> = t
        .metric_history(run, key)
        .unwrap()
        .iter()
        .map(|m| m.step)
        .collect();
    s.sort();
    s
}

fn big_batches() -> RunOptions {
    RunOptions {
        batch_size: 1_000_000,
        flush_interval: Duration::from_secs(3600),
        ..RunOptions::default()
    }
}

/// A deleted run refuses the flush: the points stay buffered, the error names how
/// many, and after the run is restored they arrive exactly once.
#[test]
fn flush_to_a_deleted_run_keeps_the_points() {
    let dir = tempfile::tempdir().unwrap();
    let (t, info) = local_run(&dir.path().join("mlruns"));
    let id = info.run_id.clone();
    let run = Run::attach(t.clone(), info, big_batches());
    for i in 0..50 {
        run.log_metric_at("m", i as f64, i, 1_700_000_000_000 + i)
            .unwrap();
    }
    t.delete_run(&id).unwrap();
    match run.flush() {
        Err(Error::Undelivered { points, .. }) => assert_eq!(points, 50),
        other => panic!("expected Undelivered, got {other:?}"),
    }
    assert_eq!(run.buffered(), 50, "nothing dropped");
    t.restore_run(&id).unwrap();
    run.flush().unwrap();
    assert_eq!(run.buffered(), 0);
    assert_eq!(steps(t.as_ref(), &id, "m"), (0..50).collect::<Vec<_>>());
    run.end().unwrap();
    assert_eq!(steps(t.as_ref(), &id, "m").len(), 50, "exactly once");
}

fn offline_run(spool_dir: std::path::PathBuf) -> Run {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = MlflowHttp::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .with_retry(RetryPolicy::none());
    let t: Arc<dyn Tracker> = Arc::new(RestTracker::new(http));
    let info = RunInfo {
        run_id: "0123456789abcdef0123456789abcdef".into(),
        experiment_id: "1".into(),
        run_name: "offline".into(),
        user_id: "u".into(),
        status: mlops_core::RunStatus::Running,
        start_time: Some(1),
        end_time: None,
        artifact_uri: String::new(),
        lifecycle_stage: "active".into(),
    };
    Run::attach(
        t,
        info,
        RunOptions {
            spool_dir: Some(spool_dir),
            ..big_batches()
        },
    )
}

/// The server is away and the spool directory cannot be written: the points stay
/// buffered with an error; once the directory can be written they are spooled.
#[test]
fn unwritable_spool_keeps_the_points() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"a file where the spool directory should be").unwrap();
    let run = offline_run(blocker.join("spool"));
    for i in 0..30 {
        run.log_metric_at("m", i as f64, i, 1_700_000_000_000 + i)
            .unwrap();
    }
    match run.flush() {
        Err(Error::Undelivered { points, source, .. }) => {
            assert_eq!(points, 30);
            assert!(matches!(*source, Error::Io { .. }), "{source:?}");
        }
        other => panic!("expected Undelivered, got {other:?}"),
    }
    assert_eq!(run.buffered(), 30);
    std::fs::remove_file(&blocker).unwrap();
    run.flush().unwrap();
    assert_eq!(run.buffered(), 0);
    let spool = std::fs::read_to_string(run.spool_path().unwrap()).unwrap();
    let spooled: usize = spool
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["m"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(spooled, 30);
    std::mem::forget(run); // no server: ending it would only warn
}

fn attach_spooled(
    t: &Arc<dyn Tracker>,
    info: RunInfo,
    spool_dir: &std::path::Path,
    spool: &str,
) -> Run {
    std::fs::create_dir_all(spool_dir).unwrap();
    std::fs::write(spool_dir.join(format!("{}.jsonl", info.run_id)), spool).unwrap();
    Run::attach(
        t.clone(),
        info,
        RunOptions {
            spool_dir: Some(spool_dir.to_path_buf()),
            ..big_batches()
        },
    )
}

/// A spooled batch the store refuses for good (a param conflict) is moved to the
/// dead-letter file with the reason; the batches after it and new points arrive.
#[test]
fn refused_spooled_batch_is_dead_lettered_and_replay_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (t, info) = local_run(&dir.path().join("mlruns"));
    let id = info.run_id.clone();
    t.log_batch(&id, &[], &[Param::new("p", "0")], &[]).unwrap();
    let spool = concat!(
        r#"{"m":[["m",0.0,1700000000000,0]],"p":[["p","1"]],"t":[]}"#,
        "\n",
        r#"{"m":[["m",1.0,1700000000001,1]],"p":[],"t":[]}"#,
        "\n",
    );
    let run = attach_spooled(&t, info, &dir.path().join("spool"), spool);
    run.log_metric_at("m", 2.0, 2, 1_700_000_000_002).unwrap();
    run.flush().unwrap();
    assert_eq!(
        run.spool_stats(),
        SpoolStats {
            dead_lettered: 1,
            torn_lines_dropped: 0
        }
    );
    assert_eq!(steps(t.as_ref(), &id, "m"), vec![1, 2]);
    let dead = std::fs::read_to_string(run.dead_letter_path().unwrap()).unwrap();
    let entry: serde_json::Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(entry["batch"]["p"][0][1], "1");
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .contains("INVALID_PARAMETER_VALUE"),
        "{entry}"
    );
    assert!(!run.spool_path().unwrap().exists(), "spool drained");
    run.end().unwrap();
}

/// An unreadable line in the middle of the spool is an error and nothing is sent or
/// lost; a torn last line (a crash mid-write) is dropped and counted.
#[test]
fn spool_replay_is_strict() {
    let dir = tempfile::tempdir().unwrap();
    let (t, info) = local_run(&dir.path().join("mlruns"));
    let id = info.run_id.clone();
    let good = r#"{"m":[["m",0.0,1700000000000,0]],"p":[],"t":[]}"#;
    let bad = format!("{good}\nnot a batch\n{good}\n");
    let run = attach_spooled(&t, info.clone(), &dir.path().join("spool"), &bad);
    match run.flush() {
        Err(Error::Undelivered { source, .. }) => {
            assert!(matches!(*source, Error::Malformed { .. }), "{source:?}");
            assert!(source.to_string().contains("line 2"), "{source}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(
        std::fs::read_to_string(run.spool_path().unwrap()).unwrap(),
        bad,
        "spool left as it is"
    );
    assert!(steps(t.as_ref(), &id, "m").is_empty());
    std::mem::forget(run);

    let torn = format!(
        "{good}\n{}\n{{\"m\":[[\"m\",2.0,17",
        r#"{"m":[["m",1.0,1700000000001,1]],"p":[],"t":[]}"#
    );
    let run = attach_spooled(&t, info, &dir.path().join("spool"), &torn);
    run.flush().unwrap();
    assert_eq!(run.spool_stats().torn_lines_dropped, 1);
    assert_eq!(steps(t.as_ref(), &id, "m"), vec![0, 1]);
    run.end().unwrap();
}
