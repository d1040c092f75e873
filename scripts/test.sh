#!/usr/bin/env bash
# Weir's whole test suite: the one command README.md documents and CI (.ci/run) calls.
#
#   scripts/test.sh                 # every stage
#   scripts/test.sh rust python     # only the named stages: lint rust python ui deploy bench
#
# Needs: the Rust toolchain, Python 3.11 with venv+pip, Node.js + npm, PostgreSQL at
# 127.0.0.1:5432 and, for the python stage, MySQL/MariaDB at 127.0.0.1:3306 (root, no password;
# each started here when installed but stopped). Everything else is installed by the
# scripts it calls, pinned: the mlflow clients, SeaweedFS (S3), Chromium (apt), playwright-core.
#
# Builds go to ./target, the same directory `cargo run` uses (CI sets CARGO_TARGET_DIR to its
# cache). Each stage prepares only what it needs: `lint` alone starts no database and builds no
# release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
export WEIR_CACHE_DIR=${WEIR_CACHE_DIR:-$HOME/.cache/weir}
export WEIR_BIN=${WEIR_BIN:-$CARGO_TARGET_DIR/release/weir}
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(lint rust python ui deploy bench)
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
step() { printf '\n==> %s\n' "$*"; }
started=$(date +%s)
failed=()
# Run one check; on failure note it and go on, so one run reports every broken stage.
check() {
  local name=$1
  shift
  if ! "$@"; then
    printf '\n!!! FAILED: %s\n' "$name"
    failed+=("$name")
  fi
}

# What the stages need besides the toolchain.
needs_db=false needs_binary=false
for s in "${stages[@]}"; do
  case "$s" in
    rust | python) needs_db=true needs_binary=true ;;
    ui | deploy | bench) needs_binary=true ;;
  esac
done

if $needs_db; then
  step "PostgreSQL"
  scripts/ensure-postgres.sh
fi

if want python; then
  step "MySQL/MariaDB (an MLflow database kept there is imported by test_db_import.py)"
  scripts/ensure-mysql.sh
fi

if $needs_binary; then
  step "ONNX Runtime (libonnxruntime.so from the pinned PyPI wheel)"
  ORT_DYLIB_PATH=$(scripts/fetch-onnxruntime.sh)
  export ORT_DYLIB_PATH
fi

# An S3-compatible server (SeaweedFS) for the artifact tests; stopped on exit.
if want rust || want python; then
  step "S3-compatible server (SeaweedFS)"
  eval "$(scripts/s3-server.sh start)"
  export WEIR_REQUIRE_S3=1
  trap 'scripts/s3-server.sh stop' EXIT
fi

if want lint; then
  step "cargo fmt --check"
  check fmt cargo fmt --all -- --check
  step "cargo clippy --all-targets -- -D warnings"
  check clippy cargo clippy --release --all-targets --locked -- -D warnings
fi

if $needs_binary; then
  step "cargo build --release"
  cargo build --release --locked
fi

if want rust; then
  step "model flavor fixtures (scikit-learn, XGBoost, LightGBM saved by the real mlflow 3.17.2 and 2.22.5)"
  WEIR_FLAVORS_FIXTURES=$(scripts/flavor-fixtures.sh)
  export WEIR_FLAVORS_FIXTURES
  step "cargo test --release (unit, store conformance on SQLite + PostgreSQL, HTTP, artifacts, replicas, model flavors)"
  check "cargo test" cargo test --release --locked
fi

if want python; then
  export WEIR_TEST_BIG_MB=${WEIR_TEST_BIG_MB:-200}
  step "end-to-end with the real mlflow client (3.17.2 and 2.22.5; 2.9.2 for tracking and registry) on SQLite and PostgreSQL"
  check "python e2e" scripts/run-python-tests.sh --client all --backend all -q
  step "end-to-end: artifacts proxied to S3"
  WEIR_TEST_SERVER_ARGS="--artifacts-destination s3://$WEIR_TEST_S3_BUCKET/proxied-$RANDOM" \
  MLFLOW_S3_ENDPOINT_URL=$WEIR_TEST_S3_ENDPOINT \
    check "python e2e, S3 proxied" scripts/run-python-tests.sh --client 3,2 --backend sqlite -q tests/python/test_artifacts.py tests/python/test_registry.py
  step "end-to-end: --no-serve-artifacts, the client writes to S3 directly"
  direct="s3://$WEIR_TEST_S3_BUCKET/direct-$RANDOM"
  WEIR_TEST_DIRECT_S3=$direct MLFLOW_S3_ENDPOINT_URL=$WEIR_TEST_S3_ENDPOINT \
  WEIR_TEST_SERVER_ARGS="--no-serve-artifacts --default-artifact-root $direct" \
    check "python e2e, S3 direct" scripts/run-python-tests.sh --client 3 --backend sqlite -q tests/python/test_artifacts_direct_s3.py
fi

if want ui; then
  step "web UI in headless Chromium"
  check "ui" scripts/run-ui-tests.sh --scale-runs "${WEIR_UI_SCALE_RUNS:-10000}"
fi

if want deploy; then
  step "deployment files (Dockerfile, k8s, KServe, Kubeflow example)"
  check "deploy" scripts/check-deploy.sh --no-build --with-server auto
fi

if want bench; then
  # Benchmarks report, they do not gate: this smoke-runs them so they cannot rot.
  step "benchmarks, quick mode (criterion benches once each; Weir vs MLflow side by side; 20k-run search)"
  WEIR_BENCH_RUNS=300 check "cargo bench --test" cargo bench --locked --bench tracking --bench serving -- --test
  bench_out=$(mktemp -d)
  check "benches/compare.sh --quick" benches/compare.sh --quick --out "$bench_out"
  [ -f "$bench_out/BENCHMARKS.md" ] && cat "$bench_out/BENCHMARKS.md"
  rm -rf "$bench_out"
  # Searching many runs: an MLflow database imported with `weir db import`, then queried.
  check "benches/scale.sh --runs 20000" benches/scale.sh --runs 20000 --reps 3
fi

elapsed=$(( $(date +%s) - started ))
if [ ${#failed[@]} -gt 0 ]; then
  printf '\n==> FAILED after %ss: %s\n' "$elapsed" "${failed[*]}"
  exit 1
fi
step "all requested stages passed (${stages[*]}) in ${elapsed}s"
