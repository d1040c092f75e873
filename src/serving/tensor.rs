//! The runtime's own tensor and output types: what decoders produce, backends consume and emit,
//! and encoders turn into JSON. Independent of both inference engines.

use std::fmt;

/// Element types an ONNX tensor input or output may have (the ones sklearn converters emit and
/// KServe V2 can carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    Str,
}

impl DType {
    /// numpy's name, as MLflow signatures (`tensor-spec.dtype`) and its error messages spell it.
    pub fn numpy_name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::Bool => "bool",
            DType::Str => "str",
        }
    }

    /// Parse a numpy dtype name from an MLflow signature, or an MLflow column type
    /// (`double`, `float`, `long`, `integer`, `boolean`, `string`).
    pub fn from_signature(s: &str) -> Option<DType> {
        Some(match s {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "int8" => DType::I8,
            "int16" => DType::I16,
            "int32" | "integer" => DType::I32,
            "int64" | "long" => DType::I64,
            "uint8" => DType::U8,
            "uint16" => DType::U16,
            "uint32" => DType::U32,
            "uint64" => DType::U64,
            "bool" | "boolean" => DType::Bool,
            "str" | "string" | "object" => DType::Str,
            _ => return None,
        })
    }

    /// The Open Inference Protocol (KServe V2) datatype.
    pub fn kserve_name(self) -> &'static str {
        match self {
            DType::F32 => "FP32",
            DType::F64 => "FP64",
            DType::I8 => "INT8",
            DType::I16 => "INT16",
            DType::I32 => "INT32",
            DType::I64 => "INT64",
            DType::U8 => "UINT8",
            DType::U16 => "UINT16",
            DType::U32 => "UINT32",
            DType::U64 => "UINT64",
            DType::Bool => "BOOL",
            DType::Str => "BYTES",
        }
    }

    pub fn from_kserve(s: &str) -> Option<DType> {
        Some(match s {
            "FP32" => DType::F32,
            "FP64" => DType::F64,
            "INT8" => DType::I8,
            "INT16" => DType::I16,
            "INT32" => DType::I32,
            "INT64" => DType::I64,
            "UINT8" => DType::U8,
            "UINT16" => DType::U16,
            "UINT32" => DType::U32,
            "UINT64" => DType::U64,
            "BOOL" => DType::Bool,
            "BYTES" => DType::Str,
            _ => return None,
        })
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.numpy_name())
    }
}

/// A tensor's elements, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
    Str(Vec<String>),
}

/// Apply `$body` to the vector inside a [`Data`], whatever its element type.
macro_rules! with_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::serving::tensor::Data::F32($v) => $body,
            $crate::serving::tensor::Data::F64($v) => $body,
            $crate::serving::tensor::Data::I8($v) => $body,
            $crate::serving::tensor::Data::I16($v) => $body,
            $crate::serving::tensor::Data::I32($v) => $body,
            $crate::serving::tensor::Data::I64($v) => $body,
            $crate::serving::tensor::Data::U8($v) => $body,
            $crate::serving::tensor::Data::U16($v) => $body,
            $crate::serving::tensor::Data::U32($v) => $body,
            $crate::serving::tensor::Data::U64($v) => $body,
            $crate::serving::tensor::Data::Bool($v) => $body,
            $crate::serving::tensor::Data::Str($v) => $body,
        }
    };
}

impl Data {
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::I8(_) => DType::I8,
            Data::I16(_) => DType::I16,
            Data::I32(_) => DType::I32,
            Data::I64(_) => DType::I64,
            Data::U8(_) => DType::U8,
            Data::U16(_) => DType::U16,
            Data::U32(_) => DType::U32,
            Data::U64(_) => DType::U64,
            Data::Bool(_) => DType::Bool,
            Data::Str(_) => DType::Str,
        }
    }

    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How many elements a shape holds; `None` when that overflows (a hostile shape).
pub fn num_elements(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// A dense tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Data) -> Tensor {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// Rows along the first axis (1 for a scalar).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Nested JSON lists following the shape, as numpy's `tolist()`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_nested(&self.data, &self.shape, 0, out);
    }

    /// Row `r` (the sub-tensor along the first axis) as JSON.
    pub fn write_row_json(&self, r: usize, out: &mut Vec<u8>) {
        match self.shape.split_first() {
            None => self.data.write_json_at(0, out),
            Some((_, rest)) => {
                let stride: usize = rest.iter().product();
                write_nested(&self.data, rest, r * stride, out);
            }
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut out = Vec::new();
        self.write_json(&mut out);
        serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
    }
}

fn write_nested(data: &Data, shape: &[usize], offset: usize, out: &mut Vec<u8>) {
    match shape.split_first() {
        None => data.write_json_at(offset, out),
        Some((&n, rest)) => {
            let stride: usize = rest.iter().product();
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_nested(data, rest, offset + i * stride, out);
            }
            out.push(b']');
        }
    }
}

/// A float as JSON the way Python prints a float (`0.0`, `1.0000001192092896`); JSON has no NaN or
/// infinity, so those become `null`.
pub fn write_f64(x: f64, out: &mut Vec<u8>) {
    if x.is_finite() {
        let _ = serde_json::to_writer(&mut *out, &x);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A JSON string literal.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_int(x: impl fmt::Display, out: &mut Vec<u8>) {
    use std::io::Write;
    let _ = write!(out, "{x}");
}

impl Data {
    /// Element `i` as JSON: f32 is widened to f64 as numpy's `tolist()` does, so it prints as
    /// MLflow prints it. An index out of range writes `null`.
    pub fn write_json_at(&self, i: usize, out: &mut Vec<u8>) {
        fn get<T: Copy>(v: &[T], i: usize) -> Option<T> {
            v.get(i).copied()
        }
        let written = match self {
            Data::F32(v) => get(v, i).map(|x| write_f64(f64::from(x), out)),
            Data::F64(v) => get(v, i).map(|x| write_f64(x, out)),
            Data::I8(v) => get(v, i).map(|x| write_int(x, out)),
            Data::I16(v) => get(v, i).map(|x| write_int(x, out)),
            Data::I32(v) => get(v, i).map(|x| write_int(x, out)),
            Data::I64(v) => get(v, i).map(|x| write_int(x, out)),
            Data::U8(v) => get(v, i).map(|x| write_int(x, out)),
            Data::U16(v) => get(v, i).map(|x| write_int(x, out)),
            Data::U32(v) => get(v, i).map(|x| write_int(x, out)),
            Data::U64(v) => get(v, i).map(|x| write_int(x, out)),
            Data::Bool(v) => {
                get(v, i).map(|x| out.extend_from_slice(if x { b"true" } else { b"false" }))
            }
            Data::Str(v) => v.get(i).map(|x| write_str(x, out)),
        };
        if written.is_none() {
            out.extend_from_slice(b"null");
        }
    }
}

/// The class labels of a ZipMap output: integers or strings.
#[derive(Debug, Clone, PartialEq)]
pub enum MapKeys {
    I64(Vec<i64>),
    Str(Vec<String>),
}

impl MapKeys {
    pub fn len(&self) -> usize {
        match self {
            MapKeys::I64(v) => v.len(),
            MapKeys::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Key `i` as a JSON object key (Python's `json` writes int keys as strings too).
    pub fn key(&self, i: usize) -> String {
        match self {
            MapKeys::I64(v) => v.get(i).map(i64::to_string).unwrap_or_default(),
            MapKeys::Str(v) => v.get(i).cloned().unwrap_or_default(),
        }
    }
}

/// A sequence of `{class: probability}` maps, one per row: what sklearn's ZipMap produces.
#[derive(Debug, Clone, PartialEq)]
pub struct ZipMap {
    pub keys: MapKeys,
    /// `rows * keys.len()` probabilities, row-major.
    pub values: Vec<f32>,
}

impl ZipMap {
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.keys.len()).unwrap_or(0)
    }

    /// Row `r` as MLflow returns it: `{"0": 0.9, "1": 0.1}`, keys in class order.
    pub fn write_row_json(&self, r: usize, out: &mut Vec<u8>) {
        let k = self.keys.len();
        out.push(b'{');
        for i in 0..k {
            if i > 0 {
                out.extend_from_slice(b", ");
            }
            write_str(&self.keys.key(i), out);
            out.extend_from_slice(b": ");
            match self.values.get(r * k + i) {
                Some(&x) => write_f64(f64::from(x), out),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
    }

    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for r in 0..self.rows() {
            if r > 0 {
                out.extend_from_slice(b", ");
            }
            self.write_row_json(r, out);
        }
        out.push(b']');
    }
}

/// One model output.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Tensor(Tensor),
    ZipMap(ZipMap),
}

impl Value {
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Tensor(t) => t.write_json(out),
            Value::ZipMap(z) => z.write_json(out),
        }
    }

    pub fn rows(&self) -> usize {
        match self {
            Value::Tensor(t) => t.rows(),
            Value::ZipMap(z) => z.rows(),
        }
    }

    pub fn write_row_json(&self, r: usize, out: &mut Vec<u8>) {
        match self {
            Value::Tensor(t) => t.write_row_json(r, out),
            Value::ZipMap(z) => z.write_row_json(r, out),
        }
    }

    /// For tests and small payloads: the value as a `serde_json::Value`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = Vec::new();
        self.write_json(&mut out);
        serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
    }
}

/// What a model input or output is, as far as serving cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A tensor; `-1` marks a dynamic dimension.
    Tensor { dtype: DType, shape: Vec<i64> },
    /// A sequence of maps (ZipMap).
    ZipMap { string_keys: bool },
}

/// A named model input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub kind: Kind,
}

impl Spec {
    pub fn tensor(name: &str, dtype: DType, shape: Vec<i64>) -> Spec {
        Spec {
            name: name.to_owned(),
            kind: Kind::Tensor { dtype, shape },
        }
    }

    /// KServe V2 datatype and shape for metadata.
    pub fn kserve(&self) -> (&'static str, Vec<i64>) {
        match &self.kind {
            Kind::Tensor { dtype, shape } => (dtype.kserve_name(), shape.clone()),
            Kind::ZipMap { .. } => ("FP32", vec![-1, -1]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_matches_numpy_tolist() {
        let t = Tensor::new(vec![2, 2], Data::F32(vec![1.000_000_1, 0.0, 0.05, 0.95]));
        assert_eq!(
            text(|o| t.write_json(o)),
            "[[1.0000001192092896, 0.0], [0.05000000074505806, 0.949999988079071]]"
        );
        let l = Tensor::new(vec![2], Data::I64(vec![0, 2]));
        assert_eq!(text(|o| l.write_json(o)), "[0, 2]");
        assert_eq!(text(|o| l.write_row_json(1, o)), "2");
        assert_eq!(
            text(|o| t.write_row_json(1, o)),
            "[0.05000000074505806, 0.949999988079071]"
        );
        let z = ZipMap {
            keys: MapKeys::I64(vec![0, 1, 10]),
            values: vec![0.25, 0.75, 0.0, 1.0, 0.0, 0.0],
        };
        assert_eq!(
            text(|o| z.write_json(o)),
            r#"[{"0": 0.25, "1": 0.75, "10": 0.0}, {"0": 1.0, "1": 0.0, "10": 0.0}]"#
        );
        let nan = Tensor::new(vec![1], Data::F64(vec![f64::NAN]));
        assert_eq!(nan.to_json(), serde_json::json!([null]));
        let s = Tensor::new(vec![1], Data::Str(vec!["a\"b".into()]));
        assert_eq!(text(|o| s.write_json(o)), r#"["a\"b"]"#);
        let short = Tensor {
            shape: vec![3],
            data: Data::Bool(vec![true]),
        };
        assert_eq!(text(|o| short.write_json(o)), "[true, null, null]");
    }

    #[test]
    fn dtype_names_round_trip() {
        for d in [
            DType::F32,
            DType::F64,
            DType::I8,
            DType::I16,
            DType::I32,
            DType::I64,
            DType::U8,
            DType::U16,
            DType::U32,
            DType::U64,
            DType::Bool,
            DType::Str,
        ] {
            assert_eq!(DType::from_kserve(d.kserve_name()), Some(d));
            assert_eq!(DType::from_signature(d.numpy_name()), Some(d));
        }
        assert_eq!(DType::from_signature("double"), Some(DType::F64));
        assert_eq!(DType::from_signature("nope"), None);
    }
}
