#!/usr/bin/env python3
# Half-closed clients get their response.  A client that sends a whole
# request and then shuts down its sending side (shutdown(SHUT_WR), as
# socat and nc -N do) is waiting for the answer: it gets all of it,
# streamed SSE included, and then the proxy closes.  A half-close inside
# a request body is still an abort, and a client that is really gone
# (reset) still makes the proxy drop the upstream connection promptly.
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

    def half_closed(raw, what, timeout=15):
        """Send raw, shut down the sending side, read one response and
        whether the proxy then closes."""
        with px.connect(timeout=timeout) as c:
            c.send(raw)
            c.sock.shutdown(socket.SHUT_WR)
            r = c.read_response(timeout=timeout)
            closed = c.wait_closed(5)
            extra = bytes(c.buf)
        return r, closed, extra

    # The upstream answers only after a delay, so the FIN surely arrives
    # while the proxy waits for the response head.
    body = b'{"half":"close"}'
    r, closed, extra = half_closed(
        h.request_bytes(headers=[("x-test-mode", "slow:500")], body=body), "length")
    t.ok(r.status == 200 and r.complete and (r.json() or {}).get("body_len") == len(body),
         "half-close after a Content-Length body: the whole response (%r)" % r)
    t.ok(closed and extra == b"", "... then the proxy closes the connection")

    chunks = [b'{"half":', b'"close",', b'"chunked":true}']
    r, closed, extra = half_closed(
        h.request_bytes(headers=[("x-test-mode", "slow:500")], chunks=chunks), "chunked")
    t.ok(r.status == 200 and r.complete and
         (r.json() or {}).get("body_len") == len(b"".join(chunks)) and
         (r.json() or {}).get("framing") == "chunked",
         "half-close after a chunked body: the whole response (%r)" % r)
    t.ok(closed and extra == b"", "... then the proxy closes the connection")

    # A stream of 20 events, 50 ms apart: the FIN arrives long before the
    # end, and every event must still come.
    r, closed, extra = half_closed(
        h.request_bytes(headers=[("x-test-mode", "sse:20:50")], body=b"{}"), "sse")
    events = r.body.count(b"event: response.output_text.delta\n")
    t.ok(r.status == 200 and r.complete and events == 20,
         "half-close with an SSE response: all 20 events and the end of the stream "
         "(%d events, %r)" % (events, r))
    t.ok(closed and extra == b"", "... then the proxy closes the connection")

    # Pipelined requests followed by the FIN: each one is answered.
    with px.connect(timeout=15) as c:
        c.send(h.request_bytes(body=b"a") + h.request_bytes(body=b"bb") +
               h.request_bytes(headers=[("x-test-mode", "slow:300")], body=b"ccc"))
        c.sock.shutdown(socket.SHUT_WR)
        got = []
        for _ in range(3):
            r = c.read_response(timeout=15)
            got.append((r.status, (r.json() or {}).get("body_len")))
        t.is_(got, [(200, 1), (200, 2), (200, 3)],
              "three pipelined requests, then a half-close: all three answered in order")
        t.ok(c.wait_closed(5) and not c.buf, "... then the proxy closes the connection")

    # --- a half-close inside a request body is still an abort --------------------------
    for what, head, part in [
            ("Content-Length", b"Content-Length: 100000\r\n", b"b" * 1000),
            ("chunked", b"Transfer-Encoding: chunked\r\n",
             b"3e8\r\n" + b"b" * 1000 + b"\r\n")]:
        aborts, requests = len(up.events("aborted")), len(up.requests())
        with px.connect(timeout=10) as c:
            c.send(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n" + part)
            time.sleep(0.3)
            c.sock.shutdown(socket.SHUT_WR)
            closed = c.wait_closed(PROMPT)
            answer = bytes(c.buf)
        ok = h.wait_until(lambda: len(up.events("aborted")) > aborts, 5)
        e = up.events("aborted")[-1] if ok else None
        t.ok(e is not None and e["stage"] == "body" and e["body_received"] == 1000,
             "half-close inside a %s body: the upstream sees the request aborted (%r)"
             % (what, e))
        t.is_(len(up.requests()), requests,
              "half-close inside a %s body: no complete request upstream" % what)
        t.ok(closed and (answer == b"" or answer.startswith(b"HTTP/1.1 400 ")),
             "half-close inside a %s body: closed, with nothing or a 400 (%r)"
             % (what, answer[:60]))

    # --- a client that is really gone ------------------------------------------------------
    c = px.connect(timeout=10)
    c.send(h.request_bytes(headers=[("x-test-mode", "sse:100:100"), ("x-marker", "reset")],
                           body=b"{}"))
    c.sock.settimeout(10)
    first = c.sock.recv(1000)
    t.check_response_for_key(first)
    t.like(first, r"^HTTP/1\.1 200", "the stream started")
    gone = time.time()
    h.reset_close(c)
    cid = h.wait_until(lambda: next((e["conn"] for e in up.requests()
                                     if ["x-marker", "reset"] in e["headers"]), None), 5)
    end = up.wait_event("end", lambda e: e["conn"] == cid, 8)
    t.ok(end is not None and end["time"] - gone < PROMPT,
         "client reset mid-stream: the upstream connection is closed within %.0f s, "
         "not at the end of the 10 s stream (%r)" % (PROMPT, end and end["time"] - gone))

    r = h.post(px, b"{}")
    t.ok(px.running() and r.status == 200, "the proxy still serves requests")


h.run(main)
