#!/usr/bin/env bash
# Weir side by side with MLflow on this machine, in one run: writes BENCHMARKS.md and
# BENCHMARKS.json (see benches/compare.py for what is measured and how).
#
#   benches/compare.sh                 # the full run (about 15 minutes on 2 cores)
#   benches/compare.sh --quick         # seconds: one short repetition of everything (CI smoke run)
#   benches/compare.sh --only serving  # one half; --reps N, --seconds S, --out DIR, --keep
#
# Installs what it needs: the reference (mlflow==3.17.2 with onnxruntime, the pinned venv the
# end-to-end tests use), wrk (Debian package) as the load generator for both sides, h2load
# (Debian's nghttp2-client) for Weir's gRPC port, and ONNX Runtime's library for Weir's ort
# backend; builds `weir` and the `floor` and `grpc_load` examples (grpc_load writes h2load's gRPC
# request and loads one shared connection itself) in release mode.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export WEIR_CACHE_DIR=${WEIR_CACHE_DIR:-$HOME/.cache/weir}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
log() { echo "compare: $*" >&2; }

# wrk drives HTTP/1.1; h2load (nghttp2-client) drives gRPC over HTTP/2 the same way.
for pkg in wrk:wrk h2load:nghttp2-client; do
  if ! command -v "${pkg%%:*}" >/dev/null; then
    log "installing ${pkg#*:} (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "${pkg#*:}" >&2 || { apt-get update -qq >&2 && apt-get install -y -qq "${pkg#*:}" >&2; }
  fi
done

log "building weir, the floor and grpc_load examples (release)"
cargo build --release --locked --bin weir --example floor --example grpc_load >&2
ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)
export ORT_DYLIB_PATH

log "reference venv (mlflow 3.17.2 + onnxruntime)"
VENV=$(scripts/venv.sh mlflow3 tests/python/requirements-mlflow3.txt)
version=$("$VENV/bin/python" -c 'import mlflow; print(mlflow.__version__)')

# MLflow's own telemetry and tracing would add noise; the run is offline and local.
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true PYTHONUNBUFFERED=1
# `mlflow models serve` runs `uvicorn` from PATH.
export PATH="$VENV/bin:$PATH"
exec "$VENV/bin/python" benches/compare.py \
  --weir "$CARGO_TARGET_DIR/release/weir" \
  --floor "$CARGO_TARGET_DIR/release/examples/floor" \
  --grpc-load "$CARGO_TARGET_DIR/release/examples/grpc_load" \
  --mlflow "$VENV/bin/mlflow" --python "$VENV/bin/python" --mlflow-version "$version" "$@"
