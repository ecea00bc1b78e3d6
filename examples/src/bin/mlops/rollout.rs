//! `mlops rollout start|status|abort|promote`: a canary strategy driven by the rollout
//! controller (`mlops_deploy::controller`) against the GitOps deployer (KServe or Argo
//! Rollouts manifests written into a directory), with the arms' counts from a
//! Prometheus HTTP API or a replayed CSV.
//!
//! Everything a rollout needs is recorded beside its state file (`STATE` and
//! `STATE.cli.json`), so `status`, `abort` and `promote` take only `--state`, and
//! `start` on an existing state resumes the same rollout at the same step (a killed
//! controller never promotes twice).
//!
//! Exit codes: 0 promoted (or still running for `status`), 1 rolled back or paused for
//! a person, 2 an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mlops_core::{AuditLog, registry_from_uri};
use mlops_deploy::controller::{
    ArmSource, Controller, PrometheusSource, ReplaySource, RolloutPhase, RolloutSpec, RolloutState,
    Tick,
};
use mlops_deploy::deployer::kubernetes::{AppSpec, GitOpsDeployer, Resources, Target};
use mlops_deploy::strategy::Duration;
use mlops_deploy::strategy::argo::ArmQueries;
use mlops_deploy::{Deployer, Strategy, VersionSpec};
use serde::{Deserialize, Serialize};

use crate::CmdResult;

/// Rollout subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Roll out a version with a canary strategy (or resume the rollout in --state).
    #[command(subcommand)]
    Rollout(RolloutCmd),
}

/// `mlops rollout ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RolloutCmd {
    /// Start a rollout (or resume the one in --state) and run it until it is promoted,
    /// rolled back or paused.
    Start(Box<StartArgs>),
    /// Print the rollout's state (JSON with --json, Prometheus text with --metrics).
    Status(StatusArgs),
    /// Roll the canary back (weight 0; the registry alias is not touched).
    Abort(StateArg),
    /// Promote the canary now (moves the alias, canary to 100%).
    Promote(StateArg),
}

/// `--state`.
#[derive(Debug, Args)]
pub struct StateArg {
    /// The rollout's state file.
    #[arg(long)]
    state: PathBuf,
    /// Why (recorded in the audit log and the alias history).
    #[arg(long, default_value = "by hand")]
    reason: String,
}

/// `mlops rollout status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The rollout's state file.
    #[arg(long)]
    state: PathBuf,
    /// Print the whole state as JSON.
    #[arg(long)]
    json: bool,
    /// Print deploy_rollout_phase and deploy_canary_weight in the Prometheus text format.
    #[arg(long)]
    metrics: bool,
}

/// `mlops rollout start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The rollout's state file (resumed when it exists).
    #[arg(long)]
    state: PathBuf,
    /// Strategy file (TOML or JSON); a canary strategy.
    #[arg(long)]
    strategy: Option<PathBuf>,
    /// Registered model name.
    #[arg(long)]
    model: Option<String>,
    /// Version serving now.
    #[arg(long)]
    stable: Option<u64>,
    /// Version to roll out.
    #[arg(long)]
    canary: Option<u64>,
    /// Registry alias moved on promotion.
    #[arg(long, default_value = "champion")]
    alias: String,
    /// Registry (a local root or an MLflow server URL).
    #[arg(long)]
    registry: Option<String>,
    /// Directory the manifests are written to (synced by Argo CD or Flux).
    #[arg(long)]
    gitops: Option<PathBuf>,
    /// Manifests to render: kserve or argo.
    #[arg(long, default_value = "kserve")]
    target: String,
    /// Server image.
    #[arg(long, default_value = "mlops-server:latest")]
    image: String,
    /// Kubernetes namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Prefix of the storage URIs (`<prefix>/<model>/<version>`).
    #[arg(long, default_value = "pvc://models")]
    storage_prefix: String,
    /// Prometheus HTTP API the arms' counts are read from.
    #[arg(long)]
    prometheus: Option<String>,
    /// Or: a CSV of cumulative counts to replay (control_n,control_successes,canary_n,canary_successes).
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Milliseconds between the judge's looks.
    #[arg(long, default_value_t = 60_000)]
    look_every_ms: u64,
    /// Only write the manifests of the canary and exit, without judging here: with
    /// `--target argo` the Rollout carries the steps and the judge's AnalysisTemplate,
    /// and Argo Rollouts runs them in the cluster (what a CI deploy job does).
    #[arg(long, requires = "gitops")]
    render_only: bool,
}

/// What `start` records beside the state so later commands need only `--state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Setup {
    registry: String,
    gitops: PathBuf,
    app: AppSpec,
    prometheus: Option<String>,
    replay: Option<PathBuf>,
}

fn setup_path(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".cli.json");
    PathBuf::from(s)
}

fn audit_for(registry: &str) -> AuditLog {
    // The registry's own audit log when it is a local root; else beside the state.
    let root = PathBuf::from(registry.trim_start_matches("file://"));
    AuditLog::open(mlops_core::tracking::sdk_state_dir(&root).join("audit.jsonl"))
}

/// Runs `mlops rollout`.
pub fn run(cmd: Cmd) -> CmdResult {
    let Cmd::Rollout(cmd) = cmd;
    match cmd {
        RolloutCmd::Start(a) => start(*a),
        RolloutCmd::Status(a) => {
            let st = RolloutState::load(&a.state)?;
            if a.metrics {
                print!("{}", st.metrics_text());
            } else if a.json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                println!(
                    "rollout {}: {} v{} -> v{}, step {}, weight {}%, phase {}, looks {}",
                    st.spec.name,
                    st.spec.canary.model,
                    st.spec.stable.version,
                    st.spec.canary.version,
                    st.step,
                    st.weight,
                    serde_json::to_value(&st.phase)?["phase"]
                        .as_str()
                        .unwrap_or("?"),
                    st.looks
                );
                if let Some(d) = &st.decision {
                    println!("decision: {d}");
                }
            }
            Ok(exit_for(&st.phase))
        }
        RolloutCmd::Abort(a) => with_controller(&a.state, |c| c.abort(&a.reason)),
        RolloutCmd::Promote(a) => with_controller(&a.state, |c| c.promote(&a.reason)),
    }
}

fn exit_for(phase: &RolloutPhase) -> ExitCode {
    match phase {
        RolloutPhase::Promoted
        | RolloutPhase::Completed
        | RolloutPhase::Progressing
        | RolloutPhase::Promoting { .. } => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

fn with_controller(
    state: &Path,
    f: impl FnOnce(&mut Controller<'_>) -> mlops_deploy::Result<()>,
) -> CmdResult {
    let setup: Setup = serde_json::from_slice(&std::fs::read(setup_path(state))?)?;
    let registry = registry_from_uri(&setup.registry)?;
    let audit = audit_for(&setup.registry);
    let mut deployer = GitOpsDeployer::open(&setup.gitops, setup.app.clone())?;
    let mut source = source_for(&setup, 0)?;
    let mut c = Controller::open(
        state,
        None,
        &mut deployer,
        registry.as_ref(),
        &audit,
        source.as_mut(),
    )?;
    f(&mut c)?;
    println!("rollout {}: {:?}", c.state.spec.name, c.state.phase);
    Ok(exit_for(&c.state.phase))
}

fn source_for(setup: &Setup, reads: u64) -> Result<Box<dyn ArmSource>, Box<dyn std::error::Error>> {
    match (&setup.prometheus, &setup.replay) {
        (Some(url), None) => Ok(Box::new(PrometheusSource::new(
            url.clone(),
            ArmQueries::default(),
        )?)),
        (None, Some(p)) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(Box::new(
                ReplaySource::from_csv(&text)?.skip(reads as usize),
            ))
        }
        _ => Err("give exactly one of --prometheus and --replay".into()),
    }
}

fn start(a: StartArgs) -> CmdResult {
    let setup_file = setup_path(&a.state);
    let (setup, new_state) = if a.state.exists() {
        let setup: Setup = serde_json::from_slice(&std::fs::read(&setup_file)?)?;
        (setup, None)
    } else {
        let need = |what: &str| format!("--{what} is needed to start a new rollout");
        let strategy_path = a.strategy.ok_or_else(|| need("strategy"))?;
        let text = std::fs::read_to_string(&strategy_path)
            .map_err(|e| format!("{}: {e}", strategy_path.display()))?;
        let is_toml = strategy_path.extension().is_some_and(|e| e == "toml");
        let strategy = Strategy::from_text(&text, is_toml)
            .map_err(|e| format!("{}: {e}", strategy_path.display()))?;
        let model = a.model.ok_or_else(|| need("model"))?;
        let version = |v: u64| VersionSpec {
            model: model.clone(),
            version: v.to_string(),
            storage_uri: format!("{}/{model}/{v}", a.storage_prefix.trim_end_matches('/')),
        };
        let stable = version(a.stable.ok_or_else(|| need("stable"))?);
        let canary = version(a.canary.ok_or_else(|| need("canary"))?);
        let target = match a.target.as_str() {
            "kserve" => Target::Kserve,
            "argo" => Target::ArgoRollout {
                strategy: Box::new(strategy.clone()),
                prometheus: a
                    .prometheus
                    .clone()
                    .unwrap_or_else(|| "http://prometheus:9090".into()),
                look_interval: Duration((a.look_every_ms / 1000).max(1)),
            },
            other => return Err(format!("--target {other}: expected kserve or argo").into()),
        };
        let app = AppSpec {
            name: model.to_lowercase().replace('_', "-"),
            namespace: a.namespace,
            image: a.image,
            replicas: 1,
            max_replicas: 3,
            port: 8080,
            resources: Resources::default(),
            target,
        };
        let setup = Setup {
            registry: a.registry.ok_or_else(|| need("registry"))?,
            gitops: a.gitops.ok_or_else(|| need("gitops"))?,
            app,
            prometheus: a.prometheus,
            replay: a.replay,
        };
        let spec = RolloutSpec {
            name: format!("{model}-v{}", canary.version),
            stable: stable.clone(),
            canary,
            alias: a.alias,
            strategy,
            look_every_ms: a.look_every_ms,
            prometheus: setup.prometheus.clone(),
            guardrail_queries: Vec::new(),
        };
        let state = RolloutState::new(spec)?;
        // The setup first: a state file without its setup could not be resumed.
        mlops_core::fs::write_atomic(&setup_file, &serde_json::to_vec_pretty(&setup)?)?;
        let mut deployer = GitOpsDeployer::open(&setup.gitops, setup.app.clone())?;
        if deployer.status()?.stable.is_none() {
            deployer.deploy_stable(&stable)?;
        }
        if a.render_only {
            deployer.deploy_canary(&state.spec.canary)?;
            std::fs::remove_file(&setup_file)?;
            println!(
                "rendered {} v{} -> v{} into {} (not judged here)",
                model,
                stable.version,
                state.spec.canary.version,
                setup.gitops.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        (setup, Some(state))
    };
    let registry = registry_from_uri(&setup.registry)?;
    let audit = audit_for(&setup.registry);
    let mut deployer = GitOpsDeployer::open(&setup.gitops, setup.app.clone())?;
    let reads = if a.state.exists() {
        RolloutState::load(&a.state)?.reads
    } else {
        0
    };
    let mut source = source_for(&setup, reads)?;
    let mut c = Controller::open(
        &a.state,
        new_state,
        &mut deployer,
        registry.as_ref(),
        &audit,
        source.as_mut(),
    )?;
    let end = c.run(&mlops_core::now_ms)?;
    let st = &c.state;
    println!(
        "rollout {}: {} at step {}, weight {}%{}",
        st.spec.name,
        serde_json::to_value(&st.phase)?["phase"]
            .as_str()
            .unwrap_or("?"),
        st.step,
        st.weight,
        st.decision
            .as_ref()
            .map(|d| format!("\ndecision: {d}"))
            .unwrap_or_default()
    );
    Ok(match end {
        Tick::Done | Tick::Paused => exit_for(&st.phase),
        _ => ExitCode::SUCCESS,
    })
}
