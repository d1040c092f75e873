"""Weir side by side with MLflow, on this machine, in one run. Called by benches/compare.sh.

Every figure is measured for both systems under the same load generator (wrk, loopback, bounded
duration), repeated, and the median kept. Output: BENCHMARKS.md (a table with the ratio
Weir / MLflow) and BENCHMARKS.json (every repetition's raw numbers) in --out.

Serving is measured for three models, each registered by the real mlflow client and resolved
through `models:/<name>@champion`: the bundled iris ONNX model (Weir's ort and tract backends), and
a scikit-learn random forest and an XGBoost classifier logged with their own flavors (100 trees
each, no conversion: Weir evaluates the stock artifacts natively, MLflow in Python). Weir's iris
runs also answer the 1-row, 32-way load over KServe gRPC (examples/grpc_load: ModelInfer with raw
FP32, 32 streams on one HTTP/2 connection), reported beside the KServe V2 HTTP rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IRIS = [5.1, 3.5, 1.4, 0.2]

# wrk reports through this Lua hook, in microseconds, as one JSON line.
WRK_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


def log(msg: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A server process in its own process group, stopped (whole group) on exit."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict | None = None):
        self.name = name
        self.log_path = cwd / f"{name}.log"
        self.log_file = open(self.log_path, "wb")
        self.started = time.perf_counter()
        self.p = subprocess.Popen(
            argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=self.log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_ready(self, url: str, timeout: float = 180.0) -> float:
        """Poll `url` every 5 ms until 200; seconds from spawn to ready."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                if http_call("GET", url, timeout=2)[0] == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} not ready after {timeout}s: {self.log_path.read_text()[-3000:]}")

    def rss_mb(self) -> float:
        """Resident memory of the process and all its descendants, in MB."""
        total = 0
        for pid in [self.p.pid, *self.descendants()]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except (FileNotFoundError, ProcessLookupError):
                pass
        return total / 1024

    def descendants(self) -> list[int]:
        """Every live process under this one (`mlflow models serve` starts uvicorn in a session of
        its own, so the process group alone misses it)."""
        found, todo = [], [self.p.pid]
        while todo:
            pid = todo.pop()
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    kids = [int(k) for k in (task / "children").read_text().split()]
                    found += kids
                    todo += kids
            except (FileNotFoundError, ProcessLookupError):
                pass
        return found

    def stop(self) -> None:
        """SIGTERM the whole tree, then SIGKILL whatever is left after 20 s."""
        tree = self.descendants()
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in tree:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 20
        for pid in [self.p.pid, *tree]:
            while time.time() < deadline and Path(f"/proc/{pid}").exists() and not is_zombie(pid):
                if pid == self.p.pid and self.p.poll() is not None:
                    break
                time.sleep(0.05)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.p.wait()
        self.log_file.close()


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


AUTH_PASSWORD = "bench admin password"
# HTTP Basic for admin:AUTH_PASSWORD, what the auth-on figures send.
AUTH_HEADER = "Basic " + __import__("base64").b64encode(f"admin:{AUTH_PASSWORD}".encode()).decode()


def http_call(method: str, url: str, body: bytes | None = None, timeout: float = 600,
              auth: bool = False):
    """One request on a fresh connection: (status, body bytes)."""
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if auth:
            headers["Authorization"] = AUTH_HEADER
        conn.request(method, "/" + path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def api(base: str, method: str, path: str, payload: dict | None = None, auth: bool = False) -> dict:
    body = json.dumps(payload).encode() if payload is not None else None
    status, data = http_call(method, f"{base}/api/2.0/mlflow/{path}", body, auth=auth)
    if status != 200:
        raise RuntimeError(f"{method} {path} -> {status}: {data[:500]!r}")
    return json.loads(data or b"{}")


def wrk(url: str, lua: str, conns: int, seconds: float, workdir: Path) -> dict:
    """Run wrk against `url` with the request given by `lua`; its numbers as a dict."""
    script = workdir / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    script.write_text(lua + WRK_DONE)
    threads = max(1, min(2, conns))
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(script), url],
        capture_output=True, text=True, timeout=seconds + 60,
    )
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout}\n{out.stderr}")
    r = json.loads(line[len("WRKJSON "):])
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs if secs else 0.0
    r["ok_rps"] = (r["requests"] - r["non2xx"]) / secs if secs else 0.0
    return r


def post_lua(path: str, body: str) -> str:
    return (
        f'wrk.method = "POST"\nwrk.path = {json.dumps(path)}\n'
        f'wrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body)}\n'
    )


def lua_bytes(b: bytes) -> str:
    """A Lua string literal holding exactly `b` (wrk's LuaJIT has no \\u escapes)."""
    out = []
    for c in b:
        ch = chr(c)
        out.append(ch if 32 <= c < 127 and ch not in '"\\' else f"\\{c:03d}")
    return '"' + "".join(out) + '"'


def v2_lua(path: str, binary: bool) -> str:
    """One iris row as a KServe V2 request: JSON, or Triton's binary tensor data extension (what
    tritonclient sends by default: binary input, binary outputs)."""
    if not binary:
        body = json.dumps({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": IRIS}]})
        return post_lua(path, body)
    head = json.dumps({"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32",
                                   "parameters": {"binary_data_size": 16}}],
                       "parameters": {"binary_data_output": True}}).encode()
    body = head + struct.pack("<4f", *IRIS)
    return (
        f'wrk.method = "POST"\nwrk.path = {json.dumps(path)}\n'
        f'wrk.headers["Content-Type"] = "application/octet-stream"\n'
        f'wrk.headers["Inference-Header-Content-Length"] = "{len(head)}"\nwrk.body = {lua_bytes(body)}\n'
    )


def log_metric_lua(run_id: str, auth: bool = False) -> str:
    # Every request a new point: each wrk thread has its own key and its own step counter.
    headers = '["Content-Type"] = "application/json"'
    if auth:
        headers += f', ["Authorization"] = "{AUTH_HEADER}"'
    return f"""
local n = 0
local id = 0
local threads = {{}}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function request()
  n = n + 1
  local body = string.format(
    '{{"run_id":"{run_id}","key":"load_%d","value":%d.25,"timestamp":%d,"step":%d}}',
    id, n, 1700000000000 + n, n)
  return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric",
    {{{headers}}}, body)
end
"""


def timed(fn, count: int, budget_s: float) -> list[float]:
    """Call fn() up to `count` times (at least once, within `budget_s`); seconds per call."""
    times, start = [], time.perf_counter()
    while len(times) < count and (not times or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def warm_then_time(fn, count: int, budget_s: float) -> list[float]:
    """One warm-up call, then `timed`; a warm-up slower than 5 s is itself the one sample (MLflow's
    runs/search over 100k runs takes minutes a call)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    return [first] if first > 5 else timed(fn, count, budget_s)


# ---------------------------------------------------------------------------------------------
# Bulk population: the same runs written straight into each server's own SQLite schema, so both
# get the same data by the same (fast) path. The servers are stopped while it happens.

def populate(db: Path, flavor: str, exp_id: str, n_runs: int, history_points: int = 0) -> str | None:
    """Insert `n_runs` finished runs (params model/depth, metrics accuracy/loss, a run name) into
    experiment `exp_id`; with history_points, one more run holding a metric 'curve' with that many
    steps. Returns that run's id."""
    con = sqlite3.connect(db)
    rng = random.Random(42)
    now = int(time.time() * 1000)
    runs, params, tags, metrics = [], [], [], []
    for i in range(n_runs):
        rid = uuid.uuid4().hex
        acc = rng.random()
        runs.append((rid, f"sweep-{i}", now - i * 1000))
        params += [(rid, "model", "rf"), (rid, "depth", str(i % 10))]
        tags.append((rid, "mlflow.runName", f"sweep-{i}"))
        metrics += [(rid, "accuracy", acc, now, 0), (rid, "loss", 1 - acc, now, 0)]
    curve = None
    if history_points:
        curve = uuid.uuid4().hex
        runs.append((curve, "curve", now))
        tags.append((curve, "mlflow.runName", "curve"))
    if flavor == "mlflow":
        con.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id,"
            " status, start_time, end_time, source_version, lifecycle_stage, artifact_uri,"
            " experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'bench', 'FINISHED', ?, NULL, '',"
            f" 'active', 'file:///tmp/bench', {int(exp_id)})", runs)
        con.executemany("INSERT INTO params (run_uuid, key, value) VALUES (?, ?, ?)", params)
        con.executemany("INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?)", tags)
        cols = "(run_uuid, key, value, timestamp, step, is_nan)"
    else:
        con.executemany(
            "INSERT INTO runs (run_uuid, name, user_id, status, start_time, lifecycle_stage,"
            f" artifact_uri, experiment_id) VALUES (?, ?, 'bench', 'FINISHED', ?, 'active',"
            f" 'file:///tmp/bench', {int(exp_id)})", runs)
        # Each param row carries its run's experiment and start time (Weir's walk index).
        start = {r: t for r, _, t in runs}
        con.executemany(
            "INSERT INTO params (run_uuid, key, value, experiment_id, start_time)"
            f" VALUES (?, ?, ?, {int(exp_id)}, ?)", [(r, k, v, start[r]) for r, k, v in params])
        con.executemany("INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?)", tags)
        cols = "(run_uuid, key, value, timestamp, step, is_nan)"
    rows = [(r, k, v, t, s, 0) for r, k, v, t, s in metrics]
    con.executemany(f"INSERT INTO metrics {cols} VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.executemany(f"INSERT INTO latest_metrics {cols} VALUES (?, ?, ?, ?, ?, ?)", rows)
    if curve:
        points = [(curve, "curve", 1 / (1 + s), now + s, s, 0) for s in range(history_points)]
        con.executemany(f"INSERT INTO metrics {cols} VALUES (?, ?, ?, ?, ?, ?)", points)
        con.execute(f"INSERT INTO latest_metrics {cols} VALUES (?, ?, ?, ?, ?, ?)", points[-1])
    con.commit()
    con.close()
    return curve


# ---------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.reps = args.reps or (1 if self.quick else 3)
        self.seconds = args.seconds or (1 if self.quick else 8)
        self.sizes = [1000] if self.quick else [10_000, 100_000]
        self.history = 10_000 if self.quick else 100_000
        self.work = Path(tempfile.mkdtemp(prefix="weir-compare-"))
        self.results: dict[str, dict] = {}
        self.procs: list[Proc] = []
        self.grpc_port = 0  # Weir's --grpc-port in the serving run under way
        self.http_port = 0  # and its HTTP port

    def record(self, figure: str, system: str, values: list[float], unit: str, better: str,
               extra: dict | None = None) -> None:
        entry = self.results.setdefault(figure, {"unit": unit, "better": better, "systems": {}})
        entry["systems"][system] = {
            "median": statistics.median(values), "runs": values, **(extra or {}),
        }
        spread = (max(values) - min(values)) / statistics.median(values) * 100 if statistics.median(values) else 0
        log(f"{figure} [{system}]: median {statistics.median(values):.4g} {unit} over {len(values)} (spread {spread:.0f}%)")

    def start(self, name: str, argv: list[str], env: dict | None = None) -> Proc:
        p = Proc(name, argv, self.work, env)
        self.procs.append(p)
        return p

    def stop(self, p: Proc) -> None:
        p.stop()
        self.procs.remove(p)

    def cleanup(self) -> None:
        for p in list(self.procs):
            p.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- tracking --------------------------------------------------------------------------

    def tracking_server(self, system: str, home: Path, port: int,
                        auth: bool = False) -> tuple[Proc, str, Path]:
        home.mkdir(exist_ok=True)
        db = home / f"{system}.db"
        if system == "mlflow":
            argv = [self.args.mlflow, "server", "--host", "127.0.0.1", "--port", str(port),
                    "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination",
                    str(home / "artifacts")]
        else:
            argv = [self.args.weir, "server", "--host", "127.0.0.1", "--port", str(port),
                    "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination",
                    str(home / "artifacts")]
        env = {"WEIR_LOG": "warn"}
        if auth:
            # Both read the admin's password from MLflow's variable; MLflow keeps its users in
            # the ini's sqlite:///basic_auth.db, so each run gets its own config and directory.
            ini = home / "basic_auth.ini"
            ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{home / 'basic_auth.db'}\n"
                           "admin_username = admin\n"
                           "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
            argv += ["--app-name", "basic-auth"]
            env.update({"MLFLOW_AUTH_ADMIN_PASSWORD": AUTH_PASSWORD, "MLFLOW_AUTH_CONFIG_PATH": str(ini),
                        # MLflow's auth app refuses to start several workers without one CSRF key.
                        "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex})
        p = self.start(f"{system}-server{'-auth' if auth else ''}", argv, env)
        base = f"http://127.0.0.1:{port}"
        p.wait_ready(f"{base}/health")
        return p, base, db

    def tracking_auth(self, system: str) -> None:
        """log-metric at 16 clients with `--app-name basic-auth` on (every request authenticated)."""
        home = self.work / f"tracking-{system}-auth"
        port = free_port()
        p, base, _ = self.tracking_server(system, home, port, auth=True)
        exp = api(base, "POST", "experiments/create", {"name": "load"}, auth=True)["experiment_id"]
        run = api(base, "POST", "runs/create", {"experiment_id": exp, "start_time": 0}, auth=True)["run"]["info"]["run_id"]
        rps, errors = [], 0
        for _ in range(self.reps):
            r = wrk(f"{base}/api/2.0/mlflow/runs/log-metric", log_metric_lua(run, auth=True), 16, self.seconds,
                    self.work)
            rps.append(r["ok_rps"])
            errors += r["non2xx"] + r["socket_errors"]
        if errors:
            raise RuntimeError(f"{system} with basic-auth: {errors} failed log-metric requests")
        self.record("tracking: log-metric, 16 clients, basic-auth on", system, rps, "req/s", "higher",
                    {"errors": errors})
        self.stop(p)

    def tracking(self, system: str) -> None:
        home = self.work / f"tracking-{system}"
        port = free_port()
        p, base, db = self.tracking_server(system, home, port)
        exp = api(base, "POST", "experiments/create", {"name": "load"})["experiment_id"]
        run = api(base, "POST", "runs/create", {"experiment_id": exp, "start_time": 0})["run"]["info"]["run_id"]

        # log-metric requests/s at 16 concurrent clients
        rps, errors = [], 0
        for _ in range(self.reps):
            r = wrk(f"{base}/api/2.0/mlflow/runs/log-metric", log_metric_lua(run), 16, self.seconds, self.work)
            rps.append(r["ok_rps"])
            errors += r["non2xx"] + r["socket_errors"]
        self.record("tracking: log-metric, 16 clients", system, rps, "req/s", "higher", {"errors": errors})
        self.tracking_auth(system)

        # log-batch of 1000 metrics, one client, latency
        step = [0]

        def batch():
            metrics = [{"key": f"m{i % 10}", "value": i * 0.5, "timestamp": 1700000000000 + step[0] + i,
                        "step": step[0] + i} for i in range(1000)]
            step[0] += 1000
            api(base, "POST", "runs/log-batch", {"run_id": run, "metrics": metrics})

        batch()
        n = 5 if self.quick else 30
        lat = timed(batch, n, 60)
        self.record("tracking: log-batch 1000 metrics, p50", system, [statistics.median(lat) * 1000], "ms", "lower",
                    {"requests": len(lat), "p90_ms": sorted(lat)[int(len(lat) * 0.9) - 1 if len(lat) > 1 else 0] * 1000})

        # bulk-populate the search experiments and the long metric, then restart on the same db
        exps = {size: api(base, "POST", "experiments/create", {"name": f"search-{size}"})["experiment_id"]
                for size in self.sizes}
        hist_exp = api(base, "POST", "experiments/create", {"name": "history"})["experiment_id"]
        self.stop(p)
        log(f"{system}: populating {self.sizes} runs and a {self.history}-point metric")
        for size, exp_id in exps.items():
            populate(db, system, exp_id, size)
        curve = populate(db, system, hist_exp, 0, self.history)
        p, base, db = self.tracking_server(system, home, port)

        for size, exp_id in exps.items():
            body = {"experiment_ids": [exp_id], "filter": "metrics.accuracy > 0.5",
                    "order_by": ["metrics.accuracy DESC"], "max_results": 100}

            def search():
                res = api(base, "POST", "runs/search", body)
                if len(res.get("runs", [])) != 100:
                    raise RuntimeError(f"{system}: runs/search returned {len(res.get('runs', []))} runs")

            lat = warm_then_time(search, 3 if self.quick else 15, 120)
            self.record(f"tracking: runs/search, metric filter + order, {size:,} runs", system,
                        [statistics.median(lat) * 1000], "ms", "lower", {"requests": len(lat)})

        def history():
            # as the client does: pages of 25,000 until no next_page_token
            got, token = 0, None
            while True:
                q = f"run_id={curve}&run_uuid={curve}&metric_key=curve&max_results=25000"
                if token:
                    q += f"&page_token={token}"
                res = api(base, "GET", f"metrics/get-history?{q}")
                got += len(res.get("metrics", []))
                token = res.get("next_page_token")
                if not token:
                    break
            if got != self.history:
                raise RuntimeError(f"{system}: get-history returned {got} of {self.history} points")

        lat = warm_then_time(history, 3 if self.quick else 10, 120)
        self.record(f"tracking: get-history, {self.history:,}-point metric", system,
                    [statistics.median(lat) * 1000], "ms", "lower", {"requests": len(lat)})
        self.stop(p)

    # -- serving ---------------------------------------------------------------------------

    def register_iris(self) -> str:
        """A Weir tracking server holding models:/iris@champion (the bundled iris ONNX model,
        logged and registered by the real mlflow client); returns its URL."""
        port = free_port()
        p, base, _ = self.tracking_server("weir", self.work / "registry", port)
        self.registry = p
        code = (
            "import mlflow, sys\n"
            "mlflow.set_tracking_uri(sys.argv[1])\n"
            "mlflow.set_experiment('bench-serving')\n"
            "with mlflow.start_run() as run:\n"
            "    mlflow.log_artifacts(sys.argv[2], 'model')\n"
            "v = mlflow.register_model(f'runs:/{run.info.run_id}/model', 'iris')\n"
            "mlflow.MlflowClient().set_registered_model_alias('iris', 'champion', v.version)\n"
        )
        subprocess.run([self.args.python, "-c", code, base, str(REPO / "models" / "iris-rf")],
                       check=True, cwd=self.work, capture_output=True, timeout=300)
        # The models users log without any conversion, as the seed logs them (real training,
        # the real client's default formats: skops for scikit-learn, UBJSON for XGBoost).
        code = (
            "import mlflow, mlflow.sklearn, mlflow.xgboost, sys, xgboost\n"
            "from sklearn.datasets import load_iris\n"
            "from sklearn.ensemble import RandomForestClassifier\n"
            "mlflow.set_tracking_uri(sys.argv[1])\n"
            "mlflow.set_experiment('bench-serving')\n"
            "X, y = load_iris(return_X_y=True)\n"
            "c = mlflow.MlflowClient()\n"
            "for name, flavor, model, kw in [\n"
            "    ('iris-sklearn', mlflow.sklearn, RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y),\n"
            "     {'skops_trusted_types': ['sklearn.tree._tree.Tree']}),\n"
            "    ('iris-xgboost', mlflow.xgboost, xgboost.XGBClassifier(n_estimators=100, max_depth=4).fit(X, y), {}),\n"
            "]:\n"
            "    with mlflow.start_run():\n"
            "        flavor.log_model(model, name='model', registered_model_name=name, **kw)\n"
            "    c.set_registered_model_alias(name, 'champion', '1')\n"
        )
        subprocess.run([self.args.python, "-c", code, base], check=True, cwd=self.work, capture_output=True,
                       timeout=600)
        return base

    def serve_argv(self, system: str, port: int, cache: Path, model: str) -> tuple[list[str], str]:
        """The command line serving models:/<model>@champion on `port`, and its readiness URL."""
        base = f"http://127.0.0.1:{port}"
        if system == "mlflow":
            return [self.args.mlflow, "models", "serve", "-m", f"models:/{model}@champion", "--env-manager",
                    "local", "--host", "127.0.0.1", "--port", str(port)], f"{base}/ping"
        if system == "floor":
            return [self.args.floor, "http", f"127.0.0.1:{port}"], f"{base}/"
        # weir[-<backend>][-unbatched]
        parts = system.split("-")
        flags = ["--backend", parts[1]] if len(parts) > 1 else []
        if "unbatched" in parts:
            flags += ["--max-batch-size", "1"]
        return [self.args.weir, "models", "serve", "-m", f"models:/{model}@champion", *flags,
                "--port", str(port), "--model-cache", str(cache),
                "--grpc-port", str(self.grpc_port)], f"{base}/health"

    def serving(self, system: str, registry: str, model: str = "iris", prefix: str = "serving:") -> None:
        """Start to ready, load at 1 and 32 connections, memory: `system` serving `model`; the
        figures are filed under `prefix` (one report section per model kind)."""
        env = {"MLFLOW_TRACKING_URI": registry, "WEIR_LOG": "warn"}
        starts, p, base = [], None, ""
        for rep in range(1 if system == "floor" else self.reps):
            # a fresh port and an empty model cache each time: every start resolves and downloads
            port, self.grpc_port = free_port(), free_port()
            self.http_port = port
            base = f"http://127.0.0.1:{port}"
            argv, ready = self.serve_argv(system, port, self.work / f"cache-{model}-{system}-{rep}", model)
            p = self.start(f"{model}-{system}-serve-{rep}", argv, env)
            starts.append(p.wait_ready(ready))
            if len(starts) < self.reps and system != "floor":
                self.stop(p)
        if system != "floor":
            self.record(f"{prefix} start to ready (resolve, download, load)", system, starts, "s", "lower")
        one = json.dumps({"inputs": [IRIS]})
        hundred = json.dumps({"inputs": [[IRIS[0] + (i % 10) / 10, *IRIS[1:]] for i in range(100)]})
        status, body = http_call("POST", f"{base}/invocations", one.encode())
        if status != 200:
            raise RuntimeError(f"{system}: /invocations -> {status} {body[:300]!r}")
        cases = [("1 row, 1 connection", one, 1), ("1 row, 32 connections", one, 32),
                 ("100 rows, 32 connections", hundred, 32)]
        for label, payload, conns in cases:
            runs = [wrk(f"{base}/invocations", post_lua("/invocations", payload), conns, self.seconds, self.work)
                    for _ in range(self.reps)]
            errors = sum(r["non2xx"] + r["socket_errors"] for r in runs)
            self.record(f"{prefix} {label}, throughput", system, [r["ok_rps"] for r in runs], "req/s", "higher",
                        {"errors": errors})
            if conns > 1 or label.startswith("1 row"):
                self.record(f"{prefix} {label}, p50", system, [r["p50_us"] / 1000 for r in runs], "ms", "lower")
                self.record(f"{prefix} {label}, p99", system, [r["p99_us"] / 1000 for r in runs], "ms", "lower")
        if system.startswith("weir") and prefix == "serving:":
            # The Open Inference Protocol, JSON and binary (MLflow's scoring server has neither).
            path = f"/v2/models/{model}/infer"
            v2_json_rps = []
            for label, binary in [("KServe V2 JSON", False), ("KServe V2 binary tensors", True)]:
                runs = [wrk(f"{base}{path}", v2_lua(path, binary), 32, self.seconds, self.work)
                        for _ in range(self.reps)]
                errors = sum(r["non2xx"] + r["socket_errors"] for r in runs)
                if errors:
                    raise RuntimeError(f"{system}: {label}: {errors} errors")
                self.record(f"{prefix} 1 row, 32 connections, {label}, throughput", system,
                            [r["ok_rps"] for r in runs], "req/s", "higher", {"errors": errors})
                self.record(f"{prefix} 1 row, 32 connections, {label}, p99", system,
                            [r["p99_us"] / 1000 for r in runs], "ms", "lower")
                if not binary:
                    v2_json_rps = [r["ok_rps"] for r in runs]
            if self.args.grpc_load:
                self.grpc(system, prefix, model, v2_json_rps)
        if system != "floor":
            self.record(f"{prefix} resident memory after load", system, [p.rss_mb()], "MB", "lower")
        self.stop(p)

    def grpc(self, system: str, prefix: str, model: str, http_rps: list[float]) -> None:
        """The same 1-row load as KServe gRPC ModelInfer (raw FP32 in and out): 32 clients on a
        connection each from h2load (as wrk's 32 connections), and 32 concurrent streams on one
        connection from examples/grpc_load (a tonic client, as one gRPC channel shared by many
        callers)."""
        if shutil.which("h2load"):
            self.grpc_h2load(system, prefix, model, http_rps)
        runs = []
        for _ in range(self.reps):
            out = subprocess.run(
                [self.args.grpc_load, f"127.0.0.1:{self.grpc_port}", model, "32",
                 str(max(1, round(self.seconds))), "1"],
                capture_output=True, text=True, timeout=self.seconds + 60)
            if out.returncode != 0:
                raise RuntimeError(f"grpc_load: {out.stderr.strip()[-500:]}")
            runs.append(json.loads(out.stdout))
        label = f"{prefix} 1 row, 32 streams, KServe V2 gRPC (raw), throughput"
        self.record(label, system, [r["ok_rps"] for r in runs], "req/s", "higher",
                    {"errors": sum(r["errors"] for r in runs)})
        self.record(f"{prefix} 1 row, 32 streams, KServe V2 gRPC (raw), p99", system,
                    [r["p99_us"] / 1000 for r in runs], "ms", "lower")
        log(f"{prefix} 1 row, 32 concurrent [{system}]: KServe V2 HTTP JSON "
            f"{statistics.median(http_rps):.0f} req/s, gRPC raw {statistics.median(r['ok_rps'] for r in runs):.0f} req/s")

    def grpc_h2load(self, system: str, prefix: str, model: str, http_rps: list[float]) -> None:
        """32 gRPC clients, one HTTP/2 connection each, from h2load (nghttp2's load generator,
        in C as wrk is, two threads as wrk runs). h2load sends one fixed body (the ModelInfer
        message grpc_load writes) and counts HTTP statuses, not gRPC's, which come in trailers:
        the answers are counted from the server's own weir_serving_requests_total by status
        instead, and every request h2load saw succeed must be one the server answered OK."""
        body = self.work / f"grpc-{model}.bin"
        subprocess.run([self.args.grpc_load, "body", model, "1", str(body)], check=True)
        url = f"http://127.0.0.1:{self.grpc_port}/inference.GRPCInferenceService/ModelInfer"
        rps, p99s = [], []
        for _ in range(self.reps):
            before = self.grpc_counts()
            log_file = self.work / f"h2load-{uuid.uuid4().hex[:8]}.log"
            out = subprocess.run(
                ["h2load", "-t2", "-c32", "-m1", "-D", str(max(1, round(self.seconds))),
                 "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(body),
                 f"--log-file={log_file}", url],
                capture_output=True, text=True, timeout=self.seconds + 60)
            after = self.grpc_counts()
            m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                          r"(\d+) errored", out.stdout)
            if out.returncode != 0 or not m:
                raise RuntimeError(f"h2load: {out.stdout[-800:]}\n{out.stderr[-500:]}")
            succeeded, failed, errored = map(int, m.groups())
            ok = after.get("OK", 0) - before.get("OK", 0)
            bad = {k: v - before.get(k, 0) for k, v in after.items() if k != "OK" and v != before.get(k, 0)}
            if failed or errored or bad or ok < succeeded:
                raise RuntimeError(f"{system}: gRPC under h2load: {failed} failed, {errored} errored, "
                                   f"server answered {ok} OK of {succeeded} and {bad}")
            # -D counts only the measurement window; every line of the log is one answered request.
            durations = sorted(int(l.split()[2]) for l in log_file.read_text().splitlines() if l.strip())
            secs = float(re.search(r"finished in ([\d.]+)s", out.stdout).group(1))
            rps.append(succeeded / secs)
            p99s.append(durations[min(len(durations) - 1, int(len(durations) * 0.99))] / 1000 if durations else 0)
        label = f"{prefix} 1 row, 32 connections, KServe V2 gRPC (raw, h2load)"
        self.record(f"{label}, throughput", system, rps, "req/s", "higher", {"errors": 0})
        self.record(f"{label}, p99", system, p99s, "ms", "lower")
        log(f"{prefix} 1 row, 32 connections [{system}]: KServe V2 HTTP JSON "
            f"{statistics.median(http_rps):.0f} req/s, gRPC raw (h2load) {statistics.median(rps):.0f} req/s")

    def grpc_counts(self) -> dict[str, int]:
        """weir_serving_requests_total of the gRPC ModelInfer route, summed by status."""
        status, text = http_call("GET", f"http://127.0.0.1:{self.http_port}/metrics", b"")
        if status != 200:
            raise RuntimeError(f"/metrics -> {status}")
        counts: dict[str, int] = {}
        for line in text.decode().splitlines():
            if line.startswith("weir_serving_requests_total{") and 'route="grpc:ModelInfer"' in line:
                code = re.search(r'status="([^"]*)"', line).group(1)
                counts[code] = counts.get(code, 0) + int(float(line.rsplit(" ", 1)[1]))
        return counts

    def inference_floor(self) -> None:
        for backend in ["ort", "tract"]:
            for rows in [1, 100]:
                vals = []
                for _ in range(self.reps):
                    out = subprocess.run(
                        [self.args.floor, "infer", str(REPO / "models" / "iris-rf"), backend, "2",
                         str(max(1, round(self.seconds / 2))), str(rows)],
                        capture_output=True, text=True, timeout=120)
                    if out.returncode != 0:
                        log(f"floor infer {backend}: {out.stderr.strip()[-300:]}")
                        break
                    vals.append(json.loads(out.stdout)["calls_per_s"])
                if vals:
                    self.record(f"floor: model in a bare loop, {rows} row(s), 2 threads", f"weir-{backend}", vals,
                                "calls/s", "higher")

    # -- report ----------------------------------------------------------------------------

    def report(self, started: float, load_before: tuple) -> None:
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "machine": platform.machine(), "kernel": platform.release(),
            "cpu": cpu_model(), "quick": self.quick, "repetitions": self.reps,
            "seconds_per_load_run": self.seconds, "load_average_before": load_before,
            "load_average_after": os.getloadavg(), "wall_seconds": round(time.time() - started),
            "load_generator": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
            "mlflow": self.args.mlflow_version,
        }
        (out / "BENCHMARKS.json").write_text(json.dumps({"meta": meta, "figures": self.results}, indent=2) + "\n")
        md = out / "BENCHMARKS.md"
        # The million-run search table (benches/scale.sh --benchmarks) has its own run: keep it.
        kept = ""
        if md.exists():
            old = md.read_text()
            begin, end = old.find(SCALE_BEGIN), old.find(SCALE_END)
            if 0 <= begin < end:
                kept = "\n" + old[begin:end + len(SCALE_END)] + "\n"
        md.write_text(render(meta, self.results) + kept)
        log(f"wrote {out / 'BENCHMARKS.md'} and BENCHMARKS.json")


SCALE_BEGIN = "<!-- benches/scale.sh: begin -->"
SCALE_END = "<!-- benches/scale.sh: end -->"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"


def spread(values: list[float]) -> str:
    m = statistics.median(values)
    return f"±{(max(values) - min(values)) / 2 / m * 100:.0f}%" if m and len(values) > 1 else ""


def render(meta: dict, results: dict) -> str:
    lines = [
        "# Benchmarks: Weir and MLflow side by side",
        "",
        f"Measured {meta['date']} on {meta['cores']} cores ({meta['cpu']}), loopback, "
        f"load generator {meta['load_generator']}, reference MLflow {meta['mlflow']}. "
        f"Each figure is the median of {meta['repetitions']} repetition(s) "
        f"({meta['seconds_per_load_run']} s per load run); ± is half the spread between the fastest "
        f"and slowest repetition. Load average before/after: "
        f"{' '.join(f'{x:.1f}' for x in meta['load_average_before'])} / "
        f"{' '.join(f'{x:.1f}' for x in meta['load_average_after'])}; "
        f"the load generator shares the {meta['cores']} cores with the server under test."
        + (" **Quick mode: smoke numbers only.**" if meta["quick"] else ""),
        "",
        "Produced by `benches/compare.sh` (raw numbers: `BENCHMARKS.json`). "
        "Ratio: Weir ÷ MLflow, so above 1 is better for throughput and below 1 is better for "
        "latency, time and memory; *×* says how many times better Weir is.",
        "",
        "Floors: *bare hyper* is a hyper server on the same runtime answering every request with a "
        "constant (no body parsing, no model): the most any HTTP server gets from this machine and "
        "load generator, a yardstick for 1-row requests. The bare loop runs the model with no "
        "HTTP at all. Weir's serving path adds JSON decoding, the hand-off to an inference thread "
        "and back (inference never runs on the async executor), the model itself and the encoding. "
        "*weir-ort-unbatched* is weir-ort with adaptive batching off (`--max-batch-size 1`); "
        "the KServe V2 rows send the same row as V2 JSON and as Triton's binary tensors, and the "
        "gRPC row as ModelInfer with raw FP32 over 32 streams of one HTTP/2 connection "
        "(`examples/grpc_load`, wrk having no HTTP/2). "
        "Search populations are written by the same bulk SQL path into each server's own schema; "
        "the 10k and 100k experiments share one database.",
        "",
    ]
    sections = [("Tracking (`mlflow server` vs `weir server`, SQLite)", "tracking:", ["mlflow", "weir"]),
                ("Serving (`mlflow models serve` vs `weir models serve`, iris random forest, ONNX)", "serving:",
                 ["mlflow", "weir-ort", "weir-ort-unbatched", "weir-tract", "floor"]),
                ("scikit-learn, served as logged (`mlflow.sklearn.log_model`, skops; random forest, 100 trees)",
                 "sklearn:", ["mlflow", "weir"]),
                ("XGBoost, served as logged (`mlflow.xgboost.log_model`, UBJSON; classifier, 100 trees)",
                 "xgboost:", ["mlflow", "weir"])]
    for title, prefix, systems in sections:
        lines += [f"## {title}", ""]
        head = ["Figure"] + [{"floor": "bare hyper (floor)"}.get(s, s) for s in systems] + \
               [f"{s} ÷ mlflow" for s in systems if s.startswith("weir")]
        if prefix == "serving:":
            head.append("weir-ort ÷ floor")
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for figure, entry in results.items():
            if not figure.startswith(prefix):
                continue
            sysd = entry["systems"]
            row = [f"{figure[len(prefix):].strip()} ({entry['unit']})"]
            for s in systems:
                row.append(f"{fmt(sysd[s]['median'])} {spread(sysd[s]['runs'])}".strip() if s in sysd else "–")
            for s in systems:
                if s.startswith("weir"):
                    row.append(ratio(sysd, s, "mlflow", entry["better"]))
            if prefix == "serving:":
                # the floor answers a constant: a yardstick for 1-row requests only
                one_row = figure.startswith("serving: 1 row")
                row.append(ratio(sysd, "weir-ort", "floor", entry["better"]) if one_row else "–")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    floor = [(f, e) for f, e in results.items() if f.startswith("floor:")]
    if floor:
        lines += ["## Floor: the model in a bare loop (no HTTP)", "", "| Figure | weir-ort | weir-tract |", "|---|---|---|"]
        for figure, e in floor:
            cells = [f"{fmt(e['systems'][s]['median'])}" if s in e["systems"] else "–" for s in ["weir-ort", "weir-tract"]]
            lines.append(f"| {figure[len('floor:'):].strip()} ({e['unit']}) | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def ratio(sysd: dict, a: str, b: str, better: str) -> str:
    if a not in sysd or b not in sysd or not sysd[b]["median"] or not sysd[a]["median"]:
        return "–"
    r = sysd[a]["median"] / sysd[b]["median"]
    times = r if better == "higher" else 1 / r
    return f"{r:.3g} ({times:.3g}×)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weir", required=True, help="the weir binary")
    ap.add_argument("--floor", required=True, help="the floor example binary")
    ap.add_argument("--grpc-load", help="the grpc_load example binary (gRPC rows for Weir)")
    ap.add_argument("--mlflow", required=True, help="the mlflow CLI of the reference venv")
    ap.add_argument("--python", default=sys.executable, help="python with mlflow installed")
    ap.add_argument("--mlflow-version", default="?")
    ap.add_argument("--out", default=str(REPO))
    ap.add_argument("--quick", action="store_true", help="seconds, not minutes: smoke numbers for CI")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=0, help="duration of each load run")
    ap.add_argument("--only", choices=["tracking", "serving"], help="one half only")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    args = ap.parse_args()
    # Servers stop at once between runs (the drain delay is for load balancers).
    os.environ.setdefault("WEIR_SHUTDOWN_DELAY", "0")
    bench = Bench(args)
    started, load_before = time.time(), os.getloadavg()
    log(f"work dir {bench.work}; {bench.reps} repetition(s) of {bench.seconds}s load runs")
    try:
        if args.only in (None, "tracking"):
            for system in ["mlflow", "weir"]:
                bench.tracking(system)
        if args.only in (None, "serving"):
            registry = bench.register_iris()
            for system in ["mlflow", "weir-ort", "weir-ort-unbatched", "weir-tract", "floor"]:
                bench.serving(system, registry)
            bench.inference_floor()
            for model, prefix in [("iris-sklearn", "sklearn:"), ("iris-xgboost", "xgboost:")]:
                for system in ["mlflow", "weir"]:
                    bench.serving(system, registry, model, prefix)
        bench.report(started, load_before)
    finally:
        bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
