//! Transformers, evaluated on a frame: scaling, imputation, one-hot encoding, column
//! transformers and chains.

use crate::serving::flavors::error::PredictError;
use crate::serving::flavors::frame::{Column, Frame};
// ------------------------------------------------------------------------------------------
// Transformers.

pub(super) enum Transform {
    Identity,
    Standard {
        mean: Option<Vec<f64>>,
        scale: Option<Vec<f64>>,
    },
    MinMax {
        scale: Vec<f64>,
        min: Vec<f64>,
        clip: Option<(f64, f64)>,
    },
    Imputer(Imputer),
    OneHot(OneHot),
    Columns(Box<ColumnT>),
    Chain(Vec<Transform>),
}

pub(super) struct Imputer {
    /// Whether a missing text value (`None`) is imputed. scikit-learn only imputes NaN, so a
    /// model fitted on pandas 2 object columns kept `None` as a category; pandas 3 turns it
    /// into NaN. Cleared when a later encoder learned `None` as a category.
    pub(super) none_is_missing: bool,
    /// Per input column: the fill value (number or text); None = column dropped.
    pub(super) fill: Vec<Option<Fill>>,
    /// What counts as missing besides NaN/None.
    pub(super) missing: Missing,
}

#[derive(Clone)]
pub(super) enum Fill {
    Num(f64),
    Text(String),
}

pub(super) enum Missing {
    Nan,
    Num(f64),
    Text(String),
}

pub(super) struct OneHot {
    pub(super) cats: Vec<Cats>,
    pub(super) drop: Vec<Option<usize>>,
    pub(super) ignore_unknown: bool,
}

pub(super) enum Cats {
    Num(Vec<f64>),
    /// Text categories; `None` stands for a missing value category.
    Text(Vec<Option<String>>),
}

pub(super) struct ColumnT {
    /// (name, transformer or None for passthrough, input column indices)
    pub(super) parts: Vec<(String, Option<Transform>, Vec<usize>)>,
    pub(super) n_features: usize,
    pub(super) names: Option<Vec<String>>,
}

pub(super) fn num_cols(t: &Frame, what: &str) -> Result<Vec<Vec<f64>>, PredictError> {
    t.columns()
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            Column::F64(v) => Ok(v.clone()),
            Column::Str(_) => Err(PredictError::Input(format!(
                "{what}: {} holds text, but numbers are needed",
                t.col_name(i)
            ))),
            other => Ok((0..other.len())
                .map(|r| other.num(r).unwrap_or(f64::NAN))
                .collect()),
        })
        .collect()
}

pub(super) fn from_num(cols: Vec<Vec<f64>>, rows: usize) -> Frame {
    Frame::with_rows(None, cols.into_iter().map(Column::F64).collect(), rows)
}

pub(super) fn check_width(t: &Frame, n: usize, what: &str) -> Result<(), PredictError> {
    if t.n_cols() != n {
        return Err(PredictError::Input(format!(
            "{what} expects {n} columns but got {}",
            t.n_cols()
        )));
    }
    Ok(())
}

impl Transform {
    pub(super) fn apply(&self, t: Frame) -> Result<Frame, PredictError> {
        let rows = t.n_rows();
        match self {
            Transform::Identity => Ok(t),
            Transform::Standard { mean, scale } => {
                let n = mean
                    .as_ref()
                    .or(scale.as_ref())
                    .map_or(t.n_cols(), Vec::len);
                check_width(&t, n, "StandardScaler")?;
                let mut cols = num_cols(&t, "StandardScaler")?;
                for (j, c) in cols.iter_mut().enumerate() {
                    let m = mean.as_ref().and_then(|m| m.get(j).copied());
                    let s = scale.as_ref().and_then(|s| s.get(j).copied());
                    for x in c.iter_mut() {
                        if let Some(m) = m {
                            *x -= m;
                        }
                        if let Some(s) = s {
                            *x /= s;
                        }
                    }
                }
                Ok(from_num(cols, rows))
            }
            Transform::MinMax { scale, min, clip } => {
                check_width(&t, scale.len(), "MinMaxScaler")?;
                let mut cols = num_cols(&t, "MinMaxScaler")?;
                for (j, c) in cols.iter_mut().enumerate() {
                    let s = scale.get(j).copied().unwrap_or(1.0);
                    let m = min.get(j).copied().unwrap_or(0.0);
                    for x in c.iter_mut() {
                        *x *= s;
                        *x += m;
                        if let Some((lo, hi)) = clip {
                            *x = x.clamp(*lo, *hi);
                        }
                    }
                }
                Ok(from_num(cols, rows))
            }
            Transform::Imputer(imp) => imp.apply(t),
            Transform::OneHot(oh) => oh.apply(t),
            Transform::Columns(ct) => ct.apply(t),
            Transform::Chain(steps) => {
                let mut t = t;
                for s in steps {
                    t = s.apply(t)?;
                }
                Ok(t)
            }
        }
    }
}

impl Imputer {
    pub(super) fn apply(&self, t: Frame) -> Result<Frame, PredictError> {
        check_width(&t, self.fill.len(), "SimpleImputer")?;
        let rows = t.n_rows();
        let mut out = Vec::new();
        for (col, fill) in t.into_columns().into_iter().zip(&self.fill) {
            let Some(fill) = fill else { continue };
            out.push(match (col, fill) {
                (Column::Str(v), Fill::Text(f)) => Column::Str(
                    v.into_iter()
                        .map(|s| match (&s, &self.missing) {
                            (None, _) if self.none_is_missing => Some(f.clone()),
                            (Some(x), Missing::Text(m)) if x == m => Some(f.clone()),
                            _ => s,
                        })
                        .collect(),
                ),
                (Column::Str(_), Fill::Num(_)) => {
                    return Err(PredictError::Input(
                        "SimpleImputer: a text column was fitted as numbers".into(),
                    ))
                }
                (c, Fill::Num(f)) => {
                    let v: Vec<f64> = (0..c.len()).map(|r| c.num(r).unwrap_or(f64::NAN)).collect();
                    Column::F64(
                        v.into_iter()
                            .map(|x| match self.missing {
                                Missing::Nan if x.is_nan() => *f,
                                Missing::Num(m) if x == m => *f,
                                _ => x,
                            })
                            .collect(),
                    )
                }
                (c, Fill::Text(f)) => {
                    // Numbers fitted as objects: keep them as text for an encoder.
                    Column::Str(
                        (0..c.len())
                            .map(|r| match c.num(r) {
                                Some(x) if !x.is_nan() => Some(fmt_num(x)),
                                _ => Some(f.clone()),
                            })
                            .collect(),
                    )
                }
            });
        }
        Ok(Frame::with_rows(None, out, rows))
    }
}

pub(super) fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl OneHot {
    pub(super) fn apply(&self, t: Frame) -> Result<Frame, PredictError> {
        check_width(&t, self.cats.len(), "OneHotEncoder")?;
        let rows = t.n_rows();
        let mut out = Vec::new();
        for (j, (col, cats)) in t.columns().iter().zip(&self.cats).enumerate() {
            let n = match cats {
                Cats::Num(c) => c.len(),
                Cats::Text(c) => c.len(),
            };
            let drop = self.drop.get(j).copied().flatten();
            let mut block = vec![vec![0.0; rows]; n];
            for r in 0..rows {
                let hit = match (cats, col) {
                    (Cats::Text(c), Column::Str(v)) => {
                        let x = v.get(r).cloned().flatten();
                        c.iter().position(|k| *k == x)
                    }
                    (Cats::Num(c), col) if !matches!(col, Column::Str(_)) => {
                        let x = col.num(r).unwrap_or(f64::NAN);
                        c.iter().position(|k| *k == x || (k.is_nan() && x.is_nan()))
                    }
                    (Cats::Text(c), col) => {
                        let x = col.num(r).filter(|x| !x.is_nan()).map(fmt_num);
                        c.iter().position(|k| *k == x)
                    }
                    (Cats::Num(_), _) => {
                        return Err(PredictError::Input(format!(
                            "OneHotEncoder: {} holds text, but it was fitted on numbers",
                            t.col_name(j)
                        )))
                    }
                };
                match hit {
                    Some(i) => {
                        if let Some(b) = block.get_mut(i).and_then(|c| c.get_mut(r)) {
                            *b = 1.0;
                        }
                    }
                    None if self.ignore_unknown => {}
                    None => {
                        return Err(PredictError::Input(format!(
                            "OneHotEncoder: {} has a category not seen during fit (row {r})",
                            t.col_name(j)
                        )))
                    }
                }
            }
            for (i, c) in block.into_iter().enumerate() {
                if Some(i) != drop {
                    out.push(Column::F64(c));
                }
            }
        }
        Ok(Frame::with_rows(None, out, rows))
    }
}

impl ColumnT {
    pub(super) fn apply(&self, t: Frame) -> Result<Frame, PredictError> {
        let t = t.align(self.names.as_deref(), self.n_features)?;
        let rows = t.n_rows();
        let mut out = Vec::new();
        for (name, tr, idx) in &self.parts {
            let names: Option<Vec<String>> = self
                .names
                .as_ref()
                .map(|n| idx.iter().filter_map(|&i| n.get(i).cloned()).collect());
            let cols: Vec<Column> = idx
                .iter()
                .map(|&i| {
                    t.columns().get(i).cloned().ok_or_else(|| {
                        PredictError::Input(format!(
                            "ColumnTransformer '{name}': column {i} is missing"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            let sub = Frame::with_rows(names, cols, rows);
            let res = match tr {
                None => sub,
                Some(tr) => tr.apply(sub)?,
            };
            out.extend(res.into_columns());
        }
        Ok(Frame::with_rows(None, out, rows))
    }
}
