//! `examples/pipeline/`: the seed's Git → CI → registry → CD path as one folder. The
//! Kubernetes manifests in it are what the GitOps deployer renders for the strategy kept
//! beside them (checked byte for byte, so they never go stale; `MLOPS_BLESS=1` rewrites
//! them), and the CI workflow names files and binaries that exist.

use std::path::{Path, PathBuf};

use mlops_deploy::deployer::kubernetes::{AppSpec, GitOpsDeployer, Resources, Target};
use mlops_deploy::strategy::Duration;
use mlops_deploy::{Deployer, Strategy, VersionSpec};

fn pipeline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline")
}

fn version(v: &str) -> VersionSpec {
    VersionSpec {
        model: "fraud".into(),
        version: v.into(),
        storage_uri: format!("pvc://models/fraud/{v}"),
    }
}

fn app(target: Target) -> AppSpec {
    AppSpec {
        name: "fraud".into(),
        namespace: "models".into(),
        image: "registry.example/mlops-serve:1.0".into(),
        replicas: 2,
        max_replicas: 4,
        port: 8080,
        resources: Resources::default(),
        target,
    }
}

/// Renders the state "version 1 stable, version 2 canary at 10%" into `dir`.
fn render(dir: &Path, target: Target) {
    let mut d = GitOpsDeployer::open(dir, app(target)).unwrap();
    d.deploy_stable(&version("1")).unwrap();
    d.deploy_canary(&version("2")).unwrap();
    d.set_canary_weight(10).unwrap();
}

/// The committed folder equals a fresh rendering, file for file.
fn check_same(fresh: &Path, committed: &Path) {
    let bless = std::env::var_os("MLOPS_BLESS").is_some();
    let mut names: Vec<String> = std::fs::read_dir(fresh)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if bless {
        std::fs::create_dir_all(committed).unwrap();
    }
    for name in &names {
        let want = std::fs::read_to_string(fresh.join(name)).unwrap();
        let path = committed.join(name);
        if bless {
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        let got = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (MLOPS_BLESS=1 writes it)", path.display()));
        assert_eq!(
            got,
            want,
            "{} is stale: MLOPS_BLESS=1 cargo test rewrites it",
            path.display()
        );
    }
    let mut have: Vec<String> = std::fs::read_dir(committed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    have.sort();
    assert_eq!(have, names, "{}", committed.display());
}

#[test]
fn the_committed_manifests_are_what_the_gitops_deployer_renders() {
    let tmp = tempfile::tempdir().unwrap();
    render(&tmp.path().join("kserve"), Target::Kserve);
    check_same(&tmp.path().join("kserve"), &pipeline().join("k8s/kserve"));
    let text = std::fs::read_to_string(pipeline().join("canary.toml")).unwrap();
    let strategy = Strategy::from_text(&text, true).unwrap();
    render(
        &tmp.path().join("argo"),
        Target::ArgoRollout {
            strategy: Box::new(strategy),
            prometheus: "http://prometheus.monitoring:9090".into(),
            look_interval: Duration(60),
            queries: Default::default(),
        },
    );
    check_same(&tmp.path().join("argo"), &pipeline().join("k8s/argo"));
}

#[test]
fn the_ci_workflow_is_yaml_and_names_what_exists() {
    let text = std::fs::read_to_string(pipeline().join("ci.yml")).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let jobs = &docs[0]["jobs"];
    for job in ["test", "gate", "image", "deploy"] {
        assert!(!jobs[job].is_badvalue(), "job {job} missing");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    for path in [
        "scripts/test",
        "examples/pipeline/Dockerfile",
        "examples/pipeline/canary.toml",
        "examples/data/winequality.contract.json",
        "examples/data/gate-policy.json",
    ] {
        assert!(text.contains(path), "ci.yml does not use {path}");
        assert!(root.join(path).exists(), "{path} does not exist");
    }
    for bin in ["ci_gate", "mlops"] {
        assert!(
            text.contains(&format!("--bin {bin}")),
            "ci.yml does not run {bin}"
        );
        let src = root.join(format!("examples/src/bin/{bin}"));
        assert!(
            src.with_extension("rs").exists() || src.is_dir(),
            "no binary {bin}"
        );
    }
}

#[test]
fn the_readmes_custom_pipeline_is_the_file_after_its_docs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.parent().unwrap().join("README.md")).unwrap();
    let section = &readme[readme.find("## Your own pipeline").unwrap()..];
    let start = section.find("```rust\n").unwrap() + "```rust\n".len();
    let shown = &section[start..start + section[start..].find("```").unwrap()];
    let file = std::fs::read_to_string(root.join("examples/custom_pipeline.rs")).unwrap();
    // The file without its leading `//!` docs.
    let code: String = file
        .lines()
        .skip_while(|l| l.starts_with("//!") || l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(shown, code, "README's copy of custom_pipeline.rs is stale");
}
