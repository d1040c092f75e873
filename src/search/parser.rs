//! Recursive-descent parser from tokens to [`Expr`] and [`OrderBy`].

use super::lexer::{lex, Tok};
use super::{Comparison, Entity, Expr, Op, OrderBy, Value};
use crate::error::{Error, Result};

/// Deepest parenthesis nesting accepted (keeps recursion bounded on hostile input).
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    input: &'a str,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Result<Self> {
        Ok(Parser {
            toks: lex(input)?,
            pos: 0,
            input,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::invalid(format!("Error on parsing filter '{}': {what}", self.input))
    }

    fn or_expr(&mut self, depth: usize) -> Result<Expr> {
        let mut parts = vec![self.and_expr(depth)?];
        while is_kw(self.peek(), "OR") {
            self.pos += 1;
            parts.push(self.and_expr(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and_expr(&mut self, depth: usize) -> Result<Expr> {
        let mut parts = vec![self.primary(depth)?];
        while is_kw(self.peek(), "AND") {
            self.pos += 1;
            parts.push(self.primary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn primary(&mut self, depth: usize) -> Result<Expr> {
        if self.peek() == Some(&Tok::LParen) {
            if depth >= MAX_DEPTH {
                return Err(self.err("too deeply nested"));
            }
            self.pos += 1;
            let e = self.or_expr(depth + 1)?;
            if self.next() != Some(Tok::RParen) {
                return Err(self.err("expected ')'"));
            }
            return Ok(e);
        }
        self.comparison().map(Expr::Cmp)
    }

    /// `entity.key`, `` entity.`key` ``, `entity."key"`, or a bare/quoted attribute name.
    fn identifier(&mut self) -> Result<(Entity, String)> {
        match self.next() {
            Some(Tok::Word(w)) => {
                if let Some((prefix, rest)) = w.split_once('.') {
                    let entity = Entity::from_prefix(prefix).ok_or_else(|| {
                        Error::invalid(format!(
                            "Invalid entity type '{prefix}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']"
                        ))
                    })?;
                    if rest.is_empty() {
                        return match self.next() {
                            Some(Tok::Backtick(k)) | Some(Tok::DQuote(k)) if !k.is_empty() => {
                                Ok((entity, k))
                            }
                            _ => Err(self.err(format!("expected a key after '{w}'"))),
                        };
                    }
                    Ok((entity, rest.to_owned()))
                } else {
                    Ok((Entity::Attribute, w))
                }
            }
            Some(Tok::Backtick(k)) | Some(Tok::DQuote(k)) if !k.is_empty() => {
                Ok((Entity::Attribute, k))
            }
            Some(t) => Err(self.err(format!("expected an identifier, got {t:?}"))),
            None => Err(self.err("expected an identifier")),
        }
    }

    fn comparison(&mut self) -> Result<Comparison> {
        let (entity, key) = self.identifier()?;
        let (op, value) = match self.next() {
            Some(Tok::Op(o)) => {
                let op = match o.as_str() {
                    "=" | "==" => Op::Eq,
                    "!=" | "<>" => Op::Ne,
                    ">" => Op::Gt,
                    ">=" => Op::Ge,
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    other => {
                        return Err(Error::invalid(format!(
                            "Invalid comparator '{other}' not one of '{{'=', '>', '<=', '!=', '<', '>='}}'"
                        )))
                    }
                };
                (op, self.scalar()?)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("LIKE") => (Op::Like, self.scalar()?),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("ILIKE") => (Op::ILike, self.scalar()?),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IN") => (Op::In, self.list()?),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NOT") => {
                if !is_kw(self.peek(), "IN") {
                    return Err(self.err("expected IN after NOT"));
                }
                self.pos += 1;
                (Op::NotIn, self.list()?)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IS") => {
                let op = if is_kw(self.peek(), "NOT") {
                    self.pos += 1;
                    Op::IsNotNull
                } else {
                    Op::IsNull
                };
                if !is_kw(self.peek(), "NULL") {
                    return Err(self.err("expected NULL after IS"));
                }
                self.pos += 1;
                (op, Value::Null)
            }
            Some(Tok::Word(w)) => {
                return Err(Error::invalid(format!(
                    "Invalid comparator '{w}' not one of '{{'=', '>', '<=', '!=', '<', '>=', 'LIKE', 'ILIKE', 'IN', 'NOT IN', 'IS NULL', 'IS NOT NULL'}}'"
                )))
            }
            _ => return Err(self.err(format!("expected a comparator after '{key}'"))),
        };
        Ok(Comparison {
            entity,
            key,
            op,
            value,
        })
    }

    fn scalar(&mut self) -> Result<Value> {
        match self.next() {
            Some(Tok::SQuote(s)) | Some(Tok::DQuote(s)) => Ok(Value::Str(s)),
            Some(Tok::Num(n)) => Ok(Value::Num(n)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NULL") => Ok(Value::Null),
            Some(t) => Err(self.err(format!("expected a value, got {t:?}"))),
            None => Err(self.err("expected a value")),
        }
    }

    fn list(&mut self) -> Result<Value> {
        if self.next() != Some(Tok::LParen) {
            return Err(self.err("expected '(' to open a list"));
        }
        let mut items = Vec::new();
        loop {
            match self.next() {
                Some(Tok::SQuote(s)) | Some(Tok::DQuote(s)) => items.push(s),
                Some(Tok::Num(n)) => items.push(format_number(n)),
                Some(Tok::RParen) if items.is_empty() => {
                    return Err(self.err("a list must not be empty"))
                }
                _ => return Err(self.err("expected a quoted value in the list")),
            }
            match self.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::RParen) => break,
                _ => return Err(self.err("expected ',' or ')' in the list")),
            }
        }
        Ok(Value::List(items))
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Parse a filter string. An empty string is an error here; callers skip empty filters.
pub fn parse_filter(input: &str) -> Result<Expr> {
    let mut p = Parser::new(input)?;
    if p.peek().is_none() {
        return Err(p.err("empty filter"));
    }
    let e = p.or_expr(0)?;
    if let Some(t) = p.peek() {
        return Err(p.err(format!("unexpected {t:?}")));
    }
    Ok(e)
}

/// Parse one order_by term: `<identifier> [ASC|DESC]`.
pub fn parse_order_by(input: &str) -> Result<OrderBy> {
    let mut p = Parser::new(input)?;
    let (entity, key) = p.identifier().map_err(|_| {
        Error::invalid(format!(
            "Invalid order_by clause '{input}'. Could not be parsed."
        ))
    })?;
    let ascending = match p.next() {
        None => true,
        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("ASC") => true,
        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("DESC") => false,
        Some(_) => {
            return Err(Error::invalid(format!(
                "Invalid ordering key in order_by clause '{input}'."
            )))
        }
    };
    if p.peek().is_some() {
        return Err(Error::invalid(format!(
            "Invalid order_by clause '{input}'. Could not be parsed."
        )));
    }
    Ok(OrderBy {
        entity,
        key,
        ascending,
    })
}
