"""k8s/kserve/: the InferenceService against KServe's published API types.

PyPI has no copy of KServe's CRD YAML, but the `kserve` SDK wheel ships the models generated from
the same OpenAPI definitions (kserve/models/v1beta1_*.py: each field's JSON name and type, and
which fields may not be None). The InferenceService is walked against those, and every embedded
Kubernetes type (V1Container, V1Probe, ...) against the Kubernetes JSON schema, strictly. An
unknown field anywhere, such as `protocolVersion` on a custom predictor, fails.
"""

import copy
import json
import os
import re
from importlib import resources

import jsonschema
import pytest
import referencing
import referencing.jsonschema

import deploylib
from deploylib import ROOT

K8S_SCHEMA_VERSION = "v1.37.0-local-strict"


@pytest.fixture(scope="session")
def kserve_types():
    return deploylib.kserve_models()


@pytest.fixture(scope="session")
def k8s_definitions():
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema", K8S_SCHEMA_VERSION)
    return json.loads(root.joinpath("_definitions.json").read_text())


@pytest.fixture(scope="session")
def isvc():
    docs = deploylib.build_kustomization(os.path.join(ROOT, "k8s", "kserve"))
    found = [d for d in docs if d["kind"] == "InferenceService"]
    assert len(found) == 1
    return found[0]


class Walker:
    """Check an object against a kserve model type, recursing into lists, dicts and k8s types."""

    def __init__(self, models, definitions):
        self.models = models
        self.defs = definitions
        resource = referencing.Resource.from_contents(definitions, default_specification=referencing.jsonschema.DRAFT202012)
        self.registry = resource @ referencing.Registry()
        self.errors = []

    def k8s_definition(self, type_name):
        m = re.match(r"^K8sIoApi(\w+?)(V\d\w*?)([A-Z]\w+)$", type_name)
        if m:
            return f"io.k8s.api.{m.group(1).lower()}.{m.group(2).lower()}.{m.group(3)}"
        m = re.match(r"^(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w+)$", type_name)
        if not m:
            return None
        suffix = f".{m.group(1).lower()}.{m.group(2)}"
        names = [n for n in self.defs["$defs"] if n.endswith(suffix)]
        for prefix in ("io.k8s.api.core.", "io.k8s.apimachinery.pkg.apis.meta.", "io.k8s.api."):
            for n in names:
                if n.startswith(prefix):
                    return n
        return None

    def walk(self, obj, type_name, path):
        if obj is None:
            return
        if type_name in ("str", "date", "datetime"):
            self.expect(isinstance(obj, str), path, f"expected a string, got {obj!r}")
        elif type_name == "int":
            self.expect(isinstance(obj, int) and not isinstance(obj, bool), path, f"expected an integer, got {obj!r}")
        elif type_name == "float":
            self.expect(isinstance(obj, (int, float)) and not isinstance(obj, bool), path, f"expected a number, got {obj!r}")
        elif type_name == "bool":
            self.expect(isinstance(obj, bool), path, f"expected a boolean, got {obj!r}")
        elif type_name == "object":
            pass
        elif type_name == "ResourceQuantity":
            self.expect(isinstance(obj, (str, int, float)), path, f"expected a quantity, got {obj!r}")
        elif m := re.match(r"^list\[(.+)\]$", type_name):
            if self.expect(isinstance(obj, list), path, "expected a list"):
                for i, item in enumerate(obj):
                    self.walk(item, m.group(1), f"{path}[{i}]")
        elif m := re.match(r"^dict\((\w+), (.+)\)$", type_name):
            if self.expect(isinstance(obj, dict), path, "expected a map"):
                for k, v in obj.items():
                    self.walk(v, m.group(2), f"{path}.{k}")
        elif type_name in self.models:
            model = self.models[type_name]
            if not self.expect(isinstance(obj, dict), path, f"expected an object ({type_name})"):
                return
            for key in sorted(set(obj) - set(model.fields)):
                self.errors.append(f"{path}.{key}: unknown field in {type_name}")
            for key in sorted(model.required - set(obj)):
                self.errors.append(f"{path}.{key}: required by {type_name}")
            for key, value in obj.items():
                if key in model.fields:
                    self.walk(value, model.fields[key], f"{path}.{key}")
        else:
            definition = self.k8s_definition(type_name)
            if not self.expect(definition is not None, path, f"no schema for type {type_name}"):
                return
            schema = {"$ref": f"https://kubernetes.io/api/_definitions.json#/$defs/{definition}"}
            validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
            for e in validator.iter_errors(obj):
                where = ".".join(str(p) for p in e.absolute_path)
                self.errors.append(f"{path}{'.' + where if where else ''}: {e.message} ({definition})")

    def expect(self, ok, path, message):
        if not ok:
            self.errors.append(f"{path}: {message}")
        return ok


def test_inference_service_matches_kserve_api_types(isvc, kserve_types, k8s_definitions):
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    w = Walker(kserve_types, k8s_definitions)
    w.walk(isvc, "V1beta1InferenceService", "InferenceService")
    assert not w.errors, "\n".join(w.errors)


def test_the_type_check_is_not_vacuous(isvc, kserve_types, k8s_definitions):
    """protocolVersion belongs to a model spec, not a custom predictor; a bad probe port type fails."""
    bad = copy.deepcopy(isvc)
    bad["spec"]["predictor"]["protocolVersion"] = "v2"
    bad["spec"]["predictor"]["containers"][0]["readinessProbe"]["httpGet"]["prot"] = 8080
    w = Walker(kserve_types, k8s_definitions)
    w.walk(bad, "V1beta1InferenceService", "InferenceService")
    joined = "\n".join(w.errors)
    assert "predictor.protocolVersion: unknown field" in joined
    assert "prot" in joined


def test_custom_predictor_contract(isvc):
    """What KServe expects of a custom predictor, and what Weir needs to act as one."""
    pred = isvc["spec"]["predictor"]
    assert "model" not in pred, "a custom predictor is a container, not a model spec"
    (c,) = pred["containers"]
    assert c["name"] == "kserve-container"
    assert deploylib.is_weir_image(c["image"])
    assert [p["containerPort"] for p in c["ports"]] == [8080]
    args = c["args"]
    assert args[:2] == ["models", "serve"]
    assert args[args.index("--port") + 1] == "8080"
    assert args[args.index("--host") + 1] == "0.0.0.0"
    # KServe reads a custom container's protocol from this variable (V2 = Open Inference Protocol).
    assert deploylib.env_value(c, "PROTOCOL") == "v2"
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert pred.get("minReplicas", 0) >= 1, "scale-to-zero would drop the loaded model and its alias watch"
    ann = pred.get("annotations", {})
    assert ann.get("prometheus.kserve.io/port") == "8080" and ann.get("prometheus.kserve.io/path") == "/metrics"
