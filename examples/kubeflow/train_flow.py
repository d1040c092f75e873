"""Train the iris classifier, log it to Weir, register it and point the `champion` alias at it.

This is the Kubeflow pipeline of pipeline.py as a plain script: the two steps below are the very
functions that pipeline.py turns into Kubeflow components, so what CI runs here is what the
pipeline runs in a cluster. Each step is self-contained (imports inside, no module globals)
because Kubeflow ships a component's source on its own.

    pip install -r examples/kubeflow/requirements.txt
    MLFLOW_TRACKING_URI=http://localhost:5000 python examples/kubeflow/train_flow.py

After training it checks what it registered, through Weir: the version exists and is READY, the
alias resolves to it, and the model downloaded by `models:/<name>@<alias>` is an ONNX model whose
predictions match scikit-learn's. With --serving-url it also asks a running `weir models serve`
(or the KServe predictor) for predictions. It exits non-zero if any check fails.
"""

import argparse
import json
import os
import sys
import time
import urllib.request
from typing import NamedTuple

# The rows the docs curl; their classes are unambiguous (setosa, virginica).
SAMPLE = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
EXPECTED_CLASSES = [0, 2]


def train_with_mlflow(
    mlflow_uri: str,
    experiment_name: str = "kubeflow-experiments",
    n_estimators: int = 100,
    model_name: str = "iris-classifier",
) -> NamedTuple("TrainOutputs", [("run_id", str), ("model_version", str), ("accuracy", float)]):
    """Train a RandomForest on iris, log params/metrics/models, register the ONNX model.

    Two models are logged: the scikit-learn model (for Python consumers, as in the MLflow course)
    and its ONNX conversion, which is the one registered, because Weir serves ONNX.
    """
    import os
    from collections import namedtuple

    import mlflow
    import mlflow.onnx
    import mlflow.sklearn
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    mlflow.set_tracking_uri(mlflow_uri or os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment(experiment_name)

    iris = load_iris()
    # float32 end to end: the ONNX model's input is a float32 tensor [-1, 4].
    X = iris.data.astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, iris.target, test_size=0.2, random_state=42, stratify=iris.target
    )

    with mlflow.start_run() as run:
        mlflow.log_param("n_estimators", n_estimators)
        model = RandomForestClassifier(n_estimators=n_estimators, random_state=42)
        model.fit(X_train, y_train)
        accuracy = float(model.score(X_test, y_test))
        mlflow.log_metric("accuracy", accuracy)

        # MLflow 3 saves scikit-learn models with skops, which refuses tree internals unless
        # told they are trusted; they are: this run just built them.
        mlflow.sklearn.log_model(
            model,
            name="sklearn-model",
            input_example=X_test[:2],
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )

        # zipmap=False: plain `label` and `probabilities` tensors instead of a list of dicts,
        # which is what the MLflow scoring protocol and KServe V2 can carry.
        onnx_model = to_onnx(model, X_train[:1], options={id(model): {"zipmap": False}})
        info = mlflow.onnx.log_model(
            onnx_model,
            name="model",
            registered_model_name=model_name,
            input_example=X_test[:2],
            onnx_execution_providers=["CPUExecutionProvider"],
        )

    outputs = namedtuple("TrainOutputs", ["run_id", "model_version", "accuracy"])
    return outputs(run.info.run_id, str(info.registered_model_version), accuracy)


def promote_model(
    mlflow_uri: str,
    model_version: str,
    accuracy: float,
    model_name: str = "iris-classifier",
    alias: str = "champion",
    min_accuracy: float = 0.8,
) -> bool:
    """Point `alias` at `model_version` if it is accurate enough. Model servers following
    models:/<name>@<alias> pick the new version up on their next poll."""
    import os

    from mlflow import MlflowClient

    if accuracy < min_accuracy:
        print(f"not promoting version {model_version}: accuracy {accuracy:.3f} < {min_accuracy}")
        return False
    client = MlflowClient(tracking_uri=mlflow_uri or os.environ["MLFLOW_TRACKING_URI"])
    client.set_registered_model_alias(name=model_name, alias=alias, version=model_version)
    print(f"{model_name}@{alias} -> version {model_version}")
    return True


def verify(tracking_uri: str, model_name: str, alias: str, run_id: str, version: str) -> None:
    """Check, through the tracking server, what train_with_mlflow and promote_model did."""
    import tempfile

    import mlflow
    import mlflow.pyfunc
    import numpy as np
    import yaml
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)

    run = client.get_run(run_id)
    check(run.data.params.get("n_estimators") is not None, "run has param n_estimators")
    check("accuracy" in run.data.metrics, "run has metric accuracy")

    mv = client.get_model_version(model_name, version)
    check(mv.status == "READY", f"version {version} is READY (got {mv.status})")
    check(mv.run_id == run_id, f"version {version} comes from run {run_id}")

    by_alias = client.get_model_version_by_alias(model_name, alias)
    check(by_alias.version == version, f"{alias} resolves to version {version} (got {by_alias.version})")

    uri = f"models:/{model_name}@{alias}"
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
        with open(os.path.join(local, "MLmodel")) as f:
            mlmodel = yaml.safe_load(f)
        check("onnx" in mlmodel.get("flavors", {}), f"{uri} has the onnx flavor")
        check(os.path.exists(os.path.join(local, "model.onnx")), f"{uri} has model.onnx")

    loaded = mlflow.pyfunc.load_model(uri)
    pred = loaded.predict(np.array(SAMPLE, dtype=np.float32))
    labels = pred["label"] if isinstance(pred, dict) else pred
    check(list(np.asarray(labels).ravel()) == EXPECTED_CLASSES, f"{uri} predicts {EXPECTED_CLASSES}")


def verify_serving(serving_url: str, model_name: str, timeout: float) -> None:
    """Ask a running Weir model server for predictions: /invocations and KServe V2."""
    base = serving_url.rstrip("/")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            check(False, f"{base}/health answered 200 within {timeout:.0f} s")
        time.sleep(1)

    body = post_json(f"{base}/invocations", {"inputs": SAMPLE})
    preds = body["predictions"]
    labels = preds["label"] if isinstance(preds, dict) else preds
    check(labels == EXPECTED_CLASSES, f"/invocations predicts {EXPECTED_CLASSES} (got {labels})")

    v2 = {"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": sum(SAMPLE, [])}]}
    body = post_json(f"{base}/v2/models/{model_name}/infer", v2)
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    check(outputs.get("label") == EXPECTED_CLASSES, f"V2 infer predicts {EXPECTED_CLASSES} (got {outputs})")


def post_json(url: str, payload: dict) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="kubeflow-experiments")
    p.add_argument("--model-name", default="iris-classifier")
    p.add_argument("--alias", default="champion")
    p.add_argument("--n-estimators", type=int, default=100)
    p.add_argument("--min-accuracy", type=float, default=0.8)
    p.add_argument("--serving-url", help="also check a running `weir models serve` at this URL")
    p.add_argument("--serving-timeout", type=float, default=60.0)
    args = p.parse_args(argv)

    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not tracking_uri:
        print("set MLFLOW_TRACKING_URI to the Weir tracking server, e.g. http://localhost:5000")
        return 2

    trained = train_with_mlflow(tracking_uri, args.experiment, args.n_estimators, args.model_name)
    print(f"run {trained.run_id}: accuracy {trained.accuracy:.3f}, "
          f"registered {args.model_name} version {trained.model_version}")
    promoted = promote_model(tracking_uri, trained.model_version, trained.accuracy,
                             args.model_name, args.alias, args.min_accuracy)
    check(promoted, f"version {trained.model_version} promoted to {args.alias}")
    verify(tracking_uri, args.model_name, args.alias, trained.run_id, trained.model_version)
    if args.serving_url:
        verify_serving(args.serving_url, args.model_name, args.serving_timeout)
    print(json.dumps({"run_id": trained.run_id, "model": args.model_name,
                      "version": trained.model_version, "alias": args.alias}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
