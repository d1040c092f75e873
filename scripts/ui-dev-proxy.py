#!/usr/bin/env python3
"""Development proxy for Weir's web UI (standard library only).

Serves the UI the way `weir server` does -- `/` is ui/index.html and `/static/<path>` is
ui/<path> -- and forwards every other request (API, artifacts, /health) to an upstream
server, normally a real `mlflow server`. Weir-only endpoints then answer 404 from upstream,
which the UI handles with its fallbacks.

    scripts/ui-dev-proxy.py --port 5556 --upstream http://127.0.0.1:5555 [--ui-dir ui]
"""
import argparse
import http.client
import mimetypes
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailers", "transfer-encoding", "upgrade", "host", "origin", "referer",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ui_dir = "ui"
    upstream = ("127.0.0.1", 5555)

    def log_message(self, fmt, *args):  # quiet unless asked
        if os.environ.get("UI_PROXY_VERBOSE"):
            sys.stderr.write("proxy: " + (fmt % args) + "\n")

    def _static(self, rel):
        root = os.path.realpath(self.ui_dir)
        full = os.path.realpath(os.path.join(root, rel))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            self._send(404, b"not found", "text/plain")
            return
        ext = os.path.splitext(full)[1]
        ctype = TYPES.get(ext) or mimetypes.guess_type(full)[0] or "application/octet-stream"
        with open(full, "rb") as f:
            body = f.read()
        self._send(200, body, ctype, {"Cache-Control": "no-cache"})

    def _send(self, status, body, ctype, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _proxy(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection(*self.upstream, timeout=300)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            self._send(502, f"upstream error: {e}".encode(), "text/plain")
            return
        finally:
            conn.close()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _route(self):
        path = urllib.parse.urlsplit(self.path).path
        if self.command in ("GET", "HEAD"):
            if path in ("/", "/index.html"):
                return self._static("index.html")
            if path.startswith("/static/"):
                return self._static(urllib.parse.unquote(path[len("/static/"):]))
        return self._proxy()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _route


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=5556)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--upstream", default="http://127.0.0.1:5555")
    ap.add_argument("--ui-dir", default=os.path.join(os.path.dirname(__file__), "..", "ui"))
    args = ap.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    Handler.ui_dir = args.ui_dir
    Handler.upstream = (up.hostname, up.port or 80)
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    print(f"ui-dev-proxy on http://{args.host}:{args.port} -> {args.upstream}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
