#!/usr/bin/env bash
# Weir's whole test suite: the one command README.md documents and CI (.ci/run) calls.
#
#   scripts/test.sh            # everything
#   scripts/test.sh rust       # only the named stages: lint rust python
#
# Needs: the Rust toolchain, Python 3.11 with venv+pip, PostgreSQL at 127.0.0.1:5432 (started
# here when it is installed but stopped). Everything else it installs itself (pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/weir/target}
export WEIR_CACHE_DIR=${WEIR_CACHE_DIR:-$HOME/.cache/weir}
export WEIR_BIN=${WEIR_BIN:-$CARGO_TARGET_DIR/release/weir}
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(lint rust python)
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
step() { printf '\n==> %s\n' "$*"; }

step "PostgreSQL"
scripts/ensure-postgres.sh

if want lint; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --release --all-targets --locked -- -D warnings
fi

if want rust; then
  step "cargo build --release"
  cargo build --release --locked
  step "cargo test --release (unit, store conformance on SQLite + PostgreSQL, HTTP)"
  cargo test --release --locked
fi

if want python; then
  step "end-to-end with the real mlflow client"
  scripts/run-python-tests.sh --client all --backend all
fi
step "all requested stages passed: ${stages[*]}"
