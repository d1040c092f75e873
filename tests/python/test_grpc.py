"""KServe's gRPC Open Inference Protocol with Triton's own gRPC client, `tritonclient.grpc`.

`weir models serve --grpc-port` with several models in one process, driven the way the client's
users call it: `InferInput.set_data_from_numpy` (inputs in `raw_input_contents`) and
`as_numpy` (which reads only `raw_output_contents`). Answers are compared with onnxruntime's for
the same ONNX file; every datatype goes through the identity model of test_kserve_v2.py. The
gRPC health service is asked with grpcio alone.

tritonclient[grpc] is pinned in requirements-mlflow3.txt only: under the mlflow 2 client the
module is skipped; under mlflow 3 a missing client is an error, not a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from _helpers import MLFLOW_MAJOR, Process
from conftest import _free_port, _weir_bin

try:
    import grpc
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException
except ImportError:
    if MLFLOW_MAJOR >= 3:
        raise  # requirements-mlflow3.txt pins tritonclient[grpc]: its absence is a broken venv
    pytest.skip("tritonclient[grpc] is in the mlflow 3 venv only", allow_module_level=True)

ort = pytest.importorskip("onnxruntime")

from test_kserve_v2 import TYPES, identity_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float32)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    binary = _weir_bin()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no weir binary at {binary}")
    tmp = tmp_path_factory.mktemp("grpc")
    identity_model(tmp / "types")
    grpc_port = _free_port()
    p = Process(
        [
            binary, "models", "serve",
            "-m", f"iris={REPO / 'models' / 'iris-rf'}",
            "-m", f"zipmap={REPO / 'models' / 'iris-rf-zipmap'}",
            "-m", f"types={tmp / 'types'}",
            "--model-cache", str(tmp / "cache"),
            "--grpc-port", str(grpc_port),
        ],
        cwd=tmp,
        log=tmp / "serve.log",
    )
    try:
        p.wait("/v2/health/ready")
        p.grpc_url = f"127.0.0.1:{grpc_port}"
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def client(served):
    c = grpcclient.InferenceServerClient(url=served.grpc_url)
    yield c
    c.close()


def onnxruntime_answer(model_dir: Path, rows: np.ndarray) -> dict:
    sess = ort.InferenceSession(str(model_dir / "model.onnx"))
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: rows})))


def iris_input(rows=ROWS, datatype="FP32"):
    x = grpcclient.InferInput("X", list(rows.shape), datatype)
    x.set_data_from_numpy(rows)
    return x


def test_live_ready_and_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "weir"
    assert "binary_tensor_data" in meta["extensions"]
    for name in ("iris", "zipmap", "types"):
        assert client.is_model_ready(name)
    assert not client.is_model_ready("iris", model_version="999")
    # Unknown names are NOT_FOUND, as over HTTP (404) and in KServe's own server.
    with pytest.raises(InferenceServerException) as e:
        client.is_model_ready("nope")
    assert "NOT_FOUND" in str(e.value.status())
    iris = client.get_model_metadata("iris", as_json=True)
    assert iris["name"] == "iris"
    assert iris["versions"] == ["local"]
    assert iris["platform"] in ("onnxruntime_onnx", "tract_onnx")
    assert iris["inputs"] == [{"name": "X", "datatype": "FP32", "shape": ["-1", "4"]}]
    assert [o["name"] for o in iris["outputs"]] == ["label", "probabilities"]
    types = client.get_model_metadata("types", as_json=True)
    assert {i["name"]: i["datatype"] for i in types["inputs"]} == {f"in_{t[0]}": t[3] for t in TYPES}


def test_infer_matches_onnxruntime(client):
    want = onnxruntime_answer(REPO / "models" / "iris-rf", ROWS)
    result = client.infer("iris", [iris_input()], request_id="r-1")
    response = result.get_response()
    assert (response.id, response.model_name, response.model_version) == ("r-1", "iris", "local")
    label = result.as_numpy("label")
    assert label.dtype == np.int64
    np.testing.assert_array_equal(label, want["label"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)


def test_requested_outputs_only(client):
    want = onnxruntime_answer(REPO / "models" / "iris-rf", ROWS)
    result = client.infer("iris", [iris_input()], outputs=[grpcclient.InferRequestedOutput("probabilities")])
    assert [o.name for o in result.get_response().outputs] == ["probabilities"]
    assert result.as_numpy("label") is None
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)


def test_fp64_input_is_cast_to_the_models_fp32(client):
    want = onnxruntime_answer(REPO / "models" / "iris-rf", ROWS)
    result = client.infer("iris", [iris_input(ROWS.astype(np.float64), "FP64")])
    np.testing.assert_array_equal(result.as_numpy("label"), want["label"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)


def test_zipmap_outputs_arrive_as_a_probability_matrix(client):
    want = onnxruntime_answer(REPO / "models" / "iris-rf-zipmap", ROWS)
    result = client.infer("zipmap", [iris_input()])
    probs = result.as_numpy("output_probability")
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    # onnxruntime answers a list of {class: probability}; Weir the matrix in class order.
    matrix = [[row[k] for k in sorted(row)] for row in want["output_probability"]]
    np.testing.assert_allclose(probs, matrix, rtol=1e-6)
    np.testing.assert_array_equal(result.as_numpy("output_label"), want["output_label"])
    out = result.get_output("output_probability")
    assert out.parameters["classes"].string_param == "[0, 1, 2]"


def test_every_datatype_round_trips(client):
    inputs, outputs, sent = [], [], {}
    for name, _, np_dtype, triton, sample in TYPES:
        arr = np.array(sample, dtype=np_dtype)
        if triton == "BYTES":
            arr = np.array([[s.encode() for s in row] for row in sample], dtype=np.object_)
        sent[name] = arr
        i = grpcclient.InferInput(f"in_{name}", list(arr.shape), triton)
        i.set_data_from_numpy(arr)
        inputs.append(i)
        outputs.append(grpcclient.InferRequestedOutput(f"out_{name}"))
    result = client.infer("types", inputs, outputs=outputs)
    for name, _, np_dtype, triton, _ in TYPES:
        got = result.as_numpy(f"out_{name}")
        if triton == "BYTES":
            assert got.tolist() == sent[name].tolist(), name
        else:
            assert got.dtype == np_dtype, name
            np.testing.assert_array_equal(got, sent[name], err_msg=name)


def test_errors_carry_codes_and_messages(client):
    x = grpcclient.InferInput("X", [1, 3], "FP32")
    x.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="does not match expected shape") as e:
        client.infer("iris", [x])
    assert "INVALID_ARGUMENT" in str(e.value.status())
    with pytest.raises(InferenceServerException, match="Model with name nope does not exist") as e:
        client.infer("nope", [iris_input()])
    assert "NOT_FOUND" in str(e.value.status())
    with pytest.raises(InferenceServerException, match="unknown output 'nope'"):
        client.infer("iris", [iris_input()], outputs=[grpcclient.InferRequestedOutput("nope")])
    with pytest.raises(InferenceServerException, match="nope"):
        client.get_model_metadata("nope")


def test_grpc_health_service(served):
    """grpc.health.v1.Health/Check, with grpcio's generic call: SERVING is field 1 = 1."""
    with grpc.insecure_channel(served.grpc_url) as ch:
        check = ch.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda service: b"\x0a" + bytes([len(service)]) + service.encode(),
            response_deserializer=lambda b: b,
        )
        for service in ("", "inference.GRPCInferenceService"):
            assert check(service, timeout=10) == b"\x08\x01", service
        with pytest.raises(grpc.RpcError) as e:
            check("nope", timeout=10)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
