//! The inert data tree that both the pickle interpreter and the skops reader produce, and the
//! typed n-dimensional arrays inside it (an object array holds values, so both live here).
//! Nothing in it is executable: a class is only a name.

use std::sync::Arc;

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::{MAX_DIMS, MAX_ELEMENTS};

/// A Python value as read from an artifact.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Arc<[u8]>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Keys in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A reference to a class or function (`module.qualname`), never resolved.
    Global(String),
    /// An instance: its class, the constructor arguments, and the state `BUILD`/`__setstate__`
    /// would have set (usually a dict of attributes).
    Object(Box<Object>),
    Array(SharedArray),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub class: String,
    pub args: Vec<Value>,
    pub state: Value,
}

impl Value {
    pub fn type_name(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Float(_) => "float".into(),
            Value::Str(_) => "str".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::List(_) => "list".into(),
            Value::Tuple(_) => "tuple".into(),
            Value::Dict(_) => "dict".into(),
            Value::Global(g) => format!("class {g}"),
            Value::Object(o) => o.class.clone(),
            Value::Array(_) => "numpy.ndarray".into(),
        }
    }

    /// The class of an object (`None` for plain values).
    pub fn class(&self) -> Option<&str> {
        match self {
            Value::Object(o) => Some(&o.class),
            _ => None,
        }
    }

    /// The short class name (`DecisionTreeClassifier`).
    pub fn short_class(&self) -> &str {
        match self {
            Value::Object(o) => o.class.rsplit('.').next().unwrap_or(&o.class),
            _ => "value",
        }
    }

    /// Looks up a string key of a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().find_map(|(k, v)| match k {
                Value::Str(s) if s == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// An attribute of an object (its state dict), or a key of a dict.
    pub fn attr(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(o) => match &o.state {
                // Cython classes may pickle their state as (dict, slots) or the like.
                Value::Tuple(t) => t.iter().find_map(|s| s.get(name)),
                s => s.get(name),
            },
            Value::Dict(_) => self.get(name),
            _ => None,
        }
    }

    /// A required attribute, with an error naming the class and the attribute.
    pub fn req(&self, name: &str) -> LoadResult<&Value> {
        self.attr(name).ok_or_else(|| {
            LoadError::invalid(format!("{} has no attribute '{name}'", self.short_class()))
        })
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A number (a Python int/float/bool, a numpy scalar, or a one-element array).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Array(a) if a.len() == 1 => match &a.data {
                ArrayData::F64(v) => v.first().copied(),
                ArrayData::I64(v) => v.first().map(|&i| i as f64),
                ArrayData::Bool(v) => v.first().map(|&b| f64::from(u8::from(b))),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            Value::Array(a) if a.len() == 1 => match &a.data {
                ArrayData::I64(v) => v.first().copied(),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::Array(a) if a.len() == 1 => match &a.data {
                ArrayData::Bool(v) => v.first().copied(),
                ArrayData::I64(v) => v.first().map(|&i| i != 0),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&NdArray> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// A sequence of numbers: a numeric array (any shape, flattened) or a list of numbers.
    pub fn to_f64_vec(&self) -> Option<Vec<f64>> {
        match self {
            Value::Array(a) => match &a.data {
                ArrayData::F64(v) => Some(v.clone()),
                ArrayData::I64(v) => Some(v.iter().map(|&i| i as f64).collect()),
                ArrayData::Bool(v) => Some(v.iter().map(|&b| f64::from(u8::from(b))).collect()),
                ArrayData::Object(v) => v.iter().map(Value::as_f64).collect(),
                _ => None,
            },
            Value::List(v) | Value::Tuple(v) => v.iter().map(Value::as_f64).collect(),
            _ => self.as_f64().map(|x| vec![x]),
        }
    }

    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        match self {
            Value::Array(a) => match &a.data {
                ArrayData::I64(v) => Some(v.clone()),
                ArrayData::Bool(v) => Some(v.iter().map(|&b| i64::from(b)).collect()),
                ArrayData::Object(v) => v.iter().map(Value::as_i64).collect(),
                ArrayData::F64(v) => v
                    .iter()
                    .map(|&f| (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64))
                    .collect(),
                _ => None,
            },
            Value::List(v) | Value::Tuple(v) => v.iter().map(Value::as_i64).collect(),
            _ => self.as_i64().map(|x| vec![x]),
        }
    }

    /// A sequence of strings (a unicode/object array or a list of str).
    pub fn to_str_vec(&self) -> Option<Vec<String>> {
        match self {
            Value::Array(a) => match &a.data {
                ArrayData::Str(v) => Some(v.clone()),
                ArrayData::Object(v) => v.iter().map(|x| x.as_str().map(String::from)).collect(),
                _ => None,
            },
            Value::List(v) | Value::Tuple(v) => {
                v.iter().map(|x| x.as_str().map(String::from)).collect()
            }
            _ => None,
        }
    }

    /// Shape of an array value (a list counts as one dimension).
    pub fn shape(&self) -> Option<Vec<usize>> {
        match self {
            Value::Array(a) => Some(a.shape.clone()),
            Value::List(v) | Value::Tuple(v) => Some(vec![v.len()]),
            _ => None,
        }
    }
}

/// Decoded array elements, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    Bool(Vec<bool>),
    I64(Vec<i64>),
    /// Unsigned integers too large for i64 are refused; all others land in `I64`.
    F64(Vec<f64>),
    Str(Vec<String>),
    Bytes(Vec<Vec<u8>>),
    Object(Vec<Value>),
    /// One column per named field of a record dtype (padding fields dropped).
    Record(Vec<(String, ArrayData)>),
}

impl ArrayData {
    pub fn len(&self) -> usize {
        match self {
            ArrayData::Bool(v) => v.len(),
            ArrayData::I64(v) => v.len(),
            ArrayData::F64(v) => v.len(),
            ArrayData::Str(v) => v.len(),
            ArrayData::Bytes(v) => v.len(),
            ArrayData::Object(v) => v.len(),
            ArrayData::Record(f) => f.first().map_or(0, |(_, d)| d.len()),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A decoded numpy array.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    pub shape: Vec<usize>,
    pub data: ArrayData,
    /// The source dtype was a float of 4 bytes (values are still stored as f64).
    pub f32: bool,
}

/// Checked product of a shape, capped at [`MAX_ELEMENTS`].
pub fn element_count(shape: &[usize]) -> LoadResult<usize> {
    if shape.len() > MAX_DIMS {
        return Err(LoadError::invalid(format!(
            "array has {} dimensions (limit {MAX_DIMS})",
            shape.len()
        )));
    }
    let mut n: usize = 1;
    for &d in shape {
        n = n
            .checked_mul(d)
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| {
                LoadError::invalid(format!(
                    "array shape {shape:?} has more than {MAX_ELEMENTS} elements"
                ))
            })?;
    }
    Ok(n)
}

/// Reorders Fortran-order data into C order.
pub fn fortran_to_c(data: ArrayData, shape: &[usize]) -> ArrayData {
    if shape.len() < 2 {
        return data;
    }
    let n: usize = shape.iter().product();
    // For each C index, the F index of the same element.
    let perm: Vec<usize> = (0..n)
        .map(|c| {
            let mut rem = c;
            let mut idx = vec![0usize; shape.len()];
            for (d, &s) in shape.iter().enumerate().rev() {
                if s > 0 {
                    idx[d] = rem % s;
                    rem /= s;
                }
            }
            let mut f = 0usize;
            for (d, &s) in shape.iter().enumerate().rev() {
                f = f * s + idx[d];
            }
            f
        })
        .collect();
    fn pick<T: Clone>(v: Vec<T>, perm: &[usize]) -> Vec<T> {
        perm.iter().filter_map(|&i| v.get(i).cloned()).collect()
    }
    match data {
        ArrayData::Bool(v) => ArrayData::Bool(pick(v, &perm)),
        ArrayData::I64(v) => ArrayData::I64(pick(v, &perm)),
        ArrayData::F64(v) => ArrayData::F64(pick(v, &perm)),
        ArrayData::Str(v) => ArrayData::Str(pick(v, &perm)),
        ArrayData::Bytes(v) => ArrayData::Bytes(pick(v, &perm)),
        ArrayData::Object(v) => ArrayData::Object(pick(v, &perm)),
        ArrayData::Record(f) => ArrayData::Record(
            f.into_iter()
                .map(|(n, d)| (n, fortran_to_c(d, shape)))
                .collect(),
        ),
    }
}

impl NdArray {
    /// An array of Python objects (pickled object arrays, skops JSON arrays).
    pub fn from_objects(
        values: Vec<Value>,
        shape: Vec<usize>,
        fortran: bool,
    ) -> LoadResult<NdArray> {
        let count = element_count(&shape)?;
        if values.len() != count {
            return Err(LoadError::invalid(format!(
                "object array has {} items but its shape {shape:?} needs {count}",
                values.len()
            )));
        }
        let mut data = ArrayData::Object(values);
        if fortran {
            data = fortran_to_c(data, &shape);
        }
        Ok(NdArray {
            shape,
            data,
            f32: false,
        })
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A shared array inside a [`Value`] tree.
pub type SharedArray = Arc<NdArray>;
