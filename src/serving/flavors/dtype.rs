//! numpy dtypes, and arrays decoded from numpy's raw bytes (pickled `ndarray`s and `.npy`
//! files), including structured dtypes such as a scikit-learn tree's `nodes`.

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::limits::MAX_FILE_BYTES;
use crate::serving::flavors::value::{element_count, fortran_to_c, ArrayData, NdArray};

/// The element kind of a numpy dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Bool,
    Int,
    UInt,
    Float,
    /// `U<n>`: UCS-4 text of at most n characters.
    Unicode,
    /// `S<n>`: bytes of at most n.
    Bytes,
    /// `O`: Python objects (only in pickles, where the data is a list).
    Object,
    /// `V<n>`: raw bytes, or a record when `fields` is set.
    Void,
}

/// A numpy dtype: kind, item size in bytes, byte order and (for records) fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DType {
    pub kind: Kind,
    pub itemsize: usize,
    pub big_endian: bool,
    /// Record fields: name, dtype, byte offset within the item.
    pub fields: Option<Vec<(String, DType, usize)>>,
}

impl DType {
    /// Parses a simple type string such as `<f8`, `|b1`, `>i4`, `<U5`, `|S3`, `|V64`, `O`, `f8`.
    pub fn parse(s: &str) -> LoadResult<DType> {
        let bad = || LoadError::invalid(format!("unsupported numpy dtype '{s}'"));
        let (order, rest) = match s.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (c, &s[1..]),
            _ => ('=', s),
        };
        let mut chars = rest.chars();
        let code = chars.next().ok_or_else(bad)?;
        let num = chars.as_str();
        let n: usize = if num.is_empty() {
            0
        } else {
            if num.len() > 12 || !num.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            num.parse().map_err(|_| bad())?
        };
        let (kind, itemsize) = match code {
            '?' => (Kind::Bool, 1),
            'b' if num.is_empty() => (Kind::Int, 1),
            'B' if num.is_empty() => (Kind::UInt, 1),
            'b' if n == 1 => (Kind::Bool, 1),
            'i' => (Kind::Int, n),
            'u' => (Kind::UInt, n),
            'f' => (Kind::Float, n),
            'd' if num.is_empty() => (Kind::Float, 8),
            'l' | 'q' if num.is_empty() => (Kind::Int, 8),
            'U' => (Kind::Unicode, n.checked_mul(4).ok_or_else(bad)?),
            'S' | 'a' => (Kind::Bytes, n),
            'V' => (Kind::Void, n),
            'O' => (Kind::Object, 8),
            _ => return Err(bad()),
        };
        match kind {
            Kind::Int | Kind::UInt if ![1, 2, 4, 8].contains(&itemsize) => return Err(bad()),
            Kind::Float if ![2, 4, 8].contains(&itemsize) => return Err(bad()),
            _ => {}
        }
        Ok(DType {
            kind,
            itemsize,
            big_endian: order == '>',
            fields: None,
        })
    }

    /// The dtype named by numpy's `dtype(...)` constructor argument (`'f8'`, `'i8'`, `'U3'`, `'V64'`...).
    pub fn from_constructor(name: &str) -> LoadResult<DType> {
        match name {
            "bool" | "bool_" => DType::parse("|b1"),
            "int64" | "long" | "int" => DType::parse("<i8"),
            "int32" => DType::parse("<i4"),
            "int16" => DType::parse("<i2"),
            "int8" => DType::parse("|i1"),
            "uint8" => DType::parse("|u1"),
            "uint16" => DType::parse("<u2"),
            "uint32" => DType::parse("<u4"),
            "uint64" => DType::parse("<u8"),
            "float64" | "float" | "double" => DType::parse("<f8"),
            "float32" => DType::parse("<f4"),
            "float16" => DType::parse("<f2"),
            "object" => DType::parse("|O"),
            "str" => DType::parse("<U0"),
            _ => DType::parse(name),
        }
    }
}

fn take<const N: usize>(b: &[u8], big: bool) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, i) in out.iter_mut().zip(b.iter()) {
        *o = *i;
    }
    if big {
        out.reverse();
    }
    out
}

fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// Decodes `count` items of `dtype` from `raw` (which must hold exactly `count * itemsize`
/// bytes, or more when `allow_extra`).
pub fn decode(raw: &[u8], dtype: &DType, count: usize) -> LoadResult<ArrayData> {
    let need = count
        .checked_mul(dtype.itemsize)
        .filter(|&n| n as u64 <= MAX_FILE_BYTES)
        .ok_or_else(|| LoadError::invalid("array data size overflows"))?;
    if raw.len() != need {
        return Err(LoadError::invalid(format!(
            "array data has {} bytes but its shape and dtype need {need}",
            raw.len()
        )));
    }
    decode_strided(raw, dtype, count, dtype.itemsize, 0)
}

/// Decodes `count` items that start at `offset` within records of `stride` bytes.
fn decode_strided(
    raw: &[u8],
    dtype: &DType,
    count: usize,
    stride: usize,
    offset: usize,
) -> LoadResult<ArrayData> {
    let size = dtype.itemsize;
    let item = |i: usize| -> LoadResult<&[u8]> {
        let start = i
            .checked_mul(stride)
            .and_then(|s| s.checked_add(offset))
            .ok_or_else(|| LoadError::invalid("array offset overflows"))?;
        raw.get(start..start.saturating_add(size))
            .filter(|s| s.len() == size)
            .ok_or_else(|| LoadError::invalid("array data is shorter than its shape"))
    };
    let big = dtype.big_endian;
    if let Some(fields) = &dtype.fields {
        let mut out = Vec::with_capacity(fields.len());
        for (name, fdt, foff) in fields {
            if name.is_empty() {
                continue;
            }
            let end = foff.checked_add(fdt.itemsize);
            if end.is_none_or(|e| e > dtype.itemsize) {
                return Err(LoadError::invalid(format!(
                    "record field '{name}' lies outside its item"
                )));
            }
            let off = offset
                .checked_add(*foff)
                .ok_or_else(|| LoadError::invalid("array offset overflows"))?;
            out.push((name.clone(), decode_strided(raw, fdt, count, stride, off)?));
        }
        return Ok(ArrayData::Record(out));
    }
    Ok(match dtype.kind {
        Kind::Bool => {
            let mut v = Vec::with_capacity(count);
            for i in 0..count {
                v.push(item(i)?.iter().any(|&b| b != 0));
            }
            ArrayData::Bool(v)
        }
        Kind::Int | Kind::UInt => {
            let signed = dtype.kind == Kind::Int;
            let mut v = Vec::with_capacity(count);
            for i in 0..count {
                let b = item(i)?;
                let x: i64 = match (size, signed) {
                    (1, true) => i64::from(i8::from_le_bytes(take::<1>(b, big))),
                    (1, false) => i64::from(u8::from_le_bytes(take::<1>(b, big))),
                    (2, true) => i64::from(i16::from_le_bytes(take::<2>(b, big))),
                    (2, false) => i64::from(u16::from_le_bytes(take::<2>(b, big))),
                    (4, true) => i64::from(i32::from_le_bytes(take::<4>(b, big))),
                    (4, false) => i64::from(u32::from_le_bytes(take::<4>(b, big))),
                    (8, true) => i64::from_le_bytes(take::<8>(b, big)),
                    (8, false) => i64::try_from(u64::from_le_bytes(take::<8>(b, big)))
                        .map_err(|_| LoadError::invalid("uint64 value does not fit in i64"))?,
                    _ => return Err(LoadError::invalid("unsupported integer size")),
                };
                v.push(x);
            }
            ArrayData::I64(v)
        }
        Kind::Float => {
            let mut v = Vec::with_capacity(count);
            for i in 0..count {
                let b = item(i)?;
                v.push(match size {
                    2 => half_to_f64(u16::from_le_bytes(take::<2>(b, big))),
                    4 => f64::from(f32::from_le_bytes(take::<4>(b, big))),
                    8 => f64::from_le_bytes(take::<8>(b, big)),
                    _ => return Err(LoadError::invalid("unsupported float size")),
                });
            }
            ArrayData::F64(v)
        }
        Kind::Unicode => {
            let mut v = Vec::with_capacity(count);
            for i in 0..count {
                let b = item(i)?;
                let mut s = String::new();
                for ch in b.chunks_exact(4) {
                    let c = u32::from_le_bytes(take::<4>(ch, big));
                    if c == 0 {
                        break;
                    }
                    s.push(char::from_u32(c).ok_or_else(|| {
                        LoadError::invalid("unicode array holds an invalid code point")
                    })?);
                }
                v.push(s);
            }
            ArrayData::Str(v)
        }
        Kind::Bytes | Kind::Void => {
            let mut v = Vec::with_capacity(count);
            for i in 0..count {
                let b = item(i)?;
                let end = if dtype.kind == Kind::Bytes {
                    b.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1)
                } else {
                    b.len()
                };
                v.push(b.get(..end).unwrap_or_default().to_vec());
            }
            ArrayData::Bytes(v)
        }
        Kind::Object => {
            return Err(LoadError::invalid(
                "object arrays have no raw byte representation",
            ))
        }
    })
}

impl NdArray {
    /// Builds an array from raw bytes, checking the shape against the data.
    pub fn from_raw(
        raw: &[u8],
        dtype: &DType,
        shape: Vec<usize>,
        fortran: bool,
    ) -> LoadResult<NdArray> {
        let count = element_count(&shape)?;
        let mut data = decode(raw, dtype, count)?;
        if fortran {
            data = fortran_to_c(data, &shape);
        }
        Ok(NdArray {
            shape,
            data,
            f32: dtype.kind == Kind::Float && dtype.itemsize == 4,
        })
    }
}
