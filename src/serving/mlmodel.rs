//! The `MLmodel` file: which flavors a model has, where the ONNX graph is, and the signature
//! (input names, dtypes and shapes) MLflow recorded when the model was logged.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::tensor::DType;

/// What Weir reads from an `MLmodel` file (everything else is ignored).
#[derive(Debug, Clone, Default)]
pub struct MlModel {
    /// Flavor names in file order, for the refusal message.
    pub flavors: Vec<String>,
    /// The `onnx` flavor's `data` file, when there is an onnx flavor.
    pub onnx_data: Option<String>,
    /// Each flavor's block, as JSON (`sklearn: {pickled_model, serialization_format, ...}`).
    pub flavor_conf: std::collections::BTreeMap<String, serde_json::Value>,
    pub signature: Option<Signature>,
    pub run_id: Option<String>,
    pub model_id: Option<String>,
}

/// A model signature: MLflow stores each part as a JSON string inside the YAML.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signature {
    pub inputs: Vec<Field>,
    pub outputs: Vec<Field>,
}

/// One signature entry: a tensor spec or a column spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Tensor {
        name: Option<String>,
        /// `None` for a dtype Weir has no tensor type for.
        dtype: Option<DType>,
        shape: Vec<i64>,
    },
    Column {
        name: Option<String>,
        /// MLflow's column type (`double`, `long`, `string`, ...).
        ty: String,
    },
}

impl Field {
    pub fn name(&self) -> Option<&str> {
        match self {
            Field::Tensor { name, .. } | Field::Column { name, .. } => name.as_deref(),
        }
    }
}

#[derive(Deserialize)]
struct RawMlModel {
    #[serde(default)]
    flavors: serde_yaml::Mapping,
    #[serde(default)]
    signature: Option<RawSignature>,
    #[serde(default)]
    run_id: Option<serde_yaml::Value>,
    #[serde(default)]
    model_id: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    inputs: Option<String>,
    #[serde(default)]
    outputs: Option<String>,
}

#[derive(Deserialize)]
struct RawField {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "tensor-spec", default)]
    tensor_spec: Option<RawTensorSpec>,
}

#[derive(Deserialize)]
struct RawTensorSpec {
    dtype: String,
    #[serde(default)]
    shape: Vec<i64>,
}

fn scalar(v: Option<serde_yaml::Value>) -> Option<String> {
    match v? {
        serde_yaml::Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn parse_fields(json: Option<&str>) -> Result<Vec<Field>, String> {
    let Some(json) = json.filter(|s| !s.trim().is_empty() && s.trim() != "null") else {
        return Ok(Vec::new());
    };
    let raw: Vec<RawField> =
        serde_json::from_str(json).map_err(|e| format!("the signature is not valid: {e}"))?;
    Ok(raw
        .into_iter()
        .map(|f| match (f.ty.as_str(), f.tensor_spec) {
            ("tensor", Some(spec)) => Field::Tensor {
                name: f.name,
                dtype: DType::from_signature(&spec.dtype),
                shape: spec.shape,
            },
            _ => Field::Column {
                name: f.name,
                ty: f.ty,
            },
        })
        .collect())
}

impl MlModel {
    pub fn parse(yaml: &str) -> Result<MlModel, String> {
        let raw: RawMlModel = serde_yaml::from_str(yaml)
            .map_err(|e| format!("the MLmodel file is not valid YAML: {e}"))?;
        let flavors: Vec<String> = raw
            .flavors
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        let flavor_conf = raw
            .flavors
            .iter()
            .filter_map(|(k, v)| {
                let conf = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
                Some((k.as_str()?.to_owned(), conf))
            })
            .collect();
        let onnx_data = raw.flavors.get("onnx").map(|f| {
            f.get("data")
                .and_then(|d| d.as_str())
                .unwrap_or("model.onnx")
                .to_owned()
        });
        let signature = match raw.signature {
            None => None,
            Some(s) => Some(Signature {
                inputs: parse_fields(s.inputs.as_deref())?,
                outputs: parse_fields(s.outputs.as_deref())?,
            }),
        };
        Ok(MlModel {
            flavors,
            onnx_data,
            flavor_conf,
            signature,
            run_id: scalar(raw.run_id),
            model_id: scalar(raw.model_id),
        })
    }

    /// Read `<dir>/MLmodel`.
    pub fn read(dir: &Path) -> Result<MlModel, String> {
        let path = dir.join("MLmodel");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "no MLmodel file in {}: the model URI must name an MLflow model directory",
                    dir.display()
                )
            } else {
                format!("cannot read {}: {e}", path.display())
            }
        })?;
        MlModel::parse(&text)
    }

    /// The flavor Weir evaluates natively (`sklearn`, `xgboost`, `lightgbm`) and its block, when
    /// the model has no onnx flavor.
    pub fn native_flavor(&self) -> Option<(&str, &serde_json::Value)> {
        ["sklearn", "xgboost", "lightgbm"]
            .into_iter()
            .find_map(|f| self.flavor_conf.get_key_value(f))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The pyfunc method the model answers with (`python_function.predict_fn`, `predict` when
    /// absent), as `mlflow models serve` calls it.
    pub fn predict_fn(&self) -> &str {
        self.flavor_conf
            .get("python_function")
            .and_then(|p| p.get("predict_fn"))
            .and_then(|v| v.as_str())
            .unwrap_or("predict")
    }

    /// The ONNX file to load, or the refusal a model without an onnx flavor gets.
    pub fn onnx_path(&self, dir: &Path) -> Result<PathBuf, String> {
        let Some(data) = &self.onnx_data else {
            return Err(not_onnx_message(&self.flavors));
        };
        let rel = crate::artifacts::safe_path(data)
            .ok()
            .filter(|p| !p.is_root())
            .ok_or_else(|| {
                format!("the onnx flavor's data path '{data}' is not a relative path")
            })?;
        let mut path = dir.to_path_buf();
        for seg in rel.segments() {
            path.push(seg);
        }
        if !path.is_file() {
            return Err(format!(
                "the onnx flavor names '{data}', but {} does not exist",
                path.display()
            ));
        }
        Ok(path)
    }
}

/// Why a model without an onnx flavor is refused, and what to do instead.
pub fn not_onnx_message(flavors: &[String]) -> String {
    let found = if flavors.is_empty() {
        "none".to_owned()
    } else {
        flavors.join(", ")
    };
    format!(
        "this model has none of the flavors Weir serves (flavors found: {found}; Weir serves onnx, \
         sklearn, xgboost and lightgbm). Convert it to ONNX and log it with \
         `mlflow.onnx.log_model(onx, name=\"model\", input_example=X[:2], \
         registered_model_name=\"...\")`; for PyTorch, `torch.onnx.export`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONNX: &str = include_str!("testdata/onnx_MLmodel.yaml");

    #[test]
    fn parses_the_captured_onnx_mlmodel() {
        let m = MlModel::parse(ONNX).unwrap();
        assert_eq!(m.flavors, vec!["onnx", "python_function"]);
        assert_eq!(m.onnx_data.as_deref(), Some("model.onnx"));
        assert_eq!(
            m.model_id.as_deref(),
            Some("m-138034077ae3476dbb91459a1ec217e4")
        );
        assert_eq!(
            m.run_id.as_deref(),
            Some("545f05ddb01744e795978687e520e6dc")
        );
        let sig = m.signature.unwrap();
        assert_eq!(
            sig.inputs,
            vec![Field::Tensor {
                name: None,
                dtype: Some(DType::F32),
                shape: vec![-1, 4]
            }]
        );
        assert_eq!(sig.outputs.len(), 2);
        assert_eq!(sig.outputs[0].name(), Some("label"));
        assert_eq!(
            sig.outputs[1],
            Field::Tensor {
                name: Some("probabilities".into()),
                dtype: Some(DType::F32),
                shape: vec![-1, 3]
            }
        );
    }

    #[test]
    fn column_signatures_and_missing_parts() {
        let m = MlModel::parse(
            "flavors:\n  python_function: {loader_module: mlflow.sklearn}\n  sklearn: {pickled_model: model.skops}\n\
             signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"sepal length (cm)\", \"required\": true}]'\n  outputs: null\n",
        )
        .unwrap();
        assert!(m.onnx_data.is_none());
        let sig = m.signature.as_ref().unwrap();
        assert_eq!(
            sig.inputs,
            vec![Field::Column {
                name: Some("sepal length (cm)".into()),
                ty: "double".into()
            }]
        );
        assert!(sig.outputs.is_empty());
        let err = m.onnx_path(Path::new("/nonexistent")).unwrap_err();
        assert!(
            err.contains("flavors found: python_function, sklearn"),
            "{err}"
        );
        assert!(err.contains("mlflow.onnx.log_model"), "{err}");

        let bare = MlModel::parse("flavors:\n  onnx: {}\n").unwrap();
        assert_eq!(bare.onnx_data.as_deref(), Some("model.onnx"));
        assert!(bare.signature.is_none());
        assert!(MlModel::parse("flavors: [").is_err());
        assert!(MlModel::parse("signature:\n  inputs: '[{'\n").is_err());
    }

    #[test]
    fn onnx_path_must_stay_inside_the_model_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.onnx"), b"x").unwrap();
        let ok = MlModel::parse("flavors:\n  onnx: {data: model.onnx}\n").unwrap();
        assert_eq!(
            ok.onnx_path(dir.path()).unwrap(),
            dir.path().join("model.onnx")
        );
        for bad in ["../model.onnx", "/etc/passwd", ""] {
            let m = MlModel::parse(&format!("flavors:\n  onnx: {{data: '{bad}'}}\n")).unwrap();
            assert!(m.onnx_path(dir.path()).is_err(), "{bad}");
        }
        let missing = MlModel::parse("flavors:\n  onnx: {data: other.onnx}\n").unwrap();
        assert!(missing
            .onnx_path(dir.path())
            .unwrap_err()
            .contains("does not exist"));
        assert!(MlModel::read(dir.path())
            .unwrap_err()
            .contains("no MLmodel file"));
    }
}
