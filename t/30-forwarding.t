#!/usr/bin/env python3
# What reaches the upstream and what comes back: headers, status, keep-alive.
import json
import os
import sys

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402
import upstream as upstream_mod  # noqa: E402

END_TO_END = [
    ("Content-Type", "application/json"),
    ("X-A", "1"),
    ("Accept", "text/event-stream"),
    ("OpenAI-Beta", "responses=v1"),
    ("X-B", "two words,  and a comma"),
    ("X-A", "3"),
    ("User-Agent", "rap-test/1.0"),
    ("x-test-mode", "echo"),
    ("Idempotency-Key", "abc-123"),
    ("X-Empty", ""),
]
HOP_BY_HOP_NAMES = {"x-drop-me", "x-drop-too", "keep-alive", "proxy-authorization",
                    "proxy-connection", "te", "upgrade", "trailer"}


def names(headers):
    return [n.lower() for n, v in headers]


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)
    key = t.key

    # --- request headers ---------------------------------------------------
    body = b'{"model":"gpt-test","input":"hi"}'
    sent = [
        ("Authorization", "Bearer client-supplied-1"),
        END_TO_END[0],
        ("Connection", "keep-alive, X-Drop-Me"),
        END_TO_END[1],
        ("X-Drop-Me", "hop"),
        END_TO_END[2],
        ("authorization", "Basic Y2xpZW50OnB3"),
        ("Keep-Alive", "timeout=5"),
        END_TO_END[3],
        ("Proxy-Authorization", "Basic eDp5"),
        ("Proxy-Connection", "keep-alive"),
        END_TO_END[4],
        ("TE", "trailers"),
        ("Connection", "x-drop-too"),
        ("X-Drop-Too", "hop"),
        END_TO_END[5],
        ("AUTHORIZATION", "Bearer client-supplied-3"),
        END_TO_END[6],
        END_TO_END[7],
        ("aUtHoRiZaTiOn", "Bearer client-supplied-4"),
        END_TO_END[8],
        END_TO_END[9],
    ]
    r = h.exchange(px, h.request_bytes(headers=sent, body=body))
    t.is_(r.status, 200, "request with many headers is forwarded")
    req = up.last_request()
    hdrs = req["headers"]
    auth = [v for n, v in hdrs if n.lower() == "authorization"]
    t.is_(len(auth), 1, "exactly one Authorization header reaches the upstream")
    t.ok(auth == ["Bearer " + key],
         "Authorization is 'Bearer <key from stdin>' (client values dropped)")
    if auth != ["Bearer " + key]:
        t.diag("upstream saw Authorization values: %r" %
               [v.replace(key, "<KEY>") for v in auth])
    hosts = [v for n, v in hdrs if n.lower() == "host"]
    t.is_(hosts, ["localhost:%d" % up.port], "Host is rewritten to the upstream host:port")
    leaked = [n for n in names(hdrs) if n in HOP_BY_HOP_NAMES]
    t.is_(leaked, [], "hop-by-hop headers (and those Connection names) are dropped")
    conn_vals = " ".join(v for n, v in hdrs if n.lower() == "connection").lower()
    t.unlike(conn_vals, r"x-drop|upgrade", "no client Connection tokens reach the upstream")
    e2e_names = {n.lower() for n, v in END_TO_END}
    got = [(n.lower(), v) for n, v in hdrs if n.lower() in e2e_names]
    t.is_(got, [(n.lower(), v) for n, v in END_TO_END],
          "end-to-end headers keep their order, duplicates and values")
    t.is_(req["method"], "POST", "method is POST")
    t.is_(req["target"], "/v1/responses", "target is the upstream URL's path")
    t.is_(req["body"], body.decode(), "body forwarded intact")
    t.is_(req["framing"] in ("length", "chunked"), True, "request body is framed")

    # Routing-override fields, which some gateways in front of the API take
    # as the real method or path, in any case, among fields that do pass.
    overrides = [("X-HTTP-Method-Override", "DELETE"), ("x-http-method", "GET"),
                 ("X-Method-Override", "PUT"), ("X-ORIGINAL-URL", "/v1/files"),
                 ("x-Rewrite-Url", "/v1/organization/admin_api_keys"),
                 ("X-HTTP-Method-Override", "PATCH")]
    sent = [("Content-Type", "application/json")]
    for o in overrides:
        sent += [o, ("X-Kept-%d" % len(sent), "yes")]
    r = h.exchange(px, h.request_bytes(headers=sent, body=b"{}"))
    got = names(up.last_request()["headers"])
    t.is_(r.status, 200, "a request with routing-override headers is forwarded")
    t.is_([n for n in got if n in {o[0].lower() for o in overrides}], [],
          "X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override, X-Original-URL "
          "and X-Rewrite-URL never reach the upstream, in any case")
    t.is_([n for n in got if n.startswith("x-kept-")],
          [n.lower() for n, v in sent if n.startswith("X-Kept-")],
          "the fields between them do")

    # Upgrade: h2c on a normal POST must not reach the upstream either.
    r = h.post(px, b"{}", headers=[("Connection", "Upgrade, HTTP2-Settings"),
                                   ("Upgrade", "h2c"), ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA")])
    t.ok(r.status in (200, 400, 403), "POST with Upgrade: h2c is either forwarded "
         "without the upgrade or refused (status %s)" % r.status)
    if r.status == 200:
        n = names(up.last_request()["headers"])
        t.ok("upgrade" not in n and "http2-settings" not in n,
             "Upgrade and the headers Connection names are not forwarded")

    # --- response headers --------------------------------------------------
    r = h.post(px, b"{}", mode="headers")
    t.is_(r.status, 200, "headers mode: 200")
    want = [(n.lower(), v) for n, v in upstream_mod.HEADERS_MODE_END_TO_END
            if n.lower() != "content-type"]
    got = [(n.lower(), v) for n, v in r.headers if n.lower() in {w[0] for w in want}]
    t.is_(got, want, "end-to-end response headers relayed in order with duplicates "
          "(Set-Cookie x2, x-request-id, openai-processing-ms, x-ratelimit-*)")
    t.is_(r.header("content-type"), ["application/json"], "Content-Type relayed once")
    bad = [n for n in names(r.headers)
           if n in ("x-foo", "x-bar", "keep-alive", "proxy-foo", "proxy-authenticate")]
    t.is_(bad, [], "hop-by-hop response headers dropped (x-foo, X-Bar, Keep-Alive, Proxy-*)")
    conn_vals = " ".join(r.header("connection")).lower()
    t.unlike(conn_vals, r"x-foo|x-bar", "upstream Connection tokens not relayed")
    t.is_(r.body, b'{"headers_mode":true}', "headers mode: body relayed")

    # --- status mirroring --------------------------------------------------
    for status in (200, 201, 400, 401, 404, 429, 500, 503, 302):
        before = len(up.requests())
        r = h.post(px, b"{}", mode="status:%d" % status)
        t.is_(r.status, status, "status %d relayed" % status)
        j = r.json()
        t.ok(isinstance(j, dict) and j.get("test_status") == status and r.complete,
             "status %d: upstream body relayed intact" % status)
        if status == 302:
            t.is_(r.header("location"),
                  ["https://localhost:%d/redirected-target" % up.port],
                  "302: Location relayed")
            reqs = up.requests()[before:]
            t.is_([q["target"] for q in reqs], ["/v1/responses"],
                  "302: redirect not followed (upstream saw one request)")

    # --- upstream URL with its own path and query ---------------------------
    custom = up.url(path="/custom/base/responses?api-version=2025-01-01&x=%2F")
    px2 = t.proxy(upstream=up, url=custom)
    r = h.post(px2, b"{}")
    t.is_(r.status, 200, "custom upstream path: forwarded")
    t.is_(up.last_request()["target"], "/custom/base/responses?api-version=2025-01-01&x=%2F",
          "upstream request target is the URL's path and query, verbatim")
    px2.stop()

    # --- keep-alive --------------------------------------------------------
    with px.connect() as c:
        results = []
        steps = [
            ("echo", h.request_bytes(headers=[("x-test-mode", "echo")], body=b"one")),
            ("big:300000", h.request_bytes(headers=[("x-test-mode", "big:300000")], body=b"two")),
            ("bigchunked:200000", h.request_bytes(headers=[("x-test-mode", "bigchunked:200000")],
                                                  body=b"three")),
            ("status:404", h.request_bytes(headers=[("x-test-mode", "status:404")], body=b"4")),
            ("headers", h.request_bytes(headers=[("x-test-mode", "headers")], body=b"5")),
            ("echo chunked", h.request_bytes(headers=[("x-test-mode", "echo")],
                                             chunks=[b"six", b"-", b"chunks"])),
            ("sse:3:10", h.request_bytes(headers=[("x-test-mode", "sse:3:10")], body=b"7")),
            ("echo", h.request_bytes(headers=[("x-test-mode", "echo")], body=b"eight")),
        ]
        for name, raw in steps:
            c.send(raw)
            r = c.read_response(timeout=10)
            results.append((name, r.status, r.complete))
            if name == "big:300000":
                t.ok(r.body == h.pattern(300000), "keep-alive: big body intact")
            if name == "bigchunked:200000":
                t.ok(r.body == h.pattern(200000), "keep-alive: chunked body intact")
            if name == "echo chunked":
                j = r.json() or {}
                t.is_(j.get("body_len"), 10, "keep-alive: chunked request body forwarded")
            if r.status is None:
                break
        want = [(name, 404 if name == "status:404" else 200, True) for name, _ in steps]
        t.is_(results, want, "keep-alive: %d requests on one client connection" % len(steps))

    # Connection: close from the client is honoured.
    with px.connect() as c:
        c.send(h.request_bytes(headers=[("Connection", "close")], body=b"{}"))
        r = c.read_response()
        t.is_(r.status, 200, "Connection: close request answered")
        t.ok(c.wait_closed(3), "Connection: close: the proxy closes the connection")

    # --- plain http:// upstream on loopback ---------------------------------
    plain = t.upstream(plain=True)
    px3 = t.proxy(upstream=plain, url=plain.url(host="127.0.0.1"))
    r = h.post(px3, b'{"plain":true}')
    t.is_(r.status, 200, "http://127.0.0.1 upstream: forwarded")
    req = plain.last_request()
    auth = [v for n, v in (req or {}).get("headers", []) if n.lower() == "authorization"]
    t.ok(auth == ["Bearer " + key], "http:// upstream: Authorization injected")
    t.is_([v for n, v in req["headers"] if n.lower() == "host"],
          ["127.0.0.1:%d" % plain.port], "http:// upstream: Host is 127.0.0.1:port")
    t.is_(json.loads(req["body"]), {"plain": True}, "http:// upstream: body intact")


h.run(main)
