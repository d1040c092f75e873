#!/usr/bin/env bash
# Check the deployment files (Dockerfile, k8s/, examples/kubeflow/, docs/kubernetes.md) without a
# Docker engine or a cluster. Exits non-zero on any failure.
#
#   scripts/check-deploy.sh                      build weir as the Dockerfile does, then tests/deploy/
#   scripts/check-deploy.sh --with-server URL    also run examples/kubeflow/train_flow.py against
#                                                the live Weir tracking server at URL
#   scripts/check-deploy.sh --with-server auto   also start `weir server` (SQLite in a temp dir) and
#                                                `weir models serve` on free local ports, run the
#                                                flow against both, then stop them with SIGTERM
#   scripts/check-deploy.sh --no-build ...       do not run cargo; use WEIR_BIN as it is
#
# WEIR_BIN is the binary whose --help the CLI-usage check reads (default
# ${CARGO_TARGET_DIR:-target}/release/weir). When it is unset the script runs the Dockerfile's
# cargo command first (read from the Dockerfile, so the two cannot differ). tests/deploy/ also
# runs scripts/fetch-onnxruntime.sh into a fresh directory and loads the library it fetches.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

server=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --with-server) server=${2:?--with-server needs a URL or 'auto'}; shift 2 ;;
    --with-server=*) server=${1#*=}; shift ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "check-deploy: unknown argument $1" >&2; exit 2 ;;
  esac
done

step() { printf '\n== %s\n' "$*"; }

step "venv for tests/deploy"
venv=$(scripts/venv.sh deploy tests/deploy/requirements.txt)
py=$venv/bin/python

if [ -z "${WEIR_BIN:-}" ]; then
  WEIR_BIN=${CARGO_TARGET_DIR:-$root/target}/release/weir
  if [ "$build" = 1 ]; then
    read -r -a cargo_cmd <<<"$("$py" tests/deploy/deploylib.py cargo-command)"
    step "build weir as the Dockerfile does: ${cargo_cmd[*]}"
    "${cargo_cmd[@]}"
  fi
fi
export WEIR_BIN
[ -x "$WEIR_BIN" ] || { echo "check-deploy: no weir binary at $WEIR_BIN" >&2; exit 1; }

step "tests/deploy (manifests, KServe, Dockerfile, onnxruntime, CLI usage, Kubeflow)"
"$py" -m pytest -p no:cacheprovider -q -rs tests/deploy

# --- the Kubeflow flow against a live Weir -------------------------------------------------------

pids=()
tmp=""
cleanup() {
  for pid in ${pids[@]+"${pids[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_http() { # url seconds logfile pid
  local deadline=$((SECONDS + $2))
  until "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null; do
    if ! kill -0 "$4" 2>/dev/null; then
      echo "check-deploy: the process behind $1 exited; last log lines:" >&2
      tail -n 40 "$3" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "check-deploy: $1 did not answer within $2 s; last log lines:" >&2
      tail -n 40 "$3" >&2
      return 1
    fi
    sleep 0.5
  done
}

stop_gracefully() { # pid name seconds
  kill -TERM "$1"
  local deadline=$((SECONDS + $3)) code=0
  while kill -0 "$1" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "check-deploy: $2 still running $3 s after SIGTERM" >&2
      return 1
    fi
    sleep 0.2
  done
  wait "$1" || code=$?
  [ "$code" = 0 ] || { echo "check-deploy: $2 exited with $code after SIGTERM" >&2; return 1; }
  echo "$2 stopped cleanly on SIGTERM"
}

run_flow() { # tracking_url [train_flow args...]
  local url=$1
  shift
  MLFLOW_TRACKING_URI=$url "$flow_py" examples/kubeflow/train_flow.py --experiment weir-deploy-check "$@"
}

if [ -n "$server" ]; then
  step "venv for examples/kubeflow"
  flow_venv=$(scripts/venv.sh kubeflow examples/kubeflow/requirements.txt)
  flow_py=$flow_venv/bin/python

  if [ "$server" != auto ]; then
    step "train_flow.py against $server"
    run_flow "$server"
  else
    tmp=$(mktemp -d)
    # The image's runtime configuration: ONNX Runtime from the same script, found via ORT_DYLIB_PATH.
    ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)
    export ORT_DYLIB_PATH
    port=$(free_port)
    url=http://127.0.0.1:$port

    step "weir server on $url (SQLite and artifacts in $tmp)"
    (cd "$tmp" && exec "$WEIR_BIN" server --host 127.0.0.1 --port "$port" \
      --backend-store-uri "sqlite:///$tmp/mlflow.db" --artifacts-destination "$tmp/mlartifacts" \
      --shutdown-timeout 5) >"$tmp/server.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    wait_http "$url/health" 60 "$tmp/server.log" "$server_pid"

    step "train_flow.py: train, register, promote, verify"
    run_flow "$url"

    serve_port=$(free_port)
    serve_url=http://127.0.0.1:$serve_port
    step "weir models serve models:/iris-classifier@champion on $serve_url"
    (cd "$tmp" && exec "$WEIR_BIN" models serve -m models:/iris-classifier@champion \
      --host 127.0.0.1 --port "$serve_port" --tracking-uri "$url" \
      --model-cache "$tmp/model-cache" --poll-interval 1 --shutdown-timeout 5) >"$tmp/serve.log" 2>&1 &
    serve_pid=$!
    pids+=("$serve_pid")
    wait_http "$serve_url/v2/health/live" 60 "$tmp/serve.log" "$serve_pid"

    step "train_flow.py again: a new version takes the alias; the model server answers"
    run_flow "$url" --serving-url "$serve_url" --serving-timeout 60

    step "graceful shutdown (what the pods' terminationGracePeriodSeconds relies on)"
    stop_gracefully "$serve_pid" "weir models serve" 15
    stop_gracefully "$server_pid" "weir server" 15
    pids=()
  fi
fi

step "check-deploy: all checks passed"
