//! A tiny parser for the Python literals in a `.npy` header (`{'descr': '<f8', 'fortran_order':
//! False, 'shape': (3, 4), }`): strings, integers, booleans, None, tuples, lists and dicts.

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::MAX_DEPTH;
use crate::serving::flavors::value::Value;

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

fn bad(msg: &str) -> LoadError {
    LoadError::invalid(format!("npy header: {msg}"))
}

impl P<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn seq(&mut self, close: u8, depth: usize) -> LoadResult<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(out);
            }
            out.push(self.value(depth + 1)?);
            if !self.eat(b',') {
                if self.eat(close) {
                    return Ok(out);
                }
                return Err(bad("expected ',' or a closing bracket"));
            }
        }
    }
    fn value(&mut self, depth: usize) -> LoadResult<Value> {
        if depth > MAX_DEPTH {
            return Err(bad("nested too deeply"));
        }
        match self.peek().ok_or_else(|| bad("unexpected end"))? {
            b'{' => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    if self.eat(b'}') {
                        return Ok(Value::Dict(out));
                    }
                    let k = self.value(depth + 1)?;
                    if !self.eat(b':') {
                        return Err(bad("expected ':'"));
                    }
                    let v = self.value(depth + 1)?;
                    out.push((k, v));
                    if !self.eat(b',') {
                        if self.eat(b'}') {
                            return Ok(Value::Dict(out));
                        }
                        return Err(bad("expected ',' or '}'"));
                    }
                }
            }
            b'(' => {
                self.i += 1;
                Ok(Value::Tuple(self.seq(b')', depth)?))
            }
            b'[' => {
                self.i += 1;
                Ok(Value::List(self.seq(b']', depth)?))
            }
            q @ (b'\'' | b'"') => {
                self.i += 1;
                let start = self.i;
                while self.s.get(self.i).is_some_and(|&c| c != q) {
                    if self.s.get(self.i) == Some(&b'\\') {
                        return Err(bad("escapes in strings are not supported"));
                    }
                    self.i += 1;
                }
                let raw = self
                    .s
                    .get(start..self.i)
                    .ok_or_else(|| bad("unterminated string"))?;
                if !self.eat(q) {
                    return Err(bad("unterminated string"));
                }
                let s = std::str::from_utf8(raw).map_err(|_| bad("string is not UTF-8"))?;
                Ok(Value::Str(s.to_string()))
            }
            c if c.is_ascii_digit() || c == b'-' => {
                let start = self.i;
                self.i += 1;
                while self.s.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                // Python 2 longs: 3L
                let raw = self.s.get(start..self.i).unwrap_or_default();
                if self.s.get(self.i) == Some(&b'L') {
                    self.i += 1;
                }
                let s = std::str::from_utf8(raw).map_err(|_| bad("bad number"))?;
                Ok(Value::Int(
                    s.parse().map_err(|_| bad("integer out of range"))?,
                ))
            }
            _ => {
                for (word, v) in [
                    ("True", Value::Bool(true)),
                    ("False", Value::Bool(false)),
                    ("None", Value::None),
                ] {
                    if self
                        .s
                        .get(self.i..)
                        .is_some_and(|r| r.starts_with(word.as_bytes()))
                    {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                Err(bad("unexpected character"))
            }
        }
    }
}

/// Parses one Python literal.
pub fn parse(s: &str) -> LoadResult<Value> {
    let mut p = P {
        s: s.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err(bad("trailing characters"));
    }
    Ok(v)
}
