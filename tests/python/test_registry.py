"""Model registry: the course's flow, models/versions/tags/aliases/stages, search, errors, ONNX,
and (3.x clients) LoggedModels."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from _helpers import (
    MLFLOW_MAJOR,
    MLFLOW_VERSION,
    SKLEARN_LOG_KWARGS,
    as_labels,
    iris_rows,
    requires_mlflow3,
    small_forest,
)

API = "/api/2.0/mlflow/"
# Skip pip-requirement inference (a subprocess that costs ~10 s per model) outside the seed examples.
FAST = {"pip_requirements": ["mlflow", "scikit-learn"], **SKLEARN_LOG_KWARGS}


def _log_forest(name="model", **kw):
    """Log a small iris forest in a new run of the active experiment; return (run_id, ModelInfo)."""
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(small_forest(), name, **{**FAST, **kw})
    return run.info.run_id, info


@pytest.fixture
def exp(uniq):
    return mlflow.set_experiment(uniq("exp-reg"))


# --------------------------------------------------------------------------- the course's flow


def test_seed_registry_flow(server, uniq):
    """"Registering Models" + "Model Stages and Aliases" from the course, in sequence.

    Verbatim but for: a fixed-seed model instead of "Train model...", SKLEARN_LOG_KWARGS (mlflow 3
    saves with skops, which refuses tree models unless trusted), the create_registered_model
    alternative meeting the model that log_model already registered, and the real run_id.
    """
    import mlflow
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    mlflow.set_experiment(uniq("exp-seed-registry"))
    iris = load_iris()
    model = RandomForestClassifier(n_estimators=20, max_depth=10, random_state=0).fit(iris.data, iris.target)

    # Register during training
    with mlflow.start_run() as run:
        # Train model...
        mlflow.sklearn.log_model(
            model, "model", registered_model_name="iris-classifier", **SKLEARN_LOG_KWARGS
        )

    # Or register from existing run
    client = MlflowClient()
    with pytest.raises(MlflowException) as ei:
        result = client.create_registered_model("iris-classifier")
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"

    # Create version from run
    run_id = run.info.run_id
    model_uri = f"runs:/{run_id}/model"
    mv2 = client.create_model_version(
        name="iris-classifier",
        source=model_uri,
        run_id=run_id
    )
    assert mv2.version == "2"
    assert mv2.source == model_uri
    assert mv2.run_id == run_id
    assert mv2.current_stage == "None"
    assert mv2.status == "READY"
    v1 = client.get_model_version("iris-classifier", "1")
    assert v1.run_id == run_id
    if MLFLOW_MAJOR >= 3:
        assert v1.source.startswith("models:/m-")
    else:
        assert v1.source.startswith("mlflow-artifacts:/") and v1.source.endswith("/artifacts/model")

    # Transition to staging
    client.transition_model_version_stage(
        name="iris-classifier",
        version=1,
        stage="Staging"
    )
    assert client.get_model_version("iris-classifier", "1").current_stage == "Staging"

    # Transition to production
    client.transition_model_version_stage(
        name="iris-classifier",
        version=1,
        stage="Production"
    )
    assert client.get_model_version("iris-classifier", "1").current_stage == "Production"

    # Using aliases (MLflow 2.3+). The seed passes version=1; clients before 2.10 put it into a
    # string proto field as is and fail client-side with "bad argument type" (against MLflow's own
    # server too), so those get the string.
    client.set_registered_model_alias(
        name="iris-classifier",
        alias="champion",
        version=1 if MLFLOW_VERSION >= (2, 10) else "1"
    )

    # Load by alias
    model = mlflow.pyfunc.load_model("models:/iris-classifier@champion")

    rows, labels = iris_rows()
    assert as_labels(model.predict(rows)) == labels
    by_alias = client.get_model_version_by_alias("iris-classifier", "champion")
    assert by_alias.version == "1"
    assert "champion" in by_alias.aliases
    assert as_labels(mlflow.pyfunc.load_model("models:/iris-classifier/Production").predict(rows)) == labels
    assert as_labels(mlflow.pyfunc.load_model("models:/iris-classifier/1").predict(rows)) == labels
    # Version 2's source is `runs:/<run>/model`. A 2.x client stored the model there; a 3.x client
    # stored it as a LoggedModel and its models:/ loader does not follow a runs:/ source to it (a
    # client limitation, the server returns the source verbatim as MLflow does), so load the source.
    v2_uri = "models:/iris-classifier/2" if MLFLOW_MAJOR < 3 else model_uri
    assert as_labels(mlflow.sklearn.load_model(v2_uri).predict(rows)) == labels
    assert client.get_model_version_download_uri("iris-classifier", "2") == model_uri

    # Switch production in one command:
    client.set_registered_model_alias(
        "iris-classifier", "champion", version=2 if MLFLOW_VERSION >= (2, 10) else "2"
    )
    assert client.get_model_version_by_alias("iris-classifier", "champion").version == "2"
    if MLFLOW_MAJOR < 3:
        assert as_labels(mlflow.pyfunc.load_model("models:/iris-classifier@champion").predict(rows)) == labels

    # Version 2 replaces version 1 in Production; v1 is archived
    client.transition_model_version_stage(
        "iris-classifier", 2, "Production", archive_existing_versions=True
    )
    assert client.get_model_version("iris-classifier", "1").current_stage == "Archived"
    latest = client.get_latest_versions("iris-classifier", stages=["Production"])
    assert [v.version for v in latest] == ["2"]
    rm = client.get_registered_model("iris-classifier")
    assert rm.aliases == {"champion": "2"}
    assert {v.current_stage: v.version for v in rm.latest_versions} == {"Production": "2", "Archived": "1"}
    if MLFLOW_MAJOR < 3:
        loaded = mlflow.pyfunc.load_model("models:/iris-classifier/Production")
        assert as_labels(loaded.predict(rows)) == labels


# --------------------------------------------------------------------------- CRUD


def test_registered_model_crud(client, exp, uniq):
    name = uniq("rm")
    rm = client.create_registered_model(name, tags={"team": "ml"}, description="first")
    assert rm.name == name
    assert rm.description == "first"
    assert rm.tags == {"team": "ml"}
    assert rm.creation_timestamp > 0
    got = client.get_registered_model(name)
    assert (got.name, got.description, got.tags) == (name, "first", {"team": "ml"})
    assert got.latest_versions == []

    updated = client.update_registered_model(name, description="second")
    assert updated.description == "second"
    assert client.get_registered_model(name).description == "second"
    assert client.get_registered_model(name).last_updated_timestamp >= rm.creation_timestamp

    client.set_registered_model_tag(name, "env", "prod")
    client.set_registered_model_tag(name, "team", "data")  # overwrite
    assert client.get_registered_model(name).tags == {"team": "data", "env": "prod"}
    client.delete_registered_model_tag(name, "env")
    assert client.get_registered_model(name).tags == {"team": "data"}

    with pytest.raises(MlflowException) as ei:
        client.create_registered_model(name)
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.delete_registered_model(name)
    with pytest.raises(MlflowException) as ei:
        client.get_registered_model(name)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_model_versions_tags_descriptions_rename(client, exp, uniq):
    name = uniq("rmv")
    run_id, info = _log_forest()
    client.create_registered_model(name)
    src = f"runs:/{run_id}/model"
    mv1 = client.create_model_version(name, src, run_id=run_id, tags={"t": "1"}, description="v1")
    mv2 = client.create_model_version(name, src, run_id=run_id)
    assert (mv1.version, mv2.version) == ("1", "2")
    assert mv1.tags == {"t": "1"} and mv1.description == "v1"
    assert mv1.source == src  # runs:/ sources come back verbatim

    client.set_model_version_tag(name, "1", "validated", "true")
    assert client.get_model_version(name, "1").tags == {"t": "1", "validated": "true"}
    client.delete_model_version_tag(name, "1", "validated")
    assert client.get_model_version(name, "1").tags == {"t": "1"}
    assert client.update_model_version(name, "1", description="new v desc").description == "new v desc"
    assert client.get_model_version(name, "1").description == "new v desc"
    # download URI of a runs:/ source is the source itself
    assert client.get_model_version_download_uri(name, "1") == src

    new_name = name + "-renamed"
    client.rename_registered_model(name, new_name)
    assert client.get_registered_model(new_name).name == new_name
    with pytest.raises(MlflowException) as ei:
        client.get_registered_model(name)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # the versions followed the model
    moved = client.get_model_version(new_name, "1")
    assert (moved.name, moved.description, moved.tags) == (new_name, "new v desc", {"t": "1"})
    assert sorted(v.version for v in client.search_model_versions(f"name = '{new_name}'")) == ["1", "2"]
    assert client.search_model_versions(f"name = '{name}'") == []

    client.delete_model_version(new_name, "1")
    with pytest.raises(MlflowException) as ei:
        client.get_model_version(new_name, "1")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [v.version for v in client.search_model_versions(f"name = '{new_name}'")] == ["2"]
    # numbering continues after a deletion
    assert client.create_model_version(new_name, src, run_id=run_id).version == "3"
    client.delete_registered_model(new_name)
    assert client.search_model_versions(f"name = '{new_name}'") == []


def test_stages_and_latest_versions(client, exp, uniq):
    name = uniq("stages")
    run_id, _ = _log_forest()
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "2", "Staging")
    assert [v.version for v in client.get_latest_versions(name, ["Production"])] == ["1"]
    assert [v.version for v in client.get_latest_versions(name, ["Staging"])] == ["2"]
    assert [v.version for v in client.get_latest_versions(name, ["None"])] == ["3"]
    assert {v.current_stage: v.version for v in client.get_latest_versions(name)} == {
        "Production": "1",
        "Staging": "2",
        "None": "3",
    }
    # stage names are case-insensitive on input
    client.transition_model_version_stage(name, "3", "production")
    assert client.get_model_version(name, "3").current_stage == "Production"
    # without archive_existing_versions both stay in Production; latest is the highest
    assert client.get_model_version(name, "1").current_stage == "Production"
    assert [v.version for v in client.get_latest_versions(name, ["Production"])] == ["3"]
    client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name = '{name}'")}
    assert stages == {"1": "Archived", "2": "Production", "3": "Archived"}
    with pytest.raises(MlflowException) as ei:
        client.transition_model_version_stage(name, "1", "Bogus")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_model_version(name, "1").current_stage == "Archived"


def test_aliases(client, exp, uniq, api):
    name = uniq("alias")
    run_id, _ = _log_forest()
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "challenger", "2")
    assert client.get_registered_model(name).aliases == {"champion": "1", "challenger": "2"}
    assert client.get_model_version(name, "1").aliases == ["champion"]
    assert client.get_model_version_by_alias(name, "challenger").version == "2"
    # moving an alias
    client.set_registered_model_alias(name, "champion", "2")
    assert sorted(client.get_model_version(name, "2").aliases) == ["challenger", "champion"]
    assert client.get_model_version(name, "1").aliases == []
    client.delete_registered_model_alias(name, "challenger")
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    # a missing alias is 400 INVALID_PARAMETER_VALUE (not 404)
    with pytest.raises(MlflowException) as ei:
        client.get_model_version_by_alias(name, "challenger")
    assert ei.value.error_code == "INVALID_PARAMETER_VALUE"
    r = api.get(API + "registered-models/alias", params={"name": name, "alias": "challenger"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # aliases shaped like version references are reserved
    for reserved in ("v3", "V12", "latest"):
        with pytest.raises(MlflowException) as ei:
            client.set_registered_model_alias(name, reserved, "1")
        assert ei.value.error_code == "INVALID_PARAMETER_VALUE", reserved
    r = api.post(API + "registered-models/alias", json={"name": name, "alias": "v3", "version": "1"})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    # deleting the version drops its aliases
    client.delete_model_version(name, "2")
    assert client.get_registered_model(name).aliases == {}
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias(name, "champion")


def test_search_registered_models(client, uniq):
    prefix = uniq("srm")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, n in enumerate(names):
        client.create_registered_model(n, tags={"parity": "even" if i % 2 == 0 else "odd", "i": str(i)})
    flt = f"name LIKE '{prefix}-%'"
    assert sorted(m.name for m in client.search_registered_models(filter_string=flt)) == names
    asc = client.search_registered_models(filter_string=flt, order_by=["name ASC"])
    assert [m.name for m in asc] == names
    desc = client.search_registered_models(filter_string=flt, order_by=["name DESC"])
    assert [m.name for m in desc] == names[::-1]
    one = client.search_registered_models(filter_string=f"name = '{names[3]}'")
    assert [m.name for m in one] == [names[3]]
    assert one[0].tags == {"parity": "odd", "i": "3"}
    even = client.search_registered_models(filter_string=f"{flt} AND tags.parity = 'even'")
    assert sorted(m.name for m in even) == [names[0], names[2], names[4]]
    upper = client.search_registered_models(filter_string=f"name ILIKE '{prefix.upper()}-%'")
    assert len(upper) == 5
    # pagination
    seen, token, pages = [], None, 0
    while True:
        page = client.search_registered_models(filter_string=flt, order_by=["name ASC"], max_results=2, page_token=token)
        seen += [m.name for m in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == names and pages == 3
    # fluent API
    assert [m.name for m in mlflow.search_registered_models(filter_string=flt, order_by=["name ASC"])] == names
    # by last update: most recently touched first
    client.set_registered_model_tag(names[1], "touched", "yes")
    newest = client.search_registered_models(filter_string=flt, order_by=["last_updated_timestamp DESC"], max_results=1)
    assert newest[0].name in names


def test_search_model_versions(client, exp, uniq):
    name = uniq("smv")
    other = uniq("smv-other")
    run_a, _ = _log_forest()
    run_b, _ = _log_forest()
    client.create_registered_model(name)
    client.create_registered_model(other)
    client.create_model_version(name, f"runs:/{run_a}/model", run_id=run_a, tags={"kind": "a"})
    client.create_model_version(name, f"runs:/{run_b}/model", run_id=run_b, tags={"kind": "b"})
    client.create_model_version(name, f"runs:/{run_b}/model", run_id=run_b, tags={"kind": "b"})
    client.create_model_version(other, f"runs:/{run_a}/model", run_id=run_a)
    res = client.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in res) == ["1", "2", "3"]
    res = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"], max_results=2)
    assert [v.version for v in res] == ["3", "2"]
    res = client.search_model_versions(f"run_id = '{run_a}'")
    assert sorted((v.name, v.version) for v in res) == sorted([(name, "1"), (other, "1")])
    res = client.search_model_versions(f"name = '{name}' AND run_id = '{run_b}'")
    assert sorted(v.version for v in res) == ["2", "3"]
    res = client.search_model_versions(f"name = '{name}' AND tags.kind = 'b'")
    assert sorted(v.version for v in res) == ["2", "3"]
    res = client.search_model_versions(f"name LIKE '{name[:-3]}%'")
    assert {v.name for v in res} >= {name}
    # fluent API
    assert sorted(v.version for v in mlflow.search_model_versions(filter_string=f"name = '{name}'")) == ["1", "2", "3"]


def test_register_model_fluent(client, exp, uniq):
    name = uniq("fluent")
    run_id, info = _log_forest()
    mv = mlflow.register_model(f"runs:/{run_id}/model", name, tags={"via": "fluent"})
    assert mv.name == name and mv.version == "1"
    assert mv.run_id == run_id
    assert client.get_model_version(name, "1").tags == {"via": "fluent"}
    rows, labels = iris_rows()
    assert as_labels(mlflow.pyfunc.load_model(f"models:/{name}/1").predict(rows)) == labels
    # registering again adds a version
    assert mlflow.register_model(f"runs:/{run_id}/model", name).version == "2"


def test_registry_errors(client, api, exp, uniq):
    missing = uniq("missing-model")
    with pytest.raises(MlflowException) as ei:
        client.get_registered_model(missing)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    r = api.get(API + "registered-models/get", params={"name": missing})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    name = uniq("errs")
    run_id, _ = _log_forest()
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    r = api.get(API + "model-versions/get", params={"name": name, "version": "99"})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = api.post(
        API + "model-versions/transition-stage",
        json={"name": name, "version": "1", "stage": "Bogus", "archive_existing_versions": False},
    )
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = api.post(API + "model-versions/create", json={"name": missing, "source": "runs:/x/model"})
    assert r.status_code in (400, 404)
    assert r.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    r = api.request("DELETE", API + "registered-models/delete", json={"name": missing})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    r = api.post(API + "registered-models/rename", json={"name": missing, "new_name": uniq("x")})
    assert r.status_code == 404 and r.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    # renaming onto an existing name
    other = uniq("errs-other")
    client.create_registered_model(other)
    with pytest.raises(MlflowException) as ei:
        client.rename_registered_model(name, other)
    assert ei.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert client.get_model_version(name, "1").version == "1"
    with pytest.raises(MlflowException) as ei:
        client.set_registered_model_alias(name, "champion", "42")
    assert ei.value.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST")
    r = api.post(API + "registered-models/create", json={"name": ""})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


# --------------------------------------------------------------------------- ONNX


def test_onnx_log_register_load(client, exp, uniq):
    import onnx  # noqa: F401
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    name = uniq("iris-onnx")
    iris = load_iris()
    sk_model = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
    onnx_model = convert_sklearn(
        sk_model,
        initial_types=[("input", FloatTensorType([None, 4]))],
        options={id(sk_model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    example = iris.data[:2].astype(np.float32)
    with mlflow.start_run() as run:
        info = mlflow.onnx.log_model(
            onnx_model,
            "model",
            registered_model_name=name,
            input_example=example,
            pip_requirements=["mlflow", "onnx", "onnxruntime"],
        )
    mv = client.get_model_version(name, "1")
    assert mv.run_id == run.info.run_id
    client.set_registered_model_alias(name, "champion", "1")

    rows, labels = iris_rows()
    for uri in (f"models:/{name}/1", f"models:/{name}@champion", info.model_uri):
        pyfunc = mlflow.pyfunc.load_model(uri)
        pred = pyfunc.predict(rows.astype(np.float32))
        assert as_labels(pred) == labels, uri
    # the flavor's own loader gives back the ONNX graph
    loaded = mlflow.onnx.load_model(f"models:/{name}/1")
    assert [o.name for o in loaded.graph.output] == ["label", "probabilities"]
    # the MLmodel file describes both flavors and the tensor signature
    local = mlflow.artifacts.download_artifacts(f"models:/{name}/1")
    import yaml
    from pathlib import Path

    mlmodel = yaml.safe_load((Path(local) / "MLmodel").read_text())
    assert set(mlmodel["flavors"]) == {"onnx", "python_function"}
    assert (Path(local) / "model.onnx").stat().st_size > 0
    assert mlmodel["flavors"]["python_function"]["loader_module"] == "mlflow.onnx"
    assert mlmodel["run_id"] == run.info.run_id
    example_back = json.loads((Path(local) / "input_example.json").read_text())
    if isinstance(example_back, dict):  # mlflow < 2.10 writes {"inputs": [...]}
        example_back = example_back["inputs"]
    assert np.allclose(np.asarray(example_back, dtype=np.float32), example)


# --------------------------------------------------------------------------- LoggedModels (3.x)


@requires_mlflow3
def test_logged_models_lifecycle(client, exp, uniq):
    exp_id = exp.experiment_id
    with mlflow.start_run() as run:
        pass
    lm = client.create_logged_model(
        experiment_id=exp_id,
        name="ext-model",
        source_run_id=run.info.run_id,
        tags={"t": "x"},
        params={"a": "1"},
        model_type="agent",
    )
    mid = lm.model_id
    assert mid.startswith("m-") and len(mid) == 34
    assert lm.experiment_id == exp_id
    assert lm.name == "ext-model"
    assert lm.source_run_id == run.info.run_id
    assert str(lm.status) in ("PENDING", "LoggedModelStatus.PENDING") or lm.status.name == "PENDING"
    assert lm.artifact_location == f"mlflow-artifacts:/{exp_id}/models/{mid}/artifacts"
    got = client.get_logged_model(mid)
    assert got.tags["t"] == "x"
    assert got.params == {"a": "1"}
    assert got.model_type == "agent"

    ready = client.finalize_logged_model(mid, "READY")
    assert ready.status.name == "READY"
    assert client.get_logged_model(mid).status.name == "READY"

    client.set_logged_model_tags(mid, {"k": "v", "k2": "v2"})
    assert {"k": "v", "k2": "v2"}.items() <= client.get_logged_model(mid).tags.items()
    client.delete_logged_model_tag(mid, "k")
    assert "k" not in client.get_logged_model(mid).tags
    client.log_model_params(mid, {"p2": "2"})
    assert client.get_logged_model(mid).params == {"a": "1", "p2": "2"}

    other = client.create_logged_model(experiment_id=exp_id, name="pending-model")
    found = client.search_logged_models(experiment_ids=[exp_id])
    assert {m.model_id for m in found} == {mid, other.model_id}
    found = client.search_logged_models(experiment_ids=[exp_id], filter_string="name = 'ext-model'")
    assert [m.model_id for m in found] == [mid]
    page = client.search_logged_models(experiment_ids=[exp_id], max_results=1)
    assert len(page) == 1 and page.token
    rest = client.search_logged_models(experiment_ids=[exp_id], max_results=1, page_token=page.token)
    assert {page[0].model_id, rest[0].model_id} == {mid, other.model_id}

    client.delete_logged_model(other.model_id)
    with pytest.raises(MlflowException) as ei:
        client.get_logged_model(other.model_id)
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [m.model_id for m in client.search_logged_models(experiment_ids=[exp_id])] == [mid]
    with pytest.raises(MlflowException) as ei:
        client.get_logged_model("m-00000000000000000000000000000000")
    assert ei.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@requires_mlflow3
def test_logged_model_from_log_model_and_register(client, exp, uniq, server):
    """3.x log_model creates a LoggedModel whose artifacts live under <exp>/models/<id>/artifacts;
    registering `models:/<id>` resolves back to that place."""
    with mlflow.start_run() as run:
        mlflow.log_metric("accuracy", 0.97)
        info = mlflow.sklearn.log_model(small_forest(), name="model", **FAST)
    mid = info.model_id
    lm = client.get_logged_model(mid)
    assert lm.status.name == "READY"
    assert lm.source_run_id == run.info.run_id
    assert lm.artifact_location == f"mlflow-artifacts:/{exp.experiment_id}/models/{mid}/artifacts"
    # the run's metrics were re-logged against the model
    assert [(m.key, m.value) for m in lm.metrics] == [("accuracy", 0.97)]
    found = client.search_logged_models(
        experiment_ids=[exp.experiment_id],
        filter_string="name = 'model' AND metrics.accuracy > 0.5",
        order_by=[{"field_name": "metrics.accuracy", "ascending": False}],
        max_results=1,
    )
    assert [m.model_id for m in found] == [mid]
    assert client.get_run(run.info.run_id).outputs.model_outputs[0].model_id == mid

    name = uniq("from-logged")
    mv = mlflow.register_model(f"models:/{mid}", name)
    assert mv.source == f"models:/{mid}"
    assert mv.model_id == mid if hasattr(mv, "model_id") and mv.model_id else True
    r = requests.get(
        f"{server}{API}model-versions/get-download-uri", params={"name": name, "version": mv.version}, timeout=30
    )
    assert r.status_code == 200
    assert r.json()["artifact_uri"] == f"mlflow-artifacts:/{exp.experiment_id}/models/{mid}/artifacts"
    rows, labels = iris_rows()
    assert as_labels(mlflow.pyfunc.load_model(f"models:/{name}/{mv.version}").predict(rows)) == labels
    assert as_labels(mlflow.pyfunc.load_model(f"models:/{mid}").predict(rows)) == labels
    # and the runs:/ form resolves to the same LoggedModel
    assert as_labels(mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(rows)) == labels
