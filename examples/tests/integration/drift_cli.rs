//! `mlops drift` on bad current data: never a quiet exit 0. A change that is itself
//! drift exits 1, what stops the comparison exits 2, and the JSON says why per column.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn drift(reference: &Path, current: &Path) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(["drift", "--json", "--reference"])
        .arg(reference)
        .arg("--current")
        .arg(current)
        .output()
        .expect("run mlops");
    let text = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

fn csv(
    dir: &Path,
    name: &str,
    header: &str,
    rows: impl Iterator<Item = String>,
) -> std::path::PathBuf {
    let p = dir.join(name);
    let mut s = format!("{header}\n");
    for r in rows {
        s.push_str(&r);
        s.push('\n');
    }
    std::fs::write(&p, s).unwrap();
    p
}

fn issue<'a>(json: &'a Value, column: &str) -> &'a Value {
    let c = json["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == column)
        .unwrap_or_else(|| panic!("no column {column} in {json}"));
    &c["issue"]
}

#[test]
fn bad_current_data_is_never_a_quiet_pass() {
    let d = tempfile::tempdir().unwrap();
    let n = 300;
    let x = |i: usize| (i % 29) as f64 / 4.0;
    let reference = csv(
        d.path(),
        "ref.csv",
        "x,k",
        (0..n).map(|i| format!("{},{}", x(i), i % 3)),
    );
    let (code, j) = drift(&reference, &reference);
    assert_eq!((code, j["verdict"].as_str()), (0, Some("no_drift")), "{j}");

    let empty = csv(d.path(), "empty.csv", "x,k", std::iter::empty());
    let (code, j) = drift(&reference, &empty);
    assert_eq!(code, 2, "{j}");
    assert_eq!(issue(&j, "x"), "empty_current");

    let renamed = csv(
        d.path(),
        "renamed.csv",
        "x2,k",
        (0..n).map(|i| format!("{},{}", x(i), i % 3)),
    );
    let (code, j) = drift(&reference, &renamed);
    assert_eq!(code, 1, "{j}");
    assert_eq!(issue(&j, "x"), "missing_in_current");

    let nan = csv(
        d.path(),
        "nan.csv",
        "x,k",
        (0..n).map(|i| format!("NaN,{}", i % 3)),
    );
    let (code, j) = drift(&reference, &nan);
    assert_eq!(code, 1, "{j}");
    assert_eq!(issue(&j, "x"), "no_values_in_current");

    let text = csv(
        d.path(),
        "text.csv",
        "x,k",
        (0..n).map(|i| {
            if i == 5 {
                "n/a,0".to_string()
            } else {
                format!("{},{}", x(i), i % 3)
            }
        }),
    );
    let (code, j) = drift(&reference, &text);
    assert_eq!(code, 1, "{j}");
    assert_eq!(issue(&j, "x"), "type_changed");

    // Integers written as "1.0" are the same categories, not drift.
    let floats = csv(
        d.path(),
        "floats.csv",
        "x,k",
        (0..n).map(|i| format!("{},\"{}.0\"", x(i), i % 3)),
    );
    let (code, j) = drift(&reference, &floats);
    assert_eq!(code, 0, "{j}");
}
