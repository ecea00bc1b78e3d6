//! `mlops audit verify|repair`: exit 0 intact, 1 tampered, 2 torn tail (a crash, with a
//! message naming `mlops audit repair`); repair refuses a tampered log.

use std::process::Command;

use mlops_core::AuditLog;

fn mlops(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(args)
        .output()
        .expect("run mlops");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn verify_and_repair_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("audit.jsonl");
    let log = AuditLog::open(&path);
    for i in 0..3 {
        log.append("t", "step", &i.to_string(), serde_json::Value::Null)
            .unwrap();
    }
    let p = path.to_str().unwrap();
    assert_eq!(mlops(&["audit", "verify", p]).0, 0);

    // A crash mid-append: exit 2, not 1, and the message names the repair.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b"{\"seq\":4,\"time");
    std::fs::write(&path, &bytes).unwrap();
    let (code, text) = mlops(&["audit", "verify", p]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("mlops audit repair") && !text.contains("TAMPERED"),
        "{text}"
    );
    let (code, text) = mlops(&["audit", "repair", p]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("14 torn bytes"), "{text}");
    let (code, text) = mlops(&["audit", "verify", p]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ok: 4 records"), "{text}");

    // Tampering: verify exit 1, repair refuses with exit 1 and changes nothing.
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("\"actor\":\"t\"", "\"actor\":\"x\"", 1);
    std::fs::write(&path, &edited).unwrap();
    assert_eq!(mlops(&["audit", "verify", p]).0, 1);
    let (code, out) = mlops(&["audit", "repair", p]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
}
