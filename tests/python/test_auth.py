"""The basic-auth app (`weir server --app-name basic-auth`) with the unmodified mlflow client.

A server of its own, started with MLflow's settings (`MLFLOW_AUTH_ADMIN_PASSWORD`): the admin
manages users and grants with `mlflow.server.get_app_client("basic-auth", ...)` (3.17's grant
API or 2.x's per-resource API, whichever the installed client has); a user logs a run, an
artifact and a registered model with `MLFLOW_TRACKING_USERNAME`/`PASSWORD`; another user is
denied what they were not granted; an anonymous client is refused.
"""

from __future__ import annotations

import os
import uuid

import pytest

from _helpers import Process
from conftest import _weir_bin, mlflow_major

import mlflow  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

ADMIN_PW = "e2e admin password"
PW = "e2e user password!"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    binary = _weir_bin()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no weir binary at {binary}")
    tmp = tmp_path_factory.mktemp("auth")
    os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = ADMIN_PW
    try:
        p = Process(
            [
                binary, "server",
                "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
                "--artifacts-destination", str(tmp / "artifacts"),
                "--app-name", "basic-auth",
            ],
            cwd=tmp,
            log=tmp / "server.log",
        )
    finally:
        os.environ.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
    try:
        p.wait("/health")
        yield p.url
    finally:
        p.stop()


def as_user(monkeypatch, username: str, password: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def grant_experiment(admin, experiment_id: str, username: str, permission: str) -> None:
    if hasattr(admin, "grant_user_permission"):
        admin.grant_user_permission(username, "experiment", experiment_id, permission)
    else:
        admin.create_experiment_permission(experiment_id, username, permission)


def test_users_runs_models_and_denials_with_the_real_client(auth_server, monkeypatch, tmp_path):
    from mlflow.server import get_app_client

    url = auth_server
    mlflow.set_tracking_uri(url)
    tag = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{tag}", f"bob-{tag}"

    # Anonymous: refused.
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(url).search_experiments()

    # The admin creates two users with the auth client.
    as_user(monkeypatch, "admin", ADMIN_PW)
    admin = get_app_client("basic-auth", tracking_uri=url)
    created = admin.create_user(alice, PW)
    assert created.username == alice and not created.is_admin
    admin.create_user(bob, PW)
    assert admin.get_user(bob).username == bob
    with pytest.raises(MlflowException):
        admin.create_user(alice, PW)  # RESOURCE_ALREADY_EXISTS

    # alice logs a run (params, metrics, an artifact through the proxy) and registers a model.
    as_user(monkeypatch, alice, PW)
    exp_id = mlflow.create_experiment(f"auth-e2e-{tag}")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_param("depth", 3)
        mlflow.log_metric("accuracy", 0.93)
        (tmp_path / "notes.txt").write_text("hello")
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
    client = MlflowClient(url)
    got = client.get_run(run.info.run_id)
    assert got.data.metrics["accuracy"] == 0.93
    assert got.info.user_id == alice
    assert got.data.tags["mlflow.user"] == alice
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["notes.txt"]
    client.create_registered_model(f"auth-model-{tag}")
    client.set_registered_model_tag(f"auth-model-{tag}", "owner", alice)

    # bob reads by default (READ) but may not write; with NO_PERMISSIONS he may not read.
    as_user(monkeypatch, bob, PW)
    bob_client = MlflowClient(url)
    assert bob_client.get_experiment(exp_id).name == f"auth-e2e-{tag}"
    with pytest.raises(MlflowException, match="403|Permission denied"):
        bob_client.set_experiment_tag(exp_id, "k", "v")
    with pytest.raises(MlflowException, match="403|Permission denied"):
        bob_client.delete_registered_model(f"auth-model-{tag}")

    as_user(monkeypatch, alice, PW)
    owner = get_app_client("basic-auth", tracking_uri=url)
    grant_experiment(owner, exp_id, bob, "EDIT")
    as_user(monkeypatch, bob, PW)
    bob_client.set_experiment_tag(exp_id, "k", "v")
    assert bob_client.get_experiment(exp_id).tags["k"] == "v"

    # A user changes their own password (3.x clients send current_password).
    if mlflow_major() >= 3:
        me = get_app_client("basic-auth", tracking_uri=url)
        me.update_user_password(bob, PW + "2", current_password=PW)
        with pytest.raises(MlflowException, match="401"):
            MlflowClient(url).get_experiment(exp_id)
        as_user(monkeypatch, bob, PW + "2")
        assert MlflowClient(url).get_experiment(exp_id).experiment_id == exp_id

    # The admin deletes bob; his credentials stop working.
    as_user(monkeypatch, "admin", ADMIN_PW)
    admin.delete_user(bob)
    as_user(monkeypatch, bob, PW + "2")
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(url).get_experiment(exp_id)


def test_a_run_logged_with_a_personal_access_token(auth_server, monkeypatch):
    """MLFLOW_TRACKING_TOKEN: the client sends `Authorization: Bearer <token>`; a Weir personal
    access token signs in as its user, until it is revoked."""
    import requests
    from mlflow.server import get_app_client

    url = auth_server
    mlflow.set_tracking_uri(url)
    tag = uuid.uuid4().hex[:8]
    carl = f"carl-{tag}"
    as_user(monkeypatch, "admin", ADMIN_PW)
    get_app_client("basic-auth", tracking_uri=url).create_user(carl, PW)

    # carl makes a token for himself with his password (Weir's own route).
    r = requests.post(
        f"{url}/api/2.0/weir/users/tokens/create",
        json={"name": "laptop", "expires_in_days": 7},
        auth=(carl, PW),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    token, info = r.json()["token"], r.json()["token_info"]
    assert token.startswith("weir_pat_") and info["username"] == carl

    # Only the token from here on.
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    exp_id = mlflow.create_experiment(f"token-e2e-{tag}")
    with mlflow.start_run(experiment_id=exp_id) as run:
        mlflow.log_param("via", "token")
        mlflow.log_metric("loss", 0.25)
    got = MlflowClient(url).get_run(run.info.run_id)
    assert got.data.metrics["loss"] == 0.25
    # The server knows the caller as carl: he got MANAGE on the experiment he created. (The
    # run's user is what the client sent: with a token it names the OS user.)
    me = requests.get(
        f"{url}/api/2.0/mlflow/users/current",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["user"]
    assert me["username"] == carl
    assert {"experiment_id": exp_id, "user_id": me["id"], "permission": "MANAGE"} in me[
        "experiment_permissions"
    ]

    # Revoked: the same client is refused at once.
    r = requests.post(
        f"{url}/api/2.0/weir/users/tokens/revoke",
        json={"token_id": info["id"]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(url).get_experiment(exp_id)
