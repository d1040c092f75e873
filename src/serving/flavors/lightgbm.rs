//! LightGBM text models (`model.lgb`, or the model string inside a pickled/skops
//! `LGBMClassifier`/`LGBMRegressor`), evaluated in float64 like LightGBM.

use crate::serving::flavors::error::{LoadError, LoadResult, PredictError};
use crate::serving::flavors::frame::{argmax, Frame, Labels, Matrix, Method, Prediction};
use crate::serving::flavors::limits::{MAX_TREES, MAX_TREE_NODES};
use crate::serving::flavors::tree::{
    FlatTree, Node, RawNode, CATEGORICAL, DEFAULT_LEFT, MISSING_NAN, MISSING_ZERO,
};
use crate::serving::flavors::value::Value;
use crate::serving::flavors::{About, Estimator};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Objective {
    Sigmoid(f64),
    Softmax,
    OvaSigmoid(f64),
    Identity,
    Exp,
}

struct Tree {
    flat: FlatTree,
    /// Categorical bitsets: boundaries into `cat_threshold`.
    cat_bounds: Vec<usize>,
    cat_bits: Vec<u32>,
}

pub struct LgbModel {
    trees: Vec<Tree>,
    k: usize,
    average: bool,
    objective: Objective,
    /// For LGBMClassifier: the class labels.
    classes: Option<Labels>,
    sklearn_regressor: bool,
    about: About,
}

fn bad(msg: impl Into<String>) -> LoadError {
    LoadError::invalid(format!("LightGBM model: {}", msg.into()))
}

fn parse_list<T: std::str::FromStr>(v: &str, what: &str) -> LoadResult<Vec<T>> {
    v.split_whitespace()
        .map(|x| {
            x.parse::<T>()
                .map_err(|_| bad(format!("'{what}' holds '{x}'")))
        })
        .collect()
}

fn kv(block: &str) -> Vec<(&str, &str)> {
    block.lines().filter_map(|l| l.split_once('=')).collect()
}

fn get<'a>(kv: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    kv.iter().find_map(|(k, v)| (*k == key).then_some(*v))
}

fn parse_tree(block: &str, n_features: usize) -> LoadResult<Tree> {
    let kv = kv(block);
    let req = |k: &str| get(&kv, k).ok_or_else(|| bad(format!("tree without '{k}'")));
    let num_leaves: usize = req("num_leaves")?
        .trim()
        .parse()
        .map_err(|_| bad("bad num_leaves"))?;
    if num_leaves == 0 || num_leaves > MAX_TREE_NODES / 2 {
        return Err(bad(format!("tree with {num_leaves} leaves")));
    }
    if get(&kv, "is_linear").is_some_and(|v| v.trim() == "1") {
        return Err(LoadError::unsupported(
            "LightGBM linear trees (linear_tree=True)",
        ));
    }
    let leaf_value: Vec<f64> = parse_list(req("leaf_value")?, "leaf_value")?;
    if leaf_value.len() != num_leaves {
        return Err(bad("leaf_value does not match num_leaves"));
    }
    let n_int = num_leaves - 1;
    let mut raw = Vec::with_capacity(2 * num_leaves);
    let mut cat_bounds = Vec::new();
    let mut cat_bits = Vec::new();
    if n_int > 0 {
        let feat: Vec<i64> = parse_list(req("split_feature")?, "split_feature")?;
        let thr: Vec<f64> = parse_list(req("threshold")?, "threshold")?;
        let dt: Vec<i64> = parse_list(req("decision_type")?, "decision_type")?;
        let left: Vec<i64> = parse_list(req("left_child")?, "left_child")?;
        let right: Vec<i64> = parse_list(req("right_child")?, "right_child")?;
        if [feat.len(), thr.len(), dt.len(), left.len(), right.len()]
            .iter()
            .any(|&l| l != n_int)
        {
            return Err(bad("split arrays do not match num_leaves"));
        }
        if let Some(b) = get(&kv, "cat_boundaries") {
            cat_bounds = parse_list(b, "cat_boundaries")?;
            cat_bits = parse_list(get(&kv, "cat_threshold").unwrap_or(""), "cat_threshold")?;
            if cat_bounds.windows(2).any(|w| w.first() > w.get(1))
                || cat_bounds.last().is_some_and(|&l| l > cat_bits.len())
            {
                return Err(bad("cat_boundaries are out of range"));
            }
        }
        // Internal node i keeps index i; leaf j becomes n_int + j.
        let map = |c: i64| -> i64 {
            if c < 0 {
                n_int as i64 + (!c)
            } else {
                c
            }
        };
        for i in 0..n_int {
            let d = dt.get(i).copied().unwrap_or(0);
            let mut flags = 0u8;
            if d & 1 != 0 {
                flags |= CATEGORICAL;
                let idx = thr.get(i).copied().unwrap_or(-1.0);
                if !(idx >= 0.0 && (idx as usize) + 1 < cat_bounds.len()) {
                    return Err(bad("categorical split refers to a missing bitset"));
                }
            }
            if d & 2 != 0 {
                flags |= DEFAULT_LEFT;
            }
            match (d >> 2) & 3 {
                1 => flags |= MISSING_ZERO,
                2 => flags |= MISSING_NAN,
                _ => {}
            }
            let l = left.get(i).copied().unwrap_or(0);
            let r = right.get(i).copied().unwrap_or(0);
            if l < -(num_leaves as i64) || r < -(num_leaves as i64) {
                return Err(bad(format!(
                    "node {i} points at a leaf that does not exist"
                )));
            }
            raw.push(RawNode {
                leaf: false,
                feature: feat.get(i).copied().unwrap_or(-1),
                thr: thr.get(i).copied().unwrap_or(0.0),
                left: map(l),
                right: map(r),
                flags,
            });
        }
    }
    for _ in 0..num_leaves {
        raw.push(RawNode {
            leaf: true,
            feature: 0,
            thr: 0.0,
            left: 0,
            right: 0,
            flags: 0,
        });
    }
    let flat = FlatTree::build(&raw, n_features, 1, |i| {
        Ok(vec![leaf_value
            .get(i.saturating_sub(n_int))
            .copied()
            .unwrap_or(0.0)])
    })?;
    Ok(Tree {
        flat,
        cat_bounds,
        cat_bits,
    })
}

const ZERO: f64 = 1e-35f32 as f64;

#[inline]
fn lgb_go_left(n: &Node, x: f64, t: &Tree) -> bool {
    if n.flags & CATEGORICAL != 0 {
        if x.is_nan() || x < 0.0 {
            return false;
        }
        let v = x as usize;
        let ci = n.thr as usize;
        let (Some(&s), Some(&e)) = (t.cat_bounds.get(ci), t.cat_bounds.get(ci + 1)) else {
            return false;
        };
        let word = v / 32;
        if word >= e.saturating_sub(s) {
            return false;
        }
        return t
            .cat_bits
            .get(s + word)
            .is_some_and(|w| (w >> (v % 32)) & 1 != 0);
    }
    let nan_type = n.flags & MISSING_NAN != 0;
    let x = if x.is_nan() && !nan_type { 0.0 } else { x };
    if (n.flags & MISSING_ZERO != 0 && (-ZERO..=ZERO).contains(&x)) || (nan_type && x.is_nan()) {
        return n.flags & DEFAULT_LEFT != 0;
    }
    x <= n.thr
}

/// Parses the text format (the whole `model.lgb`, or a Booster's model string).
pub fn parse(text: &str) -> LoadResult<LgbModel> {
    let text = text.replace("\r\n", "\n");
    let mut blocks = text.split("\n\n").filter(|b| !b.trim().is_empty());
    let header = blocks.next().ok_or_else(|| bad("empty model"))?;
    if !header.trim_start().starts_with("tree") {
        return Err(bad("not a LightGBM text model (no 'tree' header)"));
    }
    let h = kv(header);
    let max_feature: i64 = get(&h, "max_feature_idx")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| bad("no max_feature_idx"))?;
    let n_features = usize::try_from(max_feature + 1).map_err(|_| bad("bad max_feature_idx"))?;
    let k: usize = get(&h, "num_tree_per_iteration")
        .and_then(|v| v.trim().parse().ok())
        .filter(|k| (1..1 << 16).contains(k))
        .ok_or_else(|| bad("no num_tree_per_iteration"))?;
    let average = header.lines().any(|l| l.trim() == "average_output");
    let obj = get(&h, "objective").unwrap_or("regression");
    let mut parts = obj.split_whitespace();
    let name = parts.next().unwrap_or("regression");
    let param = |key: &str| -> Option<f64> {
        obj.split_whitespace().find_map(|p| {
            p.strip_prefix(key)
                .and_then(|v| v.strip_prefix(':'))
                .and_then(|v| v.parse().ok())
        })
    };
    let objective = match name {
        "binary" => Objective::Sigmoid(param("sigmoid").unwrap_or(1.0)),
        "cross_entropy" | "xentropy" => Objective::Sigmoid(1.0),
        "multiclass" | "softmax" => Objective::Softmax,
        "multiclassova" | "multiclass_ova" | "ova" | "ovr" => {
            Objective::OvaSigmoid(param("sigmoid").unwrap_or(1.0))
        }
        "regression" | "regression_l2" | "regression_l1" | "l1" | "l2" | "mse" | "mae"
        | "huber" | "fair" | "quantile" | "mape" | "lambdarank" | "rank_xendcg" | "custom"
        | "none" => Objective::Identity,
        "poisson" | "gamma" | "tweedie" => Objective::Exp,
        o => return Err(LoadError::unsupported(format!("LightGBM objective '{o}'"))),
    };
    let names = get(&h, "feature_names")
        .map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|v| v.len() == n_features);
    let mut trees = Vec::new();
    for b in blocks {
        let b = b.trim_start_matches('\n');
        if b.starts_with("end of trees") {
            break;
        }
        if !b.starts_with("Tree=") {
            continue;
        }
        if trees.len() >= MAX_TREES {
            return Err(bad("too many trees"));
        }
        trees.push(
            parse_tree(b, n_features).map_err(|e| e.context(&format!("tree {}", trees.len())))?,
        );
    }
    if trees.is_empty() || trees.len() % k != 0 {
        return Err(bad(format!(
            "{} trees is not a multiple of {k} per iteration",
            trees.len()
        )));
    }
    Ok(LgbModel {
        trees,
        k,
        average,
        objective,
        classes: None,
        sklearn_regressor: false,
        about: About {
            methods: vec![Method::Predict],
            n_features,
            names,
            desc: format!("lightgbm Booster ({name})"),
        },
    })
}

/// An `LGBMClassifier`/`LGBMRegressor` from a pickle or skops file.
pub fn from_sklearn(root: &Value) -> LoadResult<LgbModel> {
    let class = root.class().unwrap_or("");
    let is_clf = match class {
        "lightgbm.sklearn.LGBMClassifier" => true,
        "lightgbm.sklearn.LGBMRegressor" => false,
        c => {
            return Err(crate::serving::flavors::sklearn::unsupported_class(
                if c.is_empty() {
                    "a non-object value"
                } else {
                    c
                },
            ))
        }
    };
    let booster = root.req("_Booster")?;
    let text = booster
        .attr("_handle")
        .or_else(|| booster.attr("handle"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the Booster holds no model string"))?;
    let mut m = parse(text)?;
    if let Some(best) = booster.attr("best_iteration").and_then(Value::as_i64) {
        if best > 0 {
            let keep = (best as usize).saturating_mul(m.k).min(m.trees.len());
            m.trees.truncate(keep);
        }
    }
    if is_clf {
        let classes = root
            .attr("_classes")
            .filter(|c| !c.is_none())
            .or_else(|| root.attr("_le").and_then(|le| le.attr("classes_")))
            .ok_or_else(|| bad("LGBMClassifier has no classes"))?;
        let labels = crate::serving::flavors::sklearn::labels_pub(classes)?;
        let want = if labels.len() == 2 { 1 } else { labels.len() };
        if want != m.k {
            return Err(bad("LGBMClassifier classes do not match its trees"));
        }
        m.classes = Some(labels);
        m.about.methods = vec![Method::Predict, Method::PredictProba];
    } else {
        m.sklearn_regressor = true;
    }
    m.about.desc = format!("lightgbm {}", root.short_class());
    Ok(m)
}

impl LgbModel {
    fn raw(&self, x: &Matrix) -> Vec<f64> {
        let k = self.k;
        let mut out = vec![0.0; x.rows * k];
        let iters = (self.trees.len() / k).max(1) as f64;
        for r in 0..x.rows {
            let row = x.row(r);
            let o = out.get_mut(r * k..(r + 1) * k).unwrap_or(&mut []);
            for (i, t) in self.trees.iter().enumerate() {
                let v = t
                    .flat
                    .leaf(row, |n, xv| lgb_go_left(n, xv, t))
                    .first()
                    .copied()
                    .unwrap_or(0.0);
                if let Some(a) = o.get_mut(i % k) {
                    *a += v;
                }
            }
            if self.average {
                o.iter_mut().for_each(|a| *a /= iters);
            }
        }
        out
    }

    fn transformed(&self, x: &Matrix) -> Vec<f64> {
        let mut v = self.raw(x);
        match self.objective {
            Objective::Sigmoid(s) | Objective::OvaSigmoid(s) => v
                .iter_mut()
                .for_each(|a| *a = 1.0 / (1.0 + (-s * *a).exp())),
            Objective::Softmax => v.chunks_mut(self.k).for_each(|r| {
                let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut s = 0.0;
                for a in r.iter_mut() {
                    *a = (*a - m).exp();
                    s += *a;
                }
                r.iter_mut().for_each(|a| *a /= s);
            }),
            Objective::Exp => v.iter_mut().for_each(|a| *a = a.exp()),
            Objective::Identity => {}
        }
        v
    }
}

impl Estimator for LgbModel {
    fn predict(&self, frame: &Frame, method: Method) -> Result<Prediction, PredictError> {
        let x = self.about.align(frame)?.to_matrix()?;
        let v = self.transformed(&x);
        match (&self.classes, method) {
            (None, Method::Predict) => Ok(if self.k == 1 {
                Prediction::Values(v)
            } else {
                Prediction::Matrix {
                    rows: x.rows,
                    cols: self.k,
                    data: v,
                    columns: None,
                }
            }),
            (None, Method::PredictProba) => Err(PredictError::Method(if self.sklearn_regressor {
                "LGBMRegressor has no predict_proba".into()
            } else {
                "a LightGBM Booster has no predict_proba; predict returns its objective's output"
                    .into()
            })),
            (Some(classes), m) => {
                let n = classes.len();
                let proba: Vec<f64> = if self.k == 1 {
                    v.iter().flat_map(|&p| [1.0 - p, p]).collect()
                } else {
                    v
                };
                if m == Method::PredictProba {
                    return Ok(Prediction::Matrix {
                        rows: x.rows,
                        cols: n,
                        data: proba,
                        columns: Some(classes.clone()),
                    });
                }
                let idx: Vec<usize> = proba.chunks(n).map(argmax).collect();
                Ok(Prediction::Labels(classes.take(&idx)))
            }
        }
    }
    fn about(&self) -> &About {
        &self.about
    }
}
