//! Models MLflow logs with the `sklearn`, `xgboost` and `lightgbm` flavors, evaluated in process
//! by [`crate::serving::flavors`] (no Python, nothing from the file executed). The engine's inputs
//! come from the model's signature, so every request format decodes into them as for an ONNX
//! model; a runner turns those tensors into a frame, calls the pyfunc's method (`predict`, or the
//! flavor's `predict_fn`), and answers one output tensor, as `mlflow models serve` answers the
//! numpy array the method returns.

use std::path::Path;
use std::sync::Arc;

use super::{BackendKind, Engine, Runner};
use crate::serving::flavors::{self, Column, Estimator, Frame, Labels, Method, Prediction};
use crate::serving::mlmodel::{Field, MlModel};
use crate::serving::tensor::{DType, Data, Spec, Tensor, Value};

/// The one output's name in KServe's answers and metadata.
const OUTPUT: &str = "predictions";

/// How the decoded inputs become a frame.
#[derive(Debug, Clone, PartialEq)]
enum Layout {
    /// One tensor per column, named after the signature's columns.
    Columns(Vec<String>),
    /// One `[rows, columns]` (or `[rows]`) tensor; its columns carry these names when the
    /// model was fitted on named columns, else they go by position.
    Matrix(Option<Vec<String>>),
}

struct Native {
    estimator: Box<dyn Estimator>,
    method: Method,
    layout: Layout,
}

struct NativeRunner(Arc<Native>);

impl Runner for NativeRunner {
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Value>, String> {
        let m = &self.0;
        let frame = frame(&m.layout, inputs)?;
        let out = m
            .estimator
            .predict(&frame, m.method)
            .map_err(|e| e.to_string())?;
        Ok(vec![Value::Tensor(output(out))])
    }
}

/// Load `dir`'s `flavor` (its MLmodel block `conf`) with `workers` runners sharing one estimator.
/// Blocking: reads and decodes the model file.
pub fn load(
    dir: &Path,
    mlmodel: &MlModel,
    flavor: &str,
    conf: &serde_json::Value,
    workers: usize,
) -> Result<Engine, String> {
    let method = match mlmodel.predict_fn() {
        "predict" => Method::Predict,
        "predict_proba" => Method::PredictProba,
        other => {
            return Err(format!(
                "the model's pyfunc predict_fn is '{other}'; Weir answers with predict or predict_proba"
            ))
        }
    };
    let estimator = flavors::load(dir, flavor, conf).map_err(|e| e.to_string())?;
    if !estimator.methods().contains(&method) {
        return Err(format!(
            "the model's pyfunc predict_fn is '{}', which {} does not have",
            method.name(),
            estimator.describe()
        ));
    }
    let (layout, inputs) = inputs(mlmodel, estimator.as_ref())?;
    let columns = match &layout {
        Layout::Matrix(Some(names)) if mlmodel.signature.is_none() => Some(names.clone()),
        _ => None,
    };
    let outputs = vec![output_spec(mlmodel, method)];
    let backend = match flavor {
        "xgboost" => BackendKind::XGBoost,
        "lightgbm" => BackendKind::LightGbm,
        _ => BackendKind::Sklearn,
    };
    tracing::info!(model = %estimator.describe(), method = method.name(), "evaluating natively");
    let shared = Arc::new(Native {
        estimator,
        method,
        layout,
    });
    Ok(Engine {
        backend,
        inputs,
        columns,
        outputs,
        runners: (0..workers.max(1))
            .map(|_| Box::new(NativeRunner(shared.clone())) as Box<dyn Runner>)
            .collect(),
    })
}

/// The engine's inputs, from the signature as MLflow enforces it: a column signature gives one
/// input per column (typed by its column type), a tensor signature its tensor, and no signature
/// one float matrix of the model's width (matched by the model's own column names, if any).
fn inputs(m: &MlModel, est: &dyn Estimator) -> Result<(Layout, Vec<Spec>), String> {
    let fields = m
        .signature
        .as_ref()
        .map(|s| s.inputs.as_slice())
        .unwrap_or(&[]);
    let named_columns: Option<Vec<(String, DType)>> = fields
        .iter()
        .map(|f| match f {
            Field::Column {
                name: Some(name),
                ty,
            } => Some((name.clone(), column_dtype(ty))),
            _ => None,
        })
        .collect();
    match (fields, named_columns) {
        ([], _) => {
            let width = est.n_features_in().map_or(-1, |n| n as i64);
            let names = est.feature_names_in().map(<[String]>::to_vec);
            Ok((
                Layout::Matrix(names),
                vec![Spec::tensor("input", DType::F64, vec![-1, width])],
            ))
        }
        (_, Some(cols)) => Ok((
            Layout::Columns(cols.iter().map(|(n, _)| n.clone()).collect()),
            cols.iter()
                .map(|(n, d)| Spec::tensor(n, *d, vec![-1]))
                .collect(),
        )),
        (
            [Field::Tensor {
                name,
                dtype: Some(dtype),
                shape,
            }],
            None,
        ) => Ok((
            Layout::Matrix(None),
            vec![Spec::tensor(
                name.as_deref().unwrap_or("input"),
                *dtype,
                shape.clone(),
            )],
        )),
        _ => Err(
            "the model's signature is neither named columns nor one tensor; Weir cannot feed it"
                .into(),
        ),
    }
}

/// The tensor type a signature column decodes into.
fn column_dtype(ty: &str) -> DType {
    match ty {
        "string" | "binary" => DType::Str,
        "long" | "integer" => DType::I64,
        "boolean" => DType::Bool,
        _ => DType::F64,
    }
}

/// The output's spec: the signature's output type when it has one, else what the method gives.
fn output_spec(m: &MlModel, method: Method) -> Spec {
    let from_signature = m
        .signature
        .as_ref()
        .and_then(|s| match s.outputs.as_slice() {
            [Field::Tensor {
                dtype: Some(d),
                shape,
                ..
            }] => Some((*d, shape.clone())),
            [Field::Column { ty, .. }] => Some((column_dtype(ty), vec![-1])),
            _ => None,
        });
    let (dtype, shape) = match (method, from_signature) {
        (Method::PredictProba, _) => (DType::F64, vec![-1, -1]),
        (Method::Predict, Some(s)) => s,
        (Method::Predict, None) => (DType::F64, vec![-1]),
    };
    Spec::tensor(OUTPUT, dtype, shape)
}

/// The decoded tensors as the frame the estimator reads.
fn frame(layout: &Layout, inputs: Vec<Tensor>) -> Result<Frame, String> {
    match layout {
        Layout::Columns(names) => {
            if inputs.len() != names.len() {
                return Err(format!(
                    "expected {} input columns, got {}",
                    names.len(),
                    inputs.len()
                ));
            }
            let cols = names
                .iter()
                .cloned()
                .zip(inputs.into_iter().map(|t| column(t.data)))
                .collect();
            Frame::named(cols).map_err(|e| e.to_string())
        }
        Layout::Matrix(names) => {
            let [t] = <[Tensor; 1]>::try_from(inputs)
                .map_err(|v| format!("expected one input tensor, got {}", v.len()))?;
            let rows = t.rows();
            let width = if t.shape.len() < 2 {
                1
            } else {
                t.shape[1..].iter().product()
            };
            let cols = split_columns(t.data, rows, width);
            match names {
                Some(names) if names.len() == cols.len() => {
                    Frame::named(names.iter().cloned().zip(cols).collect())
                }
                _ => Frame::unnamed(cols),
            }
            .map_err(|e| e.to_string())
        }
    }
}

/// One column's values as the estimator reads them.
fn column(data: Data) -> Column {
    fn f64s<T: Copy + Into<f64>>(v: Vec<T>) -> Column {
        Column::F64(v.into_iter().map(Into::into).collect())
    }
    match data {
        Data::F32(v) => f64s(v),
        Data::F64(v) => Column::F64(v),
        Data::I8(v) => Column::I64(v.into_iter().map(i64::from).collect()),
        Data::I16(v) => Column::I64(v.into_iter().map(i64::from).collect()),
        Data::I32(v) => Column::I64(v.into_iter().map(i64::from).collect()),
        Data::I64(v) => Column::I64(v),
        Data::U8(v) => Column::I64(v.into_iter().map(i64::from).collect()),
        Data::U16(v) => Column::I64(v.into_iter().map(i64::from).collect()),
        Data::U32(v) => Column::I64(v.into_iter().map(i64::from).collect()),
        Data::U64(v) => Column::F64(v.into_iter().map(|x| x as f64).collect()),
        Data::Bool(v) => Column::Bool(v),
        Data::Str(v) => Column::Str(v.into_iter().map(Some).collect()),
    }
}

/// A row-major `rows x width` tensor's columns.
fn split_columns(data: Data, rows: usize, width: usize) -> Vec<Column> {
    fn pick<T: Clone>(v: &[T], rows: usize, width: usize, c: usize) -> Vec<T> {
        (0..rows)
            .filter_map(|r| v.get(r * width + c).cloned())
            .collect()
    }
    if width == 1 {
        return vec![column(data)];
    }
    (0..width)
        .map(|c| {
            let part = match &data {
                Data::F32(v) => Data::F32(pick(v, rows, width, c)),
                Data::F64(v) => Data::F64(pick(v, rows, width, c)),
                Data::I8(v) => Data::I8(pick(v, rows, width, c)),
                Data::I16(v) => Data::I16(pick(v, rows, width, c)),
                Data::I32(v) => Data::I32(pick(v, rows, width, c)),
                Data::I64(v) => Data::I64(pick(v, rows, width, c)),
                Data::U8(v) => Data::U8(pick(v, rows, width, c)),
                Data::U16(v) => Data::U16(pick(v, rows, width, c)),
                Data::U32(v) => Data::U32(pick(v, rows, width, c)),
                Data::U64(v) => Data::U64(pick(v, rows, width, c)),
                Data::Bool(v) => Data::Bool(pick(v, rows, width, c)),
                Data::Str(v) => Data::Str(pick(v, rows, width, c)),
            };
            column(part)
        })
        .collect()
}

/// What the method returned, as the one output tensor.
fn output(p: Prediction) -> Tensor {
    match p {
        Prediction::Labels(l) => {
            let data = match l {
                Labels::I64(v) => Data::I64(v),
                Labels::F64(v) => Data::F64(v),
                Labels::Str(v) => Data::Str(v),
                Labels::Bool(v) => Data::Bool(v),
            };
            Tensor::new(vec![data.len()], data)
        }
        Prediction::Values(v) => Tensor::new(vec![v.len()], Data::F64(v)),
        Prediction::Matrix {
            rows, cols, data, ..
        } => Tensor::new(vec![rows, cols], Data::F64(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_split_into_columns_and_back() {
        let cols = split_columns(Data::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), 2, 3);
        assert_eq!(
            cols,
            vec![
                Column::F64(vec![1.0, 4.0]),
                Column::F64(vec![2.0, 5.0]),
                Column::F64(vec![3.0, 6.0])
            ]
        );
        let f = frame(
            &Layout::Columns(vec!["a".into(), "b".into()]),
            vec![
                Tensor::new(vec![2], Data::Str(vec!["x".into(), "y".into()])),
                Tensor::new(vec![2, 1], Data::I64(vec![1, 2])),
            ],
        )
        .unwrap();
        assert_eq!(f.n_rows(), 2);
        assert_eq!(f.names(), Some(&["a".to_string(), "b".to_string()][..]));
        let t = output(Prediction::Matrix {
            rows: 2,
            cols: 2,
            data: vec![0.1, 0.9, 0.8, 0.2],
            columns: None,
        });
        assert_eq!(t.shape, vec![2, 2]);
        assert!(frame(&Layout::Matrix(None), vec![]).is_err());
    }
}
