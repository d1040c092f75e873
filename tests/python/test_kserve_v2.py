"""The Open Inference Protocol (KServe V2) with Triton's own client, `tritonclient`.

`weir models serve` with several models in one process (`-m NAME=DIR`), driven by
`tritonclient.http` the way its users call it: the default `infer` sends the binary tensor data
extension and asks for binary outputs; `binary_data=False` sends JSON. Answers are compared with
onnxruntime's for the same ONNX file. Several datatypes go through an identity model built here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from _helpers import Process
from conftest import _weir_bin

httpclient = pytest.importorskip("tritonclient.http")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from tritonclient.utils import InferenceServerException  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float32)

# name, ONNX element type, numpy dtype, Triton datatype, sample [rows, 2]
TYPES = [
    ("f32", onnx.TensorProto.FLOAT, np.float32, "FP32", [[1.5, -2.25], [0.0, 3.0]]),
    ("f64", onnx.TensorProto.DOUBLE, np.float64, "FP64", [[0.1, 1e300], [-0.0, 2.5]]),
    ("i8", onnx.TensorProto.INT8, np.int8, "INT8", [[-128, 127], [0, 1]]),
    ("i32", onnx.TensorProto.INT32, np.int32, "INT32", [[-(2**31), 7], [8, 9]]),
    ("i64", onnx.TensorProto.INT64, np.int64, "INT64", [[2**62, -1], [0, 5]]),
    ("u8", onnx.TensorProto.UINT8, np.uint8, "UINT8", [[0, 255], [1, 2]]),
    ("u16", onnx.TensorProto.UINT16, np.uint16, "UINT16", [[65535, 0], [3, 4]]),
    ("b", onnx.TensorProto.BOOL, np.bool_, "BOOL", [[True, False], [False, True]]),
    ("s", onnx.TensorProto.STRING, np.object_, "BYTES", [["setosa", ""], ["é ü", "x" * 300]]),
]


def identity_model(path: Path) -> None:
    """An ONNX model whose outputs `out_<t>` echo its inputs `in_<t>`, one per datatype."""
    from onnx import helper

    inputs, outputs, nodes = [], [], []
    for name, et, _, _, _ in TYPES:
        inputs.append(helper.make_tensor_value_info(f"in_{name}", et, ["N", 2]))
        outputs.append(helper.make_tensor_value_info(f"out_{name}", et, ["N", 2]))
        nodes.append(helper.make_node("Identity", [f"in_{name}"], [f"out_{name}"]))
    graph = helper.make_graph(nodes, "identity", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.mkdir(parents=True)
    onnx.save(model, str(path / "model.onnx"))
    (path / "MLmodel").write_text(
        "flavors:\n  onnx:\n    data: model.onnx\n    onnx_version: 1.23.2\n"
        "  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\n"
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    binary = _weir_bin()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"no weir binary at {binary}")
    tmp = tmp_path_factory.mktemp("kserve-v2")
    identity_model(tmp / "types")
    p = Process(
        [
            binary, "models", "serve",
            "-m", f"iris={REPO / 'models' / 'iris-rf'}",
            "-m", f"zipmap={REPO / 'models' / 'iris-rf-zipmap'}",
            "-m", f"types={tmp / 'types'}",
            "--model-cache", str(tmp / "cache"),
        ],
        cwd=tmp,
        log=tmp / "serve.log",
    )
    try:
        p.wait("/v2/health/ready")
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def client(served):
    return httpclient.InferenceServerClient(url=served.url.removeprefix("http://"))


def onnxruntime_answer(model_dir: Path, rows: np.ndarray) -> dict:
    sess = ort.InferenceSession(str(model_dir / "model.onnx"))
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: rows})))


def test_server_and_model_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    meta = client.get_server_metadata()
    assert meta["name"] == "weir"
    assert "binary_tensor_data" in meta["extensions"]
    for name in ("iris", "zipmap", "types"):
        assert client.is_model_ready(name)
    assert not client.is_model_ready("nope")
    iris = client.get_model_metadata("iris")
    assert iris["name"] == "iris"
    assert iris["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in iris["outputs"]] == ["label", "probabilities"]
    types = client.get_model_metadata("types")
    assert {i["name"]: i["datatype"] for i in types["inputs"]} == {f"in_{t[0]}": t[3] for t in TYPES}


@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["binary-out", "json-out"])
def test_infer_matches_onnxruntime(client, binary_in, binary_out):
    want = onnxruntime_answer(REPO / "models" / "iris-rf", ROWS)
    x = httpclient.InferInput("X", list(ROWS.shape), "FP32")
    x.set_data_from_numpy(ROWS, binary_data=binary_in)
    outputs = [httpclient.InferRequestedOutput(n, binary_data=binary_out) for n in ("label", "probabilities")]
    result = client.infer("iris", [x], outputs=outputs, request_id="r-1")
    assert result.get_response()["id"] == "r-1"
    np.testing.assert_array_equal(result.as_numpy("label"), want["label"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)


def test_default_infer_is_binary_both_ways(client):
    """`infer` with no outputs named: binary inputs, and `binary_data_output` for every output."""
    want = onnxruntime_answer(REPO / "models" / "iris-rf", ROWS)
    x = httpclient.InferInput("X", list(ROWS.shape), "FP32")
    x.set_data_from_numpy(ROWS)
    result = client.infer("iris", [x])
    outs = result.get_response()["outputs"]
    assert all("binary_data_size" in o["parameters"] for o in outs), outs
    np.testing.assert_array_equal(result.as_numpy("label"), want["label"])
    np.testing.assert_allclose(result.as_numpy("probabilities"), want["probabilities"], rtol=1e-6)


def test_fp64_input_is_cast_to_the_models_fp32(client):
    want = onnxruntime_answer(REPO / "models" / "iris-rf", ROWS)
    x = httpclient.InferInput("X", list(ROWS.shape), "FP64")
    x.set_data_from_numpy(ROWS.astype(np.float64))
    result = client.infer("iris", [x])
    np.testing.assert_array_equal(result.as_numpy("label"), want["label"])


def test_zipmap_outputs_arrive_as_a_probability_matrix(client):
    x = httpclient.InferInput("X", list(ROWS.shape), "FP32")
    x.set_data_from_numpy(ROWS)
    result = client.infer("zipmap", [x])
    probs = result.as_numpy("output_probability")
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    out = next(o for o in result.get_response()["outputs"] if o["name"] == "output_probability")
    assert out["parameters"]["classes"] == [0, 1, 2]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_every_datatype_round_trips(client, binary):
    inputs, outputs, sent = [], [], {}
    for name, _, np_dtype, triton, sample in TYPES:
        arr = np.array(sample, dtype=np_dtype)
        if triton == "BYTES":
            arr = np.array([[s.encode() for s in row] for row in sample], dtype=np.object_)
        sent[name] = arr
        i = httpclient.InferInput(f"in_{name}", list(arr.shape), triton)
        i.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(i)
        outputs.append(httpclient.InferRequestedOutput(f"out_{name}", binary_data=binary))
    result = client.infer("types", inputs, outputs=outputs)
    for name, _, np_dtype, triton, _ in TYPES:
        got = result.as_numpy(f"out_{name}")
        if triton == "BYTES":
            assert [[x.decode() if isinstance(x, bytes) else x for x in row] for row in got.tolist()] == [
                [s.decode() for s in row] for row in sent[name].tolist()
            ], name
        else:
            assert got.dtype == np_dtype, name
            np.testing.assert_array_equal(got, sent[name], err_msg=name)


def test_errors_arrive_as_messages_the_client_shows(client):
    x = httpclient.InferInput("X", [1, 3], "FP32")
    x.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="does not match expected shape"):
        client.infer("iris", [x])
    with pytest.raises(InferenceServerException, match="nope"):
        client.get_model_metadata("nope")
    x = httpclient.InferInput("X", [1, 4], "FP32")
    x.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="unknown output 'nope'"):
        client.infer("iris", [x], outputs=[httpclient.InferRequestedOutput("nope")])
