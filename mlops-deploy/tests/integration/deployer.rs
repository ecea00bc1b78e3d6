//! The GitOps deployer: KServe and Argo Rollouts manifests, idempotent and diff-friendly,
//! parsed back as YAML, and (with `scripts/test`) checked by the `kserve` SDK's model
//! classes and `kubernetes-validate`.

use std::path::Path;

use mlops_deploy::deployer::kubernetes::{AppSpec, GitOpsDeployer, Resources, Target};
use mlops_deploy::deployer::yaml::to_yaml;
use mlops_deploy::strategy::Duration;
use mlops_deploy::{DeployPhase, Deployer, Strategy, VersionSpec};
use serde_json::{Value, json};

fn version(v: &str) -> VersionSpec {
    VersionSpec {
        model: "fraud".into(),
        version: v.into(),
        storage_uri: format!("s3://models/fraud/{v}"),
    }
}

fn app(target: Target) -> AppSpec {
    AppSpec {
        name: "fraud".into(),
        namespace: "models".into(),
        image: "registry.invalid/mlops-server:0.1.0".into(),
        replicas: 2,
        max_replicas: 4,
        port: 8080,
        resources: Resources::default(),
        target,
    }
}

fn argo() -> Target {
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/strategy-canary.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    Target::ArgoRollout {
        strategy: Box::new(Strategy::from_text(&text, true).unwrap()),
        prometheus: "http://prometheus.monitoring:9090".into(),
        look_interval: Duration(60),
        // The test strategy judges the application's own `conversion` counters.
        queries: crate::common::conversion_queries(),
    }
}

/// YAML → JSON through a real YAML parser.
fn yaml_value(y: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_string(), yaml_value(v)))
                .collect(),
        ),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_value).collect()),
        Yaml::String(s) => json!(s),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => json!(r.parse::<f64>().unwrap()),
        Yaml::Boolean(b) => json!(b),
        Yaml::Null => Value::Null,
        other => panic!("unexpected YAML node {other:?}"),
    }
}

/// The names of the files in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    assert_eq!(docs.len(), 1, "{}", path.display());
    yaml_value(&docs[0])
}

#[test]
fn yaml_writer_round_trips_through_a_parser() {
    let v = json!({
        "b": [1, 2.5, {"x": "yes", "y": ["on", "", "a: b", "multi\nline \"quoted\""]}, [], {}],
        "a": {"nested": {"deeper": [true, false, null]}, "empty": {}},
        "n": "1e5", "z": -3
    });
    let y = to_yaml(&v);
    let back = yaml_value(&yaml_rust2::YamlLoader::load_from_str(&y).unwrap()[0]);
    assert_eq!(back, v, "{y}");
    // Sorted keys: "a" before "b" before "n".
    assert!(y.find("\"a\":").unwrap() < y.find("\"b\":").unwrap());
}

#[test]
fn kserve_canary_promote_and_rollback_are_minimal_idempotent_diffs() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = GitOpsDeployer::open(dir.path(), app(Target::Kserve)).unwrap();
    d.deploy_stable(&version("6")).unwrap();
    let isvc_path = dir.path().join("inferenceservice.yaml");
    let isvc = read_yaml(&isvc_path);
    assert_eq!(isvc["apiVersion"], "serving.kserve.io/v1beta1");
    assert_eq!(
        isvc["spec"]["predictor"]["model"]["storageUri"],
        "s3://models/fraud/6"
    );
    assert_eq!(
        isvc["spec"]["predictor"]["model"]["resources"]["requests"]["cpu"],
        "500m"
    );
    assert!(
        isvc["spec"]["predictor"]
            .get("canaryTrafficPercent")
            .is_none()
    );

    d.deploy_canary(&version("7")).unwrap();
    d.set_canary_weight(10).unwrap();
    let before = std::fs::read_to_string(&isvc_path).unwrap();
    let isvc = read_yaml(&isvc_path);
    assert_eq!(isvc["spec"]["predictor"]["canaryTrafficPercent"], 10);
    assert_eq!(
        isvc["spec"]["predictor"]["model"]["storageUri"],
        "s3://models/fraud/7"
    );
    // The same step again writes nothing.
    d.set_canary_weight(10).unwrap();
    assert_eq!(d.render().unwrap(), Vec::<String>::new());

    // Promotion: the diff is exactly the canaryTrafficPercent line.
    d.promote().unwrap();
    let after = std::fs::read_to_string(&isvc_path).unwrap();
    let removed: Vec<&str> = before
        .lines()
        .filter(|l| !after.lines().any(|a| a == *l))
        .collect();
    let added: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert_eq!(removed, ["    \"canaryTrafficPercent\": 10"]);
    assert!(added.is_empty(), "{added:?}");
    assert_eq!(d.status().unwrap().stable, Some(version("7")));
    d.promote().unwrap(); // idempotent
    assert_eq!(d.render().unwrap(), Vec::<String>::new());

    // A state reopened from the directory continues where it was.
    let mut d = GitOpsDeployer::open(dir.path(), app(Target::Kserve)).unwrap();
    assert_eq!(d.status().unwrap().phase, DeployPhase::Promoted);
    d.deploy_canary(&version("8")).unwrap();
    d.set_canary_weight(25).unwrap();
    d.rollback().unwrap();
    let isvc = read_yaml(&isvc_path);
    assert_eq!(isvc["spec"]["predictor"]["canaryTrafficPercent"], 0);
    let st = d.status().unwrap();
    assert_eq!(
        (st.phase, st.stable, st.canary_weight),
        (DeployPhase::RolledBack, Some(version("7")), 0)
    );
    assert!(
        d.promote().is_ok(),
        "a rolled-back canary can still be promoted by a person"
    );
    // Bad input: typed errors naming the field.
    assert!(
        d.set_canary_weight(101)
            .unwrap_err()
            .to_string()
            .contains("weight")
    );
    let bad = AppSpec {
        name: "Fraud_Model".into(),
        ..app(Target::Kserve)
    };
    assert!(
        GitOpsDeployer::open(dir.path(), bad)
            .unwrap_err()
            .to_string()
            .contains("DNS-1035")
    );
}

#[test]
fn argo_rollout_renders_rollout_templates_and_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = GitOpsDeployer::open(dir.path(), app(argo())).unwrap();
    d.deploy_stable(&version("6")).unwrap();
    d.deploy_canary(&version("7")).unwrap();
    assert_eq!(
        file_names(dir.path()),
        [
            "analysistemplate-fraud-errors.yaml",
            "analysistemplate-fraud-judge-3.yaml",
            "mlops-deployment.state",
            "rollout.yaml",
            "service.yaml"
        ]
    );
    let r = read_yaml(&dir.path().join("rollout.yaml"));
    assert_eq!(
        (r["apiVersion"].as_str(), r["kind"].as_str()),
        (Some("argoproj.io/v1alpha1"), Some("Rollout"))
    );
    assert_eq!(
        r["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "fraud"
    );
    assert_eq!(
        r["spec"]["template"]["spec"]["containers"][0]["args"][2],
        "models:/fraud/7"
    );
    assert_eq!(
        r["spec"]["strategy"]["canary"]["steps"][0],
        json!({"setWeight": 5})
    );
    let t = read_yaml(&dir.path().join("analysistemplate-fraud-judge-3.yaml"));
    assert_eq!(t["metadata"]["namespace"], "models");
    // Rollback puts the stable version back in the template (a full revert in git).
    d.rollback().unwrap();
    let r = read_yaml(&dir.path().join("rollout.yaml"));
    assert_eq!(
        r["spec"]["template"]["spec"]["containers"][0]["args"][2],
        "models:/fraud/6"
    );

    // The strategy in git drops its background analysis and moves the judge to step
    // 1: the next render removes the two templates it no longer writes, and only those.
    std::fs::write(dir.path().join("kustomization.yaml"), "resources: []\n").unwrap();
    let Target::ArgoRollout {
        strategy,
        prometheus,
        look_interval,
        queries,
    } = argo()
    else {
        unreachable!()
    };
    let mlops_deploy::Strategy::Canary(mut canary) = *strategy else {
        panic!("a canary strategy")
    };
    canary.background_analysis = None;
    canary.steps.drain(..2);
    let smaller = Target::ArgoRollout {
        strategy: Box::new(mlops_deploy::Strategy::Canary(canary)),
        prometheus,
        look_interval,
        queries,
    };
    let mut d = GitOpsDeployer::open(dir.path(), app(smaller)).unwrap();
    d.deploy_canary(&version("8")).unwrap();
    assert_eq!(
        file_names(dir.path()),
        [
            "analysistemplate-fraud-judge-1.yaml",
            "kustomization.yaml",
            "mlops-deployment.state",
            "rollout.yaml",
            "service.yaml"
        ]
    );
    assert_eq!(d.render().unwrap(), Vec::<String>::new());
}

/// Writes KServe and Argo manifests, plus a Deployment carrying the Rollout's pod
/// template (Argo's template is a core PodTemplateSpec), and runs
/// `scripts/k8s/check_manifests.py` with the venv of `MLOPS_TEST_K8S_PYTHON`.
#[test]
#[ignore = "needs Python with kserve and kubernetes-validate (scripts/test)"]
fn manifests_pass_the_kserve_sdk_and_kubernetes_validate() {
    let py = std::env::var("MLOPS_TEST_K8S_PYTHON")
        .expect("MLOPS_TEST_K8S_PYTHON: a Python with kserve and kubernetes-validate (scripts/setup-python)");
    let dir = tempfile::tempdir().unwrap();
    let kserve = dir.path().join("kserve");
    let mut d = GitOpsDeployer::open(&kserve, app(Target::Kserve)).unwrap();
    d.deploy_stable(&version("6")).unwrap();
    d.deploy_canary(&version("7")).unwrap();
    d.set_canary_weight(10).unwrap();
    let argo_dir = dir.path().join("argo");
    let mut a = GitOpsDeployer::open(&argo_dir, app(argo())).unwrap();
    a.deploy_stable(&version("6")).unwrap();
    a.deploy_canary(&version("7")).unwrap();
    let r = read_yaml(&argo_dir.join("rollout.yaml"));
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": r["metadata"],
        "spec": {"replicas": r["spec"]["replicas"], "selector": r["spec"]["selector"], "template": r["spec"]["template"]},
    });
    std::fs::write(argo_dir.join("deployment-check.yaml"), to_yaml(&deployment)).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/k8s/check_manifests.py"
    );
    for sub in [&kserve, &argo_dir] {
        let out = std::process::Command::new(&py)
            .arg(script)
            .arg(sub)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(!text.contains("FAIL"), "{text}");
        println!("{text}");
    }
    // The checker refuses what KServe does not know (a misspelt field).
    let typo = dir.path().join("typo");
    std::fs::create_dir_all(&typo).unwrap();
    let mut isvc = read_yaml(&kserve.join("inferenceservice.yaml"));
    let model = isvc["spec"]["predictor"]["model"].as_object_mut().unwrap();
    let uri = model.remove("storageUri").unwrap();
    model.insert("storageURI".into(), uri);
    std::fs::write(typo.join("inferenceservice.yaml"), to_yaml(&isvc)).unwrap();
    let out = std::process::Command::new(&py)
        .arg(script)
        .arg(&typo)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("storageURI: not a field"),
        "{out:?}"
    );
}
