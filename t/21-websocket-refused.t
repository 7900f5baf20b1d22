#!/usr/bin/env python3
# Without --allow-websocket, exactly GET /v1/responses carrying a WebSocket
# upgrade (what the Codex CLI tries first) gets 426 Upgrade Required with a
# JSON error, so that Codex falls back to HTTP POST at once; it reaches
# nothing.  Every other upgrade, method, path or query still gets 403.
import os
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
# What codex-cli sends on its WebSocket attempt (its own headers aside).
CODEX = [("Connection", "Upgrade"), ("Upgrade", "websocket"),
         ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", KEY),
         ("Authorization", "Bearer dummy"),
         ("openai-beta", "responses_websockets=2026-02-04"),
         ("session-id", "0199a0f1-0000-7000-8000-000000000000")]


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)
    base = up.conn_count()

    def ask(method, target, headers):
        raw = h.request_bytes(method=method, target=target, headers=headers,
                              content_length=False)
        before = up.conn_count()
        r = h.exchange(px, raw, method=method, timeout=10)
        return r, up.conn_count() - before

    def upgrade_refused(what, headers, target="/v1/responses"):
        r, opened = ask("GET", target, headers)
        t.is_(r.status, 426, "%s: 426" % what)
        j = r.json() or {}
        err = j.get("error") or {}
        t.ok(h.is_json_error(r) and r.complete and
             err.get("type") == "invalid_request_error" and
             "WebSocket is not enabled" in err.get("message", "") and
             "param" in err and "code" in err,
             "%s: an OpenAI-shaped JSON error saying WebSocket is not enabled (%r)"
             % (what, r.body))
        t.like(r.header1("content-type") or "", r"^application/json",
               "%s: Content-Type is application/json" % what)
        t.is_(r.header1("connection"), "close", "%s: the connection closes" % what)
        t.is_(opened, 0, "%s: no upstream connection" % what)

    upgrade_refused("Codex's WebSocket attempt", CODEX)
    upgrade_refused("lower-case, Connection: keep-alive, Upgrade",
                    [("connection", "keep-alive, Upgrade"), ("upgrade", "WebSocket"),
                     ("sec-websocket-version", "13"), ("sec-websocket-key", KEY)])
    # Not enabled is not enabled: a flawed handshake to the same place gets
    # the same answer, so the client falls back all the same.
    upgrade_refused("version 8", [(n, "8" if n == "Sec-WebSocket-Version" else v)
                                  for n, v in CODEX])
    upgrade_refused("no Sec-WebSocket-Key",
                    [(n, v) for n, v in CODEX if n != "Sec-WebSocket-Key"])

    # Everything else: 403, nothing reaches the upstream.
    for what, method, target, headers in [
            ("a query string", "GET", "/v1/responses?model=x", CODEX),
            ("an empty query", "GET", "/v1/responses?", CODEX),
            ("a trailing slash", "GET", "/v1/responses/", CODEX),
            ("another path", "GET", "/v1/realtime", CODEX),
            ("the root", "GET", "/", CODEX),
            ("lower-case method", "get", "/v1/responses", CODEX),
            ("HEAD", "HEAD", "/v1/responses", CODEX),
            ("PUT", "PUT", "/v1/responses", CODEX),
            ("DELETE", "DELETE", "/v1/responses", CODEX),
            ("an upgrade to h2c", "GET", "/v1/responses",
             [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
              ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")]),
            ("Upgrade: websocket without Connection: upgrade", "GET", "/v1/responses",
             [(n, v) for n, v in CODEX if n != "Connection"]),
            ("Connection: upgrade without Upgrade", "GET", "/v1/responses",
             [(n, v) for n, v in CODEX if n != "Upgrade"]),
            ("Upgrade: websocket/13", "GET", "/v1/responses",
             [(n, "websocket/13" if n == "Upgrade" else v) for n, v in CODEX]),
            ("no upgrade at all", "GET", "/v1/responses", [])]:
        r, opened = ask(method, target, headers)
        what = "%s %s, %s" % (method, target, what)
        t.ok(r.status in ((400, 403) if method == "get" else (403,)) and
             (method == "HEAD" or h.is_json_error(r)),
             "%s: 403 with a JSON error (%r)" % (what, r))
        t.is_(opened, 0, "%s: no upstream connection" % what)

    # POST keeps its meaning; the upgrade fields are hop-by-hop and dropped.
    r = h.post(px, b"{}", headers=CODEX[:2])
    req = up.last_request()
    names = [n.lower() for n, _ in (req or {}).get("headers", [])]
    t.ok(r.status == 200 and req is not None and req["method"] == "POST" and
         "upgrade" not in names and "connection" not in names,
         "POST /v1/responses with Upgrade: websocket is forwarded as a POST, "
         "without the upgrade (%r)" % names)

    time.sleep(0.3)
    t.is_(up.conn_count(), base + 1, "only the POST opened an upstream connection")
    t.is_(len(up.requests()), 1, "the upstream received exactly one request")


h.run(main)
