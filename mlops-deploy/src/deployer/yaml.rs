//! A block-YAML writer for manifests (JSON values), diff-friendly by construction.
//!
//! Keys come out sorted (serde_json's map is ordered by key), one scalar per line, and
//! every string is written double-quoted with JSON escapes, which YAML 1.1 and 1.2 read
//! back as the same string (no `yes`/`on`/`1e5` surprises). Numbers and booleans are
//! plain. The output parses with any YAML loader to the same value.

use serde_json::Value;

/// The value as block YAML, ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn key(k: &str) -> String {
    Value::String(k.to_string()).to_string()
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&key(k));
        out.push(':');
        write_value(out, v, indent);
    }
}

fn write_value(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], indent: usize) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        if is_block(v) {
            // The item's block starts on the next line, indented under the dash.
            match v {
                Value::Object(m) => {
                    out.push('\n');
                    write_map(out, m, indent + 2);
                }
                Value::Array(inner) => {
                    out.push('\n');
                    write_seq(out, inner, indent + 2);
                }
                _ => {}
            }
        } else {
            out.push(' ');
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}
