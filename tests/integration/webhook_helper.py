#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers of tests/integration/webhook.sh, on 127.0.0.1.

receiver: a webhook receiver as docs/integrations.md tells one to
  write it: it checks X-Ramp-Signature (HMAC-SHA256 over timestamp + "." +
  body), refuses timestamps older than --max-age (401) and event ids it
  already accepted (409, replay), and appends each accepted event to
  --log as one JSON line. --mode-file holds ok, 500 or hang (sleep
  before answering, so the sender's timeout fires); POST /gate answers
  with the status in --gate-file (default 200). Every request, raw, is
  kept in DIR/last-request.{headers,body} to be replayed.
exporter: /metrics with one gauge per line of --values-file
  ("name{labels} value" lines, served as they are).
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time


def read(path, default):
    try:
        with open(path) as f:
            return f.read().strip() or default
    except OSError:
        return default


def receiver(a):
    seen = set()
    lock = threading.Lock()
    secret = a.secret.encode()

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, code, text):
            body = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            with open(os.path.join(a.dir, "last-request.headers"), "w") as f:
                for k in ("X-Ramp-Timestamp", "X-Ramp-Signature",
                          "X-Ramp-Event-Id", "X-Ramp-Event"):
                    f.write("%s: %s\n" % (k, self.headers.get(k, "")))
            with open(os.path.join(a.dir, "last-request.body"), "wb") as f:
                f.write(body)
            ts = self.headers.get("X-Ramp-Timestamp", "")
            sig = self.headers.get("X-Ramp-Signature", "")
            eid = self.headers.get("X-Ramp-Event-Id", "")
            want = "v1=" + hmac.new(secret, ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, sig):
                return self.answer(401, "bad signature")
            if not ts.isdigit() or abs(time.time() - int(ts)) > a.max_age:
                return self.answer(401, "stale timestamp")
            if self.path == "/gate":
                return self.answer(int(read(a.gate_file, "200")), "gate")
            mode = read(a.mode_file, "ok")
            if mode == "hang":
                time.sleep(a.hang)
                return self.answer(503, "hung")
            if mode == "500":
                return self.answer(500, "failing on purpose")
            with lock:
                if eid in seen:
                    return self.answer(409, "replay")
                seen.add(eid)
                ev = json.loads(body)
                ev["_recv_ms"] = int(time.time() * 1000)
                with open(a.log, "a") as f:
                    f.write(json.dumps(ev, sort_keys=True) + "\n")
            self.answer(200, "ok")

    serve(a, H)


def exporter(a):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = (read(a.values_file, "") + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    serve(a, H)


def serve(a, handler):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler)
    srv.daemon_threads = True
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["receiver", "exporter"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--dir", default=".")
    p.add_argument("--secret", default="")
    p.add_argument("--log", default="events.jsonl")
    p.add_argument("--mode-file", default="mode")
    p.add_argument("--gate-file", default="gate")
    p.add_argument("--values-file", default="values")
    p.add_argument("--max-age", type=int, default=300)
    p.add_argument("--hang", type=float, default=30)
    a = p.parse_args()
    receiver(a) if a.what == "receiver" else exporter(a)


if __name__ == "__main__":
    sys.exit(main())
