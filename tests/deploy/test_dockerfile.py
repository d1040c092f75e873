"""The Dockerfile, read without Docker: its steps are the ones CI runs.

No Docker engine runs here, so the image itself is never built in CI. What makes that safe: the
build stage runs exactly the cargo command scripts/check-deploy.sh runs (it reads the command
from this file), and the onnxruntime stage runs scripts/fetch-onnxruntime.sh, which
test_onnxruntime.py runs and loads. The rest is checked by reading.
"""

import os
import re
import shlex
import subprocess
import sys

import deploylib
from deploylib import ROOT


def script_ort_version():
    with open(os.path.join(ROOT, "scripts", "fetch-onnxruntime.sh")) as f:
        return re.search(r"^ORT_VERSION=([0-9.]+)$", f.read(), flags=re.M).group(1)


def test_stages(dockerfile):
    names = [s.name for s in dockerfile.stages]
    assert names[:2] == ["build", "onnxruntime"]
    build, ort, runtime = dockerfile.stage("build"), dockerfile.stage("onnxruntime"), dockerfile.stages[-1]
    assert build.base == "rust:1-bookworm"
    assert re.match(r"^python:3\.\d+-slim", ort.base), ort.base
    # glibc >= 2.28 for the manylinux_2_28 library; Debian 12 has 2.36.
    assert runtime.base.startswith(("gcr.io/distroless/cc-debian12", "debian:bookworm-slim")), runtime.base


def test_build_stage_runs_the_ci_cargo_command(dockerfile):
    cmds = [c for ins in dockerfile.stage("build").all("RUN") for c in deploylib.cargo_commands(ins.args)]
    assert cmds == [["cargo", "build", "--release", "--locked"]]
    run = dockerfile.stage("build").all("RUN")[0].args
    # The binary leaves the cache-mounted target/ for a path the runtime stage copies.
    assert "target/release/weir /out/weir" in run


def test_onnxruntime_stage_runs_the_repo_script(dockerfile):
    stage = dockerfile.stage("onnxruntime")
    copies = [shlex.split(i.args) for i in stage.all("COPY")]
    assert ["scripts/fetch-onnxruntime.sh", "scripts/fetch-onnxruntime.sh"] in copies
    runs = [i.args for i in stage.all("RUN")]
    assert len(runs) == 1 and re.search(r"(^|\s)scripts/fetch-onnxruntime\.sh /out$", runs[0]), runs


def test_runtime_stage(dockerfile):
    rt = dockerfile.stages[-1]
    copies = {}
    for ins in rt.all("COPY"):
        toks = shlex.split(ins.args)
        opts = {t.split("=", 1)[0]: t.split("=", 1)[1] for t in toks if t.startswith("--")}
        src, dest = [t for t in toks if not t.startswith("--")]
        copies[dest] = (opts.get("--from"), src, opts.get("--chown"))
    assert copies["/usr/local/bin/weir"][:2] == ("build", "/out/weir")
    lib = f"libonnxruntime.so.{script_ort_version()}"
    ort_dest = f"/usr/local/lib/{lib}"
    assert copies[ort_dest][:2] == ("onnxruntime", f"/out/{lib}")
    assert dockerfile.env(rt)["ORT_DYLIB_PATH"] == ort_dest

    user = rt.all("USER")[-1].args
    assert re.match(r"^[1-9][0-9]*(:[0-9]+)?$", user), "a numeric non-root USER (runAsNonRoot checks it)"
    workdir = rt.all("WORKDIR")[-1].args
    assert copies[workdir][2] == user, "the working directory belongs to the runtime user"

    assert rt.all("EXPOSE")[-1].args == "5000"
    assert rt.json_instruction("ENTRYPOINT") == ["weir"]
    assert rt.json_instruction("CMD") == ["server", "--host", "0.0.0.0"]


def test_ort_version_matches_the_crate(dockerfile):
    """The ort crate is built for one ONNX Runtime API level (`api-NN` feature = 1.NN)."""
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        cargo = f.read()
    api = re.search(r'"api-(\d+)"', cargo)
    assert api, "Cargo.toml: no ort api-NN feature"
    assert script_ort_version().split(".")[1] == api.group(1)


def test_dockerignore_keeps_the_build_inputs():
    pats = deploylib.dockerignore_patterns(os.path.join(ROOT, ".dockerignore"))
    for excluded in ("target", ".git", "mlruns", "mlartifacts", "mlflow.db", "node_modules", "ui/node_modules", ".venv"):
        assert deploylib.dockerignored(pats, excluded), f"{excluded} should not be sent to the daemon"
    needed = ["Cargo.toml", "Cargo.lock", "src/main.rs", "scripts/fetch-onnxruntime.sh"]
    # Whatever else the crate may read at build time, if it exists.
    needed += [p for p in ("build.rs", "ui", "models", "migrations", "benches", "tests", "README.md") if os.path.exists(os.path.join(ROOT, p))]
    for path in needed:
        assert not deploylib.dockerignored(pats, path), f".dockerignore drops {path}, which the build needs"


def test_hadolint():
    hadolint = os.path.join(os.path.dirname(sys.executable), "hadolint")
    out = subprocess.run([hadolint, os.path.join(ROOT, "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
