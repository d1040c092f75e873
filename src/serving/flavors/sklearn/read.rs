//! Reading a scikit-learn object's fitted attributes out of the inert value tree: arrays,
//! labels, feature names, and a fitted `Tree`'s node table.

use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::frame::{Labels, Matrix};
use crate::serving::flavors::tree::{FlatTree, RawNode, DEFAULT_LEFT};
use crate::serving::flavors::value::Value;
use crate::serving::flavors::value::{ArrayData, NdArray};
// ------------------------------------------------------------------------------------------
// Helpers over the value tree.

pub(super) fn inv(msg: impl Into<String>) -> LoadError {
    LoadError::invalid(msg)
}

pub(super) fn f64s(v: &Value, what: &str) -> LoadResult<Vec<f64>> {
    v.to_f64_vec()
        .ok_or_else(|| inv(format!("'{what}' is not an array of numbers")))
}

pub(super) fn attr_f64s(o: &Value, name: &str) -> LoadResult<Vec<f64>> {
    f64s(o.req(name)?, &format!("{}.{name}", o.short_class()))
}

pub(super) fn attr_str<'a>(o: &'a Value, name: &str) -> Option<&'a str> {
    o.attr(name).and_then(Value::as_str)
}

pub(super) fn labels_of(v: &Value) -> LoadResult<Labels> {
    let arr = v.as_array();
    if let Some(a) = arr {
        match &a.data {
            ArrayData::I64(x) => return Ok(Labels::I64(x.clone())),
            ArrayData::F64(x) => return Ok(Labels::F64(x.clone())),
            ArrayData::Bool(x) => return Ok(Labels::Bool(x.clone())),
            ArrayData::Str(x) => return Ok(Labels::Str(x.clone())),
            _ => {}
        }
    }
    let items: Vec<Value> = match (arr, v) {
        (Some(a), _) => match &a.data {
            ArrayData::Object(o) => o.clone(),
            _ => return Err(inv("classes_ has an unsupported type")),
        },
        (None, Value::List(l) | Value::Tuple(l)) => l.clone(),
        _ => return Err(inv("classes_ is not an array")),
    };
    if let Some(s) = items.iter().map(|x| x.as_str().map(String::from)).collect() {
        return Ok(Labels::Str(s));
    }
    if items.iter().all(|x| matches!(x, Value::Bool(_))) {
        return Ok(Labels::Bool(
            items.iter().filter_map(Value::as_bool).collect(),
        ));
    }
    if items.iter().all(|x| matches!(x, Value::Int(_))) {
        return Ok(Labels::I64(
            items.iter().filter_map(Value::as_i64).collect(),
        ));
    }
    if let Some(f) = items.iter().map(Value::as_f64).collect() {
        return Ok(Labels::F64(f));
    }
    Err(inv("classes_ mixes types Weir cannot represent"))
}

/// A 2-D array as (rows, cols, data); 1-D arrays are one row.
pub(super) fn matrix_of(v: &Value, what: &str) -> LoadResult<Matrix> {
    let data = f64s(v, what)?;
    let shape = v.shape().unwrap_or_else(|| vec![data.len()]);
    let (rows, cols) = match shape.as_slice() {
        [] => (1, 1),
        [n] => (1, *n),
        [r, c] => (*r, *c),
        _ => return Err(inv(format!("'{what}' has {} dimensions", shape.len()))),
    };
    if rows.checked_mul(cols) != Some(data.len()) {
        return Err(inv(format!(
            "'{what}' has a shape that does not match its data"
        )));
    }
    Ok(Matrix { rows, cols, data })
}

pub(super) fn n_features_of(o: &Value) -> Option<usize> {
    o.attr("n_features_in_")
        .and_then(Value::as_i64)
        .and_then(|n| usize::try_from(n).ok())
}

pub(super) fn names_of(o: &Value) -> Option<Vec<String>> {
    o.attr("feature_names_in_").and_then(Value::to_str_vec)
}

pub(super) fn check_outputs(o: &Value) -> LoadResult<()> {
    if let Some(n) = o.attr("n_outputs_").and_then(Value::as_i64) {
        if n != 1 {
            return Err(LoadError::unsupported(format!(
                "{} was fitted on {n} targets; Weir supports single-output models",
                o.short_class()
            )));
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Trees.

pub(super) fn record_i64(nodes: &NdArray, name: &str) -> LoadResult<Vec<i64>> {
    record(nodes, name)?
        .to_i64()
        .ok_or_else(|| inv(format!("tree field '{name}' is not integral")))
}

pub(super) fn record_f64(nodes: &NdArray, name: &str) -> LoadResult<Vec<f64>> {
    record(nodes, name)?
        .to_f64()
        .ok_or_else(|| inv(format!("tree field '{name}' is not numeric")))
}

pub(super) fn record<'a>(nodes: &'a NdArray, name: &str) -> LoadResult<&'a ArrayData> {
    match &nodes.data {
        ArrayData::Record(f) => f
            .iter()
            .find_map(|(n, d)| (n == name).then_some(d))
            .ok_or_else(|| inv(format!("tree nodes have no field '{name}'"))),
        _ => Err(inv("tree nodes are not a record array")),
    }
}

impl ArrayData {
    pub(super) fn to_i64(&self) -> Option<Vec<i64>> {
        match self {
            ArrayData::I64(v) => Some(v.clone()),
            ArrayData::Bool(v) => Some(v.iter().map(|&b| i64::from(b)).collect()),
            _ => None,
        }
    }
    pub(super) fn to_f64(&self) -> Option<Vec<f64>> {
        match self {
            ArrayData::F64(v) => Some(v.clone()),
            ArrayData::I64(v) => Some(v.iter().map(|&i| i as f64).collect()),
            _ => None,
        }
    }
}

/// A fitted `sklearn.tree._tree.Tree`. `classes`: Some(k) for a classifier (leaf outputs are
/// normalized class probabilities), None for a regressor.
pub(super) fn sk_tree(
    tree: &Value,
    n_features: usize,
    classes: Option<usize>,
) -> LoadResult<FlatTree> {
    if tree.class() != Some("sklearn.tree._tree.Tree") {
        return Err(inv(format!("expected a Tree, found {}", tree.type_name())));
    }
    let nodes = tree
        .req("nodes")?
        .as_array()
        .ok_or_else(|| inv("Tree.nodes is not an array"))?;
    let values = tree.req("values")?;
    let vshape = values.shape().unwrap_or_default();
    let vals = f64s(values, "Tree.values")?;
    let left = record_i64(nodes, "left_child")?;
    let right = record_i64(nodes, "right_child")?;
    let feature = record_i64(nodes, "feature")?;
    let thr = record_f64(nodes, "threshold")?;
    let missing = record_i64(nodes, "missing_go_to_left").unwrap_or_else(|_| vec![0; left.len()]);
    let n = left.len();
    if [right.len(), feature.len(), thr.len(), missing.len()]
        .iter()
        .any(|&l| l != n)
    {
        return Err(inv("tree node fields have different lengths"));
    }
    let stride = match vshape.as_slice() {
        [rows, outs, k] if *rows == n && *outs == 1 => *k,
        _ => {
            return Err(inv(format!(
                "Tree.values has shape {vshape:?}, expected ({n}, 1, n_classes)"
            )))
        }
    };
    let width = classes.unwrap_or(1);
    if width > stride {
        return Err(inv("tree has fewer outputs than classes"));
    }
    let raw: Vec<RawNode> = (0..n)
        .map(|i| {
            let l = left.get(i).copied().unwrap_or(-1);
            RawNode {
                leaf: l == -1,
                feature: feature.get(i).copied().unwrap_or(-1),
                thr: thr.get(i).copied().unwrap_or(0.0),
                left: l,
                right: right.get(i).copied().unwrap_or(-1),
                flags: if missing.get(i).copied().unwrap_or(0) != 0 {
                    DEFAULT_LEFT
                } else {
                    0
                },
            }
        })
        .collect();
    FlatTree::build(&raw, n_features, width, |i| {
        let s = i * stride;
        let v = vals
            .get(s..s + width)
            .ok_or_else(|| inv("Tree.values is shorter than the nodes"))?;
        Ok(match classes {
            Some(_) => {
                let sum: f64 = v.iter().sum();
                let norm = if sum == 0.0 { 1.0 } else { sum };
                v.iter().map(|x| x / norm).collect()
            }
            None => v.to_vec(),
        })
    })
}
