//! Alias moves survive a kill at any point: the move and its record both exist,
//! neither does, or the record says the move is unconfirmed until the next move
//! settles it. The same code moves aliases on both backends (`registry/alias.rs`).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use mlops_core::registry::MoveState;
use mlops_core::{AliasChange, AliasMove, Error, LocalRegistry, NewVersion, Registry};

/// The raw history file: every record, latest state per move id.
fn raw_history(reg: &LocalRegistry, model: &str) -> BTreeMap<String, AliasMove> {
    let path = reg
        .state_dir()
        .join("registry")
        .join(model)
        .join("alias_history.jsonl");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Ok(m) = serde_json::from_str::<AliasMove>(line) {
            out.insert(m.id.clone(), m);
        }
    }
    out
}

#[test]
fn alias_mover_killed_at_random_points_keeps_move_and_record_together() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("mlruns");
    let reg = LocalRegistry::open(&root).unwrap();
    let model = "killed";
    reg.create_model(model, None, &BTreeMap::new()).unwrap();
    for seed in 1..=3u8 {
        let digest = reg.artifact_store().put_bytes(&[seed; 64]).unwrap();
        reg.create_version(model, &NewVersion::new(digest, format!("file:///p/{seed}")))
            .unwrap();
    }
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut unconfirmed_seen = 0;
    for round in 0..15 {
        let mut child = crate::child::spawn(
            "alias_mover",
            &[
                ("MLOPS_CHILD_ALIAS_REGISTRY", root.display().to_string()),
                ("MLOPS_CHILD_MODEL", model.to_string()),
            ],
        );
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(40 + rng % 160));
        child.kill().unwrap();
        child.wait().unwrap();

        let raw = raw_history(&reg, model);
        unconfirmed_seen += raw
            .values()
            .filter(|m| m.state == MoveState::Intended)
            .count();
        // Read as settled: the alias is where the last done move put it.
        let history = reg.alias_history(model, "champion").unwrap();
        assert!(
            history.iter().all(|m| m.state != MoveState::Intended),
            "round {round}: a local read leaves no move undecided"
        );
        let current = reg
            .get_version_by_alias(model, "champion")
            .map(|v| v.version)
            .ok();
        let last_done = history
            .iter()
            .rev()
            .find(|m| m.state == MoveState::Done)
            .and_then(|m| m.to_version);
        assert_eq!(
            last_done, current,
            "round {round}: the alias and its history came apart"
        );
        // Every done move has its intent in the audit log.
        match reg.audit_log().verify() {
            Ok(_) | Err(Error::AuditTornTail { .. }) => {}
            Err(e) => panic!("round {round}: audit log: {e}"),
        }
        let audited: HashSet<String> = reg
            .audit_log()
            .records()
            .unwrap()
            .iter()
            .filter(|r| r.action == "registry.alias.set")
            .filter_map(|r| r.payload["id"].as_str().map(String::from))
            .collect();
        for m in history.iter().filter(|m| m.state == MoveState::Done) {
            assert!(
                audited.contains(&m.id),
                "round {round}: move {} done without an audit record",
                m.id
            );
        }
        // The next move settles what the kill left, durably.
        let to = current.unwrap_or(0) % 3 + 1;
        reg.set_alias(model, "champion", to, &AliasChange::new("after kill"))
            .unwrap();
        assert!(
            raw_history(&reg, model)
                .values()
                .all(|m| m.state != MoveState::Intended),
            "round {round}: the next move settles every intent"
        );
        assert_eq!(reg.alias_at(model, "champion", u64::MAX).unwrap(), Some(to));
        reg.audit_log().verify().unwrap();
    }
    eprintln!("unconfirmed intents left by kills: {unconfirmed_seen}");
}

/// A move writes its intent, then its confirmation; a move that fails after its
/// intent was recorded is recorded as aborted, not as done, and the alias did not move.
#[test]
fn move_records_intent_then_confirmation_and_a_failed_move_is_aborted() {
    let d = tempfile::tempdir().unwrap();
    let reg = LocalRegistry::open(d.path().join("mlruns")).unwrap();
    reg.create_model("m", None, &BTreeMap::new()).unwrap();
    let digest = reg.artifact_store().put_bytes(b"p").unwrap();
    reg.create_version("m", &NewVersion::new(digest, "file:///p"))
        .unwrap();
    let m = reg
        .set_alias("m", "champion", 1, &AliasChange::new("first"))
        .unwrap();
    assert_eq!(m.state, MoveState::Done);
    assert!(!m.id.is_empty());
    // Both records of the move are in the audit log: its intent and its confirmation.
    let recs = reg.audit_log().records().unwrap();
    let actions: Vec<&str> = recs.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["registry.alias.set", "registry.alias.confirm"]);
    assert_eq!(recs[0].payload["state"], "intended");
    assert_eq!(recs[1].payload["id"], m.id.as_str());
    // Moving to a missing version is refused before anything is written.
    assert!(matches!(
        reg.set_alias("m", "champion", 7, &AliasChange::new("x")),
        Err(Error::VersionNotFound { .. })
    ));
    assert_eq!(reg.audit_log().records().unwrap().len(), 2);
    assert_eq!(reg.alias_history("m", "champion").unwrap().len(), 1);

    // The alias file cannot be written (a directory is in its place): the move fails
    // after its intent was recorded.
    let blocked = reg.root().join("models/m/aliases/challenger");
    std::fs::create_dir_all(&blocked).unwrap();
    std::fs::write(blocked.join("x"), "1").unwrap();
    assert!(
        reg.set_alias("m", "challenger", 1, &AliasChange::new("blocked"))
            .is_err()
    );
    let h = reg.alias_history("m", "challenger").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].state, MoveState::Aborted);
    assert_eq!(reg.alias_at("m", "challenger", u64::MAX).unwrap(), None);
    let recs = reg.audit_log().records().unwrap();
    let last: Vec<&str> = recs[2..].iter().map(|r| r.action.as_str()).collect();
    assert_eq!(last, ["registry.alias.set", "registry.alias.abort"]);
}
