"""`--no-serve-artifacts --default-artifact-root s3://...`: experiments carry the S3 location and
the real client writes to S3 directly with boto3; Weir never touches the bytes.

Runs only when the server was started that way (scripts/test.sh does a dedicated pass with
WEIR_TEST_DIRECT_S3=s3://<bucket>/<prefix> and the S3 endpoint/credentials in the environment).
"""

from __future__ import annotations

import os
import uuid

import mlflow
import pytest
from mlflow import MlflowClient

ROOT = os.environ.get("WEIR_TEST_DIRECT_S3", "")
pytestmark = pytest.mark.skipif(not ROOT, reason="needs a server started with --default-artifact-root s3://...")


def _s3():
    import boto3  # only in the mlflow3 venv, which is the one this pass uses

    return boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"])


def test_artifacts_go_straight_to_s3(server, tmp_path):
    client = MlflowClient(server)
    exp_id = client.create_experiment(f"direct-s3-{uuid.uuid4().hex[:8]}")
    exp = client.get_experiment(exp_id)
    assert exp.artifact_location == f"{ROOT.rstrip('/')}/{exp_id}"
    run = client.create_run(exp_id)
    assert run.info.artifact_uri == f"{ROOT.rstrip('/')}/{exp_id}/{run.info.run_id}/artifacts"

    (tmp_path / "d" / "inner").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("alpha")
    (tmp_path / "d" / "inner" / "b.json").write_text('{"b": 1}')
    client.log_artifacts(run.info.run_id, str(tmp_path / "d"), artifact_path="bundle")
    client.log_text(run.info.run_id, "héllo + wörld", "notes/t t+ü.txt")

    names = sorted(f.path for f in client.list_artifacts(run.info.run_id, "bundle"))
    assert names == ["bundle/a.txt", "bundle/inner"]
    out = client.download_artifacts(run.info.run_id, "bundle", str(tmp_path / "dl"))
    assert open(os.path.join(out, "inner", "b.json")).read() == '{"b": 1}'
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes/t t+ü.txt") == "héllo + wörld"

    # The objects are in the bucket, where the client put them.
    bucket, _, prefix = ROOT[len("s3://"):].partition("/")
    key = f"{prefix.strip('/')}/{exp_id}/{run.info.run_id}/artifacts/bundle/a.txt".lstrip("/")
    assert _s3().get_object(Bucket=bucket, Key=key)["Body"].read() == b"alpha"


def test_model_round_trip_through_s3(server):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment(f"direct-s3-model-{uuid.uuid4().hex[:8]}")
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    name = f"direct-{uuid.uuid4().hex[:8]}"
    with mlflow.start_run():
        kwargs = {"name": "model"} if mlflow.__version__.startswith("3") else {"artifact_path": "model"}
        mlflow.sklearn.log_model(model, registered_model_name=name, pip_requirements=[], **kwargs)
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
    assert list(loaded.predict(X[:3])) == list(model.predict(X[:3]))
