//! MLflow's run-search grammar, parsed and evaluated, for stores without a server.
//!
//! The REST backend hands the filter string to the server untouched; the local store
//! needs the same language to answer the same questions, so this is MLflow's
//! `SearchUtils` in Rust:
//!
//! ```text
//! filter  := clause ( AND clause )*
//! clause  := ident op value
//! ident   := (metrics|metric|params|param|parameters|tags|tag|attributes|attribute|attr|run) '.' key
//!          | attribute-name                      (status, run_name, start_time, ...)
//! key     := bare-key | `back ticked` | "double quoted"
//! op      := = | != | > | >= | < | <= | LIKE | ILIKE | IN | NOT IN
//! value   := number | 'string' | "string" | ( 'a', 'b', ... )
//! ```
//!
//! Metrics compare numbers (their latest value); params and tags compare strings with
//! `=`, `!=`, `LIKE` (`%`, `_`, case-sensitive) and `ILIKE`; a run without the key never
//! matches. `order_by` clauses are `ident [ASC|DESC]`; runs missing the key sort last.

use std::cmp::Ordering;

use super::{RunRecord, invalid};
use crate::Result;

/// What a clause looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    /// The latest value of a metric.
    Metric(String),
    /// A param.
    Param(String),
    /// A tag.
    Tag(String),
    /// A run attribute.
    Attribute(Attribute),
}

/// The run attributes a filter or order can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// `status`.
    Status,
    /// `run_name`.
    RunName,
    /// `run_id`.
    RunId,
    /// `user_id`.
    UserId,
    /// `artifact_uri`.
    ArtifactUri,
    /// `start_time` (numeric).
    StartTime,
    /// `end_time` (numeric).
    EndTime,
    /// `lifecycle_stage`.
    LifecycleStage,
}

impl Attribute {
    fn parse(s: &str) -> Option<Attribute> {
        Some(match s {
            "status" => Attribute::Status,
            "run_name" => Attribute::RunName,
            "run_id" | "run_uuid" => Attribute::RunId,
            "user_id" => Attribute::UserId,
            "artifact_uri" => Attribute::ArtifactUri,
            "start_time" | "created" | "Created" => Attribute::StartTime,
            "end_time" => Attribute::EndTime,
            "lifecycle_stage" => Attribute::LifecycleStage,
            _ => return None,
        })
    }

    fn numeric(self) -> bool {
        matches!(self, Attribute::StartTime | Attribute::EndTime)
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `LIKE`
    Like,
    /// `ILIKE`
    ILike,
    /// `IN`
    In,
    /// `NOT IN`
    NotIn,
}

/// A literal on the right of a clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
    /// A parenthesised list of strings.
    List(Vec<String>),
}

/// One `ident op value` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// Left side.
    pub entity: Entity,
    /// Operator.
    pub op: Op,
    /// Right side.
    pub value: Literal,
}

/// A parsed filter: clauses joined by AND.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    /// The clauses (all must hold).
    pub clauses: Vec<Clause>,
}

/// One `order_by` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    /// What to sort on.
    pub entity: Entity,
    /// Ascending (the default) or descending.
    pub ascending: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(Entity),
    Str(String),
    Num(f64),
    Op(Op),
    And,
    LParen,
    RParen,
    Comma,
    Asc(bool),
}

fn bad(input: &str, why: impl std::fmt::Display) -> crate::Error {
    invalid(format!("invalid search expression {input:?}: {why}"))
}

fn entity_for(prefix: &str, key: String, input: &str) -> Result<Entity> {
    Ok(match prefix.to_ascii_lowercase().as_str() {
        "metrics" | "metric" => Entity::Metric(key),
        "params" | "param" | "parameters" | "parameter" => Entity::Param(key),
        "tags" | "tag" => Entity::Tag(key),
        "attributes" | "attribute" | "attr" | "run" => Entity::Attribute(
            Attribute::parse(&key)
                .ok_or_else(|| bad(input, format!("unknown attribute {key:?}")))?,
        ),
        other => return Err(bad(input, format!("unknown entity type {other:?}"))),
    })
}

fn lex(input: &str, order_mode: bool) -> Result<Vec<Tok>> {
    let c: Vec<char> = input.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let read_quoted = |i: &mut usize, q: char| -> Result<String> {
        let mut s = String::new();
        *i += 1;
        loop {
            match c.get(*i) {
                None => return Err(bad(input, "unterminated quote")),
                Some(&ch) if ch == q => {
                    if c.get(*i + 1) == Some(&q) && q == '\'' {
                        s.push(q);
                        *i += 2;
                        continue;
                    }
                    *i += 1;
                    return Ok(s);
                }
                Some('\\') if q != '`' && c.get(*i + 1).is_some() => {
                    s.push(c[*i + 1]);
                    *i += 2;
                }
                Some(&ch) => {
                    s.push(ch);
                    *i += 1;
                }
            }
        }
    };
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        match ch {
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' | '"' => out.push(Tok::Str(read_quoted(&mut i, ch)?)),
            '=' => {
                out.push(Tok::Op(Op::Eq));
                i += 1;
            }
            '!' if c.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op(Op::Ne));
                i += 2;
            }
            '<' | '>' => {
                let eq = c.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (ch, eq) {
                    ('<', true) => Op::Le,
                    ('<', false) => Op::Lt,
                    ('>', true) => Op::Ge,
                    _ => Op::Gt,
                }));
                i += if eq { 2 } else { 1 };
            }
            c0 if c0.is_ascii_digit() || c0 == '-' || c0 == '+' || c0 == '.' => {
                let start = i;
                i += 1;
                while i < c.len()
                    && (c[i].is_ascii_alphanumeric() || matches!(c[i], '.' | '-' | '+'))
                {
                    i += 1;
                }
                let s: String = c[start..i].iter().collect();
                let v: f64 = s
                    .parse()
                    .map_err(|_| bad(input, format!("{s:?} is not a number")))?;
                out.push(Tok::Num(v));
            }
            c0 if c0.is_alphabetic() || c0 == '_' || c0 == '`' => {
                // A word: a keyword, an attribute name, or prefix.key.
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                if c.get(i) == Some(&'.') {
                    i += 1;
                    let key = match c.get(i) {
                        Some(&q @ ('`' | '"')) => read_quoted(&mut i, q)?,
                        _ => {
                            let ks = i;
                            while i < c.len()
                                && !c[i].is_whitespace()
                                && !matches!(c[i], '=' | '!' | '<' | '>' | '(' | ')' | ',')
                            {
                                i += 1;
                            }
                            c[ks..i].iter().collect()
                        }
                    };
                    if key.is_empty() {
                        return Err(bad(input, format!("empty key after {word:?}.")));
                    }
                    out.push(Tok::Ident(entity_for(&word, key, input)?));
                    continue;
                }
                match word.to_ascii_uppercase().as_str() {
                    "AND" if !order_mode => out.push(Tok::And),
                    "LIKE" => out.push(Tok::Op(Op::Like)),
                    "ILIKE" => out.push(Tok::Op(Op::ILike)),
                    "IN" => match out.last() {
                        Some(Tok::Op(Op::Ne)) => {}
                        _ => out.push(Tok::Op(Op::In)),
                    },
                    "NOT" => {
                        // NOT IN
                        let mut j = i;
                        while j < c.len() && c[j].is_whitespace() {
                            j += 1;
                        }
                        let next: String = c[j..(j + 2).min(c.len())].iter().collect();
                        if next.eq_ignore_ascii_case("in") {
                            out.push(Tok::Op(Op::NotIn));
                            i = j + 2;
                        } else {
                            return Err(bad(input, "NOT is only supported in NOT IN"));
                        }
                    }
                    "OR" => {
                        return Err(bad(
                            input,
                            "OR is not supported (MLflow joins clauses with AND)",
                        ));
                    }
                    "ASC" if order_mode => out.push(Tok::Asc(true)),
                    "DESC" if order_mode => out.push(Tok::Asc(false)),
                    _ => match Attribute::parse(&word) {
                        Some(a) => out.push(Tok::Ident(Entity::Attribute(a))),
                        None => {
                            return Err(bad(
                                input,
                                format!(
                                    "unexpected word {word:?} (expected metrics.KEY, params.KEY, tags.KEY or attributes.NAME)"
                                ),
                            ));
                        }
                    },
                }
            }
            other => return Err(bad(input, format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}

/// Parses a filter string (empty = match everything).
pub fn parse(input: &str) -> Result<Filter> {
    let toks = lex(input, false)?;
    let mut clauses = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let Tok::Ident(entity) = toks[i].clone() else {
            return Err(bad(
                input,
                "expected an identifier at the start of a clause",
            ));
        };
        let Some(Tok::Op(op)) = toks.get(i + 1).cloned() else {
            return Err(bad(input, "expected a comparison operator"));
        };
        i += 2;
        let value = match (toks.get(i).cloned(), op) {
            (Some(Tok::LParen), Op::In | Op::NotIn) => {
                let mut items = Vec::new();
                i += 1;
                loop {
                    match toks.get(i).cloned() {
                        Some(Tok::Str(s)) => items.push(s),
                        Some(Tok::RParen) if items.is_empty() => break,
                        _ => return Err(bad(input, "IN expects ('a', 'b', ...)")),
                    }
                    i += 1;
                    match toks.get(i) {
                        Some(Tok::Comma) => i += 1,
                        Some(Tok::RParen) => break,
                        _ => return Err(bad(input, "IN expects ('a', 'b', ...)")),
                    }
                }
                i += 1;
                Literal::List(items)
            }
            (Some(Tok::Str(s)), _) => {
                i += 1;
                Literal::Str(s)
            }
            (Some(Tok::Num(n)), _) => {
                i += 1;
                Literal::Num(n)
            }
            _ => return Err(bad(input, "expected a value after the operator")),
        };
        check_clause(input, &entity, op, &value)?;
        clauses.push(Clause { entity, op, value });
        match toks.get(i) {
            None => break,
            Some(Tok::And) => {
                i += 1;
                if i >= toks.len() {
                    return Err(bad(input, "dangling AND"));
                }
            }
            Some(_) => return Err(bad(input, "expected AND between clauses")),
        }
    }
    Ok(Filter { clauses })
}

fn check_clause(input: &str, e: &Entity, op: Op, v: &Literal) -> Result<()> {
    let numeric = match e {
        Entity::Metric(_) => true,
        Entity::Attribute(a) => a.numeric(),
        _ => false,
    };
    let ok = if numeric {
        matches!(op, Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le)
            && matches!(v, Literal::Num(_))
    } else {
        match op {
            Op::Eq | Op::Ne | Op::Like | Op::ILike => matches!(v, Literal::Str(_)),
            Op::In | Op::NotIn => matches!(v, Literal::List(_)),
            _ => false,
        }
    };
    if ok {
        Ok(())
    } else {
        Err(bad(
            input,
            format!("{op:?} with {v:?} is not a valid comparison for {e:?}"),
        ))
    }
}

/// Parses one `order_by` clause.
pub fn parse_order_by(input: &str) -> Result<OrderBy> {
    let toks = lex(input, true)?;
    match toks.as_slice() {
        [Tok::Ident(e)] => Ok(OrderBy {
            entity: e.clone(),
            ascending: true,
        }),
        [Tok::Ident(e), Tok::Asc(a)] => Ok(OrderBy {
            entity: e.clone(),
            ascending: *a,
        }),
        _ => Err(bad(input, "expected 'IDENT [ASC|DESC]'")),
    }
}

#[derive(Debug, PartialEq, PartialOrd)]
enum Val {
    N(f64),
    S(String),
}

fn value_of(run: &RunRecord, e: &Entity) -> Option<Val> {
    let i = &run.info;
    Some(match e {
        Entity::Metric(k) => Val::N(run.data.metrics.get(k)?.value),
        Entity::Param(k) => Val::S(run.data.params.get(k)?.clone()),
        Entity::Tag(k) => Val::S(run.data.tags.get(k)?.clone()),
        Entity::Attribute(a) => match a {
            Attribute::Status => Val::S(i.status.as_str().to_string()),
            Attribute::RunName => Val::S(i.run_name.clone()),
            Attribute::RunId => Val::S(i.run_id.clone()),
            Attribute::UserId => Val::S(i.user_id.clone()),
            Attribute::ArtifactUri => Val::S(i.artifact_uri.clone()),
            Attribute::LifecycleStage => Val::S(i.lifecycle_stage.clone()),
            Attribute::StartTime => Val::N(i.start_time? as f64),
            Attribute::EndTime => Val::N(i.end_time? as f64),
        },
    })
}

/// SQL LIKE: `%` any run, `_` one character.
pub fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Iterative matcher with backtracking on the last '%'.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

impl Filter {
    /// Does `run` satisfy every clause?
    pub fn matches(&self, run: &RunRecord) -> bool {
        self.clauses.iter().all(|c| {
            let Some(v) = value_of(run, &c.entity) else {
                return false;
            };
            match (&v, &c.value) {
                (Val::N(x), Literal::Num(y)) => match c.op {
                    Op::Eq => x == y,
                    Op::Ne => x != y,
                    Op::Gt => x > y,
                    Op::Ge => x >= y,
                    Op::Lt => x < y,
                    Op::Le => x <= y,
                    _ => false,
                },
                (Val::S(x), Literal::Str(y)) => match c.op {
                    Op::Eq => x == y,
                    Op::Ne => x != y,
                    Op::Like => like(x, y),
                    Op::ILike => like(&x.to_lowercase(), &y.to_lowercase()),
                    _ => false,
                },
                (Val::S(x), Literal::List(ys)) => match c.op {
                    Op::In => ys.contains(x),
                    Op::NotIn => !ys.contains(x),
                    _ => false,
                },
                _ => false,
            }
        })
    }
}

/// Sorts runs by `order` (then start time descending, then run id), missing values last.
pub fn sort_runs(runs: &mut [RunRecord], order: &[OrderBy]) {
    let cmp_val = |a: &Option<Val>, b: &Option<Val>, asc: bool| -> Ordering {
        match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(Val::N(x)), Some(Val::N(y))) => {
                // NaN sorts after numbers, like a missing value.
                let o = match (x.is_nan(), y.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => return Ordering::Greater,
                    (false, true) => return Ordering::Less,
                    _ => x.total_cmp(y),
                };
                if asc { o } else { o.reverse() }
            }
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(y).unwrap_or(Ordering::Equal);
                if asc { o } else { o.reverse() }
            }
        }
    };
    runs.sort_by(|a, b| {
        for o in order {
            let r = cmp_val(
                &value_of(a, &o.entity),
                &value_of(b, &o.entity),
                o.ascending,
            );
            if r != Ordering::Equal {
                return r;
            }
        }
        b.info
            .start_time
            .cmp(&a.info.start_time)
            .then(a.info.run_id.cmp(&b.info.run_id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::{Metric, RunData, RunInfo, RunStatus};

    fn run(id: &str, acc: Option<f64>, lr: &str, status: RunStatus) -> RunRecord {
        let mut data = RunData::default();
        if let Some(a) = acc {
            data.metrics
                .insert("acc".into(), Metric::new("acc", a, 1, 0));
        }
        data.params.insert("lr".into(), lr.into());
        data.tags
            .insert("mlflow.runName".into(), format!("Run-{id}"));
        RunRecord {
            info: RunInfo {
                run_id: id.into(),
                experiment_id: "1".into(),
                run_name: format!("Run-{id}"),
                user_id: "u".into(),
                status,
                start_time: Some(100),
                end_time: None,
                artifact_uri: String::new(),
                lifecycle_stage: "active".into(),
            },
            data,
        }
    }

    #[test]
    fn the_documented_example() {
        let f = parse(
            "metrics.acc > 0.5 and params.lr = '0.01' and tags.`mlflow.runName` LIKE 'Run-%' and attributes.status = 'FINISHED'",
        )
        .unwrap();
        assert_eq!(f.clauses.len(), 4);
        assert!(f.matches(&run("a", Some(0.9), "0.01", RunStatus::Finished)));
        assert!(!f.matches(&run("b", Some(0.4), "0.01", RunStatus::Finished)));
        assert!(!f.matches(&run("c", None, "0.01", RunStatus::Finished)));
        assert!(!f.matches(&run("d", Some(0.9), "0.1", RunStatus::Finished)));
        assert!(!f.matches(&run("e", Some(0.9), "0.01", RunStatus::Running)));
        let f = parse("tags.\"mlflow.runName\" ILIKE 'run-_' AND run_id IN ('a', 'x')").unwrap();
        assert!(f.matches(&run("a", None, "1", RunStatus::Running)));
        assert!(!f.matches(&run("b", None, "1", RunStatus::Running)));
        let f = parse("attributes.run_id NOT IN ('a')").unwrap();
        assert!(!f.matches(&run("a", None, "1", RunStatus::Running)));
        assert!(parse("").unwrap().clauses.is_empty());
    }

    #[test]
    fn bad_filters_are_typed_errors() {
        for bad in [
            "metrics.acc > 'x'",
            "params.lr > 1",
            "foo = 1",
            "metrics.acc >",
            "metrics.acc > 1 or metrics.acc < 0",
            "metrics.acc > 1 and",
            "params.lr = 'unterminated",
            "bogus.x = 'a'",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "a_c"));
        assert!(like("abc", "%"));
        assert!(!like("abc", "a_"));
        assert!(like("a%c", "a%%c"));
        assert!(!like("ABC", "a%"));
    }

    #[test]
    fn ordering() {
        let mut rs = vec![
            run("a", Some(0.5), "1", RunStatus::Finished),
            run("b", None, "1", RunStatus::Finished),
            run("c", Some(0.9), "1", RunStatus::Finished),
        ];
        sort_runs(&mut rs, &[parse_order_by("metrics.acc DESC").unwrap()]);
        let ids: Vec<_> = rs.iter().map(|r| r.info.run_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        sort_runs(&mut rs, &[parse_order_by("metrics.acc").unwrap()]);
        let ids: Vec<_> = rs.iter().map(|r| r.info.run_id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "b"]);
        assert!(parse_order_by("metrics.acc sideways").is_err());
    }
}
