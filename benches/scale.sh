#!/usr/bin/env bash
# Searching a million runs: builds an MLflow tracking database of N runs by bulk SQL in MLflow's
# own schema (benches/mlflow-db.py), imports it with `weir db import` into a fresh SQLite file
# and a fresh PostgreSQL database, starts `weir server` on each and times runs/search for every
# query shape of issue 19 (benches/search_scale.py): p50 and p99, deep pages included.
#
#   benches/scale.sh                      # 1,000,000 runs (about 15 minutes on 2 cores)
#   benches/scale.sh --runs 20000 --reps 3  # smoke run (CI)
#   options: --backends sqlite,postgresql  --reps N (default 30)  --out DIR (keep results there)
#            --benchmarks BENCHMARKS.md (put the table in that file, replacing the one there;
#            benches/compare.sh keeps it when it rewrites the file)
#
# Needs PostgreSQL at $WEIR_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres;
# scripts/ensure-postgres.sh starts it); the database it creates is dropped at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export WEIR_CACHE_DIR=${WEIR_CACHE_DIR:-$HOME/.cache/weir}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=1000000
REPS=30
BACKENDS=sqlite,postgresql
OUT=
BENCH_MD=
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --backends) BACKENDS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --benchmarks) BENCH_MD=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "scale: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
log() { echo "scale: $*" >&2; }

WEIR=${WEIR_BIN:-$CARGO_TARGET_DIR/release/weir}
if [ -z "${WEIR_BIN:-}" ]; then
  log "building weir (release)"
  cargo build --release --locked --bin weir >&2
fi
VENV=$(scripts/venv.sh mlflow3 tests/python/requirements-mlflow3.txt)
PY=$VENV/bin/python
WORK=$(mktemp -d /tmp/weir-scale.XXXXXX)
PG_URL=${WEIR_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
PG_DB=weir_scale_$$
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  if [[ $BACKENDS == *postgresql* ]]; then
    psql "$PG_URL" -q -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [ -n "$OUT" ]; then mkdir -p "$OUT" && cp "$WORK"/*.json "$WORK"/*.md "$OUT"/ 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true

log "building an MLflow database of $RUNS runs ($((RUNS * 8)) rows) in MLflow's schema"
"$PY" benches/mlflow-db.py --uri "sqlite:///$WORK/mlflow.db" --runs "$RUNS" >&2

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
{
  echo "# Searching $RUNS runs ($(date -u +%F), $(nproc) cores)"
  echo
  echo "An MLflow database built by \`benches/mlflow-db.py\`, imported with \`weir db import\`, searched"
  echo "through \`weir server\` one request at a time ($REPS repetitions after a warm-up)."
} > "$WORK/scale.md"
for backend in ${BACKENDS//,/ }; do
  case $backend in
    sqlite) target="sqlite:///$WORK/weir.db" ;;
    postgresql)
      scripts/ensure-postgres.sh >&2
      psql "$PG_URL" -q -c "CREATE DATABASE $PG_DB" >&2
      target="${PG_URL%/*}/$PG_DB" ;;
    *) log "unknown backend $backend"; exit 2 ;;
  esac
  log "weir db import into $backend"
  t0=$(date +%s%N)
  "$WEIR" db import --from "sqlite:///$WORK/mlflow.db" --backend-store-uri "$target" >"$WORK/import-$backend.log" 2>&1 \
    || { tail -20 "$WORK/import-$backend.log" >&2; exit 1; }
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  port=$(free_port)
  WEIR_SHUTDOWN_DELAY=0 "$WEIR" server --port "$port" --backend-store-uri "$target" >"$WORK/server-$backend.log" 2>&1 &
  SERVER=$!
  for i in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    [ "$i" = 120 ] && { log "weir server did not come up"; tail -20 "$WORK/server-$backend.log" >&2; exit 1; }
    sleep 0.5
  done
  {
    echo
    printf '## %s: import %d.%d s (%d rows/s)\n' "$backend" $((ms / 1000)) $((ms % 1000 / 100)) $((RUNS * 8 * 1000 / (ms > 0 ? ms : 1)))
    "$PY" benches/search_scale.py --url "http://127.0.0.1:$port" --experiment-name bench --reps "$REPS" \
      --deep-page $(( RUNS >= 100000 ? 1000 : 50 )) --label "($backend)" --json "$WORK/scale-$backend.json"
  } >> "$WORK/scale.md"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
done
cat "$WORK/scale.md"
if [ -n "$BENCH_MD" ]; then
  "$PY" - "$BENCH_MD" "$WORK/scale.md" <<'PY'
import sys
from pathlib import Path
begin, end = "<!-- benches/scale.sh: begin -->", "<!-- benches/scale.sh: end -->"
md = Path(sys.argv[1])
# One heading level down: the section sits under BENCHMARKS.md's title.
table = "\n".join("#" + l if l.startswith("#") else l for l in Path(sys.argv[2]).read_text().splitlines())
block = f"{begin}\n{table.rstrip()}\n{end}"
old = md.read_text() if md.exists() else ""
i, j = old.find(begin), old.find(end)
new = old[:i] + block + old[j + len(end):] if 0 <= i < j else old.rstrip() + "\n\n" + block + "\n"
md.write_text(new)
PY
  log "wrote the table into $BENCH_MD"
fi
