#!/usr/bin/env python3
# Every timeout of the proxy fires, answers what the man page says, and
# does not fire early.  Runs the short-timeouts build (PROXY_SHORT_TIMEOUTS,
# src/bounds.h SHORT_TIMEOUTS: 1-2 s) so the suite stays fast; each
# scenario runs in its own thread with its own proxy, and the bounds are
# loose: no answer before half the timeout, every answer within 10 s.
import os
import select
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

# The SHORT_TIMEOUTS values of src/bounds.h, in seconds.
CLIENT_HEAD = 1.5
CLIENT_IDLE = 2.0
CLIENT_BODY = 1.5
CLIENT_WRITE = 1.5
UPSTREAM_CONNECT = 1.0
UPSTREAM_IDLE = 2.0
UPSTREAM_SEND = 1.5
LATEST = 10.0           # every timeout must have fired by then
BIG = 32 << 20          # more than every socket buffer on the way


def main(t):
    short = h.short_proxy_path()
    if not short or not os.access(short, os.X_OK):
        t.skip("PROXY_SHORT_TIMEOUTS is not set to the short-timeouts build", 1)
        return

    # Everything is started here, in the main thread; the scenarios only use it.
    up = t.upstream()
    quiet = t.upstream()
    stall = t.upstream(args=["--stall"])

    def proxy(**kw):
        return t.proxy(path=short, **kw)

    listeners = []

    def blackhole(backlog_full):
        """A TCP listener that never accepts.  backlog_full: its queue is
        full, so a connect never completes; else connects complete and
        the TLS handshake is never answered."""
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(0 if backlog_full else 16)
        listeners.append(ls)
        if backlog_full:
            for _ in range(3):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(ls.getsockname())
                listeners.append(s)
            time.sleep(0.1)
        return ls.getsockname()[1]

    px_head, px_fresh = proxy(upstream=quiet), proxy(upstream=quiet)
    px_idle, px_body, px_chunk = (proxy(upstream=up) for _ in range(3))
    px_silent, px_silent_body, px_reader = (proxy(upstream=up) for _ in range(3))
    px_send = proxy(upstream=stall)
    px_syn = proxy(url="https://localhost:%d/v1/responses" % blackhole(True),
                   args=["--ca-file", t.ca_file])
    px_tls = proxy(url="https://localhost:%d/v1/responses" % blackhole(False),
                   args=["--ca-file", t.ca_file])

    def json_error(r, kind):
        return h.is_json_error(r) and (r.json() or {})["error"]["type"] == kind

    # --- client side ------------------------------------------------------------
    def head_trickled(rec):
        with px_head.connect(timeout=LATEST) as c:
            c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            first = time.monotonic()
            while time.monotonic() - first < LATEST:
                if select.select([c.sock], [], [], 0.2)[0]:
                    break
                try:
                    c.send(b"s")
                except OSError:
                    break
            r = c.read_response(timeout=LATEST)
            took = time.monotonic() - first
            closed = c.wait_closed(5)
        rec.is_(r.status, 408, "head trickled one byte per 0.2 s: 408")
        rec.ok(json_error(r, "invalid_request_error") and r.header1("Connection") == "close"
               and closed, "head trickled: JSON error, then the connection is closed")
        rec.ok(CLIENT_HEAD / 2 <= took < LATEST,
               "head trickled: answered after the head timeout although bytes kept "
               "arriving (%.2f s)" % took)

    def idle_keepalive(rec):
        with px_idle.connect(timeout=LATEST) as c:
            c.send(h.request_bytes(body=b"{}"))
            r = c.read_response(timeout=LATEST)
            rec.ok(r.status == 200 and r.header("Connection") == [],
                   "keep-alive request answered, connection left open")
            start = time.monotonic()
            closed = c.wait_closed(LATEST)
            took = time.monotonic() - start
            rec.ok(closed and CLIENT_IDLE / 2 <= took < LATEST,
                   "idle keep-alive connection closed after the idle timeout (%.2f s)" % took)
            rec.is_(bytes(c.buf), b"", "idle keep-alive connection: closed without an answer")

    def idle_fresh(rec):
        with px_fresh.connect(timeout=LATEST) as c:
            start = time.monotonic()
            closed = c.wait_closed(LATEST)
            took = time.monotonic() - start
            rec.ok(closed and CLIENT_IDLE / 2 <= took < LATEST,
                   "connection that never sends closed after the idle timeout (%.2f s)" % took)
            rec.is_(bytes(c.buf), b"", "silent connection: closed without an answer")

    def body_silent(rec, px, what, head, body, sent):
        before = len(up.events("aborted"))
        with px.connect(timeout=LATEST) as c:
            c.send(head + body)
            start = time.monotonic()
            r = c.read_response(timeout=LATEST)
            took = time.monotonic() - start
            closed = c.wait_closed(5)
        rec.is_(r.status, 408, "%s body silent: 408" % what)
        rec.ok(json_error(r, "invalid_request_error") and closed and
               CLIENT_BODY / 2 <= took < LATEST,
               "%s body silent: JSON error after the body timeout (%.2f s), closed" % (what, took))
        e = up.wait_event("aborted", lambda e: e["framing"] == what and e["stage"] == "body", 5)
        rec.ok(e is not None and e["body_received"] == sent,
               "%s body silent: the upstream saw the request aborted after %d body "
               "bytes (%r)" % (what, sent, e))
        rec.ok(len(up.events("aborted")) > before, "%s body silent: abort logged" % what)

    def length_body_silent(rec):
        body_silent(rec, px_body, "length", b"POST /v1/responses HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 100\r\n\r\n", b"0123456789", 10)

    def chunked_body_silent(rec):
        body_silent(rec, px_chunk, "chunked", b"POST /v1/responses HTTP/1.1\r\nHost: x\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n", 5)

    def client_not_reading(rec):
        with px_reader.connect(timeout=LATEST) as c:
            c.send(h.request_bytes(headers=[("x-test-mode", "big:%d" % BIG),
                                            ("x-marker", "not-reading")], body=b"{}"))
            c.sock.settimeout(LATEST)
            first = c.sock.recv(1000)
            t.check_response_for_key(first)
            rec.like(first, r"^HTTP/1\.1 200", "client not reading: the response started")

            def gave_up():
                conns = [q["conn"] for q in up.requests()
                         if ["x-marker", "not-reading"] in q["headers"]]
                return conns and up.wait_event("end", lambda e: e["conn"] == conns[0], 0)
            ended = h.wait_until(gave_up, LATEST + CLIENT_WRITE)
            rec.ok(ended, "client not reading: the proxy gives up and drops the upstream")
            got, eof = len(first), False
            deadline = time.monotonic() + LATEST
            while time.monotonic() < deadline:
                try:
                    piece = c.sock.recv(1 << 20)
                except ConnectionResetError:
                    piece = b""
                if not piece:
                    eof = True
                    break
                got += len(piece)
                t.check_response_for_key(piece)
            rec.ok(eof and got < BIG,
                   "client not reading: its connection was closed before the whole body "
                   "(%d of %d bytes)" % (got, BIG))

    # --- upstream side ------------------------------------------------------------
    def upstream_error(rec, px, what, status, least, mode=None):
        start = time.monotonic()
        r = h.post(px, b"{}", mode=mode, timeout=LATEST)
        took = time.monotonic() - start
        rec.is_(r.status, status, "%s: %d" % (what, status))
        rec.ok(json_error(r, "upstream_error") and r.complete,
               "%s: JSON upstream_error body" % what)
        rec.ok(least / 2 <= took < LATEST, "%s: after the timeout (%.2f s)" % (what, took))

    def connect_timeout(rec):
        upstream_error(rec, px_syn, "upstream TCP connect never completes (backlog full)",
                       504, UPSTREAM_CONNECT)

    def handshake_timeout(rec):
        upstream_error(rec, px_tls, "upstream accepts but never answers the TLS handshake",
                       504, UPSTREAM_CONNECT)

    def upstream_silent(rec):
        upstream_error(rec, px_silent, "upstream silent after the request", 504,
                       UPSTREAM_IDLE, mode="slow:%d" % int(UPSTREAM_IDLE * 4000))

    def upstream_silent_in_body(rec):
        with px_silent_body.connect(timeout=LATEST) as c:
            c.send(h.request_bytes(headers=[("x-test-mode", "sse:2:%d" % int(UPSTREAM_IDLE * 4000))],
                                   body=b"{}"))
            events = []
            r = c.read_response(timeout=LATEST,
                                on_data=lambda piece, when: events.append(time.monotonic()))
        took = time.monotonic() - events[0] if events else -1
        rec.ok(r.status == 200 and not r.complete and r.framing == "chunked",
               "upstream silent inside the body: the client sees the body end without "
               "its last chunk (%r)" % r)
        rec.ok(UPSTREAM_IDLE / 2 <= took < UPSTREAM_IDLE * 4 - 1,
               "upstream silent inside the body: closed after the idle timeout, before "
               "the upstream's next event (%.2f s)" % took)

    def upstream_not_reading(rec):
        with px_send.connect(timeout=LATEST) as c:
            c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BIG)

            def sender():
                try:
                    c.sock.sendall(b"b" * BIG)
                except OSError:
                    pass
            th = threading.Thread(target=sender, daemon=True)
            th.start()
            start = time.monotonic()
            r = c.read_response(timeout=LATEST + 5)
            took = time.monotonic() - start
        rec.is_(r.status, 504, "upstream stops reading the request body: 504")
        rec.ok(json_error(r, "upstream_error") and UPSTREAM_SEND / 2 <= took < LATEST + 5,
               "upstream stops reading: JSON upstream_error after the send timeout "
               "(%.2f s)" % took)

    # Warm the pools of the proxies whose scenarios expect the upstream
    # to answer or to see the request: on a loaded machine a cold TLS
    # handshake with the Python upstream can outlast this build's 1 s
    # connect timeout and turn the client-side timeout under test into
    # a 504.  The timeouts tested are not the handshake's.
    for px in (px_idle, px_body, px_chunk, px_silent_body, px_reader):
        h.post(px, b"{}", timeout=LATEST)

    h.concurrently(t, [head_trickled, idle_keepalive, idle_fresh, length_body_silent,
                       chunked_body_silent, client_not_reading, connect_timeout,
                       handshake_timeout, upstream_silent, upstream_silent_in_body,
                       upstream_not_reading], timeout=40)

    t.is_(quiet.conn_count(), 0, "no upstream connection for a request head that timed out "
          "or a connection that never sent one")
    for ls in listeners:
        ls.close()
    for px in (px_head, px_idle, px_fresh, px_body, px_chunk, px_silent, px_silent_body,
               px_reader):
        r = h.post(px, b"{}", timeout=LATEST)
        t.ok(r.status == 200, "after its timeout the proxy still serves a request (port %d)"
             % px.port)
    t.ok(all(px.running() for px in (px_send, px_syn, px_tls)),
         "the proxies whose upstream timed out are still running")


h.run(main)
