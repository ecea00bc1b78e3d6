//! Tracked training, gates against the champion, CV and grid search, on both backends:
//! the local MLflow file store always, a real MLflow server when `scripts/test` runs one.

use std::sync::Arc;

use mlops_core::mlflow_http::MlflowHttp;
use mlops_core::registry::{LocalRegistry, MlflowRegistry, Registry};
use mlops_core::tracking::{LocalTracker, Tracker, tracker_from_uri};
use mlops_train::{
    Algorithm, FeatureSpec, Gate, RegressionTest, TargetSpec, TargetTask, TrainConfig, TrainingJob,
    cross_validate, grid_search, train, train_tracked,
};

use crate::common::{split, winequality};

/// The MLflow server `scripts/test` started; it must answer (tests calling this are
/// `#[ignore]`d under a plain `cargo test`).
fn mlflow_uri() -> String {
    let uri = std::env::var("MLOPS_TEST_MLFLOW_URI")
        .ok()
        .filter(|s| !s.is_empty())
        .expect("needs MLflow: run it through scripts/test (MLOPS_TEST_MLFLOW_URI is unset)");
    let t = tracker_from_uri(&uri).unwrap();
    t.list_experiments(mlops_core::tracking::ViewType::ActiveOnly)
        .unwrap_or_else(|e| panic!("MLOPS_TEST_MLFLOW_URI={uri} is set but does not answer: {e}"));
    uri
}

fn config(alg: Algorithm) -> TrainConfig {
    let df = winequality();
    TrainConfig {
        features: FeatureSpec::all_numeric_standardized(&df, &["quality", "good"]),
        target: TargetSpec {
            column: "good".into(),
            task: TargetTask::Classification,
        },
        algorithm: alg,
        seed: 11,
    }
}

fn policy() -> Gate {
    Gate::all([
        Gate::at_least("roc_auc_score", 0.7).unwrap(),
        Gate::no_regression("roc_auc_score", RegressionTest::Delong, 0.05).unwrap(),
        Gate::no_regression("accuracy_score", RegressionTest::Mcnemar, 0.05).unwrap(),
        Gate::max_model_size(50_000_000),
    ])
}

/// Two jobs: the first becomes champion; a much worse second one is refused; a good
/// third one is compared with the champion on the same rows and promoted.
fn champion_cycle(tracker: Arc<dyn Tracker>, registry: &dyn Registry, model_name: &str) {
    let (tr, te) = split(&winequality(), 0.3, 9);
    let first_config = config(Algorithm::logistic());
    let mut job = TrainingJob::for_config("train-tests", &first_config, &te);
    job.model_name = Some(model_name.into());
    job.gate = Some(policy());
    job.latency_rows = 5;
    let tracked = |job: &TrainingJob<'_>, cfg: &TrainConfig| {
        let mut job = job.clone();
        job.params = cfg.params();
        let model = train(&tr, cfg).unwrap();
        train_tracked(&job, &model, tracker.clone(), Some(registry)).unwrap()
    };
    let first = tracked(&job, &first_config);
    eprintln!("{}", first.gate);
    assert!(first.gate.passed && first.promoted, "{}", first.gate);
    assert_eq!(first.champion_version, None);
    let v1 = first.version.unwrap();
    assert_eq!(
        registry
            .get_version_by_alias(model_name, "champion")
            .unwrap()
            .version,
        v1
    );

    // A stump is worse: DeLong and McNemar reject it, the champion stays.
    let second = tracked(&job, &config(Algorithm::tree(Some(1))));
    eprintln!("{}", second.gate);
    assert!(!second.gate.passed, "{}", second.gate);
    assert_eq!(second.champion_version, Some(v1));
    assert_eq!(second.version, None);
    assert_eq!(
        registry
            .get_version_by_alias(model_name, "champion")
            .unwrap()
            .version,
        v1
    );
    assert_eq!(second.gate.exit_code(), 1);

    // The run recorded params, metrics, lineage tags and the package.
    let rec = tracker.get_run(second.run_id.as_str()).unwrap();
    assert_eq!(rec.data.params["algorithm"], "decision_tree");
    assert!(rec.data.metrics.contains_key("roc_auc_score"));
    assert!(rec.data.metrics.contains_key("champion.roc_auc_score"));
    assert_eq!(rec.data.tags["mlops.gate"], "failed");
    let arts = tracker
        .list_artifacts(second.run_id.as_str(), Some("model"))
        .unwrap();
    assert!(arts.iter().any(|f| f.path.ends_with("MLmodel")), "{arts:?}");

    // A forest is at least as good: compared on the same rows, promoted.
    let third = tracked(&job, &config(Algorithm::forest(30, Some(8))));
    eprintln!("{}", third.gate);
    assert_eq!(third.champion_version, Some(v1));
    let champ = third.champion.as_ref().unwrap();
    assert_eq!(champ.rows_digest, third.evaluation.rows_digest);
    if third.gate.passed {
        assert_eq!(
            registry
                .get_version_by_alias(model_name, "champion")
                .unwrap()
                .version,
            third.version.unwrap()
        );
    }
}

#[test]
fn champion_cycle_on_the_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let tracker: Arc<dyn Tracker> =
        Arc::new(LocalTracker::open(dir.path().join("mlruns")).unwrap());
    let registry = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    champion_cycle(tracker, &registry, "wine-good");
}

/// MLflow's own Python client reads the champion, its run and the model's signature
/// from the local store.
#[test]
#[ignore = "needs Python with MLflow (scripts/test)"]
fn champion_cycle_on_the_local_store_read_by_python() {
    let python = std::env::var("MLOPS_TEST_PYTHON")
        .ok()
        .filter(|s| !s.is_empty())
        .expect("needs Python with MLflow: run it through scripts/test");
    let dir = tempfile::tempdir().unwrap();
    let tracker: Arc<dyn Tracker> =
        Arc::new(LocalTracker::open(dir.path().join("mlruns")).unwrap());
    let registry = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    champion_cycle(tracker, &registry, "wine-good");
    let script = r#"
import sys, mlflow
from mlflow.models import Model
mlflow.set_tracking_uri("file://" + sys.argv[1])
c = mlflow.MlflowClient()
mv = c.get_model_version_by_alias("wine-good", "champion")
run = c.get_run(mv.run_id)
assert "roc_auc_score" in run.data.metrics, run.data.metrics
p = c.download_artifacts(mv.run_id, "model", sys.argv[2])
m = Model.load(p + "/MLmodel")
names = m.signature.inputs.input_names()
assert names[0] == "fixed acidity" and len(names) == 11, names
assert m.signature.outputs.input_names() == ["good"]
print("ok", mv.version, run.data.params["algorithm"])
"#;
    std::fs::create_dir_all(dir.path().join("download")).unwrap();
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(dir.path().join("mlruns"))
        .arg(dir.path().join("download"))
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("python mlflow client: {stdout}");
    assert!(
        out.status.success() && stdout.starts_with("ok"),
        "MLflow's client could not read what we logged:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs MLflow (scripts/test)"]
fn champion_cycle_on_a_real_mlflow_server() {
    let uri = mlflow_uri();
    let dir = tempfile::tempdir().unwrap();
    let tracker = tracker_from_uri(&uri).unwrap();
    let registry = MlflowRegistry::new(MlflowHttp::from_env(&uri).unwrap(), dir.path()).unwrap();
    let name = format!("wine-good-{}", &mlops_core::RunId::random().as_str()[..8]);
    champion_cycle(tracker, &registry, &name);
}

#[test]
fn cross_validation_and_grid_search_log_child_runs() {
    let dir = tempfile::tempdir().unwrap();
    let tracker: Arc<dyn Tracker> =
        Arc::new(LocalTracker::open(dir.path().join("mlruns")).unwrap());
    let df = winequality();
    let parent = mlops_core::tracking::Run::start_in(
        tracker.clone(),
        "grid",
        mlops_core::tracking::RunOptions::named("grid"),
    )
    .unwrap();
    let cv = cross_validate(&df, &config(Algorithm::logistic()), 5, 3, Some(&parent)).unwrap();
    assert_eq!(cv.folds.len(), 5);
    assert_eq!(
        cv.folds.iter().map(|f| f.rows).sum::<u64>(),
        df.height() as u64
    );
    let auc = cv.mean["roc_auc_score"];
    eprintln!(
        "5-fold logistic: roc auc {auc:.4} ± {:.4}",
        cv.std["roc_auc_score"]
    );
    assert!(auc > 0.75);
    let grid = grid_search(
        &df,
        &config(Algorithm::logistic()),
        &[
            Algorithm::tree(Some(2)),
            Algorithm::tree(Some(6)),
            Algorithm::logistic(),
        ],
        3,
        "roc_auc_score",
        Some(&parent),
    )
    .unwrap();
    for t in &grid.trials {
        eprintln!(
            "trial {}: {:.4} ± {:.4}",
            t.algorithm.name(),
            t.score,
            t.std
        );
    }
    assert_ne!(grid.best, 0, "a depth-2 tree should not win");
    let pid = parent.id().to_string();
    parent.end().unwrap();
    let children = tracker
        .search_runs(
            &mlops_core::tracking::SearchRuns::experiment(
                tracker.get_run(&pid).unwrap().info.experiment_id,
            )
            .filter(format!("tags.mlflow.parentRunId = '{pid}'")),
        )
        .unwrap();
    assert_eq!(
        children.runs.len(),
        5 + 3,
        "5 folds + 3 trials as child runs"
    );
}

/// A model from another trainer: here a wrapper with its own flavor name and loader.
#[derive(Debug)]
struct Wrapped(mlops_train::LinfaModel);

impl mlops_train::Model for Wrapped {
    fn flavor(&self) -> &str {
        "test-wrapped"
    }
    fn signature(&self) -> &mlops_train::Signature {
        self.0.signature()
    }
    fn task(&self) -> mlops_train::Task {
        self.0.task()
    }
    fn classes(&self) -> &[String] {
        self.0.classes()
    }
    fn predict(
        &self,
        frame: &polars::prelude::DataFrame,
    ) -> mlops_train::Result<mlops_train::Prediction> {
        self.0.predict(frame)
    }
    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({ "wrapped": self.0.hyperparameters() })
    }
    fn to_payload(&self) -> mlops_train::Result<Vec<u8>> {
        self.0.to_payload()
    }
}

fn load_wrapped(bytes: &[u8]) -> mlops_train::Result<Box<dyn mlops_train::Model>> {
    Ok(Box::new(Wrapped(mlops_train::LinfaModel::from_payload(
        bytes,
    )?)))
}

#[test]
fn a_model_from_another_trainer_is_tracked_gated_and_registered() {
    let dir = tempfile::tempdir().unwrap();
    let tracker: Arc<dyn Tracker> =
        Arc::new(LocalTracker::open(dir.path().join("mlruns")).unwrap());
    let registry = LocalRegistry::open(dir.path().join("mlruns")).unwrap();
    let (tr, te) = split(&winequality(), 0.3, 9);
    let model = Wrapped(train(&tr, &config(Algorithm::logistic())).unwrap());
    let mut job = TrainingJob::new("other-trainer", &te);
    job.model_name = Some("wrapped".into());
    job.gate = Some(policy());
    job.latency_rows = 3;
    job.flavors.register("test-wrapped", load_wrapped);

    let first = train_tracked(&job, &model, tracker.clone(), Some(&registry)).unwrap();
    assert!(first.promoted && first.version == Some(1), "{}", first.gate);
    let rec = tracker.get_run(first.run_id.as_str()).unwrap();
    assert_eq!(rec.data.tags["mlops.flavor"], "test-wrapped");
    assert!(rec.data.params["wrapped"].contains("logistic_regression"));
    assert!(rec.data.metrics.contains_key("roc_auc_score"));

    // The champion is loaded back through the job's flavors and evaluated on the same
    // rows; the same model again is recognised and not registered twice.
    let second = train_tracked(&job, &model, tracker.clone(), Some(&registry)).unwrap();
    assert_eq!(second.champion_version, Some(1));
    assert_eq!(
        second.champion.as_ref().unwrap().rows_digest,
        second.evaluation.rows_digest
    );
    assert!(second.identical_to_champion && second.version.is_none());

    // Without its loader the champion cannot be read: a typed error, the run FAILED.
    let mut bare = job.clone();
    bare.flavors = mlops_train::FlavorRegistry::new();
    let err = train_tracked(&bare, &model, tracker, Some(&registry)).unwrap_err();
    assert!(err.to_string().contains("test-wrapped"), "{err}");
}
