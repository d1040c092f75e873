#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432; start the local cluster if it is installed but
# stopped. Tests create and drop their own databases (weir_test_<random>).
set -euo pipefail
ready() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432)); sys.exit(0)
except OSError:
    sys.exit(1)
PY
}
if ready; then echo "PostgreSQL is up"; exit 0; fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do ready && { echo "PostgreSQL started"; exit 0; }; sleep 1; done
fi
echo "PostgreSQL is not reachable at 127.0.0.1:5432" >&2
exit 1
