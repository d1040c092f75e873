#!/usr/bin/env bash
# Make sure MySQL/MariaDB answers on 127.0.0.1:3306 (root, empty password); start the local
# MariaDB if it is installed but stopped. The MySQL case of tests/python/test_db_import.py creates
# and drops its own databases (weir_test_<random>) there.
set -euo pipefail
ready() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 3306)); sys.exit(0)
except OSError:
    sys.exit(1)
PY
}
if ready; then echo "MySQL/MariaDB is up"; exit 0; fi
daemon=$(command -v mariadbd || command -v mysqld || true)
[ -z "$daemon" ] && [ -x /usr/sbin/mariadbd ] && daemon=/usr/sbin/mariadbd
if [ -n "$daemon" ] && command -v start-stop-daemon >/dev/null; then
  start-stop-daemon --start --oknodo --background --exec "$daemon"
  for _ in $(seq 1 30); do ready && { echo "MySQL/MariaDB started"; exit 0; }; sleep 1; done
fi
echo "MySQL/MariaDB is not reachable at 127.0.0.1:3306" >&2
exit 1
