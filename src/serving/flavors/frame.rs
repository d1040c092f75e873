//! Input frames, predictions, and the row-major matrices estimators work on.

use crate::serving::flavors::error::PredictError;

/// One typed input column. Missing values: `NaN` in `F64`, `None` in `Str`.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Str(Vec<Option<String>>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::F64(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Str(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The value at `row` as a number (`None` for text).
    pub(crate) fn num(&self, row: usize) -> Option<f64> {
        match self {
            Column::F64(v) => v.get(row).copied(),
            Column::I64(v) => v.get(row).map(|&i| i as f64),
            Column::Bool(v) => v.get(row).map(|&b| f64::from(u8::from(b))),
            Column::Str(_) => None,
        }
    }
}

/// A table of named (or unnamed, positional) typed columns, all of the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    names: Option<Vec<String>>,
    columns: Vec<Column>,
    rows: usize,
}

impl Frame {
    /// A frame of named columns. Fails if lengths differ or names repeat.
    pub fn named(columns: Vec<(String, Column)>) -> Result<Frame, PredictError> {
        let (names, columns): (Vec<String>, Vec<Column>) = columns.into_iter().unzip();
        for (i, n) in names.iter().enumerate() {
            if names.iter().take(i).any(|m| m == n) {
                return Err(PredictError::Input(format!("column '{n}' appears twice")));
            }
        }
        Frame::build(Some(names), columns)
    }

    /// A frame of positional columns.
    pub fn unnamed(columns: Vec<Column>) -> Result<Frame, PredictError> {
        Frame::build(None, columns)
    }

    /// A frame from a row-major matrix of numbers.
    pub fn from_rows(rows: usize, cols: usize, data: &[f64]) -> Result<Frame, PredictError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(PredictError::Input(format!(
                "{} values do not make {rows} rows of {cols} columns",
                data.len()
            )));
        }
        let columns = (0..cols)
            .map(|c| {
                Column::F64(
                    (0..rows)
                        .filter_map(|r| data.get(r * cols + c).copied())
                        .collect(),
                )
            })
            .collect();
        Frame::build(None, columns)
    }

    fn build(names: Option<Vec<String>>, columns: Vec<Column>) -> Result<Frame, PredictError> {
        let rows = columns.first().map_or(0, Column::len);
        if let Some(c) = columns.iter().position(|c| c.len() != rows) {
            return Err(PredictError::Input(format!(
                "column {c} has {} rows but column 0 has {rows}",
                columns.get(c).map_or(0, Column::len)
            )));
        }
        Ok(Frame {
            names,
            columns,
            rows,
        })
    }

    pub(crate) fn with_rows(
        names: Option<Vec<String>>,
        columns: Vec<Column>,
        rows: usize,
    ) -> Frame {
        Frame {
            names,
            columns,
            rows,
        }
    }

    pub fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
    pub fn n_rows(&self) -> usize {
        self.rows
    }
    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }
    pub(crate) fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    pub(crate) fn col_name(&self, i: usize) -> String {
        self.names
            .as_ref()
            .and_then(|n| n.get(i).cloned())
            .unwrap_or_else(|| format!("column {i}"))
    }

    /// Picks the columns an estimator was fitted on: by name when both sides have names,
    /// otherwise by position (the widths must then agree).
    pub(crate) fn align(
        &self,
        feature_names: Option<&[String]>,
        n_features: usize,
    ) -> Result<Frame, PredictError> {
        if let (Some(want), Some(have)) = (feature_names, self.names.as_ref()) {
            let mut cols = Vec::with_capacity(want.len());
            for w in want {
                let i = have.iter().position(|h| h == w).ok_or_else(|| {
                    PredictError::Input(format!(
                        "the input has no column '{w}' (the model expects {})",
                        want.join(", ")
                    ))
                })?;
                cols.push(
                    self.columns
                        .get(i)
                        .cloned()
                        .ok_or_else(|| PredictError::Input(format!("column '{w}' is missing")))?,
                );
            }
            return Ok(Frame::with_rows(Some(want.to_vec()), cols, self.rows));
        }
        if self.columns.len() != n_features {
            return Err(PredictError::Input(format!(
                "the input has {} columns but the model expects {n_features}",
                self.columns.len()
            )));
        }
        Ok(Frame::with_rows(
            feature_names
                .map(<[String]>::to_vec)
                .or_else(|| self.names.clone()),
            self.columns.clone(),
            self.rows,
        ))
    }

    /// The frame as a row-major matrix of numbers; text columns are an error.
    pub(crate) fn to_matrix(&self) -> Result<Matrix, PredictError> {
        let cols = self.columns.len();
        let mut data = vec![0.0; self.rows.saturating_mul(cols)];
        for (c, col) in self.columns.iter().enumerate() {
            match col {
                Column::F64(v) => {
                    for (r, x) in v.iter().enumerate() {
                        if let Some(d) = data.get_mut(r * cols + c) {
                            *d = *x;
                        }
                    }
                }
                Column::Str(_) => {
                    return Err(PredictError::Input(format!(
                        "{} holds text, but the model needs numbers there",
                        self.col_name(c)
                    )))
                }
                _ => {
                    for r in 0..self.rows {
                        if let Some(d) = data.get_mut(r * cols + c) {
                            *d = col.num(r).unwrap_or(f64::NAN);
                        }
                    }
                }
            }
        }
        Ok(Matrix {
            rows: self.rows,
            cols,
            data,
        })
    }
}

/// A dense row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix {
            rows,
            cols,
            data: vec![0.0; rows.saturating_mul(cols)],
        }
    }
    #[inline]
    pub fn row(&self, r: usize) -> &[f64] {
        let s = r * self.cols;
        self.data.get(s..s + self.cols).unwrap_or(&[])
    }
    #[inline]
    pub fn row_mut(&mut self, r: usize) -> &mut [f64] {
        let s = r * self.cols;
        let c = self.cols;
        self.data.get_mut(s..s + c).unwrap_or(&mut [])
    }
    pub(crate) fn to_frame(&self) -> Frame {
        let columns = (0..self.cols)
            .map(|c| {
                Column::F64(
                    (0..self.rows)
                        .map(|r| {
                            self.data
                                .get(r * self.cols + c)
                                .copied()
                                .unwrap_or(f64::NAN)
                        })
                        .collect(),
                )
            })
            .collect();
        Frame::with_rows(None, columns, self.rows)
    }
}

/// Class labels, typed as the model's `classes_` are.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    I64(Vec<i64>),
    F64(Vec<f64>),
    Str(Vec<String>),
    Bool(Vec<bool>),
}

impl Labels {
    pub fn len(&self) -> usize {
        match self {
            Labels::I64(v) => v.len(),
            Labels::F64(v) => v.len(),
            Labels::Str(v) => v.len(),
            Labels::Bool(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The labels at the given class indices (`classes_[idx]`).
    pub(crate) fn take(&self, idx: &[usize]) -> Labels {
        fn t<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
            idx.iter().filter_map(|&i| v.get(i).cloned()).collect()
        }
        match self {
            Labels::I64(v) => Labels::I64(t(v, idx)),
            Labels::F64(v) => Labels::F64(t(v, idx)),
            Labels::Str(v) => Labels::Str(t(v, idx)),
            Labels::Bool(v) => Labels::Bool(t(v, idx)),
        }
    }
}

/// What a model returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// One class label per row (`predict` of a classifier).
    Labels(Labels),
    /// One number per row (`predict` of a regressor, a binary booster's probability).
    Values(Vec<f64>),
    /// `rows x cols`, row-major: class probabilities (`columns` are then the classes) or a
    /// booster's per-class output.
    Matrix {
        rows: usize,
        cols: usize,
        data: Vec<f64>,
        columns: Option<Labels>,
    },
}

/// Which method of the model to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Predict,
    PredictProba,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Predict => "predict",
            Method::PredictProba => "predict_proba",
        }
    }
}

/// The index of a row's largest value, as numpy's `argmax` picks it: the first maximum, and
/// the first NaN if there is one (what `predict` returns for the classes of a probability row).
pub fn argmax(r: &[f64]) -> usize {
    let mut best = 0;
    let mut bv = f64::NEG_INFINITY;
    for (i, &v) in r.iter().enumerate() {
        if v.is_nan() {
            return i;
        }
        if v > bv {
            bv = v;
            best = i;
        }
    }
    best
}
