#!/usr/bin/env bash
# Train small models with the real scikit-learn, XGBoost, LightGBM and mlflow (3.17.2 and 2.22.5,
# the end-to-end venvs), save them with MLflow's own flavors in every format the clients write,
# and record what Python predicts: the fixtures tests/flavors_fixtures.rs checks Weir against.
#
#   scripts/flavor-fixtures.sh        # prints the fixture directory (holding v3/ and v2/)
#
# Cached under ${WEIR_CACHE_DIR:-~/.cache/weir}/flavor-fixtures/<hash of the script and pins>, so
# they are made once per change. Export the printed path as WEIR_FLAVORS_FIXTURES.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cache=${WEIR_CACHE_DIR:-$HOME/.cache/weir}
hash=$(cat tests/flavors/make_fixtures.py tests/python/requirements-mlflow3.txt \
  tests/python/requirements-mlflow2.txt | sha256sum | cut -c1-12)
out="$cache/flavor-fixtures/$hash"
if [ ! -f "$out/.complete" ]; then
  venv3=$(scripts/venv.sh mlflow3 tests/python/requirements-mlflow3.txt)
  venv2=$(scripts/venv.sh mlflow2 tests/python/requirements-mlflow2.txt)
  rm -rf "$out"
  mkdir -p "$out"
  for py in "$venv3/bin/python" "$venv2/bin/python"; do
    MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true "$py" tests/flavors/make_fixtures.py "$out" >&2
  done
  touch "$out/.complete"
fi
echo "$out"
