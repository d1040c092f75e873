//! A Universal Binary JSON reader (the format XGBoost >= 2 writes to `.ubj` and, by default, to
//! `model.xgb`). Produces a `serde_json::Value` so JSON and UBJSON models share one parser.
//! Every count is checked against the bytes that remain; nesting is capped.

use serde_json::{Map, Number, Value as Json};

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::{MAX_DEPTH, MAX_ELEMENTS, MAX_FILE_BYTES};

fn bad(msg: impl Into<String>) -> LoadError {
    LoadError::invalid(format!("UBJSON: {}", msg.into()))
}

struct R<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> R<'a> {
    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.i)
    }
    fn take(&mut self, n: usize) -> LoadResult<&'a [u8]> {
        let end = self
            .i
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| bad(format!("truncated at offset {}", self.i)))?;
        let s = self.b.get(self.i..end).ok_or_else(|| bad("truncated"))?;
        self.i = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> LoadResult<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn byte(&mut self) -> LoadResult<u8> {
        Ok(self.arr::<1>()?[0])
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    /// An integer whose type marker has already been read.
    fn int_of(&mut self, m: u8) -> LoadResult<i64> {
        Ok(match m {
            b'i' => i64::from(i8::from_be_bytes(self.arr()?)),
            b'U' => i64::from(self.byte()?),
            b'I' => i64::from(i16::from_be_bytes(self.arr()?)),
            b'l' => i64::from(i32::from_be_bytes(self.arr()?)),
            b'L' => i64::from_be_bytes(self.arr()?),
            _ => return Err(bad(format!("expected an integer, found marker 0x{m:02x}"))),
        })
    }
    fn length(&mut self) -> LoadResult<usize> {
        let m = self.byte()?;
        let n = self.int_of(m)?;
        let n = usize::try_from(n).map_err(|_| bad(format!("negative length {n}")))?;
        if n as u64 > MAX_FILE_BYTES {
            return Err(bad(format!("length {n} is too large")));
        }
        Ok(n)
    }
    fn string(&mut self) -> LoadResult<String> {
        let n = self.length()?;
        if n > self.remaining() {
            return Err(bad(format!(
                "string of {n} bytes but only {} remain",
                self.remaining()
            )));
        }
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }
    fn value(&mut self, depth: usize) -> LoadResult<Json> {
        let m = self.byte()?;
        self.value_of(m, depth)
    }
    fn value_of(&mut self, m: u8, depth: usize) -> LoadResult<Json> {
        if depth > MAX_DEPTH {
            return Err(bad(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(match m {
            b'Z' => Json::Null,
            b'T' => Json::Bool(true),
            b'F' => Json::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Json::from(self.int_of(m)?),
            b'd' => float(f64::from(f32::from_be_bytes(self.arr()?))),
            b'D' => float(f64::from_be_bytes(self.arr()?)),
            b'C' => Json::String(char::from(self.byte()?).to_string()),
            b'S' => Json::String(self.string()?),
            b'H' => {
                let s = self.string()?;
                let f: f64 = s.parse().map_err(|_| bad("bad high-precision number"))?;
                float(f)
            }
            b'[' => self.container(false, depth)?,
            b'{' => self.container(true, depth)?,
            _ => {
                return Err(bad(format!(
                    "unknown marker 0x{m:02x} at offset {}",
                    self.i - 1
                )))
            }
        })
    }
    fn container(&mut self, object: bool, depth: usize) -> LoadResult<Json> {
        let mut ty = None;
        let mut count = None;
        if self.peek() == Some(b'$') {
            self.i += 1;
            ty = Some(self.byte()?);
            if self.peek() != Some(b'#') {
                return Err(bad("typed container without a count"));
            }
        }
        if self.peek() == Some(b'#') {
            self.i += 1;
            count = Some(self.length()?);
        }
        if let Some(n) = count {
            let min = match ty {
                Some(b'Z' | b'T' | b'F' | b'N') => {
                    return Err(bad("typed containers of empty values are not supported"))
                }
                Some(b'i' | b'U' | b'C') | None => 1,
                Some(b'I') => 2,
                Some(b'l' | b'd') => 4,
                Some(b'L' | b'D') => 8,
                Some(_) => 1,
            };
            if n > MAX_ELEMENTS || n.saturating_mul(min) > self.remaining() {
                return Err(bad(format!(
                    "container declares {n} items but only {} bytes remain",
                    self.remaining()
                )));
            }
        }
        let next = |r: &mut Self| -> LoadResult<Json> {
            match ty {
                Some(t) => r.value_of(t, depth + 1),
                None => r.value(depth + 1),
            }
        };
        if object {
            let mut map = Map::new();
            let mut i = 0usize;
            while !self.container_done(count, i, b'}')? {
                let k = self.string()?;
                let v = next(self)?;
                map.insert(k, v);
                i += 1;
            }
            Ok(Json::Object(map))
        } else {
            let mut out = Vec::with_capacity(count.unwrap_or(0).min(1 << 20));
            while !self.container_done(count, out.len(), b']')? {
                out.push(next(self)?);
            }
            Ok(Json::Array(out))
        }
    }

    /// Whether a container is complete after `seen` items: its declared count reached, or (with
    /// no count) its `close` marker next, skipping no-op markers. Unsized containers are capped.
    fn container_done(&mut self, count: Option<usize>, seen: usize, close: u8) -> LoadResult<bool> {
        if let Some(n) = count {
            return Ok(seen == n);
        }
        loop {
            match self.peek() {
                Some(b'N') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(true);
                }
                _ => break,
            }
        }
        if seen >= MAX_ELEMENTS {
            return Err(bad("container is too long"));
        }
        Ok(false)
    }
}

fn float(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// Parses one UBJSON document.
pub fn parse(bytes: &[u8]) -> LoadResult<Json> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(bad("file is too large"));
    }
    let mut r = R { b: bytes, i: 0 };
    let v = r.value(0)?;
    Ok(v)
}
