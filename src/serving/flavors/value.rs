//! The inert data tree that both the pickle interpreter and the skops reader produce.
//! Nothing in it is executable: a class is only a name.

use std::sync::Arc;

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::ndarray::{ArrayData, NdArray, SharedArray};

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
