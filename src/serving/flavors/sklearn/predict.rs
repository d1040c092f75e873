//! Final estimators, evaluated: forests, boosted trees, linear models and SVR, with their
//! classifier or regressor heads.

use crate::serving::flavors::error::PredictError;
use crate::serving::flavors::frame::{argmax, Labels, Matrix, Method, Prediction};
use crate::serving::flavors::tree::{hgb_rule, sk_rule, FlatTree};
// ------------------------------------------------------------------------------------------
// Final estimators.

#[derive(Debug, Clone, Copy)]
pub(super) enum BinRule {
    /// `decision > 0` picks class 1 (linear models, HistGradientBoosting).
    Gt,
    /// `decision >= 0` picks class 1 (GradientBoosting).
    Ge,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Proba {
    None,
    /// Binary: expit(d) -> [1-p, p]; multiclass: softmax.
    Multinomial,
    /// expit of each decision, normalized (one-vs-rest); binary: [1-p, p].
    Ovr,
    /// ExponentialLoss: expit(2d) -> [1-p, p].
    Exponential,
}

pub(super) enum Model {
    /// Averaged per-tree class probabilities (one tree: a decision tree).
    ForestClf {
        trees: Vec<FlatTree>,
        k: usize,
    },
    ForestReg {
        trees: Vec<FlatTree>,
    },
    /// Raw scores: `init + lr * sum(trees)` per class column.
    Boosted {
        init: Vec<f64>,
        lr: f64,
        stages: Vec<Vec<FlatTree>>,
        hist: bool,
    },
    Linear {
        coef: Matrix,
        intercept: Vec<f64>,
    },
    Svr {
        sv: Matrix,
        dual: Vec<f64>,
        intercept: f64,
        kernel: Kernel,
    },
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Kernel {
    Linear,
    Rbf(f64),
    Poly(f64, f64, f64),
    Sigmoid(f64, f64),
}

pub(super) enum Head {
    Classifier {
        classes: Labels,
        rule: BinRule,
        proba: Proba,
    },
    /// Regression: identity, or exp for log-link losses.
    Regressor { exp: bool },
}

pub(super) struct Final {
    pub(super) model: Model,
    pub(super) head: Head,
    pub(super) n_features: usize,
    pub(super) class: String,
}

pub(super) fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

pub(super) fn softmax_row(r: &mut [f64]) {
    let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for x in r.iter_mut() {
        *x = (*x - m).exp();
        s += *x;
    }
    for x in r.iter_mut() {
        *x /= s;
    }
}

impl Model {
    /// Raw outputs: probabilities for forests, decisions/raw scores otherwise.
    pub(super) fn raw(&self, x: &Matrix) -> Matrix {
        match self {
            Model::ForestClf { trees, k } => {
                let mut out = Matrix::zeros(x.rows, *k);
                let n = trees.len() as f64;
                for r in 0..x.rows {
                    let row = x.row(r);
                    let o = out.row_mut(r);
                    for t in trees {
                        for (a, b) in o.iter_mut().zip(t.leaf(row, sk_rule)) {
                            *a += b;
                        }
                    }
                    if trees.len() > 1 {
                        for a in o.iter_mut() {
                            *a /= n;
                        }
                    }
                }
                out
            }
            Model::ForestReg { trees } => {
                let mut out = Matrix::zeros(x.rows, 1);
                let n = trees.len() as f64;
                for r in 0..x.rows {
                    let row = x.row(r);
                    let mut s = 0.0;
                    for t in trees {
                        s += t.leaf(row, sk_rule).first().copied().unwrap_or(0.0);
                    }
                    if let Some(o) = out.row_mut(r).first_mut() {
                        *o = if trees.len() > 1 { s / n } else { s };
                    }
                }
                out
            }
            Model::Boosted {
                init,
                lr,
                stages,
                hist,
            } => {
                let k = init.len();
                let mut out = Matrix::zeros(x.rows, k);
                for r in 0..x.rows {
                    let row = x.row(r);
                    let o = out.row_mut(r);
                    o.copy_from_slice(init);
                    for stage in stages {
                        for (a, t) in o.iter_mut().zip(stage) {
                            if *hist {
                                *a += t.leaf(row, hgb_rule).first().copied().unwrap_or(0.0);
                            } else {
                                *a += lr * t.leaf(row, sk_rule).first().copied().unwrap_or(0.0);
                            }
                        }
                    }
                }
                out
            }
            Model::Linear { coef, intercept } => {
                let mut out = Matrix::zeros(x.rows, coef.rows);
                for r in 0..x.rows {
                    let row = x.row(r);
                    for (j, o) in out.row_mut(r).iter_mut().enumerate() {
                        let w = coef.row(j);
                        let mut s = 0.0;
                        for (a, b) in row.iter().zip(w) {
                            s += a * b;
                        }
                        *o = s + intercept.get(j).copied().unwrap_or(0.0);
                    }
                }
                out
            }
            Model::Svr {
                sv,
                dual,
                intercept,
                kernel,
            } => {
                let mut out = Matrix::zeros(x.rows, 1);
                for r in 0..x.rows {
                    let row = x.row(r);
                    let mut s = 0.0;
                    for (i, c) in dual.iter().enumerate() {
                        let v = sv.row(i);
                        let k = match *kernel {
                            Kernel::Rbf(g) => {
                                let d: f64 =
                                    row.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum();
                                (-g * d).exp()
                            }
                            Kernel::Linear => row.iter().zip(v).map(|(a, b)| a * b).sum(),
                            Kernel::Poly(g, c0, deg) => {
                                let d: f64 = row.iter().zip(v).map(|(a, b)| a * b).sum();
                                (g * d + c0).powf(deg)
                            }
                            Kernel::Sigmoid(g, c0) => {
                                let d: f64 = row.iter().zip(v).map(|(a, b)| a * b).sum();
                                (g * d + c0).tanh()
                            }
                        };
                        s += c * k;
                    }
                    if let Some(o) = out.row_mut(r).first_mut() {
                        *o = s + intercept;
                    }
                }
                out
            }
        }
    }
}

impl Final {
    pub(super) fn is_prob_model(&self) -> bool {
        matches!(self.model, Model::ForestClf { .. })
    }

    pub(super) fn proba(&self, x: &Matrix) -> Result<Matrix, PredictError> {
        let raw = self.model.raw(x);
        if self.is_prob_model() {
            return Ok(raw);
        }
        let Head::Classifier { proba, classes, .. } = &self.head else {
            return Err(PredictError::Method(format!(
                "{} is a regressor and has no predict_proba",
                self.class
            )));
        };
        let k = classes.len();
        let mut out = Matrix::zeros(raw.rows, k);
        for r in 0..raw.rows {
            let d = raw.row(r);
            let o = out.row_mut(r);
            match (proba, d.len()) {
                (Proba::None, _) => {
                    return Err(PredictError::Method(format!(
                        "{} has no predict_proba",
                        self.class
                    )))
                }
                (Proba::Exponential, 1) | (Proba::Multinomial | Proba::Ovr, 1) => {
                    let z = d.first().copied().unwrap_or(0.0);
                    let p = if matches!(proba, Proba::Exponential) {
                        expit(2.0 * z)
                    } else {
                        expit(z)
                    };
                    if let [a, b] = o {
                        *a = 1.0 - p;
                        *b = p;
                    }
                }
                (Proba::Multinomial, _) => {
                    o.copy_from_slice(d);
                    softmax_row(o);
                }
                (Proba::Ovr, _) => {
                    for (a, b) in o.iter_mut().zip(d) {
                        *a = expit(*b);
                    }
                    let s: f64 = o.iter().sum();
                    for a in o.iter_mut() {
                        *a /= s;
                    }
                }
                (Proba::Exponential, _) => {
                    return Err(PredictError::Method("exponential loss is binary".into()))
                }
            }
        }
        Ok(out)
    }

    pub(super) fn predict(&self, x: &Matrix, method: Method) -> Result<Prediction, PredictError> {
        if x.cols != self.n_features {
            return Err(PredictError::Input(format!(
                "{} expects {} features but got {}",
                self.class, self.n_features, x.cols
            )));
        }
        match (&self.head, method) {
            (Head::Regressor { exp }, Method::Predict) => {
                let raw = self.model.raw(x);
                if raw.cols == 1 {
                    let mut v = raw.data;
                    if *exp {
                        v.iter_mut().for_each(|a| *a = a.exp());
                    }
                    Ok(Prediction::Values(v))
                } else {
                    Ok(Prediction::Matrix {
                        rows: raw.rows,
                        cols: raw.cols,
                        data: raw.data,
                        columns: None,
                    })
                }
            }
            (Head::Regressor { .. }, Method::PredictProba) => Err(PredictError::Method(format!(
                "{} is a regressor and has no predict_proba",
                self.class
            ))),
            (Head::Classifier { classes, rule, .. }, Method::Predict) => {
                let raw = self.model.raw(x);
                let idx: Vec<usize> = (0..raw.rows)
                    .map(|r| {
                        let d = raw.row(r);
                        match (d, rule) {
                            ([z], BinRule::Gt) => usize::from(*z > 0.0),
                            ([z], BinRule::Ge) => usize::from(*z >= 0.0),
                            _ => argmax(d),
                        }
                    })
                    .collect();
                Ok(Prediction::Labels(classes.take(&idx)))
            }
            (Head::Classifier { classes, .. }, Method::PredictProba) => {
                let p = self.proba(x)?;
                Ok(Prediction::Matrix {
                    rows: p.rows,
                    cols: p.cols,
                    data: p.data,
                    columns: Some(classes.clone()),
                })
            }
        }
    }

    pub(super) fn has_proba(&self) -> bool {
        match &self.head {
            Head::Regressor { .. } => false,
            Head::Classifier { proba, .. } => self.is_prob_model() || !matches!(proba, Proba::None),
        }
    }
}
