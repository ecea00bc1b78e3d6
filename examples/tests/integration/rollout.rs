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

/// The reference stream `better10_1` (promoted at look 26), with a zero row first.
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
            m.reason.contains("at look 26"),
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

#[test]
fn render_only_writes_the_canary_manifests_and_judges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("registry");
    registry(&root);
    let gitops = dir.path().join("gitops");
    let state = dir.path().join("rollout.json");
    let strategy = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline/canary.toml");
    let (code, out, err) = mlops(&[
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
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("fraud v1 -> v2"), "{out}");
    let rollout = std::fs::read_to_string(gitops.join("rollout.yaml")).unwrap();
    assert!(rollout.contains("fraud/2"), "{rollout}");
    assert!(gitops.join("analysistemplate-fraud-judge-1.yaml").exists());
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
}
