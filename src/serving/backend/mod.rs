//! Inference engines behind one interface: ONNX Runtime (`ort`, loaded at run time) and `tract`
//! (pure Rust, behind the default `tract` cargo feature) for ONNX graphs, and [`native`] for the
//! sklearn, xgboost and lightgbm flavors.
//!
//! Loading a model gives an [`Engine`]: the model's input and output specs and one [`Runner`] per
//! worker thread. A runner is used by one thread at a time (ONNX Runtime's `Session::run` takes
//! `&mut self` in rc.15), so the worker pool owns them.

pub mod native;
pub mod ort;
#[cfg(feature = "tract")]
pub mod tract;

use std::path::Path;

use super::tensor::{Spec, Tensor, Value};

/// Which inference engine runs ONNX models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// ONNX Runtime when its library loads, else tract when it supports every operator.
    Auto,
    /// ONNX Runtime, loaded from ORT_DYLIB_PATH or next to the binary.
    Ort,
    /// tract, pure Rust (no native library; fewer operators, slower on tree ensembles).
    Tract,
}

/// Which engine runs a loaded model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Ort,
    Tract,
    /// The sklearn flavor, evaluated natively.
    Sklearn,
    /// The xgboost flavor, evaluated natively.
    XGBoost,
    /// The lightgbm flavor, evaluated natively.
    LightGbm,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Ort => "ort",
            BackendKind::Tract => "tract",
            BackendKind::Sklearn => "sklearn",
            BackendKind::XGBoost => "xgboost",
            BackendKind::LightGbm => "lightgbm",
        }
    }

    /// KServe V2's `platform` in model metadata.
    /// Whether MLflow's pyfunc for this flavor returns one array (sklearn, xgboost, lightgbm:
    /// `{"predictions": [...]}`) rather than a dict of named outputs (onnx).
    pub fn answers_one_array(self) -> bool {
        matches!(
            self,
            BackendKind::Sklearn | BackendKind::XGBoost | BackendKind::LightGbm
        )
    }

    pub fn platform(self) -> &'static str {
        match self {
            BackendKind::Ort => "onnxruntime_onnx",
            BackendKind::Tract => "tract_onnx",
            BackendKind::Sklearn => "sklearn",
            BackendKind::XGBoost => "xgboost",
            BackendKind::LightGbm => "lightgbm",
        }
    }
}

/// Runs a model on one thread.
pub trait Runner: Send {
    /// `inputs` are in the order of the engine's input specs; outputs come back in the order of
    /// its output specs.
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Value>, String>;
}

/// A loaded model, ready to hand its runners to a worker pool.
pub struct Engine {
    pub backend: BackendKind,
    pub inputs: Vec<Spec>,
    /// DataFrame columns the single input packs, by name (a native model fitted on named
    /// columns and logged without a signature); `None` takes them from the signature.
    pub columns: Option<Vec<String>>,
    pub outputs: Vec<Spec>,
    pub runners: Vec<Box<dyn Runner>>,
}

/// Load `path` with the chosen backend, with `workers` runners.
pub fn load(choice: BackendChoice, path: &Path, workers: usize) -> Result<Engine, String> {
    let workers = workers.max(1);
    match choice {
        BackendChoice::Ort => {
            ort::environment().map_err(|e| format!("{e}. {}", ort::HOW_TO_GET))?;
            ort::load(path, workers)
        }
        BackendChoice::Tract => load_tract(path, workers),
        BackendChoice::Auto => match ort::environment() {
            Ok(_) => ort::load(path, workers),
            Err(ort_error) => load_tract(path, workers).map_err(|tract_error| {
                format!(
                    "ONNX Runtime is not available ({ort_error}) and tract cannot run this model ({tract_error}). {}",
                    ort::HOW_TO_GET
                )
            }),
        },
    }
}

#[cfg(feature = "tract")]
fn load_tract(path: &Path, workers: usize) -> Result<Engine, String> {
    tract::load(path, workers)
}

#[cfg(not(feature = "tract"))]
fn load_tract(_path: &Path, _workers: usize) -> Result<Engine, String> {
    Err("this weir was built without the `tract` feature".into())
}

/// Check a tensor's shape against its data before handing it to an engine (engines assert).
pub(crate) fn check_len(t: &Tensor) -> Result<(), String> {
    if super::tensor::num_elements(&t.shape) == Some(t.data.len()) {
        Ok(())
    } else {
        Err(format!(
            "tensor of shape {:?} has {} elements",
            t.shape,
            t.data.len()
        ))
    }
}
