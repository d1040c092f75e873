"""`weir db import`: a tracking database written by the real mlflow package (its SQLAlchemy store,
the schema `mlflow server` keeps), copied into Weir. Every answer the mlflow client gets from the
imported Weir server must equal what it gets from MLflow's database directly: experiments, runs
(params, tags, metric histories with NaN and infinities, dataset inputs, a deleted run), the
registry (tags, stages, aliases, a deleted version) and MLflow 3's logged models.

The target is WEIR_TEST_BACKEND's (a SQLite file or a fresh PostgreSQL database); with
postgresql, an MLflow database kept in PostgreSQL is imported too. An MLflow database kept in
MySQL/MariaDB (WEIR_TEST_MYSQL_URL, default mysql+pymysql://root@127.0.0.1:3306: a fresh database
there per test) is imported into either target; without a reachable server that test is skipped,
or fails when CI is set (scripts/ensure-mysql.sh starts the local one).
"""

from __future__ import annotations

import math
import os
import secrets
import subprocess
import uuid
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from _helpers import Process
from conftest import BACKEND, TARGET, _Postgres, _weir_bin

import mlflow  # noqa: E402
from mlflow.entities import ViewType  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from google.protobuf.json_format import MessageToDict  # noqa: E402

pytestmark = pytest.mark.skipif(TARGET != "weir", reason="weir db import is Weir's")

MLFLOW3 = int(mlflow.__version__.split(".")[0]) >= 3
MODEL = "imported-model"


def weir_binary() -> str:
    binary = _weir_bin()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no weir binary at {binary}")
    return binary


def make_mlflow_db(uri: str, artifacts) -> dict:
    """Write experiments, runs and a registry through MLflow's own SQL store at `uri`."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    ids = {}
    ids["a"] = client.create_experiment(
        "imported-a", artifact_location=(artifacts / "a").as_uri(), tags={"team": "vision", "k": "v"}
    )
    ids["b"] = client.create_experiment("imported-b", artifact_location=(artifacts / "b").as_uri())
    gone = client.create_experiment("imported-gone", artifact_location=(artifacts / "g").as_uri())
    client.delete_experiment(gone)

    run = client.create_run(ids["a"], run_name="first", tags={"mlflow.user": "olga", "stage": "dev"})
    rid = run.info.run_id
    for step, loss in enumerate([0.9, 0.5, float("nan"), 0.25, 0.125]):
        client.log_metric(rid, "loss", loss, timestamp=1_700_000_000_000 + step, step=step)
    client.log_metric(rid, "loss", 0.3, timestamp=1_700_000_000_000 + 3, step=3)  # same step twice
    client.log_metric(rid, "up", float("inf"), timestamp=1_700_000_000_100, step=0)
    client.log_metric(rid, "down", float("-inf"), timestamp=1_700_000_000_100, step=0)
    client.log_metric(rid, "nan_last", float("nan"), timestamp=1_700_000_000_200, step=7)
    client.log_param(rid, "depth", "3")
    client.log_param(rid, "model", "forest")
    client.set_tag(rid, "note", "a note\nwith two lines and 'quotes' \"and\" unicode ✓ 🚀")

    from mlflow.entities import Dataset, DatasetInput, InputTag

    ds = Dataset(name="iris", digest="abc123", source_type="local", source='{"uri": "/data/iris.csv"}',
                 schema='{"mlflow_colspec": []}', profile='{"num_rows": 150}')
    client.log_inputs(rid, datasets=[DatasetInput(ds, tags=[InputTag("mlflow.data.context", "training"),
                                                              InputTag("extra", 'x "y" \\ ✓')])])
    client.set_terminated(rid, "FINISHED", end_time=1_700_000_999_000)

    second = client.create_run(ids["a"], run_name="second", start_time=1_600_000_000_000)
    client.log_batch(second.info.run_id, params=[mlflow.entities.Param("depth", "7")],
                     metrics=[mlflow.entities.Metric("loss", 0.42, 1_600_000_000_001, 0)])
    client.set_terminated(second.info.run_id, "FAILED")
    deleted = client.create_run(ids["b"], run_name="deleted")
    client.log_metric(deleted.info.run_id, "m", 1.0)
    client.delete_run(deleted.info.run_id)
    ids["runs"] = [rid, second.info.run_id, deleted.info.run_id]

    client.create_registered_model(MODEL, tags={"owner": "olga"}, description="imported from MLflow")
    source = f"{run.info.artifact_uri}/model"
    for i in range(3):
        client.create_model_version(MODEL, source, run_id=rid, tags={"i": str(i)},
                                    description=f"version {i + 1}")
    client.set_model_version_tag(MODEL, "1", "validated", "yes")
    client.transition_model_version_stage(MODEL, "1", "Production")
    client.transition_model_version_stage(MODEL, "2", "Staging")
    client.set_registered_model_alias(MODEL, "champion", "2")
    client.set_registered_model_alias(MODEL, "old", "1")
    client.delete_model_version(MODEL, "3")
    client.create_registered_model("imported-empty")

    if MLFLOW3:
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus

        lm = client.create_logged_model(ids["a"], name="lm", source_run_id=rid,
                                        params={"alpha": "0.5"}, tags={"flavor": "sklearn"},
                                        model_type="classifier")
        client.log_metric(rid, "acc", 0.93, timestamp=1_700_000_000_300, step=1,
                          model_id=lm.model_id, dataset_name="iris", dataset_digest="abc123")
        client.finalize_logged_model(lm.model_id, LoggedModelStatus.READY)
        client.log_outputs(second.info.run_id, [LoggedModelOutput(lm.model_id, step=2)])
        client.create_logged_model(ids["b"], name="pending")
        ids["logged_model"] = lm.model_id
    return ids


def norm(value):
    """Compare answers, not serialisation order: lists of key/value pairs sorted by key."""
    if isinstance(value, dict):
        # Over REST a registered model carries the proto's default deployment job state; read
        # from the store in-process it has none. Not something the import decides.
        return {k: norm(v) for k, v in value.items()
                if not (k == "deployment_job_state" and "UNSPECIFIED" in str(v))}
    if isinstance(value, list):
        items = [norm(v) for v in value]
        if items and all(isinstance(v, dict) and "key" in v for v in items):
            items.sort(key=lambda v: (v["key"], repr(v)))
        return items
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def first_difference(got, expected, path="") -> str:
    if isinstance(got, dict) and isinstance(expected, dict):
        for k in sorted(set(got) | set(expected)):
            if got.get(k) != expected.get(k):
                return first_difference(got.get(k), expected.get(k), f"{path}.{k}")
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        for i, (g, e) in enumerate(zip(got, expected)):
            if g != e:
                return first_difference(g, e, f"{path}[{i}]")
    return f"{path}: weir {got!r} != mlflow {expected!r}"


def d(entity) -> dict:
    """An entity as the client holds it after a trip over the wire (from_proto(to_proto)), so
    an answer read in-process from MLflow's store compares with one read over REST (a None the
    store returns arrives as the proto's default)."""
    wire = type(entity).from_proto(entity.to_proto())
    return norm(MessageToDict(wire.to_proto(), preserving_proto_field_name=True))


def answers(uri: str, ids: dict) -> dict:
    """Everything the mlflow client can read about what make_mlflow_db wrote."""
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    out: dict = {}
    exps = client.search_experiments(view_type=ViewType.ALL, order_by=["name"])
    out["experiments"] = [d(e) for e in exps]
    exp_ids = [e.experiment_id for e in exps]
    for e in exp_ids:
        out[f"experiment {e}"] = d(client.get_experiment(e))
    runs = client.search_runs(exp_ids, run_view_type=ViewType.ALL)
    out["runs"] = [d(r) for r in runs]
    out["runs by metric"] = [r.info.run_id for r in client.search_runs(
        exp_ids, "metrics.loss > 0.1", order_by=["metrics.loss DESC"])]
    out["runs by param"] = [r.info.run_id for r in client.search_runs(exp_ids, "params.depth = '3'")]
    for r in runs:
        out[f"run {r.info.run_id}"] = d(client.get_run(r.info.run_id))
        for key in r.data.metrics:
            # mlflow 2.x reads a history with no ORDER BY (PostgreSQL answers in insertion
            # order); compare the points, in MLflow 3's order.
            history = [d(m) for m in client.get_metric_history(r.info.run_id, key)]
            out[f"history {r.info.run_id} {key}"] = sorted(
                history, key=lambda m: (int(m["step"]), int(m["timestamp"]), repr(m["value"])))
    models = client.search_registered_models(order_by=["name"])
    out["registered models"] = [d(m) for m in models]
    for m in models:
        out[f"model {m.name}"] = d(client.get_registered_model(m.name))
        for v in client.search_model_versions(f"name = '{m.name}'"):
            out[f"version {m.name} {v.version}"] = d(client.get_model_version(m.name, v.version))
    out["champion"] = d(client.get_model_version_by_alias(MODEL, "champion"))
    out["old"] = d(client.get_model_version_by_alias(MODEL, "old"))
    if MLFLOW3 and "logged_model" in ids:
        lms = client.search_logged_models(experiment_ids=exp_ids, order_by=[{"field_name": "name"}])
        out["logged models"] = [d(m) for m in lms]
        out["logged model"] = d(client.get_logged_model(ids["logged_model"]))
    return out


def weir_import(source_uri: str, target_uri: str, *extra, check=True):
    out = subprocess.run(
        [weir_binary(), "db", "import", "--from", source_uri, "--backend-store-uri", target_uri,
         "--batch-size", "3", *extra],
        capture_output=True, text=True, timeout=300,
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def weir_server(target_uri: str, tmp_path) -> Process:
    p = Process([weir_binary(), "server", "--backend-store-uri", target_uri,
                 "--artifacts-destination", str(tmp_path / "weir-artifacts")],
                cwd=tmp_path, log=tmp_path / f"server-{uuid.uuid4().hex[:6]}.log")
    p.wait("/health")
    return p


@pytest.fixture()
def target_uri(tmp_path):
    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path / 'weir.db'}"
        return
    pg = _Postgres()
    pg.create()
    try:
        yield pg.uri
    finally:
        pg.drop()


def check_import(source_uri: str, target_uri: str, tmp_path):
    ids = make_mlflow_db(source_uri, tmp_path / "artifacts")
    expected = answers(source_uri, ids)
    report = weir_import(source_uri, target_uri)
    assert "rows in" in report.stdout, report.stdout
    p = weir_server(target_uri, tmp_path)
    try:
        got = answers(p.url, ids)
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key] == expected[key], (key, first_difference(got[key], expected[key]))

        # New rows continue after the imported ones: a fresh experiment id (PostgreSQL's
        # sequence was moved), the next version number after the deleted version 3.
        weir = MlflowClient(tracking_uri=p.url, registry_uri=p.url)
        newest = max(int(e["experiment_id"]) for e in expected["experiments"])
        assert weir.create_experiment("after-import") == str(newest + 1)
        run = weir.get_run(ids["runs"][0])
        new = weir.create_model_version(MODEL, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
        assert new.version == "4"
    finally:
        p.stop()

    # The store now holds data: a second import is refused, unless --force (which keeps
    # what is there and adds nothing new).
    again = weir_import(source_uri, target_uri, check=False)
    assert again.returncode != 0
    assert "already holds" in again.stderr and "--force" in again.stderr, again.stderr
    weir_import(source_uri, target_uri, "--force")


def test_import_matches_mlflow_answers(tmp_path, target_uri):
    check_import(f"sqlite:///{tmp_path / 'mlflow.db'}", target_uri, tmp_path)


@pytest.fixture()
def mysql_uri():
    """A fresh database on the MySQL/MariaDB server, as MLflow's --backend-store-uri names it."""
    import pymysql

    server = os.environ.get("WEIR_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
    parts = urlsplit(server)
    try:
        admin = pymysql.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
                                user=unquote(parts.username or "root"),
                                password=unquote(parts.password or ""), autocommit=True,
                                connect_timeout=5)
    except pymysql.err.OperationalError as e:
        message = (f"MySQL/MariaDB is not reachable at {parts.hostname}:{parts.port or 3306} "
                   f"({e}); scripts/ensure-mysql.sh starts the local server")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"weir_test_{secrets.token_hex(6)}"
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_import_from_mysql(tmp_path, target_uri, mysql_uri):
    # Before MLflow made its tables, the database is not an MLflow one.
    out = weir_import(mysql_uri, f"sqlite:///{tmp_path / 'refused.db'}", check=False)
    assert out.returncode != 0 and "not an MLflow tracking database" in out.stderr, out.stderr
    check_import(mysql_uri, target_uri, tmp_path)


@pytest.mark.skipif(BACKEND != "postgresql", reason="an MLflow database in PostgreSQL")
def test_import_from_postgresql(tmp_path):
    source = _Postgres()
    source.create()
    try:
        # SQLAlchemy needs the driver named (psycopg2 is what the venvs have).
        uri = source.uri.replace("postgresql://", "postgresql+psycopg2://", 1)
        check_import(uri, f"sqlite:///{tmp_path / 'weir.db'}", tmp_path)
    finally:
        source.drop()


def test_import_refuses_what_is_not_an_mlflow_database(tmp_path):
    empty = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(empty).close()
    weir_db = tmp_path / "weir.db"
    # A Weir store is not an MLflow database either.
    subprocess.run([weir_binary(), "db", "upgrade", f"sqlite:///{weir_db}"], check=True,
                   capture_output=True, timeout=60)
    for source in [f"sqlite:///{empty}", f"sqlite:///{weir_db}"]:
        out = weir_import(source, f"sqlite:///{tmp_path / 'target.db'}", check=False)
        assert out.returncode != 0
        assert "not an MLflow tracking database" in out.stderr, out.stderr
    out = weir_import(f"sqlite:///{tmp_path / 'missing.db'}", f"sqlite:///{tmp_path / 't.db'}",
                      check=False)
    assert out.returncode != 0 and "no such file" in out.stderr, out.stderr
    # MLFLOW_BACKEND_STORE_URI left pointing at MLflow's database must not turn it into Weir's.
    out = weir_import(f"sqlite:///{empty}", f"sqlite:///{empty}", check=False)
    assert out.returncode != 0 and "same database" in out.stderr, out.stderr
    # Weir connects to MySQL without TLS: asking for it is refused, not ignored.
    out = weir_import("mysql+pymysql://root@127.0.0.1/mlflow?ssl_ca=/etc/ca.pem",
                      f"sqlite:///{tmp_path / 't.db'}", check=False)
    assert out.returncode != 0 and "TLS" in out.stderr, out.stderr
