//! `mlops rollout` as processes: a canary promoted through the CLI while the controller
//! is killed (SIGKILL) at random points and restarted on the same state, which must
//! resume the same rollout and never move the alias twice; then status, metrics, abort.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mlops_core::{AliasChange, LocalRegistry, NewVersion, Registry};

fn mlops(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn registry(root: &Path) -> LocalRegistry {
    let reg = LocalRegistry::open(root).unwrap();
    reg.create_model("fraud", None, &BTreeMap::new()).unwrap();
    for seed in 1..=2u8 {
        let pkg = tempfile::tempdir().unwrap();
        std::fs::write(
            pkg.path().join("MLmodel"),
            format!("flavors:\n  mlops:\n    seed: {seed}\n"),
        )
        .unwrap();
        let digest = reg.artifact_store().put_dir(pkg.path()).unwrap();
        reg.create_version(
            "fraud",
            &NewVersion::new(digest, format!("file:///packages/{digest}")),
        )
        .unwrap();
    }
    reg.set_alias("fraud", "champion", 1, &AliasChange::new("first"))
        .unwrap();
    reg
}

/// A reference stream of `judge_looks.csv` (`better10_1` is promoted), with a zero row
/// first.
fn replay(dir: &Path, stream: &str) -> String {
    let looks = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/judge_looks.csv"
    ))
    .unwrap();
    let mut out = String::from("control_n,control_successes,canary_n,canary_successes\n0,0,0,0\n");
    for line in looks.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] == stream {
            out.push_str(&f[2..].join(","));
            out.push('\n');
        }
    }
    let p = dir.join(format!("{stream}.csv"));
    std::fs::write(&p, out).unwrap();
    p.to_str().unwrap().to_string()
}

/// The look at which the reference judge decided `stream`.
fn reference_look(stream: &str) -> u64 {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/judge_looks.expected.jsonl"
    ))
    .unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["stream"] == stream)
        .and_then(|v| v["look"].as_u64())
        .unwrap()
}

#[test]
fn a_controller_killed_at_random_points_resumes_and_promotes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let reg = registry(&root);
    let strategy = dir.path().join("strategy.json");
    std::fs::write(
        &strategy,
        r#"{"canary": {"steps": [{"set_weight": 10}, {"judge": {}}]}}"#,
    )
    .unwrap();
    let replay = replay(dir.path(), "better10_1");
    let state = dir.path().join("rollout.json");
    let gitops = dir.path().join("gitops");
    let args: Vec<String> = [
        "rollout",
        "start",
        "--state",
        state.to_str().unwrap(),
        "--strategy",
        strategy.to_str().unwrap(),
        "--model",
        "fraud",
        "--stable",
        "1",
        "--canary",
        "2",
        "--registry",
        root.to_str().unwrap(),
        "--gitops",
        gitops.to_str().unwrap(),
        "--replay",
        &replay,
        "--look-every-ms",
        "20",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Kill at pseudo-random points (seeded) until one run gets to finish on its own.
    let mut seed: u64 = 0x5eed_1234;
    let mut kills = 0;
    let mut finished = false;
    for _ in 0..200 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = 5 + (seed >> 33) % 120;
        let mut child = Command::new(env!("CARGO_BIN_EXE_mlops"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
        } else {
            assert!(child.wait().unwrap().success());
            finished = true;
            break;
        }
    }
    assert!(finished, "never finished after {kills} kills");
    assert!(kills >= 5, "only {kills} kills landed");
    let (code, out, err) = mlops(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("promoted"), "{out}");
    // The alias points at version 2 and was moved there exactly once: the alias move
    // records its intent first, so a kill leaves an intent that the next move settles
    // (`Aborted` when the alias did not move) and exactly one `Done` move to 2.
    assert_eq!(
        reg.get_version_by_alias("fraud", "champion")
            .unwrap()
            .version,
        2
    );
    let h = reg.alias_history("fraud", "champion").unwrap();
    let to_canary: Vec<_> = h
        .iter()
        .filter(|m| {
            m.to_version == Some(2)
                && m.from_version != Some(2)
                && m.state == mlops_core::registry::MoveState::Done
        })
        .collect();
    assert_eq!(to_canary.len(), 1, "{h:?}");
    if let Some(m) = to_canary.first() {
        assert_eq!(m.from_version, Some(1));
        assert!(
            m.reason
                .contains(&format!("at look {}", reference_look("better10_1"))),
            "the same decision as the reference: {}",
            m.reason
        );
    }
    // Status, metrics, and idempotent promote.
    let (code, out, _) = mlops(&[
        "rollout",
        "status",
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["phase"]["phase"], "promoted");
    assert_eq!(v["weight"], 100);
    let (_, m, _) = mlops(&[
        "rollout",
        "status",
        "--state",
        state.to_str().unwrap(),
        "--metrics",
    ]);
    assert!(
        m.contains("deploy_rollout_phase{rollout=\"fraud-v2\"} 1")
            && m.contains("deploy_canary_weight{rollout=\"fraud-v2\"} 100"),
        "{m}"
    );
    let (code, _, err) = mlops(&["rollout", "promote", "--state", state.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        reg.alias_history("fraud", "champion").unwrap().len(),
        h.len()
    );
    // The audit chain is intact after the kills.
    let (code, out, err) = mlops(&[
        "audit",
        "verify",
        mlops_core::tracking::sdk_state_dir(&root)
            .join("audit.jsonl")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn abort_rolls_back_without_touching_the_alias() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let reg = registry(&root);
    let strategy = dir.path().join("strategy.toml");
    std::fs::write(
        &strategy,
        "[canary]\nsteps = [{ set_weight = 5 }, { pause = {} }]\n",
    )
    .unwrap();
    let replay = replay(dir.path(), "aa_0");
    let state = dir.path().join("r.json");
    let gitops = dir.path().join("gitops");
    let (code, out, err) = mlops(&[
        "rollout",
        "start",
        "--state",
        state.to_str().unwrap(),
        "--strategy",
        strategy.to_str().unwrap(),
        "--model",
        "fraud",
        "--stable",
        "1",
        "--canary",
        "2",
        "--registry",
        root.to_str().unwrap(),
        "--gitops",
        gitops.to_str().unwrap(),
        "--replay",
        &replay,
        "--target",
        "argo",
    ]);
    assert_eq!(code, 1, "paused for a person: {out}{err}");
    assert!(out.contains("paused"), "{out}");
    assert!(gitops.join("rollout.yaml").exists());
    let (code, _, err) = mlops(&[
        "rollout",
        "abort",
        "--state",
        state.to_str().unwrap(),
        "--reason",
        "looks wrong",
    ]);
    assert_eq!(code, 1, "{err}");
    let (_, out, _) = mlops(&["rollout", "status", "--state", state.to_str().unwrap()]);
    assert!(
        out.contains("rolled_back") && out.contains("weight 0%"),
        "{out}"
    );
    assert_eq!(
        reg.get_version_by_alias("fraud", "champion")
            .unwrap()
            .version,
        1
    );
    let rollout = std::fs::read_to_string(gitops.join("rollout.yaml")).unwrap();
    assert!(rollout.contains("models:/fraud/1"), "{rollout}");
    // Missing arguments for a new rollout: exit 2 naming the flag.
    let (code, _, err) = mlops(&[
        "rollout",
        "start",
        "--state",
        dir.path().join("new.json").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--strategy"), "{err}");
}

/// `mlops rollout start --render-only` of fraud v1 → v2 with `strategy` into `gitops`
/// as Argo manifests: (exit code, stdout, stderr).
fn render_only(state: &Path, root: &Path, strategy: &Path, gitops: &Path) -> (i32, String, String) {
    mlops(&[
        "rollout",
        "start",
        "--render-only",
        "--state",
        state.to_str().unwrap(),
        "--registry",
        root.to_str().unwrap(),
        "--strategy",
        strategy.to_str().unwrap(),
        "--model",
        "fraud",
        "--stable",
        "1",
        "--canary",
        "2",
        "--gitops",
        gitops.to_str().unwrap(),
        "--target",
        "argo",
        "--prometheus",
        "http://prometheus.monitoring:9090",
    ])
}

#[test]
fn render_only_writes_the_canary_manifests_and_judges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    registry(&root);
    let gitops = dir.path().join("gitops");
    let state = dir.path().join("rollout.json");
    let strategy = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline/canary.toml");
    let (code, out, err) = render_only(&state, &root, &strategy, &gitops);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("fraud v1 -> v2"), "{out}");
    let rollout = std::fs::read_to_string(gitops.join("rollout.yaml")).unwrap();
    assert!(rollout.contains("fraud/2"), "{rollout}");
    // The latency guardrail is part of the judge's expression.
    let judge =
        std::fs::read_to_string(gitops.join("analysistemplate-fraud-judge-1.yaml")).unwrap();
    assert!(
        judge.contains("model_request_duration_seconds_bucket"),
        "{judge}"
    );
    // Nothing to resume: no state, no setup, and the alias untouched.
    assert!(!state.exists());
    assert!(!dir.path().join("rollout.json.cli.json").exists());
    let reg = LocalRegistry::open(&root).unwrap();
    assert_eq!(
        reg.get_version_by_alias("fraud", "champion")
            .unwrap()
            .version,
        1
    );

    // A judged metric Prometheus has no counters for is refused, not judged on 5xx.
    let clicks = dir.path().join("clicks.toml");
    std::fs::write(
        &clicks,
        "[canary]\nsteps = [{ set_weight = 10 }, { judge = {} }]\n[canary.judge]\nmetric = { name = \"click\" }\n",
    )
    .unwrap();
    let refused = dir.path().join("gitops-clicks");
    let (code, out, err) = render_only(&state, &root, &clicks, &refused);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("metric click") && err.contains("own queries"),
        "{err}"
    );
    assert!(!refused.join("rollout.yaml").exists());
}

/// A registry with `wine` version 1 (logistic) and 2 (a small forest), `champion` on 1;
/// returns the feature names and three rows of inputs.
fn wine_registry(root: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    use mlops_train::{
        Algorithm, FeatureSpec, Lineage, ModelPackage, TargetSpec, TargetTask, TrainConfig,
        frame_from_matrix, train,
    };
    let ds = linfa_datasets::winequality();
    let names = ds.feature_names().to_vec();
    let mut df = frame_from_matrix(&names, ds.records.view()).unwrap();
    let good: Vec<i64> = ds.targets.iter().map(|&t| i64::from(t >= 6)).collect();
    df.with_column(polars::prelude::Column::new("good".into(), good))
        .unwrap();
    let reg = LocalRegistry::open(root).unwrap();
    reg.create_model("wine", None, &BTreeMap::new()).unwrap();
    for algorithm in [Algorithm::logistic(), Algorithm::forest(5, Some(3))] {
        let model = train(
            &df,
            &TrainConfig {
                features: FeatureSpec::all_numeric_standardized(&df, &["good"]),
                target: TargetSpec {
                    column: "good".into(),
                    task: TargetTask::Classification,
                },
                algorithm,
                seed: 1,
            },
        )
        .unwrap();
        let pkg =
            ModelPackage::new(&model, BTreeMap::new(), Lineage::now(Vec::new(), None)).unwrap();
        let id = pkg.store(reg.artifact_store()).unwrap();
        reg.create_version("wine", &NewVersion::new(id, "file:///model"))
            .unwrap();
    }
    reg.set_alias("wine", "champion", 1, &AliasChange::new("first"))
        .unwrap();
    let rows = (0..3).map(|i| ds.records.row(i).to_vec()).collect();
    (names, rows)
}

/// Starts `mlops rollout start ... --serve 127.0.0.1:0` and returns the child, its
/// address and the rest of its stdout.
fn serve_rollout(
    args: &[&str],
) -> (
    std::process::Child,
    String,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();
    (child, url, lines)
}

/// Simulated users until `stop`: each calls the server and reports a click with
/// probability `p(variant)` by the answer's request id.
fn click_users(url: &str, body: &str, stop: &std::sync::atomic::AtomicBool, p: fn(&str) -> f64) {
    use std::sync::atomic::Ordering;
    std::thread::scope(|s| {
        for t in 0..3u64 {
            s.spawn(move || {
                let c = reqwest::blocking::Client::new();
                // SplitMix64, seeded per user.
                let mut x = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1);
                let mut next = move || {
                    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = x;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    z ^ (z >> 31)
                };
                while !stop.load(Ordering::Relaxed) {
                    let Ok(r) = c
                        .post(format!("{url}/invocations"))
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                    else {
                        // The server stopped (the rollout ended).
                        break;
                    };
                    assert_eq!(r.status(), 200);
                    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
                    let variant = r.headers()["x-variant"].to_str().unwrap().to_string();
                    let u = (next() >> 11) as f64 / (1u64 << 53) as f64;
                    let report = serde_json::json!({"request_id": id, "metric": "click", "value": u < p(&variant)});
                    let _ = c
                        .post(format!("{url}/outcomes"))
                        .header("content-type", "application/json")
                        .body(report.to_string())
                        .send();
                }
            });
        }
    });
}

#[test]
fn rollout_start_serve_judges_reported_clicks_with_a_guardrail_and_promotes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let (names, rows) = wine_registry(&root);
    let body = serde_json::json!({"dataframe_split": {"columns": names, "data": rows}}).to_string();
    let strategy = dir.path().join("canary.toml");
    std::fs::write(
        &strategy,
        "[canary]\nsteps = [{ set_weight = 50 }, { judge = { max_duration = \"2m\" } }]\n\
         [canary.judge]\nmetric = { name = \"click\" }\ntau = 0.1\nmargin = 0.0\nmin_samples = 200\n",
    )
    .unwrap();
    let state = dir.path().join("r.json");
    let (mut child, url, lines) = serve_rollout(&[
        "rollout",
        "start",
        "--state",
        state.to_str().unwrap(),
        "--strategy",
        strategy.to_str().unwrap(),
        "--model",
        "wine",
        "--stable",
        "1",
        "--canary",
        "2",
        "--registry",
        root.to_str().unwrap(),
        "--serve",
        "127.0.0.1:0",
        "--exit-when-done",
        "--guardrail",
        "error_rate",
        "--look-every-ms",
        "100",
    ]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            click_users(
                &url,
                &body,
                &stop,
                |v| if v == "canary" { 0.45 } else { 0.2 },
            )
        });
        let out: Vec<String> = lines.map(Result::unwrap).collect();
        let status = child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(status.code(), Some(0), "{out:?}");
        out
    });
    assert!(
        out.iter().any(|l| l.starts_with("decision: promote")),
        "{out:?}"
    );
    let (code, text, _) = mlops(&[
        "rollout",
        "status",
        "--state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let st: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(st["phase"]["phase"], "promoted");
    assert_eq!(
        st["spec"]["strategy"]["canary"]["judge"]["guardrails"][0]["metric"]["name"],
        "error_rate"
    );
    let reg = LocalRegistry::open(&root).unwrap();
    assert_eq!(
        reg.get_version_by_alias("wine", "champion")
            .unwrap()
            .version,
        2
    );
}

#[test]
fn a_served_rollout_paused_for_a_person_resumes_after_a_kill_and_is_aborted_from_another_shell() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let (names, rows) = wine_registry(&root);
    let body = serde_json::json!({"dataframe_split": {"columns": names, "data": rows}}).to_string();
    let strategy = dir.path().join("canary.toml");
    std::fs::write(
        &strategy,
        "[canary]\nsteps = [{ set_weight = 30 }, { pause = {} }]\n",
    )
    .unwrap();
    let state = dir.path().join("r.json");
    let (mut child, _url, mut lines) = serve_rollout(&[
        "rollout",
        "start",
        "--state",
        state.to_str().unwrap(),
        "--strategy",
        strategy.to_str().unwrap(),
        "--model",
        "wine",
        "--stable",
        "1",
        "--canary",
        "2",
        "--registry",
        root.to_str().unwrap(),
        "--serve",
        "127.0.0.1:0",
        "--exit-when-done",
    ]);
    let paused = lines.next().unwrap().unwrap();
    assert!(
        paused.contains("paused") && paused.contains("weight 30%"),
        "{paused}"
    );
    // Killed while paused and started again on its state: a new server comes back
    // with the canary at 30%, still waiting for a person.
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, url, mut lines) = serve_rollout(&[
        "rollout",
        "start",
        "--state",
        state.to_str().unwrap(),
        "--exit-when-done",
    ]);
    let paused = lines.next().unwrap().unwrap();
    assert!(
        paused.contains("paused") && paused.contains("weight 30%"),
        "{paused}"
    );
    // Both versions answer while paused; /metrics shows the rollout paused (3) at 30%.
    let c = reqwest::blocking::Client::new();
    let mut versions = std::collections::BTreeSet::new();
    for _ in 0..100 {
        let r = c
            .post(format!("{url}/invocations"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .unwrap();
        versions.insert(r.headers()["x-model-version"].to_str().unwrap().to_string());
    }
    assert_eq!(versions.into_iter().collect::<Vec<_>>(), ["1", "2"]);
    let metrics = c
        .get(format!("{url}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("deploy_rollout_phase{rollout=\"wine-v2\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("deploy_canary_weight{rollout=\"wine-v2\"} 30"),
        "{metrics}"
    );
    let (code, out, err) = mlops(&[
        "rollout",
        "abort",
        "--state",
        state.to_str().unwrap(),
        "--reason",
        "looks wrong",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("RolledBack"), "{out}");
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let reg = LocalRegistry::open(&root).unwrap();
    assert_eq!(
        reg.get_version_by_alias("wine", "champion")
            .unwrap()
            .version,
        1
    );
}

/// The command of the golden job in the Argo export of a blue-green strategy whose
/// preview must answer `body` with `expected`.
fn exported_golden_command(body: &serde_json::Value, expected: &serde_json::Value) -> Vec<String> {
    use mlops_deploy::strategy::argo::{ArgoContext, export};
    let strategy: mlops_deploy::Strategy = serde_json::from_value(serde_json::json!({"blue_green": {
        "pre_promotion_analysis": {"name": "integration", "metrics": [{
            "name": "golden",
            "success_condition": "result[0] == 1",
            "provider": {"golden": {"requests": [{"name": "three rows", "body": body, "expected": expected}]}}
        }]}
    }}))
    .unwrap();
    let ctx = ArgoContext {
        name: "wine".into(),
        model: "wine".into(),
        stable_version: "1".into(),
        canary_version: "2".into(),
        prometheus: "http://prometheus:9090".into(),
        queries: Default::default(),
        check_image: "mlops-server:test".into(),
    };
    let out = export(&strategy, &ctx, mlops_deploy::strategy::Duration(60)).unwrap();
    serde_json::from_value(
        out.templates[0]["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]
            ["containers"][0]["command"]
            .clone(),
    )
    .unwrap()
}

#[test]
fn the_exported_golden_job_runs_the_controllers_check_against_a_preview() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    let (names, rows) = wine_registry(&root);
    let reg = LocalRegistry::open(&root).unwrap();
    let preview = mlops_deploy::ServedModel::from_registry(
        &reg,
        &"models:/wine/2".parse().unwrap(),
        &mlops_train::FlavorRegistry::new(),
    )
    .unwrap();
    let server =
        mlops_deploy::ModelServer::start(mlops_deploy::ServerConfig::default(), preview).unwrap();
    let body = serde_json::json!({"dataframe_split": {"columns": names, "data": rows}});
    let answer: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/invocations", server.url()))
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let expected = answer["predictions"].clone();
    let wrong = serde_json::Value::from(
        expected
            .as_array()
            .unwrap()
            .iter()
            .map(|l| 1 - l.as_i64().unwrap())
            .collect::<Vec<_>>(),
    );
    for (expected, code) in [(expected, 0), (wrong, 1)] {
        let command = exported_golden_command(&body, &expected);
        assert_eq!(
            command[..4],
            ["mlops", "golden", "--url", "http://wine-preview"]
        );
        // The job's command as the container would run it, against this preview.
        let mut args = command[1..].to_vec();
        args[2] = server.url();
        let out = Command::new(env!("CARGO_BIN_EXE_mlops"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    server.shutdown().unwrap();
}
