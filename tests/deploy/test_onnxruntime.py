"""scripts/fetch-onnxruntime.sh, as the Dockerfile's onnxruntime stage runs it, into a fresh directory."""

import ctypes
import os
import platform
import struct
import subprocess
import time

import pytest

from deploylib import ROOT

SCRIPT = os.path.join(ROOT, "scripts", "fetch-onnxruntime.sh")


def run(dest):
    t0 = time.monotonic()
    out = subprocess.run([SCRIPT, str(dest)], check=True, capture_output=True, text=True, timeout=600)
    return out.stdout.strip(), out.stderr, time.monotonic() - t0


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    dest = tmp_path_factory.mktemp("ort") / "lib"
    path, err, _ = run(dest)
    return dest, path, err


def test_prints_the_absolute_path_of_the_library(fetched):
    dest, path, _ = fetched
    assert os.path.isabs(path)
    assert os.path.dirname(path) == os.path.realpath(dest)
    assert os.path.basename(path).startswith("libonnxruntime.so.")
    assert os.listdir(dest) == [os.path.basename(path)], "only the library, no leftovers"


def test_is_an_elf_shared_object_for_this_machine(fetched):
    _, path, _ = fetched
    with open(path, "rb") as f:
        head = f.read(64)
    assert head[:4] == b"\x7fELF"
    assert head[4] == 2, "64-bit"
    e_type, e_machine = struct.unpack_from("<HH", head, 16)
    assert e_type == 3, "ET_DYN: a shared object"
    expected = {"x86_64": 62, "aarch64": 183}.get(platform.machine())
    if expected:
        assert e_machine == expected


def test_loads_and_reports_its_version(fetched):
    """dlopen it on this glibc, and ask ONNX Runtime its version, as ort's load-dynamic does."""
    _, path, _ = fetched
    lib = ctypes.CDLL(path)
    lib.OrtGetApiBase.restype = ctypes.POINTER(ctypes.c_void_p * 2)
    base = lib.OrtGetApiBase().contents
    get_version = ctypes.CFUNCTYPE(ctypes.c_char_p)(base[1])
    assert path.endswith("." + get_version().decode())


def test_second_run_is_a_no_op(fetched):
    dest, path, _ = fetched
    mtime = os.stat(path).st_mtime_ns
    again, err, seconds = run(dest)
    assert again == path
    assert "downloading" not in err
    assert os.stat(path).st_mtime_ns == mtime
    assert seconds < 5
