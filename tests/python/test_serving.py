"""Serving end to end, with the real mlflow client.

- `weir models serve -m models:/<name>@champion` against the server under test (Weir, or the
  reference MLflow server with WEIR_TEST_TARGET=mlflow: then Weir resolves through MLflow's own
  REST endpoints): score over HTTP, compare with onnxruntime and with MLflow's pyfunc, then move
  the alias while threads hammer /invocations: zero failed requests, and the new version's
  answers (x-weir-model-version) arrive within the poll interval.
- `weir server --serve-model models:/<name>@champion`: the same, in-process, where an alias move
  reloads at once (polling is off, so only the in-process notification can do it).

Needs skl2onnx and onnxruntime in the client's venv (scripts/run-serving-tests.sh provides them);
ONNX Runtime's library for Weir comes from ORT_DYLIB_PATH or the cache that
scripts/fetch-onnxruntime.sh fills (without it Weir falls back to tract, which runs these models).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from _helpers import Process
from conftest import _tail, _weir_bin, mlflow_major

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

import mlflow  # noqa: E402
import mlflow.onnx  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

POLL = 0.5  # seconds: `weir models serve --poll-interval`
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


@pytest.fixture(scope="module")
def weir_bin() -> str:
    b = _weir_bin()
    if not os.access(b, os.X_OK):
        pytest.skip(f"no weir binary at {b}")
    return b


@pytest.fixture(scope="module")
def iris():
    data = load_iris()
    return data.data.astype(np.float32), data.target


def to_onnx(model, X):
    return skl2onnx.to_onnx(
        model,
        X[:1],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )


def log_version(client: MlflowClient, name: str, onx, X) -> str:
    """mlflow.onnx.log_model(..., registered_model_name=name); returns the new version."""
    kw = {"name": "model"} if mlflow_major() >= 3 else {"artifact_path": "model"}
    with mlflow.start_run():
        mlflow.onnx.log_model(onx, input_example=X[:2], registered_model_name=name, **kw)
    versions = client.search_model_versions(f"name = '{name}'")
    return str(max(int(v.version) for v in versions))


def onnxruntime_answer(onx, rows) -> dict:
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    out = sess.run(names, {sess.get_inputs()[0].name: np.asarray(rows, dtype=np.float32)})
    return {n: o.tolist() for n, o in zip(names, out)}


def assert_close(got, want, tol=1e-6):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), atol=tol, rtol=tol)


class Hammer:
    """Threads posting to /invocations until stopped; records failures and versions seen."""

    def __init__(self, url: str, threads: int = 6):
        self.url = url
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures: list[str] = []
        self.first_seen: dict[str, float] = {}
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        s = requests.Session()
        body = json.dumps({"inputs": ROWS[:1]})
        while not self.stop_flag.is_set():
            try:
                r = s.post(self.url + "/invocations", data=body, headers={"Content-Type": "application/json"}, timeout=30)
                with self.lock:
                    if r.status_code == 200:
                        self.ok += 1
                        v = r.headers.get("x-weir-model-version", "")
                        self.first_seen.setdefault(v, time.monotonic())
                    else:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
            except requests.RequestException as e:
                with self.lock:
                    self.failures.append(repr(e))

    def wait_version(self, version: str, timeout: float, since: float) -> float:
        """Seconds from `since` (just before the alias moved) to the first answer by `version`."""
        start = since
        while time.monotonic() - start < timeout:
            with self.lock:
                if version in self.first_seen:
                    return self.first_seen[version] - start
            time.sleep(0.005)
        pytest.fail(f"version {version} not answered within {timeout}s (seen: {sorted(self.first_seen)})")

    def finish(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)
        return self.ok, self.failures


def score(url: str, rows) -> requests.Response:
    r = requests.post(url + "/invocations", json={"inputs": rows}, timeout=30)
    assert r.status_code == 200, r.text
    return r


def test_models_serve_follows_the_alias_under_load(server, client, uniq, weir_bin, iris, tmp_path, target):
    X, y = iris
    name = uniq("iris-onnx")
    rf = to_onnx(RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y), X)
    lr = to_onnx(LogisticRegression(max_iter=1000).fit(X, y), X)
    v1 = log_version(client, name, rf, X)
    v2 = log_version(client, name, lr, X)
    client.set_registered_model_alias(name, "champion", v1)

    proc = Process(
        [weir_bin, "models", "serve", "-m", f"models:/{name}@champion", "--tracking-uri", server,
         "--poll-interval", str(POLL), "--model-cache", str(tmp_path / "cache"), "--shutdown-timeout", "5"],
        tmp_path,
        tmp_path / "serve.log",
    )
    try:
        proc.wait("/v2/health/live")  # liveness first (bound before loading), then readiness
        ready_after = proc.wait("/ping")
        print(f"weir models serve ({target}): ready {ready_after:.3f}s after start")

        r = score(proc.url, ROWS)
        assert r.headers["x-weir-model-version"] == v1
        got = r.json()["predictions"]
        want = onnxruntime_answer(rf, ROWS)
        assert list(got) == ["label", "probabilities"]
        assert got["label"] == want["label"]
        assert_close(got["probabilities"], want["probabilities"])

        # The same body MLflow's own pyfunc + scoring-server encoder produce.
        from mlflow.pyfunc.scoring_server import predictions_to_json

        buf = io.StringIO()
        predictions_to_json(mlflow.pyfunc.load_model(f"models:/{name}/{v1}").predict(np.asarray(ROWS, dtype=np.float32)), buf)
        mlflow_body = json.loads(buf.getvalue())
        assert got["label"] == mlflow_body["predictions"]["label"]
        assert_close(got["probabilities"], mlflow_body["predictions"]["probabilities"])

        # KServe V2 under the registered model's name.
        r = requests.post(
            f"{proc.url}/v2/models/{name}/infer",
            json={"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": ROWS[0]}]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["model_version"] == v1

        hammer = Hammer(proc.url)
        time.sleep(0.5)
        moved = time.monotonic()
        client.set_registered_model_alias(name, "champion", v2)
        took = hammer.wait_version(v2, POLL + 10, since=moved)
        time.sleep(0.3)
        ok, failures = hammer.finish()
        print(f"alias moved: version {v2} answered after {took:.3f}s; {ok} requests, {len(failures)} failed")
        assert failures == [], failures[:5]
        assert took <= POLL + 2.0, f"new version took {took:.2f}s (poll interval {POLL}s)"

        r = score(proc.url, ROWS)
        assert r.headers["x-weir-model-version"] == v2
        want = onnxruntime_answer(lr, ROWS)
        assert r.json()["predictions"]["label"] == want["label"]
        assert_close(r.json()["predictions"]["probabilities"], want["probabilities"])
    finally:
        rc = proc.stop()
    assert rc == 0, _tail(proc.log)


def test_weir_server_serve_model_reloads_in_process(target, weir_bin, iris, tmp_path, uniq, server):
    if target != "weir":
        pytest.skip("--serve-model is Weir's")
    X, y = iris
    name = uniq("iris-inproc")
    proc = Process(
        [weir_bin, "server", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--serve-model", f"models:/{name}@champion",
         # No polling: only the in-process notification can reload.
         "--poll-interval", "0", "--model-cache", str(tmp_path / "cache"), "--shutdown-timeout", "5"],
        tmp_path,
        tmp_path / "server.log",
    )
    try:
        proc.wait("/health")
        mlflow.set_tracking_uri(proc.url)
        # This server has its own store: earlier tests' active experiment does not exist here.
        mlflow.set_experiment(uniq("serving-inproc"))
        client = MlflowClient(tracking_uri=proc.url, registry_uri=proc.url)
        # Not ready while the alias does not exist; the tracking server's own /health is fine.
        assert requests.post(proc.url + "/invocations", json={"inputs": ROWS}, timeout=10).status_code == 503
        listing = requests.get(proc.url + "/ajax-api/2.0/weir/served-models", timeout=10).json()
        assert listing["models"][0]["name"] == name
        assert listing["models"][0]["status"] in ("LOADING", "FAILED")

        rf = to_onnx(RandomForestClassifier(n_estimators=50, random_state=0).fit(X, y), X)
        lr = to_onnx(LogisticRegression(max_iter=1000).fit(X, y), X)
        v1 = log_version(client, name, rf, X)
        v2 = log_version(client, name, lr, X)
        client.set_registered_model_alias(name, "champion", v1)
        proc.wait("/v2/health/ready", timeout=30)
        for path in ("/invocations", f"/models/{name}/invocations"):
            r = requests.post(proc.url + path, json={"inputs": ROWS}, timeout=30)
            assert r.status_code == 200, r.text
            assert r.headers["x-weir-model-version"] == v1
            assert r.json()["predictions"]["label"] == onnxruntime_answer(rf, ROWS)["label"]

        hammer = Hammer(proc.url)
        time.sleep(0.5)
        moved = time.monotonic()
        client.set_registered_model_alias(name, "champion", v2)
        took = hammer.wait_version(v2, 10, since=moved)
        time.sleep(0.3)
        ok, failures = hammer.finish()
        print(f"in-process: version {v2} answered {took:.3f}s after the alias moved; {ok} requests")
        assert failures == [], failures[:5]
        assert took < 2.0
        listing = requests.get(proc.url + "/ajax-api/2.0/weir/served-models", timeout=10).json()
        assert listing["models"][0] == {
            "name": name,
            "model_uri": f"models:/{name}@champion",
            "status": "READY",
            "version": v2,
            "backend": listing["models"][0]["backend"],
        }
        assert listing["models"][0]["backend"] in ("ort", "tract")
    finally:
        mlflow.set_tracking_uri(server)
        rc = proc.stop()
    assert rc == 0, _tail(proc.log)
