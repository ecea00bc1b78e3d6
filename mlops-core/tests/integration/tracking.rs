//! Tracking on the local MLflow file store: round trips, MLflow semantics, interop with
//! the Python client (when `MLOPS_TEST_PYTHON` is set), concurrency, proptest.
//!
//! The reference run and the comparison helpers are shared with `mlflow_server`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use mlops_core::Digest;
use mlops_core::tracking::{
    LocalTracker, Metric, Run, RunOptions, RunStatus, SearchRuns, Tracker, tracker_from_uri,
};
use proptest::prelude::*;
use serde_json::Value;

/// What a reference run holds, as logged.
#[derive(Debug, Clone)]
pub struct Expected {
    pub run_id: String,
    pub run_name: String,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Vec<Metric>>,
    pub artifacts: BTreeMap<String, String>,
    pub children: Vec<String>,
}

pub use crate::harness::python;

pub fn check_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop/tracking_check.py")
}

/// Writes a directory of artifacts (text, binary, nested) and returns it with hashes.
pub fn artifact_dir(root: &Path) -> BTreeMap<String, String> {
    let d = root.join("artifacts-src");
    std::fs::create_dir_all(d.join("model/weights")).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("README.txt", b"reference run\n".to_vec()),
        ("model/MLmodel", b"flavors: {}\n".to_vec()),
        (
            "model/weights/w.bin",
            (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect(),
        ),
    ];
    let mut out = BTreeMap::new();
    for (p, bytes) in files {
        std::fs::write(d.join(p), &bytes).unwrap();
        out.insert(format!("outputs/{p}"), Digest::of_bytes(&bytes).to_hex());
    }
    out
}

/// Logs the reference run through a `Run` handle: params, 10,000 points over 3 keys
/// with steps (one NaN; ±inf too when `with_inf`), tags, two nested runs, a directory
/// of artifacts.
pub fn log_reference_run(
    tracker: Arc<dyn Tracker>,
    experiment: &str,
    with_inf: bool,
    work: &Path,
) -> Expected {
    let exp_id = tracker.get_or_create_experiment(experiment).unwrap();
    let run = Run::start(
        tracker.clone(),
        &exp_id,
        RunOptions::named("rust-reference"),
    )
    .unwrap();
    let mut params = BTreeMap::new();
    for (k, v) in [("lr", "0.01"), ("layers", "3"), ("opt/name", "adam β1")] {
        run.log_param(k, v).unwrap();
        params.insert(k.to_string(), v.to_string());
    }
    let mut tags = BTreeMap::new();
    for (k, v) in [
        ("team", "rust"),
        ("note", "it's \"quoted\"\nand multi-line"),
    ] {
        run.set_tag(k, v).unwrap();
        tags.insert(k.to_string(), v.to_string());
    }
    let mut metrics: BTreeMap<String, Vec<Metric>> = BTreeMap::new();
    let t0 = 1_700_000_000_000i64;
    for i in 0..10_000i64 {
        let (key, step) = match i % 3 {
            0 => ("loss", i / 3),
            1 => ("acc", i / 3),
            _ => ("group/lr", i / 3),
        };
        let mut value = match key {
            "loss" => 1.0 / (step as f64 + 1.0),
            "acc" => step as f64 / 3333.0,
            _ => 0.1 * 0.999f64.powi(step as i32),
        };
        if key == "acc" && step == 10 {
            value = f64::NAN;
        }
        if with_inf && key == "loss" && step == 20 {
            value = f64::INFINITY;
        }
        if with_inf && key == "loss" && step == 21 {
            value = f64::NEG_INFINITY;
        }
        let ts = t0 + i;
        run.log_metric_at(key, value, step, ts).unwrap();
        metrics
            .entry(key.to_string())
            .or_default()
            .push(Metric::new(key, value, ts, step));
    }
    let artifacts = artifact_dir(work);
    run.log_artifact(&work.join("artifacts-src"), Some("outputs"))
        .unwrap();
    let mut children = Vec::new();
    for n in 0..2 {
        let c = run.child(&format!("child-{n}")).unwrap();
        c.log_metric_at("child_loss", 0.5 + n as f64, 1, t0)
            .unwrap();
        children.push(c.id().to_string());
        c.end().unwrap();
    }
    children.sort();
    tags.insert("mlflow.runName".into(), "rust-reference".into());
    let run_id = run.id().to_string();
    run.end().unwrap();
    Expected {
        run_id,
        run_name: "rust-reference".into(),
        params,
        tags,
        metrics,
        artifacts,
        children,
    }
}

fn parse_value(s: &str) -> f64 {
    match s {
        "nan" => f64::NAN,
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        other => other.parse().unwrap(),
    }
}

fn sorted(mut v: Vec<Metric>) -> Vec<Metric> {
    v.sort_by(|a, b| {
        (a.step, a.timestamp)
            .cmp(&(b.step, b.timestamp))
            .then(a.value.total_cmp(&b.value))
    });
    v
}

/// Python's dump of a run, as metrics and maps.
pub fn dump_metrics(dump: &Value) -> BTreeMap<String, Vec<Metric>> {
    let mut out = BTreeMap::new();
    for (k, pts) in dump["metrics"].as_object().unwrap() {
        let v: Vec<Metric> = pts
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                Metric::new(
                    k.clone(),
                    parse_value(p[1].as_str().unwrap()),
                    p[0].as_i64().unwrap(),
                    p[2].as_i64().unwrap(),
                )
            })
            .collect();
        out.insert(k.clone(), v);
    }
    out
}

fn str_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// Runs the Python check script; returns its JSON dump.
pub fn run_python(args: &[&str], work: &Path) -> Value {
    let py = python();
    let out = work.join(format!("dump-{}.json", rand_suffix()));
    let status = Command::new(&py)
        .arg(check_script())
        .args(args)
        .arg("--out")
        .arg(&out)
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .status()
        .expect("run python");
    assert!(status.success(), "python check script failed: {args:?}");
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

pub fn rand_suffix() -> String {
    mlops_core::RunId::random().0[..12].to_string()
}

/// `value_map` turns a value as stored into what the reader sees (the SQL store keeps
/// ±inf as ±f64::MAX).
pub fn assert_dump_matches(dump: &Value, exp: &Expected, value_map: fn(f64) -> f64) {
    assert_eq!(dump["run_id"], exp.run_id.as_str());
    assert_eq!(dump["run_name"], exp.run_name.as_str());
    assert_eq!(dump["status"], "FINISHED");
    assert!(dump["end_time"].as_i64().unwrap() >= dump["start_time"].as_i64().unwrap());
    assert_eq!(str_map(&dump["params"]), exp.params);
    let tags = str_map(&dump["tags"]);
    for (k, v) in &exp.tags {
        assert_eq!(tags.get(k), Some(v), "tag {k}");
    }
    let got = dump_metrics(dump);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        exp.metrics.keys().collect::<Vec<_>>()
    );
    let mut total = 0;
    for (k, pts) in &exp.metrics {
        let want: Vec<Metric> = pts
            .iter()
            .map(|m| Metric::new(&m.key, value_map(m.value), m.timestamp, m.step))
            .collect();
        assert_eq!(sorted(got[k].clone()), sorted(want), "history of {k}");
        total += pts.len();
    }
    assert_eq!(total, 10_000);
    assert_eq!(str_map(&dump["artifacts"]), exp.artifacts);
    let children: Vec<String> = dump["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(children, exp.children);
}

/// Reads a run (written by Python) through the Rust tracker and compares it with
/// Python's own dump of it.
pub fn assert_rust_reads_dump(tracker: &dyn Tracker, dump: &Value, work: &Path) {
    let run_id = dump["run_id"].as_str().unwrap();
    let run = tracker.get_run(run_id).unwrap();
    assert_eq!(run.info.run_name, dump["run_name"].as_str().unwrap());
    assert_eq!(run.info.status.as_str(), dump["status"].as_str().unwrap());
    assert_eq!(run.info.start_time, dump["start_time"].as_i64());
    assert_eq!(run.info.end_time, dump["end_time"].as_i64());
    assert_eq!(
        run.info.experiment_id,
        dump["experiment_id"].as_str().unwrap()
    );
    assert_eq!(run.data.params, str_map(&dump["params"]));
    assert_eq!(run.data.tags, str_map(&dump["tags"]));
    let want = dump_metrics(dump);
    assert_eq!(
        run.data.metrics.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, pts) in &want {
        let got = tracker.metric_history(run_id, k).unwrap();
        assert_eq!(sorted(got), sorted(pts.clone()), "history of {k}");
    }
    let dest = work.join(format!("dl-{}", rand_suffix()));
    tracker.download_artifacts(run_id, "", &dest).unwrap();
    let mut got = BTreeMap::new();
    walk(&dest, &dest, &mut got);
    assert_eq!(got, str_map(&dump["artifacts"]));
    let children = tracker
        .search_all_runs(
            &SearchRuns::experiment(run.info.experiment_id.clone())
                .filter(format!("tags.mlflow.parentRunId = '{run_id}'")),
        )
        .unwrap();
    let mut ids: Vec<String> = children.into_iter().map(|r| r.info.run_id).collect();
    ids.sort();
    let want_children: Vec<String> = dump["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, want_children);
}

pub fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, Digest::of_file(&p).unwrap().to_hex());
        }
    }
}

/// Compares a reference run read through the Rust tracker with what was logged.
fn assert_rust_reads_expected(t: &dyn Tracker, exp: &Expected, work: &Path) {
    let run = t.get_run(&exp.run_id).unwrap();
    assert_eq!(run.info.status, RunStatus::Finished);
    assert_eq!(run.data.params, exp.params);
    for (k, v) in &exp.tags {
        assert_eq!(run.data.tags.get(k), Some(v));
    }
    for (k, pts) in &exp.metrics {
        assert_eq!(&t.metric_history(&exp.run_id, k).unwrap(), pts, "{k}");
    }
    let dest = work.join("rust-dl");
    t.download_artifacts(&exp.run_id, "", &dest).unwrap();
    let mut got = BTreeMap::new();
    walk(&dest, &dest, &mut got);
    assert_eq!(got, exp.artifacts);
}

#[test]
fn local_store_round_trip_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let t: Arc<dyn Tracker> = Arc::new(LocalTracker::open(&root).unwrap());
    let exp = log_reference_run(t.clone(), "local-ref", true, dir.path());
    assert_rust_reads_expected(t.as_ref(), &exp, dir.path());
    // MLflow's layout, byte for byte where it matters.
    assert!(root.join("0/meta.yaml").is_file());
    assert!(root.join(".trash").is_dir());
    let e = t.get_experiment_by_name("local-ref").unwrap().unwrap();
    let run_dir = root.join(&e.experiment_id).join(&exp.run_id);
    let loss = std::fs::read_to_string(run_dir.join("metrics/loss")).unwrap();
    let first = loss.lines().next().unwrap();
    assert_eq!(first, "1700000000000 1.0 0");
    assert!(loss.contains(" inf 20\n") && loss.contains(" -inf 21\n"));
    assert!(run_dir.join("metrics/group/lr").is_file());
    assert_eq!(
        std::fs::read_to_string(run_dir.join("params/lr")).unwrap(),
        "0.01"
    );
    let meta = std::fs::read_to_string(run_dir.join("meta.yaml")).unwrap();
    assert!(meta.contains("status: 3\n"), "{meta}");
    // The same store opened through a URI.
    let t2 = tracker_from_uri(&format!("file://{}", root.display())).unwrap();
    assert_eq!(t2.get_run(&exp.run_id).unwrap().info.run_id, exp.run_id);
}

#[test]
fn local_store_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let t = LocalTracker::open(dir.path().join("mlruns")).unwrap();
    let exp = t.create_experiment("sem", None, &[]).unwrap();
    let err = t.create_experiment("sem", None, &[]).unwrap_err();
    assert_eq!(
        err.mlflow_code().unwrap().as_str(),
        "RESOURCE_ALREADY_EXISTS"
    );
    assert!(
        t.get_run("0123456789abcdef0123456789abcdef")
            .unwrap_err()
            .is_not_found()
    );
    assert!(t.get_run("../../etc").is_err());
    let info = t
        .create_run(&mlops_core::tracking::CreateRun {
            experiment_id: exp.clone(),
            ..Default::default()
        })
        .unwrap();
    let r = &info.run_id;
    // Params are write-once.
    t.log_param(r, "lr", "0.1").unwrap();
    t.log_param(r, "lr", "0.1").unwrap();
    let e = t.log_param(r, "lr", "0.2").unwrap_err();
    assert_eq!(e.mlflow_code().unwrap().as_str(), "INVALID_PARAMETER_VALUE");
    // Limits are checked before writing.
    assert!(t.log_param(r, "big", &"x".repeat(6001)).is_err());
    assert!(t.set_tag(r, "big", &"x".repeat(8001)).is_err());
    assert!(t.log_metric(r, &"k".repeat(251), 1.0, 0, 0).is_err());
    assert!(t.log_metric(r, "../escape", 1.0, 0, 0).is_err());
    assert!(!dir.path().join("escape").exists());
    // Tags overwrite, and can be deleted.
    t.set_tag(r, "t", "1").unwrap();
    t.set_tag(r, "t", "2").unwrap();
    assert_eq!(t.get_run(r).unwrap().data.tags["t"], "2");
    t.delete_tag(r, "t").unwrap();
    assert!(!t.get_run(r).unwrap().data.tags.contains_key("t"));
    // "Latest" is MLflow's: max step, then timestamp, then value.
    t.log_metric(r, "m", 5.0, 10, 5).unwrap();
    t.log_metric(r, "m", 3.0, 20, 3).unwrap();
    assert_eq!(t.get_run(r).unwrap().data.metrics["m"].value, 5.0);
    // Delete / restore.
    t.delete_run(r).unwrap();
    let q = SearchRuns::experiment(exp.clone());
    assert!(t.search_runs(&q).unwrap().runs.is_empty());
    assert!(t.log_metric(r, "m", 1.0, 0, 0).is_err());
    t.restore_run(r).unwrap();
    assert_eq!(t.search_runs(&q).unwrap().runs.len(), 1);
}

#[test]
fn local_search_filter_order_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let t: Arc<dyn Tracker> = Arc::new(LocalTracker::open(dir.path().join("mlruns")).unwrap());
    let exp = t.get_or_create_experiment("search").unwrap();
    for i in 0..25 {
        let run = Run::start(t.clone(), &exp, RunOptions::named(format!("r-{i:02}"))).unwrap();
        run.log_metric("acc", i as f64 / 25.0, 0).unwrap();
        run.log_param("lr", if i % 2 == 0 { "0.01" } else { "0.1" })
            .unwrap();
        run.set_tag("group", format!("g{}", i % 3)).unwrap();
        if i % 5 == 0 {
            run.end_with(RunStatus::Killed).unwrap();
        } else {
            run.end().unwrap();
        }
    }
    let q = SearchRuns::experiment(exp.clone())
        .filter("metrics.acc > 0.5 and params.lr = '0.01' and tags.group LIKE 'g%' and attributes.status = 'FINISHED'")
        .order_by("metrics.acc DESC");
    let runs = t.search_all_runs(&q).unwrap();
    let names: Vec<_> = runs.iter().map(|r| r.info.run_name.as_str()).collect();
    assert_eq!(names, ["r-24", "r-22", "r-18", "r-16", "r-14"]);
    // Paging: 25 runs in pages of 10.
    let mut page = t
        .search_runs(&SearchRuns::experiment(exp.clone()).max_results(10))
        .unwrap();
    let mut seen = page.runs.len();
    while let Some(tok) = page.next_page_token.clone() {
        let mut q = SearchRuns::experiment(exp.clone()).max_results(10);
        q.page_token = Some(tok);
        page = t.search_runs(&q).unwrap();
        seen += page.runs.len();
    }
    assert_eq!(seen, 25);
    let ilike = t
        .search_all_runs(
            &SearchRuns::experiment(exp.clone()).filter("attributes.run_name ILIKE 'R-0%'"),
        )
        .unwrap();
    assert_eq!(ilike.len(), 10);
    assert!(
        t.search_runs(&SearchRuns::experiment(exp).filter("metrics.acc >> 1"))
            .is_err()
    );
}

#[test]
fn dropped_run_ends_failed_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let t: Arc<dyn Tracker> = Arc::new(LocalTracker::open(dir.path().join("mlruns")).unwrap());
    let exp = t.get_or_create_experiment("drop").unwrap();
    let id = {
        let run = Run::start(t.clone(), &exp, RunOptions::default()).unwrap();
        for i in 0..10 {
            run.log_metric("m", i as f64, i).unwrap();
        }
        run.id().to_string()
    };
    let r = t.get_run(&id).unwrap();
    assert_eq!(r.info.status, RunStatus::Failed);
    assert!(r.info.end_time.is_some());
    assert_eq!(t.metric_history(&id, "m").unwrap().len(), 10);
}

#[test]
fn sdk_state_dir_keeps_mlflow_happy() {
    let root = Path::new("/x/mlruns");
    let s = mlops_core::tracking::sdk_state_dir(root);
    assert!(!s.starts_with(root));
}

/// Several processes log to one run at once: every point of every process is there,
/// every line parses.
#[test]
fn concurrent_processes_log_to_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let t = LocalTracker::open(&root).unwrap();
    let exp = t.create_experiment("conc", None, &[]).unwrap();
    let info = t
        .create_run(&mlops_core::tracking::CreateRun {
            experiment_id: exp,
            ..Default::default()
        })
        .unwrap();
    let children: Vec<_> = (0..4)
        .map(|n| {
            crate::child::spawn(
                "tracking_logger",
                &[
                    ("MLOPS_CHILD_TRACKING_ROOT", root.display().to_string()),
                    ("MLOPS_CHILD_RUN", info.run_id.clone()),
                    ("MLOPS_CHILD_ACTOR", format!("p{n}")),
                ],
            )
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let hist = t.metric_history(&info.run_id, "shared").unwrap();
    assert_eq!(hist.len(), 4 * 20_000);
    let mut steps = std::collections::BTreeSet::new();
    for m in &hist {
        assert!(steps.insert((m.value as i64, m.step)), "duplicate point");
    }
}

#[test]
#[ignore = "needs Python with MLflow (scripts/test)"]
fn local_interop_rust_to_python() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let t: Arc<dyn Tracker> = Arc::new(LocalTracker::open(&root).unwrap());
    let exp = log_reference_run(t, "interop-local", true, dir.path());
    let uri = format!("file://{}", root.display());
    let dump = run_python(&["dump", "--uri", &uri, "--run", &exp.run_id], dir.path());
    assert_dump_matches(&dump, &exp, |v| v);
}

#[test]
#[ignore = "needs Python with MLflow (scripts/test)"]
fn local_interop_python_to_rust() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mlruns");
    let uri = format!("file://{}", root.display());
    let dump = run_python(
        &["write", "--uri", &uri, "--experiment", "from-python"],
        dir.path(),
    );
    let t = LocalTracker::open(&root).unwrap();
    assert_rust_reads_dump(&t, &dump, dir.path());
    // Rust can keep logging to the Python-made run and Python still reads it.
    let id = dump["run_id"].as_str().unwrap();
    t.log_metric(id, "added_from_rust", 1.5, 1, 3).unwrap();
    let again = run_python(&["dump", "--uri", &uri, "--run", id], dir.path());
    assert_eq!(again["metrics"]["added_from_rust"][0][1], "1.5");
}

#[derive(Debug, Clone)]
enum Op {
    Metric(u8, f64, i64, i64),
    Param(u8, String),
    Tag(u8, String),
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    let value = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        -1e6..1e6f64,
    ];
    prop_oneof![
        6 => (0u8..4, value, 0i64..2_000_000_000_000, -5i64..1_000_000).prop_map(|(k, v, t, s)| Op::Metric(k, v, t, s)),
        1 => (0u8..6, "[a-zA-Z0-9 ._é'\"\n-]{0,40}").prop_map(|(k, v)| Op::Param(k, v)),
        1 => (0u8..3, "[a-zA-Z0-9 ._é'\"\n-]{0,40}").prop_map(|(k, v)| Op::Tag(k, v)),
        1 => Just(Op::Flush),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any sequence of log calls on the local store reads back as logged.
    #[test]
    fn local_store_reads_back_as_logged(ops in proptest::collection::vec(op(), 0..120)) {
        let dir = tempfile::tempdir().unwrap();
        let t: Arc<dyn Tracker> = Arc::new(LocalTracker::open(dir.path().join("mlruns")).unwrap());
        let exp = t.get_or_create_experiment("prop").unwrap();
        let run = Run::start(t.clone(), &exp, RunOptions { batch_size: 7, ..RunOptions::default() }).unwrap();
        let mut metrics: BTreeMap<String, Vec<Metric>> = BTreeMap::new();
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        let mut tags: BTreeMap<String, String> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Metric(k, v, ts, s) => {
                    let key = ["a", "b/c", "d.e", "f g"][*k as usize];
                    run.log_metric_at(key, *v, *s, *ts).unwrap();
                    metrics.entry(key.into()).or_default().push(Metric::new(key, *v, *ts, *s));
                }
                Op::Param(k, v) => {
                    let key = format!("p{k}");
                    let r = run.log_param(&key, v);
                    match params.get(&key) {
                        Some(old) if old != v => prop_assert!(r.is_err()),
                        _ => { r.unwrap(); params.insert(key, v.clone()); }
                    }
                }
                Op::Tag(k, v) => {
                    run.set_tag(&format!("t/{k}"), v).unwrap();
                    tags.insert(format!("t/{k}"), v.clone());
                }
                Op::Flush => run.flush().unwrap(),
            }
        }
        let id = run.id().to_string();
        run.end().unwrap();
        let rec = t.get_run(&id).unwrap();
        prop_assert_eq!(&rec.data.params, &params);
        for (k, v) in &tags {
            prop_assert_eq!(rec.data.tags.get(k), Some(v));
        }
        for (k, pts) in &metrics {
            let got = t.metric_history(&id, k).unwrap();
            prop_assert_eq!(got.len(), pts.len());
            for (g, w) in got.iter().zip(pts) {
                prop_assert_eq!(g.value.to_bits() == w.value.to_bits() || (g.value.is_nan() && w.value.is_nan()), true);
                prop_assert_eq!((g.timestamp, g.step), (w.timestamp, w.step));
            }
            let latest = pts.iter().max_by(|a, b| {
                let v = |x: f64| if x.is_nan() { f64::NEG_INFINITY } else { x };
                (a.step, a.timestamp).cmp(&(b.step, b.timestamp)).then(v(a.value).total_cmp(&v(b.value))).then(b.value.is_nan().cmp(&a.value.is_nan()))
            }).unwrap();
            prop_assert_eq!(&rec.data.metrics[k], latest);
        }
        prop_assert_eq!(rec.data.metrics.len(), metrics.len());
    }
}
