//! `mlops rollout start|status|abort|promote`: a strategy driven by the rollout
//! controller (`mlops_deploy::controller`) against either
//!
//! - the local model server, run in this process (`--serve HOST:PORT`): the stable
//!   version is loaded from the registry and served (first stdout line `listening on
//!   http://HOST:PORT`, as `mlops serve` prints), the new version is brought up beside
//!   it by the `LocalDeployer` and judged on the server's own counters and the outcomes
//!   the application reports to `POST /outcomes` (canary, blue-green with golden
//!   requests against a preview port, shadow). The process keeps serving after the
//!   rollout until SIGINT/SIGTERM (`--exit-when-done` stops it instead). `abort` and
//!   `promote` from another shell leave a request beside the state file that the
//!   running process carries out, then report the outcome. A process stopped during a
//!   rollout is resumed by `start --state`: the server comes back on the same address
//!   with the versions and weight the state names; a judge step restarts on the new
//!   server's counters (the old ones died with it), recorded as `rollout.resume`;
//! - or the GitOps deployer (KServe or Argo Rollouts manifests written into a
//!   directory), with the arms' counts from a Prometheus HTTP API or a replayed CSV.
//!
//! Guardrails (`--guardrail error_rate`, `--guardrail latency_over_250ms:0.02`) are
//! added to a canary strategy's judge: read from the local server's counters, or from
//! Prometheus through the server's `model_requests_total` and
//! `model_request_duration_seconds` families.
//!
//! Everything a rollout needs is recorded beside its state file (`STATE` and
//! `STATE.cli.json`), so `status`, `abort` and `promote` take only `--state`, and
//! `start` on an existing state resumes the same rollout at the same step (a killed
//! controller never promotes twice).
//!
//! Exit codes: 0 promoted (or still running for `status`), 1 rolled back or paused for
//! a person, 2 an error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use mlops_core::{AuditLog, registry_from_uri};
use mlops_deploy::controller::{
    ArmSource, Controller, LocalSource, PrometheusSource, ReplaySource, RolloutGauges,
    RolloutPhase, RolloutSpec, RolloutState, Tick,
};
use mlops_deploy::deployer::kubernetes::{AppSpec, GitOpsDeployer, Resources, Target};
use mlops_deploy::strategy::Duration;
use mlops_deploy::strategy::argo::ArmQueries;
use mlops_deploy::{Deployer, Strategy, VersionSpec};
use mlops_deploy::{
    Guardrail, LocalDeployer, MetricSpec, ModelServer, ServedModel, ServerConfig, StickyKey,
};
use serde::{Deserialize, Serialize};

use crate::CmdResult;

/// Rollout subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Cmd {
    /// Roll out a version with a canary strategy (or resume the rollout in --state).
    #[command(subcommand)]
    Rollout(RolloutCmd),
    /// Send golden requests (inputs with expected answers) to a model server and judge
    /// the share answered as expected: the blue-green preview check, as the controller
    /// runs it and as the Argo export's job runs it. Exit 0 passed, 1 failed, 2 error.
    Golden(GoldenArgs),
}

/// `mlops golden`.
#[derive(Debug, Args)]
pub struct GoldenArgs {
    /// Base URL of the server (`/invocations` is appended).
    #[arg(long)]
    url: String,
    /// The requests: a JSON array of `{"name", "body", "expected", "tolerance"}`, or
    /// `@FILE` holding one.
    #[arg(long)]
    requests: String,
    /// Condition on `result` (the share answered as expected) for a pass.
    #[arg(long, default_value = "result[0] == 1")]
    success: String,
    /// Condition on `result` for a failure (wins over success).
    #[arg(long)]
    failure: Option<String>,
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
    /// Prometheus HTTP API the arms' counts are read from. Through it the judge and its
    /// guardrails measure `error_rate` or `latency_over_<MS>ms` (lower is better) from
    /// the model server's families; another metric name is refused.
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
    /// Run the model server in this process on HOST:PORT (port 0: any free port) and
    /// roll out on it (instead of --gitops).
    #[arg(long, conflicts_with_all = ["gitops", "prometheus", "replay"])]
    serve: Option<SocketAddr>,
    /// With --serve (also on a resumed one): stop serving once the rollout is over
    /// (else: until SIGINT/SIGTERM).
    #[arg(long)]
    exit_when_done: bool,
    /// With --serve: keep each user on one variant by hashing this request header.
    #[arg(long, requires = "serve")]
    sticky_header: Option<String>,
    /// A guardrail of the canary judge, `NAME` or `NAME:TAU` (repeatable): `error_rate`
    /// (5xx share) or `latency_over_<MS>ms` (share slower than MS, a latency bucket
    /// bound), and with --serve any 0/1 outcome the application reports where lower is
    /// better (errors, timeouts); rolls back on its own, never promotes. TAU is the
    /// mixture scale (default 0.01).
    #[arg(long = "guardrail")]
    guardrails: Vec<String>,
}

/// What `start` records beside the state so later commands need only `--state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Setup {
    registry: String,
    #[serde(default)]
    gitops: Option<PathBuf>,
    #[serde(default)]
    app: Option<AppSpec>,
    prometheus: Option<String>,
    /// The Prometheus queries of the judge's metric (`ArmQueries::for_metric`).
    #[serde(default)]
    queries: Option<ArmQueries>,
    replay: Option<PathBuf>,
    /// The local server's address (`--serve`).
    #[serde(default)]
    serve: Option<SocketAddr>,
    #[serde(default)]
    sticky_header: Option<String>,
}

impl Setup {
    fn gitops(&self) -> Result<GitOpsDeployer, Box<dyn std::error::Error>> {
        match (&self.gitops, &self.app) {
            (Some(dir), Some(app)) => Ok(GitOpsDeployer::open(dir, app.clone())?),
            _ => Err("this rollout has no --gitops directory".into()),
        }
    }
}

/// The file `abort`/`promote` leave for a running `start --serve`.
fn request_path(state: &Path) -> PathBuf {
    let mut s = state.as_os_str().to_owned();
    s.push(".request.json");
    PathBuf::from(s)
}

/// A person's decision for a running local rollout.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Request {
    action: String,
    reason: String,
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
    let cmd = match cmd {
        Cmd::Rollout(cmd) => cmd,
        Cmd::Golden(a) => return golden(a),
    };
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
        RolloutCmd::Abort(a) => decide(&a, "abort"),
        RolloutCmd::Promote(a) => decide(&a, "promote"),
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

/// `abort` / `promote`: directly on a GitOps rollout; through the running process for a
/// local one (it owns the server).
fn decide(a: &StateArg, action: &str) -> CmdResult {
    let setup: Setup = serde_json::from_slice(&std::fs::read(setup_path(&a.state))?)?;
    if setup.serve.is_none() {
        return with_controller(&a.state, |c| match action {
            "abort" => c.abort(&a.reason),
            _ => c.promote(&a.reason),
        });
    }
    let st = RolloutState::load(&a.state)?;
    if st.phase.is_done() {
        println!("rollout {}: {:?}", st.spec.name, st.phase);
        return Ok(exit_for(&st.phase));
    }
    let request = Request {
        action: action.into(),
        reason: a.reason.clone(),
    };
    mlops_core::fs::write_atomic(&request_path(&a.state), &serde_json::to_vec(&request)?)?;
    // The running `start --serve` carries it out at its next tick.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let st = RolloutState::load(&a.state)?;
        if st.phase.is_done() {
            println!("rollout {}: {:?}", st.spec.name, st.phase);
            return Ok(exit_for(&st.phase));
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "no `mlops rollout start --serve` took the {action} request within 60 s (is it running? {} is left for it)",
                request_path(&a.state).display()
            )
            .into());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn with_controller(
    state: &Path,
    f: impl FnOnce(&mut Controller<'_>) -> mlops_deploy::Result<()>,
) -> CmdResult {
    let setup: Setup = serde_json::from_slice(&std::fs::read(setup_path(state))?)?;
    let registry = registry_from_uri(&setup.registry)?;
    let audit = audit_for(&setup.registry);
    let mut deployer = setup.gitops()?;
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
            setup.queries.clone().unwrap_or_default(),
        )?)),
        (None, Some(p)) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok(Box::new(
                ReplaySource::from_csv(&text)?.skip(reads as usize),
            ))
        }
        _ => Err("give exactly one of --prometheus, --replay and --serve".into()),
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
        let mut strategy = strategy;
        add_guardrails(&mut strategy, &a.guardrails)?;
        // Through Prometheus, the judge's and each guardrail's counter queries.
        let (queries, guardrail_queries) = match (&strategy, &a.prometheus) {
            (Strategy::Canary(c), Some(_)) => {
                let of = |m| {
                    ArmQueries::for_metric(m)
                        .map_err(|e| format!("a judged metric through --prometheus: {e}"))
                };
                let guards = c
                    .judge
                    .guardrails
                    .iter()
                    .map(|g| of(&g.metric))
                    .collect::<Result<Vec<_>, _>>()?;
                (Some(of(&c.judge.metric)?), guards)
            }
            (Strategy::Canary(c), None) if a.serve.is_none() && !c.judge.guardrails.is_empty() => {
                return Err(
                    "guardrails need --serve or --prometheus (a replay has no guardrail counts)"
                        .into(),
                );
            }
            _ => (None, Vec::new()),
        };
        let target = match a.target.as_str() {
            "kserve" => Target::Kserve,
            "argo" => Target::ArgoRollout {
                strategy: Box::new(strategy.clone()),
                prometheus: a
                    .prometheus
                    .clone()
                    .unwrap_or_else(|| "http://prometheus:9090".into()),
                look_interval: Duration((a.look_every_ms / 1000).max(1)),
                // The judge's metrics are the serve helper's (`ArmQueries::for_metric`).
                queries: Default::default(),
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
        let registry = a.registry.ok_or_else(|| need("registry"))?;
        let setup = match a.serve {
            Some(addr) => Setup {
                registry,
                gitops: None,
                app: None,
                prometheus: None,
                queries: None,
                replay: None,
                serve: Some(addr),
                sticky_header: a.sticky_header.clone(),
            },
            None => Setup {
                registry,
                gitops: Some(
                    a.gitops
                        .clone()
                        .ok_or_else(|| need("gitops (or --serve)"))?,
                ),
                app: Some(app),
                queries,
                prometheus: a.prometheus,
                replay: a.replay,
                serve: None,
                sticky_header: None,
            },
        };
        let spec = RolloutSpec {
            name: format!("{model}-v{}", canary.version),
            stable: stable.clone(),
            canary,
            alias: a.alias,
            strategy,
            look_every_ms: a.look_every_ms,
            prometheus: setup.prometheus.clone(),
            guardrail_queries,
        };
        let state = RolloutState::new(spec)?;
        if a.render_only {
            // Manifests only: no state, so no setup to resume from either.
            let mut deployer = setup.gitops()?;
            if deployer.status()?.stable.is_none() {
                deployer.deploy_stable(&stable)?;
            }
            deployer.deploy_canary(&state.spec.canary)?;
            println!(
                "rendered {} v{} -> v{} into {} (not judged here)",
                model,
                stable.version,
                state.spec.canary.version,
                a.gitops.as_deref().unwrap_or(Path::new("?")).display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        // The setup first: a state file without its setup could not be resumed.
        mlops_core::fs::write_atomic(&setup_file, &serde_json::to_vec_pretty(&setup)?)?;
        if setup.serve.is_none() {
            let mut deployer = setup.gitops()?;
            if deployer.status()?.stable.is_none() {
                deployer.deploy_stable(&stable)?;
            }
        }
        (setup, Some(state))
    };
    if let Some(addr) = setup.serve {
        return start_local(&a.state, &setup, addr, new_state, a.exit_when_done);
    }
    let registry = registry_from_uri(&setup.registry)?;
    let audit = audit_for(&setup.registry);
    let mut deployer = setup.gitops()?;
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

/// Adds `--guardrail NAME[:TAU]` to a canary strategy's judge.
fn add_guardrails(strategy: &mut Strategy, specs: &[String]) -> Result<(), String> {
    if specs.is_empty() {
        return Ok(());
    }
    let Strategy::Canary(c) = strategy else {
        return Err("--guardrail needs a canary strategy (its judge)".into());
    };
    for spec in specs {
        let (name, tau) = match spec.split_once(':') {
            Some((n, t)) => (
                n,
                t.parse::<f64>()
                    .map_err(|e| format!("--guardrail {spec}: TAU {t:?}: {e}"))?,
            ),
            None => (spec.as_str(), 0.01),
        };
        if name.is_empty() {
            return Err(format!("--guardrail {spec}: no metric name"));
        }
        c.judge.guardrails.push(Guardrail {
            metric: MetricSpec::proportion(name).lower_is_better(),
            alpha: 0.05,
            tau,
            min_samples: 100,
        });
    }
    c.judge.validate().map_err(|e| e.to_string())
}

/// Runs a rollout on a model server in this process (`--serve`).
fn start_local(
    state_path: &Path,
    setup: &Setup,
    addr: SocketAddr,
    new_state: Option<RolloutState>,
    exit_when_done: bool,
) -> CmdResult {
    let registry = registry_from_uri(&setup.registry)?;
    let audit = audit_for(&setup.registry);
    let resumed = new_state.is_none();
    let mut st = match &new_state {
        Some(s) => s.clone(),
        None => RolloutState::load(state_path)?,
    };
    let flavors = mlops_train::FlavorRegistry::new();
    let uri = |v: &VersionSpec| format!("models:/{}/{}", v.model, v.version);
    let first = if st.phase == RolloutPhase::Promoted {
        &st.spec.canary
    } else {
        &st.spec.stable
    };
    let stable = ServedModel::from_registry(registry.as_ref(), &uri(first).parse()?, &flavors)?;
    let config = ServerConfig {
        addr,
        sticky: setup.sticky_header.clone().map(StickyKey::Header),
        ..ServerConfig::default()
    };
    let server = ModelServer::start(config, stable)?;
    println!("listening on {}", server.url());
    std::io::stdout().flush()?;
    let gauges = RolloutGauges::new();
    server.register_metrics(|r| gauges.register(r));
    let mut deployer = LocalDeployer::with_flavors(&server, registry.as_ref(), flavors.clone());
    if resumed {
        restore(&mut deployer, &mut st, &audit)?;
        st.save(state_path)?;
    }
    let metric = match &st.spec.strategy {
        Strategy::Canary(c) => c.judge.metric.clone(),
        _ => MetricSpec::proportion("conversion"),
    };
    let mut source = LocalSource::new(&server, metric);
    let mut c = Controller::open(
        state_path,
        new_state,
        &mut deployer,
        registry.as_ref(),
        &audit,
        &mut source,
    )?
    .with_gauges(gauges.clone());
    let requests = request_path(state_path);
    let mut announced = None;
    loop {
        if let Ok(bytes) = std::fs::read(&requests) {
            let _ = std::fs::remove_file(&requests);
            match serde_json::from_slice::<Request>(&bytes) {
                Ok(r) if r.action == "abort" => c.abort(&r.reason)?,
                Ok(r) if r.action == "promote" => c.promote(&r.reason)?,
                Ok(r) => tracing::warn!(action = %r.action, "unknown rollout request ignored"),
                Err(e) => tracing::warn!(error = %e, "unreadable rollout request ignored"),
            }
        }
        let tick = c.tick(mlops_core::now_ms())?;
        let phase = serde_json::to_value(&c.state.phase)?["phase"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        if announced.as_deref() != Some(phase.as_str()) && tick != Tick::Advanced {
            println!(
                "rollout {}: {phase} at step {}, weight {}%",
                c.state.spec.name, c.state.step, c.state.weight
            );
            std::io::stdout().flush()?;
            announced = Some(phase);
        }
        match tick {
            Tick::Advanced => {}
            Tick::WaitUntil(t) => std::thread::sleep(std::time::Duration::from_millis(
                t.saturating_sub(mlops_core::now_ms()).clamp(1, 100),
            )),
            Tick::Paused => std::thread::sleep(std::time::Duration::from_millis(100)),
            Tick::Done => break,
        }
    }
    let phase = c.state.phase.clone();
    if let Some(d) = &c.state.decision {
        println!("decision: {d}");
    }
    drop(c);
    drop(deployer);
    if !exit_when_done {
        println!("serving until SIGINT/SIGTERM");
        std::io::stdout().flush()?;
        server.wait_for_signal()?;
    }
    server.shutdown()?;
    Ok(exit_for(&phase))
}

/// Brings a fresh server back to where a resumed rollout stands.
fn restore(
    d: &mut LocalDeployer<'_>,
    st: &mut RolloutState,
    audit: &AuditLog,
) -> Result<(), Box<dyn std::error::Error>> {
    let canary = st.spec.canary.clone();
    match (&st.phase, &st.spec.strategy) {
        (RolloutPhase::Promoted | RolloutPhase::RolledBack | RolloutPhase::Completed, _) => {
            return Ok(());
        }
        (RolloutPhase::Promoting { .. }, _) => d.deploy_canary(&canary)?,
        (RolloutPhase::RollingBack { .. }, _) => {}
        (_, Strategy::Shadow(s)) if st.step <= 1 && st.step_started_ms.is_some() => {
            d.deploy_shadow(&canary, s.percent)?
        }
        (_, Strategy::Shadow(_)) => {}
        _ if st.step > 0 || st.weight > 0 => {
            d.deploy_canary(&canary)?;
            d.set_canary_weight(st.weight)?;
        }
        _ => {}
    }
    if st.judge.is_some() {
        // The judge's counts lived in the stopped server: its step starts again.
        st.judge = None;
        st.baseline = None;
        st.guardrail_baseline.clear();
        st.step_started_ms = None;
        st.last_look_ms = None;
        audit.append(
            "mlops-rollout",
            "rollout.resume",
            &format!("{}/{}", canary.model, canary.version),
            serde_json::json!({"rollout": st.spec.name, "step": st.step, "weight": st.weight,
                               "reason": "server restarted: the judge step restarts on its new counters"}),
        )?;
    }
    Ok(())
}

/// `mlops golden`: the same check as the controller's golden metric.
fn golden(a: GoldenArgs) -> CmdResult {
    use mlops_deploy::strategy::analysis::{
        AnalysisMetric, GoldenRequest, Measured, NoData, Phase, Provider, classify,
    };
    let text = match a.requests.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => a.requests.clone(),
    };
    let requests: Vec<GoldenRequest> =
        serde_json::from_str(&text).map_err(|e| format!("--requests: {e}"))?;
    let metric = AnalysisMetric {
        name: "golden".into(),
        interval: None,
        count: None,
        initial_delay: None,
        success_condition: Some(a.success),
        failure_condition: a.failure,
        failure_limit: 0,
        inconclusive_limit: 0,
        consecutive_error_limit: 0,
        consecutive_success_limit: 0,
        no_data: NoData::Fail,
        provider: Provider::Golden {
            requests: requests.clone(),
        },
    };
    let analysis = mlops_deploy::Analysis {
        name: "golden".into(),
        metrics: vec![metric.clone()],
        dry_run: Vec::new(),
    };
    analysis.validate("golden")?;
    let measured = match mlops_deploy::controller::golden_share(&a.url, &requests) {
        Ok(share) => Measured::Value(share),
        Err(e) => Measured::Error(e),
    };
    let phase = classify(&metric, &measured);
    println!("golden: {measured:?} -> {phase:?}");
    Ok(match phase {
        Some(Phase::Successful) => ExitCode::SUCCESS,
        Some(Phase::Error) => ExitCode::from(2),
        _ => ExitCode::from(1),
    })
}
