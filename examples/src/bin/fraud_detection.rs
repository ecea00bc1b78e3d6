//! `fraud_detection`: the seed's use case 2, end to end on the embedded default.
//!
//! 1. **Train and register** a fraud model on historical card transactions (synthetic,
//!    seeded: amount, merchant category, hour, region, a ~2% fraud rate) and make it
//!    `champion`; its training profile is kept in the package's lineage.
//! 2. **Serve** it with the local model server, which writes every request to its
//!    inference log.
//! 3. **Monitor**: transactions flow; ground truth arrives later (delayed labels, keyed by
//!    request id). Then a new region, `island`, starts sending transactions whose amounts
//!    lie far outside the training distribution (a market where baskets are larger): the
//!    monitor's windows show data drift (amount, region) and the champion's quality falls
//!    (it flags the new region's ordinary purchases as fraud).
//! 4. **Trigger → retrain → gate → register**: a drift policy fires once for the
//!    incident; the retrain step trains on history plus half of the recent labelled
//!    rows; the gates check, on the other half, that precision is no worse than the
//!    champion's and that no region is flagged more than 5 points above another
//!    (Fairlearn's demographic parity difference); the candidate is registered.
//! 5. **Canary**: the rollout controller serves the candidate to 10% of transactions
//!    and judges "decision was right" (reported per request when the truth is known)
//!    of canary against control with always-valid statistics, then promotes: `champion`
//!    moves, the canary takes all traffic.
//! 6. **Audit**: the audit log is verified and printed as a timeline from the drift alert
//!    to the new champion at full traffic, each record linked to its cause by digest;
//!    then the delivery (DORA) metrics, as `mlops dora` prints them.
//!
//! ```text
//! cargo run --release -p mlops-examples --bin fraud_detection [-- --quick]
//! ```
//!
//! Runs on `./mlruns` (or `MLFLOW_TRACKING_URI`, an MLflow server included); the
//! inference log and rollout state go to `./fraud-demo/`. Exits 0 when the story went as
//! told (drift flagged, candidate gated and registered, canary promoted, audit intact),
//! 1 otherwise.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mlops_deploy::controller::{Controller, LocalSource, RolloutPhase, Tick};
use mlops_deploy::deployer::local::LocalDeployer;
use mlops_deploy::retrain::{Candidate, ControllerRollout, RetrainLoop, RetrainRequest};
use mlops_deploy::{
    Fired, Labels, LogConfig, ModelServer, Monitor, MonitorConfig, Reference, ReferenceOptions,
    Rule, ServedModel, ServerConfig, Strategy, TriggerEngine, TriggerPolicy, WindowSpec,
};
use mlops_examples::story::{Progress, Rng, Scorer, sigmoid};
use mlops_train::core::{AliasChange, AuditRecord};
use mlops_train::data::polars::prelude::Column;
use mlops_train::prelude::*;
use mlops_train::{Feature, FlavorRegistry, RegressionTest};
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The fraud story: drift, retraining, a canary, an audit trail.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Registered model name.
    #[arg(long, default_value = "fraud")]
    model: String,
    /// Seed of the simulated world.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// A shorter run (fewer transactions per phase), as the test suite runs it.
    #[arg(long)]
    quick: bool,
    /// Where the inference log and the rollout state go.
    #[arg(long, default_value = "fraud-demo")]
    workdir: PathBuf,
    #[command(flatten)]
    verbosity: mlops_examples::Verbosity,
}

const REGIONS: [&str; 4] = ["north", "south", "east", "west"];
const CATEGORIES: [&str; 5] = ["grocery", "fuel", "travel", "electronics", "gaming"];
/// Median amount per category, and how much riskier fraud is there (log-odds).
const MEDIAN: [f64; 5] = [40.0, 55.0, 420.0, 310.0, 60.0];
const RISK: [f64; 5] = [0.0, -0.3, 0.4, 0.9, 0.7];
const COLUMNS: [&str; 4] = ["amount", "category", "hour", "region"];

/// One card transaction and its truth.
#[derive(Debug, Clone)]
struct Tx {
    amount: f64,
    category: &'static str,
    hour: f64,
    region: &'static str,
    fraud: bool,
}

impl Tx {
    fn row(&self) -> Vec<Value> {
        vec![
            json!(self.amount),
            json!(self.category),
            json!(self.hour),
            json!(self.region),
        ]
    }
}

/// The simulated world: mainland regions, and from some point a new region whose
/// ordinary baskets are eight times larger.
struct World {
    rng: Rng,
    island_share: f64,
}

impl World {
    fn tx(&mut self) -> Tx {
        let r = &mut self.rng;
        let (region, scale) = if r.chance(self.island_share) {
            ("island", 8.0)
        } else {
            (REGIONS[r.pick(&[0.3, 0.3, 0.2, 0.2])], 1.0)
        };
        let c = r.pick(&[0.35, 0.2, 0.15, 0.15, 0.15]);
        let hour = f64::from((r.pick(&HOUR_WEIGHTS) as u32 + 24) % 24);
        let night = !(6.0..23.0).contains(&hour);
        // How unusual the amount is for this kind of purchase in this market.
        let z = 0.6 * r.normal();
        // Fraud: unusually large for the context, at night, in risky categories.
        let p = sigmoid(-5.2 + 2.2 * (z / 0.6).max(0.0) + 1.3 * f64::from(night) + RISK[c]);
        let fraud = r.chance(p);
        // Fraudsters push the amount up further.
        let boost = if fraud { 1.0 + 2.0 * r.uniform() } else { 1.0 };
        let amount = (MEDIAN[c] * scale * z.exp() * boost * 100.0).round() / 100.0;
        Tx {
            amount,
            category: CATEGORIES[c],
            hour,
            region,
            fraud,
        }
    }

    fn batch(&mut self, n: usize) -> Vec<Tx> {
        (0..n).map(|_| self.tx()).collect()
    }
}

/// Transactions per hour of the day (quiet at night).
const HOUR_WEIGHTS: [f64; 24] = [
    1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 4.5, 5.0, 5.0, 4.5, 4.5, 4.5, 5.0, 5.5,
    5.0, 4.0, 3.0, 2.0, 1.5,
];

fn frame(txs: &[Tx]) -> Res<DataFrame> {
    Ok(DataFrame::new(
        txs.len(),
        vec![
            Column::new(
                "amount".into(),
                txs.iter().map(|t| t.amount).collect::<Vec<_>>(),
            ),
            Column::new(
                "category".into(),
                txs.iter().map(|t| t.category).collect::<Vec<_>>(),
            ),
            Column::new(
                "hour".into(),
                txs.iter().map(|t| t.hour).collect::<Vec<_>>(),
            ),
            Column::new(
                "region".into(),
                txs.iter().map(|t| t.region).collect::<Vec<_>>(),
            ),
            Column::new(
                "fraud".into(),
                txs.iter()
                    .map(|t| if t.fraud { "yes" } else { "no" })
                    .collect::<Vec<_>>(),
            ),
        ],
    )?)
}

/// A random forest: trees find the per-region, per-category amount scales a linear
/// model cannot. `trees` is smaller under `--quick` (debug builds in the test suite).
fn train_config(trees: usize) -> TrainConfig {
    TrainConfig {
        features: FeatureSpec::new(vec![
            Feature::numeric("amount"),
            Feature::categorical("category"),
            Feature::numeric("hour"),
            Feature::categorical("region"),
        ]),
        target: TargetSpec::classification("fraud"),
        algorithm: Algorithm::forest(trees, Some(8)),
        seed: 7,
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    mlops_examples::init_logging(args.verbosity);
    mlops_examples::story::exit_code("fraud_detection", run(&args))
}

fn run(args: &Args) -> Res<bool> {
    let (tracker, registry) = (tracker_from_env()?, registry_from_env()?);
    let (scale, trees) = if args.quick { (1, 12) } else { (2, 30) };
    let tag = format!("{:x}", mlops_train::core::now_ms());
    let work = args.workdir.join(format!("run-{tag}"));
    let log_dir = work.join("inference-log");
    std::fs::create_dir_all(&work)?;
    let mut world = World {
        rng: Rng::new(args.seed),
        island_share: 0.0,
    };

    // 1. The champion, trained on history.
    println!("1. train the champion on historical transactions");
    let history = world.batch(8_000 * scale);
    let hist_df = frame(&history)?;
    let data = Dataset::snapshot(&hist_df, registry.artifact_store())?;
    let parts = train_test_split(&hist_df, &SplitOptions::new(0.25, 7))?;
    let config = train_config(trees);
    let model = train(&parts.train, &config)?;
    let eval = evaluate(&model, &parts.test)?;
    let run = Run::start_in(
        tracker.clone(),
        "fraud-detection",
        RunOptions::named("champion"),
    )?;
    run.log_params(&config.params())?;
    eval.log_to(&run)?;
    let package = ModelPackage::new(
        &model,
        eval.metrics.clone(),
        Lineage::now(vec![data], Some(run.run_id())),
    )?;
    package.log_to(&run, registry.artifact_store())?;
    let why = AliasChange::new("initial model of the fraud_detection example".to_string());
    let v1 = package.register(registry.as_ref(), &args.model, Some(("champion", why)))?;
    run.end()?;
    println!(
        "   models:/{}/{} is champion: precision {:.3}, recall {:.3}, ROC AUC {:.3} on {} held-out rows",
        args.model,
        v1.version,
        eval.metrics["precision_score"],
        eval.metrics["recall_score"],
        eval.metrics["roc_auc_score"],
        parts.test.height()
    );

    // 2. Serve it, with the inference log on.
    let champion_uri: ModelUri = format!("models:/{}@champion", args.model).parse()?;
    let flavors = FlavorRegistry::new();
    let served = ServedModel::from_registry(registry.as_ref(), &champion_uri, &flavors)?;
    let mut log = LogConfig::new(&log_dir);
    log.segment_rows = 1_000;
    log.flush_interval = Duration::from_millis(100);
    let server = ModelServer::start(
        ServerConfig {
            log: Some(log),
            ..ServerConfig::default()
        },
        served,
    )?;
    println!("2. serving {champion_uri} at {}", server.url());
    let scorer = Scorer::new(&server.url())?;

    // 3. Monitor the traffic against the training profile; labels arrive later.
    let reference = Reference::from_registry(
        registry.as_ref(),
        &champion_uri,
        &ReferenceOptions::default(),
    )?;
    let mut monitor = Monitor::new(
        reference,
        MonitorConfig {
            window: WindowSpec::rows(2_000),
            ..MonitorConfig::default()
        },
    )?;
    let policy = format!("drift-{tag}");
    let mut engine = TriggerEngine::new(vec![TriggerPolicy::new(
        &policy,
        Rule::DriftShare {
            above: 0.4,
            windows: 2,
            clear_below: None,
        },
    )])?;
    let mut sent: u64 = 0;
    let mut fired: Option<Fired> = None;
    println!("3. transactions flow; the monitor reads the inference log in windows of 2,000");
    for phase in 0..6 {
        if phase == 2 {
            world.island_share = 0.35;
            println!("   -- a new region, island, starts sending transactions --");
        }
        let txs = world.batch(2_000);
        let answers = score_all(&scorer, &txs, &format!("p{phase}"), "traffic")?;
        sent += answers.len() as u64;
        wait_for_log(&log_dir, sent)?;
        // This phase's ground truth (the monitor keeps every label it was given).
        let mut labels = Labels::new();
        for (id, _, t) in &answers {
            labels.add(id, Some(0), if t.fraud { "yes" } else { "no" });
        }
        monitor.add_labels(&labels);
        for w in monitor.push_log(&log_dir)? {
            let acc = w
                .quality
                .as_ref()
                .and_then(|q| q.metric("accuracy"))
                .map(|m| format!("{:.3}", m.estimate.value))
                .unwrap_or_else(|| "-".into());
            let drifted: Vec<&str> = w
                .drift
                .columns
                .iter()
                .filter(|c| c.drifted)
                .map(|c| c.column.as_str())
                .collect();
            println!(
                "   window {}: {} rows, drift share {:.2} {:?}, accuracy {acc}",
                w.index, w.rows, w.drift.share, drifted
            );
            for f in engine.observe(&w) {
                println!("   ALERT {}: {}", f.incident, f.reason);
                fired.get_or_insert(f);
            }
        }
        if fired.is_some() {
            break;
        }
    }
    let Some(fired) = fired else {
        println!("   no drift alert fired");
        return Ok(false);
    };

    // 4. The trigger: retrain, gate on the recent rows, register, start a canary.
    println!("4. retrain on history + recent labelled rows, gate against the champion");
    let log_df = mlops_deploy::scan(&log_dir)?.collect()?;
    let features: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    let labelled = mlops_deploy::retrain::recent_labelled(
        &log_df,
        monitor.labels(),
        &features,
        "fraud",
        false,
        8_000,
    )?;
    // Half of the recent labelled rows train the candidate; the gates judge candidate
    // and champion on the other half, which neither has seen.
    let halves = train_test_split(&labelled, &SplitOptions::new(0.5, 11))?;
    let (recent_train, recent) = (halves.train, halves.test);
    let gate = Gate::all([
        Gate::no_regression("precision_score", RegressionTest::bootstrap(200, 7), 0.05)?,
        Gate::max_demographic_parity_difference(0.05)?,
    ]);
    let mut retrain_loop = RetrainLoop::new(registry.as_ref(), &args.model, gate);
    retrain_loop.group_column = Some("region".into());
    retrain_loop.actor = "fraud_detection".into();
    let hist = hist_df.clone();
    let store_registry = registry.as_ref();
    let tracker2 = tracker.clone();
    let mut step = |req: &RetrainRequest<'_>| -> mlops_deploy::Result<Candidate> {
        let started = mlops_train::core::now_ms();
        let fresh = recent_train.select(["amount", "category", "hour", "region", "fraud"])?;
        let train_df = hist.vstack(&fresh)?;
        let data = Dataset::snapshot(&train_df, store_registry.artifact_store())?;
        let config = train_config(trees);
        let model = train(&train_df, &config)?;
        let run = Run::start_in(
            tracker2.clone(),
            "fraud-detection",
            RunOptions::named("retrain"),
        )?;
        run.set_tag("mlops.trigger_record", req.trigger_record.to_string())?;
        run.log_params(&config.params())?;
        let lineage = Lineage::now(vec![data.clone()], Some(run.run_id()));
        let package = ModelPackage::new(&model, Default::default(), lineage)?;
        let digest = package.log_to(&run, store_registry.artifact_store())?;
        let run_id = run.run_id();
        run.end()?;
        Ok(Candidate {
            package: digest,
            run_id: Some(run_id),
            started_ms: Some(started),
            datasets: vec![data.digest],
        })
    };
    let strategy = Strategy::from_text(CANARY, true)?;
    let state_dir = work.join("rollouts");
    let mut starter = ControllerRollout {
        registry: registry.as_ref(),
        strategy,
        alias: "champion".into(),
        look_every_ms: 1_000,
        state_dir: state_dir.clone(),
        prometheus: None,
    };
    let outcome = retrain_loop.on_fired(&fired, &recent, &mut step, &mut starter)?;
    if let Some(g) = &outcome.gate {
        print!("{}", indent(&g.to_string()));
    }
    let (Some(version), None) = (outcome.version, &outcome.stopped) else {
        println!("   stopped: {:?}", outcome.stopped);
        return Ok(false);
    };
    println!(
        "   registered models:/{}/{version}; canary starts",
        args.model
    );

    // 5. The canary, judged on "the decision was right" per transaction.
    let state_path = state_dir.join(format!("{}-v{version}.json", args.model));
    let audit = registry.audit_log();
    let (end, n, decision, progress) = {
        let mut deployer = LocalDeployer::new(&server, registry.as_ref());
        let mut source = LocalSource::new(
            &server,
            mlops_deploy::judge::MetricSpec::proportion("correct"),
        );
        let mut controller = Controller::open(
            &state_path,
            None,
            &mut deployer,
            registry.as_ref(),
            audit,
            &mut source,
        )?;
        let budget = 40_000 * scale as u64;
        let mut progress = Progress::new("canary", budget);
        let mut clock = mlops_train::core::now_ms();
        let mut n = 0u64;
        let end = loop {
            match controller.tick(clock)? {
                Tick::Advanced => continue,
                Tick::Done | Tick::Paused => break controller.state.phase.clone(),
                Tick::WaitUntil(t) => {
                    // Traffic until the next look: 500 transactions, each reported as
                    // right or wrong once its truth is known.
                    let txs = world.batch(500);
                    let answers = score_all(&scorer, &txs, &format!("c{n}"), "")?;
                    let outcomes: Vec<(String, &str, f64)> = answers
                        .iter()
                        .map(|(id, pred, t)| {
                            let right = (pred == "yes") == t.fraud;
                            (id.clone(), "correct", f64::from(u8::from(right)))
                        })
                        .collect();
                    scorer.report(&outcomes).map_err(|e| e.to_string())?;
                    n += 500;
                    let st = &controller.state;
                    progress.inc(500, &format!("weight {}%, looks {}", st.weight, st.looks));
                    clock = clock.max(t);
                    if n >= budget {
                        break controller.state.phase.clone();
                    }
                }
            }
        };
        let decision = controller
            .state
            .decision
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        (end, n, decision, progress)
    };
    progress.finish(&format!("{end:?} after {n} transactions"));
    println!("   {decision}");
    let promoted = matches!(end, RolloutPhase::Promoted);
    let champion_now = registry
        .get_version_by_alias(&args.model, "champion")?
        .version;
    println!(
        "   champion is now models:/{}/{champion_now}; serving {:?}",
        args.model,
        server
            .variants()
            .iter()
            .map(|v| format!("{} v{} {:.0}%", v.name, v.version, v.weight * 100.0))
            .collect::<Vec<_>>()
    );
    server.shutdown()?;

    // 6. The audit trail, verified, from the alert to the new champion; DORA metrics.
    let verified = audit.verify()?;
    println!(
        "6. audit log verified: {} records, hash chain intact",
        verified.records
    );
    let records = audit.records()?;
    print_chain(&records, &outcome.records, &args.model);
    let dora = mlops_deploy::dora::dora(
        registry.as_ref(),
        Some(tracker.as_ref()),
        "champion",
        Some(std::slice::from_ref(&args.model)),
    )?;
    println!("\n   delivery metrics (what `mlops dora` prints):");
    print!("{}", indent(&dora.to_table()));
    println!("\n   inference log and rollout state: {}", work.display());
    Ok(promoted && champion_now == version)
}

/// The canary strategy: 10% of transactions until the judge decides, then promotion.
const CANARY: &str = r#"
[canary]
steps = [{ set_weight = 10 }, { judge = { max_duration = "2h" } }]
[canary.judge]
alpha = 0.05
tau = 0.05
margin = 0.01
min_samples = 200
no_decision = "manual"
[canary.judge.metric]
name = "correct"
"#;

/// A scored transaction: its index, request id, prediction and truth.
type Scored = (usize, String, String, Tx);

/// Scores each transaction as its own request (`PREFIX-i`); returns (request id,
/// prediction, transaction). Four client threads, as several front ends would.
fn score_all(
    scorer: &Scorer,
    txs: &[Tx],
    prefix: &str,
    label: &str,
) -> Res<Vec<(String, String, Tx)>> {
    let chunks: Vec<Vec<(usize, Tx)>> = (0..4)
        .map(|k| {
            txs.iter()
                .cloned()
                .enumerate()
                .filter(|(i, _)| i % 4 == k)
                .collect()
        })
        .collect();
    let progress =
        (!label.is_empty()).then(|| std::sync::Mutex::new(Progress::new(label, txs.len() as u64)));
    let results: Vec<Result<Vec<Scored>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let scorer = scorer.clone();
                let progress = &progress;
                s.spawn(move || {
                    let mut out = Vec::with_capacity(chunk.len());
                    for (i, t) in chunk {
                        let id = format!("{prefix}-{i}");
                        let a = scorer
                            .score(&id, None, &COLUMNS, t.row())
                            .map_err(|e| e.to_string())?;
                        out.push((i, a.request_id, a.prediction, t));
                        if let Some(p) = progress
                            && out.len() % 100 == 0
                            && let Ok(mut p) = p.lock()
                        {
                            p.inc(100, "");
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect()
    });
    if let Some(p) = progress.and_then(|p| p.into_inner().ok()) {
        p.finish(&format!("{} transactions scored", txs.len()));
    }
    let mut all = Vec::with_capacity(txs.len());
    for r in results {
        all.extend(r?);
    }
    all.sort_by_key(|(i, ..)| *i);
    Ok(all.into_iter().map(|(_, id, p, t)| (id, p, t)).collect())
}

/// Waits until the inference log holds `rows` rows (it is written off the request path).
fn wait_for_log(dir: &Path, rows: u64) -> Res<()> {
    for _ in 0..200 {
        if mlops_deploy::inference_log::count_rows(dir).unwrap_or(0) >= rows {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("the inference log did not reach {rows} rows in 10 s").into())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}

/// Prints the incident as a timeline: every record reachable from the trigger through
/// `cause` links (trigger → retrain → gate → version → rollout → steps → decision →
/// promotion), with the record that caused each one, plus the registry's alias moves of
/// the promotion.
fn print_chain(records: &[AuditRecord], chain: &[Digest], model: &str) {
    let Some(first) = chain
        .first()
        .and_then(|h| records.iter().position(|r| r.hash == *h))
    else {
        return;
    };
    println!("\n   timeline of the incident (seconds after the alert; record <- its cause):");
    let start = records[first].time_ms;
    let mut linked: Vec<String> = vec![records[first].hash.to_string()];
    for r in &records[first..] {
        let cause = r.payload.get("cause").and_then(Value::as_str);
        let in_chain =
            r.hash == records[first].hash || cause.is_some_and(|c| linked.iter().any(|h| h == c));
        let alias_move = r.action.starts_with("registry.alias")
            && r.subject == format!("models:/{model}@champion");
        if !(in_chain || alias_move) {
            continue;
        }
        if in_chain {
            linked.push(r.hash.to_string());
        }
        let cause = cause
            .map(|c| format!(" <- {}", &c[..12.min(c.len())]))
            .unwrap_or_default();
        println!(
            "   +{:>7.3}  {}  {:<23} {}{}",
            r.time_ms.saturating_sub(start) as f64 / 1000.0,
            r.hash.short(),
            r.action,
            r.subject,
            cause
        );
    }
}
