//! Building final estimators from their fitted attributes.

use super::predict::*;
use super::read::*;
use super::*;
use crate::serving::flavors::error::{LoadError, LoadResult};
use crate::serving::flavors::frame::Labels;
use crate::serving::flavors::tree::{FlatTree, RawNode, DEFAULT_LEFT};
use crate::serving::flavors::value::ArrayData;
use crate::serving::flavors::value::Value;
pub(super) fn forest_trees(
    o: &Value,
    n_features: usize,
    k: Option<usize>,
) -> LoadResult<Vec<FlatTree>> {
    let ests = o
        .req("estimators_")?
        .as_seq()
        .ok_or_else(|| inv("estimators_ is not a list"))?;
    if ests.is_empty() {
        return Err(inv("the forest has no trees"));
    }
    ests.iter()
        .map(|e| {
            check_outputs(e)?;
            sk_tree(e.req("tree_")?, n_features, k)
        })
        .collect()
}

pub(super) fn classes_k(o: &Value) -> LoadResult<(Labels, usize)> {
    let classes = labels_of(o.req("classes_")?)?;
    let k = classes.len();
    if k < 2 {
        return Err(inv("a classifier needs at least two classes"));
    }
    Ok((classes, k))
}

pub(super) fn object_items(v: &Value) -> LoadResult<(Vec<Value>, Vec<usize>)> {
    match v {
        Value::Array(a) => match &a.data {
            ArrayData::Object(items) => Ok((items.clone(), a.shape.clone())),
            _ => Err(inv("expected an array of estimators")),
        },
        Value::List(l) => Ok((l.clone(), vec![l.len()])),
        _ => Err(inv("expected an array of estimators")),
    }
}

pub(super) fn build_final(o: &Value) -> LoadResult<Final> {
    let class = o.class().unwrap_or("").to_string();
    let short = o.short_class().to_string();
    let nf = n_features_of(o);
    let need_nf = || nf.ok_or_else(|| inv(format!("{short} has no n_features_in_")));
    check_outputs(o)?;
    let f = match short.as_str() {
        "DecisionTreeClassifier"
        | "ExtraTreeClassifier"
        | "RandomForestClassifier"
        | "ExtraTreesClassifier" => {
            let n = need_nf()?;
            let (classes, k) = classes_k(o)?;
            let trees = if short.ends_with("TreeClassifier") {
                vec![sk_tree(o.req("tree_")?, n, Some(k))?]
            } else {
                forest_trees(o, n, Some(k))?
            };
            Final {
                model: Model::ForestClf { trees, k },
                head: Head::Classifier {
                    classes,
                    rule: BinRule::Gt,
                    proba: Proba::None,
                },
                n_features: n,
                class,
            }
        }
        "DecisionTreeRegressor"
        | "ExtraTreeRegressor"
        | "RandomForestRegressor"
        | "ExtraTreesRegressor" => {
            let n = need_nf()?;
            let trees = if short.ends_with("TreeRegressor") {
                vec![sk_tree(o.req("tree_")?, n, None)?]
            } else {
                forest_trees(o, n, None)?
            };
            Final {
                model: Model::ForestReg { trees },
                head: Head::Regressor { exp: false },
                n_features: n,
                class,
            }
        }
        "GradientBoostingClassifier" | "GradientBoostingRegressor" => {
            let n = need_nf()?;
            let is_clf = short.ends_with("Classifier");
            let loss =
                attr_str(o, "loss").unwrap_or(if is_clf { "log_loss" } else { "squared_error" });
            let (items, shape) = object_items(o.req("estimators_")?)?;
            let (n_stages, k) = match shape.as_slice() {
                [s, k] => (*s, *k),
                _ => return Err(inv("estimators_ is not 2-D")),
            };
            let mut stages = Vec::with_capacity(n_stages);
            for s in 0..n_stages {
                let mut row = Vec::with_capacity(k);
                for j in 0..k {
                    let e = items
                        .get(s * k + j)
                        .ok_or_else(|| inv("estimators_ is shorter than its shape"))?;
                    row.push(sk_tree(e.req("tree_")?, n, None)?);
                }
                stages.push(row);
            }
            let lr = o
                .req("learning_rate")?
                .as_f64()
                .ok_or_else(|| inv("learning_rate is not a number"))?;
            let init_ = o.req("init_")?;
            let (head, init) = if is_clf {
                let (classes, nk) = classes_k(o)?;
                let proba = match loss {
                    "log_loss" | "deviance" => Proba::Multinomial,
                    "exponential" => Proba::Exponential,
                    l => {
                        return Err(LoadError::unsupported(format!(
                            "GradientBoosting loss '{l}'"
                        )))
                    }
                };
                let init = match init_ {
                    Value::Str(s) if s == "zero" => vec![0.0; k],
                    d if d.short_class() == "DummyClassifier" => {
                        if attr_str(d, "strategy").unwrap_or("prior") != "prior" {
                            return Err(LoadError::unsupported(
                                "GradientBoosting init estimator with a strategy other than 'prior'",
                            ));
                        }
                        let prior = attr_f64s(d, "class_prior_")?;
                        let eps = f64::EPSILON;
                        let p: Vec<f64> = prior.iter().map(|p| p.clamp(eps, 1.0 - eps)).collect();
                        if nk == 2 && k == 1 {
                            let p1 = p.get(1).copied().unwrap_or(0.5);
                            let l = (p1 / (1.0 - p1)).ln();
                            vec![if matches!(proba, Proba::Exponential) {
                                0.5 * l
                            } else {
                                l
                            }]
                        } else {
                            let logs: Vec<f64> = p.iter().map(|x| x.ln()).collect();
                            let mean = logs.iter().sum::<f64>() / logs.len() as f64;
                            logs.iter().map(|l| l - mean).collect()
                        }
                    }
                    other => {
                        return Err(unsupported_class(&format!(
                            "GradientBoosting init={}",
                            other.type_name()
                        )))
                    }
                };
                (
                    Head::Classifier {
                        classes,
                        rule: BinRule::Ge,
                        proba,
                    },
                    init,
                )
            } else {
                let init = match init_ {
                    Value::Str(s) if s == "zero" => vec![0.0],
                    d if d.short_class() == "DummyRegressor" => {
                        vec![attr_f64s(d, "constant_")?.first().copied().unwrap_or(0.0)]
                    }
                    other => {
                        return Err(unsupported_class(&format!(
                            "GradientBoosting init={}",
                            other.type_name()
                        )))
                    }
                };
                (Head::Regressor { exp: false }, init)
            };
            if init.len() != k {
                return Err(inv("GradientBoosting init does not match its trees"));
            }
            Final {
                model: Model::Boosted {
                    init,
                    lr,
                    stages,
                    hist: false,
                },
                head,
                n_features: n,
                class,
            }
        }
        "HistGradientBoostingClassifier" | "HistGradientBoostingRegressor" => {
            let n = need_nf()?;
            let is_clf = short.ends_with("Classifier");
            if o.attr("_preprocessor").is_some_and(|p| !p.is_none()) {
                return Err(LoadError::unsupported(
                    "HistGradientBoosting with categorical features (from pandas categories) is not supported; convert it to ONNX and log it with mlflow.onnx.log_model",
                ));
            }
            let base = attr_f64s(o, "_baseline_prediction")?;
            let k = base.len();
            let preds = o
                .req("_predictors")?
                .as_seq()
                .ok_or_else(|| inv("_predictors is not a list"))?;
            let mut stages = Vec::with_capacity(preds.len());
            for it in preds {
                let it = it
                    .as_seq()
                    .ok_or_else(|| inv("_predictors item is not a list"))?;
                if it.len() != k {
                    return Err(inv(
                        "HistGradientBoosting iteration has the wrong tree count",
                    ));
                }
                let mut row = Vec::with_capacity(k);
                for p in it {
                    row.push(hgb_tree(p, n)?);
                }
                stages.push(row);
            }
            let head = if is_clf {
                let (classes, _) = classes_k(o)?;
                Head::Classifier {
                    classes,
                    rule: BinRule::Gt,
                    proba: Proba::Multinomial,
                }
            } else {
                let loss = attr_str(o, "loss").unwrap_or("squared_error");
                Head::Regressor {
                    exp: matches!(loss, "poisson" | "gamma"),
                }
            };
            Final {
                model: Model::Boosted {
                    init: base,
                    lr: 1.0,
                    stages,
                    hist: true,
                },
                head,
                n_features: n,
                class,
            }
        }
        "LogisticRegression" | "SGDClassifier" | "LinearSVC" => {
            let n = need_nf()?;
            let (classes, k) = classes_k(o)?;
            let coef = matrix_of(o.req("coef_")?, "coef_")?;
            let intercept = f64s(o.req("intercept_")?, "intercept_")?;
            let want = if k == 2 { 1 } else { k };
            if coef.rows != want || coef.cols != n || intercept.len() != want {
                return Err(inv(format!(
                    "{short} coefficients do not match its classes and features"
                )));
            }
            let proba = match short.as_str() {
                "LogisticRegression" => {
                    let mc = attr_str(o, "multi_class").unwrap_or("auto");
                    let solver = attr_str(o, "solver").unwrap_or("lbfgs");
                    if k > 2 && (mc == "ovr" || (mc != "multinomial" && solver == "liblinear")) {
                        Proba::Ovr
                    } else {
                        Proba::Multinomial
                    }
                }
                "SGDClassifier" => match attr_str(o, "loss") {
                    Some("log_loss" | "log") => Proba::Ovr,
                    _ => Proba::None,
                },
                _ => Proba::None,
            };
            Final {
                model: Model::Linear { coef, intercept },
                head: Head::Classifier {
                    classes,
                    rule: BinRule::Gt,
                    proba,
                },
                n_features: n,
                class,
            }
        }
        "LinearRegression" | "Ridge" | "Lasso" | "ElasticNet" | "SGDRegressor" | "LinearSVR" => {
            let n = need_nf()?;
            let coef = matrix_of(o.req("coef_")?, "coef_")?;
            let intercept = match o.attr("intercept_") {
                Some(v) => f64s(v, "intercept_")?,
                None => vec![0.0; coef.rows],
            };
            let intercept = if intercept.len() == 1 && coef.rows > 1 {
                vec![intercept.first().copied().unwrap_or(0.0); coef.rows]
            } else {
                intercept
            };
            if coef.cols != n || intercept.len() != coef.rows {
                return Err(inv(format!(
                    "{short} coefficients do not match its features"
                )));
            }
            Final {
                model: Model::Linear { coef, intercept },
                head: Head::Regressor { exp: false },
                n_features: n,
                class,
            }
        }
        "SVR" => {
            let n = need_nf()?;
            let sv = matrix_of(o.req("support_vectors_")?, "support_vectors_")?;
            let dual = f64s(
                o.attr("_dual_coef_").unwrap_or(o.req("dual_coef_")?),
                "dual_coef_",
            )?;
            let intercept = f64s(
                o.attr("_intercept_").unwrap_or(o.req("intercept_")?),
                "intercept_",
            )?
            .first()
            .copied()
            .unwrap_or(0.0);
            if sv.cols != n || sv.rows != dual.len() {
                return Err(inv("SVR support vectors do not match its coefficients"));
            }
            let gamma = o.attr("_gamma").and_then(Value::as_f64).unwrap_or(1.0);
            let coef0 = o.attr("coef0").and_then(Value::as_f64).unwrap_or(0.0);
            let degree = o.attr("degree").and_then(Value::as_f64).unwrap_or(3.0);
            let kernel = match attr_str(o, "kernel").unwrap_or("rbf") {
                "rbf" => Kernel::Rbf(gamma),
                "linear" => Kernel::Linear,
                "poly" => Kernel::Poly(gamma, coef0, degree),
                "sigmoid" => Kernel::Sigmoid(gamma, coef0),
                k => return Err(LoadError::unsupported(format!("SVR kernel '{k}'"))),
            };
            Final {
                model: Model::Svr {
                    sv,
                    dual,
                    intercept,
                    kernel,
                },
                head: Head::Regressor { exp: false },
                n_features: n,
                class,
            }
        }
        _ => return Err(unsupported_class(&class)),
    };
    Ok(f)
}

pub(super) fn hgb_tree(p: &Value, n_features: usize) -> LoadResult<FlatTree> {
    if p.short_class() != "TreePredictor" {
        return Err(inv(format!(
            "expected a TreePredictor, found {}",
            p.type_name()
        )));
    }
    let nodes = p
        .req("nodes")?
        .as_array()
        .ok_or_else(|| inv("TreePredictor.nodes is not an array"))?;
    let value = record_f64(nodes, "value")?;
    let feature = record_i64(nodes, "feature_idx")?;
    let thr = record_f64(nodes, "num_threshold")?;
    let missing = record_i64(nodes, "missing_go_to_left")?;
    let left = record_i64(nodes, "left")?;
    let right = record_i64(nodes, "right")?;
    let is_leaf = record_i64(nodes, "is_leaf")?;
    let is_cat = record_i64(nodes, "is_categorical").unwrap_or_default();
    let n = value.len();
    if [
        feature.len(),
        thr.len(),
        missing.len(),
        left.len(),
        right.len(),
        is_leaf.len(),
    ]
    .iter()
    .any(|&l| l != n)
    {
        return Err(inv("TreePredictor node fields have different lengths"));
    }
    if is_cat.iter().zip(&is_leaf).any(|(&c, &l)| c != 0 && l == 0) {
        return Err(LoadError::unsupported(
            "HistGradientBoosting categorical splits are not supported",
        ));
    }
    let raw: Vec<RawNode> = (0..n)
        .map(|i| RawNode {
            leaf: is_leaf.get(i).copied().unwrap_or(1) != 0,
            feature: feature.get(i).copied().unwrap_or(-1),
            thr: thr.get(i).copied().unwrap_or(0.0),
            left: left.get(i).copied().unwrap_or(-1),
            right: right.get(i).copied().unwrap_or(-1),
            flags: if missing.get(i).copied().unwrap_or(0) != 0 {
                DEFAULT_LEFT
            } else {
                0
            },
        })
        .collect();
    FlatTree::build(&raw, n_features, 1, |i| {
        Ok(vec![value.get(i).copied().unwrap_or(0.0)])
    })
}
