//! A small expression language for custom checks, compiled to polars expressions.
//!
//! A custom check must live in a JSON or TOML contract in git, so it needs a text
//! form. polars' own SQL front end would do, but enabling its `sql` feature rebuilds
//! polars for the whole workspace for one parser; this grammar covers what row-level
//! checks need in about two hundred lines:
//!
//! ```text
//! expr    := or
//! or      := and (("or" | "||") and)*
//! and     := not (("and" | "&&") not)*
//! not     := ("not" | "!") not | cmp
//! cmp     := add (("==" | "!=" | "<" | "<=" | ">" | ">=") add)?
//! add     := mul (("+" | "-") mul)*
//! mul     := unary (("*" | "/" | "%") unary)*
//! unary   := "-" unary | primary
//! primary := NUMBER | 'string' | "string" | true | false | null
//!          | NAME | `any name` | FUNC "(" expr ")" | "(" expr ")"
//! FUNC    := abs | sqrt | is_null | is_not_null | is_nan | is_finite | str_len
//!          | lower | upper
//! ```
//!
//! Names are columns. Example: `price * quantity <= total + 0.01 and discount >= 0`.

use polars::prelude::*;

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Int(i64),
    Str(String),
    Ident(String),
    Quoted(String),
    Op(&'static str),
    LParen,
    RParen,
}

fn tokenize(src: &str) -> Result<Vec<Tok>> {
    let bad = |pos: usize, why: &str| {
        Error::InvalidContract(format!("expression {src:?} at byte {pos}: {why}"))
    };
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            let mut float = false;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || b[i] == b'.'
                    || b[i] == b'e'
                    || b[i] == b'E'
                    || ((b[i] == b'-' || b[i] == b'+') && matches!(b[i - 1], b'e' | b'E')))
            {
                float |= matches!(b[i], b'.' | b'e' | b'E');
                i += 1;
            }
            let text = &src[start..i];
            if float {
                out.push(Tok::Num(
                    text.parse().map_err(|_| bad(start, "bad number"))?,
                ));
            } else {
                out.push(Tok::Int(
                    text.parse().map_err(|_| bad(start, "bad integer"))?,
                ));
            }
        } else if c == b'\'' || c == b'"' || c == b'`' {
            let start = i;
            i += 1;
            let mut s = String::new();
            loop {
                match src[i..].chars().next() {
                    None => return Err(bad(start, "unterminated quote")),
                    Some(ch) if ch as u32 == u32::from(c) => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let next = src[i + 1..]
                            .chars()
                            .next()
                            .ok_or_else(|| bad(i, "dangling escape"))?;
                        s.push(next);
                        i += 1 + next.len_utf8();
                    }
                    Some(ch) => {
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            out.push(if c == b'`' {
                Tok::Quoted(s)
            } else {
                Tok::Str(s)
            });
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(src[start..i].to_string()));
        } else if c == b'(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == b')' {
            out.push(Tok::RParen);
            i += 1;
        } else {
            const OPS: [&str; 16] = [
                "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "!", "=",
                ",",
            ];
            let op = OPS
                .iter()
                .find(|op| src[i..].starts_with(**op))
                .ok_or_else(|| bad(i, "unexpected character"))?;
            out.push(Tok::Op(if *op == "=" { "==" } else { op }));
            i += op.len();
        }
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    pos: usize,
    columns: Vec<String>,
}

impl Parser<'_> {
    fn err(&self, why: &str) -> Error {
        Error::InvalidContract(format!("expression {:?}: {why}", self.src))
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat_op(&mut self, ops: &[&str]) -> Option<&'static str> {
        match self.peek() {
            Some(Tok::Op(o)) if ops.contains(o) => {
                let o = *o;
                self.pos += 1;
                Some(o)
            }
            _ => None,
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(w)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr> {
        let mut e = self.and()?;
        while self.eat_op(&["||"]).is_some() || self.eat_word("or") {
            e = e.or(self.and()?);
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut e = self.not()?;
        while self.eat_op(&["&&"]).is_some() || self.eat_word("and") {
            e = e.and(self.not()?);
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr> {
        if self.eat_op(&["!"]).is_some() || self.eat_word("not") {
            return Ok(self.not()?.not());
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr> {
        let l = self.add()?;
        if let Some(op) = self.eat_op(&["==", "!=", "<=", ">=", "<", ">"]) {
            let r = self.add()?;
            return Ok(match op {
                "==" => l.eq(r),
                "!=" => l.neq(r),
                "<=" => l.lt_eq(r),
                ">=" => l.gt_eq(r),
                "<" => l.lt(r),
                _ => l.gt(r),
            });
        }
        Ok(l)
    }

    fn add(&mut self) -> Result<Expr> {
        let mut e = self.mul()?;
        while let Some(op) = self.eat_op(&["+", "-"]) {
            let r = self.mul()?;
            e = if op == "+" { e + r } else { e - r };
        }
        Ok(e)
    }

    fn mul(&mut self) -> Result<Expr> {
        let mut e = self.unary()?;
        while let Some(op) = self.eat_op(&["*", "/", "%"]) {
            let r = self.unary()?;
            e = match op {
                "*" => e * r,
                "/" => e / r,
                _ => e % r,
            };
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat_op(&["-"]).is_some() {
            return Ok(lit(0) - self.unary()?);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr> {
        let tok = self
            .peek()
            .cloned()
            .ok_or_else(|| self.err("unexpected end"))?;
        self.pos += 1;
        match tok {
            Tok::Num(v) => Ok(lit(v)),
            Tok::Int(v) => Ok(lit(v)),
            Tok::Str(s) => Ok(lit(s)),
            Tok::Quoted(name) => {
                self.columns.push(name.clone());
                Ok(col(name))
            }
            Tok::LParen => {
                let e = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.err("expected ')'"));
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::Ident(word) => {
                let lower = word.to_ascii_lowercase();
                match lower.as_str() {
                    "true" => return Ok(lit(true)),
                    "false" => return Ok(lit(false)),
                    "null" => return Ok(lit(NULL)),
                    _ => {}
                }
                if self.peek() == Some(&Tok::LParen) {
                    self.pos += 1;
                    let arg = self.or()?;
                    if self.peek() != Some(&Tok::RParen) {
                        return Err(self.err("expected ')' after a function argument"));
                    }
                    self.pos += 1;
                    return Ok(match lower.as_str() {
                        "abs" => arg.abs(),
                        "sqrt" => arg.sqrt(),
                        "is_null" => arg.is_null(),
                        "is_not_null" => arg.is_not_null(),
                        "is_nan" => arg.is_nan(),
                        "is_finite" => arg.is_finite(),
                        "str_len" => arg.str().len_chars(),
                        "lower" => arg.str().to_lowercase(),
                        "upper" => arg.str().to_uppercase(),
                        _ => return Err(self.err(&format!("unknown function {word:?}"))),
                    });
                }
                self.columns.push(word.clone());
                Ok(col(word))
            }
            Tok::RParen | Tok::Op(_) => Err(self.err("expected a value")),
        }
    }
}

/// A parsed expression: the polars expression and the columns it reads.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) expr: Expr,
    pub(crate) columns: Vec<String>,
}

/// Parses an expression of the language above.
pub(crate) fn compile(src: &str) -> Result<Compiled> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        columns: Vec::new(),
    };
    let expr = p.or()?;
    if p.pos != p.toks.len() {
        return Err(p.err("unexpected text after the expression"));
    }
    let mut columns = p.columns;
    columns.sort();
    columns.dedup();
    Ok(Compiled { expr, columns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_evaluates() {
        let df =
            df!("a" => [1.0, 2.0, 3.0], "b" => [1.0, 1.0, 5.0], "s" => ["x", "yy", "zzz"]).unwrap();
        let c = compile("a * 2 >= b + 1 and not (str_len(s) == 2) || `a` == -1").unwrap();
        assert_eq!(c.columns, vec!["a", "b", "s"]);
        let out = df.lazy().select([c.expr.alias("ok")]).collect().unwrap();
        let ok: Vec<Option<bool>> = out.column("ok").unwrap().bool().unwrap().iter().collect();
        assert_eq!(ok, vec![Some(true), Some(false), Some(true)]);
        for bad in ["a +", "(a", "a b", "foo(a)", "'x", "a $ b"] {
            assert!(compile(bad).is_err(), "{bad}");
        }
    }
}
