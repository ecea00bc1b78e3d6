//! `recommendation`: the seed's use case 1, end to end on the embedded default.
//!
//! Simulated users (seeded) visit a shop that shows each of them one offer, `sports`
//! or `tech`, chosen by the served model. A user clicks far more often when the offer
//! matches their taste, and some clicks convert. So the model decides click-through
//! and conversion, and a better model earns more of both.
//!
//! 1. The champion (a logistic regression on the user's age only) serves 100% from the
//!    local model server; users are routed by `X-User-Id`, so each stays on one arm.
//! 2. A data scientist trains an improved model on the latest data (all user features),
//!    evaluates it against the champion on the same rows, gates it, registers it.
//! 3. The rollout controller sends it 10% of users; every answered request is followed
//!    by the user's click and conversion (0 or 1), reported to the server; the judge
//!    compares canary and control on click-through (conversion as a guardrail) with
//!    always-valid statistics after every 1,000 requests, and promotes: `champion` moves
//!    and the canary takes all traffic.
//! 4. A second model is trained on the next export, which has a bug (the device column
//!    swapped). Offline it looks better than the champion on that export, so the gate
//!    passes; live it is worse. The canary catches it and rolls it back: no user beyond
//!    the canary's share ever saw it, and `champion` did not move.
//!
//! It prints progress as it goes and writes an HTML summary: the traffic split over
//! time, each arm's click-through with its confidence sequence, the decision and when
//! it was taken.
//!
//! ```text
//! cargo run --release -p mlops-examples --bin recommendation [-- --quick]
//! ```
//!
//! Runs on `./mlruns` (or `MLFLOW_TRACKING_URI`, an MLflow server included); the
//! rollout state and `summary.html` go to `./recommendation-demo/`. Exits 0 when the
//! story went as told (better model promoted, worse one rolled back), 1 otherwise.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mlops_deploy::controller::{
    Controller, LocalSource, RolloutPhase, RolloutSpec, RolloutState, Tick,
};
use mlops_deploy::judge::stats::half_normal_cs_radius;
use mlops_deploy::strategy::{Canary, Step};
use mlops_deploy::{
    Guardrail, JudgeConfig, LocalDeployer, MetricSpec, ModelServer, ServedModel, ServerConfig,
    StickyKey, Strategy, VersionSpec,
};
use mlops_examples::story::{Progress, Rng, Scorer};
use mlops_train::core::AliasChange;
use mlops_train::data::polars::prelude::Column;
use mlops_train::prelude::*;
use mlops_train::{Feature, FlavorRegistry};
use serde_json::{Value, json};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The recommendation story: a better model promoted, a worse one rolled back.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Registered model name.
    #[arg(long, default_value = "recommender")]
    model: String,
    /// Seed of the simulated world.
    #[arg(long, default_value_t = 11)]
    seed: u64,
    /// Fewer users and a shorter horizon (as the test suite runs it).
    #[arg(long)]
    quick: bool,
    /// Where the rollout state and the HTML summary go.
    #[arg(long, default_value = "recommendation-demo")]
    workdir: PathBuf,
    #[command(flatten)]
    verbosity: mlops_examples::Verbosity,
}

const COLUMNS: [&str; 4] = ["age", "device", "tenure", "last_category"];
/// Click probability when the offer matches the user's taste, and when it does not.
const CLICK_MATCH: f64 = 0.08;
const CLICK_MISS: f64 = 0.02;
/// Share of clicks that convert.
const CONVERT: f64 = 0.3;

/// A simulated user: what the shop knows, and the taste it does not.
#[derive(Debug, Clone)]
struct User {
    id: String,
    age: f64,
    mobile: bool,
    tenure: f64,
    last: &'static str,
    likes_tech: bool,
}

impl User {
    fn row(&self) -> Vec<Value> {
        vec![
            json!(self.age),
            json!(if self.mobile { "mobile" } else { "desktop" }),
            json!(self.tenure),
            json!(self.last),
        ]
    }
}

fn users(rng: &mut Rng, n: usize) -> Vec<User> {
    (0..n)
        .map(|i| {
            let age = (18.0 + 50.0 * rng.uniform()).round();
            let mobile = rng.chance(0.55);
            let tenure = (1500.0 * rng.uniform()).round();
            let last = if rng.chance(0.5) { "tech" } else { "sports" };
            // Taste: younger, desktop users and those who last bought tech like tech.
            let s = -0.7 * (age - 43.0) / 14.0 - 1.6 * f64::from(u8::from(mobile))
                + 1.6 * f64::from(u8::from(last == "tech"))
                + 0.3 * (tenure - 750.0) / 430.0
                + 0.1
                + 0.5 * rng.normal();
            User {
                id: format!("u{i}"),
                age,
                mobile,
                tenure,
                last,
                likes_tech: s > 0.0,
            }
        })
        .collect()
}

/// A labelled export: users with the offer they prefer (from past clicks; 5% noisy).
/// `device_swapped` is the bug of the second export.
fn export(rng: &mut Rng, users: &[User], n: usize, device_swapped: bool) -> Res<DataFrame> {
    let picked: Vec<&User> = (0..n)
        .map(|_| &users[(rng.uniform() * users.len() as f64) as usize % users.len()])
        .collect();
    let device: Vec<&str> = picked
        .iter()
        .map(|u| match (u.mobile, device_swapped) {
            (true, false) | (false, true) => "mobile",
            _ => "desktop",
        })
        .collect();
    let offer: Vec<&str> = picked
        .iter()
        .map(|u| {
            let likes = u.likes_tech != rng.chance(0.05);
            if likes { "tech" } else { "sports" }
        })
        .collect();
    Ok(DataFrame::new(
        n,
        vec![
            Column::new(
                "age".into(),
                picked.iter().map(|u| u.age).collect::<Vec<_>>(),
            ),
            Column::new("device".into(), device),
            Column::new(
                "tenure".into(),
                picked.iter().map(|u| u.tenure).collect::<Vec<_>>(),
            ),
            Column::new(
                "last_category".into(),
                picked.iter().map(|u| u.last).collect::<Vec<_>>(),
            ),
            Column::new("offer".into(), offer),
        ],
    )?)
}

fn config(features: Vec<Feature>) -> TrainConfig {
    TrainConfig {
        features: FeatureSpec::new(features),
        target: TargetSpec::classification("offer"),
        algorithm: Algorithm::logistic(),
        seed: 7,
    }
}

fn all_features() -> Vec<Feature> {
    vec![
        Feature::standardized("age"),
        Feature::categorical("device"),
        Feature::standardized("tenure"),
        Feature::categorical("last_category"),
    ]
}

/// A point of a chart with its band: (x, y, low, high).
type Band = (f64, f64, f64, f64);

/// One look of a rollout, for the summary.
#[derive(Debug, Clone)]
struct Look {
    requests: u64,
    weight: u8,
    control: (u64, u64),
    canary: (u64, u64),
    diff_ci: [f64; 2],
}

/// One rollout's record, for the summary.
#[derive(Debug, Clone)]
struct Rollout {
    title: String,
    looks: Vec<Look>,
    decision: String,
    decided_at: Option<u64>,
    phase: RolloutPhase,
    exposed_users: usize,
    active_users: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    mlops_examples::init_logging(args.verbosity);
    mlops_examples::story::exit_code("recommendation", run(&args))
}

fn run(args: &Args) -> Res<bool> {
    let (tracker, registry) = (tracker_from_env()?, registry_from_env()?);
    let tag = format!("{:x}", mlops_train::core::now_ms());
    let work = args.workdir.join(format!("run-{tag}"));
    std::fs::create_dir_all(&work)?;
    let mut rng = Rng::new(args.seed);
    let population = users(&mut rng, if args.quick { 20_000 } else { 50_000 });
    let budget: u64 = if args.quick { 120_000 } else { 200_000 };

    // 1. The champion: the old model, on age only.
    println!("1. the champion (age only) serves 100%");
    let old = export(&mut rng, &population, 6_000, false)?;
    let old_parts = train_test_split(&old, &SplitOptions::new(0.25, 7))?;
    let v1 = train_register(
        &*registry,
        &tracker,
        &args.model,
        &old_parts.train,
        config(vec![Feature::standardized("age")]),
        &old_parts.test,
        None,
        "champion",
    )?
    .0;
    let flavors = FlavorRegistry::new();
    let uri: ModelUri = format!("models:/{}/{v1}", args.model).parse()?;
    let served = ServedModel::from_registry(&*registry, &uri, &flavors)?;
    let server = ModelServer::start(
        ServerConfig {
            sticky: Some(StickyKey::Header("x-user-id".into())),
            ..ServerConfig::default()
        },
        served,
    )?;
    println!("   models:/{}/{v1} at {}", args.model, server.url());
    let scorer = Scorer::new(&server.url())?;

    let mut shop = Shop {
        args,
        registry: &*registry,
        tracker: &tracker,
        server: &server,
        scorer,
        population,
        rng,
        work: work.clone(),
        budget,
        requests: 0,
    };
    // 2. + 3. The improved model, gated, then a canary judged on click-through.
    println!("2. an improved model on the latest data (all user features)");
    let Some((v2, first)) = shop.release(v1, false)? else {
        println!("   the improved model did not pass its gate");
        return Ok(false);
    };
    // 4. A model trained on a buggy export: the gate passes, the canary does not.
    println!("4. a model trained on the next export (its device column is swapped)");
    let Some((v3, second)) = shop.release(v2, true)? else {
        println!("   the buggy model did not pass its gate (the story wanted it to)");
        return Ok(false);
    };
    let champion = registry
        .get_version_by_alias(&args.model, "champion")?
        .version;
    let serving: Vec<String> = server
        .variants()
        .iter()
        .map(|v| format!("{} v{} {:.0}%", v.name, v.version, v.weight * 100.0))
        .collect();
    server.shutdown()?;
    println!(
        "   champion is models:/{}/{champion}; serving {serving:?}",
        args.model
    );

    let html = work.join("summary.html");
    mlops_core::fs::write_atomic(
        &html,
        summary_html(&args.model, &[&first, &second]).as_bytes(),
    )?;
    println!("\nsummary: {}", html.display());
    let exposure_ok = second.exposed_users as f64 <= 0.13 * second.active_users as f64;
    println!(
        "users who ever saw v{v3}: {} of {} active ({:.1}%)",
        second.exposed_users,
        second.active_users,
        100.0 * second.exposed_users as f64 / second.active_users.max(1) as f64
    );
    Ok(matches!(first.phase, RolloutPhase::Promoted)
        && matches!(second.phase, RolloutPhase::RolledBack)
        && champion == v2
        && exposure_ok)
}

/// Trains, evaluates (against `champion` on the same rows when there is one), gates,
/// logs and registers a version; moves `alias` to it when the gate passes.
#[allow(clippy::too_many_arguments)]
fn train_register(
    registry: &dyn mlops_train::core::Registry,
    tracker: &std::sync::Arc<dyn mlops_train::core::Tracker>,
    model_name: &str,
    train_df: &DataFrame,
    config: TrainConfig,
    test_df: &DataFrame,
    champion: Option<u64>,
    alias: &str,
) -> Res<(u64, bool)> {
    let data = Dataset::snapshot(train_df, registry.artifact_store())?;
    let model = train(train_df, &config)?;
    let candidate = evaluate(&model, test_df)?;
    let champion_eval = match champion {
        Some(v) => {
            let uri: ModelUri = format!("models:/{model_name}/{v}").parse()?;
            Some(evaluate(load_model(registry, &uri)?.as_ref(), test_df)?)
        }
        None => None,
    };
    let gate = Gate::all([
        Gate::at_least("roc_auc_score", 0.6)?,
        Gate::no_regression("roc_auc_score", RegressionTest::Delong, 0.05)?,
    ]);
    let report = gate.check(&candidate, champion_eval.as_ref());
    let auc =
        |e: &mlops_train::Evaluation| e.metrics.get("roc_auc_score").copied().unwrap_or(f64::NAN);
    println!(
        "   offline ROC AUC {:.3}{}; gate {}",
        auc(&candidate),
        champion_eval
            .as_ref()
            .map(|c| format!(" vs champion {:.3} on the same rows", auc(c)))
            .unwrap_or_default(),
        if report.passed { "passed" } else { "FAILED" }
    );
    let run = Run::start_in(
        tracker.clone(),
        "recommendation",
        RunOptions::named("offer-model"),
    )?;
    run.log_params(&config.params())?;
    candidate.log_to(&run)?;
    let package = ModelPackage::new(
        &model,
        candidate.metrics.clone(),
        Lineage::now(vec![data], Some(run.run_id())),
    )?;
    package.log_to(&run, registry.artifact_store())?;
    let why = AliasChange::new(format!("gate passed (run {})", run.run_id()));
    let alias = report.passed.then_some((alias, why));
    let v = package.register(registry, model_name, alias)?;
    run.end()?;
    println!("   registered models:/{model_name}/{}", v.version);
    Ok((v.version, report.passed))
}

/// What the rollouts of the story share: the registry, the server and its users.
struct Shop<'a> {
    args: &'a Args,
    registry: &'a dyn mlops_train::core::Registry,
    tracker: &'a std::sync::Arc<dyn mlops_train::core::Tracker>,
    server: &'a mlops_deploy::ServerHandle,
    scorer: Scorer,
    population: Vec<User>,
    rng: Rng,
    work: PathBuf,
    budget: u64,
    requests: u64,
}

impl Shop<'_> {
    /// A new model on a fresh export (`buggy`: its device column swapped), trained on
    /// all user features, gated against the champion `stable` and registered; when the
    /// gate passed, its canary rollout. `None` when the gate failed.
    fn release(&mut self, stable: u64, buggy: bool) -> Res<Option<(u64, Rollout)>> {
        let data = export(&mut self.rng, &self.population, 8_000, buggy)?;
        let parts = train_test_split(&data, &SplitOptions::new(0.25, 7))?;
        let (version, passed) = train_register(
            self.registry,
            self.tracker,
            &self.args.model,
            &parts.train,
            config(all_features()),
            &parts.test,
            Some(stable),
            "candidate",
        )?;
        if !passed {
            return Ok(None);
        }
        println!("   canary: 10% of users on v{version}, judged after every 1,000 requests");
        let rollout = self.canary(stable, version)?;
        Ok(Some((version, rollout)))
    }

    /// Runs one canary rollout of `canary` against `stable` while users visit.
    fn canary(&mut self, stable: u64, canary: u64) -> Res<Rollout> {
        let (args, registry, server) = (self.args, self.registry, self.server);
        let (scorer, population, budget) = (&self.scorer, &self.population, self.budget);
        let (rng, requests, work) = (&mut self.rng, &mut self.requests, &self.work);
        let spec = |v: u64| VersionSpec {
            model: args.model.clone(),
            version: v.to_string(),
            storage_uri: format!("models:/{}/{v}", args.model),
        };
        let judge = JudgeConfig {
            metric: MetricSpec::proportion("click"),
            guardrails: vec![Guardrail {
                metric: MetricSpec::proportion("conversion"),
                alpha: 0.05,
                tau: 0.003,
                min_samples: 100,
            }],
            ..JudgeConfig::default()
        };
        let look_every_ms = 1_000;
        let state = RolloutState::new(RolloutSpec {
            name: format!("{}-v{canary}", args.model),
            stable: spec(stable),
            canary: spec(canary),
            alias: "champion".into(),
            strategy: Strategy::Canary(Canary {
                steps: vec![Step::SetWeight(10), Step::Judge { max_duration: None }],
                judge,
                background_analysis: None,
            }),
            look_every_ms,
            prometheus: None,
            guardrail_queries: Vec::new(),
        })?;
        let path = work.join(format!("rollout-v{canary}.json"));
        let audit = registry.audit_log();
        let mut deployer = LocalDeployer::new(server, registry);
        let mut source = LocalSource::new(server, MetricSpec::proportion("click"));
        let mut c = Controller::open(
            &path,
            Some(state),
            &mut deployer,
            registry,
            audit,
            &mut source,
        )?;
        let mut looks = Vec::new();
        let (mut exposed, mut active) = (HashSet::new(), HashSet::new());
        let mut clock = 0u64;
        let start = *requests;
        let mut progress = Progress::new(&format!("v{canary}"), budget);
        let version = canary.to_string();
        let base = |name: &str| {
            server
                .outcome_stats()
                .into_iter()
                .filter(|s| s.metric == "click")
                .filter(|s| s.variant == name)
                .map(|s| (s.sums.n, s.sums.sum as u64))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        };
        let before = (base("stable"), base("canary"));
        let sub = |a: (u64, u64), b: (u64, u64)| (a.0 - b.0, a.1 - b.1);
        let mut judged = c.state.looks;
        let phase = loop {
            let weight = c.state.weight;
            let tick = c.tick(clock)?;
            if c.state.looks > judged {
                // The judge just looked at everything reported so far: the counts and
                // its confidence sequence of the same look (at the weight they ran at).
                judged = c.state.looks;
                let now = (base("stable"), base("canary"));
                let diff_ci = c
                    .state
                    .judge
                    .as_ref()
                    .and_then(|j| j.snapshot())
                    .or_else(|| c.state.decision.clone())
                    .map_or([f64::NAN, f64::NAN], |d| d.ci);
                looks.push(Look {
                    requests: *requests - start,
                    weight,
                    control: sub(now.0, before.0),
                    canary: sub(now.1, before.1),
                    diff_ci,
                });
            }
            match tick {
                Tick::Advanced => continue,
                Tick::Done | Tick::Paused => break c.state.phase.clone(),
                Tick::WaitUntil(t) => {
                    // 1,000 visits until the next look; clicks and conversions reported.
                    let mut outcomes = Vec::with_capacity(2_000);
                    for _ in 0..1_000 {
                        let u = &population
                            [(rng.uniform() * population.len() as f64) as usize % population.len()];
                        *requests += 1;
                        let id = format!("r{}", *requests);
                        let a = scorer
                            .score(&id, Some(&u.id), &COLUMNS, u.row())
                            .map_err(|e| e.to_string())?;
                        active.insert(u.id.clone());
                        if a.version == version {
                            exposed.insert(u.id.clone());
                        }
                        let matched = (a.prediction == "tech") == u.likes_tech;
                        let click = rng.chance(if matched { CLICK_MATCH } else { CLICK_MISS });
                        let convert = click && rng.chance(CONVERT);
                        outcomes.push((a.request_id.clone(), "click", f64::from(u8::from(click))));
                        outcomes.push((a.request_id, "conversion", f64::from(u8::from(convert))));
                    }
                    scorer.report(&outcomes).map_err(|e| e.to_string())?;
                    clock = clock.max(t);
                    let now = (base("stable"), base("canary"));
                    let rate = |(n, k): (u64, u64)| k as f64 / n.max(1) as f64;
                    progress.inc(
                        1_000,
                        &format!(
                            "CTR control {:.4} canary {:.4}",
                            rate(sub(now.0, before.0)),
                            rate(sub(now.1, before.1))
                        ),
                    );
                    if *requests - start >= budget {
                        break c.state.phase.clone();
                    }
                }
            }
        };
        // The look that decided, in requests since the rollout started.
        let decision = c.state.decision.clone();
        let decided_at = decision.as_ref().and_then(|d| {
            looks
                .get((d.look as usize).saturating_sub(1))
                .map(|l| l.requests)
        });
        let text = decision
            .map(|d| d.to_string())
            .unwrap_or_else(|| "no decision".into());
        progress.finish(&format!("{phase:?} after {} requests", *requests - start));
        println!("   {text}");
        Ok(Rollout {
            title: format!("v{stable} (control) vs v{canary} (canary)"),
            looks,
            decision: text,
            decided_at,
            phase,
            exposed_users: exposed.len(),
            active_users: active.len(),
        })
    }
}

/// A self-contained HTML page: per rollout, the traffic split and each arm's
/// click-through with its confidence sequence over the requests, and the decision.
fn summary_html(model: &str, rollouts: &[&Rollout]) -> String {
    let mut body = String::new();
    for r in rollouts {
        let n = r.looks.last().map_or(1, |l| l.requests).max(1) as f64;
        let mut weight: Vec<(f64, f64)> = vec![(0.0, 0.0)];
        weight.extend(
            r.looks
                .iter()
                .map(|l| (l.requests as f64, f64::from(l.weight))),
        );
        // After the decision: all traffic (promoted) or none (rolled back).
        weight.push((
            n,
            if matches!(r.phase, RolloutPhase::Promoted) {
                100.0
            } else {
                0.0
            },
        ));
        // Each arm's rate with a two-sided confidence sequence (alpha/2 per side, the
        // judge's mixture scale): valid at every look at once.
        let arm = |pick: fn(&Look) -> (u64, u64)| -> Vec<Band> {
            r.looks
                .iter()
                .filter(|l| pick(l).0 > 0)
                .map(|l| {
                    let (k, c) = pick(l);
                    let p = c as f64 / k as f64;
                    let s2 = (p * (1.0 - p)).max(1e-6) / k as f64;
                    let h = half_normal_cs_radius(s2, JudgeConfig::default().tau, 0.025);
                    (l.requests as f64, p, (p - h).max(0.0), p + h)
                })
                .collect()
        };
        // The judge's own statistic: canary − control with its confidence sequence.
        let diff: Vec<Band> = r
            .looks
            .iter()
            .filter(|l| {
                l.diff_ci.iter().all(|v| v.is_finite()) && l.control.0 > 0 && l.canary.0 > 0
            })
            .map(|l| {
                let rate = |(n, k): (u64, u64)| k as f64 / n as f64;
                let d = rate(l.canary) - rate(l.control);
                (l.requests as f64, d, l.diff_ci[0], l.diff_ci[1])
            })
            .collect();
        let control = arm(|l| l.control);
        let canary = arm(|l| l.canary);
        let ymax = 2.5
            * control
                .iter()
                .chain(&canary)
                .map(|x| x.1)
                .fold(0.01f64, f64::max);
        body.push_str(&format!(
            "<section><h2>{}</h2><p class=decision>{}</p>\
             <h3>Traffic to the canary (%)</h3>{}\
             <h3>Click-through per arm, with 95% confidence sequences</h3>{}\
             <p class=legend><span class=c>&#9632; control</span> <span class=k>&#9632; canary</span> \
             &middot; dashed line: the decision</p>\
             <h3>Canary &minus; control, the judge's confidence sequence (0 at the middle)</h3>{}</section>",
            html_escape(&r.title),
            html_escape(&r.decision),
            svg_chart(n, 100.0, &[], &[(&weight, "k")], r.decided_at),
            svg_chart(
                n,
                ymax,
                &[(&control, "c"), (&canary, "k")],
                &[],
                r.decided_at
            ),
            svg_diff(n, &diff, r.decided_at),
        ));
    }
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{m}: canary rollouts</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:920px;margin:2em auto;color:#222}}\
         svg{{background:#fafafa;border:1px solid #ddd}} .decision{{font-family:monospace;font-size:90%}}\
         .c{{color:#2b6cb0}} .k{{color:#c05621}} .band.c{{fill:#2b6cb0;opacity:.15}} .band.k{{fill:#c05621;opacity:.15}}\
         .line.c{{stroke:#2b6cb0}} .line.k{{stroke:#c05621}} .line{{fill:none;stroke-width:2}}\
         .axis{{font-size:11px;fill:#555}} .dec{{stroke:#222;stroke-dasharray:4 3}}</style></head>\
         <body><h1>{m}: canary rollouts</h1><p>Users were routed by user id (sticky); every answer \
         was followed by a click or not and a conversion or not, reported to the server. The judge \
         compared canary and control after every 1,000 requests with always-valid statistics.</p>{body}</body></html>",
        m = html_escape(model)
    )
}

/// An inline SVG chart over x in [0, xmax], y in [0, ymax]: bands (x, y, lo, hi) with
/// their lines, plain lines (x, y), and a dashed vertical line at `mark`.
fn svg_chart(
    xmax: f64,
    ymax: f64,
    bands: &[(&Vec<Band>, &str)],
    lines: &[(&Vec<(f64, f64)>, &str)],
    mark: Option<u64>,
) -> String {
    let (w, h, pad) = (860.0, 220.0, 40.0);
    let x = |v: f64| pad + (w - 2.0 * pad) * v / xmax.max(1e-9);
    let y = |v: f64| h - pad + (2.0 * pad - h) * v / ymax.max(1e-12);
    let mut s = format!("<svg viewBox='0 0 {w} {h}' width='{w}' height='{h}'>");
    let path = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        pts.enumerate()
            .map(|(i, (a, b))| format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, x(a), y(b)))
            .collect::<String>()
    };
    for (pts, class) in bands {
        if pts.is_empty() {
            continue;
        }
        let upper = path(&mut pts.iter().map(|p| (p.0, p.3.min(ymax))));
        let lower: String = pts
            .iter()
            .rev()
            .map(|p| format!("L{:.1},{:.1}", x(p.0), y(p.2)))
            .collect();
        s.push_str(&format!("<path class='band {class}' d='{upper}{lower}Z'/>"));
        let mid = path(&mut pts.iter().map(|p| (p.0, p.1)));
        s.push_str(&format!("<path class='line {class}' d='{mid}'/>"));
    }
    for (pts, class) in lines {
        let d = path(&mut pts.iter().copied());
        s.push_str(&format!("<path class='line {class}' d='{d}'/>"));
    }
    if let Some(m) = mark {
        let mx = x(m as f64);
        s.push_str(&format!(
            "<line class=dec x1='{mx:.1}' x2='{mx:.1}' y1='{}' y2='{}'/>",
            pad / 2.0,
            h - pad
        ));
    }
    s.push_str(&format!(
        "<text class=axis x='{pad}' y='{}'>0</text><text class=axis x='{}' y='{}' text-anchor=end>{} requests</text>\
         <text class=axis x='4' y='{}'>{}</text>",
        h - pad / 2.0,
        w - pad,
        h - pad / 2.0,
        xmax as u64,
        pad,
        if ymax >= 1.0 { format!("{ymax:.0}") } else { format!("{ymax:.3}") }
    ));
    s.push_str("</svg>");
    s
}

/// The difference chart: symmetric around 0 (the middle line), clipped to the largest
/// bound seen after the first tenth of the looks.
fn svg_diff(xmax: f64, pts: &[Band], mark: Option<u64>) -> String {
    let skip = pts.len() / 10;
    let m = pts
        .iter()
        .skip(skip)
        .flat_map(|p| [p.2.abs(), p.3.abs()])
        .fold(0.005f64, f64::max);
    let shifted: Vec<Band> = pts
        .iter()
        .map(|p| (p.0, p.1 + m, (p.2 + m).max(0.0), (p.3 + m).min(2.0 * m)))
        .collect();
    let zero = vec![(0.0, m), (xmax, m)];
    svg_chart(xmax, 2.0 * m, &[(&shifted, "k")], &[(&zero, "c")], mark)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
