"""`weir auth import`: an MLflow basic-auth database, made by the real mlflow package's own auth
store (werkzeug hashes, 3.17's role-based grants), copied into Weir. Users sign in to Weir with
their MLflow passwords (and their hashes become argon2id), their permissions hold, and a second
import leaves existing users alone unless --overwrite says otherwise.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess

import pytest

from _helpers import Process
from conftest import _weir_bin

import mlflow  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

ADMIN_PW = "mlflow admin password 1"
OLGA_PW = "olga's mlflow password"
PAUL_PW = "paul's mlflow password"


def make_mlflow_auth_db(path) -> None:
    """Users and grants written by MLflow's own auth store, as `mlflow server --app-name
    basic-auth` keeps them."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(f"sqlite:///{path}")
    store.create_user("admin", ADMIN_PW, is_admin=True)
    store.create_user("olga", OLGA_PW)
    store.create_user("paul", PAUL_PW)
    # Weir's first experiment after Default is "1".
    store.create_experiment_permission("1", "olga", "EDIT")
    store.create_registered_model_permission("imported-model", "olga", "MANAGE")
    store.engine.dispose()


def weir_import(db, weir_db, *extra) -> str:
    out = subprocess.run(
        [_weir_bin(), "auth", "import", "--from", str(db), "--backend-store-uri",
         f"sqlite:///{weir_db}", *extra],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture()
def imported(tmp_path):
    binary = _weir_bin()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no weir binary at {binary}")
    mlflow_db = tmp_path / "basic_auth.db"
    make_mlflow_auth_db(mlflow_db)
    weir_db = tmp_path / "weir.db"
    report = weir_import(mlflow_db, weir_db)
    ini = tmp_path / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = NO_PERMISSIONS\n")
    env = dict(os.environ, MLFLOW_AUTH_CONFIG_PATH=str(ini))
    env.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        p = Process(
            [binary, "server", "--backend-store-uri", f"sqlite:///{weir_db}",
             "--artifacts-destination", str(tmp_path / "artifacts"), "--app-name", "basic-auth"],
            cwd=tmp_path,
            log=tmp_path / "server.log",
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        p.wait("/health")
        yield p.url, report, mlflow_db, weir_db
    finally:
        p.stop()


def as_user(monkeypatch, username, password):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def stored_hash(weir_db, username) -> str:
    with sqlite3.connect(weir_db) as c:
        return c.execute(
            "SELECT password_hash FROM auth_users WHERE username = ?", (username,)
        ).fetchone()[0]


def test_mlflow_users_keep_their_passwords_and_permissions(imported, monkeypatch):
    url, report, mlflow_db, weir_db = imported
    assert "users: 3 created, 0 replaced, 0 skipped" in report, report
    assert "permissions: 2 copied" in report, report
    assert stored_hash(weir_db, "olga").startswith("scrypt:")

    # MLflow's admin is Weir's admin, with MLflow's password.
    mlflow.set_tracking_uri(url)
    as_user(monkeypatch, "admin", ADMIN_PW)
    admin = MlflowClient(url)
    shared = admin.create_experiment("shared")
    assert shared == "1"
    private = admin.create_experiment("private")
    admin.create_registered_model("imported-model")

    # olga signs in with her MLflow password; her EDIT on experiment 1 holds, and the default
    # (NO_PERMISSIONS) keeps her out of the other.
    as_user(monkeypatch, "olga", OLGA_PW)
    with mlflow.start_run(experiment_id=shared) as run:
        mlflow.log_metric("m", 1.0)
    olga = MlflowClient(url)
    assert olga.get_run(run.info.run_id).info.user_id == "olga"
    with pytest.raises(MlflowException, match="403|Permission denied"):
        olga.get_experiment(private)
    olga.set_registered_model_tag("imported-model", "k", "v")  # MANAGE on the model
    # Her werkzeug hash was replaced by argon2id at that first sign-in.
    assert stored_hash(weir_db, "olga").startswith("$argon2id$")
    assert stored_hash(weir_db, "paul").startswith("scrypt:")

    # A wrong password is still wrong; paul has no grant on experiment 1.
    as_user(monkeypatch, "olga", PAUL_PW)
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(url).get_experiment(shared)
    as_user(monkeypatch, "paul", PAUL_PW)
    with pytest.raises(MlflowException, match="403|Permission denied"):
        MlflowClient(url).get_experiment(shared)

    # Importing again leaves existing users alone, unless --overwrite.
    again = weir_import(mlflow_db, weir_db)
    assert "users: 0 created, 0 replaced, 3 skipped" in again, again
    assert "already exists in Weir" in again
    assert stored_hash(weir_db, "olga").startswith("$argon2id$")
    over = weir_import(mlflow_db, weir_db, "--overwrite")
    assert "users: 0 created, 3 replaced, 0 skipped" in over, over
    assert stored_hash(weir_db, "olga").startswith("scrypt:")


def test_import_refuses_what_is_not_an_mlflow_auth_database(tmp_path):
    binary = _weir_bin()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no weir binary at {binary}")
    for source in [tmp_path / "missing.db", tmp_path / "empty.db"]:
        if source.name == "empty.db":
            sqlite3.connect(source).close()
        out = subprocess.run(
            [binary, "auth", "import", "--from", str(source), "--backend-store-uri",
             f"sqlite:///{tmp_path / 'weir.db'}"],
            capture_output=True, text=True, timeout=60,
        )
        assert out.returncode != 0
        assert "basic_auth" in out.stderr or "no such file" in out.stderr or "users table" in out.stderr, out.stderr
