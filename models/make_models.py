"""Regenerate Weir's bundled example models and their expected outputs.

    VENV=$(scripts/venv.sh serving models/requirements.txt)
    "$VENV/bin/python" models/make_models.py            # rewrites models/<name>/

Each model is trained with scikit-learn, converted with skl2onnx and saved with
`mlflow.onnx.save_model` (so `MLmodel`, the signature and the environment files are exactly what
MLflow writes). Beside it, `expected.json` records, for fixed rows:

- `outputs`: what Python onnxruntime returns for those rows (ZipMap outputs as lists of dicts);
- `mlflow_response`: the body `mlflow models serve` answers to `{"inputs": rows}`, computed with
  MLflow's own pyfunc loader and JSON encoder.

The Rust tests (tests/serving_models.rs) check every backend and input format against both.
Training is seeded, so a rerun reproduces the same models (only MLmodel's timestamp changes).
"""

import io
import json
import pathlib
import shutil
import sys
import warnings

import mlflow
import mlflow.onnx
import mlflow.pyfunc
import numpy as np
import onnxruntime as ort
from mlflow.models import infer_signature
from mlflow.pyfunc.scoring_server import predictions_to_json
from skl2onnx import to_onnx
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = pathlib.Path(__file__).resolve().parent
# Opsets every engine Weir uses understands (tract implements ai.onnx.ml's TreeEnsembleClassifier,
# not the opset-5 TreeEnsemble).
OPSETS = {"": 17, "ai.onnx.ml": 3}

warnings.filterwarnings("ignore")


def iris():
    data = load_iris()
    return data.data.astype(np.float32), data.target, list(data.feature_names)


def diabetes():
    data = load_diabetes()
    return data.data.astype(np.float32), data.target.astype(np.float32), list(data.feature_names)


def fixed_rows(X, picks):
    """A few dataset rows plus one made-up row, as float32."""
    rows = X[picks]
    made_up = (X.min(axis=0) + X.max(axis=0)) / 2
    return np.vstack([rows, made_up[None, :]]).astype(np.float32)


def jsonable(value):
    """onnxruntime outputs as JSON: arrays to lists, ZipMap's list of dicts keyed by class."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return [{str(k): float(v) for k, v in row.items()} if isinstance(row, dict) else jsonable(row) for row in value]
    return value


def save(name, onx, X, rows, columns, description):
    out = HERE / name
    if out.exists():
        shutil.rmtree(out)
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    input_name = sess.get_inputs()[0].name
    # The signature `mlflow.onnx.log_model(..., input_example=X[:2])` infers (save_model does not).
    example_out = dict(zip(names, sess.run(names, {input_name: X[:2]})))
    try:
        signature = infer_signature(X[:2], example_out)
    except Exception:  # ZipMap's list of dicts has no MLflow output schema
        signature = infer_signature(X[:2])
    mlflow.onnx.save_model(onx, str(out), input_example=X[:2], signature=signature)
    results = sess.run(names, {input_name: rows})
    # The body `mlflow models serve` answers, through MLflow's own loader and encoder.
    pyfunc = mlflow.pyfunc.load_model(str(out))
    buf = io.StringIO()
    predictions_to_json(pyfunc.predict(rows), buf)
    expected = {
        "description": description,
        "input_name": input_name,
        "columns": columns,
        "rows": rows.tolist(),
        "output_names": names,
        "outputs": {n: jsonable(r) for n, r in zip(names, results)},
        "mlflow_response": json.loads(buf.getvalue()),
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {out.relative_to(HERE.parent)}: outputs {names}", file=sys.stderr)


def main():
    X, y, cols = iris()
    rows = fixed_rows(X, [0, 50, 70, 83, 100, 133, 149])

    rf = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    save(
        "iris-rf",
        to_onnx(rf, X[:1], options={id(rf): {"zipmap": False}}, target_opset=OPSETS),
        X,
        rows,
        cols,
        "Iris RandomForestClassifier (100 trees), outputs label + probabilities",
    )
    save(
        "iris-rf-zipmap",
        to_onnx(rf, X[:1], target_opset=OPSETS),
        X,
        rows,
        cols,
        "The same forest converted with ZipMap: output_label + output_probability (a list of {class: probability})",
    )

    logreg = LogisticRegression(max_iter=1000).fit(X, y)
    save(
        "iris-logreg",
        to_onnx(logreg, X[:1], options={id(logreg): {"zipmap": False}}, target_opset=OPSETS),
        X,
        rows,
        cols,
        "Iris LogisticRegression, outputs label + probabilities",
    )

    Xd, yd, dcols = diabetes()
    reg = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=30, max_depth=6, random_state=0)).fit(Xd, yd)
    save(
        "diabetes-rf-regressor",
        to_onnx(reg, Xd[:1], target_opset=OPSETS),
        Xd,
        fixed_rows(Xd, [0, 1, 2, 100, 200, 300]),
        dcols,
        "Diabetes StandardScaler + RandomForestRegressor (30 trees), one output: variable",
    )


if __name__ == "__main__":
    main()
