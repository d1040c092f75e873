#!/usr/bin/env bash
# A throwaway S3-compatible server (SeaweedFS `weed mini` from PyPI) on loopback, for tests.
#
#   eval "$(scripts/s3-server.sh start)"   # starts it, prints the exports below
#   scripts/s3-server.sh stop              # stops it (by PID) and removes its data
#
# Exports: WEIR_TEST_S3_ENDPOINT, WEIR_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_REGION, and WEIR_S3_STATE (this server's private directory, which `stop` needs). Each start
# gets its own directory and port, so parallel test runs never stop each other's server.
# Ready when a SigV4-signed ListObjectsV2 on the bucket answers 200.
set -euo pipefail
cd "$(dirname "$0")/.."
key=weirtestkey
secret=weirtestsecret
bucket=weir-test

# `weed mini` runs a master, a volume server, a filer, an admin server and the S3 gateway, each
# with an HTTP and a gRPC port: take them all free, so several test runs can coexist.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

case "${1:-}" in
  start)
    venv=$(scripts/venv.sh seaweedfs tests/s3/requirements.txt)
    state=$(mktemp -d "${TMPDIR:-/tmp}/weir-s3.XXXXXX")
    mkdir -p "$state/data"
    read -r port s3grpc mport mgrpc vport vgrpc fport fgrpc aport agrpc <<<"$(free_ports 10)"
    cat >"$state/identities.json" <<JSON
{"identities":[{"name":"weir-tests","credentials":[{"accessKey":"$key","secretKey":"$secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
    # Detached in its own session (so `stop` can signal the whole group), with no tie to our
    # stdout: `eval "$(... start)"` returns as soon as the exports are printed.
    cd "$state"
    setsid "$venv/bin/weed" mini -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
      -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.port="$port" \
      -s3.port.grpc="$s3grpc" -master.port="$mport" -master.port.grpc="$mgrpc" -volume.port="$vport" \
      -volume.port.grpc="$vgrpc" -filer.port="$fport" -filer.port.grpc="$fgrpc" -admin.port="$aport" \
      -admin.port.grpc="$agrpc" \
      -s3.config="$state/identities.json" -bucket="$bucket" -dir="$state/data" \
      </dev/null >"$state/weed.log" 2>&1 &
    echo $! >"$state/pid"
    cd - >/dev/null
    for _ in $(seq 1 120); do
      code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 --user "$key:$secret" \
        "http://127.0.0.1:$port/$bucket?list-type=2" || true)
      if [ "$code" = 200 ]; then
        echo "export WEIR_TEST_S3_ENDPOINT=http://127.0.0.1:$port WEIR_TEST_S3_BUCKET=$bucket"
        echo "export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1"
        echo "export WEIR_S3_STATE=$state"
        exit 0
      fi
      sleep 0.5
    done
    echo "s3-server: SeaweedFS did not become ready; log:" >&2
    tail -20 "$state/weed.log" >&2
    WEIR_S3_STATE=$state "$0" stop
    exit 1
    ;;
  stop)
    state=${WEIR_S3_STATE:?WEIR_S3_STATE is not set: stop the server that start printed it for}
    if [ -f "$state/pid" ]; then
      pid=$(cat "$state/pid")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -rf "$state"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
