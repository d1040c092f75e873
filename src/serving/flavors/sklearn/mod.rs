//! scikit-learn estimators, built from the inert [`Value`] tree that the pickle interpreter or
//! the skops reader produced, and evaluated natively.

use crate::serving::flavors::error::{LoadError, LoadResult, PredictError};
use crate::serving::flavors::frame::{Frame, Labels, Matrix, Method, Prediction};
use crate::serving::flavors::value::Value;
use crate::serving::flavors::{About, Estimator};

mod build;
mod predict;
mod read;
mod transform;
mod transform_build;

use build::*;
use predict::*;
use read::*;
use transform::*;
use transform_build::*;

// ------------------------------------------------------------------------------------------
// The allow-list: every class an artifact may name. Shared by pickle and skops.

const ESTIMATORS: &[&str] = &[
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._coordinate_descent.Lasso",
    "sklearn.linear_model._coordinate_descent.ElasticNet",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.linear_model._stochastic_gradient.SGDRegressor",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.svm._classes.LinearSVR",
    "sklearn.svm._classes.SVR",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
];

const HELPERS: &[&str] = &[
    "sklearn.tree._tree.Tree",
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.compose._column_transformer._RemainderColsList",
    "lightgbm.basic.Booster",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.numeric._frombuffer",
    "numpy._core.numeric._frombuffer",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__generator_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "copyreg._reconstructor",
    "copyreg.__newobj__",
    "builtins.object",
    "builtins.slice",
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytearray",
    "builtins.list",
    "builtins.dict",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "_codecs.encode",
    "collections.OrderedDict",
    "collections.defaultdict",
];

/// numpy scalar types used as `dtype=` parameters (`OneHotEncoder(dtype=np.float64)`).
const NUMPY_TYPES: &[&str] = &[
    "float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint64", "uint32",
    "uint16", "uint8", "bool_", "object_", "str_",
];

/// Modules whose classes are inert helpers of supported estimators (losses, links).
const HELPER_MODULES: &[&str] = &[
    "sklearn._loss.loss",
    "sklearn._loss.link",
    "sklearn._loss._loss",
    "sklearn.linear_model._sgd_fast",
];

/// Whether `module.name` may appear in a scikit-learn artifact.
pub fn allowed(module: &str, name: &str) -> bool {
    let full = format!("{module}.{name}");
    if ESTIMATORS.contains(&full.as_str()) || HELPERS.contains(&full.as_str()) {
        return true;
    }
    if (module == "numpy"
        || module == "numpy.core.numerictypes"
        || module == "numpy._core.numerictypes")
        && NUMPY_TYPES.contains(&name)
    {
        return true;
    }
    // Cython extension types of sklearn <= 1.6 pickle with their bare module name.
    let cy = module == "_loss" && (name.starts_with("Cy") || name.starts_with("__pyx_unpickle_Cy"));
    (cy || HELPER_MODULES.contains(&module))
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The message for a class Weir has no native evaluator for.
pub(crate) fn unsupported_class(class: &str) -> LoadError {
    LoadError::unsupported(format!(
        "Weir cannot evaluate '{class}' natively. Convert it to ONNX (e.g. with skl2onnx) and log \
         it with mlflow.onnx.log_model; for PyTorch, use torch.onnx.export"
    ))
}

// ------------------------------------------------------------------------------------------
// The estimator.

/// A scikit-learn model: transformers, then a final estimator.
pub struct SkModel {
    steps: Vec<Transform>,
    last: Final,
    about: About,
}

/// Builds a model from the root object of a pickle or skops file.
pub fn build(root: &Value) -> LoadResult<SkModel> {
    let Some(class) = root.class() else {
        return Err(inv(format!(
            "the model file holds a {}, not an estimator",
            root.type_name()
        )));
    };
    let (mut chain, last) = if root.short_class() == "Pipeline" {
        let mut steps = pipeline_steps(root)?;
        let last = steps.pop().ok_or_else(|| inv("the Pipeline is empty"))?;
        (steps, last)
    } else {
        (Vec::new(), root.clone())
    };
    if !ESTIMATORS.contains(&class) {
        return Err(unsupported_class(class));
    }
    chain.retain(|s| !s.is_none() && s.as_str() != Some("passthrough"));
    let first = chain.first().unwrap_or(&last);
    let n_features = n_features_of(first)
        .ok_or_else(|| inv(format!("{} has no n_features_in_", first.short_class())))?;
    let names = names_of(first);
    let mut desc: Vec<String> = chain.iter().map(|s| s.short_class().to_string()).collect();
    desc.push(last.short_class().to_string());
    let steps = chain
        .iter()
        .map(build_transform)
        .collect::<LoadResult<Vec<_>>>()?;
    let last = build_final(&last)?;
    let mut methods = vec![Method::Predict];
    if last.has_proba() {
        methods.push(Method::PredictProba);
    }
    Ok(SkModel {
        steps,
        last,
        about: About {
            methods,
            n_features,
            names,
            desc: if desc.len() > 1 {
                format!("sklearn Pipeline({})", desc.join(", "))
            } else {
                format!("sklearn {}", desc.join(""))
            },
        },
    })
}

impl Estimator for SkModel {
    fn predict(&self, frame: &Frame, method: Method) -> Result<Prediction, PredictError> {
        let mut t = self.about.align(frame)?;
        for s in &self.steps {
            t = s.apply(t)?;
        }
        let x = t.to_matrix()?;
        self.last.predict(&x, method)
    }
    fn about(&self) -> &About {
        &self.about
    }
}

impl SkModel {
    /// Fast path for benchmarks and callers that already hold a numeric row-major matrix.
    pub fn predict_matrix(&self, x: &Matrix, method: Method) -> Result<Prediction, PredictError> {
        if self.steps.is_empty() {
            return self.last.predict(x, method);
        }
        self.predict(&x.to_frame(), method)
    }
}

/// `classes_`-style labels from a value (shared with the LightGBM wrapper).
pub(crate) fn labels_pub(v: &Value) -> LoadResult<Labels> {
    labels_of(v)
}
