"""Artifacts through the proxied `mlflow-artifacts:/` store: upload, list, download, odd names,
big files, the multipart path, and path traversal over raw HTTP."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from urllib.parse import quote

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from _helpers import MLFLOW_MAJOR, raw_request

ART = "/api/2.0/mlflow-artifacts/artifacts"


def mlflow_quirk(target: str, what: str) -> None:
    """Skip the rest of a test on the reference server, which is known to get this wrong."""
    if target == "mlflow":
        pytest.skip(f"MLflow quirk: {what}")


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _dst(tmp_path: Path, name: str) -> str:
    """A fresh download directory (2.x clients require it to exist)."""
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    return str(d)


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def run_id(uniq):
    mlflow.set_experiment(uniq("exp-art"))
    with mlflow.start_run() as run:
        yield run.info.run_id


def _run_root(client: MlflowClient, run_id: str) -> str:
    """`<exp>/<run>/artifacts`: the run's place under the artifact proxy."""
    uri = client.get_run(run_id).info.artifact_uri
    assert uri.startswith("mlflow-artifacts:/"), uri
    return uri[len("mlflow-artifacts:/"):].strip("/")


# --------------------------------------------------------------------------- through the client


def test_log_artifact_roundtrip(run_id, client, tmp_path):
    src = tmp_path / "notes.txt"
    src.write_text("hello artifacts\n")
    mlflow.log_artifact(str(src))
    mlflow.log_artifact(str(src), artifact_path="texts")
    files = {f.path: f for f in client.list_artifacts(run_id)}
    assert files["notes.txt"].is_dir is False
    assert files["notes.txt"].file_size == len("hello artifacts\n")
    assert files["texts"].is_dir is True
    assert [f.path for f in client.list_artifacts(run_id, "texts")] == ["texts/notes.txt"]
    out = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="notes.txt", dst_path=_dst(tmp_path, "dl")))
    assert out.read_text() == "hello artifacts\n"
    # listing a file (rather than a directory) is empty
    assert client.list_artifacts(run_id, "notes.txt") == []
    assert client.list_artifacts(run_id, "no-such-dir") == []


def test_log_artifacts_nested_dirs(run_id, client, tmp_path):
    src = tmp_path / "plots"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("A")
    (src / "sub" / "b.csv").write_text("x,y\n1,2\n")
    (src / "sub" / "deeper" / "c.json").write_text('{"c": 3}')
    (src / "sub" / "deeper" / "bin.dat").write_bytes(bytes(range(256)) * 4)
    mlflow.log_artifacts(str(src), artifact_path="visualizations")
    top = client.list_artifacts(run_id, "visualizations")
    assert [(f.path, f.is_dir) for f in top] == [
        ("visualizations/a.txt", False),
        ("visualizations/sub", True),
    ]
    deeper = client.list_artifacts(run_id, "visualizations/sub/deeper")
    assert [(f.path, f.file_size) for f in deeper] == [
        ("visualizations/sub/deeper/bin.dat", 1024),
        ("visualizations/sub/deeper/c.json", 8),
    ]
    dst = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="visualizations", dst_path=_dst(tmp_path, "dl")))
    assert tree(dst) == tree(src)
    # the whole run at once
    everything = Path(client.download_artifacts(run_id, "", _dst(tmp_path, "all")))
    assert tree(everything / "visualizations") == tree(src)
    # without artifact_path the directory's content lands at the root
    mlflow.log_artifacts(str(src / "sub" / "deeper"))
    assert {f.path for f in client.list_artifacts(run_id)} >= {"bin.dat", "c.json", "visualizations"}


def test_log_dict_text_and_load_from_runs_uri(run_id):
    mlflow.log_dict({"config": {"lr": 0.01, "layers": [1, 2]}}, "config/params.json")
    mlflow.log_dict({"a": 1, "b": "two"}, "config/params.yaml")
    mlflow.log_text("some notes\nsecond line ü\n", "notes.txt")
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config/params.json") == {
        "config": {"lr": 0.01, "layers": [1, 2]}
    }
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/config/params.yaml") == "a: 1\nb: two\n"
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes.txt") == "some notes\nsecond line ü\n"
    # the same through the run's mlflow-artifacts:/ URI
    base = mlflow.get_run(run_id).info.artifact_uri
    assert mlflow.artifacts.load_text(f"{base}/notes.txt") == "some notes\nsecond line ü\n"


def test_overwrite_and_empty_file(run_id, tmp_path):
    mlflow.log_text("first", "same.txt")
    mlflow.log_text("second version", "same.txt")
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/same.txt") == "second version"
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    mlflow.log_artifact(str(empty))
    out = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="empty.bin", dst_path=_dst(tmp_path, "dl"))
    assert Path(out).read_bytes() == b""


def test_log_figure_and_image(run_id, client, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [2, 1, 3])
    mlflow.log_figure(fig, "figures/line.png")
    plt.close(fig)
    image = (np.arange(16 * 16 * 3).reshape(16, 16, 3) % 256).astype(np.uint8)
    mlflow.log_image(image, "images/grad.png")
    paths = {f.path for f in client.list_artifacts(run_id, "figures")} | {
        f.path for f in client.list_artifacts(run_id, "images")
    }
    assert paths == {"figures/line.png", "images/grad.png"}
    for p in paths:
        data = Path(client.download_artifacts(run_id, p, str(tmp_path))).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", p


def test_seed_custom_artifacts_example(uniq, client):
    # "Tracking Custom Artifacts" from the course, verbatim (runs in this test's temp cwd).
    import mlflow
    import matplotlib.pyplot as plt
    import json

    mlflow.set_experiment(uniq("exp-seed-artifacts"))
    os.makedirs("./plots", exist_ok=True)
    Path("./plots/loss.txt").write_text("0.5 0.4 0.3\n")
    Path("./plots/roc").mkdir(exist_ok=True)
    Path("./plots/roc/auc.txt").write_text("0.97\n")

    with mlflow.start_run():
        # Log parameters and train...

        # Log confusion matrix as image
        plt.figure()
        # ... create confusion matrix plot ...
        plt.savefig("confusion_matrix.png")
        mlflow.log_artifact("confusion_matrix.png")

        # Log custom JSON
        metadata = {
            "training_date": "2024-01-15",
            "data_version": "v2.3",
            "feature_count": 10
        }
        with open("metadata.json", "w") as f:
            json.dump(metadata, f)
        mlflow.log_artifact("metadata.json")

        # Log entire directory
        mlflow.log_artifacts("./plots", artifact_path="visualizations")
        run_id = mlflow.active_run().info.run_id
    plt.close("all")

    top = {f.path: f.is_dir for f in client.list_artifacts(run_id)}
    assert top == {"confusion_matrix.png": False, "metadata.json": False, "visualizations": True}
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/metadata.json") == metadata
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/visualizations/roc/auc.txt") == "0.97\n"
    png = Path(client.download_artifacts(run_id, "confusion_matrix.png", ".")).read_bytes()
    assert png[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "name",
    [
        "with space/file name.txt",
        "plus+sign/a+b.txt",
        "ünïcødé/日本語 ✓.txt",
        "mixed/a&b=(c)[d]@e,f~g'h;i.txt",
    ],
)
def test_odd_artifact_names(run_id, client, tmp_path, name):
    content = f"content of {name}\n"
    mlflow.log_text(content, name)
    parent = name.rsplit("/", 1)[0]
    assert [f.path for f in client.list_artifacts(run_id, parent)] == [name]
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/{name}") == content
    out = Path(client.download_artifacts(run_id, name, str(tmp_path)))
    assert out.name == name.rsplit("/", 1)[1]
    assert out.read_text() == content
    # raw HTTP: the percent-encoded path reaches the same file, '+' stays a plus
    root = _run_root(client, run_id)
    status, headers, body = raw_request(
        mlflow.get_tracking_uri(), "GET", f"{ART}/{root}/{quote(name)}"
    )
    assert status == 200
    assert body.decode() == content
    if "+" in name:  # and a literal '+' in the path is a plus, not a space
        status, _, body = raw_request(mlflow.get_tracking_uri(), "GET", f"{ART}/{root}/{quote(name, safe='/+')}")
        assert status == 200 and body.decode() == content


def test_big_file_roundtrip(run_id, client, tmp_path):
    size_mb = float(os.environ.get("WEIR_TEST_BIG_MB", "20"))
    size = int(size_mb * 1024 * 1024)
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as f:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            f.write(block[:n])
            written += n
    mlflow.log_artifact(str(src), artifact_path="blobs")
    (info,) = client.list_artifacts(run_id, "blobs")
    assert info.file_size == size
    out = client.download_artifacts(run_id, "blobs/big.bin", _dst(tmp_path, "dl"))
    assert os.path.getsize(out) == size
    assert sha256_file(out) == sha256_file(src)


def test_multipart_upload_path(run_id, client, tmp_path, monkeypatch, server):
    """With proxy multipart forced on, uploads work whether the server does multipart or answers
    501 (then the client falls back to a single PUT); downloads likewise (3.x presigned path)."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(1024 * 1024))
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(1024 * 1024))
    src = tmp_path / "mp.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 12345))
    small = tmp_path / "small.txt"
    small.write_text("below the multipart threshold")
    mlflow.log_artifact(str(src), artifact_path="mp")
    mlflow.log_artifact(str(small), artifact_path="mp")
    files = {f.path: f.file_size for f in client.list_artifacts(run_id, "mp")}
    assert files == {"mp/mp.bin": src.stat().st_size, "mp/small.txt": small.stat().st_size}
    out = client.download_artifacts(run_id, "mp/mp.bin", _dst(tmp_path, "dl"))
    assert sha256_file(out) == sha256_file(src)
    assert Path(client.download_artifacts(run_id, "mp/small.txt", _dst(tmp_path, "dl2"))).read_text() == (
        "below the multipart threshold"
    )


def test_server_info_and_mpu_agree(server, client, run_id):
    """/api/3.0/mlflow/server-info (probed by 3.x clients) must not promise what mpu/ won't do."""
    import requests

    r = requests.get(f"{server}/api/3.0/mlflow/server-info", timeout=30)
    assert r.status_code == 200, r.text[:300]
    info = r.json()
    assert isinstance(info.get("multipart_uploads_enabled", False), bool)
    assert isinstance(info.get("multipart_downloads_enabled", False), bool)
    root = _run_root(client, run_id)
    r = requests.post(
        f"{server}/api/2.0/mlflow-artifacts/mpu/create/{root}/probe",
        json={"path": "big.bin", "num_parts": 1},
        timeout=30,
    )
    if info.get("multipart_uploads_enabled"):
        assert r.status_code == 200, r.text[:300]
        upload_id = r.json()["upload_id"]
        r = requests.post(
            f"{server}/api/2.0/mlflow-artifacts/mpu/abort/{root}/probe",
            json={"path": "big.bin", "upload_id": upload_id},
            timeout=30,
        )
        assert r.status_code == 200, r.text[:300]
    else:
        assert r.status_code == 501, r.text[:300]
        body = r.json()
        assert body["error_code"] == "NOT_IMPLEMENTED"
        # the exact prefix the client matches to fall back to a plain PUT
        assert body["message"].startswith("Multipart upload is not supported for the current artifact repository")


# --------------------------------------------------------------------------- raw HTTP


def test_raw_put_get_list_delete(server, client, run_id):
    root = _run_root(client, run_id)
    status, _, _ = raw_request(server, "PUT", f"{ART}/{root}/extra/x.bin", {"Content-Type": "application/octet-stream"}, b"abc")
    assert status == 200
    status, headers, body = raw_request(server, "GET", f"{ART}/{root}/extra/x.bin")
    assert status == 200 and body == b"abc"
    assert "attachment" in headers.get("content-disposition", "")
    assert "x.bin" in headers.get("content-disposition", "")
    status, headers, body = raw_request(server, "GET", f"{ART}?path={quote(root + '/extra')}")
    assert status == 200
    assert json.loads(body) == {"files": [{"path": "x.bin", "is_dir": False, "file_size": 3}]}
    # listing a missing directory or a file: 200 with no files
    for p in (f"{root}/does-not-exist", f"{root}/extra/x.bin"):
        status, _, body = raw_request(server, "GET", f"{ART}?path={quote(p)}")
        assert status == 200 and json.loads(body).get("files", []) == []
    status, _, body = raw_request(server, "GET", f"{ART}/{root}/extra/missing.bin")
    assert status == 404
    assert json.loads(body)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status, _, _ = raw_request(server, "DELETE", f"{ART}/{root}/extra")
    assert status == 200
    status, _, _ = raw_request(server, "GET", f"{ART}/{root}/extra/x.bin")
    assert status == 404
    assert "extra" not in {f.path for f in client.list_artifacts(run_id)}


# Ways to climb out of the artifact root. {root} is the run's "<exp>/<run>/artifacts" (three levels
# below the root), {name} a file in the server's temp dir, one level above the artifact root, and
# {abs} that temp dir as an absolute path without its leading slash. The targets are files of the
# test's own temp dir, never system files: a server that fails this test must not damage the machine.
TRAVERSALS = {
    "dotdot": "{root}/../../../../{name}",
    "leading-dotdot": "../{name}",
    "encoded-dots": "{root}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/{name}",
    "half-encoded-dots": "{root}/.%2e/%2E./.%2e/%2e%2E/{name}",
    "encoded-slashes": "{root}/..%2f..%2f..%2f..%2f{name}",
    "all-encoded": "{root_enc}%2f..%2f..%2f..%2f..%2f{name}",
    "double-encoded": "{root}/%252e%252e/%252e%252e/%252e%252e/%252e%252e/{name}",
    "absolute-encoded": "%2f{abs}/{name}",
    "absolute-double-slash": "/{abs}/{name}",
    "backslashes": "{root}/..\\..\\..\\..\\{name}",
}


@pytest.fixture
def sentinel(server_dir, uniq):
    """A file beside the artifact root that no artifact request may reach."""
    path = server_dir / f"{uniq('sentinel')}.txt"
    path.write_text("SENTINEL-CONTENT")
    yield path
    path.unlink(missing_ok=True)


def _traversal_path(pattern, root, name, server_dir):
    return pattern.format(
        root=root, root_enc=quote(root, safe=""), name=name, abs=str(server_dir).lstrip("/")
    )


def _assert_refused(status, body, pattern):
    if "\\" in pattern:
        # a backslash is an ordinary character in a key: refused or simply not found
        assert status in (400, 404), (status, body[:300])
        return
    assert status == 400, (status, body[:300])
    assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("kind", sorted(TRAVERSALS))
def test_path_traversal_get_refused(server, client, run_id, kind, sentinel, server_dir):
    pattern = TRAVERSALS[kind]
    path = _traversal_path(pattern, _run_root(client, run_id), sentinel.name, server_dir)
    status, _, body = raw_request(server, "GET", f"{ART}/{path}")
    assert b"SENTINEL-CONTENT" not in body
    _assert_refused(status, body, pattern)


@pytest.mark.parametrize("kind", sorted(k for k in TRAVERSALS if k != "backslashes"))
def test_path_traversal_put_refused(server, client, run_id, kind, server_dir, uniq):
    pattern = TRAVERSALS[kind]
    name = f"{uniq('probe')}.txt"
    path = _traversal_path(pattern, _run_root(client, run_id), name, server_dir)
    status, _, body = raw_request(server, "PUT", f"{ART}/{path}", {"Content-Type": "text/plain"}, b"evil")
    written = [p for p in (server_dir / name, server_dir.parent / name) if p.exists()]
    for p in written:
        p.unlink()
    assert not written, f"PUT {path} wrote {written}"
    _assert_refused(status, body, pattern)


@pytest.mark.parametrize("kind", sorted(k for k in TRAVERSALS if k != "backslashes"))
def test_path_traversal_delete_refused(server, client, run_id, kind, sentinel, server_dir, target):
    pattern = TRAVERSALS[kind]
    path = _traversal_path(pattern, _run_root(client, run_id), sentinel.name, server_dir)
    status, _, body = raw_request(server, "DELETE", f"{ART}/{path}")
    assert sentinel.exists(), f"DELETE {path} removed a file outside the artifact root"
    # MLflow quirk: DELETE of an absolute path ('//tmp/..' or '%2ftmp/..') gets a 308 redirect to
    # the path with the slash dropped (harmless there, but a redirect is no answer to a bad path).
    if status == 308:
        mlflow_quirk(target, f"DELETE {kind} answered 308")
    _assert_refused(status, body, pattern)


@pytest.mark.parametrize("pattern", ["../etc", "{root}/../../..", "/etc", "%2fetc", "{root}/%2e%2e/%2e%2e/%2e%2e"])
def test_list_traversal_refused(server, client, run_id, pattern):
    root = _run_root(client, run_id)
    status, _, body = raw_request(server, "GET", f"{ART}?path={pattern.format(root=root)}")
    assert status == 400, (status, body[:300])
    assert json.loads(body)["error_code"] == "INVALID_PARAMETER_VALUE"


def test_nul_in_path_refused(server, client, run_id, target):
    root = _run_root(client, run_id)
    results = {
        "GET": raw_request(server, "GET", f"{ART}/{root}/a%00b.txt")[0],
        "PUT": raw_request(server, "PUT", f"{ART}/{root}/evil%00.txt", {"Content-Type": "text/plain"}, b"evil")[0],
        "LIST": raw_request(server, "GET", f"{ART}?path={root}/%00")[0],
    }
    # MLflow quirk: %00 is kept as the three characters "%00": PUT creates a file literally named
    # 'evil%00.txt', GET answers 404 and listing 200. A NUL has no place in a key: 400.
    if any(s != 400 for s in results.values()):
        mlflow_quirk(target, f"NUL in artifact paths answered {results}")
    assert results == {"GET": 400, "PUT": 400, "LIST": 400}


@pytest.mark.skipif(MLFLOW_MAJOR < 3, reason="the artifact-proxy download probe is 3.x behaviour")
def test_download_with_server_info_probe(run_id, client, tmp_path):
    """A 3.x client probes server-info before downloading; a plain download still works."""
    mlflow.log_text("probe", "p/probe.txt")
    out = client.download_artifacts(run_id, "p/probe.txt", str(tmp_path))
    assert Path(out).read_text() == "probe"
