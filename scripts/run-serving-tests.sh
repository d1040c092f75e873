#!/usr/bin/env bash
# Serving end-to-end tests (tests/python/test_serving.py): the real mlflow 3.17.2 client logs ONNX
# models to a live `weir server`, then `weir models serve` and `weir server --serve-model` serve
# them, follow alias moves under load, and answer what onnxruntime answers.
#
#   scripts/run-serving-tests.sh [pytest args...]
#
# Builds nothing: uses $WEIR_BIN (default ${CARGO_TARGET_DIR:-target}/release/weir). ONNX Runtime
# comes from scripts/fetch-onnxruntime.sh (ORT_DYLIB_PATH); the venv from models/requirements.txt
# (mlflow, scikit-learn, skl2onnx, onnx, onnxruntime 1.31.1, pandas, requests, pytest).
# WEIR_TEST_TARGET=mlflow runs the same tests against the reference MLflow server.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

WEIR_BIN=${WEIR_BIN:-${CARGO_TARGET_DIR:-target}/release/weir}
case "$WEIR_BIN" in /*) ;; *) WEIR_BIN="$repo/$WEIR_BIN" ;; esac
if [ ! -x "$WEIR_BIN" ]; then
  echo "weir binary not found at $WEIR_BIN: build it (cargo build --release) or set WEIR_BIN" >&2
  exit 1
fi
export WEIR_BIN

ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)
export ORT_DYLIB_PATH
venv=$(scripts/venv.sh serving models/requirements.txt)

echo "==> serving e2e: $WEIR_BIN, ONNX Runtime $ORT_DYLIB_PATH, target ${WEIR_TEST_TARGET:-weir}"
exec "$venv/bin/python" -m pytest tests/python/test_serving.py -v -s "$@"
