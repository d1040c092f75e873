"""Kubeflow Pipelines (KFP v2): train the iris classifier, log it to Weir, register and promote it.

    pip install kfp==2.17.3
    python examples/kubeflow/pipeline.py iris-pipeline.yaml     # compile; upload in the KFP UI

The components are the functions in train_flow.py, which CI runs as a plain script against a live
`weir server`, so the pipeline and the CI check cannot drift apart. Weir replaces the MLflow
tracking server: the only setting is the tracking URI, the Service `weir-server` in namespace
`weir` (k8s/server.yaml). Once `champion` moves, the model servers in k8s/serving.yaml and
k8s/kserve/ load the new version by themselves.
"""

import os
import sys

from kfp import compiler, dsl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_flow  # noqa: E402  (the step functions live there)


def _requirements() -> list:
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "requirements.txt")) as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


# Same Python as CI, same pins as requirements.txt.
BASE_IMAGE = "python:3.11-slim"
PACKAGES = _requirements()

train_with_mlflow = dsl.component(base_image=BASE_IMAGE, packages_to_install=PACKAGES)(
    train_flow.train_with_mlflow
)
promote_model = dsl.component(base_image=BASE_IMAGE, packages_to_install=PACKAGES)(
    train_flow.promote_model
)


@dsl.pipeline(
    name="weir-training-pipeline",
    description="Train iris, log to Weir, register iris-classifier and move its champion alias.",
)
def training_pipeline(
    mlflow_uri: str = "http://weir-server.weir:5000",
    experiment_name: str = "kubeflow-experiments",
    n_estimators: int = 100,
    model_name: str = "iris-classifier",
    alias: str = "champion",
    min_accuracy: float = 0.8,
):
    train_task = train_with_mlflow(
        mlflow_uri=mlflow_uri,
        experiment_name=experiment_name,
        n_estimators=n_estimators,
        model_name=model_name,
    )
    promote_model(
        mlflow_uri=mlflow_uri,
        model_version=train_task.outputs["model_version"],
        accuracy=train_task.outputs["accuracy"],
        model_name=model_name,
        alias=alias,
        min_accuracy=min_accuracy,
    )


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "iris-pipeline.yaml"
    compiler.Compiler().compile(pipeline_func=training_pipeline, package_path=out)
    print(out)
