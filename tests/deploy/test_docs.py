"""docs/kubernetes.md refers only to files, directories and resources that exist.

(Its weir command lines are checked against the binary by test_cli_usage.py.)
"""

import os
import re

import pytest

import deploylib
from deploylib import ROOT

DOCS = os.path.join(ROOT, "docs", "kubernetes.md")


@pytest.fixture(scope="module")
def text():
    with open(DOCS) as f:
        return f.read()


@pytest.fixture(scope="module")
def commands(text):
    out = []
    for lang, body in deploylib.fenced_blocks(text):
        if lang in ("sh", "bash", "shell", ""):
            out.extend(deploylib.shell_commands(body))
    return out


def test_paths_exist(text):
    paths = set(re.findall(r"(?<![\w./-])((?:k8s|examples|scripts|tests|docs)/[\w./-]*\w/?)", text))
    assert paths
    missing = sorted(p for p in paths if not os.path.exists(os.path.join(ROOT, p)))
    assert not missing, missing


def test_kubectl_apply_targets_are_kustomizations(commands):
    dirs = [m.group(1) for c in commands for m in [re.search(r"kubectl apply -k (\S+)", c)] if m]
    assert "k8s/" in dirs
    for d in dirs:
        assert os.path.exists(os.path.join(ROOT, d, "kustomization.yaml")), d


def test_kubectl_resources_exist(commands, everything):
    names = {(d["kind"].lower(), d["metadata"]["name"]) for d in everything}
    aliases = {"svc": "service", "deploy": "deployment", "sts": "statefulset", "isvc": "inferenceservice"}
    refs = []
    for c in commands:
        if not c.startswith("kubectl"):
            continue
        assert re.search(r"(-n|--namespace) weir\b", c) or " -k " in c or "create namespace" in c, c
        refs += re.findall(r"\b(svc|service|deployment|deploy|statefulset|sts)/([\w-]+)", c)
        refs += re.findall(r"\bget (inferenceservice|isvc) ([\w-]+)", c)
    assert refs
    for kind, name in refs:
        assert (aliases.get(kind, kind), name) in names, f"{kind}/{name}"


def test_every_section_of_the_walkthrough_is_there(text):
    for needle in (
        "docker build", "kubectl apply -k k8s/", "port-forward", "http://localhost:5000/",
        "tracking_example.py", "train_flow.py", "set_registered_model_alias",
        '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}', "/v2/models/iris-classifier/infer",
        "/v2/health/live", "/v2/health/ready", "/ping", "/metrics", "WEIR_POLL_INTERVAL", "## 10. Scaling",
    ):
        assert needle in text, needle
