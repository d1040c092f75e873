"""Every weir command line in k8s/, the Dockerfile and docs/kubernetes.md is one the binary accepts.

The binary's own --help is the reference (WEIR_BIN): subcommands, long and short flags, whether a
flag takes a value, enumerated values, and the `[env: X=]` annotations. Env vars with Weir's
prefixes (WEIR_, MLFLOW_, ORT_, AWS_) given to a weir process must be read by that subcommand: an
`[env: X=]` of it, or named in its help text (MLFLOW_S3_ENDPOINT_URL, ORT_DYLIB_PATH, AWS_*).
"""

import os

import pytest

import deploylib
from deploylib import CHECKED_ENV_PREFIXES, ROOT

DOCS = os.path.join(ROOT, "docs", "kubernetes.md")


def all_usages():
    usages = deploylib.usages_in_manifests()
    usages += deploylib.usages_in_dockerfile(deploylib.parse_dockerfile(os.path.join(ROOT, "Dockerfile")))
    if os.path.exists(DOCS):
        usages += deploylib.usages_in_docs(DOCS)
    return usages


USAGES = all_usages()


def check_usage(cli, usage):
    """Return the problems with one weir command line, as messages."""
    problems = []
    argv = list(usage.argv)
    path = []
    node = cli[()]
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok.startswith("-") and tok != "-":
            name, eq, value = tok.partition("=")
            opt = node.options.get(name)
            if opt is None:
                problems.append(f"`weir {' '.join(path)}` has no option {name}")
                i += 1
                continue
            if opt.value == "required":
                if not eq:
                    if i + 1 >= len(argv):
                        problems.append(f"{name} needs a value")
                        break
                    value = argv[i + 1]
                    i += 1
            elif opt.value == "optional":
                if not eq and i + 1 < len(argv) and argv[i + 1] in opt.possible:
                    value = argv[i + 1]
                    i += 1
                elif not eq:
                    value = None
            elif eq:
                problems.append(f"{name} takes no value")
            if value is not None and opt.possible and "$(" not in value and value not in opt.possible:
                problems.append(f"{name} {value!r}: not one of {opt.possible}")
            i += 1
            continue
        if node.subcommands:
            if tok not in node.subcommands:
                problems.append(f"`weir {' '.join(path)}` has no subcommand {tok!r} (has {node.subcommands})")
                return problems
            path.append(tok)
            node = cli[tuple(path)]
        i += 1  # a positional argument (e.g. `db upgrade URI`)
    if node.subcommands:
        problems.append(f"`weir {' '.join(path)}` needs a subcommand: {node.subcommands}")
    for name, value in usage.env.items():
        if not name.startswith(CHECKED_ENV_PREFIXES):
            continue
        if name in node.envs:
            opt = next((o for o in node.options.values() if o.env == name), None)
            if opt and opt.possible and value is not None and value not in opt.possible:
                problems.append(f"{name}={value!r}: not one of {opt.possible}")
        elif not node.mentions(name):
            problems.append(f"`weir {' '.join(path)}` reads no env var {name}")
    return problems


@pytest.mark.parametrize("usage", USAGES, ids=[u.where[:120] for u in USAGES])
def test_command_line_is_accepted(weir_cli, usage):
    problems = check_usage(weir_cli, usage)
    assert not problems, f"{usage.where}:\n  " + "\n  ".join(problems)


def test_usages_were_found():
    """The collectors found the command lines they are meant to find."""
    wheres = " ".join(u.where for u in USAGES)
    for expected in ("k8s/server.yaml", "k8s/serving.yaml", "k8s/kserve/inferenceservice.yaml", "Dockerfile: ENTRYPOINT"):
        assert expected in wheres
    if os.path.exists(DOCS):
        assert sum(u.where.startswith("docs/") for u in USAGES) >= 3


def test_checker_rejects_what_the_binary_would(weir_cli):
    """The checker is not vacuous."""
    U = deploylib.Usage
    bad = [
        U("x", ["server", "--model-uri", "m"], {}),  # a `models serve` flag on `server`
        U("x", ["models", "serve", "-m", "m", "--backend", "gpu"], {}),  # not a possible value
        U("x", ["models"], {}),  # incomplete
        U("x", ["serve"], {}),  # no such subcommand
        U("x", ["server"], {"WEIR_MODEL_URI": "m"}),  # env var of another subcommand
        U("x", ["server"], {"WEIR_LOG_FORMAT": "yaml"}),
        U("x", ["server", "--no-serve-artifacts=true"], {}),
    ]
    for usage in bad:
        assert check_usage(weir_cli, usage), usage
    good = U("x", ["--log-format", "json", "server", "--serve-artifacts", "-p", "5000"], {"WEIR_LOG": "debug"})
    assert not check_usage(weir_cli, good)
