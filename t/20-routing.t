#!/usr/bin/env python3
# Only exactly "POST /v1/responses" is forwarded; everything else is 403 with
# a JSON error and never opens an upstream connection.
import os
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    r = h.post(px, b'{"ok":1}')
    t.is_(r.status, 200, "POST /v1/responses is forwarded")
    base = up.conn_count()
    t.ok(base >= 1, "the forwarded request reached the upstream")

    authority = "127.0.0.1:%d" % px.port
    # (method, target) that must get exactly 403.
    denied = [
        ("GET", "/v1/responses"),
        ("PUT", "/v1/responses"),
        ("DELETE", "/v1/responses"),
        ("PATCH", "/v1/responses"),
        ("HEAD", "/v1/responses"),
        ("OPTIONS", "/v1/responses"),
        ("OPTIONS", "*"),
        ("TRACE", "/v1/responses"),
        ("POST", "/v1/responses?x=1"),
        ("POST", "/v1/responses?"),
        ("POST", "/v1/responses/"),
        ("POST", "/V1/responses"),
        ("POST", "/v1/Responses"),
        ("POST", "/V1/RESPONSES"),
        ("POST", "/v1/./responses"),
        ("POST", "/./v1/responses"),
        ("POST", "/v1/../v1/responses"),
        ("POST", "/v1/responses/."),
        ("POST", "/v1/responses/../responses"),
        ("POST", "//v1/responses"),
        ("POST", "/v1//responses"),
        ("POST", "/v1/%72esponses"),
        ("POST", "/v1%2Fresponses"),
        ("POST", "/%761/responses"),
        ("POST", "/v1/responses%20"),
        ("POST", "/v1/responses;a=b"),
        ("POST", "/v1/responsesX"),
        ("POST", "/v1/responses/resp_123"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1"),
        ("POST", "/"),
        ("GET", "/"),
        ("GET", "/v1/models"),
        ("POST", "http://%s/v1/responses" % authority),
        ("POST", "https://api.openai.com/v1/responses"),
        ("CONNECT", "api.openai.com:443"),
        ("CONNECT", "127.0.0.1:%d" % up.port),
        ("GET", "/shutdown"),
        ("POST", "/shutdown"),
    ]
    # Malformed rather than merely not allowed: 400 is as good as 403.
    malformed = [
        ("post", "/v1/responses"),
        ("POST", "/v1/responses#frag"),
        ("POST", "v1/responses"),
        ("POST", "*"),
    ]

    def check(method, target, allowed):
        host = "api.openai.com:443" if method == "CONNECT" else "127.0.0.1"
        body = b'{"model":"x"}'
        raw = h.request_bytes(method=method, target=target, body=body,
                              headers=[("Content-Type", "application/json"),
                                       ("Content-Length", str(len(body)))],
                              content_length=False, host=host)
        before = up.conn_count()
        r = h.exchange(px, raw, method=method, timeout=10)
        what = "%s %s" % (method, target)
        t.ok(r.status in allowed, "%s: status %s (want %s)" % (
            what, r.status, "/".join(map(str, allowed))))
        if method != "HEAD":
            good = h.is_json_error(r) and r.complete
            t.ok(good, "%s: body is a complete JSON error {error:{message,type}}" % what)
            if not good:
                t.diag("response: %r" % r)
            ct = r.header1("content-type") or ""
            t.like(ct, r"^application/json", "%s: Content-Type is application/json" % what)
        t.is_(up.conn_count(), before, "%s: no upstream connection" % what)

    for method, target in denied:
        check(method, target, (403,))
    for method, target in malformed:
        check(method, target, (400, 403))

    time.sleep(0.3)
    t.is_(up.conn_count(), base,
          "after all denied requests (and a pause) the upstream saw no new connection")
    t.is_(len(up.requests()), 1, "the upstream received exactly one request in total")

    r = h.post(px, b'{"ok":2}')
    t.is_(r.status, 200, "the proxy still forwards POST /v1/responses afterwards")


h.run(main)
