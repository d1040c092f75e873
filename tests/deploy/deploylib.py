"""Readers for the deployment files, shared by the tests in tests/deploy/.

Everything here parses; nothing asserts. The tests decide what must hold.

- manifests: the YAML under k8s/, file by file and as kustomize would build it
- weir's --help: flags, short flags, value names, `[env: X=]` annotations and possible values
- command lines that run weir: in manifests (args), the Dockerfile (CMD and its comments) and the
  docs (shell blocks, `docker run ... IMAGE ...`)
- the Dockerfile: stages, instructions with continuations, ARG substitution in FROM
- the KServe SDK's generated models (the CRD's OpenAPI types), read from the pinned wheel

Run as a module for the one fact scripts/check-deploy.sh needs from the Dockerfile:
    python tests/deploy/deploylib.py cargo-command     ->  cargo build --release --locked
"""

import ast
import fnmatch
import glob
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "k8s")
CACHE = os.environ.get("WEIR_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "weir")

# Env var prefixes whose names are Weir's business: they must appear in weir's --help.
CHECKED_ENV_PREFIXES = ("WEIR_", "MLFLOW_", "ORT_", "AWS_")


# --------------------------------------------------------------------------------------------
# Manifests


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kustomization_dirs():
    """Every directory under k8s/ that holds a kustomization.yaml, the base first."""
    dirs = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(K8S, "**", "kustomization.yaml"), recursive=True))
    return sorted(dirs, key=lambda d: (d != K8S, d))


def manifest_files():
    """Every YAML file under k8s/ that is not a kustomization."""
    files = glob.glob(os.path.join(K8S, "**", "*.yaml"), recursive=True)
    return sorted(f for f in files if os.path.basename(f) != "kustomization.yaml")


def build_kustomization(directory):
    """A small kustomize: the `resources` files with `namespace` and `images` applied.

    Enough for these manifests (no patches, generators or remote bases), and what the tests use
    when kubectl is absent; with kubectl the tests compare this against `kubectl kustomize`.
    """
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        kust = yaml.safe_load(f)
    out = []
    for res in kust.get("resources", []):
        path = os.path.join(directory, res)
        if os.path.isdir(path):
            out.extend(build_kustomization(path))
            continue
        out.extend(load_yaml_docs(path))
    ns = kust.get("namespace")
    images = {i["name"]: i for i in kust.get("images", [])}
    for doc in out:
        if ns and doc["kind"] != "Namespace":
            doc.setdefault("metadata", {})["namespace"] = ns
        for c in containers_of(doc):
            name, _, tag = c.get("image", "").partition(":")
            if name in images:
                img = images[name]
                c["image"] = f"{img.get('newName', name)}:{img.get('newTag', tag or 'latest')}"
    return out


def kubectl_kustomize(directory):
    """`kubectl kustomize DIR` as a list of documents, or None without kubectl."""
    try:
        out = subprocess.run(["kubectl", "kustomize", directory], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def pod_spec_of(doc):
    """The pod spec of a workload, or of a KServe predictor (a pod spec plus KServe fields)."""
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return spec.get("template", {}).get("spec")
    if kind == "Pod":
        return spec
    if kind == "InferenceService":
        return spec.get("predictor")
    return None


def pod_labels_of(doc):
    kind = doc.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return doc["spec"]["template"].get("metadata", {}).get("labels", {})
    return {}


def containers_of(doc):
    pod = pod_spec_of(doc) or {}
    return list(pod.get("containers") or []) + list(pod.get("initContainers") or [])


def is_weir_image(image):
    """`weir`, `weir:tag`, `registry/path/weir:tag` (not `weird`, not `postgres`)."""
    name = image.rsplit("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0] == "weir"


def env_value(container, name):
    for e in container.get("env") or []:
        if e.get("name") == name:
            return e.get("value")
    return None


# --------------------------------------------------------------------------------------------
# weir --help


@dataclass
class Option:
    long: str
    short: str = None
    value: str = None  # "required", "optional" or None (a switch)
    env: str = None
    possible: list = field(default_factory=list)
    text: str = ""


@dataclass
class Command:
    path: tuple
    options: dict  # "--long" and "-s" -> Option
    subcommands: list
    text: str
    envs: set  # every [env: X=] of this command (options and positionals)

    def mentions(self, name):
        return re.search(r"(?<![A-Z0-9_])" + re.escape(name) + r"(?![A-Z0-9_])", self.text) is not None


OPTION_LINE = re.compile(r"^\s{2,8}(?:(-[A-Za-z0-9]), )?(--[a-z0-9][a-z0-9-]*)?(?: (<[A-Z0-9_]+>|\[<[A-Z0-9_]+>\]))?\s*$")
SHORT_ONLY = re.compile(r"^\s{2,8}(-[A-Za-z0-9])(?: (<[A-Z0-9_]+>|\[<[A-Z0-9_]+>\]))?\s*$")


def parse_help(path, text):
    options = {}
    subcommands = []
    envs = set(re.findall(r"\[env: ([A-Z0-9_]+)=", text))
    section = None
    current = None
    for line in text.splitlines():
        header = re.match(r"^([A-Z][A-Za-z ]*):\s*$", line)
        if header:
            section = header.group(1)
            current = None
            continue
        if section == "Commands":
            m = re.match(r"^  ([a-z0-9][a-z0-9-]*)\s", line + " ")
            if m and not line.startswith("   "):
                subcommands.append(m.group(1))
            continue
        if section == "Options":
            m = OPTION_LINE.match(line) if line.strip().startswith("-") else None
            if m and (m.group(1) or m.group(2)):
                short, long_, val = m.group(1), m.group(2), m.group(3)
                value = None if not val else ("optional" if val.startswith("[") else "required")
                current = Option(long=long_, short=short, value=value)
                for key in (long_, short):
                    if key:
                        options[key] = current
                continue
            if current is not None:
                current.text += line.strip() + "\n"
                env = re.search(r"\[env: ([A-Z0-9_]+)=", line)
                if env:
                    current.env = env.group(1)
                pv = re.search(r"\[possible values: ([^\]]+)\]", line)
                if pv:
                    current.possible = [v.strip() for v in pv.group(1).split(",")]
                item = re.match(r"^\s+- ([a-z0-9-]+):", line)
                if item:
                    current.possible.append(item.group(1))
    return Command(path=tuple(path), options=options, subcommands=[s for s in subcommands if s != "help"], text=text, envs=envs)


def weir_bin():
    return os.environ.get("WEIR_BIN") or os.path.join(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release", "weir")


def run_help(binary, path):
    # A clean environment: clap prints `[env: X=value]` for variables that are set.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COLUMNS": "100"}
    out = subprocess.run([binary, *path, "--help"], check=True, capture_output=True, text=True, env=env, timeout=30)
    return out.stdout


def load_cli(binary):
    """Walk weir's command tree through --help: {("server",): Command, ("models", "serve"): ...}."""
    tree = {}

    def walk(path):
        cmd = parse_help(path, run_help(binary, path))
        tree[tuple(path)] = cmd
        for sub in cmd.subcommands:
            walk([*path, sub])

    walk([])
    return tree


# --------------------------------------------------------------------------------------------
# Command lines that run weir


@dataclass
class Usage:
    where: str  # "k8s/serving.yaml: Deployment/weir-serving container weir"
    argv: list  # after `weir`
    env: dict  # name -> value (None when from a Secret)


def usages_in_manifests():
    out = []
    for path in manifest_files():
        rel = os.path.relpath(path, ROOT)
        for doc in load_yaml_docs(path):
            for c in containers_of(doc):
                if not is_weir_image(c.get("image", "")):
                    continue
                argv = [str(a) for a in (c.get("command") or [])[1:]] + [str(a) for a in c.get("args") or []]
                env = {e["name"]: e.get("value") for e in c.get("env") or []}
                where = f"{rel}: {doc['kind']}/{doc['metadata']['name']} container {c['name']}"
                out.append(Usage(where, argv, env))
    return out


def shell_commands(text):
    """Logical command lines from shell text: continuations joined, comments and prompts dropped."""
    lines = []
    buf = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if buf:
            line = line.strip()
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        lines.append(buf.strip())
        buf = ""
    if buf:
        lines.append(buf.strip())
    out = []
    for line in lines:
        line = re.sub(r"^\$\s+", "", line)
        if not line or line.startswith("#"):
            continue
        out.append(line)
    return out


def weir_argv(command, image_cmd=()):
    """If this shell command runs weir, return (argv after weir, env assignments); else None.

    Recognised: `[VAR=x ...] weir ...`, `[VAR=x ...] ./target/release/weir ...`, and
    `docker run [-e VAR=x ...] [opts] IMAGE [args]` where IMAGE is a weir image; without args
    the image's CMD (`image_cmd`) runs.
    """
    # Only the first command of a pipeline or list, and stop at a comment.
    try:
        tokens = shlex.split(command, comments=True)
    except ValueError:
        return None
    for i, t in enumerate(tokens):
        if t in ("|", "&&", "||", ";", "&"):
            tokens = tokens[:i]
            break
    env = {}
    i = 0
    while i < len(tokens) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[i]):
        k, _, v = tokens[i].partition("=")
        env[k] = v
        i += 1
    if i < len(tokens) and (tokens[i] == "weir" or tokens[i].endswith("/weir")):
        return tokens[i + 1:], env
    if tokens[i:i + 2] == ["docker", "run"]:
        j = i + 2
        takes_value = {"-p", "--publish", "-v", "--volume", "--name", "--network", "-w", "--workdir",
                       "--user", "-u", "--entrypoint", "--platform", "--mount", "--env-file"}
        while j < len(tokens) and tokens[j].startswith("-"):
            t = tokens[j]
            if t in ("-e", "--env"):
                k, _, v = tokens[j + 1].partition("=")
                env[k] = v or None
                j += 2
            elif t.startswith("--env="):
                k, _, v = t[len("--env="):].partition("=")
                env[k] = v or None
                j += 1
            elif t in takes_value:
                j += 2
            else:
                j += 1
        if j < len(tokens) and is_weir_image(tokens[j]):
            return (tokens[j + 1:] or list(image_cmd)), env
    return None


def fenced_blocks(markdown):
    """(language, body) of every ``` block."""
    return re.findall(r"^```([A-Za-z0-9_-]*)[^\n]*\n(.*?)^```", markdown, flags=re.M | re.S)


def image_cmd():
    """The argv the image runs by default: its CMD (ENTRYPOINT is weir)."""
    df = parse_dockerfile(os.path.join(ROOT, "Dockerfile"))
    return df.stages[-1].json_instruction("CMD") or []


def usages_in_docs(path):
    rel = os.path.relpath(path, ROOT)
    default = image_cmd()
    with open(path) as f:
        md = f.read()
    out = []
    for lang, body in fenced_blocks(md):
        if lang not in ("", "sh", "bash", "shell", "console"):
            continue
        for cmd in shell_commands(body):
            got = weir_argv(cmd, default)
            if got:
                out.append(Usage(f"{rel}: {cmd}", got[0], got[1]))
    return out


def usages_in_dockerfile(dockerfile):
    """The image's default command, plus the example command lines in its comments."""
    out = []
    final = dockerfile.stages[-1]
    entry = final.json_instruction("ENTRYPOINT") or []
    cmd = final.json_instruction("CMD") or []
    if entry[:1] == ["weir"]:
        env = {k: v for k, v in dockerfile.env(final).items()}
        out.append(Usage("Dockerfile: ENTRYPOINT + CMD", entry[1:] + cmd, env))
    comment_text = "\n".join(re.sub(r"^#\s?", "", c) for c in dockerfile.comments)
    for line in shell_commands(comment_text):
        got = weir_argv(line, cmd)
        if got:
            out.append(Usage(f"Dockerfile comment: {line}", got[0], got[1]))
    return out


# --------------------------------------------------------------------------------------------
# Dockerfile


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str  # after ARG substitution
    name: str
    platform: str
    instructions: list

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]

    def json_instruction(self, keyword):
        found = self.all(keyword)
        return json.loads(found[-1].args) if found else None


@dataclass
class Dockerfile:
    stages: list
    global_args: dict
    comments: list

    def stage(self, name):
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def env(self, stage):
        out = {}
        for ins in stage.all("ENV"):
            for tok in shlex.split(ins.args):
                k, _, v = tok.partition("=")
                out[k] = v
        return out


def parse_dockerfile(path):
    with open(path) as f:
        raw = f.read().splitlines()
    comments = []
    logical = []  # (line number, text)
    buf, start = "", None
    for n, line in enumerate(raw, 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            if not buf:
                comments.append(stripped)
            continue  # comment lines inside a continuation are dropped, as docker does
        if not stripped and not buf:
            continue
        if start is None:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1].rstrip() + " "
            continue
        buf += stripped
        logical.append((start, buf))
        buf, start = "", None
    global_args, stages = {}, []
    for n, text in logical:
        keyword, _, args = text.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "FROM":
            platform = None
            toks = args.split()
            if toks[0].startswith("--platform="):
                platform = toks.pop(0).split("=", 1)[1]
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args.get(m.group(1) or m.group(2), m.group(0)), toks[0])
            name = toks[2] if len(toks) >= 3 and toks[1].upper() == "AS" else None
            stages.append(Stage(base, name, platform, []))
            continue
        if not stages:
            if keyword == "ARG":
                k, _, v = args.partition("=")
                global_args[k] = v
            continue
        stages[-1].instructions.append(Instruction(keyword, args, n))
    return Dockerfile(stages, global_args, comments)


def cargo_commands(text):
    """`cargo ...` commands in a RUN line, split on && ; and |."""
    parts = re.split(r"&&|;|\|\|", text)
    out = []
    for p in parts:
        toks = shlex.split(p)
        # skip RUN options such as --mount=...
        while toks and toks[0].startswith("--"):
            toks.pop(0)
        if toks[:1] == ["cargo"]:
            out.append(toks)
    return out


def dockerfile_cargo_command(path=None):
    df = parse_dockerfile(path or os.path.join(ROOT, "Dockerfile"))
    found = [c for s in df.stages for ins in s.all("RUN") for c in cargo_commands(ins.args)]
    if len(found) != 1:
        raise SystemExit(f"expected exactly one cargo command in the Dockerfile, found {found}")
    return found[0]


def dockerignore_patterns(path):
    pats = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(line)
    return pats


def dockerignored(patterns, relpath):
    """Whether `relpath` (or a parent directory) is excluded. Last matching pattern wins, `!` re-includes."""
    parts = relpath.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        for cand in candidates:
            if fnmatch.fnmatchcase(cand, p) or (p.startswith("**/") and (fnmatch.fnmatchcase(cand, p[3:]) or fnmatch.fnmatchcase(cand.split("/")[-1], p[3:]))):
                excluded = not neg
                break
    return excluded


# --------------------------------------------------------------------------------------------
# KServe SDK models (the InferenceService CRD's OpenAPI types)

KSERVE_VERSION = "0.21.0"
KSERVE_WHEEL_SHA256 = "df9bc5888704d9085015e08f1a8fced5ff0698f3becc6212d4e7b8234c71623b"


def kserve_wheel():
    """The pinned kserve wheel, downloaded once (no dependencies; it is only read, never imported)."""
    d = os.path.join(CACHE, "wheels")
    name = f"kserve-{KSERVE_VERSION}-py3-none-any.whl"
    path = os.path.join(d, name)
    if not os.path.exists(path):
        os.makedirs(d, exist_ok=True)
        req = os.path.join(d, f"kserve-{KSERVE_VERSION}.requirements.txt")
        with open(req, "w") as f:
            f.write(f"kserve=={KSERVE_VERSION} --hash=sha256:{KSERVE_WHEEL_SHA256}\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        "--no-deps", "--only-binary=:all:", "--require-hashes", "-r", req, "-d", d], check=True)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != KSERVE_WHEEL_SHA256:
        raise RuntimeError(f"{path}: sha256 {digest} is not the pinned {KSERVE_WHEEL_SHA256}")
    return path


@dataclass
class ModelType:
    name: str
    fields: dict  # json key -> type string
    required: set  # json keys


def kserve_models(wheel=None):
    """{class name: ModelType} from kserve/models/*.py, read with `ast` (nothing is imported)."""
    models = {}
    with zipfile.ZipFile(wheel or kserve_wheel()) as z:
        for n in z.namelist():
            if not (n.startswith("kserve/models/") and n.endswith(".py")):
                continue
            src = z.read(n).decode()
            for node in ast.parse(src).body:
                if not isinstance(node, ast.ClassDef):
                    continue
                types = amap = None
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                        if stmt.targets[0].id == "openapi_types":
                            types = ast.literal_eval(stmt.value)
                        elif stmt.targets[0].id == "attribute_map":
                            amap = ast.literal_eval(stmt.value)
                if types is None or amap is None:
                    continue
                required = {amap[a] for a in re.findall(r"Invalid value for `(\w+)`, must not be `None`", src) if a in amap}
                models[node.name] = ModelType(node.name, {amap[k]: t for k, t in types.items()}, required)
    return models


if __name__ == "__main__":
    if sys.argv[1:] == ["cargo-command"]:
        print(shlex.join(dockerfile_cargo_command()))
    else:
        raise SystemExit(__doc__)
