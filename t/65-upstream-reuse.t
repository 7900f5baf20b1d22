#!/usr/bin/env python3
# Upstream connections that the proxy keeps for reuse: sequential requests,
# on one client connection or on several, share one upstream connection; a
# keep-alive client connection keeps its own between requests; a
# new one resumes the TLS session, even in a burst at start-up.  A connection goes back
# for reuse only after a complete exchange, and one the server has closed
# meanwhile is not used to fail a request.
import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    def next_is_clean(what):
        """A request after `what` is forwarded as exactly itself."""
        before = len(up.requests())
        body = b'{"after":"%s"}' % what.encode()[:30]
        r = h.post(px, body)
        j = r.json() or {}
        t.ok(r.status == 200 and j.get("body_len") == len(body) and
             j.get("target") == "/v1/responses",
             "after %s: the next request gets its own intact answer (%r)" % (what, r))
        new = up.requests()[before:]
        t.is_([(q["method"], q["target"], q["body_len"]) for q in new],
              [("POST", "/v1/responses", len(body))],
              "after %s: the upstream sees exactly that one request" % what)

    # Sequential requests on one client connection share one upstream
    # connection; so do requests on client connections one after another.
    statuses = []
    with px.connect() as c:
        for i in range(5):
            c.send(h.request_bytes(body=b'{"i":%d}' % i))
            statuses.append(c.read_response().status)
    t.is_(statuses, [200] * 5, "five requests on one keep-alive client connection")
    t.is_(up.conn_count(), 1, "they used one upstream connection")
    statuses = [h.post(px, b"{}").status for _ in range(5)]
    t.is_(statuses, [200] * 5, "five more, each on a new client connection")
    t.is_(up.conn_count(), 1, "they used the same upstream connection")
    t.is_(sorted({q["conn"] for q in up.requests()}), [1],
          "the upstream saw all ten requests on its first connection")

    # Once the server has closed the pooled connection, the next request
    # opens a new one, which resumes the TLS session.
    r = h.post(px, b"{}", mode="idleclose:100")
    t.is_(r.status, 200, "a request on a pooled connection the server then closes")
    up.wait_event("end", timeout=5)
    r = h.post(px, b"{}")
    shakes = [e for e in up.events("tls") if e.get("ok")]
    t.ok(r.status == 200 and up.conn_count() == 2,
         "the next request goes on a second upstream connection (%d)" % up.conn_count())
    t.is_([e.get("resumed") for e in shakes], [False, True],
          "the first handshake is full, the second resumes the TLS session")

    # Each keep-alive client connection keeps its own upstream connection
    # between requests.  Two clients whose first requests overlap get two
    # upstream connections; requests that then alternate between them stay
    # each on its client's own (a shared pool would hand its newest
    # connection to both).
    a, b = px.connect(), px.connect()
    conns = up.conn_count()
    seen = len(up.requests())
    for c in (a, b):
        c.send(h.request_bytes(headers=[("x-test-mode", "slow:300")], body=b"{}"))
    firsts = [c.read_response().status for c in (a, b)]
    statuses = []
    for c in (a, b, a, b, a, b):
        c.send(h.request_bytes(body=b"{}"))
        statuses.append(c.read_response().status)
    a.close()
    b.close()
    t.is_(firsts + statuses, [200] * 8,
          "two keep-alive clients: two overlapping requests, then six alternating")
    on = [q["conn"] for q in up.requests()[seen:]]
    t.ok(len(on) == 8 and len(set(on)) == 2 and up.conn_count() <= conns + 2,
         "... on two upstream connections %r" % on)
    t.ok(len(set(on[2::2])) == 1 and len(set(on[3::2])) == 1 and on[2] != on[3],
         "... each client's requests on its own upstream connection %r" % on[2:])

    # When the server closes a kept connection, the proxy lets it go, and
    # the client's next request goes on a new one, intact.  (The server
    # sends close_notify after 30 ms; the next request follows 200 ms later,
    # before the proxy would give the connection to the pool after
    # IDLE_SHED_MS, 250 ms.)
    with px.connect() as c:
        c.send(h.request_bytes(headers=[("x-test-mode", "idleclose:30")], body=b"{}"))
        first = c.read_response()
        time.sleep(0.2)
        c.send(h.request_bytes(body=b'{"next":1}'))
        second = c.read_response()
    t.ok(first.status == 200 and second.status == 200 and
         (second.json() or {}).get("body_len") == 10,
         "keep-alive client: the request after the server closed its upstream "
         "connection is answered intact (%r)" % second)
    on = [q["conn"] for q in up.requests()[-2:]]
    t.ok(on[0] != on[1], "... on another upstream connection %r" % on)

    # The server closes an idle connection (cleanly) after 100 ms.
    r = h.post(px, b"{}", mode="idleclose:100")
    t.is_(r.status, 200, "idleclose: first answer")
    time.sleep(0.5)
    next_is_clean("the upstream closed an idle connection")

    r = h.post(px, b"{}", mode="close:5000")
    t.ok(r.status == 200 and r.body == h.pattern(5000), "close-delimited answer")
    next_is_clean("a close-delimited answer")

    r = h.post(px, b"{}", mode="interim")
    t.is_(r.status, 200, "answer with 100 and 103 interim responses")
    next_is_clean("interim responses")

    r = h.post(px, b"{}", mode="status:500")
    t.is_(r.status, 500, "upstream 500")
    next_is_clean("an upstream 500")

    r = h.post(px, b"{}", mode="drop:1000")
    t.ok(not r.complete or r.status == 502, "upstream died mid-body")
    next_is_clean("the upstream died mid-body")

    # The client vanishes in the middle of a stream: the upstream connection
    # still carries the rest of that stream and must not be reused.
    c = px.connect()
    c.send(h.request_bytes(headers=[("x-test-mode", "sse:20:30")], body=b"{}"))
    c.sock.settimeout(5)
    t.like(c.sock.recv(1000), r"^HTTP/1\.1 200", "a stream starts")
    c.close()
    time.sleep(0.2)
    next_is_clean("the client left in the middle of a stream")
    time.sleep(0.7)
    next_is_clean("the client left in the middle of a stream (after it ended)")

    # The client vanishes in the middle of its request body: the upstream
    # connection holds half a request and must not be reused.
    c = px.connect()
    c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
           b"y" * 100)
    time.sleep(0.3)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    time.sleep(0.3)
    next_is_clean("the client left in the middle of its request body")

    c = px.connect()
    c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"64\r\n" + b"z" * 100 + b"\r\n")
    time.sleep(0.3)
    c.close()
    time.sleep(0.3)
    next_is_clean("the client left in the middle of a chunked request body")
    t.ok(all(q["body_len"] != 100 and q["body_len"] != 5000 for q in up.requests()),
         "no truncated client body was ever delivered as a complete request")

    # A burst of first requests on a fresh proxy (no TLS session cached
    # yet, no connection to reuse): one full handshake, whose session the
    # other new connections wait for and resume.
    up2 = t.upstream()
    px2 = t.proxy(upstream=up2)
    burst = [px2.connect() for _ in range(16)]
    for c in burst:
        c.send(h.request_bytes(body=b"{}"))
    statuses = [c.read_response().status for c in burst]
    for c in burst:
        c.close()
    shakes = [e for e in up2.events("tls") if e.get("ok")]
    t.is_(statuses, [200] * 16, "a burst of 16 first requests on a fresh proxy")
    # (Rarely a second one: the server caches a session just after it
    # sends its last handshake message, and a loaded machine can let the
    # next ClientHello in between.  Without the wait, most are full.)
    full = sum(1 for e in shakes if not e.get("resumed"))
    t.ok(len(shakes) >= 8 and full <= 2,
         "... one full TLS handshake, the other new connections resume its "
         "session (%d handshakes, resumed: %r)" %
         (len(shakes), [e.get("resumed") for e in shakes]))


h.run(main)
