#!/usr/bin/env bash
# Browser tests of Weir's web UI, end to end.
#
#   scripts/run-ui-tests.sh                      # against $WEIR_BIN (default target/release/weir)
#   scripts/run-ui-tests.sh --reference          # against `mlflow server` behind scripts/ui-dev-proxy.py
#   scripts/run-ui-tests.sh --server-cmd 'CMD'   # any server; CMD may use $PORT and $WORK
#   options: --scale-runs N (default 10000; 0 skips the scale check), --keep (leave the temp dir)
#
# Installs Debian's chromium if it is missing, runs `npm ci` in tests/ui, makes the Python venv,
# starts the server on a free port in a temp dir, waits for /health, populates it through the
# real mlflow client (tests/ui/populate.py) and the REST API (tests/ui/populate_scale.py), runs
# the JS unit tests and the browser tests, stops the server and exits non-zero on any failure.
# Against weir, a second server runs with --app-name basic-auth for the sign-in and admin pages
# (tests/ui/auth.test.mjs).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=weir
SERVER_CMD=
SCALE_RUNS=${UI_SCALE_RUNS:-10000}
KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
    --reference) MODE=reference ;;
    --server-cmd) MODE=custom; SERVER_CMD=$2; shift ;;
    --scale-runs) SCALE_RUNS=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run-ui-tests: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

log() { echo "run-ui-tests: $*" >&2; }

# --- tools ------------------------------------------------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
fi
log "npm ci in tests/ui"
(cd "$ROOT/tests/ui" && npm ci --no-audit --no-fund --loglevel=error >&2)
VENV=$("$ROOT/scripts/venv.sh" ui "$ROOT/tests/ui/requirements.txt")
PY=$VENV/bin/python

log "unit tests of the UI's JavaScript"
(cd "$ROOT/tests/ui" && node --test unit/)

# --- server under test ------------------------------------------------------------------------
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d /tmp/weir-ui-tests.XXXXXX)
PORT=$(free_port)
export PORT WORK
# Test servers stop at once on SIGTERM (no load-balancer drain delay).
export WEIR_SHUTDOWN_DELAY=${WEIR_SHUTDOWN_DELAY:-0}
PIDS=() # each server runs in its own process group (setsid), stopped as a group: mlflow has workers
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [ "$rc" -ne 0 ]; then
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f (last 40 lines)" >&2; tail -40 "$f" >&2; }; done
  fi
  if [ "$KEEP" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

case $MODE in
  reference)
    UP=$(free_port)
    log "starting mlflow server on $UP and the dev proxy on $PORT (in $WORK)"
    (cd "$WORK" && exec setsid "$VENV/bin/mlflow" server --host 127.0.0.1 --port "$UP" \
      --backend-store-uri "sqlite:///$WORK/db" --artifacts-destination "$WORK/art" >"$WORK/server.log" 2>&1) &
    PIDS+=($!)
    setsid "$PY" "$ROOT/scripts/ui-dev-proxy.py" --port "$PORT" --upstream "http://127.0.0.1:$UP" --ui-dir "$ROOT/ui" >"$WORK/proxy.log" 2>&1 &
    PIDS+=($!)
    ;;
  custom)
    log "starting: $SERVER_CMD (PORT=$PORT WORK=$WORK)"
    (cd "$WORK" && exec setsid bash -c "$SERVER_CMD" >"$WORK/server.log" 2>&1) &
    PIDS+=($!)
    ;;
  weir)
    WEIR_BIN=${WEIR_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/weir}
    [ -x "$WEIR_BIN" ] || { log "no weir binary at $WEIR_BIN (cargo build --release, or set WEIR_BIN, or use --reference)"; exit 2; }
    log "starting $WEIR_BIN on $PORT (in $WORK)"
    # Webhooks may target this same server (loopback, plain http) for the webhook panel's test.
    (cd "$WORK" && exec setsid "$WEIR_BIN" server --port "$PORT" \
      --backend-store-uri "sqlite:///$WORK/db" --artifacts-destination "$WORK/art" \
      --webhook-allowed-schemes http,https --webhook-allow-private-ips true >"$WORK/server.log" 2>&1) &
    PIDS+=($!)
    # A second server with users and permissions, for the sign-in and admin pages.
    AUTH_PORT=$(free_port)
    export UI_AUTH_PASSWORD="ui-admin-$(date +%s)-secret"
    log "starting $WEIR_BIN --app-name basic-auth on $AUTH_PORT"
    (cd "$WORK" && MLFLOW_AUTH_ADMIN_PASSWORD=$UI_AUTH_PASSWORD exec setsid "$WEIR_BIN" server --port "$AUTH_PORT" \
      --app-name basic-auth --backend-store-uri "sqlite:///$WORK/auth-db" --artifacts-destination "$WORK/auth-art" \
      >"$WORK/auth-server.log" 2>&1) &
    PIDS+=($!)
    ;;
esac

BASE=http://127.0.0.1:$PORT
for i in $(seq 120); do
  if curl -sf "$BASE/health" >/dev/null 2>&1; then break; fi
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || { log "the server exited early"; exit 1; }; done
  [ "$i" = 120 ] && { log "no answer from $BASE/health after 60s"; exit 1; }
  sleep 0.5
done
if [ -n "${AUTH_PORT:-}" ]; then
  for i in $(seq 120); do
    curl -sf "http://127.0.0.1:$AUTH_PORT/health" >/dev/null 2>&1 && break
    [ "$i" = 120 ] && { log "the basic-auth server did not come up"; exit 1; }
    sleep 0.5
  done
  export UI_AUTH_URL=http://127.0.0.1:$AUTH_PORT
fi
curl -sf "$BASE/" | grep -q '/static/app.js' || { log "$BASE/ does not serve the UI's index.html"; exit 1; }
log "server up at $BASE"

# --- data -------------------------------------------------------------------------------------
log "populating (iris runs, registry, a 100k-point series)"
MLFLOW_TRACKING_URI=$BASE "$PY" "$ROOT/tests/ui/populate.py" >"$WORK/populate.log" 2>&1 || { tail -40 "$WORK/populate.log" >&2; exit 1; }
grep -E '^(run |populate)' "$WORK/populate.log" >&2 || true
if [ "$SCALE_RUNS" -gt 0 ]; then
  log "bulk populating $SCALE_RUNS runs for the scale check"
  "$PY" "$ROOT/tests/ui/populate_scale.py" --url "$BASE" --runs "$SCALE_RUNS" >&2
fi

# --- browser tests ----------------------------------------------------------------------------
export UI_BASE_URL=$BASE UI_SCALE_RUNS=$SCALE_RUNS
log "browser tests against $BASE"
cd "$ROOT/tests/ui"
node --test --test-concurrency=1 ui.test.mjs scale.test.mjs ${UI_AUTH_URL:+auth.test.mjs}
log "screenshots in tests/ui/screenshots/ (runs table, compare and the admin page copied to docs/screenshots/)"
