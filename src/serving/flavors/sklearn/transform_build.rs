//! Building transformers, pipelines and column transformers from their fitted attributes.

use super::read::*;
use super::transform::*;
use super::*;
use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::value::ArrayData;
use crate::serving::flavors::value::Value;
pub(super) fn build_transform(o: &Value) -> LoadResult<Transform> {
    let short = o.short_class().to_string();
    match o {
        Value::Str(s) if s == "passthrough" => return Ok(Transform::Identity),
        Value::None => return Ok(Transform::Identity),
        _ => {}
    }
    Ok(match short.as_str() {
        "StandardScaler" => {
            let mean = match o.attr("mean_") {
                Some(v)
                    if !v.is_none()
                        && o.attr("with_mean").and_then(Value::as_bool) != Some(false) =>
                {
                    Some(f64s(v, "mean_")?)
                }
                _ => None,
            };
            let scale = match o.attr("scale_") {
                Some(v) if !v.is_none() => Some(f64s(v, "scale_")?),
                _ => None,
            };
            Transform::Standard { mean, scale }
        }
        "MinMaxScaler" => {
            let clip = if o.attr("clip").and_then(Value::as_bool) == Some(true) {
                let r = f64s(o.req("feature_range")?, "feature_range")?;
                match r.as_slice() {
                    [a, b] => Some((*a, *b)),
                    _ => return Err(inv("MinMaxScaler.feature_range is not a pair")),
                }
            } else {
                None
            };
            Transform::MinMax {
                scale: attr_f64s(o, "scale_")?,
                min: attr_f64s(o, "min_")?,
                clip,
            }
        }
        "SimpleImputer" => {
            if o.attr("indicator_").is_some_and(|v| !v.is_none())
                || o.attr("add_indicator").and_then(Value::as_bool) == Some(true)
            {
                return Err(LoadError::unsupported("SimpleImputer(add_indicator=True)"));
            }
            let keep_empty = o.attr("keep_empty_features").and_then(Value::as_bool) == Some(true);
            let stats = o.req("statistics_")?;
            let fill: Vec<Option<Fill>> = match stats.as_array().map(|a| &a.data) {
                Some(ArrayData::F64(v)) => v
                    .iter()
                    .map(|&x| {
                        if x.is_nan() {
                            keep_empty.then_some(Fill::Num(0.0))
                        } else {
                            Some(Fill::Num(x))
                        }
                    })
                    .collect(),
                Some(ArrayData::I64(v)) => v.iter().map(|&x| Some(Fill::Num(x as f64))).collect(),
                Some(ArrayData::Str(v)) => v.iter().map(|s| Some(Fill::Text(s.clone()))).collect(),
                Some(ArrayData::Object(v)) => v
                    .iter()
                    .map(|x| match x {
                        Value::Str(s) => Ok(Some(Fill::Text(s.clone()))),
                        Value::None => Ok(None),
                        Value::Float(f) if f.is_nan() => Ok(None),
                        other => other
                            .as_f64()
                            .map(|f| Some(Fill::Text(fmt_num(f))))
                            .ok_or_else(|| {
                                inv("SimpleImputer.statistics_ has an unsupported value")
                            }),
                    })
                    .collect::<LoadResult<_>>()?,
                _ => return Err(inv("SimpleImputer.statistics_ is not an array")),
            };
            let missing = match o.attr("missing_values") {
                None | Some(Value::None) => Missing::Nan,
                Some(Value::Float(f)) if f.is_nan() => Missing::Nan,
                Some(Value::Str(s)) => Missing::Text(s.clone()),
                Some(v) => Missing::Num(
                    v.as_f64()
                        .ok_or_else(|| inv("SimpleImputer.missing_values is not supported"))?,
                ),
            };
            Transform::Imputer(Imputer {
                none_is_missing: true,
                fill,
                missing,
            })
        }
        "OneHotEncoder" => {
            if o.attr("_infrequent_enabled").and_then(Value::as_bool) == Some(true) {
                return Err(LoadError::unsupported(
                    "OneHotEncoder with infrequent categories (min_frequency/max_categories)",
                ));
            }
            let cats_v = o
                .req("categories_")?
                .as_seq()
                .ok_or_else(|| inv("OneHotEncoder.categories_ is not a list"))?;
            let mut cats = Vec::with_capacity(cats_v.len());
            for c in cats_v {
                let a = c
                    .as_array()
                    .ok_or_else(|| inv("a category list is not an array"))?;
                cats.push(match &a.data {
                    ArrayData::F64(v) => Cats::Num(v.clone()),
                    ArrayData::I64(v) => Cats::Num(v.iter().map(|&i| i as f64).collect()),
                    ArrayData::Bool(v) => {
                        Cats::Num(v.iter().map(|&b| f64::from(u8::from(b))).collect())
                    }
                    ArrayData::Str(v) => Cats::Text(v.iter().cloned().map(Some).collect()),
                    ArrayData::Object(v) => {
                        if v.iter().all(|x| {
                            matches!(x, Value::Str(_) | Value::None)
                                || matches!(x, Value::Float(f) if f.is_nan())
                        }) {
                            Cats::Text(v.iter().map(|x| x.as_str().map(String::from)).collect())
                        } else if let Some(n) =
                            v.iter().map(Value::as_f64).collect::<Option<Vec<_>>>()
                        {
                            Cats::Num(n)
                        } else {
                            return Err(inv("OneHotEncoder categories mix text and numbers"));
                        }
                    }
                    _ => return Err(inv("OneHotEncoder categories have an unsupported type")),
                });
            }
            let drop = match o.attr("drop_idx_") {
                None | Some(Value::None) => vec![None; cats.len()],
                Some(v) => match v.as_array().map(|a| &a.data) {
                    Some(ArrayData::I64(d)) => d.iter().map(|&i| usize::try_from(i).ok()).collect(),
                    Some(ArrayData::Object(d)) => d
                        .iter()
                        .map(|x| x.as_i64().and_then(|i| usize::try_from(i).ok()))
                        .collect(),
                    _ => return Err(inv("OneHotEncoder.drop_idx_ is not supported")),
                },
            };
            if drop.len() != cats.len() {
                return Err(inv("OneHotEncoder.drop_idx_ does not match its features"));
            }
            let hu = attr_str(o, "handle_unknown").unwrap_or("error");
            Transform::OneHot(OneHot {
                cats,
                drop,
                ignore_unknown: hu != "error",
            })
        }
        "FunctionTransformer" => {
            if o.attr("func").is_some_and(|f| !f.is_none()) {
                return Err(LoadError::unsupported(
                    "FunctionTransformer with a function (Weir cannot run Python code)",
                ));
            }
            Transform::Identity
        }
        "Pipeline" => {
            let steps = pipeline_steps(o)?;
            let mut chain: Vec<Transform> = steps
                .iter()
                .map(build_transform)
                .collect::<LoadResult<_>>()?;
            // An encoder that learned None as a category means None was not imputed at fit.
            let none_cat = chain.iter().any(|t| match t {
                Transform::OneHot(oh) => oh
                    .cats
                    .iter()
                    .any(|c| matches!(c, Cats::Text(v) if v.iter().any(Option::is_none))),
                _ => false,
            });
            if none_cat {
                for t in &mut chain {
                    if let Transform::Imputer(imp) = t {
                        imp.none_is_missing = false;
                    }
                }
            }
            Transform::Chain(chain)
        }
        "ColumnTransformer" => Transform::Columns(Box::new(build_ct(o)?)),
        _ => {
            let class = o.class().unwrap_or(&short);
            return Err(unsupported_class(class));
        }
    })
}

pub(super) fn pipeline_steps(o: &Value) -> LoadResult<Vec<Value>> {
    let steps = o
        .req("steps")?
        .as_seq()
        .ok_or_else(|| inv("Pipeline.steps is not a list"))?;
    steps
        .iter()
        .map(|s| {
            s.as_seq()
                .and_then(|t| t.get(1))
                .cloned()
                .ok_or_else(|| inv("a Pipeline step is not a (name, estimator) pair"))
        })
        .collect()
}

pub(super) fn build_ct(o: &Value) -> LoadResult<ColumnT> {
    let n_features =
        n_features_of(o).ok_or_else(|| inv("ColumnTransformer has no n_features_in_"))?;
    let names = names_of(o);
    let trs = o
        .req("transformers_")?
        .as_seq()
        .ok_or_else(|| inv("ColumnTransformer.transformers_ is not a list"))?;
    let map = o.attr("_transformer_to_input_indices");
    let mut parts = Vec::new();
    for t in trs {
        let t = t
            .as_seq()
            .ok_or_else(|| inv("a transformer entry is not a tuple"))?;
        let (name, tr, cols) = match t {
            [n, tr, cols, ..] => (n.as_str().unwrap_or("").to_string(), tr, cols),
            _ => {
                return Err(inv(
                    "a transformer entry is not (name, transformer, columns)",
                ))
            }
        };
        if tr.as_str() == Some("drop") {
            continue;
        }
        let idx = match map.and_then(|m| m.get(&name)) {
            Some(v) => v
                .to_i64_vec()
                .ok_or_else(|| inv("bad column indices"))?
                .into_iter()
                .map(|i| {
                    usize::try_from(i)
                        .ok()
                        .filter(|&i| i < n_features)
                        .ok_or_else(|| inv("column index out of range"))
                })
                .collect::<LoadResult<Vec<usize>>>()?,
            None => resolve_columns(cols, names.as_deref(), n_features)?,
        };
        if idx.is_empty() {
            continue;
        }
        let tr = if tr.as_str() == Some("passthrough") {
            None
        } else {
            Some(build_transform(tr)?)
        };
        parts.push((name, tr, idx));
    }
    Ok(ColumnT {
        parts,
        n_features,
        names,
    })
}

pub(super) fn resolve_columns(
    cols: &Value,
    names: Option<&[String]>,
    n: usize,
) -> LoadResult<Vec<usize>> {
    let by_name = |s: &str| -> LoadResult<usize> {
        names
            .and_then(|ns| ns.iter().position(|x| x == s))
            .ok_or_else(|| inv(format!("ColumnTransformer column '{s}' is unknown")))
    };
    let by_idx = |i: i64| -> LoadResult<usize> {
        let i = if i < 0 { i + n as i64 } else { i };
        usize::try_from(i)
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| inv("ColumnTransformer column index out of range"))
    };
    match cols {
        Value::Str(s) => Ok(vec![by_name(s)?]),
        Value::Int(i) => Ok(vec![by_idx(*i)?]),
        v if v.class() == Some("builtins.slice") => {
            Err(LoadError::unsupported("slice column selections"))
        }
        v => {
            if let Some(s) = v.to_str_vec() {
                return s.iter().map(|s| by_name(s)).collect();
            }
            if let Some(a) = v.as_array() {
                if let ArrayData::Bool(m) = &a.data {
                    return Ok(m
                        .iter()
                        .enumerate()
                        .filter(|(_, &b)| b)
                        .map(|(i, _)| i)
                        .collect());
                }
            }
            if let Some(i) = v.to_i64_vec() {
                return i.into_iter().map(by_idx).collect();
            }
            Err(LoadError::unsupported(format!(
                "ColumnTransformer column selection of type {}",
                v.type_name()
            )))
        }
    }
}
