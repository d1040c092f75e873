"""examples/kubeflow/: the pipeline compiles with kfp, and agrees with train_flow.py and k8s/.

Running the flow needs a live Weir: `scripts/check-deploy.sh --with-server URL|auto` does that.
"""

import os
import re
import subprocess
import sys

import yaml

import deploylib
from deploylib import ROOT

EXAMPLE = os.path.join(ROOT, "examples", "kubeflow")


def requirements():
    with open(os.path.join(EXAMPLE, "requirements.txt")) as f:
        return [line.split("#")[0].strip() for line in f if line.split("#")[0].strip()]


def test_requirements_are_pinned():
    for req in requirements():
        assert re.match(r"^[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*$", req), req


def test_train_flow_imports_without_its_dependencies():
    """The steps import what they need inside, as Kubeflow components must: the module itself
    (and so the pipeline compiler) needs only the standard library."""
    out = subprocess.run([sys.executable, os.path.join(EXAMPLE, "train_flow.py"), "--help"],
                         capture_output=True, text=True, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    assert out.returncode == 0, out.stderr
    assert "--serving-url" in out.stdout


def test_train_flow_requires_a_tracking_uri():
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out = subprocess.run([sys.executable, os.path.join(EXAMPLE, "train_flow.py")], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "MLFLOW_TRACKING_URI" in out.stdout


def test_pipeline_compiles(tmp_path):
    out = tmp_path / "pipeline.yaml"
    subprocess.run([sys.executable, os.path.join(EXAMPLE, "pipeline.py"), str(out)], check=True, timeout=120)
    spec = yaml.safe_load(out.read_text())
    assert spec["pipelineInfo"]["name"] == "weir-training-pipeline"
    executors = spec["deploymentSpec"]["executors"]
    assert set(executors) == {"exec-train-with-mlflow", "exec-promote-model"}
    for ex in executors.values():
        container = ex["container"]
        assert container["image"].startswith("python:3.11")
        script = " ".join(container["command"])
        for req in requirements():
            assert f"'{req}'" in script, f"component does not install {req}"
    # promote waits for train and takes its outputs.
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["promote-model"]["dependentTasks"] == ["train-with-mlflow"]
    inputs = tasks["promote-model"]["inputs"]["parameters"]
    assert inputs["model_version"]["taskOutputParameter"] == {"outputParameterKey": "model_version", "producerTask": "train-with-mlflow"}


def test_pipeline_default_tracking_uri_is_the_weir_service(tmp_path):
    out = tmp_path / "pipeline.yaml"
    subprocess.run([sys.executable, os.path.join(EXAMPLE, "pipeline.py"), str(out)], check=True, timeout=120)
    spec = yaml.safe_load(out.read_text())
    default = spec["root"]["inputDefinitions"]["parameters"]["mlflow_uri"]["defaultValue"]
    base = deploylib.build_kustomization(deploylib.K8S)
    svc = next(d for d in base if d["kind"] == "Service" and d["metadata"]["name"] == "weir-server")
    assert default == f"http://weir-server.{svc['metadata']['namespace']}:{svc['spec']['ports'][0]['port']}"
