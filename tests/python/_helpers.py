"""Shared bits for the end-to-end tests (imported by the test modules)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

MLFLOW_VERSION = tuple(int(p) for p in mlflow.__version__.split(".")[:2])
MLFLOW_MAJOR = MLFLOW_VERSION[0]

# mlflow 3 saves sklearn models with skops, and skops >= 0.15 refuses to round-trip tree models
# (RandomForest...) unless the tree type is trusted explicitly; mlflow 2 pickles and has no such option.
SKLEARN_LOG_KWARGS = (
    {"skops_trusted_types": ["sklearn.tree._tree.Tree"]} if MLFLOW_MAJOR >= 3 else {}
)

requires_mlflow3 = pytest.mark.skipif(
    MLFLOW_MAJOR < 3, reason=f"needs an mlflow 3.x client (this is {mlflow.__version__})"
)


def error_code(exc: MlflowException) -> str:
    """The server's `error_code` as the client surfaces it."""
    return exc.error_code


def now_ms() -> int:
    return int(time.time() * 1000)


def iris_split(seed: int = 42):
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    iris = load_iris()
    return train_test_split(iris.data, iris.target, test_size=0.2, random_state=seed)


def iris_rows():
    """Three iris rows, one per class, with their labels."""
    import numpy as np

    rows = np.array(
        [
            [5.1, 3.5, 1.4, 0.2],  # setosa
            [5.9, 3.0, 4.2, 1.5],  # versicolor
            [6.7, 3.0, 5.2, 2.3],  # virginica
        ]
    )
    return rows, [0, 1, 2]


def small_forest(seed: int = 0):
    """A small, fast random forest fitted on iris (predicts the iris_rows() labels)."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    iris = load_iris()
    model = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=seed)
    model.fit(iris.data, iris.target)
    return model


def as_labels(pred) -> list[int]:
    """pyfunc predictions (ndarray, Series, DataFrame or dict of outputs) as a list of ints."""
    import numpy as np
    import pandas as pd

    if isinstance(pred, dict):
        pred = pred.get("label", next(iter(pred.values())))
    if isinstance(pred, pd.DataFrame):
        pred = pred["label"] if "label" in pred.columns else pred.iloc[:, 0]
    return [int(x) for x in np.asarray(pred).reshape(-1)]


def raw_request(base_url: str, method: str, path: str, headers: dict | None = None,
                body=None, timeout: float = 120.0):
    """One HTTP/1.1 request over a plain socket, the path sent exactly as given (no normalisation
    of `..` or percent-escapes, unlike requests/urllib3).

    `body` is bytes or an iterable of byte chunks; with chunks and no Content-Length header the
    body is sent chunked. The server may answer before the body is fully sent (413 for a huge
    upload): sending stops as soon as the answer starts arriving, so that the answer is read
    instead of dying on a reset connection. Returns (status, headers dict lower-cased, body bytes).
    """
    import select
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(base_url)
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
    try:
        hdrs = {"Host": f"{u.hostname}:{u.port}", "Connection": "close", "User-Agent": "weir-e2e"}
        hdrs.update(headers or {})
        chunked = False
        if isinstance(body, (bytes, bytearray)):
            chunks = [bytes(body)]
            hdrs.setdefault("Content-Length", str(len(body)))
        elif body is None:
            chunks = []
            if method in ("POST", "PUT", "PATCH"):
                hdrs.setdefault("Content-Length", "0")
        else:
            chunks = body
            if not any(k.lower() == "content-length" for k in hdrs):
                hdrs["Transfer-Encoding"] = "chunked"
                chunked = True
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        sock.sendall(head.encode("latin-1"))

        def answered() -> bool:
            r, _, _ = select.select([sock], [], [], 0)
            return bool(r)

        try:
            for chunk in chunks:
                if answered():
                    break
                for i in range(0, len(chunk), 1 << 20):
                    piece = chunk[i:i + (1 << 20)]
                    sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                    if answered():
                        break
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading; its answer (if any) is read below

        data = b""
        try:
            while True:
                part = sock.recv(65536)
                if not part:
                    break
                data += part
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        sock.close()
    if not data:
        raise ConnectionError(f"no HTTP answer to {method} {path}")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    out_headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        out_headers[k.strip().lower()] = v.strip()
    if out_headers.get("transfer-encoding", "").lower() == "chunked":
        body_out, buf = b"", rest
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body_out += buf[:size]
            buf = buf[size + 2:]
        rest = body_out
    return status, out_headers, rest


class Process:
    """A weir process on a free port, stopped (SIGTERM to its own process group) at the end."""

    def __init__(self, args: list[str], cwd: Path, log: Path):
        from conftest import _free_port

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                [*args, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=cwd,
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait(self, path: str, timeout: float = 60) -> float:
        from conftest import _tail

        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                pytest.fail(f"weir exited with {self.proc.returncode}:\n{_tail(self.log)}")
            try:
                if requests.get(self.url + path, timeout=2).status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException:
                pass
            time.sleep(0.02)
        pytest.fail(f"{self.url}{path} not 200 within {timeout}s:\n{_tail(self.log)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode
