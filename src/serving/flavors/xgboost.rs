//! XGBoost models: JSON or UBJSON (decided from the content, not the file name), gbtree
//! boosters, evaluated the way XGBoost's CPU predictor does (float32 inputs and sums,
//! `x < split_condition`, missing values follow `default_left`).

use serde_json::Value as Json;

use crate::serving::flavors::error::{LoadError, LoadResult, PredictError};
use crate::serving::flavors::frame::{argmax, Frame, Labels, Matrix, Method, Prediction};
use crate::serving::flavors::limits::MAX_TREES;
use crate::serving::flavors::tree::{FlatTree, Node, RawNode, DEFAULT_LEFT};
use crate::serving::flavors::{ubjson, About, Estimator};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Objective {
    Logistic,
    LogitRaw,
    SoftProb,
    SoftMax,
    Identity,
    Exp,
}

pub struct XgbModel {
    trees: Vec<FlatTree>,
    /// The output group (class) of each tree.
    group: Vec<usize>,
    n_groups: usize,
    base_margin: Vec<f32>,
    objective: Objective,
    /// `Some(k)` for an XGBClassifier logged through the sklearn API.
    sk_classes: Option<usize>,
    about: About,
}

fn bad(msg: impl Into<String>) -> LoadError {
    LoadError::invalid(format!("XGBoost model: {}", msg.into()))
}

fn num(j: &Json) -> Option<f64> {
    match j {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        Json::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn nums(j: Option<&Json>, what: &str) -> LoadResult<Vec<f64>> {
    j.and_then(Json::as_array)
        .ok_or_else(|| bad(format!("tree has no '{what}'")))?
        .iter()
        .map(|x| num(x).ok_or_else(|| bad(format!("'{what}' holds a non-number"))))
        .collect()
}

/// `base_score` is `"5E-1"` (xgboost 2.x) or `"[5E-1,...]"` (3.x, one per output).
fn base_scores(s: &Json) -> LoadResult<Vec<f64>> {
    let text = match s {
        Json::String(t) => t.trim().to_string(),
        other => {
            return num(other)
                .map(|x| vec![x])
                .ok_or_else(|| bad("base_score is not a number"))
        }
    };
    let inner = text.trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .map_err(|_| bad(format!("base_score '{text}' is not a number")))
        })
        .collect()
}

/// Reads a model file, JSON or UBJSON by content.
pub fn parse_bytes(bytes: &[u8]) -> LoadResult<Json> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        Some(b'{') if bytes.get(1).is_some_and(|&b| b == b'"' || b.is_ascii_whitespace() || b == b'}') => {
            serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid JSON: {e}")))
        }
        Some(b'{') => ubjson::parse(bytes),
        Some(b'b' | b'B') if bytes.starts_with(b"binf") || bytes.len() > 4 => Err(LoadError::unsupported(
            "this XGBoost model is in the old binary format (xgboost < 1.0 style); re-save it with a current xgboost (model_format='ubj' or 'json')",
        )),
        _ => Err(LoadError::unsupported(
            "the XGBoost model file is neither JSON nor UBJSON (the deprecated binary format is not supported; re-save it with model_format='ubj' or 'json')",
        )),
    }
}

pub fn build(doc: &Json, model_class: Option<&str>) -> LoadResult<XgbModel> {
    let learner = doc.get("learner").ok_or_else(|| bad("no 'learner'"))?;
    let booster = learner
        .get("gradient_booster")
        .ok_or_else(|| bad("no 'gradient_booster'"))?;
    let bname = booster.get("name").and_then(Json::as_str).unwrap_or("");
    if bname != "gbtree" {
        return Err(LoadError::unsupported(format!(
            "XGBoost booster '{bname}' (Weir evaluates gbtree boosters; convert it to ONNX and log it with mlflow.onnx.log_model)"
        )));
    }
    let model = booster
        .get("model")
        .ok_or_else(|| bad("no booster model"))?;
    let params = learner
        .get("learner_model_param")
        .ok_or_else(|| bad("no learner_model_param"))?;
    let n_features = params
        .get("num_feature")
        .and_then(num)
        .filter(|n| (0.0..1e9).contains(n))
        .ok_or_else(|| bad("num_feature missing"))? as usize;
    let num_class = params
        .get("num_class")
        .and_then(num)
        .unwrap_or(0.0)
        .max(0.0) as usize;
    let num_target = params
        .get("num_target")
        .and_then(num)
        .unwrap_or(1.0)
        .max(1.0) as usize;
    if num_target > 1 {
        return Err(LoadError::unsupported("multi-target XGBoost models"));
    }
    let obj_name = learner
        .get("objective")
        .and_then(|o| o.get("name"))
        .and_then(Json::as_str)
        .unwrap_or("");
    let objective = match obj_name {
        "binary:logistic" | "reg:logistic" => Objective::Logistic,
        "binary:logitraw" => Objective::LogitRaw,
        "multi:softprob" => Objective::SoftProb,
        "multi:softmax" => Objective::SoftMax,
        "reg:squarederror" | "reg:linear" | "reg:squaredlogerror" | "reg:pseudohubererror" | "reg:absoluteerror" | "reg:quantileerror" => Objective::Identity,
        "count:poisson" | "reg:gamma" | "reg:tweedie" => Objective::Exp,
        o => {
            return Err(LoadError::unsupported(format!(
                "XGBoost objective '{o}' (supported: binary:logistic, binary:logitraw, reg:logistic, multi:softprob, multi:softmax, reg:squarederror and other identity-link regressions)"
            )))
        }
    };
    let n_groups = if matches!(objective, Objective::SoftProb | Objective::SoftMax) {
        num_class.max(1)
    } else {
        1
    };
    let base = base_scores(
        params
            .get("base_score")
            .ok_or_else(|| bad("no base_score"))?,
    )?;
    let base: Vec<f64> = match base.len() {
        1 => vec![base.first().copied().unwrap_or(0.0); n_groups],
        n if n == n_groups => base,
        _ => return Err(bad("base_score does not match the number of classes")),
    };
    // base_score is stored in output space; the booster starts from its margin.
    let base_margin: Vec<f32> = base
        .iter()
        .map(|&b| {
            let b = b as f32;
            match objective {
                Objective::Logistic => -(1.0f32 / b - 1.0).ln(),
                Objective::Exp => b.ln(),
                _ => b,
            }
        })
        .collect();
    let trees_j = model
        .get("trees")
        .and_then(Json::as_array)
        .ok_or_else(|| bad("no trees"))?;
    if trees_j.len() > MAX_TREES {
        return Err(bad("too many trees"));
    }
    let info = nums(model.get("tree_info"), "tree_info")?;
    if info.len() != trees_j.len() {
        return Err(bad("tree_info does not match the trees"));
    }
    let mut group = Vec::with_capacity(info.len());
    for g in info {
        let g = g as usize;
        if g >= n_groups {
            return Err(bad(format!(
                "a tree belongs to output group {g} of {n_groups}"
            )));
        }
        group.push(g);
    }
    let mut trees = Vec::with_capacity(trees_j.len());
    for t in trees_j {
        trees.push(tree(t, n_features)?);
    }
    // An sklearn wrapper fitted with early stopping predicts with the best iteration only.
    let attrs = learner.get("attributes");
    let sk = model_class.is_some_and(|c| c.starts_with("xgboost.sklearn."));
    if sk {
        if let Some(best) = attrs.and_then(|a| a.get("best_iteration")).and_then(num) {
            let indptr = nums(model.get("iteration_indptr"), "iteration_indptr")?;
            if let Some(&end) = (best as usize).checked_add(1).and_then(|i| indptr.get(i)) {
                let end = (end as usize).min(trees.len());
                trees.truncate(end);
                group.truncate(end);
            }
        }
    }
    let names = learner
        .get("feature_names")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect::<Vec<_>>()
        })
        .filter(|v: &Vec<String>| !v.is_empty() && v.len() == n_features);
    let sk_classes = match model_class {
        Some("xgboost.sklearn.XGBClassifier" | "xgboost.sklearn.XGBRFClassifier") => {
            Some(match objective {
                Objective::SoftProb | Objective::SoftMax => n_groups,
                _ => 2,
            })
        }
        Some(c) if c.starts_with("xgboost.sklearn.") && c.contains("Rank") => {
            return Err(LoadError::unsupported(format!("'{c}'")))
        }
        _ => None,
    };
    let mut methods = vec![Method::Predict];
    if sk_classes.is_some() {
        methods.push(Method::PredictProba);
    }
    Ok(XgbModel {
        trees,
        group,
        n_groups,
        base_margin,
        objective,
        sk_classes,
        about: About {
            methods,
            n_features,
            names,
            desc: format!("xgboost {} ({obj_name})", model_class.unwrap_or("Booster")),
        },
    })
}

fn tree(t: &Json, n_features: usize) -> LoadResult<FlatTree> {
    let left = nums(t.get("left_children"), "left_children")?;
    let right = nums(t.get("right_children"), "right_children")?;
    let split = nums(t.get("split_indices"), "split_indices")?;
    let cond = nums(t.get("split_conditions"), "split_conditions")?;
    let dleft = nums(t.get("default_left"), "default_left")?;
    let n = left.len();
    if [right.len(), split.len(), cond.len(), dleft.len()]
        .iter()
        .any(|&l| l != n)
    {
        return Err(bad("tree arrays have different lengths"));
    }
    if let Some(st) = t.get("split_type").and_then(Json::as_array) {
        if st.iter().any(|x| num(x).unwrap_or(0.0) != 0.0) {
            return Err(LoadError::unsupported(
                "XGBoost categorical splits (enable_categorical) are not supported; one-hot encode the feature or convert the model to ONNX",
            ));
        }
    }
    if let Some(size) = t
        .get("tree_param")
        .and_then(|p| p.get("size_leaf_vector"))
        .and_then(num)
    {
        if size > 1.0 {
            return Err(LoadError::unsupported(
                "XGBoost vector-leaf (multi-output) trees",
            ));
        }
    }
    let raw: Vec<RawNode> = (0..n)
        .map(|i| {
            let l = left.get(i).copied().unwrap_or(-1.0) as i64;
            RawNode {
                leaf: l == -1,
                feature: split.get(i).copied().unwrap_or(-1.0) as i64,
                // Conditions are float32 in XGBoost.
                thr: f64::from(cond.get(i).copied().unwrap_or(0.0) as f32),
                left: l,
                right: right.get(i).copied().unwrap_or(-1.0) as i64,
                flags: if dleft.get(i).copied().unwrap_or(0.0) != 0.0 {
                    DEFAULT_LEFT
                } else {
                    0
                },
            }
        })
        .collect();
    FlatTree::build(&raw, n_features, 1, |i| {
        Ok(vec![f64::from(cond.get(i).copied().unwrap_or(0.0) as f32)])
    })
}

#[inline]
fn xgb_rule(n: &Node, x: f64) -> bool {
    if x.is_nan() {
        n.flags & DEFAULT_LEFT != 0
    } else {
        // float32 input, float32 condition, strict less-than.
        f64::from(x as f32) < n.thr
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0f32 / (1.0f32 + (-x).exp())
}

fn softmax(r: &mut [f32]) {
    let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0f32;
    for x in r.iter() {
        s += (x - m).exp();
    }
    for x in r.iter_mut() {
        *x = (*x - m).exp() / s;
    }
}

impl XgbModel {
    /// Margins (rows x groups), summed in float32 like XGBoost.
    fn margins(&self, x: &Matrix) -> Vec<f32> {
        let g = self.n_groups;
        let mut out = vec![0.0f32; x.rows * g];
        for r in 0..x.rows {
            let row = x.row(r);
            let o = out.get_mut(r * g..(r + 1) * g).unwrap_or(&mut []);
            o.copy_from_slice(&self.base_margin);
            for (t, &k) in self.trees.iter().zip(&self.group) {
                if let Some(a) = o.get_mut(k) {
                    *a += t.leaf(row, xgb_rule).first().copied().unwrap_or(0.0) as f32;
                }
            }
        }
        out
    }

    /// The booster's `predict` output: transformed margins.
    fn booster_out(&self, x: &Matrix) -> Vec<f32> {
        let mut m = self.margins(x);
        let g = self.n_groups;
        match self.objective {
            Objective::Logistic => m.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Objective::Exp => m.iter_mut().for_each(|v| *v = v.exp()),
            Objective::SoftProb => m.chunks_mut(g).for_each(softmax),
            Objective::SoftMax => {
                return m
                    .chunks(g)
                    .map(|r| {
                        let mut best = 0usize;
                        for (i, v) in r.iter().enumerate() {
                            if *v > r.get(best).copied().unwrap_or(f32::NEG_INFINITY) {
                                best = i;
                            }
                        }
                        best as f32
                    })
                    .collect()
            }
            Objective::LogitRaw | Objective::Identity => {}
        }
        m
    }

    fn proba(&self, x: &Matrix, k: usize) -> Vec<f64> {
        let mut m = self.margins(x);
        if k == 2 && self.n_groups == 1 {
            let mut out = Vec::with_capacity(x.rows * 2);
            for v in m {
                let p = if self.objective == Objective::LogitRaw {
                    v
                } else {
                    sigmoid(v)
                };
                out.push(f64::from(1.0f32 - p));
                out.push(f64::from(p));
            }
            return out;
        }
        m.chunks_mut(self.n_groups).for_each(softmax);
        m.into_iter().map(f64::from).collect()
    }
}

impl Estimator for XgbModel {
    fn predict(&self, frame: &Frame, method: Method) -> Result<Prediction, PredictError> {
        let x = self.about.align(frame)?.to_matrix()?;
        match (self.sk_classes, method) {
            (None, Method::Predict) => {
                let out = self.booster_out(&x);
                if self.objective == Objective::SoftProb {
                    Ok(Prediction::Matrix {
                        rows: x.rows,
                        cols: self.n_groups,
                        data: out.into_iter().map(f64::from).collect(),
                        columns: None,
                    })
                } else {
                    Ok(Prediction::Values(out.into_iter().map(f64::from).collect()))
                }
            }
            (None, Method::PredictProba) => Err(PredictError::Method(
                "an XGBoost Booster has no predict_proba; predict returns its objective's output"
                    .into(),
            )),
            (Some(k), m) => {
                let p = self.proba(&x, k);
                let classes = Labels::I64((0..k as i64).collect());
                if m == Method::PredictProba {
                    return Ok(Prediction::Matrix {
                        rows: x.rows,
                        cols: k,
                        data: p,
                        columns: Some(classes),
                    });
                }
                let idx: Vec<usize> = p
                    .chunks(k)
                    .map(|r| {
                        if k == 2 {
                            // XGBClassifier: class 1 when its probability > 0.5
                            usize::from(r.get(1).copied().unwrap_or(0.0) > 0.5)
                        } else {
                            argmax(r)
                        }
                    })
                    .collect();
                Ok(Prediction::Labels(classes.take(&idx)))
            }
        }
    }
    fn about(&self) -> &About {
        &self.about
    }
}
