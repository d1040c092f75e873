//! Pure-Rust readers and evaluators for the models MLflow users log with the `sklearn`,
//! `xgboost` and `lightgbm` flavors: no Python, no FFI, nothing from a file is ever executed.
//!
//! ```no_run
//! use std::path::Path;
//! use weir::serving::flavors::{load, Column, Frame, Method};
//!
//! let conf = serde_json::json!({"pickled_model": "model.skops", "serialization_format": "skops"});
//! let model = load(Path::new("/models/iris"), "sklearn", &conf)?;
//! let frame = Frame::named(vec![
//!     ("sepal_length".into(), Column::F64(vec![5.1])),
//!     ("sepal_width".into(), Column::F64(vec![3.5])),
//!     ("petal_length".into(), Column::F64(vec![1.4])),
//!     ("petal_width".into(), Column::F64(vec![0.2])),
//! ])?;
//! let labels = model.predict(&frame, Method::Predict)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`pickle`]: a pickle interpreter that builds an inert [`Value`] tree under an allow-list.
//! - [`skops`]: skops archives (`schema.json` + `.npy`) into the same tree.
//! - [`npy`], [`ndarray`]: numpy arrays, including record dtypes.
//! - [`ubjson`]: Universal Binary JSON (XGBoost's default format).
//! - [`sklearn`], [`xgboost`], [`lightgbm`]: the estimators.

#![forbid(unsafe_code)]

pub mod dtype;
pub mod error;
pub mod frame;
pub mod lightgbm;
pub mod limits;
pub mod npy;
pub mod pickle;
mod pylit;
pub mod sklearn;
pub mod skops;
mod tree;
pub mod ubjson;
pub mod value;
pub mod xgboost;

use std::io::Read;
use std::path::{Component, Path};

pub use error::{LoadError, PredictError};
pub use frame::{Column, Frame, Labels, Matrix, Method, Prediction};
pub use value::Value;

/// A loaded model.
pub trait Estimator: Send + Sync {
    /// Runs `method` on every row of `frame`. Columns are matched by name when both the frame
    /// and the model have names, otherwise by position.
    fn predict(&self, frame: &Frame, method: Method) -> Result<Prediction, PredictError>;
    /// What the model says about itself.
    fn about(&self) -> &About;
    /// The methods this model has (`Predict` always; `PredictProba` for classifiers that
    /// have it).
    fn methods(&self) -> &[Method] {
        &self.about().methods
    }
    /// How many input columns the model was fitted on.
    fn n_features_in(&self) -> Option<usize> {
        Some(self.about().n_features)
    }
    /// The input column names the model was fitted on, when it was fitted on named columns.
    fn feature_names_in(&self) -> Option<&[String]> {
        self.about().names.as_deref()
    }
    /// A short description, e.g. `sklearn Pipeline(StandardScaler, LogisticRegression)`.
    fn describe(&self) -> String {
        self.about().desc.clone()
    }
}

/// What every loaded estimator knows about itself, kept once per model.
#[derive(Debug, Clone)]
pub struct About {
    /// `Predict` always; `PredictProba` for classifiers that have it.
    pub methods: Vec<Method>,
    /// The number of input columns it was fitted on.
    pub n_features: usize,
    /// The column names it was fitted on, if it was fitted on named columns.
    pub names: Option<Vec<String>>,
    /// A short description for logs and errors.
    pub desc: String,
}

impl About {
    /// Aligns a request's frame to the fitted columns (by name when both have names).
    pub fn align(&self, frame: &Frame) -> Result<Frame, PredictError> {
        frame.align(self.names.as_deref(), self.n_features)
    }
}

/// Loads a model directory of the given MLflow `flavor` (`"sklearn"`, `"xgboost"` or
/// `"lightgbm"`). `flavor_conf` is that flavor's block of the `MLmodel` file, as JSON (e.g.
/// `{"pickled_model": "model.skops", "serialization_format": "skops"}`).
pub fn load(
    model_dir: &Path,
    flavor: &str,
    flavor_conf: &serde_json::Value,
) -> Result<Box<dyn Estimator>, LoadError> {
    let conf_str = |k: &str| flavor_conf.get(k).and_then(serde_json::Value::as_str);
    match flavor {
        "sklearn" => {
            let file = conf_str("pickled_model").unwrap_or("model.pkl");
            let bytes = read_model_file(model_dir, file)?;
            let root = decode_python(&bytes, file)?;
            if root.class().is_some_and(|c| c.starts_with("lightgbm.sklearn.")) {
                return Ok(Box::new(lightgbm::from_sklearn(&root).map_err(|e| e.context(file))?));
            }
            Ok(Box::new(sklearn::build(&root).map_err(|e| e.context(file))?))
        }
        "xgboost" => {
            let file = conf_str("data").unwrap_or("model.xgb");
            let bytes = read_model_file(model_dir, file)?;
            let doc = xgboost::parse_bytes(&bytes).map_err(|e| e.context(file))?;
            Ok(Box::new(
                xgboost::build(&doc, conf_str("model_class")).map_err(|e| e.context(file))?,
            ))
        }
        "lightgbm" => {
            let file = conf_str("data").unwrap_or("model.lgb");
            let bytes = read_model_file(model_dir, file)?;
            if bytes.starts_with(b"tree") {
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| LoadError::invalid(format!("{file}: the model text is not UTF-8")))?;
                return Ok(Box::new(lightgbm::parse(text).map_err(|e| e.context(file))?));
            }
            let root = decode_python(&bytes, file)?;
            Ok(Box::new(lightgbm::from_sklearn(&root).map_err(|e| e.context(file))?))
        }
        other => Err(LoadError::unsupported(format!(
            "flavor '{other}' (Weir evaluates sklearn, xgboost and lightgbm natively; convert other models to ONNX and log them with mlflow.onnx.log_model; for PyTorch, torch.onnx.export)"
        ))),
    }
}

/// A pickle or skops file into a value tree, recognised by content.
fn decode_python(bytes: &[u8], file: &str) -> Result<Value, LoadError> {
    let allow = |m: &str, n: &str| sklearn::allowed(m, n);
    let v = if bytes.starts_with(b"PK") {
        skops::load(std::io::Cursor::new(bytes), &allow)
    } else if bytes.first() == Some(&0x80) {
        pickle::load(bytes, &allow)
    } else {
        Err(LoadError::invalid(
            "the model file is neither a pickle nor a skops archive",
        ))
    };
    v.map_err(|e| e.context(file))
}

/// Reads `file` inside `dir`, refusing paths that leave the directory and oversized files.
fn read_model_file(dir: &Path, file: &str) -> Result<Vec<u8>, LoadError> {
    let rel = Path::new(file);
    if file.is_empty() || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(LoadError::refused(format!(
            "the MLmodel file names '{file}', which is not a plain path inside the model directory"
        )));
    }
    let path = dir.join(rel);
    let io = |source| LoadError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(&path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > limits::MAX_FILE_BYTES {
        return Err(LoadError::invalid(format!(
            "{file} has {len} bytes, over the {} limit",
            limits::MAX_FILE_BYTES
        )));
    }
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(limits::MAX_FILE_BYTES)
        .read_to_end(&mut buf)
        .map_err(io)?;
    Ok(buf)
}
