#!/usr/bin/env bash
# End-to-end suite: the real `mlflow` Python client (from PyPI) against a server on this machine.
#
#   scripts/run-python-tests.sh [--client 3|2|29|3,2|all] [--backend sqlite|postgresql|all]
#                               [--target weir|mlflow] [pytest args...]
#
# Defaults: --client all --backend sqlite --target weir.
#   --client   which mlflow client drives the server: 3 (mlflow 3.17.2), 2 (mlflow 2.22.5) or 29
#              (mlflow 2.9.2, the seed's deployment image; it runs the tracking and registry flows,
#              tests/python/test_tracking.py and test_registry.py, unless test paths are given).
#   --backend  the server's store: sqlite (a file in a temp dir) or postgresql (a fresh database on
#              127.0.0.1:5432, dropped afterwards; PostgreSQL is started if it is not running).
#              test_db_import.py also imports an MLflow database from MySQL/MariaDB on
#              127.0.0.1:3306 (started if installed but stopped, by scripts/ensure-mysql.sh).
#   --target   weir: ${WEIR_BIN:-${CARGO_TARGET_DIR:-target}/release/weir} (built with
#              `cargo build --release` first unless WEIR_BIN is set or WEIR_SKIP_BUILD=1);
#              mlflow: the reference `mlflow server` 3.17.2, always from the mlflow3 venv.
# Anything else is passed to pytest (e.g. -k registry -x, or test files/node ids instead of the
# whole tests/python). Venvs come from scripts/venv.sh.
# Prints one summary line per combination and exits non-zero if any combination failed.
set -uo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

clients=all
backends=sqlite
target=weir
while [ $# -gt 0 ]; do
  case "$1" in
    --client) clients=${2:?--client needs a value}; shift 2 ;;
    --client=*) clients=${1#*=}; shift ;;
    --backend) backends=${2:?--backend needs a value}; shift 2 ;;
    --backend=*) backends=${1#*=}; shift ;;
    --target) target=${2:?--target needs a value}; shift 2 ;;
    --target=*) target=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done

[ "$clients" = all ] && clients="3,2,29"
clients=${clients//,/ }
for c in $clients; do
  case "$c" in 3 | 2 | 29) ;; *) echo "--client must be 3, 2, 29, a comma list of them, or all" >&2; exit 2 ;; esac
done
case "$backends" in sqlite | postgresql) ;; all) backends="sqlite postgresql" ;;
  *) echo "--backend must be sqlite, postgresql or all" >&2; exit 2 ;; esac
case "$target" in weir | mlflow) ;; *) echo "--target must be weir or mlflow" >&2; exit 2 ;; esac

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

# --- venvs: mlflow3 is always needed (client 3, and the reference server for every client)
echo "==> preparing venvs (scripts/venv.sh)"
venv3=$(scripts/venv.sh mlflow3 tests/python/requirements-mlflow3.txt) || { echo "venv mlflow3 failed" >&2; exit 1; }
venv2="" venv29=""
case " $clients " in *" 2 "*)
  venv2=$(scripts/venv.sh mlflow2 tests/python/requirements-mlflow2.txt) || { echo "venv mlflow2 failed" >&2; exit 1; } ;;
esac
case " $clients " in *" 29 "*)
  venv29=$(scripts/venv.sh mlflow29 tests/python/requirements-mlflow29.txt) || { echo "venv mlflow29 failed" >&2; exit 1; } ;;
esac

# --- the server under test
if [ "$target" = weir ]; then
  if [ -z "${WEIR_BIN:-}" ]; then
    WEIR_BIN="${CARGO_TARGET_DIR:-$repo/target}/release/weir"
    case "$WEIR_BIN" in /*) ;; *) WEIR_BIN="$repo/$WEIR_BIN" ;; esac
    if [ "${WEIR_SKIP_BUILD:-0}" != 1 ]; then
      echo "==> cargo build --release"
      cargo build --release || { echo "cargo build failed" >&2; exit 1; }
    fi
  fi
  [ -x "$WEIR_BIN" ] || { echo "weir binary not found at $WEIR_BIN" >&2; exit 1; }
  export WEIR_BIN
fi

# --- PostgreSQL, when asked for
pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p 5432
  else
    "$venv3/bin/python" -c 'import psycopg2; psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres").close()' 2>/dev/null
  fi
}
case " $backends " in *" postgresql "*)
  if ! pg_ready; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
    for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
    pg_ready || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
  fi ;;
esac

# --- MySQL/MariaDB, for the MLflow database kept there in test_db_import.py (that test is skipped
# without it, and fails under CI)
if [ "$target" = weir ]; then
  scripts/ensure-mysql.sh >/dev/null || echo "warning: no MySQL/MariaDB on 127.0.0.1:3306: the MySQL import test will not run" >&2
fi

# --- what to run: tests/python, unless test paths were given among the pytest args
paths=(tests/python)
paths29=(tests/python/test_tracking.py tests/python/test_registry.py)
for a in "$@"; do
  case "$a" in -*) continue ;; esac
  if [ -e "${a%%::*}" ]; then paths=(); paths29=(); break; fi
done

# --- run every combination
summaries=()
total_pass=0 total_fail=0 total_skip=0
overall=0
for client in $clients; do
  run_paths=(${paths[@]+"${paths[@]}"})
  case "$client" in
    3) venv=$venv3 ;;
    2) venv=$venv2 ;;
    29) venv=$venv29; run_paths=(${paths29[@]+"${paths29[@]}"}) ;;
  esac
  for backend in $backends; do
    label="client=$client backend=$backend target=$target"
    echo "==> $label"
    xml=$(mktemp --suffix=.xml)
    start=$(date +%s)
    WEIR_TEST_TARGET=$target WEIR_TEST_BACKEND=$backend \
      WEIR_MLFLOW_SERVER_PYTHON="$venv3/bin/python" \
      "$venv/bin/python" -m pytest ${run_paths[@]+"${run_paths[@]}"} --junitxml="$xml" "$@"
    rc=$?
    secs=$(($(date +%s) - start))
    counts=$("$venv/bin/python" - "$xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0")
    raise SystemExit
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
k = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - k, f, k)
EOF
)
    rm -f "$xml"
    read -r n_pass n_fail n_skip <<<"$counts"
    if [ "$rc" -ne 0 ] && [ "$n_fail" -eq 0 ]; then n_fail=1; fi  # crashed, or nothing ran
    total_pass=$((total_pass + n_pass)) total_fail=$((total_fail + n_fail)) total_skip=$((total_skip + n_skip))
    [ "$rc" -ne 0 ] && overall=1
    summaries+=("$label: $n_pass passed, $n_fail failed, $n_skip skipped (pytest exit $rc, ${secs}s)")
  done
done

echo
echo "==> summary"
for s in "${summaries[@]}"; do echo "$s"; done
echo "total: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $overall
