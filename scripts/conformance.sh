#!/usr/bin/env bash
# MLflow's own REST test suite against `weir server`: a local compatibility check.
#
#   scripts/conformance.sh --tests DIR [--python PY] [--backend sqlite|postgresql]
#                          [--out DIR] [-- pytest args]
#
#   --tests    MLflow's test tree (a directory holding tests/ and pyproject.toml), extracted by
#              the harness's setup.sh from a git directory of mlflow/mlflow. MLflow's tests are
#              MLflow's code: they are never copied into this repository.
#   --python   a python with mlflow 3.12.0 and pytest (setup.sh --venv makes one);
#              default ~/.cache/weir/conformance-venv/bin/python.
#   --backend  sqlite (default): a fresh SQLite file per test server; postgresql: a fresh
#              database on 127.0.0.1:5432 per test server, dropped when it stops.
#   --out      where results.json and the server logs go (default /tmp/weir-conformance-<backend>).
# The harness comes from ${WEIR_CONFORMANCE_HARNESS:-../shared/mlflow-conformance}. The binary is
# ${WEIR_BIN:-${CARGO_TARGET_DIR:-target}/release/weir}, built first unless WEIR_BIN is set.
#
# Prints the harness's table, then the score over the harness's scope-core.txt (the tests that
# bear on tracking, the registry, artifacts and logged models) and each in-scope test that failed,
# then the score of MLflow's webhook tests (test_client_webhooks.py, test_rest_store_webhooks.py).
set -uo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

repo=$(cd "$(dirname "$0")/.." && pwd)

# Test servers stop at once on SIGTERM (no load-balancer drain delay).
export WEIR_SHUTDOWN_DELAY=${WEIR_SHUTDOWN_DELAY:-0}
# Internal: one test's server on a fresh PostgreSQL database (the harness's SERVER_CMD).
if [ "${1:-}" = "--pg-server" ]; then
  shift
  host=$1 port=$2 root=$3 dest=$4
  admin=${WEIR_TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
  db="weir_conf_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  psql -q "$admin" -c "CREATE DATABASE $db" >/dev/null || exit 1
  "$WEIR_BIN" server --host "$host" --port "$port" \
    --backend-store-uri "${admin%/*}/$db" \
    --default-artifact-root "$root" --artifacts-destination "$dest" &
  pid=$!
  trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
  wait "$pid"
  wait "$pid" 2>/dev/null
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  exit 0
fi

tests="" python="$HOME/.cache/weir/conformance-venv/bin/python" backend=sqlite out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tests) tests=${2:?}; shift 2 ;;
    --python) python=${2:?}; shift 2 ;;
    --backend) backend=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$tests" ] || { echo "--tests DIR is required (see --help)" >&2; exit 2; }
case "$backend" in sqlite | postgresql) ;; *) echo "--backend must be sqlite or postgresql" >&2; exit 2 ;; esac
harness=${WEIR_CONFORMANCE_HARNESS:-$repo/../shared/mlflow-conformance}
[ -x "$harness/run.sh" ] || { echo "no harness at $harness (set WEIR_CONFORMANCE_HARNESS)" >&2; exit 2; }
out=${out:-/tmp/weir-conformance-$backend}

if [ -z "${WEIR_BIN:-}" ]; then
  target=${CARGO_TARGET_DIR:-$repo/target}
  case "$target" in /*) ;; *) target="$repo/$target" ;; esac
  (cd "$repo" && cargo build --release --locked) || exit 1
  WEIR_BIN="$target/release/weir"
fi
export WEIR_BIN

if [ "$backend" = postgresql ]; then
  command -v psql >/dev/null || { echo "psql is needed for --backend postgresql" >&2; exit 2; }
  server_cmd="$repo/scripts/conformance.sh --pg-server {host} {port} {artifact_root} {artifacts_destination}"
else
  server_cmd="$WEIR_BIN server --host {host} --port {port} --backend-store-uri {backend_uri} \
--default-artifact-root {artifact_root} --artifacts-destination {artifacts_destination}"
fi

PYTHON=$python MLFLOW_SRC=$tests SERVER_CMD=$server_cmd "$harness/run.sh" --out "$out" -- -n 2 "$@"

python3 - "$out/results.json" "$harness/scope-core.txt" <<'EOF'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
scope = [l.strip() for l in open(sys.argv[2]) if l.strip()]
ran = [n for n in scope if n in res]
bad = [n for n in ran if res[n].get("outcome") not in ("passed", "xpassed")]
print()
for n in bad:
    print("failed in scope:", n)
print(f"in scope: {len(ran) - len(bad)} passed, {len(bad)} failed, {len(scope) - len(ran)} not run (of {len(scope)})")
hooks = [n for n in res if "webhooks.py::" in n]
hooks_bad = [n for n in hooks if res[n].get("outcome") not in ("passed", "xpassed")]
for n in hooks_bad:
    print("failed (webhooks):", n)
print(f"webhooks: {len(hooks) - len(hooks_bad)} passed, {len(hooks_bad)} failed (of {len(hooks)})")
EOF
