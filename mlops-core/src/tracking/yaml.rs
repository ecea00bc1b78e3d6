//! The few YAML files of MLflow's file store (`meta.yaml`): flat maps of scalars.
//!
//! A YAML crate would parse far more than these files ever hold and the maintained ones
//! are heavy; what the file store needs is a flat `key: scalar` map with strings, ints,
//! `null` and `[]`. The writer always quotes strings (single quotes, or double quotes
//! with escapes when the text has control characters), so PyYAML reads back exactly the
//! text written; the reader accepts what PyYAML's `safe_dump` writes: plain, single- and
//! double-quoted scalars, folded over several lines when long.

use std::collections::BTreeMap;

/// A scalar of a flat YAML map.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// An integer.
    Int(i64),
    /// Any other scalar, as text.
    Str(String),
    /// A list (only its presence is kept; the file store writes `tags: []`).
    List,
}

impl Value {
    /// The value as text (integers printed), `None` for null and lists.
    pub fn as_string(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }

    /// The value as an integer (quoted integers parsed too).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Writes a flat map, keys sorted (as PyYAML's `safe_dump` does).
pub fn write(map: &BTreeMap<&str, Value>) -> String {
    let mut out = String::new();
    for (k, v) in map {
        out.push_str(k);
        out.push(':');
        match v {
            Value::Null => out.push_str(" null"),
            Value::Int(i) => {
                out.push(' ');
                out.push_str(&i.to_string());
            }
            Value::List => out.push_str(" []"),
            Value::Str(s) => {
                out.push(' ');
                quote(s, &mut out);
            }
        }
        out.push('\n');
    }
    out
}

fn quote(s: &str, out: &mut String) {
    let plain_safe = s.chars().all(|c| !c.is_control() && c != '\u{feff}');
    if plain_safe {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads a flat map; `Err` names the line that does not parse.
pub fn read(text: &str) -> Result<BTreeMap<String, Value>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut map = BTreeMap::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let lineno = i + 1;
        i += 1;
        let t = line.trim_end();
        if t.trim().is_empty() || t.trim_start().starts_with('#') || t == "---" {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('-') {
            // A list item or continuation we do not need (e.g. under `tags:`).
            continue;
        }
        let Some((key, rest)) = t.split_once(':') else {
            return Err(format!("line {lineno}: expected 'key: value'"));
        };
        let key = key.trim().to_string();
        // Continuation lines: indented, until the next top-level line.
        let mut cont = Vec::new();
        while i < lines.len() && (lines[i].starts_with(' ') || lines[i].is_empty()) {
            cont.push(lines[i]);
            i += 1;
        }
        let rest = rest.trim();
        let value = if rest.is_empty() {
            // A block value (a list written as `- item` lines) or null.
            if cont.iter().any(|l| l.trim_start().starts_with('-')) {
                Value::List
            } else {
                Value::Null
            }
        } else if rest.starts_with('\'') {
            let joined = fold(rest, &cont);
            Value::Str(parse_single(&joined).map_err(|e| format!("line {lineno}: {e}"))?)
        } else if rest.starts_with('"') {
            let joined = fold_raw(rest, &cont);
            Value::Str(parse_double(&joined).map_err(|e| format!("line {lineno}: {e}"))?)
        } else if rest.starts_with('[') {
            Value::List
        } else {
            let joined = fold(rest, &cont);
            match joined.as_str() {
                "null" | "~" | "Null" | "NULL" => Value::Null,
                s => match s.parse::<i64>() {
                    Ok(n) if !(s.starts_with('+') || (s.starts_with('0') && s.len() > 1)) => {
                        Value::Int(n)
                    }
                    _ => Value::Str(s.to_string()),
                },
            }
        };
        map.insert(key, value);
    }
    Ok(map)
}

/// YAML line folding of a flow scalar: continuation lines trimmed and joined by one
/// space; an empty line becomes a newline.
fn fold(first: &str, cont: &[&str]) -> String {
    let mut s = first.trim().to_string();
    let mut pending_newlines = 0;
    for l in cont {
        let t = l.trim();
        if t.is_empty() {
            pending_newlines += 1;
            continue;
        }
        if pending_newlines > 0 {
            for _ in 0..pending_newlines {
                s.push('\n');
            }
            pending_newlines = 0;
        } else {
            s.push(' ');
        }
        s.push_str(t);
    }
    s
}

/// Folding for double-quoted scalars, where a line ending in `\` joins without a space.
fn fold_raw(first: &str, cont: &[&str]) -> String {
    let mut s = first.trim().to_string();
    for l in cont {
        let t = l.trim();
        if t.is_empty() {
            s.push('\n');
            continue;
        }
        if s.ends_with('\\') && !s.ends_with("\\\\") {
            s.pop();
        } else if !s.ends_with('\n') {
            s.push(' ');
        }
        s.push_str(t);
    }
    s
}

fn parse_single(s: &str) -> Result<String, String> {
    let inner = s
        .strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .ok_or("unterminated single-quoted string")?;
    Ok(inner.replace("''", "'"))
}

fn parse_double(s: &str) -> Result<String, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .ok_or("unterminated double-quoted string")?;
    let mut out = String::with_capacity(inner.len());
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it.next().ok_or("dangling backslash")?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            ' ' => out.push(' '),
            '/' => out.push('/'),
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'N' => out.push('\u{85}'),
            '_' => out.push('\u{a0}'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = it.by_ref().take(n).collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| "bad escape")?;
                out.push(char::from_u32(v).ok_or("bad code point")?);
            }
            _ => return Err(format!("unknown escape \\{e}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut m = BTreeMap::new();
        m.insert("a", Value::Str("it's\n\"x\"\t\\".into()));
        m.insert("b", Value::Int(-5));
        m.insert("c", Value::Null);
        m.insert("d", Value::List);
        m.insert("e", Value::Str("0".into()));
        m.insert("f", Value::Str("héllo wörld".into()));
        let text = write(&m);
        let back = read(&text).unwrap();
        for (k, v) in &m {
            assert_eq!(&back[*k], v, "{k}");
        }
    }

    #[test]
    fn reads_pyyaml_output() {
        let text = "artifact_location: file:///tmp/x/mlruns/0\ncreation_time: 1795979104552\n\
                    experiment_id: '0'\nlifecycle_stage: active\nname: a very long experiment name that\n  PyYAML folded over two lines\n\
                    tags: []\nrun_name: 'it''s'\nend_time: null\nx: \"a\\tb\\\n  c\"\n";
        let m = read(text).unwrap();
        assert_eq!(m["experiment_id"], Value::Str("0".into()));
        assert_eq!(m["creation_time"], Value::Int(1795979104552));
        assert_eq!(
            m["name"].as_string().unwrap(),
            "a very long experiment name that PyYAML folded over two lines"
        );
        assert_eq!(m["run_name"].as_string().unwrap(), "it's");
        assert_eq!(m["end_time"], Value::Null);
        assert_eq!(m["x"].as_string().unwrap(), "a\tbc");
        assert_eq!(m["tags"], Value::List);
    }
}
