"""k8s/: schemas, kustomize, and the cross-references a schema cannot see."""

import os
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

import deploylib
from deploylib import ROOT, containers_of, env_value, is_weir_image, pod_labels_of, pod_spec_of

# The oldest Kubernetes the manifests support (preStop `sleep` is on by default from 1.30) and
# the newest whose schemas kubernetes-validate bundles.
K8S_VERSIONS = ["1.30", "1.37"]
# Kinds from CRDs; checked by test_kserve.py and below instead of by the Kubernetes schemas.
CRD_KINDS = {"InferenceService", "ServiceMonitor"}


def ident(doc):
    return f"{doc['kind']}/{doc['metadata']['name']}"


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, name):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


# ---------------------------------------------------------------------------------------------
# Files and kustomize


def test_every_manifest_is_listed_in_a_kustomization():
    listed = set()
    for d in deploylib.kustomization_dirs():
        with open(os.path.join(d, "kustomization.yaml")) as f:
            for res in yaml.safe_load(f).get("resources", []):
                path = os.path.normpath(os.path.join(d, res))
                assert os.path.exists(path), f"{d}/kustomization.yaml lists missing {res}"
                listed.add(path)
    unlisted = [os.path.relpath(f, ROOT) for f in deploylib.manifest_files() if os.path.normpath(f) not in listed]
    assert not unlisted, f"manifests no kustomization applies: {unlisted}"


def test_base_needs_no_crds(base):
    """`kubectl apply -k k8s/` must work on a cluster without KServe or the Prometheus Operator."""
    assert not [ident(d) for d in base if d["kind"] in CRD_KINDS]


@pytest.mark.parametrize("directory", deploylib.kustomization_dirs(), ids=lambda d: os.path.relpath(d, ROOT))
def test_kubectl_kustomize_builds_the_same_resources(directory):
    built = deploylib.kubectl_kustomize(directory)
    if built is None:
        pytest.skip("kubectl is not installed; the YAML-level build is checked by the other tests")
    mine = deploylib.build_kustomization(directory)
    key = lambda d: (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])  # noqa: E731
    assert sorted(map(key, built)) == sorted(map(key, mine))
    images = lambda docs: sorted(c["image"] for d in docs for c in containers_of(d))  # noqa: E731
    assert images(built) == images(mine)


def test_everything_lives_in_the_weir_namespace(everything):
    for doc in everything:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == "weir"
        else:
            assert doc["metadata"].get("namespace") == "weir", ident(doc)


# ---------------------------------------------------------------------------------------------
# Kubernetes schemas


def schema_cases():
    cases = []
    for path in deploylib.manifest_files():
        for doc in deploylib.load_yaml_docs(path):
            if doc["kind"] not in CRD_KINDS:
                for v in K8S_VERSIONS:
                    cases.append(pytest.param(doc, v, id=f"{os.path.relpath(path, ROOT)}:{ident(doc)}@{v}"))
    return cases


@pytest.mark.parametrize("doc,version", schema_cases())
def test_manifest_validates_against_kubernetes_schema(doc, version):
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        pytest.fail(f"{ident(doc)} against Kubernetes {version}: {path}: {e.message}")


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubectl_kustomize_output_validates(version):
    built = deploylib.kubectl_kustomize(deploylib.K8S)
    if built is None:
        pytest.skip("kubectl is not installed")
    for doc in built:
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_typo():
    """The validator is not vacuous: an unknown field in a container is rejected."""
    doc = deploylib.load_yaml_docs(os.path.join(ROOT, "k8s", "server.yaml"))[0]
    doc["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises((kubernetes_validate.ValidationError, jsonschema.ValidationError)):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


# ---------------------------------------------------------------------------------------------
# Pods: security, resources, probes, shutdown


def workloads(docs):
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


def test_pods_run_unprivileged(base):
    for doc in workloads(base):
        pod = pod_spec_of(doc)
        psc = pod.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, ident(doc)
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", ident(doc)
        assert pod.get("automountServiceAccountToken") is False, ident(doc)
        for c in pod["containers"]:
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, f"{ident(doc)} {c['name']}"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{ident(doc)} {c['name']}"
            if is_weir_image(c["image"]):
                assert sc.get("readOnlyRootFilesystem") is True, f"{ident(doc)} {c['name']}"


def test_weir_runs_as_the_images_user(base, dockerfile):
    """runAsUser must be the Dockerfile's USER, or files the image owns (/var/lib/weir) are not writable."""
    user = dockerfile.stages[-1].all("USER")[-1].args
    uid, _, gid = user.partition(":")
    for doc in workloads(base):
        if any(is_weir_image(c["image"]) for c in pod_spec_of(doc)["containers"]):
            psc = pod_spec_of(doc)["securityContext"]
            assert str(psc["runAsUser"]) == uid and str(psc.get("runAsGroup", gid)) == (gid or uid), ident(doc)


def test_containers_have_requests_and_limits(base):
    for doc in workloads(base):
        for c in pod_spec_of(doc)["containers"]:
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{ident(doc)} {c['name']} {kind}"


def port_numbers(container):
    return {p.get("name"): p["containerPort"] for p in container.get("ports", [])}


def resolve_port(container, port):
    ports = port_numbers(container)
    if isinstance(port, int):
        assert port in ports.values(), f"{container['name']}: port {port} is not a containerPort"
        return port
    assert port in ports, f"{container['name']}: no port named {port}"
    return ports[port]


def flag_value(argv, long, short=None):
    for i, a in enumerate(argv):
        if a == long or (short and a == short):
            return argv[i + 1]
        if a.startswith(long + "="):
            return a.split("=", 1)[1]
    return None


def weir_containers(docs):
    for doc in docs:
        for c in containers_of(doc):
            if is_weir_image(c["image"]):
                yield doc, c


def test_weir_listens_on_its_container_port(everything):
    for doc, c in weir_containers(everything):
        argv = [str(a) for a in c.get("args", [])]
        assert flag_value(argv, "--host") == "0.0.0.0", f"{ident(doc)}: listen on all interfaces in a pod"
        port = int(flag_value(argv, "--port", "-p"))
        assert list(port_numbers(c).values()) == [port], f"{ident(doc)}: --port {port} vs containerPort"


EXPECTED_PROBES = {
    # role: (liveness path, readiness path)
    "server": ("/health", "/health"),
    "serve": ("/v2/health/live", "/health"),
}


def test_probes(everything):
    for doc, c in weir_containers(everything):
        role = "server" if c["args"][0] == "server" else "serve"
        live, ready = EXPECTED_PROBES[role]
        if doc["kind"] == "InferenceService":
            ready = "/v2/health/ready"  # KServe's V2 readiness
        assert c["livenessProbe"]["httpGet"]["path"] == live, ident(doc)
        assert c["readinessProbe"]["httpGet"]["path"] == ready, ident(doc)
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe in c:
                resolve_port(c, c[probe]["httpGet"]["port"])


def test_shutdown_budget_is_consistent(base):
    """preStop sleep (if any) + WEIR_SHUTDOWN_DELAY (the drain) + WEIR_SHUTDOWN_TIMEOUT + margin
    must fit in terminationGracePeriodSeconds, or the kubelet kills weir while it is still
    draining requests."""
    margin = 5
    for doc, c in weir_containers(base):
        pod = pod_spec_of(doc)
        grace = pod.get("terminationGracePeriodSeconds", 30)
        sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        timeout = env_value(c, "WEIR_SHUTDOWN_TIMEOUT")
        assert timeout is not None, f"{ident(doc)}: set WEIR_SHUTDOWN_TIMEOUT to match the grace period"
        # The binary's default drain is 5 s when the variable is not set.
        delay = float(env_value(c, "WEIR_SHUTDOWN_DELAY") or 5)
        assert delay >= 1, f"{ident(doc)}: a drain under 1 s loses requests behind a Service"
        assert sleep + delay + int(timeout) + margin <= grace, (
            f"{ident(doc)}: preStop {sleep}s + WEIR_SHUTDOWN_DELAY {delay}s + "
            f"WEIR_SHUTDOWN_TIMEOUT {timeout}s + {margin}s > grace {grace}s"
        )


def test_prometheus_annotations_point_at_the_metrics_port(base):
    for doc, c in weir_containers(base):
        ann = doc["spec"]["template"]["metadata"].get("annotations", {})
        assert ann.get("prometheus.io/scrape") == "true", ident(doc)
        assert ann.get("prometheus.io/path") == "/metrics", ident(doc)
        assert int(ann["prometheus.io/port"]) in port_numbers(c).values(), ident(doc)


def test_writable_paths_are_volumes(base):
    """With a read-only root filesystem, the working directory, /tmp and the model cache must be mounts."""
    for doc, c in weir_containers(base):
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        assert {"/var/lib/weir", "/tmp"} <= mounts, ident(doc)
        cache = env_value(c, "WEIR_MODEL_CACHE")
        if cache:
            assert any(cache == m or cache.startswith(m + "/") for m in mounts), f"{ident(doc)}: {cache}"


def test_weir_replicas(base):
    assert one(base, "Deployment", "weir-server")["spec"]["replicas"] == 2
    assert one(base, "Deployment", "weir-serving")["spec"]["replicas"] >= 2


# ---------------------------------------------------------------------------------------------
# Cross-references


def test_services_select_pods_and_ports_exist(base):
    for svc in by_kind(base, "Service"):
        sel = svc["spec"]["selector"]
        pods = [d for d in workloads(base) if sel.items() <= pod_labels_of(d).items()]
        assert pods, f"{ident(svc)} selects no pods"
        for d in pods:
            assert d["spec"]["selector"]["matchLabels"].items() <= pod_labels_of(d).items()
            for port in svc["spec"]["ports"]:
                tp = port.get("targetPort", port["port"])
                assert any(
                    tp in port_numbers(c).values() or tp in port_numbers(c) for c in pod_spec_of(d)["containers"]
                ), f"{ident(svc)} targetPort {tp} not in {ident(d)}"


def test_secret_references_exist(base):
    secrets = {s["metadata"]["name"]: s for s in by_kind(base, "Secret")}
    for doc in workloads(base):
        for c in pod_spec_of(doc)["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if not ref:
                    continue
                s = secrets.get(ref["name"])
                assert s, f"{ident(doc)}: no Secret {ref['name']}"
                keys = set(s.get("stringData", {})) | set(s.get("data", {}))
                assert ref["key"] in keys or ref.get("optional"), f"{ident(doc)}: no key {ref['key']}"


def test_secret_holds_only_placeholders(base):
    """The committed Secret must never carry a real credential."""
    for s in by_kind(base, "Secret"):
        values = dict(s.get("stringData", {}))
        secret_keys = [k for k in values if "password" in k or "secret" in k or "access" in k]
        assert secret_keys
        for k in secret_keys:
            assert values[k].startswith("CHANGE-ME"), f"{ident(s)} {k} is not a placeholder"


def test_tracking_server_reaches_postgres(base):
    server = one(base, "Deployment", "weir-server")
    c = server["spec"]["template"]["spec"]["containers"][0]
    uri = flag_value(c["args"], "--backend-store-uri")
    m = re.match(r"^postgresql://\$\(POSTGRES_USER\):\$\(POSTGRES_PASSWORD\)@([^:/]+):(\d+)/(\w+)$", uri)
    assert m, uri
    host, port, db = m.group(1), int(m.group(2)), m.group(3)
    # The kubelet expands $(VAR) in args from the container's env; an undefined one stays literal.
    env_names = {e["name"] for e in c["env"]}
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD"} <= env_names
    svc = one(base, "Service", host)
    assert svc["spec"]["clusterIP"] == "None" and port in [p["port"] for p in svc["spec"]["ports"]]
    pg = one(base, "StatefulSet", "postgres")
    assert pg["spec"]["serviceName"] == host
    assert pg["spec"]["volumeClaimTemplates"], "PostgreSQL needs a persistent volume"
    assert env_value(pg["spec"]["template"]["spec"]["containers"][0], "POSTGRES_DB") == db
    dest = flag_value(c["args"], "--artifacts-destination")
    assert dest.startswith("s3://"), dest


def tracking_url(base):
    svc = one(base, "Service", "weir-server")
    return f"http://{svc['metadata']['name']}.{svc['metadata']['namespace']}:{svc['spec']['ports'][0]['port']}"


def test_model_servers_point_at_the_tracking_service(everything, base):
    url = tracking_url(base)
    found = 0
    for doc, c in weir_containers(everything):
        if c["args"][:2] == ["models", "serve"]:
            found += 1
            assert env_value(c, "MLFLOW_TRACKING_URI") == url, ident(doc)
            assert flag_value(c["args"], "--model-uri", "-m") == "models:/iris-classifier@champion"
    assert found == 2  # the plain Deployment and the KServe predictor


def test_ingress(base):
    ing = one(base, "Ingress", "weir")
    ann = ing["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/auth-type"] == "basic"
    assert ann["nginx.ingress.kubernetes.io/auth-secret"]
    assert ann["nginx.ingress.kubernetes.io/proxy-body-size"] == "0", "artifact uploads go through Weir"
    hosts = {h for t in ing["spec"]["tls"] for h in t["hosts"]}
    for rule in ing["spec"]["rules"]:
        assert rule["host"] in hosts, "every host is served over TLS"
        for p in rule["http"]["paths"]:
            backend = p["backend"]["service"]
            svc = one(base, "Service", backend["name"])
            names = [sp.get("name") for sp in svc["spec"]["ports"]]
            assert backend["port"].get("name") in names or backend["port"].get("number") in [
                sp["port"] for sp in svc["spec"]["ports"]
            ]


def test_service_monitor_selects_weir_services(everything, base):
    sm = one(everything, "ServiceMonitor", "weir")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["spec"]["namespaceSelector"]["matchNames"] == ["weir"]
    sel = sm["spec"]["selector"]["matchLabels"]
    selected = [s for s in by_kind(base, "Service") if sel.items() <= s["metadata"].get("labels", {}).items()]
    assert {s["metadata"]["name"] for s in selected} == {"weir-server", "weir-serving"}
    for ep in sm["spec"]["endpoints"]:
        assert ep["path"] == "/metrics"
        for s in selected:
            assert ep["port"] in [p.get("name") for p in s["spec"]["ports"]], ident(s)
