"""The server is up and speaks the basics the clients rely on before anything else."""

import mlflow


def test_health_and_version(api):
    r = api.get("/health")
    assert r.status_code == 200
    assert r.text.strip() == "OK"
    r = api.get("/version")
    assert r.status_code == 200
    assert r.text.strip()


def test_default_experiment_exists(client):
    exp = client.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"


def test_tracking_uri_points_at_server(server):
    assert mlflow.get_tracking_uri() == server
