//! Merging requests into one engine call and splitting the answer back: the tensor arithmetic of
//! adaptive batching ([`super::pool::Batching`]). Pure functions; `None` whenever requests do not
//! line up (then the pool runs them one by one).

use super::tensor::{Data, Tensor, Value, ZipMap};

/// Append `src` to `dst` when both hold the same element type.
fn extend(dst: &mut Data, src: &Data) -> bool {
    macro_rules! same {
        ($($v:ident),*) => {
            match (dst, src) {
                $((Data::$v(d), Data::$v(s)) => {
                    d.extend_from_slice(s);
                    true
                })*
                _ => false,
            }
        };
    }
    same!(F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str)
}

/// `data[from..from + len]` as its own `Data`.
fn slice(data: &Data, from: usize, len: usize) -> Option<Data> {
    macro_rules! part {
        ($($v:ident),*) => {
            match data {
                $(Data::$v(v) => Data::$v(v.get(from..from.checked_add(len)?)?.to_vec()),)*
            }
        };
    }
    Some(part!(
        F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool, Str
    ))
}

/// The requests' inputs concatenated along the first axis, or `None` when they differ in count,
/// types or any dimension but the first.
pub fn concat<'a>(mut requests: impl Iterator<Item = &'a [Tensor]>) -> Option<Vec<Tensor>> {
    let first = requests.next()?;
    let mut merged: Vec<Tensor> = first.to_vec();
    if merged.iter().any(|t| t.shape.is_empty()) {
        return None;
    }
    for inputs in requests {
        if inputs.len() != merged.len() {
            return None;
        }
        for (m, t) in merged.iter_mut().zip(inputs) {
            if t.shape.len() != m.shape.len() || t.shape[1..] != m.shape[1..] {
                return None;
            }
            if !extend(&mut m.data, &t.data) {
                return None;
            }
            m.shape[0] += t.shape[0];
        }
    }
    Some(merged)
}

/// Split a batch's outputs into one answer per request, `rows[i]` rows each, or `None` when an
/// output does not have one row per input row.
pub fn split(outputs: Vec<Value>, rows: &[usize]) -> Option<Vec<Vec<Value>>> {
    let total: usize = rows.iter().sum();
    let mut answers: Vec<Vec<Value>> = rows
        .iter()
        .map(|_| Vec::with_capacity(outputs.len()))
        .collect();
    for out in &outputs {
        match out {
            Value::Tensor(t) => {
                let (&n, rest) = t.shape.split_first()?;
                if n != total {
                    return None;
                }
                let stride: usize = rest.iter().product();
                let mut from = 0;
                for (answer, &r) in answers.iter_mut().zip(rows) {
                    let mut shape = t.shape.clone();
                    shape[0] = r;
                    let data = slice(&t.data, from, r * stride)?;
                    from += r * stride;
                    answer.push(Value::Tensor(Tensor { shape, data }));
                }
            }
            Value::ZipMap(z) => {
                if z.rows() != total {
                    return None;
                }
                let k = z.keys.len();
                let mut from = 0;
                for (answer, &r) in answers.iter_mut().zip(rows) {
                    let values = z.values.get(from..from + r * k)?.to_vec();
                    from += r * k;
                    answer.push(Value::ZipMap(ZipMap {
                        keys: z.keys.clone(),
                        values,
                    }));
                }
            }
        }
    }
    Some(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::tensor::MapKeys;

    fn t(shape: Vec<usize>, v: Vec<f32>) -> Tensor {
        Tensor::new(shape, Data::F32(v))
    }

    #[test]
    fn concat_then_split_gives_each_request_its_rows() {
        let a = vec![
            t(vec![1, 2], vec![1.0, 2.0]),
            Tensor::new(vec![1], Data::Str(vec!["a".into()])),
        ];
        let b = vec![
            t(vec![2, 2], vec![3.0, 4.0, 5.0, 6.0]),
            Tensor::new(vec![2], Data::Str(vec!["b".into(), "c".into()])),
        ];
        let merged = concat([a.as_slice(), b.as_slice()].into_iter()).unwrap();
        assert_eq!(merged[0], t(vec![3, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        assert_eq!(merged[1].shape, vec![3]);
        // An "engine" answering labels and ZipMap probabilities per row.
        let out = vec![
            Value::Tensor(Tensor::new(vec![3], Data::I64(vec![10, 20, 30]))),
            Value::ZipMap(ZipMap {
                keys: MapKeys::I64(vec![0, 1]),
                values: vec![0.1, 0.9, 0.2, 0.8, 0.3, 0.7],
            }),
        ];
        let parts = split(out, &[1, 2]).unwrap();
        assert_eq!(
            parts[0][0],
            Value::Tensor(Tensor::new(vec![1], Data::I64(vec![10])))
        );
        assert_eq!(
            parts[1][0],
            Value::Tensor(Tensor::new(vec![2], Data::I64(vec![20, 30])))
        );
        let Value::ZipMap(z) = &parts[1][1] else {
            panic!()
        };
        assert_eq!(z.values, vec![0.2, 0.8, 0.3, 0.7]);
    }

    #[test]
    fn requests_that_do_not_line_up_are_not_merged() {
        let a = vec![t(vec![1, 2], vec![1.0, 2.0])];
        for b in [
            vec![t(vec![1, 3], vec![1.0, 2.0, 3.0])],
            vec![Tensor::new(vec![1, 2], Data::F64(vec![1.0, 2.0]))],
            vec![t(vec![1, 2], vec![1.0, 2.0]), t(vec![1, 2], vec![1.0, 2.0])],
            vec![t(vec![2], vec![1.0, 2.0])],
        ] {
            assert!(concat([a.as_slice(), b.as_slice()].into_iter()).is_none());
        }
        let scalar = vec![Tensor::new(vec![], Data::F32(vec![1.0]))];
        assert!(concat([scalar.as_slice(), scalar.as_slice()].into_iter()).is_none());
        // An output that is not one row per input row cannot be split.
        let summed = vec![Value::Tensor(t(vec![1], vec![3.0]))];
        assert!(split(summed, &[1, 1]).is_none());
    }
}
