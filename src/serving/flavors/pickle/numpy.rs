//! Expanding the arena into a [`Value`] tree under a depth and node budget, and decoding
//! numpy arrays, dtypes and scalars on the way.

use std::collections::HashMap;
use std::sync::Arc;

use super::*;
use crate::serving::flavors::dtype::{DType, Kind};
use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::MAX_DEPTH;
use crate::serving::flavors::value::NdArray;
use crate::serving::flavors::value::{Object, Value};

pub(super) struct Expander<'a> {
    pub(super) arena: &'a [Node],
    pub(super) budget: &'a mut usize,
    /// Expanded arrays, so a memoized array shared many times is decoded once.
    pub(super) cache: HashMap<usize, Value>,
}

impl Expander<'_> {
    pub(super) fn expand(&mut self, p: &P, depth: usize) -> LoadResult<Value> {
        if depth > MAX_DEPTH {
            return Err(bad(format!(
                "values nest deeper than {MAX_DEPTH} levels (or refer to themselves)"
            )));
        }
        *self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| bad("expands to too many values"))?;
        Ok(match p {
            P::None => Value::None,
            P::Bool(b) => Value::Bool(*b),
            P::Int(i) => Value::Int(*i),
            P::Float(f) => Value::Float(*f),
            P::Str(s) => Value::Str(s.to_string()),
            P::Bytes(b) => Value::Bytes(b.clone()),
            P::Global(g) => Value::Global(g.to_string()),
            P::Tuple(t) => Value::Tuple(self.expand_all(t, depth)?),
            P::Ref(i) => {
                if let Some(v) = self.cache.get(i) {
                    return Ok(v.clone());
                }
                let node = self.arena.get(*i).ok_or_else(|| bad("bad reference"))?;
                match node {
                    Node::List(items) => Value::List(self.expand_all(items, depth)?),
                    Node::Dict(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for (k, v) in items {
                            out.push((self.expand(k, depth + 1)?, self.expand(v, depth + 1)?));
                        }
                        Value::Dict(out)
                    }
                    Node::Object { class, args, state } => {
                        let args = self.expand_all(args, depth)?;
                        let state = match state {
                            Some(s) => self.expand(s, depth + 1)?,
                            None => Value::None,
                        };
                        let v = numpy_object(class, args, state)?;
                        if matches!(v, Value::Array(_)) {
                            self.cache.insert(*i, v.clone());
                        }
                        v
                    }
                }
            }
        })
    }

    pub(super) fn expand_all(&mut self, items: &[P], depth: usize) -> LoadResult<Vec<Value>> {
        let mut out = Vec::with_capacity(items.len().min(1 << 16));
        for p in items {
            out.push(self.expand(p, depth + 1)?);
        }
        Ok(out)
    }
}

pub(super) fn is_numpy(class: &str, module_tail: &str, name: &str) -> bool {
    class.strip_suffix(name).is_some_and(|m| {
        m.strip_suffix('.').is_some_and(|m| {
            m == format!("numpy.core.{module_tail}") || m == format!("numpy._core.{module_tail}")
        })
    })
}

/// Turns numpy reconstruction objects into arrays, dtypes and scalars; leaves others alone.
pub(super) fn numpy_object(class: &str, args: Vec<Value>, state: Value) -> LoadResult<Value> {
    if class == "numpy.dtype" {
        return Ok(Value::Object(Box::new(Object {
            class: class.into(),
            args,
            state,
        })));
    }
    if is_numpy(class, "multiarray", "_reconstruct") {
        // state = (version, shape, dtype, is_fortran, data)
        let st = state.as_seq().ok_or_else(|| bad("ndarray without state"))?;
        let (shape, dtype, fortran, raw) = match st {
            [_, shape, dtype, fortran, raw] => (shape, dtype, fortran, raw),
            [shape, dtype, fortran, raw] => (shape, dtype, fortran, raw),
            _ => return Err(bad("ndarray state has an unexpected form")),
        };
        let shape = shape_of(shape)?;
        let dtype = dtype_of(dtype)?;
        let fortran = fortran.as_bool().unwrap_or(false);
        let arr = match raw {
            Value::Bytes(b) => NdArray::from_raw(b, &dtype, shape, fortran)?,
            Value::List(items) if dtype.kind == Kind::Object => {
                NdArray::from_objects(items.clone(), shape, fortran)?
            }
            _ => return Err(bad("ndarray data is neither bytes nor an object list")),
        };
        return Ok(Value::Array(Arc::new(arr)));
    }
    if is_numpy(class, "numeric", "_frombuffer") {
        // _frombuffer(buffer, dtype, shape, order)
        let [buf, dtype, shape, order] = args.as_slice() else {
            return Err(bad("_frombuffer with unexpected arguments"));
        };
        let Value::Bytes(b) = buf else {
            return Err(bad("_frombuffer without in-band bytes"));
        };
        let dtype = dtype_of(dtype)?;
        let shape = shape_of(shape)?;
        let fortran = order.as_str() == Some("F");
        return Ok(Value::Array(Arc::new(NdArray::from_raw(
            b, &dtype, shape, fortran,
        )?)));
    }
    if is_numpy(class, "multiarray", "scalar") {
        let [dtype, data] = args.as_slice() else {
            return Err(bad("numpy scalar with unexpected arguments"));
        };
        let dtype = dtype_of(dtype)?;
        if dtype.kind == Kind::Object {
            return Ok(data.clone());
        }
        let Value::Bytes(b) = data else {
            return Err(bad("numpy scalar without bytes"));
        };
        let arr = NdArray::from_raw(b, &dtype, Vec::new(), false)?;
        return Ok(scalar_of(arr));
    }
    match class {
        "_codecs.encode" => {
            // Protocol 2 writes bytes as _codecs.encode(text, 'latin1').
            let [Value::Str(s), Value::Str(enc)] = args.as_slice() else {
                return Err(bad("_codecs.encode with unexpected arguments"));
            };
            if enc != "latin1" && enc != "latin-1" {
                return Err(bad(format!("_codecs.encode with encoding '{enc}'")));
            }
            let bytes: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(c).ok()).collect();
            let bytes = bytes.ok_or_else(|| bad("latin1 text out of range"))?;
            Ok(Value::Bytes(bytes.into()))
        }
        "builtins.bytearray" | "builtins.bytes" => match args.as_slice() {
            [] => Ok(Value::Bytes(Vec::new().into())),
            [Value::Bytes(b)] => Ok(Value::Bytes(b.clone())),
            [v @ Value::Str(_), Value::Str(_)] => numpy_object(
                "_codecs.encode",
                vec![v.clone(), Value::Str("latin1".into())],
                Value::None,
            ),
            _ => Err(bad("bytearray with unexpected arguments")),
        },
        "builtins.set" | "builtins.frozenset" => match args.into_iter().next() {
            Some(v @ Value::List(_)) => Ok(v),
            None => Ok(Value::List(Vec::new())),
            Some(_) => Err(bad("set with unexpected arguments")),
        },
        "builtins.slice" | "builtins.complex" | "builtins.float" | "builtins.int" => {
            Ok(Value::Object(Box::new(Object {
                class: class.into(),
                args,
                state,
            })))
        }
        _ => Ok(Value::Object(Box::new(Object {
            class: class.into(),
            args,
            state,
        }))),
    }
}

pub(super) fn scalar_of(arr: NdArray) -> Value {
    use crate::serving::flavors::value::ArrayData as D;
    match arr.data {
        D::Bool(v) => v.first().map_or(Value::None, |&b| Value::Bool(b)),
        D::I64(v) => v.first().map_or(Value::None, |&i| Value::Int(i)),
        D::F64(v) => v.first().map_or(Value::None, |&f| Value::Float(f)),
        D::Str(v) => v.into_iter().next().map_or(Value::None, Value::Str),
        other => Value::Array(Arc::new(NdArray {
            shape: Vec::new(),
            data: other,
            f32: false,
        })),
    }
}

pub(super) fn shape_of(v: &Value) -> LoadResult<Vec<usize>> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|d| {
                d.as_i64()
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| bad("array shape has a negative or non-integer dimension"))
            })
            .collect(),
        Value::Int(i) => {
            Ok(vec![usize::try_from(*i).map_err(|_| {
                bad("array shape has a negative dimension")
            })?])
        }
        _ => Err(bad("array shape is not a tuple")),
    }
}

/// Reads a pickled `numpy.dtype(name, align, copy)` with its `BUILD` state
/// `(version, byteorder, subarray, names, fields, itemsize, alignment, flags)`.
pub(crate) fn dtype_of(v: &Value) -> LoadResult<DType> {
    dtype_depth(v, 0)
}

pub(super) fn dtype_depth(v: &Value, depth: usize) -> LoadResult<DType> {
    if depth > 8 {
        return Err(bad("dtype nests too deeply"));
    }
    let Value::Object(o) = v else {
        return Err(bad(format!(
            "expected a numpy dtype, found {}",
            v.type_name()
        )));
    };
    if o.class != "numpy.dtype" {
        return Err(bad(format!("expected a numpy dtype, found {}", o.class)));
    }
    let name = o
        .args
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| bad("numpy dtype without a name"))?;
    let mut dt = DType::from_constructor(name)?;
    if let Some(st) = o.state.as_seq() {
        if let Some(order) = st.get(1).and_then(Value::as_str) {
            dt.big_endian = order == ">";
        }
        if st.get(2).is_some_and(|s| !s.is_none()) {
            return Err(LoadError::unsupported(
                "numpy sub-array dtypes are not supported",
            ));
        }
        let names = st.get(3);
        let fields = st.get(4);
        if let (Some(Value::Tuple(names)), Some(Value::Dict(fields))) = (names, fields) {
            let mut out = Vec::with_capacity(names.len());
            for n in names {
                let n = n
                    .as_str()
                    .ok_or_else(|| bad("record field name is not text"))?;
                let f = fields
                    .iter()
                    .find_map(|(k, v)| (k.as_str() == Some(n)).then_some(v))
                    .and_then(Value::as_seq)
                    .ok_or_else(|| bad(format!("record field '{n}' has no description")))?;
                let fdt = dtype_depth(
                    f.first().ok_or_else(|| bad("record field without dtype"))?,
                    depth + 1,
                )?;
                let off = f
                    .get(1)
                    .and_then(Value::as_i64)
                    .and_then(|o| usize::try_from(o).ok())
                    .ok_or_else(|| bad("record field without offset"))?;
                out.push((n.to_string(), fdt, off));
            }
            dt.fields = Some(out);
        }
        if let Some(size) = st.get(5).and_then(Value::as_i64) {
            if size > 0 && matches!(dt.kind, Kind::Void) {
                dt.itemsize = usize::try_from(size).map_err(|_| bad("bad itemsize"))?;
            }
        }
    }
    Ok(dt)
}
