//! The `meta.yaml` files of MLflow's file store, read and written the way the MLflow
//! Python client does.
//!
//! MLflow writes these files with PyYAML (`safe_dump`, sorted keys, block style) and
//! reads them with PyYAML's YAML 1.1 resolver. Reading goes through `yaml-rust2`, a
//! real parser, because PyYAML folds long scalars over several lines and picks single-
//! or double-quoted styles by content: that is not a job for string splitting.
//!
//! Writing is ours, small and deliberately conservative: a string is written plain only
//! when neither a YAML 1.1 nor a YAML 1.2 reader could take it for anything but that
//! string (`yes`, `on`, `null`, `2`, `.inf` and `a: b` are all quoted), otherwise as a
//! double-quoted scalar with every non-printable character escaped. Keys are sorted as
//! PyYAML sorts them, so a file written here diffs cleanly against one written there.
//! Fields this crate does not know are kept as they were read and written back.
//!
//! [`Value`], [`Map`], [`parse_map`] and [`to_yaml`] are public so the other YAML file of MLflow's
//! layout, a model's `MLmodel` (written by `mlops-train`), uses this same writer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use yaml_rust2::{Yaml, YamlLoader};

use crate::{Error, Result};

/// A YAML value as MLflow's metadata uses them.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` (and `~`, and an empty value).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A block sequence.
    List(Vec<Value>),
    /// A mapping with string keys.
    Map(Map),
}

/// A mapping with string keys, sorted (PyYAML's `sort_keys=True`).
pub type Map = BTreeMap<String, Value>;

impl Value {
    /// The string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, also when written as a string of digits (alias files, old stores).
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A string value, `None` for null; other scalars are printed.
    pub(crate) fn to_opt_string(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
            Value::List(_) | Value::Map(_) => None,
        }
    }

    /// `Str(s)` or `Null`.
    pub(crate) fn opt_str(s: Option<&str>) -> Value {
        match s {
            Some(s) => Value::Str(s.to_string()),
            None => Value::Null,
        }
    }
}

fn convert(y: Yaml, path: &Path) -> Result<Value> {
    let bad = |problem: String| Error::Malformed {
        path: path.to_path_buf(),
        problem,
    };
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Int(i),
        // PyYAML (YAML 1.1) takes only numbers with a '.' for floats and writes other
        // strings such as `1e5` plain; YAML 1.2 would read those as floats.
        Yaml::Real(s) if !s.contains('.') => Value::Str(s),
        Yaml::Real(s) => {
            let t = s.trim_start_matches('+');
            let f = match t {
                ".inf" | ".Inf" | ".INF" => f64::INFINITY,
                "-.inf" | "-.Inf" | "-.INF" => f64::NEG_INFINITY,
                ".nan" | ".NaN" | ".NAN" => f64::NAN,
                _ => t.parse().map_err(|_| bad(format!("bad number {s:?}")))?,
            };
            Value::Float(f)
        }
        Yaml::String(s) => Value::Str(s),
        Yaml::Array(items) => Value::List(
            items
                .into_iter()
                .map(|i| convert(i, path))
                .collect::<Result<_>>()?,
        ),
        Yaml::Hash(h) => {
            let mut m = Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Real(s) => s,
                    other => return Err(bad(format!("unsupported mapping key {other:?}"))),
                };
                m.insert(key, convert(v, path)?);
            }
            Value::Map(m)
        }
        Yaml::Alias(_) => return Err(bad("YAML aliases are not used by MLflow".into())),
        Yaml::BadValue => return Err(bad("unreadable value".into())),
    })
}

/// Parses a document whose top level is a mapping. `path` only names the file in errors.
pub fn parse_map(text: &str, path: &Path) -> Result<Map> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| Error::Malformed {
        path: path.to_path_buf(),
        problem: format!("not YAML: {e}"),
    })?;
    match docs.into_iter().next() {
        Some(doc) => match convert(doc, path)? {
            Value::Map(m) => Ok(m),
            other => Err(Error::Malformed {
                path: path.to_path_buf(),
                problem: format!("expected a mapping at the top level, found {other:?}"),
            }),
        },
        None => Err(Error::Malformed {
            path: path.to_path_buf(),
            problem: "empty file".into(),
        }),
    }
}

/// Reads and parses a `meta.yaml`.
pub(crate) fn read_map(path: &Path) -> Result<Map> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_map(&text, path)
}

/// Writes a mapping as PyYAML's `safe_dump(default_flow_style=False, sort_keys=True)`
/// would, up to the choice of quoting style.
pub fn to_yaml(map: &Map) -> String {
    let mut out = String::new();
    if map.is_empty() {
        out.push_str("{}\n");
        return out;
    }
    emit_map(map, 0, &mut out);
    out
}

fn emit_map(map: &Map, indent: usize, out: &mut String) {
    for (k, v) in map {
        out.push_str(&" ".repeat(indent));
        emit_scalar_str(k, out);
        out.push(':');
        match v {
            Value::Map(m) if !m.is_empty() => {
                out.push('\n');
                emit_map(m, indent + 2, out);
            }
            Value::List(l) if !l.is_empty() => {
                out.push('\n');
                for item in l {
                    out.push_str(&" ".repeat(indent));
                    out.push_str("- ");
                    match item {
                        Value::Map(_) | Value::List(_) => {
                            // Not produced by MLflow's metadata; keep it valid as a flow value.
                            emit_flow(item, out);
                        }
                        _ => emit_scalar(item, out),
                    }
                    out.push('\n');
                }
            }
            _ => {
                out.push(' ');
                emit_scalar(v, out);
                out.push('\n');
            }
        }
    }
}

fn emit_flow(v: &Value, out: &mut String) {
    match v {
        Value::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit_quoted(k, out);
                out.push_str(": ");
                emit_flow(v, out);
            }
            out.push('}');
        }
        Value::List(l) => {
            out.push('[');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit_flow(v, out);
            }
            out.push(']');
        }
        Value::Str(s) => emit_quoted(s, out),
        _ => emit_scalar(v, out),
    }
}

fn emit_scalar(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if f.is_nan() {
                out.push_str(".nan");
            } else if f.is_infinite() {
                out.push_str(if *f > 0.0 { ".inf" } else { "-.inf" });
            } else {
                // PyYAML's float pattern needs a '.' and a signed exponent (`1e20` and
                // `1.5e20` would read back as strings there).
                let s = format!("{f:?}");
                let (mantissa, exp) = match s.split_once('e') {
                    Some((m, e)) => (m, Some(e)),
                    None => (s.as_str(), None),
                };
                out.push_str(mantissa);
                if !mantissa.contains('.') {
                    out.push_str(".0");
                }
                if let Some(e) = exp {
                    out.push('e');
                    if !e.starts_with('-') {
                        out.push('+');
                    }
                    out.push_str(e);
                }
            }
        }
        Value::Str(s) => emit_scalar_str(s, out),
        Value::List(_) | Value::Map(_) => emit_flow(v, out),
    }
}

/// Words YAML 1.1 (PyYAML) or YAML 1.2 would read as booleans or null.
const RESERVED_WORDS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
];

/// True when `s` can be written as a plain scalar and read back as this same string by
/// both PyYAML and a YAML 1.2 parser.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return false;
    }
    if s.ends_with(':') || RESERVED_WORDS.contains(&s) {
        return false;
    }
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '@' | '+' | '-'))
}

fn emit_scalar_str(s: &str, out: &mut String) {
    if plain_ok(s) {
        out.push_str(s);
    } else {
        emit_quoted(s, out);
    }
}

fn emit_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || (0x7f..=0x9f).contains(&(c as u32))
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_pyyaml_writes() {
        let text = "aliases:\n  champion: '2'\ncreation_timestamp: 1795979094908\n\
                    description: 'a long description that PyYAML folds over\n  two lines'\n\
                    deployment_job_id: null\ncurrent_stage: None\nname: m1\nversion: 2\n";
        let m = parse_map(text, Path::new("meta.yaml")).unwrap();
        assert_eq!(m["version"], Value::Int(2));
        assert_eq!(m["current_stage"], Value::Str("None".into()));
        assert_eq!(m["deployment_job_id"], Value::Null);
        assert_eq!(
            m["description"].as_str().unwrap(),
            "a long description that PyYAML folds over two lines"
        );
        let Value::Map(a) = &m["aliases"] else {
            panic!("aliases")
        };
        assert_eq!(a["champion"], Value::Str("2".into()));
    }

    #[test]
    fn reads_pyyaml_tracking_meta() {
        let text = "artifact_location: file:///tmp/x/mlruns/0\ncreation_time: 1795979104552\n\
                    experiment_id: '0'\nlifecycle_stage: active\nname: a very long experiment name that\n  PyYAML folded over two lines\n\
                    tags: []\nrun_name: 'it''s'\nend_time: null\nx: \"a\\tb\\\n  c\"\ny: 1e5\n";
        let m = parse_map(text, Path::new("meta.yaml")).unwrap();
        assert_eq!(m["experiment_id"], Value::Str("0".into()));
        assert_eq!(m["creation_time"], Value::Int(1795979104552));
        assert_eq!(
            m["name"].as_str().unwrap(),
            "a very long experiment name that PyYAML folded over two lines"
        );
        assert_eq!(m["run_name"].as_str().unwrap(), "it's");
        assert_eq!(m["end_time"], Value::Null);
        assert_eq!(m["x"].as_str().unwrap(), "a\tbc");
        assert_eq!(m["tags"], Value::List(Vec::new()));
        assert_eq!(m["y"].as_str().unwrap(), "1e5");
    }

    #[test]
    fn round_trips_awkward_strings() {
        let awkward = [
            "yes",
            "No",
            "on",
            "null",
            "~",
            "2",
            "0.5",
            ".inf",
            "a: b",
            "x #y",
            "",
            " lead",
            "trail ",
            "multi\nline",
            "quote\"s",
            "back\\slash",
            "tab\t",
            "uni\u{85}code ✓",
            "-",
            "- a",
            "[x]",
            "{x}",
            "&a",
            "*a",
            "!t",
            "%p",
            "@x",
            "`x",
            "'x'",
            "file:",
            "file:///tmp/y",
            "/abs/path",
            "runs:/abc/model",
            "=",
            "<<",
            "1e5",
            "it's\n\"x\"\t\\",
            "héllo wörld",
        ];
        let mut m = Map::new();
        for (i, s) in awkward.iter().enumerate() {
            m.insert(format!("k{i:02}"), Value::Str(s.to_string()));
        }
        m.insert("n".into(), Value::Int(-3));
        m.insert("f".into(), Value::Float(1e20));
        m.insert("z".into(), Value::Null);
        let mut inner = Map::new();
        inner.insert("champion".into(), Value::Str("2".into()));
        m.insert("aliases".into(), Value::Map(inner));
        m.insert("empty".into(), Value::Map(Map::new()));
        let text = to_yaml(&m);
        let back = parse_map(&text, Path::new("x")).unwrap();
        assert_eq!(back, m, "{text}");
    }
}
