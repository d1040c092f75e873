//! `.npy` files (numpy's own format, as skops stores arrays): magic, version, a Python-literal
//! header `{'descr', 'fortran_order', 'shape'}`, then the raw data.

use crate::serving::flavors::dtype::{DType, Kind};
use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::pylit;
use crate::serving::flavors::value::NdArray;
use crate::serving::flavors::value::Value;

fn bad(msg: impl Into<String>) -> LoadError {
    LoadError::invalid(format!("npy: {}", msg.into()))
}

/// Parses a dtype description: `'<f8'`, or a record as a list of `(name, descr[, shape])`.
pub fn descr_dtype(d: &Value) -> LoadResult<DType> {
    match d {
        Value::Str(s) => DType::parse(s),
        Value::List(fields) => {
            let mut out = Vec::with_capacity(fields.len());
            let mut offset = 0usize;
            for f in fields {
                let t = f
                    .as_seq()
                    .ok_or_else(|| bad("record field is not a tuple"))?;
                if t.len() > 2 {
                    return Err(LoadError::unsupported(
                        "npy: record fields with sub-array shapes are not supported",
                    ));
                }
                let name = match t.first() {
                    Some(Value::Str(n)) => n.clone(),
                    // (('title', 'name'), descr)
                    Some(Value::Tuple(tn)) => tn
                        .get(1)
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad("bad record field name"))?
                        .to_string(),
                    _ => return Err(bad("bad record field name")),
                };
                let fdt = descr_dtype(t.get(1).ok_or_else(|| bad("record field without type"))?)?;
                let size = fdt.itemsize;
                out.push((name, fdt, offset));
                offset = offset
                    .checked_add(size)
                    .ok_or_else(|| bad("record too large"))?;
            }
            Ok(DType {
                kind: Kind::Void,
                itemsize: offset,
                big_endian: false,
                fields: Some(out),
            })
        }
        Value::Dict(_) => {
            // {'names': [...], 'formats': [...], 'offsets': [...], 'itemsize': n}
            let names = d
                .get("names")
                .and_then(Value::to_str_vec)
                .ok_or_else(|| bad("record dtype without names"))?;
            let formats = d
                .get("formats")
                .and_then(Value::as_seq)
                .ok_or_else(|| bad("record dtype without formats"))?;
            let offsets = d.get("offsets").and_then(Value::to_i64_vec);
            let mut out = Vec::with_capacity(names.len());
            let mut offset = 0usize;
            for (i, (n, f)) in names.iter().zip(formats.iter()).enumerate() {
                let fdt = descr_dtype(f)?;
                let off = match &offsets {
                    Some(o) => o
                        .get(i)
                        .and_then(|&o| usize::try_from(o).ok())
                        .ok_or_else(|| bad("bad record offset"))?,
                    None => offset,
                };
                offset = off
                    .checked_add(fdt.itemsize)
                    .ok_or_else(|| bad("record too large"))?;
                out.push((n.clone(), fdt, off));
            }
            let itemsize = match d.get("itemsize").and_then(Value::as_i64) {
                Some(s) => usize::try_from(s).map_err(|_| bad("bad itemsize"))?,
                None => offset,
            };
            Ok(DType {
                kind: Kind::Void,
                itemsize,
                big_endian: false,
                fields: Some(out),
            })
        }
        _ => Err(bad("descr is neither a string nor a list of fields")),
    }
}

/// Reads a whole `.npy` file.
pub fn read(bytes: &[u8]) -> LoadResult<NdArray> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or_else(|| bad("missing the \\x93NUMPY magic"))?;
    let (major, rest) = match rest {
        [major, _minor, rest @ ..] => (*major, rest),
        _ => return Err(bad("truncated header")),
    };
    let (hlen, rest) = match (major, rest) {
        (1, [a, b, rest @ ..]) => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        (2 | 3, [a, b, c, d, rest @ ..]) => (
            usize::try_from(u32::from_le_bytes([*a, *b, *c, *d]))
                .map_err(|_| bad("header too long"))?,
            rest,
        ),
        (1..=3, _) => return Err(bad("truncated header")),
        _ => return Err(bad(format!("unsupported format version {major}"))),
    };
    if hlen > rest.len() || hlen > 1 << 20 {
        return Err(bad(format!(
            "header declares {hlen} bytes but the file has {}",
            rest.len()
        )));
    }
    let (header, data) = rest.split_at(hlen);
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let h = pylit::parse(header.trim_end_matches(['\n', ' ', '\0']))?;
    let descr = h.get("descr").ok_or_else(|| bad("header has no 'descr'"))?;
    let dtype = descr_dtype(descr)?;
    if dtype.kind == Kind::Object {
        return Err(LoadError::refused(
            "npy: object arrays need pickle, which .npy files may not use",
        ));
    }
    let fortran = h
        .get("fortran_order")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("header has no 'fortran_order'"))?;
    let shape = h
        .get("shape")
        .and_then(Value::as_seq)
        .ok_or_else(|| bad("header has no 'shape'"))?
        .iter()
        .map(|d| {
            d.as_i64()
                .and_then(|d| usize::try_from(d).ok())
                .ok_or_else(|| bad("shape has a negative or non-integer dimension"))
        })
        .collect::<LoadResult<Vec<usize>>>()?;
    NdArray::from_raw(data, &dtype, shape, fortran).map_err(|e| e.context("npy"))
}
