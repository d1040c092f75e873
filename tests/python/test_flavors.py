"""scikit-learn, XGBoost and LightGBM models served with no Python, end to end.

The user's journey from the seed: train with the real library, log with the real client
(`mlflow.sklearn.log_model`, `mlflow.xgboost.log_model`, `mlflow.lightgbm.log_model`: skops on the
3.x client, cloudpickle on 2.x, each library's own file formats), register, point an alias, then
`weir models serve -m models:/<name>@champion`. Every answer is compared with what MLflow's own
scoring server answers for the same body: MLflow's pyfunc `predict` on the input MLflow's parser
builds, encoded by MLflow's `predictions_to_json` (labels identical, floats within 1e-5), and for
the seed's model with a real `mlflow models serve --env-manager local` process too.

Also: a pickle that would run `os.system` is refused without running anything (readiness 503,
the log names `posix.system`), and an estimator Weir cannot evaluate is refused by name.

Serving does not depend on the tracking store, so this runs once per client, on SQLite.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import requests

import mlflow
from _helpers import SKLEARN_LOG_KWARGS, Process
from conftest import _free_port, _tail, _weir_bin, mlflow_major
from mlflow.pyfunc.scoring_server import predictions_to_json
from sklearn import datasets

MLFLOW3 = mlflow_major() >= 3


@pytest.fixture(scope="module", autouse=True)
def _once_per_client(backend):
    if backend != "sqlite":
        pytest.skip("serving does not depend on the tracking store: covered on SQLite")


@pytest.fixture(scope="module")
def weir_bin() -> str:
    b = _weir_bin()
    if not os.access(b, os.X_OK):
        pytest.skip(f"no weir binary at {b}")
    return b


def name_kw() -> dict:
    return {"name": "model"} if MLFLOW3 else {"artifact_path": "model"}


def iris_df():
    d = datasets.load_iris()
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return pd.DataFrame(d.data, columns=cols), d.target


def register(flavor, model, name: str, client, X=None, **kw) -> str:
    """Log `model` with `flavor`'s log_model, registered as `name`, alias champion; the version."""
    with mlflow.start_run():
        flavor.log_model(
            model,
            registered_model_name=name,
            input_example=X.iloc[:3] if isinstance(X, pd.DataFrame) else None,
            **name_kw(),
            **kw,
        )
    version = str(max(int(v.version) for v in client.search_model_versions(f"name = '{name}'")))
    client.set_registered_model_alias(name, "champion", version)
    return version


def serve(weir_bin, server, name, tmp_path, tag="serve") -> Process:
    proc = Process(
        [weir_bin, "models", "serve", "-m", f"models:/{name}@champion", "--tracking-uri", server,
         "--model-cache", str(tmp_path / "cache"), "--poll-interval", "0", "--shutdown-timeout", "5"],
        tmp_path,
        tmp_path / f"{tag}.log",
    )
    proc.wait("/v2/health/live")
    return proc


def mlflow_body(pred) -> object:
    """What MLflow's scoring server answers for this prediction."""
    buf = io.StringIO()
    predictions_to_json(pred, buf)
    return json.loads(buf.getvalue())


def assert_same(got, want, where: str):
    """Equal structure; strings, ints and bools identical; floats within 1e-5."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), f"{where}: {got} != {want}"
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got} != {want}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, (int, float)) and not isinstance(got, bool), f"{where}: {got!r} != {want!r}"
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=where)
    else:
        assert got == want and type(got) is type(want), f"{where}: {got!r} != {want!r}"


def _plain(v):
    """A cell as JSON carries it: Python scalars at full precision (repr), NaN as null."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


def bodies(X: pd.DataFrame | np.ndarray, signature: bool):
    """(label, request body, content type, the input MLflow's parser builds from it).

    Floats are written at full precision (pandas' to_json rounds to 10 digits, which would make
    the request differ from the frame MLflow's answer is computed on)."""
    if isinstance(X, np.ndarray):
        yield "inputs", json.dumps({"inputs": X.tolist()}), "application/json", X
        return
    df = X.reset_index(drop=True)
    cols = [str(c) for c in df.columns]
    data = [[_plain(v) for v in row] for row in df.itertuples(index=False)]
    yield "dataframe_split", json.dumps({"dataframe_split": {"columns": cols, "data": data}}), "application/json", df
    records = [dict(zip(cols, row)) for row in data]
    yield "dataframe_records", json.dumps({"dataframe_records": records}), "application/json", df
    yield "csv", df.to_csv(index=False), "text/csv", df
    if signature and not df.isna().any().any():
        # Column-based signature: "inputs" as a dict of columns.
        by_col = {c: [row[i] for row in data] for i, c in enumerate(cols)}
        yield "inputs (columns)", json.dumps({"inputs": by_col}), "application/json", df


def check_against_mlflow(proc: Process, uri: str, X, signature: bool = True) -> int:
    """Score every body on Weir and compare with MLflow's pyfunc + encoder; returns bodies checked."""
    pyfunc = mlflow.pyfunc.load_model(uri)
    n = 0
    for label, body, ctype, parsed in bodies(X, signature):
        r = requests.post(proc.url + "/invocations", data=body, headers={"Content-Type": ctype}, timeout=30)
        assert r.status_code == 200, f"{label}: {r.status_code} {r.text}\n{_tail(proc.log)}"
        assert_same(r.json(), mlflow_body(pyfunc.predict(parsed)), label)
        n += 1
    return n


def check_kserve_v2(proc: Process, name: str, uri: str, df: pd.DataFrame) -> None:
    """V2 metadata names and types one input per signature column; infer answers as MLflow."""
    meta = requests.get(f"{proc.url}/v2/models/{name}", timeout=10).json()
    assert [i["name"] for i in meta["inputs"]] == [str(c) for c in df.columns], meta
    inputs = []
    for c in df.columns:
        text = not pd.api.types.is_numeric_dtype(df[c])
        inputs.append({"name": str(c), "shape": [len(df)], "datatype": "BYTES" if text else "FP64",
                       "data": [str(v) for v in df[c]] if text else [float(v) for v in df[c]]})
    r = requests.post(f"{proc.url}/v2/models/{name}/infer", json={"inputs": inputs}, timeout=30)
    assert r.status_code == 200, r.text
    want = mlflow_body(mlflow.pyfunc.load_model(uri).predict(df))["predictions"]
    got = r.json()["outputs"][0]
    flat = np.asarray(want, dtype=object).reshape(-1).tolist()
    assert got["shape"] == list(np.asarray(want).shape), (got["shape"], np.asarray(want).shape)
    assert_same(got["data"], flat, "v2")


# ---------------------------------------------------------------- the seed, exactly


def test_seed_random_forest_as_the_seed_logs_it(server, client, uniq, weir_bin, tmp_path, target):
    """The seed's code: numpy iris, `log_model(model, "model", registered_model_name=...)`, curl."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    iris = datasets.load_iris()
    X_train, X_test, y_train, _ = train_test_split(iris.data, iris.target, test_size=0.2, random_state=0)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X_train, y_train)
    name = uniq("iris-classifier")
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, "model", registered_model_name=name, **SKLEARN_LOG_KWARGS)
    client.set_registered_model_alias(name, "champion", "1")

    proc = serve(weir_bin, server, name, tmp_path)
    try:
        ready = proc.wait("/health")
        print(f"sklearn random forest (100 trees): ready {ready:.3f}s after start")
        # The seed's curl, byte for byte.
        r = requests.post(proc.url + "/invocations", data='{"inputs": [[5.1, 3.5, 1.4, 0.2]]}',
                          headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": [0]}
        assert r.headers["x-weir-model-version"] == "1"
        checked = check_against_mlflow(proc, f"models:/{name}/1", X_test)
        assert checked == 1
        # KServe V2 with the same rows.
        r = requests.post(
            f"{proc.url}/v2/models/{name}/infer",
            json={"inputs": [{"name": "input", "shape": list(X_test.shape), "datatype": "FP64",
                              "data": X_test.reshape(-1).tolist()}]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        out = r.json()["outputs"][0]
        assert out["data"] == [int(v) for v in model.predict(X_test)], out
        # KServe V1.
        r = requests.post(f"{proc.url}/v1/models/{name}:predict", json={"instances": X_test[:3].tolist()}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": [int(v) for v in model.predict(X_test[:3])]}, r.text
    finally:
        assert proc.stop() == 0, _tail(proc.log)


def test_seed_model_answers_as_mlflow_models_serve_does(server, client, uniq, weir_bin, tmp_path, target):
    """Side by side with a real `mlflow models serve` on the same registered model and bodies."""
    if target != "weir":
        pytest.skip("compares Weir's serving with MLflow's; the target server does not matter")
    if not MLFLOW3:
        # mlflow 2.22's `models serve` in this venv starts its Flask app under uvicorn and fails
        # (`'FastAPI' object has no attribute 'route'`); 3.17.2 is the reference anyway.
        pytest.skip("the reference `mlflow models serve` is 3.17.2's")
    X, y = iris_df()
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=30, random_state=1).fit(X, y)
    name = uniq("iris-side-by-side")
    register(mlflow.sklearn, model, name, client, X, **SKLEARN_LOG_KWARGS)
    port = _free_port()
    # `mlflow models serve` runs uvicorn from PATH: the client's own venv.
    env = {**os.environ, "MLFLOW_TRACKING_URI": server,
           "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    mlog = tmp_path / "mlflow-serve.log"
    with open(mlog, "wb") as f:
        ref = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}@champion",
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
            stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
    proc = serve(weir_bin, server, name, tmp_path)
    try:
        proc.wait("/health")
        deadline = time.monotonic() + 120
        while True:
            assert ref.poll() is None, _tail(mlog)
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, _tail(mlog)
            time.sleep(0.2)
        rows = X.iloc[[0, 60, 120, 7]]
        for label, body, ctype, _ in bodies(rows, signature=True):
            want = requests.post(f"http://127.0.0.1:{port}/invocations", data=body,
                                 headers={"Content-Type": ctype}, timeout=30)
            got = requests.post(proc.url + "/invocations", data=body, headers={"Content-Type": ctype}, timeout=30)
            assert (got.status_code, want.status_code) == (200, 200), f"{label}: {got.text} / {want.text}"
            assert_same(got.json(), want.json(), label)
        # A wrong column is an error on both, in MLflow's shape.
        bad = json.dumps({"dataframe_split": {"columns": ["nope"], "data": [[1.0]]}})
        want = requests.post(f"http://127.0.0.1:{port}/invocations", data=bad,
                             headers={"Content-Type": "application/json"}, timeout=30)
        got = requests.post(proc.url + "/invocations", data=bad, headers={"Content-Type": "application/json"}, timeout=30)
        assert (got.status_code, want.status_code) == (400, 400), (got.text, want.text)
        assert got.json()["error_code"] == want.json()["error_code"], (got.text, want.text)
    finally:
        if ref.poll() is None:
            os.killpg(ref.pid, 15)
            ref.wait(timeout=30)
        assert proc.stop() == 0, _tail(proc.log)


# ---------------------------------------------------------------- the estimators users log


def _sk_cases():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                                  GradientBoostingRegressor, HistGradientBoostingClassifier,
                                  HistGradientBoostingRegressor, RandomForestRegressor)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import (ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge,
                                      SGDClassifier, SGDRegressor)
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
    from sklearn.svm import SVR, LinearSVC, LinearSVR
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    def iris_frame():
        return iris_df()

    def diabetes():
        d = datasets.load_diabetes()
        return pd.DataFrame(d.data, columns=d.feature_names), d.target

    def mixed():
        rng = np.random.default_rng(0)
        n = 120
        X = pd.DataFrame({
            "age": rng.uniform(18, 80, n),
            "income": rng.normal(50_000, 12_000, n),
            "city": rng.choice(["paris", "lyon", "nice"], n),
        })
        X.loc[::11, "income"] = np.nan
        y = np.where((X["age"] > 40) & (X["city"] != "nice"), "yes", "no")
        return X, y

    pipe = Pipeline([
        ("prep", ColumnTransformer([
            ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ])),
        ("clf", LogisticRegression(max_iter=500)),
    ])
    return {
        "logistic_regression": (LogisticRegression(max_iter=500), iris_frame, {}),
        "logistic_predict_proba": (LogisticRegression(max_iter=500), iris_frame, {"pyfunc_predict_fn": "predict_proba"}),
        "random_forest_regressor": (RandomForestRegressor(n_estimators=20, random_state=0), diabetes, {}),
        "gradient_boosting_regressor": (GradientBoostingRegressor(n_estimators=30, random_state=0), diabetes, {}),
        "hist_gradient_boosting": (HistGradientBoostingClassifier(max_iter=20, random_state=0), iris_frame, {}),
        "ridge": (Ridge(), diabetes, {}),
        "pipeline_column_transformer": (pipe, mixed, {}),
        "decision_tree_classifier": (DecisionTreeClassifier(max_depth=4, random_state=0), iris_frame, {}),
        "decision_tree_regressor": (DecisionTreeRegressor(max_depth=5, random_state=0), diabetes, {}),
        "extra_trees_classifier": (ExtraTreesClassifier(n_estimators=15, random_state=0), iris_frame, {}),
        "extra_trees_regressor": (ExtraTreesRegressor(n_estimators=15, random_state=0), diabetes, {}),
        "gradient_boosting_classifier": (GradientBoostingClassifier(n_estimators=15, random_state=0), iris_frame, {}),
        "hist_gradient_boosting_regressor": (HistGradientBoostingRegressor(max_iter=20, random_state=0), diabetes, {}),
        "linear_regression": (LinearRegression(), diabetes, {}),
        "lasso": (Lasso(alpha=0.1), diabetes, {}),
        "elastic_net": (ElasticNet(alpha=0.01), diabetes, {}),
        "sgd_classifier": (Pipeline([("s", StandardScaler()), ("m", SGDClassifier(random_state=0))]), iris_frame, {}),
        "sgd_regressor": (Pipeline([("s", StandardScaler()), ("m", SGDRegressor(random_state=0))]), diabetes, {}),
        "linear_svc": (Pipeline([("s", MinMaxScaler()), ("m", LinearSVC(random_state=0))]), iris_frame, {}),
        "linear_svr": (LinearSVR(random_state=0, max_iter=5000), diabetes, {}),
        "svr_rbf": (SVR(), diabetes, {}),
    }


def _case_formats():
    """Every estimator in the client's default format (skops on 3.x, cloudpickle on 2.x); the
    first seven (trees, boosting, linear, a pipeline) in the client's other format as well."""
    formats = ["skops", "cloudpickle"] if MLFLOW3 else ["cloudpickle", "pickle"]
    cases = list(_sk_cases())
    return [(c, f) for i, c in enumerate(cases) for f in (formats if i < 7 else formats[:1])]


@pytest.mark.parametrize("case,fmt", _case_formats())
def test_sklearn_estimator_answers_as_mlflow(case, fmt, server, client, uniq, weir_bin, tmp_path):
    model, data, kw = _sk_cases()[case]
    X, y = data()
    model.fit(X, y)
    extra = dict(kw, serialization_format=fmt)
    if fmt == "skops":
        import skops.io

        probe = tmp_path / "probe.skops"
        skops.io.dump(model, probe)
        extra["skops_trusted_types"] = skops.io.get_untrusted_types(file=str(probe))
    name = uniq(f"sk-{case}-{fmt}")
    version = register(mlflow.sklearn, model, name, client, X, **extra)
    proc = serve(weir_bin, server, name, tmp_path)
    try:
        proc.wait("/health")
        rows = X.iloc[::9].reset_index(drop=True)
        assert check_against_mlflow(proc, f"models:/{name}/{version}", rows) >= 3
        check_kserve_v2(proc, name, f"models:/{name}/{version}", rows.dropna().reset_index(drop=True))
    finally:
        assert proc.stop() == 0, _tail(proc.log)


def test_xgboost_models_answer_as_mlflow(server, client, uniq, weir_bin, tmp_path):
    xgb = pytest.importorskip("xgboost")
    import mlflow.xgboost

    X, y = iris_df()
    d = datasets.load_diabetes()
    Xr = pd.DataFrame(d.data, columns=d.feature_names)
    cases = [
        ("classifier", xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y), X),
        ("regressor", xgb.XGBRegressor(n_estimators=20, max_depth=3).fit(Xr, d.target), Xr),
        ("booster", xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 2},
                              xgb.DMatrix(X, label=y), num_boost_round=10), X),
    ]
    formats = ["ubj", "json"] if MLFLOW3 else ["xgb", "json"]
    for label, model, data in cases:
        for fmt in formats:
            name = uniq(f"xgb-{label}-{fmt}")
            version = register(mlflow.xgboost, model, name, client, data, model_format=fmt)
            proc = serve(weir_bin, server, name, tmp_path, tag=f"{label}-{fmt}")
            try:
                proc.wait("/health")
                check_against_mlflow(proc, f"models:/{name}/{version}", data.iloc[::13].reset_index(drop=True))
            finally:
                assert proc.stop() == 0, _tail(proc.log)


def test_lightgbm_models_answer_as_mlflow(server, client, uniq, weir_bin, tmp_path):
    lgb = pytest.importorskip("lightgbm")
    import mlflow.lightgbm

    X, y = iris_df()
    d = datasets.load_diabetes()
    Xr = pd.DataFrame(d.data, columns=d.feature_names)
    params = {"verbose": -1, "num_leaves": 7, "min_data_in_leaf": 5, "seed": 0}
    cases = [
        ("booster", lgb.train({**params, "objective": "regression"}, lgb.Dataset(Xr, label=d.target),
                              num_boost_round=15), Xr, {}),
        ("classifier", lgb.LGBMClassifier(n_estimators=10, **params).fit(X, y), X, {}),
        ("regressor", lgb.LGBMRegressor(n_estimators=10, **params).fit(Xr, d.target), Xr, {}),
    ]
    for label, model, data, kw in cases:
        if MLFLOW3 and not isinstance(model, lgb.Booster):
            import skops.io

            probe = tmp_path / "probe.skops"
            skops.io.dump(model, probe)
            kw = {"skops_trusted_types": skops.io.get_untrusted_types(file=str(probe))}
        name = uniq(f"lgb-{label}")
        version = register(mlflow.lightgbm, model, name, client, data, **kw)
        proc = serve(weir_bin, server, name, tmp_path, tag=label)
        try:
            proc.wait("/health")
            check_against_mlflow(proc, f"models:/{name}/{version}", data.iloc[::17].reset_index(drop=True))
        finally:
            assert proc.stop() == 0, _tail(proc.log)


# ---------------------------------------------------------------- what is refused, and how


class _Evil:
    def __init__(self, sentinel: str):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def _log_raw_model(client, name: str, model_dir) -> None:
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(model_dir), "model")
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.set_registered_model_alias(name, "champion", "1")


def test_a_hostile_pickle_runs_nothing(server, client, uniq, weir_bin, tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris_df()
    model_dir = tmp_path / "model"
    mlflow.sklearn.save_model(DecisionTreeClassifier(max_depth=2).fit(X.values, y), str(model_dir),
                              serialization_format="cloudpickle")
    sentinel = tmp_path / "pwned"
    with open(model_dir / "model.pkl", "wb") as f:
        pickle.dump(_Evil(str(sentinel)), f)
    name = uniq("hostile")
    _log_raw_model(client, name, model_dir)
    proc = serve(weir_bin, server, name, tmp_path)
    try:
        time.sleep(1.0)
        r = requests.get(proc.url + "/health", timeout=5)
        assert r.status_code == 503, r.text
        r = requests.post(proc.url + "/invocations", json={"inputs": [[1, 2, 3, 4]]}, timeout=5)
        assert r.status_code == 503 and r.json()["error_code"], r.text
        assert "posix.system" in _tail(proc.log), _tail(proc.log)
        assert not sentinel.exists(), "the pickle ran"
    finally:
        proc.stop()


def test_an_estimator_weir_cannot_evaluate_is_named(server, client, uniq, weir_bin, tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = iris_df()
    name = uniq("knn")
    register(mlflow.sklearn, KNeighborsClassifier().fit(X, y), name, client, X,
             serialization_format="cloudpickle")
    proc = serve(weir_bin, server, name, tmp_path)
    try:
        time.sleep(1.0)
        r = requests.get(proc.url + "/health", timeout=5)
        assert r.status_code == 503, r.text
        assert "KNeighborsClassifier" in r.text + _tail(proc.log), _tail(proc.log)
    finally:
        proc.stop()
