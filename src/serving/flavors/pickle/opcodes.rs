//! The opcode loop: each opcode of protocols 0-5 mapped onto the machine's inert operations.

use std::sync::Arc;

use super::*;
use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::MAX_PICKLE_STACK;

impl<'a> Machine<'a> {
    pub(super) fn run(&mut self) -> LoadResult<P> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(bad(format!("unsupported protocol {proto}")));
                    }
                }
                0x95 => {
                    let _ = self.u64()?; // FRAME: a length hint only
                }
                b'.' => {
                    let v = self.pop()?;
                    return Ok(v);
                }
                b'(' => {
                    if self.marks.len() >= MAX_PICKLE_STACK {
                        return Err(bad("too many marks"));
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                b'N' => self.push(P::None)?,
                0x88 => self.push(P::Bool(true))?,
                0x89 => self.push(P::Bool(false))?,
                b'I' => {
                    let l = self.line()?.trim();
                    let v = match l {
                        "00" => P::Bool(false),
                        "01" => P::Bool(true),
                        _ => P::Int(l.parse().map_err(|_| bad("bad INT"))?),
                    };
                    self.push(v)?;
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.le::<4>()?);
                    self.push(P::Int(i64::from(v)))?;
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(P::Int(i64::from(v)))?;
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.le::<2>()?);
                    self.push(P::Int(i64::from(v)))?;
                }
                b'L' => {
                    let l = self.line()?.trim().trim_end_matches('L');
                    let v = l.parse::<i64>().map_err(|_| bad("integer too large"))?;
                    self.push(P::Int(v))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        usize::from(self.u8()?)
                    } else {
                        let n = self.u32()?;
                        self.len_from(u64::from(n))?
                    };
                    let b = self.read(n)?;
                    // Beyond 64 bits (random-generator states): an approximation is enough,
                    // no estimator reads such numbers.
                    let v = match long_le(b) {
                        Some(i) => P::Int(i),
                        None => P::Float(long_approx(b)),
                    };
                    self.push(v)?;
                }
                b'F' => {
                    let l = self.line()?.trim();
                    let v = l.parse::<f64>().map_err(|_| bad("bad FLOAT"))?;
                    self.push(P::Float(v))?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.le::<8>()?);
                    self.push(P::Float(v))?;
                }
                b'S' => {
                    let v = self.text_str()?;
                    self.push(v)?;
                }
                b'T' | b'U' | b'X' | 0x8c | 0x8d | b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'U' | 0x8c | b'C' => u64::from(self.u8()?),
                        b'T' | b'X' | b'B' => u64::from(self.u32()?),
                        _ => self.u64()?,
                    };
                    let n = self.len_from(n)?;
                    let b = self.read(n)?;
                    let v = match op {
                        b'X' | 0x8c | 0x8d => P::Str(
                            std::str::from_utf8(b)
                                .map_err(|_| bad("string is not UTF-8"))?
                                .into(),
                        ),
                        // Python 2 str: text if it decodes, bytes otherwise.
                        b'T' | b'U' => match std::str::from_utf8(b) {
                            Ok(s) => P::Str(s.into()),
                            Err(_) => P::Bytes(b.into()),
                        },
                        _ => P::Bytes(b.into()),
                    };
                    self.push(v)?;
                }
                b'V' => {
                    let l = self.line()?;
                    if l.contains('\\') {
                        return Err(bad("escaped UNICODE arguments are not supported"));
                    }
                    let v = P::Str(l.into());
                    self.push(v)?;
                }
                0x97 => {
                    return Err(LoadError::refused(
                        "pickle uses an out-of-band buffer (NEXT_BUFFER), which MLflow models do not",
                    ))
                }
                0x98 => {} // READONLY_BUFFER: no-op on in-band data
                b']' => {
                    let v = self.alloc(Node::List(Vec::new()))?;
                    self.push(v)?;
                }
                b'a' => {
                    let item = self.pop()?;
                    let list = self.top()?.clone();
                    self.append(&list, vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let list = self.top()?.clone();
                    self.append(&list, items)?;
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Node::List(items))?;
                    self.push(v)?;
                }
                b')' => self.push(P::Tuple(Arc::from(Vec::new())))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(P::Tuple(items.into()))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(P::Tuple(items.into()))?;
                }
                b'}' => {
                    let v = self.alloc(Node::Dict(Vec::new()))?;
                    self.push(v)?;
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Node::Dict(Vec::new()))?;
                    self.set_items(&v, items)?;
                    self.push(v)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?.clone();
                    self.set_items(&d, vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let d = self.top()?.clone();
                    self.set_items(&d, items)?;
                }
                0x8f => {
                    let v = self.alloc(Node::List(Vec::new()))?;
                    self.push(v)?;
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let s = self.top()?.clone();
                    self.append(&s, items)?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Node::List(items))?;
                    self.push(v)?;
                }
                b'c' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    self.global(&module, &name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (P::Str(m), P::Str(n)) => self.global(&m, &n)?,
                        _ => return Err(bad("STACK_GLOBAL needs two strings")),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.reduce(callable, args)?;
                    self.push(v)?;
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        let kwargs = self.pop()?;
                        if !matches!(kwargs, P::Ref(_) | P::None) {
                            return Err(bad("NEWOBJ_EX keyword arguments are not a dict"));
                        }
                    }
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let P::Global(class) = cls else {
                        return Err(bad("NEWOBJ of something that is not an allowed class"));
                    };
                    let args = match args {
                        P::Tuple(t) => t.to_vec(),
                        _ => return Err(bad("NEWOBJ arguments are not a tuple")),
                    };
                    let v = if &*class == "collections.OrderedDict" || &*class == "builtins.dict"
                    {
                        self.alloc(Node::Dict(Vec::new()))?
                    } else {
                        self.alloc(Node::Object {
                            class,
                            args,
                            state: None,
                        })?
                    };
                    self.push(v)?;
                }
                b'b' => {
                    let st = self.pop()?;
                    let target = self.top()?.clone();
                    self.build(&target, st)?;
                }
                b'i' => {
                    let module = self.line()?.to_string();
                    let name = self.line()?.to_string();
                    let args = self.pop_mark()?;
                    self.global(&module, &name)?;
                    let cls = self.pop()?;
                    let v = self.reduce(cls, P::Tuple(args.into()))?;
                    self.push(v)?;
                }
                b'o' => {
                    let mut items = self.pop_mark()?.into_iter();
                    let cls = items.next().ok_or_else(|| bad("OBJ without a class"))?;
                    let v = self.reduce(cls, P::Tuple(items.collect::<Vec<_>>().into()))?;
                    self.push(v)?;
                }
                b'p' => {
                    let k = self
                        .line()?
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| bad("bad PUT"))?;
                    self.memo_put(k)?;
                }
                b'q' => {
                    let k = u64::from(self.u8()?);
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = u64::from(self.u32()?);
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'g' => {
                    let k = self
                        .line()?
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| bad("bad GET"))?;
                    self.memo_get(k)?;
                }
                b'h' => {
                    let k = u64::from(self.u8()?);
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = u64::from(self.u32()?);
                    self.memo_get(k)?;
                }
                b'P' | b'Q' => {
                    return Err(LoadError::refused(
                        "pickle uses a persistent ID (PERSID/BINPERSID), which Weir does not resolve",
                    ))
                }
                0x82..=0x84 => {
                    return Err(LoadError::refused(
                        "pickle uses the extension registry (EXT1/EXT2/EXT4), which Weir does not resolve",
                    ))
                }
                _ => {
                    return Err(bad(format!(
                        "unknown opcode 0x{op:02x} at offset {}",
                        self.pos - 1
                    )))
                }
            }
        }
    }
}

/// Little-endian two's complement integer of LONG1/LONG4, if it fits in i64.
pub(super) fn long_le(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return Some(0);
    }
    let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
    if b.len() > 8 {
        // Extra bytes must be pure sign extension.
        let fill = if neg { 0xff } else { 0 };
        if b.get(8..)?.iter().any(|&x| x != fill) {
            return None;
        }
        let top = *b.get(7)?;
        if (top & 0x80 != 0) != neg {
            return None;
        }
    }
    let mut a = [if neg { 0xff } else { 0 }; 8];
    for (o, i) in a.iter_mut().zip(b.iter()) {
        *o = *i;
    }
    Some(i64::from_le_bytes(a))
}

pub(super) fn long_approx(b: &[u8]) -> f64 {
    let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
    let mut v = 0.0f64;
    for &x in b.iter().rev() {
        let x = if neg { !x } else { x };
        v = v * 256.0 + f64::from(x);
    }
    if neg {
        -(v + 1.0)
    } else {
        v
    }
}
