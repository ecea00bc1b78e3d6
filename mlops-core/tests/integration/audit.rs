//! The audit log: tamper detection and concurrent appends.

use mlops_core::{AuditLog, Error};

fn log_with(n: u64) -> (tempfile::TempDir, AuditLog) {
    let d = tempfile::tempdir().unwrap();
    let log = AuditLog::open(d.path().join("audit.jsonl"));
    for i in 0..n {
        log.append(
            "tester",
            "step",
            &format!("s{i}"),
            serde_json::json!({"i": i, "x": 0.5}),
        )
        .unwrap();
    }
    (d, log)
}

fn lines(log: &AuditLog) -> Vec<String> {
    std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(log: &AuditLog, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    std::fs::write(log.path(), s).unwrap();
}

fn tampered_at(log: &AuditLog) -> (u64, String) {
    match log.verify() {
        Err(Error::AuditTampered { line, problem, .. }) => (line, problem),
        other => panic!("tampering not detected: {other:?}"),
    }
}

#[test]
fn intact_log_verifies() {
    let (_d, log) = log_with(10);
    let v = log.verify().unwrap();
    assert_eq!(v.records, 10);
    let recs = log.records().unwrap();
    assert_eq!(v.head, Some(recs[9].hash));
    assert_eq!(recs[3].prev, recs[2].hash);
    assert_eq!(
        AuditLog::open(_d.path().join("none.jsonl"))
            .verify()
            .unwrap()
            .records,
        0
    );
}

#[test]
fn edit_is_detected_at_the_edited_record() {
    let (_d, log) = log_with(6);
    let mut l = lines(&log);
    l[3] = l[3].replace("\"x\":0.5", "\"x\":0.6");
    write_lines(&log, &l);
    let (line, problem) = tampered_at(&log);
    assert_eq!(line, 4);
    assert!(problem.contains("edited"), "{problem}");
}

#[test]
fn deletion_insertion_reordering_and_truncation_are_detected() {
    let (_d, log) = log_with(8);
    let original = lines(&log);

    let mut deleted = original.clone();
    deleted.remove(4);
    write_lines(&log, &deleted);
    let (line, problem) = tampered_at(&log);
    assert_eq!(line, 5);
    assert!(problem.contains("deleted"), "{problem}");

    let mut inserted = original.clone();
    inserted.insert(2, original[5].clone());
    write_lines(&log, &inserted);
    assert_eq!(tampered_at(&log).0, 3);

    let mut swapped = original.clone();
    swapped.swap(1, 6);
    write_lines(&log, &swapped);
    assert_eq!(tampered_at(&log).0, 2);

    let truncated = original[..5].to_vec();
    write_lines(&log, &truncated);
    let (line, problem) = tampered_at(&log);
    assert_eq!(line, 6);
    assert!(problem.contains("cut off"), "{problem}");

    write_lines(&log, &original);
    assert_eq!(log.verify().unwrap().records, 8);

    let mut garbage = original.clone();
    garbage[7] = "{not json".into();
    write_lines(&log, &garbage);
    assert_eq!(tampered_at(&log).0, 8);
}

#[test]
fn threads_append_without_loss() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("audit.jsonl");
    std::thread::scope(|s| {
        for t in 0..4 {
            let path = path.clone();
            s.spawn(move || {
                let log = AuditLog::open(path);
                for i in 0..50 {
                    log.append(
                        &format!("t{t}"),
                        "a",
                        &i.to_string(),
                        serde_json::Value::Null,
                    )
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(AuditLog::open(path).verify().unwrap().records, 200);
}

#[test]
fn four_processes_times_500_appends() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("audit.jsonl");
    let children: Vec<_> = (0..4)
        .map(|p| {
            crate::child::spawn(
                "audit_appender",
                &[
                    ("MLOPS_CHILD_AUDIT", path.display().to_string()),
                    ("MLOPS_CHILD_APPENDS", "500".into()),
                    ("MLOPS_CHILD_ACTOR", format!("proc{p}")),
                ],
            )
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a child appender failed");
    }
    let log = AuditLog::open(&path);
    assert_eq!(log.verify().unwrap().records, 2000);
    let mut seen = std::collections::HashSet::new();
    for r in log.records().unwrap() {
        assert!(seen.insert(r.subject.clone()), "duplicate {}", r.subject);
    }
    for p in 0..4 {
        for i in 0..500 {
            assert!(seen.contains(&format!("proc{p}/{i}")), "lost proc{p}/{i}");
        }
    }
}

fn append_bytes(log: &AuditLog, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(log.path())
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// A crash mid-append leaves half a record: `verify` calls it a torn tail, not
/// tampering; the next append cuts it, records the repair, and the chain verifies.
#[test]
fn torn_tail_is_not_tampering_and_appends_go_on() {
    let (_d, log) = log_with(5);
    let full = lines(&log)[4].clone();
    append_bytes(&log, &full.as_bytes()[..full.len() / 2]);
    match log.verify() {
        Err(Error::AuditTornTail {
            line,
            records,
            bytes,
            ..
        }) => {
            assert_eq!((line, records), (6, 5));
            assert_eq!(bytes as usize, full.len() / 2);
        }
        other => panic!("expected a torn tail, got {other:?}"),
    }
    assert_eq!(
        log.records().unwrap().len(),
        5,
        "complete records still read"
    );
    let rec = log
        .append("tester", "after.crash", "s", serde_json::Value::Null)
        .unwrap();
    assert_eq!(rec.seq, 7);
    let v = log.verify().unwrap();
    assert_eq!(v.records, 7);
    let recs = log.records().unwrap();
    assert_eq!(recs[5].action, "audit.repair");
    assert_eq!(recs[5].payload["dropped_bytes"], full.len() / 2);
}

/// `repair` cuts a torn tail and records it; run again it has nothing to do.
#[test]
fn repair_cuts_a_torn_tail_once() {
    let (_d, log) = log_with(3);
    append_bytes(&log, b"{\"seq\":4,\"ti");
    let r = log.repair("ops").unwrap();
    assert_eq!(r.dropped_bytes, 12);
    let rec = r.record.unwrap();
    assert_eq!(
        (rec.seq, rec.action.as_str(), rec.actor.as_str()),
        (4, "audit.repair", "ops")
    );
    assert_eq!(log.verify().unwrap().records, 4);
    let again = log.repair("ops").unwrap();
    assert_eq!((again.dropped_bytes, again.record), (0, None));
    assert_eq!(log.verify().unwrap().records, 4);
}

/// `repair` refuses a tampered log and changes nothing, torn tail or not.
#[test]
fn repair_refuses_a_tampered_log() {
    let (_d, log) = log_with(4);
    let mut l = lines(&log);
    l[1] = l[1].replace("\"x\":0.5", "\"x\":0.9");
    write_lines(&log, &l);
    append_bytes(&log, b"{\"torn");
    let before = std::fs::read(log.path()).unwrap();
    assert!(matches!(
        log.repair("ops"),
        Err(Error::AuditTampered { line: 2, .. })
    ));
    assert!(matches!(
        log.verify(),
        Err(Error::AuditTampered { line: 2, .. })
    ));
    assert_eq!(std::fs::read(log.path()).unwrap(), before, "untouched");
}

/// A crash between the record write and the head write leaves the head one record
/// behind: that verifies (flagged), and the next append or a repair brings it up.
#[test]
fn head_one_record_behind_is_an_interrupted_append() {
    let (d, log) = log_with(4);
    let recs = log.records().unwrap();
    let head = d.path().join("audit.jsonl.head");
    let behind = serde_json::json!({"seq": 3, "hash": recs[2].hash.to_string()});
    std::fs::write(&head, behind.to_string()).unwrap();
    let v = log.verify().unwrap();
    assert!(v.head_lagging);
    assert_eq!(v.records, 4);
    let r = log.repair("ops").unwrap();
    assert!(r.head_rewritten && r.record.is_none());
    assert!(!log.verify().unwrap().head_lagging);
    // Two behind is not a crash.
    let two = serde_json::json!({"seq": 2, "hash": recs[1].hash.to_string()});
    std::fs::write(&head, two.to_string()).unwrap();
    assert!(matches!(log.verify(), Err(Error::AuditTampered { .. })));
}

/// A process appending in a loop is killed at random moments; after each kill the log
/// verifies (or has a torn tail, which is not tampering) and appends go on.
#[test]
fn appender_killed_at_random_points_never_reads_as_tampered() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("audit.jsonl");
    let log = AuditLog::open(&path);
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..12 {
        let mut child = crate::child::spawn(
            "audit_appender",
            &[
                ("MLOPS_CHILD_AUDIT", path.display().to_string()),
                ("MLOPS_CHILD_APPENDS", "1000000".into()),
                ("MLOPS_CHILD_ACTOR", format!("round{round}")),
            ],
        );
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(std::time::Duration::from_millis(30 + rng % 120));
        child.kill().unwrap();
        child.wait().unwrap();
        match log.verify() {
            Ok(_) | Err(Error::AuditTornTail { .. }) => {}
            Err(e) => panic!("round {round}: a kill reads as {e}"),
        }
        log.append(
            "tester",
            "after.kill",
            &round.to_string(),
            serde_json::Value::Null,
        )
        .unwrap();
        let v = log.verify().unwrap();
        assert!(!v.head_lagging);
    }
}
