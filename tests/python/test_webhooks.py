"""Registry webhooks with the unmodified mlflow 3 client (`MlflowClient().create_webhook` ...).

A Weir server of its own, told (with MLflow's settings, as flags) that a receiver on 127.0.0.1
over plain http is fine; a small HTTP receiver in this process records what arrives and checks
each signature the way MLflow's docs tell receivers to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from _helpers import Process, requires_mlflow3
from conftest import _weir_bin

from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

pytestmark = requires_mlflow3

SECRET = "whsec-e2e"
KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="


class Receiver:
    def __init__(self):
        self.got: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                with outer.lock:
                    outer.got.append({"headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= n:
                    return list(self.got)
            time.sleep(0.05)
        with self.lock:
            return list(self.got)


def verified(req: dict, secret: str) -> bool:
    h = {k.lower(): v for k, v in req["headers"].items()}
    signed = f"{h['x-mlflow-delivery-id']}.{h['x-mlflow-timestamp']}.{req['body']}"
    want = base64.b64encode(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest())
    sig = h.get("x-mlflow-signature", "")
    return sig.startswith("v1,") and hmac.compare_digest(sig[3:].encode(), want)


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory):
    binary = _weir_bin()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no weir binary at {binary}")
    tmp = tmp_path_factory.mktemp("webhooks")
    p = Process(
        [
            binary, "server",
            "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}",
            "--artifacts-destination", str(tmp / "artifacts"),
            "--webhook-allowed-schemes", "http,https",
            "--webhook-allow-private-ips", "true",
            "--webhook-secret-key", KEY,
        ],
        cwd=tmp,
        log=tmp / "server.log",
    )
    try:
        p.wait("/health")
        yield p.url
    finally:
        p.stop()


def test_client_manages_webhooks_and_receives_signed_events(hook_server):
    from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent, WebhookStatus

    client = MlflowClient(tracking_uri=hook_server, registry_uri=hook_server)
    rx = Receiver()
    events = [
        WebhookEvent(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED),
        WebhookEvent(WebhookEntity.MODEL_VERSION_ALIAS, WebhookAction.CREATED),
        WebhookEvent(WebhookEntity.MODEL_VERSION_TAG, WebhookAction.SET),
    ]
    hook = client.create_webhook(
        name="deploy-on-champion", url=rx.url, events=events, secret=SECRET,
        description="promote to prod",
    )
    assert hook.secret is None
    assert hook.status == WebhookStatus.ACTIVE
    assert sorted(hook.events, key=lambda e: (e.entity.value, e.action.value)) == sorted(
        events, key=lambda e: (e.entity.value, e.action.value)
    )
    assert client.get_webhook(hook.webhook_id).description == "promote to prod"
    assert hook.webhook_id in {w.webhook_id for w in client.list_webhooks()}

    # The test endpoint: an example payload, signed.
    result = client.test_webhook(hook.webhook_id)
    assert result.success, result
    assert result.response_status == 200
    first = rx.wait(1)[0]
    assert verified(first, SECRET)

    # Real registry changes, in order.
    client.create_registered_model("wh-model")
    client.create_model_version("wh-model", "s3://bucket/wh-model/1", tags={"stage": "ci"})
    client.set_model_version_tag("wh-model", "1", "validated", "true")
    client.set_registered_model_alias("wh-model", "champion", "1")
    got = rx.wait(4)[1:]
    assert len(got) == 3, got
    bodies = [json.loads(g["body"]) for g in got]
    assert [(b["entity"], b["action"]) for b in bodies] == [
        ("model_version", "created"),
        ("model_version_tag", "set"),
        ("model_version_alias", "created"),
    ]
    assert bodies[0]["data"]["source"] == "s3://bucket/wh-model/1"
    assert bodies[0]["data"]["tags"] == {"stage": "ci"}
    assert bodies[2]["data"] == {"name": "wh-model", "alias": "champion", "version": "1"}
    assert all(verified(g, SECRET) for g in got)
    assert not verified(got[0], "wrong secret")

    # Update (partial), disable, delete.
    updated = client.update_webhook(hook.webhook_id, status=WebhookStatus.DISABLED)
    assert updated.status == WebhookStatus.DISABLED
    assert updated.name == "deploy-on-champion"
    client.set_registered_model_alias("wh-model", "challenger", "1")
    time.sleep(0.8)
    assert len(rx.wait(4, timeout=0.1)) == 4
    client.delete_webhook(hook.webhook_id)
    with pytest.raises(MlflowException, match="not found"):
        client.get_webhook(hook.webhook_id)


def test_client_sees_mlflow_validation_errors(hook_server):
    from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent

    client = MlflowClient(tracking_uri=hook_server, registry_uri=hook_server)
    ev = [WebhookEvent(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED)]
    with pytest.raises(MlflowException, match="Invalid webhook URL scheme"):
        client.create_webhook(name="bad", url="ftp://example.com/x", events=ev)
    with pytest.raises(MlflowException, match="Webhook with ID nonexistent not found"):
        client.get_webhook("nonexistent")
