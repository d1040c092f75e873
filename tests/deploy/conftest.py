import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import deploylib  # noqa: E402


@pytest.fixture(scope="session")
def weir_cli():
    """weir's command tree, read from the real binary's --help (WEIR_BIN, default
    ${CARGO_TARGET_DIR:-target}/release/weir). scripts/check-deploy.sh builds it first."""
    binary = deploylib.weir_bin()
    if not os.access(binary, os.X_OK):
        pytest.fail(f"no weir binary at {binary}: build it (cargo build --release --locked) or set WEIR_BIN")
    return deploylib.load_cli(binary)


@pytest.fixture(scope="session")
def dockerfile():
    return deploylib.parse_dockerfile(os.path.join(deploylib.ROOT, "Dockerfile"))


@pytest.fixture(scope="session")
def base():
    """The base kustomization (k8s/), built."""
    return deploylib.build_kustomization(deploylib.K8S)


@pytest.fixture(scope="session")
def everything():
    """Every kustomization under k8s/, built: the base, kserve/ and monitoring/."""
    docs = []
    for d in deploylib.kustomization_dirs():
        docs.extend(deploylib.build_kustomization(d))
    return docs
