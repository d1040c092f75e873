"""End-to-end fixtures: start the server under test and point the real `mlflow` client at it.

Selection (environment):
  WEIR_TEST_TARGET   weir (default) | mlflow
  WEIR_TEST_BACKEND  sqlite (default) | postgresql
  WEIR_BIN           the weir binary (default ${CARGO_TARGET_DIR:-target}/release/weir)
  WEIR_MLFLOW_SERVER_PYTHON  python whose `mlflow` is the reference server (default: this one)
  WEIR_TEST_PG_DSN   admin connection for postgresql (default postgresql://postgres@127.0.0.1:5432/postgres)
  WEIR_TEST_STARTUP_TIMEOUT  seconds to wait for GET /health (default 60 for weir, 180 for mlflow)
  WEIR_TEST_SERVER_ARGS      extra server flags (shell words); for mlflow the default is --workers 2
  WEIR_TEST_KEEP_TMP=1       keep the server's temp dir (database, artifacts, server.log)
"""

from __future__ import annotations

import os

# Before mlflow is imported anywhere: no telemetry (there is no internet here), no progress bars,
# and few, fast retries so that a server answering 5xx fails a test in seconds, not minutes.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
os.environ.setdefault("MPLBACKEND", "Agg")
# Test servers stop at once on SIGTERM (the drain delay is for load balancers; tested in Rust).
os.environ.setdefault("WEIR_SHUTDOWN_DELAY", "0")
# mlflow 2.9's sklearn autolog walks every sklearn module, one of which imports setuptools; its
# distutils shim then clashes with the stdlib distutils an earlier import loaded.
os.environ.setdefault("SETUPTOOLS_USE_DISTUTILS", "stdlib")
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_NAME",
             "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_TOKEN",
             "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
    os.environ.pop(_var, None)

import secrets  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402

TARGET = os.environ.get("WEIR_TEST_TARGET", "weir").strip().lower()
BACKEND = os.environ.get("WEIR_TEST_BACKEND", "sqlite").strip().lower()
if TARGET not in ("weir", "mlflow"):
    raise pytest.UsageError(f"WEIR_TEST_TARGET must be weir or mlflow, not {TARGET!r}")
if BACKEND not in ("sqlite", "postgresql"):
    raise pytest.UsageError(f"WEIR_TEST_BACKEND must be sqlite or postgresql, not {BACKEND!r}")

# Filled in by the `server` fixture, read by pytest_terminal_summary.
_SERVER_STATE: dict = {}


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _weir_bin() -> str:
    explicit = os.environ.get("WEIR_BIN")
    if explicit:
        return explicit
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    if not target_dir.is_absolute():
        target_dir = _repo_root() / target_dir
    return str(target_dir / "release" / "weir")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n_bytes: int = 6000) -> str:
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"<could not read {path}: {e}>"
    return data[-n_bytes:].decode("utf-8", "replace")


class _Postgres:
    """A throwaway database on the local PostgreSQL (trust auth)."""

    def __init__(self):
        self.admin_dsn = os.environ.get(
            "WEIR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        self.name = f"weir_test_{secrets.token_hex(6)}"
        parts = urlsplit(self.admin_dsn)
        self.uri = urlunsplit((parts.scheme, parts.netloc, "/" + self.name, "", ""))

    def _connect(self):
        import psycopg2

        conn = psycopg2.connect(self.admin_dsn)
        conn.autocommit = True
        return conn

    def create(self):
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            conn.close()

    def drop(self):
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (self.name,),
                )
                cur.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        finally:
            conn.close()


def _server_command(port: int, backend_uri: str, artifacts: Path) -> list[str]:
    flags = [
        "server",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--backend-store-uri", backend_uri,
        "--artifacts-destination", str(artifacts),
    ]
    extra = shlex.split(os.environ.get("WEIR_TEST_SERVER_ARGS", ""))
    if TARGET == "weir":
        binary = _weir_bin()
        if not os.access(binary, os.X_OK):
            pytest.exit(
                f"weir binary not found at {binary}: build it (cargo build --release) or set WEIR_BIN",
                returncode=4,
            )
        return [binary, *flags, *extra]
    python = os.environ.get("WEIR_MLFLOW_SERVER_PYTHON", sys.executable)
    if "WEIR_TEST_SERVER_ARGS" not in os.environ:
        # The reference server forks 4 uvicorn workers by default; on 2 cores 2 start twice as fast.
        extra = ["--workers", "2"]
    return [python, "-m", "mlflow", *flags, *extra]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def target() -> str:
    """`weir` or `mlflow`: which server is under test."""
    return TARGET


@pytest.fixture(scope="session")
def backend() -> str:
    return BACKEND


@pytest.fixture(scope="session")
def server_dir():
    d = Path(tempfile.mkdtemp(prefix=f"weir-e2e-{TARGET}-{BACKEND}-"))
    yield d
    if os.environ.get("WEIR_TEST_KEEP_TMP") != "1":
        import shutil

        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(server_dir: Path):
    """Start the server under test; yield its base URL (MLFLOW_TRACKING_URI is set to it)."""
    artifacts = server_dir / "artifacts"
    artifacts.mkdir()
    pg = None
    if BACKEND == "sqlite":
        backend_uri = f"sqlite:///{server_dir / 'mlflow.db'}"
    else:
        pg = _Postgres()
        pg.create()
        backend_uri = pg.uri
        if TARGET == "mlflow":
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the reference server's venv has
            # psycopg2, so name the driver. Weir gets the plain URI, as users write it.
            backend_uri = backend_uri.replace("postgresql://", "postgresql+psycopg2://", 1)

    port = _free_port()
    cmd = _server_command(port, backend_uri, artifacts)
    log_path = server_dir / "server.log"
    _SERVER_STATE.update(log=log_path, cmd=cmd)
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=server_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    try:
        # The reference server imports a lot and migrates a fresh database: give it longer.
        default_timeout = "60" if TARGET == "weir" else "180"
        timeout = float(os.environ.get("WEIR_TEST_STARTUP_TIMEOUT", default_timeout))
        deadline = time.monotonic() + timeout
        ready = False
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(
                    f"server exited with {proc.returncode} before becoming ready.\n"
                    f"command: {shlex.join(cmd)}\n--- server log tail ---\n{_tail(log_path)}",
                    pytrace=False,
                )
            try:
                r = requests.get(f"{url}/health", timeout=2)
                if r.status_code == 200:
                    ready = True
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        if not ready:
            pytest.fail(
                f"server not healthy within {timeout:.0f}s.\ncommand: {shlex.join(cmd)}\n"
                f"--- server log tail ---\n{_tail(log_path)}",
                pytrace=False,
            )
        os.environ["MLFLOW_TRACKING_URI"] = url
        import mlflow

        mlflow.set_tracking_uri(url)
        _SERVER_STATE["url"] = url
        yield url
    finally:
        _stop(proc)
        _SERVER_STATE["log_tail"] = _tail(log_path, 12000)
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        if pg is not None:
            try:
                pg.drop()
            except Exception as e:  # pragma: no cover - best effort
                print(f"warning: could not drop {pg.name}: {e}", file=sys.stderr)


@pytest.fixture(autouse=True)
def _fluent_isolation(server, tmp_path, monkeypatch):
    """Every test talks to the shared server, from its own cwd, and leaves no active run or
    active experiment behind (a test that talks to a server of its own sets one)."""
    import mlflow
    import mlflow.tracking.fluent as fluent

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    mlflow.set_tracking_uri(server)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    if hasattr(fluent, "_active_experiment_id"):
        fluent._active_experiment_id = None


@pytest.fixture
def client(server):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=server, registry_uri=server)


@pytest.fixture
def uniq():
    """uniq('exp') -> 'exp-1a2b3c4d': names that no other test uses."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


class Api:
    """Raw HTTP against the server under test (no mlflow client in between)."""

    def __init__(self, base: str):
        self.base = base
        self.s = requests.Session()

    def url(self, path: str) -> str:
        return self.base + path

    def get(self, path, **kw):
        kw.setdefault("timeout", 60)
        return self.s.get(self.url(path), **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", 60)
        return self.s.post(self.url(path), **kw)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 60)
        return self.s.request(method, self.url(path), **kw)


@pytest.fixture
def api(server):
    a = Api(server)
    yield a
    a.s.close()


def mlflow_major() -> int:
    import mlflow

    return int(mlflow.__version__.split(".")[0])


def pytest_report_header(config):
    import mlflow

    return [
        f"weir e2e: target={TARGET} backend={BACKEND} client mlflow=={mlflow.__version__}",
        f"server python: {os.environ.get('WEIR_MLFLOW_SERVER_PYTHON', sys.executable)}"
        if TARGET == "mlflow"
        else f"weir binary: {_weir_bin()}",
    ]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    failed = terminalreporter.stats.get("failed") or terminalreporter.stats.get("error")
    if "log" not in _SERVER_STATE or not failed:
        return
    tail = _SERVER_STATE.get("log_tail") or _tail(Path(_SERVER_STATE["log"]), 12000)
    terminalreporter.section("server log (tail)")
    terminalreporter.write_line(f"command: {shlex.join(_SERVER_STATE.get('cmd', []))}")
    terminalreporter.write_line(tail)
