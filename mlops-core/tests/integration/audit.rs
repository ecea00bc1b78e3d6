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
