#!/usr/bin/env python3
# Faults on either side of a relayed exchange.  A client that goes away
# makes the proxy drop the upstream connection promptly; an upstream that
# misbehaves gives a 502 before the response head, or a response the
# client can tell is incomplete after it; and after each fault the proxy
# goes on serving.  (Refused connections and certificate mismatches are in
# 60-upstream-errors.t.)
import os
import socket
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

PROMPT = 3.0            # seconds: "promptly", loosely


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    def healthy(what):
        r = h.post(px, b'{"healthy":1}', timeout=10)
        t.ok(px.running() and r.status == 200 and (r.json() or {}).get("body_len") == 13,
             "after %s: the proxy still serves requests" % what)

    def conn_of(marker, timeout=5):
        """The upstream connection that carried the request marked `marker`."""
        def find():
            for e in up.events():
                if e["type"] == "request" and ["x-marker", marker] in e["headers"]:
                    return e["conn"]
            return None
        return h.wait_until(find, timeout)

    # --- the client goes away --------------------------------------------------------
    for what, head, body, close in [
            ("Content-Length body", b"Content-Length: 100000\r\n", b"b" * 1000, "close"),
            ("Content-Length body", b"Content-Length: 100000\r\n", b"b" * 1000, "reset"),
            ("chunked body", b"Transfer-Encoding: chunked\r\n",
             b"3e8\r\n" + b"b" * 1000 + b"\r\n", "close"),
            ("chunked body", b"Transfer-Encoding: chunked\r\n",
             b"3e8\r\n" + b"b" * 1000 + b"\r\n", "reset")]:
        what = "client %s inside a %s" % ("closes" if close == "close" else "resets", what)
        aborts, requests = len(up.events("aborted")), len(up.requests())
        c = px.connect(timeout=10)
        c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n" + body)
        time.sleep(0.3)
        gone = time.time()
        if close == "close":
            c.close()
        else:
            h.reset_close(c)
        ok = h.wait_until(lambda: len(up.events("aborted")) > aborts, 5)
        e = up.events("aborted")[-1] if ok else None
        t.ok(e is not None and e["stage"] == "body" and e["body_received"] == 1000 and
             e["time"] - gone < PROMPT,
             "%s: the upstream sees the request aborted after the 1000 body bytes, "
             "promptly (%r)" % (what, e))
        t.is_(len(up.requests()), requests, "%s: no complete request upstream" % what)
        healthy(what)

    for close in ("close", "reset"):
        what = "client %s during an SSE stream" % ("closes" if close == "close" else "resets")
        marker = "sse-" + close
        c = px.connect(timeout=10)
        c.send(h.request_bytes(headers=[("x-test-mode", "sse:100:100"), ("x-marker", marker)],
                               body=b"{}"))
        c.sock.settimeout(10)
        first = c.sock.recv(1000)
        t.check_response_for_key(first)
        t.like(first, r"^HTTP/1\.1 200", "%s: the stream started" % what)
        gone = time.time()
        if close == "close":
            c.close()
        else:
            h.reset_close(c)
        cid = conn_of(marker)
        end = up.wait_event("end", lambda e: e["conn"] == cid, 8)
        errors = [e for e in up.events("error") if e["conn"] == cid]
        t.ok(end is not None and end["time"] - gone < PROMPT and errors,
             "%s: the upstream connection is closed within %.0f s, not at the end of "
             "the 10 s stream (%r, %r)" % (what, PROMPT, end and end["time"] - gone, errors))
        healthy(what)

    # (A half-close after the request is not a hang-up: 48-half-close.t.)

    # --- SIGPIPE: the client goes away while the proxy writes to it ---------------------
    # The man page says SIGPIPE is ignored.  Every write path also stops at
    # its first error, so the vanishing clients below may never make the
    # kernel raise it: check the disposition itself too.
    sigign = int(h.proc_status_field(px.pid, "SigIgn") or "0", 16)
    t.ok(sigign & (1 << (13 - 1)), "SIGPIPE is ignored (SigIgn %x)" % sigign)
    for i in range(4):
        c = px.connect(timeout=10)
        c.send(h.request_bytes(headers=[("x-test-mode", "big:%d" % (8 << 20))], body=b"{}"))
        c.sock.settimeout(10)
        t.check_response_for_key(c.sock.recv(65536))
        time.sleep(0.05)
        if i % 2:
            c.close()
        else:
            h.reset_close(c)
    time.sleep(0.3)
    t.ok(px.running(), "clients closing or resetting while an 8 MB response is being "
         "written: the proxy is not killed (SIGPIPE)")
    healthy("clients vanishing during big responses")

    # --- the upstream misbehaves before the response head --------------------------------
    def bad_gateway(what, mode, status=502, proxy=None):
        r = h.post(proxy or px, b"{}", mode=mode, timeout=15)
        t.is_(r.status, status, "%s: %d" % (what, status))
        good = (h.is_json_error(r) and r.complete and
                (r.json() or {})["error"]["type"] == "upstream_error")
        t.ok(good, "%s: JSON upstream_error body" % what)
        if not good:
            t.diag(repr(r))
        healthy(what)

    # (60-upstream-errors.t has these too; here each is followed by a request.)
    bad_gateway("upstream resets the connection", "reset")
    bad_gateway("status line cut short", "truncated")
    bad_gateway("garbage status line", "badhead")
    bad_gateway("upstream closes without answering", "eof")
    bad_gateway("response head of 70000 bytes", "hugehead:70000")
    bad_gateway("response header line of 17000 bytes", "hugehead:17000")
    bad_gateway("101 response header fields", "manyheaders:99")
    bad_gateway("response with Content-Length and Transfer-Encoding", "ambiguous")
    bad_gateway("response with two Content-Length fields", "twolength")
    bad_gateway("101 Switching Protocols", "switching")
    bad_gateway("9 interim responses", "manyinterim:9")
    r = h.post(px, b"{}", mode="hugehead:16000")
    t.ok(r.status == 200 and len(r.header1("X-Huge") or "") == 16000,
         "a 16000-byte response header line is relayed intact")
    r = h.post(px, b"{}", mode="manyheaders:98")
    t.ok(r.status == 200 and len([n for n, v in r.headers if n.startswith("X-Extra-")]) == 98,
         "a response with 100 header fields is relayed with all of them")
    r = h.post(px, b"{}", mode="manyinterim:8")
    t.ok(r.status == 200 and r.interim == [] and r.complete,
         "8 interim responses, then 200: one final 200, no interim relayed")

    # A TLS handshake that ends in an alert from the upstream.
    for what, upstream in [
            ("upstream demands a client certificate (TLS alert)",
             t.upstream(args=["--require-client-cert", t.ca_file]))]:
        other = t.proxy(upstream=upstream)
        r = h.post(other, b"{}", timeout=15)
        t.is_(r.status, 502, "%s: 502" % what)
        t.ok(h.is_json_error(r) and (r.json() or {})["error"]["type"] == "upstream_error",
             "%s: JSON upstream_error body" % what)
        t.is_(upstream.requests(), [], "%s: no request got through" % what)
        t.ok(other.running(), "%s: the proxy keeps running" % what)
        tls = upstream.wait_event("tls", None, 5)
        t.ok(tls is not None and tls["ok"] is False,
             "%s: the upstream saw the handshake fail (%r)" % (what, tls))

    # --- interim responses --------------------------------------------------------------
    with px.connect(timeout=10) as c:
        c.send(h.request_bytes(headers=[("x-test-mode", "interim")], body=b"one"))
        r1 = c.read_response(timeout=10)
        c.send(h.request_bytes(body=b"second"))
        r2 = c.read_response(timeout=10)
        t.ok(r1.status == 200 and r1.interim == [] and (r1.json() or {}).get("body_len") == 3,
             "upstream 100 and 103: the client gets one final 200 and no interim (%r, %r)"
             % (r1, r1.interim))
        t.ok(r2.status == 200 and r2.interim == [] and (r2.json() or {}).get("body_len") == 6,
             "upstream 100 and 103: the next request on the connection is answered in step")
    with px.connect(timeout=10) as c:
        c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nx-test-mode: interim\r\n"
               b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        c.sock.settimeout(10)
        c.send(b"{}")
        r = c.read_response(timeout=10)
        t.ok(r.status == 200 and [s for s, _ in r.interim] in ([], [100]),
             "client sent Expect: 100-continue, upstream 100 and 103: at most one 100, "
             "no 103, then 200 (%r)" % r.interim)

    # --- responses without framing ---------------------------------------------------------
    n = 300000
    r = h.post(px, b"{}", mode="close:%d" % n, timeout=15)
    t.ok(r.status == 200 and r.framing == "chunked" and r.complete and r.body == h.pattern(n),
         "close-delimited response, clean close: chunked to the HTTP/1.1 client, complete, "
         "intact (%r)" % r)
    with px.connect(timeout=15) as c:
        c.send(h.request_bytes(headers=[("x-test-mode", "closeabrupt:%d" % n)], body=b"{}"))
        r = c.read_response(timeout=15)
        t.ok(r.status == 200 and r.framing == "chunked" and not r.complete and
             r.body == h.pattern(n) and c.wait_closed(5),
             "close-delimited response cut without close_notify: all bytes relayed, no last "
             "chunk, connection closed (%r)" % r)
    healthy("a close-delimited response cut short")
    with px.connect(timeout=15) as c:
        c.send(b"POST /v1/responses HTTP/1.0\r\nx-test-mode: close:%d\r\n"
               b"Content-Length: 2\r\n\r\n{}" % n)
        r = c.read_response(timeout=15)
        t.ok(r.status == 200 and r.framing == "close" and r.body == h.pattern(n),
             "close-delimited response to an HTTP/1.0 client: delimited by close, intact")

    # --- the upstream dies after the response head -----------------------------------------
    for mode, what in [("drop:3000", "Content-Length body cut (no close_notify)"),
                       ("dropclean:3000", "Content-Length body cut by a clean close"),
                       ("dropchunked:300000", "chunked body without its last chunk"),
                       ("badchunk:5000", "chunked body with a malformed chunk")]:
        with px.connect(timeout=15) as c:
            c.send(h.request_bytes(headers=[("x-test-mode", mode)], body=b"{}"))
            r = c.read_response(timeout=15)
            closed = c.wait_closed(5)
        t.ok(r.status == 200 and not r.complete and closed,
             "%s: 200, then an incomplete body the client can detect (framing %s, %d bytes, "
             "%s), connection closed" % (what, r.framing, len(r.body), r.error))
        healthy(what)


h.run(main)
