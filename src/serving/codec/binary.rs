//! Tensors as raw bytes: the Open Inference Protocol's binary tensor data extension over HTTP
//! (`Inference-Header-Content-Length`, `binary_data_size`) and gRPC's `raw_input_contents` /
//! `raw_output_contents`. Both use Triton's layout: elements row-major and little-endian, `BOOL`
//! one byte each, `BYTES` each element as a 4-byte little-endian length followed by its bytes.
//! Pure functions; every length is checked against the bytes actually present before anything
//! is allocated from it.

use super::frame::cast;
use super::json::J;
use super::{DecodeError, Result};
use crate::serving::tensor::{DType, Data};

fn bad(msg: impl Into<String>) -> DecodeError {
    DecodeError::BadRequest(msg.into())
}

/// Bytes one element of `dtype` takes, `None` for `BYTES` (variable).
pub fn element_size(dtype: DType) -> Option<usize> {
    Some(match dtype {
        DType::I8 | DType::U8 | DType::Bool => 1,
        DType::I16 | DType::U16 => 2,
        DType::F32 | DType::I32 | DType::U32 => 4,
        DType::F64 | DType::I64 | DType::U64 => 8,
        DType::Str => return None,
    })
}

/// Decode `count` elements of `dtype` from `bytes`, which must hold exactly those elements.
/// `what` names the tensor in errors.
pub fn decode_raw(what: &str, dtype: DType, count: usize, bytes: &[u8]) -> Result<Data> {
    macro_rules! fixed {
        ($variant:ident, $t:ty) => {{
            const W: usize = std::mem::size_of::<$t>();
            Data::$variant(
                bytes
                    .chunks_exact(W)
                    .map(|c| {
                        let mut a = [0u8; W];
                        a.copy_from_slice(c);
                        <$t>::from_le_bytes(a)
                    })
                    .collect(),
            )
        }};
    }
    if let Some(w) = element_size(dtype) {
        let want = count
            .checked_mul(w)
            .ok_or_else(|| bad(format!("{what}: the shape is too large")))?;
        if bytes.len() != want {
            return Err(bad(format!(
                "{what}: {count} elements of {} take {want} bytes, but {} were sent",
                dtype.kserve_name(),
                bytes.len()
            )));
        }
    }
    Ok(match dtype {
        DType::F32 => fixed!(F32, f32),
        DType::F64 => fixed!(F64, f64),
        DType::I8 => fixed!(I8, i8),
        DType::I16 => fixed!(I16, i16),
        DType::I32 => fixed!(I32, i32),
        DType::I64 => fixed!(I64, i64),
        DType::U8 => fixed!(U8, u8),
        DType::U16 => fixed!(U16, u16),
        DType::U32 => fixed!(U32, u32),
        DType::U64 => fixed!(U64, u64),
        DType::Bool => Data::Bool(bytes.iter().map(|&b| b != 0).collect()),
        DType::Str => Data::Str(decode_bytes(what, count, bytes)?),
    })
}

/// `BYTES` elements: each a 4-byte little-endian length and that many bytes of UTF-8.
fn decode_bytes(what: &str, count: usize, bytes: &[u8]) -> Result<Vec<String>> {
    // Each element needs at least its 4-byte length, so this bounds the allocation by the body.
    let mut out = Vec::with_capacity(count.min(bytes.len() / 4));
    let mut rest = bytes;
    for i in 0..count {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(bad(format!(
                "{what}: BYTES element {i} has no 4-byte length (the data ends after {} elements)",
                i
            )));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return Err(bad(format!(
                "{what}: BYTES element {i} declares {len} bytes but only {} remain",
                tail.len()
            )));
        }
        let (s, tail) = tail.split_at(len);
        let s = std::str::from_utf8(s)
            .map_err(|_| bad(format!("{what}: BYTES element {i} is not UTF-8 text")))?;
        out.push(s.to_owned());
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "{what}: {} bytes are left over after {count} BYTES elements",
            rest.len()
        )));
    }
    Ok(out)
}

/// Append `data` in the raw layout.
pub fn encode_raw(data: &Data, out: &mut Vec<u8>) {
    macro_rules! fixed {
        ($v:expr) => {{
            out.reserve(std::mem::size_of_val($v.as_slice()));
            for x in $v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }};
    }
    match data {
        Data::F32(v) => fixed!(v),
        Data::F64(v) => fixed!(v),
        Data::I8(v) => fixed!(v),
        Data::I16(v) => fixed!(v),
        Data::I32(v) => fixed!(v),
        Data::I64(v) => fixed!(v),
        Data::U8(v) => out.extend_from_slice(v),
        Data::U16(v) => fixed!(v),
        Data::U32(v) => fixed!(v),
        Data::U64(v) => fixed!(v),
        Data::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        Data::Str(v) => {
            for s in v {
                // An element longer than 4 GiB cannot be produced within the body limits.
                let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&s.as_bytes()[..len as usize]);
            }
        }
    }
}

/// The size of `data` in the raw layout.
pub fn raw_len(data: &Data) -> usize {
    match (element_size(data.dtype()), data) {
        (_, Data::Str(v)) => v.iter().map(|s| 4 + s.len()).sum(),
        (Some(w), d) => w * d.len(),
        (None, _) => 0,
    }
}

/// Convert elements to the model's type, as numpy's `astype` would (the same rules as JSON
/// numbers: integers that do not fit are refused, floats are narrowed).
pub fn convert(data: Data, to: DType) -> Result<Data> {
    if data.dtype() == to {
        return Ok(data);
    }
    // Through JSON scalars, so every conversion follows one set of rules.
    let cells: Vec<J> = match data {
        Data::F32(v) => v.into_iter().map(|x| J::Float(f64::from(x))).collect(),
        Data::F64(v) => v.into_iter().map(J::Float).collect(),
        Data::I8(v) => v.into_iter().map(|x| J::Int(x.into())).collect(),
        Data::I16(v) => v.into_iter().map(|x| J::Int(x.into())).collect(),
        Data::I32(v) => v.into_iter().map(|x| J::Int(x.into())).collect(),
        Data::I64(v) => v.into_iter().map(J::Int).collect(),
        Data::U8(v) => v.into_iter().map(|x| J::UInt(x.into())).collect(),
        Data::U16(v) => v.into_iter().map(|x| J::UInt(x.into())).collect(),
        Data::U32(v) => v.into_iter().map(|x| J::UInt(x.into())).collect(),
        Data::U64(v) => v.into_iter().map(J::UInt).collect(),
        Data::Bool(v) => v.into_iter().map(J::Bool).collect(),
        Data::Str(v) => v.into_iter().map(J::Str).collect(),
    };
    let refs: Vec<&J> = cells.iter().collect();
    cast(&refs, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_datatype_round_trips() {
        for data in [
            Data::F32(vec![1.5, -0.0, f32::MAX]),
            Data::F64(vec![0.1, 2.0]),
            Data::I8(vec![-128, 127]),
            Data::I16(vec![-3, 4]),
            Data::I32(vec![i32::MIN, 9]),
            Data::I64(vec![i64::MAX, -1]),
            Data::U8(vec![0, 255]),
            Data::U16(vec![65535]),
            Data::U32(vec![7, 8, 9]),
            Data::U64(vec![u64::MAX]),
            Data::Bool(vec![true, false, true]),
            Data::Str(vec!["setosa".into(), String::new(), "é".into()]),
        ] {
            let mut raw = Vec::new();
            encode_raw(&data, &mut raw);
            assert_eq!(raw.len(), raw_len(&data));
            let back = decode_raw("x", data.dtype(), data.len(), &raw).unwrap();
            assert_eq!(back, data);
        }
    }

    #[test]
    fn the_layout_is_tritons() {
        let mut raw = Vec::new();
        encode_raw(&Data::F32(vec![1.0]), &mut raw);
        assert_eq!(raw, 1.0f32.to_le_bytes());
        raw.clear();
        encode_raw(&Data::Str(vec!["ab".into()]), &mut raw);
        assert_eq!(raw, [2, 0, 0, 0, b'a', b'b']);
    }

    #[test]
    fn wrong_lengths_are_refused_without_allocating_from_them() {
        for (dtype, count, bytes, text) in [
            (DType::F32, 2, &[0u8; 7][..], "take 8 bytes, but 7"),
            (DType::F32, usize::MAX, &[0u8; 4][..], "too large"),
            (DType::Str, 1, &[5, 0, 0, 0, b'a'][..], "declares 5 bytes"),
            (DType::Str, 2, &[1, 0, 0, 0, b'a'][..], "no 4-byte length"),
            (DType::Str, 1, &[1, 0, 0, 0, b'a', 0][..], "left over"),
            (DType::Str, 1, &[1, 0, 0, 0, 0xff][..], "not UTF-8"),
            (
                DType::Str,
                usize::MAX,
                &[0xff, 0xff, 0xff, 0xff][..],
                "declares",
            ),
        ] {
            let e = decode_raw("input 'X'", dtype, count, bytes).unwrap_err();
            assert!(e.message().contains(text), "{e:?}");
            assert!(e.message().starts_with("input 'X'"), "{e:?}");
        }
    }

    #[test]
    fn conversion_follows_numpy() {
        assert_eq!(
            convert(Data::F64(vec![1.5]), DType::F32).unwrap(),
            Data::F32(vec![1.5])
        );
        assert_eq!(
            convert(Data::I64(vec![3]), DType::F32).unwrap(),
            Data::F32(vec![3.0])
        );
        assert!(convert(Data::I64(vec![300]), DType::U8).is_err());
        assert!(convert(Data::Str(vec!["x".into()]), DType::F32).is_err());
    }
}
