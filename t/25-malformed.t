#!/usr/bin/env python3
# Malformed or ambiguous requests are refused before any upstream connection.
# These are the request-smuggling shapes: a proxy that is lenient here lets the
# client and the upstream disagree about where a request ends.
import os
import sys
import time

sys.dont_write_bytecode = True  # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import harness as h  # noqa: E402

LINE = b"POST /v1/responses HTTP/1.1\r\n"
HOST = b"Host: 127.0.0.1\r\n"
CT = b"Content-Type: application/json\r\n"

CLIENT_ERROR = tuple(range(400, 500))
CLIENT_ERROR_OR_501 = CLIENT_ERROR + (501,)
CLIENT_ERROR_OR_505 = CLIENT_ERROR + (505,)

# (what, raw request, acceptable statuses)
HEAD_ERRORS = [
    ("Content-Length and Transfer-Encoding together",
     LINE + HOST + b"Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     CLIENT_ERROR),
    ("two different Content-Length",
     LINE + HOST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", CLIENT_ERROR),
    ("repeated Content-Length",
     LINE + HOST + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("list-valued Content-Length",
     LINE + HOST + b"Content-Length: 2, 2\r\n\r\n{}", CLIENT_ERROR),
    ("negative Content-Length", LINE + HOST + b"Content-Length: -1\r\n\r\n", CLIENT_ERROR),
    ("Content-Length with a sign", LINE + HOST + b"Content-Length: +2\r\n\r\n{}", CLIENT_ERROR),
    ("Content-Length with junk", LINE + HOST + b"Content-Length: 2x\r\n\r\n{}", CLIENT_ERROR),
    ("overflowing Content-Length",
     LINE + HOST + b"Content-Length: 99999999999999999999999999\r\n\r\n{}", CLIENT_ERROR),
    ("Transfer-Encoding: gzip",
     LINE + HOST + b"Transfer-Encoding: gzip\r\n\r\n", CLIENT_ERROR_OR_501),
    ("Transfer-Encoding: gzip, chunked",
     LINE + HOST + b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     CLIENT_ERROR_OR_501),
    ("Transfer-Encoding: chunked, gzip",
     LINE + HOST + b"Transfer-Encoding: chunked, gzip\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     CLIENT_ERROR_OR_501),
    ("bare LF line endings",
     b"POST /v1/responses HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}", CLIENT_ERROR),
    ("bare CR inside a header",
     LINE + HOST + b"X-A: a\rb\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("obs-fold continuation line",
     LINE + HOST + b"X-A: one\r\n two\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("whitespace before the colon",
     LINE + HOST + b"Content-Length : 2\r\n\r\n{}", CLIENT_ERROR),
    ("header line without a colon",
     LINE + HOST + b"NoColonHere\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("empty header name",
     LINE + HOST + b": value\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("space inside a header name",
     LINE + HOST + b"X A: 1\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("NUL in a header value",
     LINE + HOST + b"X-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("no Host in HTTP/1.1",
     LINE + b"Content-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("two Host headers",
     LINE + HOST + b"Host: evil.example\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("HTTP/2.0 in the request line",
     b"POST /v1/responses HTTP/2.0\r\n" + HOST + b"Content-Length: 2\r\n\r\n{}",
     CLIENT_ERROR_OR_505),
    ("junk version",
     b"POST /v1/responses HTTP/1.1x\r\n" + HOST + b"Content-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("two spaces in the request line",
     b"POST  /v1/responses HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("70 KB header",
     LINE + HOST + b"X-Big: " + b"b" * 70000 + b"\r\nContent-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("200 header fields",
     LINE + HOST + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) +
     b"Content-Length: 2\r\n\r\n{}", CLIENT_ERROR),
    ("10 KB request target",
     b"POST /v1/responses" + b"a" * 10000 + b" HTTP/1.1\r\n" + HOST +
     b"Content-Length: 2\r\n\r\n{}", CLIENT_ERROR),
]

# Errors inside a chunked body: the head was fine, so the proxy may already
# be talking to the upstream; the upstream must still never see a request.
BODY_ERRORS = [
    ("chunk size that is not hex",
     LINE + HOST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ("chunk size that overflows 64 bits",
     LINE + HOST + b"Transfer-Encoding: chunked\r\n\r\n10000000000000002\r\n{}\r\n0\r\n\r\n"),
    ("chunk data not followed by CRLF",
     LINE + HOST + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n"),
    ("chunk size line with a bare LF",
     LINE + HOST + b"Transfer-Encoding: chunked\r\n\r\n2\n{}\r\n0\r\n\r\n"),
]


def main(t):
    up = t.upstream()
    px = t.proxy(upstream=up)

    for what, raw, allowed in HEAD_ERRORS:
        before = up.conn_count()
        r = h.exchange(px, raw, timeout=10)
        t.ok(r.status in allowed, "%s: refused with 4xx (got %s %s)" % (what, r.status, r.error or ""))
        t.ok(h.is_json_error(r), "%s: JSON error body" % what)
        t.is_(up.conn_count(), before, "%s: no upstream connection" % what)

    for what, raw in BODY_ERRORS:
        before = len(up.requests())
        r = h.exchange(px, raw, timeout=10)
        t.ok(r.status is None or 400 <= r.status < 500,
             "%s: refused with 4xx or the connection closed (got %s)" % (what, r.status))
        time.sleep(0.2)
        t.is_(len(up.requests()), before, "%s: the upstream never sees a complete request" % what)

    # Denied with Expect: 100-continue: answered at once, no 100, no body needed.
    with px.connect(timeout=10) as c:
        c.send(b"POST /v1/responses?x=1 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               b"Content-Length: 1000000\r\n\r\n")
        r = c.read_response(timeout=10)
        t.is_(r.status, 403, "denied route with Expect: 100-continue: 403 without waiting for the body")
        t.is_(r.interim, [], "denied route with Expect: 100-continue: no 100 Continue first")

    time.sleep(0.2)
    r = h.post(px, b'{"after":"errors"}')
    t.ok(r.status == 200 and (r.json() or {}).get("body_len") == 18,
         "after the malformed requests a valid one is forwarded intact")
    t.ok(px.running(), "the proxy is still running")


h.run(main)
